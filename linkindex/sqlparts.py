"""The parts of the index's SQL that every query shares (docs/queries.md).

Scopes (:func:`scope_where`), filters (:func:`filter_where`), live and lost
links (:data:`LIVE`, :data:`LOST`, :func:`edges_from`) and the FROM/WHERE of a
target's backlinks (:func:`backlinks_where`). Every value from a user reaches
ClickHouse as a bound parameter (``{name:Type}``), collected in ``params``;
only identifiers chosen here are formatted into SQL.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Final, Literal

from linkcore.errors import UsageError
from linkindex.filters import Filters

if TYPE_CHECKING:
    from linkindex.client import Index
    from linkindex.queries import Target


def scope_where(target: Target, side: Literal["target", "source"], params: dict[str, Any]) -> str:
    params.update(t_domain=target.domain, t_rev=target.rev_host, t_url=target.url)
    clauses = [f"{side}_domain = {{t_domain:String}}"]
    if target.scope in ("host", "url", "prefix"):
        clauses.append(f"{side}_rev_host = {{t_rev:String}}")
    if target.scope == "url":
        clauses.append(f"{side}_url = {{t_url:String}}")
    elif target.scope == "prefix":
        clauses.append(f"startsWith({side}_url, {{t_url:String}})")
    return " AND ".join(clauses)


def filter_where(filters: Filters, params: dict[str, Any]) -> str:
    clauses = []
    if not filters.include_internal:
        clauses.append("source_domain != target_domain")
    if filters.dofollow_only:
        clauses.append("NOT tupleElement(latest, 'nofollow')")
    if filters.kind:
        params["kinds"] = list(filters.kind)
        clauses.append("toString(kind) IN {kinds:Array(String)}")
    for flag in filters.rel:
        if flag not in ("nofollow", "ugc", "sponsored"):
            raise UsageError(f"unknown rel flag {flag!r} (nofollow, ugc or sponsored)")
        clauses.append(f"tupleElement(latest, '{flag}')")
    if filters.anchor:
        params["anchor_text"] = filters.anchor
        clauses.append(
            "positionCaseInsensitiveUTF8(tupleElement(latest, 'anchor'), {anchor_text:String}) > 0"
        )
    if filters.from_domain:
        params["ref_domain"] = filters.from_domain.strip().lower().rstrip(".")
        clauses.append("source_domain = {ref_domain:String}")
    if filters.disavow:
        clauses.append(disavow_where(filters.disavow, params))
    for name, column, operator in (
        ("first_seen_from", "first_seen", ">="),
        ("first_seen_to", "first_seen", "<="),
        ("last_seen_from", "last_seen", ">="),
        ("last_seen_to", "last_seen", "<="),
    ):
        value = getattr(filters, name)
        if value:
            params[name] = moment(value, name, end=operator == "<=")
            clauses.append(f"{column} {operator} {{{name}:DateTime64(3, 'UTC')}}")
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
    from datetime import UTC, datetime, timedelta

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


#: An edge (``e``) is lost while its ``lost_at`` is after its ``last_seen``, and
#: live otherwise (001_init.sql). Qualified: queries alias max(last_seen) AS
#: last_seen.
LOST: Final = "e.lost_at > e.last_seen"
LIVE: Final = "e.lost_at <= e.last_seen"


def edges_from(index: Index, table: str, filters: Filters) -> tuple[str, str]:
    """FROM clause over ``table`` (merged), and the live/lost condition if asked.

    An edge is lost while its ``lost_at`` (written when a conclusive re-fetch
    of its source page no longer carried it) is after its ``last_seen``, live
    otherwise (001_init.sql).
    """
    source = f"{index.db}.{table} AS e FINAL"
    if filters.status is None:
        return source, "1"
    if filters.status not in ("live", "lost"):
        raise UsageError(f"unknown link status {filters.status!r} (live or lost)")
    return source, LIVE if filters.status == "live" else LOST


def backlinks_where(
    index: Index, target: Target, filters: Filters, params: dict[str, Any]
) -> tuple[str, str]:
    """FROM and WHERE of the edges pointing at ``target`` under ``filters``."""
    scope = scope_where(target, "target", params)
    source, status = edges_from(index, "edges", filters)
    return source, f"{scope} AND {filter_where(filters, params)} AND {status}"
