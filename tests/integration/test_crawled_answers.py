"""End to end: every query command answers what the crawled test web implies.

The real CLI crawls the synthetic test web once into an embedded index. Every
answer of ``refdomains``, ``anchors``, ``outlinks``, ``top-pages``,
``intersect``, ``report``, ``backlinks`` (its filters, orders and cursor
paging), ``export hosts|domains`` and ``rank`` is then compared, record for
record, with what this module computes from the oracle's expected edges
(``tests.synthweb.oracle``); only first/last seen times come from the
exported edges, which must themselves equal the oracle's. PageRank is computed
here by plain power iteration over the oracle's domain graph. The same
questions are asked again of ``linkgraph serve`` over HTTP, and of the CLI
while the server holds the data directory.

A second index goes through three crawls of a changing web: two links vanish
from their pages, then one comes back. ``backlinks --lost|--live`` and
``report`` must follow.
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
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlencode, urlsplit

import pytest

from linkgraph.demo.model import HTML_UTF8, PageBuilder
from tests.integration.crawls import Crawl, crawl_web, json_records
from tests.synthweb import ProxyServer, Resource, SyntheticWeb, expect
from tests.synthweb.oracle import EDGE_FIELDS, describe_edge_diff, edge_key

pytestmark = [pytest.mark.integration, pytest.mark.slow]

Edge = dict[str, Any]
Key = tuple[str, str, str]

#: SPEC §4 record fields, in order.
RECORD_FIELDS = (*EDGE_FIELDS, "first_seen", "last_seen")
KIND_ORDER = {"a": 1, "canonical": 2, "redirect": 3}
REL_FLAGS = ("nofollow", "ugc", "sponsored")
#: PageRank as docs/authority.md defines it.
DAMPING = 0.85
#: The referring domains ``report`` counts as government or education (reports.py).
GOV_LABELS = frozenset({"gov", "gouv", "gob", "govt", "mil"})
EDU_LABELS = frozenset({"edu", "ac"})
#: The target of the recrawl checks: the links that vanish point into it.
HISTORY_TARGET = "alpha-shop.com"
#: Seconds ``linkgraph serve`` may take to start listening.
SERVE_START_TIMEOUT = 60
#: Rows per page when a test pages through an answer.
PAGE = 3


# -- the oracle's answers -----------------------------------------------------------


def rev_host(host: str) -> str:
    """The host with its labels reversed, as the index orders hosts."""
    return ".".join(reversed(host.split(".")))


@dataclass(frozen=True)
class Query:
    """One query: a command, its TARGET and options named as the API names them.

    ``options`` values are ``True`` for a flag, else the flag's value. The CLI
    gets ``--name value`` (``--name`` for a flag), the API ``name=value``.
    """

    command: str
    target: str
    options: tuple[tuple[str, str | bool], ...] = ()

    @property
    def endpoint(self) -> str:
        return self.command.replace("-", "_")

    def option(self, name: str) -> Any:
        return dict(self.options).get(name)

    def cli_args(self) -> list[str]:
        args = [self.command, self.target]
        for name, value in self.options:
            flag = "--" + name.replace("_", "-")
            args += [flag] if value is True else [flag, str(value)]
        return args

    def api_params(self) -> list[tuple[str, str]]:
        params = [("target", self.target)]
        params += [(name, "true" if value is True else str(value)) for name, value in self.options]
        return params

    def __str__(self) -> str:
        return "linkgraph " + " ".join(self.cli_args())


def query(command: str, target: str, id: str, **options: str | bool) -> Any:
    return pytest.param(Query(command, target, tuple(options.items())), id=id)


def target_parts(web: SyntheticWeb, q: Query) -> tuple[str, str, str, str]:
    """(scope, URL, host, registered domain) of ``q``'s TARGET, from the web's declarations.

    Targets here are already normalized: a bare host, or a normalized URL.
    """
    bare = "://" not in q.target
    url = f"http://{q.target}/" if bare else q.target
    host = urlsplit(url).hostname or ""
    scope = q.option("scope") or ("domain" if bare else "url")
    return scope, url, host, web.domains[host]


def select(web: SyntheticWeb, edges: Iterable[Edge], q: Query, side: str = "target") -> list[Edge]:
    """The edges ``q`` asks about: its scope on ``side``, then its filters."""
    scope, url, host, domain = target_parts(web, q)
    wanted: Callable[[Edge], bool] = {
        "domain": lambda e: e[f"{side}_domain"] == domain,
        "host": lambda e: e[f"{side}_host"] == host,
        "url": lambda e: e[f"{side}_url"] == url,
        "prefix": lambda e: e[f"{side}_url"].startswith(url),
    }[scope]
    anchor = q.option("anchor")
    selected = []
    for edge in edges:
        if not wanted(edge):
            continue
        if not q.option("include_internal") and edge["source_domain"] == edge["target_domain"]:
            continue
        if q.option("dofollow_only") and edge["nofollow"]:
            continue
        if q.option("kind") and edge["kind"] != q.option("kind"):
            continue
        if q.option("rel") and not edge[q.option("rel")]:
            continue
        if anchor and anchor.lower() not in edge["anchor"].lower():
            continue
        if q.option("from_domain") and edge["source_domain"] != q.option("from_domain"):
            continue
        selected.append(edge)
    return selected


def record(edge: Edge) -> Edge:
    return {name: edge[name] for name in RECORD_FIELDS}


def ordered(rows: Iterable[Edge], *keys: tuple[str, bool]) -> list[Edge]:
    """``rows`` sorted by ``(field, descending)`` keys, the first key first."""
    result = list(rows)
    for name, descending in reversed(keys):
        result.sort(key=lambda row: row[name], reverse=descending)
    return result


def edge_answer(web: SyntheticWeb, edges: Iterable[Edge], q: Query, side: str) -> list[Edge]:
    """``backlinks`` (side ``target``) or ``outlinks`` (``source``) records, in order."""
    selected = select(web, edges, q, side)
    if q.option("one_per_domain"):
        # The representative link of a referring domain: dofollow first, then the oldest.
        best: dict[str, Edge] = {}
        for edge in selected:
            rank = (edge["nofollow"], edge["first_seen"], *_key(edge, side))
            held = best.get(edge["source_domain"])
            if held is None or rank < (held["nofollow"], held["first_seen"], *_key(held, side)):
                best[edge["source_domain"]] = edge
        selected = list(best.values())
    sort = q.option("sort")
    if sort or q.option("one_per_domain"):
        selected.sort(key=lambda e: _key(e, side))
        if sort:
            selected = ordered(selected, (sort, True))
    else:
        selected.sort(key=lambda e: (rev_host(e[f"{side}_host"]), *_key(e, side)))
    return [record(edge) for edge in selected]


def _key(edge: Edge, side: str) -> tuple[str, str, int]:
    other = "source" if side == "target" else "target"
    return edge[f"{side}_url"], edge[f"{other}_url"], KIND_ORDER[edge["kind"]]


def _seen(group: list[Edge]) -> dict[str, str]:
    return {
        "first_seen": min(e["first_seen"] for e in group),
        "last_seen": max(e["last_seen"] for e in group),
    }


def _grouped(edges: Iterable[Edge], name: str) -> dict[str, list[Edge]]:
    groups: dict[str, list[Edge]] = defaultdict(list)
    for edge in edges:
        groups[edge[name]].append(edge)
    return groups


def _dofollow(group: list[Edge]) -> int:
    return sum(not e["nofollow"] for e in group)


def refdomains_answer(
    web: SyntheticWeb, edges: Iterable[Edge], q: Query, authority: Mapping[str, int]
) -> list[Edge]:
    rows = [
        {
            "source_domain": domain,
            "links": len(group),
            "dofollow_links": _dofollow(group),
            "target_urls": len({e["target_url"] for e in group}),
            **_seen(group),
            "authority": authority.get(domain, 0),
        }
        for domain, group in _grouped(select(web, edges, q), "source_domain").items()
    ]
    sort = q.option("sort")
    first = [(sort, True)] if sort else []
    return ordered(rows, *first, ("links", True), ("source_domain", False))


def anchors_answer(web: SyntheticWeb, edges: Iterable[Edge], q: Query) -> list[Edge]:
    links = [e for e in select(web, edges, q) if e["kind"] == "a"]
    rows = [
        {
            "anchor": anchor,
            "links": len(group),
            "refdomains": len({e["source_domain"] for e in group}),
            "dofollow_links": _dofollow(group),
            **_seen(group),
        }
        for anchor, group in _grouped(links, "anchor").items()
    ]
    return ordered(rows, ("refdomains", True), ("links", True), ("anchor", False))


def top_pages_answer(web: SyntheticWeb, edges: Iterable[Edge], q: Query) -> list[Edge]:
    rows = [
        {
            "target_url": url,
            "refdomains": len({e["source_domain"] for e in group}),
            "links": len(group),
            "dofollow_links": _dofollow(group),
            **_seen(group),
        }
        for url, group in _grouped(select(web, edges, q), "target_url").items()
    ]
    return ordered(rows, ("refdomains", True), ("links", True), ("target_url", False))


def intersect_answer(
    edges: Iterable[Edge], wanted: list[str], unwanted: list[str], authority: Mapping[str, int]
) -> list[Edge]:
    """Referring domains with an external edge to every ``wanted`` domain, none to ``unwanted``."""
    external = [e for e in edges if e["source_domain"] != e["target_domain"]]
    rows = []
    for domain, group in sorted(_grouped(external, "source_domain").items()):
        linked = {e["target_domain"] for e in group}
        if set(wanted) <= linked and not linked & set(unwanted):
            rows.append(
                {
                    "source_domain": domain,
                    "links_to": sorted(wanted),
                    **_seen([e for e in group if e["target_domain"] in wanted]),
                    "authority": authority.get(domain, 0),
                }
            )
    return rows


def graph_answer(edges: Iterable[Edge], level: str, external_only: bool) -> list[Edge]:
    """``export hosts|domains``: one row per (source, target) pair, link counts as weights."""
    pairs: dict[tuple[str, str], list[Edge]] = defaultdict(list)
    for edge in edges:
        if external_only and edge["source_domain"] == edge["target_domain"]:
            continue
        pairs[edge[f"source_{level}"], edge[f"target_{level}"]].append(edge)
    return [
        {
            f"source_{level}": source,
            f"target_{level}": target,
            "links": len(group),
            "dofollow_links": _dofollow(group),
            **_seen(group),
        }
        for (source, target), group in sorted(pairs.items())
    ]


def report_answer(
    web: SyntheticWeb, edges: Iterable[Edge], q: Query, lost: Mapping[Key, str]
) -> dict[str, Any]:
    """``report``'s document; ``lost`` maps each lost edge's key to the UTC day it was lost."""
    scope, url, _, domain = target_parts(web, q)
    selected = select(web, edges, q)
    count = len(selected)
    domains = {e["source_domain"] for e in selected}
    dofollow = _dofollow(selected)
    tlds = Counter(d.rsplit(".", 1)[-1] for d in domains)
    suffixes = {d: d.split(".", 1)[1] if "." in d else "" for d in domains}
    gov = sum(s.split(".")[0] in GOV_LABELS for s in suffixes.values())
    edu = sum(s.split(".")[0] in EDU_LABELS for s in suffixes.values())
    lost_days = Counter(lost[edge_key(e)] for e in selected if edge_key(e) in lost)
    new_days = Counter(e["first_seen"][:10] for e in selected)
    return {
        "target": q.target,
        "scope": scope,
        "url": url,
        "domain": domain,
        "backlinks": count,
        "referring_domains": len(domains),
        "referring_hosts": len({e["source_host"] for e in selected}),
        "target_urls": len({e["target_url"] for e in selected}),
        "dofollow_backlinks": dofollow,
        "dofollow_share": round(dofollow / count, 4) if count else 0.0,
        "dofollow_referring_domains": len(
            {e["source_domain"] for e in selected if not e["nofollow"]}
        ),
        "rel": {flag: sum(e[flag] for e in selected) for flag in REL_FLAGS},
        "image_links": sum(e["image"] for e in selected),
        "kinds": {kind: sum(e["kind"] == kind for e in selected) for kind in KIND_ORDER},
        **(_seen(selected) if selected else {"first_seen": None, "last_seen": None}),
        "lost_backlinks": sum(lost_days.values()),
        "live_backlinks": count - sum(lost_days.values()),
        "tlds": [
            {"tld": tld, "referring_domains": n}
            for tld, n in sorted(tlds.items(), key=lambda item: (-item[1], item[0]))[:20]
        ],
        "gov_referring_domains": gov,
        "edu_referring_domains": edu,
        "gov_share": round(gov / len(domains), 4) if domains else 0.0,
        "edu_share": round(edu / len(domains), 4) if domains else 0.0,
        "history": [
            {"day": day, "new": new_days[day], "lost": lost_days[day]}
            for day in sorted(new_days.keys() | lost_days.keys())
        ],
    }


def summary_answer(web: SyntheticWeb, edges: Iterable[Edge], q: Query) -> dict[str, Any]:
    """The API's ``summary`` document (no link of this index is lost)."""
    scope, url, host, domain = target_parts(web, q)
    selected = select(web, edges, q)
    count = len(selected)
    dofollow = _dofollow(selected)
    first_day = {
        d: min(e["first_seen"] for e in g)[:10]
        for d, g in _grouped(selected, "source_domain").items()
    }
    new_links = Counter(e["first_seen"][:10] for e in selected)
    new_domains = Counter(first_day.values())
    return {
        "target": {"text": q.target, "scope": scope, "url": url, "host": host, "domain": domain},
        "backlinks": count,
        "refdomains": len(first_day),
        "dofollow_backlinks": dofollow,
        "dofollow_refdomains": len({e["source_domain"] for e in selected if not e["nofollow"]}),
        "dofollow_share": round(dofollow / count, 4) if count else None,
        "target_urls": len({e["target_url"] for e in selected}),
        **(_seen(selected) if selected else {"first_seen": None, "last_seen": None}),
        "lost_backlinks": 0,
        "per_day": {
            "columns": ["day", "new_backlinks", "new_refdomains", "lost_backlinks"],
            "rows": [
                {
                    "day": day,
                    "new_backlinks": new_links[day],
                    "new_refdomains": new_domains[day],
                    "lost_backlinks": 0,
                }
                for day in sorted(new_links)
            ],
        },
    }


