"""``linkgraph serve``: the query commands as an HTTP JSON API, and a web page.

Endpoints (all ``GET`` unless said; the OpenAPI 3.1 document at
``/openapi.json`` is generated from the same table the handlers read, so it
cannot drift from them):

* ``/api/v1/backlinks``, ``/refdomains``, ``/anchors``, ``/outlinks`` — the CLI
  query commands, with their flags as query parameters (``target``, ``scope``,
  ``include_internal``, ``dofollow_only``, ``kind`` (repeatable), ``limit``,
  ``offset``, ``cursor``);
* ``/api/v1/stats`` — index size and freshness;
* ``/api/v1/summary`` — totals and new links per day for one target;
* ``POST /api/v1/sql`` — read-only SQL, body ``{"sql": "…"}``; it always needs a
  bearer token (see below), because one statement can read or scan anything;
* ``/openapi.json``, ``/healthz``, and ``/`` — the backlink explorer page.

Query answers are ``{"columns": [names], "types": [json types], "rows":
[{name: value}], "next_cursor": token | null, "count": n}``; timestamps are
UTC ISO-8601 strings as the CLI prints them. Errors are ``{"error": "one
line"}``: 400 for bad input, 401 for a missing or wrong token, 403 for what
this server does not allow, 503 (with ``Retry-After``) when retrying may help,
500 otherwise — never a traceback.

Pages are bounded: ``limit`` defaults to :data:`DEFAULT_LIMIT` and may not
exceed :data:`MAX_LIMIT` (the CLI's ``--limit 0`` means "all", which a server
must not hold in memory for a stranger); larger answers are read page by page
with ``next_cursor``. :func:`remote_query` does that for the CLI.

Tokens. With ``token`` set, every ``/api/v1/`` request needs
``Authorization: Bearer TOKEN`` (compared in constant time). In embedded mode
the server also writes ``DATA_DIR/serve.json`` (mode 0600) with its address
and a random *local token*: whoever can read the data directory could open
the index anyway, so that file lets ``linkgraph backlinks`` and friends —
and ``linkgraph sql`` — use the running server (:func:`running_server`) while
it holds chDB's one-process lock.

Why the standard library's ``ThreadingHTTPServer``: no new dependency, and
nothing to gain from an async framework — queries run one at a time on the one
index connection (:class:`ApiServer` holds a lock), and a thread per
connection keeps a slow client from blocking the others while they wait.
"""

from __future__ import annotations

import contextlib
import hmac
import ipaddress
import json
import logging
import math
import os
import secrets
import signal
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib import resources
from pathlib import Path
from typing import Any, Final, NoReturn
from urllib.parse import parse_qsl, urlencode, urlsplit

from linkcore.errors import (
    ConfigError,
    IndexError_,
    IndexUnavailable,
    LinkgraphError,
    UsageError,
)
from linkcore.records import KINDS
from linkgraph import __version__
from linkindex import queries, sqlparts
from linkindex.client import Index, ReadOnlyIndex
from linkindex.filters import SCOPES, Filters
from linkindex.output import iso
from linkindex.queries import Result, Target

log = logging.getLogger(__name__)

# -- API_*: the server's settings ----------------------------------------------
# Address the server listens on unless told (loopback: the index is not public).
API_HOST: Final = "127.0.0.1"
# Port the server listens on unless told.
API_PORT: Final = 8470
# Rows a query answers when the request gives no limit.
DEFAULT_LIMIT: Final = 100
# Most rows one request may ask for; more are read page by page with the cursor.
MAX_LIMIT: Final = 10_000
# Bytes a POST body may have.
MAX_BODY_BYTES: Final = 1024 * 1024
# Characters a target, scope or cursor parameter may have.
MAX_PARAM_CHARS: Final = 4096
# Seconds a connection may sit idle (or dribble a request) before it is closed.
REQUEST_TIMEOUT: Final = 60
# Shortest bearer token accepted; a guessable token protects nothing.
MIN_TOKEN_CHARS: Final = 16
# The file in an embedded data directory that tells the CLI a server holds it.
SERVE_FILE: Final = "serve.json"
# Seconds the CLI waits for a running server's /healthz before ignoring it.
HEALTH_TIMEOUT: Final = 2.0

