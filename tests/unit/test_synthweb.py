"""The synthetic web: its proxy over real sockets, its generators, its oracle."""

from __future__ import annotations

import http.client
import json
import os
import re
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import tldextract

from linkgraph.demo.model import (
    DROPPED,
    ExpectedLink,
    PageBuilder,
    RobotsRules,
    SyntheticWeb,
    plain,
    redirect,
)
from linkgraph.demo.server import request_key
from tests.synthweb import (
    DEMO_SEEDS,
    DEMO_TARGET,
    ProxyServer,
    RequestLog,
    build_demo_web,
    build_test_web,
    expect,
    expected_backlinks,
)
from tests.synthweb.oracle import describe_edge_diff
from tests.synthweb.testweb import TEST_DOMAINS, TEST_SEED_URLS, TEST_SEEDS

# -- the proxy -------------------------------------------------------------------


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


@pytest.fixture(scope="module")
def proxy() -> Iterator[ProxyServer]:
    with ProxyServer(build_test_web()) as server:
        yield server


def _get(proxy: ProxyServer, url: str, agent: str = "linkgraph-unit") -> tuple[int, Any, bytes]:
    opener = urllib.request.build_opener(
        urllib.request.ProxyHandler({"http": proxy.url}), _NoRedirect()
    )
    request = urllib.request.Request(url, headers={"User-Agent": agent})
    try:
        with opener.open(request, timeout=10) as response:
            return response.status, response.headers, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.headers, error.read()


def test_proxy_serves_a_page(proxy: ProxyServer) -> None:
    status, headers, body = _get(proxy, "http://www.alpha-shop.com/catalog")
    assert status == 200
    assert headers["Content-Type"] == "text/html; charset=utf-8"
    assert int(headers["Content-Length"]) == len(body)
    assert b"Red lamp" in body


def test_proxy_serves_robots_txt_and_404_without_one(proxy: ProxyServer) -> None:
    status, headers, body = _get(proxy, "http://quill-notes.org/robots.txt")
    assert status == 200
    assert headers["Content-Type"] == "text/plain"
    assert body.decode() == (
        "User-agent: *\nDisallow: /private/\n\n"
        "User-agent: linkgraph\nDisallow: /drafts/\nDisallow: /notes/secret\n"
    )
    assert _get(proxy, "http://xn--bcher-test-9db.de/robots.txt")[0] == 404


def test_proxy_answers_redirects_without_following(proxy: ProxyServer) -> None:
    status, headers, _ = _get(proxy, "http://ferrous-data.net/chain/2")
    assert status == 302
    assert headers["Location"] == "/chain/3"
    status, headers, _ = _get(proxy, "http://ferrous-data.net/no-location")
    assert status == 302
    assert headers["Location"] is None


def test_proxy_unknown_url_is_404(proxy: ProxyServer) -> None:
    assert _get(proxy, "http://www.alpha-shop.com/no/such/page")[0] == 404
    assert _get(proxy, "http://unknown-host.example/")[0] == 404


def test_proxy_error_and_non_html_resources(proxy: ProxyServer) -> None:
    assert _get(proxy, "http://ferrous-data.net/broken")[0] == 500
    status, headers, body = _get(proxy, "http://www.alpha-shop.com/files/catalogue.pdf")
    assert (status, headers["Content-Type"]) == (200, "application/pdf")
    assert body.startswith(b"%PDF")


def test_proxy_is_lenient_about_equivalent_spellings(proxy: ProxyServer) -> None:
    status, _, body = _get(proxy, "http://WWW.Alpha-Shop.com.:80/catalog?utm_source=x#top")
    assert status == 200
    assert b"Red lamp" in body


def test_proxy_answers_origin_form_and_keeps_connections_alive(proxy: ProxyServer) -> None:
    connection = http.client.HTTPConnection(proxy.host, proxy.port, timeout=10)
    try:
        connection.request("GET", "/legacy", headers={"Host": "alpha-shop.com"})
        response = connection.getresponse()
        assert response.status == 200
        assert b"New shop" in response.read()
        first_socket = connection.sock
        connection.request("GET", "http://quill-notes.org/notes/1")
        response = connection.getresponse()
        assert response.status == 200
        response.read()
        assert connection.sock is first_socket
    finally:
        connection.close()


