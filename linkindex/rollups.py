"""Domain rollups: precomputed ``refdomains`` and ``report`` of whole domains.

``refdomains`` and ``report`` of a registered domain under the default
filters aggregate every backlink of the domain; for a domain with a million
backlinks that is a million merged rows per answer. A rollup keeps those
answers per domain (sql/004_rollups.sql):

- ``domain_refdomains``: the ``refdomains`` columns per (target domain,
  referring domain);
- ``domain_reports``: every ``report`` figure per target domain.

Rollups are exact or unused. The index records when each target domain's
edges were last written (``domain_writes``), and a rollup row when its refresh
started; :func:`report_figures` and :func:`fresh` use a domain's rollup only if
it was refreshed after the last write, and callers aggregate the edges
otherwise. :func:`refresh` recomputes the rollups of the domains written since
their last refresh, from the merged edges with the same SQL the queries use, so
a replayed batch can never double a count.

Who refreshes: ``linkgraph crawl`` when the crawl ends, ``linkgraph consume``
when it has caught up (nothing new for a while), and ``linkgraph rollup`` on
demand (``--all`` for every domain, e.g. after an upgrade). On a ClickHouse
server, writers other than the refreshing process may insert while it reads:
``settle_seconds`` then dates the refresh that much earlier than it started,
so that an insert still in flight when it started cannot be counted as seen.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Final

from linkcore.errors import LinkgraphError
from linkindex.client import Index
from linkindex.filters import Filters
from linkindex.sqlparts import (
    CONTEXT_NAMES,
    HTML_PAGE,
    REFDOMAIN_FIGURES,
    TO_DOMAINS,
    TOTAL_NAMES,
    context_sql,
    edges_where,
    facts_of_hosts,
    host_ips_sql,
    report_sql,
    sitewide_by_host_sql,
)

log = logging.getLogger(__name__)

#: Target domains refreshed per statement: bounds the aggregation's memory.
CHUNK_DOMAINS: Final = 20_000
#: Hosts whose facts are refreshed per statement.
CHUNK_HOSTS: Final = 5_000
#: The refresh date of servers with other writers (see module doc).
SERVER_SETTLE_SECONDS: Final = 300.0


@dataclass(frozen=True, slots=True)
class Refreshed:
    """What one :func:`refresh` did."""

    domains: int
    seconds: float
    hosts: int = 0


def stale_domains(index: Index) -> list[str]:
    """Target domains written since their rollups were last refreshed, sorted."""
    db = index.db
    # A domain missing from domain_reports joins with refreshed = epoch 0.
    _, rows = index.query(
        f"""
        SELECT w.target_domain
        FROM (SELECT target_domain, max(written_at) AS written
              FROM {db}.domain_writes GROUP BY target_domain) AS w
        LEFT JOIN (SELECT target_domain, max(refreshed_at) AS refreshed
                   FROM {db}.domain_reports GROUP BY target_domain) AS r
          USING target_domain
        WHERE r.refreshed < w.written
        ORDER BY w.target_domain"""
    )
    return [row[0] for row in rows]


def stale_hosts(index: Index) -> list[tuple[str, str]]:
    """``(rev_host, domain)`` of the hosts whose pages were written since their
    facts were last refreshed (sql/005_host_facts.sql), sorted."""
    db = index.db
    _, rows = index.query(
        f"""
        SELECT w.rev_host, w.domain
        FROM (SELECT rev_host, any(domain) AS domain, max(written_at) AS written
              FROM {db}.host_writes GROUP BY rev_host) AS w
        LEFT JOIN (SELECT rev_host, max(refreshed_at) AS refreshed
                   FROM {db}.host_facts GROUP BY rev_host) AS f
          USING rev_host
        WHERE f.refreshed < w.written
        ORDER BY w.rev_host"""
    )
    return [(str(rev), str(domain)) for rev, domain in rows]


def hosts_fresh(index: Index) -> bool:
    """True if every host's facts were refreshed after its pages were last
    written: no page was written after the latest refresh started (every
    refresh refreshes every host written before it started)."""
    db = index.db
    _, rows = index.query(
        f"SELECT (SELECT max(written_at) FROM {db}.host_writes) "
        f"<= (SELECT max(refreshed_at) FROM {db}.host_facts)"
    )
    return bool(rows[0][0])


def refresh_hosts(index: Index, stamp: Any, chunk_hosts: int = CHUNK_HOSTS) -> int:
    """Recompute the facts of every stale host (:func:`stale_hosts`), dated
    ``stamp``. A host whose sitewide links or address changed marks the target
    domains they concern as written at ``stamp``, so that their rollups, which
    count them, are refreshed next. Returns the hosts refreshed."""
    db = index.db
    hosts = stale_hosts(index)
    for start in range(0, len(hosts), chunk_hosts):
        chunk = hosts[start : start + chunk_hosts]
        params: dict[str, Any] = {
            "stamp": stamp,
            "revs": [rev for rev, _ in chunk],
            "domains": sorted({domain for _, domain in chunk}),
        }
        before = _facts(index, params)
        scope = (
            "source_domain IN {domains:Array(String)} AND source_rev_host IN {revs:Array(String)}"
        )
        index.command(
            f"""
            INSERT INTO {db}.host_facts
                (rev_host, host, domain, html_pages, ip, sitewide, refreshed_at)
            SELECT h.rev_host, h.host, h.domain, h.html_pages, i.ip, s.pairs,
                   {{stamp:DateTime64(3, 'UTC')}}
            FROM (SELECT rev_host, any(host) AS host, any(domain) AS domain,
                         countIf({HTML_PAGE}) AS html_pages
                  FROM {db}.pages FINAL WHERE rev_host IN {{revs:Array(String)}}
                  GROUP BY rev_host) AS h
            LEFT JOIN ({host_ips_sql(db, "{revs:Array(String)}")}) AS i ON i.host = h.host
            LEFT JOIN ({sitewide_by_host_sql(db, scope, "{revs:Array(String)}")}) AS s
                ON s.source_host = h.host""",
            params,
        )
        after = _facts(index, params)
        marked: set[str] = set()
        moved: list[str] = []
        for rev in params["revs"]:
            old_ip, old_pairs = before.get(rev, ("", frozenset()))
            new_ip, new_pairs = after.get(rev, ("", frozenset()))
            marked |= {domain for _, domain in old_pairs ^ new_pairs}
            if old_ip != new_ip:
                moved.append(rev)
        if moved:
            # Every domain the host links to counts its address.
            _, rows = index.query(
                f"SELECT DISTINCT target_domain FROM {db}.edges_by_source "
                "WHERE source_domain IN {domains:Array(String)} "
                "AND source_rev_host IN {moved:Array(String)}",
                {**params, "moved": moved},
            )
            marked |= {str(row[0]) for row in rows}
        if marked:
            index.command(
                f"INSERT INTO {db}.domain_writes (target_domain, written_at) "
                "SELECT arrayJoin({marked:Array(String)}), {stamp:DateTime64(3, 'UTC')}",
                {"marked": sorted(marked), "stamp": stamp},
            )
    return len(hosts)


def _facts(
    index: Index, params: dict[str, Any]
) -> dict[str, tuple[str, frozenset[tuple[str, str]]]]:
    """The latest facts of the hosts ``params["revs"]``: rev_host -> (ip, pairs)."""
    _, rows = index.query(
        "SELECT rev_host, ip, arrayMap(pair -> tupleElement(pair, 'url'), sitewide), "
        "arrayMap(pair -> tupleElement(pair, 'domain'), sitewide) "
        f"FROM {index.db}.host_facts FINAL WHERE rev_host IN {{revs:Array(String)}}",
        params,
    )
    return {
        str(rev): (str(ip), frozenset(zip(map(str, urls), map(str, domains), strict=True)))
        for rev, ip, urls, domains in rows
    }


def default_settle_seconds(index: Index) -> float:
    """0 on the embedded index (its one owner refreshes between its own
    writes), :data:`SERVER_SETTLE_SECONDS` on a server."""
    return 0.0 if index.location.embedded else SERVER_SETTLE_SECONDS


def refresh(
    index: Index,
    *,
    all_domains: bool = False,
    settle_seconds: float | None = None,
    chunk_domains: int = CHUNK_DOMAINS,
) -> Refreshed:
    """Recompute the rollups of every domain written since its last refresh
    (of every target domain with ``all_domains``).

    ``settle_seconds`` defaults to :func:`default_settle_seconds`.
    """
    if settle_seconds is None:
        settle_seconds = default_settle_seconds(index)
    started = time.monotonic()
    db = index.db
    _, now = index.query(
        "SELECT now64(3, 'UTC') - toIntervalMillisecond({settle:UInt64})",
        {"settle": int(settle_seconds * 1000)},
    )
    stamp = now[0][0]
    # Hosts first: the domains' figures of where links sit read their facts.
    hosts = refresh_hosts(index, stamp)
    if all_domains:
        _, rows = index.query(f"SELECT DISTINCT target_domain FROM {db}.edges ORDER BY 1")
        domains = [row[0] for row in rows]
    else:
        domains = stale_domains(index)
    params: dict[str, Any] = {"stamp": stamp}
    # The default selection, exactly as the queries write it.
    source, default = edges_where(index, "edges", Filters(), params)
    names = ", ".join(TOTAL_NAMES)
    contexts = ", ".join(CONTEXT_NAMES)
    for start in range(0, len(domains), chunk_domains):
        chunk: Sequence[str] = domains[start : start + chunk_domains]
        params.update(chunk=list(chunk), lo=chunk[0], hi=chunk[-1])
        # BETWEEN: the chunk is one range of the sorted key.
        where = (
            "target_domain BETWEEN {lo:String} AND {hi:String} "
            f"AND has({{chunk:Array(String)}}, target_domain) AND {default}"
        )
        index.command(
            f"""
            INSERT INTO {db}.domain_refdomains
                (target_domain, source_domain, links, dofollow_links, target_urls,
                 first_seen, last_seen, refreshed_at)
            SELECT target_domain, source_domain, {REFDOMAIN_FIGURES},
                   {{stamp:DateTime64(3, 'UTC')}}
            FROM {source} WHERE {where}
            GROUP BY target_domain, source_domain""",
            params,
        )
        # Every domain of the chunk gets a row, zeros when it has no external
        # backlinks, so that it is not stale again until it is written.
        scope = (
            "target_domain BETWEEN {lo:String} AND {hi:String} "
            "AND has({chunk:Array(String)}, target_domain)"
        )
        context = context_sql(
            db,
            source,
            where,
            "target_domain",
            scope,
            facts_of_hosts(db, TO_DOMAINS.format(domains="{chunk:Array(String)}")),
        )
        index.command(
            f"""
            INSERT INTO {db}.domain_reports
                (target_domain, {names}, tlds, history, {contexts}, refreshed_at)
            SELECT target_domain, {names}, tlds, history, {contexts},
                   {{stamp:DateTime64(3, 'UTC')}}
            FROM (SELECT arrayJoin({{chunk:Array(String)}}) AS target_domain) AS d
            LEFT JOIN ({report_sql(source, where, "target_domain")}) AS r USING target_domain
            LEFT JOIN ({context}) AS c USING target_domain""",
            params,
        )
    seconds = time.monotonic() - started
    if domains or hosts:
        log.info(
            "refreshed the facts of %d hosts and the rollups of %d domains in %.1f s",
            hosts,
            len(domains),
            seconds,
        )
    return Refreshed(len(domains), seconds, hosts)


def refresh_after_writing(index: Index) -> None:
    """:func:`refresh` for a writer that has finished (a crawl, a consumer that
    caught up). A failure costs speed, not answers (stale rollups are not
    read), so it is logged rather than raised."""
    try:
        refresh(index)
    except LinkgraphError as error:
        log.warning("could not refresh the domain rollups (%s); answers stay exact", error)


_FRESH: Final = (
    "refreshed_at >= (SELECT max(written_at) FROM {db}.domain_writes "
    "WHERE target_domain = {{rollup_domain:String}})"
)


def fresh(index: Index, domain: str) -> bool:
    """True if ``domain``'s rollups were refreshed after its edges were last written."""
    _, rows = index.query(
        f"SELECT count() FROM {index.db}.domain_reports "
        f"WHERE target_domain = {{rollup_domain:String}} AND {_FRESH.format(db=index.db)}",
        {"rollup_domain": domain},
    )
    return bool(rows[0][0])


def report_figures(index: Index, domain: str) -> dict[str, Any] | None:
    """``domain``'s report figures from its rollup, or None if it is not fresh."""
    columns, rows = index.query(
        f"SELECT * FROM {index.db}.domain_reports FINAL "
        f"WHERE target_domain = {{rollup_domain:String}} AND {_FRESH.format(db=index.db)}",
        {"rollup_domain": domain},
    )
    if not rows:
        return None
    return dict(zip(columns, rows[0], strict=True))
