"""The benchmark table and the README section it rewrites (no benchmark is run)."""

from __future__ import annotations

from pathlib import Path

from bench.common import Figure, Note, alternate, median
from bench.report import BEGIN, END, markdown, update_readme

MACHINE = {"cores": "2", "cpu": "Some CPU", "ram": "8 GiB", "python": "3.11.7", "os": "Linux"}


def test_ratio_follows_the_direction_of_better() -> None:
    faster = Figure("pages", "pages/s", 300.0, 100.0, "stock", target=3.0)
    smaller = Figure("bytes", "bytes/link", 20.0, 100.0, "json", target=5.0, higher_is_better=False)
    assert faster.ratio == 3.0 and faster.met is True
    assert smaller.ratio == 5.0 and smaller.met is True
    assert Figure("x", "u", 1.0, None, "—").ratio is None
    assert Figure("x", "u", 1.0, 4.0, "b", target=0.5).met is False


def test_markdown_table_has_every_figure_note_and_the_machine() -> None:
    table = markdown(
        [Figure("crawl", "pages/s", 300.0, 100.0, "stock Scrapy", target=3.0)],
        [Note("peak RSS", 123.4, "MiB", "worker")],
        MACHINE,
    )
    assert "| crawl (pages/s) | 300 | 100 (stock Scrapy) | 3.00× | ≥ 3× | yes |" in table
    assert "- peak RSS: **123 MiB** — worker" in table
    assert "2 cores, Some CPU, 8 GiB RAM, Python 3.11.7" in table


def test_update_readme_replaces_only_the_marked_section(tmp_path: Path) -> None:
    readme = tmp_path / "README.md"
    readme.write_text(f"# title\n\n{BEGIN}\nold\n{END}\n\n## after\n", encoding="utf-8")
    assert update_readme(readme, "| new |\n")
    assert readme.read_text(encoding="utf-8") == f"# title\n\n{BEGIN}\n| new |\n{END}\n\n## after\n"
    plain = tmp_path / "PLAIN.md"
    plain.write_text("no markers\n", encoding="utf-8")
    assert not update_readme(plain, "| new |\n")
    assert plain.read_text(encoding="utf-8") == "no markers\n"


def test_alternate_runs_both_sides_equally_and_median() -> None:
    calls: list[str] = []
    mine, theirs = alternate(lambda: calls.append("a") or 1.0, lambda: calls.append("b") or 2.0, 4)
    assert mine == [1.0] * 4 and theirs == [2.0] * 4
    assert calls == ["a", "b", "b", "a", "a", "b", "b", "a"]
    assert median([3.0, 1.0, 2.0]) == 2.0 and median([]) == 0.0
