"""Where each link sits, the text around it, the page facts (docs/edges.md#where-a-link-sits)."""

from __future__ import annotations

import time

import pytest

from crawler.context import CONTEXT_MAX_CHARS, count_words
from crawler.extract import Extraction, extract_links
from linkcore.records import LOCATIONS, Link

PAGE = "https://www.example.com/"


def extract(body: str) -> Extraction:
    return extract_links(f"<html><body>{body}</body></html>", PAGE, PAGE)


def placed(body: str) -> dict[str, tuple[str, str, str]]:
    """(location, text_before, text_after) of each ``a`` edge, by target path."""
    return {
        link.target_url.removeprefix(PAGE): (link.location, link.text_before, link.text_after)
        for link in extract(body).links
        if link.kind == "a"
    }


def location(body: str) -> str:
    links = extract(body).links
    assert len(links) == 1, links
    return links[0].location


# -- location ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("element", "expected"),
    [
        ("nav", "nav"),
        ("header", "header"),
        ("footer", "footer"),
        ("aside", "aside"),
        ("main", "content"),
        ("article", "content"),
    ],
)
def test_every_landmark_element(element: str, expected: str) -> None:
    assert location(f'<{element}><p>x <a href="/x">x</a></p></{element}>') == expected


@pytest.mark.parametrize(
    ("role", "expected"),
    [
        ("navigation", "nav"),
        ("banner", "header"),
        ("contentinfo", "footer"),
        ("complementary", "aside"),
        ("main", "content"),
        ("article", "content"),
        ("NAVIGATION", "nav"),
        ("presentation navigation", "nav"),  # fallbacks: the first known role applies
    ],
)
def test_every_landmark_role(role: str, expected: str) -> None:
    assert location(f'<div role="{role}"><span><a href="/x">x</a></span></div>') == expected


def test_the_nearest_landmark_wins() -> None:
    assert location('<article><nav><a href="/x">x</a></nav></article>') == "nav"
    assert location('<nav><article><a href="/x">x</a></article></nav>') == "content"
    assert location('<footer><div role="complementary"><a href="/x">x</a></div></footer>') == (
        "aside"
    )


def test_links_outside_any_landmark_are_other() -> None:
    assert location('<div><p><a href="/x">x</a></p></div>') == "other"
    assert location('<a href="/x">x</a>') == "other"
    assert location('<div role="button"><a href="/x">x</a></div>') == "other"


@pytest.mark.parametrize(
    ("attribute", "expected"),
    [
        ('id="footer"', "footer"),
        ('class="site-footer"', "footer"),
        ('class="navbar navbar-expand"', "nav"),
        ('id="main_menu"', "nav"),
        ('class="breadcrumbs"', "nav"),
        ('id="masthead"', "header"),
        ('class="sidebar widget"', "aside"),
        ('class="blogroll"', "aside"),
        ('id="content"', "content"),
        ('class="entry-content"', "content"),
        ('class="post-footer"', "footer"),  # within one element, footer ranks before content
        ('class="Footer"', "footer"),
        ('class="footnote"', "other"),  # whole words only
        ('class="headline"', "other"),
        ('class="row"', "other"),
    ],
)
def test_id_and_class_conventions(attribute: str, expected: str) -> None:
    assert location(f'<div {attribute}><p><a href="/x">x</a></p></div>') == expected


def test_conventions_yield_to_landmarks_and_the_nearest_convention_wins() -> None:
    # A landmark anywhere above wins over a convention below it …
    assert location('<nav><div class="content"><a href="/x">x</a></div></nav>') == "nav"
    # … and a landmark below a convention is nearer.
    assert location('<div id="footer"><aside><a href="/x">x</a></aside></div>') == "aside"
    assert location('<div id="content"><div class="sidebar"><a href="/x">x</a></div></div>') == (
        "aside"
    )


def test_first_occurrence_gives_the_location() -> None:
    body = '<nav><a href="/x">x</a></nav><article><a href="/x">again</a></article>'
    assert placed(body) == {"x": ("nav", "", "")}


