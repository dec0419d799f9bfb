"""Reading web archives (crawler/archives.py, docs/ingest.md): records, damage, WAT."""

from __future__ import annotations

import gzip
import io
import json
from pathlib import Path
from typing import Any

import pytest
import zstandard

from crawler.archives import (
    ArchiveError,
    Tally,
    archive_kind,
    page_from_wat,
    read_paths_file,
    warc_pages,
    wat_pages,
)
from linkcore.records import PageRecord
from linkgraph.cli import main


def record(
    uri: str,
    block: bytes,
    *,
    warc_type: str = "response",
    content_type: str = "application/http; msgtype=response",
    date: str = "2024-05-01T12:00:00Z",
    extra: str = "",
) -> bytes:
    head = (
        f"WARC/1.0\r\nWARC-Type: {warc_type}\r\nWARC-Date: {date}\r\n"
        f"WARC-Target-URI: {uri}\r\nContent-Type: {content_type}\r\n{extra}"
        f"Content-Length: {len(block)}\r\n\r\n"
    ).encode()
    return head + block + b"\r\n\r\n"


def http(status: int, headers: list[tuple[str, str]], body: bytes = b"") -> bytes:
    lines = [f"HTTP/1.1 {status} X", *(f"{k}: {v}" for k, v in headers), "", ""]
    return "\r\n".join(lines).encode("latin-1") + body


HTML = [("Content-Type", "text/html; charset=utf-8")]
PAGE = record("http://a.example/", http(200, HTML, b'<a href="http://b.example/">B</a>'))
REDIRECT = record("http://a.example/old", http(301, [("Location", "/new")]))


def read(data: bytes) -> tuple[list[PageRecord], Tally]:
    tally = Tally()
    return list(warc_pages(io.BytesIO(data), tally, source="warc:t")), tally


def edges(page: PageRecord) -> list[tuple[str, str]]:
    return [(link.kind, link.target_url) for link in page.links]


# -- WARC ---------------------------------------------------------------------------


def test_a_response_record_is_the_page_a_crawl_gives() -> None:
    pages, tally = read(PAGE + REDIRECT)
    page, redirect = pages
    assert (page.url, page.status, page.content_type, page.source) == (
        "http://a.example/",
        200,
        "text/html",
        "warc:t",
    )
    assert page.fetched_at == 1714564800.0
    assert edges(page) == [("a", "http://b.example/")]
    assert page.links[0].anchor == "B"
    assert edges(redirect) == [("redirect", "http://a.example/new")]
    assert (tally.records, tally.pages, tally.html, tally.redirects, tally.edges) == (2, 2, 1, 1, 2)


def test_plain_gzip_and_zstd_files_read_alike() -> None:
    plain = read(PAGE + REDIRECT)[0]
    members = read(gzip.compress(PAGE) + gzip.compress(REDIRECT))[0]
    zstd = read(zstandard.ZstdCompressor().compress(PAGE + REDIRECT))[0]
    assert [p.to_dict() for p in plain] == [p.to_dict() for p in members]
    assert [p.to_dict() for p in plain] == [p.to_dict() for p in zstd]


def test_zstd_with_a_dictionary_frame() -> None:
    samples = [PAGE, REDIRECT] * 50
    dictionary = zstandard.train_dictionary(1024, samples)
    raw = dictionary.as_bytes()
    frame = b"\x5d\x2a\x4d\x18" + len(raw).to_bytes(4, "little") + raw
    compressor = zstandard.ZstdCompressor(dict_data=dictionary)
    data = frame + compressor.compress(PAGE) + compressor.compress(REDIRECT)
    assert [p.url for p in read(data)[0]] == ["http://a.example/", "http://a.example/old"]


def test_transfer_and_content_encodings_are_undone() -> None:
    body = gzip.compress(b'<a href="/x">x</a>')
    chunked = b"%x\r\n" % len(body) + body + b"\r\n0\r\n\r\n"
    headers = [*HTML, ("Transfer-Encoding", "chunked"), ("Content-Encoding", "gzip")]
    pages, _ = read(record("http://a.example/", http(200, headers, chunked)))
    assert edges(pages[0]) == [("a", "http://a.example/x")]


def test_robots_header_and_meta_are_honoured() -> None:
    header = record(
        "http://a.example/h",
        http(200, [*HTML, ("X-Robots-Tag", "nofollow")], b'<a href="/x">x</a>'),
    )
    meta = record(
        "http://a.example/m",
        http(200, HTML, b'<meta name="robots" content="noindex"><a href="/x">x</a>'),
    )
    by_header, by_meta = read(header + meta)[0]
    assert by_header.robots_nofollow and by_header.links[0].nofollow
    assert by_meta.robots_noindex and not by_meta.links[0].nofollow


