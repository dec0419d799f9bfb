"""Authority scores of registered domains: PageRank, harmonic centrality, 0–100.

:func:`compute_ranks` reads the *domain graph* from the index, scores every
domain in it and replaces the table ``domain_rank`` (``sql/002_rank.sql``) in
one atomic swap. docs/authority.md explains the method; in short:

* **Graph.** One node per registered domain; one edge ``s → t`` when some page
  of ``s`` has a dofollow ``a`` link (its latest sighting without ``nofollow``)
  to a page of another domain ``t``. Edges are unweighted: a referring domain
  counts once however many links it has, as referring-domain metrics do, so a
  site-wide footer link weighs no more than one link in an article.
* **PageRank** by power iteration on a :mod:`scipy.sparse` transition matrix,
  uniform teleportation, the mass of dangling domains (no outlinks, e.g. never
  crawled) spread uniformly over all domains.
* **Harmonic centrality** ``H(v) = Σ_u 1/d(u, v)`` from breadth-first searches:
  exact when the graph is small enough, otherwise estimated from a uniform
  sample of source domains (Eppstein–Wang style pivots), scaled.
* **Authority** ``0–100``: PageRank on a log scale between the PageRank of a
  domain nobody links to (``0``) and the top domain (``100``).

Memory stays proportional to the graph, in numpy arrays, never Python objects
per edge: domains become 64-bit hashes inside the index, so per edge only two
integers cross into Python (at most 24 bytes per edge while node ids are
assigned; 12 in the matrix, an int32 column and a float64 weight), and names
are fetched once per domain.
"""

from __future__ import annotations

import logging
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Final

import numpy as np
import numpy.typing as npt
import pyarrow as pa

from linkcore.errors import ConfigError, IndexError_, LinkgraphError, UsageError
from linkindex import rollups, spam
from linkindex.client import Index
from linkindex.sqlparts import DOFOLLOW, EXTERNAL, RANK_TABLE

log = logging.getLogger(__name__)

#: The table readers use; a run writes a staging copy and swaps it in.
TABLE: Final = RANK_TABLE
#: Probability of following a link rather than jumping to a random domain.
DAMPING: Final = 0.85
#: Power iteration stops once the L1 change of the score vector is below this.
TOLERANCE: Final = 1e-10
#: Power iteration stops after this many steps, converged or not.
MAX_ITERATIONS: Final = 100
#: Harmonic centrality: breadth-first searches are budgeted to about this many
#: edge visits (15–20 s per billion on 2 cores); the graph is searched from
#: every domain with outlinks when that fits, else from a sample.
HARMONIC_EDGE_VISITS: Final = 2_000_000_000
#: Harmonic centrality: never fewer sampled sources than this.
HARMONIC_MIN_SOURCES: Final = 64

_TIMESTAMP = pa.timestamp("ms", tz="UTC")
# Rows per insert into the staging table (bounds the Arrow copy in flight).
_INSERT_ROWS = 1_000_000
# Salts tried before giving up on a collision-free hash of the domain names.
_HASH_SALTS = 3

# The dofollow external domain graph (docs/authority.md#the-graph), in the words of sqlparts.
# Domains are hashed inside the index so that only integers reach Python;
# ORDER BY the source hash makes the rows arrive in CSR order of node ids,
# which are the ranks of the hashes.
_GRAPH_SQL: Final = f"""
SELECT sipHash64({{salt}}, source_domain) AS s, sipHash64({{salt}}, target_domain) AS t
FROM {{db}}.edges FINAL
WHERE {EXTERNAL}
  AND {DOFOLLOW}
  AND kind = 'a'
GROUP BY s, t
ORDER BY s, t
"""

# The names behind the hashes. Without FINAL this reads every unmerged row,
# a superset of the graph's domains (an edge whose merged latest sighting is
# dofollow has at least one such row), at a fraction of the cost of FINAL.
_NAMES_SQL: Final = f"""
SELECT sipHash64({{salt}}, domain) AS h, domain
FROM
(
    SELECT arrayJoin([source_domain, target_domain]) AS domain
    FROM {{db}}.edges
    WHERE {EXTERNAL}
      AND {DOFOLLOW}
      AND kind = 'a'
)
GROUP BY domain
ORDER BY h
"""

