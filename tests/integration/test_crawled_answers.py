"""End to end: every query command answers what the crawled test web implies.

The real CLI crawls the synthetic test web once into an embedded index. Every
answer of ``refdomains``, ``anchors``, ``outlinks``, ``top-pages``,
``intersect``, ``report``, ``backlinks`` (its filters, orders and cursor
paging), ``export hosts|domains`` and ``rank`` is then compared, record for
record, with what :mod:`tests.integration.answers` computes from the oracle's
expected edges (``tests.synthweb.oracle``); only first/last seen times come
from the exported edges, which must themselves equal the oracle's. PageRank is
computed there by plain power iteration over the oracle's domain graph. The
same questions are asked again of ``linkgraph serve`` over HTTP, and of the
CLI while the server holds the data directory.

Three crawls of a changing web are in ``test_crawled_history.py``.
"""

from __future__ import annotations

import json
import math
import re
import signal
import subprocess
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest

from tests.integration.answers import (
    Crawled,
    Edge,
    Query,
    assert_document,
    assert_exported,
    assert_rows,
    domain_ranks,
    expected_answer,
    graph_answer,
    intersect_answer,
    query,
    report_answer,
    run_json,
    run_records,
    summary_answer,
    timed,
)
from tests.integration.crawls import crawl_web
from tests.synthweb import ProxyServer, SyntheticWeb

pytestmark = [pytest.mark.integration, pytest.mark.slow]

#: Seconds ``linkgraph serve`` may take to start listening.
SERVE_START_TIMEOUT = 60
#: Rows per page when a test pages through an answer.
PAGE = 3


@pytest.fixture(scope="module")
def crawled(cli, synth_web: SyntheticWeb, web_proxy: ProxyServer, tmp_path_factory) -> Crawled:
    crawl = crawl_web(cli, synth_web, web_proxy, tmp_path_factory.mktemp("crawled-answers"))
    assert_exported(crawl.expectation.edges, crawl.records, "after the crawl")
    cli.run("rank", "--quiet", "--data-dir", str(crawl.data_dir))
    edges = timed(crawl.expectation.edges, crawl.records)
    return Crawled(crawl, synth_web, edges, domain_ranks(edges))


WWW = "http://www.alpha-shop.com"
QUERIES = [
    query("refdomains", "alpha-shop.com", "refdomains-domain"),
    query(
        "refdomains",
        "alpha-shop.com",
        "refdomains-internal-dofollow",
        include_internal=True,
        dofollow_only=True,
    ),
    query("refdomains", "alpha-shop.com", "refdomains-from", from_domain="quill-notes.org"),
    query("refdomains", "outside-news.com", "refdomains-kind", kind="canonical"),
    query("refdomains", "www.alpha-shop.com", "refdomains-host", scope="host"),
    query("refdomains", f"{WWW}/product/41", "refdomains-url-internal", include_internal=True),
    query("refdomains", f"{WWW}/product/1", "refdomains-prefix", scope="prefix"),
    query("refdomains", "partner-mart.co.uk", "refdomains-first-seen", sort="first_seen"),
    query("refdomains", "partner-mart.co.uk", "refdomains-last-seen", sort="last_seen"),
    query("refdomains", "outside-news.com", "refdomains-authority", sort="authority"),
    query("anchors", "outside-news.com", "anchors-domain"),
    query("anchors", "www.alpha-shop.com", "anchors-internal", scope="host", include_internal=True),
    query("outlinks", "http://www.alpha-shop.com/", "outlinks-url-internal", include_internal=True),
    query("outlinks", "blog.alpha-shop.com", "outlinks-host", scope="host"),
    query("outlinks", "quill-notes.org", "outlinks-domain"),
    query("top-pages", "alpha-shop.com", "top-pages-domain"),
    query("top-pages", "bob-y.github.io", "top-pages-internal", include_internal=True),
    query("backlinks", "bob-y.github.io", "backlinks-ugc", rel="ugc"),
    query("backlinks", "alpha-shop.com", "backlinks-anchor", anchor="ELSEWHERE"),
    query("backlinks", "alpha-shop.com", "backlinks-one-per-domain", one_per_domain=True),
    query("backlinks", "alpha-shop.com", "backlinks-sort-first-seen", sort="first_seen"),
]


