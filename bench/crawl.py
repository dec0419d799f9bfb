"""Crawl pages per second: ``linkgraph crawl`` against a stock Scrapy spider.

Both crawl the whole benchmark web (:mod:`bench.web`) through the
synthetic web proxy, which runs in its own process; each crawl is a fresh
process, ours into a fresh embedded index. Runs alternate; the figure is the
median pages/s, as each crawler reports it from the start to the end of its
crawl (process start-up and opening the index excluded on both sides).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from bench.common import (
    Figure,
    Note,
    Result,
    alternate,
    linkgraph_cli,
    median,
    python,
    run_child,
)
from bench.web import build_bench_web, server_ceiling

__all__ = ["CONCURRENCY", "PER_HOST", "Server", "crawl_env", "run", "serve"]

#: Settings both crawlers run with.
CONCURRENCY = 32
PER_HOST = 16

_SUMMARY = re.compile(r"crawled (\d+) pages, stored (\d+) edges in ([\d.]+) s")


@dataclass(frozen=True, slots=True)
class Server:
    """A running benchmark web proxy process."""

    process: subprocess.Popen[bytes]
    port: int

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


@contextmanager
def serve(pages: int, root: Path, *, validators: bool = False) -> Iterator[Server]:
    """The benchmark web of ``pages`` pages, served by a proxy in its own process
    (answering conditional requests with ``validators``)."""
    port_file = root / "proxy.port"
    process = subprocess.Popen(
        [
            *python(),
            "serve",
            "--pages",
            str(pages),
            "--port-file",
            str(port_file),
            *(["--validators"] if validators else []),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 120
        while not port_file.exists():
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("the benchmark web proxy did not start")
            time.sleep(0.05)
        yield Server(process, int(port_file.read_text()))
    finally:
        process.terminate()
        process.wait(30)


def crawl_env(server: Server) -> dict[str, str]:
    """This environment, pointed at the proxy, without the user's linkgraph settings."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("LINKGRAPH_") and k.lower() not in ("http_proxy", "https_proxy")
    }
    env.update(http_proxy=server.url, https_proxy=server.url, no_proxy="")
    return env


def run(*, quick: bool = False) -> Result:
    """Median pages/s of ours and the stock spider, plus the proxy's own ceiling."""
    pages = 240 if quick else 2000
    runs = 1 if quick else 3
    bench = build_bench_web(pages)
    root = Path(tempfile.mkdtemp(prefix="linkgraph-bench-crawl-"))
    seeds = root / "seeds.txt"
    seeds.write_text(bench.seeds_text, encoding="utf-8")
    ours_rss: list[int] = []
    ours_pages: list[int] = []
    ours_edges: list[int] = []
    stock_pages: list[int] = []
    try:
        with serve(pages, root) as server:
            env = crawl_env(server)
            ceiling = server_ceiling("127.0.0.1", server.port, list(bench.page_urls))

            def ours() -> float:
                data = root / f"index-{len(ours_rss)}"
                child = run_child(
                    [
                        *linkgraph_cli(),
                        "crawl",
                        "--seeds",
                        str(seeds),
                        "--data-dir",
                        str(data),
                        "--allow-private-networks",
                        "--delay",
                        "0",
                        "--no-autothrottle",
                        "--concurrency",
                        str(CONCURRENCY),
                        "--per-host",
                        str(PER_HOST),
                    ],
                    env=env,
                )
                shutil.rmtree(data, ignore_errors=True)
                match = _SUMMARY.search(child.stderr)
                if child.returncode != 0 or match is None:
                    raise RuntimeError(f"linkgraph crawl failed: {child.stderr.strip()[-2000:]}")
                ours_rss.append(child.max_rss_kib)
                ours_pages.append(int(match.group(1)))
                ours_edges.append(int(match.group(2)))
                return int(match.group(1)) / float(match.group(3))

            def stock() -> float:
                child = run_child(
                    [
                        *python(),
                        "stock-crawl",
                        "--seeds",
                        str(seeds),
                        "--concurrency",
                        str(CONCURRENCY),
                        "--per-host",
                        str(PER_HOST),
                    ],
                    env=env,
                )
                result = child.json()
                stock_pages.append(int(result["pages"]))
                return int(result["pages"]) / float(result["elapsed"])

            mine, theirs = alternate(ours, stock, runs)
    finally:
        shutil.rmtree(root, ignore_errors=True)
    if set(ours_pages) != {pages} or set(stock_pages) != {pages}:
        raise RuntimeError(
            f"crawlers fetched different pages: ours {ours_pages}, stock {stock_pages}, web {pages}"
        )
    return Result(
        figures=[
            Figure(
                "crawl, one process, embedded index",
                "pages/s",
                median(mine),
                median(theirs),
                "stock Scrapy CrawlSpider + LinkExtractor",
                target=3.0,
                runs=runs,
            ),
            Figure(
                "synthetic web proxy ceiling (bare keep-alive client)",
                "pages/s",
                ceiling,
                None,
                "—",
            ),
        ],
        notes=[
            Note("crawl: pages/s (ours)", median(mine), "pages/s", f"{pages} pages of ~60 KB"),
            Note(
                "crawl: edges/s stored (ours)",
                median(mine) * median(ours_edges) / pages,
                "edges/s",
                f"{median(ours_edges):.0f} edges per crawl",
            ),
            Note("peak RSS, linkgraph crawl", max(ours_rss) / 1024, "MiB", ""),
        ],
    )
