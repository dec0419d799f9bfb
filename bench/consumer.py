"""Consumer edges per second, Kafka → index, and Kafka bytes per link.

The workload is the benchmark web's pages as the crawler would produce them
(:func:`page_records`: extracted, one page record per page), produced once to
a fresh topic. Two kinds of child process run alternately, each into a fresh
embedded index:

- **ours**: the real consumer (:class:`consumers.service.ConsumerService`,
  as ``linkgraph consume`` builds it) from the first message taken to the
  last batch written: decode, validate, normalize, build, insert, commit;
- **baseline**: clickhouse-connect's ``insert_arrow`` of the same rows,
  already normalized and already in Arrow tables, into the same four tables
  in the same batches — the bare cost of storing them.

Wire bytes are the record batches kafka-python builds for these messages,
partitioned by key as the producer does, with the configured codec (zstd)
against no compression: exactly what travels to the broker and sits in its
log, without the few bytes of request framing.
"""

from __future__ import annotations

import json
import resource
import shutil
import tempfile
import threading
import time
import uuid
from pathlib import Path
from typing import Any

from bench.common import Figure, Note, Result, alternate, median, python, run_child
from bench.web import build_bench_web
from linkcore.records import PageRecord

__all__ = [
    "bare_child",
    "consumer_child",
    "delete_topics",
    "page_records",
    "run",
    "wire_bytes",
]

# A fixed fetch time, so every process builds byte-identical records.
_FETCHED_AT = 1_763_700_000.0
# The consumer's default batch (CLICKHOUSE_BATCH_PAGES), or the whole workload if smaller.
_BATCH_PAGES = 500


def page_records(pages: int) -> list[PageRecord]:
    """The page records a crawl of the ``pages``-page benchmark web produces."""
    from crawler.extract import extract_links

    bench = build_bench_web(pages)
    records = []
    for number, url in enumerate(bench.page_urls):
        extraction = extract_links(bench.web.resources[url].body.decode("utf-8"), url, url)
        records.append(
            PageRecord(
                url=url,
                status=200,
                fetched_at=_FETCHED_AT + number / 1000,
                content_type="text/html",
                robots_nofollow=extraction.robots_nofollow,
                depth=1,
                links=extraction.links,
                dropped_links=extraction.dropped,
                job="bench",
            )
        )
    return records


def wire_bytes(records: list[PageRecord], codec: str | None) -> int:
    """Bytes of the Kafka record batches carrying ``records`` (see module doc)."""
    from kafka.partitioner.default import murmur2
    from kafka.record.default_records import DefaultRecordBatchBuilder
    from kafka.record.memory_records import MemoryRecordsBuilder

    from linkcore import kafka as lgkafka

    codes = {
        None: 0,
        "gzip": 1,
        "snappy": 2,
        "lz4": 3,
        "zstd": DefaultRecordBatchBuilder.CODEC_ZSTD,
    }
    settings = lgkafka.KafkaSettings()
    batch_size = 256 * 1024  # as make_producer sets it
    builders: dict[int, MemoryRecordsBuilder] = {}
    total = 0
    for record in records:
        key, value, headers = lgkafka.encode_page(record)
        partition = (murmur2(key) & 0x7FFFFFFF) % settings.partitions if key else 0
        for _ in range(2):
            builder = builders.get(partition)
            if builder is None:
                builder = builders[partition] = MemoryRecordsBuilder(2, codes[codec], batch_size)
            if builder.append(0, key, value, headers) is not None:
                break
            builder.close()
            total += builder.size_in_bytes()
            del builders[partition]
    for builder in builders.values():
        builder.close()
        total += builder.size_in_bytes()
    return total


def _produce(records: list[PageRecord], topic: str) -> None:
    from linkcore import kafka as lgkafka

    settings = lgkafka.resolve_kafka(topic=topic)
    producer = lgkafka.make_producer(settings)
    try:
        for record in records:
            key, value, headers = lgkafka.encode_page(record)
            producer.send(topic, key=key, value=value, headers=headers)
        producer.flush(60)
    finally:
        lgkafka.close_producer(producer, 30)


