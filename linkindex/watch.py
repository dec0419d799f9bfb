"""``linkgraph watch TARGET``: the backlinks new or lost since the last watch
(docs/queries.md#watch).

A watch reads the backlinks of TARGET whose state changed in a window of time,
``(since, until]``:

- ``new``: live now, first seen in the window;
- ``lost``: lost now, and lost in the window (its ``lost_at``, the first
  conclusive fetch of the source page that no longer carried it), with its
  ``lost_reason``.

``since`` is the checkpoint the last watch of TARGET stored (``watches``,
sql/006_watches.sql), or a date the caller gives; with neither (a target
never watched) the window starts at the beginning, so the first watch lists
every live backlink as new and every lost one as lost. ``until`` is the
moment the watch reads; the caller stores it as the next checkpoint with
:func:`save_checkpoint` once the records are delivered, so that records a
failed delivery did not hand over are reported again.

A link lost and then sighted again is live, with its first sighting kept: a
watch does not report it as new.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final

from linkindex.client import Index
from linkindex.filters import Filters
from linkindex.queries import Result, complete
from linkindex.sqlparts import LIVE, LOST, backlinks_where, edge_select, moment
from linkindex.targets import Target

#: The values of a watch record's ``change``, in the order records come.
CHANGES: Final = ("new", "lost")
#: The query options a watch takes: those that choose which backlinks count.
OPTIONS: Final = (
    "include_internal",
    "dofollow_only",
    "kind",
    "location",
    "max_spam",
    "from_domain",
)
#: DateTime64 text of a moment, as the parameters take it.
_MOMENT: Final = "%Y-%m-%d %H:%M:%S.%f"


@dataclass(frozen=True, slots=True)
class Changes:
    """The records of one watch and its window: ``change`` then the record
    fields of docs/queries.md#records, new links first."""

    since: datetime | None
    until: datetime
    result: Result

    def count(self, change: str) -> int:
        """How many records are ``change`` (new or lost)."""
        return sum(1 for row in self.result.rows if row[0] == change)


def checkpoint_key(target: Target) -> str:
    """What identifies a watched target within its scope: the registered
    domain, the host, or the normalized URL."""
    if target.scope == "domain":
        return target.domain
    if target.scope == "host":
        return target.host
    return target.url


def last_checkpoint(index: Index, target: Target) -> datetime | None:
    """The checkpoint the last watch of ``target`` stored, if any."""
    _, rows = index.query(
        f"SELECT max(watched_at), count() FROM {index.db}.watches "
        "WHERE target = {key:String} AND scope = {scope:String}",
        {"key": checkpoint_key(target), "scope": target.scope},
    )
    checkpoint: datetime = rows[0][0]
    if not rows[0][1]:
        return None
    return checkpoint if checkpoint.tzinfo else checkpoint.replace(tzinfo=UTC)


def save_checkpoint(index: Index, target: Target, until: datetime) -> None:
    """Store ``until`` as the checkpoint of ``target``'s next watch."""
    index.command(
        f"INSERT INTO {index.db}.watches (target, scope, watched_at) VALUES "
        "({key:String}, {scope:String}, {at:DateTime64(3, 'UTC')})",
        {"key": checkpoint_key(target), "scope": target.scope, "at": _text(until)},
    )


def _text(at: datetime) -> str:
    return at.astimezone(UTC).strftime(_MOMENT)[:-3]


def parse_since(text: str) -> datetime:
    """``--since DATE``: an ISO-8601 date or time, UTC unless it says otherwise."""
    return datetime.fromisoformat(moment(text, "since", end=False)).replace(tzinfo=UTC)


def now() -> datetime:
    """The present moment to the millisecond, as the index stores sightings."""
    present = datetime.now(UTC)
    return present.replace(microsecond=present.microsecond // 1000 * 1000)


def changes(
    index: Index,
    target: Target,
    since: datetime | None,
    until: datetime,
    filters: Filters | None = None,
) -> Changes:
    """The backlinks of ``target`` new or lost in ``(since, until]`` (see the
    module doc), under ``filters`` (external links by default), completed as
    ``backlinks`` records are."""
    params: dict[str, Any] = {
        "w_since": _text(since or datetime(1970, 1, 1, tzinfo=UTC)),
        "w_until": _text(until),
    }
    source, where = backlinks_where(index, target, filters or Filters(), params)

    def within(column: str) -> str:
        return (
            f"{column} > {{w_since:DateTime64(3, 'UTC')}} "
            f"AND {column} <= {{w_until:DateTime64(3, 'UTC')}}"
        )

    sql = f"""
        SELECT if({LOST}, 'lost', 'new') AS change, {edge_select()}
        FROM {source}
        WHERE {where}
          AND (({LIVE} AND {within("e.first_seen")}) OR ({LOST} AND {within("e.lost_at")}))
        ORDER BY change = 'lost', target_url, source_url, kind"""
    columns, rows = index.query(sql, params)
    return Changes(since, until, complete(index, Result(columns, rows), texts=False))
