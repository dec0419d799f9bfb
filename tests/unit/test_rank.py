"""Authority scores (linkindex/rank.py) on hand-built webs in the embedded index.

Expected PageRank values are exact fractions: the solutions of each graph's
linear system, solved by hand and written down here (the comments give the
system), then checked against numpy.linalg as a second, independent solver.
"""

from __future__ import annotations

from datetime import UTC
from fractions import Fraction
from typing import Any

import numpy as np
import pyarrow as pa
import pytest
from scipy.sparse import csgraph

from linkcore.errors import ConfigError, IndexError_, UsageError
from linkcore.records import Link, PageRecord
from linkindex import queries, rank
from linkindex.writer import EdgeWriter

T0 = 1_790_000_000.0  # a fixed crawl time, UTC seconds
D = 0.85


def write(index, *pages: PageRecord) -> None:
    writer = EdgeWriter(index)
    for record in pages:
        writer.add(record)
    writer.flush()


def page(url: str, *targets: str | Link, at: float = T0, nofollow: bool = False) -> PageRecord:
    links = [t if isinstance(t, Link) else Link(t, anchor="x") for t in targets]
    return PageRecord(
        url=url,
        status=200,
        fetched_at=at,
        content_type="text/html",
        robots_nofollow=nofollow,
        links=links,
    )


def scores(index) -> dict[str, dict[str, Any]]:
    columns, rows = index.query(f"SELECT * FROM {index.db}.domain_rank ORDER BY domain")
    return {row[0]: dict(zip(columns, row, strict=True)) for row in rows}


def tables(index) -> list[str]:
    _, rows = index.query(
        "SELECT name FROM system.tables WHERE database = {db:String} AND name LIKE 'domain_rank%'",
        {"db": index.db},
    )
    return sorted(row[0] for row in rows)


def solve(n: int, edges: list[tuple[int, int]]) -> np.ndarray:
    """PageRank by a dense linear solve: (I − d·Mᵀ)x = (1 − d)/n, M with dangling rows = 1/n."""
    m = np.zeros((n, n))
    for s, t in edges:
        m[s, t] = 1.0
    out = m.sum(axis=1)
    m[out == 0] = 1.0
    m /= m.sum(axis=1, keepdims=True)
    return np.linalg.solve(np.eye(n) - D * m.T, np.full(n, (1 - D) / n))


# Graph A: a → b, b → a, b → c, c → a; no dangling domain.
# With N = 3 the teleport term is (1 − 0.85)/3 = 1/20:
#   b = 1/20 + 0.85·a
#   c = 1/20 + 0.85·b/2
#   a = 1/20 + 0.85·(b/2 + c)
# Substituting b and c into the last line: a = 703/1769, then b = 686/1769,
# c = 380/1769 (and a + b + c = 1).
GRAPH_A = {"a.com": Fraction(703, 1769), "b.com": Fraction(686, 1769), "c.com": Fraction(380, 1769)}
WEB_A = [
    page("http://a.com/", "http://b.com/", "http://a.com/about"),  # plus an internal link
    page("http://a.com/about", "http://www.b.com/deep", "http://a.com/"),
    # b.com links a.com from three pages (one with five links) and c.com from
    # one: unweighted, so a.com and c.com still get half of b.com's score each.
    page("http://b.com/", "http://a.com/", "http://c.com/"),
    page("http://b.com/1", Link("http://a.com/x", anchor="x", link_count=5)),
    page("http://b.com/2", "http://a.com/y"),
    # Not edges of the graph: nofollow, canonical, and a page-level nofollow.
    page(
        "http://c.com/",
        "http://a.com/",
        Link("http://z.com/", anchor="z", nofollow=True),
        Link("http://d.com/", kind="canonical"),
    ),
    page("http://c.com/robots-nofollow", "http://y.com/", nofollow=True),
]


def test_pagerank_solves_the_hand_computed_system(index) -> None:
    write(index, *WEB_A)
    summary = rank.compute_ranks(index)
    assert summary.converged and summary.domains == 3 and summary.edges == 4
    got = scores(index)
    assert set(got) == set(GRAPH_A)
    for domain, expected in GRAPH_A.items():
        assert got[domain]["pagerank"] == pytest.approx(float(expected), abs=1e-9)
    assert sum(float(row["pagerank"]) for row in got.values()) == pytest.approx(1.0, abs=1e-12)
    independent = solve(3, [(0, 1), (1, 0), (1, 2), (2, 0)])
    assert [got[d]["pagerank"] for d in ("a.com", "b.com", "c.com")] == pytest.approx(
        independent.tolist(), abs=1e-9
    )
    assert {d: row["refdomains"] for d, row in got.items()} == {
        "a.com": 2,
        "b.com": 1,
        "c.com": 1,
    }


