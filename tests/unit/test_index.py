"""Index writes and queries on hand-built page records (embedded chDB, no services)."""

from __future__ import annotations

import time
import uuid
from datetime import UTC, datetime
from typing import Any

import pyarrow as pa

from linkcore.records import Link, PageRecord
from linkindex import queries, reports, rollups
from linkindex.client import MIGRATIONS, IndexLocation, open_index, schema_statements
from linkindex.queries import Filters, Target
from linkindex.writer import EdgeWriter, batch_tables, build_batch

T0 = 1_790_000_000.0  # a fixed crawl time, UTC seconds


def write(index, *pages: PageRecord) -> None:
    writer = EdgeWriter(index)
    for page in pages:
        writer.add(page)
    writer.flush()


def page(url: str, *links: Link, at: float = T0, nofollow: bool = False) -> PageRecord:
    return PageRecord(
        url=url,
        status=200,
        fetched_at=at,
        content_type="text/html",
        robots_nofollow=nofollow,
        links=list(links),
    )


WEB = [
    page(
        "http://blog.alpha.com/post",
        Link("http://www.target.co.uk/a", anchor="A one"),
        Link("http://target.co.uk/", anchor="home", nofollow=True),
        Link("http://blog.alpha.com/", anchor="internal"),
    ),
    page(
        "http://beta.org/",
        Link("http://www.target.co.uk/a", anchor="A again", ugc=True),
        Link("http://www.target.co.uk/a/b?x=1", anchor="deep", sponsored=True),
        Link("http://other.target.co.uk/", kind="canonical"),
    ),
    page("http://www.target.co.uk/", Link("http://www.target.co.uk/a", anchor="self site")),
    page("http://alice.github.io/", Link("http://bob.github.io/", anchor="bob")),
]


def sources(result) -> list[tuple[str, str, str]]:
    cols = result.columns
    return sorted(
        (r[cols.index("source_url")], r[cols.index("target_url")], r[cols.index("kind")])
        for r in result.rows
    )


def test_scopes(index) -> None:
    write(index, *WEB)
    everything = Filters(include_internal=True)
    domain = queries.backlinks(index, Target.parse("target.co.uk"), Filters())
    assert sources(domain) == [
        ("http://beta.org/", "http://other.target.co.uk/", "canonical"),
        ("http://beta.org/", "http://www.target.co.uk/a", "a"),
        ("http://beta.org/", "http://www.target.co.uk/a/b?x=1", "a"),
        ("http://blog.alpha.com/post", "http://target.co.uk/", "a"),
        ("http://blog.alpha.com/post", "http://www.target.co.uk/a", "a"),
    ]
    host = queries.backlinks(index, Target.parse("www.target.co.uk", "host"), everything)
    assert {s for s, _, _ in sources(host)} == {
        "http://beta.org/",
        "http://blog.alpha.com/post",
        "http://www.target.co.uk/",
    }
    url = queries.backlinks(index, Target.parse("http://WWW.target.co.uk/a#x"), Filters())
    assert sources(url) == [
        ("http://beta.org/", "http://www.target.co.uk/a", "a"),
        ("http://blog.alpha.com/post", "http://www.target.co.uk/a", "a"),
    ]
    prefix = queries.backlinks(
        index, Target.parse("http://www.target.co.uk/a/", "prefix"), Filters()
    )
    assert sources(prefix) == [("http://beta.org/", "http://www.target.co.uk/a/b?x=1", "a")]
    # Private suffixes: alice.github.io and bob.github.io are two registered domains.
    bob = queries.backlinks(index, Target.parse("bob.github.io"), Filters())
    assert sources(bob) == [("http://alice.github.io/", "http://bob.github.io/", "a")]


def test_internal_and_dofollow_filters(index) -> None:
    write(index, *WEB)
    internal = queries.backlinks(
        index, Target.parse("target.co.uk"), Filters(include_internal=True)
    )
    assert ("http://www.target.co.uk/", "http://www.target.co.uk/a", "a") in sources(internal)
    dofollow = queries.backlinks(index, Target.parse("target.co.uk"), Filters(dofollow_only=True))
    assert ("http://blog.alpha.com/post", "http://target.co.uk/", "a") not in sources(dofollow)
    assert len(dofollow.rows) == 4


