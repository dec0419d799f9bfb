"""The one factory for index connections, embedded or server.

``open_index`` returns an :class:`Index` on either

* the embedded engine: chDB in-process through clickhouse-connect
  (``chdb:///PATH``), which lets exactly one process own a data directory, or
* a ClickHouse server or cluster over HTTP (``http://HOST:8123/DB``).

The SQL is the same for both. Every clickhouse-connect or chDB failure leaves
this module as a :class:`~linkcore.errors.LinkgraphError` with a one-line
message and a ``retriable`` flag.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any, Final
from urllib.parse import urlsplit

from linkcore import config
from linkcore.errors import (
    ConfigError,
    IndexError_,
    IndexLocked,
    IndexUnavailable,
    LinkgraphError,
)

log = logging.getLogger(__name__)

# chDB runs one engine per process, on one data directory: clients are shared
# per directory so that the CLI and the crawl pipeline in one process reuse it.
_EMBEDDED_CLIENTS: dict[str, Any] = {}

_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,63}$")
_MATERIALIZED_VIEW = re.compile(
    r"CREATE MATERIALIZED VIEW IF NOT EXISTS (?P<name>\S+) TO \S+ AS\s+(?P<query>.*)", re.DOTALL
)
# Migrations, applied in order on every connect; each file is a list of
# idempotent (IF NOT EXISTS) statements.
MIGRATIONS = (
    "001_init.sql",
    "002_rank.sql",
    "003_fetches.sql",
    "004_rollups.sql",
    "005_host_facts.sql",
    "006_watches.sql",
    "007_spam_scores.sql",
    "008_term_frequencies.sql",
)


@dataclass(frozen=True, slots=True)
class IndexLocation:
    """Where the index lives: an embedded data directory or a server URL."""

    data_dir: str | None = None
    clickhouse_url: str | None = None
    database: str = config.CLICKHOUSE_DATABASE

    @property
    def embedded(self) -> bool:
        return not self.clickhouse_url

    def describe(self) -> str:
        if self.embedded:
            return f"embedded index in {self.data_dir}"
        return f"ClickHouse at {_redact(self.clickhouse_url or '')} (database {self.database})"


def _redact(url: str) -> str:
    parts = urlsplit(url)
    if parts.password:
        return url.replace(f":{parts.password}@", ":***@")
    return url


def resolve_location(
    data_dir: str | None = None, clickhouse_url: str | None = None
) -> IndexLocation:
    """Combine flags and environment into an :class:`IndexLocation`.

    Flags win over ``LINKGRAPH_CLICKHOUSE`` / ``LINKGRAPH_DATA_DIR``. A server URL
    may name its database in its path (``http://host:8123/mydb``).
    """
    url = config.CLICKHOUSE.resolve(clickhouse_url)
    if url and not data_dir:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https"):
            raise ConfigError(f"--clickhouse must be an http(s):// URL, got {url!r}")
        database = parts.path.strip("/") or config.CLICKHOUSE_DATABASE
        if not _IDENTIFIER.match(database):
            raise ConfigError(f"bad ClickHouse database name {database!r} in {url!r}")
        return IndexLocation(clickhouse_url=url, database=database)
    directory = config.DATA_DIR.resolve(data_dir)
    return IndexLocation(data_dir=str(Path(directory).expanduser().resolve()))


def _translate(error: Exception, location: IndexLocation) -> LinkgraphError:
    message = " ".join(str(error).split())
    if "Cannot lock file" in message or "already running" in message:
        return IndexLocked(
            f"the data directory {location.data_dir} is in use by another linkgraph process "
            "(the embedded index allows one process at a time; stop it, or use "
            "--clickhouse for a shared server)"
        )
    if "EmbeddedServer already initialized" in message:
        return ConfigError(
            "this process already opened another embedded index; one process can hold one "
            "data directory"
        )
    if any(
        word in message
        for word in ("Connection refused", "Failed to establish", "timed out", "Name or service")
    ):
        return IndexUnavailable(f"cannot reach {location.describe()}: {message[:200]}")
    if "NOT_ENOUGH_SPACE" in message or "No space left" in message:
        return IndexError_(f"the index is out of disk space: {message[:200]}")
    # ClickHouse errors carry their code name last, e.g. "(SYNTAX_ERROR)".
    return IndexError_(message[:500])


class Index:
    """A connection to the link index, with the schema applied.

    Holds one clickhouse-connect client. Methods raise
    :class:`~linkcore.errors.LinkgraphError` subclasses only.
    """

    def __init__(self, client: Any, location: IndexLocation) -> None:
        self.client = client
        self.location = location
        self.db = location.database

    # -- statements --------------------------------------------------------
    def command(self, sql: str, parameters: dict[str, Any] | None = None) -> Any:
        try:
            return self.client.command(sql, parameters=parameters)
        except LinkgraphError:
            raise
        except Exception as error:
            raise _translate(error, self.location) from error

    def query(
        self,
        sql: str,
        parameters: dict[str, Any] | None = None,
        settings: dict[str, Any] | None = None,
    ) -> tuple[list[str], list[tuple[Any, ...]]]:
        """Run a SELECT; returns (column names, rows)."""
        try:
            result = self.client.query(sql, parameters=parameters, settings=settings)
            columns = list(result.column_names)
            rows = [tuple(row) for row in result.result_rows]
            if not columns and not rows and sql.lstrip().upper().startswith(("SELECT", "WITH")):
                # The embedded engine returns no column names with an empty
                # result; a CSV or table still needs its header.
                described = self.client.query(f"DESCRIBE ({sql})", parameters=parameters)
                columns = [str(row[0]) for row in described.result_rows]
        except Exception as error:
            raise _translate(error, self.location) from error
        return columns, rows

    def stream(
        self,
        sql: str,
        parameters: dict[str, Any] | None = None,
        settings: dict[str, Any] | None = None,
    ) -> Iterator[tuple[list[str], Sequence[Sequence[Any]]]]:
        """Yield (column names, block of rows) for a large SELECT, block by block."""
        try:
            with self.client.query_row_block_stream(
                sql, parameters=parameters, settings=settings
            ) as stream:
                names = list(stream.source.column_names)
                for block in stream:
                    yield names, block
        except LinkgraphError:
            raise
        except Exception as error:
            raise _translate(error, self.location) from error

    def query_arrow(self, sql: str, settings: dict[str, Any] | None = None) -> Any:
        """Run a SELECT; returns a ``pyarrow.Table``."""
        try:
            return self.client.query_arrow(sql, settings=settings)
        except Exception as error:
            raise _translate(error, self.location) from error

    def stream_numpy(self, sql: str, settings: dict[str, Any] | None = None) -> Iterator[Any]:
        """Yield numpy blocks of a large SELECT, one engine block at a time."""
        try:
            with self.client.query_np_stream(sql, settings=settings) as stream:
                yield from stream
        except LinkgraphError:
            raise
        except Exception as error:
            raise _translate(error, self.location) from error

    def insert_arrow(self, table: str, data: Any) -> None:
        """Insert an Arrow table; returns once the index has it.

        On a server the insert waits for Distributed tables to hand the rows
        to their shards (``distributed_foreground_insert``): consumers commit
        Kafka offsets right after, so "accepted" must mean stored.
        """
        settings = None if self.location.embedded else {"distributed_foreground_insert": 1}
        try:
            self.client.insert_arrow(f"{self.db}.{table}", data, settings=settings)
        except Exception as error:
            raise _translate(error, self.location) from error

    def close(self) -> None:
        """Close a server connection; the embedded engine lives as long as the process."""
        if self.location.embedded:
            return
        try:
            self.client.close()
        except Exception:  # closing is best effort; the process is ending anyway
            log.debug("closing the index client failed", exc_info=True)

    # -- schema ------------------------------------------------------------
    def migrate(self) -> None:
        """Create the database and every table the index needs (idempotent)."""
        self.command(f"CREATE DATABASE IF NOT EXISTS {self.db}")
        _, rows = self.query(
            "SELECT table, name, default_kind FROM system.columns WHERE database = {db:String} "
            "AND table IN ('edges', 'edges_by_source', 'pages', 'host_writes', 'domain_reports', "
            "'watches', 'domain_spam', 'term_frequencies')",
            {"db": self.db},
        )
        columns = {name for table, name, _ in rows if table == "edges"}
        page_columns = {name for table, name, _ in rows if table == "pages"}
        host_writes = any(table == "host_writes" for table, _, _ in rows)
        reports = {name for table, name, _ in rows if table == "domain_reports"}
        # Edge tables that store last_seen (both, unless an upgrade stopped between them).
        stored = {
            table
            for table, name, kind in rows
            if table in ("edges", "edges_by_source") and name == "last_seen" and kind != "ALIAS"
        }
        needed = [
            name
            for name, due in (
                ("upgrade_lost_at.sql", bool(columns) and "lost_at" not in columns),
                ("upgrade_compact.sql", bool(stored)),
                ("upgrade_validators.sql", bool(page_columns) and "etag" not in page_columns),
                ("upgrade_context.sql", bool(columns) and "lost_reason" not in columns),
                (
                    "upgrade_host_facts.sql",
                    (bool(page_columns) and not host_writes)
                    or (bool(reports) and "locations" not in reports),
                ),
                # A table this version adds: a cluster gets it from cluster.sql (a
                # plain table made here would stand in the Distributed one's way).
                (
                    "cluster.sql",
                    bool(columns)
                    and not {"watches", "domain_spam", "term_frequencies"}
                    <= {t for t, _, _ in rows},
                ),
                (
                    "upgrade_profiles.sql",
                    bool(page_columns) and "profile_terms" not in page_columns,
                ),
            )
            if due
        ]
        if needed:
            _, engines = self.query(
                "SELECT engine FROM system.tables WHERE database = {db:String} AND name = 'edges'",
                {"db": self.db},
            )
            check_upgradable(engines[0][0] if engines else "", needed)
        # An index from before lost_at: the column first (the links view reads
        # it), the backfill from the fetch history once every table exists.
        # So is an index from before edges' context: its columns first, its
        # lost reasons once the lost markers exist. The validators go in
        # before the page facts, and those before the profile, as this
        # version's `pages` orders them.
        upgrade = [
            statement
            for name in (
                "upgrade_lost_at.sql",
                "upgrade_validators.sql",
                "upgrade_context.sql",
                "upgrade_profiles.sql",
            )
            if name in needed
            for statement in schema_statements(name, self.db)
        ]
        for statement in upgrade:
            if statement.startswith("ALTER"):
                self.command(statement)
        for name in MIGRATIONS:
            for statement in schema_statements(name, self.db):
                self.command(statement)
        for statement in upgrade:
            if statement.startswith("INSERT"):
                self.command(statement)
        # The host facts' upgrade reads and alters tables the migrations make.
        if "upgrade_host_facts.sql" in needed:
            for statement in schema_statements("upgrade_host_facts.sql", self.db):
                self.command(statement)
        # An index from before the compact schema stores last_seen: metadata
        # changes only, after the backfill above (which leaves it out).
        if "upgrade_compact.sql" in needed:
            for statement in schema_statements("upgrade_compact.sql", self.db):
                table = statement.split()[2].removeprefix(f"{self.db}.")
                if table in ("edges", "edges_by_source") and table not in stored:
                    continue
                self.command(statement)
            self._reissue_views()

    def _reissue_views(self) -> None:
        """Give every view of the migrations its query again.

        A view keeps the column types it was created with, so after a column
        it reads changed type (last_seen became an alias) the views are
        replaced and the materialized views' queries modified in place (never
        dropped: on a server other writers may be inserting meanwhile).
        """
        for name in MIGRATIONS:
            for statement in schema_statements(name, self.db):
                materialized = _MATERIALIZED_VIEW.match(statement)
                if materialized:
                    self.command(
                        f"ALTER TABLE {materialized['name']} MODIFY QUERY {materialized['query']}"
                    )
                elif statement.startswith("CREATE OR REPLACE VIEW"):
                    self.command(statement)


class ReadOnlyIndex(Index):
    """``inner`` with every statement run under ``readonly = 2``.

    The engine refuses anything that would change data or schema (``readonly
    = 2`` still lets a query set its own settings); inserts are refused here.
    ``linkgraph serve`` answers its query endpoints through one, so that no
    parameter, however hostile, can change the index even if it escaped
    binding. On chDB wrap a handle of its own: a statement refused under
    ``readonly`` leaves the engine session of its handle read-only.
    """

    _READONLY: Final = {"readonly": 2}

    def __init__(self, inner: Index) -> None:
        super().__init__(inner.client, inner.location)
        self.inner = inner

    def _settings(self, settings: dict[str, Any] | None) -> dict[str, Any]:
        return {**(settings or {}), **self._READONLY}

    def command(self, sql: str, parameters: dict[str, Any] | None = None) -> Any:
        # USE, the one command read-only queries need, passes under readonly.
        return self.inner.query(sql, parameters, self._READONLY)

    def query(
        self,
        sql: str,
        parameters: dict[str, Any] | None = None,
        settings: dict[str, Any] | None = None,
    ) -> tuple[list[str], list[tuple[Any, ...]]]:
        return self.inner.query(sql, parameters, self._settings(settings))

    def stream(
        self,
        sql: str,
        parameters: dict[str, Any] | None = None,
        settings: dict[str, Any] | None = None,
    ) -> Iterator[tuple[list[str], Sequence[Sequence[Any]]]]:
        return self.inner.stream(sql, parameters, self._settings(settings))

    def query_arrow(self, sql: str, settings: dict[str, Any] | None = None) -> Any:
        return self.inner.query_arrow(sql, self._settings(settings))

    def stream_numpy(self, sql: str, settings: dict[str, Any] | None = None) -> Iterator[Any]:
        return self.inner.stream_numpy(sql, self._settings(settings))

    def insert_arrow(self, table: str, data: Any) -> None:
        raise IndexError_(f"a read-only connection cannot insert into {self.db}.{table}")

    def close(self) -> None:
        self.inner.close()


def check_upgradable(engine: str, upgrades: Sequence[str]) -> None:
    """Raise :class:`ConfigError` if ``upgrades`` are due on a cluster's tables.

    The application sees a cluster through its Distributed tables only, so it
    cannot upgrade the shards' local tables; the operator runs the cluster's
    counterpart in deploy/clickhouse/ first (its README, "Upgrading").
    """
    if engine == "Distributed" and upgrades:
        raise ConfigError(
            "the index is a cluster's (Distributed tables) and predates this version's "
            f"schema: run {', '.join(f'deploy/clickhouse/{name}' for name in upgrades)} "
            "on the cluster first (deploy/clickhouse/README.md, Upgrading)"
        )


def schema_statements(name: str = "001_init.sql", database: str = "linkgraph") -> list[str]:
    """The statements of one migration file with ``{db}`` bound to ``database``."""
    if not _IDENTIFIER.match(database):
        raise ConfigError(f"bad database name {database!r}")
    text = resources.files("linkindex").joinpath("sql", name).read_text(encoding="utf-8")
    lines = [line for line in text.splitlines() if not line.lstrip().startswith("--")]
    statements = [s.strip() for s in "\n".join(lines).split(";")]
    return [s.replace("{db}", database) for s in statements if s]


def _check_not_locked(path: Path) -> None:
    """Raise :class:`IndexLocked` if another process owns the data directory.

    The embedded engine holds an exclusive ``flock`` on ``DIR/status`` while it
    runs (and writes its PID there); probing that lock gives a clear message
    instead of the engine's generic initialization error.
    """
    status = path / "status"
    if not status.exists():
        return
    try:
        with open(status, "rb") as handle:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                owner = handle.read(200).decode("utf-8", "replace")
                pid = next(
                    (
                        line.split(":", 1)[1].strip()
                        for line in owner.splitlines()
                        if line.startswith("PID:")
                    ),
                    "unknown",
                )
                raise IndexLocked(
                    f"the data directory {path} is in use by another linkgraph process "
                    f"(pid {pid}); the embedded index allows one process at a time: stop it, "
                    "or use --clickhouse for a shared server"
                ) from None
            fcntl.flock(handle, fcntl.LOCK_UN)
    except OSError:
        return


@contextlib.contextmanager
def _quiet_stderr() -> Iterator[None]:
    """Silence the embedded engine's own stderr output while it starts.

    Its failures are reported through exceptions (translated here); its C++
    logging would otherwise add lines the user did not ask for.
    """
    try:
        saved = os.dup(2)
    except OSError:
        yield
        return
    try:
        with open(os.devnull, "wb") as devnull:
            os.dup2(devnull.fileno(), 2)
            yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)


def open_index(location: IndexLocation, *, create: bool = True) -> Index:
    """Connect to the index at ``location`` and apply the schema.

    With ``create=False`` a missing embedded data directory is an error rather
    than a new, empty index (query commands use that: asking an index that was
    never crawled is almost always a wrong --data-dir).
    """
    import clickhouse_connect  # deferred: importing it costs ~0.3 s

    try:
        if location.embedded:
            assert location.data_dir is not None
            path = Path(location.data_dir)
            if not create and not path.exists():
                raise ConfigError(
                    f"no index at {path} (crawl first, or pass --data-dir / set LINKGRAPH_DATA_DIR)"
                )
            if path.exists() and not path.is_dir():
                raise ConfigError(f"--data-dir {path} exists and is not a directory")
            path.mkdir(parents=True, exist_ok=True)
            client = _EMBEDDED_CLIENTS.get(str(path))
            if client is None:
                _check_not_locked(path)
                with _quiet_stderr():
                    client = clickhouse_connect.get_client(interface="chdb", path=str(path))
                    # Make the engine start now, inside the quiet block and the
                    # error translation, rather than on the first real query.
                    client.query("SELECT 1")
                _EMBEDDED_CLIENTS[str(path)] = client
        else:
            assert location.clickhouse_url is not None
            client = clickhouse_connect.get_client(
                dsn=location.clickhouse_url,
                database="default",
                connect_timeout=10,
                send_receive_timeout=300,
            )
    except LinkgraphError:
        raise
    except Exception as error:
        raise _translate(error, location) from error
    index = Index(client, location)
    index.migrate()
    if not location.embedded:
        # Unqualified names in users' SQL (`linkgraph sql "… FROM links"`) mean
        # this database; the migrations above had to start from `default`.
        client.database = location.database
    return index
