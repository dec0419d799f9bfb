"""Disavow files: read one to leave referrers out of answers, write one from spam signals.

The format is Google's: UTF-8 text, at most 2 MB and 100,000 lines; ``#``
starts a comment line; ``domain:example.com`` disavows a domain and all its
subdomains; any other line is a URL, disavowing that page. ``--disavow FILE``
on any query command leaves those referrers out.

``linkgraph disavow TARGET`` proposes a file from the spam signals of the
referring domains (docs/queries.md#spam-score, the same signals and weights
as ``refdomains`` answers): every referring domain whose spam score is at
least ``min_score``, each under a comment that names the signals that fired
with their values, so that a person reviews the reasons rather than trusting
a score.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from linkcore.errors import UsageError
from linkcore.urls import normalize, registered_domain
from linkindex.client import Index
from linkindex.spam import SPAMMY, all_scores
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


def propose(index: Index, target: Target, *, min_score: int = SPAMMY) -> Disavow:
    """Referring domains of ``target`` whose spam score is ``min_score`` or
    more; ``signals`` maps each to the explanation of its score."""
    scored = all_scores(index, target)
    caught = sorted(domain for domain, score in scored.items() if score.score >= min_score)
    signals = {
        domain: [
            f"spam score {scored[domain].score}",
            *(f"{s['signal']} {s['value']} (+{s['weight']})" for s in scored[domain].signals),
        ]
        for domain in caught
    }
    return Disavow(domains=tuple(caught), signals=signals)


def render(disavow: Disavow, target: Target) -> str:
    """A disavow file: each domain under a comment that explains its score."""
    lines = [f"# disavow proposal for {target.text} (linkgraph disavow); review before use"]
    for domain in disavow.domains:
        reasons = disavow.signals.get(domain, [])
        lines.append(f"# {reasons[0]}: {', '.join(reasons[1:])}" if reasons else "#")
        lines.append(f"domain:{domain}")
    return "\n".join(lines) + "\n"