def test_record_fields_and_flags(index) -> None:
    write(index, *WEB)
    result = queries.backlinks(index, Target.parse("http://www.target.co.uk/a/b?x=1"), Filters())
    assert result.columns == list(queries.EDGE_FIELDS)
    record = dict(zip(result.columns, result.rows[0], strict=True))
    assert record["source_host"] == "beta.org"
    assert record["target_domain"] == "target.co.uk"
    assert record["anchor"] == "deep"
    assert (record["nofollow"], record["ugc"], record["sponsored"]) == (False, False, True)
    assert record["link_count"] == 1


def test_first_and_last_seen_across_crawls_and_replays(index) -> None:
    first = page("http://beta.org/", Link("http://gamma.net/", anchor="old"), at=T0)
    second = page(
        "http://beta.org/", Link("http://gamma.net/", anchor="new", nofollow=True), at=T0 + 86_400
    )
    write(index, first)
    write(index, second)
    write(index, first)  # a replayed old batch changes nothing
    result = queries.backlinks(index, Target.parse("gamma.net"), Filters())
    assert len(result.rows) == 1
    record = dict(zip(result.columns, result.rows[0], strict=True))
    assert record["first_seen"].timestamp() == T0
    assert record["last_seen"].timestamp() == T0 + 86_400
    assert record["anchor"] == "new" and record["nofollow"] is True


def test_paging_with_cursor_visits_every_record_once(index) -> None:
    links = [Link(f"http://target.net/p{i}", anchor=str(i)) for i in range(25)]
    write(index, page("http://a.com/", *links), page("http://b.com/", *links[:10]))
    seen: list[tuple[str, str, str]] = []
    cursor = None
    for _ in range(10):
        result = queries.backlinks(
            index, Target.parse("target.net"), Filters(limit=7, cursor=cursor)
        )
        seen.extend(sources(result))
        cursor = result.next_cursor
        if cursor is None:
            break
    assert len(seen) == 35 and len(set(seen)) == 35


def test_refdomains_and_anchors(index) -> None:
    write(index, *WEB)
    result = queries.refdomains(index, Target.parse("target.co.uk"), Filters())
    rows = {r[0]: r for r in result.rows}
    assert set(rows) == {"beta.org", "alpha.com"}
    assert rows["beta.org"][1:3] == (3, 3)  # links, dofollow links
    assert rows["alpha.com"][1:3] == (2, 1)
    anchors = queries.anchors(index, Target.parse("http://www.target.co.uk/a"), Filters())
    assert sorted(r[0] for r in anchors.rows) == ["A again", "A one"]


def test_outlinks(index) -> None:
    write(index, *WEB)
    result = queries.outlinks(index, Target.parse("beta.org"), Filters())
    assert {r[3] for r in result.rows} == {
        "http://www.target.co.uk/a",
        "http://www.target.co.uk/a/b?x=1",
        "http://other.target.co.uk/",
    }


def test_build_batch_merges_and_drops() -> None:
    record = page(
        "http://a.com/x",
        Link("http://B.com/?utm_source=1", anchor="first"),
        Link("http://b.com/", anchor="second", nofollow=True),
        Link("http://a.com/x#frag"),  # a self-link once normalized
        Link("javascript:alert(1)"),
        nofollow=True,
    )
    batch = build_batch([record])
    assert batch.edges_out == 1
    assert batch.edges["anchor"] == ["first"]
    assert batch.edges["link_count"] == [2]
    assert batch.edges["nofollow"] == [True]  # page-level nofollow
    assert batch.links_dropped == 2


def test_export_and_stats(index) -> None:
    write(index, *WEB)
    rows = [row for _, block in queries.export(index, "edges") for row in block]
    assert len(rows) == 8
    domains = [
        row
        for _, block in queries.export(index, "domains", include_internal=False)
        for row in block
    ]
    assert ("beta.org", "target.co.uk") in {(r[0], r[1]) for r in domains}
    stats = queries.stats(index)
    figures = dict(zip(stats.columns, stats.rows[0], strict=True))
    assert figures["edges"] == 8 and figures["pages"] == 4


