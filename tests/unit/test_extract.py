"""Which links are edges (docs/edges.md): extraction from HTML, by hand-written cases.

Every expected value here is written out by hand from docs/edges.md and the HTML and
URL standards; none is computed with the code under test.
"""

from __future__ import annotations

import time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from selectolax.lexbor import LexborHTMLParser

from crawler import extract as extract_module
from crawler.extract import (
    Extraction,
    extract_links,
    meta_robots_nofollow,
    parse_rel,
    robots_header_nofollow,
)
from linkcore.records import Link

PAGE = "https://www.example.com/dir/page.html"


def extract(
    body: str, url: str = PAGE, *, robots_nofollow: bool = False, max_links: int = 20_000
) -> Extraction:
    return extract_links(body, url, url, robots_nofollow=robots_nofollow, max_links=max_links)


def targets(result: Extraction) -> list[str]:
    return [link.target_url for link in result.links]


def one(body: str) -> Link:
    result = extract(body)
    assert len(result.links) == 1, result.links
    return result.links[0]


# -- resolution and normalization of hrefs ------------------------------------------


@pytest.mark.parametrize(
    ("href", "target"),
    [
        # relative
        ("other.html", "https://www.example.com/dir/other.html"),
        ("./other.html", "https://www.example.com/dir/other.html"),
        ("../up.html", "https://www.example.com/up.html"),
        ("../../../../above-root", "https://www.example.com/above-root"),
        ("/root/x", "https://www.example.com/root/x"),
        ("?page=2", "https://www.example.com/dir/page.html?page=2"),
        ("sub/", "https://www.example.com/dir/sub/"),
        # absolute and protocol-relative
        ("https://other.example.org/path", "https://other.example.org/path"),
        ("http://other.example.org", "http://other.example.org/"),
        ("//cdn.example.org/lib.js", "https://cdn.example.org/lib.js"),
        ("https:same-scheme-relative", "https://www.example.com/dir/same-scheme-relative"),
        # default ports
        ("http://example.org:80/a", "http://example.org/a"),
        ("https://example.org:443/a", "https://example.org/a"),
        ("http://example.org:8080/a", "http://example.org:8080/a"),
        ("https://example.org:80/a", "https://example.org:80/a"),
        # case and trailing dots in hosts, case kept in paths
        ("HTTP://WWW.EXAMPLE.ORG/Path/File.HTML", "http://www.example.org/Path/File.HTML"),
        ("https://example.org./a", "https://example.org/a"),
        ("https://Example.ORG.:8443/a", "https://example.org:8443/a"),
        # fragments
        ("/a#section", "https://www.example.com/a"),
        ("other.html#", "https://www.example.com/dir/other.html"),
        # tracking parameters
        ("/a?utm_source=news&id=7&fbclid=abc", "https://www.example.com/a?id=7"),
        ("/a?UTM_Campaign=x", "https://www.example.com/a"),
        ("/a?b=2&a=1&gclid=z", "https://www.example.com/a?b=2&a=1"),
        # whitespace in hrefs: trimmed at the ends, tabs and newlines removed inside
        ("  /spaced  ", "https://www.example.com/spaced"),
        ("\n\t/lines\n", "https://www.example.com/lines"),
        ("/a\tb\nc", "https://www.example.com/abc"),
        ("/a b", "https://www.example.com/a%20b"),
        # backslashes are slashes in http(s) URLs
        ("\\\\other.org\\x\\y", "https://other.org/x/y"),
        ("/a\\b", "https://www.example.com/a/b"),
        # international names and paths
        ("https://münchen.de/straße", "https://xn--mnchen-3ya.de/stra%C3%9Fe"),
        ("/ü", "https://www.example.com/%C3%BC"),
        # the HTML parser decodes character references in attributes
        ("&#104;ttp://x.example.org/", "http://x.example.org/"),
        ("/a?x=1&amp;y=2", "https://www.example.com/a?x=1&y=2"),
        ("/a?x=1&y=2", "https://www.example.com/a?x=1&y=2"),
    ],
)
def test_href_resolution(href: str, target: str) -> None:
    assert one(f'<a href="{href}">t</a>').target_url == target


