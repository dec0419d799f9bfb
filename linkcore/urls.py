"""The one definition of a URL in linkgraph (docs/urls.md).

Crawler, pipelines, consumers and queries all import this module; nothing else
parses or rewrites URLs. Every function is pure and never raises on junk input:
what cannot be an edge endpoint comes back as ``None``.

Parsing and serialization follow the WHATWG URL Standard through ada (the
``ada-url`` package), which lowercases scheme and host, converts international
hosts to punycode, drops default ports, resolves ``.``/``..`` segments and gives
an empty path as ``/``. On top of that :func:`normalize` applies docs/urls.md steps
2-4: drop the fragment, drop the host's trailing dot, drop tracking parameters.

Steps 2-4 work on the WHATWG serialization as a string, which is safe because
the serializer percent-encodes every ``#`` before the fragment, every ``?``
before the query and every ``/`` and ``@`` inside the userinfo; so the first
``#`` starts the fragment, the first ``?`` the query, and the authority runs
from ``//`` to the first ``/`` (an http(s) path always starts with ``/``).
That keeps resolution plus normalization at one parse per URL, which matters
on the crawler's hot path.

Registered domains come from the Public Suffix List snapshot bundled with
tldextract, private section included (``alice.github.io`` and ``bob.github.io``
are two domains); the list is never fetched.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable
from functools import lru_cache
from typing import Final

import tldextract
from ada_url import join_url, parse_url

try:
    # ada's C API (ada_c.h) as the ada-url package binds it. join_url() and
    # parse_url() wrap the same calls, but their per-call Python overhead is
    # most of the cost of resolving a link, and every link of every page is
    # resolved and normalized.
    from ada_url._ada_wrapper import ffi as _ada_ffi
    from ada_url._ada_wrapper import lib as _ada_lib
except ImportError:  # pragma: no cover - another ada-url layout: use the public API
    _ada_ffi = _ada_lib = None

__all__ = [
    "TRACKING_PARAMETERS",
    "host_of",
    "is_ip_host",
    "normalize",
    "normalize_with_host",
    "registered_domain",
    "resolve",
    "resolve_and_normalize",
    "resolver",
    "reverse_host",
    "strip_tracking",
]

#: Query parameter names dropped by normalization (compared case-insensitively),
#: besides every name that starts with ``utm_``.
TRACKING_PARAMETERS: Final = frozenset(
    {"gclid", "dclid", "fbclid", "msclkid", "yclid", "mc_cid", "mc_eid", "_hsenc", "_hsmi"}
)

# ada raises ValueError for unparsable input and for strings that cannot be
# encoded as UTF-8 (lone surrogates); the rest are belt and braces.
_PARSE_ERRORS: Final = (ValueError, TypeError, UnicodeError)

# suffix_list_urls=() keeps tldextract on its bundled snapshot: it never fetches
# the list at run time, and cache_dir=None keeps it from writing a cache file.
_PSL = tldextract.TLDExtract(suffix_list_urls=(), include_psl_private_domains=True, cache_dir=None)


def _is_tracking(parameter: str) -> bool:
    # A parameter's name is the text before its first "=", not decoded
    # (docs/urls.md#step-4-drop-tracking-parameters).
    name = parameter.split("=", 1)[0].lower()
    return name.startswith("utm_") or name in TRACKING_PARAMETERS


# A cheap first look, on the lowercased query: most queries hold no tracking
# parameter, and one regex scan is faster than splitting them (and than a
# case-insensitive scan). Lowercasing the whole query lowercases each name as
# _is_tracking does, so it may match more (after a "?" inside a value), never
# less; _is_tracking decides.
_TRACKING_NAMES: Final = "|".join(re.escape(name) for name in sorted(TRACKING_PARAMETERS))
_MAYBE_TRACKING: Final = re.compile(rf"[?&](?:utm_|(?:{_TRACKING_NAMES})(?:[=&]|$))")


def strip_tracking(search: str) -> str:
    """Return ``search`` (``""`` or ``"?…"``) without tracking parameters.

    The query is split on ``&``; every other parameter is kept, in its original
    order and spelling (empty ones between ``&&`` included). When no query text
    is left — every parameter was tracking, or the query was a bare ``?`` — the
    ``?`` goes too. A query with nothing to drop is returned as the same object.
    """
    if len(search) <= 1:
        return ""
    if _MAYBE_TRACKING.search(search.lower()) is None:
        return search
    parameters = search[1:].split("&")
    kept = [p for p in parameters if not _is_tracking(p)]
    if len(kept) == len(parameters):
        return search
    query = "&".join(kept)
    return "?" + query if query else ""


def _without_tracking(href: str) -> str:
    """docs/urls.md step 4 on a WHATWG serialization without a fragment."""
    query_at = href.find("?")
    if query_at < 0:
        return href
    search = href[query_at:]
    kept = strip_tracking(search)
    return href if kept is search else href[:query_at] + kept


def _normalize_serialized(href: str) -> str | None:
    """docs/urls.md steps 2-4 on a WHATWG serialization; ``None`` unless http(s)."""
    if href.startswith("https://"):
        authority_at = 8
    elif href.startswith("http://"):
        authority_at = 7
    else:
        return None
    hash_at = href.find("#")
    if hash_at >= 0:
        href = href[:hash_at]
    href = _without_tracking(href)
    path_at = href.find("/", authority_at)
    if path_at < 0:
        path_at = len(href)
    authority = href[authority_at:path_at]
    # Fast exit for the common case; a userinfo with ".:" only costs the long way.
    if not authority.endswith(".") and ".:" not in authority:
        return href
    host_at = authority.rfind("@") + 1
    if authority.startswith("[", host_at):
        return href  # IPv6 literals hold no dots to drop
    port_at = authority.find(":", host_at)
    host = authority[host_at : port_at if port_at >= 0 else len(authority)]
    if not host.endswith("."):
        return href
    # All trailing dots go, not just one, so that normalize() stays idempotent
    # on "example.com..". A host made only of dots is kept as WHATWG gave it:
    # an empty host is not a valid http(s) URL.
    stripped = host.rstrip(".")
    if not stripped:
        return href
    cut = authority_at + host_at
    without_dots = href[: cut + len(stripped)] + href[cut + len(host) :]
    # The host without its dots is parsed again: WHATWG reads a host whose
    # last label is a number as IPv4 ("0x7f" is 0.0.0.127, "foo.09" fails), and
    # only the empty label after a trailing dot kept "0x7f.." a domain.
    try:
        return parse_url(without_dots, ("href",))["href"]
    except _PARSE_ERRORS:
        return href


# A conservative description of URLs that are in normal form but for tracking
# parameters, so that normalize() can normalize them without parsing: consumers
# re-normalize every URL they receive (Kafka is a trust boundary), and almost
# all of them were normalized by the crawler already; and most hrefs of a page
# are absolute URLs written in normal form. Whatever this matches (and
# _normalize_unparsed does not refuse), WHATWG parsing plus steps 2-3 leave
# unchanged (tests/unit/test_urls.py checks that property on generated URLs):
# - lowercase scheme http/https, no userinfo, no port, no fragment;
# - a host of non-empty lowercase ASCII labels whose last label starts with a
#   letter: not an IPv4 address (WHATWG reads a host whose last label is a
#   number as one), no trailing dot; "xn--" labels are left to the parser,
#   which checks their punycode;
# - a path and query made of characters no percent-encode set touches ("'" is
#   encoded in a special URL's query, so only the path may hold it); "%" is
#   kept as it is by the parser, escapes included;
# - no dot segments ("/." is refused outright, see _normalize_unparsed), no bare "?".
# (Possessive: every part ends where the next can only start, so nothing to
# backtrack into; the match set is the same, found faster.)
_NORMAL_FORM: Final = re.compile(
    r"https?://((?:[a-z0-9-]++\.)*+[a-z][a-z0-9-]*+)"
    r"(/[A-Za-z0-9\-._~!$&'()*+,;=:@/%]*+)"
    r"(\?[A-Za-z0-9\-._~!$&()*+,;=:@/?%]++)?"
)


def _normalize_unparsed(url: str) -> tuple[str, str] | None:
    """``(normalize(url), its host)`` when no parse is needed for it, else ``None``.

    That is when ``url`` matches ``_NORMAL_FORM`` with no dot segment and no
    "xn--" label: WHATWG parsing and steps 2-3 leave it as it is, and
    :func:`strip_tracking` does step 4 to its query, as
    :func:`_normalize_serialized` would after the parse. A URL in normal form
    comes back as the same object.
    """
    match = _NORMAL_FORM.fullmatch(url)
    if match is None:
        return None
    host, path, query = match.groups()
    # "." and ".." segments, also percent-encoded ("%2e" counts as "."); and
    # "xn--" labels, whose punycode only the parser can check.
    if "/." in path or "%2e" in path or "%2E" in path or "xn--" in host:
        return None
    if query is not None:
        kept = strip_tracking(query)
        if kept is not query:
            return url[: match.start(3)] + kept, host
    return url, host


def normalize(url: str) -> str | None:
    """Normalize an absolute URL per docs/urls.md, or ``None`` if it is not one.

    ``None`` means: unparsable, or a scheme other than http/https.
    The result is idempotent: ``normalize(normalize(u)) == normalize(u)``.
    A URL in normal form but for tracking parameters is recognized without
    parsing: it comes back as it is, or without them.
    """
    unparsed = _normalize_unparsed(url)
    if unparsed is not None:
        return unparsed[0]
    href = resolve(url)
    return None if href is None else _normalize_serialized(href)


def normalize_with_host(url: str) -> tuple[str, str] | None:
    """``(normalize(url), host_of(normalize(url)))``, or ``None``; at most one parse.

    For callers that need both, such as a consumer building index rows.
    """
    unparsed = _normalize_unparsed(url)
    if unparsed is not None:
        return unparsed
    normalized = normalize(url)
    if normalized is None:
        return None
    return normalized, host_of(normalized)


def _serialize(href: str, base: str | None) -> str | None:
    """ada's ``href`` of ``href`` parsed against ``base``, through its C API."""
    try:
        href_bytes = href.encode()
        base_bytes = None if base is None else base.encode()
    except UnicodeError:
        return None
    if base_bytes is None:
        url = _ada_lib.ada_parse(href_bytes, len(href_bytes))
    else:
        url = _ada_lib.ada_parse_with_base(href_bytes, len(href_bytes), base_bytes, len(base_bytes))
    try:
        if not _ada_lib.ada_is_valid(url):
            return None
        serialized = _ada_lib.ada_get_href(url)
        text: str = _ada_ffi.unpack(serialized.data, serialized.length).decode()
        return text
    finally:
        _ada_lib.ada_free(url)


