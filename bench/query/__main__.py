"""``python -m bench.query generate|run``: the query benchmark's commands (``make bench-query``)."""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict
from pathlib import Path

from bench.common import BenchError, Client, linkgraph_cli, machine, say
from bench.query.dataset import (
    CHUNK_EDGES,
    GENERATOR_VERSION,
    META_FILE,
    generate,
    load_dataset,
    mid_domain,
)
from bench.query.timing import disk_use, queries_for, table, time_queries
from linkindex.client import open_index, resolve_location

#: Seconds ``linkgraph serve`` may take to answer after it starts.
SERVE_START_SECONDS = 300


class ServeFailed(Exception):
    """``linkgraph serve`` did not come up: the message says how."""


def cmd_generate(args: argparse.Namespace) -> int:
    data_dir = Path(args.data_dir).resolve()
    existing = load_dataset(data_dir)
    if (
        existing is not None
        and existing.edges == args.edges
        and existing.seed == args.seed
        and existing.version == GENERATOR_VERSION
        and existing.context == args.context
    ):
        say(f"{data_dir} already holds {existing.edges:,} edges (seed {existing.seed}); kept")
        if not existing.mid_domain:  # recorded by an earlier version of this command
            index = open_index(resolve_location(str(data_dir), None), create=False)
            for name, value in mid_domain(index, existing.edges).items():
                setattr(existing, name, value)
            (data_dir / META_FILE).write_text(json.dumps(asdict(existing), indent=2) + "\n")
        return 0
    if data_dir.exists():
        say(f"removing the old dataset in {data_dir}")
        shutil.rmtree(data_dir)
    index = open_index(resolve_location(str(data_dir), None), create=True)
    dataset = generate(
        index,
        args.edges,
        args.seed,
        chunk_edges=args.chunk,
        optimize=not args.no_optimize,
        context=args.context,
        progress=say,
    )
    (data_dir / META_FILE).write_text(json.dumps(asdict(dataset), indent=2) + "\n")
    say(
        f"head domain {dataset.head_domain}: {dataset.head_backlinks:,} backlinks; "
        f"URL {dataset.url_target}: {dataset.url_backlinks:,}"
    )
    return 0


@contextmanager
def serving(data_dir: Path) -> Iterator[tuple[Client, str]]:
    """``linkgraph serve`` on ``data_dir`` in a child process: a client of it, and its database.

    Raises :class:`ServeFailed` if the server stops or does not answer within
    :data:`SERVE_START_SECONDS`; the server is stopped on the way out.
    """
    from linkgraph import api

    server = subprocess.Popen(
        [*linkgraph_cli(), "serve", "--data-dir", str(data_dir), "--port", "0"],
        stdin=subprocess.DEVNULL,
    )
    try:
        started = time.monotonic()
        running = None
        while running is None:
            if server.poll() is not None:
                raise ServeFailed("linkgraph serve stopped before it answered")
            if time.monotonic() - started > SERVE_START_SECONDS:
                raise ServeFailed(f"linkgraph serve did not answer within {SERVE_START_SECONDS} s")
            time.sleep(0.2)
            running = api.running_server(data_dir)
        yield Client(running.url, running.token), str(running.extra.get("database", "linkgraph"))
    finally:
        server.terminate()
        server.wait(timeout=60)


def _machine_line() -> str:
    """One line about this machine: CPU model, cores, memory."""
    host = machine()
    memory = f", {host['ram']} RAM" if host["ram"] else ""
    return f"{host['cpu']}, {host['cores']} cores{memory}"


def cmd_run(args: argparse.Namespace) -> int:
    data_dir = Path(args.data_dir).resolve()
    dataset = load_dataset(data_dir)
    if dataset is None:
        say(f"no dataset in {data_dir}: run `python -m bench.query generate` first")
        return 2
    try:
        with serving(data_dir) as (client, database):
            endpoints = {
                path.rsplit("/", 1)[-1] for path in client.get("/openapi.json").get("paths", {})
            }
            timings = time_queries(
                client, queries_for(dataset, endpoints), runs=args.runs, warmup=args.warmup
            )
            disk = disk_use(client, database)
    except (ServeFailed, BenchError, OSError) as error:
        say(str(error))
        return 1
    host = _machine_line()
    print(
        f"Machine: {host}; {dataset.edges:,} edges, {dataset.domains:,} domains, "
        f"{dataset.source_pages:,} source pages (seed {dataset.seed})."
    )
    print(
        f"Head domain {dataset.head_domain}: {dataset.head_backlinks:,} external backlinks; "
        f"URL {dataset.url_target}: {dataset.url_backlinks:,}; outlinks of "
        f"{dataset.source_url} ({dataset.source_outlinks}).\n"
    )
    print(table(dataset, timings, disk))
    results = {
        "dataset": asdict(dataset),
        "machine": host,
        "timings": [
            {
                "label": t.query.label,
                "endpoint": t.query.endpoint,
                "params": t.query.params,
                "median_ms": t.median_ms,
                "p95_ms": t.p95_ms,
                "samples_ms": t.samples_ms,
            }
            for t in timings
        ],
        "disk": asdict(disk),
    }
    (data_dir.parent / f"{data_dir.name}-results.json").write_text(json.dumps(results, indent=2))
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.query",
        description="Scale benchmark of the query path (make bench-query).",
    )
    commands = parser.add_subparsers(dest="command", required=True)
    gen = commands.add_parser("generate", help="generate a synthetic link graph into DATA_DIR")
    gen.add_argument("--data-dir", required=True, help="the embedded index's directory")
    gen.add_argument("--edges", type=int, default=100_000_000, help="edges (default: %(default)s)")
    gen.add_argument("--seed", type=int, default=1, help="random seed (default: %(default)s)")
    gen.add_argument("--chunk", type=int, default=CHUNK_EDGES, help="edges per INSERT")
    gen.add_argument(
        "--no-optimize", action="store_true", help="leave merging to the background merges"
    )
    gen.add_argument(
        "--no-context",
        dest="context",
        action="store_false",
        help="links without location and texts, pages without facts (the index before them)",
    )
    gen.set_defaults(handler=cmd_generate)
    run = commands.add_parser("run", help="time the queries through linkgraph serve")
    run.add_argument("--data-dir", required=True, help="the embedded index's directory")
    run.add_argument("--runs", type=int, default=30, help="timed runs per query")
    run.add_argument("--warmup", type=int, default=3, help="untimed runs per query first")
    run.set_defaults(handler=cmd_run)
    args = parser.parse_args(argv)
    handler: Callable[[argparse.Namespace], int] = args.handler
    return handler(args)


if __name__ == "__main__":
    sys.exit(main())