def test_the_charset_of_the_answer_decodes_the_page() -> None:
    body = '<a href="/x">Café</a>'.encode("latin-1")
    headers = [("Content-Type", "text/html; charset=iso-8859-1")]
    pages, _ = read(record("http://a.example/", http(200, headers, body)))
    assert pages[0].links[0].anchor == "Café"


def test_non_html_and_errors_are_pages_without_links() -> None:
    pdf = record("http://a.example/f.pdf", http(200, [("Content-Type", "application/pdf")], b"%"))
    gone = record("http://a.example/gone", http(404, HTML, b'<a href="/x">x</a>'))
    pages, tally = read(pdf + gone)
    assert [(p.status, p.links) for p in pages] == [(200, []), (404, [])]
    assert tally.other == 2


def test_the_warc_ip_address_is_the_pages_ip() -> None:
    data = record(
        "http://a.example/", http(200, HTML, b"x"), extra="WARC-IP-Address: 192.0.2.7\r\n"
    )
    assert read(data)[0][0].ip == "192.0.2.7"


def test_records_that_are_no_http_response_are_skipped() -> None:
    request = record("http://a.example/", b"GET / HTTP/1.1\r\n\r\n", warc_type="request")
    dns = record("dns:a.example", b"192.0.2.7", warc_type="resource", content_type="text/dns")
    info = record("", b"software: x\r\n", warc_type="warcinfo", content_type="application/warc")
    pages, tally = read(info + request + dns + PAGE)
    assert [p.url for p in pages] == ["http://a.example/"]
    assert tally.skipped == 3 and tally.corrupt == 0


def test_malformed_records_and_junk_are_counted_and_skipped() -> None:
    bad_length = b"WARC/1.0\r\nWARC-Type: response\r\nContent-Length: many\r\n\r\nx\r\n\r\n"
    junk = b"this is no WARC record\r\n\r\n"
    bad_http = record("http://a.example/bad", b"not an HTTP message at all")
    bad_date = record("http://a.example/when", http(200, HTML, b"x"), date="yesterday")
    pages, tally = read(PAGE + bad_length + REDIRECT + junk + bad_http + bad_date)
    assert [p.url for p in pages] == ["http://a.example/", "http://a.example/old"]
    assert tally.corrupt == 4, tally


def test_a_corrupt_gzip_member_loses_only_its_record() -> None:
    data = gzip.compress(PAGE) + b"\x1f\x8b\x08\x00not deflate at all" + gzip.compress(REDIRECT)
    pages, tally = read(data)
    assert [p.url for p in pages] == ["http://a.example/", "http://a.example/old"]
    assert tally.corrupt == 1


def test_truncated_records_are_counted() -> None:
    plain = read(PAGE + REDIRECT[:-30])[1]
    cut_member = read(gzip.compress(PAGE) + gzip.compress(REDIRECT)[:-12])[1]
    short_member = read(gzip.compress(REDIRECT[:-30]) + gzip.compress(PAGE))
    assert (plain.pages, plain.truncated) == (1, 1)
    assert (cut_member.pages, cut_member.truncated) == (1, 1)
    assert [p.url for p in short_member[0]] == ["http://a.example/"]
    assert short_member[1].truncated == 1


def test_oversized_pages_are_counted_not_read() -> None:
    tally = Tally()
    big = record("http://a.example/", http(200, HTML, b"x" * 2048))
    assert list(warc_pages(io.BytesIO(big), tally, max_bytes=1024)) == []
    assert tally.too_large == 1


@pytest.mark.parametrize(
    "data", [b"plain text, no archive\n" * 3, b"hi\n", gzip.compress(b"<html>no warc</html>")]
)
def test_a_file_that_is_not_a_warc_is_an_error(data: bytes) -> None:
    with pytest.raises(ArchiveError, match="not a WARC file"):
        read(data)


def test_an_empty_file_has_no_pages() -> None:
    assert read(b"") == ([], Tally())


# -- WAT ----------------------------------------------------------------------------


def wat(http_metadata: dict[str, Any], uri: str = "http://a.example/dir/page") -> dict[str, Any]:
    return {
        "Envelope": {
            "WARC-Header-Metadata": {
                "WARC-Type": "response",
                "WARC-Date": "2024-05-01T12:00:00Z",
                "WARC-Target-URI": uri,
            },
            "Payload-Metadata": {"HTTP-Response-Metadata": http_metadata},
        }
    }


def html_metadata(links: list[dict[str, Any]], head: dict[str, Any] | None = None) -> dict:
    return {
        "Response-Message": {"Status": "200"},
        "Headers": {"Content-Type": "text/html; charset=UTF-8"},
        "HTML-Metadata": {"Head": head or {}, "Links": links},
    }


