"""Run the ``linkgraph`` CLI with a DNS of the test's own and a network that ends at loopback.

``python -m tests.integration.sandbox --hosts JSON --tripwire FILE -- ARGS...`` runs
``linkgraph ARGS...`` in this process after two changes to :mod:`socket`, made
before the CLI (and so Scrapy and Twisted) is imported:

- **DNS.** The names in ``--hosts`` (``{"name": ["address", ...]}``) resolve to
  their addresses, as an operator's DNS would answer them, through every
  resolver the crawl uses (``getaddrinfo`` for the private network guard and
  Twisted's name resolution, ``gethostbyname`` for Scrapy's resolver). Any
  other name is unknown (``EAI_NONAME``), so the run sends no DNS query;
  address literals and ``localhost`` resolve as usual.
- **Tripwire.** A TCP connect to anything but a loopback address is not made:
  it fails with ``ECONNREFUSED`` and appends ``ADDRESS PORT`` to ``FILE``. A
  crawler whose guard let a private name through would otherwise connect to
  that address; here the attempt is recorded for the test and nothing leaves
  the machine.

For tests only: production resolves names through the system resolver.
"""

from __future__ import annotations

import argparse
import errno
import ipaddress
import json
import socket
import sys
import threading
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

_real_getaddrinfo = socket.getaddrinfo
_real_gethostbyname = socket.gethostbyname
_real_gethostbyname_ex = socket.gethostbyname_ex
_real_connect = socket.socket.connect
_real_connect_ex = socket.socket.connect_ex


def _is_literal(host: str) -> bool:
    try:
        ipaddress.ip_address(host.strip("[]").split("%", 1)[0])
    except ValueError:
        return False
    return True


def _unknown(host: object) -> socket.gaierror:
    return socket.gaierror(socket.EAI_NONAME, f"{host}: not in the test's DNS")


def install_dns(hosts: Mapping[str, Sequence[str]]) -> None:
    """Answer name lookups from ``hosts`` (lower-case names, no trailing dot)."""

    def addresses(host: object) -> list[str] | None:
        if isinstance(host, bytes):
            host = host.decode("idna")
        if not isinstance(host, str) or _is_literal(host) or host.lower() == "localhost":
            return None
        name = host.lower().rstrip(".")
        if name not in hosts:
            raise _unknown(host)
        return list(hosts[name])

    def getaddrinfo(
        host: Any, port: Any, family: int = 0, type: int = 0, proto: int = 0, flags: int = 0
    ) -> list[Any]:
        found = addresses(host)
        if found is None:
            return _real_getaddrinfo(host, port, family, type, proto, flags)
        number = int(port) if port not in (None, "") else 0
        answers = []
        for address in found:
            v6 = ":" in address
            if family not in (0, socket.AF_INET6 if v6 else socket.AF_INET):
                continue
            sockaddr = (address, number, 0, 0) if v6 else (address, number)
            answers.append(
                (
                    socket.AF_INET6 if v6 else socket.AF_INET,
                    type or socket.SOCK_STREAM,
                    proto or socket.IPPROTO_TCP,
                    "",
                    sockaddr,
                )
            )
        if not answers:
            raise _unknown(host)
        return answers

    def gethostbyname_ex(host: str) -> tuple[str, list[str], list[str]]:
        found = addresses(host)
        if found is None:
            return _real_gethostbyname_ex(host)
        v4 = [address for address in found if ":" not in address]
        if not v4:
            raise _unknown(host)
        return host, [], v4

    def gethostbyname(host: str) -> str:
        if addresses(host) is None:
            return _real_gethostbyname(host)
        return gethostbyname_ex(host)[2][0]

    socket.getaddrinfo = getaddrinfo
    socket.gethostbyname = gethostbyname
    socket.gethostbyname_ex = gethostbyname_ex


def install_tripwire(record: Path) -> None:
    """Refuse and record every TCP connect to a non-loopback address (see module doc)."""
    lock = threading.Lock()

    def allowed(sock: socket.socket, address: Any) -> bool:
        if sock.family not in (socket.AF_INET, socket.AF_INET6):
            return True
        host = str(address[0]).strip("[]").split("%", 1)[0]
        if host.lower() == "localhost":
            return True
        try:
            return ipaddress.ip_address(host).is_loopback
        except ValueError:
            return False

    def trip(address: Any) -> None:
        with lock, record.open("a", encoding="utf-8") as stream:
            stream.write(f"{address[0]} {address[1]}\n")

    def guarded(real: Callable[[socket.socket, Any], Any], refused: Callable[[], Any]) -> Any:
        def connect(sock: socket.socket, address: Any) -> Any:
            if allowed(sock, address):
                return real(sock, address)
            trip(address)
            return refused()

        return connect

    def refuse() -> None:
        raise ConnectionRefusedError(errno.ECONNREFUSED, "refused by the test's tripwire")

    socket.socket.connect = guarded(_real_connect, refuse)  # type: ignore[method-assign]
    socket.socket.connect_ex = guarded(  # type: ignore[method-assign]
        _real_connect_ex, lambda: errno.ECONNREFUSED
    )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.integration.sandbox")
    parser.add_argument("--hosts", required=True, help='JSON: {"name": ["address", ...]}')
    parser.add_argument("--tripwire", required=True, type=Path, help="file of refused connects")
    parser.add_argument("args", nargs=argparse.REMAINDER, help="-- then the linkgraph arguments")
    options = parser.parse_args(argv)
    args = options.args[1:] if options.args[:1] == ["--"] else options.args
    install_dns({name.lower(): addresses for name, addresses in json.loads(options.hosts).items()})
    install_tripwire(options.tripwire)
    from linkgraph.cli import main as linkgraph

    return linkgraph(args)


if __name__ == "__main__":
    sys.exit(main())
