"""End to end: ``linkgraph ingest warc|wat`` and ``job start --warc-paths`` (docs/ingest.md).

The archives are written from the synthetic test web's real answers: every
URL a crawl of it fetches, fetched through its proxy without following
redirects, kept whole (:mod:`tests.integration.archives`). Ingested into a
fresh index, the WARC must give exactly the edges the crawl oracle gives, and
the same index a real ``linkgraph crawl`` of the web builds, field by field
(fetch times, depth and job aside); the WAT derived from it must give the
edges its links carry. Through Kafka and a consumer, and as a distributed job
whose worker is killed mid-file, the index must end the same.
"""

from __future__ import annotations

import json
import signal
import time
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from tests.integration.archives import Answer, record_web, warc_bytes, warc_records, wat_bytes
from tests.integration.cluster import KAFKA, REDIS, Cluster, require_services
from tests.integration.crawls import crawl_web
from tests.synthweb import ProxyServer, SyntheticWeb, expect
from tests.synthweb.oracle import EDGE_FIELDS, describe_edge_diff, edge_key

pytestmark = [pytest.mark.integration, pytest.mark.slow]

#: Columns of the pages table an ingest and a crawl need not share.
PAGE_COLUMNS_ASIDE = ("fetched_at", "depth", "job")
#: Columns of the links view an ingest and a crawl need not share.
LINK_COLUMNS_ASIDE = ("first_seen", "last_seen")


@pytest.fixture(scope="module")
def answers(synth_web: SyntheticWeb, web_proxy: ProxyServer) -> list[Answer]:
    """The answer to every URL a crawl of the test web fetches, in URL order."""
    return record_web(web_proxy.url, sorted(expect(synth_web).fetched))