def resolve(href: str, base: str | None = None) -> str | None:
    """Resolve ``href`` against ``base`` per the WHATWG URL Standard.

    Returns the serialized absolute URL (any scheme), or ``None`` if no URL
    results: the href cannot be parsed against the base, or the base itself is
    unparsable (as in the standard, an unparsable base fails even an absolute
    href). With ``base=None`` the href must be absolute.
    """
    try:
        if _ada_lib is not None:
            return _serialize(href, base)
        if base is None:
            return parse_url(href, ("href",))["href"]
        return join_url(base, href)
    except _PARSE_ERRORS:
        return None


def resolve_and_normalize(href: str, base: str | None = None) -> str | None:
    """Resolve ``href`` against ``base`` and normalize the result (docs/edges.md, urls.md).

    ``None`` when the result is unparsable or not http(s): such hrefs are
    dropped and counted by the extractor. Costs one parse.
    """
    absolute = resolve(href, base)
    return None if absolute is None else _normalize_serialized(absolute)


# A relative reference that resolves by joining strings: a path from the root
# ("/a/b?q") or from the base's directory ("a/b?q"), with no scheme (no ":" in
# the first segment), no authority ("//"), no dot segment, and only characters
# that no percent-encode set touches ("'" excluded: a special URL's query
# encodes it), no "%" (so no encoded dots) and no "\\" (a slash in http).
# Leading or trailing whitespace fails it too, so the parser strips that.
_SIMPLE_RELATIVE: Final = re.compile(
    r"(?!\.\.?(?:[/?]|\Z))(?!.*/\.\.?(?:[/?]|\Z))"
    r"(?:/(?!/)|[A-Za-z0-9\-._~!$&()*+,;=@]+(?=[/?]|\Z))"
    r"[A-Za-z0-9\-._~!$&()*+,;=:@/?]*"
)
# The "./" and "../" segments that open a relative reference ("../../a/b"):
# the parser resolves them against the base once per page, and a simple
# relative reference after them joins the result as a string.
_LEADING_DOT_SEGMENTS: Final = re.compile(r"(?:\.\.?/)+")


