"""The CLI as a user meets it: one-line errors, exit codes, the private-network guard."""

from __future__ import annotations

import http.server
import json
import os
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

LINKGRAPH = str(Path(sys.executable).parent / "linkgraph")


def run(
    *args: str, env: dict[str, str] | None = None, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    environment = {
        k: v
        for k, v in os.environ.items()
        if k not in ("http_proxy", "https_proxy", "HTTP_PROXY", "HTTPS_PROXY")
    }
    environment.update(env or {})
    return subprocess.run(
        [LINKGRAPH, *args], capture_output=True, text=True, timeout=timeout, env=environment
    )


def assert_one_line_error(result: subprocess.CompletedProcess[str], code: int, *words: str):
    assert result.returncode == code, (result.returncode, result.stderr)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "Traceback" not in result.stderr
    for word in words:
        assert word in lines[0], lines[0]


def test_unknown_flag(tmp_path: Path) -> None:
    assert_one_line_error(run("crawl", "example.com", "--bogus"), 2, "--bogus")


def test_unknown_command() -> None:
    assert_one_line_error(run("crawlx"), 2, "crawlx")


def test_no_seeds() -> None:
    assert_one_line_error(run("crawl"), 2, "no seeds")


def test_missing_and_unreadable_seeds_file(tmp_path: Path) -> None:
    assert_one_line_error(run("crawl", "--seeds", str(tmp_path / "nope.txt")), 2, "does not exist")
    binary = tmp_path / "seeds.bin"
    binary.write_bytes(b"\x00\x01\x02")
    assert_one_line_error(run("crawl", "--seeds", str(binary)), 2, "binary")


def test_invalid_seed_reports_line_number(tmp_path: Path) -> None:
    seeds = tmp_path / "seeds.txt"
    seeds.write_text("# my sites\nexample.com\n\nmailto:someone@example.com\n")
    assert_one_line_error(
        run("crawl", "--seeds", str(seeds), "--data-dir", str(tmp_path / "d")),
        2,
        f"{seeds}:4:",
        "mailto",
    )


def test_bad_numbers() -> None:
    assert_one_line_error(run("crawl", "example.com", "--max-pages", "-3"), 2, "max-pages")
    assert_one_line_error(run("crawl", "example.com", "--max-depth", "x"), 2, "max-depth")


def test_query_errors(tmp_path: Path) -> None:
    assert_one_line_error(
        run("backlinks", "example.com", "--data-dir", str(tmp_path / "none")), 2, "no index"
    )
    assert_one_line_error(run("backlinks", "mailto:x@y.z"), 2, "not an http(s) URL")
    assert_one_line_error(run("backlinks", "example.com", "--scope", "planet"), 2, "planet")
    assert_one_line_error(run("backlinks", "example.com", "--location", "middle"), 2, "middle")
    assert_one_line_error(
        run("outlinks", "example.com", "--sitewide", "--not-sitewide"), 2, "--not-sitewide"
    )


@pytest.fixture(scope="module")
def crawled(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, str]]:
    """A real crawl of a tiny site served directly on 127.0.0.1 (no proxy)."""
    hits: list[str] = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            hits.append(self.path)
            body = b"<a href='/two'>two</a><a href='http://elsewhere.example/'>out</a>"
            if self.path == "/robots.txt":
                body = b"User-agent: *\nAllow: /\n"
            self.send_response(200)
            self.send_header(
                "Content-Type", "text/plain" if self.path == "/robots.txt" else "text/html"
            )
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    data = tmp_path_factory.mktemp("cli") / "data"
    seed = f"http://127.0.0.1:{server.server_address[1]}/"
    refused = run("crawl", seed, "--data-dir", str(data), "--delay", "0", "--quiet")
    assert refused.returncode == 0, refused.stderr
    assert hits == [], "a loopback seed was fetched without --allow-private-networks"
    allowed = run(
        "crawl",
        seed,
        "--data-dir",
        str(data),
        "--delay",
        "0",
        "--quiet",
        "--allow-private-networks",
    )
    assert allowed.returncode == 0, allowed.stderr
    # The host's /sitemap.xml too: its robots.txt names no sitemap (docs/crawling.md#sitemaps).
    assert sorted(hits) == ["/", "/robots.txt", "/sitemap.xml", "/two"]
    yield data, seed
    server.shutdown()


