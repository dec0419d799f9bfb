"""The site model: a synthetic web held in memory, with its expected links.

A :class:`SyntheticWeb` maps absolute URLs (``http://host/path?query``, in the
normalized form of docs/urls.md) to pre-rendered :class:`Resource` objects. Each
resource carries, next to its bytes, what a correct crawler must extract from
it: its links in document order as :class:`ExpectedLink` values (the
normalized target written down by whoever built the page, or ``None`` for an
href that must be dropped), the normalized target of its redirect, and whether
the page says ``nofollow`` for itself. The oracle (``tests.synthweb.oracle``)
reads only these declarations, never the HTML, so it does not depend on any
parser or on ``linkcore.urls``.

Per-host ``robots.txt`` files are declared as :class:`RobotsRules` (plain path
prefixes per user agent) and rendered from them, so that the oracle can apply
them without a robots.txt parser.
"""

from __future__ import annotations

import html
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import Final
from urllib.parse import urlsplit

__all__ = [
    "DROPPED",
    "HTML_UTF8",
    "ExpectedLink",
    "PageBuilder",
    "Resource",
    "RobotsRules",
    "SyntheticWeb",
    "check_domains",
    "host_of",
    "html_page",
    "media_type",
    "plain",
    "redirect",
]

HTML_UTF8: Final = "text/html; charset=utf-8"


@dataclass(frozen=True, slots=True)
class ExpectedLink:
    """One link occurrence as a correct extractor must see it (docs/edges.md).

    ``target_url`` is the normalized target, written by hand, or ``None`` when
    the href must be dropped (not http(s), unparsable). ``kind`` is ``"a"`` or
    ``"canonical"``; ``anchor``/``image``/rel flags are those of this very
    occurrence. Page-level nofollow, self-edge removal and the merging of
    duplicates are the oracle's business, not the page author's.
    """

    target_url: str | None
    kind: str = "a"
    anchor: str = ""
    image: bool = False
    nofollow: bool = False
    ugc: bool = False
    sponsored: bool = False


#: An href that yields no edge at all (mailto:, javascript:, unparsable, ...).
DROPPED: Final = ExpectedLink(None)


@dataclass(frozen=True, slots=True)
class Resource:
    """A pre-rendered response and what a crawler must make of it.

    ``url`` is the normalized URL the resource is served at. ``links`` lists
    the expected link occurrences in document order; it only matters when the
    response is 2xx HTML (the oracle ignores it otherwise). ``redirect_to`` is
    the expected normalized target of the ``Location`` header (``None`` when
    there is none, or when it must be dropped). ``robots_nofollow`` is true when
    the page's meta robots tag or ``X-Robots-Tag`` header says
    ``nofollow``/``none``.
    """

    url: str
    status: int
    headers: tuple[tuple[str, str], ...]
    body: bytes
    links: tuple[ExpectedLink, ...] = ()
    redirect_to: str | None = None
    robots_nofollow: bool = False

    @property
    def content_type(self) -> str:
        """The ``Content-Type`` header value, ``""`` when absent."""
        for name, value in self.headers:
            if name.lower() == "content-type":
                return value
        return ""

    @property
    def is_html(self) -> bool:
        """True for a 2xx response with an HTML media type: the only kind parsed."""
        return 200 <= self.status < 300 and media_type(self.content_type) == "text/html"


def media_type(content_type: str) -> str:
    """The lower-cased media type of a ``Content-Type`` value, parameters dropped."""
    return content_type.split(";", 1)[0].strip().lower()


def host_of(url: str) -> str:
    """The lower-cased host of an absolute URL, without its port.

    An IPv6 address keeps its brackets, as the WHATWG URL Standard serializes
    a host. Only meant for the simple, already-normalized URLs of the
    synthetic web.
    """
    host = (urlsplit(url).hostname or "").lower()
    return f"[{host}]" if ":" in host else host


@dataclass(frozen=True, slots=True)
class RobotsRules:
    """A robots.txt as groups of ``Disallow`` path prefixes per user agent.

    ``groups`` maps a user agent token (``"*"`` for the default group) to the
    prefixes it disallows. Per RFC 9309 a crawler obeys the one group whose
    token matches its own (case-insensitively), else the ``*`` group; groups
    are never merged.
    """

    groups: tuple[tuple[str, tuple[str, ...]], ...]

    def render(self) -> str:
        """The robots.txt text for these rules."""
        blocks = []
        for agent, prefixes in self.groups:
            lines = [f"User-agent: {agent}"]
            lines += [f"Disallow: {prefix}" for prefix in prefixes] or ["Disallow:"]
            blocks.append("\n".join(lines))
        return "\n\n".join(blocks) + "\n"

    def allows(self, token: str, path_and_query: str) -> bool:
        """True when ``token`` may fetch ``path_and_query`` (plain prefix match)."""
        chosen: tuple[str, ...] | None = None
        for agent, prefixes in self.groups:
            if agent.lower() == token.lower():
                chosen = prefixes
                break
        if chosen is None:
            chosen = next((p for agent, p in self.groups if agent == "*"), ())
        return not any(path_and_query.startswith(prefix) for prefix in chosen)


