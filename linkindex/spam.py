"""Spam scores of referring domains, explained (docs/queries.md#spam-score).

The signals, their thresholds and weights are declared once in
:mod:`linkindex.spamsignals`. A domain's score is kept in ``domain_spam``
(sql/007_spam_scores.sql), as its authority is in ``domain_rank``:
:func:`rescore` measures the signals of a set of domains as referring domains
(all their external links, their pages, the addresses of every host) and
stores ``spam_score`` (0–100), the signals that fired and every signal's
value. The refresh that follows writing rescores the domains whose pages were
written (linkindex/rollups.py), ``linkgraph rank`` and ``linkgraph rollup
--all`` every domain. Answers read the stored scores by key, so they cost a
lookup of the page's domains: ``refdomains`` answers carry ``spam_score`` and
``spam_signals`` (:func:`add_scores`), ``report`` counts the referring
domains per band of score (:func:`distribution`), ``--max-spam`` leaves out
the domains above it, and ``linkgraph disavow`` proposes the domains at or
above a score (:func:`linkindex.disavow.propose`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Final, Protocol, TypeVar

from linkindex.client import Index
from linkindex.filters import Filters
from linkindex.spamsignals import SIGNALS
from linkindex.sqlparts import EXTERNAL, backlinks_where, scope_where, spam_sql
from linkindex.targets import Target

#: A referring domain scoring this much or more is spammy: ``report`` counts
#: them, and ``linkgraph disavow`` proposes them unless told another score.
SPAMMY: Final = 50
#: The bands ``report`` counts referring domains in: 0–9, 10–19, … 90–100.
BAND: Final = 10
#: Domains read per statement: bounds the IN list of one lookup.
CHUNK: Final = 2_000
#: Domains scored per statement: bounds the aggregation's memory.
RESCORE_CHUNK: Final = 5_000


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


def _explain(domain: str, score: int, fired: Sequence[str], values: dict[str, str]) -> Score:
    signals = [
        {
            "signal": signal.name,
            "value": _value(signal, values.get(signal.name)),
            "threshold": signal.threshold,
            "weight": signal.weight,
        }
        for signal in SIGNALS
        if signal.name in fired
    ]
    return Score(int(score), signals)


def _value(signal: Any, text: str | None) -> Any:
    """A stored value (text) as the signal reads it: a flag, a number or a name."""
    if text is None:
        return None
    if signal.test == "true":
        return text in ("true", "1")
    try:
        number = float(text)
    except ValueError:
        return text
    # A share keeps its fraction (1.0); a count is whole when it is.
    if isinstance(signal.threshold, float) or not number.is_integer():
        return round(number, 4)
    return int(number)


def scores(index: Index, domains: Sequence[str]) -> dict[str, Score]:
    """The stored spam score of each of ``domains``; a domain never scored
    (no external link when the refresh last ran) is left out."""
    wanted = sorted(set(domains))
    found: dict[str, Score] = {}
    for start in range(0, len(wanted), CHUNK):
        _, rows = index.query(
            f"SELECT domain, spam_score, fired, signal_values FROM {index.db}.domain_spam FINAL "
            "WHERE domain IN {spam_domains:Array(String)}",
            {"spam_domains": wanted[start : start + CHUNK]},
        )
        found.update(
            (str(domain), _explain(str(domain), score, fired, dict(values)))
            for domain, score, fired, values in rows
        )
    return found


def all_scores(index: Index, target: Target) -> dict[str, Score]:
    """The stored spam score of every referring domain of ``target`` (its scope)."""
    params: dict[str, Any] = {}
    scope = scope_where(target, "target", params)
    _, rows = index.query(
        f"SELECT DISTINCT source_domain FROM {index.db}.edges WHERE {scope} AND {EXTERNAL}",
        params,
    )
    return scores(index, [str(row[0]) for row in rows])


def add_scores(index: Index, result: _R) -> _R:
    """``result`` (rows with ``source_domain``) with two more columns,
    ``spam_score`` and ``spam_signals``, for the domains of its rows (null
    for a domain never scored)."""
    at = result.columns.index("source_domain")
    found = scores(index, [str(row[at]) for row in result.rows])
    result.columns = [*result.columns, "spam_score", "spam_signals"]
    result.rows = [
        (
            *row,
            *((score.score, score.signals) if (score := found.get(str(row[at]))) else (None, [])),
        )
        for row in result.rows
    ]
    return result


def distribution(index: Index, target: Target, filters: Filters) -> dict[str, Any]:
    """Report fields: the referring domains (those ``filters`` keep) per band
    of :data:`BAND` points of spam score, and how many score :data:`SPAMMY`
    or more (domains never scored are left out)."""
    params: dict[str, Any] = {}
    source, where = backlinks_where(index, target, filters, params)
    _, rows = index.query(
        f"""
        SELECT intDiv(least(spam_score, 99), {BAND}) AS band, count() AS domains,
               countIf(spam_score >= {SPAMMY}) AS spammy
        FROM {index.db}.domain_spam FINAL
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


def rescore(index: Index, domains: Sequence[str] | None, stamp: Any, facts: bool) -> int:
    """Measure and store the spam score of ``domains`` (None: every domain
    with external links), dated ``stamp``; ``facts``: the host facts are
    fresh (:func:`linkindex.sqlparts.spam_sql`). Returns the domains scored."""
    db = index.db
    if domains is None:
        _, rows = index.query(
            f"SELECT DISTINCT source_domain FROM {db}.edges_by_source WHERE {EXTERNAL} ORDER BY 1"
        )
        domains = [str(row[0]) for row in rows]
    wanted = sorted(set(domains))
    fired = ", ".join(f"if(f_{s.name}, '{s.name}', '')" for s in SIGNALS)
    values = ", ".join(f"'{s.name}', ifNull(toString(v_{s.name}), '')" for s in SIGNALS)
    for start in range(0, len(wanted), RESCORE_CHUNK):
        params = {"spam_domains": wanted[start : start + RESCORE_CHUNK], "stamp": stamp}
        index.command(
            f"""
            INSERT INTO {db}.domain_spam (domain, spam_score, fired, signal_values, refreshed_at)
            SELECT domain, spam_score, arrayFilter(name -> name != '', [{fired}]),
                   mapFilter((name, value) -> value != '', map({values})),
                   {{stamp:DateTime64(3, 'UTC')}}
            FROM ({spam_sql(db, "{spam_domains:Array(String)}", facts)})""",
            params,
        )
    return len(wanted)
