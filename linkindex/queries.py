"""The questions users ask of the index (docs/queries.md).

Every value from a user reaches ClickHouse as a bound parameter
(``{name:Type}``); only identifiers chosen by this module are formatted into
SQL. Each query returns a :class:`Result` (column names and rows) whose columns
use the record field names of docs/queries.md#records.

Reads use ``FINAL`` so that rows of one edge inserted by several crawls (or
replays) are merged before they are counted or shown. The SQL these queries
share (scopes, filters, live and lost, figures, how ``latest`` is read) is in
:mod:`linkindex.sqlparts`.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace
from typing import Any, Final, Literal

from linkcore.errors import UsageError
from linkcore.urls import reverse_host
from linkindex import relevance, rollups, spam
from linkindex.client import Index
from linkindex.filters import SCOPES, Filters
from linkindex.sqlparts import (
    DOFOLLOW,
    EDGE_FIELDS,
    EXTERNAL,
    FROM_DOMAINS,
    RANK_TABLE,
    REFDOMAIN_FIGURES,
    TO_DOMAINS,
    backlinks_where,
    default_selection,
    edge_select,
    edges_where,
    latest,
    pairs_of_hosts,
    scope_where,
    sitewide_scope,
    sitewide_sql,
)
from linkindex.targets import Target

# Declared in linkindex.filters, .targets and .sqlparts; named here for the queries' callers.
__all__ = [
    "EDGE_FIELDS",
    "SCOPES",
    "Filters",
    "Result",
    "Target",
    "anchors",
    "backlinks",
    "export",
    "intersect",
    "outlinks",
    "refdomains",
    "sql",
    "stats",
    "top_pages",
]


@dataclass(slots=True)
class Result:
    """Column names, rows, and the cursor of the next page (if any)."""

    columns: list[str]
    rows: list[tuple[Any, ...]]
    next_cursor: str | None = None


def _encode_cursor(values: Sequence[Any]) -> str:
    raw = json.dumps(list(values), separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _decode_cursor(cursor: str, size: int) -> list[Any]:
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        values = json.loads(base64.urlsafe_b64decode(padded.encode()))
    except (binascii.Error, ValueError, UnicodeDecodeError):
        raise UsageError(f"--cursor {cursor!r} is not a cursor this command printed") from None
    if not isinstance(values, list) or len(values) != size:
        raise UsageError(f"--cursor {cursor!r} is not a cursor this command printed")
    # Key cursors hold three strings and a kind number; offset cursors one offset.
    if size == 4:
        valid = (
            all(isinstance(v, str) for v in values[:3])
            and isinstance(values[3], int)
            and not isinstance(values[3], bool)
            and 1 <= values[3] <= 3
        )
    else:
        valid = (
            isinstance(values[0], int)
            and not isinstance(values[0], bool)
            and 0 <= values[0] < 2**63
        )
    if not valid:
        raise UsageError(f"--cursor {cursor!r} is not a cursor this command printed")
    return values


def _page(filters: Filters, params: dict[str, Any]) -> str:
    sql = ""
    if filters.limit:
        params["lim"] = filters.limit
        sql += " LIMIT {lim:UInt64}"
    if filters.offset:
        if not filters.limit:
            sql += " LIMIT 18446744073709551615"
        params["off"] = filters.offset
        sql += " OFFSET {off:UInt64}"
    return sql


def _edges(
    index: Index, target: Target, filters: Filters, side: Literal["target", "source"]
) -> Result:
    table = "edges" if side == "target" else "edges_by_source"
    other = "source" if side == "target" else "target"
    params: dict[str, Any] = {}
    scope = scope_where(target, side, params)
    facts = None
    if filters.sitewide is not None and rollups.hosts_fresh(index):
        pick = TO_DOMAINS if side == "target" else FROM_DOMAINS
        facts = pairs_of_hosts(index.db, pick.format(domains="({t_domain:String})"))
    source, selected = edges_where(
        index, table, filters, params, (scope, sitewide_scope(target, side, params)), facts
    )
    where = [scope, selected]
    if filters.sort == "relevance":
        result = _edges_by_relevance(index, table, source, where, params, filters)
    elif filters.sort is not None or filters.one_per_domain:
        result = _edges_sorted(index, table, source, where, params, filters, side)
    else:
        result = _edges_by_key(index, table, source, where, params, filters, side)
    result = complete(index, result, texts=table != "edges")
    if filters.with_authority and filters.sort != "authority":
        result = _add_authority(index, result, f"{other}_domain", f"{other}_authority")
    return result


def _edges_by_key(
    index: Index,
    table: str,
    source: str,
    where: list[str],
    params: dict[str, Any],
    filters: Filters,
    side: Literal["target", "source"],
) -> Result:
    """Edges in the table's key order, paged by a key cursor."""
    other = "source" if side == "target" else "target"
    # Paging follows the table's ordering key, so each page is a range read.
    key = f"{side}_rev_host, {side}_url, {other}_url, toInt8(kind)"
    if filters.cursor:
        values = _decode_cursor(filters.cursor, 4)
        params.update(c0=str(values[0]), c1=str(values[1]), c2=str(values[2]), c3=int(values[3]))
        where.append(f"({key}) > ({{c0:String}}, {{c1:String}}, {{c2:String}}, {{c3:Int8}})")
    sql = (
        f"SELECT {edge_select(table)}, {side}_rev_host AS _k0, toInt8(kind) AS _k3 "
        f"FROM {source} WHERE {' AND '.join(where)} "
        f"ORDER BY {key}" + _page(filters, params)
    )
    # A page reads the key range in order and stops at its limit; under FINAL
    # it stops only after a whole block of merged rows, so blocks are kept
    # near the page's size (the default, 65,409 rows, read most of a large
    # domain's range for a page of 100).
    settings = {"max_block_size": min(65_409, max(1_024, 4 * filters.limit))}
    columns, rows = index.query(sql, params, settings if filters.limit else None)
    next_cursor = None
    fields = len(EDGE_FIELDS)
    if filters.limit and len(rows) == filters.limit and rows:
        last = rows[-1]
        mine, theirs = (3, 0) if side == "target" else (0, 3)
        next_cursor = _encode_cursor([last[fields], last[mine], last[theirs], last[fields + 1]])
    return Result(columns[:fields], [row[:fields] for row in rows], next_cursor)


