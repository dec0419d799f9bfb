"""``linkgraph report TARGET``: one summary of a target's backlink profile.

All figures count external links (internal ones with ``--include-internal``)
after the same filters as ``backlinks``, from the merged edges:

- backlinks, referring domains and hosts, dofollow share, rel flags, kinds,
  image links, live and lost links (see ``sqlparts.edges_from``);
- the top-level-domain distribution of referring domains (the last label of
  the registered domain) and the share of government and education domains:
  a public suffix that is, or starts with, ``gov``/``mil`` (``gov``,
  ``gov.uk``, ``gouv.fr`` counts via ``gouv``) or ``edu``/``ac`` (``edu``,
  ``edu.au``, ``ac.uk``, ``ac.jp``);
- new links per day (by first_seen) and lost links per day (the first
  conclusive fetch of the source page after the link's last_seen).

With ``--live`` or ``--lost`` (``filters.status``) every figure counts only
those links.
"""

from __future__ import annotations

from typing import Any

from linkindex import rollups
from linkindex.client import Index
from linkindex.filters import Filters
from linkindex.queries import Target
from linkindex.sqlparts import LOST, backlinks_where

# The public suffix of a registered domain: everything after its first label.
_SUFFIX = "substring(source_domain, position(source_domain, '.') + 1)"
_GOV = (
    f"(splitByChar('.', {_SUFFIX})[1] IN ('gov', 'gouv', 'gob', 'govt', 'mil') "
    f"OR {_SUFFIX} IN ('gov', 'mil'))"
)
_EDU = f"(splitByChar('.', {_SUFFIX})[1] IN ('edu', 'ac'))"


#: The report's totals: (name, aggregate over the target's merged edges ``e``).
#: Shared with the domain rollup (linkindex/rollups.py), which computes the
#: same figures per target domain.
TOTALS: tuple[tuple[str, str], ...] = (
    ("backlinks", "count()"),
    ("referring_domains", "uniqExact(source_domain)"),
    ("referring_hosts", "uniqExact(source_host)"),
    ("target_urls", "uniqExact(target_url)"),
    ("dofollow", "countIf(NOT tupleElement(latest, 'nofollow'))"),
    ("nofollow", "countIf(tupleElement(latest, 'nofollow'))"),
    ("ugc", "countIf(tupleElement(latest, 'ugc'))"),
    ("sponsored", "countIf(tupleElement(latest, 'sponsored'))"),
    ("image", "countIf(tupleElement(latest, 'image'))"),
    ("kind_a", "countIf(kind = 'a')"),
    ("kind_canonical", "countIf(kind = 'canonical')"),
    ("kind_redirect", "countIf(kind = 'redirect')"),
    (
        "dofollow_referring_domains",
        "uniqExactIf(source_domain, NOT tupleElement(latest, 'nofollow'))",
    ),
    ("first_seen", "min(first_seen)"),
    ("last_seen", "max(last_seen)"),
    ("lost", f"countIf({LOST})"),
    ("gov_referring_domains", f"uniqExactIf(source_domain, {_GOV})"),
    ("edu_referring_domains", f"uniqExactIf(source_domain, {_EDU})"),
)
#: The top-level domains of the referring domains (the 20 with most), and the
#: new and lost links per UTC day, each as one array per ``{group}``.
TLDS: str = """
    SELECT {group}, arraySlice(arraySort(x -> (-x.2, x.1), groupArray((tld, domains))), 1, 20)
           AS tlds
    FROM (SELECT {group}, splitByChar('.', source_domain)[-1] AS tld,
                 uniqExact(source_domain) AS domains
          FROM {source} WHERE {where} GROUP BY {group}, tld)
    GROUP BY {group}"""
HISTORY: str = """
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
    over the edges, e.g. ``target_domain``, or a constant for one target)."""
    totals = ",\n               ".join(f"{expr} AS {name}" for name, expr in TOTALS)
    names = ", ".join(name for name, _ in TOTALS)
    parts = {"group": group, "source": source, "where": where, "lost": LOST}
    return f"""
        SELECT {group}, {names}, tlds, history
        FROM (SELECT {group}, {totals} FROM {source} WHERE {where} GROUP BY {group}) AS t
        LEFT JOIN ({TLDS.format(**parts)}) AS tl USING {group}
        LEFT JOIN ({HISTORY.format(**parts)}) AS h USING {group}"""


def document(target: Target, figures: dict[str, Any]) -> dict[str, Any]:
    """The report of ``target`` from the figures of :func:`report_sql` (or the rollup)."""
    backlinks = int(figures["backlinks"])
    domains = int(figures["referring_domains"])
    lost = int(figures["lost"])
    dofollow = int(figures["dofollow"])
    gov = int(figures["gov_referring_domains"])
    edu = int(figures["edu_referring_domains"])
    return {
        "target": target.text,
        "scope": target.scope,
        "url": target.url,
        "domain": target.domain,
        "backlinks": backlinks,
        "referring_domains": domains,
        "referring_hosts": int(figures["referring_hosts"]),
        "target_urls": int(figures["target_urls"]),
        "dofollow_backlinks": dofollow,
        "dofollow_share": round(dofollow / backlinks, 4) if backlinks else 0.0,
        "dofollow_referring_domains": int(figures["dofollow_referring_domains"]),
        "rel": {
            "nofollow": int(figures["nofollow"]),
            "ugc": int(figures["ugc"]),
            "sponsored": int(figures["sponsored"]),
        },
        "image_links": int(figures["image"]),
        "kinds": {
            "a": int(figures["kind_a"]),
            "canonical": int(figures["kind_canonical"]),
            "redirect": int(figures["kind_redirect"]),
        },
        "first_seen": figures["first_seen"] if backlinks else None,
        "last_seen": figures["last_seen"] if backlinks else None,
        "lost_backlinks": lost,
        "live_backlinks": backlinks - lost,
        "tlds": [{"tld": tld, "referring_domains": int(n)} for tld, n in figures["tlds"] or ()],
        "gov_referring_domains": gov,
        "edu_referring_domains": edu,
        "gov_share": round(gov / domains, 4) if domains else 0.0,
        "edu_share": round(edu / domains, 4) if domains else 0.0,
        "history": [
            {"day": day.isoformat(), "new": int(new), "lost": int(lost_links)}
            for day, new, lost_links in figures["history"] or ()
        ],
    }


def report(index: Index, target: Target, filters: Filters) -> dict[str, Any]:
    """The summary of ``target`` as a JSON-compatible document (see module doc).

    A whole domain under the default filters is answered from the domain
    rollup when it is fresh (linkindex/rollups.py); anything else, and a
    stale rollup, from the edges.
    """
    if target.scope == "domain" and filters.default_selection():
        figures = rollups.report_figures(index, target.domain)
        if figures is not None:
            return document(target, figures)
    params: dict[str, Any] = {}
    source, where = backlinks_where(index, target, filters, params)
    # Every edge of a target has the target's registered domain: one group.
    columns, rows = index.query(report_sql(source, where, "target_domain"), params)
    if not rows:
        nothing = dict.fromkeys((name for name, _ in TOTALS), 0)
        return document(target, {**nothing, "tlds": None, "history": None})
    return document(target, dict(zip(columns, rows[0], strict=True)))
