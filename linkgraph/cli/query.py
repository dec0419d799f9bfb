"""The questions users ask: backlinks, refdomains, anchors, top-pages, outlinks,
report, intersect and disavow."""

from __future__ import annotations

import argparse
import contextlib
import logging
import sys
from collections.abc import Callable, Sequence
from typing import Any

from linkcore.errors import UsageError
from linkgraph.cli.options import (
    PROG,
    add_index_options,
    add_output_options,
    add_verbose,
    emit,
    format_and_limit,
    index_of,
    output_stream,
)


def bounded(low: int, high: int) -> Callable[[str], int]:
    """An argparse type: a whole number from ``low`` to ``high``."""

    def parse(text: str) -> int:
        try:
            number = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
        if not low <= number <= high:
            raise argparse.ArgumentTypeError(f"{number} is not from {low} to {high}")
        return number

    return parse


log = logging.getLogger("linkgraph")


def add_query_options(
    parser: argparse.ArgumentParser, scoped: bool = True, only: Sequence[str] | None = None
) -> None:
    """The flags of every option in :data:`linkindex.filters.OPTIONS` (or of
    those named in ``only``), and ``--scope``."""
    from linkindex.filters import OPTIONS, SCOPES

    if scoped:
        parser.add_argument(
            "--scope",
            choices=SCOPES,
            help="what TARGET matches (default: domain for a bare domain, else url)",
        )
    for option in OPTIONS:
        if only is not None and option.name not in only:
            continue
        if option.kind == "flag":
            parser.add_argument(option.flag, action="store_true", help=option.help)
        elif option.kind == "switch":
            group = parser.add_mutually_exclusive_group()
            group.add_argument(
                option.flag, dest=option.name, action="store_const", const=True, help=option.help
            )
            group.add_argument(
                option.negated_flag,
                dest=option.name,
                action="store_const",
                const=False,
                help=f"the opposite of {option.flag}",
            )
        elif option.kind == "choices":
            parser.add_argument(
                option.flag, action="append", choices=option.choices, help=option.help
            )
        elif option.kind == "choice" and option.shorthands:
            group = parser.add_mutually_exclusive_group()
            group.add_argument(option.flag, choices=option.choices, help=option.help)
            for flag, value, meaning in option.shorthands:
                group.add_argument(
                    flag, dest=option.name, action="store_const", const=value, help=meaning
                )
        elif option.kind == "choice":
            parser.add_argument(option.flag, choices=option.choices, help=option.help)
        elif option.kind == "number":
            parser.add_argument(
                option.flag,
                type=bounded(*option.bounds),
                metavar=option.metavar or "N",
                help=option.help,
            )
        else:
            parser.add_argument(option.flag, metavar=option.metavar or "TEXT", help=option.help)
    parser.add_argument(
        "--disavow",
        metavar="FILE",
        help="leave out referrers named in a Google disavow file (domain: lines, URLs)",
    )


def with_index(
    args: argparse.Namespace, local: Callable[[Any], Any], remote: Callable[[Any], Any]
) -> Any:
    """``local(index)``, or ``remote(server)`` while ``linkgraph serve`` holds the
    embedded index (a :class:`linkgraph.api.RunningServer`)."""
    from linkcore.errors import IndexLocked

    with contextlib.ExitStack() as opened:
        try:
            index = opened.enter_context(index_of(args, create=False))
        except IndexLocked:
            from linkgraph import api
            from linkindex.client import resolve_location

            data_dir = resolve_location(args.data_dir, args.clickhouse).data_dir
            server = api.running_server(data_dir) if data_dir else None
            if server is None:
                raise
            if getattr(args, "disavow", None):
                raise UsageError(
                    f"{PROG}: --disavow cannot be sent to the running `linkgraph serve` (pid "
                    f"{server.pid}); stop it to use the file"
                ) from None
            log.info("%s is held by linkgraph serve (pid %s): asking it", data_dir, server.pid)
            return remote(server)
        return local(index)


def run_query(
    args: argparse.Namespace,
    local: Callable[[Any], Any],
    endpoint: str,
    params: dict[str, Any],
) -> Any:
    """``local(index)``, or, while ``linkgraph serve`` holds the embedded index, its answer."""
    from linkgraph import api

    return with_index(
        args, local, lambda server: api.remote_query(server.url, endpoint, params, server.token)
    )


