"""End to end: links that vanish from their pages and come back, over three crawls.

One index goes through three crawls of a changing test web: two links vanish
from their pages, then one comes back. ``backlinks --lost|--live`` and
``report`` must follow, as :mod:`tests.integration.answers` computes them from
the oracle's expected edges of each crawl.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest

from linkgraph.demo.model import HTML_UTF8, PageBuilder
from tests.integration.answers import (
    REL_FLAGS,
    Edge,
    Key,
    Query,
    assert_document,
    assert_exported,
    assert_rows,
    edge_answer,
    report_answer,
    run_records,
    timed,
)
from tests.integration.crawls import crawl_web
from tests.synthweb import ProxyServer, Resource, SyntheticWeb, expect
from tests.synthweb.oracle import edge_key

pytestmark = [pytest.mark.integration, pytest.mark.slow]

#: The target of the recrawl checks: the links that vanish point into it.
HISTORY_TARGET = "alpha-shop.com"


def simple_pages(web: SyntheticWeb, fetched: set[str]) -> Iterator[Resource]:
    """Plain 200 HTML pages whose links are all simple text ``a`` links, by URL."""
    for url in sorted(fetched):
        resource = web.resources.get(url)
        if (
            resource is None
            or resource.status != 200
            or resource.headers != (("Content-Type", HTML_UTF8),)
            or resource.robots_nofollow
        ):
            continue
        links = resource.links
        if links and all(
            link.kind == "a"
            and link.target_url not in (None, url)
            and not link.image
            and link.anchor
            and link.anchor == " ".join(link.anchor.split())
            for link in links
        ):
            yield resource


def without_link(page: Resource, target: str) -> Resource:
    """``page`` rewritten with the same links, in order, except every one to ``target``."""
    builder = PageBuilder(page.url, "A page, later")
    for link in page.links:
        if link.target_url == target or link.target_url is None:
            continue
        builder.a(
            link.target_url,
            link.anchor,
            link.target_url,
            rel=" ".join(flag for flag in REL_FLAGS if getattr(link, flag)),
            nofollow=link.nofollow,
            ugc=link.ugc,
            sponsored=link.sponsored,
        )
    return builder.resource()


@dataclass
class Stage:
    """The index after one crawl of a recrawl sequence, and the answers it gave then."""

    web: SyntheticWeb
    records: list[Edge]
    fetched: set[str]
    edges: list[Edge] = field(default_factory=list)
    lost: dict[Key, str] = field(default_factory=dict)
    answers: dict[str, Any] = field(default_factory=dict)


@dataclass
class History:
    stages: list[Stage]
    #: The link that vanishes in the second crawl and is back in the third.
    returning: Key
    #: The link that vanishes in the second crawl for good.
    gone: Key


def merged_stages(stages: list[Stage]) -> None:
    """Fill in what each stage's index must hold: every edge seen so far, and which are lost.

    An edge keeps the attributes of its latest sighting; it is lost once a
    later crawl fetched its source page without it, on the UTC day of that
    fetch (the day the page's remaining links were last seen then).
    """
    expected = [expect(stage.web).edges for stage in stages]
    for k, stage in enumerate(stages):
        latest: dict[Key, tuple[int, Edge]] = {}
        for i in range(k + 1):
            for edge in expected[i]:
                latest[edge_key(edge)] = (i, edge)
        stage.edges = timed([edge for _, edge in latest.values()], stage.records)
        for key, (last_crawl, _) in latest.items():
            for i in range(last_crawl + 1, k + 1):
                if key[0] in stages[i].fetched:
                    present = {edge_key(edge) for edge in expected[i]}
                    stage.lost[key] = fetch_day(stages[i], key[0], present)
                    break


def fetch_day(stage: Stage, source_url: str, present: set[Key]) -> str:
    """The UTC day ``stage``'s crawl fetched ``source_url``: when its links were last seen."""
    days = {
        r["last_seen"][:10]
        for r in stage.records
        if r["source_url"] == source_url and edge_key(r) in present
    }
    assert len(days) == 1, f"cannot tell the day {source_url} was fetched: {days}"
    return days.pop()


@pytest.fixture(scope="module")
def history(cli, synth_web: SyntheticWeb, web_proxy: ProxyServer, tmp_path_factory) -> History:
    """Three crawls into one index: the test web, two links gone, one of them back.

    Between crawls the web changes: two pages of different referring domains
    each lose their links to one page of :data:`HISTORY_TARGET`; in the third
    crawl the first page has it again. After the second and third crawls the
    answers of ``backlinks --lost|--live`` and ``report`` are kept.
    """
    workdir = tmp_path_factory.mktemp("recrawl")
    data_dir = workdir / "index"
    fetched = expect(synth_web).fetched
    pages, sources = [], set()
    for page in simple_pages(synth_web, fetched):
        domain = synth_web.registered_domain(page.url)
        targets = [
            link.target_url
            for link in page.links
            if link.target_url and synth_web.registered_domain(link.target_url) == HISTORY_TARGET
        ]
        if domain != HISTORY_TARGET and domain not in sources and targets:
            pages.append((page, targets[0]))
            sources.add(domain)
        if len(pages) == 2:
            break
    assert len(pages) == 2, "the test web should have two plain pages linking to the target"
    (first, first_target), (second, second_target) = pages
    webs = [
        synth_web,
        synth_web.changed(without_link(first, first_target), without_link(second, second_target)),
        synth_web.changed(without_link(second, second_target)),
    ]
    stages = []
    for k, web in enumerate(webs):
        proxy = web_proxy if web is synth_web else ProxyServer(web).start()
        try:
            crawl = crawl_web(cli.via(proxy), web, proxy, workdir, data_dir=data_dir)
        finally:
            if proxy is not web_proxy:
                proxy.stop()
        stage = Stage(web, crawl.records, crawl.expectation.fetched - crawl.expectation.retriable)
        if k:
            lost = Query("backlinks", HISTORY_TARGET, (("lost", True),))
            live = Query("backlinks", HISTORY_TARGET, (("live", True),))
            for q in (lost, live):
                stage.answers[str(q)] = run_records(cli, data_dir, *q.cli_args())
            report = cli.run(
                "report", HISTORY_TARGET, "--format", "json", "--data-dir", str(data_dir)
            )
            stage.answers["report"] = json.loads(report.stdout)
        stages.append(stage)
    merged_stages(stages)
    returning = (first.url, first_target, "a")
    gone = (second.url, second_target, "a")
    return History(stages, returning, gone)


@pytest.mark.parametrize("k", [1, 2], ids=["second-crawl", "third-crawl"])
def test_recrawl_keeps_every_edge_with_its_latest_sighting(history: History, k: int) -> None:
    stage = history.stages[k]
    assert_exported(stage.edges, stage.records, f"after crawl {k + 1}")
    first = {edge_key(r): r["first_seen"] for r in history.stages[0].records}
    moved = [
        r for r in stage.records if edge_key(r) in first and r["first_seen"] != first[edge_key(r)]
    ]
    assert not moved, f"first_seen changed: {moved[:3]}"


@pytest.mark.parametrize("k", [1, 2], ids=["second-crawl", "third-crawl"])
@pytest.mark.parametrize("status", ["lost", "live"])
def test_backlinks_lost_and_live(history: History, k: int, status: str) -> None:
    stage = history.stages[k]
    target = Query("backlinks", HISTORY_TARGET)
    every = edge_answer(stage.web, stage.edges, target, "target")
    expected = [r for r in every if (edge_key(r) in stage.lost) == (status == "lost")]
    q = Query("backlinks", HISTORY_TARGET, ((status, True),))
    assert_rows(expected, stage.answers[str(q)], f"{q} after crawl {k + 1}")


def test_lost_links_are_the_vanished_ones(history: History) -> None:
    second, third = history.stages[1], history.stages[2]
    assert set(second.lost) == {history.returning, history.gone}
    assert set(third.lost) == {history.gone}


def test_a_link_that_comes_back_is_live_again(history: History) -> None:
    third = history.stages[2]
    live = {edge_key(r): r for r in third.answers["linkgraph backlinks alpha-shop.com --live"]}
    lost = {edge_key(r) for r in third.answers["linkgraph backlinks alpha-shop.com --lost"]}
    assert history.returning in live and history.returning not in lost
    back = live[history.returning]
    first = next(r for r in history.stages[0].records if edge_key(r) == history.returning)
    assert back["first_seen"] == first["first_seen"]
    assert back["last_seen"] > max(r["last_seen"] for r in history.stages[1].records)


@pytest.mark.parametrize("k", [1, 2], ids=["second-crawl", "third-crawl"])
def test_report_counts_lost_links_per_day(history: History, k: int) -> None:
    stage = history.stages[k]
    expected = report_answer(stage.web, stage.edges, Query("report", HISTORY_TARGET), stage.lost)
    assert expected["lost_backlinks"] == (2 if k == 1 else 1)
    assert any(day["lost"] for day in expected["history"])
    assert_document(expected, stage.answers["report"], f"report after crawl {k + 1}")
