"""deploy/clickhouse/cluster.sql stays in step with the embedded schema.

The cluster DDL is applied to the embedded engine (chDB) next to
linkindex/sql/001_init.sql, and the two resulting schemas are compared column
by column and table by table. chDB is a single node without Keeper or
clusters, so cluster.sql is first turned into its single-node equivalent:

* ``ON CLUSTER '{cluster}'`` is dropped;
* ``ReplicatedXMergeTree('/path', '{replica}', args)`` becomes ``XMergeTree(args)``;
* a Distributed table cannot be created at all (chDB has neither macros nor
  clusters: ``Distributed('{cluster}', …)`` fails to expand the macro, any
  named cluster with CLUSTER_DOESNT_EXIST), so it is replaced by a copy
  of its local table (``CREATE TABLE T AS T_local``). To a query that is
  what a Distributed table looks like: the same columns, with FINAL and
  aggregation done by the shards' local tables. Its arguments are checked
  separately: target table, database, and a sharding key that runs
  against the local table and is a function of the leading ordering-key column.

What this cannot check here: Keeper paths, macros, remote_servers, and how a
real cluster routes inserts. Those are in deploy/clickhouse/README.md.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from linkcore.errors import ConfigError
from linkindex.client import MIGRATIONS, Index, check_upgradable, schema_statements

CLUSTER_SQL = Path(__file__).resolve().parents[2] / "deploy" / "clickhouse" / "cluster.sql"

ON_CLUSTER = re.compile(r"\s+ON\s+CLUSTER\s+'\{cluster\}'", re.IGNORECASE)
REPLICATED = re.compile(
    r"Replicated(?P<engine>\w*MergeTree)\(\s*'(?P<path>[^']*)'\s*,\s*'(?P<replica>[^']*)'"
    r"\s*(?:,\s*(?P<args>[^()]*?))?\s*\)"
)
DISTRIBUTED = re.compile(
    r"^CREATE TABLE IF NOT EXISTS (?P<db>\w+)\.(?P<name>\w+)\s+AS\s+(?P=db)\.(?P<source>\w+)\s+"
    r"ENGINE\s*=\s*Distributed\(\s*'(?P<cluster>[^']*)'\s*,\s*'(?P<database>[^']*)'\s*,"
    r"\s*'(?P<local>[^']*)'\s*,\s*(?P<key>.+)\)$",
    re.DOTALL,
)
CREATED = re.compile(
    r"^CREATE\s+(?:(?P<kind>DATABASE|TABLE|MATERIALIZED VIEW|VIEW)\s+IF NOT EXISTS"
    r"|OR REPLACE\s+(?P<replaced>VIEW))\s+"
    r"(?P<name>[\w.{}]+)",
)
REPLICATED_PATH = "/clickhouse/tables/{shard}/{database}/{table}"


def cluster_statements(database: str) -> list[str]:
    """The statements of cluster.sql with ``{db}`` bound, split as the app splits 001_init.sql."""
    text = CLUSTER_SQL.read_text(encoding="utf-8")
    lines = [line for line in text.splitlines() if not line.lstrip().startswith("--")]
    statements = [s.strip() for s in "\n".join(lines).split(";")]
    return [s.replace("{db}", database) for s in statements if s]


@dataclass(frozen=True)
class Distributed:
    name: str
    local: str
    cluster: str
    database: str
    sharding_key: str


def distributed_tables(statements: list[str]) -> list[Distributed]:
    found = []
    for statement in statements:
        match = DISTRIBUTED.match(ON_CLUSTER.sub("", statement))
        if match:
            assert match["source"] == match["local"], (
                f"{match['name']} copies its columns from {match['source']} "
                f"but distributes over {match['local']}"
            )
            found.append(
                Distributed(
                    match["name"],
                    match["local"],
                    match["cluster"],
                    match["database"],
                    match["key"].strip(),
                )
            )
    return found


def single_node(statement: str) -> str:
    """One cluster.sql statement as a single chDB node can run it."""
    statement = ON_CLUSTER.sub("", statement)
    distributed = DISTRIBUTED.match(statement)
    if distributed:
        db, name, local = distributed["db"], distributed["name"], distributed["local"]
        return f"CREATE TABLE IF NOT EXISTS {db}.{name} AS {db}.{local}"
    assert "Distributed(" not in statement, (
        "write a Distributed table as CREATE TABLE IF NOT EXISTS {db}.T ON CLUSTER '{cluster}' "
        f"AS {{db}}.T_local ENGINE = Distributed(...), not: {statement[:120]}"
    )

    def plain(match: re.Match[str]) -> str:
        args = match["args"]
        return f"{match['engine']}({args})" if args else match["engine"]

    return REPLICATED.sub(plain, statement)


def apply_cluster_schema(index: Index, statements: list[str]) -> None:
    for statement in statements:
        index.command(single_node(statement))


def _rows(index: Index, sql: str, database: str) -> list[tuple[object, ...]]:
    return index.query(sql, {"db": database})[1]


def _normalize(text: str, database: str) -> str:
    """SQL text with the database name and the ``_local`` suffix taken out."""
    text = re.sub(rf"\b{database}\.(\w+?)_local\b", r"\1", text)
    return re.sub(rf"\b{database}\.", "", text)


def _column_differences(mine: list[tuple[object, ...]], theirs: list[tuple[object, ...]]) -> str:
    """The columns of two column listings (name first) that differ, in words."""
    by_name = {str(c[0]): c[1:] for c in mine}
    their_by_name = {str(c[0]): c[1:] for c in theirs}
    parts = [f"{n} only in 001_init.sql" for n in by_name if n not in their_by_name]
    parts += [f"{n} only in cluster.sql" for n in their_by_name if n not in by_name]
    parts += [
        f"{n}: (type, codec, position, default) {by_name[n]} != {their_by_name[n]}"
        for n in by_name
        if n in their_by_name and by_name[n] != their_by_name[n]
    ]
    return "; ".join(parts)


def schema_differences(index: Index, embedded: str, cluster: str) -> list[str]:
    """How the single-node cluster schema in ``cluster`` differs from 001_init.sql in ``embedded``.

    Every table of ``embedded`` is compared with its counterpart in ``cluster``:
    ``T_local`` for a MergeTree table (the data), ``T`` for a view; the
    Distributed stand-in ``T`` is compared too. Empty means no difference.
    """
    tables_sql = """
        SELECT name, engine, sorting_key, primary_key, partition_key, sampling_key,
               engine_full, as_select, create_table_query
        FROM system.tables WHERE database = {db:String} ORDER BY name"""
    columns_sql = """
        SELECT table, name, type, compression_codec, position, default_kind,
               default_expression
        FROM system.columns WHERE database = {db:String} ORDER BY table, position"""

    def tables(database: str) -> dict[str, tuple[object, ...]]:
        return {str(row[0]): row[1:] for row in _rows(index, tables_sql, database)}

    def columns(database: str) -> dict[str, list[tuple[object, ...]]]:
        result: dict[str, list[tuple[object, ...]]] = {}
        for row in _rows(index, columns_sql, database):
            result.setdefault(str(row[0]), []).append(row[1:])
        return result

    mine, theirs = tables(embedded), tables(cluster)
    my_columns, their_columns = columns(embedded), columns(cluster)
    differences = []
    application_names = {name for name in theirs if not name.endswith("_local")}
    if application_names != set(mine):
        differences.append(
            f"table names: 001_init.sql has {sorted(mine)}, cluster.sql {sorted(application_names)}"
        )
    for name, table in mine.items():
        engine = str(table[0])
        counterparts = [name + "_local", name] if "MergeTree" in engine else [name]
        for other in counterparts:
            if other not in theirs:
                differences.append(f"{name}: cluster.sql has no {other}")
                continue
            if my_columns.get(name) != their_columns.get(other):
                differences.append(
                    f"{name} vs {other}: columns differ: "
                    + _column_differences(my_columns.get(name, []), their_columns.get(other, []))
                )
            their_table = theirs[other]
            stand_in = "MergeTree" in engine and other == name
            labels = ("engine", "sorting_key", "primary_key", "partition_key", "sampling_key")
            for label, a, b in zip(labels, table[:5], their_table[:5], strict=True):
                if a != b:
                    differences.append(f"{name} vs {other}: {label} {a!r} != {b!r}")
            for label, a, b in zip(
                ("engine_full", "as_select", "create_table_query"),
                table[5:],
                their_table[5:],
                strict=True,
            ):
                mine_text = _normalize(str(a), embedded)
                theirs_text = _normalize(str(b), cluster)
                if stand_in and label == "create_table_query":
                    # A stand-in T for Distributed T is created AS T_local: compare its
                    # shape, not a name it was never given.
                    continue
                if mine_text != theirs_text:
                    differences.append(
                        f"{name} vs {other}: {label} differs\n"
                        f"  001_init.sql: {mine_text}\n  cluster.sql:  {theirs_text}"
                    )
    return differences


@pytest.fixture
def new_database(index: Index) -> Iterator[Callable[[], str]]:
    """Names for extra databases in the shared index, each dropped afterwards."""
    created: list[str] = []

    def make() -> str:
        name = f"c_{uuid.uuid4().hex[:12]}"
        created.append(name)
        return name

    yield make
    for name in created:
        index.command(f"DROP DATABASE IF EXISTS {name}")


@pytest.fixture
def cluster_db(index: Index, new_database: Callable[[], str]) -> str:
    """cluster.sql, made single-node, applied to a database of its own."""
    name = new_database()
    apply_cluster_schema(index, cluster_statements(name))
    return name


def test_every_cluster_statement_is_valid_clickhouse_sql(index: Index) -> None:
    # The statements as a real cluster gets them (ON CLUSTER, Replicated
    # engines, Distributed), through the engine's own parser.
    statements = cluster_statements("linkgraph")
    assert statements, f"no statements in {CLUSTER_SQL}"
    for statement in statements:
        _, rows = index.query("SELECT formatQuery({q:String})", {"q": statement})
        assert rows and rows[0][0], statement


def test_cluster_statements_follow_the_cluster_conventions() -> None:
    statements = cluster_statements("linkgraph")
    for statement in statements:
        created = CREATED.match(statement)
        assert created, f"every statement creates something idempotently: {statement[:80]}"
        assert ON_CLUSTER.search(statement), f"not ON CLUSTER '{{cluster}}': {statement[:80]}"
        name = created["name"].split(".")[-1]
        if created["kind"] == "TABLE" and "Distributed(" not in statement:
            engines = REPLICATED.findall(statement)
            assert len(engines) == 1, f"{name}: a local table needs a Replicated*MergeTree engine"
            assert name.endswith("_local"), f"{name}: local tables are named T_local"
            _, path, replica, _ = engines[0]
            assert path == REPLICATED_PATH, f"{name}: Keeper path {path!r}"
            assert replica == "{replica}", f"{name}: replica name {replica!r}"
        if created["kind"] == "MATERIALIZED VIEW":
            # Inserts through a Distributed table arrive at the shards' local
            # tables: a view must read and write local tables to fire there.
            assert re.search(r"\bTO linkgraph\.\w+_local\b", statement), statement
            assert re.search(r"\bFROM linkgraph\.\w+_local\b", statement), statement
        if "VIEW" in (created["kind"], created["replaced"]):
            # A plain view must read the Distributed tables (all shards), not
            # the local ones (this node's shard only).
            assert "_local" not in statement, f"{name} reads a local table"
    distributed = distributed_tables(statements)
    assert {d.name for d in distributed} == {
        "edges",
        "edges_by_source",
        "refdomains",
        "pages",
        "fetches",
        "domain_rank",
        "domain_writes",
        "domain_refdomains",
        "domain_reports",
        "host_writes",
        "host_facts",
        "watches",
        "domain_spam",
        "term_frequencies",
    }
    for table in distributed:
        assert table.local == f"{table.name}_local", table
        assert table.cluster == "{cluster}", table
        assert table.database == "linkgraph", table


def test_sharding_keys_keep_every_key_on_one_shard(index: Index, cluster_db: str) -> None:
    # FINAL merges within a shard only, so all rows of one ordering key must go
    # to one shard: the sharding key must hash the leading ordering-key column.
    distributed = distributed_tables(cluster_statements(cluster_db))
    assert distributed
    for table in distributed:
        _, rows = index.query(
            f"DESCRIBE (SELECT {table.sharding_key} AS k FROM {cluster_db}.{table.local})"
        )
        assert rows[0][1] == "UInt64", f"{table.name}: sharding key type {rows[0][1]}"
        _, rows = index.query(
            "SELECT sorting_key FROM system.tables WHERE database = {db:String} "
            "AND name = {name:String}",
            {"db": cluster_db, "name": table.local},
        )
        leading = str(rows[0][0]).split(",")[0].strip()
        assert table.sharding_key == f"cityHash64({leading})", (
            f"{table.name}: sharded by {table.sharding_key}, but its ordering key starts "
            f"with {leading}"
        )


def test_cluster_schema_matches_the_embedded_schema(index: Index, cluster_db: str) -> None:
    differences = schema_differences(index, index.db, cluster_db)
    assert not differences, "cluster.sql and 001_init.sql differ:\n" + "\n".join(differences)


def test_the_applications_migration_changes_nothing_on_the_cluster_schema(
    index: Index, cluster_db: str
) -> None:
    # The application runs 001_init.sql (all IF NOT EXISTS) whenever it connects;
    # on the cluster that must find every name taken and create nothing, e.g.
    # no second refdomains_mv on the Distributed `edges`.
    listing = "SELECT name, engine FROM system.tables WHERE database = {db:String} ORDER BY name"
    before = _rows(index, listing, cluster_db)
    for name in MIGRATIONS:
        for statement in schema_statements(name, cluster_db):
            index.command(statement)
    assert _rows(index, listing, cluster_db) == before


def test_refdomains_view_fills_the_local_table_as_on_one_server(
    index: Index, cluster_db: str
) -> None:
    # On a shard, rows from the Distributed `edges` are inserted into
    # edges_local: the view must turn them into the same refdomains rows as on
    # one server.
    columns = (
        "target_domain, target_rev_host, target_url, source_url, kind, target_host, "
        "source_host, source_domain, first_seen, latest"
    )
    values = """
        ('example.com', 'com.example', 'https://example.com/', 'https://a.org/1', 'a',
         'example.com', 'a.org', 'a.org', '2026-01-01 00:00:00',
         ('2026-01-02 00:00:00', 'home', false, false, false, false, 1, 'other', '', '')),
        ('example.com', 'com.example.www', 'https://www.example.com/x', 'https://a.org/2',
         'a', 'www.example.com', 'a.org', 'a.org', '2025-06-01 00:00:00',
         ('2025-06-01 00:00:00', 'x', false, true, false, false, 2, 'other', '', '')),
        ('example.com', 'com.example', 'https://example.com/', 'https://b.net/', 'canonical',
         'example.com', 'b.net', 'b.net', '2026-03-01 00:00:00',
         ('2026-03-01 00:00:00', '', false, false, false, false, 1, 'other', '', ''))"""
    index.command(f"INSERT INTO {index.db}.edges ({columns}) VALUES {values}")
    index.command(f"INSERT INTO {cluster_db}.edges_local ({columns}) VALUES {values}")
    query = (
        "SELECT target_domain, source_domain, first_seen, last_seen "
        "FROM {db:Identifier}.{table:Identifier} FINAL ORDER BY ALL"
    )
    _, expected = index.query(query, {"db": index.db, "table": "refdomains"})
    _, actual = index.query(query, {"db": cluster_db, "table": "refdomains_local"})
    assert len(expected) == 2
    assert actual == expected


def test_the_comparison_notices_a_column_added_on_one_side(
    index: Index, new_database: Callable[[], str]
) -> None:
    # The check above must be able to fail: a column added to one schema only.
    drifted = new_database()
    statements = [
        statement.replace(
            "kind            Enum8",
            "extra           SimpleAggregateFunction(any, String),\n    kind            Enum8",
            1,
        )
        if statement.startswith(f"CREATE TABLE IF NOT EXISTS {drifted}.edges_local ")
        else statement
        for statement in cluster_statements(drifted)
    ]
    assert statements != cluster_statements(drifted), "the mutation did not apply"
    apply_cluster_schema(index, statements)
    differences = schema_differences(index, index.db, drifted)
    assert any(d.startswith("edges vs edges_local: columns differ") for d in differences)


UPGRADES = (
    "upgrade_lost_at.sql",
    "upgrade_compact.sql",
    "upgrade_validators.sql",
    "upgrade_context.sql",
    "upgrade_host_facts.sql",
    "upgrade_profiles.sql",
)


def upgrade_statements(name: str, database: str) -> list[str]:
    """The statements of deploy/clickhouse/``name``, split and bound like cluster.sql."""
    text = (CLUSTER_SQL.parent / name).read_text(encoding="utf-8")
    lines = [line for line in text.splitlines() if not line.lstrip().startswith("--")]
    statements = [s.strip() for s in "\n".join(lines).split(";")]
    return [s.replace("{db}", database) for s in statements if s]


@pytest.mark.parametrize("name", UPGRADES)
def test_cluster_upgrades_are_valid_and_alter_local_tables_first(index: Index, name: str) -> None:
    # Each upgrade the application refuses to run on a cluster has its cluster
    # counterpart here, and the application's own upgrade has the same name.
    assert schema_statements(name, "linkgraph")
    statements = upgrade_statements(name, "linkgraph")
    assert statements
    altered: list[str] = []
    for statement in statements:
        _, rows = index.query("SELECT formatQuery({q:String})", {"q": statement})
        assert rows and rows[0][0], statement
        if statement.startswith("ALTER"):
            assert ON_CLUSTER.search(statement), f"not ON CLUSTER '{{cluster}}': {statement[:80]}"
            table = statement.split()[2].split(".")[-1]
            # (refdomains_mv lives on the shards, beside the local tables.)
            if not table.endswith("_local") and table != "refdomains_mv":
                # Shards first: no Distributed table may expect what they lack.
                assert f"{table}_local" in altered, f"{table} altered before {table}_local"
            altered.append(table)


def test_the_compact_upgrade_brings_an_earlier_cluster_to_this_schema(
    index: Index, new_database: Callable[[], str]
) -> None:
    alias = "last_seen       DateTime64(3, 'UTC') ALIAS tupleElement(latest, 'seen')"
    # As every earlier schema declared it, codec included.
    stored = (
        "last_seen       SimpleAggregateFunction(max, DateTime64(3, 'UTC')) CODEC(Delta, ZSTD(1))"
    )
    earlier, current = new_database(), new_database()
    statements = [s.replace(alias, stored) for s in cluster_statements(earlier)]
    assert statements != cluster_statements(earlier), "cluster.sql no longer has the alias"
    apply_cluster_schema(index, statements)
    apply_cluster_schema(index, cluster_statements(current))
    for statement in upgrade_statements("upgrade_compact.sql", earlier):
        index.command(ON_CLUSTER.sub("", statement))
    apply_cluster_schema(index, cluster_statements(earlier))  # as the upgrade says
    listing = (
        "SELECT table, name, type, default_kind, default_expression, compression_codec "
        "FROM system.columns WHERE database = {db:String} ORDER BY table, position"
    )
    assert _rows(index, listing, earlier) == _rows(index, listing, current)


#: The previous release's cluster.sql, as it shipped (tests/data/README.md).
PREVIOUS_CLUSTER_SQL = (
    Path(__file__).resolve().parents[1] / "data" / "schema_before_context" / "cluster.sql"
)


def test_the_context_and_host_facts_upgrades_bring_the_previous_cluster_to_this_schema(
    index: Index, new_database: Callable[[], str]
) -> None:
    earlier, current = new_database(), new_database()
    text = PREVIOUS_CLUSTER_SQL.read_text(encoding="utf-8")
    lines = [line for line in text.splitlines() if not line.lstrip().startswith("--")]
    previous = [s.strip().replace("{db}", earlier) for s in "\n".join(lines).split(";")]
    apply_cluster_schema(index, [s for s in previous if s])
    apply_cluster_schema(index, cluster_statements(current))
    listing = (
        "SELECT table, name, type, default_kind, default_expression, compression_codec "
        "FROM system.columns WHERE database = {db:String} ORDER BY table, position"
    )
    assert _rows(index, listing, earlier) != _rows(index, listing, current)
    for name in ("upgrade_context.sql", "upgrade_profiles.sql"):
        for statement in upgrade_statements(name, earlier):
            index.command(ON_CLUSTER.sub("", statement))
    apply_cluster_schema(index, cluster_statements(earlier))  # as the upgrades say
    for statement in upgrade_statements("upgrade_host_facts.sql", earlier):
        index.command(ON_CLUSTER.sub("", statement))
    assert _rows(index, listing, earlier) == _rows(index, listing, current)


def test_the_application_refuses_to_upgrade_a_cluster() -> None:
    with pytest.raises(ConfigError) as refused:
        check_upgradable("Distributed", ["upgrade_compact.sql"])
    assert "deploy/clickhouse/upgrade_compact.sql" in str(refused.value)
    check_upgradable("Distributed", [])
    check_upgradable("AggregatingMergeTree", ["upgrade_compact.sql"])
    # A table this version adds (watches): cluster.sql makes it, not the application.
    with pytest.raises(ConfigError, match=r"run deploy/clickhouse/cluster\.sql on the cluster"):
        check_upgradable("Distributed", ["cluster.sql"])
