"""Fixtures for end-to-end runs: the test web on a loopback proxy, the real CLI.

The synthetic web runs in this process (so tests read its request log
directly); the CLI runs as a subprocess with ``http_proxy`` pointing at it.
"""

from __future__ import annotations

import copy
import json
import os
import subprocess
import sys
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path

import pytest

from tests.synthweb import ProxyServer, SyntheticWeb, build_test_web

#: Seconds one CLI command may take before the test gives up on it.
CLI_TIMEOUT = 600
#: The checkout, for running modules of the test suite in a subprocess.
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="session")
def synth_web() -> SyntheticWeb:
    """The test web (its default seed)."""
    return build_test_web()


@pytest.fixture(scope="session")
def web_proxy(synth_web: SyntheticWeb) -> Iterator[ProxyServer]:
    """The test web served on a free loopback port for the whole session."""
    with ProxyServer(synth_web) as proxy:
        yield proxy


@pytest.fixture(scope="session")
def linkgraph_exe() -> Path:
    """The ``linkgraph`` console script of the running interpreter's environment."""
    exe = Path(sys.executable).parent / "linkgraph"
    if not exe.exists():
        pytest.fail(f"{exe} not found: install the project with `pip install -e .`")
    return exe


class Cli:
    """Runs the ``linkgraph`` console script through the test web's proxy.

    Commands run in ``workdir``, away from the project root, as a user's
    would: nothing may depend on finding ``scrapy.cfg`` in the current
    directory.
    """

    def __init__(self, exe: Path, proxy: ProxyServer, workdir: Path) -> None:
        self.exe = exe
        #: What runs before ``ARGS``: the console script, or the sandbox (``sandboxed``).
        self.command = [str(exe)]
        self.env = _cli_env(proxy)
        self.workdir = workdir

    def via(self, proxy: ProxyServer) -> Cli:
        """The same CLI, fetching through ``proxy`` (another web's, e.g. a changed one)."""
        return Cli(self.exe, proxy, self.workdir)

    def sandboxed(
        self, hosts: Mapping[str, Sequence[str]], tripwire: Path, direct: Sequence[str]
    ) -> Cli:
        """The same CLI inside :mod:`tests.integration.sandbox`.

        ``hosts`` is its DNS, ``tripwire`` the file of the connects it refused
        (anything but loopback); requests to the ``direct`` hosts bypass the
        proxy (``no_proxy``), so the crawler resolves and connects to them itself.
        """
        sandboxed = copy.copy(self)
        sandboxed.command = [
            sys.executable,
            "-m",
            "tests.integration.sandbox",
            "--hosts",
            json.dumps({name: list(addresses) for name, addresses in hosts.items()}),
            "--tripwire",
            str(tripwire),
            "--",
        ]
        sandboxed.env = {**self.env, "PYTHONPATH": str(ROOT), "no_proxy": ",".join(direct)}
        return sandboxed

    def run(self, *args: str, timeout: float = CLI_TIMEOUT) -> subprocess.CompletedProcess[str]:
        """Run ``linkgraph ARGS``; fail the test with its output unless it exits 0."""
        command = [*self.command, *args]
        try:
            result = subprocess.run(
                command,
                cwd=self.workdir,
                env=self.env,
                capture_output=True,
                text=True,
                encoding="utf-8",
                timeout=timeout,
            )
        except subprocess.TimeoutExpired as error:
            pytest.fail(f"`{' '.join(command)}` did not finish in {timeout} s\n{error.stderr!r}")
        if result.returncode != 0:
            pytest.fail(
                f"`{' '.join(command)}` exited {result.returncode}\n"
                f"--- stderr (tail) ---\n{result.stderr[-4000:]}\n"
                f"--- stdout (tail) ---\n{result.stdout[-2000:]}"
            )
        return result


@pytest.fixture(scope="session")
def cli(
    linkgraph_exe: Path, web_proxy: ProxyServer, tmp_path_factory: pytest.TempPathFactory
) -> Cli:
    """The CLI, wired to the test web's proxy."""
    return Cli(linkgraph_exe, web_proxy, tmp_path_factory.mktemp("cli-cwd"))


def _cli_env(proxy: ProxyServer) -> dict[str, str]:
    """The environment for a CLI run: through ``proxy``, no stray linkgraph settings.

    ``LINKGRAPH_*`` variables of the calling shell are dropped so that a
    developer's ``LINKGRAPH_CLICKHOUSE`` cannot send the test to a real index.
    ``https_proxy`` points at the proxy too, which refuses and logs any
    ``CONNECT``: an attempt to fetch an https URL is then visible in the log.
    """
    env = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith("LINKGRAPH_")
        and name.lower() not in ("http_proxy", "https_proxy", "no_proxy", "all_proxy")
    }
    env.update(http_proxy=proxy.url, https_proxy=proxy.url, PYTHONIOENCODING="utf-8")
    return env