def test_unquoted_and_uppercase_attributes() -> None:
    result = extract("<A HREF=/upper>u</A><a href=/unquoted>q</a>")
    assert targets(result) == [
        "https://www.example.com/upper",
        "https://www.example.com/unquoted",
    ]


def test_duplicate_attribute_first_wins() -> None:
    assert one('<a href="/first" href="/second">t</a>').target_url == (
        "https://www.example.com/first"
    )


# -- the base URL -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("head", "target"),
    [
        ('<base href="/base/">', "https://www.example.com/base/x"),
        ('<base href="sub/">', "https://www.example.com/dir/sub/x"),
        ('<base href="../">', "https://www.example.com/x"),
        ('<base href="https://cdn.example.org/assets/">', "https://cdn.example.org/assets/x"),
        ('<base href="//cdn.example.org/a/">', "https://cdn.example.org/a/x"),
        ('<base href="http://cdn.example.org/a/b">', "http://cdn.example.org/a/x"),
        # only the first <base> with an href counts
        ('<base href="/one/"><base href="/two/">', "https://www.example.com/one/x"),
        ('<base target="_blank"><base href="/two/">', "https://www.example.com/two/x"),
        # a base that does not parse, or is data:/javascript:, leaves the response URL
        ('<base href="http://[bad/">', "https://www.example.com/dir/x"),
        ('<base href="javascript:void(0)">', "https://www.example.com/dir/x"),
        ('<base href="data:text/html,hi">', "https://www.example.com/dir/x"),
    ],
)
def test_base_href(head: str, target: str) -> None:
    assert one(f'<html><head>{head}</head><body><a href="x">x</a>').target_url == target


def test_base_applies_to_links_before_it() -> None:
    body = '<a href="x">before</a><base href="/late/"><a href="y">after</a>'
    assert targets(extract(body)) == [
        "https://www.example.com/late/x",
        "https://www.example.com/late/y",
    ]


def test_base_with_a_non_http_scheme_drops_relative_links() -> None:
    result = extract('<base href="ftp://files.example.org/"><a href="x">x</a>')
    assert result.links == []
    assert result.dropped == 1


def test_unparsable_response_url_keeps_absolute_links() -> None:
    body = '<a href="/relative">r</a><a href="https://example.org/abs">a</a>'
    result = extract_links(body, "not a url", "not a url")
    assert targets(result) == ["https://example.org/abs"]
    assert result.dropped == 1


# -- dropped hrefs ---------------------------------------------------------------------


def test_non_http_and_unparsable_hrefs_are_dropped_and_counted() -> None:
    body = (
        '<a href="mailto:someone@example.com">mail</a>'
        '<a href="MAILTO:x@example.com">mail</a>'
        '<a href="javascript:void(0)">js</a>'
        '<a href=" JavaScript:alert(1)">js</a>'
        '<a href="tel:+15551234">tel</a>'
        '<a href="data:text/html,hello">data</a>'
        '<a href="ftp://files.example.org/">ftp</a>'
        '<a href="http://[::1/">bad ipv6</a>'
        '<a href="http://exa mple.org/">space in host</a>'
        '<a href="https://ok.example.org/">ok</a>'
        '<link rel="canonical" href="mailto:c@example.com">'
    )
    result = extract(body)
    assert targets(result) == ["https://ok.example.org/"]
    assert result.dropped == 10


# -- self-links -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "href",
    [
        "",
        "#",
        "#top",
        "page.html",
        "page.html#comments",
        "./page.html?utm_source=x",
        "https://WWW.EXAMPLE.COM:443/dir/page.html",
        "//www.example.com./dir/page.html",
    ],
)
def test_self_links_are_dropped_not_counted(href: str) -> None:
    result = extract(f'<a href="{href}">self</a>')
    assert result.links == []
    assert result.dropped == 0


def test_self_link_uses_the_normalized_source() -> None:
    response_url = "https://www.example.com/dir/page.html?utm_source=feed"
    result = extract_links('<a href="">self</a>', response_url, PAGE)
    assert result.links == []


def test_same_path_other_query_is_not_a_self_link() -> None:
    assert one('<a href="?a=1">q</a>').target_url == PAGE + "?a=1"


# -- merging -----------------------------------------------------------------------------


