"""Relevance in the index (linkindex/relevance.py): stored profiles, the
domain fallback, the filter, the sort, topics, and the upgrade of an index
from before profiles."""

from __future__ import annotations

import math
import uuid
from pathlib import Path
from typing import Any

import pytest

from linkcore.errors import UsageError
from linkcore.profiles import idf, merge, similarity, tf_weights, weighted
from linkcore.records import Link, PageRecord
from linkindex import queries
from linkindex.client import IndexLocation, open_index
from linkindex.filters import Filters
from linkindex.relevance import document_frequencies, domain_profiles, parse_min_relevance
from linkindex.targets import Target
from linkindex.writer import EdgeWriter

T0 = 1_700_000_000.0
COOKING = [("pasta", 5), ("basil", 3), ("tomato", 2), ("recipe", 1)]
BAKING = [("bread", 4), ("flour", 3), ("recipe", 2), ("oven", 1)]
PLUMBING = [("pipe", 5), ("leak", 3), ("valve", 2), ("recipe", 1)]


def write(index: Any, *pages: PageRecord) -> None:
    writer = EdgeWriter(index)
    for page in pages:
        writer.add(page)
    writer.flush()


def page(url: str, profile: list[tuple[str, int]], *targets: str, at: float = T0) -> PageRecord:
    return PageRecord(
        url=url,
        status=200,
        fetched_at=at,
        content_type="text/html",
        links=[Link(target) for target in targets],
        profile=profile,
    )


@pytest.fixture
def web(index: Any) -> Any:
    write(
        index,
        page("http://food.com/", COOKING, "http://eat.com/pasta", "http://eat.com/unfetched"),
        page("http://food.com/b", BAKING, "http://eat.com/pasta", "http://pipes.com/"),
        page("http://pipes.com/", PLUMBING, "http://eat.com/pasta", "http://nowhere.com/"),
        page("http://eat.com/pasta", COOKING[:3]),
        page("http://eat.com/bread", BAKING),
        page("http://blank.com/", [], "http://eat.com/pasta"),
    )
    return index


def expected(index: Any, source: list[tuple[str, int]], target: list[tuple[str, float]]) -> float:
    """The relevance computed here from the definitions in linkcore.profiles."""
    profiles = [COOKING, BAKING, PLUMBING, COOKING[:3], BAKING]
    pages = len(profiles)
    frequency = {t: sum(t in dict(p) for p in profiles) for p in profiles for t, _ in p}
    idfs = {t: idf(pages, n) for t, n in frequency.items()}
    value = similarity(
        weighted(tf_weights(source), idfs, idf(pages, 0)), weighted(target, idfs, idf(pages, 0))
    )
    assert value is not None
    return value


def relevances(result: queries.Result) -> dict[tuple[str, str], Any]:
    at = {name: i for i, name in enumerate(result.columns)}
    return {
        (row[at["source_url"]], row[at["target_url"]]): row[at["relevance"]] for row in result.rows
    }


def test_relevance_compares_the_source_page_with_the_target_page_or_domain(web: Any) -> None:
    got = relevances(queries.backlinks(web, Target.parse("eat.com"), Filters()))
    pasta = tf_weights(COOKING[:3])
    assert got[("http://food.com/", "http://eat.com/pasta")] == expected(web, COOKING, pasta)
    assert got[("http://food.com/b", "http://eat.com/pasta")] == expected(web, BAKING, pasta)
    assert got[("http://pipes.com/", "http://eat.com/pasta")] == expected(web, PLUMBING, pasta)
    # Never fetched: the target domain's pages stand in for it.
    domain = merge([COOKING[:3], BAKING])
    assert dict(domain_profiles(web, ["eat.com"])["eat.com"]) == pytest.approx(dict(domain))
    assert got[("http://food.com/", "http://eat.com/unfetched")] == pytest.approx(
        expected(web, COOKING, domain), abs=1e-4
    )
    # A source page without a profile has no relevance.
    assert got[("http://blank.com/", "http://eat.com/pasta")] is None
    # Same topic above other topics.
    assert got[("http://food.com/", "http://eat.com/pasta")] > 0.9
    assert got[("http://pipes.com/", "http://eat.com/pasta")] < 0.1
    out = relevances(queries.outlinks(web, Target.parse("pipes.com"), Filters()))
    assert out[("http://pipes.com/", "http://nowhere.com/")] is None  # nothing known


def test_document_frequencies_count_stored_profiles(web: Any) -> None:
    pages, frequency = document_frequencies(web, ["recipe", "pasta", "absent"])
    assert pages == 5
    assert frequency == {"recipe": 4, "pasta": 2}


