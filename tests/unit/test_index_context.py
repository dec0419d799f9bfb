"""Location, context, page facts and lost reasons in the index (embedded chDB, no services)."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

from linkcore.records import Link, PageRecord
from linkindex.client import IndexLocation, open_index
from linkindex.writer import EdgeWriter

T0 = 1_790_000_000.0
DAY = 86_400


def write(index: Any, *pages: PageRecord) -> None:
    writer = EdgeWriter(index)
    for record in pages:
        writer.add(record)
    writer.flush()


def page(url: str, *links: Link, at: float = T0, status: int = 200, **facts: Any) -> PageRecord:
    return PageRecord(
        url=url, status=status, fetched_at=at, content_type="text/html", links=list(links), **facts
    )


def links(index: Any) -> list[tuple[Any, ...]]:
    _, rows = index.query(
        f"SELECT source_url, target_url, kind, location, text_before, text_after, lost, "
        f"lost_reason FROM {index.db}.links ORDER BY source_url, target_url, kind"
    )
    return rows


def test_location_context_and_page_facts_are_stored(index: Any) -> None:
    write(
        index,
        page(
            "http://a.com/",
            Link("http://t.com/x", anchor="x", location="footer", text_before="By", text_after="."),
            Link("http://a.com/about", location="nav"),
            Link("http://t.com/x", kind="canonical", location="content", text_before="ignored"),
            title="A",
            lang="en",
            words=12,
            ip="192.0.2.1",
        ),
    )
    assert links(index) == [
        ("http://a.com/", "http://a.com/about", "a", "nav", "", "", False, None),
        ("http://a.com/", "http://t.com/x", "a", "footer", "By", ".", False, None),
        # Canonical and redirect edges sit nowhere.
        ("http://a.com/", "http://t.com/x", "canonical", "other", "", "", False, None),
    ]
    _, rows = index.query(
        f"SELECT title, lang, words, internal_links, external_links, ip, robots_noindex "
        f"FROM {index.db}.pages FINAL"
    )
    assert rows == [("A", "en", 12, 1, 1, "192.0.2.1", False)]


def test_the_latest_sighting_gives_location_and_context(index: Any) -> None:
    write(index, page("http://a.com/", Link("http://t.com/x", location="nav"), at=T0))
    write(index, page("http://a.com/", Link("http://t.com/x", location="content"), at=T0 + DAY))
    write(index, page("http://a.com/", Link("http://t.com/x", location="aside"), at=T0))  # replay
    assert [row[3] for row in links(index)] == ["content"]


def test_each_lost_reason_and_no_loss_on_a_5xx(index: Any) -> None:
    pages = {
        "http://removed.com/": 200,
        "http://gone404.com/": 404,
        "http://gone410.com/": 410,
        "http://moved.com/": 301,
        "http://down.com/": 503,
    }
    for url in pages:
        write(index, page(url, Link("http://t.com/kept"), Link("http://t.com/x"), at=T0))
    for url, status in pages.items():
        kept = [Link("http://t.com/kept")] if status == 200 else []
        write(index, page(url, *kept, at=T0 + DAY, status=status))
    by_source = {(row[0], row[1]): (row[6], row[7]) for row in links(index)}
    assert by_source == {
        ("http://removed.com/", "http://t.com/kept"): (False, None),
        ("http://removed.com/", "http://t.com/x"): (True, "link_removed"),
        ("http://gone404.com/", "http://t.com/kept"): (True, "page_gone"),
        ("http://gone404.com/", "http://t.com/x"): (True, "page_gone"),
        ("http://gone410.com/", "http://t.com/kept"): (True, "page_gone"),
        ("http://gone410.com/", "http://t.com/x"): (True, "page_gone"),
        ("http://moved.com/", "http://t.com/kept"): (True, "page_redirected"),
        ("http://moved.com/", "http://t.com/x"): (True, "page_redirected"),
        # A 5xx proves nothing about the page's links.
        ("http://down.com/", "http://t.com/kept"): (False, None),
        ("http://down.com/", "http://t.com/x"): (False, None),
    }


def test_a_page_that_turns_noindex_loses_its_links(index: Any) -> None:
    link = Link("http://t.com/x")
    write(index, page("http://a.com/", link, at=T0))
    write(index, page("http://a.com/", link, at=T0 + DAY, robots_noindex=True))
    assert [(row[6], row[7]) for row in links(index)] == [(True, "page_noindex")]
    # Still noindex: still lost, with the same reason and date.
    write(index, page("http://a.com/", link, at=T0 + 2 * DAY, robots_noindex=True))
    _, rows = index.query(f"SELECT lost, lost_reason, lost_at FROM {index.db}.links")
    assert [(lost, why, at.timestamp()) for lost, why, at in rows] == [
        (True, "page_noindex", T0 + DAY)
    ]
    # Indexable again: live again.
    write(index, page("http://a.com/", link, at=T0 + 3 * DAY))
    assert [(row[6], row[7]) for row in links(index)] == [(False, None)]
    # A page noindex from its first fetch keeps its links, as before.
    write(index, page("http://b.com/", link, at=T0, robots_noindex=True))
    write(index, page("http://b.com/", link, at=T0 + DAY, robots_noindex=True))
    assert ("http://b.com/", False) in [(row[0], row[6]) for row in links(index)]


def test_a_304_keeps_location_context_and_page_facts(index: Any) -> None:
    link = Link(
        "http://t.com/x", anchor="x", location="content", text_before="Read", text_after="!"
    )
    write(
        index,
        page("http://a.com/", link, Link("http://a.com/b", location="nav"), title="A", words=9),
    )
    write(index, PageRecord("http://a.com/", 304, T0 + DAY, ip="192.0.2.9"))
    _, rows = index.query(
        f"SELECT target_url, location, text_before, text_after, lost, "
        f"toUnixTimestamp(last_seen) FROM {index.db}.links ORDER BY target_url"
    )
    assert rows == [
        ("http://a.com/b", "nav", "", "", False, T0 + DAY),
        ("http://t.com/x", "content", "Read", "!", False, T0 + DAY),
    ]
    _, rows = index.query(
        f"SELECT status, title, words, internal_links, external_links, ip "
        f"FROM {index.db}.pages FINAL"
    )
    assert rows == [(200, "A", 9, 1, 1, "192.0.2.9")]


def test_the_texts_are_kept_by_edges_alone(index: Any) -> None:
    # docs/storage.md#edges: edges_by_source keeps the location, not the texts.
    write(index, page("http://a.com/", Link("http://t.com/x", location="nav", text_before="Hi")))
    _, rows = index.query(
        f"SELECT table, type FROM system.columns WHERE database = '{index.db}' "
        "AND table IN ('edges', 'edges_by_source') AND name = 'latest' ORDER BY table"
    )
    by_table = dict(rows)
    assert "text_before String" in by_table["edges"]
    assert "location Enum8" in by_table["edges_by_source"]
    assert "text_before" not in by_table["edges_by_source"]
    _, rows = index.query(
        f"SELECT toString(tupleElement(latest, 'location')) FROM {index.db}.edges_by_source"
    )
    assert rows == [("nav",)]


#: The schema of the previous release, as it shipped (tests/data/README.md).
PREVIOUS_SCHEMA = Path(__file__).resolve().parents[1] / "data" / "schema_before_context"


def previous_statements(name: str, database: str) -> list[str]:
    """The statements of the previous release's migration ``name``, bound to ``database``."""
    text = (PREVIOUS_SCHEMA / name).read_text(encoding="utf-8")
    lines = [line for line in text.splitlines() if not line.lstrip().startswith("--")]
    statements = [s.strip() for s in "\n".join(lines).split(";")]
    return [s.replace("{db}", database) for s in statements if s]