def test_proxy_refuses_and_logs_connect(proxy: ProxyServer) -> None:
    connection = http.client.HTTPConnection(proxy.host, proxy.port, timeout=10)
    try:
        connection.request("CONNECT", "outside-news.com:443")
        assert connection.getresponse().status == 501
    finally:
        connection.close()
    assert any(
        entry.method == "CONNECT" and entry.url == "https://outside-news.com:443/"
        for entry in proxy.log.entries()
    )


def test_log_records_every_request(tmp_path: Path) -> None:
    log_file = tmp_path / "requests.jsonl"
    with ProxyServer(build_test_web(), log=RequestLog(log_file)) as server:
        before = time.monotonic()
        _get(server, "http://quill-notes.org/", agent="linkgraph/0.1 test")
        _get(server, "http://quill-notes.org/notes/2?utm_medium=x", agent="other")
        after = time.monotonic()
        entries = server.log.entries()
    assert [(e.method, e.url, e.key, e.user_agent, e.status) for e in entries] == [
        ("GET", "http://quill-notes.org/", "http://quill-notes.org/", "linkgraph/0.1 test", 200),
        (
            "GET",
            "http://quill-notes.org/notes/2?utm_medium=x",
            "http://quill-notes.org/notes/2",
            "other",
            200,
        ),
    ]
    assert before <= entries[0].time <= entries[1].time <= after
    lines = [json.loads(line) for line in log_file.read_text().splitlines()]
    assert [line["url"] for line in lines] == [entry.url for entry in entries]
    assert set(lines[0]) == {
        "method",
        "url",
        "key",
        "time",
        "user_agent",
        "status",
        "if_none_match",
        "if_modified_since",
    }


def test_request_key() -> None:
    assert request_key("HTTP://Example.COM.:80") == "http://example.com/"
    assert request_key("http://example.com:8080/a?b=1#c") == "http://example.com:8080/a?b=1"
    assert request_key("http://e.com/p?utm_x=1&a=1&GCLID=2&b") == "http://e.com/p?a=1&b"
    assert request_key("http://e.com/p?utm_x=1") == "http://e.com/p"
    assert request_key("http://e.com/P?b=2&a=1") == "http://e.com/P?b=2&a=1"


def test_serve_command_writes_port_and_stops_on_sigterm(tmp_path: Path) -> None:
    port_file = tmp_path / "port"
    log_file = tmp_path / "log.jsonl"
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "tests.synthweb",
            "serve",
            "--web",
            "demo",
            "--port",
            "0",
            "--port-file",
            str(port_file),
            "--log",
            str(log_file),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 30
        while not port_file.exists():
            assert process.poll() is None, process.communicate()
            assert time.monotonic() < deadline, "the port file never appeared"
            time.sleep(0.05)
        port = int(port_file.read_text())
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        connection.request("GET", "http://shop.tinkerbox.co.uk/", headers={"User-Agent": "ua"})
        assert connection.getresponse().status == 200
        connection.close()
        process.send_signal(signal.SIGTERM)
        stdout, stderr = process.communicate(timeout=10)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
    assert process.returncode == 0, stderr
    assert f"synthweb serving demo on http://127.0.0.1:{port}" in stdout
    entry = json.loads(log_file.read_text().splitlines()[0])
    assert (entry["url"], entry["user_agent"]) == ("http://shop.tinkerbox.co.uk/", "ua")


def test_seeds_command_prints_a_seeds_file() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "tests.synthweb", "seeds", "--web", "test"],
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, "PYTHONIOENCODING": "utf-8"},
    )
    lines = [line for line in result.stdout.splitlines() if line and not line.startswith("#")]
    assert lines == list(TEST_SEEDS)


# -- the oracle on a tiny web, computed by hand -----------------------------------

