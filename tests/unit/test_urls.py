"""URL normalization, registered domains and reversed hosts (docs/urls.md).

Hand-written cases for each normalization step, then properties that must hold
for any input at all: normalize() never raises, is idempotent, and only ever
returns http(s) URLs without a fragment.
"""

from __future__ import annotations

import ipaddress

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from linkcore import urls
from linkcore.urls import (
    host_of,
    is_ip_host,
    normalize,
    registered_domain,
    resolve,
    resolve_and_normalize,
    reverse_host,
    strip_tracking,
)

# -- step 1: WHATWG parse and serialize ----------------------------------------


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("HTTP://WWW.EXAMPLE.COM/", "http://www.example.com/"),
        ("hTTps://Example.Com/Path", "https://example.com/Path"),
        ("http://example.com", "http://example.com/"),
        ("http://example.com:80/a", "http://example.com/a"),
        ("https://example.com:443/a", "https://example.com/a"),
        ("https://example.com:8443/a", "https://example.com:8443/a"),
        ("http://example.com:443/", "http://example.com:443/"),
        ("http://example.com/a/./b/../c", "http://example.com/a/c"),
        ("http://example.com/a/b/../../../..", "http://example.com/"),
        ("http://example.com/a b", "http://example.com/a%20b"),
        ("http://example.com/p?q=a b", "http://example.com/p?q=a%20b"),
        ("http://example.com\\a\\b", "http://example.com/a/b"),
        ("  http://example.com/x  ", "http://example.com/x"),
        ("http://exa\tmple.com/x\n", "http://example.com/x"),
        ("https://example.com/%7Efoo", "https://example.com/%7Efoo"),
        ("http://ex%61mple.com/", "http://example.com/"),
        ("http://[2001:DB8::1]:80/", "http://[2001:db8::1]/"),
        ("http://0x7f.1/", "http://127.0.0.1/"),
        ("http://user:pw@Example.com/", "http://user:pw@example.com/"),
    ],
)
def test_whatwg_serialization(url: str, expected: str) -> None:
    assert normalize(url) == expected


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("https://münchen.de/", "https://xn--mnchen-3ya.de/"),
        ("https://MÜNCHEN.DE/Straße", "https://xn--mnchen-3ya.de/Stra%C3%9Fe"),
        ("http://例え.テスト/", "http://xn--r8jz45g.xn--zckzah/"),
        ("http://пример.рф/", "http://xn--e1afmkfd.xn--p1ai/"),
        ("http://xn--mnchen-3ya.de/", "http://xn--mnchen-3ya.de/"),
    ],
)
def test_international_hosts_become_punycode(url: str, expected: str) -> None:
    assert normalize(url) == expected


@pytest.mark.parametrize(
    "url",
    [
        "",
        "not a url",
        "/relative/path",
        "//example.com/protocol-relative",
        "http://",
        "http://exa mple.com/",
        "http://[::1/",
        "mailto:someone@example.com",
        "javascript:alert(1)",
        "tel:+123",
        "data:text/html,hi",
        "ftp://example.com/",
        "file:///etc/passwd",
        "ws://example.com/",
    ],
)
def test_not_an_http_url_is_none(url: str) -> None:
    assert normalize(url) is None


# -- steps 2 and 3: fragment, trailing dot --------------------------------------


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("http://example.com/page#section", "http://example.com/page"),
        ("http://example.com/page#", "http://example.com/page"),
        ("http://example.com/#a#b", "http://example.com/"),
        ("http://example.com/p?q=1#f", "http://example.com/p?q=1"),
        ("http://example.com/#?utm_source=x", "http://example.com/"),
    ],
)
def test_fragment_dropped(url: str, expected: str) -> None:
    assert normalize(url) == expected


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("http://example.com./", "http://example.com/"),
        ("http://Example.COM./path?q=1", "http://example.com/path?q=1"),
        ("http://example.com.:8080/", "http://example.com:8080/"),
        ("http://user:pw@example.com./", "http://user:pw@example.com/"),
        ("http://a.b:c.@example.com./", "http://a.b:c.@example.com/"),
        ("http://example.com../", "http://example.com/"),
        ("http://192.168.0.1./", "http://192.168.0.1/"),
        # Without its dots the host reads as IPv4: 0x7f is 0.0.0.127 ...
        ("http://0x7f../", "http://0.0.0.127/"),
        # ... and foo.09 is no address at all, so the dots stay.
        ("http://foo.09../", "http://foo.09../"),
    ],
)
def test_trailing_dot_dropped(url: str, expected: str) -> None:
    assert normalize(url) == expected