def test_canonical_edges_are_other_without_texts() -> None:
    result = extract_links(
        '<html><head><link rel="canonical" href="/c"></head><body><main>'
        '<p>see <a href="/c">c</a> now</p></main></body></html>',
        PAGE + "page",
        PAGE + "page",
    )
    by_kind = {link.kind: link for link in result.links}
    assert (by_kind["canonical"].location, by_kind["canonical"].text_before) == ("other", "")
    assert (by_kind["a"].location, by_kind["a"].text_before, by_kind["a"].text_after) == (
        "content",
        "see",
        "now",
    )
    assert set(LOCATIONS) >= {link.location for link in result.links}


def test_a_page_of_menus_landmarks_and_conventions() -> None:
    # Each element's class or id is read once per distinct value (menu-item).
    items = 300
    menu = "".join(f'<li class="menu-item"><a href="/m{i}">m</a></li>' for i in range(items))
    body = (
        f'<div id="header"><ul>{menu}</ul><nav><a href="/n">n</a></nav></div>'
        '<div class="entry-content"><p>read <a href="/c">c</a> now</p>'
        '<aside><span><a href="/s">s</a></span></aside></div>'
        '<a class="nav" href="/self">its own class does not count</a>'
        '<div role="presentation contentinfo"><a href="/f">f</a></div>'
    )
    found = placed(body)
    assert found["c"] == ("content", "read", "now")
    assert (found["n"][0], found["s"][0], found["f"][0], found["self"][0]) == (
        "nav",
        "aside",
        "footer",
        "other",
    )
    assert {found[f"m{i}"][0] for i in range(items)} == {"nav"}


# -- context -------------------------------------------------------------------


def test_context_stops_at_block_boundaries() -> None:
    body = (
        "<div>Before the block<p>Read <a href='/x'>this</a> first.</p>After the block</div>"
        "<ul><li>one</li><li><a href='/y'>two</a></li><li>three</li></ul>"
        "<table><tr><td>cell <a href='/z'>z</a></td><td>next cell</td></tr></table>"
        "<h2>Heading <a href='/h'>h</a> end</h2><p>para</p>"
    )
    assert placed(body) == {
        "x": ("other", "Read", "first."),
        "y": ("other", "", ""),
        "z": ("other", "cell", ""),
        "h": ("other", "Heading", "end"),
    }


def test_context_in_the_nearest_non_inline_ancestor() -> None:
    # Text straight in a <div>, beside blocks: the run around the link only.
    body = "<div>intro<p>para</p>Call <a href='/x'>us</a> today<p>more</p>tail</div>"
    assert placed(body) == {"x": ("other", "Call", "today")}


def test_inline_markup_inside_the_surrounding_text() -> None:
    body = (
        "<p>The <b>very <i>best</i></b> <span>guide</span> is <a href='/x'>here</a>"
        "<em>, says</em> <a href='/y'>someone</a> <img src=x.png> else.<br>Next line"
        "<script>var hidden = 1;</script></p>"
    )
    assert placed(body) == {
        "x": ("other", "The very best guide is", ", says someone else. Next line"),
        "y": ("other", "The very best guide is here, says", "else. Next line"),
    }


def test_link_inside_inline_markup_reads_past_it() -> None:
    body = "<p>Start <strong>bold <a href='/x'>link</a> more</strong> end</p>"
    assert placed(body) == {"x": ("other", "Start bold", "more end")}


def test_whitespace_collapses_as_for_anchors() -> None:
    body = "<p>  a\n\t b&nbsp;c   <a href='/x'>x</a>\n\n d  </p>"
    assert placed(body) == {"x": ("other", "a b c", "d")}


def test_texts_are_cut_at_100_characters() -> None:
    words = " ".join(f"w{i:03d}" for i in range(200))
    body = f"<p>{words} <a href='/x'>x</a> {words}</p>"
    _, before, after = placed(body)["x"]
    # At most 100 characters; a cut that ends on a space drops it.
    for text in (before, after):
        assert CONTEXT_MAX_CHARS - 1 <= len(text) <= CONTEXT_MAX_CHARS
    # The text nearest the link is kept: the end before it, the start after it.
    assert before.endswith("w198 w199") and words.endswith(before)
    assert after.startswith("w000 w001") and words.startswith(after)


