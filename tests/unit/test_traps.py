"""The trap rules (crawler/traps.py): each declines its trap, none declines a distinct site."""

from __future__ import annotations

import random

from crawler.traps import (
    MAX_TEMPLATES,
    NEAR_DUPLICATES,
    PATTERN_BUDGET,
    QUERY_EXPLOSION,
    REPEATED_SEGMENTS,
    SAMPLE_EVERY,
    TrapLimits,
    TrapRules,
    hamming,
    page_simhash,
    repeated_run,
    url_template,
)


def _page(words: list[str], links: list[str]) -> tuple[str, list[str]]:
    """A page as the fingerprint sees it: its text (anchors included) and links."""
    return " ".join(words + links), links


def test_templates_mask_numbers_tokens_and_numbered_hosts() -> None:
    assert url_template("http://cal.example.com/cal/2024/05")[1] == "cal.example.com/cal/#/#"
    assert url_template("http://example.com/s/a1b2c3d4e5f6a7b8c9/item")[1] == (
        "example.com/s/*/item"
    )
    assert url_template("http://n17.hosts.example.com/") == (
        "n#.hosts.example.com",
        "n#.hosts.example.com/",
    )
    assert url_template("http://example.com/p?b=2&a=1&b=3")[1] == "example.com/p?a&b"
    assert url_template("http://example.com/wiki/Paris")[1] == "example.com/wiki/Paris"


def test_repeated_runs_of_segments() -> None:
    assert repeated_run("/a/b/a/b/a/b", 3)
    assert repeated_run("/l/x/x/x", 3)
    assert not repeated_run("/l/x/x", 3)
    assert not repeated_run("/a/b/a/b", 3)
    assert not repeated_run("/2024/01/01/news", 3)


def test_repeated_segments_rule_counts_by_host() -> None:
    rules = TrapRules()
    assert rules.admit("http://example.com/a/b/a/b") is None
    assert rules.admit("http://example.com/a/b/a/b/a/b") == REPEATED_SEGMENTS
    assert rules.declined == {("example.com", REPEATED_SEGMENTS): 1}
    assert TrapRules(TrapLimits(repeats=0)).admit("http://example.com/x/x/x/x") is None


def test_query_explosion() -> None:
    rules = TrapRules(TrapLimits(query_params=2))
    assert rules.admit("http://example.com/s?a=1&b=2&c=3") == QUERY_EXPLOSION
    admitted = [
        rules.admit(f"http://example.com/s?f{i}=1&g{i}=2") is None for i in range(2 * 8 + 4)
    ]
    assert admitted == [True] * 16 + [False] * 4
    # A parameter set already seen is not a new variant.
    assert rules.admit("http://example.com/s?f0=9&g0=9") is None
    assert (
        TrapRules(TrapLimits(query_params=0)).admit(
            "http://e.com/?" + "&".join(f"p{i}=1" for i in range(50))
        )
        is None
    )


def test_pattern_budget() -> None:
    rules = TrapRules(TrapLimits(pattern_budget=5))
    verdicts = [rules.admit(f"http://example.com/item/{n}") for n in range(8)]
    assert verdicts == [None] * 5 + [PATTERN_BUDGET] * 3
    assert rules.admit("http://example.com/other/1") is None
    assert rules.still_wanted("http://example.com/item/2") == PATTERN_BUDGET


def test_simhash_ignores_numbers_and_separates_distinct_text() -> None:
    a = page_simhash(*_page(["month", "3", "of", "2024"], ["/cal/4", "/cal/2"]))
    b = page_simhash(*_page(["month", "9", "of", "1999"], ["/cal/10", "/cal/8"]))
    assert a == b
    rng = random.Random(7)
    vocabulary = [f"w{chr(97 + i % 26)}{chr(97 + i // 26 % 26)}x" for i in range(2000)]
    c = page_simhash(*_page(rng.sample(vocabulary, 60), ["/p/1"]))
    d = page_simhash(*_page(rng.sample(vocabulary, 60), ["/p/1"]))
    assert hamming(c, d) > 10
    # Pages in one small vocabulary are told apart by their word order.
    few = [f"w{chr(97 + i % 26)}{chr(97 + i // 26)}" for i in range(36)]
    pages = [page_simhash(" ".join(rng.choices(few, k=120)), ["/p/1"]) for _ in range(50)]
    assert min(hamming(x, y) for i, x in enumerate(pages) for y in pages[i + 1 :]) > 6


def test_near_duplicates_close_a_calendar_template() -> None:
    rules = TrapRules(TrapLimits(near_duplicates=10))
    verdicts = []
    for month in range(1, 41):
        url = f"http://cal.example.com/cal/{month}"
        verdicts.append(rules.admit(url))
        if verdicts[-1] is None:
            html = _page(["calendar", str(month)], [f"/cal/{month + 1}", f"/cal/{month - 1}"])
            rules.observe(url, *html)
    # The first page is distinct, the next ten are near-duplicates of it.
    assert verdicts.count(None) == 11
    assert rules.declined == {("cal.example.com", NEAR_DUPLICATES): 29}
    assert rules.still_wanted("http://cal.example.com/cal/999") == NEAR_DUPLICATES
    assert rules.summary() == [(30, "cal.example.com", NEAR_DUPLICATES)]


def test_distinct_pages_of_one_template_are_all_admitted() -> None:
    rules = TrapRules()
    rng = random.Random(1)
    vocabulary = [
        f"{chr(97 + i % 26)}{chr(97 + i // 26 % 26)}{chr(97 + i // 676)}" for i in range(3000)
    ]
    for n in range(3000):
        url = f"http://big.example.com/article/{n}"
        assert rules.admit(url) is None
        links = [f"/article/{rng.randrange(3000)}" for _ in range(5)]
        assert rules.observe(url, *_page(rng.sample(vocabulary, 40), links)) is None
    assert not rules.declined


def test_state_is_bounded() -> None:
    rules = TrapRules()
    for n in range(MAX_TEMPLATES + 10):
        rules.admit(f"http://example.com/{'ab'[n % 2]}{n:x}z/")
    assert len(rules._templates) <= MAX_TEMPLATES


def test_a_settled_template_is_sampled() -> None:
    rules = TrapRules(TrapLimits(near_duplicates=5))
    rng = random.Random(3)
    vocabulary = [f"{chr(97 + i % 26)}{chr(97 + i // 26 % 26)}q" for i in range(600)]
    for n in range(40):
        url = f"http://site.example.com/p/{n}"
        rules.admit(url)
        if rules.wants_fingerprint(url):
            rules.observe(url, *_page(rng.sample(vocabulary, 50), []))
    wanted = []
    for n in range(40, 120):
        url = f"http://site.example.com/p/{n}"
        rules.admit(url)
        wanted.append(rules.wants_fingerprint(url))
        if wanted[-1]:
            # From now on the pages are all alike: a trap behind a distinct start.
            rules.observe(url, *_page(["same", "page"], []))
    # Settled after 4 x 5 distinct pages: one page in eight is fingerprinted.
    assert sum(wanted) == len(wanted) // SAMPLE_EVERY
