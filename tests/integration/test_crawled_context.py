"""End to end: where each crawled link sits, as the answers tell it.

The real CLI crawls a small synthetic web whose pages put links in headers,
navigation, articles, asides, footers and in conventional containers, with text
around them; some links repeat on every page of a blog (template links), some
point at a page that answers 404. ``backlinks`` must then give each link the
location and context its page says, and ``sitewide``, ``target_status`` and
the filters must agree with what the declared pages imply
(docs/queries.md#where-a-link-sits).
"""

from __future__ import annotations

import html
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from linkgraph.demo.model import ExpectedLink, Resource, SyntheticWeb, html_page, plain
from tests.integration.crawls import Crawl, crawl_web
from tests.synthweb import ProxyServer

pytestmark = [pytest.mark.integration]

BLOG = "http://www.ctx-blog.com"
PAPER = "http://news.ctx-paper.org"
SHOP = "http://www.ctx-shop.com"
TARGET = "http://www.ctx-target.com"
#: Pages of the blog: each carries the template (header, nav, aside, footer).
BLOG_PAGES = ("/", "/p1", "/p2", "/p3", "/p4", "/p5")


@dataclass(frozen=True)
class Placed:
    """A link to the target as its page places it: what ``backlinks`` must say."""

    source_url: str
    target_url: str
    location: str
    text_before: str
    text_after: str


def link(href: str, text: str) -> str:
    return f'<a href="{html.escape(href)}">{html.escape(text)}</a>'


def page(url: str, body: str, links: list[str | None]) -> Resource:
    return Resource(
        url=url,
        status=200,
        headers=(("Content-Type", "text/html; charset=utf-8"),),
        body=html_page(url, "", body).encode(),
        links=tuple(ExpectedLink(target) for target in links),
    )


def build() -> tuple[SyntheticWeb, list[Placed]]:
    """The web, and every link to the target with its expected place."""
    web = SyntheticWeb(
        domains={
            "www.ctx-blog.com": "ctx-blog.com",
            "news.ctx-paper.org": "ctx-paper.org",
            "www.ctx-shop.com": "ctx-shop.com",
            "www.ctx-target.com": "ctx-target.com",
        },
        seeds=(f"{BLOG}/", f"{PAPER}/", f"{SHOP}/", f"{TARGET}/"),
        seed_urls=(f"{BLOG}/", f"{PAPER}/", f"{SHOP}/", f"{TARGET}/"),
    )
    placed: list[Placed] = []
    nav = " ".join(link(f"{BLOG}{path}", f"page {path}") for path in BLOG_PAGES)
    for path in BLOG_PAGES:
        url = f"{BLOG}{path}"
        article = ""
        article_links: list[str | None] = []
        if path == "/p1":
            article = (
                f"<article><h1>A post</h1><p>I bought it at {link(f'{TARGET}/page', 'this shop')}"
                " and it was <em>great</em>.</p></article>"
            )
            article_links = [f"{TARGET}/page"]
            placed.append(
                Placed(url, f"{TARGET}/page", "content", "I bought it at", "and it was great.")
            )
        body = (
            f"<header>{link(f'{BLOG}/', 'The blog')}</header>\n"
            f"<nav>{nav}</nav>\n{article}\n"
            f"<aside><p>Friends: {link(f'{TARGET}/', 'Target')}</p></aside>\n"
            f"<footer><p>Hosted by {link(f'{TARGET}/gone', 'a host')}.</p></footer>\n"
        )
        links = [f"{BLOG}/", *(f"{BLOG}{p}" for p in BLOG_PAGES), *article_links]
        links += [f"{TARGET}/", f"{TARGET}/gone"]
        web.add(page(url, body, links))
        placed.append(Placed(url, f"{TARGET}/", "aside", "Friends:", ""))
        placed.append(Placed(url, f"{TARGET}/gone", "footer", "Hosted by", "."))
    # A newspaper: a main text with a link, and a conventional footer div.
    body = (
        f"<main><p>As {link(f'{TARGET}/page', 'reported')} last week, prices rose.</p></main>\n"
        f'<div id="site-footer"><span>Ads: {link(f"{TARGET}/", "target")}</span></div>\n'
    )
    web.add(page(f"{PAPER}/", body, [f"{TARGET}/page", f"{TARGET}/"]))
    placed.append(Placed(f"{PAPER}/", f"{TARGET}/page", "content", "As", "last week, prices rose."))
    placed.append(Placed(f"{PAPER}/", f"{TARGET}/", "footer", "Ads:", ""))
    # A shop with a header banner and a link in a list item (no context).
    body = (
        f'<div role="banner">{link(f"{TARGET}/", "partner")}</div>\n'
        f"<ul><li>{link(f'{TARGET}/page', 'the page')}</li></ul>\n"
    )
    web.add(page(f"{SHOP}/", body, [f"{TARGET}/", f"{TARGET}/page"]))
    placed.append(Placed(f"{SHOP}/", f"{TARGET}/", "header", "", ""))
    placed.append(Placed(f"{SHOP}/", f"{TARGET}/page", "other", "", ""))
    # The target: two pages that answer, one that is gone.
    web.add(page(f"{TARGET}/", "<p>Welcome.</p>", []))
    web.add(page(f"{TARGET}/page", "<p>A page.</p>", []))
    web.add(plain(f"{TARGET}/gone", 404, "text/html", b"<p>Not found</p>"))
    return web, placed