def test_private_network_guard_and_crawl(crawled: tuple[Path, str]) -> None:
    data, seed = crawled
    result = run("backlinks", "elsewhere.example", "--data-dir", str(data), "--format", "csv")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.strip().splitlines()
    assert lines[0].startswith("source_url,source_host,source_domain,target_url")
    assert {line.split(",")[0] for line in lines[1:]} == {seed, seed + "two"}


def test_locked_data_dir(crawled: tuple[Path, str]) -> None:
    data, _ = crawled
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            textwrap.dedent(f"""
            import sys, time, clickhouse_connect
            client = clickhouse_connect.get_client(interface="chdb", path={str(data)!r})
            client.query("SELECT 1")
            print("ready", flush=True)
            time.sleep(60)
        """),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "ready"
        assert_one_line_error(
            run("stats", "--data-dir", str(data)), 1, "in use by another", f"pid {holder.pid}"
        )
        assert_one_line_error(
            run("crawl", "example.com", "--data-dir", str(data)), 1, "in use by another"
        )
    finally:
        holder.kill()
        holder.wait()
    # Nothing stored was lost: the index still answers once the holder is gone.
    time.sleep(0.5)
    result = run("stats", "--data-dir", str(data), "--format", "json")
    assert result.returncode == 0, result.stderr
    assert '"edges": 3' in result.stdout


def test_bad_cursor_and_readonly_sql(crawled: tuple[Path, str]) -> None:
    data, _ = crawled
    assert_one_line_error(
        run("backlinks", "elsewhere.example", "--data-dir", str(data), "--cursor", "!!!"),
        2,
        "cursor",
    )
    assert_one_line_error(
        run("sql", "DROP TABLE linkgraph.edges", "--data-dir", str(data)), 2, "--write"
    )
    assert_one_line_error(run("sql", "SELEC nonsense", "--data-dir", str(data)), 1, "SYNTAX")


def test_export_import_round_trip_and_bad_records(
    crawled: tuple[Path, str], tmp_path: Path
) -> None:
    data, _ = crawled
    for fmt in ("jsonl", "csv", "parquet"):
        exported = tmp_path / f"edges.{fmt}"
        result = run(
            "export", "edges", "--format", fmt, "--output", str(exported), "--data-dir", str(data)
        )
        assert result.returncode == 0, result.stderr
        target = tmp_path / f"copy-{fmt}"
        result = run("import", "edges", str(exported), "--data-dir", str(target))
        assert result.returncode == 0, result.stderr
        assert "imported 3 edges" in result.stderr
        original = run("export", "edges", "--format", "jsonl", "--data-dir", str(data)).stdout
        copied = run("export", "edges", "--format", "jsonl", "--data-dir", str(target)).stdout
        # Everything stored comes across; what the index derives from its pages (the
        # copy has none) is answered by the copy from what it holds.
        assert stored(original) == stored(copied), fmt
        assert {r["target_status"] for r in map(json.loads, original.splitlines())} == {200, None}
        assert {r["target_status"] for r in map(json.loads, copied.splitlines())} == {None}
    bad = tmp_path / "bad.jsonl"
    good = (tmp_path / "edges.jsonl").read_text().splitlines()[0]
    bad.write_text(good + "\n" + good.replace('"kind": "a"', '"kind": "ftp"') + "\n")
    assert_one_line_error(
        run("import", "edges", str(bad), "--data-dir", str(tmp_path / "b")), 2, f"{bad}:2:", "kind"
    )


#: Record fields an index derives from its own pages (docs/queries.md#records).
DERIVED = ("sitewide", "target_status", "relevance")


def stored(export: str) -> list[str]:
    """The exported records without their derived fields, sorted."""
    records = (json.loads(line) for line in export.splitlines())
    return sorted(
        json.dumps({k: v for k, v in r.items() if k not in DERIVED}, sort_keys=True)
        for r in records
    )


def test_cursors_of_the_wrong_shape_are_usage_errors(crawled: tuple[Path, str]) -> None:
    import base64

    data, _ = crawled
    for payload in ('["x"]', "[-5]", '["a", "b", "c", 99]', "[1, 2, 3, 4]"):
        token = base64.urlsafe_b64encode(payload.encode()).decode().rstrip("=")
        for command in ("backlinks", "refdomains"):
            assert_one_line_error(
                run(command, "elsewhere.example", "--data-dir", str(data), "--cursor", token),
                2,
                "cursor",
            )