_TINY_DOMAINS = {
    "a.com": "a.com",
    "www.a.com": "a.com",
    "b.org": "b.org",
    "c.net": "c.net",
}


def _tiny_web() -> SyntheticWeb:
    web = SyntheticWeb(
        domains=dict(_TINY_DOMAINS),
        seeds=("a.com", "http://b.org/"),
        seed_urls=("http://a.com/", "http://b.org/"),
    )
    web.robots["a.com"] = RobotsRules((("*", ("/x",)), ("linkgraph", ("/private",))))
    home = PageBuilder("http://a.com/", "A")
    home.head('<link rel="canonical" href="/">', ExpectedLink("http://a.com/", "canonical"))
    home.a("/x", "X", "http://a.com/x")
    home.a("/x#frag", "X again", "http://a.com/x", rel="nofollow", nofollow=True)
    home.a("http://b.org/", "B", "http://b.org/", rel="ugc", ugc=True)
    home.a("http://c.net/", "C", "http://c.net/")
    home.body('<a href="mailto:a@a.com">Mail</a>', DROPPED)
    home.a("/r", "R", "http://a.com/r")
    home.a("/nf", "NF", "http://a.com/nf", rel="sponsored", sponsored=True)
    home.a("/private", "P", "http://a.com/private")
    home.a("/pdf", "PDF", "http://a.com/pdf")
    web.add(home.resource())
    x = PageBuilder("http://a.com/x", "X")
    x.a("/", "Home", "http://a.com/")
    x.a("/err", "Err", "http://a.com/err")
    web.add(x.resource())
    web.add(redirect("http://a.com/r", 301, "http://www.a.com/y", "http://www.a.com/y"))
    y = PageBuilder("http://www.a.com/y", "Y")
    y.head(
        '<link rel="canonical" href="http://c.net/y">', ExpectedLink("http://c.net/y", "canonical")
    )
    y.a("http://a.com/z", "Z", "http://a.com/z")
    web.add(y.resource())
    nofollow = PageBuilder("http://a.com/nf", "NF")
    nofollow.head('<meta name="robots" content="nofollow">')
    nofollow.a("/hidden", "Hidden", "http://a.com/hidden", rel="ugc", ugc=True)
    nofollow.a("http://c.net/n", "N", "http://c.net/n")
    web.add(nofollow.resource(robots_nofollow=True))
    web.add(PageBuilder("http://a.com/private", "Private").resource())
    web.add(plain("http://a.com/pdf", 200, "application/pdf", b"%PDF-1.4"))
    web.add(plain("http://a.com/err", 500, "text/html", b'<a href="/e2">e2</a>'))
    b = PageBuilder("http://b.org/", "B")
    b.a("http://a.com/x", "A's X", "http://a.com/x")
    web.add(b.resource())
    web.add(PageBuilder("http://c.net/", "C").resource())
    web.traps.add("http://a.com/e2")
    return web


def _edge(
    source: str,
    target: str,
    kind: str = "a",
    anchor: str = "",
    *,
    image: bool = False,
    nofollow: bool = False,
    ugc: bool = False,
    sponsored: bool = False,
    count: int = 1,
) -> dict[str, Any]:
    def host(url: str) -> str:
        return url.split("/")[2]

    return {
        "source_url": source,
        "source_host": host(source),
        "source_domain": _TINY_DOMAINS[host(source)],
        "target_url": target,
        "target_host": host(target),
        "target_domain": _TINY_DOMAINS[host(target)],
        "kind": kind,
        "anchor": anchor,
        "image": image,
        "nofollow": nofollow,
        "ugc": ugc,
        "sponsored": sponsored,
        "link_count": count,
    }


