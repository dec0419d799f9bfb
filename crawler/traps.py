"""Spider-trap rules: which in-scope URLs a crawl declines although nothing else stops it.

Pure and bounded in memory, with no Scrapy in it: the one-process spider
consults one :class:`TrapRules` per crawl (docs/crawling.md#spider-traps);
a distributed worker can consult one per process the same way.

Every URL belongs to a *template*: its host and path with runs of digits
masked (``#``) and long tokens masked (``*``: session ids, hashes, UUIDs),
and its query reduced to the sorted parameter names. ``/cal/2024/05`` and
``/cal/1999/12`` are one template; ``/wiki/Paris`` is a template of its own.
Digits in a host's labels below its registered domain are masked too, so that
``n1.hosts.example.com`` and ``n77.hosts.example.com`` are one template.

The rules, each turned off by a value of 0:

- ``repeated-segments``: a path repeating a run of one to four segments
  ``repeats`` times in a row (``/a/b/a/b/a/b``) is declined.
- ``query-explosion``: a URL with more than ``query_params`` query parameters
  is declined, and so is one whose host and path already had
  ``QUERY_VARIANTS_PER_PARAM * query_params`` distinct sets of parameter names.
- ``near-duplicates``: the fetched pages of a template are compared by SimHash
  over their text and their links' templates (digits masked). Once a template
  had ``near_duplicates`` pages that were near-identical to an earlier one of
  the template, and more of those than distinct ones, its URLs are declined.
  Pages that differ only in a number or a token are what a calendar, a session
  id in a path or a generated subdomain serves; a site of distinct pages
  (distinct text, distinct links) never gets there.
- ``pattern-budget``: a template admits at most ``pattern_budget`` URLs, a
  backstop for generated pages that differ in more than a number.

:meth:`TrapRules.admit` decides when a URL is found (and counts it against
its template's budget); :meth:`TrapRules.still_wanted` decides again just
before the fetch, so that URLs queued before their template's verdict are
declined too. A declined URL is counted once, by host and rule
(:attr:`TrapRules.declined`).
"""

from __future__ import annotations

import hashlib
import re
from collections import Counter, OrderedDict
from dataclasses import dataclass, field
from typing import Final
from urllib.parse import parse_qsl, urlsplit

from linkcore.urls import registered_domain

__all__ = [
    "NEAR_DUPLICATES",
    "PATTERN_BUDGET",
    "QUERY_EXPLOSION",
    "REPEATED_SEGMENTS",
    "TrapRules",
    "hamming",
    "page_simhash",
    "repeated_run",
    "url_template",
]

REPEATED_SEGMENTS: Final = "repeated-segments"
QUERY_EXPLOSION: Final = "query-explosion"
NEAR_DUPLICATES: Final = "near-duplicates"
PATTERN_BUDGET: Final = "pattern-budget"

#: Distinct sets of parameter names per host and path, per allowed parameter.
QUERY_VARIANTS_PER_PARAM: Final = 8
#: SimHash bits two pages may differ in and still be near-duplicates.
NEAR_DUPLICATE_BITS: Final = 3
#: Distinct SimHashes kept per template to compare new pages with.
SIMHASHES_PER_TEMPLATE: Final = 16
#: Templates remembered; past this many the least recently used is forgotten.
MAX_TEMPLATES: Final = 100_000
#: (host, rule) pairs counted one by one; the rest are summed under "other hosts".
MAX_DECLINED_KEYS: Final = 10_000
#: Longest run of segments the repeated-segments rule looks for.
MAX_RUN: Final = 4
OTHER_HOSTS: Final = "other hosts"

_DIGITS = re.compile(r"\d+")
# Session ids, hashes, UUIDs: long runs of letters and digits (or hex with dashes).
_TOKEN = re.compile(r"(?=[0-9a-zA-Z_-]*\d)(?=[0-9a-zA-Z_-]*[a-zA-Z])[0-9a-zA-Z_-]{16,}")
_SKIPPED = re.compile(r"<(script|style)\b.*?</\1\s*>|<!--.*?-->", re.S | re.I)
_TAG = re.compile(r"<[^>]*>")
_HREF = re.compile(r"""\bhref\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s>]+))""", re.I)
_WORD = re.compile(r"\w+")


def _mask(text: str) -> str:
    return _DIGITS.sub("#", _TOKEN.sub("*", text))


def _template_host(host: str) -> str:
    domain = registered_domain(host)
    if not domain or domain == host or not host.endswith("." + domain):
        return host
    return _DIGITS.sub("#", host[: -len(domain)]) + domain


def url_template(url: str) -> tuple[str, str]:
    """``url``'s (template host, template) (see module doc)."""
    parts = urlsplit(url)
    host = _template_host((parts.hostname or "").lower())
    template = host + _mask(parts.path or "/")
    if parts.query:
        names = sorted({name for name, _ in parse_qsl(parts.query, keep_blank_values=True)})
        template += "?" + "&".join(_mask(name) for name in names)
    return host, template


def repeated_run(path: str, repeats: int) -> bool:
    """True when ``path`` repeats a run of 1 to MAX_RUN segments ``repeats`` times in a row."""
    segments = [s for s in path.split("/") if s]
    for run in range(1, MAX_RUN + 1):
        needed = run * repeats
        for start in range(len(segments) - needed + 1):
            first = segments[start : start + run]
            if all(
                segments[start + k * run : start + (k + 1) * run] == first
                for k in range(1, repeats)
            ):
                return True
    return False


def _feature_hash(feature: str) -> int:
    return int.from_bytes(hashlib.blake2b(feature.encode(), digest_size=8).digest(), "big")


