"""The parts of the index's SQL that every question shares (docs/queries.md).

- what a query selects: the scope of a target (:func:`scope_where`), the SQL
  condition of each query option (:data:`CONDITIONS`, keyed by the option's
  name in :data:`linkindex.filters.OPTIONS`) put together by
  :func:`filter_where` and :func:`edges_from`, live and lost links
  (:data:`LIVE`, :data:`LOST`), a disavow file (:func:`disavow_where`), and
  the FROM/WHERE of a target's backlinks (:func:`backlinks_where`);
- what it counts: the figures of a referring domain
  (:data:`REFDOMAIN_FIGURES`) and of a report (:data:`TOTALS`,
  :func:`report_sql`), which the domain rollups store as they are;
- the record fields of an edge (:data:`EDGE_FIELDS`, :func:`edge_select`),
  and the facts derived from other rows that records carry and filters test:
  whether a link is sitewide (:func:`sitewide_sql`) and the status of its
  target (:func:`broken_sql`).

Every value from a user reaches ClickHouse as a bound parameter
(``{name:Type}``), collected in ``params``; only identifiers chosen here are
formatted into SQL. Fields of ``latest`` are read with
``tupleElement(latest, 'x')`` (:func:`latest`), never the subcolumn syntax
``latest.x``: under FINAL the engine merges a subcolumn on its own (taking the
max anchor, not the anchor of the max tuple).

This module is the bottom of the query layer: it imports the option
declarations and the target, and nothing that runs a query.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, Final, Literal

from linkcore.errors import UsageError
from linkcore.records import KINDS, LOCATIONS
from linkindex.filters import BY_NAME, OPTIONS, REL_FLAGS, STATUSES, Filters
from linkindex.relevance import PAIR_KEY, parse_min_relevance, scope_relevance
from linkindex.spamsignals import Sources, scores_sql
from linkindex.targets import Target

if TYPE_CHECKING:
    from linkindex.client import Index

#: The authority scores table (sql/002_rank.sql, written by ``linkgraph rank``).
RANK_TABLE: Final = "domain_rank"


def latest(field: str) -> str:
    """The field ``field`` of an edge's latest sighting (see module doc)."""
    return f"tupleElement(latest, '{field}')"


#: A link that passes authority: no nofollow.
DOFOLLOW: Final = f"NOT {latest('nofollow')}"
#: A link between two registered domains (what queries count unless asked
#: for internal links too).
EXTERNAL: Final = "source_domain != target_domain"

#: An edge (``e``) is lost while its ``lost_at`` (written when a conclusive
#: re-fetch of its source page no longer carried it) is after its
#: ``last_seen``, and live otherwise (001_init.sql). Qualified: queries alias
#: max(last_seen) AS last_seen.
LOST: Final = "e.lost_at > e.last_seen"
LIVE: Final = "e.lost_at <= e.last_seen"

#: Record fields of an edge, in the order of docs/queries.md#records.
EDGE_FIELDS: Final = (
    "source_url",
    "source_host",
    "source_domain",
    "target_url",
    "target_host",
    "target_domain",
    "kind",
    "anchor",
    "image",
    *REL_FLAGS,
    "link_count",
    "first_seen",
    "last_seen",
    "location",
    "text_before",
    "text_after",
    "sitewide",
    "target_status",
    "relevance",
    "lost_reason",
)
#: The record fields read from an edge's latest sighting.
LATEST_FIELDS: Final = frozenset(
    ("anchor", "image", *REL_FLAGS, "link_count", "text_before", "text_after")
)
#: The texts around a link: stored in ``edges`` only, so outlinks (read from
#: ``edges_by_source``) look them up there by key (linkindex/queries.py).
TEXT_FIELDS: Final = ("text_before", "text_after")
#: Record fields derived from other rows at query time, for the rows answered
#: (linkindex/queries.py, ``complete``): null in the SELECT, filled in after.
DERIVED_FIELDS: Final = ("sitewide", "target_status", "relevance")
#: Why a link was lost (docs/queries.md#lost-links).
LOST_REASONS: Final = ("link_removed", "page_gone", "page_redirected", "page_noindex")
#: Why a lost link was lost (docs/queries.md#lost-links); null for a live one.
LOST_REASON: Final = (
    "if(e.lost_at > e.last_seen, nullIf(toString(tupleElement(e.lost_reason, 'reason')), ''), NULL)"
)


