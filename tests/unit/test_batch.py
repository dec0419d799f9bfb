"""``linkgraph query-job`` (linkindex/batch.py) on hand-built page records.

Each file must hold, for every target in the file's order, exactly the rows the
matching query command answers for that target alone, led by the target; the
report files must flatten ``linkgraph report`` without losing a figure.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest

from linkcore.errors import IndexError_, UsageError
from linkcore.records import Link
from linkindex import batch, queries
from linkindex.output import JSON_COLUMNS, plain
from linkindex.queries import Filters, Target
from linkindex.reports import report
from tests.unit.test_index import T0, WEB, page, write

DAY = 86_400.0

TARGETS = """\
# competitors, one per line
target.co.uk
http://www.target.co.uk/a

bob.github.io
nobody-links-here.org
target.co.uk
"""


@pytest.fixture
def web(index):
    write(
        index,
        *WEB,
        page(
            "http://gamma.net/list",
            Link("http://www.target.co.uk/a", anchor="gamma"),
            Link("http://bob.github.io/x", anchor="bob x"),
            at=T0 + DAY,
        ),
    )
    return index


def targets_file(tmp_path: Path, text: str = TARGETS) -> Path:
    path = tmp_path / "targets.txt"
    path.write_text(text, encoding="utf-8")
    return path


def rows_of(path: Path) -> list[dict[str, Any]]:
    return [{k: plain(v) for k, v in row.items()} for row in pq.read_table(path).to_pylist()]


def expected_rows(
    index, name: str, targets: list[Target], filters: Filters, *, parquet: bool = True
) -> list[dict]:
    rows = []
    for target in targets:
        result = getattr(queries, name)(index, target, filters)
        for row in result.rows:
            record = dict(zip(result.columns, map(plain, row), strict=True))
            # Parquet holds nested values of mixed types as JSON text.
            if parquet:
                record.update({k: json.dumps(record[k]) for k in JSON_COLUMNS if k in record})
            rows.append({"target": target.text, **record})
    return rows


def test_targets_file_is_parsed_with_line_numbers(tmp_path: Path) -> None:
    jobs = batch.read_targets(targets_file(tmp_path))
    assert [(j.line, j.target.text, j.target.scope) for j in jobs] == [
        (2, "target.co.uk", "domain"),
        (3, "http://www.target.co.uk/a", "url"),
        (5, "bob.github.io", "domain"),
        (6, "nobody-links-here.org", "domain"),
    ]
    assert [j.target.scope for j in batch.read_targets(targets_file(tmp_path), "host")] == [
        "host"
    ] * 4
    bad = targets_file(tmp_path, "ok.com\n\nftp://nope\n")
    with pytest.raises(UsageError, match=r"line 3: .*ftp://nope"):
        batch.read_targets(bad)
    with pytest.raises(UsageError, match="no targets"):
        batch.read_targets(targets_file(tmp_path, "# nothing\n\n"))
    with pytest.raises(UsageError, match="cannot read"):
        batch.read_targets(tmp_path / "missing.txt")
    binary = tmp_path / "binary.txt"
    binary.write_bytes(b"\xff\xfe\x00bad")
    with pytest.raises(UsageError, match="not UTF-8"):
        batch.read_targets(binary)


def test_every_report_holds_each_targets_own_answer(web, tmp_path: Path) -> None:
    jobs = batch.read_targets(targets_file(tmp_path))
    targets = [job.target for job in jobs]
    out = tmp_path / "out"
    counts = batch.run_query_job(web, jobs, out)
    for name in ("backlinks", "refdomains", "anchors", "top_pages"):
        expected = expected_rows(web, name, targets, Filters())
        assert rows_of(out / f"{name}.parquet") == expected, name
        assert counts[name] == len(expected) > 0
    # The report: one flat row per target, with every figure of `linkgraph report`.
    summaries = rows_of(out / "report.parquet")
    history = rows_of(out / "report_history.parquet")
    tlds = rows_of(out / "report_tlds.parquet")
    assert [row["target"] for row in summaries] == [t.text for t in targets]
    for target, row in zip(targets, summaries, strict=True):
        document = {k: plain(v) for k, v in report(web, target, Filters()).items()}
        for key, value in document.items():
            if key in batch._REPORT_NESTED:
                for name, count in value.items():
                    assert row[f"{key}_{name}"] == count, (target.text, key, name)
            elif key == "spam_distribution":
                for band in value:
                    column = f"spam_{band['from']}_{band['to']}"
                    assert row[column] == band["referring_domains"], (target.text, column)
            elif key == "history":
                assert [
                    {"day": h["day"], "new": h["new"], "lost": h["lost"]}
                    for h in history
                    if h["target"] == target.text
                ] == value
            elif key == "tlds":
                assert [
                    {"tld": t["tld"], "referring_domains": t["referring_domains"]}
                    for t in tlds
                    if t["target"] == target.text
                ] == value
            elif key not in batch._REPORT_SKIPPED:
                assert row[key] == value, (target.text, key)
    assert summaries[3]["backlinks"] == 0 and summaries[3]["first_seen"] is None
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["files"] == {f"{name}.parquet": n for name, n in counts.items()}
    assert [t["line"] for t in manifest["targets"]] == [2, 3, 5, 6]
    assert not list(out.glob(".*"))


def test_filters_limits_and_paging_apply_per_target(
    web, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    jobs = batch.read_targets(targets_file(tmp_path))
    targets = [job.target for job in jobs]
    # Pages of one row: every answer is read by its cursor, row after row.
    monkeypatch.setattr(batch, "PAGE_ROWS", 1)
    filters = Filters(include_internal=True, with_authority=True)
    counts = batch.run_query_job(
        web, jobs, tmp_path / "all", reports=["backlinks", "refdomains"], filters=filters
    )
    for name in ("backlinks", "refdomains"):
        assert rows_of(tmp_path / "all" / f"{name}.parquet") == expected_rows(
            web, name, targets, filters
        )
    assert "source_authority" in rows_of(tmp_path / "all" / "backlinks.parquet")[0]
    assert counts["backlinks"] > len(targets)
    # --limit caps the rows of each target, not of the file.
    limited = Filters(include_internal=True, limit=1)
    batch.run_query_job(web, jobs, tmp_path / "one", reports=["backlinks"], filters=limited)
    rows = rows_of(tmp_path / "one" / "backlinks.parquet")
    assert [r["target"] for r in rows] == [
        "target.co.uk",
        "http://www.target.co.uk/a",
        "bob.github.io",
    ]


def test_jsonl_and_csv(web, tmp_path: Path) -> None:
    jobs = batch.read_targets(targets_file(tmp_path))
    batch.run_query_job(web, jobs, tmp_path / "j", reports=["refdomains"], fmt="jsonl")
    lines = (tmp_path / "j" / "refdomains.jsonl").read_text().splitlines()
    records = [json.loads(line) for line in lines]
    targets = [j.target for j in jobs]
    assert records == expected_rows(web, "refdomains", targets, Filters(), parquet=False)
    batch.run_query_job(web, jobs, tmp_path / "c", reports=["anchors"], fmt="csv")
    header = (tmp_path / "c" / "anchors.csv").read_text().splitlines()[0]
    assert header == "target,anchor,links,refdomains,dofollow_links,first_seen,last_seen"


def test_a_failed_job_leaves_the_previous_answers(
    web, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    jobs = batch.read_targets(targets_file(tmp_path))
    out = tmp_path / "out"
    batch.run_query_job(web, jobs, out, reports=["backlinks", "anchors"])
    before = {path.name: path.read_bytes() for path in out.iterdir()}

    def broken(*args: object, **kwargs: object) -> None:
        raise IndexError_("the index failed")

    monkeypatch.setattr(queries, "anchors", broken)
    with pytest.raises(IndexError_):
        batch.run_query_job(web, jobs, out, reports=["backlinks", "anchors"])
    assert {path.name: path.read_bytes() for path in out.iterdir()} == before


def test_bad_job_options(web, tmp_path: Path) -> None:
    jobs = batch.read_targets(targets_file(tmp_path))
    with pytest.raises(UsageError, match="unknown report"):
        batch.run_query_job(web, jobs, tmp_path / "x", reports=["pagerank"])
    with pytest.raises(UsageError, match="unknown format"):
        batch.run_query_job(web, jobs, tmp_path / "x", fmt="xml")
    afile = tmp_path / "afile"
    afile.write_text("")
    with pytest.raises(UsageError, match="not a directory"):
        batch.run_query_job(web, jobs, afile)