def delete_topics(topics: list[str]) -> None:
    """Delete those of ``topics`` that exist."""
    from linkcore import kafka as lgkafka

    settings = lgkafka.resolve_kafka()
    admin = lgkafka.make_admin(settings)
    try:
        existing = set(admin.list_topics())
        doomed = [topic for topic in topics if topic in existing]
        if doomed:
            admin.delete_topics(doomed)
    finally:
        admin.close()


def _disk_bytes(index: Any) -> tuple[int, int]:
    _, rows = index.query(
        "SELECT sumIf(bytes_on_disk, table IN ('edges', 'edges_by_source')), sum(bytes_on_disk) "
        f"FROM system.parts WHERE active AND database = '{index.db}'"
    )
    return int(rows[0][0]), int(rows[0][1])


def consumer_child(
    data_dir: str, topic: str, expected_edges: int, batch_pages: int
) -> dict[str, Any]:
    """Run the real consumer until ``expected_edges`` are written; its figures.

    ``batch_pages`` divides the workload, so no partial batch waits out
    ``batch_seconds`` at the end and gets counted as work.
    """
    from consumers.dlq import DeadLetters
    from consumers.service import ConsumerConfig, ConsumerService
    from linkcore import kafka as lgkafka
    from linkindex.client import open_index, resolve_location

    config = ConsumerConfig(
        index=resolve_location(data_dir, None),
        bootstrap=lgkafka.resolve_kafka().bootstrap,
        topic=topic,
        group_id=f"linkgraph-bench-{uuid.uuid4().hex[:8]}",
        batch_pages=batch_pages,
    )
    settings = config.kafka_settings()
    index = open_index(config.index)
    dead_letters = DeadLetters.open(settings, config.dlq_topic)
    consumer = lgkafka.make_consumer(settings, config.group_id)
    stop = threading.Event()
    service = ConsumerService(config, consumer, dead_letters, index, stop)

    def watch() -> None:
        deadline = time.monotonic() + 600
        while service.edges_written < expected_edges and time.monotonic() < deadline:
            time.sleep(0.02)
        stop.set()

    threading.Thread(target=watch, daemon=True).start()
    started_cpu = time.process_time()
    code = service.run()
    cpu = time.process_time() - started_cpu
    try:
        consumer.close(autocommit=False)
    finally:
        dead_letters.close()
    if code != 0 or service.first_taken is None or service.last_written is None:
        raise RuntimeError(f"consumer stopped with status {code}")
    edge_bytes, all_bytes = _disk_bytes(index)
    return {
        "edges": service.edges_written,
        "pages": service.pages_written,
        "seconds": service.last_written - service.first_taken,
        "cpu": cpu,
        "rss_kib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
        "edge_table_bytes": edge_bytes,
        "index_bytes": all_bytes,
        "dead_lettered": service.dead_lettered,
    }


def bare_child(data_dir: str, pages: int, batch_pages: int) -> dict[str, Any]:
    """Insert the already-normalized rows of the workload with ``insert_arrow``; its figures."""
    from linkindex.client import open_index, resolve_location
    from linkindex.writer import _edge_tables, _page_table, build_batch

    index = open_index(resolve_location(data_dir, None))
    records = page_records(pages)
    prepared = []
    edges = 0
    for start in range(0, len(records), batch_pages):
        batch = build_batch(records[start : start + batch_pages])
        by_target, by_source = _edge_tables(batch.edges)
        page_table = _page_table(batch.pages)
        fetches = page_table.select(["rev_host", "url", "fetched_at", "status", "job"])
        prepared.append((by_target, by_source, fetches, page_table))
        edges += batch.edges_out
    started = time.monotonic()
    for by_target, by_source, fetches, page_table in prepared:
        index.insert_arrow("edges", by_target)
        index.insert_arrow("edges_by_source", by_source)
        index.insert_arrow("fetches", fetches)
        index.insert_arrow("pages", page_table)
    return {"edges": edges, "seconds": time.monotonic() - started}


