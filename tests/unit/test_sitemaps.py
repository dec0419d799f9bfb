"""Sitemap reading and its caps (crawler/sitemaps.py, docs/crawling.md#sitemaps)."""

from __future__ import annotations

import gzip
from types import SimpleNamespace
from typing import Any

import pytest
from scrapy import Request
from scrapy.http import Response, XmlResponse
from scrapy.robotstxt import ProtegoRobotParser

from crawler.robots import RFC9309RobotsMiddleware
from crawler.sitemaps import (
    SitemapBook,
    SitemapCaps,
    host_sitemaps,
    marked,
    read_sitemap,
    unmarked,
)

SITE = "http://www.example.com"


def _urlset(urls: list[str]) -> bytes:
    entries = "".join(f"<url><loc>{url}</loc></url>" for url in urls)
    return (
        '<?xml version="1.0"?><urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">'
        f"{entries}</urlset>"
    ).encode()


def _response(url: str, body: bytes, *, status: int = 200, xml: bool = False, **headers: str):
    cls = XmlResponse if xml else Response
    return cls(url, status=status, body=body, headers=headers, request=Request(url))


def test_urlset_urls_are_normalized_and_unusable_ones_dropped() -> None:
    body = _urlset([f"{SITE}/a?utm_source=x", "HTTP://WWW.EXAMPLE.COM/b#frag", "mailto:x@y", "/c"])
    reading = read_sitemap(_response(f"{SITE}/s.xml", body, xml=True), SitemapCaps())
    assert reading.kind == "urlset"
    assert reading.urls == [f"{SITE}/a", f"{SITE}/b", f"{SITE}/c"]
    assert reading.sitemaps == []


def test_index_lists_sitemaps() -> None:
    body = (
        b'<?xml version="1.0"?><sitemapindex xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">'
        b"<sitemap><loc>http://www.example.com/one.xml.gz</loc></sitemap></sitemapindex>"
    )
    reading = read_sitemap(_response(f"{SITE}/index", body, xml=True), SitemapCaps())
    assert (reading.kind, reading.sitemaps, reading.urls) == (
        "sitemapindex",
        [f"{SITE}/one.xml.gz"],
        [],
    )


def test_gzipped_sitemap_is_read_whatever_its_content_type() -> None:
    body = gzip.compress(_urlset([f"{SITE}/g"]))
    response = _response(f"{SITE}/s", body, **{"Content-Type": "application/octet-stream"})
    assert read_sitemap(response, SitemapCaps()).urls == [f"{SITE}/g"]


def test_url_cap_reads_the_first_entries_and_counts_the_rest() -> None:
    body = _urlset([f"{SITE}/{n}" for n in range(7)])
    reading = read_sitemap(_response(f"{SITE}/s.xml", body), SitemapCaps(max_urls=3))
    assert reading.urls == [f"{SITE}/0", f"{SITE}/1", f"{SITE}/2"]
    assert reading.over_cap == 4


def test_size_cap_refuses_a_gzip_bomb() -> None:
    body = gzip.compress(_urlset([f"{SITE}/x"]) + b" " * 5000)
    reading = read_sitemap(_response(f"{SITE}/s.xml.gz", body), SitemapCaps(max_bytes=4096))
    assert reading.kind == "" and "larger than 4096" in reading.why
    assert read_sitemap(_response(f"{SITE}/s.xml.gz", body), SitemapCaps()).urls == [f"{SITE}/x"]


@pytest.mark.parametrize(
    ("url", "body", "status", "why"),
    [
        (f"{SITE}/sitemap.xml", b"<html><body>404</body></html>", 404, "HTTP 404"),
        (f"{SITE}/sitemap.xml", b"", 200, "not a sitemap"),
        (f"{SITE}/sitemap.xml", b"<html><body>hi</body></html>", 200, "not a sitemap (<html>)"),
        (f"{SITE}/feed", b"plain text", 200, "not XML"),
        (f"{SITE}/s.gz", b"\x1f\x8b\x08garbage", 200, "broken gzip"),
    ],
)
def test_what_is_not_a_sitemap_is_skipped(url: str, body: bytes, status: int, why: str) -> None:
    reading = read_sitemap(_response(url, body, status=status), SitemapCaps())
    assert reading.kind == "" and reading.why.startswith(why), reading
    assert reading.urls == [] == reading.sitemaps


