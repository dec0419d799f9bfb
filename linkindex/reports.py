"""``linkgraph report TARGET``: one summary of a target's backlink profile.

All figures count external links (internal ones with ``--include-internal``)
after the same filters as ``backlinks``, from the merged edges:

- backlinks, referring domains and hosts, dofollow share, rel flags, kinds,
  image links, live and lost links (see ``queries._edges_from``);
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

from linkindex.client import Index
from linkindex.queries import (
    Filters,
    Target,
    _edges_from,
    _filter_where,
    _scope_where,
    lost_per_day,
)

# The public suffix of a registered domain: everything after its first label.
_SUFFIX = "substring(source_domain, position(source_domain, '.') + 1)"
_GOV = (
    f"(splitByChar('.', {_SUFFIX})[1] IN ('gov', 'gouv', 'gob', 'govt', 'mil') "
    f"OR {_SUFFIX} IN ('gov', 'mil'))"
)
_EDU = f"(splitByChar('.', {_SUFFIX})[1] IN ('edu', 'ac'))"


def report(index: Index, target: Target, filters: Filters) -> dict[str, Any]:
    """The summary of ``target`` as a JSON-compatible document (see module doc)."""
    params: dict[str, Any] = {}
    scope = _scope_where(target, "target", params)
    # --live / --lost narrow every figure to those links.
    source, status = _edges_from(index, "edges", filters)
    where = f"{scope} AND {_filter_where(filters, params)} AND {status}"
    _, totals = index.query(
        f"""
        SELECT count() AS backlinks,
               uniqExact(source_domain) AS referring_domains,
               uniqExact(source_host) AS referring_hosts,
               uniqExact(target_url) AS target_urls,
               countIf(NOT tupleElement(latest, 'nofollow')) AS dofollow,
               countIf(tupleElement(latest, 'nofollow')) AS nofollow,
               countIf(tupleElement(latest, 'ugc')) AS ugc,
               countIf(tupleElement(latest, 'sponsored')) AS sponsored,
               countIf(tupleElement(latest, 'image')) AS image,
               countIf(kind = 'a') AS kind_a,
               countIf(kind = 'canonical') AS kind_canonical,
               countIf(kind = 'redirect') AS kind_redirect,
               uniqExactIf(source_domain, NOT tupleElement(latest, 'nofollow'))
                   AS dofollow_referring_domains,
               min(first_seen) AS first_seen,
               max(last_seen) AS last_seen
        FROM {source} WHERE {where}""",
        params,
    )
    row = totals[0]
    backlinks = int(row[0])
    summary: dict[str, Any] = {
        "target": target.text,
        "scope": target.scope,
        "url": target.url,
        "domain": target.domain,
        "backlinks": backlinks,
        "referring_domains": int(row[1]),
        "referring_hosts": int(row[2]),
        "target_urls": int(row[3]),
        "dofollow_backlinks": int(row[4]),
        "dofollow_share": round(int(row[4]) / backlinks, 4) if backlinks else 0.0,
        "dofollow_referring_domains": int(row[12]),
        "rel": {"nofollow": int(row[5]), "ugc": int(row[6]), "sponsored": int(row[7])},
        "image_links": int(row[8]),
        "kinds": {"a": int(row[9]), "canonical": int(row[10]), "redirect": int(row[11])},
        "first_seen": row[13] if backlinks else None,
        "last_seen": row[14] if backlinks else None,
    }
    # Lost links per day sum to the lost links: one join with the fetch
    # history serves both (it is the report's most expensive step).
    lost_days = [] if filters.status == "live" else lost_per_day(index, target, filters)
    summary["lost_backlinks"] = sum(int(links) for _, links in lost_days)
    summary["live_backlinks"] = backlinks - summary["lost_backlinks"]

    _, tlds = index.query(
        f"""
        SELECT splitByChar('.', source_domain)[-1] AS tld, uniqExact(source_domain) AS domains
        FROM {source} WHERE {where}
        GROUP BY tld ORDER BY domains DESC, tld LIMIT 20""",
        params,
    )
    summary["tlds"] = [{"tld": tld, "referring_domains": int(n)} for tld, n in tlds]
    _, special = index.query(
        f"""
        SELECT uniqExactIf(source_domain, {_GOV}), uniqExactIf(source_domain, {_EDU})
        FROM {source} WHERE {where}""",
        params,
    )
    domains = summary["referring_domains"]
    summary["gov_referring_domains"] = int(special[0][0])
    summary["edu_referring_domains"] = int(special[0][1])
    summary["gov_share"] = round(int(special[0][0]) / domains, 4) if domains else 0.0
    summary["edu_share"] = round(int(special[0][1]) / domains, 4) if domains else 0.0

    _, new_days = index.query(
        f"""
        SELECT toDate(first_seen) AS day, count() AS links
        FROM {source} WHERE {where} GROUP BY day ORDER BY day""",
        params,
    )
    days: dict[str, dict[str, int]] = {}
    for day, links in new_days:
        days.setdefault(day.isoformat(), {"new": 0, "lost": 0})["new"] = int(links)
    for day, links in lost_days:
        days.setdefault(day.isoformat(), {"new": 0, "lost": 0})["lost"] = int(links)
    summary["history"] = [{"day": day, **counts} for day, counts in sorted(days.items())]
    return summary
