"""End to end: a link farm beside ordinary sites, as the spam scores tell it.

The real CLI crawls a synthetic web where four ordinary sites (articles of
several hundred words, a few links, linking to each other) and three link-farm
domains (thin pages listing the same hundred paid links each, under commercial
anchors, the target's among them on every page) link to one target; then ``linkgraph rank`` runs.
``refdomains`` must score every farm above every ordinary site, each with
exactly the signals its pages and name call for, ``--max-spam`` must leave the
farms out of every answer, and ``report`` and ``disavow`` must agree
(docs/queries.md#spam-score). Behind the test proxy the crawler does not
resolve addresses itself, so the subnet signal stays unknown here; the unit
tests cover it.
"""

from __future__ import annotations

import html
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from linkgraph.demo.model import ExpectedLink, Resource, SyntheticWeb, html_page
from tests.integration.crawls import Crawl, crawl_web, json_records
from tests.synthweb import ProxyServer

pytestmark = [pytest.mark.integration]

TARGET = "www.acmeplumbing.com"
#: Ordinary sites: host -> registered domain.
ORDINARY = {
    "www.diyhomeblog.com": "diyhomeblog.com",
    "news.citypaper.org": "citypaper.org",
    "forum.fixittalk.net": "fixittalk.net",
    "www.pipesupply.co.uk": "pipesupply.co.uk",
}
#: Link farms: registered domain -> the name signals it must fire, with their values.
FARMS: dict[str, dict[str, Any]] = {
    "cheap-plumbers-24-7.xyz": {"tld": "xyz", "name_digits": 3, "name_hyphens": 3},
    "best-plumbing-deals-online.top": {"tld": "top", "name_hyphens": 3, "name_length": 26},
    "links4u-directory.click": {"tld": "click"},
}
#: The signals every farm's pages and links fire.
FARM_PAGE_SIGNALS = {
    "outlinks_per_page",
    "external_link_share",
    "links_per_word",
    "thin_page_share",
    "commercial_anchor_share",
    "sitewide_share",
    "no_authority",
}
#: Pages of each farm; every one links to the target with the same anchor.
FARM_PAGES = 5
#: The farms' clients: hosts that their listings link to (never crawled).
CLIENTS = [f"www.client{k}.com" for k in range(10)]
#: Words of an ordinary article: enough that no page is thin.
PROSE = (
    "Water heaters last longer when the tank is flushed every year and the anode rod is "
    "checked for corrosion before it fails completely. "
) * 14


def link(href: str, text: str) -> str:
    return f'<a href="{html.escape(href)}">{html.escape(text)}</a>'


def page(url: str, body: str, links: list[str]) -> Resource:
    return Resource(
        url=url,
        status=200,
        headers=(("Content-Type", "text/html; charset=utf-8"),),
        body=html_page(url, "", body).encode(),
        links=tuple(ExpectedLink(target) for target in links),
    )


def build() -> SyntheticWeb:
    """The web of the module doc."""
    hosts = {
        **ORDINARY,
        TARGET: "acmeplumbing.com",
        **{f"www.{farm}": farm for farm in FARMS},
        **{client: client.removeprefix("www.") for client in CLIENTS},
    }
    seeds = tuple(f"http://{host}/" for host in (*ORDINARY, TARGET, *(f"www.{f}" for f in FARMS)))
    web = SyntheticWeb(domains=hosts, seeds=seeds, seed_urls=seeds)
    target = f"http://{TARGET}/"
    ordinary = list(ORDINARY)
    for number, host in enumerate(ordinary):
        home, article = f"http://{host}/", f"http://{host}/article"
        # Each links to the next one: every ordinary site has a dofollow referrer.
        neighbour = f"http://{ordinary[(number + 1) % len(ordinary)]}/"
        nav = f"<nav>{link(home, 'Home')} {link(article, 'Article')}</nav>"
        web.add(
            page(
                home,
                f"{nav}<main><p>{PROSE}</p><p>See {link(neighbour, 'our friends')}.</p></main>",
                [home, article, neighbour],
            )
        )
        web.add(
            page(
                article,
                f"{nav}<article><p>{PROSE}</p><p>We called {link(target, 'Acme Plumbing')} "
                f"and they came the same day.</p></article>",
                [home, article, target],
            )
        )
    # The target links back to one ordinary site: a reciprocal link.
    supplier = f"http://{ordinary[3]}/"
    web.add(
        page(target, f"<p>{PROSE}</p><p>Parts from {link(supplier, 'PipeSupply')}</p>", [supplier])
    )
    for farm_number, farm in enumerate(FARMS):
        host = f"www.{farm}"
        paths = ["/", *(f"/p{i}" for i in range(1, FARM_PAGES))]
        for path in paths:
            url = f"http://{host}{path}"
            # The same paid listing on every page (a sitewide blogroll), under
            # commercial anchors: what a farm sells its clients, and the target.
            listing = [f"http://{CLIENTS[i % len(CLIENTS)]}/f{farm_number}/{i}" for i in range(110)]
            nav = [f"http://{host}{p}" for p in paths]
            items = "".join(f"<li>{link(u, 'deals')}</li>" for u in listing)
            body = (
                f"<p>Links</p><ul>{items}</ul>"
                f"<nav>{' '.join(link(u, 'more') for u in nav)}</nav>"
                f"<footer>{link(target, 'cheap plumbing deals')}</footer>"
            )
            web.add(page(url, body, [*listing, *nav, target]))
    return web


