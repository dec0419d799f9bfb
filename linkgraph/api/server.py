"""Serving the API: uvicorn on a socket of our own, ``serve.json``, and the CLI's way in.

:func:`make_server` binds the address at once (so port 0 has its port and a
busy address is one :class:`ConfigError` line) and builds the application;
:meth:`ApiServer.serve_forever` runs uvicorn's HTTP/1.1 (h11) protocol on
it until :meth:`ApiServer.shutdown`. :func:`serve` does both for ``linkgraph
serve``, stops cleanly on SIGINT or SIGTERM, and while it runs advertises
itself in ``DATA_DIR/serve.json`` (mode 0600: it holds the local token) so
that the CLI's query commands — and ``linkgraph sql`` — use it while it holds
chDB's one-process lock (:func:`linkgraph.api.client.running_server`).
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import secrets
import signal
import socket
import threading
from collections.abc import Callable, Iterator
from datetime import datetime
from email.utils import formatdate
from importlib import resources
from pathlib import Path
from typing import Any, Final

import uvicorn
from uvicorn.protocols.http.h11_impl import H11Protocol

from linkcore import config
from linkcore.errors import ConfigError
from linkgraph.api.app import WEB_FILES, Backend, build_app
from linkgraph.api.client import SERVE_FILE
from linkgraph.api.security import (
    JSON_TYPE,
    SECURITY_HEADERS,
    Tokens,
    check_token,
    connect_host,
    is_loopback,
    json_bytes,
)
from linkindex.client import Index, ReadOnlyIndex
from linkindex.output import iso

log = logging.getLogger(__name__)

# Seconds an idle connection is kept open for its next request.
REQUEST_TIMEOUT: Final = 60
# Seconds a stopping server waits for the answers in flight.
SHUTDOWN_TIMEOUT: Final = 5
# Bytes of a request line and its headers: room for every parameter at its longest,
# percent-encoded.
MAX_HEAD_BYTES: Final = 256 * 1024
# Seconds a started server may take to accept connections.
START_TIMEOUT: Final = 30.0


class _Protocol(H11Protocol):
    """uvicorn's h11 protocol, answering a request it cannot parse with a JSON 400."""

    def handle_events(self) -> None:
        try:
            super().handle_events()
        except UnicodeDecodeError:  # a request target that is not ASCII
            self.send_400_response("the request target is not ASCII")

    def send_400_response(self, msg: str) -> None:
        import h11

        body = json_bytes({"error": "bad request syntax (not an HTTP/1.1 request)"})
        headers = [
            ("Date", formatdate(usegmt=True)),
            ("Content-Type", JSON_TYPE),
            ("Content-Length", str(len(body))),
            ("Cache-Control", "no-store"),
            *SECURITY_HEADERS.items(),
            ("Connection", "close"),
        ]
        with contextlib.suppress(h11.LocalProtocolError):
            response = h11.Response(status_code=400, headers=headers, reason=b"Bad Request")
            self.transport.write(self.conn.send(response))
            self.transport.write(self.conn.send(h11.Data(data=body)))
            self.transport.write(self.conn.send(h11.EndOfMessage()))
        self.transport.close()


class _Uvicorn(uvicorn.Server):
    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        # serve() handles SIGINT and SIGTERM itself: uvicorn would raise them
        # again once stopped, and the process would die of them.
        yield


def _load_web_files() -> dict[str, bytes]:
    folder = resources.files("linkgraph.api").joinpath("web")
    files = {}
    for name in WEB_FILES:
        try:
            files[name] = folder.joinpath(name).read_bytes()
        except OSError:
            raise ConfigError(
                f"the web page is not installed (linkgraph/api/web/{name} is missing from the "
                "package)"
            ) from None
    return files


