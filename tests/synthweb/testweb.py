"""The test web: a dozen domains, a few hundred pages, every case of the docs/ pages.

:func:`build_test_web` is deterministic for a given ``seed`` (the random part is
only the link structure of the bulk pages). Every link written into a page
comes with its expected normalized target, written here by hand: bulk links use
plain ``http://host/section/N`` URLs whose normal form is evident, and every
crafted edge case spells its expected target out literally. Registered domains
are declared by hand in :data:`TEST_DOMAINS`. The hosts, seeds and crafted
pages are in :mod:`~tests.synthweb.testsites`; this module adds the bulk pages
and puts the web together. Nothing here imports ``linkcore.urls``.

Seeds (:data:`TEST_SEEDS`) cover six registered domains; the other domains are
only linked to and must never be fetched: a second ``github.io`` site, a second
``co.uk`` shop, look-alikes of a seed domain (``notalpha-shop.com``,
``alpha-shop.com.evil-mirror.net``), an IP address and a dotless host.

The proxy serves plain http only, so every in-scope link is ``http://``;
``https://`` links point out of scope.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Final

from linkgraph.demo.model import ExpectedLink, PageBuilder, SyntheticWeb, check_domains
from tests.synthweb.testsites import (
    ALICE,
    BLOG_ALPHA,
    BOB,
    BRAMBLE,
    BUCHER,
    BUCHER_UNICODE,
    ELSEWHERE,
    FERROUS,
    OUTSIDE,
    PARTNER,
    QUILL,
    TEST_DOMAINS,
    TEST_SEED_URLS,
    TEST_SEEDS,
    WIDE,
    WWW_ALPHA,
    WWW_OUTSIDE,
    add_sites,
    u,
)

__all__ = [
    "BUCHER_UNICODE",
    "TEST_DOMAINS",
    "TEST_SEEDS",
    "TEST_SEED_URLS",
    "build_test_web",
]


@dataclass(frozen=True, slots=True)
class _Section:
    """A run of bulk pages ``http://HOST{prefix}1`` .. ``{prefix}{count}``."""

    host: str
    prefix: str
    count: int
    noun: str

    def url(self, number: int) -> str:
        return u(self.host, f"{self.prefix}{number}")


_SECTIONS: Final = (
    _Section(WWW_ALPHA, "/product/", 50, "product"),
    _Section(BLOG_ALPHA, "/entry/", 15, "entry"),
    _Section(BRAMBLE, "/item/", 40, "item"),
    _Section(ALICE, "/posts/", 30, "post"),
    _Section(BUCHER, "/buch/", 30, "Buch"),
    _Section(QUILL, "/notes/", 40, "note"),
    _Section(FERROUS, "/docs/", 40, "doc"),
)

_ADJECTIVES: Final = ("red", "quiet", "useful", "small", "bright", "old", "clever", "odd")
_NOUNS: Final = ("lamp", "guide", "chair", "story", "map", "recipe", "kettle", "tool")

#: rel attribute values used by bulk links and the flags each must yield.
_BULK_RELS: Final[tuple[tuple[str, bool, bool, bool], ...]] = (
    ("", False, False, False),
    ("", False, False, False),
    ("", False, False, False),
    ("nofollow", True, False, False),
    ("ugc", False, True, False),
    ("sponsored", False, False, True),
    ("noopener", False, False, False),
    ("nofollow noopener", True, False, False),
    ("external UGC", False, True, False),
)


def _out_of_scope_link(rng: random.Random) -> tuple[str, str]:
    """A random out-of-scope href and its expected target."""
    number = rng.randint(1, 30)
    choices = (
        (f"https://{OUTSIDE}/story/{number}", f"https://{OUTSIDE}/story/{number}"),
        (f"http://{ELSEWHERE}/ref/{number}?utm_source=feed", f"http://{ELSEWHERE}/ref/{number}"),
        (f"http://{BOB}/posts/{number}", f"http://{BOB}/posts/{number}"),
        (f"http://{PARTNER}/item/{number}", f"http://{PARTNER}/item/{number}"),
        (f"http://{WIDE}/p/{number}", f"http://{WIDE}/p/{number}"),
        (f"https://{WWW_OUTSIDE}/tag/{number}", f"https://{WWW_OUTSIDE}/tag/{number}"),
    )
    return rng.choice(choices)


def _bulk_page(section: _Section, number: int, rng: random.Random) -> PageBuilder:
    """One bulk page: navigation, random links in its section, across seeds and out."""
    page = PageBuilder(section.url(number), f"{section.noun} {number}")
    if rng.random() < 0.3:
        # Canonical to its host's home page; the home page is crawled anyway.
        page.head('<link rel="canonical" href="/">', ExpectedLink(u(section.host), "canonical"))
    elif rng.random() < 0.3:
        # Canonical to itself with tracking: normalizes to the source, dropped.
        page.head(
            f'<link rel="canonical" href="{section.prefix}{number}?utm_source=canonical">',
            ExpectedLink(section.url(number), "canonical"),
        )
    page.body(f"<h1>{section.noun} {number}</h1>")
    page.a("/", "Home", u(section.host))
    if number < section.count:
        page.a(str(number + 1), "Next", section.url(number + 1))
    if number > 1:
        page.a(f"{section.prefix}{number - 1}", "Previous", section.url(number - 1))
    page.body(f"<p>Some words about {section.noun} {number}, with links.</p>")
    written: list[tuple[str, str]] = []
    for _ in range(rng.randint(2, 5)):
        other = rng.randint(1, section.count)
        target = section.url(other)
        href = rng.choice(
            (
                target,
                f"{section.prefix}{other}",
                str(other),
                f"//{section.host}{section.prefix}{other}",
            )
        )
        rel, nofollow, ugc, sponsored = rng.choice(_BULK_RELS)
        anchor = f"{rng.choice(_ADJECTIVES)} {rng.choice(_NOUNS)}"
        page.a(href, anchor, target, rel=rel, nofollow=nofollow, ugc=ugc, sponsored=sponsored)
        written.append((href, target))
    for _ in range(rng.choice((0, 0, 1, 2))):
        section_to = rng.choice(_SECTIONS)
        target = section_to.url(rng.randint(1, section_to.count))
        page.a(target, f"{section_to.noun} elsewhere", target)
    if rng.random() < 0.5:
        href, target = _out_of_scope_link(rng)
        rel, nofollow, ugc, sponsored = rng.choice(_BULK_RELS)
        anchor = f"{rng.choice(_ADJECTIVES)} {rng.choice(_NOUNS)} out there"
        page.a(href, anchor, target, rel=rel, nofollow=nofollow, ugc=ugc, sponsored=sponsored)
    if rng.random() < 0.25:
        # A duplicate: link_count 2, the first occurrence's anchor and flags win.
        href, target = rng.choice(written)
        page.a(href, "again", target, rel="nofollow", nofollow=True)
    return page


def build_test_web(seed: int = 20240611) -> SyntheticWeb:
    """The test web; the same ``seed`` always gives the same web, byte for byte."""
    rng = random.Random(seed)
    web = SyntheticWeb(domains=dict(TEST_DOMAINS), seeds=TEST_SEEDS, seed_urls=TEST_SEED_URLS)
    add_sites(web)
    for section in _SECTIONS:
        for number in range(1, section.count + 1):
            web.add(_bulk_page(section, number, rng).resource())
    check_domains(web)
    return web
