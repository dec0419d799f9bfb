"""Helpers for tests that crawl the synthetic web with the real CLI and read the answers.

``crawl_web`` runs ``linkgraph crawl`` over a web through its proxy and
exports what the index then holds; ``json_records`` reads the records a query
command printed with ``--format json``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from linkgraph.demo.server import LoggedRequest
from tests.synthweb import Expectation, ProxyServer, SyntheticWeb, expect

#: The crawl flags of every run: as fast as the proxy allows, no progress display.
CRAWL_FLAGS = ("--delay", "0", "--per-host", "8", "--no-autothrottle", "--quiet")


@dataclass
class Crawl:
    """One ``linkgraph crawl`` run: what was asked, requested and exported."""

    web: SyntheticWeb
    expectation: Expectation
    data_dir: Path
    requests: list[LoggedRequest]
    records: list[dict[str, Any]]


def crawl_web(
    cli,
    web: SyntheticWeb,
    proxy: ProxyServer,
    workdir: Path,
    *,
    max_depth: int = -1,
    extra: tuple[str, ...] = (),
    data_dir: Path | None = None,
) -> Crawl:
    """Crawl ``web`` with the CLI, then export the index; the log covers this crawl only.

    ``cli`` must run its commands through ``proxy``, which must serve ``web``.
    """
    seeds = workdir / "seeds.txt"
    seeds.write_text(web.seeds_file_text(), encoding="utf-8")
    data_dir = data_dir or workdir / "index"
    args = ["crawl", "--seeds", str(seeds), "--data-dir", str(data_dir), *CRAWL_FLAGS]
    if max_depth >= 0:
        args += ["--max-depth", str(max_depth)]
    args += extra
    proxy.log.clear()
    cli.run(*args)
    requests = proxy.log.entries()
    export = cli.run("export", "edges", "--format", "jsonl", "--data-dir", str(data_dir))
    records = [json.loads(line) for line in export.stdout.splitlines() if line.strip()]
    return Crawl(web, expect(web, max_depth=max_depth), data_dir, requests, records)


def json_records(text: str) -> list[dict[str, Any]]:
    """The records of a query command's ``--format json`` output."""
    payload = json.loads(text)
    if isinstance(payload, dict):
        lists = [value for value in payload.values() if isinstance(value, list)]
        assert len(lists) == 1, f"cannot find the records in {sorted(payload)}"
        payload = lists[0]
    assert isinstance(payload, list), type(payload)
    return payload
