"""The query parameters of the API, derived from :data:`linkindex.filters.OPTIONS`.

Each option becomes one typed FastAPI query parameter of the same name — a
flag a boolean, a choice an enum, repeatable choices an array of an enum
(commas also separate values), text and dates a string of at most
``max_chars`` — with the option's help as its description. FastAPI validates
them and writes them into the OpenAPI document; :func:`filters_of` turns the
validated values back into a :class:`~linkindex.filters.Filters` the way the
CLI's ``filters_of`` does from its flags.

What FastAPI lets pass, :func:`check_query` refuses before any parameter is
read: a query string that is not UTF-8, a parameter the endpoint does not
accept, a single-valued parameter given twice and a value over
:data:`MAX_PARAM_CHARS`. Every refusal is a one-line ``UsageError`` (a 400)
naming the parameter; :func:`validation_message` words FastAPI's own
refusals the same way.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Annotated, Any, Final, Literal, cast
from urllib.parse import parse_qsl

from fastapi import Query
from pydantic import (
    BeforeValidator,
    StringConstraints,
    ValidatorFunctionWrapHandler,
    WrapValidator,
)

from linkcore.errors import UsageError
from linkgraph.api.limits import DEFAULT_LIMIT, MAX_LIMIT, MAX_PARAM_CHARS
from linkindex.filters import OPTIONS, SCOPES, Filters, Option

# Parameters one query string may carry.
MAX_FIELDS: Final = 64
# Characters of a domain name (RFC 1035).
MAX_DOMAIN_CHARS: Final = 253

_TRUE: Final = frozenset({"", "1", "true", "yes", "on"})
_FALSE: Final = frozenset({"0", "false", "no", "off"})
# Literal[...] of values known only at run time: a valid type, but not one mypy can check.
_LITERAL: Final = cast(Any, Literal)


@dataclass(frozen=True, slots=True)
class Param:
    """One query parameter of an endpoint: its name in the query string and
    the typed signature parameter FastAPI reads it from."""

    name: str
    parameter: inspect.Parameter
    #: True when the parameter takes several values (a list).
    repeatable: bool = False


def _param(
    name: str,
    annotation: Any,
    default: Any = inspect.Parameter.empty,
    *,
    alias: str | None = None,
    repeatable: bool = False,
) -> Param:
    keyword = inspect.Parameter(
        name, inspect.Parameter.KEYWORD_ONLY, annotation=annotation, default=default
    )
    return Param(alias or name, keyword, repeatable)


# -- validators: the old, one-line wording of every refusal --------------------------


def _flag(name: str) -> Callable[[Any], Any]:
    def parse(value: Any) -> Any:
        if not isinstance(value, str):
            return value
        if value.lower() in _TRUE:
            return True
        if value.lower() in _FALSE:
            return False
        raise ValueError(f"parameter {name!r} must be true or false, got {value[:40]!r}")

    return parse


def _whole(name: str, low: int, high: int) -> Callable[[Any], Any]:
    def parse(value: Any) -> Any:
        if not isinstance(value, str):
            return value
        if not value.isascii() or not value.isdigit() or len(value) > 19:
            raise ValueError(f"parameter {name!r} must be a whole number, got {value[:40]!r}")
        number = int(value)
        if not low <= number <= high:
            raise ValueError(f"parameter {name!r} must be from {low} to {high}, got {number}")
        return number

    return parse


def _switch(name: str) -> Callable[[Any], Any]:
    def parse(value: Any) -> Any:
        if not isinstance(value, str):
            return value
        if value == "":
            return None
        if value.lower() in _TRUE:
            return True
        if value.lower() in _FALSE:
            return False
        raise ValueError(f"parameter {name!r} must be true or false, got {value[:40]!r}")

    return parse


def _blank_is_none(value: Any, handler: ValidatorFunctionWrapHandler) -> Any:
    # An empty value means "not given", as an empty form field does.
    return None if value == "" else handler(value)


def _choice(
    name: str, choices: Sequence[str]
) -> Callable[[Any, ValidatorFunctionWrapHandler], Any]:
    def parse(value: Any, handler: ValidatorFunctionWrapHandler) -> Any:
        if value == "" or value is None:
            return None
        if value not in choices:
            raise ValueError(
                f"unknown {name} {str(value)[:40]!r} (choose from {', '.join(choices)})"
            )
        return handler(value)

    return parse


def _choices(name: str, choices: Sequence[str]) -> Callable[[Any], Any]:
    def parse(values: Any) -> Any:
        chosen: list[str] = []
        for value in values if isinstance(values, list) else [values]:
            for item in str(value).split(","):
                if item not in choices:
                    raise ValueError(
                        f"unknown {name} {item[:40]!r} (choose from {', '.join(choices)})"
                    )
                if item not in chosen:
                    chosen.append(item)
        return chosen

    return parse


def _list_of(item: Any) -> Any:
    return list[item]


def _described(text: str) -> str:
    return text[:1].upper() + text[1:] + "."


# -- the parameters ----------------------------------------------------------------


def option_param(option: Option) -> Param:
    """The query parameter of one :class:`~linkindex.filters.Option`."""
    name, described = option.name, _described(option.help)
    if option.kind == "flag":
        return _param(
            name,
            Annotated[bool, BeforeValidator(_flag(name)), Query(description=described)],
            False,
        )
    if option.kind == "switch":
        return _param(
            name,
            Annotated[
                bool | None,
                BeforeValidator(_switch(name)),
                Query(description=f"{described} `true` or `false`; absent: either."),
            ],
            None,
        )
    if option.kind == "choice":
        return _param(
            name,
            Annotated[
                _LITERAL[option.choices],
                WrapValidator(_choice(name, option.choices)),
                Query(description=described),
            ],
            None,
        )
    if option.kind == "number":
        low, high = option.bounds
        return _param(
            name,
            Annotated[
                int | None,
                BeforeValidator(_whole(name, low, high)),
                WrapValidator(_blank_is_none),
                Query(description=f"{described} From {low} to {high}."),
            ],
            None,
        )
    if option.kind == "choices":
        described = _described(
            option.help.replace(" (repeatable)", "").replace("(repeatable: ", "(")
        )
        return _param(
            name,
            Annotated[
                _list_of(_LITERAL[option.choices]),
                BeforeValidator(_choices(name, option.choices)),
                Query(description=f"{described} Repeat the parameter, or separate with commas."),
            ],
            [],
            repeatable=True,
        )
    return _param(
        name,
        Annotated[
            str,
            WrapValidator(_blank_is_none),
            Query(description=described, max_length=option.max_chars or MAX_PARAM_CHARS),
        ],
        None,
    )


TARGET: Final = _param(
    "target",
    Annotated[
        str,
        Query(
            description="A URL (`https://example.com/page`) or a bare domain/host (`example.com`).",
            max_length=MAX_PARAM_CHARS,
        ),
    ],
)
SOURCE: Final = _param(
    "target",
    Annotated[
        str,
        Query(
            description="The source: a URL, or a bare domain/host (named `target` like the "
            "other queries).",
            max_length=MAX_PARAM_CHARS,
        ),
    ],
)
SCOPE: Final = _param(
    "scope",
    Annotated[
        _LITERAL[SCOPES],
        WrapValidator(_choice("scope", SCOPES)),
        Query(
            description=f"What the target matches: {', '.join(f'`{s}`' for s in SCOPES)} "
            "(default: `domain` for a bare domain, `url` for a URL)."
        ),
    ],
    None,
)
LIMIT: Final = _param(
    "limit",
    Annotated[
        int,
        BeforeValidator(_whole("limit", 1, MAX_LIMIT)),
        Query(
            description=f"Rows per page (1 to {MAX_LIMIT}); read further pages with `cursor`.",
            ge=1,
            le=MAX_LIMIT,
        ),
    ],
    DEFAULT_LIMIT,
)
OFFSET: Final = _param(
    "offset",
    Annotated[
        int,
        BeforeValidator(_whole("offset", 0, 10**15)),
        Query(description="Skip the first N rows.", ge=0),
    ],
    0,
)
CURSOR: Final = _param(
    "cursor",
    Annotated[
        str,
        WrapValidator(_blank_is_none),
        Query(description="The `next_cursor` of the previous page.", max_length=MAX_PARAM_CHARS),
    ],
    None,
)
PAGING: Final = (LIMIT, OFFSET, CURSOR)
#: Every option of :data:`linkindex.filters.OPTIONS`, in its order.
OPTION_PARAMS: Final = tuple(option_param(option) for option in OPTIONS)
#: The parameters of a scoped query (``backlinks``, ``refdomains``, …) after its target.
QUERY_PARAMS: Final = (SCOPE, *OPTION_PARAMS, *PAGING)


def options_named(*names: str) -> tuple[Param, ...]:
    """The option parameters of ``names``, in :data:`OPTIONS` order."""
    unknown = set(names) - {p.name for p in OPTION_PARAMS}
    if unknown:
        raise ValueError(f"no query option {sorted(unknown)}")
    return tuple(p for p in OPTION_PARAMS if p.name in names)


def domains_param(name: str, keyword: str, description: str, *, required: bool) -> Param:
    """A repeatable parameter of domains (``intersect``'s ``domain`` and ``not``)."""
    annotation = Annotated[
        list[Annotated[str, StringConstraints(max_length=MAX_DOMAIN_CHARS)]],
        Query(alias=name, description=description),
    ]
    default: Any = inspect.Parameter.empty if required else []
    return _param(keyword, annotation, default, alias=name, repeatable=True)


def filters_of(values: Mapping[str, Any], *, paged: bool = True) -> Filters:
    """The :class:`Filters` of an endpoint's validated parameters (by keyword).

    Options the endpoint does not take keep their defaults; without ``paged``
    every row is read (``limit`` 0), as the summary and the report do.
    """
    chosen: dict[str, Any] = {}
    for option in OPTIONS:
        if option.name in values:
            value = values[option.name]
            chosen[option.name] = tuple(value) if option.kind == "choices" else value
    if paged:
        chosen.update(
            limit=values.get("limit", DEFAULT_LIMIT),
            offset=values.get("offset", 0),
            cursor=values.get("cursor"),
        )
    return Filters(**chosen)


# -- what FastAPI lets pass ----------------------------------------------------------


def check_query(query_string: bytes, accepted: Iterable[Param]) -> None:
    """Refuse (``UsageError``) a query string that FastAPI would read leniently.

    Starlette replaces invalid UTF-8 and ignores parameters it was not asked
    for, and a single-valued parameter given twice would quietly take the
    last value: a client that misspelt a filter would get an unfiltered answer.
    """
    try:
        pairs = parse_qsl(
            query_string.decode("latin-1"),
            keep_blank_values=True,
            max_num_fields=MAX_FIELDS,
            errors="strict",
        )
    except ValueError:
        raise UsageError("the query string is not valid UTF-8 or has too many fields") from None
    params = {p.name: p for p in accepted}
    counts: dict[str, int] = {}
    for name, value in pairs:
        if name not in params:
            choices = ", ".join(sorted(params)) or "none"
            raise UsageError(f"unknown parameter {name[:40]!r} (accepted: {choices})")
        if len(value) > MAX_PARAM_CHARS:
            raise UsageError(f"parameter {name!r} is longer than {MAX_PARAM_CHARS} characters")
        counts[name] = counts.get(name, 0) + 1
    for name, count in counts.items():
        if count > 1 and not params[name].repeatable:
            raise UsageError(f"parameter {name!r} given {count} times")


#: What a required parameter is, for the message that says it is missing.
_REQUIRED: Final = {
    "target": "a URL or a domain",
    "domain": "repeat it for each domain",
}


def validation_message(error: Mapping[str, Any]) -> str:
    """One line for one of FastAPI's validation errors (``RequestValidationError.errors()``)."""
    location: Sequence[Any] = error.get("loc") or ()
    name = str(location[1]) if len(location) > 1 else "?"
    kind = error.get("type")
    context = error.get("ctx") or {}
    if kind == "missing":
        hint = _REQUIRED.get(name)
        return f"parameter {name!r} is required" + (f" ({hint})" if hint else "")
    if kind == "value_error" and "error" in context:
        # The validators above word the whole message.
        return str(context["error"])
    if kind == "string_too_long":
        return f"parameter {name!r} is longer than {context.get('max_length')} characters"
    given = str(error.get("input"))[:40]
    return f"parameter {name!r}: {error.get('msg', 'is not valid')} (got {given!r})"
