"""``linkgraph serve``'s JSON API against an embedded index of hand-written page records.

The server runs in this process on a free loopback port; every endpoint is
called over HTTP with urllib, and every answer is compared with what a small
oracle in this file derives from the page records themselves (merging several
crawls of one page by first and last sighting, as SPEC §4 says). Bad input must
get a one-line 400, a configured token must be enforced, and hostile strings in
any parameter must change nothing and leak nothing.
"""

from __future__ import annotations

import base64
import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import urllib.error
import urllib.request
import uuid
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest

from linkcore.errors import (
    ConfigError,
    IndexError_,
    IndexLocked,
    IndexUnavailable,
    UsageError,
)
from linkcore.records import Link, PageRecord
from linkcore.urls import host_of, registered_domain
from linkgraph import api
from linkgraph.api import client as api_client
from linkindex import queries
from linkindex.client import Index, IndexLocation, open_index
from linkindex.queries import Filters, Target
from linkindex.writer import EdgeWriter

pytestmark = pytest.mark.integration

DAY = 86_400.0
T0 = 1_790_000_000.0  # 2026-09-21T14:13:20Z
TOKEN = "test-token-0123456789abcdef"
HOSTILE_ANCHOR = "<img src=x onerror=alert(1)> x' OR 1=1 -- \"); DROP TABLE edges; --"


def page(url: str, at: float, *links: Link, status: int = 200) -> PageRecord:
    return PageRecord(
        url=url, status=status, fetched_at=at, content_type="text/html", links=list(links)
    )


#: The hand-written crawls, oldest first. beta.org is crawled twice: its edges
#: keep the first sighting (day 1) and take the last (day 5) and its newest anchors.
WEB: list[PageRecord] = [
    page(
        "http://blog.alpha.com/post",
        T0,
        Link("http://www.target.co.uk/a", anchor="A one"),
        Link("http://target.co.uk/", anchor="home", nofollow=True),
        Link("http://blog.alpha.com/", anchor="internal"),
    ),
    page("http://www.target.co.uk/", T0, Link("http://www.target.co.uk/a", anchor="self site")),
    page(
        "http://beta.org/",
        T0 + 1 * DAY,
        Link("http://www.target.co.uk/a", anchor="A again (old)", ugc=True),
        Link("http://www.target.co.uk/a/b?x=1", anchor="deep", sponsored=True),
        Link("http://other.target.co.uk/", kind="canonical"),
    ),
    page(
        "http://gamma.net/list",
        T0 + 3 * DAY,
        Link("http://target.co.uk/", anchor="home", link_count=2),
        Link("http://www.target.co.uk/a", anchor="logo", image=True),
    ),
    page(
        "http://evil-site.net/",
        T0 + 3 * DAY,
        Link("http://www.target.co.uk/x", anchor=HOSTILE_ANCHOR),
    ),
    page(
        "http://beta.org/",
        T0 + 5 * DAY,
        Link("http://www.target.co.uk/a", anchor="A again", ugc=True),
        Link("http://www.target.co.uk/a/b?x=1", anchor="deep", sponsored=True),
        Link("http://other.target.co.uk/", kind="canonical"),
    ),
    page("http://alice.github.io/", T0 + 2 * DAY, Link("http://bob.github.io/", anchor="bob")),
    page("http://www.target.co.uk/gone", T0 + 4 * DAY, status=404),
]


# -- the oracle ------------------------------------------------------------------


def _iso(seconds: float) -> str:
    return datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z")


def oracle_edges(pages: list[PageRecord] = WEB) -> list[dict[str, Any]]:
    """Every edge with SPEC §4 record fields, merged across crawls."""
    merged: dict[tuple[str, str, str], dict[str, Any]] = {}
    for record in pages:
        for link in record.links:
            key = (record.url, link.target_url, link.kind)
            edge = merged.get(key)
            attrs = {
                "anchor": link.anchor,
                "image": link.image,
                "nofollow": link.nofollow,
                "ugc": link.ugc,
                "sponsored": link.sponsored,
                "link_count": link.link_count,
            }
            if edge is None:
                source_host, target_host = host_of(record.url), host_of(link.target_url)
                merged[key] = {
                    "source_url": record.url,
                    "source_host": source_host,
                    "source_domain": registered_domain(source_host),
                    "target_url": link.target_url,
                    "target_host": target_host,
                    "target_domain": registered_domain(target_host),
                    "kind": link.kind,
                    **attrs,
                    "first": record.fetched_at,
                    "last": record.fetched_at,
                }
                continue
            if record.fetched_at >= edge["last"]:
                edge.update(attrs)
            edge["first"] = min(edge["first"], record.fetched_at)
            edge["last"] = max(edge["last"], record.fetched_at)
    records = []
    for edge in merged.values():
        first, last = edge.pop("first"), edge.pop("last")
        records.append({**edge, "first_seen": _iso(first), "last_seen": _iso(last)})
    return records