def edge_select(table: str = "edges") -> str:
    """The SELECT list of :data:`EDGE_FIELDS` over ``table`` (as ``e``).

    ``edges_by_source`` leaves the texts empty (:data:`TEXT_FIELDS`) and
    every table the derived fields null (:data:`DERIVED_FIELDS`): the query
    fills them in for the rows it answers.
    """
    parts = []
    for name in EDGE_FIELDS:
        if name in DERIVED_FIELDS:
            parts.append(f"NULL AS {name}")
        elif name in TEXT_FIELDS and table != "edges":
            parts.append(f"'' AS {name}")
        elif name in LATEST_FIELDS:
            parts.append(f"{latest(name)} AS {name}")
        elif name == "location":
            parts.append(f"toString({latest(name)}) AS {name}")
        elif name == "lost_reason":
            parts.append(f"{LOST_REASON} AS {name}")
        else:
            parts.append(name)
    return ", ".join(parts)


#: The SELECT list of :data:`EDGE_FIELDS` over ``edges``.
EDGE_SELECT: Final = edge_select()


# -- facts derived from other rows (docs/queries.md#sitewide-and-broken-links) ---

#: A sitewide link comes from at least this many fetched HTML pages of its host…
SITEWIDE_MIN_PAGES: Final = 5
#: …and from at least this share of them.
SITEWIDE_MIN_SHARE: Final = 0.5
#: A page of ``pages`` whose latest fetch answered 2xx with an HTML type.
HTML_PAGE: Final = (
    "status BETWEEN 200 AND 299 AND (startsWith(content_type, 'text/html') "
    "OR startsWith(content_type, 'application/xhtml+xml'))"
)
#: A target is broken when its latest fetch answered 4xx or 5xx.
BROKEN_STATUS: Final = "status BETWEEN 400 AND 599"


def rev_host(host: str) -> str:
    """SQL of ``linkcore.urls.reverse_host`` of the host expression ``host``:
    its labels reversed, an IP address unchanged (``pages`` is keyed by it)."""
    return (
        f"if(isIPv4String({host}) OR startsWith({host}, '['), {host}, "
        f"arrayStringConcat(arrayReverse(splitByChar('.', {host})), '.'))"
    )


def sitewide_sql(
    db: str, table: str, where: str, hosts: str | None = None, *, with_domain: bool = False
) -> str:
    """``(source_host, target_url)`` of every sitewide pair among the edges of
    ``table`` that ``where`` selects.

    A pair is sitewide when the host's pages that carry a live ``a`` link to
    the URL number at least :data:`SITEWIDE_MIN_PAGES` and at least
    :data:`SITEWIDE_MIN_SHARE` of the host's fetched HTML pages
    (:data:`HTML_PAGE`), of which there must be as many. ``where`` must
    select every edge from the host to the URL (a target scope does; on the
    source side, the scope widened to whole hosts: :func:`sitewide_scope`).
    The host's pages are read by key (``pages`` is ordered by reversed host):
    those of ``hosts``, SQL of their reversed names (a lookup knows them), or
    else of the hosts that link to one URL from enough pages.
    """
    domain = ", any(target_domain) AS target_domain" if with_domain else ""
    linking = f"""
        SELECT source_host, target_url, uniqExact(source_url) AS linking{domain}
        FROM {db}.{table} AS s FINAL
        WHERE ({where}) AND s.kind = 'a' AND s.lost_at <= s.last_seen
        GROUP BY source_host, target_url
        HAVING linking >= {SITEWIDE_MIN_PAGES}"""
    linking_hosts = f"(SELECT {rev_host('source_host')} FROM ({linking}))"
    return f"""
        SELECT l.source_host, l.target_url{", l.target_domain" if with_domain else ""}
        FROM ({linking}) AS l
        INNER JOIN (SELECT host, count() AS pages
                    FROM {db}.pages FINAL
                    WHERE {HTML_PAGE}
                      AND rev_host IN {hosts or linking_hosts}
                    GROUP BY host) AS p ON p.host = l.source_host
        WHERE p.pages >= {SITEWIDE_MIN_PAGES} AND l.linking >= p.pages * {SITEWIDE_MIN_SHARE}"""


