"""The scale benchmark's generator and statistics (``make bench-query``), at 20k edges."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from bench.common import median, percentile
from bench.query.dataset import Dataset, generate
from bench.query.graph import NAME_WORDS, TOPIC_WORDS, GraphSql, Shape
from bench.query.timing import (
    SLOW_RUNS,
    DiskUse,
    Query,
    Timing,
    queries_for,
    table,
    time_queries,
)
from linkcore.urls import host_of, normalize, registered_domain, reverse_host
from linkindex import queries, reports, rollups
from linkindex.client import Index, IndexLocation, open_index
from linkindex.queries import Filters, Target

EDGES = 20_000


def _open(index_dir: Path) -> Index:
    return open_index(IndexLocation(data_dir=str(index_dir), database=f"t_{uuid.uuid4().hex[:12]}"))


@pytest.fixture(scope="module")
def generated(index_dir: Path) -> Iterator[tuple[Index, Dataset]]:
    """One generated graph shared by the read-only tests of this module."""
    index = _open(index_dir)
    dataset = generate(index, EDGES, seed=7, chunk_edges=6_000)
    yield index, dataset
    index.command(f"DROP DATABASE IF EXISTS {index.db}")


def scalar(index: Index, sql: str) -> int:
    return int(index.query(sql.format(db=index.db))[1][0][0])


def test_exact_counts(generated) -> None:
    index, dataset = generated
    assert dataset.edges == EDGES
    # Several chunks (6,000 edges each), and no edge written twice.
    assert scalar(index, "SELECT count() FROM {db}.edges FINAL") == EDGES
    assert scalar(index, "SELECT count() FROM {db}.edges_by_source FINAL") == EDGES
    assert dataset.rows["edges"] == dataset.rows["edges_by_source"] == EDGES
    # One page row per source page, listing its links; two fetches each.
    assert scalar(index, "SELECT count() FROM {db}.pages FINAL") == dataset.source_pages
    assert scalar(index, "SELECT sum(outlinks) FROM {db}.pages FINAL") == EDGES
    assert scalar(index, "SELECT uniqExact(source_url) FROM {db}.edges") == dataset.source_pages
    assert scalar(index, "SELECT uniqExact(url) FROM {db}.fetches") == dataset.source_pages
    assert scalar(index, "SELECT count() FROM {db}.fetches FINAL") > 1.9 * dataset.source_pages


def test_both_edge_tables_hold_the_same_edges(generated) -> None:
    index, _ = generated
    # Every element of `latest` but the texts, which `edges` alone keeps.
    shared = ", ".join(
        f"tupleElement(latest, '{name}')"
        for name in (
            "seen", "anchor", "image", "nofollow", "ugc", "sponsored", "link_count", "location"
        )
    )  # fmt: skip
    columns = (
        "source_url, source_host, source_domain, target_url, target_host, target_domain, "
        f"kind, {shared}, first_seen, last_seen, lost_at, lost_reason"
    )
    for a, b in (("edges", "edges_by_source"), ("edges_by_source", "edges")):
        differ = f"SELECT {columns} FROM {{db}}.{a} EXCEPT SELECT {columns} FROM {{db}}.{b}"
        assert scalar(index, f"SELECT count() FROM ({differ})") == 0
    texts = "countIf(tupleElement(latest, 'text_before') != '')"
    assert scalar(index, f"SELECT {texts} FROM {{db}}.edges") > 0


def test_refdomains_rollup_matches_the_edges(generated) -> None:
    index, _ = generated
    rollup = (
        "SELECT target_domain, source_domain, min(first_seen), max(last_seen) "
        "FROM {db}.refdomains GROUP BY target_domain, source_domain"
    )
    direct = (
        "SELECT target_domain, source_domain, min(first_seen), max(last_seen) "
        "FROM {db}.edges GROUP BY target_domain, source_domain"
    )
    # Sites link to few domains from many pages: far fewer domain pairs than edges.
    assert 1_000 < scalar(index, f"SELECT count() FROM ({direct})") < EDGES / 3
    assert scalar(index, f"SELECT count() FROM ({rollup} EXCEPT {direct})") == 0
    assert scalar(index, f"SELECT count() FROM ({direct} EXCEPT {rollup})") == 0


def test_urls_are_normalized_and_hosts_agree_with_the_url_module(generated) -> None:
    index, _ = generated
    _, rows = index.query(
        f"""SELECT target_url, target_host, target_domain, target_rev_host,
                   source_url, source_host, source_domain
            FROM {index.db}.edges ORDER BY cityHash64(source_url, target_url) LIMIT 3000"""
    )
    suffixes = set()
    for target_url, target_host, target_domain, target_rev, source_url, source_host, domain in rows:
        for url, host, registered in (
            (target_url, target_host, target_domain),
            (source_url, source_host, domain),
        ):
            assert normalize(url) == url
            assert host_of(url) == host
            assert registered_domain(host) == registered
        assert reverse_host(target_host) == target_rev
        suffixes.add(target_domain.split(".", 1)[1])
    assert {"com", "org", "co.uk", "gov", "edu"} <= suffixes
    _, pages = index.query(f"SELECT url, host, domain, rev_host FROM {index.db}.pages LIMIT 1000")
    for url, host, domain, rev in pages:
        assert (host_of(url), registered_domain(host), reverse_host(host)) == (host, domain, rev)
    _, by_source = index.query(
        f"SELECT source_url, source_rev_host FROM {index.db}.edges_by_source LIMIT 1000"
    )
    assert all(reverse_host(host_of(url)) == rev for url, rev in by_source)


def test_in_and_out_degrees_follow_power_laws(generated) -> None:
    index, dataset = generated
    _, rows = index.query(
        f"""SELECT target_domain, count() AS links FROM {index.db}.edges
            WHERE source_domain != target_domain GROUP BY target_domain ORDER BY links DESC"""
    )
    counts = [links for _, links in rows]
    external = sum(counts)
    # The head domain is the chosen one and has the largest share, scaled
    # like 1M of 100M edges or more; the tail is long.
    assert rows[0] == (dataset.head_domain, dataset.head_backlinks)
    assert dataset.head_backlinks >= EDGES / 100
    assert counts[0] > 1.2 * counts[1] > counts[9] > 4 * counts[len(counts) // 2]
    assert sum(counts[: len(counts) // 10]) > 0.45 * external
    # The "domain with a million backlinks" (at 10⁸ edges): the nearest to 1 %.
    assert dataset.mid_backlinks == min(counts, key=lambda n: abs(n - EDGES // 100))
    assert (dataset.mid_domain, dataset.mid_backlinks) in rows
    _, rows = index.query(
        f"""SELECT count() AS links FROM {index.db}.edges GROUP BY source_domain
            ORDER BY links DESC"""
    )
    out = [links for (links,) in rows]
    assert out[0] > 10 * out[len(out) // 2]
    # Links per page: most pages have a few dozen, a few have hundreds.
    _, ((median_links, max_links),) = index.query(
        f"SELECT median(outlinks), max(outlinks) FROM {index.db}.pages WHERE status = 200"
    )
    assert 8 <= median_links <= 20 and max_links >= 100


def test_links_have_a_realistic_mix(generated) -> None:
    index, _ = generated
    _, ((a, canonical, redirect, internal, nofollow, ugc, sponsored, images, empty, days),) = (
        index.query(
            f"""SELECT countIf(kind = 'a'), countIf(kind = 'canonical'),
                       countIf(kind = 'redirect'), countIf(source_domain = target_domain),
                       countIf(tupleElement(latest, 'nofollow')),
                       countIf(tupleElement(latest, 'ugc')),
                       countIf(tupleElement(latest, 'sponsored')),
                       countIf(tupleElement(latest, 'image')),
                       countIf(tupleElement(latest, 'image')
                               AND tupleElement(latest, 'anchor') = ''),
                       dateDiff('day', min(first_seen), max(last_seen))
                FROM {index.db}.edges"""
        )
    )
    assert a > 0.97 * EDGES and canonical > 20 and redirect > 5
    assert 0.08 * EDGES < internal < 0.2 * EDGES
    assert 0.12 * EDGES < nofollow < 0.25 * EDGES
    assert 0.01 * EDGES < ugc < 0.05 * EDGES and 0.005 * EDGES < sponsored < 0.04 * EDGES
    # Most images have no alt text; the rest have words for an anchor.
    assert 0.05 * EDGES < images < 0.11 * EDGES and 0.4 * images < empty < 0.8 * images
    assert days > 600
    _, anchors = index.query(
        f"""SELECT tupleElement(latest, 'anchor') AS anchor FROM {index.db}.edges
            WHERE kind = 'a' GROUP BY anchor ORDER BY count() DESC LIMIT 20"""
    )
    assert "click here" in {anchor for (anchor,) in anchors}
    # Canonical and redirect edges carry
    # no anchor, image or repeat count (docs/edges.md#anchor-text).
    assert (
        scalar(
            index,
            "SELECT count() FROM {db}.edges WHERE kind != 'a' AND (tupleElement(latest, 'anchor')"
            " != '' OR tupleElement(latest, 'image') OR tupleElement(latest, 'link_count') != 1)",
        )
        == 0
    )


def test_live_and_lost_links_and_the_chosen_targets(generated) -> None:
    index, dataset = generated
    url = Target.parse(dataset.url_target)
    found = queries.backlinks(index, url, Filters())
    assert len(found.rows) == dataset.url_backlinks >= 5
    head = Target.parse(dataset.head_domain)
    live = len(queries.backlinks(index, head, Filters(status="live")).rows)
    lost = len(queries.backlinks(index, head, Filters(status="lost")).rows)
    assert live + lost == dataset.head_backlinks
    assert 0.06 * dataset.head_backlinks < lost < 0.2 * dataset.head_backlinks
    page = Target.parse(dataset.source_url)
    assert len(queries.outlinks(index, page, Filters(include_internal=True)).rows) == (
        dataset.source_outlinks
    )
    # lost_at as the writer would have marked it: lost since the first
    # conclusive fetch of the source page after the link's last sighting.
    from_history = scalar(
        index,
        """SELECT count() FROM {db}.edges AS e FINAL
           ASOF JOIN (SELECT url, fetched_at FROM {db}.fetches WHERE status < 500) AS f
             ON f.url = e.source_url AND f.fetched_at > e.last_seen
           WHERE e.lost_at = f.fetched_at""",
    )
    assert from_history == scalar(index, "SELECT count() FROM {db}.links WHERE lost") > 0


def test_the_domain_rollups_give_the_answers_of_the_edges(generated) -> None:
    index, dataset = generated
    kinds = ("a", "canonical", "redirect")
    every_kind = Filters(kind=kinds)  # the same links, but not from the rollup
    for domain in (dataset.head_domain, dataset.mid_domain):
        target = Target.parse(domain)
        assert rollups.fresh(index, domain)
        assert reports.report(index, target, Filters()) == reports.report(index, target, every_kind)
        by_rollup = queries.refdomains(index, target, Filters(sort="first_seen"))
        assert (
            by_rollup.rows
            == queries.refdomains(index, target, Filters(kind=kinds, sort="first_seen")).rows
        )


def test_a_seed_gives_the_same_graph_and_a_full_index_is_refused(index_dir: Path) -> None:
    checksum = "SELECT groupBitXor(cityHash64(source_url, target_url, latest)) FROM {db}.edges"
    sums = []
    for seed in (3, 3, 4):
        index = _open(index_dir)
        try:
            generate(index, 2_000, seed=seed, optimize=False)
            sums.append(scalar(index, checksum))
            with pytest.raises(ValueError, match="already holds edges"):
                generate(index, 2_000, seed=seed)
        finally:
            index.command(f"DROP DATABASE IF EXISTS {index.db}")
    assert sums[0] == sums[1] != sums[2]


def test_domain_names_never_collide(generated) -> None:
    index, _ = generated
    assert {len(word) for word in NAME_WORDS} == {5}
    assert all(word.isalpha() for word in TOPIC_WORDS)
    # Past the square of the word list, names take a number.
    shape = Shape.of(6_000_000, 1)
    names = GraphSql(shape).domain("number")
    assert scalar(index, f"SELECT uniqExact({names}) FROM numbers(120000)") == 120_000
    assert scalar(index, f"SELECT countIf(match({names}, '[0-9]')) FROM numbers(120000)") > 0


def test_median_and_p95() -> None:
    assert median([3.0, 1.0, 2.0]) == 2.0
    assert median([4.0, 1.0, 3.0, 2.0]) == 2.5
    # Nearest rank: p95 of 1..20 is the 19th value, of 1..100 the 95th, of 1..30 the 29th.
    assert percentile([float(v) for v in range(20, 0, -1)], 0.95) == 19.0
    assert percentile([float(v) for v in range(1, 101)], 0.95) == 95.0
    assert percentile([float(v) for v in range(1, 31)], 0.95) == 29.0
    assert percentile([7.0], 0.95) == 7.0
    with pytest.raises(ValueError):
        percentile([], 0.95)


class FakeClient:
    """Answers every GET at once; the fake clock advances by the next delay."""

    def __init__(self, delays: list[float], clock: list[float]) -> None:
        self.delays = delays
        self.clock = clock
        self.paths: list[str] = []

    def get(self, path: str, params: dict[str, str] | None = None) -> dict[str, int]:
        self.paths.append(path)
        self.clock[0] += self.delays.pop(0)
        return {"count": 100}


def timed(delays: list[float], runs: int, budget_ms: float) -> tuple[FakeClient, Timing]:
    """Time one query on a fake server whose answers take ``delays`` (seconds)."""
    clock = [0.0]
    client = FakeClient(delays, clock)
    query = Query("backlinks of one URL", "backlinks", {"target": "x"}, budget_ms)
    (timing,) = time_queries(
        client,  # type: ignore[arg-type]
        [query],
        runs=runs,
        warmup=2,
        clock=lambda: clock[0],
    )
    return client, timing


def test_time_queries_counts_warm_runs_only() -> None:
    # Two warm-up runs (not counted), then five timed ones.
    client, timing = timed([0.5, 0.5, 0.010, 0.030, 0.020, 0.050, 0.040], 5, 20)
    assert client.paths == ["/api/v1/backlinks"] * 7
    assert [round(s) for s in timing.samples_ms] == [10, 30, 20, 50, 40]
    assert round(timing.median_ms) == 30 and round(timing.p95_ms) == 50
    assert timing.verdict == "miss" and timing.rows == 100


def test_queries_of_seconds_get_fewer_runs() -> None:
    _, timing = timed([2.0, 2.0] + [0.25] * 40, 30, 300)
    assert len(timing.samples_ms) == SLOW_RUNS < 30
    assert round(timing.median_ms) == 250 and timing.verdict == "pass"


DATASET = Dataset(
    edges=10,
    seed=1,
    domains=100,
    source_pages=1,
    head_domain="a.com",
    head_backlinks=5,
    url_target="https://a.com/",
    url_backlinks=5,
    source_url="https://b.com/",
    source_outlinks=10,
    generate_seconds=60.0,
    optimize_seconds=30.0,
    mid_domain="c.com",
    mid_backlinks=3,
)


def test_report_is_timed_where_the_server_has_it() -> None:
    old = queries_for(DATASET, {"backlinks", "summary"})
    new = queries_for(DATASET, {"report", "top_pages"})
    assert {q.endpoint for q in old} == {
        "backlinks",
        "refdomains",
        "summary",
        "anchors",
        "outlinks",
    }
    assert {q.endpoint for q in new} == {
        "backlinks",
        "refdomains",
        "report",
        "anchors",
        "outlinks",
        "top_pages",
    }
    # The budgets: backlinks of a URL, refdomains and report of the mid domain.
    budgets = {(q.endpoint, q.params["target"]): q.budget_ms for q in new if q.budget_ms}
    assert budgets == {
        ("backlinks", "https://a.com/"): 20,
        ("refdomains", "c.com"): 100,
        ("report", "c.com"): 300,
    }


def test_the_table_shows_each_figure_against_its_target() -> None:
    queries_ = queries_for(DATASET, {"summary"})
    timings = [Timing(q, [5.0, 5.0, 400.0], 100) for q in queries_]
    disk = DiskUse(edges_bytes=250, total_bytes=500, tables={})
    text = table(DATASET, timings, disk)
    assert "| 3 | 5.0 ms | 400 ms | ≤ 20 ms | pass |" in text
    assert "| | 25.0 B | | ≤ 30 B | pass |" in text and "| | 50.0 B | | ≤ 30 B | miss |" in text
    assert "| generating the index: inserts | | 1.0 min | | | |" in text
    assert "| generating the index: OPTIMIZE FINAL | | 0.5 min | | | |" in text