def test_an_index_from_before_context_is_upgraded_in_place(index: Any, index_dir: Any) -> None:
    stored = page("http://a.com/", Link("http://t.com/x"), Link("http://t.com/y"), at=T0)
    stored.etag = '"v1"'
    write(index, stored)
    write(index, page("http://b.com/", Link("http://t.com/x"), at=T0))
    write(index, page("http://a.com/", Link("http://t.com/x"), at=T0 + DAY))
    write(index, page("http://b.com/", at=T0 + DAY, status=404))
    # An index made by the previous release: its migrations as it shipped
    # them, and its rows (those of this index without this version's fields).
    earlier = f"t_{uuid.uuid4().hex[:12]}"
    try:
        index.command(f"CREATE DATABASE {earlier}")
        for name in sorted(path.name for path in PREVIOUS_SCHEMA.glob("0*.sql")):
            for statement in previous_statements(name, earlier):
                index.command(statement)
        assert "text_before" not in _columns(index, earlier, "edges")
        latest = (
            "(tupleElement(latest, 'seen'), tupleElement(latest, 'anchor'), "
            "tupleElement(latest, 'image'), tupleElement(latest, 'nofollow'), "
            "tupleElement(latest, 'ugc'), tupleElement(latest, 'sponsored'), "
            "tupleElement(latest, 'link_count'))"
        )
        for table, extra in (("edges", "target_rev_host"), ("edges_by_source", "source_rev_host")):
            columns = (
                f"{extra}, target_url, source_url, kind, target_host, source_host, "
                "source_domain, target_domain, first_seen, lost_at"
            )
            index.command(
                f"INSERT INTO {earlier}.{table} ({columns}, latest) "
                f"SELECT {columns}, {latest} FROM {index.db}.{table}"
            )
        for table in ("fetches", "pages"):
            columns = ", ".join(_columns(index, earlier, table))
            index.command(
                f"INSERT INTO {earlier}.{table} ({columns}) "
                f"SELECT {columns} FROM {index.db}.{table}"
            )
        upgraded = open_index(IndexLocation(data_dir=str(index_dir), database=earlier))
        listing = (
            "SELECT table, name, type, default_kind, default_expression, compression_codec "
            "FROM system.columns WHERE database = {db:String} ORDER BY table, position"
        )
        assert index.query(listing, {"db": earlier})[1] == index.query(listing, {"db": index.db})[1]
        assert links(upgraded) == links(index)
        assert [row[7] for row in links(upgraded) if row[6]] == ["link_removed", "page_gone"]
        _, rows = upgraded.query(f"SELECT url, etag, title FROM {earlier}.pages FINAL ORDER BY url")
        assert rows == [("http://a.com/", "", ""), ("http://b.com/", "", "")]
        upgraded.migrate()  # once upgraded, migrating again changes nothing
        assert links(upgraded) == links(index)
        # New writes carry context into the upgraded index, and a 304 keeps it.
        write(
            upgraded,
            page(
                "http://c.com/",
                Link("http://t.com/z", location="aside", text_before="See", text_after="too"),
                at=T0,
            ),
        )
        write(upgraded, PageRecord("http://c.com/", 304, T0 + DAY))
        assert ("http://c.com/", "http://t.com/z", "a", "aside", "See", "too", False, None) in (
            links(upgraded)
        )
    finally:
        index.command(f"DROP DATABASE IF EXISTS {earlier}")


def _columns(index: Any, database: str, table: str) -> list[str]:
    _, rows = index.query(
        "SELECT name FROM system.columns WHERE database = {db:String} AND table = {t:String} "
        "AND default_kind != 'ALIAS' ORDER BY position",
        {"db": database, "t": table},
    )
    return [str(name) for (name,) in rows]
