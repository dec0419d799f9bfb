"""Where links sit, in the answers: record fields, filters and report figures
(docs/queries.md#where-a-link-sits), on a small hand-made index (embedded chDB)."""

from __future__ import annotations

import ipaddress
from typing import Any

import pytest

from linkcore.errors import UsageError
from linkcore.records import Link, PageRecord
from linkindex import queries, reports, rollups
from linkindex.queries import EDGE_FIELDS, Filters, Target
from linkindex.sqlparts import SUBNET
from linkindex.writer import EdgeWriter

T0 = 1_790_000_000.0
DAY = 86_400
HOME = "http://t.com/"


def write(index: Any, *pages: PageRecord) -> None:
    writer = EdgeWriter(index)
    for record in pages:
        writer.add(record)
    writer.flush()


def page(
    url: str,
    *links: Link,
    at: float = T0,
    status: int = 200,
    content_type: str = "text/html",
    ip: str = "",
) -> PageRecord:
    return PageRecord(
        url=url, status=status, fetched_at=at, content_type=content_type, links=list(links), ip=ip
    )


def footer_link() -> Link:
    return Link(HOME, anchor="T", location="footer", text_before="Powered by", text_after=".")


#: Each host: (its HTML pages, how many of them link to HOME, where the link sits).
HOSTS = {
    # 5 of 6 pages: sitewide.
    "farm.com": (6, 5, "footer"),
    # Exactly half, and exactly five: sitewide.
    "blog.org": (10, 5, "nav"),
    # Every page, but only four: not sitewide.
    "small.net": (4, 4, "aside"),
    # Five of eleven, under half: not sitewide.
    "big.net": (11, 5, "header"),
    # Five of five HTML pages (its PDFs and 404s are not HTML pages): sitewide.
    "pdf.net": (5, 5, "other"),
}
SITEWIDE_HOSTS = {"farm.com", "blog.org", "pdf.net"}


def build(index: Any) -> None:
    """The web of this module: template links to HOME from five hosts, a story
    with links in its text to pages of t.com that answered 200, 404 and 500 or
    were never fetched, and two links that were lost."""
    records = []
    for host, (pages, linking, location) in HOSTS.items():
        for number in range(1, pages + 1):
            links = []
            if number <= linking:
                links.append(
                    footer_link()
                    if host == "farm.com"
                    else Link(HOME, anchor="T", location=location, text_before="by")
                )
            # farm.com and blog.org are served from two addresses of one /24.
            ip = {"farm.com": "192.0.2.10", "blog.org": "192.0.2.11"}.get(host, "")
            records.append(page(f"http://{host}/p{number}", *links, ip=ip))
    for number in range(1, 7):
        records.append(page(f"http://pdf.net/doc{number}.pdf", content_type="application/pdf"))
    records += [page("http://pdf.net/gone1", status=404), page("http://pdf.net/gone2", status=404)]
    records.append(
        page(
            "http://news.io/story",
            Link(
                "http://t.com/page",
                anchor="a good page",
                location="content",
                text_before="Read",
                text_after="for the details.",
            ),
            Link("http://t.com/gone", anchor="gone", location="content"),
            Link("http://t.com/err", anchor="err", location="content"),
            Link("http://t.com/never", anchor="never", location="content"),
            ip="2001:db8:1:2::5",
        )
    )
    records += [
        page(HOME),
        page("http://t.com/page"),
        page("http://t.com/gone", status=404),
        page("http://t.com/err", status=500),
        page("http://old.com/", Link(HOME, location="aside")),
        page("http://edit.com/", Link("http://t.com/x", location="content")),
    ]
    write(index, *records)
    # Re-fetched a day later: old.com is gone, edit.com dropped its link.
    write(
        index,
        page("http://old.com/", at=T0 + DAY, status=404),
        page("http://edit.com/", at=T0 + DAY),
    )


@pytest.fixture
def web(index: Any) -> Any:
    build(index)
    return index