def test_links_view_reads_merged_latest_attributes(index) -> None:
    old = page("http://beta.org/", Link("http://gamma.net/", anchor="old"), at=T0)
    new = page(
        "http://beta.org/", Link("http://gamma.net/", anchor="new", nofollow=True), at=T0 + 60
    )
    write(index, old)
    write(index, new)
    write(index, old)
    _, rows = index.query(
        f"SELECT anchor, nofollow FROM {index.db}.links "
        "WHERE target_domain = 'gamma.net' AND nofollow"
    )
    assert rows == [("new", True)]
    _, rows = index.query(f"SELECT count() FROM {index.db}.links WHERE NOT nofollow")
    assert rows == [(0,)]


def test_recrawl_marks_dropped_links_lost_and_reappearing_links_live(index) -> None:
    day = 86_400
    both = page(
        "http://blog.a.com/",
        Link("http://t.com/keep", anchor="k"),
        Link("http://t.com/drop", anchor="d"),
        at=T0,
    )
    without = page("http://blog.a.com/", Link("http://t.com/keep", anchor="k"), at=T0 + day)
    failed = PageRecord(url="http://blog.a.com/", status=503, fetched_at=T0 + 2 * day)
    write(index, both)
    write(index, without)
    write(index, failed)  # a 5xx proves nothing: still the state of day 2

    def targets(status: str | None) -> list[str]:
        result = queries.backlinks(index, Target.parse("t.com"), Filters(status=status))
        return sorted(r[3] for r in result.rows)

    assert targets(None) == ["http://t.com/drop", "http://t.com/keep"]
    assert targets("live") == ["http://t.com/keep"]
    assert targets("lost") == ["http://t.com/drop"]
    refdomains = queries.refdomains(index, Target.parse("t.com"), Filters(status="lost"))
    assert [(r[0], r[1]) for r in refdomains.rows] == [("a.com", 1)]

    # The link comes back on day 3: live again, first_seen unchanged.
    write(
        index,
        page(
            "http://blog.a.com/",
            Link("http://t.com/keep", anchor="k"),
            Link("http://t.com/drop", anchor="d"),
            at=T0 + 3 * day,
        ),
    )
    assert targets("live") == ["http://t.com/drop", "http://t.com/keep"]
    assert targets("lost") == []
    result = queries.backlinks(index, Target.parse("http://t.com/drop"), Filters())
    record = dict(zip(result.columns, result.rows[0], strict=True))
    assert record["first_seen"].timestamp() == T0
    assert record["last_seen"].timestamp() == T0 + 3 * day


def lost_links(index) -> list[tuple[str, float]]:
    """(target_url, lost_at as UTC seconds) of every lost link, from the ``links`` view."""
    _, rows = index.query(
        f"SELECT target_url, lost_at FROM {index.db}.links WHERE lost ORDER BY target_url"
    )
    return [(url, lost_at.timestamp()) for url, lost_at in rows]


def test_a_lost_link_keeps_the_date_of_the_first_fetch_without_it(index) -> None:
    day = 86_400
    both = page("http://a.com/", Link("http://t.com/x"), Link("http://t.com/y"), at=T0)
    write(index, both)
    for n in (1, 2, 3):
        write(index, page("http://a.com/", Link("http://t.com/x"), at=T0 + n * day))
    assert lost_links(index) == [("http://t.com/y", T0 + day)]
    # Replays, in any order, change nothing: the first batch again (an old
    # sighting of y, older than its loss), then a later one.
    write(index, both)
    write(index, page("http://a.com/", Link("http://t.com/x"), at=T0 + 2 * day))
    assert lost_links(index) == [("http://t.com/y", T0 + day)]
    days = queries.lost_per_day(index, Target.parse("t.com"), Filters())
    assert [(d.isoformat(), n) for d, n in days] == [
        (time.strftime("%Y-%m-%d", time.gmtime(T0 + day)), 1)
    ]
    # Lost links of other pages are not touched by this page's re-fetches.
    write(index, page("http://b.com/", Link("http://t.com/y"), at=T0))
    write(index, page("http://a.com/", at=T0 + 4 * day))
    assert lost_links(index) == [("http://t.com/x", T0 + 4 * day), ("http://t.com/y", T0 + day)]
    result = queries.backlinks(index, Target.parse("t.com"), Filters(status="live"))
    assert sources(result) == [("http://b.com/", "http://t.com/y", "a")]


