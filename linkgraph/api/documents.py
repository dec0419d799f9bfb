"""What the API answers: query results as JSON, the summary, and their schemas.

Query answers are ``{"columns": [names], "types": [json types], "rows":
[{name: value}], "next_cursor": token | null, "count": n}``; timestamps are
UTC ISO-8601 strings as the CLI prints them. The pydantic models here only
describe the answers in the OpenAPI document: the answers themselves are
built as plain JSON, row by row, and never validated on the way out.
"""

from __future__ import annotations

import json
import math
from datetime import date, datetime
from decimal import Decimal
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from linkcore.errors import UsageError
from linkcore.records import KINDS, LOCATIONS
from linkindex.client import Index
from linkindex.filters import REL_FLAGS, SCOPES, Filters
from linkindex.output import iso
from linkindex.queries import Result, Target
from linkindex.reports import report
from linkindex.sqlparts import LOST_REASONS, backlinks_where

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
    and ``date`` mark strings that :func:`linkgraph.api.remote_query` turns
    back into ``datetime``/``date`` — or ``null`` when every value is null.
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


def new_refdomains_per_day(index: Index, target: Target, filters: Filters) -> dict[str, int]:
    """Referring domains by the UTC day of their first link to ``target`` (ISO day -> count)."""
    params: dict[str, Any] = {}
    source, where = backlinks_where(index, target, filters, params)
    _, rows = index.query(
        f"""
        SELECT day, count() AS new_refdomains
        FROM (SELECT source_domain, toDate(min(first_seen), 'UTC') AS day
              FROM {source} WHERE {where} GROUP BY source_domain)
        GROUP BY day ORDER BY day""",
        params,
    )
    return {day.isoformat(): int(count) for day, count in rows}


def summary(index: Index, target: Target, filters: Filters) -> dict[str, Any]:
    """Totals and a per-day series for one target, as JSON.

    The figures are the report's (:func:`linkindex.reports.report`), named as
    the summary always named them, plus the referring domains first seen per
    day. ``dofollow_share`` is null without links (the report says 0.0).
    ``per_day`` has one row per UTC day on which links (or referring domains)
    to the target were first seen, or lost.
    """
    figures = report(index, target, filters)
    backlinks = int(figures["backlinks"])
    new_domains = new_refdomains_per_day(index, target, filters) if backlinks else {}
    days: dict[str, dict[str, int]] = {
        str(day["day"]): {"new_backlinks": int(day["new"]), "lost_backlinks": int(day["lost"])}
        for day in figures["history"]
    }
    for day in new_domains:
        days.setdefault(day, {"new_backlinks": 0, "lost_backlinks": 0})
    first, last = figures["first_seen"], figures["last_seen"]
    return {
        "target": {
            "text": target.text,
            "scope": target.scope,
            "url": target.url,
            "host": target.host,
            "domain": target.domain,
        },
        "backlinks": backlinks,
        "refdomains": figures["referring_domains"],
        "dofollow_backlinks": figures["dofollow_backlinks"],
        "dofollow_refdomains": figures["dofollow_referring_domains"],
        "dofollow_share": figures["dofollow_share"] if backlinks else None,
        "target_urls": figures["target_urls"],
        "first_seen": iso(first) if backlinks and first is not None else None,
        "last_seen": iso(last) if backlinks and last is not None else None,
        "lost_backlinks": figures["lost_backlinks"],
        "locations": figures["locations"],
        "sitewide_backlinks": figures["sitewide_backlinks"],
        "broken_backlinks": figures["broken_backlinks"],
        "per_day": {
            "columns": ["day", "new_backlinks", "new_refdomains", "lost_backlinks"],
            "rows": [
                {
                    "day": day,
                    "new_backlinks": counts["new_backlinks"],
                    "new_refdomains": new_domains.get(day, 0),
                    "lost_backlinks": counts["lost_backlinks"],
                }
                for day, counts in sorted(days.items())
            ],
        },
    }


# -- the request body of POST /api/v1/sql ---------------------------------------------


