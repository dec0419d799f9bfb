"""``linkgraph``: the command line (docs/commands.md).

Every command validates its input first and reports a bad input as one line
on stderr with a non-zero exit (2 for usage errors, 1 for runtime failures),
never a traceback. ``LINKGRAPH_DEBUG=1`` adds tracebacks for bug reports.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import sys
import warnings
from collections.abc import Sequence
from typing import NoReturn

from linkcore import config
from linkcore.errors import LinkgraphError
from linkgraph import __version__
from linkgraph.cli import admin, crawl, ingest, job, query, services
from linkgraph.cli.options import PROG, Parser

log = logging.getLogger("linkgraph")


class _Terminated(BaseException):
    """SIGTERM arrived before a service installed its own graceful handler.

    A BaseException, like KeyboardInterrupt: library code that catches
    ``Exception`` (Kafka error translation, Scrapy's lazy handler loading) must
    not swallow it and carry on as if no signal had come.
    """


def _terminate_early(signum: int, frame: object) -> None:
    raise _Terminated


# -- parser ----------------------------------------------------------------------


def build_parser() -> Parser:
    parser = Parser(
        prog=PROG,
        description="A backlink index: crawl sites, store every link, ask who links to X.",
    )
    parser.add_argument("--version", action="version", version=f"{PROG} {__version__}")
    parser.add_argument(
        "-v", "--verbose", action="count", default=0, help="more log output (repeat for debug)"
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=Parser)
    commands.required = True

    crawl.register(commands)
    ingest.register(commands)
    job.register(commands)
    services.register_worker(commands)
    services.register_consume(commands)
    query.register(commands)
    services.register_serve(commands)
    query.register_report(commands)
    admin.register(commands)
    return parser


# -- entry point -----------------------------------------------------------------


class _OneLine(logging.Formatter):
    """Log records as one line; exceptions as their one-line summary."""

    def format(self, record: logging.LogRecord) -> str:
        message = record.getMessage()
        if record.exc_info and record.exc_info[1] is not None and not config.DEBUG.resolve():
            error = record.exc_info[1]
            message = f"{message}: {type(error).__name__}: {error}"
            record.exc_info = None
            record.exc_text = None
        return " ".join(f"{PROG}: {record.levelname.lower()}: {message}".split("\n"))


class _QuietLibraries(logging.Filter):
    """Drops library log records below CRITICAL (see ``_setup_logging``)."""

    _NAMES = ("scrapy", "kafka", "twisted", "py.warnings", "protego", "filelock", "uvicorn")

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno >= logging.CRITICAL:
            return True
        return record.name.split(".", 1)[0] not in self._NAMES


def _setup_logging(verbose: int) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(
        _OneLine()
        if not config.DEBUG.resolve()
        else logging.Formatter("%(asctime)s %(name)s %(levelname)s %(message)s")
    )
    # The level sits on the handler: Scrapy resets the root logger's level when
    # a crawl starts.
    handler.setLevel(logging.DEBUG if verbose > 1 else logging.INFO if verbose else logging.WARNING)
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(handler.level)
    if not verbose:
        warnings.simplefilter("ignore")
        # Scrapy reports every fetch error and component it disables, and
        # kafka-python every reconnect attempt; linkgraph counts those and reports
        # the outcome, so their lines show only with -v (as do uvicorn's, which
        # the API answers itself). A filter on the handler, because Scrapy's
        # logging set-up resets its loggers' levels.
        handler.addFilter(_QuietLibraries())
        logging.getLogger("py.warnings").setLevel(logging.ERROR)


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command; returns the process exit status."""
    parser = build_parser()
    try:
        args, extra = parser.parse_known_args(argv)
        # argparse cannot match a "*" positional that follows an option
        # (`crawl --max-pages 5 example.com`): such words are seeds too.
        if (
            extra
            and isinstance(getattr(args, "seed", None), list)
            and not any(word.startswith("-") for word in extra)
        ):
            args.seed.extend(extra)
        elif extra:
            parser.error(f"unrecognized arguments: {' '.join(extra)}")
        _setup_logging(args.verbose)
        if not hasattr(args, "verbose"):
            args.verbose = 0
        if args.command in ("worker", "consume"):
            # Until the service installs its graceful handler (Scrapy's, or the
            # consumer's), a SIGTERM during start-up holds nothing: stop cleanly.
            signal.signal(signal.SIGTERM, _terminate_early)
        status: int = args.handler(args)
        return status
    except LinkgraphError as error:
        if config.DEBUG.resolve():
            raise
        message = " ".join(str(error).split())
        print(message if message.startswith(PROG) else f"{PROG}: error: {message}", file=sys.stderr)
        return error.exit_code
    except KeyboardInterrupt:
        print(f"{PROG}: interrupted", file=sys.stderr)
        return 130
    except _Terminated:
        print(f"{PROG}: stopped (SIGTERM) while starting", file=sys.stderr)
        return 0
    except BrokenPipeError:
        # The reader of our stdout went away (e.g. `| head`): not an error.
        with contextlib.suppress(OSError):
            sys.stdout = open(os.devnull, "w")  # noqa: SIM115
        return 0
    except SystemExit as exit_:
        return int(exit_.code or 0) if not isinstance(exit_.code, str) else 1
    except Exception as error:  # a bug: say so in one line, keep the details for -v
        if config.DEBUG.resolve():
            raise
        print(
            f"{PROG}: internal error: {type(error).__name__}: "
            f"{' '.join(str(error).split())[:500]} (set LINKGRAPH_DEBUG=1 for a traceback)",
            file=sys.stderr,
        )
        return 70


def run() -> NoReturn:
    sys.exit(main())


if __name__ == "__main__":
    run()