# Graph B: a → b, a → c, b → c; c.com was never crawled (dangling). Its score
# is spread over all three domains, so every domain gets t = (0.15 + 0.85·c)/3:
#   a = t
#   b = t + 0.85·a/2
#   c = t + 0.85·(a/2 + b)
# Solution: a = 800/4049, b = 1140/4049, c = 2109/4049.
GRAPH_B = {
    "a.com": Fraction(800, 4049),
    "b.com": Fraction(1140, 4049),
    "c.com": Fraction(2109, 4049),
}
WEB_B = [
    page("http://a.com/", "http://b.com/", "http://c.com/"),
    page("http://b.com/", "http://c.com/page"),
]


def test_dangling_domains_spread_their_score_uniformly(index) -> None:
    write(index, *WEB_B)
    summary = rank.compute_ranks(index)
    got = scores(index)
    assert summary.domains == 3 and summary.edges == 3
    for domain, expected in GRAPH_B.items():
        assert got[domain]["pagerank"] == pytest.approx(float(expected), abs=1e-9)
    independent = solve(3, [(0, 1), (0, 2), (1, 2)])
    assert [got[d]["pagerank"] for d in ("a.com", "b.com", "c.com")] == pytest.approx(
        independent.tolist(), abs=1e-9
    )


def test_authority_is_log_scaled_pagerank(index) -> None:
    write(index, *WEB_B)
    rank.compute_ranks(index)
    got = scores(index)
    # a.com has no referring domain: its PageRank is the floor t = 800/4049.
    # b.com: 100·ln(1140/800)/ln(2109/800) = 36.54 → 37; c.com is the top.
    assert {d: row["authority"] for d, row in got.items()} == {
        "a.com": 0,
        "b.com": 37,
        "c.com": 100,
    }


def test_authority_without_unlinked_domains(index) -> None:
    write(index, *WEB_A)
    rank.compute_ranks(index)
    got = scores(index)
    # Floor 1/20 (teleport only): 100·ln(20·686/1769)/ln(20·703/1769) = 98.8,
    # 100·ln(20·380/1769)/ln(20·703/1769) = 70.3.
    assert {d: row["authority"] for d, row in got.items()} == {
        "a.com": 100,
        "b.com": 99,
        "c.com": 70,
    }


def test_authority_is_monotonic_from_0_to_100(index) -> None:
    # A hub-and-spoke web: hub.com links twenty sites; site i links sites < i.
    sites = [f"http://s{i:02d}.net/" for i in range(20)]
    web = [page("http://hub.com/", *sites)]
    web += [page(sites[i], *sites[:i]) for i in range(1, 20)]
    web.append(page("http://loner.org/", "http://hub.com/"))
    write(index, *web)
    rank.compute_ranks(index)
    got = sorted(scores(index).values(), key=lambda row: row["pagerank"])
    authority = [row["authority"] for row in got]
    assert authority == sorted(authority)
    assert authority[-1] == 100 and got[-1]["domain"] == "s00.net"
    assert all((row["authority"] == 0) == (row["refdomains"] == 0) for row in got)
    assert {row["domain"] for row in got if row["authority"] == 0} == {"loner.org"}


def test_nofollow_internal_and_other_kinds_are_not_edges(index) -> None:
    write(
        index,
        page(
            "http://a.com/",
            "http://a.com/internal",
            "http://www.a.com/other-host",
            Link("http://b.com/", anchor="b", nofollow=True),
            Link("http://c.com/", kind="canonical"),
        ),
        PageRecord(
            url="http://a.com/old",
            status=301,
            fetched_at=T0,
            links=[Link("http://d.com/", kind="redirect")],
        ),
        page("http://e.com/", "http://f.com/", nofollow=True),  # robots nofollow
    )
    summary = rank.compute_ranks(index)
    assert (summary.domains, summary.edges) == (0, 0)
    assert scores(index) == {}


def test_latest_sighting_decides_nofollow_and_recomputation_replaces(index) -> None:
    write(index, page("http://x.com/", "http://y.com/"))
    first = rank.compute_ranks(index)
    assert set(scores(index)) == {"x.com", "y.com"}
    # Recrawled a day later: the link to y.com is nofollow now, w.com is new.
    write(
        index,
        page(
            "http://x.com/",
            Link("http://y.com/", anchor="y", nofollow=True),
            "http://w.com/",
            at=T0 + 86_400,
        ),
    )
    second = rank.compute_ranks(index)
    got = scores(index)
    assert set(got) == {"x.com", "w.com"}  # y.com's old row is gone, not kept
    assert {row["run_id"] for row in got.values()} == {second.run_id}
    assert second.run_id != first.run_id
    stamps = {row["computed_at"].replace(tzinfo=UTC) for row in got.values()}
    assert stamps == {second.computed_at}
    assert tables(index) == ["domain_rank"]