def resolver(base: str | None, *, serialized: bool = False) -> Callable[[str], str | None]:
    """A function equal to ``lambda href: resolve_and_normalize(href, base)``.

    Made for the many hrefs of one page: when ``base`` is an http(s) URL,
    absolute http(s) hrefs are normalized without it (WHATWG never looks at
    the base for ``http://…`` or ``https://…``), and without parsing when they
    are in normal form but for a fragment and tracking parameters; simple relative
    references (see ``_SIMPLE_RELATIVE``) are joined to the base's origin or
    directory as strings, then normalized (steps 2-4), and so are those that
    follow leading ``./`` and ``../`` segments, joined to what the parser
    resolved those to. Everything else goes through the parser with the base,
    as :func:`resolve_and_normalize` does. With ``serialized``, ``base`` is
    :func:`resolve`'s output already, not parsed again.
    """
    href = base if serialized or base is None else resolve(base)
    if base is None or href is None or not href.startswith(("http://", "https://")):
        return lambda href: resolve_and_normalize(href, base)
    without_fragment = href.split("#", 1)[0]
    path_part = without_fragment.split("?", 1)[0]
    path_at = path_part.find("/", path_part.index("//") + 2)
    origin = path_part[:path_at]
    directory = path_part[: path_part.rfind("/") + 1]
    # Leading dot segments ("../../") and the directory they resolve to.
    ancestors: dict[str, str | None] = {}
    # A path joined to the base's authority needs step 4 only, unless step 3
    # changes that authority (a trailing dot on the host): then all of them.
    normal_authority = _normalize_serialized(directory) == directory

    def finish(joined: str) -> str | None:
        # Steps 2-4 of the base's origin or a directory of it joined to a
        # path (and query) without a fragment.
        if not normal_authority:
            return _normalize_serialized(joined)
        return joined if "?" not in joined else _without_tracking(joined)

    def resolve_one(href: str) -> str | None:
        # The fragment, which normalization drops, starts at the first "#": the
        # WHATWG parser turns to the fragment state on "#" in every state an
        # http(s) URL goes through before it.
        reference = href.split("#", 1)[0] if "#" in href else href
        if href.startswith(("http://", "https://")):
            unparsed = _normalize_unparsed(reference)
            if unparsed is not None:
                return unparsed[0]
            absolute = resolve(href)
            return None if absolute is None else _normalize_serialized(absolute)
        if reference and _SIMPLE_RELATIVE.fullmatch(reference):
            return finish((origin if reference[0] == "/" else directory) + reference)
        dots = _LEADING_DOT_SEGMENTS.match(reference)
        if dots is not None:
            rest = reference[dots.end() :]
            if not rest or (rest[0] != "/" and _SIMPLE_RELATIVE.fullmatch(rest)):
                prefix = dots.group()
                ancestor = ancestors.get(prefix, "")
                if ancestor == "":
                    ancestor = ancestors[prefix] = resolve(prefix, base)
                if ancestor is not None:
                    return finish(ancestor + rest)
        return resolve_and_normalize(href, base)

    return resolve_one