def test_duplicates_merge_first_occurrence_wins() -> None:
    body = (
        '<a href="/a" rel="nofollow">First</a>'
        '<a href="/a">Second</a>'
        '<a href="/a#frag" rel="sponsored">Third</a>'
        '<a href="https://www.example.com/a?utm_medium=x"><img alt="Fourth"></a>'
    )
    assert extract(body).links == [
        Link(
            "https://www.example.com/a",
            "a",
            anchor="First",
            image=False,
            nofollow=True,
            ugc=False,
            sponsored=False,
            link_count=4,
            text_after="SecondThird",  # adjacent links: no space between them
        )
    ]


def test_links_in_document_order_of_first_occurrence() -> None:
    body = (
        '<link rel="canonical" href="/canonical">'
        '<a href="/b">b</a><a href="/a">a</a><a href="/b">b again</a><a href="/c">c</a>'
    )
    result = extract(body)
    assert [(link.target_url, link.kind, link.link_count) for link in result.links] == [
        ("https://www.example.com/canonical", "canonical", 1),
        ("https://www.example.com/b", "a", 2),
        ("https://www.example.com/a", "a", 1),
        ("https://www.example.com/c", "a", 1),
    ]


def test_empty_text_first_occurrence_stays_empty() -> None:
    link = one('<a href="/e"></a><a href="/e">later text</a>')
    assert (link.anchor, link.image, link.link_count) == ("", False, 2)


# -- area and canonical ---------------------------------------------------------------


def test_area_is_an_a_edge() -> None:
    body = '<img usemap="#m"><map name="m"><area shape="rect" href="/area" alt="Region"></map>'
    assert extract(body).links == [
        Link("https://www.example.com/area", "a", anchor="", image=False, link_count=1)
    ]


def test_area_without_href_is_not_an_edge() -> None:
    assert extract('<map><area shape="rect" alt="none"></map>').links == []


@pytest.mark.parametrize(
    "rel",
    ["canonical", "Canonical", "CANONICAL", " canonical ", "alternate canonical", "x,canonical"],
)
def test_canonical(rel: str) -> None:
    assert one(f'<head><link rel="{rel}" href="/canon"></head>') == Link(
        "https://www.example.com/canon", "canonical", anchor="", image=False, link_count=1
    )


def test_canonical_repeated_counts_once_and_lives_beside_a() -> None:
    body = (
        '<link rel="canonical" href="/c"><link rel="canonical" href="/c">'
        '<body><link rel="canonical" href="/c"><a href="/c">Same target</a>'
    )
    assert extract(body).links == [
        Link("https://www.example.com/c", "canonical", anchor="", link_count=1),
        Link("https://www.example.com/c", "a", anchor="Same target", link_count=1),
    ]


def test_canonical_to_self_is_dropped() -> None:
    body = '<link rel="canonical" href="https://www.example.com/dir/page.html">'
    assert extract(body).links == []


@pytest.mark.parametrize(
    "tag",
    [
        '<link rel="stylesheet" href="/s.css">',
        '<link rel="alternate" href="/feed">',
        '<link rel="canonicalize" href="/x">',
        '<link rel="canonical">',
        '<a name="anchor-only">no href</a>',
    ],
)
def test_not_edges(tag: str) -> None:
    assert extract(tag).links == []


# -- anchor text ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("inner", "anchor"),
    [
        ("Plain", "Plain"),
        ("  Hello   world  ", "Hello world"),
        ("\n\tHello\r\n\t world\n", "Hello world"),
        ("Hello <b>bold <i>italic</i></b>!", "Hello bold italic!"),
        ("<span>a</span><span>b</span>", "ab"),
        ("<div><p>Block</p> <p>text</p></div>", "Block text"),
        ("a<!-- comment -->b", "ab"),
        ("&nbsp;Hello&nbsp;&nbsp;world&nbsp;", "Hello world"),
        ("Caf&eacute; &amp; bar", "Café & bar"),
        ("Ideographic\u3000space", "Ideographic space"),
        ("Text <img alt='Alt'>", "Text"),
    ],
)
def test_anchor_text(inner: str, anchor: str) -> None:
    link = one(f'<a href="/t">{inner}</a>')
    assert (link.anchor, link.image) == (anchor, False)