def test_a_failed_write_keeps_the_previous_scores_whole(index, monkeypatch) -> None:
    write(index, *WEB_A)
    before = rank.compute_ranks(index)
    old = scores(index)
    write(index, page("http://n.com/", "http://a.com/", "http://m.com/"))
    monkeypatch.setattr(rank, "_INSERT_ROWS", 2)  # several inserts per run
    real_insert = index.insert_arrow
    calls: list[str] = []

    def failing_insert(table, data):
        calls.append(table)
        if len(calls) == 2:
            raise IndexError_("disk full")
        real_insert(table, data)

    monkeypatch.setattr(index, "insert_arrow", failing_insert)
    with pytest.raises(IndexError_, match="disk full"):
        rank.compute_ranks(index)
    assert scores(index) == old  # not a mix of the new run's first rows and old ones
    assert {row["run_id"] for row in old.values()} == {before.run_id}
    assert tables(index) == ["domain_rank"]


def test_harmonic_centrality_is_exact_on_small_graphs(index) -> None:
    # a → b, b → c, c → d, a → c. H(v) = Σ 1/d(u, v) over the domains u that reach v:
    #   H(a) = 0
    #   H(b) = 1/d(a,b) = 1
    #   H(c) = 1/d(a,c) + 1/d(b,c) = 1 + 1 = 2
    #   H(d) = 1/d(c,d) + 1/d(b,d) + 1/d(a,d) = 1 + 1/2 + 1/2 = 2
    write(
        index,
        page("http://a.com/", "http://b.com/", "http://c.com/"),
        page("http://b.com/", "http://c.com/"),
        page("http://c.com/", "http://d.com/"),
    )
    summary = rank.compute_ranks(index)
    assert summary.harmonic_exact and summary.harmonic_sources == 3
    got = scores(index)
    assert {d: row["harmonic"] for d, row in got.items()} == {
        "a.com": 0.0,
        "b.com": 1.0,
        "c.com": 2.0,
        "d.com": 2.0,
    }


def test_harmonic_centrality_with_cycles(index) -> None:
    # Graph A: to a.com from b (1) and c (1); to b.com from a (1) and c via a (2);
    # to c.com from b (1) and a via b (2).
    write(index, *WEB_A)
    rank.compute_ranks(index)
    got = scores(index)
    assert {d: row["harmonic"] for d, row in got.items()} == {
        "a.com": 2.0,
        "b.com": 1.5,
        "c.com": 1.5,
    }