IntArray = npt.NDArray[np.signedinteger[Any]]
FloatArray = npt.NDArray[np.float64]


class _HashCollision(Exception):
    """Two domain names share a 64-bit hash; the caller retries with another salt."""


@dataclass(frozen=True, slots=True, eq=False)
class DomainGraph:
    """The domain graph as compressed sparse rows of out-links.

    Node ``i`` is the domain ``domains[i]``; its out-links are
    ``indices[indptr[i]:indptr[i + 1]]`` (node ids, sorted, no duplicates).
    """

    domains: pa.Array
    indptr: IntArray
    indices: IntArray

    @property
    def nodes(self) -> int:
        return len(self.indptr) - 1

    @property
    def edges(self) -> int:
        return len(self.indices)

    def out_degree(self) -> npt.NDArray[np.int64]:
        return np.diff(self.indptr).astype(np.int64)

    def in_degree(self) -> npt.NDArray[np.int64]:
        """Referring domains per domain."""
        return np.bincount(self.indices, minlength=self.nodes).astype(np.int64)

    def transition_matrix(self) -> Any:
        """Row-stochastic ``P`` (``P[s, t] = 1/outdegree(s)``) as a scipy CSR array.

        Rows of dangling domains are empty. The index arrays are shared with
        the graph, not copied.
        """
        from scipy import sparse  # deferred: importing scipy costs ~0.4 s

        out = self.out_degree()
        weights = np.repeat(1.0 / np.maximum(out, 1), out)
        return sparse.csr_array(
            (weights, self.indices, self.indptr), shape=(self.nodes, self.nodes), copy=False
        )


@dataclass(frozen=True, slots=True)
class PageRank:
    """Scores (summing to 1), the score of an unlinked domain, and convergence."""

    scores: FloatArray
    floor: float
    iterations: int
    residual: float
    converged: bool


@dataclass(frozen=True, slots=True)
class Harmonic:
    """Harmonic centrality per domain and how it was obtained."""

    scores: FloatArray
    sources: int
    exact: bool


@dataclass(frozen=True, slots=True)
class RankSummary:
    """What one :func:`compute_ranks` run did."""

    run_id: str
    computed_at: datetime
    domains: int
    edges: int
    iterations: int
    converged: bool
    residual: float
    harmonic_sources: int
    harmonic_exact: bool
    #: Seconds per phase: read, pagerank, harmonic, write.
    seconds: dict[str, float] = field(default_factory=dict)


# -- reading ----------------------------------------------------------------
def _read_hashed_edges(
    index: Index, salt: int
) -> tuple[npt.NDArray[np.uint64], npt.NDArray[np.int64], npt.NDArray[np.uint64]]:
    """Source hashes run-length encoded (values, counts) and every target hash.

    Rows arrive sorted by source hash, so each block collapses to its runs;
    only the target column is kept whole.
    """
    run_values: list[npt.NDArray[np.uint64]] = []
    run_counts: list[npt.NDArray[np.int64]] = []
    targets: list[npt.NDArray[np.uint64]] = []
    for block in index.stream_numpy(_GRAPH_SQL.format(db=index.db, salt=salt)):
        if not len(block):
            continue
        sources = block[:, 0]
        starts = np.flatnonzero(np.r_[True, sources[1:] != sources[:-1]])
        run_values.append(sources[starts])
        run_counts.append(np.diff(np.r_[starts, len(sources)]).astype(np.int64))
        targets.append(np.ascontiguousarray(block[:, 1]))
    if not targets:
        empty = np.zeros(0, np.uint64)
        return empty, np.zeros(0, np.int64), empty
    return np.concatenate(run_values), np.concatenate(run_counts), np.concatenate(targets)