API_PREFIX: Final = "/api/v1/"
#: The page's files: name -> content type. Nothing else is served from disk.
WEB_FILES: Final = {
    "index.html": "text/html; charset=utf-8",
    "app.js": "text/javascript; charset=utf-8",
    "style.css": "text/css; charset=utf-8",
}
_SECURITY_HEADERS: Final = {
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


# -- parameters ----------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Param:
    """One query parameter of an endpoint, as the handler parses it and OpenAPI shows it."""

    name: str
    schema: dict[str, Any]
    description: str
    required: bool = False
    repeatable: bool = False


_TARGET = Param(
    "target",
    {"type": "string", "maxLength": MAX_PARAM_CHARS},
    "A URL (`https://example.com/page`) or a bare domain/host (`example.com`).",
    required=True,
)
_SOURCE = Param(
    "target",
    _TARGET.schema,
    "The source: a URL, or a bare domain/host (named `target` like the other queries).",
    required=True,
)
_SCOPE = Param(
    "scope",
    {"type": "string", "enum": list(SCOPES)},
    "What the target matches: `url`, `host`, `domain` or `prefix` "
    "(default: `domain` for a bare domain, `url` for a URL).",
)
_INCLUDE_INTERNAL = Param(
    "include_internal",
    {"type": "boolean", "default": False},
    "Include links between pages of the same registered domain.",
)
_DOFOLLOW_ONLY = Param(
    "dofollow_only", {"type": "boolean", "default": False}, "Only links without nofollow."
)
_KIND = Param(
    "kind",
    {"type": "array", "items": {"type": "string", "enum": list(KINDS)}},
    "Only edges of these kinds (repeat the parameter, or separate with commas).",
    repeatable=True,
)
_LIMIT = Param(
    "limit",
    {"type": "integer", "minimum": 1, "maximum": MAX_LIMIT, "default": DEFAULT_LIMIT},
    f"Rows per page (1 to {MAX_LIMIT}); read further pages with `cursor`.",
)
_OFFSET = Param("offset", {"type": "integer", "minimum": 0, "default": 0}, "Skip the first N rows.")
_CURSOR = Param(
    "cursor",
    {"type": "string", "maxLength": MAX_PARAM_CHARS},
    "The `next_cursor` of the previous page.",
)
_STATUS = Param(
    "status",
    {"type": "string", "enum": ["live", "lost"]},
    "Only links the source page still carried at its last fetch (`live`), or no longer (`lost`).",
)
_REL = Param(
    "rel",
    {"type": "array", "items": {"type": "string", "enum": ["nofollow", "ugc", "sponsored"]}},
    "Only links with each of these rel flags (repeat, or separate with commas).",
    repeatable=True,
)
_ANCHOR = Param(
    "anchor",
    {"type": "string", "maxLength": MAX_PARAM_CHARS},
    "Only links whose anchor contains this text (case-insensitive).",
)
_FROM_DOMAIN = Param(
    "from_domain",
    {"type": "string", "maxLength": 253},
    "Only links from this referring (registered) domain.",
)
_SEEN = tuple(
    Param(
        name,
        {"type": "string", "maxLength": 40},
        f"Only links {meaning} this ISO-8601 date or time (UTC).",
    )
    for name, meaning in (
        ("first_seen_from", "first seen on or after"),
        ("first_seen_to", "first seen on or before"),
        ("last_seen_from", "last seen on or after"),
        ("last_seen_to", "last seen on or before"),
    )
)
_SORT = Param(
    "sort",
    {"type": "string", "enum": ["first_seen", "last_seen", "authority"]},
    "Newest first by this sighting, or the strongest referring domain first (`authority`, "
    "from `linkgraph rank`; for outlinks the strongest target). Default: the index's key "
    "order, with stable cursors.",
)
_WITH_AUTHORITY = Param(
    "with_authority",
    {"type": "boolean", "default": False},
    "Add the other side's domain authority (0-100) to edge records: `source_authority` on "
    "backlinks, `target_authority` on outlinks.",
)
_ONE_PER_DOMAIN = Param(
    "one_per_domain",
    {"type": "boolean", "default": False},
    "One link per referring domain (dofollow first, then the oldest).",
)
QUERY_PARAMS: Final = (
    _SCOPE,
    _INCLUDE_INTERNAL,
    _DOFOLLOW_ONLY,
    _KIND,
    _STATUS,
    _REL,
    _ANCHOR,
    _FROM_DOMAIN,
    *_SEEN,
    _SORT,
    _WITH_AUTHORITY,
    _ONE_PER_DOMAIN,
    _LIMIT,
    _OFFSET,
    _CURSOR,
)
#: Filter parameters passed through as text (validated by linkindex.queries).
_TEXT_FILTERS: Final = (
    "status",
    "anchor",
    "from_domain",
    "first_seen_from",
    "first_seen_to",
    "last_seen_from",
    "last_seen_to",
    "sort",
)
_TRUE: Final = frozenset({"", "1", "true", "yes", "on"})
_FALSE: Final = frozenset({"0", "false", "no", "off"})


def _one(params: Mapping[str, list[str]], name: str) -> str | None:
    values = params.get(name)
    if not values:
        return None
    if len(values) > 1:
        raise UsageError(f"parameter {name!r} given {len(values)} times")
    return values[0]


def _boolean(params: Mapping[str, list[str]], name: str) -> bool:
    value = _one(params, name)
    if value is None:
        return False
    if value.lower() in _TRUE:
        return True
    if value.lower() in _FALSE:
        return False
    raise UsageError(f"parameter {name!r} must be true or false, got {value[:40]!r}")


def _integer(params: Mapping[str, list[str]], name: str, default: int, low: int, high: int) -> int:
    value = _one(params, name)
    if value is None:
        return default
    if not value.isascii() or not value.isdigit() or len(value) > 19:
        raise UsageError(f"parameter {name!r} must be a whole number, got {value[:40]!r}")
    number = int(value)
    if not low <= number <= high:
        raise UsageError(f"parameter {name!r} must be from {low} to {high}, got {number}")
    return number


def _parse_query(query: str, accepted: Sequence[Param]) -> dict[str, list[str]]:
    """Split a query string, refusing unknown or oversized parameters."""
    try:
        pairs = parse_qsl(query, keep_blank_values=True, max_num_fields=64, errors="strict")
    except ValueError:
        raise UsageError("the query string is not valid UTF-8 or has too many fields") from None
    names = {p.name for p in accepted}
    params: dict[str, list[str]] = {}
    for name, value in pairs:
        if name not in names:
            choices = ", ".join(sorted(names)) or "none"
            raise UsageError(f"unknown parameter {name[:40]!r} (accepted: {choices})")
        if len(value) > MAX_PARAM_CHARS:
            raise UsageError(f"parameter {name!r} is longer than {MAX_PARAM_CHARS} characters")
        params.setdefault(name, []).append(value)
    return params


def _target(params: Mapping[str, list[str]]) -> Target:
    text = _one(params, "target")
    if text is None or not text.strip():
        raise UsageError("parameter 'target' is required (a URL or a domain)")
    return Target.parse(text, _one(params, "scope") or None)


def _filters(params: Mapping[str, list[str]], *, paged: bool = True) -> Filters:
    kinds: list[str] = []
    for value in params.get("kind", []):
        for kind in value.split(","):
            if kind not in KINDS:
                raise UsageError(f"unknown kind {kind[:40]!r} (choose from {', '.join(KINDS)})")
            if kind not in kinds:
                kinds.append(kind)
    rel: list[str] = []
    for value in params.get("rel", []):
        for flag in value.split(","):
            if flag not in ("nofollow", "ugc", "sponsored"):
                raise UsageError(f"unknown rel flag {flag[:40]!r} (nofollow, ugc or sponsored)")
            if flag not in rel:
                rel.append(flag)
    text = {name: (_one(params, name) or None) for name in _TEXT_FILTERS}
    return Filters(
        include_internal=_boolean(params, "include_internal"),
        dofollow_only=_boolean(params, "dofollow_only"),
        limit=_integer(params, "limit", DEFAULT_LIMIT, 1, MAX_LIMIT) if paged else 0,
        offset=_integer(params, "offset", 0, 0, 10**15) if paged else 0,
        cursor=(_one(params, "cursor") or None) if paged else None,
        kind=tuple(kinds),
        status=text["status"],
        rel=tuple(rel),
        anchor=text["anchor"],
        from_domain=text["from_domain"],
        first_seen_from=text["first_seen_from"],
        first_seen_to=text["first_seen_to"],
        last_seen_from=text["last_seen_from"],
        last_seen_to=text["last_seen_to"],
        sort=text["sort"],
        one_per_domain=_boolean(params, "one_per_domain"),
        with_authority=_boolean(params, "with_authority"),
    )


# -- JSON ----------------------------------------------------------------------


def json_value(value: Any) -> Any:
    """A query value as JSON: timestamps as the CLI prints them, NaN as null."""
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, datetime):
        return iso(value)
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    if isinstance(value, list | tuple):
        return [json_value(v) for v in value]
    if isinstance(value, dict):
        return {str(k): json_value(v) for k, v in value.items()}
    if isinstance(value, Decimal):
        return str(value)
    return str(value)