def test_anchor_cut_to_512_characters() -> None:
    assert one('<a href="/x">' + "x" * 600 + "</a>").anchor == "x" * 512
    assert one('<a href="/w">' + "word " * 200 + "</a>").anchor == "word " * 102 + "wo"
    # Collapsing comes before the cut: 1000 "ab " runs of spaces and newlines.
    assert one('<a href="/s">' + "ab \n  " * 1000 + "</a>").anchor == "ab " * 170 + "ab"


def test_anchor_whitespace_runs_of_any_length() -> None:
    assert one('<a href="/g">a' + " " * 100_000 + "b</a>").anchor == "a b"


@pytest.mark.parametrize(
    ("inner", "anchor"),
    [
        ('<img src="logo.png" alt="Example logo">', "Example logo"),
        ('<img alt="  Spaced&nbsp;&nbsp;out\n alt ">', "Spaced out alt"),
        ('<img src="x.png" alt="">', ""),
        ('<img src="x.png">', ""),
        ('<img alt="First"><img alt="Second">', "First"),
        ('<img><img alt="Second">', ""),
        ('<span><picture><img alt="Deep"></picture></span>', "Deep"),
        ('  \n <img alt="After whitespace">  ', "After whitespace"),
        ('&nbsp;<img alt="After nbsp">', "After nbsp"),
        ('<img alt="' + "y" * 600 + '">', "y" * 512),
    ],
)
def test_image_links(inner: str, anchor: str) -> None:
    link = one(f'<a href="/i">{inner}</a>')
    assert (link.anchor, link.image) == (anchor, True)


def test_text_beats_image() -> None:
    link = one('<a href="/t"><img alt="Alt text">Visible</a>')
    assert (link.anchor, link.image) == ("Visible", False)


def test_no_text_no_image() -> None:
    link = one('<a href="/n"><span></span></a>')
    assert (link.anchor, link.image) == ("", False)


# -- rel flags and robots --------------------------------------------------------------


@pytest.mark.parametrize(
    ("rel", "flags"),
    [
        ("", (False, False, False)),
        ("nofollow", (True, False, False)),
        ("NoFollow", (True, False, False)),
        ("NOFOLLOW", (True, False, False)),
        ("noopener nofollow", (True, False, False)),
        ("noopener noreferrer", (False, False, False)),
        ("ugc", (False, True, False)),
        ("sponsored", (False, False, True)),
        ("ugc,sponsored", (False, True, True)),
        ("sponsored, nofollow", (True, False, True)),
        ("\tUGC\nnofollow ", (True, True, False)),
        ("nofollow,ugc,sponsored", (True, True, True)),
        ("nofollowed ugcx sponsor", (False, False, False)),
    ],
)
def test_rel_flags(rel: str, flags: tuple[bool, bool, bool]) -> None:
    assert parse_rel(rel) == flags
    link = one(f'<a href="/r" rel="{rel}">r</a>')
    assert (link.nofollow, link.ugc, link.sponsored) == flags


def test_rel_flags_on_canonical() -> None:
    link = one('<link rel="canonical nofollow" href="/c">')
    assert (link.kind, link.nofollow) == ("canonical", True)


@pytest.mark.parametrize(
    ("meta", "nofollow"),
    [
        ('<meta name="robots" content="nofollow">', True),
        ('<meta name="robots" content="none">', True),
        ('<meta name="robots" content="NOFOLLOW">', True),
        ('<meta name="ROBOTS" content="NoIndex, NoFollow">', True),
        ('<meta name="Robots" content="noindex,nofollow">', True),
        ('<meta name="robots" content="noarchive nofollow">', True),
        ('<meta name="linkgraph" content="nofollow">', True),
        ('<meta name="robots" content="noindex, follow">', False),
        ('<meta name="robots" content="index">', False),
        ('<meta name="robots" content="nofollowing">', False),
        ('<meta name="robots">', False),
        ('<meta name="googlebot" content="nofollow">', False),
        ('<meta content="nofollow">', False),
        ('<meta property="robots" content="nofollow">', False),
        ('<meta name="description" content="nofollow">', False),
        ('<meta name="robots" content="index"><meta name="robots" content="nofollow">', True),
    ],
)
def test_meta_robots(meta: str, nofollow: bool) -> None:
    body = (
        f'<html><head>{meta}<link rel="canonical" href="/canon"></head>'
        '<body><a href="/a" rel="ugc">a</a><a href="/b">b</a>'
    )
    result = extract(body)
    assert result.robots_nofollow is nofollow
    assert len(result.links) == 3
    assert all(link.nofollow is nofollow for link in result.links)
    assert [link.ugc for link in result.links] == [False, True, False]