@pytest.fixture(params=["derived", "host facts"])
def answered(request: Any, index: Any) -> Any:
    """The web, its facts derived from the edges at query time, or read from
    the host facts after a refresh: the answers must be the same."""
    build(index)
    if request.param == "host facts":
        rollups.refresh(index)
        assert rollups.hosts_fresh(index)
    return index


def records(result: queries.Result) -> list[dict[str, Any]]:
    return [dict(zip(result.columns, row, strict=True)) for row in result.rows]


def by_edge(result: queries.Result) -> dict[tuple[str, str], dict[str, Any]]:
    return {(r["source_url"], r["target_url"]): r for r in records(result)}


def backlinks(index: Any, **filters: Any) -> dict[tuple[str, str], dict[str, Any]]:
    return by_edge(queries.backlinks(index, Target.parse("t.com"), Filters(**filters)))


def test_backlinks_carry_location_context_and_derived_facts(answered: Any) -> None:
    web = answered
    result = queries.backlinks(web, Target.parse("t.com"), Filters())
    assert result.columns == list(EDGE_FIELDS)
    found = by_edge(result)
    assert len(found) == 5 + 5 + 4 + 5 + 5 + 4 + 1 + 1
    for host, (_, linking, location) in HOSTS.items():
        for number in range(1, linking + 1):
            record = found[(f"http://{host}/p{number}", HOME)]
            assert record["location"] == location, record
            assert record["sitewide"] is (host in SITEWIDE_HOSTS), record
            assert record["target_status"] == 200
            assert record["lost_reason"] is None
    farm = found[("http://farm.com/p1", HOME)]
    assert (farm["text_before"], farm["text_after"]) == ("Powered by", ".")
    story = {target: r for (source, target), r in found.items() if source == "http://news.io/story"}
    assert {t: (r["target_status"], r["location"]) for t, r in story.items()} == {
        "http://t.com/page": (200, "content"),
        "http://t.com/gone": (404, "content"),
        "http://t.com/err": (500, "content"),
        "http://t.com/never": (None, "content"),
    }
    page_link = story["http://t.com/page"]
    assert (page_link["text_before"], page_link["text_after"]) == ("Read", "for the details.")
    assert not any(r["sitewide"] for r in story.values())
    assert found[("http://old.com/", HOME)]["lost_reason"] == "page_gone"
    assert found[("http://edit.com/", "http://t.com/x")]["lost_reason"] == "link_removed"


def test_sorted_and_paged_answers_carry_the_same_fields(web: Any) -> None:
    whole = backlinks(web)
    for extra in ({"sort": "first_seen"}, {"one_per_domain": True}, {"with_authority": True}):
        for key, record in backlinks(web, **extra).items():
            assert {k: record[k] for k in EDGE_FIELDS} == whole[key], (extra, key)
    paged: dict[tuple[str, str], dict[str, Any]] = {}
    cursor = None
    while True:
        result = queries.backlinks(
            web, Target.parse("t.com"), Filters(limit=4, cursor=cursor, sitewide=True)
        )
        paged.update(by_edge(result))
        cursor = result.next_cursor
        if cursor is None:
            break
    assert paged == {k: r for k, r in whole.items() if r["sitewide"]}