def _json_type(value: Any) -> str:
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, datetime):
        return "timestamp"
    if isinstance(value, date):
        return "date"
    if isinstance(value, list | tuple):
        return "array"
    if isinstance(value, dict):
        return "object"
    return "string"


def result_json(result: Result) -> dict[str, Any]:
    """The JSON form of a :class:`~linkindex.queries.Result` (see the module docstring).

    ``types`` names each column's JSON type from its values — ``timestamp``
    and ``date`` mark strings that :func:`remote_query` turns back into
    ``datetime``/``date`` — or ``null`` when every value is null.
    """
    types = []
    for i in range(len(result.columns)):
        sample = next((row[i] for row in result.rows if row[i] is not None), None)
        types.append("null" if sample is None else _json_type(sample))
    return {
        "columns": list(result.columns),
        "types": types,
        "rows": [
            {name: json_value(v) for name, v in zip(result.columns, row, strict=True)}
            for row in result.rows
        ],
        "next_cursor": result.next_cursor,
        "count": len(result.rows),
    }


# -- the summary -----------------------------------------------------------------


def summary(index: Index, target: Target, filters: Filters) -> dict[str, Any]:
    """Totals and a per-day series for one target, as JSON.

    ``per_day`` has one row per UTC day on which links (or referring domains)
    to the target were first seen, or lost (:func:`linkindex.queries.lost_per_day`).
    """
    # The scope and filter clauses of linkindex.queries: every user value is a
    # bound parameter.
    params: dict[str, Any] = {}
    where = (
        f"{sqlparts.scope_where(target, 'target', params)} "
        f"AND {sqlparts.filter_where(filters, params)}"
    )
    edges = f"{index.db}.edges FINAL"
    _, totals = index.query(
        f"""
        SELECT count() AS backlinks,
               uniqExact(source_domain) AS refdomains,
               countIf(NOT tupleElement(latest, 'nofollow')) AS dofollow_backlinks,
               uniqExactIf(source_domain, NOT tupleElement(latest, 'nofollow'))
                   AS dofollow_refdomains,
               uniqExact(target_url) AS target_urls,
               min(first_seen) AS first_seen, max(last_seen) AS last_seen
        FROM {edges} WHERE {where}""",
        params,
    )
    _, new_links = index.query(
        f"""
        SELECT toDate(first_seen, 'UTC') AS day, count() AS new_backlinks
        FROM {edges} WHERE {where}
        GROUP BY day ORDER BY day""",
        params,
    )
    _, new_domains = index.query(
        f"""
        SELECT day, count() AS new_refdomains
        FROM (SELECT source_domain, toDate(min(first_seen), 'UTC') AS day
              FROM {edges} WHERE {where} GROUP BY source_domain)
        GROUP BY day ORDER BY day""",
        params,
    )
    backlinks, refdomains, dofollow, dofollow_domains, target_urls, first, last = totals[0]
    days: dict[date, dict[str, Any]] = {}
    for day, count in new_links:
        days.setdefault(day, {"new_backlinks": 0, "new_refdomains": 0})["new_backlinks"] = count
    for day, count in new_domains:
        days.setdefault(day, {"new_backlinks": 0, "new_refdomains": 0})["new_refdomains"] = count
    lost = dict(queries.lost_per_day(index, target, filters))
    for day in lost:
        days.setdefault(day, {"new_backlinks": 0, "new_refdomains": 0})
    per_day_columns = ["day", "new_backlinks", "new_refdomains", "lost_backlinks"]
    return {
        "target": {
            "text": target.text,
            "scope": target.scope,
            "url": target.url,
            "host": target.host,
            "domain": target.domain,
        },
        "backlinks": backlinks,
        "refdomains": refdomains,
        "dofollow_backlinks": dofollow,
        "dofollow_refdomains": dofollow_domains,
        "dofollow_share": round(dofollow / backlinks, 4) if backlinks else None,
        "target_urls": target_urls,
        "first_seen": iso(first) if backlinks else None,
        "last_seen": iso(last) if backlinks else None,
        "lost_backlinks": sum(lost.values()),
        "per_day": {
            "columns": per_day_columns,
            "rows": [
                {"day": day.isoformat(), **counts, "lost_backlinks": lost.get(day, 0)}
                for day, counts in sorted(days.items())
            ],
        },
    }


# -- endpoints -----------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Endpoint:
    """One GET route of the API: its parameters, OpenAPI text, and what it runs."""

    name: str
    summary: str
    params: tuple[Param, ...]
    run: Callable[[Index, dict[str, list[str]]], dict[str, Any]]
    response: str = "QueryResult"

    @property
    def param_names(self) -> frozenset[str]:
        """The names of the parameters this endpoint accepts."""
        return frozenset(p.name for p in self.params)


def _scoped(name: str) -> Callable[[Index, dict[str, list[str]]], dict[str, Any]]:
    query: Callable[[Index, Target, Filters], Result] = getattr(queries, name)

    def run(index: Index, params: dict[str, list[str]]) -> dict[str, Any]:
        # A bad cursor is refused by the query itself, before any SQL runs.
        return result_json(query(index, _target(params), _filters(params)))

    return run