def sitewide_by_host_sql(db: str, where: str, hosts: str) -> str:
    """``(source_host, pairs)``: each host's sitewide ``(target_url,
    target_domain)`` pairs, for the host facts (sql/005_host_facts.sql), by
    :func:`sitewide_sql` over the edges out of the hosts ``where`` selects in
    ``edges_by_source`` (``hosts``: SQL of their reversed names)."""
    pairs = sitewide_sql(db, "edges_by_source", where, hosts, with_domain=True)
    return f"""
        SELECT source_host, groupArray((target_url, target_domain)) AS pairs
        FROM ({pairs}) GROUP BY source_host"""


def host_ips_sql(db: str, hosts: str) -> str:
    """``(host, ip)`` of each host among ``hosts`` (SQL of reversed names):
    the address of its latest fetch whose address is known."""
    return f"""
        SELECT pg.host AS host, argMax(pg.ip, pg.fetched_at) AS ip FROM {db}.pages AS pg FINAL
        WHERE pg.ip != '' AND pg.rev_host IN {hosts} GROUP BY pg.host"""


#: The subnet of the address ``ip`` as text (IPv4 /24, IPv6 /48), '' when
#: it is not an address (docs/queries.md#report).
SUBNET: Final = """multiIf(
    isIPv4String(ip),
    concat(IPv4NumToString(tupleElement(IPv4CIDRToRange(toIPv4(ip), 24), 1)), '/24'),
    isIPv6String(ip),
    concat(IPv6NumToString(tupleElement(IPv6CIDRToRange(toIPv6(ip), 48), 1)), '/48'),
    '')"""
#: Subnets a report lists (the most referring domains first).
TOP_SUBNETS: Final = 20


@dataclass(frozen=True, slots=True)
class HostFacts:
    """Where the facts of the source hosts come from, as SQL: ``pairs``, every
    sitewide ``(source_host, target_url)`` the figures may need, and ``ips``,
    ``(host, ip)`` of the hosts. From the host facts when they are fresh
    (:func:`facts_of_hosts`), else derived from the edges and pages."""

    pairs: str
    ips: str


#: The host facts' sitewide pairs whose target domain is ``{domains}`` (SQL of a
#: set); of the hosts whose own domain is ``{domains}`` (:func:`facts_of_hosts`).
TO_DOMAINS: Final = "tupleElement(pair, 'domain') IN {domains}"
FROM_DOMAINS: Final = "domain IN {domains}"


def pairs_of_hosts(db: str, where: str) -> str:
    """``(host, target_url)`` of the sitewide pairs in the host facts that
    ``where`` selects (:data:`TO_DOMAINS`, :data:`FROM_DOMAINS`)."""
    return f"""SELECT host, tupleElement(pair, 'url') FROM {db}.host_facts FINAL
               ARRAY JOIN sitewide AS pair WHERE {where}"""


def facts_of_hosts(db: str, where: str) -> HostFacts:
    """:class:`HostFacts` read from the host facts table: the sitewide pairs
    ``where`` selects (:func:`pairs_of_hosts`), and every host's address."""
    return HostFacts(
        pairs=pairs_of_hosts(db, where),
        ips=f"SELECT host, ip FROM {db}.host_facts FINAL WHERE ip != ''",
    )


def derived_host_facts(db: str, table: str, scope: str) -> HostFacts:
    """:class:`HostFacts` derived from the edges of ``table`` in ``scope`` and
    the pages of their source hosts (when the host facts are stale)."""
    return HostFacts(
        pairs=sitewide_sql(db, table, scope),
        ips=host_ips_sql(db, f"(SELECT {rev_host('source_host')} FROM {db}.{table} WHERE {scope})"),
    )


#: The names of the figures of where links sit, as :func:`context_sql`
#: selects them and the domain rollup stores them.
CONTEXT_NAMES: Final = (
    "locations",
    "lost_reasons",
    "sitewide_backlinks",
    "broken_backlinks",
    "backlinks_with_ip",
    "referring_ips",
    "referring_subnets",
    "subnets",
)