# -- step 4: tracking parameters -----------------------------------------------


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("http://e.com/?utm_source=news", "http://e.com/"),
        ("http://e.com/?utm_source=a&utm_medium=b&utm_campaign=c", "http://e.com/"),
        ("http://e.com/?UTM_SOURCE=a&Utm_Medium=b", "http://e.com/"),
        ("http://e.com/?utm_=x", "http://e.com/"),
        ("http://e.com/?utm_anything_at_all", "http://e.com/"),
        ("http://e.com/?gclid=1", "http://e.com/"),
        ("http://e.com/?GCLID=1&FbClId=2", "http://e.com/"),
        (
            "http://e.com/?dclid=1&fbclid=2&msclkid=3&yclid=4&mc_cid=5&mc_eid=6&_hsenc=7&_hsmi=8",
            "http://e.com/",
        ),
        ("http://e.com/?fbclid", "http://e.com/"),
        ("http://e.com/p?a=1&utm_source=x", "http://e.com/p?a=1"),
        ("http://e.com/p?utm_source=x&a=1", "http://e.com/p?a=1"),
        ("http://e.com/p?a=1&utm_source=x&b=2", "http://e.com/p?a=1&b=2"),
        ("http://e.com/p?b=2&a=1&utm_medium=y", "http://e.com/p?b=2&a=1"),
        ("http://e.com/p?A=1&a=1&utm_x=1", "http://e.com/p?A=1&a=1"),
        ("http://e.com/p?q=%41&utm_x=1", "http://e.com/p?q=%41"),
        ("http://e.com/p?a=1&a=1&gclid=z", "http://e.com/p?a=1&a=1"),
        # Empty parameters are parameters too, kept in place.
        ("http://e.com/p?a=1&&utm_x=1", "http://e.com/p?a=1&"),
        # Nothing but empty text left: the "?" goes.
        ("http://e.com/p?&utm_x=1", "http://e.com/p"),
    ],
)
def test_tracking_parameters_dropped(url: str, expected: str) -> None:
    assert normalize(url) == expected


@pytest.mark.parametrize(
    "url",
    [
        "http://e.com/?gclidx=1",
        "http://e.com/?xgclid=1",
        "http://e.com/?my_utm_source=1",
        "http://e.com/?utm=1",
        "http://e.com/?utmsource=1",
        "http://e.com/?x=utm_source",
        "http://e.com/?x=1&y=gclid",
        # The name is not decoded: %5F is not "_".
        "http://e.com/?utm%5Fsource=1",
        "http://e.com/?a=1&b=2",
        "http://e.com/?b=2&a=1",
        "http://e.com/?a=1;b=2",
        "http://e.com/?q=%7e",
    ],
)
def test_other_parameters_kept_in_order_and_spelling(url: str) -> None:
    assert normalize(url) == url


def test_bare_question_mark_dropped() -> None:
    # An empty query has no parameter left; WHATWG would keep the "?".
    assert normalize("http://e.com/p?") == "http://e.com/p"
    assert normalize("http://e.com/p?#frag") == "http://e.com/p"


