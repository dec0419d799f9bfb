"""Disavow files: read one to leave referrers out of answers, write one from spam signals.

The format is Google's: UTF-8 text, at most 2 MB and 100,000 lines; ``#``
starts a comment line; ``domain:example.com`` disavows a domain and all its
subdomains; any other line is a URL, disavowing that page. ``--disavow FILE``
on any query command leaves those referrers out.

``linkgraph disavow TARGET`` proposes a file from explicit signals, each
written as a comment above the domains it caught, so that a person reviews
the reasons rather than trusting a score:

- ``link farm``: a referring page that links out to at least
  ``min_outlinks`` distinct targets (``pages.outlinks``): pages whose purpose
  is to carry links;
- ``sitewide``: a referring domain that links to the target from at least
  ``sitewide_pages`` of its pages (footers, blogrolls, sidebars);
- ``no authority``: a referring domain whose authority score is 0 (nothing
  links to it with a dofollow external link), if ``linkgraph rank`` has run.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from linkcore.errors import UsageError
from linkcore.urls import normalize, registered_domain
from linkindex.client import Index
from linkindex.filters import Filters
from linkindex.sqlparts import RANK_TABLE, backlinks_where
from linkindex.targets import Target

MAX_BYTES = 2 * 1024 * 1024
MAX_LINES = 100_000


@dataclass(frozen=True, slots=True)
class Disavow:
    """What a disavow file leaves out: registered domains, other hosts, page URLs."""

    domains: tuple[str, ...] = ()
    hosts: tuple[str, ...] = ()
    urls: tuple[str, ...] = ()
    signals: dict[str, list[str]] = field(default_factory=dict)

    def __bool__(self) -> bool:
        return bool(self.domains or self.hosts or self.urls)


def read_disavow(path: str) -> Disavow:
    """Parse a disavow file; errors name the file and line."""
    file = Path(path)
    try:
        if file.stat().st_size > MAX_BYTES:
            raise UsageError(f"disavow file {path} is larger than 2 MB")
        text = file.read_bytes().decode("utf-8-sig")
    except FileNotFoundError:
        raise UsageError(f"disavow file {path} does not exist") from None
    except UnicodeDecodeError:
        raise UsageError(f"disavow file {path} is not UTF-8") from None
    except OSError as error:
        raise UsageError(f"cannot read disavow file {path}: {error.strerror}") from None
    lines = text.splitlines()
    if len(lines) > MAX_LINES:
        raise UsageError(f"disavow file {path} has more than {MAX_LINES} lines")
    domains: set[str] = set()
    hosts: set[str] = set()
    urls: set[str] = set()
    for number, raw in enumerate(lines, start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.lower().startswith("domain:"):
            name = line[7:].strip()
            url = normalize(f"http://{name}/") if name and "/" not in name else None
            if url is None:
                raise UsageError(f"{path}:{number}: {name!r} is not a domain name")
            host = url[len("http://") : -1]
            # Matching on the registered domain is exact only when the name's
            # subdomains belong to it (not so for a suffix like github.io).
            if registered_domain(host) == host == registered_domain(f"x.{host}"):
                domains.add(host)
            else:
                hosts.add(host)
        else:
            url = normalize(line)
            if url is None:
                raise UsageError(
                    f"{path}:{number}: {line[:100]!r} is neither domain:NAME nor an http(s) URL"
                )
            urls.add(url)
    return Disavow(tuple(sorted(domains)), tuple(sorted(hosts)), tuple(sorted(urls)))


def propose(
    index: Index,
    target: Target,
    *,
    min_outlinks: int = 500,
    sitewide_pages: int = 50,
    no_authority: bool = True,
) -> Disavow:
    """Referring domains of ``target`` caught by the signals of the module doc."""
    params: dict[str, Any] = {"min_outlinks": min_outlinks, "sitewide": sitewide_pages}
    # The backlinks every query counts by default: external ones, live or lost.
    edges, where = backlinks_where(index, target, Filters(), params)
    signals: dict[str, list[str]] = {}
    _, farms = index.query(
        f"""
        SELECT DISTINCT e.source_domain
        FROM {edges}
        INNER JOIN (SELECT url FROM {index.db}.pages FINAL
                    WHERE outlinks >= {{min_outlinks:UInt32}}) AS p ON p.url = e.source_url
        WHERE {where} ORDER BY e.source_domain""",
        params,
    )
    signals[f"link farm: a referring page links out to {min_outlinks}+ targets"] = [
        str(r[0]) for r in farms
    ]
    _, sitewide = index.query(
        f"""
        SELECT source_domain FROM {edges} WHERE {where}
        GROUP BY source_domain HAVING uniqExact(source_url) >= {{sitewide:UInt32}}
        ORDER BY source_domain""",
        params,
    )
    signals[f"sitewide: links to the target from {sitewide_pages}+ pages of one domain"] = [
        str(r[0]) for r in sitewide
    ]
    if no_authority:
        # Only once `linkgraph rank` has run: before that, no domain has a score.
        ranked = index.query(f"SELECT count() > 0 FROM {index.db}.{RANK_TABLE}")[1][0][0]
        if ranked:
            _, weak = index.query(
                f"""
                SELECT DISTINCT source_domain FROM {edges}
                WHERE {where} AND source_domain NOT IN
                    (SELECT domain FROM {index.db}.{RANK_TABLE} WHERE authority > 0)
                ORDER BY source_domain""",
                params,
            )
            signals["no authority: no dofollow external link reaches the referring domain"] = [
                str(r[0]) for r in weak
            ]
    caught = sorted({domain for domains in signals.values() for domain in domains})
    return Disavow(domains=tuple(caught), signals=signals)


def render(disavow: Disavow, target: Target) -> str:
    """A disavow file: one comment per signal above the domains it caught."""
    lines = [f"# disavow proposal for {target.text} (linkgraph disavow); review before use"]
    listed: set[str] = set()
    for reason, domains in disavow.signals.items():
        fresh = [d for d in domains if d not in listed]
        lines.append(f"# {reason}: {len(domains)} domains")
        lines += [f"domain:{domain}" for domain in fresh]
        listed.update(fresh)
    return "\n".join(lines) + "\n"
