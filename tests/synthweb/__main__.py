"""``python -m tests.synthweb``: serve a synthetic web, or print its seeds.

``serve`` binds the proxy (``--port 0``: any free port), prints
``synthweb serving WEB on http://127.0.0.1:PORT`` and, with ``--port-file``,
writes the port number to that file (atomically, once listening). ``--log``
appends one JSON line per request. SIGTERM and SIGINT stop it cleanly, exit 0.

``seeds`` prints a seeds file for the web (``--output`` to write it).
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import threading
from pathlib import Path
from types import FrameType

from linkgraph.demo.server import ProxyServer, RequestLog
from tests.synthweb import WEBS, build_web


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m tests.synthweb", description="A synthetic web on loopback."
    )
    commands = parser.add_subparsers(dest="command", required=True)
    serve = commands.add_parser("serve", help="serve a web as an HTTP proxy")
    serve.add_argument("--web", choices=WEBS, default="test", help="which web (default: test)")
    serve.add_argument("--seed", type=int, default=None, help="random seed of the test web")
    serve.add_argument("--host", default="127.0.0.1", help="address to bind (default: 127.0.0.1)")
    serve.add_argument("--port", type=int, default=0, help="port to bind; 0 = any free port")
    serve.add_argument("--port-file", type=Path, help="write the bound port to this file")
    serve.add_argument("--log", type=Path, help="append one JSON line per request to this file")
    seeds = commands.add_parser("seeds", help="print a seeds file for a web")
    seeds.add_argument("--web", choices=WEBS, default="test", help="which web (default: test)")
    seeds.add_argument("--seed", type=int, default=None, help="random seed of the test web")
    seeds.add_argument("--output", type=Path, help="write to this file instead of stdout")
    return parser


def _write_atomically(path: Path, text: str) -> None:
    partial = path.with_name(path.name + ".partial")
    partial.write_text(text, encoding="utf-8")
    os.replace(partial, path)


def _serve(args: argparse.Namespace) -> int:
    web = build_web(args.web, args.seed)
    try:
        proxy = ProxyServer(web, host=args.host, port=args.port, log=RequestLog(args.log))
    except OSError as error:
        print(f"synthweb: cannot listen on {args.host}:{args.port}: {error}", file=sys.stderr)
        return 1
    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    with proxy:
        if args.port_file is not None:
            _write_atomically(args.port_file, f"{proxy.port}\n")
        print(f"synthweb serving {args.web} on {proxy.url}", flush=True)
        # Event.wait with a timeout keeps the main thread responsive to signals.
        while not stop.wait(0.5):
            pass
    print(f"synthweb stopped after {len(proxy.log)} requests", flush=True)
    return 0


def main(argv: list[str] | None = None) -> int:
    """Run the command line; returns the exit status."""
    args = _parser().parse_args(argv)
    if args.command == "serve":
        return _serve(args)
    text = build_web(args.web, args.seed).seeds_file_text()
    if args.output is not None:
        args.output.write_text(text, encoding="utf-8")
    else:
        sys.stdout.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
