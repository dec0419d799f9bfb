"""Page records in, index rows out.

:func:`build_batch` turns page records into the rows of ``pages``, ``edges``
and ``edges_by_source`` (docs/edges.md): it re-normalizes every URL with
:mod:`linkcore.urls` (records may come from any producer), drops self-edges
and what is not http(s), merges duplicates per ``(source_url, target_url,
kind)`` and adds hosts, registered domains and reversed hosts.

:class:`EdgeWriter` buffers pages and writes a batch when it is full or old,
and on :meth:`~EdgeWriter.flush`. Writes are idempotent (see the schema), so a
batch may be written again after a failure.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from linkcore import config
from linkcore.records import Link, PageRecord
from linkcore.urls import host_of, normalize_with_host, registered_domain, reverse_host
from linkindex.client import Index
from linkindex.sqlparts import LIVE

log = logging.getLogger(__name__)

_TIMESTAMP = pa.timestamp("ms", tz="UTC")
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MILLISECOND = timedelta(milliseconds=1)
_LATEST = pa.struct(
    [
        ("seen", _TIMESTAMP),
        ("anchor", pa.string()),
        ("image", pa.bool_()),
        ("nofollow", pa.bool_()),
        ("ugc", pa.bool_()),
        ("sponsored", pa.bool_()),
        ("link_count", pa.uint32()),
        # Enum8 elements accept their names as strings.
        ("location", pa.string()),
        ("text_before", pa.string()),
        ("text_after", pa.string()),
    ]
)
#: ``latest`` of ``edges_by_source``: without the texts.
_LATEST_BY_SOURCE = pa.struct(list(_LATEST)[:-2])
_LOST_REASON = pa.struct([("at", _TIMESTAMP), ("reason", pa.string())])


@dataclass(slots=True)
class Batch:
    """Columns for one insert into each table, plus counters.

    Times (``seen``, ``last_seen``, ``fetched_at``) are datetimes or
    milliseconds since the epoch; both convert to the index's ``DateTime64(3)``.
    """

    pages: dict[str, list[Any]] = field(default_factory=dict)
    edges: dict[str, list[Any]] = field(default_factory=dict)
    #: Pages that answered 304 Not Modified, by the columns of ``pages``: they
    #: keep their stored row and edges (:func:`refresh_unchanged`).
    unchanged: dict[str, list[Any]] = field(default_factory=dict)
    pages_in: int = 0
    edges_out: int = 0
    links_dropped: int = 0
    # URLs and hosts repeat across a batch (navigation, sitewide links): each is
    # normalized, and its host's domain and reversed form derived, once per batch.
    urls: dict[str, _UrlFacts] = field(default_factory=dict, repr=False)

    @classmethod
    def empty(cls, *, with_last_seen: bool = False) -> Batch:
        """A batch with every column; ``with_last_seen`` for edges sighted twice (imports)."""
        edge_columns = (*_EDGE_COLUMNS, "last_seen") if with_last_seen else _EDGE_COLUMNS
        return cls(
            pages={name: [] for name in _PAGE_COLUMNS},
            edges={name: [] for name in edge_columns},
            unchanged={name: [] for name in _PAGE_COLUMNS},
        )

    def add_page(self, page: PageRecord) -> None:
        """Append one page record: its ``pages`` row and its edges, normalized and
        merged per ``(target_url, kind)`` (first occurrence wins, ``link_count``
        adds up), self-edges and what is not http(s) dropped (see module doc).

        The record is left as it is. A batch of :meth:`empty` columns only.
        """
        urls = self.urls
        source = urls.get(page.url) or _url_facts(urls, page.url)
        source_url, source_host, source_domain, source_rev = source
        if not source_url:
            self.links_dropped += len(page.links)
            return
        # Milliseconds since the epoch, as the index keeps them: Arrow converts a
        # column of ints many times faster than one of datetimes.
        seen = (datetime.fromtimestamp(page.fetched_at, UTC) - _EPOCH) // _MILLISECOND
        if page.status == NOT_MODIFIED:
            # Its links are the stored ones, sighted again: refresh_unchanged.
            self.links_dropped += len(page.links)
            self.pages_in += 1
            _add_page_row(self.unchanged, source, page, seen, 0, page.dropped_links)
            return
        edges = self.edges
        target_url = edges["target_url"]
        target_domain = edges["target_domain"]
        target_rev_host = edges["target_rev_host"]
        kind_column = edges["kind"]
        target_host = edges["target_host"]
        anchor = edges["anchor"]
        image = edges["image"]
        nofollow = edges["nofollow"]
        ugc = edges["ugc"]
        sponsored = edges["sponsored"]
        link_count = edges["link_count"]
        location = edges["location"]
        text_before = edges["text_before"]
        text_after = edges["text_after"]
        page_nofollow = page.robots_nofollow
        first = len(target_url)
        # The page's "a" edges by target_url (a repeat only adds to link_count);
        # its canonical and redirect edges are kept once each.
        rows: dict[str, int] = {}
        others: set[tuple[str, str]] = set()
        dropped = internal = 0
        for link in page.links:
            target, host, domain, rev = urls.get(link.target_url) or _url_facts(
                urls, link.target_url
            )
            if not target or target == source_url:
                dropped += 1
                continue
            kind = link.kind
            if kind == "a":
                row = rows.get(target)
                if row is not None:
                    link_count[row] += link.link_count
                    continue
                rows[target] = len(target_url)
                anchor.append(link.anchor[:512])
                image.append(link.image)
                link_count.append(link.link_count)
                location.append(link.location)
                text_before.append(link.text_before[:_CONTEXT_MAX_CHARS])
                text_after.append(link.text_after[:_CONTEXT_MAX_CHARS])
                internal += domain == source_domain
            else:
                if (target, kind) in others:
                    continue
                others.add((target, kind))
                anchor.append("")
                image.append(False)
                link_count.append(1)
                location.append("other")
                text_before.append("")
                text_after.append("")
            target_url.append(target)
            target_domain.append(domain)
            target_rev_host.append(rev)
            kind_column.append(kind)
            target_host.append(host)
            nofollow.append(link.nofollow or page_nofollow)
            ugc.append(link.ugc)
            sponsored.append(link.sponsored)
        count = len(target_url) - first
        edges["source_url"].extend([source_url] * count)
        edges["source_host"].extend([source_host] * count)
        edges["source_domain"].extend([source_domain] * count)
        edges["source_rev_host"].extend([source_rev] * count)
        edges["seen"].extend([seen] * count)
        self.edges_out += count
        self.links_dropped += dropped
        self.pages_in += 1

        _add_page_row(
            self.pages,
            source,
            page,
            seen,
            count,
            page.dropped_links + dropped,
            (internal, len(rows) - internal),
        )

    def add_edge(
        self,
        source_url: str,
        source_host: str,
        source_domain: str,
        source_rev: str,
        link: Link,
        seen: datetime,
        last_seen: datetime | None = None,
    ) -> None:
        """Append one normalized edge; target host, domain and reversed host derived here."""
        columns = self.edges
        target_host = host_of(link.target_url)
        columns["target_domain"].append(registered_domain(target_host))
        columns["target_rev_host"].append(reverse_host(target_host))
        columns["target_url"].append(link.target_url)
        columns["source_url"].append(source_url)
        columns["kind"].append(link.kind)
        columns["target_host"].append(target_host)
        columns["source_host"].append(source_host)
        columns["source_domain"].append(source_domain)
        columns["source_rev_host"].append(source_rev)
        columns["seen"].append(seen)
        if last_seen is not None:
            columns["last_seen"].append(last_seen)
        columns["anchor"].append(link.anchor)
        columns["image"].append(link.image)
        columns["nofollow"].append(link.nofollow)
        columns["ugc"].append(link.ugc)
        columns["sponsored"].append(link.sponsored)
        columns["link_count"].append(link.link_count)
        columns["location"].append(link.location)
        columns["text_before"].append(link.text_before)
        columns["text_after"].append(link.text_after)
        self.edges_out += 1


#: HTTP 304 Not Modified: the page is as it was at its stored fetch.
NOT_MODIFIED = 304


def _add_page_row(
    columns: dict[str, list[Any]],
    source: _UrlFacts,
    page: PageRecord,
    seen: int,
    outlinks: int,
    dropped: int,
    internal: tuple[int, int] = (0, 0),
) -> None:
    """Append the ``pages`` row of ``page`` (``source``: its URL facts) to
    ``columns``; ``internal``: its internal and external ``a`` links."""
    source_url, source_host, source_domain, source_rev = source
    columns["rev_host"].append(source_rev)
    columns["url"].append(source_url)
    columns["host"].append(source_host)
    columns["domain"].append(source_domain)
    columns["status"].append(page.status)
    columns["content_type"].append(page.content_type)
    columns["robots_nofollow"].append(page.robots_nofollow)
    columns["depth"].append(min(max(page.depth, 0), 65535))
    columns["outlinks"].append(outlinks)
    columns["dropped_links"].append(dropped)
    columns["job"].append(page.job)
    columns["fetched_at"].append(seen)
    columns["etag"].append(page.etag)
    columns["last_modified"].append(page.last_modified)
    columns["robots_noindex"].append(page.robots_noindex)
    columns["title"].append(page.title[:512])
    columns["lang"].append(page.lang[:35])
    columns["words"].append(min(max(page.words, 0), _UINT32))
    columns["internal_links"].append(internal[0])
    columns["external_links"].append(internal[1])
    columns["ip"].append(page.ip[:45])
    columns["profile_terms"].append([term for term, _ in page.profile])
    columns["profile_counts"].append([count for _, count in page.profile])


_EDGE_COLUMNS = (
    "target_domain",
    "target_rev_host",
    "target_url",
    "source_url",
    "kind",
    "target_host",
    "source_host",
    "source_domain",
    "source_rev_host",
    "seen",
    "anchor",
    "image",
    "nofollow",
    "ugc",
    "sponsored",
    "link_count",
    "location",
    "text_before",
    "text_after",
)
_PAGE_COLUMNS = (
    "rev_host",
    "url",
    "host",
    "domain",
    "status",
    "content_type",
    "robots_nofollow",
    "depth",
    "outlinks",
    "dropped_links",
    "job",
    "fetched_at",
    "etag",
    "last_modified",
    "robots_noindex",
    "title",
    "lang",
    "words",
    "internal_links",
    "external_links",
    "ip",
    "profile_terms",
    "profile_counts",
)
_CONTEXT_MAX_CHARS = 100
_UINT32 = 0xFFFF_FFFF


def build_batch(pages: Iterable[PageRecord]) -> Batch:
    """Turn page records into the column lists of one batch (see module doc)."""
    batch = Batch.empty()
    for page in pages:
        batch.add_page(page)
    return batch


# (normalized URL, host, registered domain, reversed host); all "" if unusable.
_UrlFacts = tuple[str, str, str, str]
_UNUSABLE: _UrlFacts = ("", "", "", "")


def _url_facts(urls: dict[str, _UrlFacts], url: str) -> _UrlFacts:
    """Normalize ``url`` and derive its host's facts; remembered in ``urls``."""
    normalized = normalize_with_host(url)
    if normalized is None:
        facts = _UNUSABLE
    else:
        target, host = normalized
        facts = (target, host, registered_domain(host), reverse_host(host))
    urls[url] = facts
    return facts