class SqlRequest(BaseModel):
    """The body of ``POST /api/v1/sql``."""

    model_config = ConfigDict(extra="forbid", strict=True)

    sql: str = Field(description="One statement (database `linkgraph`; start with `links`).")
    write: bool = Field(
        False,
        description="Allow a statement that changes the index "
        "(refused unless the server was started writable).",
    )

    @field_validator("sql")
    @classmethod
    def _not_blank(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("blank")
        return value


def sql_request(raw: bytes) -> SqlRequest:
    """The :class:`SqlRequest` in a body, or a one-line :class:`UsageError`."""
    try:
        body = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        raise UsageError("the body is not JSON") from None
    if not isinstance(body, dict):
        raise UsageError('the body must be a JSON object like {"sql": "SELECT 1"}')
    try:
        return SqlRequest.model_validate(body)
    except ValidationError as error:
        problems = error.errors()
    unknown = sorted(str(p["loc"][0]) for p in problems if p["type"] == "extra_forbidden")
    if unknown:
        raise UsageError(f"unknown field {unknown[0][:40]!r} (accepted: sql, write)") from None
    if any(p["loc"] == ("sql",) for p in problems):
        raise UsageError('the body needs "sql": a non-empty string') from None
    raise UsageError('"write" must be true or false') from None


# -- the answers' schemas (OpenAPI only) ------------------------------------------------


class Error(BaseModel):
    """Every answer other than 200."""

    error: str = Field(description="One line.")


class Health(BaseModel):
    """``/healthz``."""

    status: Literal["ok"]
    version: str
    instance: str = Field(description="Tells this server apart from a later one on its port.")


class QueryResult(BaseModel):
    """The answer of a query: one page of rows."""

    columns: list[str]
    types: list[
        Literal[
            "string", "integer", "number", "boolean", "timestamp", "date", "array", "object", "null"
        ]
    ] = Field(description="JSON type of each column; `timestamp` and `date` are ISO-8601 strings.")
    rows: list[dict[str, Any]]
    next_cursor: str | None = Field(
        description="Pass as `cursor` for the next page; null on the last page."
    )
    count: int = Field(ge=0)


class TargetParts(BaseModel):
    """What a target parsed to."""

    text: str
    scope: Literal[SCOPES]  # type: ignore[valid-type]
    url: str
    host: str
    domain: str


class SummaryDay(BaseModel):
    """One UTC day of the summary."""

    day: date
    new_backlinks: int = Field(ge=0)
    new_refdomains: int = Field(ge=0)
    lost_backlinks: int = Field(ge=0)


class SummaryDays(BaseModel):
    """The summary's days, oldest first."""

    columns: list[str]
    rows: list[SummaryDay]


class Summary(BaseModel):
    """Totals of one target and its links per day."""

    target: TargetParts
    backlinks: int = Field(ge=0)
    refdomains: int = Field(ge=0)
    dofollow_backlinks: int = Field(ge=0)
    dofollow_refdomains: int = Field(ge=0)
    dofollow_share: float | None = Field(
        description="dofollow_backlinks / backlinks; null without links."
    )
    target_urls: int = Field(ge=0)
    first_seen: datetime | None
    last_seen: datetime | None
    lost_backlinks: int = Field(
        ge=0, description="Links a later conclusive fetch of their source page no longer carried."
    )
    locations: dict[Literal[LOCATIONS], int] = Field(  # type: ignore[valid-type]
        description="Backlinks by where they sit on the source page (as `report` counts them)."
    )
    sitewide_backlinks: int = Field(ge=0)
    broken_backlinks: int = Field(
        ge=0, description="Backlinks whose target URL answered 4xx or 5xx at its latest fetch."
    )
    per_day: SummaryDays


class TldShare(BaseModel):
    """Referring domains under one top-level domain."""

    tld: str
    referring_domains: int = Field(ge=0)


class Subnet(BaseModel):
    """The referring pages fetched from one IPv4 /24 or IPv6 /48."""

    subnet: str = Field(description="The network, e.g. `192.0.2.0/24` or `2001:db8:1::/48`.")
    referring_domains: int = Field(ge=0)
    referring_ips: int = Field(ge=0)
    backlinks: int = Field(ge=0)


class ReportDay(BaseModel):
    """Links first seen (`new`) and lost on one UTC day."""

    day: date
    new: int = Field(ge=0)
    lost: int = Field(ge=0)


class Report(BaseModel):
    """The backlink profile of one target (`linkgraph report`)."""

    target: str
    scope: Literal[SCOPES]  # type: ignore[valid-type]
    url: str
    domain: str
    backlinks: int = Field(ge=0)
    referring_domains: int = Field(ge=0)
    referring_hosts: int = Field(ge=0)
    target_urls: int = Field(ge=0)
    dofollow_backlinks: int = Field(ge=0)
    dofollow_share: float = Field(ge=0, le=1)
    dofollow_referring_domains: int = Field(ge=0)
    rel: dict[Literal[REL_FLAGS], int]  # type: ignore[valid-type]
    image_links: int = Field(ge=0)
    kinds: dict[Literal[KINDS], int]  # type: ignore[valid-type]
    first_seen: datetime | None
    last_seen: datetime | None
    lost_backlinks: int = Field(ge=0)
    live_backlinks: int = Field(ge=0)
    tlds: list[TldShare] = Field(
        description="The 20 most common top-level domains of the referring domains."
    )
    gov_referring_domains: int = Field(ge=0)
    edu_referring_domains: int = Field(ge=0)
    gov_share: float = Field(ge=0, le=1)
    edu_share: float = Field(ge=0, le=1)
    history: list[ReportDay] = Field(description="Links first seen and lost per UTC day.")
    locations: dict[Literal[LOCATIONS], int] = Field(  # type: ignore[valid-type]
        description="Backlinks by where they sit on the source page."
    )
    location_shares: dict[Literal[LOCATIONS], float] = Field(  # type: ignore[valid-type]
        description="The share of backlinks in each location."
    )
    content_share: float = Field(ge=0, le=1, description="The share of backlinks in `content`.")
    sitewide_backlinks: int = Field(ge=0)
    sitewide_share: float = Field(ge=0, le=1)
    broken_backlinks: int = Field(
        ge=0, description="Backlinks whose target URL answered 4xx or 5xx at its latest fetch."
    )
    lost_reasons: dict[Literal[LOST_REASONS], int] = Field(  # type: ignore[valid-type]
        description="Lost backlinks by why they were lost."
    )
    backlinks_with_ip: int = Field(
        ge=0, description="Backlinks whose source page's IP address is known."
    )
    referring_ips: int = Field(ge=0)
    referring_subnets: int = Field(ge=0, description="IPv4 /24 and IPv6 /48 networks.")
    subnets: list[Subnet] = Field(
        description="The 20 subnets with most referring domains (most first)."
    )