@dataclass(frozen=True)
class Ranks:
    """Domain authority as docs/authority.md defines it, computed here."""

    pagerank: dict[str, float]
    floor: float
    authority: dict[str, int]
    refdomains: dict[str, int]


def domain_ranks(edges: Iterable[Edge], damping: float = DAMPING) -> Ranks:
    """PageRank and authority of the dofollow external ``a``-link domain graph.

    Nodes are the domains at either end of such a link; ``s → t`` once however
    many links; a dangling domain's score is spread over every domain, as is
    the teleport mass. Plain power iteration until the scores stop changing.
    """
    links = {
        (e["source_domain"], e["target_domain"])
        for e in edges
        if e["kind"] == "a" and not e["nofollow"] and e["source_domain"] != e["target_domain"]
    }
    nodes = sorted({domain for pair in links for domain in pair})
    out: dict[str, list[str]] = {domain: [] for domain in nodes}
    for source, target in sorted(links):
        out[source].append(target)
    n = len(nodes)
    scores = dict.fromkeys(nodes, 1.0 / n)
    for _ in range(1000):
        dangling = sum(scores[d] for d in nodes if not out[d])
        base = (damping * dangling + 1.0 - damping) / n
        following = dict.fromkeys(nodes, base)
        for source in nodes:
            for target in out[source]:
                following[target] += damping * scores[source] / len(out[source])
        change = sum(abs(following[d] - scores[d]) for d in nodes)
        scores = following
        if change < 1e-15:
            break
    # The floor, a domain nobody links to, gets only the jump term of the fixed point.
    dangling = sum(scores[d] for d in nodes if not out[d])
    floor = (damping * dangling + 1.0 - damping) / n
    refdomains = Counter(target for _, target in links)
    lifts = {d: math.log(scores[d] / floor) for d in nodes if refdomains[d]}
    top = max(lifts.values())
    authority = {
        d: min(100, max(1, round(100 * lifts[d] / top))) if d in lifts else 0 for d in nodes
    }
    return Ranks(scores, floor, authority, {d: refdomains[d] for d in nodes})