def _edge_tables(edges: dict[str, list[Any]]) -> tuple[pa.Table, pa.Table]:
    seen = pa.array(edges["seen"], _TIMESTAMP)
    # A crawl sees an edge once per page fetch; an import brings both ends.
    last = pa.array(edges["last_seen"], _TIMESTAMP) if "last_seen" in edges else seen
    attributes = [
        last,
        pa.array(edges["anchor"], pa.string()),
        pa.array(edges["image"], pa.bool_()),
        pa.array(edges["nofollow"], pa.bool_()),
        pa.array(edges["ugc"], pa.bool_()),
        pa.array(edges["sponsored"], pa.bool_()),
        pa.array(edges["link_count"], pa.uint32()),
        pa.array(edges["location"], pa.string()),
    ]
    # The texts around a link are kept by `edges` alone (docs/storage.md#edges).
    texts = [
        pa.array(edges["text_before"], pa.string()),
        pa.array(edges["text_after"], pa.string()),
    ]
    # Enum8 columns accept their names as strings.
    kind = pa.array(edges["kind"], pa.string())
    common = {
        "target_url": pa.array(edges["target_url"], pa.string()),
        "source_url": pa.array(edges["source_url"], pa.string()),
        "kind": kind,
        "target_host": pa.array(edges["target_host"], pa.string()),
        "source_host": pa.array(edges["source_host"], pa.string()),
        "source_domain": pa.array(edges["source_domain"], pa.string()),
        "target_domain": pa.array(edges["target_domain"], pa.string()),
        "first_seen": seen,
    }
    # last_seen is the sighting time of `latest` (an alias in the schema).
    by_target = pa.table(
        {
            "target_rev_host": pa.array(edges["target_rev_host"]),
            **common,
            "latest": pa.StructArray.from_arrays([*attributes, *texts], fields=list(_LATEST)),
        }
    )
    by_source = pa.table(
        {
            "source_rev_host": pa.array(edges["source_rev_host"]),
            **common,
            "latest": pa.StructArray.from_arrays(attributes, fields=list(_LATEST_BY_SOURCE)),
        }
    )
    return by_target, by_source


