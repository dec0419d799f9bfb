"""The CLI's way in to a running ``linkgraph serve``: serve.json, running_server, remote_query.

While a server holds an embedded data directory, the CLI finds it through
``DATA_DIR/serve.json`` and asks it what it would have asked the index; the
answers must be the local query's (the web: :mod:`tests.integration.api_web`).
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
from datetime import datetime
from pathlib import Path

import pytest

from linkcore.errors import (
    ConfigError,
    IndexError_,
    IndexLocked,
    IndexUnavailable,
    UsageError,
)
from linkgraph import api
from linkgraph.api import client as api_client
from linkindex import queries
from linkindex.client import Index, IndexLocation, open_index
from linkindex.queries import Filters, Target

# The module-scoped fixtures of the served web (pytest finds them by these names).
from tests.integration.api_web import (  # noqa: F401
    Running,
    edge_keys,
    guarded_fixture,
    matching,
    served_fixture,
    web_index_fixture,
)

pytestmark = pytest.mark.integration


# -- the CLI's way in: serve.json, running_server, remote_query ----------------------------


def test_running_server_is_found_through_serve_json(served: Running, tmp_path: Path) -> None:
    assert api.running_server(tmp_path) is None
    with api.advertise(served.server, tmp_path) as path:
        assert path == tmp_path / api.SERVE_FILE
        assert os.stat(path).st_mode & 0o777 == 0o600
        found = api.running_server(tmp_path)
        assert found is not None
        assert (found.url, found.token, found.pid) == (
            served.url,
            served.server.local_token,
            os.getpid(),
        )
    assert not (tmp_path / api.SERVE_FILE).exists()
    assert api.running_server(tmp_path) is None


def test_stale_or_foreign_serve_json_is_ignored(served: Running, tmp_path: Path) -> None:
    serve_file = tmp_path / api.SERVE_FILE
    info = {"url": served.url, "pid": os.getpid(), "instance": "someone-else", "token": "t" * 20}
    serve_file.write_text(json.dumps(info))
    assert api.running_server(tmp_path) is None  # another server now on that port
    dead = os.fork()
    if dead == 0:
        os._exit(0)
    os.waitpid(dead, 0)
    info.update(instance=served.server.instance, pid=dead)
    serve_file.write_text(json.dumps(info))
    assert api.running_server(tmp_path) is None  # its process is gone
    free = socket.socket()
    free.bind(("127.0.0.1", 0))
    port = free.getsockname()[1]
    free.close()
    info.update(pid=os.getpid(), url=f"http://127.0.0.1:{port}")
    serve_file.write_text(json.dumps(info))
    assert api.running_server(tmp_path) is None  # nothing listens
    for junk in ("", "{", "[]", '{"url": 1}', json.dumps({**info, "pid": "1"})):
        serve_file.write_text(junk)
        assert api.running_server(tmp_path) is None


@pytest.mark.parametrize("query", ["backlinks", "refdomains", "anchors", "outlinks"])
@pytest.mark.parametrize("limit", [0, 3])
def test_remote_query_answers_what_the_local_query_does(
    served: Running, web_index: Index, monkeypatch: pytest.MonkeyPatch, query: str, limit: int
) -> None:
    # Pages of two rows, so that "all" and "3" take several requests.
    monkeypatch.setattr(api_client, "MAX_LIMIT", 2)
    target = Target.parse("beta.org" if query == "outlinks" else "target.co.uk")
    filters = Filters(include_internal=True, limit=limit)
    local = getattr(queries, query)(web_index, target, filters)
    remote = api.remote_query(
        served.url, query, api.query_params(target, filters), served.server.local_token
    )
    assert remote.columns == local.columns
    assert remote.rows == local.rows  # datetimes included
    assert remote.next_cursor == local.next_cursor
    if limit:
        rest = api.remote_query(
            served.url,
            query,
            api.query_params(target, Filters(include_internal=True, cursor=remote.next_cursor)),
            served.server.local_token,
        )
        everything = getattr(queries, query)(web_index, target, Filters(include_internal=True))
        assert remote.rows + rest.rows == everything.rows


def test_remote_stats_sql_and_errors(served: Running, guarded: Running, web_index: Index) -> None:
    token = served.server.local_token
    stats = api.remote_query(served.url, "stats", {}, token)
    assert stats.columns == queries.stats(web_index).columns
    assert isinstance(stats.rows[0][stats.columns.index("last_fetch")], datetime)
    statement = (
        f"SELECT source_url, first_seen FROM {web_index.db}.links ORDER BY source_url LIMIT 1"
    )
    assert (
        api.remote_query(served.url, "sql", {"sql": statement}, token).rows
        == queries.sql(web_index, statement).rows
    )
    with pytest.raises(UsageError, match="not an http"):
        api.remote_query(served.url, "backlinks", {"target": "mailto:x@y.z"}, token)
    with pytest.raises(UsageError, match="read-only"):
        api.remote_query(served.url, "sql", {"sql": f"DROP TABLE {web_index.db}.edges"}, token)
    with pytest.raises(ConfigError, match="refused the token"):
        api.remote_query(guarded.url, "stats", {}, "wrong-token-0123456789")
    closed = socket.socket()
    closed.bind(("127.0.0.1", 0))
    port = closed.getsockname()[1]
    closed.close()
    with pytest.raises(IndexUnavailable, match="cannot reach"):
        api.remote_query(f"http://127.0.0.1:{port}", "stats", {}, token)


def test_remote_query_ignores_http_proxy(served: Running, monkeypatch: pytest.MonkeyPatch) -> None:
    # linkgraph crawls through http_proxy; the local server must still be reached directly.
    monkeypatch.setenv("http_proxy", "http://127.0.0.1:9")
    monkeypatch.setenv("HTTP_PROXY", "http://127.0.0.1:9")
    assert api.remote_query(served.url, "stats", {}, served.server.local_token).rows


def test_serve_advertises_while_it_runs(index: Index, tmp_path: Path) -> None:
    """``serve`` in a thread, stopped by its server's shutdown; serve.json comes and goes."""
    location = IndexLocation(data_dir=str(tmp_path), database=index.db)
    shadow = Index(index.client, location)  # the same engine, advertised in tmp_path
    ready = threading.Event()
    holder: dict[str, api.ApiServer] = {}

    def on_ready(server: api.ApiServer) -> None:
        holder["server"] = server
        ready.set()

    thread = threading.Thread(
        target=api.serve, args=(shadow, "127.0.0.1", 0), kwargs={"on_ready": on_ready}
    )
    thread.start()
    assert ready.wait(30)
    found = api.running_server(tmp_path)
    assert found is not None and found.url == holder["server"].url
    holder["server"].shutdown()
    thread.join(30)
    assert not thread.is_alive()
    assert not (tmp_path / api.SERVE_FILE).exists()
    assert api.running_server(tmp_path) is None


