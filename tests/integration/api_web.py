"""The hand-written web behind the API tests, its oracle, and a client for a served API.

Page records written straight into an embedded index (no crawl); the oracle
derives every answer from the records themselves (merging several crawls of one
page by first and last sighting, as docs/queries.md#first-and-last-seen says).
:class:`Running` serves an
index's API in a thread on a free loopback port and asks it over urllib.
"""

from __future__ import annotations

import base64
import json
import socket
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

from linkcore.records import Link, PageRecord
from linkcore.urls import host_of, registered_domain
from linkgraph import api
from linkindex.client import Index, IndexLocation, open_index
from linkindex.writer import EdgeWriter

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
        Link(
            "http://www.target.co.uk/a",
            anchor="A one",
            location="content",
            text_before="See",
            text_after="for more.",
        ),
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
        Link("http://target.co.uk/", anchor="home", link_count=2, location="nav"),
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


def iso_at(seconds: float) -> str:
    return datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z")


def oracle_edges(pages: list[PageRecord] = WEB) -> list[dict[str, Any]]:
    """Every edge with record fields (docs/queries.md#records), merged across crawls.

    ``lost_reason`` is left null: the oracle does not model lost links (the web
    of the API tests loses none; the explorer's tests do not compare it).
    """
    merged: dict[tuple[str, str, str], dict[str, Any]] = {}
    latest = {r.url: r for r in sorted(pages, key=lambda r: r.fetched_at)}
    statuses = {url: r.status for url, r in latest.items()}
    html_pages: dict[str, int] = defaultdict(int)
    for record in latest.values():
        if 200 <= record.status < 300 and record.content_type == "text/html":
            html_pages[host_of(record.url)] += 1
    linking: dict[tuple[str, str], int] = defaultdict(int)
    for record in latest.values():
        for target in {link.target_url for link in record.links if link.kind == "a"}:
            linking[(host_of(record.url), target)] += 1
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
                "location": link.location,
                "text_before": link.text_before,
                "text_after": link.text_after,
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
        pages_linking = linking[(edge["source_host"], edge["target_url"])]
        sitewide = (
            edge["kind"] == "a"
            and pages_linking >= 5
            and 2 * pages_linking >= html_pages[edge["source_host"]]
        )
        records.append(
            {
                **edge,
                "first_seen": iso_at(first),
                "last_seen": iso_at(last),
                "sitewide": sitewide,
                "target_status": statuses.get(edge["target_url"]),
                # The pages of this web carry no text profile (docs/relevance.md).
                "relevance": None,
                "lost_reason": None,
            }
        )
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
            # Its pages carry no text profile: no topics (docs/relevance.md).
            "topics": [],
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


@pytest.fixture(scope="module", name="web_index")
def web_index_fixture(index_dir: Path) -> Iterator[Index]:
    """The session's embedded index with :data:`WEB` in a database of its own."""
    database = f"t_api_{uuid.uuid4().hex[:10]}"
    index = open_index(IndexLocation(data_dir=str(index_dir), database=database))
    write_web(index)
    yield index
    index.command(f"DROP DATABASE IF EXISTS {database}")


def serving(index: Index, token: str | None = None) -> Iterator[Running]:
    """The API of ``index`` served while the fixture lasts (a fixture body)."""
    running = Running(api.make_server(index, "127.0.0.1", 0, token=token))
    yield running
    running.close()


@pytest.fixture(scope="module", name="served")
def served_fixture(web_index: Index) -> Iterator[Running]:
    """The API of :data:`WEB`'s index, open to everyone on loopback."""
    yield from serving(web_index)


@pytest.fixture(scope="module", name="guarded")
def guarded_fixture(web_index: Index) -> Iterator[Running]:
    """The API of :data:`WEB`'s index, with :data:`TOKEN` required."""
    yield from serving(web_index, TOKEN)


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


class FailingIndex(Index):
    """An index whose every query fails with ``error``."""

    def __init__(self, error: Exception) -> None:
        super().__init__(None, IndexLocation(clickhouse_url="http://127.0.0.1:9/linkgraph"))
        self.error = error

    def query(self, *args: Any, **kwargs: Any) -> Any:
        raise self.error