def _page_table(pages: dict[str, list[Any]]) -> pa.Table:
    types = {
        "status": pa.uint16(),
        "robots_nofollow": pa.bool_(),
        "depth": pa.uint16(),
        "outlinks": pa.uint32(),
        "dropped_links": pa.uint32(),
        "fetched_at": _TIMESTAMP,
        "robots_noindex": pa.bool_(),
        "words": pa.uint32(),
        "internal_links": pa.uint32(),
        "external_links": pa.uint32(),
        "profile_terms": pa.list_(pa.string()),
        "profile_counts": pa.list_(pa.uint8()),
    }
    return pa.table(
        {name: pa.array(values, types.get(name, pa.string())) for name, values in pages.items()}
    )


@dataclass(slots=True)
class Tables:
    """One batch as Arrow tables, ``(table name, rows)`` in insert order, plus its counters.

    ``page_columns`` are the batch's page columns, which :func:`mark_lost` reads;
    ``unchanged`` those of its pages that answered 304, which
    :func:`refresh_unchanged` writes.
    """

    inserts: list[tuple[str, pa.Table]]
    page_columns: dict[str, list[Any]]
    pages_in: int
    edges_out: int
    links_dropped: int
    unchanged: dict[str, list[Any]] = field(default_factory=dict)


def batch_tables(batch: Batch) -> Tables:
    """The Arrow tables of one batch (edges, edges_by_source, fetches, pages).

    Fetches and pages go last: a fetch row means the page's edges are stored,
    which lost-link history relies on (an edge missing from a later fetch is lost).
    """
    inserts: list[tuple[str, pa.Table]] = []
    if batch.edges_out:
        by_target, by_source = _edge_tables(batch.edges)
        inserts += [("edges", by_target), ("edges_by_source", by_source)]
    unchanged = batch.unchanged if batch.unchanged.get("url") else {}
    if batch.pages_in:
        pages = _page_table(batch.pages)
        fetches = pages.select(_FETCH_COLUMNS)
        if unchanged:
            fetches = pa.concat_tables([fetches, _page_table(unchanged).select(_FETCH_COLUMNS)])
        inserts.append(("fetches", fetches))
        if pages.num_rows:
            inserts.append(("pages", pages))
    return Tables(
        inserts,
        batch.pages,
        batch.pages_in,
        batch.edges_out,
        batch.links_dropped,
        unchanged,
    )


