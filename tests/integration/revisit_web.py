"""A small two-domain web for revisit tests, and how to read what the index holds of it.

``www.revisit-shop.com`` and ``www.elsewhere-news.org`` link to each other and
to ``target-brand.net``, which is never crawled (it is not a seed domain). The
proxy that serves it answers conditional requests (``validators=True``).
:func:`changed_web` is the same web a while later: one page lost a link and
gained one to a new page, one page is gone (404), the rest is as it was.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from linkgraph.demo.model import PageBuilder, SyntheticWeb, plain
from tests.integration.answers import run_records

SHOP = "http://www.revisit-shop.com"
NEWS = "http://www.elsewhere-news.org"
BRAND = "http://target-brand.net"
#: The TARGET of the referrer revisits.
TARGET = "target-brand.net"
SEEDS = (f"{SHOP}/", f"{NEWS}/")
#: The page that changes (its link to BRAND/x goes, a link to NEW comes).
CHANGED = f"{SHOP}/b"
#: The page that answers 404 in the changed web.
GONE = f"{SHOP}/gone"
#: The page only the changed web links to.
NEW = f"{SHOP}/new"
#: The pages that link to TARGET in the first web, on both domains.
REFERRERS = {f"{SHOP}/a", CHANGED, GONE, f"{NEWS}/story"}


def _page(url: str, *targets: str) -> Any:
    page = PageBuilder(url, url)
    for target in targets:
        page.a(target, f"to {target.rsplit('/', 1)[-1] or 'home'}", target)
    return page.resource()


def build_web() -> SyntheticWeb:
    """The web as the first crawl finds it."""
    web = SyntheticWeb(seeds=SEEDS, seed_urls=SEEDS)
    web.domains.update(
        {
            "www.revisit-shop.com": "revisit-shop.com",
            "www.elsewhere-news.org": "elsewhere-news.org",
            "target-brand.net": "target-brand.net",
        }
    )
    for resource in (
        _page(f"{SHOP}/", f"{SHOP}/a", f"{SHOP}/b", f"{SHOP}/c", GONE, f"{NEWS}/"),
        _page(f"{SHOP}/a", f"{SHOP}/b", f"{BRAND}/"),
        _page(CHANGED, f"{SHOP}/c", f"{BRAND}/x"),
        _page(f"{SHOP}/c", f"{SHOP}/a", f"{NEWS}/other"),
        _page(GONE, f"{BRAND}/"),
        _page(f"{NEWS}/", f"{NEWS}/story", f"{NEWS}/other"),
        _page(f"{NEWS}/story", f"{BRAND}/", f"{SHOP}/"),
        _page(f"{NEWS}/other", f"{NEWS}/"),
    ):
        web.add(resource)
    return web


def changed_web(web: SyntheticWeb) -> SyntheticWeb:
    """``web`` later: CHANGED lost its link to BRAND/x and links to NEW; GONE is 404."""
    later = web.changed(
        _page(CHANGED, f"{SHOP}/c", NEW),
        plain(GONE, 404, "text/html; charset=utf-8", b"<html>gone</html>"),
    )
    later.add(_page(NEW, f"{SHOP}/", f"{BRAND}/new"))
    return later


#: Pages of the first web (every one answers 200).
PAGES = frozenset(build_web().resources)


def links(cli: Any, data_dir: Path) -> dict[tuple[str, str], dict[str, Any]]:
    """Every edge the index holds, by (source_url, target_url), with ``lost``."""
    rows = run_records(
        cli,
        data_dir,
        "sql",
        "SELECT source_url, target_url, toString(first_seen) AS first_seen, "
        "toString(last_seen) AS last_seen, lost FROM linkgraph.links",
    )
    return {(row["source_url"], row["target_url"]): row for row in rows}


def pages(cli: Any, data_dir: Path) -> dict[str, dict[str, Any]]:
    """The ``pages`` rows, merged, by URL."""
    rows = run_records(
        cli,
        data_dir,
        "sql",
        "SELECT url, status, etag, last_modified, toString(fetched_at) AS fetched_at "
        "FROM linkgraph.pages FINAL",
    )
    return {row["url"]: row for row in rows}