def _domain_names(index: Index, salt: int, nodes: npt.NDArray[np.uint64]) -> pa.Array:
    """The names of the hashed ``nodes``, in node order."""
    table = index.query_arrow(_NAMES_SQL.format(db=index.db, salt=salt))
    hashes = np.asarray(table.column("h").to_numpy(), dtype=np.uint64)
    if len(hashes) > 1 and bool(np.any(hashes[1:] == hashes[:-1])):
        raise _HashCollision
    where = np.searchsorted(hashes, nodes)
    found = where < len(hashes)
    found[found] = hashes[where[found]] == nodes[found]
    if not found.all():
        # Only a deletion between the two reads can do this; edges are only added.
        raise IndexError_(
            "the index lost edges while the domain graph was read; run `linkgraph rank` again"
        )
    names = table.column("domain").combine_chunks()
    if not pa.types.is_string(names.type):
        names = names.cast(pa.string())
    return names.take(pa.array(where))


def read_domain_graph(index: Index) -> DomainGraph:
    """Read the dofollow external domain graph (see the module doc) from ``index``.

    Peak memory is about 24 bytes per domain edge (the target hashes, their
    sorted copy and the sort order), plus the index's own GROUP BY.
    """
    for salt in range(_HASH_SALTS):
        try:
            return _read_domain_graph(index, salt)
        except _HashCollision:
            log.warning("two domain names share a 64-bit hash; reading again with another salt")
    raise IndexError_("cannot hash the domain names without collisions; this should not happen")


def _flag_changes(ordered: npt.NDArray[np.uint64]) -> npt.NDArray[np.bool_]:
    """True where a sorted array holds a value for the first time."""
    first = np.empty(len(ordered), np.bool_)
    if len(ordered):
        first[0] = True
        np.not_equal(ordered[1:], ordered[:-1], out=first[1:])
    return first


def _read_domain_graph(index: Index, salt: int) -> DomainGraph:
    run_values, run_counts, targets = _read_hashed_edges(index, salt)
    edges = len(targets)
    if not edges:
        empty = np.zeros(0, np.int32)
        return DomainGraph(pa.array([], pa.string()), np.zeros(1, np.int32), empty)
    index_type: type[np.int32] | type[np.int64] = np.int32 if edges < 2**31 - 1 else np.int64
    # Node ids are the ranks of the hashes. Targets get theirs from one sort
    # (np.unique is many times slower on 64-bit keys): equal hashes become
    # adjacent, and a running count of first occurrences numbers them.
    order = np.argsort(targets)
    targets = targets[order]
    first = _flag_changes(targets)
    distinct_targets = targets[first]
    del targets
    target_rank: IntArray = np.cumsum(first, dtype=index_type)
    np.subtract(target_rank, 1, out=target_rank)
    del first
    sources = np.sort(run_values)
    nodes = np.sort(np.concatenate([distinct_targets, sources[_flag_changes(sources)]]))
    nodes = nodes[_flag_changes(nodes)]
    if len(nodes) >= 2**31 - 1:
        raise IndexError_(f"the domain graph has {len(nodes)} domains; at most 2**31-2 fit")
    indices = np.empty(edges, index_type)
    indices[order] = np.searchsorted(nodes, distinct_targets).astype(index_type)[target_rank]
    del order, target_rank
    rows = np.searchsorted(nodes, run_values)
    out_degree = np.bincount(rows, weights=run_counts, minlength=len(nodes)).astype(np.int64)
    indptr = np.zeros(len(nodes) + 1, index_type)
    np.cumsum(out_degree, out=indptr[1:])
    return DomainGraph(_domain_names(index, salt, nodes), indptr, indices)