_FETCH_COLUMNS = ["rev_host", "url", "fetched_at", "status", "job", "robots_noindex"]


def insert_tables(index: Index, tables: Tables) -> None:
    """Insert a batch's tables in their order (see :func:`batch_tables`), then mark
    lost the links that re-fetched pages no longer carry (:func:`mark_lost`).

    Pages that answered 304 are written by :func:`refresh_unchanged` first:
    their edges sighted again before their ``fetches`` rows go in, their
    ``pages`` rows after. Every step is idempotent, so a batch that fails
    part-way is written again whole: a replay re-inserts the same rows, and
    marks nothing twice (an edge already lost keeps its first ``lost_at``).

    The links of a page that turned noindex (:func:`turned_noindex`) are not
    inserted: they are lost, with the reason ``page_noindex``.
    """
    refreshed = refresh_unchanged(index, tables.unchanged) if tables.unchanged else None
    unindexed = turned_noindex(index, tables.page_columns) if tables.pages_in else set()
    for table, rows in tables.inserts:
        if unindexed and table in ("edges", "edges_by_source"):
            carried = pc.invert(pc.is_in(rows["source_url"], pa.array(sorted(unindexed))))
            rows = rows.filter(carried)
        index.insert_arrow(table, rows)
    if refreshed is not None:
        index.insert_arrow("pages", refreshed)
    if tables.page_columns.get("url"):
        mark_lost(index, tables.page_columns, unindexed)


