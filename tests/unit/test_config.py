"""linkcore.config: one declaration per setting, one reader of the environment, one table."""

from __future__ import annotations

import argparse
import re
from pathlib import Path

import pytest

from linkcore import config
from linkcore.errors import ConfigError

ROOT = Path(__file__).resolve().parents[2]
SHIPPED = ("linkcore", "crawler", "linkindex", "pipelines", "consumers", "linkgraph")


def test_docs_table_is_what_config_declares() -> None:
    docs = (ROOT / "docs" / "configuration.md").read_text(encoding="utf-8")
    table = "".join(line + "\n" for line in docs.splitlines() if line.startswith("|"))
    assert table == config.markdown_table(), (
        "docs/configuration.md differs from linkcore/config.py: paste the output of "
        "`python -m linkcore.config` over its table"
    )


def test_every_setting_is_a_constant_of_its_default() -> None:
    assert config.SETTINGS
    for name, setting in config.SETTINGS.items():
        assert setting.name == name
        assert getattr(config, name) == setting.default, name
        assert setting.meaning and "\n" not in setting.meaning, name
    prefixes = {name.split("_", 1)[0] for name in config.SETTINGS}
    assert prefixes == {"LINKGRAPH", "CLICKHOUSE", "REDIS", "KAFKA"}


def _flags_of(parser: argparse.ArgumentParser) -> set[str]:
    flags: set[str] = set()
    for action in parser._actions:
        flags.update(option for option in action.option_strings if option.startswith("--"))
        if isinstance(action, argparse._SubParsersAction):
            for sub in action.choices.values():
                flags |= _flags_of(sub)
    return flags


def test_every_declared_flag_is_a_flag_of_the_cli() -> None:
    from linkgraph.cli import build_parser

    cli_flags = _flags_of(build_parser())
    for setting in config.SETTINGS.values():
        for flag in setting.flags:
            assert flag in cli_flags, f"{setting.name}: {flag} is no flag of linkgraph"


def test_environment_variables_are_named_once() -> None:
    envs = [s.env for s in config.SETTINGS.values() if s.env]
    assert len(envs) == len(set(envs))
    assert all(env.startswith("LINKGRAPH_") for env in envs)


def test_only_config_reads_the_environment() -> None:
    reading = re.compile(r"os\.environ\.get\(|os\.getenv\(|os\.environ\[")
    offenders = [
        str(path.relative_to(ROOT))
        for package in SHIPPED
        for path in sorted((ROOT / package).rglob("*.py"))
        if path != ROOT / "linkcore" / "config.py"
        and reading.search(path.read_text(encoding="utf-8"))
    ]
    assert offenders == []


def test_flag_wins_over_environment_over_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("LINKGRAPH_REDIS", raising=False)
    assert config.REDIS.resolve() == config.REDIS_URL
    assert config.REDIS.resolve(None) == config.REDIS_URL
    monkeypatch.setenv("LINKGRAPH_REDIS", "")
    assert config.REDIS.resolve() == config.REDIS_URL
    monkeypatch.setenv("LINKGRAPH_REDIS", "redis://env:6379/1")
    assert config.REDIS.resolve() == "redis://env:6379/1"
    assert config.REDIS.now() == "redis://env:6379/1"
    assert config.REDIS.resolve("redis://flag:6379/2") == "redis://flag:6379/2"
    assert config.REDIS.resolve("") == "redis://env:6379/1"


def test_port_zero_from_a_flag_is_a_value(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LINKGRAPH_API_PORT", "9000")
    assert config.API_PORT.resolve() == 9000
    assert config.API_PORT.resolve(0) == 0
    assert config.API_PORT.resolve(8000) == 8000


def test_a_bad_environment_value_is_one_line(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LINKGRAPH_API_PORT", "eighty")
    with pytest.raises(ConfigError, match=r"^LINKGRAPH_API_PORT='eighty' is not a whole number$"):
        config.API_PORT.resolve()
    assert config.API_PORT.resolve(8000) == 8000
    assert config.API_PORT.now().startswith("invalid, LINKGRAPH_API_PORT=")
    monkeypatch.setenv("LINKGRAPH_API_PORT", "70000")
    with pytest.raises(ConfigError, match="is not a port"):
        config.API_PORT.resolve()


@pytest.mark.parametrize(
    ("raw", "on"),
    [("1", True), ("true", True), (" Yes ", True), ("ON", True), ("0", False), ("no", False)],
)
def test_switches(monkeypatch: pytest.MonkeyPatch, raw: str, on: bool) -> None:
    monkeypatch.setenv("LINKGRAPH_ALLOW_PRIVATE_NETWORKS", raw)
    assert config.ALLOW_PRIVATE_NETWORKS.resolve() is on
    assert config.ALLOW_PRIVATE_NETWORKS.resolve(False) is on
    assert config.ALLOW_PRIVATE_NETWORKS.resolve(True) is True
    assert config.ALLOW_PRIVATE_NETWORKS.now() == ("on" if on else "off")


def test_log_format(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("LINKGRAPH_LOG_FORMAT", raising=False)
    assert config.LOG_FORMAT.resolve() == "text"
    monkeypatch.setenv("LINKGRAPH_LOG_FORMAT", " JSON ")
    assert config.LOG_FORMAT.resolve() == "json"
    monkeypatch.setenv("LINKGRAPH_LOG_FORMAT", "yaml")
    assert config.LOG_FORMAT.resolve() == "text"


def test_help_shows_the_resolved_value(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("LINKGRAPH_CLICKHOUSE", raising=False)
    assert config.CLICKHOUSE.now() == "unset, embedded"
    monkeypatch.setenv("LINKGRAPH_DATA_DIR", "/srv/index")
    from linkgraph.cli import build_parser

    parser = build_parser()
    commands = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    text = " ".join(commands.choices["backlinks"].format_help().split())
    assert "(env LINKGRAPH_DATA_DIR; now: /srv/index)" in text
    assert "(env LINKGRAPH_CLICKHOUSE; now: unset, embedded)" in text
