"""A web whose pages are partly reachable through sitemaps only (docs/crawling.md#sitemaps).

:func:`build_sitemap_web` serves ``map-site.com`` (seed ``www.map-site.com``):

- ``www``'s robots.txt names a sitemap index, which lists a gzipped sitemap
  of pages no page links to (``/only/1`` … ``/only/3``; ``/only/3`` links to
  ``/only/4``), an out-of-scope page and a page robots.txt disallows; a
  sitemap of :data:`MANY` pages (``/many/N``), more than a test's
  ``--max-sitemap-urls``; a gzip bomb (:data:`BOMB_BYTES` decompressed, over
  the size cap) listing ``/bomb/N``; and a sitemap on an out-of-scope host;
- ``blog`` has no robots.txt: its ``/sitemap.xml`` lists ``/hidden`` (and
  ``www``'s ``/about``, which is linked too);
- ``shop``'s robots.txt disallows ``/sitemap.xml``, which would list
  ``/hidden``.

The module-level helpers say what a crawl must fetch: :func:`pages` (page
URLs), :data:`SITEMAP_FILES` (sitemap files) and :data:`NEVER` (URLs that
must never be requested).
"""

from __future__ import annotations

import gzip
from dataclasses import dataclass
from typing import Final

from linkgraph.demo.model import PageBuilder, RobotsRules, SyntheticWeb, plain

__all__ = ["NEVER", "SITEMAP_FILES", "build_sitemap_web", "pages"]

WWW: Final = "http://www.map-site.com"
BLOG: Final = "http://blog.map-site.com"
SHOP: Final = "http://shop.map-site.com"
SEEDS: Final = (f"{WWW}/",)
#: Pages the sitemap ``/sitemaps/many.xml`` lists.
MANY: Final = 8
#: Bytes the gzip bomb's XML has once decompressed: more than the 10 MiB cap.
BOMB_BYTES: Final = 11 * 1024 * 1024

INDEX: Final = f"{WWW}/sitemap_index.xml"
PAGES_GZ: Final = f"{WWW}/sitemaps/pages.xml.gz"
MANY_XML: Final = f"{WWW}/sitemaps/many.xml"
BOMB_GZ: Final = f"{WWW}/sitemaps/bomb.xml.gz"
OUT_OF_SCOPE_SITEMAP: Final = "http://other-site.example/sitemap.xml"
OUT_OF_SCOPE_PAGE: Final = "http://elsewhere.example/from-sitemap"
#: Every sitemap file a crawl with sitemaps must request, each once.
SITEMAP_FILES: Final = frozenset({INDEX, PAGES_GZ, MANY_XML, BOMB_GZ, f"{BLOG}/sitemap.xml"})
#: URLs a crawl must never request, sitemaps or not.
NEVER: Final = frozenset(
    {
        OUT_OF_SCOPE_SITEMAP,
        OUT_OF_SCOPE_PAGE,
        f"{WWW}/private/secret",
        f"{SHOP}/sitemap.xml",
        f"{SHOP}/hidden",
        *(f"{WWW}/bomb/{n}" for n in range(3)),
    }
)


@dataclass(frozen=True, slots=True)
class SitemapRobots(RobotsRules):
    """A robots.txt with ``Sitemap:`` lines after its groups."""

    sitemaps: tuple[str, ...] = ()

    def render(self) -> str:
        return RobotsRules.render(self) + "".join(f"Sitemap: {url}\n" for url in self.sitemaps)


def _urlset(urls: list[str], padding: int = 0) -> bytes:
    entries = "".join(f"<url><loc>{url}</loc></url>\n" for url in urls)
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        '<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">\n'
        f"{entries}{' ' * padding}</urlset>\n"
    ).encode()


def _index(urls: list[str]) -> bytes:
    entries = "".join(f"<sitemap><loc>{url}</loc></sitemap>\n" for url in urls)
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        '<sitemapindex xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">\n'
        f"{entries}</sitemapindex>\n"
    ).encode()


def _page(web: SyntheticWeb, url: str, *targets: str) -> None:
    page = PageBuilder(url, url.rsplit("/", 1)[-1] or "home")
    for target in targets:
        page.a(target, f"to {target}", target)
    web.add(page.resource())


def pages(*, sitemaps: bool = True, max_urls: int = 50_000) -> set[str]:
    """The page URLs a crawl of the web fetches (sitemap files aside)."""
    linked = {f"{WWW}/", f"{WWW}/about", f"{BLOG}/", f"{SHOP}/"}
    if not sitemaps:
        return linked
    listed = {f"{WWW}/only/{n}" for n in (1, 2, 3, 4)} | {f"{BLOG}/hidden"}
    return linked | listed | {f"{WWW}/many/{n}" for n in range(min(MANY, max_urls))}


def build_sitemap_web() -> SyntheticWeb:
    """The sitemap web (see module doc)."""
    web = SyntheticWeb(
        seeds=SEEDS,
        seed_urls=SEEDS,
        domains={
            "www.map-site.com": "map-site.com",
            "blog.map-site.com": "map-site.com",
            "shop.map-site.com": "map-site.com",
            "other-site.example": "other-site.example",
            "elsewhere.example": "elsewhere.example",
        },
    )
    web.robots["www.map-site.com"] = SitemapRobots(
        groups=(("*", ("/private",)),), sitemaps=(INDEX, OUT_OF_SCOPE_SITEMAP)
    )
    web.robots["shop.map-site.com"] = RobotsRules(groups=(("*", ("/sitemap.xml",)),))
    _page(web, f"{WWW}/", f"{WWW}/about", f"{BLOG}/", f"{SHOP}/")
    _page(web, f"{WWW}/about", f"{WWW}/")
    for n in (1, 2, 4):
        _page(web, f"{WWW}/only/{n}", f"{WWW}/")
    _page(web, f"{WWW}/only/3", f"{WWW}/only/4")
    for n in range(MANY):
        _page(web, f"{WWW}/many/{n}")
    _page(web, f"{BLOG}/", f"{WWW}/")
    _page(web, f"{BLOG}/hidden")
    _page(web, f"{SHOP}/")
    _page(web, f"{SHOP}/hidden")
    _page(web, f"{WWW}/private/secret")
    xml = "application/xml"
    web.add(plain(INDEX, 200, xml, _index([PAGES_GZ, BOMB_GZ, MANY_XML, OUT_OF_SCOPE_SITEMAP])))
    listed = [*(f"{WWW}/only/{n}" for n in (1, 2, 3)), OUT_OF_SCOPE_PAGE, f"{WWW}/private/secret"]
    web.add(plain(PAGES_GZ, 200, "application/x-gzip", gzip.compress(_urlset(listed))))
    web.add(plain(MANY_XML, 200, xml, _urlset([f"{WWW}/many/{n}" for n in range(MANY)])))
    bomb = _urlset([f"{WWW}/bomb/{n}" for n in range(3)], padding=BOMB_BYTES)
    web.add(plain(BOMB_GZ, 200, "application/x-gzip", gzip.compress(bomb)))
    # A page of another in-scope host, linked already: fetched once.
    web.add(plain(f"{BLOG}/sitemap.xml", 200, xml, _urlset([f"{BLOG}/hidden", f"{WWW}/about"])))
    web.add(plain(f"{SHOP}/sitemap.xml", 200, xml, _urlset([f"{SHOP}/hidden"])))
    web.add(plain(OUT_OF_SCOPE_SITEMAP, 200, xml, _urlset([f"{WWW}/only/never"])))
    return web