def test_meta_robots_in_body_counts() -> None:
    result = extract('<a href="/a">a</a><meta name="robots" content="nofollow">')
    assert result.robots_nofollow is True
    assert result.links[0].nofollow is True


def test_header_nofollow_marks_every_edge() -> None:
    body = '<link rel="canonical" href="/c"><a href="/a">a</a><a href="/b" rel="nofollow">b</a>'
    result = extract(body, robots_nofollow=True)
    assert result.robots_nofollow is True
    assert [link.nofollow for link in result.links] == [True, True, True]


@pytest.mark.parametrize(
    ("content", "nofollow"),
    [
        ("nofollow", True),
        ("none", True),
        ("NONE", True),
        ("noindex,nofollow", True),
        ("noindex, nofollow", True),
        ("noindex nofollow", True),
        ("noindex", False),
        ("all", False),
        ("", False),
    ],
)
def test_meta_robots_nofollow(content: str, nofollow: bool) -> None:
    assert meta_robots_nofollow(content) is nofollow


@pytest.mark.parametrize(
    ("values", "nofollow"),
    [
        ([], False),
        (["nofollow"], True),
        (["NoFollow"], True),
        (["none"], True),
        (["noindex, nofollow"], True),
        (["noindex,nofollow"], True),
        (["noindex"], False),
        (["noarchive", "nofollow"], True),
        (["linkgraph: nofollow"], True),
        (["LinkGraph: none"], True),
        (["linkgraph:nofollow"], True),
        (["googlebot: nofollow"], False),
        (["googlebot: noindex, nofollow"], False),
        (["googlebot: noindex", "nofollow"], True),
        (["googlebot: nofollow, linkgraph: noindex"], False),
        (["googlebot: noindex, linkgraph: nofollow"], True),
        (["nofollow, googlebot: noindex"], True),
        (["unavailable_after: 25 Jun 2010 15:00:00 PST"], False),
        (["unavailable_after: 25 Jun 2010 15:00:00 PST, nofollow"], True),
        (["max-snippet: 20, nofollow"], True),
        (["max-image-preview: large"], False),
    ],
)
def test_x_robots_tag(values: list[str], nofollow: bool) -> None:
    assert robots_header_nofollow(values) is nofollow


def test_x_robots_tag_other_token() -> None:
    assert robots_header_nofollow(["otherbot: nofollow"], token="OtherBot") is True
    assert robots_header_nofollow(["otherbot: nofollow"]) is False


# -- malformed HTML, parsed as browsers parse it --------------------------------------


def test_unclosed_tags() -> None:
    # The <a> is never closed: it holds the paragraph after it until the end.
    result = extract('<div><a href="/u">one<p>two<div>three')
    assert [(link.target_url, link.anchor) for link in result.links] == [
        ("https://www.example.com/u", "onetwothree")
    ]


def test_an_a_start_tag_closes_the_open_a() -> None:
    result = extract('<a href="/n1">one<a href="/n2">two</a>three</a><a href="/n3">four</a>')
    assert [(link.target_url, link.anchor) for link in result.links] == [
        ("https://www.example.com/n1", "one"),
        ("https://www.example.com/n2", "two"),
        ("https://www.example.com/n3", "four"),
    ]


def test_an_a_closed_by_a_block_is_reopened_inside_it() -> None:
    # Adoption agency: the <div> ends up inside a clone of the <a>.
    result = extract('<a href="/x">one<div>two</a>three</div>')
    assert [(link.target_url, link.anchor, link.link_count) for link in result.links] == [
        ("https://www.example.com/x", "one", 2)
    ]