# -- the facts a record carries from other rows -----------------------------------

#: Rows completed per lookup: bounds the IN lists of one statement.
LOOKUP_ROWS: Final = 2_000
#: Up to this many source hosts (an outlinks page has one or a few), the
#: sitewide lookup narrows the edges to the page's target URLs further, to the
#: hosts' URL prefixes, so that a home page with a million backlinks is not
#: read whole for one host's links. Past a few hosts (a backlinks page), a
#: prefix per host costs the key analysis more than it saves (measured:
#: docs/queries.md#sitewide-and-broken-links).
PREFIX_HOSTS: Final = 8


def complete(index: Index, result: Result, *, texts: bool, chunk: int = LOOKUP_ROWS) -> Result:
    """``result``'s edge records with the fields read from other rows filled in:
    ``sitewide`` and ``target_status`` (docs/queries.md#sitewide-and-broken-links),
    ``relevance`` (docs/relevance.md) and, with ``texts`` (records read from
    ``edges_by_source``), the texts around each link from ``edges``. Keyed
    lookups for the answered rows only, ``chunk`` rows at a time: a page of 100
    costs a few small reads, whatever the size of the scope."""
    if not result.rows or "sitewide" not in result.columns:
        return result
    at = {name: i for i, name in enumerate(result.columns)}
    done: list[tuple[Any, ...]] = []
    for start in range(0, len(result.rows), chunk):
        rows = [list(row) for row in result.rows[start : start + chunk]]
        statuses = target_statuses(
            index, [(str(r[at["target_host"]]), str(r[at["target_url"]])) for r in rows]
        )
        linked = [r for r in rows if r[at["kind"]] == "a"]
        pairs = sitewide_pairs(
            index,
            {
                (str(r[at["source_host"]]), str(r[at["target_url"]])): (
                    str(r[at["target_domain"]]),
                    str(r[at["target_host"]]),
                )
                for r in linked
            },
        )
        context = edge_texts(index, rows, at) if texts else {}
        relevances = relevance.relevance(index, relevance.edges_of(rows, at))
        for row, row_relevance in zip(rows, relevances, strict=True):
            row[at["relevance"]] = row_relevance
            row[at["target_status"]] = statuses.get(str(row[at["target_url"]]))
            row[at["sitewide"]] = (
                row[at["kind"]] == "a"
                and (str(row[at["source_host"]]), str(row[at["target_url"]])) in pairs
            )
            if texts:
                key = (str(row[at["target_url"]]), str(row[at["source_url"]]), str(row[at["kind"]]))
                before, after = context.get(key, ("", ""))
                row[at["text_before"]], row[at["text_after"]] = before, after
            done.append(tuple(row))
    return Result(result.columns, done, result.next_cursor)