def filters_of(args: argparse.Namespace, limit: int) -> Any:
    """The :class:`~linkindex.filters.Filters` of a query command's flags."""
    from linkindex.filters import OPTIONS, Filters

    values: dict[str, Any] = {}
    for option in OPTIONS:
        value = getattr(args, option.name, None)
        if option.kind == "flag":
            value = bool(value)
        elif option.kind == "choices":
            value = tuple(value or ())
        values[option.name] = value
    return Filters(
        **values,
        limit=limit,
        offset=getattr(args, "offset", 0),
        cursor=getattr(args, "cursor", None),
        disavow=_read_disavow(getattr(args, "disavow", None)),
    )


def _read_disavow(path: str | None) -> Any:
    if not path:
        return None
    from linkindex.disavow import read_disavow

    return read_disavow(path)


def _scoped_query(name: str) -> Callable[[argparse.Namespace], int]:
    def run(args: argparse.Namespace) -> int:
        from linkgraph import api
        from linkindex import queries

        target = queries.Target.parse(args.target, args.scope)
        fmt, limit = format_and_limit(args)
        filters = filters_of(args, limit)
        result = run_query(
            args,
            lambda index: getattr(queries, name)(index, target, filters),
            name,
            api.query_params(target, filters),
        )
        emit(result, args, fmt)
        return 0

    return run


def cmd_report(args: argparse.Namespace) -> int:
    import json

    from linkgraph import api
    from linkindex import queries
    from linkindex.output import plain
    from linkindex.reports import report

    target = queries.Target.parse(args.target, args.scope)
    fmt = args.format or ("table" if sys.stdout.isatty() else "json")
    filters = filters_of(args, 0)

    def remote(server: Any) -> dict[str, Any]:
        pairs = api.query_pairs(
            api.query_params(target, filters), api.ENDPOINTS["report"].param_names
        )
        return api.remote_document(server.url, "report", pairs, server.token)

    summary = with_index(args, lambda index: report(index, target, filters), remote)
    document = {key: plain(value) for key, value in summary.items()}
    if fmt == "json":
        text = json.dumps(document, ensure_ascii=False, indent=2) + "\n"
    elif fmt == "jsonl":
        text = json.dumps(document, ensure_ascii=False) + "\n"
    else:
        lines = [f"{target.text} ({target.scope})"]
        for key, value in document.items():
            if key in ("target", "scope", "tlds", "history", "subnets", "spam_distribution"):
                continue
            if isinstance(value, dict):
                value = ", ".join(f"{name} {count}" for name, count in value.items())
            lines.append(f"  {key:<28} {value}")
        lines.append("  top-level domains of referring domains:")
        lines += [f"    .{t['tld']:<12} {t['referring_domains']}" for t in document["tlds"]]
        lines.append("  referring subnets (most referring domains first):")
        lines += [
            f"    {n['subnet']:<24} {n['referring_domains']} domains, {n['referring_ips']} IPs, "
            f"{n['backlinks']} backlinks"
            for n in document["subnets"]
        ]
        lines.append("  referring domains per spam score:")
        lines += [
            f"    {b['from']:>3}-{b['to']:<3} {b['referring_domains']}"
            for b in document["spam_distribution"]
        ]
        lines.append("  new and lost links per day:")
        lines += [f"    {h['day']}  +{h['new']:<6} -{h['lost']}" for h in document["history"]]
        text = "\n".join(lines) + "\n"
    with output_stream(args.output, fmt) as stream:
        stream.write(text.encode("utf-8"))
    return 0


def cmd_disavow(args: argparse.Namespace) -> int:
    from linkindex import queries
    from linkindex.disavow import propose, render
    from linkindex.spam import SPAMMY

    target = queries.Target.parse(args.target, args.scope)
    with index_of(args, create=False) as index:
        proposal = propose(
            index, target, min_score=SPAMMY if args.min_spam is None else args.min_spam
        )
    with output_stream(args.output, "text") as stream:
        stream.write(render(proposal, target).encode("utf-8"))
    print(
        f"{PROG}: {len(proposal.domains)} referring domains proposed for disavowal", file=sys.stderr
    )
    return 0


