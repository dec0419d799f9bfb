"""A crawler that cannot be turned against its network; queries that cannot be injected.

Through the real CLI:

- loopback, private, link-local, multicast, unspecified and cloud metadata
  addresses (``169.254.169.254``, ``fd00:ec2::254``) are refused by default,
  as seeds and as names that resolve to them, and nothing reaches the network
  (the proxy's log stays empty); non-http(s) seeds are refused with one line;
- every query command takes an injection corpus as TARGET and as filter
  values: each answers or refuses in one line, leaks nothing of the SQL or the
  engine, and the index is unchanged afterwards.
"""

from __future__ import annotations

import json
import socket
from pathlib import Path

import pytest

from crawler.middlewares import PrivateNetworkMiddleware, is_public_address
from linkgraph.synthweb import ProxyServer, SyntheticWeb
from tests.integration.conftest import Cli
from tests.integration.crawls import crawl_web
from tests.integration.test_api import INJECTIONS

pytestmark = pytest.mark.integration

REFUSED = [
    "127.0.0.1",
    "127.1.2.3",
    "10.0.0.1",
    "172.16.5.4",
    "192.168.1.1",
    "100.64.0.1",
    "169.254.169.254",
    "0.0.0.0",
    "224.0.0.251",
    "255.255.255.255",
    "::1",
    "fe80::1",
    "fd00:ec2::254",
    "ff02::1",
    "::ffff:127.0.0.1",
    "::ffff:169.254.169.254",
    "::",
]


@pytest.mark.parametrize("address", REFUSED)
def test_non_public_addresses_are_not_public(address: str) -> None:
    assert not is_public_address(address)


@pytest.mark.parametrize("address", ["93.184.215.14", "2606:4700:4700::1111"])
def test_public_addresses_are_public(address: str) -> None:
    assert is_public_address(address)


def test_names_resolving_to_private_addresses_are_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    answers = {
        "metadata.internal.example": ["169.254.169.254"],
        "mixed.example": ["93.184.215.14", "10.0.0.7"],
        "v6meta.example": ["fd00:ec2::254"],
        "public.example": ["93.184.215.14"],
    }

    def getaddrinfo(host: str, *args: object, **kwargs: object) -> list[tuple[object, ...]]:
        family = socket.AF_INET6 if ":" in answers[host][0] else socket.AF_INET
        return [(family, socket.SOCK_STREAM, 6, "", (ip, 0)) for ip in answers[host]]

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    resolve = PrivateNetworkMiddleware._resolve
    # One private answer among public ones is enough to refuse (DNS rebinding).
    assert [resolve(host) for host in answers] == [False, False, False, True]


def test_private_seeds_are_refused_and_nothing_is_fetched(
    cli: Cli, web_proxy: ProxyServer, tmp_path: Path
) -> None:
    seeds = [
        "http://169.254.169.254/latest/meta-data/",
        "http://[fd00:ec2::254]/latest/meta-data/",
        "http://127.0.0.1:8080/",
        "http://10.0.0.1/",
        "http://[::1]/",
        "http://localhost/",
        "http://admin.localhost/",
        "http://224.0.0.1/",
        "http://0.0.0.0/",
        "http://[::ffff:7f00:1]/",
    ]
    web_proxy.log.clear()
    result = cli.run(*["crawl", *seeds, "--data-dir", str(tmp_path / "i"), "--delay", "0"])
    assert web_proxy.log.entries() == [], "a private address reached the network"
    assert f"{len(seeds)} refused private addresses" in result.stderr, result.stderr


@pytest.mark.parametrize(
    "seed", ["file:///etc/passwd", "ftp://example.com/", "gopher://example.com/", "javascript:x"]
)
def test_only_http_seeds(cli: Cli, seed: str, tmp_path: Path) -> None:
    import subprocess

    result = subprocess.run(
        [str(cli.exe), "crawl", seed, "--data-dir", str(tmp_path / "i")],
        env=cli.env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 2, result.stderr
    assert len(result.stderr.strip().splitlines()) == 1 and "Traceback" not in result.stderr


# -- query injection through the CLI ---------------------------------------------------------


@pytest.fixture(scope="module")
def crawled(
    cli: Cli,
    synth_web: SyntheticWeb,
    web_proxy: ProxyServer,
    tmp_path_factory: pytest.TempPathFactory,
) -> Path:
    return crawl_web(cli, synth_web, web_proxy, tmp_path_factory.mktemp("safety")).data_dir


def test_injection_strings_through_the_cli_change_nothing_and_leak_nothing(
    cli: Cli, crawled: Path
) -> None:
    import subprocess

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(cli.exe), *args, "--data-dir", str(crawled)],
            cwd=cli.workdir,
            env=cli.env,
            capture_output=True,
            text=True,
            encoding="utf-8",
            timeout=120,
        )

    def snapshot() -> str:
        result = cli.run("export", "edges", "--format", "jsonl", "--data-dir", str(crawled))
        return result.stdout

    before = snapshot()
    tried = 0
    # A NUL byte cannot be a command-line argument at all (the API test sends it).
    for hostile in [text for text in INJECTIONS if "\x00" not in text]:
        # Each query command builds its SQL in the same module: the target
        # (default and prefix scope) and the free-text filters go through three.
        commands = [
            ("backlinks", hostile),
            ("backlinks", hostile, "--scope", "prefix"),
            ("refdomains", hostile),
            ("outlinks", hostile),
            ("backlinks", "alpha-shop.com", "--anchor", hostile),
            ("backlinks", "alpha-shop.com", "--from-domain", hostile),
            ("backlinks", "alpha-shop.com", "--cursor", hostile),
        ]
        for command in commands:
            tried += 1
            result = run(*command, "--format", "json")
            if result.returncode == 0:
                json.loads(result.stdout)  # an answer, well-formed
                continue
            assert result.returncode in (1, 2), (command, result.returncode, result.stderr)
            lines = result.stderr.strip().splitlines()
            assert len(lines) == 1, (command, result.stderr)
            # The error may quote the input back; nothing of the index's side shows.
            said = lines[0].replace(hostile, "").replace(repr(hostile)[1:-1], "")
            for word in ("Traceback", "Code:", "DB::", "SELECT", "tupleElement", "{t_"):
                assert word not in said, (command, lines[0])
    assert snapshot() == before, "an injection string changed the index"
    print(f"\nCLI injection corpus: {tried} commands, index unchanged")