@pytest.mark.parametrize("q", QUERIES)
def test_query(cli, crawled: Crawled, q: Query) -> None:
    expected = expected_answer(crawled, q)
    assert expected, f"the test web should give `{q}` an answer"
    assert_rows(expected, run_records(cli, crawled.crawl.data_dir, *q.cli_args()), str(q))


# Sort orders must show in the answer: the web gives them distinct keys to sort by.
def test_sorted_answers_are_not_in_their_default_order(crawled: Crawled) -> None:
    for q in (p.values[0] for p in QUERIES if p.values[0].option("sort")):
        plain = Query(q.command, q.target)
        assert expected_answer(crawled, q) != expected_answer(crawled, plain), str(q)


def cursor_of(stderr: str) -> str | None:
    found = re.search(r"more results: --cursor (\S+)", stderr)
    return found.group(1) if found else None


@pytest.mark.parametrize(
    "q",
    [
        query("backlinks", "alpha-shop.com", "backlinks", from_domain="alice-x.github.io"),
        query("refdomains", "outside-news.com", "refdomains"),
    ],
)
def test_cursor_paging_gives_the_whole_answer(cli, crawled: Crawled, q: Query) -> None:
    whole = expected_answer(crawled, q)
    assert len(whole) > PAGE, f"`{q}` should need more than one page"
    rows: list[Edge] = []
    paging = ["--limit", str(PAGE)]
    for _ in range(len(whole) // PAGE + 2):
        result = cli.run(
            *q.cli_args(), *paging, "--format", "jsonl", "--data-dir", str(crawled.crawl.data_dir)
        )
        page = [json.loads(line) for line in result.stdout.splitlines() if line.strip()]
        assert len(page) <= PAGE, page
        rows += page
        cursor = cursor_of(result.stderr)
        if cursor is None:
            break
        paging = ["--limit", str(PAGE), "--cursor", cursor]
    else:
        pytest.fail(f"`{q}` kept printing cursors after {len(rows)} rows")
    assert_rows(whole, rows, f"{q} paged by {PAGE}")


INTERSECTS = [
    pytest.param(["alpha-shop.com", "outside-news.com"], [], id="two"),
    pytest.param(["alpha-shop.com", "outside-news.com"], ["wide-web.net"], id="not"),
    pytest.param(["alpha-shop.com"], ["quill-notes.org", "notalpha-shop.com"], id="not-two"),
]


@pytest.mark.parametrize(("wanted", "unwanted"), INTERSECTS)
def test_intersect(cli, crawled: Crawled, wanted: list[str], unwanted: list[str]) -> None:
    expected = intersect_answer(crawled.edges, wanted, unwanted, crawled.ranks.authority)
    assert expected, "the test web should give this intersect an answer"
    everyone = intersect_answer(crawled.edges, wanted, [], crawled.ranks.authority)
    assert not unwanted or everyone != expected, "--not should leave some domain out"
    args = ["intersect", *wanted, *(arg for d in unwanted for arg in ("--not", d))]
    rows = run_records(cli, crawled.crawl.data_dir, *args)
    assert_rows(expected, rows, " ".join(args))


REPORTS = [
    query("report", "alpha-shop.com", "domain"),
    query("report", "alpha-shop.com", "internal", include_internal=True),
    query("report", "outside-news.com", "kinds"),
    query("report", "www.alpha-shop.com", "host-dofollow", scope="host", dofollow_only=True),
]


@pytest.mark.parametrize("q", REPORTS)
def test_report(cli, crawled: Crawled, q: Query) -> None:
    expected = report_answer(crawled.web, crawled.edges, q, {})
    assert expected["backlinks"], f"the test web should give `{q}` an answer"
    assert_document(expected, run_json(cli, crawled, *q.cli_args()), str(q))


def test_report_counts_image_links_and_rel_flags(crawled: Crawled) -> None:
    # Spot checks of the oracle's own report: the cases it is meant to cover occur.
    internal = report_answer(crawled.web, crawled.edges, REPORTS[1].values[0], {})
    assert internal["image_links"] > 0 and internal["rel"]["sponsored"] > 0, internal
    kinds = report_answer(crawled.web, crawled.edges, REPORTS[2].values[0], {})["kinds"]
    assert kinds["canonical"] > 0 and kinds["redirect"] > 0, kinds


def test_the_crawl_leaves_fresh_domain_rollups(cli, crawled: Crawled) -> None:
    # Whole-domain reports and refdomains above are answered from the domain
    # rollups only if the crawl refreshed them when it ended; a stale or
    # missing rollup would be bypassed, and the tests above would not check it.
    rows = run_records(
        cli,
        crawled.crawl.data_dir,
        "sql",
        """SELECT w.target_domain AS domain, max(w.written_at) AS written,
                  any(r.refreshed) AS refreshed
           FROM linkgraph.domain_writes AS w
           LEFT JOIN (SELECT target_domain, max(refreshed_at) AS refreshed
                      FROM linkgraph.domain_reports GROUP BY target_domain) AS r
             USING target_domain
           GROUP BY w.target_domain""",
    )
    assert {row["domain"] for row in rows} == {e["target_domain"] for e in crawled.edges}
    stale = [row for row in rows if row["refreshed"] < row["written"]]
    assert not stale, stale


@pytest.mark.parametrize("level", ["hosts", "domains"])
@pytest.mark.parametrize("external_only", [False, True], ids=["all", "external-only"])
def test_export_graph(cli, crawled: Crawled, level: str, external_only: bool) -> None:
    args = ["export", level, "--format", "jsonl", "--data-dir", str(crawled.crawl.data_dir)]
    if external_only:
        args.append("--external-only")
    output = cli.run(*args).stdout
    rows = [json.loads(line) for line in output.splitlines() if line.strip()]
    assert_rows(graph_answer(crawled.edges, level[:-1], external_only), rows, " ".join(args[:3]))


# -- authority --------------------------------------------------------------------------


@pytest.fixture(scope="module")
def stored_ranks(cli, crawled: Crawled) -> dict[str, Edge]:
    """``domain_rank`` as ``linkgraph sql`` reads it, by domain."""
    rows = run_records(
        cli,
        crawled.crawl.data_dir,
        "sql",
        "SELECT domain, pagerank, authority, refdomains FROM linkgraph.domain_rank",
    )
    return {row["domain"]: row for row in rows}


def test_rank_stores_the_pagerank_of_the_domain_graph(
    crawled: Crawled, stored_ranks: dict[str, Edge]
) -> None:
    ranks, stored = crawled.ranks, stored_ranks
    assert sorted(stored) == sorted(ranks.pagerank), "domain_rank holds other domains"
    problems = []
    for domain, row in sorted(stored.items()):
        if not math.isclose(row["pagerank"], ranks.pagerank[domain], rel_tol=1e-7):
            problems.append(f"{domain}: pagerank {row['pagerank']} != {ranks.pagerank[domain]}")
        if row["authority"] != ranks.authority[domain]:
            problems.append(f"{domain}: authority {row['authority']} != {ranks.authority[domain]}")
        if row["refdomains"] != ranks.refdomains[domain]:
            problems.append(
                f"{domain}: refdomains {row['refdomains']} != {ranks.refdomains[domain]}"
            )
    assert not problems, "\n".join(problems)
    assert math.isclose(sum(row["pagerank"] for row in stored.values()), 1.0, rel_tol=1e-9)


def test_the_pagerank_here_matches_the_hand_computed_example() -> None:
    # docs/authority.md: a → b, a → c, b → c, where c was never crawled.
    def link(source: str, target: str) -> Edge:
        return {
            "source_domain": source,
            "target_domain": target,
            "kind": "a",
            "nofollow": False,
        }

    ranks = domain_ranks([link("a", "b"), link("a", "c"), link("b", "c")])
    expected = {"a": 800 / 4049, "b": 1140 / 4049, "c": 2109 / 4049}
    for domain, value in expected.items():
        assert math.isclose(ranks.pagerank[domain], value, rel_tol=1e-12), domain
    assert math.isclose(ranks.floor, 800 / 4049, rel_tol=1e-12)
    assert ranks.authority == {"a": 0, "b": 37, "c": 100}
    assert ranks.refdomains == {"a": 0, "b": 1, "c": 2}


def test_authority_scale_spot_checks(crawled: Crawled) -> None:
    ranks = crawled.ranks
    assert max(ranks.authority.values()) == 100
    # Every domain of this graph has a referring domain: none is at the floor.
    assert all(ranks.refdomains.values()) and min(ranks.authority.values()) >= 1
    assert min(ranks.pagerank.values()) > ranks.floor
    # A domain that links another only with nofollow (or non-`a`) links is no
    # referring domain of it in the graph: alice-x.github.io of partner-mart.co.uk.
    external = [e for e in crawled.edges if e["source_domain"] != e["target_domain"]]
    only_nofollow = {(e["source_domain"], e["target_domain"]) for e in external} - {
        (e["source_domain"], e["target_domain"])
        for e in external
        if e["kind"] == "a" and not e["nofollow"]
    }
    assert ("alice-x.github.io", "partner-mart.co.uk") in only_nofollow
    assert ranks.refdomains["partner-mart.co.uk"] == 5


def test_refdomains_show_the_stored_authority(
    cli, crawled: Crawled, stored_ranks: dict[str, Edge]
) -> None:
    stored = stored_ranks
    rows = run_records(cli, crawled.crawl.data_dir, "refdomains", "partner-mart.co.uk")
    assert rows
    shown = {row["source_domain"]: row["authority"] for row in rows}
    held = {domain: stored[domain]["authority"] if domain in stored else 0 for domain in shown}
    assert shown == held
    assert any(shown.values()), "some referring domain should have authority"


# -- the HTTP API -------------------------------------------------------------------------


class Server:
    """``linkgraph serve`` on a crawled data directory, as a subprocess."""

    def __init__(self, cli, data_dir: Path, log: Path) -> None:
        self.log = log
        self._stderr = log.open("wb")
        self.process = subprocess.Popen(
            [str(cli.exe), "serve", "--data-dir", str(data_dir), "--port", "0"],
            cwd=cli.workdir,
            env=cli.env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=self._stderr,
        )
        self.url = self._wait_for_url()
        self.opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))

    def _wait_for_url(self) -> str:
        deadline = time.monotonic() + SERVE_START_TIMEOUT
        while time.monotonic() < deadline:
            found = re.search(r"serving (http://\S+?)/? ", self.log.read_text("utf-8", "replace"))
            if found:
                return found.group(1)
            if self.process.poll() is not None:
                break
            time.sleep(0.1)
        self.stop()
        pytest.fail(f"linkgraph serve did not start:\n{self.log.read_text('utf-8', 'replace')}")

    def get(self, endpoint: str, params: list[tuple[str, str]]) -> Any:
        url = f"{self.url}/api/v1/{endpoint}?{urlencode(params)}"
        try:
            with self.opener.open(url, timeout=60) as response:
                return json.loads(response.read())
        except urllib.error.HTTPError as error:
            pytest.fail(f"GET {url}: {error.code} {error.read()[:500]!r}", pytrace=False)

    def rows(self, q: Query) -> list[Edge]:
        answer = self.get(q.endpoint, [*q.api_params(), ("limit", "10000")])
        assert answer["next_cursor"] is None, f"{q}: more than one page"
        assert answer["count"] == len(answer["rows"])
        return answer["rows"]

    def paged(self, endpoint: str, params: list[tuple[str, str]]) -> list[Edge]:
        rows: list[Edge] = []
        cursor: str | None = None
        while True:
            extra = [("limit", str(PAGE))] + ([("cursor", cursor)] if cursor else [])
            answer = self.get(endpoint, params + extra)
            rows += answer["rows"]
            cursor = answer["next_cursor"]
            if cursor is None or len(rows) > 10_000:
                return rows

    def stop(self) -> int | None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)
        self._stderr.close()
        return self.process.returncode