def test_outlinks_read_the_texts_from_edges_and_widen_sitewide_to_the_host(web: Any) -> None:
    story = by_edge(queries.outlinks(web, Target.parse("http://news.io/story"), Filters()))
    record = story[("http://news.io/story", "http://t.com/page")]
    assert (record["text_before"], record["text_after"]) == ("Read", "for the details.")
    assert story[("http://news.io/story", "http://t.com/gone")]["target_status"] == 404
    # One page of farm.com: its footer link is sitewide, judged on the whole host.
    one = by_edge(queries.outlinks(web, Target.parse("http://farm.com/p2"), Filters()))
    assert one[("http://farm.com/p2", HOME)]["sitewide"] is True
    assert one[("http://farm.com/p2", HOME)]["text_before"] == "Powered by"
    only = queries.outlinks(web, Target.parse("http://farm.com/p2"), Filters(sitewide=True))
    assert len(only.rows) == 1
    assert (
        queries.outlinks(web, Target.parse("http://farm.com/p2"), Filters(sitewide=False)).rows
        == []
    )
    # A host scope of outlinks, sorted: the same fields as by key.
    keyed = by_edge(queries.outlinks(web, Target.parse("farm.com"), Filters()))
    ordered = by_edge(queries.outlinks(web, Target.parse("farm.com"), Filters(sort="last_seen")))
    assert keyed == ordered and len(keyed) == 5


def test_location_broken_and_sitewide_filters(answered: Any) -> None:
    web = answered
    every = backlinks(web)
    footer = backlinks(web, location=("footer",))
    assert footer == {k: r for k, r in every.items() if r["location"] == "footer"}
    assert len(footer) == 5
    two = backlinks(web, location=("nav", "aside"))
    assert {r["location"] for r in two.values()} == {"nav", "aside"} and len(two) == 5 + 4 + 1
    broken = backlinks(web, broken=True)
    assert set(broken) == {
        ("http://news.io/story", "http://t.com/gone"),
        ("http://news.io/story", "http://t.com/err"),
    }
    sitewide = backlinks(web, sitewide=True)
    assert sitewide == {k: r for k, r in every.items() if r["sitewide"]}
    assert {r["source_host"] for r in sitewide.values()} == SITEWIDE_HOSTS
    others = backlinks(web, sitewide=False)
    assert set(others) == set(every) - set(sitewide)
    # The filters combine with the others, and hold for every question.
    assert backlinks(web, sitewide=True, location=("footer",)) == footer
    domains = queries.refdomains(web, Target.parse("t.com"), Filters(sitewide=True))
    assert sorted(row[0] for row in domains.rows) == sorted(SITEWIDE_HOSTS)
    pages = queries.top_pages(web, Target.parse("t.com"), Filters(broken=True))
    assert sorted(row[0] for row in pages.rows) == ["http://t.com/err", "http://t.com/gone"]
    anchors = queries.anchors(web, Target.parse("t.com"), Filters(location=("content",)))
    assert {row[0] for row in anchors.rows} >= {"a good page", "gone", "err", "never"}
    # A URL scope bounds the derived conditions to its own edges.
    assert len(backlinks_of(web, HOME, sitewide=True)) == 15
    assert backlinks_of(web, "http://t.com/gone", broken=True) != {}
    assert backlinks_of(web, "http://t.com/page", broken=True) == {}


def backlinks_of(index: Any, url: str, **filters: Any) -> dict[tuple[str, str], dict[str, Any]]:
    return by_edge(queries.backlinks(index, Target.parse(url), Filters(**filters)))


def test_bad_filter_values_are_usage_errors(web: Any) -> None:
    with pytest.raises(UsageError, match="unknown location 'middle'"):
        queries.backlinks(web, Target.parse("t.com"), Filters(location=("middle",)))
    with pytest.raises(UsageError, match="sitewide must be true or false"):
        queries.backlinks(web, Target.parse("t.com"), Filters(sitewide="yes"))  # type: ignore[arg-type]


