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
from linkindex.sqlparts import REFDOMAIN_FIGURES, TOTAL_NAMES, edges_where, report_sql

log = logging.getLogger(__name__)

#: Target domains refreshed per statement: bounds the aggregation's memory.
CHUNK_DOMAINS: Final = 20_000
#: The refresh date of servers with other writers (see module doc).
SERVER_SETTLE_SECONDS: Final = 300.0


@dataclass(frozen=True, slots=True)
class Refreshed:
    """What one :func:`refresh` did."""

    domains: int
    seconds: float


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
    if all_domains:
        _, rows = index.query(f"SELECT DISTINCT target_domain FROM {db}.edges ORDER BY 1")
        domains = [row[0] for row in rows]
    else:
        domains = stale_domains(index)
    params: dict[str, Any] = {"stamp": stamp}
    # The default selection, exactly as the queries write it.
    source, default = edges_where(index, "edges", Filters(), params)
    names = ", ".join(TOTAL_NAMES)
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
        index.command(
            f"""
            INSERT INTO {db}.domain_reports
                (target_domain, {names}, tlds, history, refreshed_at)
            SELECT target_domain, {names}, tlds, history, {{stamp:DateTime64(3, 'UTC')}}
            FROM (SELECT arrayJoin({{chunk:Array(String)}}) AS target_domain) AS d
            LEFT JOIN ({report_sql(source, where, "target_domain")}) AS r USING target_domain""",
            params,
        )
    seconds = time.monotonic() - started
    if domains:
        log.info("refreshed the rollups of %d domains in %.1f s", len(domains), seconds)
    return Refreshed(len(domains), seconds)


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