def random_graph(nodes: int, edges: int, seed: int) -> rank.DomainGraph:
    rng = np.random.default_rng(seed)
    sources = rng.integers(0, nodes // 2, edges)
    targets = (nodes ** rng.random(edges)).astype(np.int64) % nodes  # skewed in-degrees
    pairs = np.unique(np.stack([sources, targets], axis=1)[sources != targets], axis=0)
    indptr = np.zeros(nodes + 1, np.int32)
    np.cumsum(np.bincount(pairs[:, 0], minlength=nodes), out=indptr[1:])
    domains = pa.array([f"d{i}.com" for i in range(nodes)])
    return rank.DomainGraph(domains, indptr, pairs[:, 1].astype(np.int32))


def test_harmonic_exact_agrees_with_all_pairs_shortest_paths() -> None:
    graph = random_graph(400, 1500, seed=1)
    result = rank.harmonic_centrality(graph)
    assert result.exact
    distances = csgraph.shortest_path(graph.transition_matrix(), unweighted=True)
    with np.errstate(divide="ignore"):
        reciprocal = np.where(np.isfinite(distances) & (distances > 0), 1.0 / distances, 0.0)
    assert result.scores == pytest.approx(reciprocal.sum(axis=0), rel=1e-12)


def test_sampled_harmonic_centrality_estimates_the_exact_values() -> None:
    graph = random_graph(2000, 12000, seed=2)
    exact = rank.harmonic_centrality(graph).scores
    sampled = rank.harmonic_centrality(graph, sources=200, seed=3)
    assert not sampled.exact and sampled.sources == 200
    top = np.argsort(exact)[-50:]
    error = np.abs(sampled.scores[top] - exact[top]) / exact[top]
    assert float(error.mean()) < 0.1
    # The order of the best-placed domains survives sampling.
    assert np.corrcoef(sampled.scores[top], exact[top])[0, 1] > 0.9


def test_pagerank_reports_non_convergence() -> None:
    graph = random_graph(500, 3000, seed=4)
    result = rank.pagerank(graph, max_iter=3)
    assert (result.iterations, result.converged) == (3, False)
    assert result.residual > rank.TOLERANCE
    assert float(result.scores.sum()) == pytest.approx(1.0)


def test_empty_index(index) -> None:
    summary = rank.compute_ranks(index)
    assert (summary.domains, summary.edges, summary.converged) == (0, 0, True)
    assert scores(index) == {}
    assert tables(index) == ["domain_rank"]


def test_a_hash_collision_is_read_again_with_another_salt(index, monkeypatch) -> None:
    write(index, *WEB_B)
    real_names = rank._domain_names
    salts: list[int] = []

    def colliding_once(ix, salt, nodes):
        salts.append(salt)
        if len(salts) == 1:
            raise rank._HashCollision
        return real_names(ix, salt, nodes)

    monkeypatch.setattr(rank, "_domain_names", colliding_once)
    rank.compute_ranks(index)
    assert salts == [0, 1]
    assert scores(index)["c.com"]["pagerank"] == pytest.approx(float(GRAPH_B["c.com"]))


def test_authority_lookup_and_refdomains(index) -> None:
    write(index, *WEB_B, page("http://nofollow.org/", Link("http://c.com/", nofollow=True)))
    rank.compute_ranks(index)
    assert queries.authority_for(index, ["c.com", "a.com", "nofollow.org", "c.com"]) == {
        "a.com": 0,
        "c.com": 100,
        "nofollow.org": 0,
    }
    assert queries.authority_for(index, []) == {}
    # Referring domains of c.com with the authority of each, as refdomains shows them.
    target = queries.Target.parse("c.com")

    def refdomains(**options: Any) -> list[tuple[Any, ...]]:
        result = queries.refdomains(index, target, queries.Filters(**options))
        assert result.columns[0] == "source_domain"
        at = result.columns.index("authority")
        return [(row[0], row[at]) for row in result.rows]

    assert refdomains(sort="authority") == [("b.com", 37), ("a.com", 0), ("nofollow.org", 0)]
    # The default order (most links, then name) looks each page's scores up by key.
    assert refdomains() == [("a.com", 0), ("b.com", 37), ("nofollow.org", 0)]
    assert refdomains(sort="authority", limit=1) == [("b.com", 37)]
    assert refdomains(sort="authority", limit=1, offset=1) == [("a.com", 0)]
    # Backlinks: record fields only, unless asked; then the referrer's authority.
    plain = queries.backlinks(index, target, queries.Filters())
    assert plain.columns == list(queries.EDGE_FIELDS)
    ranked = queries.backlinks(index, target, queries.Filters(with_authority=True))
    assert ranked.columns == [*queries.EDGE_FIELDS, "source_authority"]
    assert sorted((r[2], r[-1]) for r in ranked.rows) == [
        ("a.com", 0),
        ("b.com", 37),
        ("nofollow.org", 0),
    ]
    strongest = queries.backlinks(index, target, queries.Filters(sort="authority"))
    assert [(r[2], r[-1]) for r in strongest.rows] == [
        ("b.com", 37),
        ("a.com", 0),
        ("nofollow.org", 0),
    ]
    assert strongest.columns[-1] == "source_authority"
    # Outlinks carry the target's authority.
    out = queries.outlinks(
        index, queries.Target.parse("b.com"), queries.Filters(with_authority=True)
    )
    assert {(r[5], r[-1]) for r in out.rows} == {("c.com", 100)}


def test_bad_options_are_usage_errors(index) -> None:
    for options in ({"damping": 1.0}, {"max_iter": 0}, {"harmonic_sources": 0}):
        with pytest.raises(UsageError):
            rank.compute_ranks(index, **options)


def test_a_table_that_cannot_be_swapped_is_refused_before_any_work(index) -> None:
    index.command(f"DROP TABLE {index.db}.domain_rank")
    with pytest.raises(ConfigError, match="older than 002_rank"):
        rank.compute_ranks(index)
    # As on a sharded cluster, where domain_rank would not be a MergeTree table here.
    index.command(f"CREATE TABLE {index.db}.domain_rank (domain String) ENGINE = Memory")
    with pytest.raises(ConfigError, match="Memory table"):
        rank.compute_ranks(index)