def test_a_port_in_use_is_one_line(served: Running, web_index: Index) -> None:
    port = served.server.server_address[1]
    with pytest.raises(ConfigError, match="cannot listen"):
        api.make_server(web_index, "127.0.0.1", port)


# -- another process holds the data directory -----------------------------------------

SERVE_SCRIPT = """
import sys
from linkgraph import api
from linkindex.client import IndexLocation, open_index
from tests.integration.api_web import write_web

index = open_index(IndexLocation(data_dir=sys.argv[1]))
write_web(index)
api.serve(index, "127.0.0.1", 0, on_ready=lambda server: print(server.url, flush=True))
"""


def test_queries_reach_the_serve_that_holds_the_data_dir(tmp_path: Path) -> None:
    """What the CLI does when ``linkgraph serve`` owns the embedded index."""
    data_dir = tmp_path / "data"
    process = subprocess.Popen(
        [sys.executable, "-c", SERVE_SCRIPT, str(data_dir)],
        cwd=Path(__file__).resolve().parents[2],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        url = process.stdout.readline().strip() if process.stdout else ""
        assert url.startswith("http://127.0.0.1:"), process.stderr.read() if process.stderr else ""
        with pytest.raises(IndexLocked):
            open_index(IndexLocation(data_dir=str(data_dir)), create=False)
        found = api.running_server(data_dir)
        assert found is not None and found.url == url and found.pid == process.pid
        target = Target.parse("target.co.uk")
        result = api.remote_query(
            found.url, "backlinks", api.query_params(target, Filters()), found.token
        )
        records = [dict(zip(result.columns, row, strict=True)) for row in result.rows]
        assert edge_keys(records) == edge_keys(matching())
        process.send_signal(signal.SIGTERM)
        assert process.wait(30) == 0
        assert not (data_dir / api.SERVE_FILE).exists()
        assert api.running_server(data_dir) is None
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(10)


def test_query_endpoints_run_on_a_read_only_connection(served: Running, web_index: Index) -> None:
    # Every GET endpoint answers through the server's read-only handle: the
    # engine itself refuses a change there, whatever reached the SQL.
    reader = served.server.query_index
    assert reader.client is not web_index.client or not web_index.location.embedded
    counted = f"SELECT count() FROM {web_index.db}.edges FINAL"
    assert reader.query(counted)[1] == web_index.query(counted)[1]
    for statement in (
        f"CREATE TABLE {web_index.db}.intruder (x UInt8) ENGINE = Memory",
        f"INSERT INTO {web_index.db}.pages (url) VALUES ('http://x.example/')",
        f"DROP TABLE {web_index.db}.edges",
    ):
        with pytest.raises(IndexError_, match=r"READONLY|readonly"):
            reader.query(statement)
    with pytest.raises(IndexError_, match="read-only"):
        reader.insert_arrow("edges", None)
    # The endpoints still answer, and the index is as it was.
    assert served.ok("stats")["rows"][0]["edges"] == web_index.query(counted)[1][0][0]
    assert "intruder" not in {
        row[0] for row in web_index.query(f"SHOW TABLES FROM {web_index.db}")[1]
    }
