"""Spider traps with default settings: what a trap host costs, and a large site crawled whole.

One ``linkgraph crawl``, with nothing but its defaults (and no delay), over
the trap web of the tests (an endless calendar, session ids in paths,
ever-deeper repeated segments, a subdomain per number) served beside a host
of thousands of distinct pages (``big-site.com``). The crawl must finish by
itself; the figures are the fetches of the costliest trap host against what
bounds it without the rules (the per-host page cap), and the share of the
distinct host that was crawled (docs/crawling.md#spider-traps).

The webs come from the test suite (``tests/synthweb/trapweb.py``): the
benchmarks run from a checkout.
"""

from __future__ import annotations

import os
import tempfile
import time
from collections import Counter
from pathlib import Path
from urllib.parse import urlsplit

from bench.common import Figure, Note, Result, linkgraph_cli, run_child, say
from linkcore import config

__all__ = ["run"]

#: Fetches a trap host may cost with defaults: "a few hundred".
TRAP_BOUND = 300


def run(*, quick: bool = False) -> Result:
    """Fetches per trap host and the share of the distinct host a default crawl makes."""
    from linkgraph.demo.server import NOT_PAGES, ProxyServer
    from tests.synthweb.trapweb import BIG, CAL, DEEP, SHOP, subdomain_level
    from tests.synthweb.trapweb import build_trap_and_distinct_web as build

    pages = 500 if quick else 5000
    web = build(pages)
    root = Path(tempfile.mkdtemp(prefix="linkgraph-bench-traps-"))
    seeds = root / "seeds.txt"
    seeds.write_text(web.seeds_file_text(), encoding="utf-8")
    with ProxyServer(web) as proxy:
        env = {k: v for k, v in os.environ.items() if not k.startswith("LINKGRAPH_")}
        env.update(http_proxy=proxy.url, https_proxy=proxy.url, no_proxy="")
        say(f"traps: default crawl of the trap web beside a {pages}-page distinct host")
        started = time.monotonic()
        child = run_child(
            [
                *linkgraph_cli(),
                "crawl",
                "--seeds",
                str(seeds),
                "--data-dir",
                str(root / "index"),
                "--delay",
                "0",
                "--no-autothrottle",
                "--per-host",
                "16",
                "--concurrency",
                "32",
            ],
            env=env,
        )
        elapsed = time.monotonic() - started
        if child.returncode != 0:
            raise RuntimeError(f"linkgraph crawl failed: {child.stderr.strip()[-2000:]}")
        fetched = [r.url for r in proxy.log.entries() if not r.url.endswith(NOT_PAGES)]
    hosts = Counter(urlsplit(url).hostname or "" for url in fetched)
    cost = {
        "calendar": hosts[CAL],
        "session ids": hosts[SHOP],
        "repeated segments": hosts[DEEP],
        "a host per number": sum(n for h, n in hosts.items() if subdomain_level(h) is not None),
    }
    big = len({url for url in fetched if urlsplit(url).hostname == BIG})
    whole = sum(1 for url in web.resources if urlsplit(url).hostname == BIG)
    declined = [line for line in child.stderr.splitlines() if "declined as a trap" in line]
    cap = config.LINKGRAPH_MAX_PAGES_PER_HOST
    worst = max(cost.values())
    return Result(
        figures=[
            Figure(
                f"traps: fetches on the costliest trap host, defaults (target ≤ {TRAP_BOUND})",
                "fetches",
                worst,
                cap,
                "the per-host page cap, a trap's bound without the rules",
                target=cap / TRAP_BOUND,
                higher_is_better=False,
            ),
            Figure(
                f"traps: share of a {whole:,}-page distinct host crawled, defaults",
                "share",
                big / whole,
                1.0,
                "the whole host",
                target=1.0,
            ),
        ],
        notes=[
            Note(
                "traps: fetches per trap host",
                worst,
                "fetches (most)",
                ", ".join(f"{name} {n}" for name, n in cost.items())
                + f"; the crawl finished by itself in {elapsed:.0f} s, {len(fetched)} pages; "
                + "; ".join(line.removeprefix("linkgraph: ") for line in declined),
            )
        ],
    )
