"""What a correct crawl of a synthetic web must fetch and store (the docs/ pages).

:func:`expect` simulates a crawl job over a :class:`SyntheticWeb` from its
declarations alone (hand-written normalized targets, hand-declared registered
domains, robots rules as prefixes): it never parses HTML and never calls
``linkcore.urls``, so it can judge the code that does.

The simulated crawl, per docs/crawling.md:

- seeds are depth 0; an ``a`` link adds one hop, a redirect hop adds none;
  with ``max_depth >= 0`` nothing deeper than ``max_depth`` is fetched;
- a URL is fetched when its registered domain is a seed's and its host's
  robots.txt allows the token ``linkgraph``; each URL at most once;
- only 2xx HTML responses are parsed; a 3xx with a ``Location`` yields one
  ``redirect`` edge whose in-scope target is followed;
- the ``a`` targets of a page are followed unless the page says ``nofollow``
  for itself; ``rel="nofollow"`` on a link does not stop it; canonical targets
  are not followed.

Depths are shortest hop counts (a 0-1 breadth-first search), which is what
"link hops from a seed" means whatever order a real crawler fetches in.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Final
from urllib.parse import urlsplit

from linkgraph.demo.model import Resource, SyntheticWeb, host_of

__all__ = [
    "EDGE_FIELDS",
    "Expectation",
    "describe_edge_diff",
    "edge_key",
    "expect",
    "expected_backlinks",
    "page_edges",
]

#: Fields of an expected edge, in the order of docs/queries.md#records
#: (``first_seen``/``last_seen`` aside).
EDGE_FIELDS: Final = (
    "source_url",
    "source_host",
    "source_domain",
    "target_url",
    "target_host",
    "target_domain",
    "kind",
    "anchor",
    "image",
    "nofollow",
    "ugc",
    "sponsored",
    "link_count",
)

Edge = dict[str, Any]


@dataclass(slots=True)
class Expectation:
    """The outcome of a correct crawl.

    ``fetched``: every URL that must be requested (robots.txt aside), each
    exactly once, except that ``retriable`` ones (answered 5xx) may be retried.
    ``never_fetch``: every URL the web mentions that must not be requested.
    ``robots_blocked``: reached, in scope, but disallowed by robots.txt.
    ``canonical_only``: in-scope, allowed canonical targets reached by nothing
    else; they are not followed (docs/crawling.md#what-is-followed), but a
    web meant for exact comparison has none, so as not to depend on that.
    ``sitemaps``: the sitemap files that must be requested, each once: the
    ``/sitemap.xml`` of every host a URL was fetched from, where robots.txt
    allows it (docs/crawling.md#sitemaps; these webs' robots.txt files name no
    sitemaps), none with ``max_depth=0``.
    ``edges``: the stored edges, sorted by
    :func:`edge_key`. ``exact`` is false when ``max_pages`` cut the crawl short:
    which pages a real crawler picks first is then its own business.
    """

    fetched: set[str] = field(default_factory=set)
    retriable: set[str] = field(default_factory=set)
    never_fetch: set[str] = field(default_factory=set)
    robots_blocked: set[str] = field(default_factory=set)
    canonical_only: set[str] = field(default_factory=set)
    depth: dict[str, int] = field(default_factory=dict)
    sitemaps: set[str] = field(default_factory=set)
    edges: list[Edge] = field(default_factory=list)
    exact: bool = True


def edge_key(edge: Mapping[str, Any]) -> tuple[str, str, str]:
    """The identity of an edge: ``(source_url, target_url, kind)``."""
    return (str(edge["source_url"]), str(edge["target_url"]), str(edge["kind"]))


def _resource(web: SyntheticWeb, url: str) -> Resource | None:
    return web.resource(url)


def _page_edges(web: SyntheticWeb, url: str, resource: Resource | None) -> list[Edge]:
    """The edges one fetched URL yields, merged per (target, kind), in first-seen order."""
    if resource is None:
        return []
    occurrences: list[tuple[str, str, str, bool, bool, bool, bool]] = []
    if 300 <= resource.status < 400:
        if resource.redirect_to is not None:
            occurrences.append((resource.redirect_to, "redirect", "", False, False, False, False))
    elif resource.is_html:
        for link in resource.links:
            if link.target_url is None:
                continue
            occurrences.append(
                (
                    link.target_url,
                    link.kind,
                    link.anchor,
                    link.image,
                    link.nofollow or resource.robots_nofollow,
                    link.ugc,
                    link.sponsored,
                )
            )
    merged: dict[tuple[str, str], Edge] = {}
    for target, kind, anchor, image, nofollow, ugc, sponsored in occurrences:
        if target == url:
            continue
        edge = merged.get((target, kind))
        if edge is not None:
            edge["link_count"] += 1
            continue
        if kind != "a":
            anchor, image = "", False
        merged[(target, kind)] = {
            "source_url": url,
            "source_host": host_of(url),
            "source_domain": web.registered_domain(url),
            "target_url": target,
            "target_host": host_of(target),
            "target_domain": web.registered_domain(target),
            "kind": kind,
            "anchor": anchor,
            "image": image,
            "nofollow": nofollow,
            "ugc": ugc,
            "sponsored": sponsored,
            "link_count": 1,
        }
    return list(merged.values())


def page_edges(web: SyntheticWeb, url: str) -> list[Edge]:
    """The edges a correct crawler stores for ``url`` once it fetched it (docs/edges.md).

    For webs without a finite oracle (spider traps): whichever pages a crawl
    fetched, each must yield exactly these edges.
    """
    return _page_edges(web, url, _resource(web, url))


def expect(
    web: SyntheticWeb,
    seeds: Iterable[str] | None = None,
    *,
    max_depth: int = -1,
    max_pages: int = 0,
    token: str = "linkgraph",
) -> Expectation:
    """Simulate a crawl job of ``web`` and return what it must fetch and store.

    ``seeds`` are normalized seed URLs (default: ``web.seed_urls``);
    ``max_depth=-1`` and ``max_pages=0`` mean no limit. ``max_pages`` counts
    every fetched URL, whatever its status.
    """
    seed_urls = list(web.seed_urls if seeds is None else seeds)
    scope = {web.registered_domain(url) for url in seed_urls}
    result = Expectation()

    def fetchable(url: str) -> bool:
        return url.startswith("http://") and web.registered_domain(url) in scope

    depth: dict[str, int] = {}
    queue: deque[str] = deque()
    for url in seed_urls:
        if url not in depth:
            depth[url] = 0
            queue.append(url)
    done: set[str] = set()
    fetched_order: list[str] = []
    canonical_targets: set[str] = set()
    while queue:
        url = queue.popleft()
        if url in done:
            continue
        done.add(url)
        if not fetchable(url):
            continue
        if not web.robots_allows(url, token):
            result.robots_blocked.add(url)
            continue
        if max_pages and len(fetched_order) >= max_pages:
            result.exact = False
            break
        fetched_order.append(url)
        here = depth[url]
        resource = _resource(web, url)
        successors: list[tuple[str, int]] = []
        if resource is not None and 300 <= resource.status < 400:
            if resource.redirect_to is not None:
                successors.append((resource.redirect_to, 0))
        elif resource is not None and resource.is_html:
            for link in resource.links:
                if link.target_url is None:
                    continue
                if link.kind == "canonical":
                    canonical_targets.add(link.target_url)
                elif link.kind == "a" and not resource.robots_nofollow:
                    successors.append((link.target_url, 1))
        for target, cost in successors:
            target_depth = here + cost
            if max_depth >= 0 and target_depth > max_depth:
                continue
            if target_depth < depth.get(target, target_depth + 1):
                depth[target] = target_depth
                if cost == 0:
                    queue.appendleft(target)
                else:
                    queue.append(target)

    result.fetched = set(fetched_order)
    result.depth = {url: depth[url] for url in fetched_order}
    for url in fetched_order:
        resource = _resource(web, url)
        if resource is not None and resource.status >= 500:
            result.retriable.add(url)
        result.edges.extend(_page_edges(web, url, resource))
    result.edges.sort(key=edge_key)
    if max_depth != 0:
        for url in fetched_order:
            parts = urlsplit(url)
            sitemap = f"{parts.scheme}://{parts.netloc}/sitemap.xml"
            if web.robots_allows(sitemap, token):
                result.sitemaps.add(sitemap)
    result.never_fetch = web.known_urls() - result.fetched
    result.canonical_only = {
        url
        for url in canonical_targets - result.fetched - result.robots_blocked
        if fetchable(url) and web.robots_allows(url, token)
    }
    return result


def expected_backlinks(
    edges: Iterable[Mapping[str, Any]],
    *,
    url: str | None = None,
    host: str | None = None,
    domain: str | None = None,
    prefix: str | None = None,
    include_internal: bool = False,
    dofollow_only: bool = False,
) -> list[Edge]:
    """The edges ``linkgraph backlinks`` must answer with (docs/queries.md).

    Give exactly one of ``url``/``host``/``domain``/``prefix`` (already
    normalized: the query's ``--scope``). Internal edges (source and target in
    one registered domain) are left out unless ``include_internal``;
    ``dofollow_only`` leaves out ``nofollow`` edges.
    """
    chosen = [value is not None for value in (url, host, domain, prefix)]
    if sum(chosen) != 1:
        raise ValueError("give exactly one of url, host, domain, prefix")
    selected = []
    for edge in edges:
        target = str(edge["target_url"])
        if url is not None and target != url:
            continue
        if host is not None and edge["target_host"] != host:
            continue
        if domain is not None and edge["target_domain"] != domain:
            continue
        if prefix is not None and not target.startswith(prefix):
            continue
        if not include_internal and edge["source_domain"] == edge["target_domain"]:
            continue
        if dofollow_only and edge["nofollow"]:
            continue
        selected.append(dict(edge))
    selected.sort(key=edge_key)
    return selected


def describe_edge_diff(
    expected: Iterable[Mapping[str, Any]],
    actual: Iterable[Mapping[str, Any]],
    *,
    fields: Iterable[str] = EDGE_FIELDS,
    limit: int = 40,
) -> str:
    """A readable account of how ``actual`` edges differ from ``expected``.

    Edges are matched by :func:`edge_key`; for matched edges only ``fields``
    are compared (values and types: ``True`` is not ``1``). Returns ``""``
    when they agree. Duplicated keys in ``actual`` are reported too.
    """
    names = tuple(fields)
    want = {edge_key(edge): edge for edge in expected}
    got: dict[tuple[str, str, str], Mapping[str, Any]] = {}
    duplicated: list[tuple[str, str, str]] = []
    for edge in actual:
        key = edge_key(edge)
        if key in got:
            duplicated.append(key)
        got[key] = edge
    missing = sorted(want.keys() - got.keys())
    unexpected = sorted(got.keys() - want.keys())
    differing = []
    for key in sorted(want.keys() & got.keys()):
        changes = [
            f"{name}: expected {want[key].get(name)!r}, got {got[key].get(name)!r}"
            for name in names
            if not _same(want[key].get(name), got[key].get(name))
        ]
        if changes:
            differing.append((key, changes))
    if not (missing or unexpected or differing or duplicated):
        return ""
    lines = [
        f"{len(want)} edges expected, {len(got)} got: {len(missing)} missing, "
        f"{len(unexpected)} unexpected, {len(differing)} differing, "
        f"{len(duplicated)} duplicated"
    ]
    for title, keys in (("missing", missing), ("unexpected", unexpected)):
        for key in keys[:limit]:
            source = want.get(key) or got[key]
            lines.append(f"  {title}: {_show(key)}  {_flags(source)}")
        if len(keys) > limit:
            lines.append(f"  ... {len(keys) - limit} more {title}")
    for key, changes in differing[:limit]:
        lines.append(f"  differing: {_show(key)}")
        lines.extend(f"      {change}" for change in changes)
    if len(differing) > limit:
        lines.append(f"  ... {len(differing) - limit} more differing")
    for key in duplicated[:limit]:
        lines.append(f"  duplicated: {_show(key)}")
    return "\n".join(lines)


def _same(left: object, right: object) -> bool:
    return type(left) is type(right) and left == right


def _show(key: tuple[str, str, str]) -> str:
    source, target, kind = key
    return f"[{kind}] {source} -> {target}"


def _flags(edge: Mapping[str, Any]) -> str:
    shown = {name: edge.get(name) for name in ("anchor", "image", "nofollow", "link_count")}
    return " ".join(f"{name}={value!r}" for name, value in shown.items())
