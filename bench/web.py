"""The benchmark web: pages of about 60 KB with about 100 links, served from memory.

:func:`build_bench_web` is deterministic in its arguments, so the server
process and the benchmarks that need the page bodies build the same web.
``SITES`` seed domains of ``pages // SITES`` pages each; every page carries
a head with a script, a style and a canonical link, and a body of text with

- 12 navigation links (root-relative) and 48 links to other pages of its site
  (root-relative, ``../`` relative and absolute, some with a fragment), among
  them the pages ``2k+1`` and ``2k+2`` so that every page is reachable;
- 8 links to pages of the other seed sites (in scope, crawled anyway);
- 30 links to hosts outside the crawl (recorded, never fetched), some with
  ``rel`` flags and tracking parameters, some around an image;
- a ``mailto:`` and a ``javascript:`` link (dropped).

In-scope links carry no tracking parameters: a stock crawler would fetch
those as new URLs, and both crawlers must fetch the same pages.

:func:`server_ceiling` measures how many pages per second the proxy serves
to a client that does nothing else, so the table shows it is not the
bottleneck of a crawl.
"""

from __future__ import annotations

import asyncio
import random
import time
from dataclasses import dataclass
from typing import Final

from linkgraph.demo.model import HTML_UTF8, Resource, SyntheticWeb

__all__ = ["SITES", "BenchWeb", "build_bench_web", "server_ceiling"]

#: Seed domains of the benchmark web.
SITES: Final = 8
_WORDS: Final = tuple(
    " ".join(
        [
            "link graph crawl index anchor domain host page edge backlink search engine market",
            "river mountain garden kitchen travel winter summer design build review guide news",
            "local world science history music sport health money family school city house",
        ]
    ).split()
)


