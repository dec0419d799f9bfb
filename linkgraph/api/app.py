"""The routes of ``linkgraph serve``: a FastAPI application over one index.

Each ``GET /api/v1/NAME`` is declared once in :data:`ENDPOINTS` — its summary,
its typed parameters (:mod:`linkgraph.api.params`), what it runs and the
schema of its answer — and FastAPI derives from that both the validation of
a request and the OpenAPI document at ``/openapi.json``. ``POST /api/v1/sql``
reads its body itself, after the token check, so that a refused request's
body is never read (see :mod:`linkgraph.api.security`).

Errors are ``{"error": "one line"}``: 400 for bad input, 401 for a missing
or wrong token, 403 for what this server does not allow, 404, 405 with
``Allow``, 411, 413, 503 (with ``Retry-After``) when retrying may help, 500
otherwise — never a traceback.
"""

from __future__ import annotations

import inspect
import logging
import threading
from collections.abc import Callable, Coroutine, Mapping
from dataclasses import dataclass, field
from typing import Annotated, Any, Final

from fastapi import Depends, FastAPI, Request, Response, Security
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.utils import get_openapi
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException

from linkcore.errors import IndexError_, LinkgraphError, UsageError
from linkgraph import __version__
from linkgraph.api.documents import (
    Error,
    Health,
    QueryResult,
    Report,
    SqlRequest,
    Summary,
    json_value,
    result_json,
    sql_request,
    summary,
)
from linkgraph.api.limits import MAX_BODY_BYTES
from linkgraph.api.params import (
    PAGING,
    QUERY_PARAMS,
    SCOPE,
    SOURCE,
    TARGET,
    Param,
    check_query,
    domains_param,
    filters_of,
    option_param,
    options_named,
    validation_message,
)
from linkgraph.api.security import JSON_TYPE, Guard, HttpError, Tokens, json_bytes, one_line
from linkindex import queries, watch
from linkindex.client import Index
from linkindex.filters import OPTIONS, Option
from linkindex.queries import Result, Target
from linkindex.reports import report

log = logging.getLogger(__name__)

API_PREFIX: Final = "/api/v1/"
SQL_PATH: Final = f"{API_PREFIX}sql"
#: The page's files: name -> content type. Nothing else is served from disk.
WEB_FILES: Final = {
    "index.html": "text/html; charset=utf-8",
    "app.js": "text/javascript; charset=utf-8",
    "style.css": "text/css; charset=utf-8",
}
# The methods this server tells apart (405 with Allow); any other is not implemented (501).
_METHODS: Final = frozenset({"GET", "HEAD", "POST", "PUT", "DELETE", "PATCH"})
_BEARER: Final = HTTPBearer(auto_error=False, scheme_name="bearerAuth")


class JsonResponse(JSONResponse):
    """A compact UTF-8 JSON answer, its charset named."""

    def __init__(
        self, content: Any, status_code: int = 200, headers: Mapping[str, str] | None = None
    ) -> None:
        super().__init__(content, status_code, {"Content-Type": JSON_TYPE, **(headers or {})})

    def render(self, content: Any) -> bytes:
        return json_bytes(content)


def _error(status: int, message: str, headers: Mapping[str, str] | None = None) -> JsonResponse:
    return JsonResponse({"error": one_line(message)}, status, dict(headers or {}))


# -- the endpoints ----------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Endpoint:
    """One GET route of the API: its parameters, OpenAPI text, and what it runs."""

    name: str
    summary: str
    params: tuple[Param, ...]
    run: Callable[[Index, dict[str, Any]], dict[str, Any]]
    response: type[BaseModel] = QueryResult

    @property
    def param_names(self) -> frozenset[str]:
        """The names of the parameters this endpoint accepts."""
        return frozenset(p.name for p in self.params)


def _target(values: Mapping[str, Any]) -> Target:
    text = values.get("target")
    if text is None or not text.strip():
        raise UsageError("parameter 'target' is required (a URL or a domain)")
    return Target.parse(text, values.get("scope"))


