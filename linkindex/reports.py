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
  pages whose address is known (``pages.ip``);
- the spam distribution (docs/queries.md#spam-score): the referring domains
  per band of ten points of spam score, and how many score
  :data:`linkindex.spam.SPAMMY` or more.

With ``--live`` or ``--lost`` (``filters.status``) every figure counts only
those links. The SQL of the figures is :func:`linkindex.sqlparts.report_sql`,
which the domain rollup shares; the figures of where links sit are always
read from the edges (:func:`context_figures`).
"""

from __future__ import annotations

import ipaddress
from typing import Any, Final

from linkcore.records import KINDS, LOCATIONS
from linkindex import rollups, spam
from linkindex.client import Index
from linkindex.filters import REL_FLAGS, Filters
from linkindex.sqlparts import (
    LOST,
    TOTAL_NAMES,
    backlinks_where,
    broken_sql,
    default_selection,
    latest,
    report_sql,
    rev_host,
    scope_where,
    sitewide_sql,
)
from linkindex.targets import Target
from linkindex.writer import LOST_REASONS

#: Subnets a report lists (the most referring domains first).
TOP_SUBNETS: Final = 20
#: The prefix length of a subnet: the usual block of one host or network.
SUBNET_BITS: Final = {4: 24, 6: 48}


def _share(part: int, whole: int) -> float:
    return round(part / whole, 4) if whole else 0.0


def context_figures(index: Index, target: Target, filters: Filters) -> dict[str, Any]:
    """Where ``target``'s backlinks sit, as report fields (see module doc)."""
    params: dict[str, Any] = {}
    source, where = backlinks_where(index, target, filters, params)
    scope = scope_where(target, "target", params)
    db = index.db
    counts = [
        f"countIf(toString({latest('location')}) = '{loc}') AS loc_{loc}" for loc in LOCATIONS
    ]
    counts += [
        f"countIf({LOST} AND toString(tupleElement(e.lost_reason, 'reason')) = '{reason}') "
        f"AS lost_{reason}"
        for reason in LOST_REASONS
    ]
    columns, rows = index.query(
        f"""
        SELECT count() AS backlinks, {", ".join(counts)},
               countIf(kind = 'a' AND (source_host, target_url)
                       IN ({sitewide_sql(db, "edges", scope)})) AS sitewide,
               countIf(target_url IN ({broken_sql(db, "edges", scope)})) AS broken
        FROM {source} WHERE {where}""",
        params,
    )
    figures = dict(zip(columns, rows[0], strict=True))
    backlinks = int(figures["backlinks"])
    located = {loc: int(figures[f"loc_{loc}"]) for loc in LOCATIONS}
    sitewide = int(figures["sitewide"])
    _, by_ip = index.query(
        f"""
        SELECT p.ip, b.source_domain, count() AS backlinks
        FROM (SELECT source_url, source_domain FROM {source} WHERE {where}) AS b
        INNER JOIN (SELECT url, ip FROM {db}.pages FINAL
                    WHERE ip != ''
                      AND (rev_host, url) IN (SELECT {rev_host("source_host")}, source_url
                                              FROM {source} WHERE {where})) AS p
            ON p.url = b.source_url
        GROUP BY p.ip, b.source_domain""",
        params,
    )
    return {
        "locations": located,
        "location_shares": {loc: _share(n, backlinks) for loc, n in located.items()},
        "content_share": _share(located["content"], backlinks),
        "sitewide_backlinks": sitewide,
        "sitewide_share": _share(sitewide, backlinks),
        "broken_backlinks": int(figures["broken"]),
        "lost_reasons": {reason: int(figures[f"lost_{reason}"]) for reason in LOST_REASONS},
        **addresses(by_ip),
    }


def addresses(rows: Any) -> dict[str, Any]:
    """The referring IP figures from ``(ip, source_domain, backlinks)`` rows:
    distinct addresses and subnets, the backlinks whose source page's address
    is known, and the :data:`TOP_SUBNETS` subnets with most referring domains.
    An address that does not parse is left out."""
    ips: set[str] = set()
    subnets: dict[str, dict[str, Any]] = {}
    known = 0
    for ip, domain, backlinks in rows:
        try:
            address = ipaddress.ip_address(str(ip).strip("[]"))
        except ValueError:
            continue
        network = ipaddress.ip_network(
            f"{address}/{SUBNET_BITS[address.version]}", strict=False
        ).with_prefixlen
        ips.add(str(address))
        known += int(backlinks)
        entry = subnets.setdefault(network, {"ips": set(), "domains": set(), "backlinks": 0})
        entry["ips"].add(str(address))
        entry["domains"].add(str(domain))
        entry["backlinks"] += int(backlinks)
    ranked = sorted(subnets.items(), key=lambda item: (-len(item[1]["domains"]), item[0]))
    return {
        "backlinks_with_ip": known,
        "referring_ips": len(ips),
        "referring_subnets": len(subnets),
        "subnets": [
            {
                "subnet": network,
                "referring_domains": len(entry["domains"]),
                "referring_ips": len(entry["ips"]),
                "backlinks": entry["backlinks"],
            }
            for network, entry in ranked[:TOP_SUBNETS]
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
    return {
        **_profile(index, target, filters),
        **context_figures(index, target, filters),
        **spam.distribution(index, target, filters),
    }


def _profile(index: Index, target: Target, filters: Filters) -> dict[str, Any]:
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
