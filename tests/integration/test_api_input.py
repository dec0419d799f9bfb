"""``linkgraph serve`` refusing what it must: bad input, hostile strings, tokens, SQL.

Bad input must get a one-line 400, a configured token must be enforced, SQL
must stay read-only, and hostile strings in any parameter must change nothing
and leak nothing (the web and the oracle: :mod:`tests.integration.api_web`).
"""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest

from linkcore.errors import (
    ConfigError,
    IndexError_,
    IndexUnavailable,
)
from linkgraph import api
from linkindex import queries
from linkindex.client import Index
from linkindex.queries import Filters, Target

# The module-scoped fixtures of the served web (pytest finds them by these names).
from tests.integration.api_web import (  # noqa: F401
    INJECTIONS,
    TOKEN,
    FailingIndex,
    Running,
    assert_one_line_error,
    cursor_of,
    guarded_fixture,
    matching,
    oracle_edges,
    raw_exchange,
    served_fixture,
    web_index_fixture,
)

pytestmark = pytest.mark.integration


# -- bad input -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("endpoint", "params", "says"),
    [
        ("backlinks", {}, "target"),
        ("backlinks", {"target": ""}, "target"),
        ("backlinks", {"target": "mailto:someone@example.com"}, "not an http(s) URL"),
        ("backlinks", {"target": "target.co.uk", "scope": "planet"}, "scope"),
        ("backlinks", {"target": "target.co.uk", "limit": "0"}, "limit"),
        ("backlinks", {"target": "target.co.uk", "limit": "-1"}, "limit"),
        ("backlinks", {"target": "target.co.uk", "limit": "ten"}, "limit"),
        ("backlinks", {"target": "target.co.uk", "limit": str(api.MAX_LIMIT + 1)}, "limit"),
        ("backlinks", {"target": "target.co.uk", "offset": "1e3"}, "offset"),
        ("backlinks", {"target": "target.co.uk", "cursor": "not-a-cursor"}, "cursor"),
        ("refdomains", {"target": "target.co.uk", "cursor": cursor_of("x")}, "cursor"),
        ("refdomains", {"target": "target.co.uk", "cursor": cursor_of(-5)}, "cursor"),
        ("anchors", {"target": "target.co.uk", "cursor": cursor_of(2**64)}, "cursor"),
        ("anchors", {"target": "target.co.uk", "cursor": cursor_of(True)}, "cursor"),
        (
            "backlinks",
            {"target": "target.co.uk", "cursor": cursor_of("a", "b", "c", 999)},
            "cursor",
        ),
        ("backlinks", {"target": "target.co.uk", "cursor": cursor_of(1, 2, 3, 1)}, "cursor"),
        ("outlinks", {"target": "beta.org", "cursor": cursor_of("a", "b", "c", "1")}, "cursor"),
        ("backlinks", {"target": "target.co.uk", "cursor": cursor_of("a")}, "cursor"),
        ("backlinks", {"target": "target.co.uk", "kind": "link"}, "kind"),
        ("backlinks", {"target": "target.co.uk", "dofollow_only": "maybe"}, "dofollow_only"),
        ("backlinks", {"target": "target.co.uk", "location": "middle"}, "unknown location"),
        ("outlinks", {"target": "beta.org", "location": "nav,middle"}, "middle"),
        ("backlinks", {"target": "target.co.uk", "sitewide": "maybe"}, "sitewide"),
        ("backlinks", {"target": "target.co.uk", "broken": "maybe"}, "broken"),
        ("summary", {"target": "target.co.uk", "sitewide": "yes please"}, "sitewide"),
        ("backlinks", {"target": "target.co.uk", "colour": "red"}, "unknown parameter"),
        ("stats", {"target": "target.co.uk"}, "unknown parameter"),
        ("backlinks", [("target", "a.com"), ("target", "b.com")], "2 times"),
        ("backlinks", {"target": "x" * (api.MAX_PARAM_CHARS + 1)}, "longer"),
    ],
)
def test_bad_input_is_a_one_line_400(
    served: Running, endpoint: str, params: Any, says: str
) -> None:
    message = assert_one_line_error(served.request(f"/api/v1/{endpoint}", params), 400)
    assert says in message


