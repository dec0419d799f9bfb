"""Web archives written from a synthetic web's real answers, for the ingest tests.

:func:`record_web` fetches every URL a crawl of the web fetches, through the
web's proxy, without following redirects, and keeps each answer whole (status
line, headers, body). :func:`warc_bytes` writes those answers as WARC
``response`` records (each in its own gzip member, as Common Crawl does);
:func:`wat_bytes` derives the WAT a Common Crawl crawler would write for them
(``Envelope → Payload-Metadata → HTTP-Response-Metadata → HTML-Metadata``,
``Links`` with ``path``/``url``/``text``/``rel``, ``Head`` with ``Base``,
``Link``, ``Metas`` and ``Title``), its links read with lexbor independently
of linkgraph's extraction.
"""

from __future__ import annotations

import gzip
import json
import urllib.error
import urllib.request
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from selectolax.lexbor import LexborHTMLParser

#: The WARC-Date of the first record; each next record is one second later.
FIRST_DATE = datetime(2024, 5, 1, 12, 0, 0, tzinfo=UTC)


@dataclass
class Answer:
    """One HTTP answer as the proxy sent it (transfer coding undone by the client)."""

    url: str
    status: int
    reason: str
    headers: list[tuple[str, str]]
    body: bytes
    date: datetime


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


def record_web(proxy_url: str, urls: list[str]) -> list[Answer]:
    """Fetch ``urls`` through the proxy at ``proxy_url``, redirects not followed."""
    opener = urllib.request.build_opener(
        urllib.request.ProxyHandler({"http": proxy_url, "https": proxy_url}), _NoRedirects()
    )
    answers = []
    for number, url in enumerate(urls):
        request = urllib.request.Request(url, headers={"User-Agent": "linkgraph-test"})
        try:
            response = opener.open(request, timeout=30)
            status, reason, headers, body = (
                response.status,
                response.reason,
                response.getheaders(),
                response.read(),
            )
        except urllib.error.HTTPError as error:
            status, reason, headers, body = (
                error.code,
                error.reason,
                list(error.headers.items()),
                error.read(),
            )
        answers.append(
            Answer(url, status, str(reason), headers, body, FIRST_DATE + timedelta(seconds=number))
        )
    return answers


def _http_block(answer: Answer) -> bytes:
    lines = [f"HTTP/1.1 {answer.status} {answer.reason}"]
    for name, value in answer.headers:
        # The client undid the chunking: say so the way Common Crawl does.
        if name.lower() == "transfer-encoding":
            name = "X-Crawler-Transfer-Encoding"
        lines.append(f"{name}: {value}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + answer.body


def warc_record(
    warc_type: str,
    uri: str,
    block: bytes,
    date: datetime,
    content_type: str = "application/http; msgtype=response",
) -> bytes:
    """One WARC/1.0 record."""
    head = (
        "WARC/1.0\r\n"
        f"WARC-Type: {warc_type}\r\n"
        f"WARC-Record-ID: <urn:uuid:{uuid.uuid4()}>\r\n"
        f"WARC-Date: {date.strftime('%Y-%m-%dT%H:%M:%SZ')}\r\n"
        f"WARC-Target-URI: {uri}\r\n"
        f"Content-Type: {content_type}\r\n"
        f"Content-Length: {len(block)}\r\n\r\n"
    ).encode()
    return head + block + b"\r\n\r\n"


def warc_records(answers: list[Answer]) -> list[bytes]:
    """The ``response`` record of each answer, uncompressed."""
    return [warc_record("response", a.url, _http_block(a), a.date) for a in answers]


def gzip_members(records: list[bytes]) -> bytes:
    return b"".join(gzip.compress(record, mtime=0) for record in records)


def warc_bytes(answers: list[Answer]) -> bytes:
    """A ``.warc.gz`` of the answers, one gzip member per record."""
    return gzip_members(warc_records(answers))


def _links_of(html: str) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    tree = LexborHTMLParser(html)
    head: dict[str, Any] = {}
    title = tree.css_first("title")
    if title is not None:
        head["Title"] = title.text()
    base = tree.css_first("base[href]")
    if base is not None:
        head["Base"] = base.attributes.get("href") or ""
    metas = [
        {"name": m.attributes.get("name") or "", "content": m.attributes.get("content") or ""}
        for m in tree.css("meta[name]")
    ]
    if metas:
        head["Metas"] = metas
    links: list[dict[str, Any]] = []
    for node in tree.css("a[href], area[href], link[href]"):
        tag = node.tag.upper()
        entry: dict[str, Any] = {"path": f"{tag}@/href", "url": node.attributes.get("href") or ""}
        if tag != "LINK":
            entry["text"] = node.text()
        rel = node.attributes.get("rel")
        if rel is not None:
            entry["rel"] = rel
        links.append(entry)
    return head, links


def wat_metadata(answer: Answer) -> dict[str, Any]:
    """The WAT JSON Common Crawl writes for ``answer``'s response record."""
    headers: dict[str, Any] = {}
    for name, value in answer.headers:
        headers[name] = value if name not in headers else [*([headers[name]]), value]
    http: dict[str, Any] = {
        "Response-Message": {
            "Version": "HTTP/1.1",
            "Status": str(answer.status),
            "Reason": answer.reason,
        },
        "Headers": headers,
    }
    content_type = next((v for n, v in answer.headers if n.lower() == "content-type"), "")
    if 200 <= answer.status < 300 and "html" in content_type:
        # As Common Crawl's parser, in the page's declared charset.
        charset = "utf-8"
        for parameter in content_type.split(";")[1:]:
            name, _, value = parameter.partition("=")
            if name.strip().lower() == "charset" and value.strip():
                charset = value.strip().strip("\"'")
        head, links = _links_of(answer.body.decode(charset, "replace"))
        http["HTML-Metadata"] = {"Head": head, "Links": links}
    return {
        "Container": {"Filename": "test.warc.gz", "Compressed": True},
        "Envelope": {
            "Format": "WARC",
            "WARC-Header-Length": "300",
            "WARC-Header-Metadata": {
                "WARC-Type": "response",
                "WARC-Date": answer.date.strftime("%Y-%m-%dT%H:%M:%SZ"),
                "WARC-Target-URI": answer.url,
            },
            "Payload-Metadata": {
                "Actual-Content-Type": "application/http; msgtype=response",
                "HTTP-Response-Metadata": http,
            },
        },
    }


def wat_bytes(answers: list[Answer]) -> bytes:
    """A ``.warc.wat.gz`` of the answers: one ``metadata`` record each."""
    records = [
        warc_record(
            "metadata",
            a.url,
            json.dumps(wat_metadata(a)).encode(),
            a.date,
            content_type="application/json",
        )
        for a in answers
    ]
    return gzip_members(records)