def run(*, quick: bool = False) -> Result:
    """Median edges/s of ours and the bare insert, wire bytes per link, disk bytes per edge."""
    from linkcore import kafka as lgkafka
    from linkindex.writer import build_batch

    pages = 240 if quick else 3000
    runs = 1 if quick else 3
    batch_pages = min(_BATCH_PAGES, pages)
    records = page_records(pages)
    links = sum(len(record.links) for record in records)
    codec = lgkafka.KafkaSettings().codec
    compressed = wire_bytes(records, codec)
    uncompressed = wire_bytes(records, None)
    topic = f"bench.{uuid.uuid4().hex[:10]}"
    root = Path(tempfile.mkdtemp(prefix="linkgraph-bench-consumer-"))
    reports: list[dict[str, Any]] = []
    bare_edges: list[int] = []
    try:
        _produce(records, topic)
        edges_expected = build_batch(records).edges_out

        def ours() -> float:
            data = root / f"ours-{len(reports)}"
            child = run_child(
                [
                    *python(),
                    "consumer-child",
                    "--data-dir",
                    str(data),
                    "--topic",
                    topic,
                    "--edges",
                    str(edges_expected),
                    "--batch-pages",
                    str(batch_pages),
                ]
            )
            shutil.rmtree(data, ignore_errors=True)
            report = child.json()
            reports.append(report)
            return float(report["edges"]) / float(report["seconds"])

        def bare() -> float:
            data = root / f"bare-{len(bare_edges)}"
            report = run_child(
                [
                    *python(),
                    "bare-child",
                    "--data-dir",
                    str(data),
                    "--pages",
                    str(pages),
                    "--batch-pages",
                    str(batch_pages),
                ]
            ).json()
            shutil.rmtree(data, ignore_errors=True)
            bare_edges.append(int(report["edges"]))
            return float(report["edges"]) / float(report["seconds"])

        mine, theirs = alternate(ours, bare, runs)
    finally:
        shutil.rmtree(root, ignore_errors=True)
        delete_topics([topic, f"{topic}.dlq"])
    if {int(r["edges"]) for r in reports} != set(bare_edges):
        raise RuntimeError(f"consumer wrote {reports}, the bare insert {bare_edges} edges")
    last = reports[-1]
    return Result(
        figures=[
            Figure(
                "consumer, Kafka → index, one process",
                "edges/s",
                median(mine),
                median(theirs),
                "clickhouse-connect insert_arrow of the same normalized rows",
                target=0.5,
                runs=runs,
            ),
            Figure(
                "Kafka bytes per link on the wire",
                "bytes/link",
                compressed / links,
                uncompressed / links,
                "the same page messages, uncompressed JSON",
                target=5.0,
                higher_is_better=False,
            ),
        ],
        notes=[
            Note(
                "consumer: edges/s (ours)", median(mine), "edges/s", f"{pages} pages, {links} links"
            ),
            Note(
                "index bytes on disk per edge",
                last["index_bytes"] / last["edges"],
                "bytes/edge",
                f"edge tables alone {last['edge_table_bytes'] / last['edges']:.1f} "
                "(two orderings: by target and by source), before background merges",
            ),
            Note("peak RSS, consumer", max(r["rss_kib"] for r in reports) / 1024, "MiB", ""),
        ],
    )


def main_consumer(data_dir: str, topic: str, edges: int, batch_pages: int) -> int:
    """Entry of ``python -m bench consumer-child``."""
    print(json.dumps(consumer_child(data_dir, topic, edges, batch_pages)))
    return 0


def main_bare(data_dir: str, pages: int, batch_pages: int) -> int:
    """Entry of ``python -m bench bare-child``."""
    print(json.dumps(bare_child(data_dir, pages, batch_pages)))
    return 0