def cmd_intersect(args: argparse.Namespace) -> int:
    from linkindex import queries

    linking = [queries.Target.parse(text, "domain") for text in args.domain]
    excluded = [queries.Target.parse(text, "domain") for text in args.exclude or ()]
    fmt, limit = format_and_limit(args)
    filters = filters_of(args, limit)
    params = {
        "domain": [t.domain for t in linking],
        "not": [t.domain for t in excluded],
        "limit": filters.limit,
        "offset": filters.offset,
        "cursor": filters.cursor,
    }
    result = run_query(
        args,
        lambda index: queries.intersect(index, linking, excluded, filters),
        "intersect",
        params,
    )
    emit(result, args, fmt)
    return 0


def register(commands: Any) -> None:
    """The query commands' parsers, in the order ``--help`` lists them."""
    query_help = {
        "backlinks": (
            "who links to TARGET: one record per edge",
            "One record per edge whose target matches TARGET (docs/queries.md).",
        ),
        "refdomains": (
            "referring domains of TARGET with link counts",
            "Referring domains of TARGET: links, dofollow links, first/last seen.",
        ),
        "anchors": (
            "anchor texts of links to TARGET",
            "Anchor text distribution of links to TARGET with referring-domain counts.",
        ),
        "top_pages": (
            "the target's pages ranked by referring domains",
            "The pages of TARGET (a domain, host or prefix) ranked by referring domains.",
        ),
        "outlinks": (
            "links out of SOURCE (a URL, host or domain)",
            "One record per edge whose source matches SOURCE.",
        ),
    }
    for name, (short, long) in query_help.items():
        sub = commands.add_parser(name.replace("_", "-"), help=short, description=long)
        sub.add_argument(
            "target",
            metavar="SOURCE" if name == "outlinks" else "TARGET",
            help="a URL, or a bare domain/host",
        )
        add_query_options(sub)
        add_output_options(sub, ("table", "json", "jsonl", "csv", "parquet"))
        add_index_options(sub)
        sub.set_defaults(handler=_scoped_query(name))
        add_verbose(sub)

    disavow = commands.add_parser(
        "disavow",
        help="write a disavow file for TARGET from the referring domains' spam scores",
        description="Propose a Google disavow file: the referring domains whose spam score "
        "(docs/queries.md#spam-score) is at least --min-spam, each under a comment naming the "
        "signals that fired and their values. Review before use.",
    )
    disavow.add_argument("target", metavar="TARGET")
    disavow.add_argument("--scope", choices=("url", "host", "domain", "prefix"))
    disavow.add_argument(
        "--min-spam",
        type=bounded(0, 100),
        default=None,
        metavar="N",
        help="propose the referring domains whose spam score is N or more (default: 50)",
    )
    disavow.add_argument("--output", "-o", metavar="FILE")
    add_index_options(disavow)
    add_verbose(disavow)
    disavow.set_defaults(handler=cmd_disavow)

    intersect = commands.add_parser(
        "intersect",
        help="referring domains that link to every DOMAIN but to none of --not",
        description="Link intersect: the referring domains that link to each DOMAIN (e.g. your "
        "competitors) and to none of the --not domains (e.g. yours).",
    )
    intersect.add_argument("domain", nargs="+", metavar="DOMAIN")
    intersect.add_argument(
        "--not",
        dest="exclude",
        action="append",
        metavar="DOMAIN",
        help="leave out referring domains that link to DOMAIN (repeatable)",
    )
    add_output_options(intersect, ("table", "json", "jsonl", "csv", "parquet"))
    intersect.set_defaults(include_internal=False, dofollow_only=False, kind=None, status=None)
    add_index_options(intersect)
    add_verbose(intersect)
    intersect.set_defaults(handler=cmd_intersect)


def register_report(commands: Any) -> None:
    """``linkgraph report``."""
    report_parser = commands.add_parser(
        "report",
        help="summary of TARGET's backlink profile, with new and lost links per day",
        description="Backlinks, referring domains, dofollow share, rel flags, live/lost, the "
        "TLD distribution with .gov/.edu share, and new and lost links per day.",
    )
    report_parser.add_argument("target", metavar="TARGET", help="a URL, or a bare domain/host")
    add_query_options(report_parser)
    report_parser.add_argument(
        "--format",
        choices=("table", "json", "jsonl"),
        help="default: table on a terminal, else json",
    )
    report_parser.add_argument("--output", "-o", metavar="FILE")
    add_index_options(report_parser)
    add_verbose(report_parser)
    report_parser.set_defaults(handler=cmd_report)