def _run_summary(index: Index, params: dict[str, list[str]]) -> dict[str, Any]:
    return summary(index, _target(params), _filters(params, paged=False))


def _run_stats(index: Index, params: dict[str, list[str]]) -> dict[str, Any]:
    return result_json(queries.stats(index))


def _run_report(index: Index, params: dict[str, list[str]]) -> dict[str, Any]:
    from linkindex.reports import report

    document = report(index, _target(params), _filters(params, paged=False))
    return {key: json_value(value) for key, value in document.items()}


def _domains(params: Mapping[str, list[str]], name: str) -> list[Target]:
    return [Target.parse(value, "domain") for value in params.get(name, []) if value.strip()]


def _run_intersect(index: Index, params: dict[str, list[str]]) -> dict[str, Any]:
    linking = _domains(params, "domain")
    if not linking:
        raise UsageError("parameter 'domain' is required (repeat it for each domain)")
    filters = _filters(params)
    return result_json(queries.intersect(index, linking, _domains(params, "not"), filters))


ENDPOINTS: Final = {
    e.name: e
    for e in (
        Endpoint(
            "backlinks",
            "Who links to the target: one record per edge (SPEC §4 record fields).",
            (_TARGET, *QUERY_PARAMS),
            _scoped("backlinks"),
        ),
        Endpoint(
            "refdomains",
            "Referring domains of the target: links, dofollow links, target URLs, "
            "first and last seen.",
            (_TARGET, *QUERY_PARAMS),
            _scoped("refdomains"),
        ),
        Endpoint(
            "anchors",
            "Anchor texts of `a` links to the target, with link and referring-domain counts.",
            (_TARGET, *QUERY_PARAMS),
            _scoped("anchors"),
        ),
        Endpoint(
            "outlinks",
            "Links out of a source URL, host or domain: one record per edge.",
            (_SOURCE, *QUERY_PARAMS),
            _scoped("outlinks"),
        ),
        Endpoint(
            "summary",
            "Totals for the target (backlinks, referring domains, dofollow share) and "
            "links first seen per UTC day.",
            (_TARGET, _SCOPE, _INCLUDE_INTERNAL, _DOFOLLOW_ONLY, _KIND),
            _run_summary,
            response="Summary",
        ),
        Endpoint(
            "top_pages",
            "The target's pages (a domain, host or prefix) ranked by referring domains.",
            (_TARGET, *QUERY_PARAMS),
            _scoped("top_pages"),
        ),
        Endpoint(
            "report",
            "The backlink profile of the target: backlinks, referring domains and hosts, "
            "dofollow share, rel flags, kinds, live and lost links, the TLD distribution with "
            ".gov/.edu shares, and new and lost links per UTC day (`linkgraph report`).",
            (
                _TARGET,
                _SCOPE,
                _INCLUDE_INTERNAL,
                _DOFOLLOW_ONLY,
                _KIND,
                _STATUS,
                _REL,
                _ANCHOR,
                _FROM_DOMAIN,
                *_SEEN,
            ),
            _run_report,
            response="Report",
        ),
        Endpoint(
            "intersect",
            "Link intersect: referring domains that link to every `domain` and to none of "
            "the `not` domains, with the domains each links to.",
            (
                Param(
                    "domain",
                    {"type": "array", "items": {"type": "string", "maxLength": 253}},
                    "A domain the referring domains must link to (repeat for each).",
                    required=True,
                    repeatable=True,
                ),
                Param(
                    "not",
                    {"type": "array", "items": {"type": "string", "maxLength": 253}},
                    "Leave out referring domains that link to this domain (repeatable).",
                    repeatable=True,
                ),
                _LIMIT,
                _OFFSET,
                _CURSOR,
            ),
            _run_intersect,
        ),
        Endpoint(
            "stats",
            "Index size and freshness: one row of named figures.",
            (),
            _run_stats,
        ),
    )
}


# -- OpenAPI -------------------------------------------------------------------


def _error_response(description: str) -> dict[str, Any]:
    return {
        "description": description,
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
    }


