"""The synthetic web served from memory, as an HTTP proxy on loopback.

A crawler pointed at it with ``http_proxy=http://127.0.0.1:PORT`` sends
absolute-form requests (``GET http://alpha-shop.com/page HTTP/1.1``); origin-form
requests are answered too, from their ``Host`` header. Every request is
recorded in a :class:`RequestLog` that tests read in-process and that can also
append one JSON line per request to a file, for a proxy running as a
subprocess.

With ``validators`` on, it answers as a server with conditional requests
does (docs/crawling.md#revisits): every 200 response carries an ``ETag`` (a
hash of its body) and a ``Last-Modified`` (when the proxy first served that
body at that URL), and a request whose ``If-None-Match`` matches, or, without
one, whose ``If-Modified-Since`` is not older, gets ``304 Not Modified`` with
no body. :meth:`ProxyServer.serve` swaps the web it serves, as a site changes.

The proxy only speaks plain http: a ``CONNECT`` (what a client sends through
``https_proxy`` for an https URL) is logged and refused with 501, so an
attempt to fetch an https URL shows up in the log.
"""

from __future__ import annotations

import hashlib
import json
import logging
import threading
import time
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from email.utils import format_datetime, parsedate_to_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import TracebackType
from typing import Final
from urllib.parse import urlsplit

from linkgraph.demo.model import Resource, SyntheticWeb

__all__ = [
    "LoggedRequest",
    "ProxyServer",
    "RequestLog",
    "request_key",
]

logger = logging.getLogger(__name__)

_TRACKING: Final = frozenset(
    {"gclid", "dclid", "fbclid", "msclkid", "yclid", "mc_cid", "mc_eid", "_hsenc", "_hsmi"}
)
_DEFAULT_PORTS: Final = {"http": 80, "https": 443}
_NOT_FOUND: Final = b"<!DOCTYPE html><html><body><h1>404 Not Found</h1></body></html>\n"


def request_key(url: str) -> str:
    """The model URL a requested URL is looked up under.

    Deliberately lenient, so that the proxy does not dictate which of several
    equivalent spellings a crawler sends: the scheme and host are lower-cased,
    a trailing dot on the host, a default port, the fragment and tracking
    parameters (docs/urls.md#step-4-drop-tracking-parameters)
    are dropped, and an empty path becomes ``/``. The
    rest is kept byte for byte.
    """
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    host = (parts.hostname or "").rstrip(".")
    try:
        port = parts.port
    except ValueError:
        port = None
    netloc = host if port in (None, _DEFAULT_PORTS.get(scheme)) else f"{host}:{port}"
    path = parts.path or "/"
    query = ""
    if parts.query:
        parameters = parts.query.split("&")
        kept = [p for p in parameters if not _is_tracking(p)]
        if len(kept) == len(parameters):
            query = "?" + parts.query
        elif kept:
            query = "?" + "&".join(kept)
    return f"{scheme}://{netloc}{path}{query}"


def _is_tracking(parameter: str) -> bool:
    name = parameter.split("=", 1)[0].lower()
    return name.startswith("utm_") or name in _TRACKING


@dataclass(frozen=True, slots=True)
class LoggedRequest:
    """One request the proxy received.

    ``url`` is the absolute URL as requested (rebuilt from ``Host`` for an
    origin-form request); ``key`` the model URL it was looked up under (see
    :func:`request_key`); ``time`` is ``time.monotonic()`` at arrival.
    """

    method: str
    url: str
    key: str
    time: float
    user_agent: str
    status: int
    #: The request's conditional headers (docs/crawling.md#revisits), "" when absent.
    if_none_match: str = ""
    if_modified_since: str = ""


#: Paths a crawl asks every host for that are not pages of the web: its
#: robots.txt and, when robots.txt names no sitemap, its /sitemap.xml.
NOT_PAGES: Final = ("/robots.txt", "/sitemap.xml")