def matching(
    side: str = "target",
    domain: str = "target.co.uk",
    *,
    host: str | None = None,
    url: str | None = None,
    prefix: str | None = None,
    internal: bool = False,
    dofollow_only: bool = False,
    kinds: tuple[str, ...] = (),
) -> list[dict[str, Any]]:
    """The oracle's edges a query should answer, as records."""
    out = []
    for edge in oracle_edges():
        if edge[f"{side}_domain"] != domain:
            continue
        if host is not None and edge[f"{side}_host"] != host:
            continue
        if url is not None and edge[f"{side}_url"] != url:
            continue
        if prefix is not None and not edge[f"{side}_url"].startswith(prefix):
            continue
        if not internal and edge["source_domain"] == edge["target_domain"]:
            continue
        if dofollow_only and edge["nofollow"]:
            continue
        if kinds and edge["kind"] not in kinds:
            continue
        out.append(edge)
    return out


def edge_keys(records: list[dict[str, Any]]) -> list[tuple[str, str, str]]:
    return sorted((r["source_url"], r["target_url"], r["kind"]) for r in records)


def oracle_refdomains(edges: list[dict[str, Any]]) -> list[dict[str, Any]]:
    groups: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for edge in edges:
        groups[edge["source_domain"]].append(edge)
    rows = [
        {
            "source_domain": domain,
            "links": len(group),
            "dofollow_links": sum(not e["nofollow"] for e in group),
            "target_urls": len({e["target_url"] for e in group}),
            "first_seen": min(e["first_seen"] for e in group),
            "last_seen": max(e["last_seen"] for e in group),
            # This index was never ranked (`linkgraph rank`): every authority is 0.
            "authority": 0,
        }
        for domain, group in groups.items()
    ]
    return sorted(rows, key=lambda r: (-r["links"], r["source_domain"]))


def oracle_anchors(edges: list[dict[str, Any]]) -> list[dict[str, Any]]:
    groups: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for edge in edges:
        if edge["kind"] == "a":
            groups[edge["anchor"]].append(edge)
    rows = [
        {
            "anchor": anchor,
            "links": len(group),
            "refdomains": len({e["source_domain"] for e in group}),
            "dofollow_links": sum(not e["nofollow"] for e in group),
            "first_seen": min(e["first_seen"] for e in group),
            "last_seen": max(e["last_seen"] for e in group),
        }
        for anchor, group in groups.items()
    ]
    return sorted(rows, key=lambda r: (-r["refdomains"], -r["links"], r["anchor"]))


# -- the server ------------------------------------------------------------------


def write_web(index: Index, pages: list[PageRecord] = WEB) -> None:
    writer = EdgeWriter(index)
    for record in pages:
        writer.add(record)
    writer.flush()


@dataclass
class Answer:
    status: int
    body: Any
    headers: dict[str, str]
    raw: bytes


class Running:
    """An API server serving in a thread, and a urllib client for it (no proxy)."""

    def __init__(self, server: api.ApiServer) -> None:
        self.server = server.start()
        self.url = server.url
        self.opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))

    def request(
        self,
        path: str,
        params: dict[str, Any] | list[tuple[str, str]] | None = None,
        *,
        token: str | None = None,
        method: str = "GET",
        body: bytes | None = None,
        headers: dict[str, str] | None = None,
    ) -> Answer:
        query = f"?{urlencode(params, doseq=True)}" if params else ""
        request = urllib.request.Request(
            f"{self.url}{path}{query}", data=body, method=method, headers=headers or {}
        )
        if token:
            request.add_header("Authorization", f"Bearer {token}")
        if body is not None:
            request.add_header("Content-Type", "application/json")
        try:
            with self.opener.open(request, timeout=60) as response:
                status, raw, got = response.status, response.read(), dict(response.headers)
        except urllib.error.HTTPError as error:
            status, raw, got = error.code, error.read(), dict(error.headers)
        content_type = got.get("Content-Type", "")
        parsed = json.loads(raw) if content_type.startswith("application/json") else None
        return Answer(status, parsed, got, raw)

    def get(self, endpoint: str, **params: Any) -> Answer:
        return self.request(f"/api/v1/{endpoint}", params)

    def ok(self, endpoint: str, **params: Any) -> dict[str, Any]:
        answer = self.get(endpoint, **params)
        assert answer.status == 200, (endpoint, params, answer.body)
        body: dict[str, Any] = answer.body
        return body

    def sql(self, statement: str, token: str | None, **extra: Any) -> Answer:
        body = json.dumps({"sql": statement, **extra}).encode()
        return self.request("/api/v1/sql", token=token, method="POST", body=body)

    def close(self) -> None:
        self.server.stop()