@pytest.fixture(scope="module")
def archives(answers: list[Answer], tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("archives")
    (folder / "web.warc.gz").write_bytes(warc_bytes(answers))
    (folder / "web.warc.wat.gz").write_bytes(wat_bytes(answers))
    return folder


def _export(cli, data_dir: Path) -> list[dict[str, Any]]:
    result = cli.run("export", "edges", "--format", "jsonl", "--data-dir", str(data_dir))
    return [json.loads(line) for line in result.stdout.splitlines() if line.strip()]


def _sql(cli, data_dir: Path, statement: str) -> list[dict[str, Any]]:
    result = cli.run("sql", statement, "--format", "jsonl", "--data-dir", str(data_dir))
    return [json.loads(line) for line in result.stdout.splitlines() if line.strip()]


def _assert_same_edges(expected: list[dict[str, Any]], actual: list[dict[str, Any]]) -> None:
    diff = describe_edge_diff(expected, actual)
    if diff:
        pytest.fail("ingested edges differ from the oracle:\n" + diff, pytrace=False)


@pytest.fixture(scope="module")
def warc_index(cli, archives: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    data_dir = tmp_path_factory.mktemp("warc-index") / "index"
    result = cli.run("ingest", "warc", str(archives / "web.warc.gz"), "--data-dir", str(data_dir))
    assert "Traceback" not in result.stderr
    return data_dir


def test_warc_gives_exactly_the_crawl_oracle_edges(
    cli, synth_web: SyntheticWeb, warc_index: Path
) -> None:
    _assert_same_edges(expect(synth_web).edges, _export(cli, warc_index))


def test_warc_edges_are_seen_at_the_record_dates(
    cli, answers: list[Answer], warc_index: Path
) -> None:
    dates = {answer.url: answer.date for answer in answers}
    records = _export(cli, warc_index)
    assert records
    for record in records:
        seen = datetime.fromisoformat(record["first_seen"].replace("Z", "+00:00"))
        assert seen == dates[record["source_url"]], record
        assert record["last_seen"] == record["first_seen"], record


def test_warc_index_equals_the_index_of_a_crawl(
    cli,
    synth_web: SyntheticWeb,
    web_proxy: ProxyServer,
    warc_index: Path,
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    crawl = crawl_web(cli, synth_web, web_proxy, tmp_path_factory.mktemp("crawl-for-warc"))
    for table, aside, order in (
        ("pages", PAGE_COLUMNS_ASIDE, "url"),
        ("links", LINK_COLUMNS_ASIDE, "source_url, target_url, kind"),
    ):
        statement = f"SELECT * EXCEPT ({', '.join(aside)}) FROM {table} ORDER BY {order}"
        crawled = _sql(cli, crawl.data_dir, statement)
        ingested = _sql(cli, warc_index, statement)
        assert crawled, table
        missing = [row for row in crawled if row not in ingested]
        extra = [row for row in ingested if row not in crawled]
        assert not missing and not extra, (
            f"{table}: {len(missing)} rows of the crawl not ingested, e.g. {missing[:3]}; "
            f"{len(extra)} ingested rows not crawled, e.g. {extra[:3]}"
        )


def test_wat_gives_the_edges_its_links_carry(
    cli, synth_web: SyntheticWeb, archives: Path, tmp_path: Path
) -> None:
    data_dir = tmp_path / "index"
    cli.run("ingest", "wat", str(archives / "web.warc.wat.gz"), "--data-dir", str(data_dir))
    records = _export(cli, data_dir)
    expected = []
    for edge in expect(synth_web).edges:
        wat_edge = dict(edge)
        if edge["image"]:
            # WAT keeps an <a>'s text; an image's alt is a separate IMG entry.
            wat_edge["anchor"], wat_edge["image"] = "", False
        expected.append(wat_edge)
    _assert_same_edges(expected, records)
    locations = _sql(cli, data_dir, "SELECT DISTINCT location FROM links")
    assert locations == [{"location": "other"}]


def test_damaged_records_are_counted_and_skipped(
    cli, synth_web: SyntheticWeb, answers: list[Answer], tmp_path: Path
) -> None:
    import gzip

    records = warc_records(answers)
    dns = (
        b"WARC/1.0\r\nWARC-Type: resource\r\nWARC-Target-URI: dns:example.com\r\n"
        b"WARC-Date: 2024-05-01T12:00:00Z\r\nContent-Type: text/dns\r\n"
        b"Content-Length: 7\r\n\r\n1.2.3.4\r\n\r\n"
    )
    damaged = (
        gzip.compress(records[0])
        + gzip.compress(dns)
        + b"\x1f\x8b\x08\x00 a corrupt gzip member"
        + gzip.compress(b"WARC/1.0\r\nWARC-Type: response\r\nContent-Length: x\r\n\r\n")
        + b"".join(gzip.compress(record) for record in records[1:-1])
        + gzip.compress(records[-1])[:-40]
    )
    path = tmp_path / "damaged.warc.gz"
    path.write_bytes(damaged)
    data_dir = tmp_path / "index"
    result = cli.run("ingest", "warc", str(path), "--data-dir", str(data_dir))
    assert "Traceback" not in result.stderr
    assert "1 records skipped" in result.stderr, result.stderr
    assert "2 corrupt, 1 truncated" in result.stderr, result.stderr
    last = answers[-1].url
    expected = [edge for edge in expect(synth_web).edges if edge["source_url"] != last]
    _assert_same_edges(expected, _export(cli, data_dir))


# -- through Kafka, and as a distributed job --------------------------------------------


@pytest.fixture
def cluster(web_proxy: ProxyServer, tmp_path: Path) -> Iterator[Cluster]:
    require_services()
    cluster = Cluster(web_proxy, tmp_path, REDIS, KAFKA)
    yield cluster
    cluster.stop_all()


def _wait_indexed(cluster: Cluster, timeout: float = 120) -> None:
    """Until the consumer group has committed every message of the topic."""
    from crawler.frontier.wait import _kafka_offsets
    from linkcore import config

    end_offsets, committed, close = _kafka_offsets(KAFKA, cluster.topic, config.KAFKA_GROUP)
    deadline = time.monotonic() + timeout
    try:
        target = end_offsets()
        assert sum(target.values()) > 0, "nothing reached the topic"
        while True:
            done = committed()
            if all(done.get(tp, 0) >= end for tp, end in target.items()):
                return
            if time.monotonic() > deadline:
                pytest.fail(f"the consumer did not index the topic\n{cluster.logs()}")
            time.sleep(0.5)
    finally:
        close()


def _assert_exact(cluster: Cluster, web: SyntheticWeb) -> None:
    records = cluster.export()
    got = sorted(({k: r[k] for k in EDGE_FIELDS} for r in records), key=edge_key)
    want = sorted(({k: e[k] for k in EDGE_FIELDS} for e in expect(web).edges), key=edge_key)
    if got != want:
        pytest.fail(
            "the index differs from the oracle:\n" + describe_edge_diff(want, got) + cluster.logs()
        )


def test_kafka_through_a_consumer_ends_exact(
    cluster: Cluster, synth_web: SyntheticWeb, archives: Path
) -> None:
    cluster.start_consumer()
    result = cluster.cli("ingest", "warc", str(archives / "web.warc.gz"), "--kafka")
    assert "Kafka" in result.stderr and "Traceback" not in result.stderr
    _wait_indexed(cluster)
    cluster.stop_all()
    _assert_exact(cluster, synth_web)


def test_distributed_job_with_a_worker_killed_mid_file_ends_exact(
    cluster: Cluster, synth_web: SyntheticWeb, answers: list[Answer], tmp_path: Path
) -> None:
    # Three files, each the whole web ten times over: long enough that a
    # worker is killed inside one (replays of a page are harmless).
    paths = []
    for number in range(3):
        path = tmp_path / f"part-{number}.warc.gz"
        path.write_bytes(warc_bytes(answers * 10))
        paths.append(str(path))
    listing = tmp_path / "warc.paths"
    listing.write_text("# three parts\n" + "\n".join(paths) + "\n", encoding="utf-8")
    cluster.start_consumer()
    cluster.start_workers(1, "--lease", "3")
    cluster.wait_for_workers()
    cluster.cli("job", "start", "archives", "--warc-paths", str(listing))
    deadline = time.monotonic() + 60
    status: dict[str, Any] = {}
    while time.monotonic() < deadline:
        status = json.loads(cluster.cli("job", "status", "archives", "--format", "json").stdout)
        if status["in_flight"] == 1 and status["files_read"] < 3:
            break
        time.sleep(0.1)
    cluster.workers[0].send_signal(signal.SIGKILL)
    cluster.workers[0].wait(timeout=30)
    status = json.loads(cluster.cli("job", "status", "archives", "--format", "json").stdout)
    assert status["in_flight"] == 1, f"no file was being read when the worker died: {status}"
    assert status["files_read"] < 3, status
    cluster.start_workers(1, "--lease", "3")
    final = cluster.wait_job("archives", "240")
    assert final["kind"] == "archives" and final["files_read"] == 3, final
    assert final["pages"] == 3 * 10 * len(answers), final
    cluster.stop_all()
    _assert_exact(cluster, synth_web)


def test_urls_and_stdin_are_read_as_streams(
    cli, synth_web: SyntheticWeb, archives: Path, tmp_path: Path
) -> None:
    import functools
    import http.server
    import os
    import subprocess
    import threading

    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(archives))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    env = {**cli.env, "no_proxy": "127.0.0.1"}
    url = f"http://127.0.0.1:{server.server_address[1]}"

    def ingest(source: str, data_dir: Path, stdin: Any = None) -> Any:
        return subprocess.run(
            [*cli.command, "ingest", "warc", source, "--data-dir", str(data_dir)],
            env={**os.environ, **env},
            stdin=stdin,
            capture_output=True,
            text=True,
            timeout=300,
            cwd=cli.workdir,
        )

    try:
        by_url = ingest(f"{url}/web.warc.gz", tmp_path / "a")
        missing = ingest(f"{url}/nothing.warc.gz", tmp_path / "b")
    finally:
        server.shutdown()
    assert by_url.returncode == 0, by_url.stderr
    _assert_same_edges(expect(synth_web).edges, _export(cli, tmp_path / "a"))
    assert missing.returncode == 1 and "Traceback" not in missing.stderr
    assert f"cannot read {url}/nothing.warc.gz: HTTP 404" in missing.stderr, missing.stderr
    with open(archives / "web.warc.gz", "rb") as stdin:
        piped = ingest("-", tmp_path / "c", stdin)
    assert piped.returncode == 0, piped.stderr
    _assert_same_edges(expect(synth_web).edges, _export(cli, tmp_path / "c"))


def test_a_worker_stopped_with_sigterm_hands_its_file_back(
    cluster: Cluster, synth_web: SyntheticWeb, answers: list[Answer], tmp_path: Path
) -> None:
    path = tmp_path / "big.warc.gz"
    path.write_bytes(warc_bytes(answers * 10))
    wat = tmp_path / "web.warc.wat.gz"
    wat.write_bytes(wat_bytes(answers))
    listing = tmp_path / "warc.paths"
    listing.write_text(f"{path}\n{wat}\n", encoding="utf-8")
    cluster.start_consumer()
    # Leases of two minutes: the job can end in time only if the file is handed back.
    cluster.start_workers(1, "--lease", "120")
    cluster.wait_for_workers()
    cluster.cli("job", "start", "handback", "--warc-paths", str(listing))
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        status = json.loads(cluster.cli("job", "status", "handback", "--format", "json").stdout)
        if status["in_flight"] == 1 and status["files_read"] == 0:
            break
        time.sleep(0.1)
    cluster.workers[0].send_signal(signal.SIGTERM)
    assert cluster.workers[0].wait(timeout=60) == 0, cluster.logs()
    status = json.loads(cluster.cli("job", "status", "handback", "--format", "json").stdout)
    assert status["in_flight"] == 0 and status["queued"] >= 1, status
    cluster.start_workers(1, "--lease", "120")
    final = cluster.wait_job("handback", "90")
    assert final["files_read"] == 2 and final["pages"] == 11 * len(answers), final
    cluster.stop_all()
    # The WAT's sightings have the WARC's dates: the index keeps, per edge, the
    # greater attributes of equal sightings, so the WARC's (an image link's alt,
    # a location) stand, and the edges are the oracle's.
    _assert_exact(cluster, synth_web)