def test_strip_tracking_contract() -> None:
    assert strip_tracking("") == ""
    assert strip_tracking("?") == ""
    assert strip_tracking("?utm_source=x") == ""
    assert strip_tracking("?a=1&utm_source=x&b") == "?a=1&b"
    search = "?a=1&b=2"
    assert strip_tracking(search) is search


# -- step 5: nothing else --------------------------------------------------------


@pytest.mark.parametrize(
    "url",
    [
        "http://www.example.com/",
        "http://example.com/CaseSensitive/Path.HTML",
        "http://example.com/path/",
        "http://example.com/path",
        "http://example.com/index.html",
        "http://example.com/a//b",
        "http://example.com/?z=1&a=2",
        "https://example.com/%E2%82%AC",
        "http://example.com/a%2Fb",
        "http://example.com/a;p=1",
    ],
)
def test_nothing_else_changes(url: str) -> None:
    assert normalize(url) == url


# -- resolution -------------------------------------------------------------------

BASE = "https://www.example.com/dir/page.html?q=1#top"


@pytest.mark.parametrize(
    ("href", "expected"),
    [
        ("other.html", "https://www.example.com/dir/other.html"),
        ("./other.html", "https://www.example.com/dir/other.html"),
        ("../up.html", "https://www.example.com/up.html"),
        ("/root", "https://www.example.com/root"),
        ("//cdn.example.org/x", "https://cdn.example.org/x"),
        ("?p=2", "https://www.example.com/dir/page.html?p=2"),
        ("#frag", "https://www.example.com/dir/page.html?q=1#frag"),
        ("", "https://www.example.com/dir/page.html?q=1"),
        ("http://OTHER.example.org", "http://other.example.org/"),
        ("https:rel", "https://www.example.com/dir/rel"),
        ("\\\\other.org\\x", "https://other.org/x"),
        ("mailto:a@b.c", "mailto:a@b.c"),
        ("http://[::1", None),
    ],
)
def test_resolve(href: str, expected: str | None) -> None:
    assert resolve(href, BASE) == expected


def test_resolve_with_unparsable_base_fails() -> None:
    assert resolve("/x", "not a base") is None
    assert resolve("http://example.com/", "not a base") is None


def test_resolve_without_base_needs_an_absolute_url() -> None:
    assert resolve("http://example.com/a/../b") == "http://example.com/b"
    assert resolve("/x") is None


def test_resolve_public_api_fallback(monkeypatch: pytest.MonkeyPatch) -> None:
    # The C-API fast path and ada's public join_url()/parse_url() must agree.
    hrefs = ["other.html", "//cdn.example.org/x", "../../a", "http://[::1", "\ud800", ""]
    absolute = ["HTTP://Example.com./a/../b#f", "mailto:x@y", "no", "http://\udfff/"]
    fast = [resolve(h, BASE) for h in hrefs] + [resolve(u) for u in absolute]
    monkeypatch.setattr(urls, "_ada_lib", None)
    assert [resolve(h, BASE) for h in hrefs] + [resolve(u) for u in absolute] == fast


@pytest.mark.parametrize(
    ("href", "expected"),
    [
        ("../up.html?utm_source=x#f", "https://www.example.com/up.html"),
        ("//EXAMPLE.org.:443/", "https://example.org/"),
        ("mailto:a@b.c", None),
        ("javascript:void(0)", None),
        ("http://[::1", None),
    ],
)
def test_resolve_and_normalize(href: str, expected: str | None) -> None:
    assert resolve_and_normalize(href, BASE) == expected


# -- registered domain, host, reversed host ------------------------------------