def turned_noindex(index: Index, pages: dict[str, list[Any]]) -> set[str]:
    """The URLs among ``pages`` (a batch's page columns) fetched with noindex
    (2xx, meta robots or X-Robots-Tag ``noindex``/``none``) after an earlier
    2xx fetch without it: pages that turned noindex, whose links count as lost
    (docs/queries.md#lost-links). A page noindex from its first fetch on
    keeps its links, as before this rule. The same batch gives the same
    answer when replayed (its own fetches say noindex)."""
    wanted = {
        url: fetched
        for url, status, noindex, fetched in zip(
            pages["url"],
            pages["status"],
            pages["robots_noindex"],
            pages["fetched_at"],
            strict=True,
        )
        if noindex and 200 <= status < 300
    }
    if not wanted:
        return set()
    revs = sorted(
        {rev for rev, url in zip(pages["rev_host"], pages["url"], strict=True) if url in wanted}
    )
    _, rows = index.query(
        f"""
        SELECT url, toUnixTimestamp64Milli(min(fetched_at)) FROM {index.db}.fetches
        WHERE rev_host IN {{revs:Array(String)}} AND url IN {{urls:Array(String)}}
          AND status BETWEEN 200 AND 299 AND NOT robots_noindex
        GROUP BY url""",
        {"revs": revs, "urls": sorted(wanted)},
    )
    return {str(url) for url, first in rows if int(first) < _millis(wanted[str(url)])}


def _millis(moment: Any) -> int:
    if isinstance(moment, datetime):
        return (moment - _EPOCH) // _MILLISECOND
    return int(moment)


def write_batch(index: Index, batch: Batch) -> None:
    """Insert one batch into the index and mark its lost links (see :func:`insert_tables`)."""
    insert_tables(index, batch_tables(batch))


def prepare_arrow() -> None:
    """Pay pyarrow's one-time set-up now rather than in the first batch: its
    first conversion imports pandas when installed (a quarter of a second)."""
    pa.array([""], pa.string())


#: With ``_EPOCH``, values that never win the merge of a marker row (see
#: :func:`mark_lost`): min(first_seen) and max(latest) keep the edge's own (and
#: so its last_seen, the time of latest).
_NEVER = datetime(2299, 12, 31, 23, 59, 59, 999000, tzinfo=UTC)