@pytest.fixture(scope="module")
def web_index(index_dir: Path) -> Iterator[Index]:
    """The session's embedded index with :data:`WEB` in a database of its own."""
    database = f"t_api_{uuid.uuid4().hex[:10]}"
    index = open_index(IndexLocation(data_dir=str(index_dir), database=database))
    write_web(index)
    yield index
    index.command(f"DROP DATABASE IF EXISTS {database}")


@pytest.fixture(scope="module")
def served(web_index: Index) -> Iterator[Running]:
    running = Running(api.make_server(web_index, "127.0.0.1", 0))
    yield running
    running.close()


@pytest.fixture(scope="module")
def guarded(web_index: Index) -> Iterator[Running]:
    running = Running(api.make_server(web_index, "127.0.0.1", 0, token=TOKEN))
    yield running
    running.close()


def raw_exchange(running: Running, request: str) -> tuple[str, str]:
    """Send raw bytes; read until the server closes. Returns (head, rest)."""
    host, port = running.server.server_address[:2]
    with socket.create_connection((str(host), port), timeout=10) as raw:
        raw.sendall(request.encode())
        chunks = []
        while chunk := raw.recv(65536):
            chunks.append(chunk)
    head, _, rest = b"".join(chunks).decode("latin-1").partition("\r\n\r\n")
    return head, rest


def cursor_of(*values: Any) -> str:
    """A cursor in the format queries print, holding any values."""
    return base64.urlsafe_b64encode(json.dumps(list(values)).encode()).decode().rstrip("=")


def assert_one_line_error(answer: Answer, status: int) -> str:
    assert answer.status == status, answer.body
    assert answer.headers["Content-Type"].startswith("application/json")
    assert isinstance(answer.body, dict) and set(answer.body) == {"error"}
    message = answer.body["error"]
    assert isinstance(message, str) and message and "\n" not in message
    assert "Traceback" not in message and 'File "' not in message
    return message


# -- the queries -------------------------------------------------------------------


def test_backlinks_are_the_oracles_records(served: Running) -> None:
    answer = served.ok("backlinks", target="target.co.uk")
    assert answer["columns"] == list(queries.EDGE_FIELDS)
    assert answer["types"][answer["columns"].index("first_seen")] == "timestamp"
    assert answer["next_cursor"] is None
    assert answer["count"] == len(answer["rows"])
    expected = sorted(matching(), key=lambda r: (r["source_url"], r["target_url"], r["kind"]))
    got = sorted(answer["rows"], key=lambda r: (r["source_url"], r["target_url"], r["kind"]))
    assert got == expected
    # beta.org's second crawl: first sighting kept, newest anchor taken.
    again = next(r for r in got if r["anchor"] == "A again")
    assert (again["first_seen"], again["last_seen"]) == (_iso(T0 + DAY), _iso(T0 + 5 * DAY))


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"target": "www.target.co.uk", "scope": "host"}, {"host": "www.target.co.uk"}),
        ({"target": "http://WWW.target.co.uk/a#frag"}, {"url": "http://www.target.co.uk/a"}),
        (
            {"target": "http://www.target.co.uk/a/", "scope": "prefix"},
            {"prefix": "http://www.target.co.uk/a/"},
        ),
        ({"target": "target.co.uk", "include_internal": "true"}, {"internal": True}),
        ({"target": "target.co.uk", "include_internal": ""}, {"internal": True}),
        ({"target": "target.co.uk", "dofollow_only": "1"}, {"dofollow_only": True}),
        ({"target": "target.co.uk", "kind": "canonical"}, {"kinds": ("canonical",)}),
        ({"target": "target.co.uk", "kind": ["a", "canonical"]}, {"kinds": ("a", "canonical")}),
        ({"target": "target.co.uk", "kind": "a,canonical"}, {"kinds": ("a", "canonical")}),
        ({"target": "bob.github.io"}, {"domain": "bob.github.io"}),
    ],
)
def test_backlinks_scopes_and_filters(
    served: Running, params: dict[str, Any], expected: dict[str, Any]
) -> None:
    answer = served.ok("backlinks", **params)
    want = matching(**expected)
    assert want, "the oracle expects some edges for every case"
    assert edge_keys(answer["rows"]) == edge_keys(want)


