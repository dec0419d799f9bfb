"""``make demo``: crawl a small web served on loopback and ask who links to one site.

This machine may have no internet, so the demo serves the synthetic demo web
(:mod:`linkgraph.demo.web`) from memory as an HTTP proxy on 127.0.0.1,
points ``http_proxy`` at it, and runs the real commands a user would run::

    linkgraph crawl --seeds seeds.txt --data-dir DIR
    linkgraph backlinks tinkerbox.co.uk --data-dir DIR
    linkgraph rank --data-dir DIR
    linkgraph refdomains tinkerbox.co.uk --data-dir DIR --sort authority

The index is left in ``.run/demo/data`` for further questions.
"""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

from linkcore import config
from linkgraph.demo.server import ProxyServer
from linkgraph.demo.web import DEMO_SEEDS, DEMO_TARGET, build_demo_web

LINKGRAPH = str(Path(sys.executable).parent / "linkgraph")


def _run(args: list[str], env: dict[str, str]) -> None:
    print(f"\n$ linkgraph {shlex.join(args)}", flush=True)
    result = subprocess.run([LINKGRAPH, *args], env=env, check=False)
    if result.returncode != 0:
        raise SystemExit(f"demo: `linkgraph {args[0]}` failed with exit {result.returncode}")


def main() -> int:
    """Serve the demo web, crawl it, print backlinks; returns the exit status."""
    root = Path(config.DEMO_DIR.resolve())
    data = root / "data"
    if data.exists():
        shutil.rmtree(data)
    root.mkdir(parents=True, exist_ok=True)
    seeds = root / "seeds.txt"
    seeds.write_text("# the demo web's sites\n" + "\n".join(DEMO_SEEDS) + "\n", encoding="utf-8")

    with ProxyServer(build_demo_web()) as proxy:
        env = {k: v for k, v in os.environ.items() if k.lower() not in ("no_proxy",)}
        env["http_proxy"] = proxy.url
        print(
            f"demo: serving a {len(DEMO_SEEDS)}-site web on loopback via http_proxy={proxy.url}",
            flush=True,
        )
        _run(
            [
                "crawl",
                "--seeds",
                str(seeds),
                "--data-dir",
                str(data),
                "--delay",
                "0",
                "--per-host",
                "4",
                "--no-autothrottle",
            ],
            env,
        )
    _run(
        ["backlinks", DEMO_TARGET, "--data-dir", str(data), "--format", "table", "--limit", "15"],
        env,
    )
    _run(["rank", "--data-dir", str(data)], env)
    _run(
        [
            "refdomains",
            DEMO_TARGET,
            "--data-dir",
            str(data),
            "--format",
            "table",
            "--sort",
            "authority",
        ],
        env,
    )
    _run(
        ["anchors", DEMO_TARGET, "--data-dir", str(data), "--format", "table", "--limit", "10"], env
    )
    print(f"\ndemo: the index is in {data}; try `linkgraph stats --data-dir {data}`")
    return 0