def latest_fetches(index: Index, pages: Sequence[tuple[str, str]], value: str) -> dict[str, Any]:
    """SQL ``value`` (a column of ``pages``, or a tuple of columns) at the
    latest fetch of each ``(host, url)`` fetched at all, by URL (``pages``,
    read by key)."""
    if not pages:
        return {}
    params = {
        "lf_hosts": sorted({reverse_host(host) for host, _ in pages}),
        "lf_urls": sorted({url for _, url in pages}),
    }
    # The latest fetch by hand rather than FINAL: the pages are scattered
    # over many hosts' ranges, and FINAL would merge every row read there.
    _, rows = index.query(
        f"SELECT url, argMax({value}, fetched_at) FROM {index.db}.pages "
        "WHERE rev_host IN {lf_hosts:Array(String)} AND url IN {lf_urls:Array(String)} "
        "GROUP BY url",
        params,
    )
    return {str(url): found for url, found in rows}


def target_statuses(index: Index, targets: Sequence[tuple[str, str]]) -> dict[str, int]:
    """The HTTP status of the latest fetch of each ``(host, url)`` fetched at
    all, by URL (:func:`latest_fetches`)."""
    return {url: int(status) for url, status in latest_fetches(index, targets, "status").items()}


def sitewide_pairs(
    index: Index, pairs: dict[tuple[str, str], tuple[str, str]]
) -> set[tuple[str, str]]:
    """The sitewide ones of ``pairs``: ``(source_host, target_url)`` ->
    ``(target_domain, target_host)``, by :func:`linkindex.sqlparts.sitewide_sql`
    over the edges from those hosts to those URLs, read by key (see
    :data:`PREFIX_HOSTS`)."""
    if not pairs:
        return set()
    known, stale = _facts_of(index, sorted({host for host, _ in pairs}))
    found = {(host, url) for host, url in pairs if url in known.get(host, ())}
    pairs = {pair: target for pair, target in pairs.items() if pair[0] in stale}
    if not pairs:
        return found
    hosts = sorted({host for host, _ in pairs})
    params: dict[str, Any] = {
        "sw_domains": sorted({domain for domain, _ in pairs.values()}),
        "sw_revs": sorted({reverse_host(host) for _, host in pairs.values()}),
        "sw_urls": sorted({url for _, url in pairs}),
        "sw_hosts": hosts,
    }
    where = (
        "target_domain IN {sw_domains:Array(String)} AND target_rev_host IN "
        "{sw_revs:Array(String)} AND target_url IN {sw_urls:Array(String)} "
        "AND source_host IN {sw_hosts:Array(String)}"
    )
    if len(hosts) <= PREFIX_HOSTS:
        # A normalized URL starts with its scheme, its host and a port or a path.
        prefixes = []
        for number, host in enumerate(hosts):
            for scheme in ("http", "https"):
                for end in ("/", ":"):
                    name = f"sw_p{number}_{scheme}_{'path' if end == '/' else 'port'}"
                    params[name] = f"{scheme}://{host}{end}"
                    prefixes.append(f"startsWith(source_url, {{{name}:String}})")
        where += f" AND ({' OR '.join(prefixes)})"
    params["sw_host_revs"] = sorted({reverse_host(host) for host in hosts})
    sql = sitewide_sql(index.db, "edges", where, "{sw_host_revs:Array(String)}")
    _, rows = index.query(sql, params)
    return found | ({(str(host), str(url)) for host, url in rows} & set(pairs))