def test_link_nested_through_a_table() -> None:
    body = (
        '<a href="/outer">out<table><tr><td><a href="/inner">in</a>'
        '<img alt="pic"></td></tr></table>side</a>'
    )
    result = extract(body)
    assert [(link.target_url, link.anchor, link.image) for link in result.links] == [
        ("https://www.example.com/outer", "outinside", False),
        ("https://www.example.com/inner", "in", False),
    ]


def test_nested_image_links() -> None:
    body = '<a href="/outer"><table><tr><td><a href="/inner"><img alt="Pic"></a></table></a>'
    result = extract(body)
    assert [(link.target_url, link.anchor, link.image) for link in result.links] == [
        ("https://www.example.com/outer", "Pic", True),
        ("https://www.example.com/inner", "Pic", True),
    ]


def test_area_elements_nested_in_svg() -> None:
    # In SVG an element named area is not void: these two nest.
    body = '<svg><area href="/a1"><area href="/a2">shared</area></area></svg>'
    assert [(link.target_url, link.anchor) for link in extract(body).links] == [
        ("https://www.example.com/a1", "shared"),
        ("https://www.example.com/a2", "shared"),
    ]


def test_tag_cut_off_at_end_of_file_is_not_a_link() -> None:
    assert extract('<p>text <a href="/eof"').links == []


def test_stray_end_tags_and_junk() -> None:
    body = '</a></p><a href="/ok">ok</a></b></i><<>><a href="/ok2">ok2'
    assert targets(extract(body)) == [
        "https://www.example.com/ok",
        "https://www.example.com/ok2",
    ]


def test_links_in_svg_noscript_but_not_template() -> None:
    body = (
        '<svg><a href="/svg"><text>In SVG</text></a></svg>'
        '<noscript><a href="/noscript">No script</a></noscript>'
        '<template><a href="/template">Inert</a></template>'
    )
    assert [(link.target_url, link.anchor) for link in extract(body).links] == [
        ("https://www.example.com/svg", "In SVG"),
        ("https://www.example.com/noscript", "No script"),
    ]


def test_link_in_selected_option_counts_once() -> None:
    body = (
        "<select><button><selectedcontent></selectedcontent></button>"
        '<option selected><a href="/opt">opt</a></option></select>'
    )
    assert one(body).link_count == 1


# -- limits and hostile pages ---------------------------------------------------------


def test_max_links_caps_and_counts() -> None:
    body = "".join(f'<a href="/{i}">{i}</a>' for i in [0, 1, 2, 3, 4, 0, 4])
    result = extract(body, max_links=3)
    assert [(link.target_url, link.link_count) for link in result.links] == [
        ("https://www.example.com/0", 2),
        ("https://www.example.com/1", 1),
        ("https://www.example.com/2", 1),
    ]
    assert result.truncated == 3


def test_max_links_zero() -> None:
    result = extract('<a href="/a">a</a><a href="mailto:x@example.com">m</a>', max_links=0)
    assert (result.links, result.truncated, result.dropped) == ([], 1, 1)


def test_100k_links_are_capped_at_the_default() -> None:
    body = "".join(f'<li><a href="/p{i}">link {i}</a>' for i in range(100_000))
    result = extract(body)
    assert len(result.links) == 20_000
    assert result.truncated == 80_000
    assert result.links[-1] == Link("https://www.example.com/p19999", "a", anchor="link 19999")


def test_large_flat_page_is_not_cut() -> None:
    # Well past the size where the nesting scan starts, but shallow.
    body = "<table>" + "".join(f'<tr><td><a href="/r{i}">r{i}</a></td></tr>' for i in range(15_000))
    assert len(extract(body).links) == 15_000


def test_deeply_nested_markup_stays_fast() -> None:
    # Tree construction walks the open elements for every <div>: quadratic.
    started = time.monotonic()
    result = extract("<div>" * 100_000 + '<a href="/deep">deep</a>')
    assert time.monotonic() - started < 10
    assert result.dropped == 0


def test_lone_surrogates_are_dropped_as_the_parser_drops_them() -> None:
    # A str can hold what UTF-8 cannot; the page is parsed without it.
    result = extract('<p>a \ud800 <a href="/a\ud800b">x\ud800y</a> z</p>')
    assert targets(result) == ["https://www.example.com/ab"]
    assert result.links[0].anchor == "xy"
    assert (result.links[0].text_before, result.links[0].text_after) == ("a", "z")


