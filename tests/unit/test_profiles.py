"""Text profiles (linkcore/profiles.py) and their place in extraction and records."""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from crawler.extract import extract_links
from linkcore import profiles
from linkcore.profiles import (
    MAX_COUNT,
    PROFILE_TERMS,
    SAMPLE_CHARS,
    TERM_MAX_BYTES,
    decode,
    encode,
    idf,
    merge,
    similarity,
    text_profile,
    tf_weights,
)
from linkcore.records import MalformedRecord, PageRecord

PAGE = "http://example.com/page"


def test_the_most_frequent_terms_come_first_without_stopwords() -> None:
    text = "The pasta and the basil. Pasta, pasta! Basil? Tomato; the end of it. 2026 x9"
    assert text_profile(text) == [("pasta", 3), ("basil", 2), ("tomato", 1), ("end", 1)]


def test_an_empty_page_or_one_without_terms_has_no_profile() -> None:
    assert text_profile("") == []
    assert text_profile("   \n 12 34 -- ok to be or it") == []
    assert extract_links("<html><body></body></html>", PAGE, PAGE).profile == []
    assert extract_links("<p>of the and</p>", PAGE, PAGE).profile == []


def test_a_profile_is_bounded_whatever_the_page() -> None:
    # Thousands of distinct terms, one huge repeated word, a letter run of 10 kB.
    words = " ".join(f"term{chr(97 + i % 26)}{chr(97 + i // 26 % 26)}x" for i in range(5000))
    for text in (words, "flood " * 100_000, "a" * 10_000 + " real words here"):
        profile = text_profile(text)
        assert len(profile) <= PROFILE_TERMS
        assert all(1 <= count <= MAX_COUNT for _, count in profile)
        assert all(len(term.encode()) <= TERM_MAX_BYTES for term, _ in profile)
        assert len(encode(profile).encode()) <= PROFILE_TERMS * (TERM_MAX_BYTES + 5)
    # Only a sample is read: a page ten times as long costs the same.
    assert sum(count for _, count in text_profile("cook " * 100_000)) <= SAMPLE_CHARS // 5 + 2


def test_a_profile_is_deterministic_and_reads_any_script() -> None:
    text = "Über die Straße\xa0gehen wir “heute” — Привет мир мир, καλημέρα κόσμε"
    first = text_profile(text)
    assert first == text_profile(text)
    assert dict(first) == {
        "über": 1, "die": 1, "straße": 1, "gehen": 1, "wir": 1, "heute": 1, "привет": 1,
        "мир": 2, "καλημέρα": 1, "κόσμε": 1,
    }  # fmt: skip
    # Ties keep the order first seen.
    assert [term for term, _ in text_profile("zebra apple mango")] == ["zebra", "apple", "mango"]


def test_the_sample_spreads_over_the_text() -> None:
    text = "alpha " * 400 + "omega " * 400
    assert {term for term, _ in text_profile(text)} == {"alpha", "omega"}


@given(st.text(max_size=3000))
@settings(max_examples=200, deadline=None)
def test_any_text_gives_a_profile_that_round_trips(text: str) -> None:
    profile = text_profile(text)
    assert len(profile) <= PROFILE_TERMS
    assert decode(encode(profile)) == profile


def test_decode_refuses_what_encode_never_writes() -> None:
    for bad in ("pasta", "pasta:0", "pasta:256", ":3", "pasta:x", "y" * 40 + ":1"):
        with pytest.raises(ValueError):
            decode(bad)
    with pytest.raises(ValueError):
        decode(" ".join(f"t{i}:1" for i in range(PROFILE_TERMS + 1)))


def test_similarity_is_a_cosine_of_tf_idf_vectors() -> None:
    cooking = tf_weights([("pasta", 3), ("basil", 1)])
    assert cooking == [("pasta", 1 + math.log(3)), ("basil", 1.0)]
    assert similarity(cooking, cooking) == 1.0
    assert similarity(cooking, tf_weights([("pipe", 2)])) == 0.0
    assert similarity(cooking, []) is None
    half = similarity([("a", 1.0), ("b", 1.0)], [("a", 1.0)])
    assert half == round(1 / math.sqrt(2), 4)
    # A term every page has weighs least; one no page has, most.
    assert idf(100, 100) < idf(100, 3) < idf(100, 0)
    assert idf(100, 100) > 0


def test_a_domain_profile_weighs_each_page_alike() -> None:
    long_page = [("pasta", 200), ("basil", 100)]
    short_page = [("pipe", 1)]
    merged = dict(merge([long_page, short_page]))
    assert merged["pipe"] == pytest.approx(1.0)
    assert merged["pasta"] < 1.0 and merged["basil"] < merged["pasta"]
    assert len(merge([[(f"t{i}", 1)] for i in range(200)])) == PROFILE_TERMS


def test_extraction_profiles_the_visible_text_only() -> None:
    html = (
        "<html><head><title>T</title><style>.pasta{}</style></head><body>"
        "<script>var pipe = wrench;</script><p>Pasta with basil, pasta tonight.</p>"
        "<style>.x{color:red}</style></body></html>"
    )
    assert extract_links(html, PAGE, PAGE).profile == [("pasta", 2), ("basil", 1), ("tonight", 1)]


def test_the_page_record_carries_the_profile() -> None:
    record = PageRecord(PAGE, 200, 1.0, profile=[("pasta", 3), ("basil", 1)])
    data = record.to_dict()
    assert data["profile"] == "pasta:3 basil:1"
    assert PageRecord.from_dict(data) == record
    # A record from before profiles (or of a page without one) reads as none.
    del data["profile"]
    assert PageRecord.from_dict(data).profile == []
    assert "profile" not in PageRecord(PAGE, 404, 1.0).to_dict()
    for bad in ("pasta:0", 42):
        with pytest.raises(MalformedRecord, match="profile"):
            PageRecord.from_dict({**data, "profile": bad})


def test_stopwords_are_lowercase_letters() -> None:
    assert all(word.isalpha() and word == word.lower() for word in profiles.STOPWORDS)
