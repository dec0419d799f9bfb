"""The feature tables for scoring services (docs/features.md)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest

from linkcore.errors import UsageError
from linkindex import features, queries, rollups
from linkindex.output import Writer
from tests.unit.test_answers_context import HOME, HOSTS, build

DOCS = Path(__file__).resolve().parents[2] / "docs" / "features.md"


@pytest.fixture(params=["derived", "host facts"])
def web(request: Any, index: Any) -> Any:
    build(index)
    if request.param == "host facts":
        rollups.refresh(index)
    return index


def table(index: Any, level: str) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    for columns, block in features.features(index, level):
        assert tuple(columns) == features.columns(level)
        rows += [dict(zip(columns, row, strict=True)) for row in block]
    return rows


def test_edge_features_are_the_export_and_more(web: Any) -> None:
    rows = table(web, "edge")
    exported = [
        dict(zip(columns, row, strict=True))
        for columns, block in queries.export(web, "edges", include_internal=False)
        for row in block
    ]
    assert len(rows) == len(exported) > 0
    for row, record in zip(rows, exported, strict=True):
        assert {k: row[k] for k in record} == record
        assert row["internal"] is False
        assert row["anchor_chars"] == len(record["anchor"])
    farm = next(r for r in rows if r["source_url"] == "http://farm.com/p1")
    assert farm["sitewide"] is True and farm["source_status"] == 200
    # A linking page nobody fetched has no facts; edit.com's page was fetched.
    story = next(r for r in rows if r["source_url"] == "http://news.io/story")
    assert story["source_external_links"] == 4 and story["source_internal_links"] == 0


def test_domain_features_count_what_the_queries_answer(web: Any) -> None:
    rows = {r["domain"]: r for r in table(web, "domain")}
    # Every referring domain of t.com, and nothing else (t.com links to no one).
    referring = queries.refdomains(web, queries.Target.parse("t.com"), queries.Filters())
    assert set(rows) == {str(r[0]) for r in referring.rows}
    farm = rows["farm.com"]
    pages, linking, _ = HOSTS["farm.com"]
    assert farm["links"] == linking and farm["linking_pages"] == linking
    assert farm["footer_share"] == 1.0 and farm["sitewide_share"] == 1.0
    assert farm["fetched_pages"] == pages and farm["html_pages"] == pages
    assert rows["big.net"]["sitewide_share"] == 0.0
    assert rows["edit.com"]["lost_share"] == 1.0
    news = rows["news.io"]
    assert news["target_domains"] == 1 and news["content_share"] == 1.0
    assert news["external_link_share"] == 1.0
    backlinks = queries.backlinks(web, queries.Target.parse(HOME), queries.Filters())
    assert (
        sum(r["links"] for r in rows.values())
        == len([1 for _ in table(web, "edge")])
        >= len(backlinks.rows)
    )


def test_the_parquet_round_trip(web: Any, tmp_path: Path) -> None:
    for level in features.LEVELS:
        path = tmp_path / f"{level}.parquet"
        with path.open("wb") as out:
            writer = Writer("parquet", out, features.columns(level))
            for _, block in features.features(web, level):
                writer.write(block)
            writer.close()
        read = pq.read_table(path).to_pylist()
        assert [list(r) for r in read] == [list(features.columns(level))] * len(read)
        assert len(read) == len(table(web, level))


def test_the_docs_list_every_column() -> None:
    text = DOCS.read_text(encoding="utf-8")
    for level in features.LEVELS:
        section = text.split(f"## `--level {level}`", 1)[1].split("\n## ", 1)[0]
        documented = re.findall(r"^\| `([a-z_]+)` \|", section, re.MULTILINE)
        expected = [
            c for c in features.columns(level) if level == "domain" or c not in queries.EDGE_FIELDS
        ]
        assert [c for c in documented if c in expected] == expected, level


def test_an_unknown_level_is_a_usage_error() -> None:
    with pytest.raises(UsageError, match="unknown feature level"):
        features.columns("page")


def test_a_query_job_writes_the_features_of_each_targets_backlinks(
    web: Any, tmp_path: Path
) -> None:
    from linkindex.batch import read_targets, run_query_job

    targets_file = tmp_path / "targets.txt"
    targets_file.write_text("t.com\nhttp://t.com/gone\n", encoding="utf-8")
    counts = run_query_job(
        web, read_targets(targets_file), tmp_path / "out", reports=["features"], fmt="parquet"
    )
    read = pq.read_table(tmp_path / "out" / "features.parquet").to_pylist()
    assert counts["features"] == len(read)
    whole = [r for r in table(web, "edge") if r["target_domain"] == "t.com"]
    assert sorted((r["source_url"], r["target_url"]) for r in read if r["target"] == "t.com") == (
        sorted((r["source_url"], r["target_url"]) for r in whole)
    )
    gone = [r for r in read if r["target"] == "http://t.com/gone"]
    assert len(gone) == 1 and gone[0]["target_status"] == 404
    assert set(features.columns("edge")) < set(read[0])