def expected_sitewide(web: SyntheticWeb, placed: list[Placed]) -> dict[tuple[str, str], bool]:
    """Sitewide by its definition, from the declared pages: the host links to
    the URL from at least half of its HTML pages, and from five or more."""
    html_pages: dict[str, int] = {}
    for resource in web.resources.values():
        if resource.is_html:
            host = resource.url.split("/")[2]
            html_pages[host] = html_pages.get(host, 0) + 1
    linking: dict[tuple[str, str], int] = {}
    for p in placed:
        key = (p.source_url.split("/")[2], p.target_url)
        linking[key] = linking.get(key, 0) + 1
    sitewide = {}
    for p in placed:
        host = p.source_url.split("/")[2]
        pages = linking[(host, p.target_url)]
        sitewide[(p.source_url, p.target_url)] = pages >= 5 and 2 * pages >= html_pages[host]
    return sitewide


@pytest.fixture(scope="module")
def crawled(
    cli: Any, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[Crawl, list[Placed], Any]]:
    web, placed = build()
    with ProxyServer(web) as proxy:
        crawl = crawl_web(cli.via(proxy), web, proxy, tmp_path_factory.mktemp("context"))
        yield crawl, placed, cli.via(proxy)


def backlinks(cli: Any, data_dir: Path, *flags: str) -> dict[tuple[str, str], dict[str, Any]]:
    result = cli.run(
        "backlinks", "ctx-target.com", "--format", "jsonl", "--data-dir", str(data_dir), *flags
    )
    records = [json.loads(line) for line in result.stdout.splitlines() if line.strip()]
    return {(r["source_url"], r["target_url"]): r for r in records if r["kind"] == "a"}


def test_backlinks_say_where_each_link_sits(crawled: tuple[Crawl, list[Placed], Any]) -> None:
    crawl, placed, cli = crawled
    found = backlinks(cli, crawl.data_dir)
    assert set(found) == {(p.source_url, p.target_url) for p in placed}
    for p in placed:
        record = found[(p.source_url, p.target_url)]
        got = (record["location"], record["text_before"], record["text_after"])
        assert got == (p.location, p.text_before, p.text_after), p
    sitewide = expected_sitewide(crawl.web, placed)
    # The blog's aside and footer links are template links; nothing else is.
    assert {k for k, v in sitewide.items() if v} == {
        (f"{BLOG}{path}", f"{TARGET}{end}") for path in BLOG_PAGES for end in ("/", "/gone")
    }
    assert {k: r["sitewide"] for k, r in found.items()} == sitewide
    statuses = {url: crawl.web.resources[url].status for _, url in found}
    assert {k: r["target_status"] for k, r in found.items()} == {k: statuses[k[1]] for k in found}
    # The export holds what the query answers.
    exported = {
        (r["source_url"], r["target_url"]): r
        for r in crawl.records
        if r["kind"] == "a"
        and r["target_url"].startswith(TARGET)
        and not r["source_url"].startswith(TARGET)
    }
    assert exported == found


def test_filters_on_where_links_sit(crawled: tuple[Crawl, list[Placed], Any]) -> None:
    crawl, placed, cli = crawled
    every = backlinks(cli, crawl.data_dir)
    footer = backlinks(cli, crawl.data_dir, "--location", "footer")
    assert set(footer) == {(p.source_url, p.target_url) for p in placed if p.location == "footer"}
    both = backlinks(cli, crawl.data_dir, "--location", "footer", "--location", "header")
    assert {r["location"] for r in both.values()} == {"footer", "header"}
    broken = backlinks(cli, crawl.data_dir, "--broken")
    assert set(broken) == {k for k in every if k[1] == f"{TARGET}/gone"}
    sitewide = backlinks(cli, crawl.data_dir, "--sitewide")
    assert set(sitewide) == {k for k, r in every.items() if r["sitewide"]}
    assert set(backlinks(cli, crawl.data_dir, "--not-sitewide")) == set(every) - set(sitewide)
    report = json.loads(
        cli.run(
            "report", "ctx-target.com", "--format", "json", "--data-dir", str(crawl.data_dir)
        ).stdout
    )
    assert report["broken_backlinks"] == len(broken)
    assert report["sitewide_backlinks"] == len(sitewide)
    assert report["locations"]["content"] == sum(p.location == "content" for p in placed)