def test_min_relevance_filters_every_query(web: Any) -> None:
    target = Target.parse("eat.com")
    every = relevances(queries.backlinks(web, target, Filters()))
    passing = relevances(queries.backlinks(web, target, Filters(min_relevance="0.5")))
    assert set(passing) == {k for k, v in every.items() if v is not None and v >= 0.5}
    assert passing and len(passing) < len(every)
    domains = queries.refdomains(web, target, Filters(min_relevance="0.5"))
    assert sorted(row[0] for row in domains.rows) == ["food.com"]
    assert queries.backlinks(web, target, Filters(min_relevance=1.0)).rows == []
    for bad in ("x", "2", "-1", True):
        with pytest.raises(UsageError, match="--min-relevance"):
            parse_min_relevance(bad)
    assert parse_min_relevance(None) is None and parse_min_relevance("0") == 0.0


def test_sort_by_relevance_pages_through_the_ranking(web: Any) -> None:
    target = Target.parse("eat.com")
    ranked = queries.backlinks(web, target, Filters(sort="relevance"))
    values = list(relevances(ranked).values())
    known = [v for v in values if v is not None]
    assert known == sorted(known, reverse=True) and values[len(known) :] == [None]
    first = queries.backlinks(web, target, Filters(sort="relevance", limit=2))
    assert first.rows == ranked.rows[:2] and first.next_cursor
    rest = queries.backlinks(web, target, Filters(sort="relevance", cursor=first.next_cursor))
    assert first.rows + rest.rows == ranked.rows
    with pytest.raises(UsageError, match="backlinks and outlinks"):
        queries.refdomains(web, target, Filters(sort="relevance"))


def test_refdomains_carry_each_domain_s_topics(web: Any) -> None:
    result = queries.refdomains(web, Target.parse("eat.com"), Filters())
    topics = dict(zip((r[0] for r in result.rows), (r[-1] for r in result.rows), strict=True))
    assert result.columns[-1] == "topics"
    assert topics["pipes.com"][:3] == ["pipe", "leak", "valve"]
    assert "recipe" not in topics["food.com"][:4]  # on most pages: it sinks
    assert topics["blank.com"] == []


def test_a_304_keeps_the_profile(web: Any) -> None:
    write(web, PageRecord("http://eat.com/pasta", 304, T0 + 86_400))
    _, rows = web.query(
        f"SELECT profile_terms, profile_counts FROM {web.db}.pages FINAL "
        "WHERE url = 'http://eat.com/pasta'"
    )
    assert rows == [(["pasta", "basil", "tomato"], [5, 3, 2])]


#: The schema of the release before profiles (tests/data/README.md).
PREVIOUS_SCHEMA = Path(__file__).resolve().parents[1] / "data" / "schema_before_context"


def test_an_index_from_before_profiles_is_upgraded_in_place(index: Any, index_dir: Any) -> None:
    earlier = f"t_{uuid.uuid4().hex[:12]}"
    try:
        index.command(f"CREATE DATABASE {earlier}")
        # The previous release's migrations, as it shipped them.
        for path in sorted(PREVIOUS_SCHEMA.glob("0*.sql")):
            text = path.read_text(encoding="utf-8")
            lines = [line for line in text.splitlines() if not line.lstrip().startswith("--")]
            for statement in "\n".join(lines).split(";"):
                if statement.strip():
                    index.command(statement.strip().replace("{db}", earlier))
        index.command(
            f"INSERT INTO {earlier}.pages (rev_host, url, host, domain, status, content_type, "
            "fetched_at) VALUES ('com.eat', 'http://eat.com/old', 'eat.com', 'eat.com', 200, "
            "'text/html', now64(3))"
        )
        upgraded = open_index(IndexLocation(data_dir=str(index_dir), database=earlier))
        listing = (
            "SELECT name, type, compression_codec FROM system.columns "
            "WHERE database = {db:String} AND table = 'pages' ORDER BY position"
        )
        assert (
            upgraded.query(listing, {"db": earlier})[1] == index.query(listing, {"db": index.db})[1]
        )
        # The old page has no profile: links to it fall back to its domain.
        write(
            upgraded,
            page("http://food.com/", COOKING, "http://eat.com/old"),
            page("http://eat.com/new", COOKING),
        )
        got = relevances(queries.backlinks(upgraded, Target.parse("eat.com"), Filters()))
        value = got[("http://food.com/", "http://eat.com/old")]
        assert value is not None and math.isclose(value, 1.0, abs_tol=1e-4)
    finally:
        index.command(f"DROP DATABASE IF EXISTS {earlier}")