@pytest.mark.parametrize(
    ("host", "expected"),
    [
        ("example.com", "example.com"),
        ("www.example.com", "example.com"),
        ("a.b.c.example.com", "example.com"),
        ("www.bbc.co.uk", "bbc.co.uk"),
        ("bbc.co.uk", "bbc.co.uk"),
        ("co.uk", "co.uk"),
        ("alice.github.io", "alice.github.io"),
        ("bob.github.io", "bob.github.io"),
        ("www.alice.github.io", "alice.github.io"),
        ("github.io", "github.io"),
        ("x.s3.amazonaws.com", "x.s3.amazonaws.com"),
        ("192.168.0.1", "192.168.0.1"),
        ("[2001:db8::1]", "[2001:db8::1]"),
        ("localhost", "localhost"),
        ("foo.localhost", "foo.localhost"),
        ("www.example.unknowntld", "www.example.unknowntld"),
        ("www.xn--mnchen-3ya.de", "xn--mnchen-3ya.de"),
        ("www.xn--e1afmkfd.xn--p1ai", "xn--e1afmkfd.xn--p1ai"),
        ("WWW.Example.COM", "example.com"),
        ("", ""),
    ],
)
def test_registered_domain(host: str, expected: str) -> None:
    assert registered_domain(host) == expected


def test_two_github_pages_are_two_domains() -> None:
    assert registered_domain("alice.github.io") != registered_domain("bob.github.io")


@pytest.mark.parametrize(
    ("host", "expected"),
    [
        ("www.example.com", "com.example.www"),
        ("example.com", "com.example"),
        ("localhost", "localhost"),
        ("192.168.0.1", "192.168.0.1"),
        ("[2001:db8::1]", "[2001:db8::1]"),
    ],
)
def test_reverse_host(host: str, expected: str) -> None:
    assert reverse_host(host) == expected


def test_host_of() -> None:
    assert host_of("https://www.example.com:8443/p") == "www.example.com"
    assert host_of("http://[::1]:8080/") == "[::1]"
    assert host_of("not a url") == ""


@pytest.mark.parametrize(
    ("host", "expected"),
    [("1.2.3.4", True), ("[::1]", True), ("::1", True), ("example.com", False), ("", False)],
)
def test_is_ip_host(host: str, expected: bool) -> None:
    assert is_ip_host(host) is expected


@given(
    st.text()
    | st.ip_addresses().map(str)
    | st.ip_addresses(v=6).map(lambda address: f"[{address}]")
    | st.from_regex(r"[0-9.:a-f\[\]%]{1,20}", fullmatch=True)
)
@example("1.2.3.4.")
@example("1.2.3.٣")
def test_is_ip_host_agrees_with_ipaddress(host: str) -> None:
    try:
        ipaddress.ip_address(host[1:-1] if host.startswith("[") else host)
    except ValueError:
        expected = False
    else:
        expected = True
    assert is_ip_host(host) is expected


# -- properties --------------------------------------------------------------------

_LABEL = st.sampled_from(
    ["example", "EXAMPLE", "www", "bücher", "xn--bcher-kva", "a", "1", "09", "0x7f", "", "-", "co"]
)
_HOST = st.lists(_LABEL, min_size=1, max_size=4).map(".".join) | st.sampled_from(
    ["[::1]", "[2001:DB8::1]", "127.0.0.1", "example.com.", "example.com..", "%65xample.com"]
)
_SEGMENT = st.sampled_from(["a", "B", "..", ".", "", "%2e", "a b", "ü", "%", "%zz", ";x", "~"])
_PARAMETER = st.sampled_from(
    ["a=1", "utm_source=x", "UTM_Medium", "gclid", "Gclid=2", "", "=", "b", "x=utm_y", "a=1=2"]
)
_URL = st.builds(
    lambda scheme, userinfo, host, port, path, query, fragment: (
        f"{scheme}//{userinfo}{host}{port}/{'/'.join(path)}{query}{fragment}"
    ),
    st.sampled_from(["http:", "https:", "HTTP:", "ftp:", "mailto:", "javascript:"]),
    st.sampled_from(["", "user@", "user:pw@", "a.b:c.@"]),
    _HOST,
    st.sampled_from(["", ":80", ":443", ":8080", ":", ":99999"]),
    st.lists(_SEGMENT, max_size=4),
    st.one_of(st.just(""), st.lists(_PARAMETER, max_size=4).map(lambda p: "?" + "&".join(p))),
    st.sampled_from(["", "#", "#frag", "#a?b#c"]),
)
_ANY_URL = _URL | st.text()