@dataclass(slots=True)
class SyntheticWeb:
    """A whole synthetic web: resources, robots.txt rules, domains and seeds.

    ``domains`` is the hand-declared registered domain of every host that any
    URL of this web (served or only linked) uses. ``seeds`` are the lines of a
    seeds file as a user would write them; ``seed_urls`` their normalized URLs,
    in the same order. ``traps`` are URLs that occur only where a correct
    crawler must not look (bodies of non-2xx or non-HTML responses, links of
    nofollow pages) and so must never be fetched.

    ``generators`` serve URLs that are not in ``resources``: endless URL
    spaces (spider traps) cannot be listed. Each takes a URL and returns its
    resource or ``None``. ``wildcard_domains`` declares the registered domain
    of every host under a suffix (``".trap.example"``), for generated hosts.
    An endless web has no finite oracle: :func:`~tests.synthweb.oracle.expect`
    does not apply, but each page still declares its links.
    """

    resources: dict[str, Resource] = field(default_factory=dict)
    robots: dict[str, RobotsRules] = field(default_factory=dict)
    domains: dict[str, str] = field(default_factory=dict)
    seeds: tuple[str, ...] = ()
    seed_urls: tuple[str, ...] = ()
    traps: set[str] = field(default_factory=set)
    generators: list[Callable[[str], Resource | None]] = field(default_factory=list)
    wildcard_domains: dict[str, str] = field(default_factory=dict)

    def resource(self, url: str) -> Resource | None:
        """The resource served at ``url``: a listed one, else a generated one, else None."""
        found = self.resources.get(url)
        if found is None:
            for generate in self.generators:
                found = generate(url)
                if found is not None:
                    break
        return found

    def add(self, resource: Resource) -> Resource:
        """Register ``resource`` at its URL; a URL may be registered once."""
        if resource.url in self.resources:
            raise ValueError(f"{resource.url} is already part of this web")
        self.resources[resource.url] = resource
        return resource

    def changed(self, *resources: Resource) -> SyntheticWeb:
        """A copy of this web in which each of ``resources`` replaces the one at its URL.

        The web as a later crawl finds it, for tests of what a recrawl does to
        the index (links that vanish, links that come back). Only URLs this web
        already serves can be replaced; everything else is the same, in maps of
        the copy's own, so this web is left as it was. Raises ``ValueError``
        for a URL this web does not serve and ``KeyError`` for a host with no
        declared domain.
        """
        unknown = sorted(r.url for r in resources if r.url not in self.resources)
        if unknown:
            raise ValueError(f"not part of this web, so nothing to change: {', '.join(unknown)}")
        copy = replace(
            self,
            resources={**self.resources, **{r.url: r for r in resources}},
            robots=dict(self.robots),
            domains=dict(self.domains),
            traps=set(self.traps),
        )
        check_domains(copy)
        return copy

    def registered_domain(self, url: str) -> str:
        """The hand-declared registered domain of ``url``'s host (KeyError if undeclared)."""
        host = host_of(url)
        if host in self.domains:
            return self.domains[host]
        for suffix, domain in self.wildcard_domains.items():
            if host.endswith(suffix):
                return domain
        raise KeyError(host)

    @property
    def seed_domains(self) -> frozenset[str]:
        """The registered domains in scope: those of the seeds."""
        return frozenset(self.registered_domain(url) for url in self.seed_urls)

    def in_scope(self, url: str) -> bool:
        """True when ``url`` is http and its registered domain is a seed's."""
        return url.startswith("http://") and self.registered_domain(url) in self.seed_domains

    def robots_txt(self, host: str) -> str | None:
        """The robots.txt text served for ``host``, ``None`` for a 404."""
        rules = self.robots.get(host)
        return None if rules is None else rules.render()

    def robots_allows(self, url: str, token: str = "linkgraph") -> bool:
        """True when ``url``'s host robots.txt lets ``token`` fetch it."""
        rules = self.robots.get(host_of(url))
        if rules is None:
            return True
        parts = urlsplit(url)
        path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        return rules.allows(token, path)

    def known_urls(self) -> set[str]:
        """Every URL this web mentions: served, linked to, redirected to, or a trap."""
        urls = set(self.resources) | set(self.traps) | set(self.seed_urls)
        for resource in self.resources.values():
            urls.update(link.target_url for link in resource.links if link.target_url)
            if resource.redirect_to:
                urls.add(resource.redirect_to)
        return urls

    def seeds_file_text(self) -> str:
        """A seeds file for this web, with a comment and a blank line as users write them."""
        return "# synthetic web seeds\n\n" + "\n".join(self.seeds) + "\n"


