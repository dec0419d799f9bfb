"""Every option of the query commands, declared once (docs/queries.md).

Each :class:`Option` names one filter or query option with its type, its
choices and its help text. Everything else is derived from :data:`OPTIONS`:

- :class:`Filters`, what a query reads (one field per option, same name);
- the CLI flags of ``backlinks``, ``refdomains``, … (``--from-domain`` for
  ``from_domain``: the name with dashes), in ``linkgraph.cli.query``;
- the HTTP API's query parameters, their validation and their OpenAPI schema,
  in ``linkgraph.api``;
- the parameters the CLI sends to a running ``linkgraph serve``
  (:meth:`Filters.to_params`).

So one name holds everywhere: the flag, the API parameter, the field, the
JSON key and the docs. Each option also says what its SQL does (``sql``); the
condition itself is in :data:`linkindex.sqlparts.CONDITIONS` under the
option's name, which refuses to load without it. A new filter is one more
:class:`Option` here and its condition there.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, fields
from typing import Any, Final, Literal

from linkcore.records import KINDS, LOCATIONS

#: What a TARGET matches (docs/queries.md); not a filter, but declared here too.
SCOPES: Final = ("url", "host", "domain", "prefix")
#: The rel flags a link may carry.
REL_FLAGS: Final = ("nofollow", "ugc", "sponsored")
#: Orders a query can be asked for (default: the index's key order).
SORTS: Final = ("first_seen", "last_seen", "authority", "relevance")
#: Link states: still carried by the source page at its last fetch, or not.
STATUSES: Final = ("live", "lost")


@dataclass(frozen=True, slots=True)
class Option:
    """One query option: the one declaration that flags, parameters and fields come from.

    ``kind`` is ``flag`` (a boolean, off by default), ``switch`` (a boolean
    that may be asked either way or not at all: ``--NAME`` and ``--not-NAME``
    on the CLI, ``NAME=true|false`` in the API; None by default), ``text`` (a string),
    ``choice`` (one of ``choices``), ``choices`` (any of ``choices``, a
    repeatable flag or parameter; commas also separate values in the API) or
    ``date`` (an ISO-8601 date or time, UTC) or ``number`` (an integer
    within ``bounds``, None by default). ``shorthands`` are extra CLI
    flags that set a ``choice`` option to one value: ``(flag, value, help)``.

    ``sql`` says where the option's condition
    (:data:`linkindex.sqlparts.CONDITIONS`) goes: ``where``, a condition on
    each edge's fields, in every query's WHERE
    (:func:`linkindex.sqlparts.filter_where`); ``state``, a condition on the
    edge's live/lost state, which reads the edge table by its alias
    (:func:`linkindex.sqlparts.edges_from`); ``derived``, a condition on a
    fact derived from other rows (the target page's status, the source host's
    pages: :data:`linkindex.sqlparts.DERIVED_CONDITIONS`), bounded by the
    query's scope; None for an option that filters no rows (it orders them,
    adds a column or keeps one per domain).
    """

    name: str
    kind: Literal["flag", "switch", "text", "choice", "choices", "date", "number"]
    help: str
    choices: tuple[str, ...] = ()
    metavar: str | None = None
    shorthands: tuple[tuple[str, str, str], ...] = ()
    #: Longest value accepted (characters), for text and dates.
    max_chars: int | None = None
    sql: Literal["where", "state", "derived"] | None = "where"
    #: Smallest and largest value accepted, for numbers.
    bounds: tuple[int, int] = (0, 0)

    @property
    def flag(self) -> str:
        """The CLI flag: the name with dashes."""
        return "--" + self.name.replace("_", "-")

    @property
    def negated_flag(self) -> str:
        """The CLI flag that asks a ``switch`` the other way (``--not-sitewide``)."""
        return "--not-" + self.name.replace("_", "-")

    @property
    def repeatable(self) -> bool:
        """True when the option takes several values."""
        return self.kind == "choices"


def _seen(name: str, meaning: str) -> Option:
    return Option(
        name, "date", f"only links {meaning} DATE (ISO-8601 date or time, UTC)", (), "DATE", (), 40
    )


#: The filters and options every query command accepts, in ``--help`` order.
OPTIONS: Final[tuple[Option, ...]] = (
    Option(
        "include_internal",
        "flag",
        "include links between pages of the same registered domain",
    ),
    Option("dofollow_only", "flag", "only links without nofollow"),
    Option("kind", "choices", "only edges of this kind (repeatable)", KINDS),
    Option(
        "status",
        "choice",
        "only links the source page still carried at its last fetch (live), or no longer (lost)",
        STATUSES,
        sql="state",
        shorthands=(
            ("--live", "live", "only links the source page still carried at its last fetch"),
            ("--lost", "lost", "only links a later fetch of the source page no longer carried"),
        ),
    ),
    Option(
        "rel", "choices", "only links with this rel flag (repeatable: all must hold)", REL_FLAGS
    ),
    Option(
        "location",
        "choices",
        "only links that sit there on the source page (repeatable: any of them)",
        LOCATIONS,
    ),
    Option(
        "broken",
        "flag",
        "only links whose target URL answered 4xx or 5xx at its latest fetch",
        sql="derived",
    ),
    Option(
        "sitewide",
        "switch",
        "only sitewide links (--sitewide: the source host links to the target URL from at "
        "least half of its fetched HTML pages, and from 5 or more), or only the others "
        "(--not-sitewide)",
        sql="derived",
    ),
    Option(
        "max_spam",
        "number",
        "only links from referring domains whose spam score (0-100, docs/queries.md#spam-score) "
        "is at most N",
        metavar="N",
        sql="derived",
        bounds=(0, 100),
    ),
    Option(
        "min_relevance",
        "text",
        "only links whose topical relevance (0 to 1: how alike the source page's text and "
        "the target page's, or the target domain's, are) is at least X; links of unknown "
        "relevance are left out",
        metavar="X",
        max_chars=20,
        sql="derived",
    ),
    Option(
        "anchor",
        "text",
        "only links whose anchor contains TEXT (case-insensitive)",
        metavar="TEXT",
        max_chars=4096,
    ),
    Option(
        "from_domain",
        "text",
        "only links from this referring (registered) domain",
        metavar="DOMAIN",
        max_chars=253,
    ),
    _seen("first_seen_from", "first seen on or after"),
    _seen("first_seen_to", "first seen on or before"),
    _seen("last_seen_from", "last seen on or after"),
    _seen("last_seen_to", "last seen on or before"),
    Option(
        "sort",
        "choice",
        "newest first by this sighting, or the strongest referrer first (authority, from "
        "`linkgraph rank`; for outlinks the strongest target), or the most relevant link "
        "first (relevance: backlinks and outlinks); default: the index's key order",
        SORTS,
        sql=None,
    ),
    Option(
        "with_authority",
        "flag",
        "add the other side's domain authority to edge records (source_authority on "
        "backlinks, target_authority on outlinks)",
        sql=None,
    ),
    Option(
        "one_per_domain",
        "flag",
        "one link per referring domain (dofollow first, then oldest)",
        sql=None,
    ),
)
#: The options by name.
BY_NAME: Final = {option.name: option for option in OPTIONS}


@dataclass(slots=True)
class Filters:
    """What a query reads: one field per :data:`OPTIONS` entry, plus paging.

    Fields not given keep their defaults: external links of every kind, live
    or lost, in the index's key order, all rows. ``disavow`` (a
    :class:`linkindex.disavow.Disavow`, from the CLI's ``--disavow FILE``)
    leaves out the referrers a disavow file names.
    """

    include_internal: bool = False
    dofollow_only: bool = False
    kind: Sequence[str] = field(default_factory=tuple)
    status: str | None = None
    rel: Sequence[str] = field(default_factory=tuple)
    location: Sequence[str] = field(default_factory=tuple)
    broken: bool = False
    sitewide: bool | None = None
    max_spam: int | None = None
    min_relevance: str | None = None
    anchor: str | None = None
    from_domain: str | None = None
    first_seen_from: str | None = None
    first_seen_to: str | None = None
    last_seen_from: str | None = None
    last_seen_to: str | None = None
    sort: str | None = None
    with_authority: bool = False
    one_per_domain: bool = False
    limit: int = 0
    offset: int = 0
    cursor: str | None = None
    disavow: Any = None

    def to_params(self) -> dict[str, Any]:
        """Every option's value by name, paging included (``disavow`` aside):
        the API parameters of these filters."""
        params = {option.name: getattr(self, option.name) for option in OPTIONS}
        for name, value in params.items():
            if isinstance(value, tuple):
                params[name] = list(value)
        params.update(limit=self.limit, offset=self.offset, cursor=self.cursor)
        return params


# Every option is a field of Filters, by the same name.
if not {option.name for option in OPTIONS} <= {f.name for f in fields(Filters)}:
    raise TypeError("every option in linkindex.filters.OPTIONS needs a Filters field")