A = "http://a.com/"
_TINY_EDGES = {
    0: [
        _edge(A, A + "x", anchor="X", count=2),
        _edge(A, "http://b.org/", anchor="B", ugc=True),
        _edge(A, "http://c.net/", anchor="C"),
        _edge(A, A + "r", anchor="R"),
        _edge(A, A + "nf", anchor="NF", sponsored=True),
        _edge(A, A + "private", anchor="P"),
        _edge(A, A + "pdf", anchor="PDF"),
        _edge("http://b.org/", A + "x", anchor="A's X"),
    ],
    1: [
        _edge(A + "x", A, anchor="Home"),
        _edge(A + "x", A + "err", anchor="Err"),
        _edge(A + "r", "http://www.a.com/y", "redirect"),
        _edge("http://www.a.com/y", "http://c.net/y", "canonical"),
        _edge("http://www.a.com/y", A + "z", anchor="Z"),
        _edge(A + "nf", A + "hidden", anchor="Hidden", nofollow=True, ugc=True),
        _edge(A + "nf", "http://c.net/n", anchor="N", nofollow=True),
    ],
}


def test_oracle_on_a_tiny_web_unlimited() -> None:
    web = _tiny_web()
    result = expect(web)
    assert result.fetched == {
        A,
        "http://b.org/",
        A + "x",
        A + "r",
        "http://www.a.com/y",
        A + "nf",
        A + "pdf",
        A + "err",
        A + "z",
    }
    assert result.depth == {
        A: 0,
        "http://b.org/": 0,
        A + "x": 1,
        A + "r": 1,
        "http://www.a.com/y": 1,
        A + "nf": 1,
        A + "pdf": 1,
        A + "err": 2,
        A + "z": 2,
    }
    assert result.retriable == {A + "err"}
    assert result.robots_blocked == {A + "private"}
    assert result.never_fetch == {
        A + "private",
        A + "hidden",
        A + "e2",
        "http://c.net/",
        "http://c.net/n",
        "http://c.net/y",
    }
    assert result.canonical_only == set()
    assert result.exact
    assert describe_edge_diff(_TINY_EDGES[0] + _TINY_EDGES[1], result.edges) == ""


def test_oracle_on_a_tiny_web_with_depth_limits() -> None:
    web = _tiny_web()
    zero = expect(web, max_depth=0)
    assert zero.fetched == {A, "http://b.org/"}
    assert describe_edge_diff(_TINY_EDGES[0], zero.edges) == ""
    one = expect(web, max_depth=1)
    assert one.fetched == {
        A,
        "http://b.org/",
        A + "x",
        A + "r",
        "http://www.a.com/y",
        A + "nf",
        A + "pdf",
    }
    assert describe_edge_diff(_TINY_EDGES[0] + _TINY_EDGES[1], one.edges) == ""


def test_oracle_page_limit_marks_the_answer_inexact() -> None:
    result = expect(_tiny_web(), max_pages=3)
    assert len(result.fetched) == 3
    assert not result.exact
    assert expect(_tiny_web(), max_pages=9).exact


def test_a_changed_web_replaces_pages_and_leaves_the_original_alone() -> None:
    web = _tiny_web()
    x = PageBuilder("http://a.com/x", "X, later")
    x.a("/", "Home", "http://a.com/")
    later = web.changed(x.resource())
    assert later.resources["http://a.com/x"].links == (
        ExpectedLink("http://a.com/", anchor="Home"),
    )
    assert b"/err" in web.resources["http://a.com/x"].body
    edges = [e for e in _TINY_EDGES[0] + _TINY_EDGES[1] if e["target_url"] != A + "err"]
    assert describe_edge_diff(edges, expect(later).edges) == ""
    assert describe_edge_diff(_TINY_EDGES[0] + _TINY_EDGES[1], expect(web).edges) == ""
    later.traps.add("http://a.com/elsewhere")
    assert "http://a.com/elsewhere" not in web.traps
    with pytest.raises(ValueError, match=re.escape("http://a.com/new")):
        web.changed(PageBuilder("http://a.com/new", "New").resource())
    stray = PageBuilder("http://a.com/x", "X")
    stray.a("http://d.example/", "D", "http://d.example/")
    with pytest.raises(KeyError, match=re.escape("d.example")):
        web.changed(stray.resource())