API_SUMMARIES = [
    query("summary", "alpha-shop.com", "domain"),
    query("summary", "www.alpha-shop.com", "host", scope="host", include_internal=True),
]
#: Answers read from the server page by page, following ``next_cursor``.
PAGED_API = [
    query("backlinks", "alpha-shop.com", "backlinks"),
    query("backlinks", "alpha-shop.com", "backlinks-sorted", sort="first_seen"),
    query("refdomains", "alpha-shop.com", "refdomains", include_internal=True),
    query("anchors", "alpha-shop.com", "anchors"),
]
#: The CLI commands asked again while the server holds the data directory.
PROXIED = [
    query("backlinks", "alpha-shop.com", "backlinks"),
    query("top-pages", "alpha-shop.com", "top-pages"),
]


@dataclass
class Served:
    """The answers ``linkgraph serve`` gave, collected while it ran, and how it ended."""

    answers: dict[str, Any]
    proxied: dict[str, Any]
    stats: dict[str, Any]
    cli_stats: list[Edge]
    exit_code: int | None
    serve_file_left: bool


@pytest.fixture(scope="module")
def served(cli, crawled: Crawled, tmp_path_factory) -> Served:
    """Ask everything of one ``linkgraph serve``, then stop it (SIGTERM).

    The CLI cannot open the data directory while the server holds it (its
    query commands ask the server), so the server runs only inside this
    fixture, and the tests compare what it collected.
    """
    data_dir = crawled.crawl.data_dir
    log = tmp_path_factory.mktemp("serve") / "serve.log"
    server = Server(cli, data_dir, log)
    answers: dict[str, Any] = {}
    proxied: dict[str, Any] = {}
    try:
        assert (data_dir / "serve.json").exists(), "serve should write DATA_DIR/serve.json"
        for param in QUERIES:
            q = param.values[0]
            answers[str(q)] = server.rows(q)
        for wanted, unwanted in (p.values for p in INTERSECTS):
            params = [("domain", d) for d in wanted] + [("not", d) for d in unwanted]
            answers[f"intersect {wanted} {unwanted}"] = server.get("intersect", params)["rows"]
        for param in (*REPORTS, *API_SUMMARIES):
            q = param.values[0]
            answers[str(q)] = server.get(q.endpoint, q.api_params())
        for param in PAGED_API:
            q = param.values[0]
            answers[f"paged {q}"] = server.paged(q.endpoint, q.api_params())
        stats = server.get("stats", [])
        for param in PROXIED:
            q = param.values[0]
            proxied[str(q)] = run_records(cli, data_dir, *q.cli_args())
        report = REPORTS[0].values[0]
        proxied["report"] = run_json(cli, crawled, *report.cli_args())
        wanted, unwanted = INTERSECTS[1].values
        args = ["intersect", *wanted, *(arg for d in unwanted for arg in ("--not", d))]
        proxied["intersect"] = run_records(cli, data_dir, *args)
        cli_stats = run_json(cli, crawled, "stats")
    finally:
        code = server.stop()
    return Served(answers, proxied, stats, cli_stats, code, (data_dir / "serve.json").exists())