def _scoped(name: str) -> Callable[[Index, dict[str, Any]], dict[str, Any]]:
    query: Callable[[Index, Target, Any], Result] = getattr(queries, name)

    def run(index: Index, values: dict[str, Any]) -> dict[str, Any]:
        # A bad cursor is refused by the query itself, before any SQL runs.
        return result_json(query(index, _target(values), filters_of(values)))

    return run


def _run_summary(index: Index, values: dict[str, Any]) -> dict[str, Any]:
    return summary(index, _target(values), filters_of(values, paged=False))


def _run_report(index: Index, values: dict[str, Any]) -> dict[str, Any]:
    document = report(index, _target(values), filters_of(values, paged=False))
    return {key: json_value(value) for key, value in document.items()}


def _run_watch(index: Index, values: dict[str, Any]) -> dict[str, Any]:
    # Read-only: the changes since `since` or the last watch's checkpoint,
    # which only `linkgraph watch` moves (docs/queries.md#watch).
    target = _target(values)
    since = watch.parse_since(values["since"]) if values.get("since") else None
    since = since or watch.last_checkpoint(index, target)
    found = watch.changes(index, target, since, watch.now(), filters_of(values, paged=False))
    answer = result_json(found.result)
    answer.update(
        since=json_value(found.since),
        until=json_value(found.until),
        new=found.count("new"),
        lost=found.count("lost"),
    )
    return answer


#: The parameter of the moment a watch starts from.
_SINCE: Final = option_param(
    Option(
        "since",
        "date",
        "changes since DATE (ISO-8601 date or time, UTC) instead of the last watch's checkpoint",
        metavar="DATE",
        max_chars=40,
    )
)


def _run_intersect(index: Index, values: dict[str, Any]) -> dict[str, Any]:
    def domains(texts: list[str]) -> list[Target]:
        return [Target.parse(text, "domain") for text in texts if text.strip()]

    linking = domains(values["domain"])
    if not linking:
        raise UsageError("parameter 'domain' is required (repeat it for each domain)")
    excluded = domains(values["exclude"])
    return result_json(queries.intersect(index, linking, excluded, filters_of(values)))


def _run_stats(index: Index, values: dict[str, Any]) -> dict[str, Any]:
    return result_json(queries.stats(index))