# -- scoring ----------------------------------------------------------------
def pagerank(
    graph: DomainGraph,
    *,
    damping: float = DAMPING,
    tol: float = TOLERANCE,
    max_iter: int = MAX_ITERATIONS,
    matrix: Any = None,
) -> PageRank:
    """PageRank of every domain by power iteration.

    ``x ← d·Pᵀx + (d·D(x) + 1 − d)/N`` from the uniform vector, where ``D(x)``
    is the score held by dangling domains: their mass and the teleport mass
    are spread uniformly. Stops when ``‖Δx‖₁ < tol`` or after ``max_iter``
    steps (``converged`` tells which). ``floor`` is the score of a domain no
    one links to, the least any domain gets.
    """
    _check_options(damping, max_iter, None)
    n = graph.nodes
    if n == 0:
        return PageRank(np.zeros(0), 0.0, 0, 0.0, True)
    transposed = (matrix if matrix is not None else graph.transition_matrix()).T
    dangling = np.flatnonzero(graph.out_degree() == 0)
    scores = np.full(n, 1.0 / n)
    floor, residual, iterations, converged = 1.0 / n, float("inf"), 0, False
    while iterations < max_iter:
        iterations += 1
        base = (damping * float(scores[dangling].sum()) + 1.0 - damping) / n
        following = transposed @ scores
        following *= damping
        following += base
        # The sum is 1 up to rounding; renormalizing keeps drift out of 100 steps.
        total = float(following.sum())
        following /= total
        floor = base / total
        residual = float(np.abs(following - scores).sum())
        scores = following
        if residual < tol:
            converged = True
            break
    return PageRank(scores, floor, iterations, residual, converged)