def test_an_index_from_before_lost_at_is_upgraded_from_its_fetch_history(index) -> None:
    day = 86_400
    write(index, page("http://a.com/", Link("http://t.com/x"), Link("http://t.com/y"), at=T0))
    write(index, page("http://a.com/", Link("http://t.com/x"), at=T0 + day))
    write(index, page("http://a.com/", Link("http://t.com/x"), at=T0 + 2 * day))
    # The index as an earlier version left it: no lost_at, lost links known
    # only from the fetch history.
    for table in ("edges", "edges_by_source"):
        index.command(f"ALTER TABLE {index.db}.{table} DROP COLUMN lost_at")
    index.migrate()
    assert lost_links(index) == [("http://t.com/y", T0 + day)]
    index.migrate()  # once upgraded, migrating again changes nothing
    assert lost_links(index) == [("http://t.com/y", T0 + day)]
    _, rows = index.query(f"SELECT count() FROM {index.db}.links")
    assert rows == [(2,)]


def test_an_index_that_stores_last_seen_is_upgraded_to_the_compact_schema(index, index_dir) -> None:
    day = 86_400
    write(
        index,
        page("http://a.com/", Link("http://t.com/x", anchor="x"), Link("http://t.com/y"), at=T0),
        page("http://b.com/", Link("http://t.com/x", nofollow=True), at=T0 + day),
    )
    write(index, page("http://a.com/", Link("http://t.com/x", anchor="x2"), at=T0 + 2 * day))

    def answers(ix) -> tuple[Any, ...]:
        target = Target.parse("t.com")
        return (
            sorted(queries.backlinks(ix, target, Filters(limit=0)).rows),
            sorted(queries.refdomains(ix, target, Filters(limit=0)).rows),
            sorted(queries.outlinks(ix, Target.parse("http://a.com/"), Filters(limit=0)).rows),
            lost_links(ix),
        )

    expected = answers(index)
    assert expected[3] == [("http://t.com/y", T0 + 2 * day)]
    # The same index as an earlier version stored it: last_seen a column of
    # its own in both edge tables.
    earlier = f"t_{uuid.uuid4().hex[:12]}"
    alias = "last_seen       DateTime64(3, 'UTC') ALIAS tupleElement(latest, 'seen')"
    # As every earlier schema declared it, codec included.
    stored = (
        "last_seen       SimpleAggregateFunction(max, DateTime64(3, 'UTC')) CODEC(Delta, ZSTD(1))"
    )
    try:
        index.command(f"CREATE DATABASE {earlier}")
        for name in MIGRATIONS:
            for statement in schema_statements(name, earlier):
                index.command(statement.replace(alias, stored))
        for table, extra in (("edges", "target_rev_host"), ("edges_by_source", "source_rev_host")):
            columns = (
                f"{extra}, target_url, source_url, kind, target_host, source_host, "
                "source_domain, target_domain, first_seen, last_seen, latest, lost_at, "
                "lost_reason"
            )
            index.command(
                f"INSERT INTO {earlier}.{table} ({columns}) "
                f"SELECT {columns} FROM {index.db}.{table}"
            )
        for table in ("fetches", "pages"):
            index.command(f"INSERT INTO {earlier}.{table} SELECT * FROM {index.db}.{table}")
        kinds = f"SELECT default_kind FROM system.columns WHERE database = '{earlier}' "
        kinds += "AND table IN ('edges', 'edges_by_source') AND name = 'last_seen'"
        assert index.query(kinds)[1] == [("",), ("",)]
        upgraded = open_index(IndexLocation(data_dir=str(index_dir), database=earlier))
        assert index.query(kinds)[1] == [("ALIAS",), ("ALIAS",)]
        listing = (
            "SELECT table, name, type, default_kind, default_expression, compression_codec "
            "FROM system.columns WHERE database = {db:String} ORDER BY table, position"
        )
        assert index.query(listing, {"db": earlier})[1] == index.query(listing, {"db": index.db})[1]
        assert answers(upgraded) == expected
        # Old parts and new writes merge into the same answers.
        write(upgraded, page("http://b.com/", Link("http://t.com/x"), at=T0 + 3 * day))
        write(index, page("http://b.com/", Link("http://t.com/x"), at=T0 + 3 * day))
        upgraded.command(f"OPTIMIZE TABLE {earlier}.edges FINAL")
        assert answers(upgraded) == answers(index)
    finally:
        index.command(f"DROP DATABASE IF EXISTS {earlier}")