@pytest.mark.parametrize("q", QUERIES)
def test_api_query(crawled: Crawled, served: Served, q: Query) -> None:
    got = served.answers[str(q)]
    assert_rows(expected_answer(crawled, q), got, f"GET /api/v1/{q.endpoint} {q.api_params()}")


@pytest.mark.parametrize("q", PAGED_API)
def test_api_paging_gives_the_whole_answer(crawled: Crawled, served: Served, q: Query) -> None:
    expected = expected_answer(crawled, q)
    assert len(expected) > PAGE
    assert_rows(expected, served.answers[f"paged {q}"], f"{q} paged by {PAGE}")


@pytest.mark.parametrize(("wanted", "unwanted"), INTERSECTS)
def test_api_intersect(
    crawled: Crawled, served: Served, wanted: list[str], unwanted: list[str]
) -> None:
    rows = served.answers[f"intersect {wanted} {unwanted}"]
    expected = intersect_answer(crawled.edges, wanted, unwanted, crawled.ranks.authority)
    assert_rows(expected, rows, f"GET /api/v1/intersect {wanted} not {unwanted}")


@pytest.mark.parametrize("q", REPORTS)
def test_api_report(crawled: Crawled, served: Served, q: Query) -> None:
    expected = report_answer(crawled.web, crawled.edges, q, {})
    assert_document(expected, served.answers[str(q)], f"GET /api/v1/report {q}")