def openapi_document(*, token_required: bool = False) -> dict[str, Any]:
    """The OpenAPI 3.1 document of this API, built from :data:`ENDPOINTS`."""
    bearer: list[dict[str, list[str]]] = [{"bearerAuth": []}]
    paths: dict[str, Any] = {}
    for endpoint in ENDPOINTS.values():
        parameters = []
        for param in endpoint.params:
            spec: dict[str, Any] = {
                "name": param.name,
                "in": "query",
                "required": param.required,
                "description": param.description,
                "schema": param.schema,
            }
            if param.repeatable:
                spec.update(style="form", explode=True)
            parameters.append(spec)
        responses = {
            "200": {
                "description": "The answer.",
                "content": {
                    "application/json": {
                        "schema": {"$ref": f"#/components/schemas/{endpoint.response}"}
                    }
                },
            },
            "400": _error_response("Bad input: an unknown or malformed parameter or target."),
            "503": _error_response("The index is unavailable; retry after `Retry-After`."),
            "500": _error_response("The index failed."),
        }
        if token_required:
            responses["401"] = _error_response("No bearer token, or a wrong one.")
        paths[f"{API_PREFIX}{endpoint.name}"] = {
            "get": {
                "operationId": endpoint.name,
                "summary": endpoint.summary,
                "parameters": parameters,
                "responses": responses,
                "security": bearer if token_required else [],
            }
        }
    paths[f"{API_PREFIX}sql"] = {
        "post": {
            "operationId": "sql",
            "summary": "Run one read-only SQL statement against the index "
            "(database `linkgraph`; start with the `links` view). Always needs a token.",
            "requestBody": {
                "required": True,
                "content": {
                    "application/json": {"schema": {"$ref": "#/components/schemas/SqlRequest"}}
                },
            },
            "responses": {
                "200": {
                    "description": "The statement's result, all rows.",
                    "content": {
                        "application/json": {"schema": {"$ref": "#/components/schemas/QueryResult"}}
                    },
                },
                "400": _error_response("Bad request body, or SQL the index rejected."),
                "401": _error_response("No bearer token, or a wrong one."),
                "403": _error_response(
                    "The statement would change the index, or no token is configured."
                ),
                "413": _error_response(f"Body over {MAX_BODY_BYTES} bytes."),
                "503": _error_response("The index is unavailable; retry after `Retry-After`."),
            },
            "security": bearer,
        }
    }
    paths["/healthz"] = {
        "get": {
            "operationId": "health",
            "summary": "Liveness: answers while the server runs.",
            "security": [],
            "responses": {
                "200": {
                    "description": "Running.",
                    "content": {
                        "application/json": {"schema": {"$ref": "#/components/schemas/Health"}}
                    },
                }
            },
        }
    }
    timestamp = {"type": ["string", "null"], "format": "date-time"}
    count = {"type": "integer", "minimum": 0}
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "linkgraph API",
            "version": __version__,
            "description": "Who links to X: the `linkgraph` query commands over HTTP. "
            "Timestamps are UTC ISO-8601 (`2026-11-21T08:15:02.123Z`). Errors are "
            '`{"error": "one line"}`.',
        },
        "servers": [{"url": "/"}],
        "paths": paths,
        "components": {
            "securitySchemes": {"bearerAuth": {"type": "http", "scheme": "bearer"}},
            "schemas": {
                "QueryResult": {
                    "type": "object",
                    "required": ["columns", "types", "rows", "next_cursor", "count"],
                    "properties": {
                        "columns": {"type": "array", "items": {"type": "string"}},
                        "types": {
                            "type": "array",
                            "description": "JSON type of each column; `timestamp` and `date` "
                            "are ISO-8601 strings.",
                            "items": {
                                "type": "string",
                                "enum": [
                                    "string",
                                    "integer",
                                    "number",
                                    "boolean",
                                    "timestamp",
                                    "date",
                                    "array",
                                    "object",
                                    "null",
                                ],
                            },
                        },
                        "rows": {
                            "type": "array",
                            "items": {"type": "object", "additionalProperties": True},
                        },
                        "next_cursor": {
                            "type": ["string", "null"],
                            "description": "Pass as `cursor` for the next page; null on the "
                            "last page.",
                        },
                        "count": count,
                    },
                },
                "Summary": {
                    "type": "object",
                    "required": [
                        "target",
                        "backlinks",
                        "refdomains",
                        "dofollow_share",
                        "per_day",
                    ],
                    "properties": {
                        "target": {
                            "type": "object",
                            "properties": {
                                name: {"type": "string"}
                                for name in ("text", "scope", "url", "host", "domain")
                            },
                        },
                        "backlinks": count,
                        "refdomains": count,
                        "dofollow_backlinks": count,
                        "dofollow_refdomains": count,
                        "dofollow_share": {
                            "type": ["number", "null"],
                            "description": "dofollow_backlinks / backlinks; null without links.",
                        },
                        "target_urls": count,
                        "first_seen": timestamp,
                        "last_seen": timestamp,
                        "lost_backlinks": {
                            "type": "integer",
                            "description": "Links a later conclusive fetch of their source "
                            "page no longer carried.",
                        },
                        "per_day": {
                            "type": "object",
                            "properties": {
                                "columns": {"type": "array", "items": {"type": "string"}},
                                "rows": {
                                    "type": "array",
                                    "items": {
                                        "type": "object",
                                        "properties": {
                                            "day": {"type": "string", "format": "date"},
                                            "new_backlinks": count,
                                            "new_refdomains": count,
                                            "lost_backlinks": {"type": "integer"},
                                        },
                                    },
                                },
                            },
                        },
                    },
                },
                "Report": {
                    "type": "object",
                    "required": ["target", "scope", "backlinks", "referring_domains", "history"],
                    "properties": {
                        "target": {"type": "string"},
                        "scope": {"type": "string", "enum": list(SCOPES)},
                        "url": {"type": "string"},
                        "domain": {"type": "string"},
                        **{
                            name: count
                            for name in (
                                "backlinks",
                                "referring_domains",
                                "referring_hosts",
                                "target_urls",
                                "dofollow_backlinks",
                                "dofollow_referring_domains",
                                "image_links",
                                "lost_backlinks",
                                "live_backlinks",
                                "gov_referring_domains",
                                "edu_referring_domains",
                            )
                        },
                        **{
                            name: {"type": "number", "minimum": 0, "maximum": 1}
                            for name in ("dofollow_share", "gov_share", "edu_share")
                        },
                        "rel": {
                            "type": "object",
                            "properties": {k: count for k in ("nofollow", "ugc", "sponsored")},
                        },
                        "kinds": {
                            "type": "object",
                            "properties": {k: count for k in KINDS},
                        },
                        "first_seen": timestamp,
                        "last_seen": timestamp,
                        "tlds": {
                            "type": "array",
                            "description": "The 20 most common top-level domains of the "
                            "referring domains.",
                            "items": {
                                "type": "object",
                                "properties": {
                                    "tld": {"type": "string"},
                                    "referring_domains": count,
                                },
                            },
                        },
                        "history": {
                            "type": "array",
                            "description": "Links first seen (`new`) and lost per UTC day.",
                            "items": {
                                "type": "object",
                                "properties": {
                                    "day": {"type": "string", "format": "date"},
                                    "new": count,
                                    "lost": count,
                                },
                            },
                        },
                    },
                },
                "SqlRequest": {
                    "type": "object",
                    "required": ["sql"],
                    "additionalProperties": False,
                    "properties": {
                        "sql": {"type": "string"},
                        "write": {
                            "type": "boolean",
                            "default": False,
                            "description": "Allow a statement that changes the index "
                            "(refused unless the server was started writable).",
                        },
                    },
                },
                "Health": {
                    "type": "object",
                    "properties": {
                        "status": {"const": "ok"},
                        "version": {"type": "string"},
                        "instance": {"type": "string"},
                    },
                },
                "Error": {
                    "type": "object",
                    "required": ["error"],
                    "properties": {"error": {"type": "string"}},
                },
            },
        },
    }