def test_paging_by_cursor_and_offset(served: Running) -> None:
    everything = served.ok("backlinks", target="target.co.uk", include_internal="1")["rows"]
    pages, cursor = [], None
    while True:
        params = {"target": "target.co.uk", "include_internal": "1", "limit": 2}
        if cursor:
            params["cursor"] = cursor
        answer = served.ok("backlinks", **params)
        assert answer["count"] <= 2
        pages.extend(answer["rows"])
        cursor = answer["next_cursor"]
        if not cursor:
            break
    assert pages == everything
    assert len(edge_keys(pages)) == len(set(edge_keys(pages)))
    skipped = served.ok("backlinks", target="target.co.uk", include_internal="1", offset=3)
    assert skipped["rows"] == everything[3:]
    domains = served.ok("refdomains", target="target.co.uk", limit=1)
    assert domains["next_cursor"]
    second = served.ok("refdomains", target="target.co.uk", limit=1, cursor=domains["next_cursor"])
    assert second["rows"] == oracle_refdomains(matching())[1:2]


def test_refdomains(served: Running) -> None:
    answer = served.ok("refdomains", target="target.co.uk")
    assert answer["rows"] == oracle_refdomains(matching())
    assert [r["source_domain"] for r in answer["rows"]] == [
        "beta.org",
        "alpha.com",
        "gamma.net",
        "evil-site.net",
    ]


def test_anchors(served: Running) -> None:
    answer = served.ok("anchors", target="target.co.uk")
    assert answer["rows"] == oracle_anchors(matching())
    assert answer["rows"][0] == {
        "anchor": "home",
        "links": 2,
        "refdomains": 2,
        "dofollow_links": 1,
        "first_seen": _iso(T0),
        "last_seen": _iso(T0 + 3 * DAY),
    }
    assert HOSTILE_ANCHOR in [r["anchor"] for r in answer["rows"]]


def test_outlinks(served: Running) -> None:
    answer = served.ok("outlinks", target="beta.org")
    assert edge_keys(answer["rows"]) == edge_keys(matching("source", "beta.org"))
    one_page = served.ok("outlinks", target="http://blog.alpha.com/post", include_internal="1")
    assert edge_keys(one_page["rows"]) == edge_keys(
        matching("source", "alpha.com", url="http://blog.alpha.com/post", internal=True)
    )


def test_summary(served: Running) -> None:
    answer = served.ok("summary", target="target.co.uk")
    edges = matching()
    assert answer["target"] == {
        "text": "target.co.uk",
        "scope": "domain",
        "url": "http://target.co.uk/",
        "host": "target.co.uk",
        "domain": "target.co.uk",
    }
    dofollow = sum(not e["nofollow"] for e in edges)
    assert answer["backlinks"] == len(edges) == 8
    assert answer["refdomains"] == len({e["source_domain"] for e in edges}) == 4
    assert answer["dofollow_backlinks"] == dofollow == 7
    assert answer["dofollow_share"] == round(dofollow / len(edges), 4)
    assert answer["target_urls"] == len({e["target_url"] for e in edges})
    assert answer["first_seen"] == min(e["first_seen"] for e in edges)
    assert answer["last_seen"] == max(e["last_seen"] for e in edges)
    # beta.org's second crawl carries all its links again: nothing is lost.
    assert answer["lost_backlinks"] == 0
    per_day = answer["per_day"]
    assert per_day["columns"] == ["day", "new_backlinks", "new_refdomains", "lost_backlinks"]
    new_links: dict[str, int] = defaultdict(int)
    for edge in edges:
        new_links[edge["first_seen"][:10]] += 1
    assert {r["day"]: r["new_backlinks"] for r in per_day["rows"]} == new_links
    assert [(r["day"], r["new_refdomains"]) for r in per_day["rows"]] == [
        ("2026-09-21", 1),
        ("2026-09-22", 1),
        ("2026-09-24", 2),
    ]
    assert all(r["lost_backlinks"] == 0 for r in per_day["rows"])
    nothing = served.ok("summary", target="nobody-links-here.org")
    assert (nothing["backlinks"], nothing["dofollow_share"], nothing["first_seen"]) == (
        0,
        None,
        None,
    )
    assert nothing["per_day"]["rows"] == []


