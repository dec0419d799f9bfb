"""What the text profile costs the crawler: CPU and bytes per page (docs/relevance.md).

On the extraction benchmark's pages (:mod:`bench.web`):

- CPU: :func:`linkcore.profiles.text_profile` on each page's visible text
  (the text the extraction reads once for its word count and profile),
  against the whole extraction of the same page
  (:func:`crawler.extract.extract_links`, profile included); CPU time of this
  process, rounds alternating, median per page;
- bytes: the profile's share of a page record as it travels (its JSON, the
  Kafka message body), and what the index stores per page for it (the
  ``profile_*`` columns of ``pages``, compressed, in an embedded index).
"""

from __future__ import annotations

import json
import tempfile
import time
import uuid
from collections.abc import Callable, Sequence
from typing import Any

from bench.common import Figure, Note, Result, alternate, median
from bench.web import build_bench_web

__all__ = ["run"]


def _timed(items: list[str], work: Callable[[str], object]) -> float:
    started = time.process_time()
    for item in items:
        work(item)
    return (time.process_time() - started) / len(items) * 1e6


def _stored_bytes(records: Sequence[Any]) -> float:
    """Compressed bytes of the profile columns per page, in an embedded index."""
    from linkcore.records import PageRecord
    from linkindex.client import IndexLocation, open_index
    from linkindex.writer import EdgeWriter

    database = f"bench_{uuid.uuid4().hex[:10]}"
    with tempfile.TemporaryDirectory(prefix="bench-profile-") as data_dir:
        index = open_index(IndexLocation(data_dir=data_dir, database=database))
        try:
            writer = EdgeWriter(index)
            for record in records:
                assert isinstance(record, PageRecord)
                writer.add(record)
            writer.flush()
            # A wide part, which keeps each column in files of its own, so
            # that its size can be read (a small part is one file for all).
            index.command(
                f"ALTER TABLE {database}.pages MODIFY SETTING min_bytes_for_wide_part = 0, "
                "min_rows_for_wide_part = 0"
            )
            index.command(f"OPTIMIZE TABLE {database}.pages FINAL")
            _, rows = index.query(
                "SELECT sum(column_data_compressed_bytes) FROM system.parts_columns "
                "WHERE database = {db:String} AND table = 'pages' AND active "
                "AND column IN ('profile_terms', 'profile_counts')",
                {"db": database},
            )
            return float(rows[0][0]) / len(records)
        finally:
            index.command(f"DROP DATABASE IF EXISTS {database}")


def run(*, quick: bool = False) -> Result:
    """µs of CPU and bytes per page of the text profile, beside the extraction's."""
    from selectolax.lexbor import LexborHTMLParser

    from crawler.extract import extract_links
    from linkcore.profiles import encode, text_profile
    from linkcore.records import PageRecord

    pages = build_bench_web(400 if quick else 800).html_pages(20 if quick else 100)
    documents = [(url, body.decode("utf-8")) for url, body in pages]
    texts = []
    for _, document in documents:
        body = LexborHTMLParser(document).body
        texts.append(body.text(separator=" ") if body is not None else "")
    by_url = dict(documents)

    def extraction() -> float:
        return _timed(
            [url for url, _ in documents], lambda url: extract_links(by_url[url], url, url)
        )

    runs = 3 if quick else 7
    for text in texts:  # warm
        text_profile(text)
    mine, theirs = alternate(lambda: _timed(texts, text_profile), extraction, runs)

    records = []
    with_profile = without = 0
    for url, document in documents:
        extracted = extract_links(document, url, url)
        record = PageRecord(url, 200, 1.7e9, "text/html", links=extracted.links)
        without += len(json.dumps(record.to_dict(), separators=(",", ":")).encode())
        record.profile = extracted.profile
        with_profile += len(json.dumps(record.to_dict(), separators=(",", ":")).encode())
        records.append(record)
    added = (with_profile - without) / len(documents)
    record_bytes = without / len(documents)
    terms = sum(len(r.profile) for r in records) / len(records)
    profile_bytes = sum(len(encode(r.profile).encode()) for r in records) / len(records)
    return Result(
        figures=[
            Figure(
                "text profile, CPU per page",
                "µs/page",
                median(mine),
                median(theirs),
                "the whole link extraction of the page (profile included)",
                higher_is_better=False,
                runs=runs,
            ),
            Figure(
                "text profile, bytes added to a page record",
                "bytes/page",
                added,
                record_bytes,
                "the page record without it (JSON, as Kafka carries it)",
                higher_is_better=False,
            ),
        ],
        notes=[
            Note(
                "text profile, stored per page",
                _stored_bytes(records),
                "bytes",
                f"profile_terms + profile_counts of `pages`, compressed; {terms:.0f} terms "
                f"per page, {profile_bytes:.0f} bytes as text",
            )
        ],
    )