#: The report's filters: every option that selects links (not the order or the columns).
_REPORT_OPTIONS: Final = tuple(
    o.name for o in OPTIONS if o.name not in ("sort", "with_authority", "one_per_domain")
)
ENDPOINTS: Final = {
    e.name: e
    for e in (
        Endpoint(
            "backlinks",
            "Who links to the target: one record per edge (record fields: docs/queries.md).",
            (TARGET, *QUERY_PARAMS),
            _scoped("backlinks"),
        ),
        Endpoint(
            "refdomains",
            "Referring domains of the target: links, dofollow links, target URLs, "
            "first and last seen, authority, and the spam score with the signals that fired.",
            (TARGET, *QUERY_PARAMS),
            _scoped("refdomains"),
        ),
        Endpoint(
            "anchors",
            "Anchor texts of `a` links to the target, with link and referring-domain counts.",
            (TARGET, *QUERY_PARAMS),
            _scoped("anchors"),
        ),
        Endpoint(
            "outlinks",
            "Links out of a source URL, host or domain: one record per edge.",
            (SOURCE, *QUERY_PARAMS),
            _scoped("outlinks"),
        ),
        Endpoint(
            "summary",
            "Totals for the target (backlinks, referring domains, dofollow share, backlinks "
            "per location, sitewide and broken backlinks) and links first seen per UTC day.",
            (
                TARGET,
                SCOPE,
                *options_named(
                    "include_internal",
                    "dofollow_only",
                    "kind",
                    "location",
                    "broken",
                    "sitewide",
                    "max_spam",
                ),
            ),
            _run_summary,
            Summary,
        ),
        Endpoint(
            "top_pages",
            "The target's pages (a domain, host or prefix) ranked by referring domains.",
            (TARGET, *QUERY_PARAMS),
            _scoped("top_pages"),
        ),
        Endpoint(
            "report",
            "The backlink profile of the target: backlinks, referring domains and hosts, "
            "dofollow share, rel flags, kinds, live and lost links, the TLD distribution with "
            ".gov/.edu shares, and new and lost links per UTC day (`linkgraph report`).",
            (TARGET, SCOPE, *options_named(*_REPORT_OPTIONS)),
            _run_report,
            Report,
        ),
        Endpoint(
            "intersect",
            "Link intersect: referring domains that link to every `domain` and to none of "
            "the `not` domains, with the domains each links to.",
            (
                domains_param(
                    "domain",
                    "domain",
                    "A domain the referring domains must link to (repeat for each).",
                    required=True,
                ),
                domains_param(
                    "not",
                    "exclude",
                    "Leave out referring domains that link to this domain (repeatable).",
                    required=False,
                ),
                *PAGING,
            ),
            _run_intersect,
        ),
        Endpoint(
            "watch",
            "The target's backlinks new or lost since `since`, or since the last `linkgraph "
            "watch` of it: one record per edge with `change` (`new` or `lost`), and the "
            "window (`since`, `until`) with the counts. Read-only: the checkpoint stays.",
            (TARGET, SCOPE, _SINCE, *options_named(*watch.OPTIONS)),
            _run_watch,
        ),
        Endpoint("stats", "Index size and freshness: one row of named figures.", (), _run_stats),
    )
}


# -- the application ---------------------------------------------------------------


@dataclass(slots=True)
class Backend:
    """What a server answers from, and the rules it answers by.

    Queries are serialized on :attr:`lock`: clickhouse-connect's chDB backend
    serializes calls on its handle anyway, and its HTTP client runs one query
    at a time per session, so parallel queries would only queue inside the
    client — and interleave worse there.
    """

    #: The index as opened: ``"write": true`` SQL runs here.
    index: Index
    #: The read-only connection every GET endpoint answers through.
    query_index: Index
    #: The handle ``POST /api/v1/sql`` runs on (see ``server._sql_index``).
    sql_index: Index
    tokens: Tokens
    read_only: bool
    #: Tells this server apart from another that later reuses its port.
    instance: str
    web_files: dict[str, bytes]
    loopback_only: bool
    lock: threading.Lock = field(default_factory=threading.Lock)


