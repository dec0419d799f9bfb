"""What a revisit saves: bytes downloaded and CPU seconds, 304s against a re-crawl.

The benchmark web (:mod:`bench.web`), served by a proxy that answers
conditional requests, is crawled once into an embedded index (not measured).
Then, alternately, ``linkgraph crawl --revisit`` (every page comes back 304:
nothing changed) and a plain ``linkgraph crawl`` of the same seeds into the
same index (every page downloaded and parsed again, no validators sent). Bytes
are Scrapy's ``downloader/response_bytes`` (status lines, headers and bodies
as received) from the crawl's stats; CPU seconds are the crawl process's
user + system time, start-up and opening the index included on both sides.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import tempfile
from pathlib import Path

from bench.common import Figure, Note, Result, alternate, linkgraph_cli, median, reap
from bench.crawl import CONCURRENCY, PER_HOST, crawl_env, serve
from bench.web import build_bench_web

__all__ = ["run"]

_BYTES = re.compile(r"'downloader/response_bytes': (\d+)")
_SUMMARY = re.compile(r"revisited (\d+) pages: (\d+) unchanged")


def _crawl(args: list[str], env: dict[str, str], log: Path) -> tuple[float, int, str]:
    """Run ``linkgraph crawl ARGS``; (CPU seconds, response bytes, stderr)."""
    with open(log, "w+", encoding="utf-8") as err:
        process = subprocess.Popen(
            [*linkgraph_cli(), "crawl", *args], env=env, stdout=subprocess.DEVNULL, stderr=err
        )
        code, cpu, _ = reap(process, 900)
        err.seek(0)
        stderr = err.read()
    match = _BYTES.search(stderr)
    if code != 0 or match is None:
        raise RuntimeError(f"linkgraph crawl {' '.join(args[:1])}… failed: {stderr[-2000:]}")
    return cpu, int(match.group(1)), stderr


def run(*, quick: bool = False) -> Result:
    """Median bytes and CPU seconds of a revisit of an unchanged site and of a re-crawl."""
    pages = 120 if quick else 400
    runs = 1 if quick else 3
    bench = build_bench_web(pages)
    root = Path(tempfile.mkdtemp(prefix="linkgraph-bench-revisit-"))
    seeds = root / "seeds.txt"
    seeds.write_text(bench.seeds_text, encoding="utf-8")
    data = root / "index"
    common = [
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
        # INFO: Scrapy's closing stats, with the bytes received, go to stderr.
        "-v",
    ]
    revisit_bytes: list[int] = []
    recrawl_bytes: list[int] = []
    try:
        with serve(pages, root, validators=True) as server:
            env = crawl_env(server)
            _crawl(common, env, root / "first.log")

            def revisit() -> float:
                cpu, received, stderr = _crawl([*common, "--revisit"], env, root / "revisit.log")
                summary = _SUMMARY.search(stderr)
                if summary is None or int(summary.group(2)) < pages:
                    raise RuntimeError(f"the revisit was not all 304s: {stderr[-1000:]}")
                revisit_bytes.append(received)
                return cpu

            def recrawl() -> float:
                cpu, received, _ = _crawl(common, env, root / "recrawl.log")
                recrawl_bytes.append(received)
                return cpu

            revisit_cpu, recrawl_cpu = alternate(revisit, recrawl, runs)
    finally:
        shutil.rmtree(root, ignore_errors=True)
    mib = 1024 * 1024
    return Result(
        figures=[
            Figure(
                "revisit of an unchanged site (304s): bytes downloaded",
                "MiB",
                median(revisit_bytes) / mib,
                median(recrawl_bytes) / mib,
                "re-crawl without validators",
                higher_is_better=False,
                runs=runs,
            ),
            Figure(
                "revisit of an unchanged site (304s): CPU of the crawl process",
                "s",
                median(revisit_cpu),
                median(recrawl_cpu),
                "re-crawl without validators",
                higher_is_better=False,
                runs=runs,
            ),
        ],
        notes=[
            Note(
                "revisit: bytes per page",
                median(revisit_bytes) / pages,
                "B",
                f"re-crawl: {median(recrawl_bytes) / pages:.0f} B per page of {pages}",
            ),
        ],
    )