class RequestLog:
    """A thread-safe record of every request, optionally mirrored to a JSONL file."""

    def __init__(self, path: Path | None = None) -> None:
        self._lock = threading.Lock()
        self._entries: list[LoggedRequest] = []
        self._path = path

    def record(self, entry: LoggedRequest) -> None:
        """Append ``entry`` (and write its JSON line when a file was given)."""
        with self._lock:
            self._entries.append(entry)
            if self._path is not None:
                with self._path.open("a", encoding="utf-8") as stream:
                    stream.write(json.dumps(asdict(entry), ensure_ascii=False) + "\n")

    def entries(self) -> list[LoggedRequest]:
        """A copy of the entries so far, in arrival order."""
        with self._lock:
            return list(self._entries)

    def clear(self) -> None:
        """Forget the entries so far (the JSONL file, if any, is left alone)."""
        with self._lock:
            self._entries.clear()

    def __len__(self) -> int:
        with self._lock:
            return len(self._entries)


class _Handler(BaseHTTPRequestHandler):
    """Answers from the server's :class:`SyntheticWeb`; HTTP/1.1 keep-alive."""

    protocol_version = "HTTP/1.1"
    server_version = "synthweb/1"
    # Headers and body leave in two writes; without this, Nagle's algorithm
    # and delayed ACKs cost ~40 ms per keep-alive response.
    disable_nagle_algorithm = True
    server: _Server

    def do_GET(self) -> None:
        self._answer(send_body=True)

    def do_HEAD(self) -> None:
        self._answer(send_body=False)

    def do_CONNECT(self) -> None:
        arrived = time.monotonic()
        url = f"https://{self.path}/"
        self._log(arrived, url, url, 501)
        self.close_connection = True
        headers = (("Content-Type", "text/plain"), ("Connection", "close"))
        self._send(501, headers, b"https is not served\n", send_body=True)

    def do_POST(self) -> None:
        arrived = time.monotonic()
        url = self._absolute_url()
        self._log(arrived, url, request_key(url), 405)
        # The request body is never read, so the connection cannot be reused.
        self.close_connection = True
        headers = (("Content-Type", "text/plain"), ("Allow", "GET, HEAD"), ("Connection", "close"))
        self._send(405, headers, b"", send_body=True)

    def _absolute_url(self) -> str:
        if self.path.lower().startswith(("http://", "https://")):
            return self.path
        host = self.headers.get("Host", "")
        return f"http://{host}{self.path}"

    def _answer(self, *, send_body: bool) -> None:
        arrived = time.monotonic()
        url = self._absolute_url()
        key = request_key(url)
        resource = self.server.lookup(key)
        status, headers, body = resource.status, resource.headers, resource.body
        if self.server.validators and status == 200:
            etag, modified = self.server.version(key, body)
            headers = (*headers, ("ETag", etag), ("Last-Modified", modified))
            if self._not_modified(etag, modified):
                status, body = 304, b""
                headers = (("ETag", etag), ("Last-Modified", modified))
        self._log(arrived, url, key, status)
        delay = self.server.delays.get(key)
        if delay:
            time.sleep(delay)
        self._send(status, headers, body, send_body=send_body)

    def _not_modified(self, etag: str, modified: str) -> bool:
        """RFC 9110, 13.2.2: If-None-Match decides when present, else If-Modified-Since."""
        match = self.headers.get("If-None-Match")
        if match is not None:
            tags = [tag.strip().removeprefix("W/") for tag in match.split(",")]
            return "*" in tags or etag in tags
        since = self.headers.get("If-Modified-Since")
        if since is None:
            return False
        try:
            return parsedate_to_datetime(modified) <= parsedate_to_datetime(since)
        except (TypeError, ValueError):
            return False

    def _log(self, arrived: float, url: str, key: str, status: int) -> None:
        self.server.log.record(
            LoggedRequest(
                method=self.command,
                url=url,
                key=key,
                time=arrived,
                user_agent=self.headers.get("User-Agent", ""),
                status=status,
                if_none_match=self.headers.get("If-None-Match", ""),
                if_modified_since=self.headers.get("If-Modified-Since", ""),
            )
        )

    def _send(
        self,
        status: int,
        headers: tuple[tuple[str, str], ...],
        body: bytes,
        *,
        send_body: bool,
    ) -> None:
        self.send_response(status)
        for name, value in headers:
            self.send_header(name, value)
        if status != 304:
            self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if send_body and body:
            self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        logger.debug("%s " + format, self.address_string(), *args)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    # Crawls open many connections at once; the default backlog of 5 drops some.
    request_queue_size = 128

    def __init__(
        self, address: tuple[str, int], web: SyntheticWeb, log: RequestLog, validators: bool
    ) -> None:
        self.web = web
        self.log = log
        self.validators = validators
        #: Model URL -> seconds its answer is held back (a slow page).
        self.delays: dict[str, float] = {}
        #: Model URL -> (ETag, Last-Modified) of the body it serves now.
        self._versions: dict[str, tuple[str, str]] = {}
        self._clock = time.time()
        self._lock = threading.Lock()
        super().__init__(address, _Handler)

    def version(self, key: str, body: bytes) -> tuple[str, str]:
        """The ETag and Last-Modified of ``body`` served at ``key``: a new body
        is modified at least a second after the one it replaced (HTTP dates
        count whole seconds)."""
        etag = '"' + hashlib.sha256(body).hexdigest()[:20] + '"'
        with self._lock:
            known = self._versions.get(key)
            if known is None or known[0] != etag:
                if known is not None:
                    self._clock = max(time.time(), self._clock + 1.0)
                modified = format_datetime(
                    datetime.fromtimestamp(int(self._clock), UTC), usegmt=True
                )
                known = (etag, modified)
                self._versions[key] = known
            return known

    def lookup(self, key: str) -> Resource:
        resource = self.web.resource(key)
        if resource is not None:
            return resource
        parts = urlsplit(key)
        if parts.path == "/robots.txt" and not parts.query:
            text = self.web.robots_txt(parts.hostname or "")
            if text is not None:
                return Resource(key, 200, (("Content-Type", "text/plain"),), text.encode())
        return Resource(key, 404, (("Content-Type", "text/html; charset=utf-8"),), _NOT_FOUND)