# -- assertions -----------------------------------------------------------------------


def assert_rows(expected: list[Any], actual: list[Any], what: str) -> None:
    """Fail with what is missing, unexpected or out of order when the lists differ."""
    if expected == actual:
        return
    show = lambda row: json.dumps(row, ensure_ascii=False, sort_keys=True)  # noqa: E731
    want, got = Counter(map(show, expected)), Counter(map(show, actual))
    lines = [f"{what}: {len(expected)} rows expected, {len(actual)} got"]
    lines += [f"  missing:    {row}" for row in sorted((want - got).elements())[:30]]
    lines += [f"  unexpected: {row}" for row in sorted((got - want).elements())[:30]]
    if want == got:
        at = next(i for i, (a, b) in enumerate(zip(expected, actual, strict=True)) if a != b)
        lines.append(f"  same rows, order differs first at row {at}:")
        lines.append(f"    expected {show(expected[at])}")
        lines.append(f"    got      {show(actual[at])}")
    pytest.fail("\n".join(lines), pytrace=False)


def assert_document(expected: Mapping[str, Any], actual: Mapping[str, Any], what: str) -> None:
    if dict(expected) == dict(actual):
        return
    lines = [f"{what} differs:"]
    for name in sorted(expected.keys() | actual.keys()):
        if expected.get(name, "<absent>") != actual.get(name, "<absent>"):
            lines.append(f"  {name}: expected {expected.get(name, '<absent>')!r}")
            lines.append(f"  {' ' * len(name)}  got      {actual.get(name, '<absent>')!r}")
    pytest.fail("\n".join(lines), pytrace=False)