def context_sql(db: str, source: str, where: str, group: str, scope: str, facts: HostFacts) -> str:
    """One SELECT of the figures of where links sit (:data:`CONTEXT_NAMES`),
    one row per ``group`` (as :func:`report_sql`), over the edges ``source``
    and ``where`` select. ``scope`` (on the unaliased edges) bounds the broken
    targets' lookup; ``facts`` says where the host facts come from."""
    locations = ", ".join(
        f"('{loc}', countIf(toString({latest('location')}) = '{loc}'))" for loc in LOCATIONS
    )
    reasons = ", ".join(
        f"('{reason}', countIf({LOST} AND toString(tupleElement(e.lost_reason, 'reason')) = "
        f"'{reason}'))"
        for reason in LOST_REASONS
    )
    return f"""
        SELECT {group}, {", ".join(CONTEXT_NAMES)}
        FROM (SELECT {group}, [{locations}] AS locations, [{reasons}] AS lost_reasons,
                     countIf(kind = 'a' AND (source_host, target_url) IN ({facts.pairs}))
                         AS sitewide_backlinks,
                     countIf(target_url IN ({broken_sql(db, "edges", scope)})) AS broken_backlinks
              FROM {source} WHERE {where} GROUP BY {group}) AS c
        LEFT JOIN (
            SELECT {group}, sum(links) AS backlinks_with_ip, sum(ips) AS referring_ips,
                   count() AS referring_subnets,
                   arraySlice(arraySort(x -> (-toInt64(tupleElement(x, 2)), tupleElement(x, 1)),
                                        groupArray((subnet, domains, ips, links))),
                              1, {TOP_SUBNETS}) AS subnets
            FROM (SELECT {group}, {SUBNET} AS subnet, uniqExact(source_domain) AS domains,
                         uniqExact(ip) AS ips, toUInt64(sum(links)) AS links
                  FROM (SELECT {group}, source_domain, source_host, count() AS links
                        FROM {source} WHERE {where}
                        GROUP BY {group}, source_domain, source_host) AS b
                  INNER JOIN ({facts.ips}) AS h ON h.host = b.source_host
                  WHERE subnet != ''
                  GROUP BY {group}, subnet)
            GROUP BY {group}) AS a USING {group}"""


def broken_sql(db: str, table: str, where: str) -> str:
    """The broken target URLs among the edges of ``table`` that ``where``
    selects (their latest fetch in ``pages``, read by key)."""
    return f"""
        SELECT url FROM {db}.pages FINAL
        WHERE {BROKEN_STATUS}
          AND (rev_host, url) IN (SELECT {rev_host("target_host")}, target_url
                                  FROM {db}.{table} WHERE {where})"""


def sitewide_scope(
    target: Target, side: Literal["target", "source"], params: dict[str, Any]
) -> str:
    """The edges :func:`sitewide_sql` reads for the edges in ``target``'s scope:
    the scope itself on the target side (every edge to a URL in scope is in
    it); on the source side, every edge out of the scope's hosts."""
    if side == "target":
        return scope_where(target, side, params)
    params.update(t_domain=target.domain, t_rev=target.rev_host)
    if target.scope == "domain":
        return "source_domain = {t_domain:String}"
    return "source_domain = {t_domain:String} AND source_rev_host = {t_rev:String}"


# -- what a query selects ------------------------------------------------------


def scope_where(target: Target, side: Literal["target", "source"], params: dict[str, Any]) -> str:
    """The edges whose ``side`` (target or source) lies in ``target``'s scope."""
    params.update(t_domain=target.domain, t_rev=target.rev_host, t_url=target.url)
    clauses = [f"{side}_domain = {{t_domain:String}}"]
    if target.scope in ("host", "url", "prefix"):
        clauses.append(f"{side}_rev_host = {{t_rev:String}}")
    if target.scope == "url":
        clauses.append(f"{side}_url = {{t_url:String}}")
    elif target.scope == "prefix":
        clauses.append(f"startsWith({side}_url, {{t_url:String}})")
    return " AND ".join(clauses)


#: The SQL condition of one option's value: the clauses it adds to a WHERE
#: ("" when the value selects every row), its user values bound in ``params``.
#: Raises :class:`UsageError` for a value the option does not take.
Condition = Callable[[Any, dict[str, Any]], str]


def _external_unless(include_internal: bool, params: dict[str, Any]) -> str:
    return "" if include_internal else EXTERNAL


def _dofollow(dofollow_only: bool, params: dict[str, Any]) -> str:
    return DOFOLLOW if dofollow_only else ""


def _kinds(kinds: Any, params: dict[str, Any]) -> str:
    if not kinds:
        return ""
    params["kinds"] = list(kinds)
    return "toString(kind) IN {kinds:Array(String)}"


def _rel(flags: Any, params: dict[str, Any]) -> str:
    for flag in flags:
        if flag not in REL_FLAGS:
            known = f"{', '.join(REL_FLAGS[:-1])} or {REL_FLAGS[-1]}"
            raise UsageError(f"unknown rel flag {flag!r} ({known})")
    return " AND ".join(latest(flag) for flag in flags)


