"""Page records: what the crawler hands on for every fetched URL.

One :class:`PageRecord` per fetched URL (any status), carrying every link the
page yielded (docs/edges.md) already resolved, normalized and merged per
``(target_url, kind)``. Pipelines ship page records (in-process, or over
Kafka); consumers turn them into index rows. ``to_dict``/``from_dict`` give the
JSON-compatible form; ``from_dict`` validates, so a consumer can trust what it
returns and dead-letter what it rejects.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Final

from linkcore.errors import LinkgraphError

#: Edge kinds (docs/edges.md#the-three-kinds).
KINDS: Final = ("a", "canonical", "redirect")

#: Version of the page record layout; bumped on any incompatible change.
SCHEMA_VERSION: Final = 1


class MalformedRecord(LinkgraphError):
    """A page record that cannot be turned into edges; never retriable."""


@dataclass(slots=True)
class Link:
    """One edge out of a page, before the index adds hosts and domains.

    ``target_url`` is normalized (docs/urls.md). ``anchor``/``image``/rel flags are
    those of the first occurrence in document order; ``link_count`` counts the
    occurrences of ``(target_url, kind)`` on the page.
    """

    target_url: str
    kind: str = "a"
    anchor: str = ""
    image: bool = False
    nofollow: bool = False
    ugc: bool = False
    sponsored: bool = False
    link_count: int = 1


@dataclass(slots=True)
class PageRecord:
    """One fetched URL and the links it yielded.

    ``url`` is the normalized URL that answered (the source URL of every link).
    ``fetched_at`` is UTC seconds since the epoch. ``robots_nofollow`` is true
    when a meta robots tag or ``X-Robots-Tag`` header said ``nofollow``/``none``
    (every link then carries ``nofollow=True``). ``dropped_links`` counts hrefs
    that were not http(s) or could not be parsed. ``etag`` and
    ``last_modified`` are the validators of a 2xx or 304 answer (its ``ETag``
    and ``Last-Modified`` headers, ``""`` when absent), which a revisit sends
    back (docs/crawling.md#revisits); a record without them (an older
    producer's) reads as ``""``.
    """

    url: str
    status: int
    fetched_at: float
    content_type: str = ""
    robots_nofollow: bool = False
    depth: int = 0
    links: list[Link] = field(default_factory=list)
    dropped_links: int = 0
    job: str = ""
    etag: str = ""
    last_modified: str = ""

    def to_dict(self) -> dict[str, Any]:
        """The JSON-compatible form (links as compact lists, see ``LINK_FIELDS``);
        the validators only when known."""
        data: dict[str, Any] = {
            "v": SCHEMA_VERSION,
            "url": self.url,
            "status": self.status,
            "fetched_at": self.fetched_at,
            "content_type": self.content_type,
            "robots_nofollow": self.robots_nofollow,
            "depth": self.depth,
            "dropped_links": self.dropped_links,
            "job": self.job,
            "links": [
                [
                    link.target_url,
                    link.kind,
                    link.anchor,
                    int(link.image),
                    int(link.nofollow),
                    int(link.ugc),
                    int(link.sponsored),
                    link.link_count,
                ]
                for link in self.links
            ],
        }
        if self.etag:
            data["etag"] = self.etag
        if self.last_modified:
            data["last_modified"] = self.last_modified
        return data

    @classmethod
    def from_dict(cls, data: Any) -> PageRecord:
        """Validate and build a record from :meth:`to_dict` output.

        Raises :class:`MalformedRecord` with the reason for anything else.
        """
        if not isinstance(data, dict):
            raise MalformedRecord("page record is not an object")
        version = data.get("v")
        if version != SCHEMA_VERSION:
            raise MalformedRecord(f"unsupported page record version {version!r}")
        try:
            url = data["url"]
            status = data["status"]
            fetched_at = data["fetched_at"]
            raw_links = data.get("links", [])
        except KeyError as missing:
            raise MalformedRecord(f"page record lacks field {missing}") from None
        if not isinstance(url, str) or not url:
            raise MalformedRecord("page record url is not a string")
        if not isinstance(status, int) or isinstance(status, bool):
            raise MalformedRecord("page record status is not an integer")
        if not isinstance(fetched_at, int | float) or isinstance(fetched_at, bool):
            raise MalformedRecord("page record fetched_at is not a number")
        if not isinstance(raw_links, list):
            raise MalformedRecord("page record links is not a list")
        etag = data.get("etag", "")
        last_modified = data.get("last_modified", "")
        if not isinstance(etag, str) or not isinstance(last_modified, str):
            raise MalformedRecord("page record etag or last_modified is not a string")
        links = []
        for raw in raw_links:
            if not isinstance(raw, list) or len(raw) != len(LINK_FIELDS):
                raise MalformedRecord(f"a link is not a list of {len(LINK_FIELDS)} fields")
            target, kind, anchor, image, nofollow, ugc, sponsored, count = raw
            if not isinstance(target, str) or kind not in KINDS or not isinstance(anchor, str):
                raise MalformedRecord("a link has a bad target, kind or anchor")
            if not isinstance(count, int) or count < 1:
                raise MalformedRecord("a link has a bad link_count")
            links.append(
                Link(
                    target,
                    kind,
                    anchor,
                    bool(image),
                    bool(nofollow),
                    bool(ugc),
                    bool(sponsored),
                    count,
                )
            )
        return cls(
            url=url,
            status=status,
            fetched_at=float(fetched_at),
            content_type=str(data.get("content_type", "")),
            robots_nofollow=bool(data.get("robots_nofollow", False)),
            depth=int(data.get("depth", 0)),
            links=links,
            dropped_links=int(data.get("dropped_links", 0)),
            job=str(data.get("job", "")),
            etag=etag,
            last_modified=last_modified,
        )


#: Order of a link's fields in the compact list form of :meth:`PageRecord.to_dict`.
LINK_FIELDS: Final = (
    "target_url",
    "kind",
    "anchor",
    "image",
    "nofollow",
    "ugc",
    "sponsored",
    "link_count",
)
