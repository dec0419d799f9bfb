"""Web archives as a source: WARC and WAT records in, page records out (docs/ingest.md).

A WARC ``response`` record is what a crawler fetched, so it becomes exactly the
page record a crawl of that URL at the record's ``WARC-Date`` gives: its HTTP
answer is turned into the Scrapy response the crawl's downloader would have
built (:func:`scrapy.responsetypes.responsetypes.from_args` picks the class,
as Scrapy's HTTP handler does) and handed to the crawl's own
:func:`~crawler.spiders.outlinks.page_from_response`. One extraction, one set
of rules: robots meta and ``X-Robots-Tag``, 3xx ``redirect`` edges, canonical,
anchors, locations and page facts are the crawl's.

A Common Crawl WAT ``metadata`` record carries the links its crawler's parser
found (``Envelope → Payload-Metadata → HTTP-Response-Metadata →
HTML-Metadata``): :func:`wat_pages` turns its ``Links`` and ``Head`` into
edges resolved against the page's base and normalized by
:mod:`linkcore.urls`, with the attributes WAT keeps (anchor text, ``rel``)
and ``location = "other"``.

Reading is resilient (docs/ingest.md#bad-records): the file is framed into
records here, member by member for gzip, so that a corrupt gzip member, a
malformed WARC header or a truncated record is counted and skipped and
reading goes on at the next record. FastWARC parses each response record's
HTTP message and undoes its transfer and content encodings; its own file
iterator stops at the first bad record, which is why it does not frame.
"""

from __future__ import annotations

import io
import itertools
import json
import logging
import re
import sys
import threading
import urllib.error
import urllib.request
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, fields
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any, Final

from fastwarc.warc import WarcRecord
from scrapy import Request
from scrapy.http import Headers
from scrapy.responsetypes import responsetypes

# zlib-ng inflates gzip members twice as fast as the zlib CPython links, with
# the same API and the same errors (a WARC file is mostly gzip to undo).
from zlib_ng import zlib_ng as zlib

from crawler.extract import (
    ANCHOR_MAX_CHARS,
    meta_robots_nofollow,
    meta_robots_noindex,
    parse_rel,
    robots_header_nofollow,
    robots_header_noindex,
)
from crawler.spiders.outlinks import page_from_response
from linkcore import config
from linkcore.errors import LinkgraphError
from linkcore.records import Link, PageRecord
from linkcore.urls import normalize, resolve, resolve_and_normalize, resolver

log = logging.getLogger(__name__)

__all__ = [
    "ArchiveError",
    "Tally",
    "archive_kind",
    "open_archive",
    "read_paths_file",
    "records",
    "warc_pages",
    "wat_pages",
]

#: A WARC header block longer than this is not one (real ones are under 2 KiB).
MAX_HEADER_BYTES: Final = 64 * 1024
#: Records whose block is larger are skipped unread (Common Crawl cuts payloads at 1 MiB).
MAX_RECORD_BYTES: Final = 256 * 1024 * 1024
#: Bytes of a response body read at a time. A read allocates what it asks
#: for, and under 128 KiB that comes from the heap, warm; a larger one is
#: mapped afresh for every page (the usual page fits in one or two).
_BODY_PIECE: Final = 64 * 1024
#: Bytes read from the source at a time.
READ_BYTES: Final = 1 << 20

_GZIP_MAGIC: Final = b"\x1f\x8b\x08"
#: Compressed bytes handed to zlib at a time (see _gunzip).
_INFLATE_SLICE: Final = 16 * 1024
#: Compressed bytes of the member being inflated kept to look for the next
#: member in, should it turn out corrupt (see _gunzip).
_REWIND_BYTES: Final = 4 * 1024 * 1024
_ZSTD_MAGIC: Final = b"\x28\xb5\x2f\xfd"
# A skippable frame holding the dictionary of a .warc.zst file (the WARC zstd
# convention: magic 0x184D2A5D, little-endian, then a 4-byte size).
_ZSTD_DICT_MAGIC: Final = b"\x5d\x2a\x4d\x18"
_CONTENT_LENGTH: Final = re.compile(rb"\r\ncontent-length:[ \t]*(\d+)[ \t]*(?=\r\n|$)", re.I)
_HTML_TYPES: Final = ("text/html", "application/xhtml+xml")