def mark_lost(index: Index, pages: dict[str, list[Any]], unindexed: set[str] | None = None) -> int:
    """Write ``lost_at`` on the live edges that the latest conclusive fetch of
    a re-fetched page (in ``pages``, a batch's page columns) no longer carries,
    and ``lost_reason``: ``page_redirected`` for a 3xx fetch, ``page_gone``
    for a 4xx, ``page_noindex`` for the pages of ``unindexed`` (turned noindex,
    :func:`turned_noindex`), else ``link_removed``.

    The page's earlier outlinks are its rows in ``edges_by_source``, one key
    range per page. An edge whose ``last_seen`` is older than the page's latest
    conclusive fetch (status below 500: a 5xx proves nothing about the page's
    links) was not in that fetch; if it is still live (``lost_at <=
    last_seen``), a marker row with ``lost_at`` = the fetch time goes into both
    edge tables. The marker's other aggregates never win a merge, so it changes
    nothing else. Pages fetched once are skipped by the same query (they have
    no earlier outlinks to lose). Returns the number of edges marked.
    """
    params = {
        "domains": sorted(set(pages["domain"])),
        "revs": sorted(set(pages["rev_host"])),
        "urls": pages["url"],
    }
    db = index.db
    _, rows = index.query(
        f"""
        SELECT e.source_domain, e.source_rev_host, e.source_url, e.target_url,
               toString(e.kind), e.source_host, e.target_host, e.target_domain, f.refetched,
               f.last_status
        FROM {db}.edges_by_source AS e FINAL
        INNER JOIN (SELECT url, max(fetched_at) AS refetched,
                           argMax(status, fetched_at) AS last_status FROM {db}.fetches
                    WHERE rev_host IN {{revs:Array(String)}} AND url IN {{urls:Array(String)}}
                      AND status < 500
                    GROUP BY url HAVING count() > 1) AS f ON f.url = e.source_url
        WHERE e.source_domain IN {{domains:Array(String)}}
          AND e.source_rev_host IN {{revs:Array(String)}}
          AND e.source_url IN {{urls:Array(String)}}
          AND e.last_seen < f.refetched AND {LIVE}""",
        params,
    )
    if not rows:
        return 0
    columns = list(zip(*rows, strict=True))
    n = len(rows)
    target_hosts = [str(host) for host in columns[6]]
    # Marker rows: the edge's key, and values that never win a merge (first
    # sighting _NEVER, latest sighting _EPOCH with no attributes) but lost_at.
    flags: list[Any] = [False] * n
    by_target, by_source = _edge_tables(
        {
            "source_domain": list(columns[0]),
            "source_rev_host": list(columns[1]),
            "source_url": list(columns[2]),
            "target_url": list(columns[3]),
            "kind": list(columns[4]),
            "source_host": list(columns[5]),
            "target_host": target_hosts,
            "target_domain": list(columns[7]),
            "target_rev_host": [reverse_host(host) for host in target_hosts],
            "seen": [_NEVER] * n,
            "last_seen": [_EPOCH] * n,
            "anchor": [""] * n,
            "image": flags,
            "nofollow": flags,
            "ugc": flags,
            "sponsored": flags,
            "link_count": [0] * n,
            "location": ["other"] * n,
            "text_before": [""] * n,
            "text_after": [""] * n,
        }
    )
    lost_at = pa.array(columns[8], _TIMESTAMP)
    unindexed = unindexed or set()
    reasons = [
        lost_reason(int(status), str(url) in unindexed)
        for url, status in zip(columns[2], columns[9], strict=True)
    ]
    why = pa.StructArray.from_arrays(
        [lost_at, pa.array(reasons, pa.string())], fields=list(_LOST_REASON)
    )
    for table, rows in (("edges", by_target), ("edges_by_source", by_source)):
        rows = rows.append_column("lost_at", lost_at).append_column("lost_reason", why)
        index.insert_arrow(table, rows)
    return n