def test_short_texts_are_kept_whole() -> None:
    assert placed("<p>a <a href='/x'>x</a> b</p>") == {"x": ("other", "a", "b")}


# -- hostile markup ------------------------------------------------------------


def test_deep_nesting_stays_bounded() -> None:
    depth = 5_000
    body = "<div>" * depth + "<span>" * depth + "t <a href='/x'>x</a> u" + "</span>" * depth
    started = time.process_time()
    result = extract(body)
    assert time.process_time() - started < 10
    assert [link.location for link in result.links] == ["other"]
    assert len(result.links[0].text_before) <= CONTEXT_MAX_CHARS


def test_deep_nesting_under_a_landmark() -> None:
    depth = 3_000
    body = "<nav>" + "<div>" * depth + "".join(f"<a href='/{i}'>{i}</a>" for i in range(500))
    started = time.process_time()
    result = extract(body)
    assert time.process_time() - started < 10
    assert {link.location for link in result.links} == {"nav"}


def test_huge_text_stays_bounded() -> None:
    huge = "word " * 400_000
    links = "".join(f"<a href='/{i}'>{i}</a><span>{huge[:50_000]}</span>" for i in range(200))
    body = f"<p>{huge}<a href='/x'>x</a>{huge}{links}</p>"
    started = time.process_time()
    result = extract(body)
    assert time.process_time() - started < 20
    assert all(len(link.text_before) <= CONTEXT_MAX_CHARS for link in result.links)
    assert all(len(link.text_after) <= CONTEXT_MAX_CHARS for link in result.links)
    first = result.links[0]
    assert first.text_before.endswith("word word") and len(first.text_before) == 99


def test_many_empty_links_beside_a_huge_inline_element() -> None:
    # Each link's walk passes its empty neighbours to the huge span: bounded
    # by the steps per side and the page's budget of characters read.
    huge = "<span>" + "x" * 2_000_000 + "</span>"
    body = "<p>" + huge + "".join(f"<a href='/{i}'></a>" for i in range(5_000)) + "</p>"
    started = time.process_time()
    result = extract(body)
    assert time.process_time() - started < 20
    assert len(result.links) == 5_000


# -- page facts ----------------------------------------------------------------


def test_page_facts() -> None:
    html = (
        '<html lang=" EN-gb "><head><title>  The\n title </title>'
        "<script>var a = 'not words';</script></head><body><header>Site name</header>"
        "<p>One two three.</p><div>four</div><div>five</div>"
        "<script>more hidden words</script><style>.x{color:red}</style></body></html>"
    )
    result = extract_links(html, PAGE, PAGE)
    assert (result.title, result.lang, result.words) == ("The title", "en-gb", 7)


def test_noindex_from_meta_or_caller() -> None:
    meta = '<html><head><meta name="robots" content="noindex, follow"></head><body></body></html>'
    assert extract_links(meta, PAGE, PAGE).robots_noindex
    assert not extract_links(meta, PAGE, PAGE).robots_nofollow
    none = '<html><head><meta name="robots" content="none"></head></html>'
    assert extract_links(none, PAGE, PAGE).robots_noindex
    assert extract_links("<p>x</p>", PAGE, PAGE, robots_noindex=True).robots_noindex
    assert not extract_links("<p>x</p>", PAGE, PAGE).robots_noindex


@pytest.mark.parametrize(
    "text", ["", " ", "a", " a  b\tc\n", "é a\u00a0b\u3000c", "x\x01y z", "\x1ca\x1fb", "日本 語"]
)
def test_count_words_is_str_split(text: str) -> None:
    assert count_words(text) == len(text.split())


def test_link_defaults_are_those_of_a_version_1_record() -> None:
    link = Link("https://x.example/")
    assert (link.location, link.text_before, link.text_after) == ("other", "", "")