@settings(max_examples=500)
@given(_ANY_URL)
@example("http://a/#")
@example("http://a./?&utm_x=1#")
@example("http://foo.09../")
@example("http://0x7f../")
@example("http://\ud800/")
def test_normalize_never_raises_and_is_idempotent(url: str) -> None:
    normalized = normalize(url)
    if normalized is None:
        return
    assert normalized.startswith(("http://", "https://"))
    assert "#" not in normalized
    assert normalize(normalized) == normalized


@settings(max_examples=300)
@given(_ANY_URL)
def test_normalized_urls_have_no_tracking_parameters(url: str) -> None:
    normalized = normalize(url)
    if normalized is None or "?" not in normalized:
        return
    query = normalized.split("?", 1)[1]
    assert query, "a bare '?' is dropped"
    for parameter in query.split("&"):
        name = parameter.split("=", 1)[0].lower()
        assert not name.startswith("utm_")
        assert name not in urls.TRACKING_PARAMETERS


@settings(max_examples=500)
@given(st.text() | _URL, st.text() | _URL)
@example("\ud800", "http://example.com/")
@example("/x", "\udfff")
def test_resolve_and_normalize_never_raises(href: str, base: str) -> None:
    result = resolve_and_normalize(href, base)
    assert result is None or normalize(result) == result


# -- the fast path for URLs already in normal form ---------------------------------------


def _slow_normalize(url: str) -> str | None:
    href = urls.resolve(url)
    return None if href is None else urls._normalize_serialized(href)


def _slow_host(url: str) -> str:
    from ada_url import parse_url

    try:
        return parse_url(url, ("hostname",))["hostname"]
    except ValueError:
        return ""


@settings(max_examples=3000, deadline=None)
@given(st.from_regex(urls._NORMAL_FORM, fullmatch=True))
@example("http://a.b/")
@example("http://a.b/x/./y")
@example("http://a.b/x/%2e%2E/y")
@example("http://foo.0x1f/")
@example("http://example.com/?utm_source=x")
@example("http://example.com/?")
@example("http://xn--abc.com/")
@example("https://" + "a" * 300 + ".com/%zz?%%&&")
def test_what_the_fast_path_accepts_normalize_leaves_unchanged(url: str) -> None:
    # Everything the cheap test accepts must normalize as the full
    # normalization does, with the host the parser finds.
    unparsed = urls._normalize_unparsed(url)
    if unparsed is not None:
        assert unparsed == (_slow_normalize(url), _slow_host(url))
        assert urls.host_of(url) == _slow_host(url)
    assert urls.normalize(url) == _slow_normalize(url)


@settings(max_examples=1000, deadline=None)
@given(
    st.from_regex(urls._NORMAL_FORM, fullmatch=True),
    st.lists(_PARAMETER | st.from_regex(r"[A-Za-z_]{1,8}=[a-z0-9?]{0,4}", fullmatch=True)),
)
@example("http://a.b/x", ["UTM_Medium", "a=1"])
@example("http://a.b/x", ["gclid"])
@example("http://a.b/x", ["a=1?utm_x=2"])
def test_the_fast_path_drops_tracking_parameters_as_the_parser_path_does(
    url: str, parameters: list[str]
) -> None:
    with_query = url.split("?", 1)[0] + "?" + "&".join(parameters)
    unparsed = urls._normalize_unparsed(with_query)
    if unparsed is not None:
        assert unparsed == (_slow_normalize(with_query), _slow_host(with_query))
    assert urls.normalize(with_query) == _slow_normalize(with_query)