def test_backlink_filters_sorts_and_one_link_per_domain(index) -> None:
    day = 86_400
    write(
        index,
        page("http://a.org/1", Link("http://t.net/x", anchor="Cheap Shoes", nofollow=True), at=T0),
        page(
            "http://a.org/2", Link("http://t.net/y", anchor="shoes review", ugc=True), at=T0 + day
        ),
        page(
            "http://b.org/",
            Link("http://t.net/x", anchor="home", sponsored=True),
            Link("http://t.net/z", anchor="more shoes"),
            at=T0 + 2 * day,
        ),
    )
    target = Target.parse("t.net")

    def pairs(**options) -> list[tuple[str, str]]:
        result = queries.backlinks(index, target, Filters(**options))
        return [(r[0], r[3]) for r in result.rows]

    assert sorted(pairs(rel=("ugc",))) == [("http://a.org/2", "http://t.net/y")]
    assert sorted(pairs(rel=("sponsored",))) == [("http://b.org/", "http://t.net/x")]
    assert sorted(pairs(anchor="SHOES")) == [
        ("http://a.org/1", "http://t.net/x"),
        ("http://a.org/2", "http://t.net/y"),
        ("http://b.org/", "http://t.net/z"),
    ]
    assert sorted(pairs(from_domain="b.org")) == [
        ("http://b.org/", "http://t.net/x"),
        ("http://b.org/", "http://t.net/z"),
    ]
    # Dates bound inclusively; a bare upper date means the end of that day.
    from datetime import UTC, datetime

    first_day = datetime.fromtimestamp(T0, UTC).date().isoformat()
    assert pairs(first_seen_to=first_day) == [("http://a.org/1", "http://t.net/x")]
    assert len(pairs(first_seen_from=first_day)) == 4
    # The aggregating questions take the same date bounds (their own first_seen
    # and last_seen columns are aggregates of the edges').
    later = {"first_seen_from": datetime.fromtimestamp(T0 + day, UTC).date().isoformat()}
    assert [r[0] for r in queries.refdomains(index, target, Filters(**later)).rows] == [
        "b.org",
        "a.org",
    ]
    assert sorted(r[0] for r in queries.anchors(index, target, Filters(**later)).rows) == [
        "home",
        "more shoes",
        "shoes review",
    ]
    assert [r[0] for r in queries.top_pages(index, target, Filters(**later)).rows] == [
        "http://t.net/x",
        "http://t.net/y",
        "http://t.net/z",
    ]
    assert reports.report(index, target, Filters(last_seen_to=first_day))["backlinks"] == 1
    # Newest first.
    assert [p[0] for p in pairs(sort="first_seen")] == [
        "http://b.org/",
        "http://b.org/",
        "http://a.org/2",
        "http://a.org/1",
    ]
    # One link per referring domain: dofollow before nofollow, then the oldest.
    assert sorted(pairs(one_per_domain=True)) == [
        ("http://a.org/2", "http://t.net/y"),
        ("http://b.org/", "http://t.net/x"),
    ]
    # Offset paging in a chosen order visits every record once.
    first = queries.backlinks(index, target, Filters(sort="last_seen", limit=3))
    rest = queries.backlinks(
        index, target, Filters(sort="last_seen", limit=3, cursor=first.next_cursor)
    )
    assert len(first.rows) == 3 and len(rest.rows) == 1 and rest.next_cursor is None