def _facts_of(index: Index, hosts: Sequence[str]) -> tuple[dict[str, frozenset[str]], set[str]]:
    """Each of ``hosts``' sitewide target URLs from its host facts, where they
    were refreshed after its pages were last written, and the hosts whose
    facts are stale or missing (to be derived from the edges). A host with no
    pages written has no fetched page, so no sitewide link: neither."""
    db = index.db
    _, rows = index.query(
        f"""
        SELECT w.rev_host, f.urls, f.refreshed_at >= w.written
        FROM (SELECT rev_host, max(written_at) AS written FROM {db}.host_writes
              WHERE rev_host IN {{fact_revs:Array(String)}} GROUP BY rev_host) AS w
        LEFT JOIN (SELECT rev_host, host,
                          arrayMap(pair -> tupleElement(pair, 'url'), sitewide) AS urls,
                          refreshed_at
                   FROM {db}.host_facts FINAL
                   WHERE rev_host IN {{fact_revs:Array(String)}}) AS f USING rev_host""",
        {"fact_revs": sorted({reverse_host(host) for host in hosts})},
    )
    # host_writes keys hosts by reversed name only: back to names.
    names = {reverse_host(host): host for host in hosts}
    known: dict[str, frozenset[str]] = {}
    stale: set[str] = set()
    for rev, urls, fresh in rows:
        host = names.get(str(rev))
        if host is None:
            continue
        if fresh:
            known[host] = frozenset(str(url) for url in urls)
        else:
            stale.add(host)
    return known, stale


def edge_texts(
    index: Index, rows: Sequence[Sequence[Any]], at: dict[str, int]
) -> dict[tuple[str, str, str], tuple[str, str]]:
    """The texts before and after each edge of ``rows`` (records), from the
    merged ``edges`` by key: ``(target_url, source_url, kind)`` -> texts."""
    if not rows:
        return {}
    keys = sorted(
        {
            (
                str(r[at["target_domain"]]),
                reverse_host(str(r[at["target_host"]])),
                str(r[at["target_url"]]),
                str(r[at["source_url"]]),
            )
            for r in rows
        }
    )
    # Whole key prefixes, so that each edge is one granule of the key however
    # many backlinks its target has; the latest sighting by hand rather than
    # FINAL (see latest_fetches): `latest` is the max of its tuple, which
    # starts with the sighting's time, and two of its elements read as
    # subcolumns leave the others unread.
    _, found = index.query(
        f"""
        SELECT target_url, source_url, toString(kind),
               argMax((latest.text_before, latest.text_after), latest.seen)
        FROM {index.db}.edges
        WHERE (target_domain, target_rev_host, target_url, source_url)
              IN {{tx_keys:Array(Tuple(String, String, String, String))}}
        GROUP BY target_url, source_url, kind""",
        {"tx_keys": keys},
    )
    return {
        (str(url), str(source), str(kind)): (str(texts[0]), str(texts[1]))
        for url, source, kind, texts in found
    }


_SORTS: Final = {
    "first_seen": "first_seen DESC",
    "last_seen": "last_seen DESC",
    "authority": "authority DESC",
}


def authority_for(index: Index, domains: Sequence[str]) -> dict[str, int]:
    """Authority of each of ``domains`` (0 when unranked), for one page of results.

    A primary-key lookup in ``domain_rank``: cheap for the few hundred domains
    of a page, unlike a join, which would read the whole table.
    """
    wanted = sorted(set(domains))
    if not wanted:
        return {}
    sql = (
        f"SELECT domain, authority FROM {index.db}.{RANK_TABLE} WHERE domain IN {{d:Array(String)}}"
    )
    _, rows = index.query(sql, {"d": wanted})
    found = {str(domain): int(authority) for domain, authority in rows}
    return {domain: found.get(domain, 0) for domain in wanted}


def _add_authority(index: Index, result: Result, domain_column: str, name: str) -> Result:
    """``result`` with one more column, ``name``: the authority of ``domain_column``."""
    at = result.columns.index(domain_column)
    found = authority_for(index, [str(row[at]) for row in result.rows])
    result.columns = [*result.columns, name]
    result.rows = [(*row, found[str(row[at])]) for row in result.rows]
    return result