def test_a_redirect_names_the_next_file() -> None:
    response = _response(f"{SITE}/sitemap.xml", b"", status=301, Location="/real.xml")
    reading = read_sitemap(response, SitemapCaps())
    assert (reading.kind, reading.sitemaps) == ("redirect", [f"{SITE}/real.xml"])


def test_marks_round_trip_and_pages_are_not_marked() -> None:
    assert unmarked(marked(f"{SITE}/s.xml")) == (f"{SITE}/s.xml", False)
    assert unmarked(marked(f"{SITE}/s.xml", named=True)) == (f"{SITE}/s.xml", True)
    assert unmarked(f"{SITE}/page") is None


def _crawler(robots: dict[str, bytes | None]) -> Any:
    """A crawler whose robots.txt middleware has read ``robots`` (netloc -> body)."""
    middleware = RFC9309RobotsMiddleware.__new__(RFC9309RobotsMiddleware)
    middleware._parsers = {
        netloc: ProtegoRobotParser(body, None) for netloc, body in robots.items() if body
    }
    downloader = SimpleNamespace(middleware=SimpleNamespace(middlewares=[object(), middleware]))
    return SimpleNamespace(
        engine=SimpleNamespace(downloader=downloader),
        settings={"ROBOTSTXT_USER_AGENT": "linkgraph"},
    )


def test_robots_sitemap_lines_come_first_and_replace_the_fallback() -> None:
    crawler = _crawler(
        {
            "www.example.com": b"User-agent: *\nDisallow: /\nSitemap: /maps/a.xml\n"
            b"Sitemap: http://cdn.example.org/b.xml\nSitemap: /maps/a.xml\n"
        }
    )
    assert host_sitemaps(crawler, f"{SITE}/page") == [
        (f"{SITE}/maps/a.xml", True),
        ("http://cdn.example.org/b.xml", True),
    ]


def test_fallback_is_sitemap_xml_unless_robots_forbids_it() -> None:
    crawler = _crawler(
        {
            "www.example.com": b"User-agent: *\nDisallow: /private\n",
            "shop.example.com": b"User-agent: linkgraph\nDisallow: /sitemap\n",
        }
    )
    assert host_sitemaps(crawler, f"{SITE}/") == [(f"{SITE}/sitemap.xml", False)]
    assert host_sitemaps(crawler, "http://shop.example.com/x") == []
    # A host whose robots.txt was a 404 (nothing parsed): /sitemap.xml.
    assert host_sitemaps(crawler, "http://blog.example.com/") == [
        ("http://blog.example.com/sitemap.xml", False)
    ]


def test_book_reads_each_file_once_in_scope_within_the_host_cap() -> None:
    book = SitemapBook(
        SitemapCaps(max_files=2), in_scope=lambda url: "example.com/" in url, max_url_length=60
    )
    files = [
        (f"{SITE}/a.xml", True),
        (f"{SITE}/a.xml", False),
        ("http://other.org/b.xml", True),
        (f"{SITE}/" + "x" * 80, False),
        (f"{SITE}/c.xml", False),
        (f"{SITE}/d.xml", False),
        ("http://blog.example.com/e.xml", False),
    ]
    assert book.take(files) == [
        (f"{SITE}/a.xml", True),
        (f"{SITE}/c.xml", False),
        ("http://blog.example.com/e.xml", False),
    ]
    assert book.take([(f"{SITE}/f.xml", False)]) == []


def test_book_discovers_a_host_once() -> None:
    crawler = _crawler({})
    book = SitemapBook(SitemapCaps(), in_scope=lambda url: True)
    assert book.discover(crawler, f"{SITE}/one") == [(f"{SITE}/sitemap.xml", False)]
    assert book.discover(crawler, f"{SITE}/two") == []