# -- the crawled index ----------------------------------------------------------------


def timed(expected: Iterable[Edge], records: Iterable[Edge]) -> list[Edge]:
    """The oracle's edges with the first/last seen times the index exported for them."""
    seen = {edge_key(r): (r["first_seen"], r["last_seen"]) for r in records}
    result = []
    for edge in expected:
        first, last = seen.get(edge_key(edge), (None, None))
        result.append({**edge, "first_seen": first, "last_seen": last})
    return result


def assert_exported(expected: list[Edge], crawl_records: list[Edge], what: str) -> None:
    diff = describe_edge_diff(expected, crawl_records)
    if diff:
        pytest.fail(f"{what}: the index does not hold the oracle's edges:\n{diff}", pytrace=False)


@dataclass
class Crawled:
    """The test web crawled once into an index and ranked, with what to expect of it."""

    crawl: Crawl
    web: SyntheticWeb
    edges: list[Edge]
    ranks: Ranks


@pytest.fixture(scope="module")
def crawled(cli, synth_web: SyntheticWeb, web_proxy: ProxyServer, tmp_path_factory) -> Crawled:
    crawl = crawl_web(cli, synth_web, web_proxy, tmp_path_factory.mktemp("crawled-answers"))
    assert_exported(crawl.expectation.edges, crawl.records, "after the crawl")
    cli.run("rank", "--quiet", "--data-dir", str(crawl.data_dir))
    edges = timed(crawl.expectation.edges, crawl.records)
    return Crawled(crawl, synth_web, edges, domain_ranks(edges))


def run_json(cli, crawled: Crawled, *args: str) -> Any:
    result = cli.run(*args, "--format", "json", "--data-dir", str(crawled.crawl.data_dir))
    return json.loads(result.stdout)


def run_records(cli, data_dir: Path, *args: str) -> list[Edge]:
    result = cli.run(*args, "--format", "json", "--limit", "0", "--data-dir", str(data_dir))
    return json_records(result.stdout)


def expected_answer(crawled: Crawled, q: Query) -> list[Edge]:
    web, edges, authority = crawled.web, crawled.edges, crawled.ranks.authority
    if q.command == "backlinks":
        return edge_answer(web, edges, q, "target")
    if q.command == "outlinks":
        return edge_answer(web, edges, q, "source")
    if q.command == "refdomains":
        return refdomains_answer(web, edges, q, authority)
    if q.command == "anchors":
        return anchors_answer(web, edges, q)
    if q.command == "top-pages":
        return top_pages_answer(web, edges, q)
    raise AssertionError(f"no oracle for {q.command}")


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


# -- history: links that vanish and come back -------------------------------------------


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