def _authority_join(index: Index, domain: str, candidates: str) -> str:
    """``LEFT JOIN`` giving each row ``dr.authority`` of ``q.<domain>``.

    The scores table is read only for ``candidates`` (a subquery of domain
    names, a superset of the result's), by its primary key, rather than whole:
    the join's hash table then holds those domains alone. Unranked domains get
    0 (``join_use_nulls`` is off).
    """
    return (
        f"LEFT JOIN (SELECT domain, authority FROM {index.db}.{RANK_TABLE} "
        f"WHERE domain IN ({candidates})) AS dr ON dr.domain = q.{domain}"
    )


def _edges_sorted(
    index: Index,
    table: str,
    source: str,
    where: list[str],
    params: dict[str, Any],
    filters: Filters,
    side: str,
) -> Result:
    """Edges in a chosen order, or one per referring domain; paged by offset."""
    other = "source" if side == "target" else "target"
    _check_sort(filters.sort)
    order = _SORTS.get(filters.sort or "", "")
    key = f"{side}_url, {other}_url, kind"
    rows_sql = f"SELECT {edge_select(table)} FROM {source} WHERE {' AND '.join(where)}"
    if filters.one_per_domain:
        # The representative link of a domain: dofollow first, then the oldest.
        rows_sql += (
            " ORDER BY source_domain, nofollow, first_seen, " + key + " LIMIT 1 BY source_domain"
        )
    if filters.sort == "authority":
        candidates = f"SELECT {other}_domain FROM {index.db}.{table} WHERE {where[0]}"
        rows_sql = (
            f"SELECT q.*, dr.authority AS {other}_authority FROM ({rows_sql}) AS q "
            + _authority_join(index, f"{other}_domain", candidates)
        )
        order = f"{other}_authority DESC"
    elif filters.one_per_domain:
        rows_sql = f"SELECT * FROM ({rows_sql})"
    sql = f"{rows_sql} ORDER BY {order + ', ' if order else ''}{key}"
    return _aggregate(index, sql, params, filters)


def _check_sort(sort: str | None) -> None:
    if sort == "relevance":
        raise UsageError("--sort relevance orders backlinks and outlinks only")
    if sort is not None and sort not in _SORTS:
        raise UsageError(f"unknown sort {sort!r} (first_seen, last_seen, authority or relevance)")


def _edges_by_relevance(
    index: Index,
    table: str,
    source: str,
    where: list[str],
    params: dict[str, Any],
    filters: Filters,
) -> Result:
    """Edges, the most relevant first (unknown relevance last; then the
    table's key order), one per referring domain if asked; paged by offset.

    Relevance is computed outside SQL (linkindex/relevance.py), so every
    selected edge is read and ranked here, not only the page's.
    """
    rows_sql = f"SELECT {edge_select(table)} FROM {source} WHERE {' AND '.join(where)}"
    if filters.one_per_domain:
        rows_sql += (
            " ORDER BY source_domain, nofollow, first_seen, target_url, source_url, kind"
            " LIMIT 1 BY source_domain"
        )
    columns, rows = index.query(f"SELECT * FROM ({rows_sql})", params)
    at = {name: i for i, name in enumerate(columns)}
    edges = relevance.edges_of(rows, at)
    values: list[float | None] = []
    for start in range(0, len(edges), 10 * LOOKUP_ROWS):
        values += relevance.relevance(index, edges[start : start + 10 * LOOKUP_ROWS])
    ranked = sorted(
        zip(values, edges, rows, strict=True),
        key=lambda item: (
            item[0] is None,
            -(item[0] or 0.0),
            item[1][2],
            item[1][0],
            str(item[2][at["kind"]]),
        ),
    )
    offset = filters.offset
    if filters.cursor:
        offset = int(_decode_cursor(filters.cursor, 1)[0])
    page = ranked[offset : offset + filters.limit] if filters.limit else ranked[offset:]
    next_cursor = None
    if filters.limit and len(page) == filters.limit:
        next_cursor = _encode_cursor([offset + len(page)])
    return Result(list(columns), [row for _, _, row in page], next_cursor)


def top_pages(index: Index, target: Target, filters: Filters) -> Result:
    """The target's pages ranked by referring domains (then links)."""
    params: dict[str, Any] = {}
    source, where = backlinks_where(index, target, filters, params)
    sql = f"""
        SELECT target_url, uniqExact(source_domain) AS refdomains, count() AS links,
               countIf({DOFOLLOW}) AS dofollow_links,
               min(first_seen) AS first_seen, max(last_seen) AS last_seen
        FROM {source}
        WHERE {where}
        GROUP BY target_url
        ORDER BY refdomains DESC, links DESC, target_url"""
    return _aggregate(index, sql, params, filters)


