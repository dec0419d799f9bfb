"""A crawler that cannot be turned against its network; queries that cannot be injected.

Through the real CLI:

- loopback, private, link-local, multicast, unspecified and cloud metadata
  addresses (``169.254.169.254``, ``fd00:ec2::254``) are refused by default,
  as seeds and as names that resolve to them, and nothing reaches the network
  (the proxy's log stays empty); non-http(s) seeds are refused with one line;
- a whole crawl of a public site whose redirects and links point inwards
  (:mod:`tests.synthweb.safetyweb`: address literals, and names of the
  site that its DNS answers with inward addresses) fetches the public pages
  and nothing else, stores every edge, redirects included, counts the
  refusals in its summary line and exits 0;
- every query command takes an injection corpus as TARGET and as filter
  values: each answers or refuses in one line, leaks nothing of the SQL or the
  engine, and the index is unchanged afterwards.
"""

from __future__ import annotations

import json
import selectors
import socket
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from crawler.middlewares import PrivateNetworkMiddleware, is_public_address
from linkgraph.demo.model import host_of
from tests.integration.api_web import INJECTIONS
from tests.integration.conftest import Cli
from tests.integration.crawls import CRAWL_FLAGS, crawl_web
from tests.synthweb import NOT_PAGES, ProxyServer, SyntheticWeb, expect
from tests.synthweb.oracle import EDGE_FIELDS, describe_edge_diff, edge_key
from tests.synthweb.safetyweb import INWARD_NAMES, build_safety_web

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


#: The test crawls' flags, but with the summary line, which counts the refusals.
SAFETY_CRAWL_FLAGS = tuple(flag for flag in CRAWL_FLAGS if flag != "--quiet")


class ConnectionWitness:
    """A loopback port that records every connection made to it, and closes each at once."""

    def __init__(self) -> None:
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = int(self._listener.getsockname()[1])
        self._peers: list[tuple[str, int]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, name="witness", daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        with selectors.DefaultSelector() as selector:
            selector.register(self._listener, selectors.EVENT_READ)
            while not self._stop.is_set():
                if selector.select(timeout=0.1):
                    self._accept()

    def _accept(self) -> None:
        connection, peer = self._listener.accept()
        self._peers.append(peer)
        connection.close()

    def close(self) -> list[tuple[str, int]]:
        """Stop listening (idempotent); every connection made, also those not yet accepted."""
        self._stop.set()
        self._thread.join()
        if self._listener.fileno() != -1:
            self._listener.setblocking(False)
            while True:
                try:
                    self._accept()
                except BlockingIOError:
                    break
            self._listener.close()
        return list(self._peers)


@pytest.fixture
def witness() -> Iterator[ConnectionWitness]:
    witness = ConnectionWitness()
    yield witness
    witness.close()


def test_a_crawl_of_a_site_pointing_inwards_fetches_only_public_pages(
    cli: Cli, witness: ConnectionWitness, tmp_path: Path
) -> None:
    web = build_safety_web(witness.port)
    seeds = tmp_path / "seeds.txt"
    seeds.write_text(web.seeds_file_text(), encoding="utf-8")
    data = tmp_path / "index"
    tripwire = tmp_path / "tripwire.txt"
    tripwire.touch()
    with ProxyServer(web) as proxy:
        # The inward names and the loopback address are fetched without the
        # proxy, as on a network without one: the crawler itself resolves and
        # would connect, so its guard is what stands between them.
        sandboxed = cli.via(proxy).sandboxed(
            INWARD_NAMES, tripwire, direct=[*INWARD_NAMES, "127.0.0.1"]
        )
        result = sandboxed.run(
            "crawl", "--seeds", str(seeds), "--data-dir", str(data), *SAFETY_CRAWL_FLAGS
        )
        requests = proxy.log.entries()
        export = cli.run("export", "edges", "--format", "jsonl", "--data-dir", str(data))
    connections = witness.close()

    # Nothing reached an inward address: not through the proxy, not directly.
    robots = {r.url for r in requests if r.url.endswith("/robots.txt")}
    assert robots == {
        "http://www.pivot-site.com/robots.txt",
        "http://docs.pivot-site.com/robots.txt",
    }
    assert {host_of(r.url) for r in requests} == {"www.pivot-site.com", "docs.pivot-site.com"}
    assert connections == [], "a connection reached the loopback port"
    assert tripwire.read_text() == "", "the crawler tried to connect to a non-loopback address"

    # Every public page was fetched, once; each page on an inward name was
    # refused and counted, and each such host named in one warning line.
    expectation = expect(web)
    inward = {url for url in expectation.fetched if host_of(url) in INWARD_NAMES}
    fetched = [r.url for r in requests if not r.url.endswith(NOT_PAGES)]
    assert sorted(fetched) == sorted(expectation.fetched - inward)
    lines = result.stderr.strip().splitlines()
    assert "Traceback" not in result.stderr
    assert (
        f"{len(expectation.robots_blocked)} blocked by robots.txt, "
        f"{len(inward)} refused private addresses; finish: finished"
    ) in lines[-1], result.stderr
    refusals = sorted(line for line in lines if "not crawling" in line)
    assert len(refusals) == len(INWARD_NAMES) + 1, result.stderr
    for host in INWARD_NAMES:
        assert sum(f"not crawling {host}" in line for line in refusals) == 1, refusals
    assert any("robots.txt of docs.pivot-site.com redirects to" in line for line in refusals)

    # Every edge is stored, the redirects into the network included.
    records = [json.loads(line) for line in export.stdout.splitlines() if line.strip()]
    got = sorted(({k: r[k] for k in EDGE_FIELDS} for r in records), key=edge_key)
    want = sorted(({k: e[k] for k in EDGE_FIELDS} for e in expectation.edges), key=edge_key)
    assert got == want, describe_edge_diff(want, got)
    redirects = {r["target_url"] for r in records if r["kind"] == "redirect"}
    assert "http://169.254.169.254/latest/meta-data/" in redirects
    assert f"http://127.0.0.1:{witness.port}/" in redirects
    print(f"\nsafety crawl: {len(fetched)} pages, {len(records)} edges\n{result.stderr}")


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