def refresh_unchanged(index: Index, unchanged: dict[str, list[Any]]) -> pa.Table:
    """Store that the pages of ``unchanged`` (``pages`` columns of 304 answers)
    still carry the links they had: docs/crawling.md#revisits.

    Each page's live edges (its rows in ``edges_by_source`` that are not lost)
    are inserted again into both edge tables with the 304's fetch time as
    their latest sighting and the attributes of their stored one (location
    included, and the texts around each link, which ``edges`` alone keeps), so
    their ``last_seen`` moves on and ``first_seen`` stays (min). Lost edges
    stay lost. Since every live edge is then sighted at the fetch,
    :func:`mark_lost` has nothing to mark for these pages. Returns their
    ``pages`` rows, for the caller to insert after the batch's ``fetches``:
    the stored row (status, content type, depth, outlinks, page facts ...)
    with the new fetch time and job, and the 304's validators and address
    where it sent them (else the stored ones). A page the index has no row
    for keeps the 304's own row.
    """
    db = index.db
    urls = unchanged["url"]
    seen_of = dict(zip(urls, unchanged["fetched_at"], strict=True))
    params = {
        "domains": sorted(set(unchanged["domain"])),
        "revs": sorted(set(unchanged["rev_host"])),
        "urls": urls,
    }
    _, rows = index.query(
        f"""
        SELECT e.source_domain, e.source_rev_host, e.source_url, e.target_url,
               toString(e.kind), e.source_host, e.target_host, e.target_domain, e.first_seen,
               tupleElement(e.latest, 'anchor'), tupleElement(e.latest, 'image'),
               tupleElement(e.latest, 'nofollow'), tupleElement(e.latest, 'ugc'),
               tupleElement(e.latest, 'sponsored'), tupleElement(e.latest, 'link_count'),
               toString(tupleElement(e.latest, 'location'))
        FROM {db}.edges_by_source AS e FINAL
        WHERE e.source_domain IN {{domains:Array(String)}}
          AND e.source_rev_host IN {{revs:Array(String)}}
          AND e.source_url IN {{urls:Array(String)}}
          AND {LIVE}""",
        params,
    )
    if rows:
        columns = list(zip(*rows, strict=True))
        target_hosts = [str(host) for host in columns[6]]
        target_revs = [reverse_host(host) for host in target_hosts]
        texts = _stored_texts(index, columns, target_revs)
        keys = list(zip(columns[3], columns[2], columns[4], strict=True))
        by_target, by_source = _edge_tables(
            {
                "source_domain": list(columns[0]),
                "source_rev_host": list(columns[1]),
                "source_url": list(columns[2]),
                "target_url": list(columns[3]),
                "kind": list(columns[4]),
                "source_host": list(columns[5]),
                "target_host": target_hosts,
                "target_domain": list(columns[7]),
                "target_rev_host": target_revs,
                "seen": list(columns[8]),
                "last_seen": [seen_of[url] for url in columns[2]],
                "anchor": list(columns[9]),
                "image": list(columns[10]),
                "nofollow": list(columns[11]),
                "ugc": list(columns[12]),
                "sponsored": list(columns[13]),
                "link_count": list(columns[14]),
                "location": list(columns[15]),
                "text_before": [texts.get(key, ("", ""))[0] for key in keys],
                "text_after": [texts.get(key, ("", ""))[1] for key in keys],
            }
        )
        index.insert_arrow("edges", by_target)
        index.insert_arrow("edges_by_source", by_source)
    kept = (
        "status",
        "content_type",
        "robots_nofollow",
        "depth",
        "outlinks",
        "dropped_links",
        "robots_noindex",
        "title",
        "lang",
        "words",
        "internal_links",
        "external_links",
        "profile_terms",
        "profile_counts",
    )
    renewed = ("etag", "last_modified", "ip")
    _, stored_rows = index.query(
        f"""
        SELECT url, {", ".join(kept)}, {", ".join(renewed)}
        FROM {db}.pages FINAL
        WHERE rev_host IN {{revs:Array(String)}} AND url IN {{urls:Array(String)}}""",
        params,
    )
    stored = {row[0]: row for row in stored_rows}
    pages = {name: list(values) for name, values in unchanged.items()}
    for i, url in enumerate(urls):
        row = stored.get(url)
        if row is None:
            continue
        for k, name in enumerate(kept, start=1):
            pages[name][i] = row[k]
        for k, name in enumerate(renewed, start=1 + len(kept)):
            pages[name][i] = pages[name][i] or row[k]
    return _page_table(pages)


