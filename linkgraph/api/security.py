"""Who may ask, from where, and what every answer carries.

- Tokens: a configured bearer token (``--token``) and the server's *local
  token* (handed to the CLI through ``serve.json``), compared in constant time.
- :class:`Guard`, the ASGI middleware in front of every route: the ``Host``
  check against DNS rebinding for a loopback server, the headers every answer
  carries (``Cache-Control: no-store``, the Content-Security-Policy, …), HEAD
  answered as GET without a body, and ``Connection: close`` on an answer
  given before the request's body was read — that body must never be taken
  for the next request on the connection.
"""

from __future__ import annotations

import hmac
import ipaddress
import json
import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass
from email.utils import formatdate
from typing import Any, Final
from urllib.parse import urlsplit

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from linkcore.errors import ConfigError
from linkgraph import __version__

log = logging.getLogger(__name__)

# Shortest bearer token accepted; a guessable token protects nothing.
MIN_TOKEN_CHARS: Final = 16
#: The content type of every JSON answer.
JSON_TYPE: Final = "application/json; charset=utf-8"
SECURITY_HEADERS: Final = {
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
    # The page loads nothing from elsewhere and runs no inline script.
    "Content-Security-Policy": (
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "connect-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
    ),
}
_LOOPBACK_NAMES: Final = frozenset({"localhost", "127.0.0.1", "::1"})
_HEADERS: Final = [
    (b"Cache-Control", b"no-store"),
    (b"Server", f"linkgraph/{__version__}".encode()),
    *((name.encode(), value.encode()) for name, value in SECURITY_HEADERS.items()),
]
# Header names as HTTP/1.1 servers write them (Starlette writes them in lower case).
_SPELLING: Final = {b"www-authenticate": b"WWW-Authenticate"}


def _spelt(name: bytes) -> bytes:
    return _SPELLING.get(name) or b"-".join(part.capitalize() for part in name.split(b"-"))


class HttpError(Exception):
    """An answer other than 200, with a one-line message for ``{"error": …}``."""

    def __init__(self, status: int, message: str, headers: Mapping[str, str] | None = None):
        super().__init__(message)
        self.status = status
        self.headers = dict(headers or {})


def one_line(text: str, limit: int = 500) -> str:
    """``text`` on one line, at most ``limit`` characters."""
    return " ".join(text.split())[:limit]


def json_bytes(payload: Any) -> bytes:
    """The compact UTF-8 JSON of an answer (NaN refused: it is not JSON)."""
    text = json.dumps(payload, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    return text.encode()


def check_token(token: str) -> None:
    """Raise :class:`ConfigError` for a ``--token`` that protects nothing."""
    if len(token) < MIN_TOKEN_CHARS or not token.isascii() or not token.isprintable():
        raise ConfigError(
            f"--token must be at least {MIN_TOKEN_CHARS} printable ASCII characters "
            "(make one with: python3 -c 'import secrets; print(secrets.token_urlsafe())')"
        )
    if any(c.isspace() for c in token):
        raise ConfigError("--token must not contain spaces")


@dataclass(frozen=True, slots=True)
class Tokens:
    """The bearer tokens a server accepts: the configured one (if any) and its local one."""

    configured: str | None
    local: str

    def accepts(self, header: str | None, *, sql: bool = False) -> bool:
        """True when the ``Authorization`` header carries a token this server accepts.

        Without a configured token every query is open; SQL always needs one
        (the configured token, or the local token of ``serve.json``).
        """
        if self.configured is None and not sql:
            return True
        if not header or not header.startswith("Bearer "):
            return False
        given = header[len("Bearer ") :].strip().encode()
        allowed = [self.local] + ([self.configured] if self.configured else [])
        # Compare against every token, always, so timing says nothing about which.
        return sum(hmac.compare_digest(given, t.encode()) for t in allowed) > 0

    def authorize(self, header: str | None, *, sql: bool = False) -> None:
        """Raise the 401 :class:`HttpError` unless :meth:`accepts`."""
        if not self.accepts(header, sql=sql):
            raise HttpError(
                401,
                "a bearer token is required (Authorization: Bearer TOKEN)"
                if not header
                else "the bearer token is not valid",
                {"WWW-Authenticate": 'Bearer realm="linkgraph"'},
            )


def is_loopback(host: str) -> bool:
    """True for an address only this machine can reach."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def connect_host(host: str) -> str:
    """The address to connect to for a server listening on ``host``."""
    if host in ("", "0.0.0.0"):
        return "127.0.0.1"
    if host == "::":
        return "[::1]"
    return f"[{host}]" if ":" in host else host


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope["headers"]:
        if key == name:
            return bytes(value).decode("latin-1")
    return None


class Guard:
    """The ASGI middleware every request passes first (see the module docstring)."""

    def __init__(self, app: ASGIApp, *, loopback_only: bool) -> None:
        self.app = app
        self.loopback_only = loopback_only

    def refusal(self, scope: Scope) -> str | None:
        """Why a loopback server will not answer this ``Host``, or None."""
        # A page on another site can reach a loopback server through DNS
        # rebinding (evil.example resolving to 127.0.0.1); its requests still
        # carry its own name in Host, so a loopback server answers only to
        # loopback names.
        if not self.loopback_only:
            return None
        host = _header(scope, b"host") or ""
        name = urlsplit(f"//{host}").hostname or ""
        if name not in _LOOPBACK_NAMES:
            return f"Host {host[:100]!r} is not a loopback name this server serves"
        return None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.monotonic()
        length = _header(scope, b"content-length")
        body_read = length in (None, "", "0") and _header(scope, b"transfer-encoding") is None

        async def reading() -> Message:
            nonlocal body_read
            message = await receive()
            if message["type"] == "http.request" and not message.get("more_body", False):
                body_read = True
            return message

        async def sending(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = [(_spelt(k), v) for k, v in message.get("headers", [])]
                headers += [(b"Date", formatdate(usegmt=True).encode()), *_HEADERS]
                # A body left unread would be taken for the next request.
                if not body_read and not any(k == b"Connection" for k, _ in headers):
                    headers.append((b"Connection", b"close"))
                message = {**message, "headers": headers}
            await send(message)

        refused = self.refusal(scope)
        try:
            if refused is not None:
                body = json_bytes({"error": refused})
                await sending(
                    {
                        "type": "http.response.start",
                        "status": 403,
                        "headers": [
                            (b"content-type", JSON_TYPE.encode()),
                            (b"content-length", str(len(body)).encode()),
                        ],
                    }
                )
                await sending({"type": "http.response.body", "body": body})
                return
            # HEAD is GET without the body (the server leaves the body out).
            inner = {**scope, "method": "GET"} if scope["method"] == "HEAD" else scope
            await self.app(inner, reading, sending)
        finally:
            log.debug(
                "%s %s in %.1f ms",
                scope["method"],
                scope["path"][:200],
                (time.monotonic() - started) * 1e3,
            )
