"""What every command shares: the parser, value types, option groups, the index, output.

A bad value is reported by :class:`Parser` as one line (``linkgraph crawl: …``);
the option groups show the value each setting resolves to in ``--help``.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, NoReturn

from linkcore import config
from linkcore.errors import UsageError

if TYPE_CHECKING:
    from linkindex.client import Index

log = logging.getLogger("linkgraph")

PROG = "linkgraph"


class Parser(argparse.ArgumentParser):
    """An ArgumentParser whose errors are one line: ``linkgraph crawl: error: …``."""

    def error(self, message: str) -> NoReturn:
        raise UsageError(f"{self.prog}: {message} (see {self.prog} --help)")


def nonnegative(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"{text!r} must be 0 or more")
    return value


def depth(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < -1:
        raise argparse.ArgumentTypeError(f"{text!r} must be -1 (no limit) or more")
    return value


def seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds") from None
    if not value >= 0:
        raise argparse.ArgumentTypeError(f"{text!r} must be 0 or more")
    return value


def positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not 0.0 < value < float("inf"):
        raise argparse.ArgumentTypeError(f"{text!r} must be a number above 0")
    return value


def port(text: str) -> int:
    value = nonnegative(text)
    if value > 65535:
        raise argparse.ArgumentTypeError(f"{text!r} is not a port (0 to 65535)")
    return value


def positive(text: str) -> int:
    value = nonnegative(text)
    if value == 0:
        raise argparse.ArgumentTypeError(f"{text!r} must be 1 or more")
    return value


# -- option groups ---------------------------------------------------------------


def add_index_options(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("index")
    group.add_argument(
        "--data-dir",
        metavar="DIR",
        help=f"embedded index directory (env LINKGRAPH_DATA_DIR; now: {config.DATA_DIR.now()})",
    )
    group.add_argument(
        "--clickhouse",
        metavar="URL",
        help="ClickHouse server, http://HOST:8123/DB, instead of the embedded index "
        f"(env LINKGRAPH_CLICKHOUSE; now: {config.CLICKHOUSE.now()})",
    )


def add_output_options(parser: argparse.ArgumentParser, formats: Sequence[str]) -> None:
    from linkindex.output import TABLE_DEFAULT_LIMIT

    group = parser.add_argument_group("output")
    group.add_argument(
        "--format",
        choices=formats,
        help="output format (default: table on a terminal, else jsonl)",
    )
    group.add_argument(
        "--output",
        "-o",
        metavar="FILE",
        help="write to FILE instead of stdout (written whole, then renamed)",
    )
    group.add_argument(
        "--limit",
        type=nonnegative,
        metavar="N",
        help=f"at most N records, 0 = all (default: {TABLE_DEFAULT_LIMIT} for table, else all)",
    )
    group.add_argument(
        "--offset", type=nonnegative, default=0, metavar="N", help="skip the first N records"
    )
    group.add_argument(
        "--cursor", metavar="TOKEN", help="continue after the page that printed this cursor"
    )


def add_redis_options(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("redis")
    group.add_argument(
        "--redis",
        metavar="URL[,URL…]",
        help="Redis URL; several, comma-separated, shard the frontier by host (env "
        f"LINKGRAPH_REDIS; now: {config.REDIS.now()})",
    )
    group.add_argument(
        "--redis-prefix",
        metavar="PREFIX",
        help="key prefix, to share one Redis (env LINKGRAPH_REDIS_PREFIX; "
        f"default: {config.REDIS_KEY_PREFIX})",
    )


def add_kafka_options(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("kafka")
    group.add_argument(
        "--kafka",
        metavar="HOST:PORT",
        help=f"Kafka bootstrap servers (env LINKGRAPH_KAFKA; now: {config.KAFKA.now()})",
    )
    group.add_argument(
        "--topic",
        metavar="NAME",
        help=f"topic of page records (env LINKGRAPH_TOPIC; now: {config.TOPIC.now()})",
    )


def kafka_settings(args: argparse.Namespace) -> tuple[str, str]:
    return config.KAFKA.resolve(args.kafka), config.TOPIC.resolve(args.topic)


def add_verbose(parser: argparse.ArgumentParser) -> None:
    # SUPPRESS keeps a subcommand's default from resetting a top-level -v.
    parser.add_argument(
        "-v",
        "--verbose",
        action="count",
        default=argparse.SUPPRESS,
        help="more log output (repeat for debug)",
    )


# -- helpers ---------------------------------------------------------------------


@contextlib.contextmanager
def index_of(args: argparse.Namespace, *, create: bool) -> Iterator[Index]:
    """The index that ``--data-dir`` / ``--clickhouse`` (or their environment) name,
    open for the block and closed after it: the one way a command opens the index.

    ``create`` makes an embedded index that does not exist yet; every index is
    migrated to the current schema on opening. Raises the index's one-line
    :class:`~linkcore.errors.LinkgraphError` (locked, unreachable, missing).
    """
    from linkindex.client import open_index, resolve_location

    index = open_index(resolve_location(args.data_dir, args.clickhouse), create=create)
    try:
        yield index
    finally:
        index.close()


@contextlib.contextmanager
def output_stream(path: str | None, fmt: str) -> Iterator[IO[bytes]]:
    """stdout, or a temporary file renamed onto ``path`` only on success."""
    if path is None:
        if fmt == "parquet" and sys.stdout.isatty():
            raise UsageError("parquet is binary: use --output FILE (or redirect stdout)")
        yield sys.stdout.buffer
        return
    target = Path(path)
    if target.is_dir():
        raise UsageError(f"--output {path} is a directory")
    temporary = target.with_name(f".{target.name}.partial")
    try:
        stream = open(temporary, "wb")  # noqa: SIM115 - closed below, renamed on success
    except OSError as error:
        raise UsageError(f"cannot write --output {path}: {error.strerror}") from None
    try:
        yield stream
        stream.close()
        os.replace(temporary, target)
    except BaseException:
        stream.close()
        with contextlib.suppress(OSError):
            temporary.unlink()
        raise


def emit(result: Any, args: argparse.Namespace, fmt: str) -> None:
    from linkindex.output import Writer, table_view

    columns, rows = result.columns, result.rows
    if fmt == "table":
        columns, rows = table_view(columns, rows)
    with output_stream(args.output, fmt) as stream:
        writer = Writer(fmt, stream, columns)
        writer.write(rows)
        writer.close()
    if result.next_cursor:
        print(f"{PROG}: more results: --cursor {result.next_cursor}", file=sys.stderr)


def format_and_limit(args: argparse.Namespace) -> tuple[str, int]:
    from linkindex.output import TABLE_DEFAULT_LIMIT, default_format

    fmt = args.format or (default_format() if args.output is None else "jsonl")
    limit = args.limit if args.limit is not None else (TABLE_DEFAULT_LIMIT if fmt == "table" else 0)
    return fmt, limit


def add_trap_options(parser: argparse.ArgumentParser) -> None:
    """The trap rules' flags (docs/crawling.md#spider-traps); 0 turns a rule off."""
    traps = parser.add_argument_group(
        "spider traps", "rules that decline endless in-scope URL spaces; 0 turns a rule off"
    )
    traps.add_argument(
        "--trap-near-duplicates",
        type=nonnegative,
        default=config.LINKGRAPH_TRAP_NEAR_DUPLICATES,
        metavar="N",
        help="decline a URL template after N near-identical pages, more than its distinct "
        "ones (default: %(default)s)",
    )
    traps.add_argument(
        "--trap-pattern-budget",
        type=nonnegative,
        default=config.LINKGRAPH_TRAP_PATTERN_BUDGET,
        metavar="N",
        help="admit at most N URLs per URL template, numbers and tokens masked "
        "(default: %(default)s)",
    )
    traps.add_argument(
        "--trap-repeated-segments",
        type=nonnegative,
        default=config.LINKGRAPH_TRAP_REPEATED_SEGMENTS,
        metavar="N",
        help="decline paths repeating a run of segments N times in a row (default: %(default)s)",
    )
    traps.add_argument(
        "--trap-query-params",
        type=nonnegative,
        default=config.LINKGRAPH_TRAP_QUERY_PARAMS,
        metavar="N",
        help="decline URLs with more than N query parameters, or a path's parameter set past "
        "8 N variants (default: %(default)s)",
    )
    traps.add_argument(
        "--no-trap-rules",
        action="store_true",
        help="turn every trap rule off (the per-host page cap still holds)",
    )


def trap_limits(args: argparse.Namespace) -> Any:
    """The :class:`crawler.traps.TrapLimits` of :func:`add_trap_options`' flags."""
    from crawler.traps import TrapLimits

    if args.no_trap_rules:
        return TrapLimits.off()
    return TrapLimits(
        args.trap_near_duplicates,
        args.trap_pattern_budget,
        args.trap_repeated_segments,
        args.trap_query_params,
    )