def test_edge_diff_reports_missing_unexpected_and_types() -> None:
    expected = [_edge(A, A + "x", anchor="X"), _edge(A, A + "y", anchor="Y")]
    actual = [
        {**_edge(A, A + "x", anchor="X"), "image": 0},
        _edge(A, A + "z", anchor="Z"),
    ]
    report = describe_edge_diff(expected, actual)
    assert "1 missing, 1 unexpected, 1 differing" in report
    assert "missing: [a] http://a.com/ -> http://a.com/y" in report
    assert "unexpected: [a] http://a.com/ -> http://a.com/z" in report
    assert "image: expected False, got 0" in report


def test_expected_backlinks_scopes() -> None:
    edges = expect(_tiny_web()).edges
    by_domain = expected_backlinks(edges, domain="a.com")
    assert [(e["source_url"], e["target_url"]) for e in by_domain] == [("http://b.org/", A + "x")]
    internal = expected_backlinks(edges, host="www.a.com", include_internal=True)
    assert [e["kind"] for e in internal] == ["redirect"]
    assert expected_backlinks(edges, prefix="http://c.net/", dofollow_only=True) == [
        _edge(A, "http://c.net/", anchor="C"),
        _edge("http://www.a.com/y", "http://c.net/y", "canonical"),
    ]
    with pytest.raises(ValueError, match="exactly one"):
        expected_backlinks(edges, url=A, host="a.com")


# -- the generated webs ------------------------------------------------------------


def test_test_web_is_deterministic() -> None:
    first, second = build_test_web(), build_test_web()
    assert first.resources == second.resources
    assert build_test_web(seed=1).resources != first.resources


def test_test_web_domains_agree_with_the_public_suffix_list() -> None:
    # tldextract's bundled snapshot is the list docs/urls.md#registered-domain names;
    # the hand-written
    # table must agree with it (an IP or a dotless host is its own domain).
    extract = tldextract.TLDExtract(
        suffix_list_urls=(), include_psl_private_domains=True, cache_dir=None
    )
    for host, domain in TEST_DOMAINS.items():
        expected = extract(host).top_domain_under_public_suffix or host
        assert domain == expected, host
    assert "bücher-test.de".encode("idna").decode() == "xn--bcher-test-9db.de"
    assert TEST_SEED_URLS[2] == "http://xn--bcher-test-9db.de/"


def test_test_web_shape() -> None:
    web = build_test_web()
    domains = set(web.domains.values())
    assert len(domains) >= 12
    assert web.seed_domains == {
        "alpha-shop.com",
        "bramble-goods.co.uk",
        "xn--bcher-test-9db.de",
        "alice-x.github.io",
        "quill-notes.org",
        "ferrous-data.net",
    }
    for max_depth in (-1, 0, 1, 2):
        result = expect(web, max_depth=max_depth)
        assert result.canonical_only == set(), max_depth
        assert not (web.traps & result.fetched), max_depth
    result = expect(web)
    assert 250 <= len(result.fetched) <= 400
    kinds = {edge["kind"] for edge in result.edges}
    assert kinds == {"a", "canonical", "redirect"}
    assert any(edge["link_count"] > 1 for edge in result.edges)
    assert any(edge["image"] for edge in result.edges)
    assert any(len(edge["anchor"]) == 512 for edge in result.edges)
    assert {"http://bob-y.github.io/", "http://partner-mart.co.uk/"} <= result.never_fetch
    assert "http://quill-notes.org/private/diary" in result.fetched
    assert "http://quill-notes.org/drafts/next" in result.robots_blocked


def test_demo_web() -> None:
    web = build_demo_web()
    assert web.seeds == DEMO_SEEDS
    assert 80 <= len(web.resources) <= 150
    result = expect(web)
    assert result.canonical_only == set()
    backlinks = expected_backlinks(result.edges, domain=DEMO_TARGET)
    assert len({edge["source_domain"] for edge in backlinks}) >= 5
    assert any(edge["ugc"] for edge in backlinks)
    assert any(edge["sponsored"] for edge in backlinks)
    assert any(edge["image"] for edge in backlinks)
