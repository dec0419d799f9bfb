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
from linkcore.profiles import Profile, decode, encode

#: Edge kinds (docs/edges.md#the-three-kinds).
KINDS: Final = ("a", "canonical", "redirect")

#: Where a link sits on its page (docs/edges.md#where-a-link-sits).
LOCATIONS: Final = ("other", "content", "nav", "header", "footer", "aside")

#: Version of the page record layout; bumped on any incompatible change.
#: Version 2 added each link's location and surrounding texts and the page's
#: title, lang, words, ip and robots_noindex; version 1 records are still read
#: (those fields empty), so producers and consumers can be upgraded in any order.
#: A page's text ``profile`` (docs/relevance.md) came later as an optional
#: field of version 2: a record without it reads as a page without a profile,
#: and a consumer from before it ignores it.
SCHEMA_VERSION: Final = 2
#: Every version :meth:`PageRecord.from_dict` reads.
SCHEMA_VERSIONS: Final = (1, 2)


class MalformedRecord(LinkgraphError):
    """A page record that cannot be turned into edges; never retriable."""


@dataclass(slots=True)
class Link:
    """One edge out of a page, before the index adds hosts and domains.

    ``target_url`` is normalized (docs/urls.md). ``anchor``/``image``/rel flags,
    ``location`` and the surrounding texts are those of the first occurrence in
    document order; ``link_count`` counts the occurrences of ``(target_url,
    kind)`` on the page. ``location`` is one of :data:`LOCATIONS`
    (docs/edges.md#where-a-link-sits).
    """

    target_url: str
    kind: str = "a"
    anchor: str = ""
    image: bool = False
    nofollow: bool = False
    ugc: bool = False
    sponsored: bool = False
    link_count: int = 1
    location: str = "other"
    text_before: str = ""
    text_after: str = ""


@dataclass(slots=True)
class PageRecord:
    """One fetched URL and the links it yielded.

    ``url`` is the normalized URL that answered (the source URL of every link).
    ``fetched_at`` is UTC seconds since the epoch. ``robots_nofollow`` is true
    when a meta robots tag or ``X-Robots-Tag`` header said ``nofollow``/``none``
    (every link then carries ``nofollow=True``), ``robots_noindex`` when they
    said ``noindex``/``none``. ``dropped_links`` counts hrefs that were not
    http(s) or could not be parsed. ``etag`` and ``last_modified`` are the
    validators of a 2xx or 304 answer (its ``ETag`` and ``Last-Modified``
    headers, ``""`` when absent), which a revisit sends back
    (docs/crawling.md#revisits); a record without them (an older producer's)
    reads as ``""``. ``title``, ``lang`` and ``words`` describe an HTML page
    (docs/edges.md#page-facts); ``ip`` is the address it was fetched from when
    the crawler resolved the host itself ("" otherwise). ``source`` says where
    a page record came from when it was not fetched by a crawl: ``warc:FILE``
    or ``wat:FILE`` for a record read from a web archive (docs/ingest.md);
    "" for a crawl. Records without it (older producers) read as "".
    ``profile`` is the page's text profile (docs/relevance.md; ``[]``: none).
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
    robots_noindex: bool = False
    title: str = ""
    lang: str = ""
    words: int = 0
    ip: str = ""
    source: str = ""
    profile: Profile = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """The JSON-compatible form (links as compact lists, see ``LINK_FIELDS``);
        the validators, the source and the profile only when known."""
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
            "robots_noindex": self.robots_noindex,
            "title": self.title,
            "lang": self.lang,
            "words": self.words,
            "ip": self.ip,
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
                    link.location,
                    link.text_before,
                    link.text_after,
                ]
                for link in self.links
            ],
        }
        if self.etag:
            data["etag"] = self.etag
        if self.last_modified:
            data["last_modified"] = self.last_modified
        if self.source:
            data["source"] = self.source
        if self.profile:
            data["profile"] = encode(self.profile)
        return data

    @classmethod
    def from_dict(cls, data: Any) -> PageRecord:
        """Validate and build a record from :meth:`to_dict` output.

        Reads every version of :data:`SCHEMA_VERSIONS`; a version 1 record
        gives links located ``other`` without texts and no page facts.
        Raises :class:`MalformedRecord` with the reason for anything else.
        """
        if not isinstance(data, dict):
            raise MalformedRecord("page record is not an object")
        version = data.get("v")
        if version not in SCHEMA_VERSIONS or isinstance(version, bool):
            raise MalformedRecord(f"unsupported page record version {version!r}")
        fields = len(LINK_FIELDS) if version == SCHEMA_VERSION else len(LINK_FIELDS_V1)
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
            if not isinstance(raw, list) or len(raw) != fields:
                raise MalformedRecord(f"a link is not a list of {fields} fields")
            target, kind, anchor, image, nofollow, ugc, sponsored, count = raw[:8]
            if not isinstance(target, str) or kind not in KINDS or not isinstance(anchor, str):
                raise MalformedRecord("a link has a bad target, kind or anchor")
            if not isinstance(count, int) or count < 1:
                raise MalformedRecord("a link has a bad link_count")
            link = Link(
                target,
                kind,
                anchor,
                bool(image),
                bool(nofollow),
                bool(ugc),
                bool(sponsored),
                count,
            )
            if fields > 8:
                location, before, after = raw[8:]
                if (
                    location not in LOCATIONS
                    or not isinstance(before, str)
                    or not isinstance(after, str)
                ):
                    raise MalformedRecord("a link has a bad location, text_before or text_after")
                link.location, link.text_before, link.text_after = location, before, after
            links.append(link)
        words = data.get("words", 0)
        if not isinstance(words, int) or isinstance(words, bool) or words < 0:
            raise MalformedRecord("page record words is not a count")
        profile_text = data.get("profile", "")
        try:
            if not isinstance(profile_text, str):
                raise ValueError("not a string")
            profile = decode(profile_text)
        except ValueError as error:
            raise MalformedRecord(f"page record profile is malformed: {error}") from None
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
            robots_noindex=bool(data.get("robots_noindex", False)),
            title=str(data.get("title", "")),
            lang=str(data.get("lang", "")),
            words=words,
            ip=str(data.get("ip", "")),
            source=str(data.get("source", "")),
            profile=profile,
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
    "location",
    "text_before",
    "text_after",
)
#: The link fields of a version 1 record.
LINK_FIELDS_V1: Final = LINK_FIELDS[:8]