def intersect(
    index: Index, linking_to: Sequence[Target], not_linking_to: Sequence[Target], filters: Filters
) -> Result:
    """Referring domains that link to every domain of ``linking_to`` and to none of
    ``not_linking_to`` (external links; the ``refdomains`` rollup, so one key
    range read per domain)."""
    if not linking_to:
        raise UsageError("intersect needs at least one domain to link to")
    wanted = sorted({t.domain for t in linking_to})
    unwanted = sorted({t.domain for t in not_linking_to} - set(wanted))
    params: dict[str, Any] = {"wanted": wanted, "unwanted": unwanted, "n": len(wanted)}
    # groupArray collects in whatever order the parts are read: sort, so that
    # one index always gives one answer.
    sql = f"""
        SELECT source_domain,
               arraySort(groupArrayIf(target_domain, has({{wanted:Array(String)}}, target_domain)))
                   AS links_to,
               min(first_seen) AS first_seen, max(last_seen) AS last_seen
        FROM {index.db}.refdomains FINAL
        WHERE (has({{wanted:Array(String)}}, target_domain)
               OR has({{unwanted:Array(String)}}, target_domain))
          AND {EXTERNAL}
        GROUP BY source_domain
        HAVING uniqExactIf(target_domain, has({{wanted:Array(String)}}, target_domain))
               = {{n:UInt32}}
           AND countIf(has({{unwanted:Array(String)}}, target_domain)) = 0
        ORDER BY source_domain"""
    return _add_authority(
        index, _aggregate(index, sql, params, filters), "source_domain", "authority"
    )


def lost_per_day(index: Index, target: Target, filters: Filters) -> list[tuple[Any, int]]:
    """(UTC day, links lost that day) for ``target``'s backlinks, oldest first.

    A link is lost on the day of the first conclusive fetch (status < 500) of
    its source page that no longer carried it (its ``lost_at``), and counts
    while it stays lost (see :data:`linkindex.sqlparts.LOST`).
    """
    params: dict[str, Any] = {}
    source, where = backlinks_where(index, target, replace(filters, status="lost"), params)
    _, rows = index.query(
        f"""
        SELECT toDate(e.lost_at, 'UTC') AS day, count() AS links
        FROM {source} WHERE {where} GROUP BY day ORDER BY day""",
        params,
    )
    return [(day, int(links)) for day, links in rows]


def backlinks(index: Index, target: Target, filters: Filters) -> Result:
    """One record per edge whose target matches ``target`` (docs/queries.md)."""
    return _edges(index, target, filters, "target")


def outlinks(index: Index, source: Target, filters: Filters) -> Result:
    """One record per edge whose source matches ``source`` (scopes as for targets)."""
    return _edges(index, source, filters, "source")


def _aggregate(index: Index, sql: str, params: dict[str, Any], filters: Filters) -> Result:
    offset = filters.offset
    if filters.cursor:
        offset = int(_decode_cursor(filters.cursor, 1)[0])
    paged = Filters(limit=filters.limit, offset=offset)
    columns, rows = index.query(sql + _page(paged, params), params)
    next_cursor = None
    if filters.limit and len(rows) == filters.limit:
        next_cursor = _encode_cursor([offset + len(rows)])
    return Result(columns, rows, next_cursor)


def refdomains(index: Index, target: Target, filters: Filters) -> Result:
    """Referring domains of ``target``: links, dofollow links, target URLs, first
    and last seen, authority (0–100, ``linkgraph rank``; 0 when unranked), and
    the spam score with the signals that make it up (:mod:`linkindex.spam`).

    Most links first, or by ``filters.sort``: ``authority`` (strongest first),
    ``first_seen`` (the newest referring domains first) or ``last_seen``.
    A whole domain under the default filters reads its rollup when it is fresh
    (linkindex/rollups.py), with the same figures. Each referring domain also
    gets ``topics``, its topical profile (docs/relevance.md).
    """
    return _add_topics(index, _refdomains(index, target, filters))