@pytest.fixture(scope="module")
def crawled(cli: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Crawl, Any]]:
    web = build()
    with ProxyServer(web) as proxy:
        crawl = crawl_web(cli.via(proxy), web, proxy, tmp_path_factory.mktemp("spam"))
        via = cli.via(proxy)
        via.run("rank", "--data-dir", str(crawl.data_dir))
        yield crawl, via


def query(cli: Any, data_dir: Path, command: str, *flags: str) -> list[dict[str, Any]]:
    result = cli.run(
        command, "acmeplumbing.com", "--format", "json", "--data-dir", str(data_dir), *flags
    )
    return json_records(result.stdout)


def test_farms_score_above_every_ordinary_site_with_the_right_signals(
    crawled: tuple[Crawl, Any],
) -> None:
    crawl, cli = crawled
    domains = {r["source_domain"]: r for r in query(cli, crawl.data_dir, "refdomains")}
    assert set(domains) == set(FARMS) | set(ORDINARY.values())
    lowest_farm = min(domains[farm]["spam_score"] for farm in FARMS)
    highest_ordinary = max(domains[site]["spam_score"] for site in ORDINARY.values())
    print(f"farm scores ≥ {lowest_farm}, ordinary scores ≤ {highest_ordinary}")
    assert lowest_farm > highest_ordinary
    for farm, names in FARMS.items():
        signals = {s["signal"]: s["value"] for s in domains[farm]["spam_signals"]}
        assert set(signals) == FARM_PAGE_SIGNALS | set(names), farm
        assert {name: signals[name] for name in names} == names, farm
        assert signals["outlinks_per_page"] >= 110 and signals["sitewide_share"] == 1.0
        assert signals["commercial_anchor_share"] == 1.0 and signals["thin_page_share"] == 1.0
        assert domains[farm]["spam_score"] == min(
            100, sum(s["weight"] for s in domains[farm]["spam_signals"])
        )
    # Ordinary sites fire nothing but reciprocal, and that only where a domain they
    # link to links back (the web's own links between registered domains, as stored).
    pairs = json_records(
        cli.run(
            "sql",
            "SELECT DISTINCT source_domain, target_domain FROM linkgraph.links "
            "WHERE NOT internal",
            "--format", "json", "--data-dir", str(crawl.data_dir),
        ).stdout
    )  # fmt: skip
    linked = {(p["source_domain"], p["target_domain"]) for p in pairs}
    for site in ORDINARY.values():
        mutual = any((target, site) in linked for source, target in linked if source == site)
        expected = {"reciprocal"} if mutual else set()
        assert {s["signal"] for s in domains[site]["spam_signals"]} == expected, (site, linked)
    assert any("reciprocal" in {s["signal"] for s in domains[site]["spam_signals"]}
               for site in ORDINARY.values())  # fmt: skip


def test_max_spam_leaves_the_farms_out_and_report_and_disavow_agree(
    crawled: tuple[Crawl, Any],
) -> None:
    crawl, cli = crawled
    data_dir = crawl.data_dir
    scores = {r["source_domain"]: r["spam_score"] for r in query(cli, data_dir, "refdomains")}
    limit = str(max(scores[site] for site in ORDINARY.values()))
    kept = query(cli, data_dir, "refdomains", "--max-spam", limit)
    assert {r["source_domain"] for r in kept} == set(ORDINARY.values())
    backlinks = query(cli, data_dir, "backlinks", "--max-spam", limit)
    assert {r["source_domain"] for r in backlinks} == set(ORDINARY.values())
    anchors = {r["anchor"] for r in query(cli, data_dir, "anchors", "--max-spam", limit)}
    assert anchors == {"Acme Plumbing"}
    report = json.loads(
        cli.run(
            "report", "acmeplumbing.com", "--format", "json", "--data-dir", str(data_dir)
        ).stdout
    )
    bands = {(b["from"], b["to"]): b["referring_domains"] for b in report["spam_distribution"]}
    assert sum(bands.values()) == len(scores)
    for score in scores.values():
        band = next(k for k in bands if k[0] <= score <= k[1])
        assert bands[band] > 0
    assert report["spammy_referring_domains"] == len(FARMS)
    proposal = cli.run("disavow", "acmeplumbing.com", "--data-dir", str(data_dir)).stdout
    assert sorted(line[7:] for line in proposal.splitlines() if line.startswith("domain:")) == (
        sorted(FARMS)
    )
    assert "# spam score" in proposal and "commercial_anchor_share 1.0 (+15)" in proposal