def html_page(title: str, head: str, body: str, charset: str = "utf-8") -> str:
    """A complete HTML document around ``head`` and ``body`` markup."""
    return (
        "<!DOCTYPE html>\n<html>\n<head>\n"
        f'<meta charset="{charset}">\n<title>{html.escape(title)}</title>\n{head}'
        f"</head>\n<body>\n{body}</body>\n</html>\n"
    )


class PageBuilder:
    """Writes an HTML page fragment by fragment, next to its expected links.

    Each call adds markup and the links that markup must yield, in document
    order, so the HTML and its expectations cannot drift apart. ``head`` adds
    to ``<head>``, ``body`` to ``<body>``; the head comes first in document
    order.
    """

    def __init__(self, url: str, title: str) -> None:
        self.url = url
        self.title = title
        self._head: list[str] = []
        self._body: list[str] = []
        self._head_links: list[ExpectedLink] = []
        self._body_links: list[ExpectedLink] = []

    def head(self, markup: str, *links: ExpectedLink) -> PageBuilder:
        """Add ``markup`` to the head; ``links`` are what it must yield."""
        self._head.append(markup + "\n")
        self._head_links.extend(links)
        return self

    def body(self, markup: str, *links: ExpectedLink) -> PageBuilder:
        """Add ``markup`` to the body; ``links`` are what it must yield."""
        self._body.append(markup + "\n")
        self._body_links.extend(links)
        return self

    def a(
        self,
        href: str,
        text: str,
        target: str | None,
        *,
        rel: str = "",
        nofollow: bool = False,
        ugc: bool = False,
        sponsored: bool = False,
    ) -> PageBuilder:
        """Add ``<a href=HREF rel=REL>TEXT</a>``, whose anchor is simply ``text``.

        ``href``, ``rel`` and ``text`` are written as given (HTML-escaped), so
        only use it for text without markup or runs of whitespace. The flags are
        what ``rel`` must yield, written by the caller.
        """
        rel_attr = f' rel="{html.escape(rel)}"' if rel else ""
        markup = f'<a href="{html.escape(href)}"{rel_attr}>{html.escape(text)}</a>'
        expected = ExpectedLink(
            target, anchor=text, nofollow=nofollow, ugc=ugc, sponsored=sponsored
        )
        return self.body(markup, expected)

    @property
    def links(self) -> tuple[ExpectedLink, ...]:
        """Every expected link occurrence, in document order."""
        return (*self._head_links, *self._body_links)

    def html(self, charset: str = "utf-8") -> str:
        """The page's HTML text, declaring ``charset`` in a meta tag."""
        return html_page(self.title, "".join(self._head), "".join(self._body), charset)

    def resource(
        self,
        *,
        status: int = 200,
        headers: Iterable[tuple[str, str]] = (),
        robots_nofollow: bool = False,
        charset: str = "utf-8",
        content_type: str | None = None,
    ) -> Resource:
        """The finished page as a :class:`Resource`, encoded in ``charset``.

        The meta tag names ``charset``; so does the ``Content-Type`` header,
        unless ``content_type`` gives the header's value.
        """
        if content_type is None:
            content_type = f"text/html; charset={charset}"
        return Resource(
            url=self.url,
            status=status,
            headers=(("Content-Type", content_type), *headers),
            body=self.html(charset).encode(charset),
            links=self.links,
            robots_nofollow=robots_nofollow,
        )


def redirect(
    url: str,
    status: int,
    location: str | None,
    target: str | None,
    body: str = "",
) -> Resource:
    """A 3xx resource at ``url`` whose raw ``Location`` is ``location``.

    ``target`` is the hand-written normalized target of that Location.
    """
    headers: list[tuple[str, str]] = [("Content-Type", HTML_UTF8)]
    if location is not None:
        headers.append(("Location", location))
    return Resource(
        url=url,
        status=status,
        headers=tuple(headers),
        body=(
            body or f"<html><body>Moved to {html.escape(location or '?')}</body></html>"
        ).encode(),
        redirect_to=target,
    )


def plain(url: str, status: int, content_type: str, body: bytes) -> Resource:
    """A resource that yields no links (error pages, non-HTML files)."""
    return Resource(url=url, status=status, headers=(("Content-Type", content_type),), body=body)


def check_domains(web: SyntheticWeb, extra: Mapping[str, str] | None = None) -> None:
    """Raise ``KeyError`` naming the first URL whose host has no declared domain."""
    domains = {**web.domains, **(extra or {})}
    for url in sorted(web.known_urls()):
        if host_of(url) not in domains:
            raise KeyError(f"no registered domain declared for the host of {url}")