def page_simhash(html: str) -> int:
    """64-bit SimHash of a page's distinct words and links' templates, digits masked.

    Two pages that differ only in numbers (dates, ids, counters) get the same
    hash; pages with different words or differently shaped links are far apart.
    """
    # Each feature counts once: counted by occurrence, a page's commonest
    # tokens (a masked number, a path word every link shares) would decide
    # every bit, and distinct pages of one site would look alike.
    features: set[str] = set()
    for match in _HREF.finditer(html):
        href = match.group(1) or match.group(2) or match.group(3) or ""
        features.add("link:" + _mask(href.strip()))
    text = _TAG.sub(" ", _SKIPPED.sub(" ", html))
    features.update(_mask(word) for word in _WORD.findall(text.lower()))
    weights = [0] * 64
    for feature in features:
        bits = _feature_hash(feature)
        for bit in range(64):
            weights[bit] += 1 if bits >> bit & 1 else -1
    return sum(1 << bit for bit, weight in enumerate(weights) if weight > 0)


def hamming(a: int, b: int) -> int:
    """Bits in which ``a`` and ``b`` differ."""
    return (a ^ b).bit_count()


@dataclass
class _Template:
    """What is known of one template: URLs admitted, pages compared, verdict."""

    admitted: int = 0
    distinct: int = 0
    duplicates: int = 0
    simhashes: list[int] = field(default_factory=list)
    declined: str = ""


@dataclass(frozen=True, slots=True)
class TrapLimits:
    """The rules' thresholds; 0 turns a rule off (see module doc)."""

    near_duplicates: int = 30
    pattern_budget: int = 10_000
    repeats: int = 3
    query_params: int = 12


class TrapRules:
    """The trap rules of one crawl (see module doc). Not thread-safe."""

    def __init__(self, limits: TrapLimits | None = None) -> None:
        self.limits = limits or TrapLimits()
        self._templates: OrderedDict[str, _Template] = OrderedDict()
        self._query_variants: OrderedDict[str, set[str]] = OrderedDict()
        #: Declined URLs by (host, rule).
        self.declined: Counter[tuple[str, str]] = Counter()
        #: Templates the near-duplicates or pattern-budget rule closed, in order.
        self.closed: list[tuple[str, str]] = []

    def _template(self, template: str) -> _Template:
        known = self._templates.get(template)
        if known is None:
            known = self._templates[template] = _Template()
            if len(self._templates) > MAX_TEMPLATES:
                self._templates.popitem(last=False)
        else:
            self._templates.move_to_end(template)
        return known

    def _decline(self, host: str, rule: str) -> str:
        key = (host, rule)
        if key not in self.declined and len(self.declined) >= MAX_DECLINED_KEYS:
            key = (OTHER_HOSTS, rule)
        self.declined[key] += 1
        return rule

    def _close(self, state: _Template, template: str, rule: str) -> None:
        if not state.declined:
            state.declined = rule
            if len(self.closed) < MAX_DECLINED_KEYS:
                self.closed.append((template, rule))

    def _query_exploded(self, url: str) -> bool:
        limit = self.limits.query_params
        parts = urlsplit(url)
        if not limit or not parts.query:
            return False
        names = sorted({name for name, _ in parse_qsl(parts.query, keep_blank_values=True)})
        if len(names) > limit:
            return True
        key = f"{(parts.hostname or '').lower()}{parts.path}"
        variants = self._query_variants.get(key)
        if variants is None:
            variants = self._query_variants[key] = set()
            if len(self._query_variants) > MAX_TEMPLATES:
                self._query_variants.popitem(last=False)
        signature = "&".join(names)
        if signature in variants:
            return False
        if len(variants) >= QUERY_VARIANTS_PER_PARAM * limit:
            return True
        variants.add(signature)
        return False

    def admit(self, url: str) -> str | None:
        """None when ``url`` may enter the frontier, else the rule that declines it (counted)."""
        host, template = url_template(url)
        limits = self.limits
        if limits.repeats and repeated_run(urlsplit(url).path, limits.repeats):
            return self._decline(host, REPEATED_SEGMENTS)
        if self._query_exploded(url):
            return self._decline(host, QUERY_EXPLOSION)
        state = self._template(template)
        if state.declined:
            return self._decline(host, state.declined)
        if limits.pattern_budget and state.admitted >= limits.pattern_budget:
            self._close(state, template, PATTERN_BUDGET)
            return self._decline(host, PATTERN_BUDGET)
        state.admitted += 1
        return None

    def still_wanted(self, url: str) -> str | None:
        """None when an admitted ``url`` is still to be fetched, else the rule (counted)."""
        host, template = url_template(url)
        state = self._templates.get(template)
        if state is None or not state.declined:
            return None
        return self._decline(host, state.declined)

    def observe(self, url: str, html: str) -> str | None:
        """Compare a fetched HTML page with its template's; the rule if that closed it."""
        limit = self.limits.near_duplicates
        if not limit:
            return None
        _, template = url_template(url)
        state = self._template(template)
        simhash = page_simhash(html)
        if any(hamming(simhash, known) <= NEAR_DUPLICATE_BITS for known in state.simhashes):
            state.duplicates += 1
        else:
            state.distinct += 1
            if len(state.simhashes) < SIMHASHES_PER_TEMPLATE:
                state.simhashes.append(simhash)
        if state.duplicates >= limit and state.duplicates > state.distinct and not state.declined:
            self._close(state, template, NEAR_DUPLICATES)
            return NEAR_DUPLICATES
        return None

    def summary(self) -> list[tuple[int, str, str]]:
        """(declined URLs, host, rule), most declined first."""
        return sorted(
            ((count, host, rule) for (host, rule), count in self.declined.items()),
            key=lambda item: (-item[0], item[1], item[2]),
        )