def test_report_summarizes_the_profile_with_history(index) -> None:
    from linkindex.reports import report

    day = 86_400
    write(
        index,
        page("http://www.city.gov/", Link("http://t.io/a", anchor="a"), at=T0),
        page(
            "http://cs.uni.ac.uk/",
            Link("http://t.io/a", anchor="b", nofollow=True),
            Link("http://t.io/b", anchor="c"),
            at=T0,
        ),
        page(
            "http://blog.c.com/",
            Link("http://t.io/", kind="canonical"),
            Link("http://t.io/b", anchor="img", image=True, ugc=True),
            at=T0 + day,
        ),
    )
    # The uni page drops its link to /b on day 2.
    write(
        index,
        page(
            "http://cs.uni.ac.uk/",
            Link("http://t.io/a", anchor="b", nofollow=True),
            at=T0 + 2 * day,
        ),
    )
    summary = report(index, Target.parse("t.io"), Filters())
    assert summary["backlinks"] == 5 and summary["referring_domains"] == 3
    assert summary["dofollow_backlinks"] == 4 and summary["dofollow_share"] == 0.8
    assert summary["rel"] == {"nofollow": 1, "ugc": 1, "sponsored": 0}
    assert summary["kinds"] == {"a": 4, "canonical": 1, "redirect": 0}
    assert summary["image_links"] == 1
    assert (summary["live_backlinks"], summary["lost_backlinks"]) == (4, 1)
    assert {t["tld"]: t["referring_domains"] for t in summary["tlds"]} == {
        "gov": 1,
        "uk": 1,
        "com": 1,
    }
    assert summary["gov_referring_domains"] == 1 and summary["edu_referring_domains"] == 1
    from datetime import UTC, datetime

    def iso_day(offset: int) -> str:
        return datetime.fromtimestamp(T0 + offset * day, UTC).date().isoformat()

    assert summary["history"] == [
        {"day": iso_day(0), "new": 3, "lost": 0},
        {"day": iso_day(1), "new": 2, "lost": 0},
        {"day": iso_day(2), "new": 0, "lost": 1},
    ]
    # --lost: the one link the uni page dropped, and its loss.
    lost = report(index, Target.parse("t.io"), Filters(status="lost"))
    assert (lost["backlinks"], lost["referring_domains"], lost["lost_backlinks"]) == (1, 1, 1)
    assert lost["edu_referring_domains"] == 1 and lost["gov_referring_domains"] == 0
    assert lost["history"] == [
        {"day": iso_day(0), "new": 1, "lost": 0},
        {"day": iso_day(2), "new": 0, "lost": 1},
    ]
    # --live: everything else, and nothing lost.
    live = report(index, Target.parse("t.io"), Filters(status="live"))
    assert (live["backlinks"], live["lost_backlinks"], live["live_backlinks"]) == (4, 0, 4)
    assert all(h["lost"] == 0 for h in live["history"])


def test_top_pages_and_link_intersect(index) -> None:
    write(
        index,
        page("http://a.com/", Link("http://b.com/x"), Link("http://c.com/"), Link("http://d.com/")),
        page(
            "http://e.com/", Link("http://b.com/x"), Link("http://b.com/y"), Link("http://c.com/")
        ),
        page("http://f.com/", Link("http://b.com/y"), Link("http://b.com/x")),
        page("http://g.com/1", Link("http://b.com/x")),
        page("http://g.com/2", Link("http://b.com/x")),
    )
    top = queries.top_pages(index, Target.parse("b.com"), Filters())
    assert [(r[0], r[1], r[2]) for r in top.rows] == [
        ("http://b.com/x", 4, 5),
        ("http://b.com/y", 2, 2),
    ]
    both = queries.intersect(index, [Target.parse("b.com"), Target.parse("c.com")], [], Filters())
    assert [r[0] for r in both.rows] == ["a.com", "e.com"]
    not_d = queries.intersect(
        index, [Target.parse("b.com"), Target.parse("c.com")], [Target.parse("d.com")], Filters()
    )
    assert [r[0] for r in not_d.rows] == ["e.com"]
    assert not_d.rows[0][1] == ["b.com", "c.com"]


def test_link_intersect_lists_the_linked_domains_in_order(index) -> None:
    # One insert per link: the parts are read in no particular order.
    for path, target in (("1", "http://z.com/"), ("2", "http://m.com/"), ("3", "http://b.com/")):
        write(index, page(f"http://a.com/{path}", Link(target)))
    wanted = [Target.parse(domain) for domain in ("z.com", "b.com", "m.com")]
    result = queries.intersect(index, wanted, [], Filters())
    assert [(row[0], row[1]) for row in result.rows] == [("a.com", ["b.com", "m.com", "z.com"])]