def host_of(url: str) -> str:
    """The host of a normalized URL (no port, punycode, brackets kept for IPv6).

    Returns ``""`` if ``url`` cannot be parsed.
    """
    unparsed = _normalize_unparsed(url)
    if unparsed is not None:
        return unparsed[1]
    try:
        return parse_url(url, ("hostname",))["hostname"]
    except _PARSE_ERRORS:
        return ""


def is_ip_host(host: str) -> bool:
    """True for an IPv4 address or a bracketed/bare IPv6 address."""
    # An IPv4 address ends in a decimal digit and an IPv6 address holds a colon:
    # anything else is a name, known without the cost of two failed parses.
    if ":" not in host and not host[-1:].isdigit():
        return False
    try:
        ipaddress.ip_address(host[1:-1] if host.startswith("[") else host)
    except ValueError:
        return False
    return True


@lru_cache(maxsize=200_000)
def registered_domain(host: str) -> str:
    """The registered domain (public suffix + one label) of a normalized host.

    Uses the Public Suffix List including its private section. An IP address,
    a host with no public suffix (``localhost``, an unknown TLD), or a host that
    is itself a public suffix is its own registered domain. The host is expected
    in normalized form (lowercase, punycode); other case is lowered first.
    """
    host = host.lower()
    if not host or is_ip_host(host):
        return host
    domain = _PSL.extract_str(host).top_domain_under_public_suffix
    return domain or host


@lru_cache(maxsize=200_000)
def reverse_host(host: str) -> str:
    """The host with its labels reversed (``www.example.com`` → ``com.example.www``).

    Sorting by reversed host keeps a domain and all its subdomains in one
    contiguous range of the index. IP addresses are returned unchanged.
    """
    if is_ip_host(host):
        return host
    return ".".join(reversed(host.split(".")))
