"""``linkgraph serve``'s JSON API against an embedded index of hand-written page records.

The server runs in this process on a free loopback port; every endpoint is
called over HTTP with urllib, and every answer is compared with what the oracle
of :mod:`tests.integration.api_web` derives from the page records themselves.
This file: the queries, the summary, the OpenAPI document and the page.
"""

from __future__ import annotations

import re
import threading
from collections import defaultdict
from collections.abc import Iterator
from typing import Any

import pytest

from linkgraph import api
from linkindex import queries

# The module-scoped fixtures of the served web (pytest finds them by these names).
from tests.integration.api_web import (  # noqa: F401
    DAY,
    HOSTILE_ANCHOR,
    T0,
    WEB,
    Running,
    edge_keys,
    guarded_fixture,
    iso_at,
    matching,
    oracle_anchors,
    oracle_edges,
    oracle_refdomains,
    served_fixture,
    web_index_fixture,
)

pytestmark = pytest.mark.integration


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
    assert (again["first_seen"], again["last_seen"]) == (iso_at(T0 + DAY), iso_at(T0 + 5 * DAY))


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
    assert without_spam(second["rows"]) == oracle_refdomains(matching())[1:2]


def test_watch_answers_changes_and_keeps_the_checkpoint(served: Running) -> None:
    since = served.ok("watch", target="target.co.uk", since="2000-01-01")
    everything = served.ok("backlinks", target="target.co.uk", limit=10_000)["rows"]
    key = ("source_url", "target_url", "kind")
    assert {(r["change"], *(r[k] for k in key)) for r in since["rows"]} == {
        ("lost" if r["lost_reason"] else "new", *(r[k] for k in key)) for r in everything
    }
    assert since["new"] + since["lost"] == since["count"] == len(everything) > 0
    assert since["since"] == "2000-01-01T00:00:00.000Z" and since["until"] > since["since"]
    # Never watched (the API never moves a checkpoint): from the first sighting.
    first = served.ok("watch", target="target.co.uk")
    assert first["since"] is None and first["rows"] == since["rows"]
    assert served.ok("watch", target="target.co.uk", since="2100-01-01")["rows"] == []
    bad = served.get("watch", target="target.co.uk", since="soon")
    assert bad.status == 400 and "since" in bad.body["error"]


def without_spam(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Referring-domain rows without their spam scores, which the oracle does not predict."""
    return [{k: v for k, v in r.items() if k not in ("spam_score", "spam_signals")} for r in rows]


def test_refdomains(served: Running) -> None:
    answer = served.ok("refdomains", target="target.co.uk")
    assert without_spam(answer["rows"]) == oracle_refdomains(matching())
    # The spam scores are the kept ones (tests/unit/test_spam.py checks them): a
    # domain never scored has none.
    assert all(
        (r["spam_score"] is None and r["spam_signals"] == [])
        or r["spam_score"] == min(100, sum(s["weight"] for s in r["spam_signals"]))
        for r in answer["rows"]
    )
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
        "first_seen": iso_at(T0),
        "last_seen": iso_at(T0 + 3 * DAY),
    }
    assert HOSTILE_ANCHOR in [r["anchor"] for r in answer["rows"]]


def test_where_links_sit_over_http(served: Running) -> None:
    edges = matching()
    content = served.ok("backlinks", target="target.co.uk", location="content")
    assert edge_keys(content["rows"]) == edge_keys([e for e in edges if e["location"] == "content"])
    assert content["count"] == 1
    for value in ("content,nav", ["content", "nav"]):
        two = served.ok("backlinks", target="target.co.uk", location=value)
        assert edge_keys(two["rows"]) == edge_keys(
            [e for e in edges if e["location"] in ("content", "nav")]
        )
    # No page of this web is a template, and no target answered 4xx or 5xx.
    assert served.ok("backlinks", target="target.co.uk", broken="true")["rows"] == []
    assert served.ok("backlinks", target="target.co.uk", sitewide="true")["rows"] == []
    others = served.ok("backlinks", target="target.co.uk", sitewide="false")
    assert edge_keys(others["rows"]) == edge_keys(edges)
    assert (
        served.ok("refdomains", target="target.co.uk", location="nav")["rows"][0]["source_domain"]
        == "gamma.net"
    )
    summary = served.ok("summary", target="target.co.uk")
    located: dict[str, int] = defaultdict(int)
    for edge in edges:
        located[edge["location"]] += 1
    assert {k: v for k, v in summary["locations"].items() if v} == located
    assert (summary["sitewide_backlinks"], summary["broken_backlinks"]) == (0, 0)
    only_nav = served.ok("summary", target="target.co.uk", location="nav")
    assert only_nav["backlinks"] == located["nav"]
    report = served.ok("report", target="target.co.uk", sitewide="false")
    assert report["locations"] == summary["locations"]
    assert report["content_share"] == round(located["content"] / len(edges), 4)
    assert report["lost_reasons"] == dict.fromkeys(
        ("link_removed", "page_gone", "page_redirected", "page_noindex"), 0
    )


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
    assert row["last_fetch"] == iso_at(max(p.fetched_at for p in WEB))


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