def _sql_index(index: Index) -> Index:
    """The index that runs ``POST /api/v1/sql``: on chDB, a handle of its own.

    A statement refused under ``readonly`` (a ``DROP``, an ``INSERT``) leaves
    chDB's session in read-only mode — the engine applies a non-SELECT
    statement's ``SETTINGS`` clause to the session — and that must not reach the
    handle the other queries (and a writable server's writes) use. chDB gives
    any number of handles on its one engine; a server connection keeps settings
    per request, so it needs none.
    """
    if not index.location.embedded:
        return index
    import clickhouse_connect

    # The path the engine was started with (chDB runs one engine per process).
    path = getattr(index.client, "path", None) or index.location.data_dir
    try:
        client = clickhouse_connect.get_client(interface="chdb", path=path)
    except Exception as error:
        raise ConfigError(f"cannot open a second handle on the embedded index: {error}") from None
    return Index(client, index.location)


def _listen(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        # A restarted server may reuse its port at once (the socket sat in TIME_WAIT).
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        sock.listen(128)
    except OSError as error:
        sock.close()
        raise ConfigError(f"cannot listen on {host}:{port}: {error.strerror or error}") from None
    return sock


class ApiServer:
    """The API of one index on one listening socket, served by uvicorn.

    Call :meth:`serve_forever` (or :meth:`start` for a thread of its own),
    then :meth:`shutdown` and :meth:`server_close` (or :meth:`stop`).
    """

    def __init__(
        self, index: Index, host: str, port: int, *, token: str | None, read_only: bool
    ) -> None:
        web_files = _load_web_files()
        self.socket = _listen(host, port)
        try:
            sql_index = _sql_index(index)
        except BaseException:
            self.socket.close()
            raise
        self.backend = Backend(
            index=index,
            # The query endpoints run read-only, on the SQL handle: see ReadOnlyIndex.
            query_index=ReadOnlyIndex(sql_index),
            sql_index=sql_index,
            tokens=Tokens(token, secrets.token_urlsafe(32)),
            read_only=read_only,
            instance=secrets.token_hex(8),
            web_files=web_files,
            loopback_only=is_loopback(host),
        )
        settings = uvicorn.Config(
            build_app(self.backend),
            http=_Protocol,
            lifespan="off",
            log_config=None,
            access_log=False,
            proxy_headers=False,
            server_header=False,
            date_header=False,
            timeout_keep_alive=REQUEST_TIMEOUT,
            timeout_graceful_shutdown=SHUTDOWN_TIMEOUT,
            h11_max_incomplete_event_size=MAX_HEAD_BYTES,
        )
        self._uvicorn = _Uvicorn(settings)
        self._stopped = threading.Event()
        self._stopped.set()
        self._thread: threading.Thread | None = None

    # -- what the server is --------------------------------------------------------
    @property
    def index(self) -> Index:
        """The index as opened."""
        return self.backend.index

    @property
    def query_index(self) -> Index:
        """The read-only connection the GET endpoints answer through."""
        return self.backend.query_index

    @property
    def token(self) -> str | None:
        """The configured bearer token, if any."""
        return self.backend.tokens.configured

    @property
    def local_token(self) -> str:
        """The token ``DATA_DIR/serve.json`` hands to the CLI (see :func:`advertise`)."""
        return self.backend.tokens.local

    @property
    def instance(self) -> str:
        """Tells this server apart from another that later reuses its port."""
        return self.backend.instance

    @property
    def loopback_only(self) -> bool:
        """True when only this machine can reach the server."""
        return self.backend.loopback_only

    @property
    def server_address(self) -> tuple[str, int]:
        """The address the socket is bound to (the real port for port 0)."""
        host, port = self.socket.getsockname()[:2]
        return str(host), int(port)

    @property
    def url(self) -> str:
        """The base URL a client on this machine reaches the server at."""
        host, port = self.server_address
        return f"http://{connect_host(host)}:{port}"

    # -- running it ---------------------------------------------------------------
    def serve_forever(self) -> None:
        """Answer requests until :meth:`shutdown` (or :meth:`request_stop`)."""
        self._stopped.clear()
        try:
            self._uvicorn.run(sockets=[self.socket])
        finally:
            self._stopped.set()

    def request_stop(self) -> None:
        """Ask :meth:`serve_forever` to return once the answers in flight are sent."""
        self._uvicorn.should_exit = True

    def shutdown(self) -> None:
        """Stop :meth:`serve_forever` and wait until it has returned."""
        self.request_stop()
        self._stopped.wait()

    def server_close(self) -> None:
        """Close the socket and the SQL handle (once the server has stopped)."""
        self.socket.close()
        if self.backend.sql_index is not self.backend.index:
            with contextlib.suppress(Exception):  # closing is best effort
                self.backend.sql_index.client.close()

    def start(self) -> ApiServer:
        """Serve in a daemon thread; returns once the server accepts connections."""
        self._thread = threading.Thread(target=self.serve_forever, daemon=True)
        self._thread.start()
        while not self._uvicorn.started and self._thread.is_alive():
            self._thread.join(0.01)
        if not self._uvicorn.started:
            raise ConfigError(f"the server at {self.url} did not start")
        return self

    def stop(self) -> None:
        """Undo :meth:`start`: stop serving, wait for the thread, close."""
        self.shutdown()
        if self._thread is not None:
            self._thread.join(START_TIMEOUT)
        self.server_close()


def make_server(
    index: Index,
    host: str = config.LINKGRAPH_API_HOST,
    port: int = config.LINKGRAPH_API_PORT,
    *,
    token: str | None = None,
    read_only: bool = True,
) -> ApiServer:
    """A server bound to ``host:port`` (port 0: any free port), not yet serving.

    ``read_only=False`` lets ``POST /api/v1/sql`` with ``"write": true``
    change the index. Raises :class:`ConfigError` for a token that is too
    short or an address it cannot listen on.
    """
    if token is not None:
        check_token(token)
    server = ApiServer(index, host, port, token=token, read_only=read_only)
    if token is None and not server.loopback_only:
        log.warning(
            "serving on %s without a token: anyone who can reach it can read the index", host
        )
    return server


def serve(
    index: Index,
    host: str = config.LINKGRAPH_API_HOST,
    port: int = config.LINKGRAPH_API_PORT,
    *,
    token: str | None = None,
    read_only: bool = True,
    on_ready: Callable[[ApiServer], None] | None = None,
) -> None:
    """Serve until SIGINT or SIGTERM (or the server's ``shutdown()``); returns after a clean stop.

    With an embedded index, ``DATA_DIR/serve.json`` tells the CLI's query
    commands to use this server while it runs (see :func:`advertise`).
    ``on_ready`` is called with the listening server (the CLI prints its URL).
    Signals are handled only when called from the main thread.
    """
    server = make_server(index, host, port, token=token, read_only=read_only)
    previous: dict[signal.Signals, Any] = {}
    if threading.current_thread() is threading.main_thread():
        for signum in (signal.SIGINT, signal.SIGTERM):
            previous[signum] = signal.signal(signum, lambda *_: server.request_stop())
    try:
        with contextlib.ExitStack() as stack:
            if index.location.embedded and index.location.data_dir:
                stack.enter_context(advertise(server, index.location.data_dir))
            if on_ready is not None:
                on_ready(server)
            server.serve_forever()
    finally:
        server.server_close()
        for signum, handler in previous.items():
            signal.signal(signum, handler)


# -- telling the CLI ---------------------------------------------------------------


@contextlib.contextmanager
def advertise(server: ApiServer, data_dir: str | os.PathLike[str]) -> Iterator[Path]:
    """Write ``DATA_DIR/serve.json`` while the block runs; remove it after.

    The file (mode 0600: it holds the local token) tells the CLI's query
    commands where to send their queries while this server holds the
    directory's lock. It is written whole and renamed into place, and removed
    only if it is still this server's.
    """
    path = Path(data_dir) / SERVE_FILE
    content = {
        "url": server.url,
        "pid": os.getpid(),
        "instance": server.instance,
        "token": server.local_token,
        "database": server.index.db,
        "started_at": iso(datetime.now().astimezone()),
    }
    partial = path.with_name(f".{SERVE_FILE}.{os.getpid()}.partial")
    fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        json.dump(content, handle)
    os.replace(partial, path)
    try:
        yield path
    finally:
        with contextlib.suppress(OSError, ValueError):
            if json.loads(path.read_text(encoding="utf-8")).get("instance") == server.instance:
                path.unlink()
