"""Page messages: what the consumer indexes and what it dead-letters (no services)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from linkcore.kafka import (
    SCHEMA,
    SCHEMA_HEADER,
    UndecodableMessage,
    decode_page,
    encode_page,
)
from linkcore.records import Link, MalformedRecord, PageRecord

HEADERS = [(SCHEMA_HEADER, SCHEMA)]


def page(**changes: Any) -> PageRecord:
    record = PageRecord(
        url="https://www.example.com/a",
        status=200,
        fetched_at=1_763_700_000.25,
        content_type="text/html",
        depth=2,
        job="news",
        links=[
            Link("https://other.example/x", "a", "Other — x", nofollow=True, link_count=3),
            Link("https://www.example.com/b", "canonical"),
            Link("https://日本.example/", "a", "", image=True),
        ],
    )
    for name, value in changes.items():
        setattr(record, name, value)
    return record


def message(data: dict[str, Any]) -> bytes:
    return json.dumps(data).encode()


def reason(value: bytes | None, headers: Any = HEADERS, **kwargs: Any) -> tuple[str, str]:
    with pytest.raises(UndecodableMessage) as caught:
        decode_page(value, headers, **kwargs)
    return caught.value.kind, caught.value.reason


# -- good messages ---------------------------------------------------------------------


def test_round_trip_keeps_every_field() -> None:
    original = page()
    key, value, headers = encode_page(original)
    assert key == b"www.example.com"
    assert headers == [("schema", b"linkgraph.page/2")]
    assert decode_page(value, headers) == original


def test_value_is_compact_utf8_json_with_version() -> None:
    _, value, _ = encode_page(page())
    text = value.decode("utf-8")
    assert "日本" in text  # not \\u-escaped
    assert ", " not in text and ": " not in text
    assert json.loads(text)["v"] == 2


def test_message_without_schema_header_is_judged_by_its_version() -> None:
    _, value, _ = encode_page(page())
    assert decode_page(value, None).url == "https://www.example.com/a"
    assert decode_page(value, [("trace", b"x")]).status == 200


def test_minimal_record_gets_defaults() -> None:
    data = {"v": 1, "url": "http://a.example/", "status": 404, "fetched_at": 0}
    decoded = decode_page(message(data), HEADERS)
    assert decoded.links == [] and decoded.job == "" and decoded.fetched_at == 0.0


def test_version_2_carries_location_context_and_page_facts() -> None:
    original = page(title="A page", lang="en", words=412, ip="192.0.2.7", robots_noindex=True)
    original.links[0].location = "footer"
    original.links[0].text_before = "Made by"
    original.links[0].text_after = "in 2025."
    _, value, headers = encode_page(original)
    data = json.loads(value)
    assert data["links"][0][8:] == ["footer", "Made by", "in 2025."]
    assert (data["title"], data["lang"], data["words"], data["ip"]) == (
        "A page",
        "en",
        412,
        "192.0.2.7",
    )
    assert decode_page(value, headers) == original


def version_1(record: PageRecord) -> dict[str, Any]:
    """The message an earlier producer wrote for ``record``: no context, no page facts."""
    data = record.to_dict()
    for name in ("robots_noindex", "title", "lang", "words", "ip"):
        del data[name]
    data["v"] = 1
    data["links"] = [link[:8] for link in data["links"]]
    return data


def test_a_version_1_message_is_read_with_the_new_fields_empty() -> None:
    original = page()
    original.links[0].location = "nav"
    value = message(version_1(original))
    for headers in ([(SCHEMA_HEADER, b"linkgraph.page/1")], HEADERS, None):
        decoded = decode_page(value, headers)
        assert [link.target_url for link in decoded.links] == [
            link.target_url for link in original.links
        ]
        assert all(
            (link.location, link.text_before, link.text_after) == ("other", "", "")
            for link in decoded.links
        )
        assert (decoded.title, decoded.lang, decoded.words, decoded.ip) == ("", "", 0, "")
        assert decoded.links[0].anchor == "Other — x" and decoded.links[0].link_count == 3


def test_versions_and_link_shapes_must_agree() -> None:
    # A version 1 message with version 2 links, or the reverse, is malformed.
    v2 = page().to_dict()
    assert reason(message({**v2, "v": 1}))[0] == "invalid"
    assert reason(message({**version_1(page()), "v": 2}))[0] == "invalid"
    bad_location = page().to_dict()
    bad_location["links"][0][8] = "sidebar"
    assert "location" in reason(message(bad_location))[1]
    assert reason(message({**v2, "words": -1}))[0] == "invalid"


def test_escaped_surrogate_pair_is_fine() -> None:
    data = page().to_dict()
    raw = json.dumps(data).replace("Other", "\\ud83d\\ude00").encode()  # an emoji, escaped
    assert decode_page(raw, HEADERS).links[0].anchor.startswith("😀")


def test_page_without_a_host_key_still_encodes() -> None:
    key, _, _ = encode_page(page(url="not a url"))
    assert key is None


# -- bad messages -> a dead-letter reason ----------------------------------------------


def good() -> dict[str, Any]:
    return page().to_dict()


@pytest.mark.parametrize(
    ("value", "kind", "words"),
    [
        (None, "empty", "empty"),
        (b"", "empty", "empty"),
        (b"\xff\xfe garbage", "encoding", "not UTF-8"),
        (b"hello", "json", "not JSON"),
        (b'{"v": 1, "url": ', "json", "not JSON"),
        (b"[" * 100_000, "json", "not JSON"),
        (b"[1, 2]", "invalid", "not an object"),
        (message({**good(), "v": 3}), "version", "version 3"),
        (message({k: v for k, v in good().items() if k != "v"}), "version", "version None"),
        (message({k: v for k, v in good().items() if k != "url"}), "invalid", "lacks field"),
        (message({k: v for k, v in good().items() if k != "status"}), "invalid", "status"),
        (message({**good(), "url": ""}), "invalid", "url"),
        (message({**good(), "url": "ftp://x.example/"}), "invalid", "http(s)"),
        (message({**good(), "status": "200"}), "invalid", "status"),
        (message({**good(), "status": 70_000}), "invalid", "status"),
        (message({**good(), "fetched_at": "yesterday"}), "invalid", "fetched_at"),
        (message({**good(), "fetched_at": -5}), "invalid", "fetched_at"),
        (message({**good(), "fetched_at": 1e300}), "invalid", "fetched_at"),
        (message({**good(), "depth": "deep"}), "invalid", "bad field"),
        (message({**good(), "dropped_links": -1}), "invalid", "dropped_links"),
        (message({**good(), "links": {}}), "invalid", "links"),
        (
            message({**good(), "v": 1, "links": [["https://x.example/", "a"]]}),
            "invalid",
            "8 fields",
        ),
        (
            message(
                {**good(), "v": 1, "links": [["https://x.example/", "img", "", 0, 0, 0, 0, 1]]}
            ),
            "invalid",
            "kind",
        ),
        (
            message({**good(), "v": 1, "links": [["https://x.example/", "a", "", 0, 0, 0, 0, 0]]}),
            "invalid",
            "link_count",
        ),
        (
            message(
                {**good(), "v": 1, "links": [["https://x.example/", "a", "", 0, 0, 0, 0, 2**40]]}
            ),
            "invalid",
            "link_count",
        ),
        (
            json.dumps({**good(), "job": "\ud800"}).encode(),
            "encoding",
            "surrogate",
        ),
    ],
)
def test_bad_message_gets_a_one_line_reason(value: bytes | None, kind: str, words: str) -> None:
    got_kind, got_reason = reason(value)
    assert got_kind == kind
    assert words in got_reason
    assert "\n" not in got_reason and len(got_reason) < 300


def test_nan_time_is_not_json() -> None:
    raw = json.dumps({**good(), "fetched_at": float("nan")}).encode()  # Python writes NaN
    kind, _ = reason(raw)
    assert kind == "invalid"
    with pytest.raises(MalformedRecord):
        encode_page(page(fetched_at=float("inf")))
    with pytest.raises(MalformedRecord):
        encode_page(page(job="\ud800"))


def test_other_schema_header_is_rejected_even_if_the_body_is_fine() -> None:
    _, value, _ = encode_page(page())
    kind, text = reason(value, [(SCHEMA_HEADER, b"linkgraph.page/3")])
    assert kind == "schema" and "linkgraph.page/3" in text


def test_oversized_message_is_rejected_before_parsing() -> None:
    _, value, _ = encode_page(page(links=[Link(f"https://x.example/{i}") for i in range(200)]))
    kind, text = reason(value, max_bytes=1024)
    assert kind == "oversized" and str(len(value)) in text and "1024" in text
    assert decode_page(value, HEADERS, max_bytes=len(value)).links[-1].target_url.endswith("/199")


def test_reasons_are_linkgraph_errors_that_are_not_retriable() -> None:
    with pytest.raises(UndecodableMessage) as caught:
        decode_page(b"nope", HEADERS)
    assert caught.value.retriable is False
    assert str(caught.value) == caught.value.reason
