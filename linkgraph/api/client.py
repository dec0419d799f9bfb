"""The CLI's side of a running ``linkgraph serve``: find it, and ask it (over httpx).

While ``linkgraph serve`` holds an embedded data directory (chDB allows one
process), ``DATA_DIR/serve.json`` names its address and a local token;
:func:`running_server` reads it and :func:`remote_query` asks the server
what the CLI would have asked the index, page by page, and returns the same
:class:`~linkindex.queries.Result`. The server is on this machine: proxies
set in the environment (``http_proxy``, for crawls) are never used.

This module imports no web framework, and httpx only when it asks: a query
command imports it to build its parameters even when no server runs.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final, NoReturn
from urllib.parse import urlencode

from linkcore.errors import ConfigError, IndexError_, IndexUnavailable, UsageError
from linkgraph.api.limits import MAX_LIMIT

if TYPE_CHECKING:
    import httpx

    from linkindex.filters import Filters
    from linkindex.queries import Result, Target

# The file in an embedded data directory that tells the CLI a server holds it.
SERVE_FILE: Final = "serve.json"
# Seconds the CLI waits for a running server's /healthz before ignoring it.
HEALTH_TIMEOUT: Final = 2.0
# Seconds the CLI waits for one answer of a running server.
QUERY_TIMEOUT: Final = 300.0
API_PREFIX: Final = "/api/v1/"


@dataclass(frozen=True, slots=True)
class RunningServer:
    """A ``linkgraph serve`` that holds an embedded data directory."""

    url: str
    token: str
    pid: int
    extra: dict[str, Any] = field(default_factory=dict)


def _client(timeout: float) -> httpx.Client:
    import httpx

    # trust_env=False: the server is on this machine, http_proxy must not apply.
    return httpx.Client(trust_env=False, timeout=timeout, headers={"Accept": "application/json"})


def healthy_instance(url: str) -> str | None:
    """The instance id ``url/healthz`` answers within :data:`HEALTH_TIMEOUT`, or None."""
    import httpx

    try:
        with _client(HEALTH_TIMEOUT) as client:
            response = client.get(f"{url}/healthz")
        health = response.json() if response.status_code == 200 else None
    except (httpx.HTTPError, ValueError):
        return None
    instance = health.get("instance") if isinstance(health, dict) else None
    return instance if isinstance(instance, str) else None


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def running_server(data_dir: str | os.PathLike[str]) -> RunningServer | None:
    """The ``linkgraph serve`` holding ``data_dir``, or ``None``.

    Reads ``DATA_DIR/serve.json``; the server counts only if its process is
    alive and its ``/healthz`` answers with the same instance id within
    :data:`HEALTH_TIMEOUT` seconds (a stale file, or another program now on
    the port, is ignored). Never raises.
    """
    try:
        info = json.loads((Path(data_dir) / SERVE_FILE).read_text(encoding="utf-8"))
        url, token, pid, instance = info["url"], info["token"], info["pid"], info["instance"]
    except (OSError, ValueError, KeyError, TypeError):
        return None
    if not (isinstance(url, str) and isinstance(token, str) and isinstance(pid, int)):
        return None
    if not url.startswith("http://") or not _pid_alive(pid):
        return None
    if healthy_instance(url) != instance:
        return None
    return RunningServer(url, token, pid, {k: v for k, v in info.items() if k != "token"})


# -- asking it ----------------------------------------------------------------------


def query_params(target: Target, filters: Filters) -> dict[str, Any]:
    """The API parameters of a CLI query (for :func:`remote_query`)."""
    return {"target": target.text, "scope": target.scope, **filters.to_params()}


def query_pairs(params: Mapping[str, Any], names: Iterable[str]) -> list[tuple[str, str]]:
    """The query-string pairs of ``params`` (as :func:`query_params` gives them) for ``names``.

    Booleans become ``true``/``false``, lists one pair per item; ``None`` is left out.
    """
    pairs: list[tuple[str, str]] = []
    for name in sorted(names):
        value = params.get(name)
        if isinstance(value, bool):
            pairs.append((name, "true" if value else "false"))
        elif isinstance(value, list | tuple):
            pairs.extend((name, str(item)) for item in value)
        elif value is not None:
            pairs.append((name, str(value)))
    return pairs


def _raise_for(status: int, message: str, url: str) -> NoReturn:
    if status in (400, 403, 404, 405, 411, 413):
        raise UsageError(message)
    if status == 401:
        raise ConfigError(f"the server at {url} refused the token: {message}")
    if status == 503:
        raise IndexUnavailable(message)
    raise IndexError_(message)


def _one_line(text: str, limit: int) -> str:
    return " ".join(text.split())[:limit]


def _request(
    client: httpx.Client, url: str, path: str, token: str | None, *, body: bytes | None = None
) -> dict[str, Any]:
    import httpx

    headers = {"Authorization": f"Bearer {token}"} if token else {}
    try:
        if body is None:
            response = client.get(f"{url}{path}", headers=headers)
        else:
            headers["Content-Type"] = "application/json"
            response = client.post(f"{url}{path}", content=body, headers=headers)
        if response.status_code >= 400:
            try:
                message = str(response.json()["error"])
            except (ValueError, KeyError, TypeError):
                message = f"HTTP {response.status_code} {response.reason_phrase}"
            _raise_for(response.status_code, message, url)
        payload = response.json()
    except (httpx.HTTPError, OSError, ValueError) as error:
        raise IndexUnavailable(
            f"cannot reach linkgraph serve at {url}: {_one_line(str(error) or repr(error), 200)}"
        ) from None
    if not isinstance(payload, dict):
        raise IndexError_(f"linkgraph serve at {url} answered something other than an object")
    return payload


def _result(payload: dict[str, Any]) -> Result:
    from linkindex.queries import Result

    columns = [str(c) for c in payload.get("columns", [])]
    types = payload.get("types") or ["string"] * len(columns)
    rows = []
    for record in payload.get("rows", []):
        row = []
        for name, kind in zip(columns, types, strict=True):
            value = record.get(name)
            if isinstance(value, str) and kind == "timestamp":
                # Naive UTC, as the embedded engine returns them.
                value = datetime.fromisoformat(value).astimezone(UTC).replace(tzinfo=None)
            elif isinstance(value, str) and kind == "date":
                value = date.fromisoformat(value)
            row.append(value)
        rows.append(tuple(row))
    return Result(columns, rows, payload.get("next_cursor"))


def remote_query(
    url: str,
    endpoint: str,
    params: Mapping[str, Any],
    token: str | None = None,
    *,
    timeout: float = QUERY_TIMEOUT,
) -> Result:
    """Run a query on a running server and return what the local query would.

    ``endpoint`` is ``backlinks``, ``refdomains``, ``anchors``, ``outlinks``,
    ``top_pages``, ``intersect``, ``stats`` or ``sql``. For the scoped
    queries, ``params`` is :func:`query_params`; ``limit`` 0 means all rows,
    read page by page as the CLI would get them at once. For ``sql`` it is
    ``{"sql": statement, "write": bool}``. Timestamps come back as naive UTC
    ``datetime``, so the result prints exactly like a local one. Errors are
    the CLI's: :class:`UsageError` for bad input, :class:`IndexUnavailable`
    when the server cannot be reached, :class:`IndexError_` otherwise.
    """
    from linkgraph.api.app import ENDPOINTS

    url = url.rstrip("/")
    with _client(timeout) as client:
        if endpoint == "sql":
            body = json.dumps({"sql": params["sql"], "write": bool(params.get("write"))})
            return _result(_request(client, url, f"{API_PREFIX}sql", token, body=body.encode()))
        if endpoint == "stats":
            return _result(_request(client, url, f"{API_PREFIX}stats", token))
        if endpoint not in ENDPOINTS or endpoint in ("summary", "report"):
            raise UsageError(f"no such query {endpoint!r}")
        paging = {"limit", "offset", "cursor"}
        fixed = query_pairs(params, ENDPOINTS[endpoint].param_names - paging)
        wanted = int(params.get("limit") or 0)
        offset = int(params.get("offset") or 0)
        cursor: str | None = params.get("cursor") or None
        result: Result | None = None
        while True:
            have = len(result.rows) if result else 0
            page = MAX_LIMIT if not wanted else min(MAX_LIMIT, wanted - have)
            pairs = [("limit", str(page))]
            if cursor:
                pairs.append(("cursor", cursor))
            elif offset:
                pairs.append(("offset", str(offset)))
            path = f"{API_PREFIX}{endpoint}?{urlencode(fixed + pairs)}"
            part = _result(_request(client, url, path, token))
            if result is None:
                result = part
            else:
                result.rows.extend(part.rows)
                result.next_cursor = part.next_cursor
            cursor = part.next_cursor
            if not cursor or (wanted and len(result.rows) >= wanted):
                break
    assert result is not None
    if not wanted:
        result.next_cursor = None
    return result


def remote_document(
    url: str, endpoint: str, params: Sequence[tuple[str, str]], token: str | None = None
) -> dict[str, Any]:
    """The JSON document a running server answers for ``endpoint`` (e.g. ``report``)."""
    path = f"{API_PREFIX}{endpoint}?{urlencode(list(params))}"
    with _client(QUERY_TIMEOUT) as client:
        return _request(client, url.rstrip("/"), path, token)
