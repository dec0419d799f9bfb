"""A web of spider traps: endless URL spaces inside one crawl's scope.

:func:`build_trap_web` serves ``trap-site.com`` (seed ``www.trap-site.com``)
with a few ordinary pages and four traps, each generated on request:

- ``cal.trap-site.com/cal/N``: an endless calendar; each month links to the
  next ten and the one before;
- ``shop.trap-site.com/s/SID/...``: a session id in the path, new on every
  link, so the same three pages have endless URLs;
- ``deep.trap-site.com/l/...``: every page links to a URL one segment of
  300 characters longer than its own, past any URL length limit;
- ``nK.hosts.trap-site.com``: a host per number, each linking to two more
  (a binary tree of subdomains: a million hosts at depth 20).

Without the trap rules (crawler/traps.py) only a per-host page cap, a URL
length limit and a depth limit end such a crawl; every page still declares
its links, so
:func:`~tests.synthweb.oracle.page_edges` says what each fetched page
must store.

:func:`build_distinct_web` is the opposite: ``big-site.com``, one host of
thousands of genuinely distinct articles under one URL pattern
(``/article/N``: distinct words, distinct links), which the trap rules must
let a crawl fetch whole.
"""

from __future__ import annotations

import random
import re
from typing import Final

from linkgraph.demo.model import (
    ExpectedLink,
    PageBuilder,
    Resource,
    SyntheticWeb,
)

__all__ = [
    "BIG",
    "TRAP_DOMAIN",
    "TRAP_SEEDS",
    "build_distinct_web",
    "build_trap_web",
    "subdomain_level",
]

TRAP_DOMAIN: Final = "trap-site.com"
WWW: Final = f"www.{TRAP_DOMAIN}"
CAL: Final = f"cal.{TRAP_DOMAIN}"
SHOP: Final = f"shop.{TRAP_DOMAIN}"
DEEP: Final = f"deep.{TRAP_DOMAIN}"
TRAP_SEEDS: Final = (f"http://{WWW}/",)
#: The segment ``deep.trap-site.com`` adds per hop.
SEGMENT: Final = "x" * 300

_CAL = re.compile(r"^http://cal\.trap-site\.com/cal/(-?\d+)$")
_SHOP = re.compile(r"^http://shop\.trap-site\.com/s/(\d+)/(catalog|item|cart)$")
_DEEP = re.compile(r"^http://deep\.trap-site\.com/l((?:/x{300})+)$")
_HOSTS = re.compile(r"^http://n(\d+)\.hosts\.trap-site\.com/$")


def subdomain_level(host: str) -> int | None:
    """Depth in the subdomain tree of ``nK.hosts.trap-site.com`` (``n0`` is level 0)."""
    match = re.match(r"^n(\d+)\.hosts\.trap-site\.com$", host)
    return None if match is None else (int(match.group(1)) + 1).bit_length() - 1


def _page(url: str, targets: list[str]) -> Resource:
    page = PageBuilder(url, "trap")
    for number, target in enumerate(targets):
        page.a(target, f"link {number}", target)
    return page.resource()


def _calendar(url: str) -> Resource | None:
    match = _CAL.match(url)
    if match is None:
        return None
    month = int(match.group(1))
    targets = [f"http://{CAL}/cal/{month + step}" for step in (-1, *range(1, 11))]
    return _page(url, [*targets, f"http://{WWW}/"])


def _shop(url: str) -> Resource | None:
    match = _SHOP.match(url)
    if match is None:
        return None
    session = int(match.group(1))
    # Every link mints a new session id, as a server that puts sessions in
    # paths does for a client that keeps no cookies.
    targets = [f"http://{SHOP}/s/{session * 3 + n}/{page}" for n, page in enumerate(_SHOP_PAGES)]
    return _page(url, targets)


_SHOP_PAGES: Final = ("catalog", "item", "cart")


def _deep(url: str) -> Resource | None:
    if _DEEP.match(url) is None:
        return None
    return _page(url, [f"{url}/{SEGMENT}"])


