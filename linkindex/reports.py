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

- where the links sit (docs/queries.md#report): backlinks per location and
  their shares, sitewide backlinks and their share, broken backlinks (the
  target's latest fetch answered 4xx or 5xx), lost backlinks per reason, and
  the referring IP addresses and subnets (IPv4 /24, IPv6 /48) of the source
  pages whose address is known (``pages.ip``).

With ``--live`` or ``--lost`` (``filters.status``) every figure counts only
those links. The SQL of the figures is :func:`linkindex.sqlparts.report_sql`,
which the domain rollup shares; the figures of where links sit are always
read from the edges (:func:`context_figures`).
"""

from __future__ import annotations

from typing import Any

from linkcore.records import KINDS, LOCATIONS
from linkindex import rollups
from linkindex.client import Index
from linkindex.filters import REL_FLAGS, Filters
from linkindex.sqlparts import (
    LOST_REASONS,
    TO_DOMAINS,
    TOTAL_NAMES,
    backlinks_where,
    context_sql,
    default_selection,
    derived_host_facts,
    facts_of_hosts,
    report_sql,
    scope_where,
)
from linkindex.targets import Target


def _share(part: int, whole: int) -> float:
    return round(part / whole, 4) if whole else 0.0


def context_figures(index: Index, target: Target, filters: Filters) -> dict[str, Any]:
    """The raw figures of where ``target``'s backlinks sit (:data:`CONTEXT_NAMES`),
    from the edges: the sitewide links and the hosts' addresses from the host
    facts when they are fresh, else derived from the edges and pages."""
    params: dict[str, Any] = {}
    scope = scope_where(target, "target", params)
    if rollups.hosts_fresh(index):
        facts = facts_of_hosts(index.db, TO_DOMAINS.format(domains="({t_domain:String})"))
    else:
        facts = derived_host_facts(index.db, "edges", scope)
    source, where = backlinks_where(index, target, filters, params, facts.pairs)
    # Every edge of a target has the target's registered domain: one group.
    columns, rows = index.query(
        context_sql(index.db, source, where, "target_domain", scope, facts), params
    )
    return dict(zip(columns, rows[0], strict=True)) if rows else {}


def context_document(figures: dict[str, Any], backlinks: int) -> dict[str, Any]:
    """The report fields of where links sit, from :func:`context_figures` or a
    rollup row (docs/queries.md#report)."""
    located = dict.fromkeys(LOCATIONS, 0) | {
        str(loc): int(n) for loc, n in figures.get("locations") or ()
    }
    reasons = dict.fromkeys(LOST_REASONS, 0) | {
        str(reason): int(n) for reason, n in figures.get("lost_reasons") or ()
    }
    sitewide = int(figures.get("sitewide_backlinks") or 0)
    return {
        "locations": located,
        "location_shares": {loc: _share(n, backlinks) for loc, n in located.items()},
        "content_share": _share(located["content"], backlinks),
        "sitewide_backlinks": sitewide,
        "sitewide_share": _share(sitewide, backlinks),
        "broken_backlinks": int(figures.get("broken_backlinks") or 0),
        "lost_reasons": reasons,
        "backlinks_with_ip": int(figures.get("backlinks_with_ip") or 0),
        "referring_ips": int(figures.get("referring_ips") or 0),
        "referring_subnets": int(figures.get("referring_subnets") or 0),
        "subnets": [
            {
                "subnet": str(subnet),
                "referring_domains": int(domains),
                "referring_ips": int(ips),
                "backlinks": int(links),
            }
            for subnet, domains, ips, links in figures.get("subnets") or ()
        ],
    }


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
            profile = document(target, figures)
            # The rollup's figures of where links sit count the host facts
            # as they were at its refresh: used while every host's are fresh.
            if not rollups.hosts_fresh(index):
                figures = context_figures(index, target, filters)
            return {**profile, **context_document(figures, profile["backlinks"])}
    profile = _profile(index, target, filters)
    context = context_figures(index, target, filters)
    return {**profile, **context_document(context, profile["backlinks"])}


def _profile(index: Index, target: Target, filters: Filters) -> dict[str, Any]:
    params: dict[str, Any] = {}
    source, where = backlinks_where(index, target, filters, params)
    # Every edge of a target has the target's registered domain: one group.
    columns, rows = index.query(report_sql(source, where, "target_domain"), params)
    if not rows:
        nothing = dict.fromkeys(TOTAL_NAMES, 0)
        return document(target, {**nothing, "tlds": None, "history": None})
    return document(target, dict(zip(columns, rows[0], strict=True)))