def test_empty_answers_keep_their_header(crawled: tuple[Path, str]) -> None:
    data, _ = crawled
    result = run("backlinks", "nobody-links-here.org", "--data-dir", str(data), "--format", "csv")
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [
        "source_url,source_host,source_domain,target_url,target_host,target_domain,kind,anchor,"
        "image,nofollow,ugc,sponsored,link_count,first_seen,last_seen,location,text_before,"
        "text_after,sitewide,target_status,relevance,lost_reason"
    ]
    result = run("refdomains", "nobody-links-here.org", "--data-dir", str(data), "--format", "json")
    assert result.stdout.strip() == "[]"


def test_export_features_from_the_command_line(crawled: tuple[Path, str], tmp_path: Path) -> None:
    import pyarrow.parquet as pq

    from linkindex.features import columns

    data, _ = crawled
    for level in ("edge", "domain"):
        out = tmp_path / f"{level}.parquet"
        done = run(
            "export", "features", "--level", level, "--format", "parquet", "-o", str(out),
            "--data-dir", str(data),
        )  # fmt: skip
        assert done.returncode == 0, done.stderr
        table = pq.read_table(out)
        assert tuple(table.column_names) == columns(level) and table.num_rows > 0
    assert_one_line_error(
        run("export", "edges", "--level", "domain", "--data-dir", str(data)), 2, "--level"
    )


def test_rollup_from_the_command_line(crawled: tuple[Path, str]) -> None:
    data, _ = crawled
    # The crawl refreshed what it wrote: nothing is stale; --all redoes both domains.
    done = run("rollup", "--data-dir", str(data))
    assert done.returncode == 0 and "refreshed the rollups of 0 domains" in done.stderr
    done = run("rollup", "--all", "--data-dir", str(data))
    assert done.returncode == 0 and "refreshed the rollups of 2 domains" in done.stderr
    assert_one_line_error(run("rollup", "--settle", "-1", "--data-dir", str(data)), 2, "--settle")
    missing = str(data.parent / "no-index-here")
    assert_one_line_error(run("rollup", "--data-dir", missing), 2, "no index at")


def test_rank_and_query_job_from_the_command_line(
    crawled: tuple[Path, str], tmp_path: Path
) -> None:
    import json

    data, _ = crawled
    ranked = run("rank", "--data-dir", str(data), "--format", "json")
    assert ranked.returncode == 0, ranked.stderr
    summary = json.loads(ranked.stdout)
    # 127.0.0.1 links out to elsewhere.example: two domains, one dofollow domain link.
    assert (summary["domains"], summary["edges"], summary["converged"]) == (2, 1, True)
    assert "ranked 2 domains" in ranked.stderr
    domains = run("refdomains", "elsewhere.example", "--data-dir", str(data), "--format", "jsonl")
    assert domains.returncode == 0, domains.stderr
    rows = [json.loads(line) for line in domains.stdout.splitlines()]
    # The only referrer is the one domain nobody links to: authority 0.
    assert [(r["source_domain"], r["links"], r["authority"]) for r in rows] == [("127.0.0.1", 2, 0)]
    for flags, words in (
        (["--damping", "1"], "damping"),
        (["--tolerance", "0"], "--tolerance"),
        (["--max-iterations", "0"], "--max-iterations"),
        (["--harmonic-sources", "x"], "--harmonic-sources"),
    ):
        assert_one_line_error(run("rank", "--data-dir", str(data), *flags), 2, words)

    targets = tmp_path / "targets.txt"
    targets.write_text("# who links to them\nelsewhere.example\nhttp://elsewhere.example/x\n")
    out = tmp_path / "answers"
    job = run("query-job", "--targets", str(targets), "--output", str(out), "--data-dir", str(data))
    assert job.returncode == 0, job.stderr
    assert "answered 2 targets" in job.stderr
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["files"]["backlinks.parquet"] == 2
    assert manifest["files"]["report.parquet"] == 2
    targets.write_text("elsewhere.example\nmailto:someone@example.com\n")
    assert_one_line_error(
        run("query-job", "--targets", str(targets), "--output", str(out), "--data-dir", str(data)),
        2,
        "line 2",
    )
    assert_one_line_error(
        run(
            "query-job",
            "--targets",
            str(targets),
            "--output",
            str(out),
            "--reports",
            "backlinks,nope",
            "--data-dir",
            str(data),
        ),
        2,
        "--reports",
    )
    # The failed runs left the first answers whole.
    assert json.loads((out / "manifest.json").read_text()) == manifest
