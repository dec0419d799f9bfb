"""Spam scores of referring domains: each signal, the score, the filter and the docs
(docs/queries.md#spam-score; embedded chDB, no services)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from linkcore.errors import UsageError
from linkcore.records import Link, PageRecord
from linkindex import queries, rank, reports, rollups, spam
from linkindex.disavow import propose, render
from linkindex.queries import Filters, Target
from linkindex.spamsignals import BY_NAME, SIGNALS, commercial_sql, subnet_sql, table
from linkindex.writer import EdgeWriter

T0 = 1_790_000_000.0
TARGET = "t.org"
DOCS = Path(__file__).resolve().parents[2] / "docs" / "queries.md"
README = DOCS.parents[1] / "README.md"


def write(index: Any, *pages: PageRecord) -> None:
    writer = EdgeWriter(index)
    for page in pages:
        writer.add(page)
    writer.flush()
    # As a crawl or a consumer does once written: the scores are kept.
    rollups.refresh(index)


def page(
    url: str,
    *links: Link,
    words: int = 800,
    ip: str = "",
    content_type: str = "text/html",
) -> PageRecord:
    return PageRecord(
        url=url,
        status=200,
        fetched_at=T0,
        content_type=content_type,
        links=list(links),
        words=words,
        ip=ip,
    )


def to_target(anchor: str = "a fine site", path: str = "") -> Link:
    return Link(f"http://{TARGET}/{path}", anchor=anchor)


def others(count: int, site: str = "x") -> list[Link]:
    """``count`` links to as many other external domains."""
    return [Link(f"http://{site}{i}.com/", anchor=f"site {i}") for i in range(count)]


def rows(index: Any, sql: str) -> list[tuple[Any, ...]]:
    return [tuple(row) for row in index.query(sql)[1]]


def fired(index: Any, domain: str, target: str = TARGET) -> dict[str, Any]:
    """The signals that fired for ``domain`` as a referring domain of ``target``, by name."""
    found = spam.all_scores(index, Target.parse(target))[domain]
    return {s["signal"]: s["value"] for s in found.signals}


def test_docs_hold_the_table_of_signals() -> None:
    assert table() in DOCS.read_text(encoding="utf-8")
    # The README lists every signal with its weight: the same rows.
    rows = table().split("\n\n")[0]
    assert rows in README.read_text(encoding="utf-8")


def test_outlinks_per_page(index) -> None:
    write(
        index,
        page("http://farm.com/", to_target(), *others(120)),
        page("http://blog.com/", to_target(), *others(5)),
    )
    assert fired(index, "farm.com")["outlinks_per_page"] == 121
    assert "outlinks_per_page" not in fired(index, "blog.com")


def test_external_link_share_needs_enough_links(index) -> None:
    internal = [Link(f"http://blog.com/p{i}", anchor="more") for i in range(20)]
    write(
        index,
        page("http://farm.com/", to_target(), *others(24)),
        page("http://blog.com/", to_target(), *others(4), *internal),
        # One link in all, to the target: a share of 1 that tells nothing.
        page("http://single.com/", to_target()),
    )
    assert fired(index, "farm.com")["external_link_share"] == 1.0
    assert "external_link_share" not in fired(index, "blog.com")
    assert "external_link_share" not in fired(index, "single.com")


def test_links_per_word_and_thin_pages(index) -> None:
    write(
        index,
        page("http://listing.com/", to_target(), *others(29), words=100),
        page("http://article.com/", to_target(), *others(9), words=1500),
        page("http://short.com/", to_target(), words=120),
    )
    listing = fired(index, "listing.com")
    assert listing["links_per_word"] == 0.3 and listing["thin_page_share"] == 1.0
    assert not {"links_per_word", "thin_page_share"} & set(fired(index, "article.com"))
    assert fired(index, "short.com") == {"thin_page_share": 1.0}


def test_commercial_anchors_are_short_keyword_phrases(index) -> None:
    write(
        index,
        page("http://seller.com/a", to_target("Buy cheap VIAGRA", "1")),
        page("http://seller.com/b", to_target("best casino bonus", "2")),
        page("http://seller.com/c", to_target("about us", "3")),
        page("http://mixed.com/a", to_target("cheap flights", "1")),
        page("http://mixed.com/b", to_target("home", "2")),
        page("http://mixed.com/c", to_target("news", "3")),
    )
    assert fired(index, "seller.com")["commercial_anchor_share"] == 0.667
    assert "commercial_anchor_share" not in fired(index, "mixed.com")
    cases = {
        "buy now": 1,
        "Cheapest loans": 1,
        "casino": 1,
        "busy day": 0,  # a word that starts with a term is not the term
        "cheap.example.com": 0,  # a URL
        "we did not buy anything on the trip last summer": 0,  # a sentence
        "": 0,
    }
    for anchor, expected in cases.items():
        assert rows(index, f"SELECT {commercial_sql('x')} FROM (SELECT '{anchor}' AS x)") == [
            (expected,)
        ], anchor


def test_sitewide_share(index) -> None:
    write(
        index,
        *[page(f"http://roll.com/p{i}", to_target("partner")) for i in range(6)],
        page("http://once.com/", to_target()),
        *[page(f"http://once.com/p{i}") for i in range(6)],
    )
    assert fired(index, "roll.com")["sitewide_share"] == 1.0
    assert "sitewide_share" not in fired(index, "once.com")


def test_referring_domains_per_subnet(index) -> None:
    write(
        index,
        page("http://pbn1.com/", to_target(), ip="192.0.2.10"),
        page("http://pbn2.com/", to_target(), ip="192.0.2.11"),
        page("http://pbn3.com/", to_target(), ip="192.0.2.200"),
        page("http://apart.com/", to_target(), ip="198.51.100.7"),
        page("http://six1.com/", to_target(), ip="[2001:db8:1:2::1]"),
        page("http://six2.com/", to_target(), ip="2001:db8:1:3::1"),
        page("http://unknown.com/", to_target()),
    )
    for domain in ("pbn1.com", "pbn2.com", "pbn3.com"):
        assert fired(index, domain)["subnet_domains"] == 3
    for domain in ("apart.com", "six1.com", "unknown.com"):
        assert "subnet_domains" not in fired(index, domain)
    scores = spam.all_scores(index, Target.parse(TARGET))
    assert scores["six1.com"].score == scores["apart.com"].score == 0
    assert rows(
        index,
        f"SELECT {subnet_sql('x')} FROM (SELECT arrayJoin(['192.0.2.77', '[2001:db8:1:2::9]', "
        "'junk']) AS x)",
    ) == [("192.0.2.0/24",), ("2001:db8:1::/48",), ("",)]


def test_reciprocal_links(index) -> None:
    write(
        index,
        page("http://friend.com/", to_target()),
        page("http://stranger.com/", to_target()),
        page(f"http://{TARGET}/", Link("http://friend.com/", anchor="our friend")),
    )
    assert fired(index, "friend.com")["reciprocal"] is True
    assert "reciprocal" not in fired(index, "stranger.com")


def test_no_authority_fires_only_once_ranked(index) -> None:
    write(
        index,
        page("http://known.com/", to_target()),
        page("http://unknown.com/", to_target()),
        page("http://fan.net/", Link("http://known.com/", anchor="known")),
    )
    assert "no_authority" not in fired(index, "unknown.com")  # before `linkgraph rank`
    rank.compute_ranks(index)
    assert fired(index, "unknown.com")["no_authority"] is True
    assert "no_authority" not in fired(index, "known.com")


def test_name_signals(index) -> None:
    names = {
        "best-cheap-loans-24-7.xyz": {
            "tld": "xyz",
            "name_digits": 3,
            "name_hyphens": 4,
            "name_length": 21,
        },
        "plain-name.com": {},
        "web2.top": {"tld": "top"},
        "a1b2.co.uk": {"name_digits": 2},
    }
    # Not HTML: the page signals are unknown, and a null never fires.
    write(
        index,
        *[page(f"http://{name}/", to_target(), content_type="application/pdf") for name in names],
    )
    for name, expected in names.items():
        assert fired(index, name) == expected, name


def test_score_is_the_capped_sum_of_fired_weights_and_every_point_is_listed(index) -> None:
    write(
        index,
        page(
            "http://best-cheap-casino-77.xyz/",
            to_target("cheap casino deals"),
            # A farm's links: commercial anchors everywhere, not only to the target.
            *(Link(f"http://x{i}.com/", anchor="cheap casino bonus") for i in range(120)),
            words=40,
            ip="203.0.113.5",
        ),
        page("http://farm2.com/", to_target(), ip="203.0.113.6"),
        page("http://farm3.com/", to_target(), ip="203.0.113.7"),
        page(f"http://{TARGET}/", Link("http://best-cheap-casino-77.xyz/", anchor="casino")),
        page("http://blog.com/", to_target(), *others(3)),
    )
    scores = spam.all_scores(index, Target.parse(TARGET))
    farm = scores["best-cheap-casino-77.xyz"]
    weights = sum(s["weight"] for s in farm.signals)
    assert weights > 100 and farm.score == 100
    for found in scores.values():
        assert found.score == min(100, sum(s["weight"] for s in found.signals))
        for s in found.signals:
            assert s["threshold"] == BY_NAME[s["signal"]].threshold
            assert s["weight"] == BY_NAME[s["signal"]].weight
    assert scores["blog.com"].score == 0 and scores["blog.com"].signals == []
    assert sum(s.weight for s in SIGNALS) > 100  # the cap is reachable


def test_answers_carry_scores_and_max_spam_filters_every_query(index) -> None:
    write(
        index,
        page("http://cheap-pills-4u.xyz/", to_target("buy pills"), *others(110), words=60),
        page("http://blog.com/a", to_target("read this", "a")),
        page("http://blog.com/b", to_target("and this", "b")),
        page("http://news.net/", to_target("a story")),
    )
    target = Target.parse(TARGET)
    answer = queries.refdomains(index, target, Filters())
    at = answer.columns.index("spam_score")
    assert answer.columns[at + 1] == "spam_signals"
    by_domain = {row[0]: (row[at], row[at + 1]) for row in answer.rows}
    scores = spam.all_scores(index, target)
    assert by_domain == {d: (s.score, s.signals) for d, s in scores.items()}
    spammy = by_domain["cheap-pills-4u.xyz"][0]
    assert spammy > 50 and by_domain["blog.com"][0] == by_domain["news.net"][0] == 0
    kept = Filters(max_spam=50)
    assert sorted(r[0] for r in queries.refdomains(index, target, kept).rows) == [
        "blog.com",
        "news.net",
    ]
    assert {r[2] for r in queries.backlinks(index, target, kept).rows} == {"blog.com", "news.net"}
    assert "buy pills" not in {r[0] for r in queries.anchors(index, target, kept).rows}
    assert len(queries.backlinks(index, target, Filters(max_spam=spammy)).rows) == 4
    report = reports.report(index, target, kept)
    assert report["referring_domains"] == 2
    assert report["spam_distribution"][0] == {"from": 0, "to": 9, "referring_domains": 2}
    whole = reports.report(index, target, Filters())
    assert sum(b["referring_domains"] for b in whole["spam_distribution"]) == 3
    assert whole["spammy_referring_domains"] == 1
    # Outlinks: the score of the source domain over its own links.
    out = queries.outlinks(index, Target.parse("cheap-pills-4u.xyz"), Filters(max_spam=50))
    assert out.rows == []
    with pytest.raises(UsageError, match="max_spam"):
        queries.backlinks(index, target, Filters(max_spam=101))


def test_disavow_proposes_by_the_same_scores(index) -> None:
    write(
        index,
        page("http://cheap-pills-4u.xyz/", to_target("buy pills"), *others(110), words=60),
        *[page(f"http://roll.info/p{i}", to_target("partner")) for i in range(5)],
        page("http://blog.com/", to_target()),
    )
    target = Target.parse(TARGET)
    scores = spam.all_scores(index, target)
    proposal = propose(index, target)
    assert proposal.domains == tuple(d for d, s in sorted(scores.items()) if s.score >= 50)
    assert proposal.domains == ("cheap-pills-4u.xyz",)
    assert propose(index, target, min_score=0).domains == tuple(sorted(scores))
    text = render(proposal, target)
    assert f"# spam score {scores['cheap-pills-4u.xyz'].score}: outlinks_per_page 111 (+15)" in text
    assert "domain:cheap-pills-4u.xyz" in text and "roll.info" not in text
