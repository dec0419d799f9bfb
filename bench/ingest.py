"""Web archive ingest per core: ours against warcio + BeautifulSoup, as cc-pyspark runs it.

The same deterministic ``.warc.gz`` (the benchmark web's pages as HTTP
``response`` records, each preceded by its ``request`` record and followed by
a ``metadata`` record, every record its own gzip member, as Common Crawl
writes them; one in twenty answers is a redirect) is read by both sides:

- ours: :func:`crawler.archives.warc_pages`, the page records ``linkgraph
  ingest warc`` stores (the crawl's extraction: every edge resolved and
  normalized, anchors, locations, page facts);
- the baseline: warcio's ``ArchiveIterator`` and BeautifulSoup on lxml, the
  way cc-pyspark's examples read WARC files, taking every ``<a>``/``<area>``
  href (resolved with ``urljoin`` against ``<base>``), its text, ``rel``, and
  ``<link rel=canonical>``; 3xx ``Location`` as a redirect. Like ours (and
  like the extraction benchmark's baseline) it ends with normalized URLs, by
  ``w3lib.url.canonicalize_url``: an index of links needs them.

And the WAT of the same pages (:func:`crawler.archives.wat_pages` against
warcio + ``json.loads`` + the ``Links`` list, as cc-pyspark's
``ExtractLinksJob`` does). Pages per CPU second of this process
(``time.process_time``), rounds alternating, medians. Storage is not timed:
the index's share is the consumer benchmark's.
"""

from __future__ import annotations

import gzip
import io
import json
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urljoin

from bench.common import Figure, Note, Result, alternate, median
from bench.web import build_bench_web

__all__ = ["build_archives", "run"]

#: Pages in one Common Crawl WARC file: a monthly crawl is about 2.5 billion
#: pages in 90,000 files of about 1 GB.
PAGES_PER_CC_FILE = 28_000
#: One answer in this many is a redirect to the page after it.
_REDIRECT_EVERY = 20
_DATE = datetime(2024, 5, 1, tzinfo=UTC)


def _record(warc_type: str, uri: str, block: bytes, number: int, content_type: str) -> bytes:
    date = (_DATE + timedelta(seconds=number)).strftime("%Y-%m-%dT%H:%M:%SZ")
    head = (
        f"WARC/1.0\r\nWARC-Type: {warc_type}\r\n"
        f"WARC-Record-ID: <urn:uuid:00000000-0000-0000-0000-{number:012d}>\r\n"
        f"WARC-Date: {date}\r\nWARC-Target-URI: {uri}\r\nContent-Type: {content_type}\r\n"
        f"Content-Length: {len(block)}\r\n\r\n"
    ).encode()
    return gzip.compress(head + block + b"\r\n\r\n", mtime=0)


def _links(body: bytes) -> list[dict[str, str]]:
    from selectolax.lexbor import LexborHTMLParser

    links = []
    for node in LexborHTMLParser(body.decode("utf-8")).css("a[href], area[href], link[href]"):
        tag = (node.tag or "").upper()
        link = {"path": f"{tag}@/href", "url": node.attributes.get("href") or ""}
        if tag != "LINK":
            link["text"] = node.text()
        if node.attributes.get("rel"):
            link["rel"] = node.attributes.get("rel") or ""
        links.append(link)
    return links


def build_archives(pages: int) -> tuple[bytes, bytes, int]:
    """(WARC, WAT, HTTP responses) of ``pages`` pages of the benchmark web: the same
    bytes for the same ``pages`` on every run."""
    web = build_bench_web(pages)
    sample = web.html_pages(pages)
    warc: list[bytes] = []
    wat: list[bytes] = []
    for number, (url, body) in enumerate(sample):
        if number % _REDIRECT_EVERY == _REDIRECT_EVERY - 1:
            target = sample[(number + 1) % len(sample)][0]
            status, headers, payload = 301, [("Location", target)], b""
        else:
            status, headers, payload = 200, [("Content-Type", "text/html; charset=utf-8")], body
        lines = [f"HTTP/1.1 {status} X", *(f"{k}: {v}" for k, v in headers)]
        lines.append(f"Content-Length: {len(payload)}")
        http = ("\r\n".join(lines) + "\r\n\r\n").encode() + payload
        request = f"GET {url} HTTP/1.1\r\nUser-Agent: bench\r\n\r\n".encode()
        warc.append(_record("request", url, request, number, "application/http; msgtype=request"))
        warc.append(_record("response", url, http, number, "application/http; msgtype=response"))
        warc.append(
            _record("metadata", url, b"fetchTimeMs: 12\r\n", number, "application/warc-fields")
        )
        metadata: dict[str, Any] = {
            "Response-Message": {"Status": str(status)},
            "Headers": dict(headers),
        }
        if status == 200:
            metadata["HTML-Metadata"] = {"Head": {}, "Links": _links(payload)}
        envelope = {
            "Envelope": {
                "WARC-Header-Metadata": {
                    "WARC-Type": "response",
                    "WARC-Target-URI": url,
                    "WARC-Date": (_DATE + timedelta(seconds=number)).strftime("%Y-%m-%dT%H:%M:%SZ"),
                },
                "Payload-Metadata": {"HTTP-Response-Metadata": metadata},
            }
        }
        wat.append(
            _record("metadata", url, json.dumps(envelope).encode(), number, "application/json")
        )
    return b"".join(warc), b"".join(wat), len(sample)


# -- the two sides ---------------------------------------------------------------------


def _ours(reader: Callable[..., Any], name: str) -> Callable[[bytes], tuple[int, int]]:
    from crawler.archives import Tally

    def read(data: bytes) -> tuple[int, int]:
        tally = Tally()
        for _page in reader(io.BytesIO(data), tally):
            pass
        return tally.pages, tally.edges

    read.__name__ = name
    return read


