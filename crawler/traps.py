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

import re
import zlib
from collections import Counter, OrderedDict
from collections.abc import Iterable, Mapping
from dataclasses import astuple, dataclass, field
from typing import Any, Final
from urllib.parse import parse_qsl, urlsplit

import numpy as np
import numpy.typing as npt

from linkcore import config
from linkcore.urls import registered_domain

__all__ = [
    "NEAR_DUPLICATES",
    "PATTERN_BUDGET",
    "QUERY_EXPLOSION",
    "REPEATED_SEGMENTS",
    "TrapLimits",
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
#: A template with this many times the near-duplicate limit of distinct pages
#: (and this many times fewer near-duplicates) is settled: one page in
#: SAMPLE_EVERY is fingerprinted.
SETTLED: Final = 4
SAMPLE_EVERY: Final = 8
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
# Session ids, hashes, UUIDs: long runs of letters and digits (or hex with
# dashes) holding at least one digit and one letter (checked on the match:
# lookaheads that scan ahead from every position cost quadratic time).
_RUN = re.compile(r"[0-9a-zA-Z_-]{16,}")
_HAS_DIGIT = re.compile(r"\d")
_HAS_LETTER = re.compile(r"[a-zA-Z]")
#: Words of a page's text a fingerprint reads (from its first characters): a
#: trap's pages are alike from the start, and a long page costs no more.
FINGERPRINT_WORDS: Final = 1000
_FINGERPRINT_CHARS: Final = 12 * FINGERPRINT_WORDS
# Numbers in the text are masked by deleting their digits: a number alone is
# then no word at all, and "page12" is "page".
_NO_DIGITS: Final = str.maketrans("", "", "0123456789")
# Odd 64-bit constants: shingle mixing and SplitMix64's finalizer.
_K1 = np.uint64(0x9E3779B97F4A7C15)
_K2 = np.uint64(0xC2B2AE3D27D4EB4F)
_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)
_LINK = np.uint64(0xD6E8FEB86659FD93)


def _token(match: re.Match[str]) -> str:
    run = match.group(0)
    return "*" if _HAS_DIGIT.search(run) and _HAS_LETTER.search(run) else run


def _mask(text: str) -> str:
    return _DIGITS.sub("#", _RUN.sub(_token, text))


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


def _ids(items: list[str]) -> npt.NDArray[np.uint64]:
    return np.fromiter(
        (zlib.crc32(item.encode()) for item in items), dtype=np.uint64, count=len(items)
    )


def _mix(values: npt.NDArray[np.uint64]) -> npt.NDArray[np.uint64]:
    # SplitMix64's finalizer: every input bit moves every output bit.
    values = values ^ (values >> np.uint64(30))
    values = values * _M1
    values = values ^ (values >> np.uint64(27))
    values = values * _M2
    return values ^ (values >> np.uint64(31))


def page_simhash(text: str, links: Iterable[str]) -> int:
    """64-bit SimHash of a page: its text's word 3-grams and its links, numbers masked.

    Two pages that differ only in numbers (dates, ids, counters) get the same
    hash; pages whose text says different things, even in the same few words,
    or whose links are shaped differently, are far apart. Each feature counts
    once: counted by occurrence, a page's commonest words would decide every
    bit and distinct pages of one site would look alike.
    """
    head = text[:_FINGERPRINT_CHARS].lower().translate(_NO_DIGITS)
    words = head.split(None, FINGERPRINT_WORDS)[:FINGERPRINT_WORDS]
    ids = _ids(words)
    parts = [ids[:-2] * _K1 ^ ids[1:-1] * _K2 ^ ids[2:] if len(ids) >= 3 else ids]
    masked = sorted({_mask(link) for link in links})
    if masked:
        parts.append(_ids(masked) ^ _LINK)
    features = np.unique(np.concatenate(parts))
    if not len(features):
        return 0
    bits = np.unpackbits(_mix(features).view(np.uint8)).reshape(-1, 64)
    majority = bits.sum(axis=0, dtype=np.int64) * 2 > len(features)
    return int.from_bytes(np.packbits(majority).tobytes(), "big")


def hamming(a: int, b: int) -> int:
    """Bits in which ``a`` and ``b`` differ."""
    return (a ^ b).bit_count()


@dataclass
class _Template:
    """What is known of one template: URLs admitted, pages compared, verdict."""

    admitted: int = 0
    distinct: int = 0
    duplicates: int = 0
    unsampled: int = 0
    simhashes: list[int] = field(default_factory=list)
    declined: str = ""