def test_wat_links_become_edges_resolved_against_the_base() -> None:
    page = page_from_wat(
        wat(
            html_metadata(
                [
                    {"path": "A@/href", "url": "x", "text": "  Ex\n ample ", "rel": "nofollow ugc"},
                    {"path": "AREA@/href", "url": "/y"},
                    {"path": "A@/href", "url": "x", "text": "again"},
                    {"path": "IMG@/src", "url": "/i.png"},
                    {"path": "A@/href", "url": "mailto:a@b"},
                    {"path": "A@/href", "url": "#top"},
                    {"path": "LINK@/href", "url": "/c", "rel": "Canonical"},
                    {"path": "LINK@/href", "url": "/s.css", "rel": "stylesheet"},
                ],
                {"Title": "  The  title ", "Base": "http://a.example/base/"},
            )
        )
    )
    assert page is not None
    assert page.url == "http://a.example/dir/page" and page.title == "The title"
    by_target = {(link.kind, link.target_url): link for link in page.links}
    assert list(by_target) == [
        ("a", "http://a.example/base/x"),
        ("a", "http://a.example/y"),
        ("a", "http://a.example/base/"),
        ("canonical", "http://a.example/c"),
    ]
    first = by_target[("a", "http://a.example/base/x")]
    assert (first.anchor, first.nofollow, first.ugc, first.link_count) == (
        "Ex ample",
        True,
        True,
        2,
    )
    assert {link.location for link in page.links} == {"other"}
    assert page.dropped_links == 1


def test_wat_meta_robots_and_header_make_every_edge_nofollow() -> None:
    links = [{"path": "A@/href", "url": "/x", "text": "x"}]
    meta = page_from_wat(
        wat(html_metadata(links, {"Metas": [{"name": "robots", "content": "none"}]}))
    )
    assert meta is not None and meta.robots_nofollow and meta.robots_noindex
    assert meta.links[0].nofollow
    headed = html_metadata(links)
    headed["Headers"]["X-Robots-Tag"] = "nofollow"
    header = page_from_wat(wat(headed))
    assert header is not None and header.links[0].nofollow


def test_wat_redirects_and_other_answers() -> None:
    moved = page_from_wat(
        wat({"Response-Message": {"Status": "302"}, "Headers": {"Location": "/moved"}})
    )
    assert moved is not None and edges(moved) == [("redirect", "http://a.example/moved")]
    gone = page_from_wat(wat({"Response-Message": {"Status": "404"}, "Headers": {}}))
    assert gone is not None and (gone.status, gone.links) == (404, [])


def test_wat_files_count_what_they_skip() -> None:
    good = json.dumps(wat(html_metadata([{"path": "A@/href", "url": "/x", "text": "x"}])))
    request = json.dumps({"Envelope": {"WARC-Header-Metadata": {"WARC-Type": "request"}}})
    data = b"".join(
        record("http://a.example/dir/page", body.encode(), warc_type="metadata",
               content_type="application/json")
        for body in (good, request, "{not json")
    ) + record("", b"x", warc_type="warcinfo", content_type="application/warc")  # fmt: skip
    tally = Tally()
    pages = list(wat_pages(io.BytesIO(data), tally, source="wat:t"))
    assert [p.source for p in pages] == ["wat:t"]
    assert (tally.records, tally.pages, tally.skipped, tally.corrupt) == (4, 1, 2, 1)


# -- paths, kinds, records -------------------------------------------------------------


def test_paths_files_take_common_crawl_keys(tmp_path: Path) -> None:
    listing = tmp_path / "warc.paths"
    listing.write_text(
        "# a segment\n\ncrawl-data/CC-MAIN-2024-18/segments/1/warc/x.warc.gz\n/data/y.warc\n"
        "https://example.org/z.warc.wat.gz\n",
        encoding="utf-8",
    )
    assert read_paths_file(str(listing)) == [
        "https://data.commoncrawl.org/crawl-data/CC-MAIN-2024-18/segments/1/warc/x.warc.gz",
        "/data/y.warc",
        "https://example.org/z.warc.wat.gz",
    ]
    (tmp_path / "empty").write_text("# nothing\n", encoding="utf-8")
    with pytest.raises(ArchiveError, match="lists no archives"):
        read_paths_file(str(tmp_path / "empty"))
    with pytest.raises(ArchiveError, match="cannot read"):
        read_paths_file(str(tmp_path / "missing"))


def test_archive_kind_by_name() -> None:
    assert archive_kind("crawl-data/C/segments/1/wat/x.warc.wat.gz") == "wat"
    assert archive_kind("/data/x.warc.gz") == "warc"
    assert archive_kind("x.wat") == "wat"