class _Route(APIRoute):
    """A route whose unexpected failure is a one-line 500, its traceback in the log."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handle = super().get_route_handler()

        async def guarded(request: Request) -> Response:
            try:
                return await handle(request)
            except (HttpError, LinkgraphError, RequestValidationError, HTTPException):
                raise
            except Exception:
                log.exception("%s %s failed", request.method, request.url.path[:200])
                return _error(500, "internal error (the server log has the details)")

        return guarded


def _authorizer(tokens: Tokens, *, sql: bool) -> Callable[..., Coroutine[Any, Any, None]]:
    async def authorize(
        request: Request,
        # Declares the bearer scheme in the OpenAPI document; the check is the tokens'.
        _credentials: Annotated[HTTPAuthorizationCredentials | None, Security(_BEARER)],
    ) -> None:
        tokens.authorize(request.headers.get("authorization"), sql=sql)

    return authorize


def _strict(endpoint: Endpoint) -> Callable[[Request], Coroutine[Any, Any, None]]:
    async def check(request: Request) -> None:
        check_query(request.scope.get("query_string", b""), endpoint.params)

    return check


def _answer(backend: Backend, endpoint: Endpoint) -> Callable[..., Response]:
    def answer(**values: Any) -> Response:
        with backend.lock:
            return JsonResponse(endpoint.run(backend.query_index, values))

    # FastAPI reads the parameters from the signature: the endpoint's, typed.
    signature = inspect.Signature([p.parameter for p in endpoint.params])
    setattr(answer, "__signature__", signature)  # noqa: B010
    answer.__name__ = endpoint.name
    return answer


def _responses(*statuses: int, token_required: bool = False) -> dict[int | str, Any]:
    meaning = {
        400: "Bad input: an unknown or malformed parameter or target.",
        401: "No bearer token, or a wrong one.",
        403: "The statement would change the index, or no token is configured.",
        413: f"Body over {MAX_BODY_BYTES} bytes.",
        500: "The index failed.",
        503: "The index is unavailable; retry after `Retry-After`.",
    }
    wanted = sorted({*statuses, *((401,) if token_required else ())})
    return {status: {"model": Error, "description": meaning[status]} for status in wanted}


def _run_sql(backend: Backend, wanted: SqlRequest) -> dict[str, Any]:
    index = backend.index if wanted.write else backend.sql_index
    try:
        with backend.lock:
            result = queries.sql(index, wanted.sql, write=wanted.write)
    except IndexError_ as error:
        if "READONLY" in str(error):
            hint = (
                "this server runs read-only SQL"
                if backend.read_only
                else 'send "write": true to allow that'
            )
            raise HttpError(403, f"the statement would change the index; {hint}") from None
        # The statement is the client's input: the index's complaint is a 400.
        raise UsageError(str(error)) from None
    return result_json(result)


def _add_handlers(app: FastAPI) -> None:
    async def http_error(request: Request, error: Exception) -> Response:
        assert isinstance(error, HttpError)
        return _error(error.status, str(error), error.headers)

    async def linkgraph_error(request: Request, error: Exception) -> Response:
        assert isinstance(error, LinkgraphError)
        if isinstance(error, UsageError):
            return _error(400, str(error))
        if error.retriable:
            return _error(503, str(error), {"Retry-After": "5"})
        log.warning("%s %s failed: %s", request.method, request.url.path[:200], error)
        # The index's own complaint names tables and SQL: it stays in the log.
        if isinstance(error, IndexError_):
            return _error(500, "the index could not answer (the server log has the details)")
        return _error(500, str(error))

    async def invalid(request: Request, error: Exception) -> Response:
        assert isinstance(error, RequestValidationError)
        problems = list(error.errors())
        return _error(400, validation_message(problems[0]) if problems else "bad request")

    async def no_route(request: Request, error: Exception) -> Response:
        assert isinstance(error, HTTPException)
        method, path = request.method, request.url.path
        if method not in _METHODS:
            return _error(501, f"Unsupported method ({method!r})")
        if error.status_code == 404 and method == "GET":
            if path.startswith(API_PREFIX):
                return _error(404, f"no endpoint {path[:100]!r} (see /openapi.json)")
            return _error(404, f"nothing at {path[:100]!r}")
        if error.status_code in (404, 405):
            allow = "POST" if path == SQL_PATH else "GET, HEAD"
            return _error(405, f"{method} is not allowed here (use {allow})", {"Allow": allow})
        return _error(error.status_code, str(error.detail))

    app.add_exception_handler(HttpError, http_error)
    app.add_exception_handler(LinkgraphError, linkgraph_error)
    app.add_exception_handler(RequestValidationError, invalid)
    app.add_exception_handler(HTTPException, no_route)


def _openapi(app: FastAPI) -> Callable[[], dict[str, Any]]:
    def document() -> dict[str, Any]:
        if app.openapi_schema is None:
            built = get_openapi(
                title=app.title,
                version=app.version,
                description=app.description,
                routes=app.routes,
                servers=app.servers,
            )
            # Refusals are 400s with the Error schema, not FastAPI's 422.
            for operations in built["paths"].values():
                for operation in operations.values():
                    operation["responses"].pop("422", None)
            schemas = built["components"]["schemas"]
            for name in ("HTTPValidationError", "ValidationError"):
                schemas.pop(name, None)
            schemas["SqlRequest"] = SqlRequest.model_json_schema()
            app.openapi_schema = built
        return app.openapi_schema

    return document


def build_app(backend: Backend) -> FastAPI:
    """The application of one server: every route, its errors and its OpenAPI document."""
    token_required = backend.tokens.configured is not None
    app = FastAPI(
        title="linkgraph API",
        version=__version__,
        description="Who links to X: the `linkgraph` query commands over HTTP. "
        "Timestamps are UTC ISO-8601 (`2026-11-21T08:15:02.123Z`). Errors are "
        '`{"error": "one line"}`.',
        servers=[{"url": "/"}],
        docs_url=None,
        redoc_url=None,
        default_response_class=JsonResponse,
    )
    app.router.route_class = _Route
    app.add_middleware(Guard, loopback_only=backend.loopback_only)
    _add_handlers(app)
    security = [Security(_authorizer(backend.tokens, sql=False))] if token_required else []
    for endpoint in ENDPOINTS.values():
        app.add_api_route(
            f"{API_PREFIX}{endpoint.name}",
            _answer(backend, endpoint),
            methods=["GET"],
            operation_id=endpoint.name,
            summary=endpoint.summary,
            response_model=endpoint.response,
            responses=_responses(400, 503, 500, token_required=token_required),
            dependencies=[*security, Depends(_strict(endpoint))],
            # Listed even when empty; the security requirement too when there is none.
            openapi_extra={"parameters": [], **({} if token_required else {"security": []})},
        )

    async def run_sql(request: Request) -> Response:
        if request.headers.get("transfer-encoding"):
            raise HttpError(411, "send the body with a Content-Length")
        length = request.headers.get("content-length", "")
        if not length.isdigit():
            raise HttpError(411, "a Content-Length is required")
        if int(length) > MAX_BODY_BYTES:
            raise HttpError(413, f"the body is over {MAX_BODY_BYTES} bytes")
        wanted = sql_request(await request.body())
        if wanted.write and backend.read_only:
            raise HttpError(
                403, "this server runs read-only SQL (to change the index, stop linkgraph serve)"
            )
        return JsonResponse(await run_in_threadpool(_run_sql, backend, wanted))

    app.add_api_route(
        SQL_PATH,
        run_sql,
        methods=["POST"],
        operation_id="sql",
        summary="Run one read-only SQL statement against the index "
        "(database `linkgraph`; start with the `links` view). Always needs a token.",
        response_model=QueryResult,
        response_description="The statement's result, all rows.",
        responses=_responses(400, 401, 403, 413, 503),
        dependencies=[Security(_authorizer(backend.tokens, sql=True))],
        # The body is read by run_sql after the token check, never before it.
        openapi_extra={
            "requestBody": {
                "required": True,
                "content": {
                    "application/json": {"schema": {"$ref": "#/components/schemas/SqlRequest"}}
                },
            }
        },
    )

    def health() -> Response:
        return JsonResponse({"status": "ok", "version": __version__, "instance": backend.instance})

    app.add_api_route(
        "/healthz",
        health,
        methods=["GET"],
        operation_id="health",
        summary="Liveness: answers while the server runs.",
        response_model=Health,
        response_description="Running.",
        openapi_extra={"security": []},
    )
    for name, content_type in WEB_FILES.items():
        body = backend.web_files[name]
        paths = ("/", "/index.html") if name == "index.html" else (f"/{name}",)
        for path in paths:
            app.add_api_route(
                path,
                _static(body, content_type),
                methods=["GET"],
                include_in_schema=False,
            )
    app.openapi = _openapi(app)  # type: ignore[method-assign]
    return app


def _static(body: bytes, content_type: str) -> Callable[[], Coroutine[Any, Any, Response]]:
    async def page() -> Response:
        return Response(body, media_type=content_type)

    return page
