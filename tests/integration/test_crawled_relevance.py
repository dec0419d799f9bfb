"""End to end: topical relevance separates same-topic links from the rest.

The real CLI crawls the labelled topic web (:mod:`tests.synthweb.topicweb`:
six topics, two sites each, articles that link to pages of the same topic and
of others). Every exported link between two sites then carries a
``relevance``, and ranking the links by it must put the same-topic ones first:
the area under the ROC curve (AUC) of relevance as a same-topic detector is
printed and must be high, for links to fetched pages (page against page) and
for links to pages robots.txt kept out (page against the target domain's
pages). Links to a host the crawl never fetched have no relevance. The
filters and the sort agree with the values, and ``refdomains`` names each
referring domain's topic words (docs/relevance.md).
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.integration.crawls import Crawl, crawl_web
from tests.synthweb import ProxyServer
from tests.synthweb.topicweb import TOPICS, TopicWeb, build_topic_web

pytestmark = [pytest.mark.integration]

#: The AUC relevance must reach on each kind of link (1.0 is a perfect split, 0.5 chance).
MIN_AUC = 0.9


def auc(positives: list[float], negatives: list[float]) -> float:
    """Probability that a random positive scores above a random negative (ties half)."""
    wins = sum((p > n) + 0.5 * (p == n) for p in positives for n in negatives)
    return wins / (len(positives) * len(negatives))


@pytest.fixture(scope="module")
def crawled(
    cli: Any, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[Crawl, TopicWeb, Any]]:
    topic_web = build_topic_web()
    with ProxyServer(topic_web.web) as proxy:
        crawl = crawl_web(
            cli.via(proxy), topic_web.web, proxy, tmp_path_factory.mktemp("relevance")
        )
        yield crawl, topic_web, cli.via(proxy)


def query(cli: Any, data_dir: Path, command: str, target: str, *flags: str) -> list[dict[str, Any]]:
    result = cli.run(command, target, "--format", "jsonl", "--data-dir", str(data_dir), *flags)
    return [json.loads(line) for line in result.stdout.splitlines() if line.strip()]


def fails(cli: Any, *args: str) -> subprocess.CompletedProcess[str]:
    """Run ``linkgraph ARGS``, which must exit non-zero."""
    result = subprocess.run(
        [*cli.command, *args], cwd=cli.workdir, env=cli.env, capture_output=True, text=True,
        timeout=120,
    )  # fmt: skip
    assert result.returncode != 0, result.stdout
    return result


def test_relevance_separates_same_topic_links(crawled: tuple[Crawl, TopicWeb, Any]) -> None:
    crawl, topic_web, _ = crawled
    relevance = {
        (r["source_url"], r["target_url"]): r["relevance"]
        for r in crawl.records
        if r["kind"] == "a"
    }
    kinds = {"page": ([], []), "domain": ([], [])}  # (same topic, other topic)
    for source, target, same in topic_web.labels:
        value = relevance[(source, target)]
        assert value is not None and 0.0 <= value <= 1.0, (source, target, value)
        kind = "domain" if target in topic_web.private else "page"
        kinds[kind][0 if same else 1].append(value)
    for kind, (same, other) in kinds.items():
        score = auc(same, other)
        print(
            f"\nrelevance AUC, links to a {kind}: {score:.4f} "
            f"({len(same)} same-topic, {len(other)} cross-topic links; "
            f"median {sorted(same)[len(same) // 2]:.3f} vs {sorted(other)[len(other) // 2]:.3f})"
        )
        assert score >= MIN_AUC, (kind, score)
    # A host the crawl never fetched: nothing to compare with.
    assert all(relevance[pair] is None for pair in topic_web.unknown)
    # Internal links are scored too (a site's pages share its topic).
    internal = [
        value
        for (source, target), value in relevance.items()
        if source.split("/")[2] == target.split("/")[2] and target in topic_web.topic_of
    ]
    assert internal and all(value is not None for value in internal)


def test_filter_and_sort_by_relevance(crawled: tuple[Crawl, TopicWeb, Any]) -> None:
    crawl, _, cli = crawled
    target = "cooking-site0.com"
    every = query(cli, crawl.data_dir, "backlinks", target)
    values = {(r["source_url"], r["target_url"]): r["relevance"] for r in every}
    known = sorted(v for v in values.values() if v is not None)
    threshold = known[len(known) // 2]
    passing = query(cli, crawl.data_dir, "backlinks", target, "--min-relevance", str(threshold))
    assert {(r["source_url"], r["target_url"]) for r in passing} == {
        k for k, v in values.items() if v is not None and v >= threshold
    }
    assert 0 < len(passing) < len(every)
    ranked = query(cli, crawl.data_dir, "backlinks", target, "--sort", "relevance")
    got = [r["relevance"] for r in ranked]
    assert len(ranked) == len(every)
    scored = [v for v in got if v is not None]
    assert scored == sorted(scored, reverse=True)
    assert got[: len(scored)] == scored  # unknown relevance last
    # Paging through the ranking gives the same order.
    first = query(cli, crawl.data_dir, "backlinks", target, "--sort", "relevance", "--limit", "3")
    assert [r["relevance"] for r in first] == got[:3]
    # Aggregates filter the same links: refdomains counts the passing ones.
    domains = query(cli, crawl.data_dir, "refdomains", target, "--min-relevance", str(threshold))
    assert sum(r["links"] for r in domains) == len(passing)
    outlinks = query(
        cli, crawl.data_dir, "outlinks", "cooking-site1.com", "--min-relevance", "0.0001"
    )
    assert outlinks and all(r["relevance"] >= 0.0001 for r in outlinks)


def test_bad_min_relevance_is_one_clear_line(crawled: tuple[Crawl, TopicWeb, Any]) -> None:
    crawl, _, cli = crawled
    for bad in ("lots", "1.5", "-0.1"):
        result = fails(
            cli, "backlinks", "cooking-site0.com", "--min-relevance", bad,
            "--data-dir", str(crawl.data_dir),
        )  # fmt: skip
        assert "Traceback" not in result.stderr
        assert "--min-relevance" in result.stderr and len(result.stderr.strip().splitlines()) == 1
    refused = fails(
        cli, "refdomains", "cooking-site0.com", "--sort", "relevance",
        "--data-dir", str(crawl.data_dir),
    )  # fmt: skip
    assert "backlinks and outlinks" in refused.stderr


def test_refdomains_name_each_domain_s_topic(crawled: tuple[Crawl, TopicWeb, Any]) -> None:
    crawl, _, cli = crawled
    for target in ("cooking-site0.com", "plumbing-site1.com"):
        for record in query(cli, crawl.data_dir, "refdomains", target):
            topic = record["source_domain"].split("-site")[0]
            words = {word for subtopic in TOPICS[topic] for word in subtopic}
            topics = record["topics"]
            assert topics, record
            # Most of a domain's top terms are its topic's words, not the filler.
            assert sum(term in words for term in topics) >= len(topics) * 3 // 4, record
