"""Link extraction per core: ours against Scrapy's ``LinkExtractor`` + ``canonicalize_url``.

Both sides get the same benchmark pages as bytes and end with normalized
absolute URLs: ours decodes, parses (lexbor), resolves and normalizes
(:func:`crawler.extract.extract_links`); the baseline builds an
``HtmlResponse``, runs a default ``LinkExtractor`` (lxml) and canonicalizes
every link with ``w3lib.url.canonicalize_url``. CPU time of this process
(``time.process_time``), rounds alternating, median per page.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from bench.common import Figure, Note, Result, alternate, median
from bench.web import build_bench_web

__all__ = ["run"]


def _timed(pages: list[tuple[str, bytes]], extract: Callable[[str, bytes], int]) -> float:
    started = time.process_time()
    for url, body in pages:
        extract(url, body)
    return (time.process_time() - started) / len(pages) * 1e6


def run(*, quick: bool = False) -> Result:
    """µs of CPU per page, ours and the baseline, on a sample of the benchmark web."""
    from scrapy.http import HtmlResponse
    from scrapy.linkextractors import LinkExtractor
    from w3lib.url import canonicalize_url

    from crawler.extract import extract_links

    pages = build_bench_web(400 if quick else 800).html_pages(20 if quick else 100)
    extractor = LinkExtractor()

    def ours(url: str, body: bytes) -> int:
        return len(extract_links(body.decode("utf-8"), url, url).links)

    def scrapy(url: str, body: bytes) -> int:
        response = HtmlResponse(url, body=body, encoding="utf-8")
        return len([canonicalize_url(link.url) for link in extractor.extract_links(response)])

    # Warm both (imports, caches of compiled selectors) before timing.
    links = sum(ours(url, body) for url, body in pages)
    baseline_links = sum(scrapy(url, body) for url, body in pages)
    runs = 3 if quick else 7
    mine, theirs = alternate(lambda: _timed(pages, ours), lambda: _timed(pages, scrapy), runs)
    size = sum(len(body) for _, body in pages) / len(pages)
    return Result(
        figures=[
            Figure(
                "link extraction, CPU per page",
                "µs/page",
                median(mine),
                median(theirs),
                "Scrapy LinkExtractor + w3lib canonicalize_url",
                # Extraction also places each link on its page and reads the page's
                # facts (docs/edges.md#where-a-link-sits): the target is 8x.
                target=8.0,
                higher_is_better=False,
                runs=runs,
            )
        ],
        notes=[
            Note(
                "extraction sample",
                len(pages),
                "pages",
                f"{size / 1024:.0f} KiB and {links / len(pages):.0f} edges per page "
                f"(baseline: {baseline_links / len(pages):.0f} links)",
            )
        ],
    )