def _stored_texts(
    index: Index, columns: list[tuple[Any, ...]], target_revs: list[str]
) -> dict[tuple[str, str, str], tuple[str, str]]:
    """The texts around the edges of ``columns`` (rows of :func:`refresh_unchanged`'s
    query), by ``(target_url, source_url, kind)``, from ``edges``: read by
    its key (target first), the one table that keeps them."""
    _, rows = index.query(
        f"""
        SELECT target_url, source_url, toString(kind),
               tupleElement(latest, 'text_before'), tupleElement(latest, 'text_after')
        FROM {index.db}.edges FINAL
        WHERE target_domain IN {{domains:Array(String)}}
          AND target_rev_host IN {{revs:Array(String)}}
          AND target_url IN {{targets:Array(String)}}
          AND source_url IN {{sources:Array(String)}}""",
        {
            "domains": sorted(set(columns[7])),
            "revs": sorted(set(target_revs)),
            "targets": sorted(set(columns[3])),
            "sources": sorted(set(columns[2])),
        },
    )
    return {(str(t), str(s), str(k)): (str(b), str(a)) for t, s, k, b, a in rows}


def lost_reason(status: int, turned_noindex: bool) -> str:
    """The reason a conclusive fetch answering ``status`` lost a page's links."""
    if 300 <= status < 400 and status != NOT_MODIFIED:
        return "page_redirected"
    if 400 <= status < 500:
        return "page_gone"
    return "page_noindex" if turned_noindex else "link_removed"


class EdgeWriter:
    """Buffers page records and writes them to the index in batches.

    ``batch_pages`` and ``batch_seconds`` bound how much and how long a page
    may wait (defaults: ``CLICKHOUSE_BATCH_PAGES``, ``CLICKHOUSE_BATCH_SECONDS``).
    Not thread-safe: one writer per consuming thread, except that the tables
    :meth:`tables` makes of the pages :meth:`take` hands over may be inserted
    (:meth:`insert`, one batch at a time) by another thread.
    """

    def __init__(
        self,
        index: Index,
        batch_pages: int = config.CLICKHOUSE_BATCH_PAGES,
        batch_seconds: float = config.CLICKHOUSE_BATCH_SECONDS,
    ) -> None:
        self.index = index
        self.batch_pages = batch_pages
        self.batch_seconds = batch_seconds
        self._buffer: list[PageRecord] = []
        self._oldest = 0.0
        self.pages_written = 0
        self.edges_written = 0
        self.links_dropped = 0

    def add(self, page: PageRecord) -> bool:
        """Buffer one page; True when the buffer is full or old and should be flushed."""
        if not self._buffer:
            self._oldest = time.monotonic()
        self._buffer.append(page)
        return len(self._buffer) >= self.batch_pages or self.due()

    def __len__(self) -> int:
        return len(self._buffer)

    def due(self) -> bool:
        """True when buffered pages have waited ``batch_seconds``."""
        return bool(self._buffer) and time.monotonic() - self._oldest >= self.batch_seconds

    def take(self) -> list[PageRecord]:
        """Hand over the buffered pages, to be written elsewhere, and empty the buffer."""
        pages = self._buffer
        self._buffer = []
        return pages

    def flush(self) -> None:
        """Write everything buffered; on error the buffer is kept for a retry."""
        if not self._buffer:
            return
        self.insert(self.tables(self._buffer))
        self._buffer.clear()

    @staticmethod
    def tables(pages: list[PageRecord]) -> Tables:
        """The index rows of ``pages``, one batch of Arrow tables; ``pages`` is left as it is."""
        return batch_tables(build_batch(pages))

    def insert(self, tables: Tables) -> None:
        """Insert one batch and count it; a failed insert may be repeated with the same tables."""
        insert_tables(self.index, tables)
        self.pages_written += tables.pages_in
        self.edges_written += tables.edges_out
        self.links_dropped += tables.links_dropped
        log.debug("wrote %d pages, %d edges", tables.pages_in, tables.edges_out)