class ProxyServer:
    """The synthetic web on ``host:port`` (``port=0``: any free port), in daemon threads.

    Use as a context manager, or call :meth:`start` and :meth:`stop`. The
    bound port is :attr:`port` once started; :attr:`log` records every request.
    """

    def __init__(
        self,
        web: SyntheticWeb,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        log: RequestLog | None = None,
        validators: bool = False,
    ) -> None:
        self.web = web
        self.log = log if log is not None else RequestLog()
        self._server = _Server((host, port), web, self.log, validators)
        self._thread: threading.Thread | None = None

    def serve(self, web: SyntheticWeb) -> None:
        """Serve ``web`` from now on (a changed site, at the same address)."""
        self.web = web
        self._server.web = web

    def delay(self, url: str, seconds: float) -> None:
        """Hold back the answer to ``url`` by ``seconds`` (0: answer at once again).

        The request is logged when it arrives, before the wait.
        """
        key = request_key(url)
        if seconds > 0:
            self._server.delays[key] = seconds
        else:
            self._server.delays.pop(key, None)

    @property
    def host(self) -> str:
        """The address the proxy listens on."""
        return str(self._server.server_address[0])

    @property
    def port(self) -> int:
        """The bound port."""
        return int(self._server.server_address[1])

    @property
    def url(self) -> str:
        """The proxy URL for ``http_proxy``."""
        return f"http://{self.host}:{self.port}"

    def start(self) -> ProxyServer:
        """Serve in a daemon thread; returns ``self``."""
        if self._thread is None:
            self._thread = threading.Thread(
                target=self._server.serve_forever,
                kwargs={"poll_interval": 0.1},
                name=f"synthweb-{self.port}",
                daemon=True,
            )
            self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and close the listening socket (idempotent)."""
        if self._thread is not None:
            self._server.shutdown()
            self._thread.join()
            self._thread = None
        self._server.server_close()

    def __enter__(self) -> ProxyServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()