def harmonic_centrality(
    graph: DomainGraph,
    *,
    sources: int | None = None,
    seed: int = 0,
    matrix: Any = None,
) -> Harmonic:
    """Harmonic centrality ``H(v) = Σ_{u≠v} 1/d(u, v)`` (Boldi and Vigna, 2014).

    ``d(u, v)`` is the number of links on a shortest path from ``u`` to ``v``
    (``1/∞ = 0``), so ``H`` measures how close the rest of the graph is to
    ``v`` *following* links. One breadth-first search per source domain ``u``
    adds ``1/d(u, v)`` to every ``v`` it reaches; only domains with outlinks
    can reach anything, so only they are sources.

    ``sources`` caps the searches (default: as many as fit in
    :data:`HARMONIC_EDGE_VISITS`, at least :data:`HARMONIC_MIN_SOURCES`).
    With at least as many as there are domains with outlinks the result is
    exact; otherwise ``sources`` of them are drawn uniformly without
    replacement (``seed``) and the sums scaled by ``(domains with outlinks) /
    sources``, an unbiased estimate.
    """
    from scipy.sparse import csgraph  # deferred: importing scipy costs ~0.4 s

    _check_options(DAMPING, MAX_ITERATIONS, sources)
    n = graph.nodes
    scores = np.zeros(n)
    candidates = np.flatnonzero(graph.out_degree() > 0)
    if not len(candidates):
        return Harmonic(scores, 0, True)
    if sources is None:
        sources = max(HARMONIC_MIN_SOURCES, HARMONIC_EDGE_VISITS // (graph.edges + n))
    exact = sources >= len(candidates)
    if exact:
        pivots = candidates
    else:
        rng = np.random.default_rng(seed)
        pivots = np.sort(rng.choice(candidates, size=sources, replace=False))
    csr = matrix if matrix is not None else graph.transition_matrix()
    position = np.zeros(n, np.int64)
    for source in pivots:
        order, parents = csgraph.breadth_first_order(
            csr, int(source), directed=True, return_predecessors=True
        )
        _add_reciprocal_distances(scores, order, parents, position)
    if not exact:
        scores *= len(candidates) / len(pivots)
    return Harmonic(scores, len(pivots), exact)


def _add_reciprocal_distances(
    scores: FloatArray, order: IntArray, parents: IntArray, position: npt.NDArray[np.int64]
) -> None:
    """Add ``1/d`` to ``scores`` for every node one BFS reached at distance ``d``.

    ``order`` lists the reached nodes in BFS order, which is by distance; each
    node's parent comes earlier, and parents' positions never decrease along
    the order (a FIFO queue). So the last node of distance ``k + 1`` is the
    last one whose parent lies within distance ``k``: one binary search per
    level finds all the boundaries.
    """
    reached = len(order)
    if reached < 2:
        return
    position[order] = np.arange(reached)
    parent_position = position[parents[order[1:]]]
    sizes = []
    end = 1  # nodes [0, end) are within the current distance
    while end < reached:
        next_end = int(np.searchsorted(parent_position, end)) + 1
        sizes.append(next_end - end)
        end = next_end
    distances = np.repeat(np.arange(1, len(sizes) + 1, dtype=np.float64), sizes)
    scores[order[1:]] += 1.0 / distances


def authority_scores(
    pagerank: FloatArray, floor: float, refdomains: npt.NDArray[np.int64]
) -> npt.NDArray[np.uint8]:
    """PageRank on a 0–100 log scale.

    ``round(100 · ln(pr / floor) / ln(max_pr / floor))``, where ``floor`` is
    the PageRank of a domain no one links to: ``0`` for such domains, ``100``
    for the top domain, and at least ``1`` for any domain with a referring
    domain. Non-decreasing in PageRank; the scale is relative to this graph.
    """
    result = np.zeros(len(pagerank), np.uint8)
    linked = refdomains > 0
    if not linked.any() or floor <= 0.0:
        return result
    lift = np.log(np.maximum(pagerank[linked] / floor, 1.0))
    top = float(lift.max())
    scaled = np.rint(100.0 * lift / top) if top > 0.0 else np.full(len(lift), 100.0)
    result[linked] = np.clip(scaled, 1, 100).astype(np.uint8)
    return result


# -- writing ----------------------------------------------------------------
def _check_swappable(index: Index) -> None:
    """Fail early, with the reason, where the atomic swap cannot work.

    EXCHANGE TABLES needs an Atomic (or Replicated) database. A Distributed
    ``domain_rank`` (a sharded cluster) cannot be swapped this way: a staging
    copy made with ``CREATE TABLE … AS`` would write into the same shards.
    """
    _, rows = index.query(
        "SELECT (SELECT engine FROM system.databases WHERE name = {db:String}),"
        " (SELECT engine FROM system.tables WHERE database = {db:String} AND name = {t:String})",
        {"db": index.db, "t": TABLE},
    )
    database_engine, table_engine = (str(value or "") for value in rows[0])
    if not table_engine:
        raise ConfigError(
            f"no table {index.db}.{TABLE}: the index schema is older than 002_rank.sql"
        )
    if database_engine not in ("Atomic", "Replicated"):
        raise ConfigError(
            f"database {index.db} uses the {database_engine} engine; replacing {TABLE} "
            "atomically (EXCHANGE TABLES) needs an Atomic database"
        )
    if not table_engine.endswith("MergeTree"):
        raise ConfigError(
            f"{index.db}.{TABLE} is a {table_engine} table; `linkgraph rank` swaps in a "
            "MergeTree table and cannot replace it (keep domain_rank unsharded, see "
            "docs/authority.md)"
        )


def _check_options(damping: float, max_iter: int, harmonic_sources: int | None) -> None:
    if not 0.0 <= damping < 1.0:
        raise UsageError(f"damping must be at least 0 and below 1, got {damping}")
    if max_iter < 1:
        raise UsageError(f"max iterations must be at least 1, got {max_iter}")
    if harmonic_sources is not None and harmonic_sources < 1:
        raise UsageError(f"harmonic sources must be at least 1, got {harmonic_sources}")


def _replace_table(index: Index, table: pa.Table, run_id: str) -> None:
    """Write ``table`` to a staging copy of ``domain_rank`` and swap it in.

    See sql/002_rank.sql for why EXCHANGE TABLES: readers see the old run or
    the new one, whole. On failure before the swap the old run stays as it was.
    """
    db = index.db
    staging = f"{TABLE}_{run_id}"
    index.command(f"CREATE TABLE {db}.{staging} AS {db}.{TABLE}")
    try:
        for start in range(0, max(table.num_rows, 1), _INSERT_ROWS):
            chunk = table.slice(start, _INSERT_ROWS)
            if chunk.num_rows:
                index.insert_arrow(staging, chunk)
        index.command(f"EXCHANGE TABLES {db}.{TABLE} AND {db}.{staging}")
    except BaseException:
        try:
            index.command(f"DROP TABLE IF EXISTS {db}.{staging}")
        except LinkgraphError:
            log.warning("could not drop the staging table %s.%s", db, staging, exc_info=True)
        raise
    try:
        index.command(f"DROP TABLE IF EXISTS {db}.{staging}")
    except LinkgraphError:
        # The new scores are in place; the old ones merely linger under this name.
        log.warning("could not drop the previous scores in %s.%s", db, staging, exc_info=True)


def compute_ranks(
    index: Index,
    *,
    damping: float = DAMPING,
    tol: float = TOLERANCE,
    max_iter: int = MAX_ITERATIONS,
    harmonic: bool = True,
    harmonic_sources: int | None = None,
    seed: int = 0,
) -> RankSummary:
    """Score every domain of the index's domain graph and replace ``domain_rank``.

    Reads the graph (:func:`read_domain_graph`), computes :func:`pagerank`,
    :func:`harmonic_centrality` (all zero when ``harmonic`` is false) and
    :func:`authority_scores`, and swaps the new table in atomically. Domains
    outside the graph (no dofollow external link in or out) get no row.
    """
    _check_options(damping, max_iter, harmonic_sources)
    _check_swappable(index)
    run_id = uuid.uuid4().hex
    now = datetime.now(UTC)
    computed_at = now.replace(microsecond=now.microsecond // 1000 * 1000)
    seconds: dict[str, float] = {}
    clock = time.perf_counter()

    graph = read_domain_graph(index)
    seconds["read"] = time.perf_counter() - clock
    log.info("domain graph: %d domains, %d edges", graph.nodes, graph.edges)

    clock = time.perf_counter()
    matrix = graph.transition_matrix() if graph.nodes else None
    ranked = pagerank(graph, damping=damping, tol=tol, max_iter=max_iter, matrix=matrix)
    seconds["pagerank"] = time.perf_counter() - clock
    if not ranked.converged:
        log.warning(
            "PageRank did not converge in %d iterations (L1 change %.3g > %.3g); "
            "scores are written anyway",
            ranked.iterations,
            ranked.residual,
            tol,
        )

    clock = time.perf_counter()
    if harmonic:
        closeness = harmonic_centrality(graph, sources=harmonic_sources, seed=seed, matrix=matrix)
    else:
        closeness = Harmonic(np.zeros(graph.nodes), 0, False)
    seconds["harmonic"] = time.perf_counter() - clock
    del matrix

    clock = time.perf_counter()
    refdomains = graph.in_degree()
    authority = authority_scores(ranked.scores, ranked.floor, refdomains)
    table = pa.table(
        {
            "domain": graph.domains,
            "pagerank": pa.array(ranked.scores, pa.float64()),
            "harmonic": pa.array(closeness.scores, pa.float64()),
            "authority": pa.array(authority, pa.uint8()),
            "refdomains": pa.array(np.minimum(refdomains, 2**32 - 1), pa.uint32()),
            "computed_at": pa.repeat(pa.scalar(computed_at, _TIMESTAMP), graph.nodes),
            "run_id": pa.repeat(pa.scalar(run_id, pa.string()), graph.nodes),
        }
    )
    _replace_table(index, table, run_id)
    seconds["write"] = time.perf_counter() - clock
    # Every domain's spam score reads authority (its no_authority signal).
    clock = time.perf_counter()
    _, stamp = index.query("SELECT now64(3, 'UTC')")
    spam.rescore(index, None, stamp[0][0], facts=rollups.hosts_fresh(index))
    seconds["spam"] = time.perf_counter() - clock
    return RankSummary(
        run_id=run_id,
        computed_at=computed_at,
        domains=graph.nodes,
        edges=graph.edges,
        iterations=ranked.iterations,
        converged=ranked.converged,
        residual=ranked.residual,
        harmonic_sources=closeness.sources,
        harmonic_exact=closeness.exact,
        seconds=seconds,
    )