# -- the server ----------------------------------------------------------------


class HttpError(Exception):
    """An answer other than 200, with a one-line message for ``{"error": …}``."""

    def __init__(self, status: int, message: str, headers: Mapping[str, str] | None = None):
        super().__init__(message)
        self.status = status
        self.headers = dict(headers or {})


def _one_line(text: str, limit: int = 500) -> str:
    return " ".join(text.split())[:limit]


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


class ApiServer(ThreadingHTTPServer):
    """The HTTP server: one index, one lock around it, and the request handler.

    Queries are serialized on :attr:`lock`: clickhouse-connect's chDB backend
    serializes calls on its handle anyway, and its HTTP client runs one query
    at a time per session, so parallel queries would only queue inside the
    client — and interleave worse there.
    """

    daemon_threads = True
    # A restarted server may reuse its port at once (the socket sat in TIME_WAIT).
    allow_reuse_address = True

    def __init__(
        self,
        address: tuple[str, int],
        index: Index,
        *,
        token: str | None,
        read_only: bool,
    ) -> None:
        self.index = index
        self.token = token
        self.read_only = read_only
        #: The token ``DATA_DIR/serve.json`` hands to the CLI (see :func:`advertise`).
        self.local_token = secrets.token_urlsafe(32)
        #: Tells this server apart from another that later reuses its port.
        self.instance = secrets.token_hex(8)
        self.lock = threading.Lock()
        self.web_files = _load_web_files()
        self.openapi = json.dumps(openapi_document(token_required=token is not None)).encode()
        self.loopback_only = _is_loopback(address[0])
        self.sql_index = index
        self.query_index: Index = ReadOnlyIndex(index)
        super().__init__(address, _Handler)
        try:
            self.sql_index = _sql_index(index)
        except BaseException:
            self.server_close()
            raise
        # The query endpoints run read-only, on the SQL handle: see ReadOnlyIndex.
        self.query_index = ReadOnlyIndex(self.sql_index)

    def handle_error(self, request: Any, client_address: Any) -> None:
        # The base class prints a traceback on stderr; a broken connection is routine.
        log.debug("connection from %s failed", client_address, exc_info=True)

    def server_close(self) -> None:
        super().server_close()
        if self.sql_index is not self.index:
            with contextlib.suppress(Exception):  # closing is best effort
                self.sql_index.client.close()

    @property
    def url(self) -> str:
        """The base URL a client on this machine reaches the server at."""
        host, port = self.server_address[:2]
        return f"http://{_connect_host(str(host))}:{port}"

    def accepts(self, header: str | None, *, sql: bool = False) -> bool:
        """True when the ``Authorization`` header carries a token this server accepts.

        Without a configured token every query is open; SQL always needs one
        (the configured token, or the local token of ``serve.json``).
        """
        if self.token is None and not sql:
            return True
        if not header or not header.startswith("Bearer "):
            return False
        given = header[len("Bearer ") :].strip().encode()
        allowed = [self.local_token] + ([self.token] if self.token else [])
        # Compare against every token, always, so timing says nothing about which.
        return sum(hmac.compare_digest(given, t.encode()) for t in allowed) > 0


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _connect_host(host: str) -> str:
    """The address to connect to for a server listening on ``host``."""
    if host in ("", "0.0.0.0"):
        return "127.0.0.1"
    if host == "::":
        return "[::1]"
    return f"[{host}]" if ":" in host else host