def _add_topics(index: Index, result: Result) -> Result:
    """``result`` with one more column, ``topics``: the topical profile of
    each row's ``source_domain``, looked up for the page's domains only."""
    at = result.columns.index("source_domain")
    found = relevance.topics(index, [str(row[at]) for row in result.rows])
    result.columns = [*result.columns, "topics"]
    result.rows = [(*row, found[str(row[at])]) for row in result.rows]
    return result


def _refdomains(index: Index, target: Target, filters: Filters) -> Result:
    _check_sort(filters.sort)
    params: dict[str, Any] = {}
    if (
        target.scope == "domain"
        and default_selection(filters)
        and rollups.fresh(index, target.domain)
    ):
        params["rollup_domain"] = target.domain
        where = "target_domain = {rollup_domain:String}"
        candidates = f"SELECT source_domain FROM {index.db}.domain_refdomains WHERE {where}"
        sql = f"""
            SELECT source_domain, links, dofollow_links, target_urls, first_seen, last_seen
            FROM {index.db}.domain_refdomains FINAL WHERE {where}"""
    else:
        source, where = backlinks_where(index, target, filters, params)
        candidates = (
            f"SELECT source_domain FROM {index.db}.edges "
            f"WHERE {scope_where(target, 'target', params)}"
        )
        sql = f"""
            SELECT source_domain, {REFDOMAIN_FIGURES}
            FROM {source}
            WHERE {where}
            GROUP BY source_domain"""
    if filters.sort == "authority":
        # Sorting needs every domain's score: join them all, by primary key.
        sql = (
            f"SELECT q.*, dr.authority AS authority FROM ({sql}) AS q "
            + _authority_join(index, "source_domain", candidates)
            + " ORDER BY authority DESC, links DESC, source_domain"
        )
        return spam.add_scores(index, _aggregate(index, sql, params, filters))
    order = _SORTS.get(filters.sort or "", "")
    sql += f" ORDER BY {order + ', ' if order else ''}links DESC, source_domain"
    # One page: look its domains' scores up by key.
    result = _add_authority(
        index, _aggregate(index, sql, params, filters), "source_domain", "authority"
    )
    return spam.add_scores(index, result)


def anchors(index: Index, target: Target, filters: Filters) -> Result:
    """Anchor texts of ``a`` links to ``target`` with link and referring-domain counts."""
    params: dict[str, Any] = {}
    source, where = backlinks_where(index, target, filters, params)
    sql = f"""
        SELECT {latest("anchor")} AS anchor, count() AS links,
               uniqExact(source_domain) AS refdomains,
               countIf({DOFOLLOW}) AS dofollow_links,
               min(first_seen) AS first_seen, max(last_seen) AS last_seen
        FROM {source}
        WHERE {where} AND kind = 'a'
        GROUP BY anchor
        ORDER BY refdomains DESC, links DESC, anchor"""
    return _aggregate(index, sql, params, filters)


#: Columns of the host and domain graphs (``export hosts|domains``).
GRAPH_FIELDS: Final = {
    "hosts": ("source_host", "target_host", "links", "dofollow_links", "first_seen", "last_seen"),
    "domains": (
        "source_domain",
        "target_domain",
        "links",
        "dofollow_links",
        "first_seen",
        "last_seen",
    ),
}


def export_columns(what: str) -> tuple[str, ...]:
    """Column names of ``export WHAT`` (edges, hosts or domains)."""
    return EDGE_FIELDS if what == "edges" else GRAPH_FIELDS[what]


#: Edges per page of ``export edges``.
EXPORT_PAGE: Final = 20_000
#: The ordering key of ``edges``, which ``export edges`` pages through.
_EDGES_KEY: Final = "target_domain, target_rev_host, target_url, source_url, toInt8(kind)"


