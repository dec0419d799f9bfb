"""What the crawled test web implies each query command answers, and how to compare.

The answers of ``refdomains``, ``anchors``, ``outlinks``, ``top-pages``,
``intersect``, ``report``, ``summary``, ``backlinks`` and ``export
hosts|domains`` are computed here from the oracle's expected edges
(``tests.synthweb.oracle``); PageRank by plain power iteration over the
oracle's domain graph. Only first/last seen times come from the exported
edges (:func:`timed`). Used by ``test_crawled_answers.py`` (the CLI and the
HTTP API on one crawl) and ``test_crawled_history.py`` (three crawls of a
changing web).
"""

from __future__ import annotations

import json
import math
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final
from urllib.parse import urlsplit

import pytest

from tests.integration.crawls import Crawl, json_records
from tests.synthweb import SyntheticWeb
from tests.synthweb.oracle import EDGE_FIELDS, describe_edge_diff, edge_key

Edge = dict[str, Any]
Key = tuple[str, str, str]

#: Record fields (docs/queries.md#records), in order.
RECORD_FIELDS = (*EDGE_FIELDS, "first_seen", "last_seen")
KIND_ORDER = {"a": 1, "canonical": 2, "redirect": 3}
REL_FLAGS = ("nofollow", "ugc", "sponsored")
#: PageRank as docs/authority.md defines it.
DAMPING = 0.85
#: The referring domains ``report`` counts as government or education (reports.py).
GOV_LABELS = frozenset({"gov", "gouv", "gob", "govt", "mil"})
EDU_LABELS = frozenset({"edu", "ac"})


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


#: The record fields of where a link sits and what it is worth
#: (docs/queries.md#records), after the fields the oracle predicts.
CONTEXT_FIELDS: Final = frozenset(
    (
        "location",
        "text_before",
        "text_after",
        "sitewide",
        "target_status",
        "relevance",
        "lost_reason",
    )
)
#: What the answers say about where links sit (docs/queries.md#where-a-link-sits): the
#: pages of this web declare no landmarks or context, so its oracle does not predict
#: them; ``test_crawled_context.py`` crawls a web that does, and checks them there.
UNPREDICTED: Final = CONTEXT_FIELDS | frozenset(
    (
        # the topics of a referring domain (test_crawled_relevance.py checks them)
        "topics",
        # report and summary fields
        "locations",
        "location_shares",
        "content_share",
        "sitewide_backlinks",
        "sitewide_share",
        "broken_backlinks",
        "lost_reasons",
        "backlinks_with_ip",
        "referring_ips",
        "referring_subnets",
        "subnets",
        # spam scores (test_crawled_spam.py)
        "spam_score",
        "spam_signals",
        "spam_distribution",
        "spammy_referring_domains",
    )
)


def predicted(row: Any, expected: Any) -> Any:
    """``row`` without the :data:`UNPREDICTED` fields ``expected`` does not have."""
    if not isinstance(row, Mapping):
        return row
    known = expected.keys() if isinstance(expected, Mapping) else ()
    return {k: v for k, v in row.items() if k not in UNPREDICTED or k in known}


def assert_rows(expected: list[Any], actual: list[Any], what: str) -> None:
    """Fail with what is missing, unexpected or out of order when the lists differ
    (fields the oracle does not predict aside: :data:`UNPREDICTED`)."""
    actual = [predicted(row, expected[0] if expected else None) for row in actual]
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
    actual = predicted(actual, expected)
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