#: Each TrapLimits field's setting (linkcore/config.py), in field order.
TRAP_SETTINGS: Final = (
    "LINKGRAPH_TRAP_NEAR_DUPLICATES",
    "LINKGRAPH_TRAP_PATTERN_BUDGET",
    "LINKGRAPH_TRAP_REPEATED_SEGMENTS",
    "LINKGRAPH_TRAP_QUERY_PARAMS",
)


@dataclass(frozen=True, slots=True)
class TrapLimits:
    """The rules' thresholds; 0 turns a rule off (see module doc)."""

    near_duplicates: int = 30
    pattern_budget: int = 10_000
    repeats: int = 3
    query_params: int = 12

    @classmethod
    def defaults(cls) -> TrapLimits:
        """The limits the environment (or the built-in defaults) give."""
        return cls(*(int(getattr(config, name)) for name in TRAP_SETTINGS))

    @classmethod
    def off(cls) -> TrapLimits:
        """Every rule turned off."""
        return cls(0, 0, 0, 0)

    def as_settings(self) -> dict[str, int]:
        """``{setting: value}``, as Scrapy settings or a job's hash carry them."""
        return dict(zip(TRAP_SETTINGS, astuple(self), strict=True))

    @classmethod
    def from_settings(cls, values: Mapping[str, Any]) -> TrapLimits:
        """The limits in ``values`` (settings or a job's hash); defaults for those missing."""
        limits = []
        for name, fallback in zip(TRAP_SETTINGS, astuple(cls.defaults()), strict=True):
            value = values.get(name)
            limits.append(int(value) if value not in (None, "") else int(fallback))
        return cls(*limits)


class TrapRules:
    """The trap rules of one crawl (see module doc). Not thread-safe."""

    def __init__(self, limits: TrapLimits | None = None) -> None:
        self.limits = limits or TrapLimits()
        self._templates: OrderedDict[str, _Template] = OrderedDict()
        self._query_variants: OrderedDict[str, set[str]] = OrderedDict()
        #: Declined URLs by (host, rule).
        self.declined: Counter[tuple[str, str]] = Counter()

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

    def _close(self, state: _Template, rule: str) -> None:
        state.declined = state.declined or rule

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
            self._close(state, PATTERN_BUDGET)
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

    def wants_fingerprint(self, url: str) -> bool:
        """True when a fetched ``url`` should be shown to :meth:`observe`: the
        near-duplicate rule is on and its template repeats (a template of one
        URL, ``/wiki/Paris``, cannot be a trap of near-identical pages)."""
        limit = self.limits.near_duplicates
        if not limit:
            return False
        state = self._templates.get(url_template(url)[1])
        if state is None or state.declined or state.admitted + state.distinct <= 1:
            return False
        if state.distinct >= SETTLED * limit and state.duplicates * SETTLED < state.distinct:
            # A template of many distinct pages and few alike: only more
            # near-duplicates than distinct pages could close it, so a sample
            # of its pages tells as much, for a fraction of the cost.
            state.unsampled += 1
            return state.unsampled % SAMPLE_EVERY == 0
        return True

    def observe(self, url: str, text: str, links: Iterable[str]) -> str | None:
        """Compare a fetched HTML page (its text and links' targets) with its
        template's; the rule if that closed the template."""
        limit = self.limits.near_duplicates
        if not limit:
            return None
        _, template = url_template(url)
        state = self._template(template)
        simhash = page_simhash(text, links)
        if any(hamming(simhash, known) <= NEAR_DUPLICATE_BITS for known in state.simhashes):
            state.duplicates += 1
        else:
            state.distinct += 1
            if len(state.simhashes) < SIMHASHES_PER_TEMPLATE:
                state.simhashes.append(simhash)
        if state.duplicates >= limit and state.duplicates > state.distinct and not state.declined:
            self._close(state, NEAR_DUPLICATES)
            return NEAR_DUPLICATES
        return None

    def adopt(self, template: str, rule: str) -> None:
        """Take a verdict reached elsewhere (another worker of the job): ``template``'s
        URLs are declined by ``rule`` from now on."""
        self._close(self._template(template), rule)

    def summary(self) -> list[tuple[int, str, str]]:
        """(declined URLs, host, rule), most declined first."""
        return sorted(
            ((count, host, rule) for (host, rule), count in self.declined.items()),
            key=lambda item: (-item[0], item[1], item[2]),
        )
