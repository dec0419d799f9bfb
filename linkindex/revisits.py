"""Which URLs a revisit fetches again (docs/crawling.md#revisits).

:func:`domain_pages` lists every URL the index holds a page for in some
registered domains, with the validators of its latest fetch;
:func:`referring_pages` the pages that link to a TARGET (the question of
``backlinks``, on any domain). The crawl and ``job start`` turn them into
requests; the writer stores their answers (304: ``linkindex.writer.refresh_unchanged``).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any, Final

from linkcore.revisits import Revisit
from linkcore.urls import host_of, reverse_host
from linkindex.client import Index
from linkindex.filters import Filters
from linkindex.sqlparts import backlinks_where
from linkindex.targets import Target

#: URLs looked up in ``pages`` per query.
_CHUNK: Final = 10_000


def domain_pages(index: Index, domains: Sequence[str]) -> Iterator[Revisit]:
    """Every URL with a ``pages`` row in ``domains`` (registered domains), once,
    with the depth and validators of its latest fetch (``FINAL``: the newest
    ``fetched_at`` wins), in key order.

    Rows are read by reversed-host ranges (``com.example`` and its
    subdomains), which the table is ordered by, so a domain costs its own
    range, not a scan.
    """
    if not domains:
        return
    revs = sorted({reverse_host(domain) for domain in domains})
    params: dict[str, Any] = {"domains": sorted(set(domains)), "revs": revs}
    sql = f"""
        SELECT url, depth, etag, last_modified
        FROM {index.db}.pages FINAL
        WHERE domain IN {{domains:Array(String)}}
          AND (rev_host IN {{revs:Array(String)}}
               OR arrayExists(r -> startsWith(rev_host, concat(r, '.')), {{revs:Array(String)}}))
        ORDER BY rev_host, url"""
    for _, block in index.stream(sql, params):
        for url, depth, etag, last_modified in block:
            yield Revisit(str(url), int(depth), str(etag), str(last_modified))


def referring_pages(index: Index, target: Target) -> list[Revisit]:
    """The pages that link to ``target`` now (live edges, internal ones
    included, any kind), once each, with their stored validators; they are
    revisited without following their links (``follow=False``)."""
    params: dict[str, Any] = {}
    source, where = backlinks_where(
        index, target, Filters(include_internal=True, status="live"), params
    )
    _, rows = index.query(
        f"SELECT DISTINCT e.source_url FROM {source} WHERE {where} ORDER BY e.source_url",
        params,
    )
    urls = [str(row[0]) for row in rows]
    stored: dict[str, tuple[str, str]] = {}
    for start in range(0, len(urls), _CHUNK):
        chunk = urls[start : start + _CHUNK]
        _, found = index.query(
            f"""
            SELECT url, etag, last_modified FROM {index.db}.pages FINAL
            WHERE rev_host IN {{revs:Array(String)}} AND url IN {{urls:Array(String)}}""",
            {"revs": sorted({reverse_host(host_of(url)) for url in chunk}), "urls": chunk},
        )
        stored.update({str(url): (str(etag), str(lm)) for url, etag, lm in found})
    return [Revisit(url, 0, *stored.get(url, ("", "")), follow=False) for url in urls]