def export(
    index: Index, what: str, include_internal: bool = True
) -> Iterator[tuple[list[str], Sequence[Sequence[Any]]]]:
    """Stream the whole index as blocks of rows.

    ``edges``: every edge with record fields (docs/queries.md#records), in the
    table's key order, a page of :data:`EXPORT_PAGE` edges at a time (each a
    range read after the last key), each completed as the queries complete
    theirs (:func:`complete`). ``hosts``/``domains``: the host or domain graph,
    one row per (source, target) pair with link counts as weights for
    downstream scoring.
    """
    where = "1" if include_internal else EXTERNAL
    if what == "edges":
        return _export_edges(index, where)
    if what in GRAPH_FIELDS:
        level = "host" if what == "hosts" else "domain"
        sql = f"""
            SELECT source_{level}, target_{level}, count() AS links,
                   countIf({DOFOLLOW}) AS dofollow_links,
                   min(first_seen) AS first_seen, max(last_seen) AS last_seen
            FROM {index.db}.edges FINAL
            WHERE {where}
            GROUP BY source_{level}, target_{level}
            ORDER BY source_{level}, target_{level}"""
        return index.stream(sql)
    raise UsageError(f"cannot export {what!r} (choose edges, hosts or domains)")


def _export_edges(index: Index, where: str) -> Iterator[tuple[list[str], Sequence[Sequence[Any]]]]:
    # Pages rather than one stream: completing a page runs lookups, which a
    # session cannot do while it streams another answer.
    fields = len(EDGE_FIELDS)
    after = ""
    params: dict[str, Any] = {"page": EXPORT_PAGE}
    while True:
        sql = (
            f"SELECT {edge_select()}, target_rev_host AS _k1, toInt8(kind) AS _k4 "
            f"FROM {index.db}.edges AS e FINAL WHERE {where}{after} "
            f"ORDER BY {_EDGES_KEY} LIMIT {{page:UInt64}}"
        )
        columns, rows = index.query(sql, params, {"max_block_size": EXPORT_PAGE})
        if not rows:
            return
        last = rows[-1]
        params.update(k0=last[5], k1=last[fields], k2=last[3], k3=last[0], k4=last[fields + 1])
        after = (
            f" AND ({_EDGES_KEY}) > ({{k0:String}}, {{k1:String}}, {{k2:String}}, "
            "{k3:String}, {k4:Int8})"
        )
        # One lookup per page: the page is one range of target URLs, read again.
        page = complete(
            index,
            Result(columns[:fields], [r[:fields] for r in rows]),
            texts=False,
            chunk=EXPORT_PAGE,
        )
        yield page.columns, page.rows
        if len(rows) < EXPORT_PAGE:
            return


def stats(index: Index) -> Result:
    """Index size and freshness, one row of named figures."""
    db = index.db
    params = {"db": db}
    sql = f"""
        SELECT
          (SELECT count() FROM {db}.edges FINAL) AS edges,
          (SELECT countIf({EXTERNAL}) FROM {db}.edges FINAL)
              AS external_edges,
          (SELECT count() FROM {db}.pages FINAL) AS pages,
          (SELECT countIf(status BETWEEN 200 AND 299) FROM {db}.pages FINAL) AS pages_2xx,
          (SELECT uniqExact(target_host) FROM {db}.edges) AS target_hosts,
          (SELECT uniqExact(target_domain) FROM {db}.edges) AS target_domains,
          (SELECT uniqExact(domain) FROM {db}.pages) AS crawled_domains,
          (SELECT count() FROM {db}.refdomains FINAL) AS domain_links,
          (SELECT min(fetched_at) FROM {db}.pages) AS first_fetch,
          (SELECT max(fetched_at) FROM {db}.pages) AS last_fetch,
          (SELECT sum(bytes_on_disk) FROM system.parts
             WHERE database = {{db:String}} AND active) AS bytes_on_disk,
          (SELECT sum(bytes_on_disk) FROM system.parts
             WHERE database = {{db:String}} AND table = 'edges' AND active) AS edges_bytes,
          if(edges = 0, 0, round(edges_bytes / edges, 1)) AS edges_bytes_per_edge"""
    columns, rows = index.query(sql, params)
    return Result(columns, rows)


def sql(index: Index, statement: str, *, write: bool = False) -> Result:
    """Run a user's SQL. Read-only unless ``write`` (ClickHouse ``readonly=2``)."""
    settings = None if write else {"readonly": 2}
    if index.location.embedded:
        # Unqualified names (`SELECT … FROM links`) mean the index's database.
        # The embedded session is shared by every Index of this data directory,
        # and all of linkgraph's own SQL names its database, so this is safe.
        index.command(f"USE {index.db}")
    columns, rows = index.query(statement, settings=settings)
    return Result(columns, rows)
