"""Revisits without services: queue entries, page messages, requests, batches, outcomes."""

from __future__ import annotations

import json

import pytest
from scrapy import Request
from scrapy.http import HtmlResponse, Response

from crawler.frontier.queue import decode_entry, decode_request, encode_entry
from crawler.revisit import conditional_headers, make_revisit, revisit_of, validators_of
from crawler.spiders.outlinks import page_from_response
from linkcore.kafka import UndecodableMessage, decode_page, encode_page
from linkcore.records import PageRecord
from linkcore.revisits import Revisit, outcome, validator
from linkindex.writer import batch_tables, build_batch

URL = "http://example.com/page"
ETAG = '"abc123"'
MODIFIED = "Wed, 21 Oct 2015 07:28:00 GMT"


def test_an_old_entry_decodes_as_an_ordinary_request() -> None:
    old = '{"u":"http://example.com/page","d":2,"r":1}'
    assert decode_entry(old) == (URL, 2, 1)
    assert decode_request(old) == (URL, 2, 1, None)
    # Ordinary entries are spelt as before the revisit fields existed.
    assert encode_entry(URL, 2, 1) == old


@pytest.mark.parametrize(
    "revisit",
    [
        Revisit(URL, 3, ETAG, MODIFIED),
        Revisit(URL, 0, "", MODIFIED),
        Revisit(URL, 1),
        Revisit(URL, 0, 'W/"wé"', "", follow=False),
    ],
)
def test_a_revisit_entry_round_trips(revisit: Revisit) -> None:
    entry = encode_entry(revisit.url, revisit.depth, 0, revisit)
    assert decode_request(entry) == (URL, revisit.depth, 0, revisit)
    assert decode_entry(entry) == (URL, revisit.depth, 0)
    data = json.loads(entry)
    # Compact: only what is known.
    assert ("e" in data, "m" in data, "nf" in data) == (
        bool(revisit.etag),
        bool(revisit.last_modified),
        not revisit.follow,
    )


def test_an_old_page_message_reads_with_empty_validators() -> None:
    page = PageRecord(URL, 200, 1_700_000_000.0, "text/html")
    value, headers = encode_page(page)[1:]
    assert b"etag" not in value
    decoded = decode_page(value, headers)
    assert (decoded.etag, decoded.last_modified) == ("", "")


def test_a_page_message_carries_its_validators() -> None:
    page = PageRecord(URL, 304, 1_700_000_000.0, etag=ETAG, last_modified=MODIFIED)
    decoded = decode_page(*encode_page(page)[1:])
    assert (decoded.status, decoded.etag, decoded.last_modified) == (304, ETAG, MODIFIED)


def test_a_validator_that_is_not_a_string_is_dead_lettered() -> None:
    data = PageRecord(URL, 200, 1_700_000_000.0).to_dict()
    data["etag"] = 7
    with pytest.raises(UndecodableMessage, match="etag"):
        decode_page(json.dumps(data).encode())


def test_a_revisit_request_sends_the_validators_it_knows() -> None:
    request = make_revisit(Request(URL), Revisit(URL, 0, ETAG, MODIFIED))
    assert request.headers[b"If-None-Match"] == ETAG.encode()
    assert request.headers[b"If-Modified-Since"] == MODIFIED.encode()
    assert revisit_of(request.meta) == Revisit(URL, 0, ETAG, MODIFIED)
    assert conditional_headers(Revisit(URL)) == {}
    assert revisit_of(Request(URL).meta) is None


def test_validators_come_from_2xx_and_304_answers_only() -> None:
    headers = {"ETag": ETAG, "Last-Modified": MODIFIED}
    assert validators_of(Response(URL, status=304, headers=headers)) == (ETAG, MODIFIED)
    assert validators_of(Response(URL, status=404, headers=headers)) == ("", "")
    assert validators_of(Response(URL, status=200)) == ("", "")
    assert validator("x" * 600) == "" and validator(" a\r\nb ") == ""


def test_a_304_page_has_no_links_and_keeps_its_validators() -> None:
    body = b'<a href="/next">next</a>'
    response = HtmlResponse(
        URL,
        status=304,
        headers={"ETag": ETAG, "Location": "/elsewhere", "Content-Type": "text/html"},
        body=body,
        request=Request(URL, meta={"lg_url": URL}),
    )
    page, follow, _ = page_from_response(response, "job", 100)
    assert (page.status, page.links, follow, page.etag) == (304, [], [], ETAG)


def test_a_page_read_from_an_archive_asks_to_follow_nothing() -> None:
    response = HtmlResponse(
        URL,
        status=200,
        headers={"Content-Type": "text/html"},
        body=b'<a href="/next">next</a>',
        request=Request(URL, meta={"lg_url": URL}),
    )
    crawled, follow, _ = page_from_response(response, "job", 100)
    archived, none, _ = page_from_response(response, "job", 100, with_follow=False)
    assert follow and none == []
    archived.fetched_at = crawled.fetched_at
    assert archived == crawled


def test_outcomes() -> None:
    assert [outcome(s) for s in (304, 200, 204, 404, 410, 301, 500)] == [
        "unchanged",
        "changed",
        "changed",
        "gone",
        "gone",
        None,
        None,
    ]


def test_a_304_page_goes_to_fetches_and_to_the_refresh_not_to_pages() -> None:
    pages = [
        PageRecord(URL, 304, 1_700_000_000.0, etag=ETAG),
        PageRecord("http://example.com/other", 200, 1_700_000_000.0, etag=ETAG),
    ]
    tables = batch_tables(build_batch(pages))
    inserted = dict(tables.inserts)
    assert inserted["fetches"].column("status").to_pylist() == [200, 304]
    assert inserted["pages"].column("url").to_pylist() == ["http://example.com/other"]
    assert inserted["pages"].column("etag").to_pylist() == [ETAG]
    assert tables.unchanged["url"] == [URL]
    assert tables.pages_in == 2