def _location(locations: Any, params: dict[str, Any]) -> str:
    if not locations:
        return ""
    for location in locations:
        if location not in LOCATIONS:
            raise UsageError(f"unknown location {location!r} (choose from {', '.join(LOCATIONS)})")
    params["locations"] = list(locations)
    return f"toString({latest('location')}) IN {{locations:Array(String)}}"


def _anchor(text: str | None, params: dict[str, Any]) -> str:
    if not text:
        return ""
    params["anchor_text"] = text
    return f"positionCaseInsensitiveUTF8({latest('anchor')}, {{anchor_text:String}}) > 0"


def _from_domain(domain: str | None, params: dict[str, Any]) -> str:
    if not domain:
        return ""
    params["ref_domain"] = domain.strip().lower().rstrip(".")
    return "source_domain = {ref_domain:String}"


def _seen(name: str) -> Condition:
    """The condition of ``first_seen_from`` and its kin: the column, then the bound."""
    column, bound = name.rsplit("_", 1)
    operator = ">=" if bound == "from" else "<="

    def condition(text: str | None, params: dict[str, Any]) -> str:
        if not text:
            return ""
        params[name] = moment(text, name, end=operator == "<=")
        # The edge's own column: the aggregating questions alias min(first_seen)
        # AS first_seen, which an unqualified name would mean here.
        return f"e.{column} {operator} {{{name}:DateTime64(3, 'UTC')}}"

    return condition


def _status(status: str | None, params: dict[str, Any]) -> str:
    if status is None:
        return ""
    if status not in STATUSES:
        raise UsageError(f"unknown link status {status!r} ({' or '.join(STATUSES)})")
    return LIVE if status == "live" else LOST


#: The SQL condition of every option that filters rows, by option name. An
#: option's ``sql`` (:class:`linkindex.filters.Option`) says where it goes.
CONDITIONS: Final[Mapping[str, Condition]] = {
    "include_internal": _external_unless,
    "dofollow_only": _dofollow,
    "kind": _kinds,
    "status": _status,
    "rel": _rel,
    "location": _location,
    "anchor": _anchor,
    "from_domain": _from_domain,
    "first_seen_from": _seen("first_seen_from"),
    "first_seen_to": _seen("first_seen_to"),
    "last_seen_from": _seen("last_seen_from"),
    "last_seen_to": _seen("last_seen_to"),
}


@dataclass(frozen=True, slots=True)
class Derivation:
    """What a condition on a derived fact reads: the index's database, the
    edge table of the query (``edges`` or ``edges_by_source``), the SQL of the
    query's scope on it, and the edges :func:`sitewide_sql` needs for that
    scope (:func:`sitewide_scope`). Bounding the subqueries by the scope keeps
    them to the rows the query reads anyway. ``index`` runs the lookups of a
    condition computed outside SQL (relevance: linkindex/relevance.py)."""

    db: str
    table: str
    scope: str = "1"
    sitewide_scope: str = "1"
    #: The sitewide pairs the scope can need, from the host facts
    #: (:func:`pairs_of_hosts`) when they are fresh; None: derived.
    facts: str | None = None
    index: Index | None = None


#: The SQL condition of an option on a derived fact (``sql="derived"``).
DerivedCondition = Callable[[Any, Derivation, dict[str, Any]], str]


def _broken(broken: bool, at: Derivation, params: dict[str, Any]) -> str:
    if not broken:
        return ""
    return f"target_url IN ({broken_sql(at.db, at.table, at.scope)})"


def _sitewide(sitewide: bool | None, at: Derivation, params: dict[str, Any]) -> str:
    if sitewide is None:
        return ""
    if not isinstance(sitewide, bool):
        raise UsageError(f"sitewide must be true or false, got {sitewide!r}")
    pairs = at.facts if at.facts is not None else sitewide_sql(at.db, at.table, at.sitewide_scope)
    # Only `a` links are sitewide: a canonical or redirect edge never is.
    clause = f"(kind = 'a' AND (source_host, target_url) IN ({pairs}))"
    return clause if sitewide else f"NOT {clause}"


