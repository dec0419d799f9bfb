"""``linkgraph report TARGET``: one summary of a target's backlink profile.

All figures count external links (internal ones with ``--include-internal``)
after the same filters as ``backlinks``, from the merged edges:

- backlinks, referring domains and hosts, dofollow share, rel flags, kinds,
  image links, live and lost links (see ``sqlparts.LOST``);
- the top-level-domain distribution of referring domains (the last label of
  the registered domain) and the share of government and education domains:
  a public suffix that is, or starts with, ``gov``/``mil`` (``gov``,
  ``gov.uk``, ``gouv.fr`` counts via ``gouv``) or ``edu``/``ac`` (``edu``,
  ``edu.au``, ``ac.uk``, ``ac.jp``);
- new links per day (by first_seen) and lost links per day (the first
  conclusive fetch of the source page after the link's last_seen).

With ``--live`` or ``--lost`` (``filters.status``) every figure counts only
those links. The SQL of the figures is :func:`linkindex.sqlparts.report_sql`,
which the domain rollup shares.
"""

from __future__ import annotations

from typing import Any

from linkcore.records import KINDS
from linkindex import rollups
from linkindex.client import Index
from linkindex.filters import REL_FLAGS, Filters
from linkindex.sqlparts import TOTAL_NAMES, backlinks_where, default_selection, report_sql
from linkindex.targets import Target


def document(target: Target, figures: dict[str, Any]) -> dict[str, Any]:
    """The report of ``target`` from the figures of
    :func:`linkindex.sqlparts.report_sql` (or the rollup)."""
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
        "rel": {flag: int(figures[flag]) for flag in REL_FLAGS},
        "image_links": int(figures["image"]),
        "kinds": {kind: int(figures[f"kind_{kind}"]) for kind in KINDS},
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
    if target.scope == "domain" and default_selection(filters):
        figures = rollups.report_figures(index, target.domain)
        if figures is not None:
            return document(target, figures)
    params: dict[str, Any] = {}
    source, where = backlinks_where(index, target, filters, params)
    # Every edge of a target has the target's registered domain: one group.
    columns, rows = index.query(report_sql(source, where, "target_domain"), params)
    if not rows:
        nothing = dict.fromkeys(TOTAL_NAMES, 0)
        return document(target, {**nothing, "tlds": None, "history": None})
    return document(target, dict(zip(columns, rows[0], strict=True)))