@pytest.mark.parametrize(
    "url",
    [
        "http://www.example.com/section/1/article-1.html",
        "https://shop.example.co.uk/p?id=3&ref=home",
        "http://example.com/a%20b/c'd",
        "https://ext-1.example-2.org/path/9?id=1",
    ],
)
def test_common_normal_urls_take_the_fast_path(url: str) -> None:
    unparsed = urls._normalize_unparsed(url)
    assert unparsed is not None and unparsed[0] is url
    assert urls.normalize(url) == url


def test_tracking_parameters_go_without_a_parse() -> None:
    url = "http://example.com/?utm_campaign=x&a=1"
    assert urls._normalize_unparsed(url) == ("http://example.com/?a=1", "example.com")
    assert urls.normalize(url) == _slow_normalize(url) == "http://example.com/?a=1"


@pytest.mark.parametrize(
    "url",
    [
        "HTTP://example.com/",
        "http://Example.com/",
        "http://example.com",
        "http://example.com./",
        "http://example.com:80/",
        "http://user@example.com/",
        "http://1.2.3.4/",
        "http://example.com/a/../b",
        "http://example.com/a#frag",
        "http://example.com/?",
        "http://example.com/a b",
        "http://xn--bcher-kva.example/",
    ],
)
def test_anything_else_is_left_to_the_parser(url: str) -> None:
    assert urls._normalize_unparsed(url) is None
    assert urls.normalize(url) == _slow_normalize(url)


# -- resolver(): many hrefs against one base ----------------------------------------------

_BASES = [
    "http://example.com",
    "https://www.example.com/articles/page-1",
    "https://www.example.com/dir/sub/?q=1#frag",
    "http://user:pw@example.com:8080/a/b/c.html",
    "http://[::1]/x/",
    "http://example.com./a",
    "ftp://example.com/a/b",
    "not a url",
]
_HREFS = (
    st.from_regex(urls._SIMPLE_RELATIVE, fullmatch=True)
    | st.text(max_size=40)
    | st.sampled_from(["", "#x", "?q", "//other.example/x", "../a", "./b", "a/../../b"])
    | st.builds(lambda s: "http://" + s, st.text(max_size=30))
    | st.builds(lambda s: "https://" + s, st.text(max_size=30))
    # Absolute URLs in normal form but for a fragment or tracking parameters.
    | st.builds(
        lambda url, tail: url + tail,
        st.from_regex(urls._NORMAL_FORM, fullmatch=True),
        st.sampled_from(["", "#x", "#a?utm_x=1", "?utm_source=x", "&gclid=1", "?a=1&UTM_x"]),
    )
    # Leading dot segments, then a simple relative reference or something else.
    | st.builds(
        lambda dots, rest: dots + rest,
        st.lists(st.sampled_from(["./", "../"]), min_size=1, max_size=4).map("".join),
        st.from_regex(urls._SIMPLE_RELATIVE, fullmatch=True)
        | st.sampled_from(["", "/x", "..", ".", "a?b", "?q", "a#f", "a/../b", "%2e/x", "a?gclid"]),
    )
)


@settings(max_examples=3000, deadline=None)
@given(st.sampled_from(_BASES), _HREFS)
@example("https://www.example.com/articles/page-1", "/section/3/")
@example("https://www.example.com/articles/page-1", "story-1.html?utm_source=x&id=1#c")
@example("https://www.example.com/articles/page-1", "a:b/c")
@example("http://example.com", "http://example.com:80/a/./b/../c")
@example("not a url", "http://example.com/")
@example("https://www.example.com/dir/sub/?q=1#frag", "../../../a?utm_source=x&b=2#c")
@example("http://example.com./a", "../b/c")
@example("http://example.com./a", "/b?gclid=1")
def test_resolver_equals_resolve_and_normalize(base: str, href: str) -> None:
    assert urls.resolver(base)(href) == urls.resolve_and_normalize(href, base)


def test_resolver_without_base() -> None:
    resolve_href = urls.resolver(None)
    assert resolve_href("http://Example.com/a#b") == "http://example.com/a"
    assert resolve_href("/relative") is None