def test_stats(served: Running) -> None:
    answer = served.ok("stats")
    assert answer["count"] == 1
    row = answer["rows"][0]
    every = oracle_edges()
    assert row["edges"] == len(every)
    assert row["external_edges"] == sum(e["source_domain"] != e["target_domain"] for e in every)
    assert row["pages"] == len({p.url for p in WEB})
    assert row["pages_2xx"] == len({p.url for p in WEB if p.status == 200})
    assert row["last_fetch"] == _iso(max(p.fetched_at for p in WEB))


def test_concurrent_requests_get_whole_answers(served: Running) -> None:
    expected = served.ok("backlinks", target="target.co.uk")
    answers: list[Any] = [None] * 12

    def ask(i: int) -> None:
        endpoint = "backlinks" if i % 2 else "summary"
        answers[i] = (endpoint, served.ok(endpoint, target="target.co.uk"))

    threads = [threading.Thread(target=ask, args=(i,)) for i in range(len(answers))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    for endpoint, answer in answers:
        if endpoint == "backlinks":
            assert answer == expected
        else:
            assert answer["backlinks"] == expected["count"]


# -- documents and the page --------------------------------------------------------


def _refs(node: Any) -> Iterator[str]:
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "$ref":
                yield value
            else:
                yield from _refs(value)
    elif isinstance(node, list):
        for value in node:
            yield from _refs(value)


def test_openapi_document(served: Running, guarded: Running) -> None:
    answer = served.request("/openapi.json")
    assert answer.status == 200
    document = answer.body
    assert document["openapi"].startswith("3.1")
    paths = document["paths"]
    for name, endpoint in api.ENDPOINTS.items():
        operation = paths[f"/api/v1/{name}"]["get"]
        assert [p["name"] for p in operation["parameters"]] == [p.name for p in endpoint.params]
        assert operation["security"] == []
    assert set(paths) == {f"/api/v1/{n}" for n in api.ENDPOINTS} | {"/api/v1/sql", "/healthz"}
    assert paths["/api/v1/sql"]["post"]["security"] == [{"bearerAuth": []}]
    for ref in set(_refs(document)):
        node = document
        for part in ref.removeprefix("#/").split("/"):
            node = node[part]
    guarded_document = guarded.request("/openapi.json").body
    assert guarded_document["paths"]["/api/v1/backlinks"]["get"]["security"] == [{"bearerAuth": []}]


def test_health_and_page(served: Running) -> None:
    health = served.request("/healthz")
    assert health.status == 200
    assert health.body == {
        "status": "ok",
        "version": health.body["version"],
        "instance": served.server.instance,
    }
    for path, kind in (
        ("/", "text/html"),
        ("/app.js", "text/javascript"),
        ("/style.css", "text/css"),
    ):
        answer = served.request(path)
        assert answer.status == 200, path
        assert answer.headers["Content-Type"].startswith(kind)
        assert "default-src 'none'" in answer.headers["Content-Security-Policy"]
        assert answer.headers["X-Content-Type-Options"] == "nosniff"
    # Nothing is loaded from elsewhere: every src and href is relative (or data:).
    html = served.request("/").raw.decode()
    references = re.findall(r"""(?:src|href)=["']([^"']*)""", html)
    assert references and all(not re.match(r"(?i)(https?:)?//", r) for r in references)


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


INJECTIONS = [
    "x' OR 1=1 --",
    "'); DROP TABLE edges; --",
    "target.co.uk' OR '1'='1",
    "target.co.uk'--",
    "x'or'1'='1.com",
    "http://target.co.uk/' UNION SELECT name FROM system.tables --",
    "target.co.uk\x00' OR 1=1",
    "\u202etarget.co.uk\u202c",
    "ｔａｒｇｅｔ．ｃｏ．ｕｋ'; --",
    "☃.net'/**/OR/**/1=1",
    "%27%20OR%201%3D1",
    "{t_domain:String}",
    "\\'; SELECT 1; --",
]


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


class FailingIndex(Index):
    """An index whose every query fails with ``error``."""

    def __init__(self, error: Exception) -> None:
        super().__init__(None, IndexLocation(clickhouse_url="http://127.0.0.1:9/linkgraph"))
        self.error = error

    def query(self, *args: Any, **kwargs: Any) -> Any:
        raise self.error


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
from tests.integration.test_api import write_web

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