@dataclass(frozen=True, slots=True)
class BenchWeb:
    """The web, its seeds file text, and its page URLs in crawl order of sites."""

    web: SyntheticWeb
    seeds_text: str
    page_urls: tuple[str, ...]

    def html_pages(self, count: int) -> list[tuple[str, bytes]]:
        """``(url, body)`` of ``count`` pages spread over all sites."""
        step = max(1, len(self.page_urls) // max(count, 1))
        urls = self.page_urls[::step][:count]
        return [(url, self.web.resources[url].body) for url in urls]


def _site(index: int) -> str:
    return f"www.bench-site-{index}.com"


def _path(page: int) -> str:
    return "/" if page == 0 else f"/section/{page % 10}/article-{page}.html"


def _paragraphs(rng: random.Random, count: int) -> list[str]:
    return [
        "<p>" + " ".join(rng.choice(_WORDS) for _ in range(rng.randint(45, 75))) + "</p>"
        for _ in range(count)
    ]


def build_bench_web(pages: int, seed: int = 1) -> BenchWeb:
    """A web of ``pages`` HTML pages (at least one per site) on :data:`SITES` seed domains."""
    rng = random.Random(seed)
    per_site = max(1, pages // SITES)
    text = _paragraphs(rng, 400)
    script = "<script>" + "window.dataLayer=window.dataLayer||[];" * 150 + "</script>"
    style = "<style>" + ".c{color:#333;margin:0 auto;padding:4px}" * 120 + "</style>"
    web = SyntheticWeb()
    urls: list[str] = []
    for site in range(SITES):
        host = _site(site)
        web.domains[host] = f"bench-site-{site}.com"
        for page in range(per_site):
            url = f"http://{host}{_path(page)}"
            body = _page(rng, site, page, per_site, text, script, style)
            web.add(Resource(url, 200, (("Content-Type", HTML_UTF8),), body.encode()))
            urls.append(url)
    seeds = tuple(f"http://{_site(site)}/" for site in range(SITES))
    web.seeds = web.seed_urls = seeds
    return BenchWeb(web, "\n".join(seeds) + "\n", tuple(urls))


def _page(
    rng: random.Random,
    site: int,
    page: int,
    per_site: int,
    text: list[str],
    script: str,
    style: str,
) -> str:
    host = _site(site)
    directory = f"/section/{page % 10}/"
    links: list[str] = []
    for n in range(1, 13):
        links.append(f'<a class="nav" href="{_path(n % per_site)}">Section {n}</a>')
    targets = [2 * page + 1, 2 * page + 2] + [rng.randrange(per_site) for _ in range(46)]
    for n, target in enumerate(targets):
        target %= per_site
        path = _path(target)
        if n % 3 == 0:
            href = path
        elif n % 3 == 1 and target and page:
            # "../N/article-T.html" from /section/D/ lands on /section/N/article-T.html
            # (not from the home page, whose directory is the root).
            href = "../" + path[len("/section/") :]
        else:
            href = f"http://{host}{path}"
        if n % 7 == 0:
            href += "#comments"
        links.append(f'<a href="{href}">Read {" ".join(rng.sample(_WORDS, 3))}</a>')
    for _ in range(8):
        other = rng.choice([s for s in range(SITES) if s != site] or [site])
        links.append(
            f'<a href="http://{_site(other)}{_path(rng.randrange(per_site))}">Partner {other}</a>'
        )
    for n in range(30):
        domain = f"ext-{rng.randrange(400)}.example-{rng.randrange(40)}.org"
        href = f"https://{domain}/path/{rng.randrange(10_000)}?id={n}"
        if n % 4 == 0:
            href += "&utm_source=bench&utm_medium=link"
        rel = ("", ' rel="nofollow"', ' rel="ugc nofollow"', ' rel="sponsored"')[n % 4]
        if n % 5 == 0:
            inner = f'<img src="/img/{n}.png" alt="Logo {domain}">'
        else:
            inner = f"External {' '.join(rng.sample(_WORDS, 4))}"
        links.append(f'<a href="{href}"{rel} target="_blank">{inner}</a>')
    links.append('<a href="mailto:editor@bench.example">Mail</a>')
    links.append('<a href="javascript:void(0)">Menu</a>')
    rng.shuffle(links)
    body: list[str] = []
    size = 0
    while links or size < 41_000:
        paragraph = rng.choice(text)
        chunk = links.pop() if links else ""
        body.append(f'<div class="row">{paragraph}{chunk}</div>')
        size += len(paragraph) + len(chunk) + 20
    canonical = f'<link rel="canonical" href="http://{host}{_path(page)}">'
    return (
        f'<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>Page {page}'
        f"</title>{canonical}{script}{style}</head><body><nav>{directory}</nav>"
        + "".join(body)
        + "</body></html>"
    )


async def _client(host: str, port: int, urls: list[str], deadline: float) -> tuple[int, int]:
    reader, writer = await asyncio.open_connection(host, port)
    rng = random.Random(port)
    done = received = 0
    try:
        while time.monotonic() < deadline:
            url = rng.choice(urls)
            hostname = url.split("/", 3)[2]
            writer.write(f"GET {url} HTTP/1.1\r\nHost: {hostname}\r\n\r\n".encode())
            headers = await reader.readuntil(b"\r\n\r\n")
            length = 0
            for line in headers.split(b"\r\n"):
                if line.lower().startswith(b"content-length:"):
                    length = int(line.split(b":", 1)[1])
            await reader.readexactly(length)
            done += 1
            received += length
    finally:
        writer.close()
    return done, received


async def _ceiling(host: str, port: int, urls: list[str], seconds: float, clients: int) -> float:
    deadline = time.monotonic() + seconds
    started = time.monotonic()
    results = await asyncio.gather(*(_client(host, port, urls, deadline) for _ in range(clients)))
    return sum(done for done, _ in results) / (time.monotonic() - started)


def server_ceiling(
    host: str, port: int, urls: list[str], seconds: float = 3.0, clients: int = 16
) -> float:
    """Pages per second the proxy at ``host:port`` serves to a bare keep-alive client."""
    return asyncio.run(_ceiling(host, port, urls, seconds, clients))