@pytest.mark.parametrize("q", API_SUMMARIES)
def test_api_summary(crawled: Crawled, served: Served, q: Query) -> None:
    expected = summary_answer(crawled.web, crawled.edges, q)
    assert_document(expected, served.answers[str(q)], f"GET /api/v1/summary {q}")


def test_api_and_cli_stats(crawled: Crawled, served: Served) -> None:
    edges, expectation, web = crawled.edges, crawled.crawl.expectation, crawled.web
    fetched = expectation.fetched
    statuses = {url: web.resources[url].status if url in web.resources else 404 for url in fetched}
    expected = {
        "edges": len(edges),
        "external_edges": sum(e["source_domain"] != e["target_domain"] for e in edges),
        "pages": len(fetched),
        "pages_2xx": sum(200 <= status < 300 for status in statuses.values()),
        "target_hosts": len({e["target_host"] for e in edges}),
        "target_domains": len({e["target_domain"] for e in edges}),
        "crawled_domains": len({web.registered_domain(url) for url in fetched}),
        "domain_links": len({(e["source_domain"], e["target_domain"]) for e in edges}),
    }
    (api_stats,) = served.stats["rows"]
    (cli_stats,) = served.cli_stats
    for name, stats in (("GET /api/v1/stats", api_stats), ("linkgraph stats", cli_stats)):
        assert_document(expected, {k: stats[k] for k in expected}, name)
        assert stats["first_fetch"] <= min(e["first_seen"] for e in edges)
        assert stats["last_fetch"] >= max(e["last_seen"] for e in edges)


@pytest.mark.parametrize("q", PROXIED)
def test_cli_asks_the_running_server(crawled: Crawled, served: Served, q: Query) -> None:
    assert_rows(expected_answer(crawled, q), served.proxied[str(q)], f"{q} (served)")


def test_cli_report_and_intersect_ask_the_running_server(crawled: Crawled, served: Served) -> None:
    q = REPORTS[0].values[0]
    expected = report_answer(crawled.web, crawled.edges, q, {})
    assert_document(expected, served.proxied["report"], f"{q} (served)")
    wanted, unwanted = INTERSECTS[1].values
    rows = served.proxied["intersect"]
    expected_rows = intersect_answer(crawled.edges, wanted, unwanted, crawled.ranks.authority)
    assert_rows(expected_rows, rows, "intersect (served)")


def test_serve_stops_on_sigterm_and_removes_serve_json(served: Served) -> None:
    assert served.exit_code == 0
    assert not served.serve_file_left