def spam_sql(db: str, domains: str, facts: bool) -> str:
    """The spam scores (linkindex/spamsignals.py, :func:`scores_sql`) of the
    domains ``domains`` (SQL of an array) as referring domains: read from all
    their external links (``edges_by_source``, by key), the fetched HTML pages
    of their hosts (``pages`` by key, through ``host_writes``), the address of
    every host and the tables the signals name. ``facts``: the host facts are
    fresh, so their sitewide pairs and addresses are read from them rather
    than derived."""
    external = f"source_domain IN {domains} AND {EXTERNAL}"
    links = (
        f"SELECT source_domain, source_host, source_url, target_url, target_domain, kind, "
        f"{latest('anchor')} AS anchor FROM {db}.edges_by_source AS s FINAL WHERE {external}"
    )
    linked = f"SELECT source_domain, target_domain FROM {db}.edges_by_source WHERE {external}"
    pages = f"""
        SELECT domain, outlinks, words, internal_links, external_links
        FROM {db}.pages FINAL
        WHERE {HTML_PAGE}
          AND rev_host IN (SELECT rev_host FROM {db}.host_writes WHERE domain IN {domains})"""
    if facts:
        sitewide = pairs_of_hosts(db, FROM_DOMAINS.format(domains=domains))
        # Every host's address, for the subnets: each host's latest.
        addresses = f"SELECT domain, ip FROM {db}.host_facts FINAL WHERE ip != ''"
    else:
        sitewide = sitewide_sql(
            db,
            "edges_by_source",
            external,
            f"(SELECT rev_host FROM {db}.host_writes WHERE domain IN {domains})",
        )
        addresses = f"SELECT domain, ip FROM {db}.pages PREWHERE ip != ''"
    return scores_sql(Sources(db, links, linked, sitewide, pages, addresses, domains))


def _max_spam(max_spam: int | None, at: Derivation, params: dict[str, Any]) -> str:
    if max_spam is None:
        return ""
    low, high = BY_NAME["max_spam"].bounds
    if isinstance(max_spam, bool) or not isinstance(max_spam, int) or not low <= max_spam <= high:
        raise UsageError(f"max_spam must be a whole number from {low} to {high}, got {max_spam!r}")
    params["max_spam"] = max_spam
    # The scores the refresh keeps (linkindex/spam.py); a domain never scored has none.
    spammy = f"SELECT domain FROM {at.db}.domain_spam FINAL WHERE spam_score > {{max_spam:UInt8}}"
    return f"source_domain NOT IN ({spammy})"


def _min_relevance(value: Any, at: Derivation, params: dict[str, Any]) -> str:
    # Relevance is computed outside SQL (docs/relevance.md): the scope's edges
    # whose relevance reaches the threshold, as a bound list of their keys.
    threshold = parse_min_relevance(value)
    if threshold is None:
        return ""
    if at.index is None:  # pragma: no cover - every query passes its index
        raise UsageError("--min-relevance needs the index")
    relevances = scope_relevance(at.index, at.table, at.scope, params)
    name = f"min_relevance_{len(params)}"
    params[name] = sorted(
        f"{source} {target}"
        for (source, target), value in relevances.items()
        if value is not None and value >= threshold
    )
    return f"{PAIR_KEY} IN {{{name}:Array(String)}}"


#: The SQL condition of every option on a derived fact, by option name.
DERIVED_CONDITIONS: Final[Mapping[str, DerivedCondition]] = {
    "broken": _broken,
    "sitewide": _sitewide,
    "max_spam": _max_spam,
    "min_relevance": _min_relevance,
}
# The tables and the declarations agree: a new filter cannot go without its SQL.
if list(CONDITIONS) != [o.name for o in OPTIONS if o.sql in ("where", "state")]:
    raise TypeError("every filtering option in linkindex.filters.OPTIONS needs a condition here")
if list(DERIVED_CONDITIONS) != [o.name for o in OPTIONS if o.sql == "derived"]:
    raise TypeError("every derived option in linkindex.filters.OPTIONS needs a condition here")


def _conditions(filters: Filters, where: str, params: dict[str, Any]) -> list[str]:
    """The conditions of the options whose SQL goes to ``where``, in declaration order."""
    clauses = (
        CONDITIONS[option.name](getattr(filters, option.name), params)
        for option in OPTIONS
        if option.sql == where
    )
    return [clause for clause in clauses if clause]


