"""``linkgraph watch TARGET``: the backlinks new or lost since the last watch of
TARGET, for cron (docs/commands.md#watch, docs/queries.md#watch).

Records go to stdout (or ``--output``) like ``backlinks`` records, with
``change`` first; ``--webhook URL`` also POSTs them as one JSON document,
retried with backoff. The checkpoint moves only once the records are
delivered, so a failed POST leaves them to the next watch. Exit status: 0
when nothing changed, :data:`EXIT_CHANGED` when something did, 1 when the
index or the webhook failed, 2 for bad input.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
import urllib.error
import urllib.request
from typing import Any, Final
from urllib.parse import urlsplit

from linkcore.errors import LinkgraphError, UsageError
from linkgraph import __version__
from linkgraph.cli.options import (
    PROG,
    add_index_options,
    add_verbose,
    index_of,
    nonnegative,
    output_stream,
)
from linkgraph.cli.query import add_query_options, filters_of

log = logging.getLogger("linkgraph")

#: The exit status of a watch that found new or lost backlinks (0: none).
EXIT_CHANGED: Final = 3
#: Seconds before the first retry of a failed POST; each retry waits twice as long.
WEBHOOK_BACKOFF: Final = 1.0
#: Seconds a POST may take.
WEBHOOK_TIMEOUT: Final = 10.0
#: HTTP statuses worth retrying: the receiver is busy or failed, not refusing.
RETRIABLE_STATUSES: Final = frozenset({408, 425, 429, 500, 502, 503, 504})


class WebhookFailed(LinkgraphError):
    """The webhook did not accept the records (exit status 1)."""

    retriable = True


def _webhook_url(text: str) -> str:
    parts = urlsplit(text)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise UsageError(f"--webhook {text[:100]!r} is not an http(s) URL")
    return text


def _where(url: str) -> str:
    # The path and query of a webhook URL often hold its secret: name the host only.
    parts = urlsplit(url)
    port = f":{parts.port}" if parts.port else ""
    return f"{parts.scheme}://{parts.hostname}{port}"


def post(url: str, document: dict[str, Any], retries: int) -> None:
    """POST ``document`` as JSON to ``url``: accepted on a 2xx answer, retried
    ``retries`` times (waits of :data:`WEBHOOK_BACKOFF` seconds, doubling)
    when the receiver cannot be reached or answers a :data:`RETRIABLE_STATUSES`
    status. Raises :class:`WebhookFailed` with the last reason."""
    body = json.dumps(document, ensure_ascii=False).encode("utf-8")
    reason = ""
    for attempt in range(retries + 1):
        if attempt:
            delay = WEBHOOK_BACKOFF * 2 ** (attempt - 1)
            log.info("webhook: %s; retrying in %.0f s", reason, delay)
            time.sleep(delay)
        request = urllib.request.Request(
            url,
            data=body,
            method="POST",
            headers={
                "Content-Type": "application/json",
                "User-Agent": f"linkgraph/{__version__} (watch)",
            },
        )
        try:
            with urllib.request.urlopen(request, timeout=WEBHOOK_TIMEOUT) as answer:
                answer.read()
            return
        except urllib.error.HTTPError as error:
            reason = f"HTTP {error.code} {error.reason}"
            if error.code not in RETRIABLE_STATUSES:
                break
        except (urllib.error.URLError, OSError) as error:
            cause = getattr(error, "reason", error)
            reason = " ".join(str(cause).split())[:200] or type(error).__name__
    attempts = attempt + 1
    raise WebhookFailed(
        f"webhook at {_where(url)} did not accept the records after {attempts} "
        f"attempt{'s' if attempts > 1 else ''}: {reason} (the checkpoint was not moved: the "
        "next watch reports these changes again)"
    )


def cmd_watch(args: argparse.Namespace) -> int:
    from linkindex import watch
    from linkindex.output import Writer, default_format, plain, table_view
    from linkindex.targets import Target

    target = Target.parse(args.target, args.scope)
    since = watch.parse_since(args.since) if args.since is not None else None
    webhook = _webhook_url(args.webhook) if args.webhook else None
    fmt = args.format or (default_format() if args.output is None else "jsonl")
    filters = filters_of(args, 0)
    until = watch.now()
    with index_of(args, create=False) as index:
        if since is None:
            since = watch.last_checkpoint(index, target)
        found = watch.changes(index, target, since, until, filters)
        columns, rows = found.result.columns, found.result.rows
        with output_stream(args.output, fmt) as stream:
            if fmt == "table":
                edge_columns, view = table_view(columns[1:], [row[1:] for row in rows])
                writer = Writer(fmt, stream, ["change", *edge_columns])
                writer.write([row[0], *shown] for row, shown in zip(rows, view, strict=True))
            else:
                writer = Writer(fmt, stream, columns)
                writer.write(rows)
            writer.close()
        if webhook and rows:
            post(
                webhook,
                {
                    "target": target.text,
                    "scope": target.scope,
                    "since": plain(since),
                    "until": plain(until),
                    "new": found.count("new"),
                    "lost": found.count("lost"),
                    "records": [
                        {name: plain(value) for name, value in zip(columns, row, strict=True)}
                        for row in rows
                    ],
                },
                args.webhook_retries,
            )
        watch.save_checkpoint(index, target, until)
    start = plain(since) if since else "the first sighting"
    print(
        f"{PROG}: {found.count('new')} new and {found.count('lost')} lost backlinks of "
        f"{target.text} since {start}",
        file=sys.stderr,
    )
    return EXIT_CHANGED if rows else 0


def register(commands: Any) -> None:
    """``linkgraph watch``."""
    sub = commands.add_parser(
        "watch",
        help="new and lost backlinks of TARGET since its last watch (for cron)",
        description="The backlinks of TARGET first seen, or lost, since the last watch of "
        "TARGET (a checkpoint kept in the index): one record per edge with change = new or "
        "lost (and lost_reason). Exit status 0: nothing changed; 3: something did; 1: the "
        "index or the webhook failed; 2: bad input.",
    )
    sub.add_argument("target", metavar="TARGET", help="a URL, or a bare domain/host")
    from linkindex.watch import OPTIONS

    add_query_options(sub, only=OPTIONS)
    sub.add_argument(
        "--since",
        metavar="DATE",
        help="changes since DATE (ISO-8601 date or time, UTC) instead of the last watch",
    )
    sub.add_argument(
        "--webhook",
        metavar="URL",
        help="also POST the records as JSON to URL (only when something changed)",
    )
    sub.add_argument(
        "--webhook-retries",
        type=nonnegative,
        default=3,
        metavar="N",
        help="retry a failed POST N times, waiting 1 s, 2 s, 4 s … (default: %(default)s)",
    )
    output = sub.add_argument_group("output")
    output.add_argument(
        "--format",
        choices=("table", "json", "jsonl", "csv"),
        help="output format (default: table on a terminal, else jsonl)",
    )
    output.add_argument(
        "--output",
        "-o",
        metavar="FILE",
        help="write to FILE instead of stdout (written whole, then renamed)",
    )
    add_index_options(sub)
    add_verbose(sub)
    sub.set_defaults(handler=cmd_watch)