def test_unknown_paths_methods_and_malformed_requests(served: Running) -> None:
    assert "no endpoint" in assert_one_line_error(served.request("/api/v1/nothing"), 404)
    assert_one_line_error(served.request("/etc/passwd"), 404)
    assert_one_line_error(served.request("/../linkgraph/api/__init__.py"), 404)
    put = served.request("/api/v1/backlinks", method="PUT", body=b"{}")
    assert_one_line_error(put, 405)
    assert put.headers["Allow"] == "GET, HEAD"
    assert served.request("/api/v1/sql").headers.get("Allow") == "POST"
    # A request line that is not HTTP: still a JSON one-liner, not an HTML page.
    head, body = raw_exchange(served, "GET /a b HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
    assert head.startswith("HTTP/1.") and " 400 " in head.splitlines()[0]
    assert set(json.loads(body)) == {"error"}
    invalid_utf8 = served.request("/api/v1/backlinks?target=%ff%fe")
    assert_one_line_error(invalid_utf8, 400)


def test_dns_rebinding_host_is_refused(served: Running) -> None:
    answer = served.request(
        "/api/v1/backlinks", {"target": "target.co.uk"}, headers={"Host": "evil.example:80"}
    )
    assert "Host" in assert_one_line_error(answer, 403)
    assert served.request("/healthz", headers={"Host": "localhost"}).status == 200


@pytest.mark.parametrize("hostile", INJECTIONS)
def test_injection_strings_change_nothing_and_leak_nothing(
    served: Running, web_index: Index, hostile: str
) -> None:
    before = served.ok("stats")["rows"][0]
    cases: list[tuple[str, dict[str, str]]] = [
        (endpoint, params)
        for endpoint in ("backlinks", "refdomains", "anchors", "outlinks", "summary")
        for params in (
            {"target": hostile},
            {"target": hostile, "scope": "prefix", "include_internal": "1"},
            {"target": "target.co.uk", "scope": hostile},
            {"target": "target.co.uk", "kind": hostile},
            {"target": "target.co.uk", "include_internal": hostile},
        )
    ]
    cases += [
        ("backlinks", {"target": "target.co.uk", "cursor": cursor_of(hostile, hostile, "x", 1)}),
        ("refdomains", {"target": "target.co.uk", "cursor": cursor_of(hostile)}),
        ("backlinks", {"target": "target.co.uk", "cursor": hostile}),
    ]
    for endpoint, params in cases:
        answer = served.get(endpoint, **params)
        if answer.status == 400:
            message = assert_one_line_error(answer, 400)
            # The error may quote the input back; nothing of the index's side shows.
            for word in ("SELECT", "FROM", "Code:", "DB::", "t_api_", "tupleElement", "{t_"):
                assert word not in message or word in hostile, message
            continue
        assert answer.status == 200, (endpoint, params, answer.body)
        if "cursor" in params:
            # A cursor only says where a page starts: the rows are still the query's.
            everything = served.ok(endpoint, target="target.co.uk")["rows"]
            assert all(row in everything for row in answer.body["rows"])
            continue
        # The hostile text is a target like any other: the answer is the bound
        # query's for what it parses to, and that matches nothing in this index.
        target = Target.parse(params["target"], params.get("scope"))
        filters = Filters(include_internal="include_internal" in params)
        if endpoint == "summary":
            local = queries.backlinks(web_index, target, filters)
            assert answer.body["backlinks"] == len(local.rows) == 0, (params, answer.body)
        else:
            local = getattr(queries, endpoint)(
                web_index,
                target,
                Filters(include_internal="include_internal" in params, limit=api.DEFAULT_LIMIT),
            )
            assert answer.body["count"] == len(local.rows) == 0, (params, answer.body)
    assert served.ok("stats")["rows"][0]["edges"] == before["edges"]
    assert served.ok("backlinks", target="target.co.uk")["count"] == len(matching())


@pytest.mark.parametrize(
    ("error", "status", "says"),
    [
        (IndexUnavailable("cannot reach ClickHouse at http://127.0.0.1:9"), 503, "cannot reach"),
        (
            IndexError_("Code: 62. DB::Exception: Syntax error: SELECT x FROM t_api_1.edges"),
            500,
            "could not answer",
        ),
        (RuntimeError("a bug\nover two lines"), 500, "internal error"),
    ],
)
def test_index_failures_are_one_line(error: Exception, status: int, says: str) -> None:
    running = Running(api.make_server(FailingIndex(error), "127.0.0.1", 0))
    try:
        for endpoint, params in (
            ("backlinks", {"target": "target.co.uk"}),
            ("summary", {"target": "target.co.uk"}),
            ("stats", {}),
        ):
            answer = running.get(endpoint, **params)
            message = assert_one_line_error(answer, status)
            assert says in message
            assert "SELECT" not in message and "bug" not in message
            if status == 503:
                assert answer.headers["Retry-After"].isdigit()
    finally:
        running.close()


# -- tokens and SQL ------------------------------------------------------------------


def test_a_configured_token_is_required(guarded: Running) -> None:
    missing = guarded.get("backlinks", target="target.co.uk")
    assert "bearer token is required" in assert_one_line_error(missing, 401)
    assert missing.headers["WWW-Authenticate"].startswith("Bearer")
    wrong = guarded.request("/api/v1/backlinks", {"target": "target.co.uk"}, token=TOKEN + "x")
    assert "not valid" in assert_one_line_error(wrong, 401)
    prefix = guarded.request("/api/v1/backlinks", {"target": "target.co.uk"}, token=TOKEN[:-1])
    assert_one_line_error(prefix, 401)
    basic = guarded.request(
        "/api/v1/stats", headers={"Authorization": f"Basic {base64.b64encode(b'a:b').decode()}"}
    )
    assert_one_line_error(basic, 401)
    right = guarded.request("/api/v1/backlinks", {"target": "target.co.uk"}, token=TOKEN)
    assert right.status == 200 and right.body["count"] == len(matching())
    local = guarded.request("/api/v1/stats", token=guarded.server.local_token)
    assert local.status == 200
    # The page, its health and its API description load without a token.
    for path in ("/", "/app.js", "/style.css", "/healthz", "/openapi.json"):
        assert guarded.request(path).status == 200, path


def test_tokens_that_protect_nothing_are_refused(web_index: Index) -> None:
    for token in (
        "short",
        "x" * 15,
        "with space in it 12345",
        "tab\tinside-0123456789",
        "ünïcödé-0123456789",
    ):
        with pytest.raises(ConfigError):
            api.make_server(web_index, "127.0.0.1", 0, token=token)


def test_sql_needs_a_token_and_is_read_only(
    served: Running, guarded: Running, web_index: Index
) -> None:
    statement = f"SELECT count() AS edges FROM {web_index.db}.edges FINAL"
    assert "token" in assert_one_line_error(served.sql(statement, None), 401)
    assert_one_line_error(served.sql(statement, TOKEN), 401)
    answer = served.sql(statement, served.server.local_token)
    assert answer.status == 200
    assert answer.body["rows"] == [{"edges": len(oracle_edges())}]
    assert guarded.sql(statement, TOKEN).status == 200
    for write in (
        f"DROP TABLE {web_index.db}.edges",
        f"INSERT INTO {web_index.db}.pages (url) VALUES ('x')",
        f"TRUNCATE TABLE {web_index.db}.edges",
    ):
        refused = guarded.sql(write, TOKEN)
        assert "read-only" in assert_one_line_error(refused, 403)
    writable = guarded.sql(f"DROP TABLE {web_index.db}.edges", TOKEN, write=True)
    assert "read-only" in assert_one_line_error(writable, 403)
    assert guarded.sql(statement, TOKEN).body["rows"] == [{"edges": len(oracle_edges())}]
    assert_one_line_error(guarded.sql("SELEKT nonsense", TOKEN), 400)
    for body in (
        b"not json",
        b"[1]",
        b'{"sql": 1}',
        b'{"sql": ""}',
        b'{"sql": "SELECT 1", "x": 1}',
        b'{"sql": "SELECT 1", "write": "yes"}',
    ):
        bad = guarded.request("/api/v1/sql", token=TOKEN, method="POST", body=body)
        assert_one_line_error(bad, 400)
    # An oversized body is refused before it is read, and the connection closed.
    head = raw_exchange(
        guarded,
        f"POST /api/v1/sql HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {TOKEN}\r\n"
        f"Content-Type: application/json\r\nContent-Length: {api.MAX_BODY_BYTES + 1}\r\n\r\n",
    )
    assert " 413 " in head[0].splitlines()[0] and "Connection: close" in head[0]
    # A refused request's unread body is not taken for a second request.
    body = b'{"sql": "SELECT 1"}'
    reply = raw_exchange(
        guarded,
        "POST /api/v1/sql HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body) + 40}\r\n\r\n{body.decode()}"
        "GET /api/v1/stats HTTP/1.1\r\nHost: x\r\n\r\n",
    )
    assert " 401 " in reply[0].splitlines()[0]
    assert reply[1].count("HTTP/1.1") == 0


def test_sql_can_write_when_the_server_allows_it(index: Index) -> None:
    running = Running(api.make_server(index, "127.0.0.1", 0, read_only=False))
    try:
        token = running.server.local_token
        drop = running.sql(
            f"CREATE TABLE {index.db}.scratch (x UInt8) ENGINE = Memory", token, write=True
        )
        assert drop.status == 200, drop.body
        assert running.sql(f"EXISTS TABLE {index.db}.scratch", token).body["rows"][0] == {
            "result": 1
        }
    finally:
        running.close()