class ArchiveError(LinkgraphError):
    """An archive that cannot be read at all: missing, unreachable, not a WARC file."""


@dataclass(slots=True)
class Tally:
    """What reading archives met, record by record (docs/ingest.md#counters).

    ``records``: WARC records framed. ``pages``: page records made, of which
    ``html`` (2xx HTML, parsed), ``redirects`` (3xx) and ``other`` (any other
    status or content type: a page record without links, as a crawl stores).
    ``skipped``: records that are no HTTP response (requests, metadata,
    warcinfo, DNS, revisits; for WAT, metadata of anything but a response).
    ``corrupt``: malformed headers, bad gzip members, unparsable HTTP or JSON,
    junk between records. ``truncated``: a record cut off by the end of its
    file or member. ``too_large``: payloads over the crawl's page size cap.
    ``edges``: edges of the page records made.
    """

    records: int = 0
    pages: int = 0
    html: int = 0
    redirects: int = 0
    other: int = 0
    skipped: int = 0
    corrupt: int = 0
    truncated: int = 0
    too_large: int = 0
    edges: int = 0

    def add(self, other: Tally) -> None:
        for name in _TALLY_FIELDS:
            setattr(self, name, getattr(self, name) + getattr(other, name))

    def as_dict(self) -> dict[str, int]:
        return {name: getattr(self, name) for name in _TALLY_FIELDS}

    def count_page(self, page: PageRecord) -> None:
        self.pages += 1
        self.edges += len(page.links)
        if 300 <= page.status < 400 and page.links:
            self.redirects += 1
        elif 200 <= page.status < 300 and page.content_type in _HTML_TYPES:
            self.html += 1
        else:
            self.other += 1


_TALLY_FIELDS: Final = tuple(f.name for f in fields(Tally))


# -- sources ------------------------------------------------------------------------


def open_archive(name: str, *, timeout: float = 60.0) -> IO[bytes]:
    """The bytes of archive ``name``: a local path, ``-`` (stdin) or an http(s) URL,
    streamed. Raises :class:`ArchiveError` with one line when it cannot be opened."""
    if name == "-":
        return sys.stdin.buffer
    if name.startswith(("http://", "https://")):
        try:
            # urllib honours http_proxy / https_proxy, as the crawler does.
            response: IO[bytes] = urllib.request.urlopen(name, timeout=timeout)
        except urllib.error.HTTPError as error:
            raise ArchiveError(f"cannot read {name}: HTTP {error.code} {error.reason}") from None
        except (urllib.error.URLError, OSError, ValueError) as error:
            reason = getattr(error, "reason", error)
            raise ArchiveError(f"cannot read {name}: {reason}") from None
        return response
    if "://" in name:
        raise ArchiveError(f"cannot read {name}: only local paths, - and http(s) URLs are read")
    path = Path(name)
    try:
        return path.open("rb")
    except IsADirectoryError:
        raise ArchiveError(f"cannot read {name}: it is a directory") from None
    except OSError as error:
        raise ArchiveError(f"cannot read {name}: {error.strerror or error}") from None