def filter_where(
    filters: Filters, params: dict[str, Any], derivation: Derivation | None = None
) -> str:
    """The conditions of every row filter of ``filters`` (options whose ``sql`` is
    ``where``, and ``derived`` ones when a ``derivation`` says what they read)
    and of its disavow file; ``1`` when nothing is left out."""
    clauses = _conditions(filters, "where", params)
    if derivation is not None:
        derived = (
            DERIVED_CONDITIONS[option.name](getattr(filters, option.name), derivation, params)
            for option in OPTIONS
            if option.sql == "derived"
        )
        clauses += [clause for clause in derived if clause]
    if filters.disavow:
        clauses.append(disavow_where(filters.disavow, params))
    return " AND ".join(clauses) if clauses else "1"


def disavow_where(disavow: Any, params: dict[str, Any]) -> str:
    """Keep only referrers a disavow file does not name (bound parameters).

    ``domain:`` entries cover their subdomains; URL entries one page.
    """
    params.update(
        dis_domains=list(disavow.domains),
        dis_hosts=list(disavow.hosts),
        dis_urls=list(disavow.urls),
    )
    return (
        "NOT (has({dis_domains:Array(String)}, source_domain)"
        " OR has({dis_hosts:Array(String)}, source_host)"
        " OR arrayExists(h -> endsWith(source_host, concat('.', h)), {dis_hosts:Array(String)})"
        " OR has({dis_urls:Array(String)}, source_url))"
    )


def moment(text: str, name: str, *, end: bool) -> str:
    """An ISO-8601 date or time as ClickHouse's DateTime64 text (UTC).

    A bare date means its first millisecond, or its last one for an upper bound.
    """
    raw = text.strip()
    try:
        moment = datetime.fromisoformat(raw.replace("Z", "+00:00"))
    except ValueError:
        option = "--" + name.replace("_", "-")
        raise UsageError(f"{option} {text!r} is not an ISO-8601 date or time") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    if end and len(raw) == 10:
        moment += timedelta(days=1, milliseconds=-1)
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")[:-3]


def edges_from(
    index: Index, table: str, filters: Filters, params: dict[str, Any]
) -> tuple[str, str]:
    """FROM clause over ``table`` (merged, as ``e``), and the conditions on an
    edge's state that ``filters`` ask for (options whose ``sql`` is ``state``:
    live or lost; ``1`` for none)."""
    source = f"{index.db}.{table} AS e FINAL"
    clauses = _conditions(filters, "state", params)
    return source, " AND ".join(clauses) if clauses else "1"


def edges_where(
    index: Index,
    table: str,
    filters: Filters,
    params: dict[str, Any],
    scope: tuple[str, str] = ("1", "1"),
    facts: str | None = None,
) -> tuple[str, str]:
    """FROM ``table`` (merged, as ``e``) and the WHERE of every condition of
    ``filters``: :func:`filter_where` and the edge state of :func:`edges_from`.

    ``scope`` is the SQL of the query's scope and of its :func:`sitewide_scope`,
    which bound the conditions on derived facts (the whole table by default);
    ``facts``, the sitewide pairs from fresh host facts (:class:`Derivation`).
    """
    source, state = edges_from(index, table, filters, params)
    derivation = Derivation(index.db, table, *scope, facts, index=index)
    return source, f"{filter_where(filters, params, derivation)} AND {state}"


def backlinks_where(
    index: Index,
    target: Target,
    filters: Filters,
    params: dict[str, Any],
    facts: str | None = None,
) -> tuple[str, str]:
    """FROM and WHERE of the edges pointing at ``target`` under ``filters``
    (``facts``: see :func:`edges_where`)."""
    scope = scope_where(target, "target", params)
    source, where = edges_where(index, "edges", filters, params, (scope, scope), facts)
    return source, f"{scope} AND {where}"


def default_selection(filters: Filters) -> bool:
    """True if ``filters`` select the default set of links: external ones, every
    kind, live or lost, all referrers (paging, sorting and authority columns
    change no figure; one link per domain does).

    Each option's condition is compared with its default's: a filter added to
    :data:`CONDITIONS` can never be missed here.
    """
    default = Filters()
    return (
        not filters.one_per_domain
        and not filters.disavow
        and all(
            getattr(filters, option.name) == getattr(default, option.name)
            for option in OPTIONS
            if option.sql == "derived"
        )
        and all(
            CONDITIONS[option.name](getattr(filters, option.name), {})
            == CONDITIONS[option.name](getattr(default, option.name), {})
            for option in OPTIONS
            if option.sql in ("where", "state")
        )
    )