def _warcio_soup(data: bytes) -> tuple[int, int]:
    """cc-pyspark's way: warcio records, BeautifulSoup(lxml) links."""
    from bs4 import BeautifulSoup
    from w3lib.url import canonicalize_url
    from warcio.archiveiterator import ArchiveIterator

    pages = edges = 0
    for record in ArchiveIterator(io.BytesIO(data)):
        if record.rec_type != "response":
            continue
        url = record.rec_headers.get_header("WARC-Target-URI")
        status = record.http_headers.get_statuscode()
        pages += 1
        if status.startswith("3"):
            location = record.http_headers.get_header("Location")
            if location:
                edges += len({canonicalize_url(urljoin(url, location))})
            continue
        if "html" not in (record.http_headers.get_header("Content-Type") or ""):
            continue
        soup = BeautifulSoup(record.content_stream().read(), "lxml")
        base_tag = soup.find("base", href=True)
        base = urljoin(url, base_tag["href"]) if base_tag else url
        found: dict[tuple[str, str], tuple[str, str]] = {}
        for tag in soup.find_all(["a", "area"], href=True):
            target = canonicalize_url(urljoin(base, tag["href"]))
            rel = " ".join(tag.get("rel") or [])
            found.setdefault((target, "a"), (tag.get_text(" ", strip=True)[:512], rel))
        for tag in soup.find_all("link", href=True):
            if "canonical" in (tag.get("rel") or []):
                found.setdefault(
                    (canonicalize_url(urljoin(base, tag["href"])), "canonical"), ("", "")
                )
        edges += len(found)
    return pages, edges


def _warcio_json(data: bytes) -> tuple[int, int]:
    """cc-pyspark's ExtractLinksJob way over WAT: warcio, json.loads, the Links list,
    normalized as the WARC baseline."""
    from w3lib.url import canonicalize_url
    from warcio.archiveiterator import ArchiveIterator

    pages = edges = 0
    for record in ArchiveIterator(io.BytesIO(data)):
        if record.rec_type != "metadata":
            continue
        envelope = json.loads(record.content_stream().read())["Envelope"]
        url = envelope["WARC-Header-Metadata"]["WARC-Target-URI"]
        http = envelope["Payload-Metadata"]["HTTP-Response-Metadata"]
        pages += 1
        found = set()
        for link in http.get("HTML-Metadata", {}).get("Links", []):
            if link.get("path") in ("A@/href", "AREA@/href"):
                found.add((canonicalize_url(urljoin(url, link["url"])), "a"))
        location = http.get("Headers", {}).get("Location")
        if location:
            found.add((canonicalize_url(urljoin(url, location)), "redirect"))
        edges += len(found)
    return pages, edges


def _rate(
    read: Callable[[bytes], tuple[int, int]], data: bytes, found: dict[str, tuple[int, int]]
) -> float:
    """Pages per CPU second of ``read`` over ``data``; (pages, edges) noted in ``found``."""
    started = time.process_time()
    pages, edges = read(data)
    seconds = time.process_time() - started
    found[getattr(read, "__name__", "read")] = (pages, edges)
    return pages / max(seconds, 1e-9)


def run(*, quick: bool = False) -> Result:
    """WARC and WAT pages per CPU second, ours and the baseline, on the same files."""
    from crawler.archives import warc_pages, wat_pages

    warc, wat, responses = build_archives(300 if quick else 2000)
    ours_warc, ours_wat = _ours(warc_pages, "read_warc"), _ours(wat_pages, "read_wat")
    # Warm both (imports, compiled selectors) on a small file.
    small_warc, small_wat, _ = build_archives(100)
    for warm in (ours_warc, _warcio_soup):
        warm(small_warc)
    for warm in (ours_wat, _warcio_json):
        warm(small_wat)
    runs = 3
    found: dict[str, tuple[int, int]] = {}
    mine, theirs = alternate(
        lambda: _rate(ours_warc, warc, found), lambda: _rate(_warcio_soup, warc, found), runs
    )
    mine_wat, theirs_wat = alternate(
        lambda: _rate(ours_wat, wat, found), lambda: _rate(_warcio_json, wat, found), runs
    )
    pages, edges = found["read_warc"]
    baseline_pages, baseline_links = found["_warcio_soup"]
    wat_pages_read, wat_edges = found["read_wat"]
    per_page = median(mine)
    return Result(
        figures=[
            Figure(
                "WARC ingest, pages per CPU second",
                "pages/s",
                per_page,
                median(theirs),
                "warcio + BeautifulSoup(lxml) links, as cc-pyspark; w3lib canonicalize_url",
                target=10.0,
                runs=runs,
            ),
            Figure(
                "WAT ingest, pages per CPU second",
                "pages/s",
                median(mine_wat),
                median(theirs_wat),
                "warcio + json.loads + Links, as cc-pyspark's ExtractLinksJob",
                runs=runs,
            ),
        ],
        notes=[
            Note(
                "ingest sample",
                responses,
                "responses",
                f"{len(warc) / 2**20:.1f} MiB WARC (request, response, metadata records), "
                f"{len(wat) / 2**20:.1f} MiB WAT; ours {edges / max(pages, 1):.0f} edges/page "
                f"(WAT {wat_edges / max(wat_pages_read, 1):.0f}), baseline "
                f"{baseline_links / max(baseline_pages, 1):.0f} links/page",
            ),
            Note(
                "a Common Crawl WARC file (≈ 28,000 pages), one core",
                PAGES_PER_CC_FILE / max(per_page, 1e-9) / 60,
                "min",
                "what a Common Crawl WARC file costs a worker at this rate",
            ),
        ],
    )