def _hosts(url: str) -> Resource | None:
    match = _HOSTS.match(url)
    if match is None:
        return None
    number = int(match.group(1))
    children = [f"http://n{2 * number + k}.hosts.{TRAP_DOMAIN}/" for k in (1, 2)]
    return _page(url, children)


def build_trap_web() -> SyntheticWeb:
    """The trap web (see module doc)."""
    web = SyntheticWeb(
        seeds=TRAP_SEEDS,
        seed_urls=TRAP_SEEDS,
        generators=[_calendar, _shop, _deep, _hosts],
        domains={WWW: TRAP_DOMAIN, CAL: TRAP_DOMAIN, SHOP: TRAP_DOMAIN, DEEP: TRAP_DOMAIN},
        wildcard_domains={f".hosts.{TRAP_DOMAIN}": TRAP_DOMAIN},
    )
    home = PageBuilder(f"http://{WWW}/", "trap site")
    for target, text in (
        (f"http://{WWW}/about", "about"),
        (f"http://{CAL}/cal/0", "calendar"),
        (f"http://{SHOP}/s/1/catalog", "shop"),
        (f"http://{DEEP}/l/{SEGMENT}", "archive"),
        (f"http://n0.hosts.{TRAP_DOMAIN}/", "members"),
    ):
        home.a(target, text, target)
    web.add(home.resource())
    about = PageBuilder(f"http://{WWW}/about", "about")
    about.a(f"http://{WWW}/", "home", f"http://{WWW}/")
    about.body(
        '<a href="https://elsewhere.example/">elsewhere</a>',
        ExpectedLink("https://elsewhere.example/", anchor="elsewhere"),
    )
    web.domains["elsewhere.example"] = "elsewhere.example"
    web.add(about.resource())
    return web


BIG: Final = "www.big-site.com"


def build_distinct_web(pages: int, seed: int = 14) -> SyntheticWeb:
    """``big-site.com``: a home page and ``pages`` distinct articles (see module doc).

    Article N links to articles 2N+1 and 2N+2 (so every article is a few hops
    from the home page) and to three others at random; its text is 60 words
    drawn from a vocabulary of 4,000.
    """
    rng = random.Random(seed)
    letters = "abcdefghijklmnopqrstuvwxyz"
    vocabulary = sorted({"".join(rng.choices(letters, k=rng.randint(3, 9))) for _ in range(4000)})
    web = SyntheticWeb(
        seeds=(f"http://{BIG}/",),
        seed_urls=(f"http://{BIG}/",),
        domains={BIG: "big-site.com"},
    )
    home = PageBuilder(f"http://{BIG}/", "big site")
    home.a(f"http://{BIG}/article/0", "articles", f"http://{BIG}/article/0")
    web.add(home.resource())
    for number in range(pages):
        url = f"http://{BIG}/article/{number}"
        title = " ".join(rng.sample(vocabulary, 4))
        page = PageBuilder(url, title)
        page.body(f"<p>{' '.join(rng.sample(vocabulary, 60))}</p>")
        targets = [n for n in (2 * number + 1, 2 * number + 2) if n < pages]
        targets += rng.sample(range(pages), 3)
        for target in dict.fromkeys(targets):
            target_url = f"http://{BIG}/article/{target}"
            page.a(target_url, " ".join(rng.sample(vocabulary, 3)), target_url)
        web.add(page.resource())
    return web


def build_trap_and_distinct_web(pages: int) -> SyntheticWeb:
    """The trap web and :func:`build_distinct_web`'s ``big-site.com`` served together:
    one crawl must decline the one and fetch all of the other."""
    web = build_trap_web()
    distinct = build_distinct_web(pages)
    for resource in distinct.resources.values():
        web.add(resource)
    web.domains.update(distinct.domains)
    web.seeds = (*web.seeds, *distinct.seeds)
    web.seed_urls = (*web.seed_urls, *distinct.seed_urls)
    return web