def test_report_figures_of_where_links_sit(web: Any) -> None:
    figures = reports.report(web, Target.parse("t.com"), Filters())
    backlinks = 30
    assert figures["backlinks"] == backlinks
    assert figures["locations"] == {
        "other": 5,
        "content": 5,
        "nav": 5,
        "header": 5,
        "footer": 5,
        "aside": 5,
    }
    assert figures["location_shares"]["content"] == round(5 / backlinks, 4)
    assert figures["content_share"] == round(5 / backlinks, 4)
    assert figures["sitewide_backlinks"] == 15
    assert figures["sitewide_share"] == 0.5
    assert figures["broken_backlinks"] == 2
    assert figures["lost_reasons"] == {
        "link_removed": 1,
        "page_gone": 1,
        "page_redirected": 0,
        "page_noindex": 0,
    }
    # farm.com's and blog.org's five linking pages each come from one address
    # of one /24, the story's from one IPv6 address; other hosts' are unknown.
    assert figures["backlinks_with_ip"] == 5 + 5 + 4
    assert figures["referring_ips"] == 3
    assert figures["referring_subnets"] == 2
    assert figures["subnets"] == [
        {"subnet": "192.0.2.0/24", "referring_domains": 2, "referring_ips": 2, "backlinks": 10},
        {"subnet": "2001:db8:1::/48", "referring_domains": 1, "referring_ips": 1, "backlinks": 4},
    ]
    # Filters apply to these figures as to the others.
    broken = reports.report(web, Target.parse("t.com"), Filters(broken=True))
    assert broken["backlinks"] == 2 and broken["broken_backlinks"] == 2
    assert broken["locations"]["content"] == 2
    # Derived from the edges and pages before any refresh; from the host
    # facts and the fresh rollup after it: the same figures.
    assert not rollups.hosts_fresh(web)
    rollups.refresh(web, all_domains=True)
    assert rollups.fresh(web, "t.com") and rollups.hosts_fresh(web)
    assert reports.report(web, Target.parse("t.com"), Filters()) == figures
    assert reports.report(web, Target.parse("t.com"), Filters(broken=True)) == broken
    # Pages written since (new pages of farm.com, without the footer link)
    # make the host facts stale: the figures are derived again, and count them.
    write(web, *(page(f"http://farm.com/p{n}", ip="192.0.2.10") for n in range(7, 12)))
    assert not rollups.hosts_fresh(web)
    after = reports.report(web, Target.parse("t.com"), Filters())
    assert after["sitewide_backlinks"] == 15 - 5  # 5 of 11 pages: under half
    farm = backlinks_of(web, HOME)[("http://farm.com/p1", HOME)]
    assert farm["sitewide"] is False
    rollups.refresh(web)
    assert rollups.hosts_fresh(web) and rollups.fresh(web, "t.com")
    assert reports.report(web, Target.parse("t.com"), Filters()) == after


def test_subnets_of_addresses_are_those_of_python(index: Any) -> None:
    addresses = [
        "198.51.100.7",
        "198.51.100.200",
        "10.1.2.3",
        "2001:db8:aa:1::1",
        "2001:db8:aa:ffff::2",
        "2001:db8::1",
        "not an address",
        "",
    ]
    _, rows = index.query(
        f"SELECT ip, {SUBNET} FROM (SELECT arrayJoin({{ips:Array(String)}}) AS ip)",
        {"ips": addresses},
    )
    expected = {}
    for ip in addresses:
        try:
            address = ipaddress.ip_address(ip)
        except ValueError:
            expected[ip] = ""
            continue
        bits = 24 if address.version == 4 else 48
        expected[ip] = ipaddress.ip_network(f"{ip}/{bits}", strict=False).with_prefixlen
    assert dict(rows) == expected


def test_export_edges_carries_what_the_queries_answer(answered: Any, monkeypatch: Any) -> None:
    web = answered
    # Small pages, so that the export pages through the key more than once.
    monkeypatch.setattr(queries, "EXPORT_PAGE", 7)
    exported: list[dict[str, Any]] = []
    for columns, block in queries.export(web, "edges", include_internal=False):
        assert columns == list(EDGE_FIELDS)
        exported += [dict(zip(columns, row, strict=True)) for row in block]
    keys = [(r["source_url"], r["target_url"], r["kind"]) for r in exported]
    assert len(keys) == len(set(keys))
    # Every external edge of this web links to t.com.
    assert {(r["source_url"], r["target_url"]): r for r in exported} == backlinks(web)
