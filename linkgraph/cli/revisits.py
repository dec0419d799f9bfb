"""``--revisit`` and ``--revisit-referrers``: what ``crawl`` and ``job start`` fetch again.

docs/crawling.md#revisits. The index is read through the query code
(:mod:`linkindex.revisits`); the crawl and the job turn the listed URLs into
conditional requests.
"""

from __future__ import annotations

import argparse
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any

from linkcore.errors import UsageError
from linkcore.urls import host_of, registered_domain
from linkgraph.cli.options import PROG

if TYPE_CHECKING:
    from linkcore.revisits import Revisit
    from linkindex.client import Index


def add_revisit_options(parser: argparse.ArgumentParser) -> None:
    """The revisit flags of ``crawl`` and ``job start``."""
    from linkindex.filters import SCOPES

    group = parser.add_argument_group("revisits (docs/crawling.md#revisits)")
    group.add_argument(
        "--revisit",
        action="store_true",
        help="also fetch again every URL the index holds pages for in the seeds' "
        "domains, with If-None-Match / If-Modified-Since where a validator is known",
    )
    group.add_argument(
        "--revisit-referrers",
        metavar="TARGET",
        help="fetch again the pages that link to TARGET (URL, host or domain, as for "
        "backlinks), on any domain, each once, following nothing; seeds are then optional",
    )
    group.add_argument(
        "--revisit-scope",
        choices=SCOPES,
        help="how --revisit-referrers TARGET matches (default: domain for a bare name, else url)",
    )


def wanted(args: argparse.Namespace) -> bool:
    """True when the command was asked to revisit anything."""
    return bool(args.revisit or args.revisit_referrers)


def check(args: argparse.Namespace, seeds: Sequence[str], command: str) -> None:
    """Raise :class:`UsageError` for seeds and revisit flags that do not go together."""
    if args.revisit_scope and not args.revisit_referrers:
        raise UsageError(f"{PROG} {command}: --revisit-scope goes with --revisit-referrers")
    if args.revisit and not seeds:
        raise UsageError(f"{PROG} {command}: --revisit needs seeds: it revisits the seeds' domains")
    if not seeds and not args.revisit_referrers:
        raise UsageError(f"{PROG} {command}: no seeds: give SEED arguments or --seeds FILE")


def revisits(args: argparse.Namespace, index: Index, seeds: Sequence[str]) -> Iterator[Revisit]:
    """The URLs to fetch again: the seeds' domains' pages (``--revisit``), then the
    pages linking to ``--revisit-referrers`` TARGET that are not among them."""
    from linkindex.revisits import domain_pages, referring_pages
    from linkindex.targets import Target

    listed: set[str] = set()
    if args.revisit:
        domains = sorted({registered_domain(host_of(url)) for url in seeds})
        for revisit in domain_pages(index, domains):
            listed.add(revisit.url)
            yield revisit
    if args.revisit_referrers:
        target = Target.parse(args.revisit_referrers, args.revisit_scope)
        # A page of the seeds' domains revisited above follows its links.
        yield from (r for r in referring_pages(index, target) if r.url not in listed)


def summary(stats: dict[str, Any]) -> str:
    """The crawl summary's revisit clause: answers to revisits by outcome."""
    from linkcore.revisits import OUTCOMES

    counts = {outcome: int(stats.get(f"linkgraph/revisits/{outcome}", 0)) for outcome in OUTCOMES}
    return (
        f"revisited {int(stats.get('linkgraph/revisits', 0))} pages: "
        f"{counts['unchanged']} unchanged (304), {counts['changed']} changed, "
        f"{counts['gone']} gone (404/410)"
    )