def test_disavow_file_leaves_referrers_out(index, tmp_path) -> None:
    import pytest

    from linkcore.errors import UsageError
    from linkindex.disavow import propose, read_disavow, render

    farm = page(
        "http://farm.biz/links",
        *[Link(f"http://x{i}.com/") for i in range(30)],
        Link("http://t.org/"),
    )
    write(
        index,
        farm,
        page("http://good.com/", Link("http://t.org/a")),
        page("http://sub.spam.net/", Link("http://t.org/b")),
        page("http://alice.github.io/", Link("http://t.org/c")),
        page("http://bob.github.io/", Link("http://t.org/d")),
        *[page(f"http://blogroll.info/p{i}", Link("http://t.org/")) for i in range(5)],
    )
    file = tmp_path / "disavow.txt"
    file.write_text(
        "# spam\ndomain:spam.net\ndomain:alice.github.io\nhttp://good.com/#frag\n\n",
        encoding="utf-8",
    )
    disavow = read_disavow(str(file))
    # alice.github.io is a registered domain (github.io is a private suffix).
    assert disavow.domains == ("alice.github.io", "spam.net") and disavow.hosts == ()
    assert disavow.urls == ("http://good.com/",)
    target = Target.parse("t.org")
    kept = queries.refdomains(index, target, Filters(disavow=disavow))
    assert sorted(r[0] for r in kept.rows) == ["blogroll.info", "bob.github.io", "farm.biz"]

    # Proposals come from the spam scores (tests/unit/test_spam.py), kept by the refresh.
    rollups.refresh(index)
    proposal = propose(index, target, min_score=0)
    assert proposal.domains == tuple(
        sorted(r[0] for r in queries.refdomains(index, target, Filters()).rows)
    )
    text = render(proposal, target)
    assert text.count("domain:farm.biz") == 1 and "# spam score " in text
    bad = tmp_path / "bad.txt"
    bad.write_text("domain:ok.com\nftp://nope\n", encoding="utf-8")
    with pytest.raises(UsageError, match=r"bad.txt:2:"):
        read_disavow(str(bad))


def test_sql_resolves_unqualified_names_in_the_index_database(index) -> None:
    write(index, *WEB)
    everything = queries.sql(index, f"SELECT count() FROM {index.db}.links").rows
    assert queries.sql(index, "SELECT count() FROM links").rows == everything
    assert queries.sql(index, "SELECT currentDatabase()").rows == [(index.db,)]


def test_whole_domain_answers_read_the_rollup_only_while_it_is_fresh(index) -> None:
    day = 86_400
    write(index, *WEB)
    target = Target.parse("target.co.uk")
    every_kind = Filters(kind=("a", "canonical", "redirect"))  # same links, never the rollup

    def answers() -> tuple[Any, Any]:
        result = queries.refdomains(index, target, Filters())
        assert result.rows == queries.refdomains(index, target, every_kind).rows
        # The spam scores last (the refresh keeps them): tests/unit/test_spam.py.
        spam = [result.columns.index("spam_score"), result.columns.index("spam_signals")]
        keep = [i for i in range(len(result.columns)) if i not in spam]
        rows = [(*(row[i] for i in keep), row[spam[0]], row[spam[1]]) for row in result.rows]
        report = reports.report(index, target, Filters())
        assert report == reports.report(index, target, every_kind)
        return rows, report

    assert not rollups.fresh(index, "target.co.uk")
    before = answers()
    # Internal links count as writes, and so do pages: links to them may
    # have turned broken.
    linked = ["alpha.com", "bob.github.io", "target.co.uk"]
    fetched = ["alice.github.io", "alpha.com", "beta.org", "target.co.uk"]
    written = sorted({*linked, *fetched})
    assert rollups.stale_domains(index) == written
    assert rollups.refresh(index).domains == len(written)
    assert rollups.fresh(index, "target.co.uk") and rollups.stale_domains(index) == []
    # The same answers, but for the spam scores the refresh kept.
    rows, report = answers()
    assert [r[:-2] for r in rows] == [r[:-2] for r in before[0]]
    assert [r[-2:] for r in before[0]] == [(None, [])] * len(rows)
    assert all(isinstance(r[-2], int) for r in rows)
    unscored = {k: v for k, v in report.items() if not k.startswith(("spam_", "spammy_"))}
    assert unscored == {k: v for k, v in before[1].items() if k in unscored}
    # A new referring domain: the rollup is stale, answers come from the edges.
    write(index, page("http://gamma.net/", Link("http://target.co.uk/new"), at=T0 + day))
    assert not rollups.fresh(index, "target.co.uk")
    rows, report = answers()
    assert [r[0] for r in rows] == ["beta.org", "alpha.com", "gamma.net"]
    assert report["referring_domains"] == 3
    # Lost links make it stale too.
    assert rollups.refresh(index).domains == 2  # and gamma.net, fetched
    write(index, page("http://gamma.net/", at=T0 + 2 * day))
    assert rollups.stale_domains(index) == ["gamma.net", "target.co.uk"]
    rollups.refresh(index)
    rows, report = answers()
    assert report["lost_backlinks"] == 1 and rollups.fresh(index, "target.co.uk")
    assert rollups.refresh(index, all_domains=True).domains == 3