def test_the_source_travels_with_the_record_and_older_records_read() -> None:
    page = PageRecord("http://a.example/", 200, 1.0, source="warc:x.warc.gz")
    assert PageRecord.from_dict(page.to_dict()).source == "warc:x.warc.gz"
    older = PageRecord("http://a.example/", 200, 1.0).to_dict()
    assert "source" not in older and PageRecord.from_dict(older).source == ""


# -- the command's bad input ------------------------------------------------------------


@pytest.mark.parametrize(
    ("argument", "message"),
    [
        ("missing.warc.gz", "cannot read missing.warc.gz: No such file or directory"),
        (".", "cannot read .: it is a directory"),
        ("ftp://example.org/x.warc", "only local paths, - and http(s) URLs are read"),
    ],
)
def test_bad_archives_are_one_line_errors(
    argument: str, message: str, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    status = main(["ingest", "warc", argument, "--data-dir", str(tmp_path / "index")])
    err = capsys.readouterr().err
    assert status != 0
    assert message in err and len(err.strip().splitlines()) == 1, err
    assert not (tmp_path / "index").exists()


def test_no_archives_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["ingest", "wat"]) == 2
    assert "no archives" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("arguments", "message", "status"),
    [
        (["--warc-paths", "missing.paths"], "cannot read missing.paths", 1),
        (["example.com", "--warc-paths", "x.paths"], "--warc-paths takes no seeds", 2),
    ],
)
def test_job_start_with_bad_warc_paths_is_one_line(
    arguments: list[str], message: str, status: int, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["job", "start", "archives", *arguments]) == status
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1, err


def test_ingest_paths_file_that_lists_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    listing = tmp_path / "warc.paths"
    listing.write_text("# empty\n", encoding="utf-8")
    assert main(["ingest", "warc", "--paths", str(listing)]) == 1
    assert "lists no archives" in capsys.readouterr().err


@pytest.mark.parametrize("read_bytes", [64, 1 << 20])
def test_an_oversized_record_is_skipped_unread(
    read_bytes: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    import crawler.archives

    monkeypatch.setattr(crawler.archives, "MAX_RECORD_BYTES", 200)
    # Read in small pieces too: the record's bytes are then dropped as they come.
    monkeypatch.setattr(crawler.archives, "READ_BYTES", read_bytes)
    big = record("http://a.example/big", http(200, HTML, b"x" * 1000))
    plain = read(PAGE + big + REDIRECT)
    members = read(gzip.compress(PAGE) + gzip.compress(big) + gzip.compress(REDIRECT))
    for pages, tally in (plain, members):
        assert [p.url for p in pages] == ["http://a.example/", "http://a.example/old"]
        assert (tally.records, tally.too_large, tally.corrupt) == (3, 1, 0)


def test_a_text_file_starting_with_blank_lines_is_not_a_warc() -> None:
    with pytest.raises(ArchiveError, match="not a WARC file"):
        read(b"\n\n  hello, this is text\n")


@pytest.mark.parametrize("read_bytes", [1, 7, 64, 1000])
def test_chunk_boundaries_change_nothing(read_bytes: int, monkeypatch: pytest.MonkeyPatch) -> None:
    import crawler.archives

    junk = b"junk between records\r\n"
    data = [
        PAGE + junk + REDIRECT + REDIRECT[:-30],
        gzip.compress(PAGE) + b"\x1f\x8b\x08\x00bad" + gzip.compress(REDIRECT) + b"\x00" * 5,
    ]
    expected = [read(file) for file in data]
    monkeypatch.setattr(crawler.archives, "READ_BYTES", read_bytes)
    for file, (pages, tally) in zip(data, expected, strict=True):
        again, counted = read(file)
        assert [p.to_dict() for p in again] == [p.to_dict() for p in pages]
        assert counted == tally


@pytest.mark.parametrize("encoding", ["gzip", "deflate", "zstd", "br"])
def test_content_encodings_are_undone(encoding: str) -> None:
    body = b'<a href="/x">x</a>'
    if encoding == "br":
        brotli = pytest.importorskip("brotli")
        encoded = brotli.compress(body)
    else:
        encoded = {
            "gzip": gzip.compress,
            "deflate": __import__("zlib").compress,
            "zstd": zstandard.ZstdCompressor().compress,
        }[encoding](body)
    headers = [*HTML, ("Content-Encoding", encoding)]
    pages, tally = read(record("http://a.example/", http(200, headers, encoded)))
    assert edges(pages[0]) == [("a", "http://a.example/x")] and tally.corrupt == 0