def read_paths_file(path: str) -> list[str]:
    """The archives a paths file lists: one path or URL per line, blank lines and
    ``#`` comments ignored. Common Crawl's ``warc.paths`` lines (relative keys
    like ``crawl-data/CC-MAIN-…/warc/….warc.gz``) are read as
    ``https://data.commoncrawl.org/`` URLs."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as error:
        raise ArchiveError(f"cannot read {path}: {error.strerror or error}") from None
    except UnicodeDecodeError:
        raise ArchiveError(f"cannot read {path}: not UTF-8 text") from None
    paths = []
    for line in text.splitlines():
        entry = line.strip()
        if not entry or entry.startswith("#"):
            continue
        if entry.startswith("crawl-data/"):
            entry = "https://data.commoncrawl.org/" + entry
        paths.append(entry)
    if not paths:
        raise ArchiveError(f"{path} lists no archives")
    return paths


def archive_kind(name: str) -> str:
    """``wat`` for a WAT file by its name (Common Crawl's ``….warc.wat.gz``, or a
    ``/wat/`` folder), else ``warc``."""
    base = name.rsplit("/", 1)[-1].lower()
    if ".wat." in base or base.endswith(".wat") or "/wat/" in name:
        return "wat"
    return "warc"


# -- framing ----------------------------------------------------------------------


def _chunks(stream: IO[bytes], first: bytes = b"") -> Iterator[bytes]:
    if first:
        yield first
    while True:
        try:
            chunk = stream.read(READ_BYTES)
        except OSError as error:
            # A connection cut mid-file: what was read stands, the rest is truncated.
            log.warning("archive read failed: %s", error)
            return
        if not chunk:
            return
        yield chunk


def _gunzip(chunks: Iterable[bytes], tally: Tally) -> Iterator[bytes | None]:
    """The decompressed bytes of concatenated gzip members, ``b""`` after each member;
    ``None`` marks where a corrupt or cut-off member was dropped (counted), so the
    framer drops its partial record.

    After a member that does not inflate, reading resumes at the next gzip
    header after that member's start: the compressed bytes of the member being
    inflated are kept (up to ``_REWIND_BYTES``) to look for it.
    """
    window = bytearray()  # compressed bytes: the current member's fed ones, then unfed
    fed = 0  # bytes of window handed to the inflater
    inflater: Any = None
    damaged = False  # this run of damage is counted already
    for chunk in itertools.chain(chunks, [None]):
        eof = chunk is None
        if chunk is not None:
            window += chunk
        while True:
            if inflater is None:
                if len(window) < len(_GZIP_MAGIC) and not eof:
                    break  # maybe the start of a member the next chunk completes
                if not window.startswith(_GZIP_MAGIC):
                    found = window.find(_GZIP_MAGIC, 1)
                    junk = window if found < 0 else window[:found]
                    if not damaged and bytes(junk).strip(b"\x00\r\n\t "):
                        # (Zero padding after the last member is no damage.)
                        tally.corrupt += 1
                        damaged = True
                        yield None
                    if found < 0:
                        # Keep a tail in case a header is split across chunks.
                        del window[: max(0, len(window) - 2)]
                        if eof:
                            window.clear()
                        break
                    del window[:found]
                inflater = zlib.decompressobj(31)
                fed = 0
            if fed >= len(window):
                break
            # Fed in slices: after a member ends, zlib copies the rest of its input
            # into unused_data, which must stay small (members are a few KiB).
            piece = bytes(window[fed : fed + _INFLATE_SLICE])
            try:
                out = inflater.decompress(piece)
            except zlib.error:  # type: ignore[misc]  # (its stub calls error an instance)
                if not damaged:
                    tally.corrupt += 1
                    damaged = True
                yield None
                inflater = None
                del window[:1]  # look again from just after this member's start
                continue
            if out:
                yield out
            if inflater.eof:
                # A member ends a record (the WARC gzip convention): b"" says so.
                yield b""
                del window[: fed + len(piece) - len(inflater.unused_data)]
                inflater = None
                damaged = False
                continue
            fed += len(piece)
            if fed > _REWIND_BYTES:
                # A huge member (a whole file in one): forget its oldest bytes.
                del window[: fed - _REWIND_BYTES]
                fed = _REWIND_BYTES
        if eof:
            break
    if inflater is not None:
        # The file ends inside a member: the record it held is cut off.
        tally.truncated += 1
        yield None


def _unzstd(first: bytes, stream: IO[bytes], tally: Tally) -> Iterator[bytes | None]:
    """Zstandard frames, with the dictionary of a ``.warc.zst`` file when it has one.
    A corrupt frame ends the file (counted): zstd has no member boundary to resync on."""
    import zstandard

    data = first
    dictionary = None
    if data.startswith(_ZSTD_DICT_MAGIC):
        while len(data) < 8:
            more = stream.read(READ_BYTES)
            if not more:
                break
            data += more
        size = int.from_bytes(data[4:8], "little")
        while len(data) < 8 + size:
            more = stream.read(READ_BYTES)
            if not more:
                break
            data += more
        raw = data[8 : 8 + size]
        data = data[8 + size :]
        if raw.startswith(_ZSTD_MAGIC):
            raw = zstandard.ZstdDecompressor().decompress(raw)
        dictionary = zstandard.ZstdCompressionDict(raw)
    decompressor = zstandard.ZstdDecompressor(dict_data=dictionary)
    joined: Any = _Joined(data, stream)
    reader = decompressor.stream_reader(joined, read_across_frames=True, closefd=False)
    try:
        while chunk := reader.read(READ_BYTES):
            yield chunk
    except zstandard.ZstdError as error:
        log.warning("zstd: %s", error)
        tally.corrupt += 1
        yield None


class _Joined(io.RawIOBase):
    """``head`` then the rest of ``stream``, as one readable stream."""

    def __init__(self, head: bytes, stream: IO[bytes]) -> None:
        self.head = head
        self.stream = stream

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        if self.head:
            size = min(len(buffer), len(self.head))
            buffer[:size] = self.head[:size]
            self.head = self.head[size:]
            return size
        data = self.stream.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)


def _decompressed(stream: IO[bytes], tally: Tally) -> Iterator[bytes | None]:
    first = stream.read(READ_BYTES)
    # Enough to tell the format by its magic number (a pipe may give less at once).
    while 0 < len(first) < 8:
        more = stream.read(READ_BYTES)
        if not more:
            break
        first += more
    if first.startswith(_GZIP_MAGIC):
        return _gunzip(_chunks(stream, first), tally)
    if first.startswith((_ZSTD_MAGIC, _ZSTD_DICT_MAGIC)):
        return _unzstd(first, stream, tally)
    return _chunks(stream, first)


_WARC_TYPE: Final = re.compile(rb"\r\nwarc-type:[ \t]*([^\r\n]*)", re.I)


class Record:
    """One framed WARC record: its type, its header fields (names lower-cased,
    parsed when first asked for: most records of a file are skipped by type)
    and its block."""

    __slots__ = ("_fields", "block", "head", "raw", "warc_type")

    def __init__(self, head: bytes, block: memoryview, raw: bytes) -> None:
        self.head = head
        self.block = block
        self.raw = raw
        match = _WARC_TYPE.search(head)
        self.warc_type = match.group(1).strip().decode("latin-1").lower() if match else ""
        self._fields: dict[str, str] | None = None

    @property
    def headers(self) -> dict[str, str]:
        if self._fields is None:
            self._fields = _header_fields(self.head)
        return self._fields


def _header_fields(head: bytes) -> dict[str, str]:
    fields_: dict[str, str] = {}
    for line in head.decode("utf-8", "replace").split("\r\n")[1:]:
        name, colon, value = line.partition(":")
        if colon:
            fields_.setdefault(name.strip().lower(), value.strip())
    return fields_


def records(stream: IO[bytes], tally: Tally) -> Iterator[Record]:
    """The WARC records of ``stream`` (gzip, zstd or plain), damage counted in ``tally``.

    Raises :class:`ArchiveError` when the stream does not start like a WARC file
    (nothing framed before the first junk)."""
    buffer = bytearray()
    pos = 0
    framed = 0
    skip = 0  # bytes of an over-large record still to drop
    damaged = False  # counted the damage being skipped over already
    pieces = _decompressed(stream, tally)
    eof = False
    while True:
        try:
            piece = next(pieces)
        except StopIteration:
            eof = True
            piece = b""
        except OSError as error:
            raise ArchiveError(f"read failed: {error}") from None
        if piece is None:
            # What is buffered is part of a record of the corrupt member, counted there.
            buffer.clear()
            pos = skip = 0
            continue
        if not piece and not eof:
            # The end of a gzip member: a record still open in it is cut off
            # (unless it is the rest of damage counted already).
            if not damaged and bytes(buffer[pos:]).strip(b"\r\n \t\x00"):
                tally.truncated += 1
            buffer.clear()
            pos = skip = 0
            damaged = False
            continue
        if skip:
            dropped = min(skip, len(piece))
            skip -= dropped
            piece = piece[dropped:]
        if pos > READ_BYTES and pos * 2 > len(buffer):
            del buffer[:pos]
            pos = 0
        buffer += piece
        while True:
            # Records are followed by CRLF CRLF; tolerate any whitespace between them.
            while pos < len(buffer) and buffer[pos] in b"\r\n \t\x00":
                pos += 1
            if len(buffer) - pos < 9:
                break
            if not buffer.startswith(b"WARC/", pos):
                if framed == 0 and not damaged and tally.records == tally.corrupt == 0:
                    raise ArchiveError("not a WARC file (no WARC record at its start)")
                # Junk: counted once per run of it, up to the next record.
                if not damaged:
                    tally.corrupt += 1
                    damaged = True
                at = buffer.find(b"\nWARC/", pos)
                if at < 0:
                    # Keep a tail in case the next record's start is split.
                    pos = len(buffer) if eof else max(pos, len(buffer) - 6)
                    break
                pos = at + 1
                continue
            end = buffer.find(b"\r\n\r\n", pos, pos + MAX_HEADER_BYTES)
            if end < 0:
                if len(buffer) - pos >= MAX_HEADER_BYTES:
                    if not damaged:
                        tally.corrupt += 1
                        damaged = True
                    pos += 1
                    continue
                break
            head = bytes(buffer[pos:end])
            match = _CONTENT_LENGTH.search(head)
            if match is None:
                if not damaged:
                    tally.corrupt += 1
                    damaged = True
                pos += 1
                continue
            damaged = False
            length = int(match.group(1))
            start = end + 4
            if length > MAX_RECORD_BYTES:
                tally.records += 1
                tally.too_large += 1
                framed += 1
                available = len(buffer) - start
                if available >= length:
                    pos = start + length
                    continue
                skip = length - available
                pos = len(buffer)
                break
            if len(buffer) - start < length:
                break
            raw = bytes(buffer[pos : start + length])
            block = memoryview(raw)[start - pos :]
            pos = start + length
            framed += 1
            tally.records += 1
            yield Record(head, block, raw)
        if eof:
            rest = bytes(buffer[pos:]).strip(b"\r\n \t\x00")
            if rest and framed == 0 and not damaged and not rest.startswith(b"WARC/"):
                raise ArchiveError("not a WARC file (no WARC record at its start)")
            if rest and not damaged:
                tally.truncated += 1
            return


# -- WARC ---------------------------------------------------------------------------


def _warc_date(value: str) -> float | None:
    try:
        moment = datetime.fromisoformat(value.strip())
    except ValueError:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.timestamp()


def _target_uri(record: Record) -> str:
    # WARC 1.0's grammar showed the URI in angle brackets; some writers kept them.
    return record.headers.get("warc-target-uri", "").strip().strip("<>")


@dataclass(slots=True)
class _Http:
    status: int
    headers: list[tuple[str, str]]
    body: bytes


def _parse_http(record: Record, max_bytes: int, tally: Tally) -> _Http | None:
    """The HTTP answer of a response record, transfer and content encodings undone."""
    try:
        parsed = WarcRecord.from_bytes(record.raw)
        parsed.parse_http(auto_decode="all")
        status = parsed.http_headers.status_code if parsed.is_http else None
        if status is None:
            tally.corrupt += 1
            return None
        # Read in pieces: a read of max_bytes at once allocates that much for
        # every page, and a decoded body may be larger than its record.
        pieces = []
        size = 0
        while size <= max_bytes:
            piece = parsed.reader.read(_BODY_PIECE)
            if not piece:
                break
            pieces.append(piece)
            size += len(piece)
        headers = list(parsed.http_headers.to_tuples())
    except (OSError, ValueError):
        tally.corrupt += 1
        return None
    if size > max_bytes:
        tally.too_large += 1
        return None
    return _Http(int(status), headers, pieces[0] if len(pieces) == 1 else b"".join(pieces))


_requests = threading.local()


def page_from_http(
    url: str,
    status: int,
    headers: Iterable[tuple[str, str]],
    body: bytes,
    *,
    fetched_at: float,
    job: str = "",
    max_links: int = config.LINKGRAPH_MAX_LINKS_PER_PAGE,
) -> PageRecord | None:
    """The page record a crawl gives for ``url`` answering ``status`` with ``headers``
    and (decoded) ``body`` at ``fetched_at``; None for a URL the crawl could not
    request (not http(s), unparsable)."""
    source_url = normalize(url)
    if source_url is None:
        return None
    request = getattr(_requests, "request", None)
    if request is None:
        # One request object stands for every record's (building a Request
        # costs a tenth of a page's extraction): page_from_response reads only
        # the response's meta, which is the request's, set anew for each record.
        request = _requests.request = Request("http://linkgraph.invalid/")
    request.meta.clear()
    request.meta.update(lg_url=source_url, depth=0)
    # From the pairs at once, as Scrapy's HTTP handler builds them (a repeated
    # name keeps every value).
    scrapy_headers = Headers(list(headers))
    # What Scrapy's HTTP download handler does with an answer.
    response_class = responsetypes.from_args(headers=scrapy_headers, url=source_url, body=body)
    response = response_class(
        url=source_url, status=status, headers=scrapy_headers, body=body, request=request
    )
    # An archive's page is followed nowhere: no follow list to build.
    page, _follow, _text = page_from_response(response, job, max_links, with_follow=False)
    page.fetched_at = fetched_at
    return page


def warc_pages(
    stream: IO[bytes],
    tally: Tally,
    *,
    source: str = "",
    job: str = "",
    max_links: int = config.LINKGRAPH_MAX_LINKS_PER_PAGE,
    max_bytes: int = config.LINKGRAPH_MAX_PAGE_BYTES,
) -> Iterator[PageRecord]:
    """The page record of every HTTP ``response`` record of a WARC stream (see module
    doc), tagged with ``source``; everything else is counted in ``tally``."""
    for record in records(stream, tally):
        if record.warc_type != "response":
            tally.skipped += 1
            continue
        headers = record.headers
        if not headers.get("content-type", "").lower().startswith("application/http"):
            tally.skipped += 1
            continue
        url = _target_uri(record)
        fetched_at = _warc_date(headers.get("warc-date", ""))
        if not url.lower().startswith(("http://", "https://")):
            tally.skipped += 1
            continue
        if fetched_at is None:
            tally.corrupt += 1
            continue
        http = _parse_http(record, max_bytes, tally)
        if http is None:
            continue
        try:
            page = page_from_http(
                url,
                http.status,
                http.headers,
                http.body,
                fetched_at=fetched_at,
                job=job,
                max_links=max_links,
            )
        except Exception:  # pragma: no cover - Scrapy refusing a header block and the like
            log.debug("record of %s not turned into a page", url, exc_info=True)
            tally.corrupt += 1
            continue
        if page is None:
            tally.corrupt += 1
            continue
        page.ip = headers.get("warc-ip-address", "")
        page.source = source
        tally.count_page(page)
        yield page


# -- WAT ----------------------------------------------------------------------------


def _clean(text: Any) -> str:
    return " ".join(str(text or "").split())[:ANCHOR_MAX_CHARS]


def _header_values(headers: Any, name: str) -> list[str]:
    """Values of HTTP header ``name`` in a WAT ``Headers`` object (any case; a value
    may be a list when the header repeated)."""
    if not isinstance(headers, dict):
        return []
    values: list[str] = []
    for key, value in headers.items():
        if str(key).lower() == name:
            values.extend(str(v) for v in (value if isinstance(value, list) else [value]))
    return values


def _dig(data: Any, *path: str) -> Any:
    for key in path:
        if not isinstance(data, dict):
            return None
        data = data.get(key)
    return data


def page_from_wat(metadata: dict[str, Any], *, job: str = "") -> PageRecord | None:
    """The page record of one WAT metadata JSON object, or None when it does not
    describe an HTTP response. Raises ValueError/TypeError on a malformed one."""
    envelope = metadata.get("Envelope")
    warc = _dig(envelope, "WARC-Header-Metadata") or {}
    if str(warc.get("WARC-Type", "")).lower() != "response":
        return None
    http = _dig(envelope, "Payload-Metadata", "HTTP-Response-Metadata")
    if not isinstance(http, dict):
        return None
    url = str(warc.get("WARC-Target-URI", "")).strip().strip("<>")
    source_url = normalize(url)
    fetched_at = _warc_date(str(warc.get("WARC-Date", "")))
    if source_url is None or fetched_at is None:
        raise ValueError("no usable WARC-Target-URI or WARC-Date")
    status = int(_dig(http, "Response-Message", "Status"))
    headers = http.get("Headers") or {}
    content_types = _header_values(headers, "content-type")
    content_type = content_types[0].split(";", 1)[0].strip().lower() if content_types else ""
    robots = _header_values(headers, "x-robots-tag")
    page = PageRecord(
        url=source_url,
        status=status,
        fetched_at=fetched_at,
        content_type=content_type,
        robots_nofollow=robots_header_nofollow(robots),
        robots_noindex=robots_header_noindex(robots),
        job=job,
        ip=str(warc.get("WARC-IP-Address", "")),
    )
    etags = _header_values(headers, "etag")
    modified = _header_values(headers, "last-modified")
    if 200 <= status < 300 or status == 304:
        page.etag = etags[0] if etags else ""
        page.last_modified = modified[0] if modified else ""
    if 300 <= status < 400 and status != 304:
        locations = _header_values(headers, "location")
        if locations:
            target = resolve_and_normalize(locations[0], source_url)
            if target is None:
                page.dropped_links += 1
            elif target != source_url:
                page.links.append(Link(target, "redirect", nofollow=page.robots_nofollow))
        return page
    html = http.get("HTML-Metadata")
    if not (200 <= status < 300 and content_type in _HTML_TYPES and isinstance(html, dict)):
        return page
    head = html.get("Head") or {}
    for meta in head.get("Metas") or ():
        if isinstance(meta, dict) and str(meta.get("name", "")).strip().lower() in (
            "robots",
            config.LINKGRAPH_ROBOTS_TOKEN.lower(),
        ):
            content = str(meta.get("content", ""))
            page.robots_nofollow = page.robots_nofollow or meta_robots_nofollow(content)
            page.robots_noindex = page.robots_noindex or meta_robots_noindex(content)
    page.title = _clean(head.get("Title"))
    base_href = head.get("Base")
    base = source_url
    if isinstance(base_href, str) and base_href:
        resolved = resolve(base_href, source_url)
        if resolved is not None and not resolved.startswith(("data:", "javascript:")):
            base = resolved
    resolve_href = resolver(base)
    edges: dict[tuple[str, str], Link] = {}
    found: list[tuple[str, str, Any, Any]] = []
    for link in head.get("Link") or ():
        if isinstance(link, dict) and "canonical" in str(link.get("rel", "")).lower().split():
            found.append(("canonical", str(link.get("url", "")), "", ""))
    for link in html.get("Links") or ():
        if not isinstance(link, dict):
            continue
        path = str(link.get("path", ""))
        if path in ("A@/href", "AREA@/href"):
            found.append(("a", str(link.get("url", "")), link.get("text"), link.get("rel")))
        elif path == "LINK@/href" and "canonical" in str(link.get("rel", "")).lower().split():
            found.append(("canonical", str(link.get("url", "")), "", ""))
    for kind, href, text, rel in found:
        target = resolve_href(href)
        if target is None:
            page.dropped_links += 1
            continue
        if target == source_url:
            continue
        edge = edges.get((target, kind))
        if edge is not None:
            if kind == "a":
                edge.link_count += 1
            continue
        if len(edges) >= config.LINKGRAPH_MAX_LINKS_PER_PAGE:
            page.dropped_links += 1
            continue
        nofollow, ugc, sponsored = parse_rel(str(rel or ""))
        edges[(target, kind)] = Link(
            target,
            kind,
            _clean(text) if kind == "a" else "",
            False,
            nofollow or page.robots_nofollow,
            ugc,
            sponsored,
        )
    page.links = list(edges.values())
    return page


def wat_pages(
    stream: IO[bytes], tally: Tally, *, source: str = "", job: str = ""
) -> Iterator[PageRecord]:
    """The page record of every WAT ``metadata`` record that describes an HTTP
    response (see :func:`page_from_wat`), tagged with ``source``."""
    for record in records(stream, tally):
        if record.warc_type != "metadata":
            tally.skipped += 1
            continue
        try:
            metadata = json.loads(bytes(record.block))
            page = page_from_wat(metadata, job=job) if isinstance(metadata, dict) else None
        except (ValueError, TypeError, KeyError):
            tally.corrupt += 1
            continue
        if page is None:
            tally.skipped += 1
            continue
        page.source = source
        tally.count_page(page)
        yield page


#: The readers by archive kind.
READERS: Final[dict[str, Callable[..., Iterator[PageRecord]]]] = {
    "warc": warc_pages,
    "wat": wat_pages,
}