@given(st.text(alphabet=st.sampled_from("<a>\u00e9\u20ac\U0001f600\ud800 ")))
def test_tag_opens_are_counted_as_str_count_does(text: str) -> None:
    assert extract_module._count_tag_opens(text.encode("utf-8", "ignore")) == text.count("<")


def test_nested_links_without_text_stay_fast() -> None:
    body = "<svg>" + "".join(f'<a href="/s{i}">' for i in range(5_000)) + "<g></g>" * 50_000
    started = time.monotonic()
    result = extract(body)
    assert time.monotonic() - started < 10
    assert len(result.links) == 5_000


@pytest.mark.parametrize(
    "body",
    [
        "",
        "plain text, no markup",
        "<",
        "<a",
        '<a href="',
        "\x00\x01\x02<a href='/\x00'>\x00</a>",
        '<a href="/\ud800">\udfff</a>',
        "<a href='/" + "a" * 2_000_000 + "'>huge href</a>",
        "<a href='/r' rel='" + "nofollow " * 200_000 + "'>huge rel</a>",
        "<a href='/i'><img alt='" + "alt " * 500_000 + "'></a>",
        "<!--" + "<a href=/c>" * 1000,
        "<script>" + "<a href=/s>" * 1000,
        "<![CDATA[<a href=/x>]]>",
        "\ufeff<!DOCTYPE html><html><html><body><body><a href=/x>x",
    ],
)
def test_hostile_html_never_raises(body: str) -> None:
    result = extract(body)
    assert all(link.target_url.startswith("https://") for link in result.links)
    assert all(len(link.anchor) <= 512 for link in result.links)


_FRAGMENTS = st.sampled_from(
    [
        '<a href="/a">',
        '<a href="/b" rel="nofollow ugc">',
        '<a href="https://other.example.org/x?utm_source=y">',
        '<a href="mailto:x@example.com">',
        '<a href="">',
        '<a href="#frag">',
        "</a>",
        '<area href="/area">',
        '<link rel="canonical" href="/canon">',
        '<base href="/base/">',
        '<meta name="robots" content="nofollow">',
        "<table><tr><td>",
        "</td></tr></table>",
        "<svg>",
        "</svg>",
        "<div>",
        "</div>",
        "<p>",
        "<b>",
        "</b>",
        '<img alt="pic">',
        "<img>",
        "text",
        " ",
        "&nbsp;",
        "<!--c-->",
        "<script>s</script>",
        "x" * 600,
    ]
)


@settings(max_examples=300, deadline=None)
@given(st.lists(_FRAGMENTS, max_size=40).map("".join) | st.text())
def test_extraction_invariants(body: str) -> None:
    result = extract(body, max_links=5)
    keys = [(link.target_url, link.kind) for link in result.links]
    assert len(keys) == len(set(keys)) <= 5
    for link in result.links:
        assert link.target_url.startswith(("http://", "https://"))
        assert "#" not in link.target_url
        assert link.target_url != PAGE
        assert link.kind in ("a", "canonical")
        assert len(link.anchor) <= 512
        assert link.anchor == " ".join(link.anchor.split())[:512]
        assert link.link_count >= 1
        if link.kind == "canonical":
            assert (link.anchor, link.image, link.link_count) == ("", False, 1)
        if result.robots_nofollow:
            assert link.nofollow


@settings(max_examples=300, deadline=None)
@given(st.lists(_FRAGMENTS, max_size=40).map("".join))
def test_anchors_by_walk_agree_with_text_content(body: str) -> None:
    # Pages with nested links get their anchors from one walk of the tree; it
    # must give what each link's own text content gives.
    tree = LexborHTMLParser(body)
    by_text = [(node, Link("t")) for node in tree.css("a[href], area[href]")]
    by_walk = [(node, Link("t")) for node in tree.css("a[href], area[href]")]
    extract_module._anchors_by_text(by_text)
    assert tree.root is not None
    extract_module._anchors_by_walk(tree.root, by_walk)
    assert [(link.anchor, link.image) for _, link in by_walk] == [
        (link.anchor, link.image) for _, link in by_text
    ]
