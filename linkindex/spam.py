"""Spam scores of referring domains, explained (docs/queries.md#spam-score).

The signals, their thresholds and weights are declared once in
:mod:`linkindex.spamsignals`; this module reads them for the referring
domains of a target and turns each into ``spam_score`` (0–100) and
``spam_signals``, the list of signals that fired, each with its value,
threshold and weight. ``refdomains`` answers carry both
(:func:`add_scores`), ``report`` counts the referring domains per band of
score (:func:`distribution`), and ``linkgraph disavow`` proposes the
domains at or above a score (:func:`linkindex.disavow.propose`).

A score is read for the links of the target's scope (never the whole index),
and an answer's scores for the domains of its page only: the cost is bounded
by the scope (docs/queries.md#spam-score gives measured costs).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Final, Protocol, TypeVar

from linkindex.client import Index
from linkindex.filters import Filters
from linkindex.spamsignals import SIGNALS
from linkindex.sqlparts import backlinks_where, scope_where, spam_sql
from linkindex.targets import Target

#: A referring domain scoring this much or more is spammy: ``report`` counts
#: them, and ``linkgraph disavow`` proposes them unless told another score.
SPAMMY: Final = 50
#: The bands ``report`` counts referring domains in: 0–9, 10–19, … 90–100.
BAND: Final = 10
#: Domains scored per statement: bounds the IN list of one lookup.
CHUNK: Final = 2_000


class _Rows(Protocol):
    """What :func:`add_scores` completes: a ``linkindex.queries.Result``."""

    columns: list[str]
    rows: list[tuple[Any, ...]]


_R = TypeVar("_R", bound=_Rows)


@dataclass(frozen=True, slots=True)
class Score:
    """A referring domain's spam score and the signals that make it up."""

    score: int
    signals: list[dict[str, Any]]


def _explain(columns: Sequence[str], row: Sequence[Any]) -> tuple[str, Score]:
    at = {name: i for i, name in enumerate(columns)}
    fired = [
        {
            "signal": signal.name,
            "value": bool(value) if signal.test == "true" else value,
            "threshold": signal.threshold,
            "weight": signal.weight,
        }
        for signal in SIGNALS
        if row[at[f"f_{signal.name}"]]
        for value in (row[at[f"v_{signal.name}"]],)
    ]
    return str(row[at["domain"]]), Score(int(row[at["spam_score"]]), fired)


def _scores_sql(index: Index, target: Target, params: dict[str, Any], domains: bool) -> str:
    scope = scope_where(target, "target", params)
    return spam_sql(
        index.db, "edges", scope, scope, "{spam_domains:Array(String)}" if domains else None
    )


def scores(index: Index, target: Target, domains: Sequence[str]) -> dict[str, Score]:
    """The spam score of each of ``domains`` as a referring domain of
    ``target`` (its external links in the target's scope); a domain with no
    such link is left out."""
    wanted = sorted(set(domains))
    found: dict[str, Score] = {}
    for start in range(0, len(wanted), CHUNK):
        params: dict[str, Any] = {"spam_domains": wanted[start : start + CHUNK]}
        columns, rows = index.query(_scores_sql(index, target, params, True), params)
        found.update(_explain(columns, row) for row in rows)
    return found


def all_scores(index: Index, target: Target) -> dict[str, Score]:
    """The spam score of every referring domain of ``target`` (its scope)."""
    params: dict[str, Any] = {}
    columns, rows = index.query(_scores_sql(index, target, params, False), params)
    return dict(_explain(columns, row) for row in rows)


def add_scores(index: Index, target: Target, result: _R) -> _R:
    """``result`` (rows with ``source_domain``) with two more columns,
    ``spam_score`` and ``spam_signals``, for the domains of its rows."""
    at = result.columns.index("source_domain")
    found = scores(index, target, [str(row[at]) for row in result.rows])
    none = Score(0, [])
    result.columns = [*result.columns, "spam_score", "spam_signals"]
    result.rows = [
        (*row, (score := found.get(str(row[at]), none)).score, score.signals) for row in result.rows
    ]
    return result


def distribution(index: Index, target: Target, filters: Filters) -> dict[str, Any]:
    """Report fields: the referring domains (those ``filters`` keep) per band
    of :data:`BAND` points of spam score, and how many score :data:`SPAMMY`
    or more."""
    params: dict[str, Any] = {}
    source, where = backlinks_where(index, target, filters, params)
    scored = _scores_sql(index, target, params, False)
    _, rows = index.query(
        f"""
        SELECT intDiv(least(spam_score, 99), {BAND}) AS band, count() AS domains,
               countIf(spam_score >= {SPAMMY}) AS spammy
        FROM ({scored})
        WHERE domain IN (SELECT source_domain FROM {source} WHERE {where})
        GROUP BY band ORDER BY band""",
        params,
    )
    counts = {int(band): int(domains) for band, domains, _ in rows}
    bands = []
    for band in range(100 // BAND):
        low = band * BAND
        high = 100 if band == 100 // BAND - 1 else low + BAND - 1
        bands.append({"from": low, "to": high, "referring_domains": counts.get(band, 0)})
    return {
        "spam_distribution": bands,
        "spammy_referring_domains": sum(int(spammy) for _, _, spammy in rows),
    }