def test_batch_times_convert_as_datetimes_do() -> None:
    # Fetch times with sub-millisecond parts: the index keeps milliseconds.
    records = [
        PageRecord(
            url=f"http://a.com/{n}", status=200, fetched_at=at, links=[Link("http://b.com/")]
        )
        for n, at in enumerate([0.0, 1_763_700_000.0004, 1_763_700_000.0015, 9_999_999_999.999])
    ]
    tables = batch_tables(build_batch(records))
    inserts = dict(tables.inserts)
    expected = pa.array(
        [datetime.fromtimestamp(record.fetched_at, UTC) for record in records],
        pa.timestamp("ms", tz="UTC"),
    )
    assert inserts["edges"].column("first_seen").combine_chunks().equals(expected)
    assert inserts["pages"].column("fetched_at").combine_chunks().equals(expected)


def test_a_304_sights_the_stored_links_again_and_keeps_the_page(index) -> None:
    day = 86_400
    stored = page("http://a.com/", Link("http://t.com/x"), Link("http://t.com/y", anchor="why"))
    stored.etag, stored.last_modified = '"v1"', "Tue, 14 Nov 2023 22:13:20 GMT"
    write(index, stored)
    write(index, page("http://a.com/", Link("http://t.com/x"), at=T0 + day))  # y is lost
    write(index, PageRecord("http://a.com/", 304, T0 + 2 * day, etag='"v2"'))
    _, rows = index.query(
        f"SELECT target_url, toUnixTimestamp(first_seen), toUnixTimestamp(last_seen), lost, anchor "
        f"FROM {index.db}.links ORDER BY target_url"
    )
    assert rows == [
        ("http://t.com/x", T0, T0 + 2 * day, False, ""),
        ("http://t.com/y", T0, T0, True, "why"),
    ]
    _, rows = index.query(
        f"SELECT status, etag, last_modified, toUnixTimestamp(fetched_at), outlinks "
        f"FROM {index.db}.pages FINAL"
    )
    # The stored 200 stays, with the fetch time and the ETag of the 304; the
    # second fetch sent no Last-Modified, so none is known any more.
    assert rows == [(200, '"v2"', "", T0 + 2 * day, 1)]
    _, rows = index.query(f"SELECT status FROM {index.db}.fetches ORDER BY fetched_at")
    assert rows == [(200,), (200,), (304,)]
    # A later fetch without the link loses it as of then, as for any fetch.
    write(index, page("http://a.com/", at=T0 + 3 * day))
    assert lost_links(index) == [("http://t.com/x", T0 + 3 * day), ("http://t.com/y", T0 + day)]


def test_an_index_from_before_validators_is_upgraded(index) -> None:
    write(index, page("http://a.com/", Link("http://t.com/x")))
    index.command(f"ALTER TABLE {index.db}.pages DROP COLUMN etag, DROP COLUMN last_modified")
    index.migrate()
    _, rows = index.query(f"SELECT url, etag, last_modified FROM {index.db}.pages")
    assert rows == [("http://a.com/", "", "")]