# -- what a query counts -------------------------------------------------------

#: The figures of ``refdomains`` per referring domain, over merged edges.
#: The domain rollup (linkindex/rollups.py) stores exactly these.
REFDOMAIN_FIGURES: Final = f"""count() AS links,
               countIf({DOFOLLOW}) AS dofollow_links,
               uniqExact(target_url) AS target_urls,
               min(first_seen) AS first_seen, max(last_seen) AS last_seen"""

# The public suffix of a registered domain: everything after its first label.
_SUFFIX: Final = "substring(source_domain, position(source_domain, '.') + 1)"
# Government and education domains (linkindex/reports.py says which).
_GOV: Final = (
    f"(splitByChar('.', {_SUFFIX})[1] IN ('gov', 'gouv', 'gob', 'govt', 'mil') "
    f"OR {_SUFFIX} IN ('gov', 'mil'))"
)
_EDU: Final = f"(splitByChar('.', {_SUFFIX})[1] IN ('edu', 'ac'))"

#: The report's totals: (name, aggregate over the target's merged edges ``e``).
#: The domain rollup (linkindex/rollups.py) stores the same figures per target
#: domain, in columns of these names.
TOTALS: Final[tuple[tuple[str, str], ...]] = (
    ("backlinks", "count()"),
    ("referring_domains", "uniqExact(source_domain)"),
    ("referring_hosts", "uniqExact(source_host)"),
    ("target_urls", "uniqExact(target_url)"),
    ("dofollow", f"countIf({DOFOLLOW})"),
    *((flag, f"countIf({latest(flag)})") for flag in REL_FLAGS),
    ("image", f"countIf({latest('image')})"),
    *((f"kind_{kind}", f"countIf(kind = '{kind}')") for kind in KINDS),
    ("dofollow_referring_domains", f"uniqExactIf(source_domain, {DOFOLLOW})"),
    ("first_seen", "min(first_seen)"),
    ("last_seen", "max(last_seen)"),
    ("lost", f"countIf({LOST})"),
    ("gov_referring_domains", f"uniqExactIf(source_domain, {_GOV})"),
    ("edu_referring_domains", f"uniqExactIf(source_domain, {_EDU})"),
)
#: The names of :data:`TOTALS`, in order.
TOTAL_NAMES: Final = tuple(name for name, _ in TOTALS)
#: The top-level domains of the referring domains (the 20 with most), and the
#: new and lost links per UTC day, each as one array per ``{group}``.
TLDS: Final = """
    SELECT {group}, arraySlice(arraySort(x -> (-x.2, x.1), groupArray((tld, domains))), 1, 20)
           AS tlds
    FROM (SELECT {group}, splitByChar('.', source_domain)[-1] AS tld,
                 uniqExact(source_domain) AS domains
          FROM {source} WHERE {where} GROUP BY {group}, tld)
    GROUP BY {group}"""
HISTORY: Final = """
    SELECT {group}, arraySort(groupArray((day, new, lost))) AS history
    FROM (SELECT {group}, day, sum(new) AS new, sum(lost) AS lost
          FROM (SELECT {group}, toDate(first_seen, 'UTC') AS day, count() AS new, 0 AS lost
                FROM {source} WHERE {where} GROUP BY {group}, day
                UNION ALL
                SELECT {group}, toDate(e.lost_at, 'UTC') AS day, 0 AS new, count() AS lost
                FROM {source} WHERE {where} AND {lost} GROUP BY {group}, day)
          GROUP BY {group}, day)
    GROUP BY {group}"""


def report_sql(source: str, where: str, group: str) -> str:
    """One SELECT of every report figure, one row per ``group`` (an expression
    over the edges, e.g. ``target_domain``, or a constant for one target):
    ``group``, :data:`TOTALS`, ``tlds`` and ``history``."""
    totals = ",\n               ".join(f"{expr} AS {name}" for name, expr in TOTALS)
    names = ", ".join(TOTAL_NAMES)
    parts = {"group": group, "source": source, "where": where, "lost": LOST}
    return f"""
        SELECT {group}, {names}, tlds, history
        FROM (SELECT {group}, {totals} FROM {source} WHERE {where} GROUP BY {group}) AS t
        LEFT JOIN ({TLDS.format(**parts)}) AS tl USING {group}
        LEFT JOIN ({HISTORY.format(**parts)}) AS h USING {group}"""
