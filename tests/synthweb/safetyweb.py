"""A public site whose links and redirects point into the crawler's own network.

:func:`build_safety_web` serves ``www.pivot-site.com`` (the seed): a few
ordinary pages, one redirect to another of its pages, and pages that lead
inwards:

- redirects (301, 302, 307, 308) to address literals: the cloud metadata
  address ``169.254.169.254``, private ``10.0.0.1`` and ``192.168.1.1``,
  link-local ``169.254.10.10``, ``[fd00:ec2::254]`` and loopback
  ``127.0.0.1:PORT``;
- redirects and links to names of the site itself (in scope, so a crawler
  wants them) that its DNS answers with such addresses: :data:`INWARD_NAMES`,
  one of them (``rebind``) answering one public and one private address;
- a ``<meta http-equiv="refresh">`` to one of those names, which is no edge
  (docs/edges.md) and is not followed;
- ``docs.pivot-site.com``, linked from the home page, whose robots.txt
  redirects to the metadata address: that host is not crawled (its rules are
  declared as "disallow all", what a correct crawler must conclude).

``PORT`` is the ``loopback_port`` the builder is given: a test listens there
and records any connection. The inward names are never served; only a test
resolver knows their addresses (:data:`INWARD_NAMES`). Every redirect and link
is still an edge (docs/edges.md), so :func:`~tests.synthweb.oracle.expect`
gives the edges a correct crawl stores: its ``fetched`` less the inward URLs
is what must reach the network.
"""

from __future__ import annotations

from typing import Final

from linkgraph.demo.model import (
    ExpectedLink,
    PageBuilder,
    RobotsRules,
    SyntheticWeb,
    host_of,
    redirect,
)

__all__ = ["INWARD_NAMES", "PIVOT_DOMAIN", "build_safety_web"]

PIVOT_DOMAIN: Final = "pivot-site.com"
WWW: Final = f"www.{PIVOT_DOMAIN}"
DOCS: Final = f"docs.{PIVOT_DOMAIN}"
METADATA: Final = "http://169.254.169.254/latest/meta-data/"
SEEDS: Final = (f"http://{WWW}/",)

#: Names of the site and what its DNS answers for them (address lists).
INWARD_NAMES: Final[dict[str, tuple[str, ...]]] = {
    f"intranet.{PIVOT_DOMAIN}": ("10.1.2.3",),
    f"metadata.{PIVOT_DOMAIN}": ("169.254.169.254",),
    f"localhost.{PIVOT_DOMAIN}": ("127.0.0.1",),
    f"router.{PIVOT_DOMAIN}": ("192.168.1.1",),
    f"printer.{PIVOT_DOMAIN}": ("169.254.7.7",),
    # DNS rebinding: one private answer among public ones.
    f"rebind.{PIVOT_DOMAIN}": ("93.184.215.14", "10.0.0.7"),
    f"v6meta.{PIVOT_DOMAIN}": ("fd00:ec2::254",),
}


def build_safety_web(loopback_port: int) -> SyntheticWeb:
    """The safety web (see module doc); loopback targets use ``loopback_port``."""
    loopback = f"http://127.0.0.1:{loopback_port}/"
    literal_redirects = (
        ("/to-metadata", 302, METADATA),
        ("/to-private", 301, "http://10.0.0.1/admin"),
        ("/to-router", 302, "http://192.168.1.1/"),
        ("/to-link-local", 307, "http://169.254.10.10/"),
        ("/to-v6-metadata", 308, "http://[fd00:ec2::254]/latest/meta-data/"),
        ("/to-loopback", 301, loopback),
    )
    name_redirects = (
        ("/to-intranet", 302, f"http://intranet.{PIVOT_DOMAIN}/"),
        ("/to-metadata-name", 301, f"http://metadata.{PIVOT_DOMAIN}/latest/meta-data/"),
    )
    name_links = (
        f"http://intranet.{PIVOT_DOMAIN}/admin",
        f"http://localhost.{PIVOT_DOMAIN}:{loopback_port}/",
        f"http://router.{PIVOT_DOMAIN}/",
        f"http://printer.{PIVOT_DOMAIN}/",
        f"http://rebind.{PIVOT_DOMAIN}/",
        f"http://v6meta.{PIVOT_DOMAIN}/latest/meta-data/",
    )
    web = SyntheticWeb(seeds=SEEDS, seed_urls=SEEDS)
    web.domains.update(
        {WWW: PIVOT_DOMAIN, DOCS: PIVOT_DOMAIN, "elsewhere.example": "elsewhere.example"}
    )
    web.domains.update({name: PIVOT_DOMAIN for name in INWARD_NAMES})
    home = PageBuilder(f"http://{WWW}/", "pivot site")
    for path, text in (("/about", "about"), ("/moved", "moved"), ("/refresh", "refresh")):
        home.a(path, text, f"http://{WWW}{path}")
    for path, status, location in (*literal_redirects, *name_redirects):
        source = f"http://{WWW}{path}"
        home.a(path, path, source)
        web.add(redirect(source, status, location, location))
        web.domains.setdefault(host_of(location), host_of(location))
    for target in (*name_links, f"http://{DOCS}/"):
        home.a(target, host_of(target), target)
    web.add(home.resource())
    web.add(redirect(f"http://{DOCS}/robots.txt", 302, METADATA, METADATA))
    web.robots[DOCS] = RobotsRules((("*", ("/",)),))
    web.add(redirect(f"http://{WWW}/moved", 301, "/contact", f"http://{WWW}/contact"))
    for path in ("/about", "/contact"):
        page = PageBuilder(f"http://{WWW}{path}", path)
        page.a("/", "home", f"http://{WWW}/")
        page.body(
            '<a href="https://elsewhere.example/">elsewhere</a>',
            ExpectedLink("https://elsewhere.example/", anchor="elsewhere"),
        )
        web.add(page.resource())
    refresh = PageBuilder(f"http://{WWW}/refresh", "refresh")
    refresh.head(f'<meta http-equiv="refresh" content="0; url=http://metadata.{PIVOT_DOMAIN}/">')
    web.add(refresh.resource())
    return web