class _Handler(BaseHTTPRequestHandler):
    server: ApiServer
    protocol_version = "HTTP/1.1"
    server_version = f"linkgraph/{__version__}"
    sys_version = ""
    timeout = REQUEST_TIMEOUT
    _body_read = False

    # -- plumbing ------------------------------------------------------------
    def log_message(self, format: str, *args: Any) -> None:
        log.debug("%s %s", self.address_string(), format % args)

    def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
        # The base class answers malformed requests (bad request line, URI too
        # long, unknown method) with an HTML page; the API answers JSON.
        try:
            phrase = HTTPStatus(code).phrase
        except ValueError:
            phrase = "error"
        self._send_json(code, {"error": _one_line(message or phrase)}, close=True)

    def _send(
        self,
        status: int,
        body: bytes,
        content_type: str,
        headers: Mapping[str, str] | None = None,
        *,
        close: bool = False,
    ) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        for name, value in {**_SECURITY_HEADERS, **(headers or {})}.items():
            self.send_header(name, value)
        # A body left unread would be taken for the next request on this connection.
        sent = getattr(self, "headers", None) or {}  # none yet for a malformed request line
        unread = not self._body_read and (
            sent.get("Content-Length", "0") not in ("", "0") or "Transfer-Encoding" in sent
        )
        if close or unread or (headers or {}).get("Connection") == "close":
            self.close_connection = True
            if not headers or "Connection" not in headers:
                self.send_header("Connection", "close")
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _send_json(
        self,
        status: int,
        payload: Any,
        headers: Mapping[str, str] | None = None,
        *,
        close: bool = False,
    ) -> None:
        body = json.dumps(payload, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
        self._send(status, body.encode(), "application/json; charset=utf-8", headers, close=close)

    def _check_host(self) -> None:
        # A page on another site can reach a loopback server through DNS
        # rebinding (evil.example resolving to 127.0.0.1); its requests still
        # carry its own name in Host, so a loopback server answers only to
        # loopback names.
        if not self.server.loopback_only:
            return
        host = self.headers.get("Host", "")
        name = urlsplit(f"//{host}").hostname or ""
        if name not in _LOOPBACK_NAMES:
            raise HttpError(403, f"Host {host[:100]!r} is not a loopback name this server serves")

    def _authorize(self, *, sql: bool = False) -> None:
        if not self.server.accepts(self.headers.get("Authorization"), sql=sql):
            raise HttpError(
                401,
                "a bearer token is required (Authorization: Bearer TOKEN)"
                if not self.headers.get("Authorization")
                else "the bearer token is not valid",
                {"WWW-Authenticate": 'Bearer realm="linkgraph"'},
            )

    def _handle(self, answer: Callable[[], None]) -> None:
        started = time.monotonic()
        self._body_read = False
        try:
            self._check_host()
            answer()
        except HttpError as error:
            self._send_json(error.status, {"error": _one_line(str(error))}, error.headers)
        except UsageError as error:
            self._send_json(400, {"error": _one_line(str(error))})
        except LinkgraphError as error:
            if error.retriable:
                self._send_json(503, {"error": _one_line(str(error))}, {"Retry-After": "5"})
            else:
                log.warning("%s %s failed: %s", self.command, self.path[:200], error)
                # The index's own complaint names tables and SQL: it stays in the log.
                message = (
                    "the index could not answer (the server log has the details)"
                    if isinstance(error, IndexError_)
                    else str(error)
                )
                self._send_json(500, {"error": _one_line(message)})
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True
        except Exception:
            log.exception("%s %s failed", self.command, self.path[:200])
            self._send_json(500, {"error": "internal error (the server log has the details)"})
        finally:
            log.debug(
                "%s %s in %.1f ms",
                self.command,
                self.path[:200],
                (time.monotonic() - started) * 1e3,
            )

    # -- routes --------------------------------------------------------------
    def do_GET(self) -> None:
        self._handle(self._get)

    def do_HEAD(self) -> None:
        self._handle(self._get)

    def do_POST(self) -> None:
        self._handle(self._post)

    def do_PUT(self) -> None:
        self._handle(self._not_allowed)

    do_DELETE = do_PATCH = do_PUT

    def _not_allowed(self) -> None:
        allow = "POST" if urlsplit(self.path).path == f"{API_PREFIX}sql" else "GET, HEAD"
        raise HttpError(405, f"{self.command} is not allowed here (use {allow})", {"Allow": allow})

    def _get(self) -> None:
        parts = urlsplit(self.path)
        path = parts.path
        if path.startswith(API_PREFIX):
            endpoint = ENDPOINTS.get(path[len(API_PREFIX) :])
            if endpoint is None:
                if path == f"{API_PREFIX}sql":
                    self._not_allowed()
                raise HttpError(404, f"no endpoint {path[:100]!r} (see /openapi.json)")
            self._authorize()
            params = _parse_query(parts.query, endpoint.params)
            with self.server.lock:
                payload = endpoint.run(self.server.query_index, params)
            self._send_json(200, payload)
        elif path == "/healthz":
            self._send_json(
                200, {"status": "ok", "version": __version__, "instance": self.server.instance}
            )
        elif path == "/openapi.json":
            self._send(200, self.server.openapi, "application/json; charset=utf-8")
        elif path in ("/", "/index.html"):
            self._static("index.html")
        elif path.lstrip("/") in WEB_FILES:
            self._static(path.lstrip("/"))
        else:
            raise HttpError(404, f"nothing at {path[:100]!r}")

    def _static(self, name: str) -> None:
        self._send(200, self.server.web_files[name], WEB_FILES[name])

    def _post(self) -> None:
        if urlsplit(self.path).path != f"{API_PREFIX}sql":
            self._not_allowed()
        self._authorize(sql=True)
        request = self._json_body()
        statement = request.get("sql")
        write = request.get("write", False)
        unknown = set(request) - {"sql", "write"}
        if unknown:
            raise UsageError(f"unknown field {sorted(unknown)[0][:40]!r} (accepted: sql, write)")
        if not isinstance(statement, str) or not statement.strip():
            raise UsageError('the body needs "sql": a non-empty string')
        if not isinstance(write, bool):
            raise UsageError('"write" must be true or false')
        if write and self.server.read_only:
            raise HttpError(
                403, "this server runs read-only SQL (to change the index, stop linkgraph serve)"
            )
        try:
            with self.server.lock:
                result = queries.sql(
                    self.server.index if write else self.server.sql_index, statement, write=write
                )
        except IndexError_ as error:
            if "READONLY" in str(error):
                hint = (
                    "this server runs read-only SQL"
                    if self.server.read_only
                    else 'send "write": true to allow that'
                )
                raise HttpError(403, f"the statement would change the index; {hint}") from None
            # The statement is the client's input: the index's complaint is a 400.
            raise UsageError(str(error)) from None
        self._send_json(200, result_json(result))

    def _json_body(self) -> dict[str, Any]:
        if self.headers.get("Transfer-Encoding"):
            raise HttpError(411, "send the body with a Content-Length")
        length_text = self.headers.get("Content-Length", "")
        if not length_text.isdigit():
            raise HttpError(411, "a Content-Length is required")
        length = int(length_text)
        if length > MAX_BODY_BYTES:
            raise HttpError(413, f"the body is over {MAX_BODY_BYTES} bytes")
        raw = self.rfile.read(length)
        self._body_read = True
        try:
            body = json.loads(raw.decode("utf-8"))
        except (UnicodeDecodeError, ValueError):
            raise UsageError("the body is not JSON") from None
        if not isinstance(body, dict):
            raise UsageError('the body must be a JSON object like {"sql": "SELECT 1"}')
        return body


def make_server(
    index: Index,
    host: str = API_HOST,
    port: int = API_PORT,
    *,
    token: str | None = None,
    read_only: bool = True,
) -> ApiServer:
    """A server bound to ``host:port`` (port 0: any free port), not yet serving.

    Call ``serve_forever()`` (in a thread for tests), then ``shutdown()`` and
    ``server_close()``. ``read_only=False`` lets ``POST /api/v1/sql`` with
    ``"write": true`` change the index. Raises :class:`ConfigError` for a
    token that is too short or an address it cannot listen on.
    """
    if token is not None:
        if len(token) < MIN_TOKEN_CHARS or not token.isascii() or not token.isprintable():
            raise ConfigError(
                f"--token must be at least {MIN_TOKEN_CHARS} printable ASCII characters "
                "(make one with: python3 -c 'import secrets; print(secrets.token_urlsafe())')"
            )
        if any(c.isspace() for c in token):
            raise ConfigError("--token must not contain spaces")
    try:
        server = ApiServer((host, port), index, token=token, read_only=read_only)
    except OSError as error:
        raise ConfigError(f"cannot listen on {host}:{port}: {error.strerror or error}") from None
    if token is None and not server.loopback_only:
        log.warning(
            "serving on %s without a token: anyone who can reach it can read the index", host
        )
    return server


# -- the running server, seen from the CLI ----------------------------------------


@dataclass(frozen=True, slots=True)
class RunningServer:
    """A ``linkgraph serve`` that holds an embedded data directory."""

    url: str
    token: str
    pid: int
    extra: dict[str, Any] = field(default_factory=dict)


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


def _no_proxy_opener() -> urllib.request.OpenerDirector:
    # The server is on this machine: http_proxy (set for crawls) must not apply.
    return urllib.request.build_opener(urllib.request.ProxyHandler({}))


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
    try:
        with _no_proxy_opener().open(f"{url}/healthz", timeout=HEALTH_TIMEOUT) as response:
            health = json.loads(response.read())
    except (OSError, ValueError):
        return None
    if not isinstance(health, dict) or health.get("instance") != instance:
        return None
    return RunningServer(url, token, pid, {k: v for k, v in info.items() if k != "token"})


def query_params(target: Target, filters: Filters) -> dict[str, Any]:
    """The API parameters of a CLI query (for :func:`remote_query`)."""
    return {"target": target.text, "scope": target.scope, **filters.to_params()}


def _raise_for(status: int, message: str, url: str) -> NoReturn:
    if status in (400, 403, 404, 405, 411, 413):
        raise UsageError(message)
    if status == 401:
        raise ConfigError(f"the server at {url} refused the token: {message}")
    if status == 503:
        raise IndexUnavailable(message)
    raise IndexError_(message)


def _request(
    url: str, path: str, token: str | None, *, body: bytes | None, timeout: float
) -> dict[str, Any]:
    request = urllib.request.Request(f"{url}{path}", data=body, method="POST" if body else "GET")
    request.add_header("Accept", "application/json")
    if body is not None:
        request.add_header("Content-Type", "application/json")
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    try:
        with _no_proxy_opener().open(request, timeout=timeout) as response:
            payload = json.loads(response.read())
    except urllib.error.HTTPError as error:
        try:
            message = str(json.loads(error.read())["error"])
        except (OSError, ValueError, KeyError, TypeError):
            message = f"HTTP {error.code} {error.reason}"
        _raise_for(error.code, message, url)
    except (OSError, ValueError) as error:
        raise IndexUnavailable(
            f"cannot reach linkgraph serve at {url}: {_one_line(str(error), 200)}"
        ) from None
    if not isinstance(payload, dict):
        raise IndexError_(f"linkgraph serve at {url} answered something other than an object")
    return payload


def _result(payload: dict[str, Any]) -> Result:
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


def remote_query(
    url: str,
    endpoint: str,
    params: Mapping[str, Any],
    token: str | None = None,
    *,
    timeout: float = 300.0,
) -> Result:
    """Run a query on a running server and return what the local query would.

    ``endpoint`` is ``backlinks``, ``refdomains``, ``anchors``, ``outlinks``,
    ``stats`` or ``sql``. For the first four, ``params`` is
    :func:`query_params`; ``limit`` 0 means all rows, read page by page as
    the CLI would get them at once. For ``sql`` it is ``{"sql": statement,
    "write": bool}``. Timestamps come back as naive UTC ``datetime``, so the
    result prints exactly like a local one. Errors are the CLI's:
    :class:`UsageError` for bad input, :class:`IndexUnavailable` when the
    server cannot be reached, :class:`IndexError_` otherwise.
    """
    url = url.rstrip("/")
    if endpoint == "sql":
        body = json.dumps({"sql": params["sql"], "write": bool(params.get("write"))}).encode()
        return _result(_request(url, f"{API_PREFIX}sql", token, body=body, timeout=timeout))
    if endpoint == "stats":
        return _result(_request(url, f"{API_PREFIX}stats", token, body=None, timeout=timeout))
    if endpoint not in ENDPOINTS or endpoint in ("summary", "report"):
        raise UsageError(f"no such query {endpoint!r}")
    fixed = query_pairs(params, ENDPOINTS[endpoint].param_names - {"limit", "offset", "cursor"})
    wanted = int(params.get("limit") or 0)
    offset = int(params.get("offset") or 0)
    cursor: str | None = params.get("cursor") or None
    result: Result | None = None
    while True:
        page = (
            MAX_LIMIT if not wanted else min(MAX_LIMIT, wanted - len(result.rows if result else []))
        )
        paging = [("limit", str(page))]
        if cursor:
            paging.append(("cursor", cursor))
        elif offset:
            paging.append(("offset", str(offset)))
        path = f"{API_PREFIX}{endpoint}?{urlencode(fixed + paging)}"
        part = _result(_request(url, path, token, body=None, timeout=timeout))
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
    return _request(url.rstrip("/"), path, token, body=None, timeout=300.0)


# -- serving -------------------------------------------------------------------


class _Stop(Exception):
    """SIGTERM: leave serve_forever and clean up."""


def _stop(signum: int, frame: object) -> None:
    raise _Stop


def serve(
    index: Index,
    host: str = API_HOST,
    port: int = API_PORT,
    *,
    token: str | None = None,
    read_only: bool = True,
    on_ready: Callable[[ApiServer], None] | None = None,
) -> None:
    """Serve until SIGINT or SIGTERM; returns after a clean stop.

    With an embedded index, ``DATA_DIR/serve.json`` tells the CLI's query
    commands to use this server while it runs (see :func:`advertise`).
    ``on_ready`` is called with the listening server (the CLI prints its URL).
    """
    server = make_server(index, host, port, token=token, read_only=read_only)
    in_main = threading.current_thread() is threading.main_thread()
    previous = signal.signal(signal.SIGTERM, _stop) if in_main else None
    try:
        with contextlib.ExitStack() as stack:
            if index.location.embedded and index.location.data_dir:
                stack.enter_context(advertise(server, index.location.data_dir))
            if on_ready is not None:
                on_ready(server)
            with contextlib.suppress(KeyboardInterrupt, _Stop):
                server.serve_forever(poll_interval=0.5)
    finally:
        server.server_close()
        if in_main and previous is not None:
            signal.signal(signal.SIGTERM, previous)
