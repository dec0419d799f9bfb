"""Fuzzing campaigns over the code that reads what strangers write.

Link extraction, URL resolution and normalization, and the Kafka page-message
decoder take input from arbitrary web pages and producers. Each must never
raise anything but its documented error, and keep its invariants. ``make
test`` runs a short campaign (``LINKGRAPH_FUZZ_EXAMPLES``, 200 examples per
target); ``make fuzz`` a long one (20,000).
"""

from __future__ import annotations

import json
import os

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from crawler.extract import extract_links
from linkcore import kafka as lgkafka
from linkcore.urls import normalize, resolve_and_normalize

EXAMPLES = int(os.environ.get("LINKGRAPH_FUZZ_EXAMPLES", "200"))
FUZZ = settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

_TAGS = st.sampled_from(
    [
        "a",
        "area",
        "link",
        "base",
        "img",
        "div",
        "table",
        "svg",
        "math",
        "template",
        "script",
        "style",
        "noscript",
        "textarea",
        "title",
        "iframe",
        "object",
        "select",
        "p",
        "li",
        "b",
    ]
)
_ATTRS = st.sampled_from(["href", "rel", "alt", "src", "name", "content", "charset", "title"])
_VALUES = st.one_of(
    st.text(max_size=40),
    st.sampled_from(
        [
            "/",
            "//x.example/",
            "javascript:alert(1)",
            "http://[::1]/",
            "http://0x7f.1/",
            "http://a\u0000b/",
            "https://xn--/",
            "nofollow ugc",
            "canonical",
            "\ud800",
            "%zz",
            "http://user:pass@host:99999/",
            "  https://EXAMPLE.com./a/../b?utm_source=x#f  ",
        ]
    ),
)


@st.composite
def _markup(draw: st.DrawFn) -> str:
    parts = []
    for _ in range(draw(st.integers(0, 30))):
        kind = draw(st.integers(0, 4))
        tag = draw(_TAGS)
        if kind == 0:
            attrs = "".join(
                f' {draw(_ATTRS)}="{draw(_VALUES)}"' for _ in range(draw(st.integers(0, 3)))
            )
            parts.append(f"<{tag}{attrs}>")
        elif kind == 1:
            parts.append(f"</{tag}>")
        elif kind == 2:
            parts.append(draw(st.text(max_size=20)))
        elif kind == 3:
            parts.append(
                draw(
                    st.sampled_from(
                        [
                            "<!--",
                            "-->",
                            "<![CDATA[",
                            "]]>",
                            "&amp;",
                            "&#0;",
                            "&nbsp;",
                            "<",
                            ">",
                            '"',
                            "'",
                            "\x00",
                        ]
                    )
                )
            )
        else:
            parts.append(f'<a href="{draw(_VALUES)}">{draw(st.text(max_size=10))}</a>')
    return "".join(parts)


@FUZZ
@given(st.one_of(_markup(), st.text(), st.binary().map(lambda b: b.decode("latin-1"))))
def test_extraction_never_raises_and_keeps_its_invariants(html: str) -> None:
    result = extract_links(
        html, "https://www.example.com/dir/page", "https://www.example.com/dir/page"
    )
    seen = set()
    for link in result.links:
        assert link.target_url.startswith(("http://", "https://"))
        assert normalize(link.target_url) == link.target_url
        assert link.target_url != "https://www.example.com/dir/page"
        assert len(link.anchor) <= 512
        assert (link.target_url, link.kind) not in seen
        seen.add((link.target_url, link.kind))


@FUZZ
@given(st.text(), st.text() | st.just("https://www.example.com/a/b?c=d"))
def test_url_normalization_never_raises_and_is_idempotent(href: str, base: str) -> None:
    url = resolve_and_normalize(href, base)
    if url is not None:
        assert url.startswith(("http://", "https://"))
        assert normalize(url) == url
    plain = normalize(href)
    if plain is not None:
        assert normalize(plain) == plain


_RECORD = st.fixed_dictionaries(
    {
        "v": st.one_of(st.just(1), st.integers(), st.text(max_size=3), st.none()),
        "url": st.one_of(st.just("https://a.example/"), st.text(max_size=30)),
        "status": st.one_of(st.just(200), st.integers(), st.text(max_size=3)),
        "fetched_at": st.one_of(st.just(1.7e9), st.floats(), st.integers(), st.none()),
        "links": st.one_of(
            st.just([]),
            st.lists(
                st.lists(st.one_of(st.text(max_size=20), st.integers(), st.none()), max_size=9),
                max_size=4,
            ),
            st.text(max_size=5),
        ),
    }
)


@FUZZ
@given(st.one_of(st.binary(max_size=300), _RECORD.map(lambda r: json.dumps(r).encode())))
def test_page_messages_decode_or_are_refused_with_a_reason(value: bytes) -> None:
    try:
        page = lgkafka.decode_page(value, [(lgkafka.SCHEMA_HEADER, lgkafka.SCHEMA)])
    except lgkafka.UndecodableMessage as error:
        assert str(error) and "\n" not in str(error)
        return
    assert page.url.startswith(("http://", "https://"))
