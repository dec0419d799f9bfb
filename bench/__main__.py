"""``python -m bench``: run the benchmarks, or one of their child processes.

``run [--quick] [--only NAME,…] [--no-readme] [--json FILE]`` runs the
benchmarks, prints the table and (unless ``--quick`` or ``--no-readme``)
rewrites README.md's benchmark section. The other commands are the child
processes the benchmarks start: ``serve`` (the benchmark web proxy),
``stock-crawl``, ``consumer-child`` and ``bare-child``.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import signal
import sys
import threading
import time
from pathlib import Path
from types import FrameType

from bench import BENCHMARKS
from bench.common import Figure, Note, machine, say
from bench.report import markdown, update_readme


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m bench")
    commands = parser.add_subparsers(dest="command", required=True)
    run = commands.add_parser("run", help="run the benchmarks and print the table")
    run.add_argument("--quick", action="store_true", help="small workloads, one run each")
    run.add_argument(
        "--only", default="", metavar="NAME,…", help=f"some of: {', '.join(BENCHMARKS)}"
    )
    run.add_argument("--no-readme", action="store_true", help="do not rewrite README.md")
    run.add_argument("--readme", type=Path, default=Path("README.md"), help="README to update")
    run.add_argument("--json", type=Path, help="also write the figures as JSON to this file")
    serve = commands.add_parser("serve", help="serve the benchmark web as a proxy")
    serve.add_argument("--pages", type=int, required=True)
    serve.add_argument("--port-file", type=Path, required=True)
    serve.add_argument(
        "--validators", action="store_true", help="answer conditional requests (ETag, 304)"
    )
    stock = commands.add_parser("stock-crawl", help="the stock Scrapy spider")
    stock.add_argument("--seeds", required=True)
    stock.add_argument("--concurrency", type=int, required=True)
    stock.add_argument("--per-host", type=int, required=True)
    child = commands.add_parser("consumer-child", help="the real consumer, timed")
    child.add_argument("--data-dir", required=True)
    child.add_argument("--topic", required=True)
    child.add_argument("--edges", type=int, required=True)
    child.add_argument("--batch-pages", type=int, required=True)
    bare = commands.add_parser("bare-child", help="the bare insert, timed")
    bare.add_argument("--data-dir", required=True)
    bare.add_argument("--pages", type=int, required=True)
    bare.add_argument("--batch-pages", type=int, required=True)
    return parser


def _serve(pages: int, port_file: Path, validators: bool = False) -> int:
    from bench.web import build_bench_web
    from linkgraph.demo.server import ProxyServer

    web = build_bench_web(pages).web
    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    with ProxyServer(web, validators=validators) as proxy:
        partial = port_file.with_name(port_file.name + ".partial")
        partial.write_text(str(proxy.port), encoding="utf-8")
        os.replace(partial, port_file)
        while not stop.wait(0.5):
            # The request log is for tests; a long benchmark must not grow it.
            proxy.log.clear()
    return 0


def _run(args: argparse.Namespace) -> int:
    names = [name.strip() for name in args.only.split(",") if name.strip()] or list(BENCHMARKS)
    unknown = [name for name in names if name not in BENCHMARKS]
    if unknown:
        print(f"unknown benchmark {', '.join(unknown)}; choose from {', '.join(BENCHMARKS)}")
        return 2
    figures: list[Figure] = []
    notes: list[Note] = []
    started = time.monotonic()
    for name in names:
        say(f"{name} …")
        began = time.monotonic()
        module = importlib.import_module(f"bench.{name}")
        result = module.run(quick=args.quick)
        figures.extend(result.figures)
        notes.extend(result.notes)
        say(f"{name} took {time.monotonic() - began:.0f} s")
    notes.append(Note("benchmark run", time.monotonic() - started, "s", "all of the above"))
    host = machine()
    table = markdown(figures, notes, host, quick=args.quick)
    print(table)
    if args.json:
        args.json.write_text(
            json.dumps(
                {
                    "figures": [figure.to_dict() for figure in figures],
                    "notes": [_note(note) for note in notes],
                    "machine": host,
                },
                indent=2,
            ),
            encoding="utf-8",
        )
    if not args.quick and not args.no_readme and set(names) == set(BENCHMARKS):
        if update_readme(args.readme, table):
            say(f"table written to {args.readme}")
        else:
            say(f"{args.readme} has no benchmark markers; not written")
    return 0


def _note(note: Note) -> dict[str, object]:
    return {"name": note.name, "value": note.value, "unit": note.unit, "detail": note.detail}


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``python -m bench``."""
    args = _parser().parse_args(argv)
    if args.command == "run":
        return _run(args)
    if args.command == "serve":
        return _serve(args.pages, args.port_file, args.validators)
    if args.command == "stock-crawl":
        from bench.stock import main as stock_main

        return stock_main(args.seeds, args.concurrency, args.per_host)
    if args.command == "consumer-child":
        from bench.consumer import main_consumer

        return main_consumer(args.data_dir, args.topic, args.edges, args.batch_pages)
    from bench.consumer import main_bare

    return main_bare(args.data_dir, args.pages, args.batch_pages)


if __name__ == "__main__":
    sys.exit(main())
