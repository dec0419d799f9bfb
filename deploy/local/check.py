"""Does a local service answer? Standard library only, so it runs before any venv exists.

    python3 check.py redis HOST PORT [--timeout S] [--once] [--pid PID]
    python3 check.py kafka HOST PORT [--timeout S] [--once] [--pid PID]
    python3 check.py tcp   HOST PORT [--timeout S] [--once]

redis: ``PING`` answers ``+PONG``.
kafka: the broker answers ``ApiVersions`` and its ``Metadata`` lists at least one broker
(a KRaft broker lists itself only once it has registered with the controller and
caught up with the metadata log).
tcp: something accepts connections.

Without ``--once`` it retries until ``--timeout`` seconds have passed. With ``--pid`` it
stops early when that process has exited. Exit status: 0 answers, 1 does not answer
(the last error on stderr), 2 the process exited.
"""

from __future__ import annotations

import argparse
import os
import socket
import struct
import sys
import time

API_METADATA = 3
API_VERSIONS = 18
CLIENT_ID = b"linkgraph-check"


class NotReady(Exception):
    """The service is up but not ready yet (or answered something unexpected)."""


def _recv_exact(sock: socket.socket, size: int) -> bytes:
    data = bytearray()
    while len(data) < size:
        chunk = sock.recv(size - len(data))
        if not chunk:
            raise ConnectionError("connection closed by the server")
        data += chunk
    return bytes(data)


def check_tcp(host: str, port: int, timeout: float) -> None:
    with socket.create_connection((host, port), timeout=timeout):
        pass


def check_redis(host: str, port: int, timeout: float) -> None:
    with socket.create_connection((host, port), timeout=timeout) as sock:
        sock.sendall(b"PING\r\n")
        reply = b""
        while not reply.endswith(b"\r\n"):
            chunk = sock.recv(256)
            if not chunk:
                break
            reply += chunk
    if reply.strip() != b"+PONG":
        raise NotReady(f"PING answered {reply!r}")


def _kafka_call(
    sock: socket.socket, api_key: int, version: int, correlation: int, body: bytes
) -> bytes:
    """One request with header v1 (non-flexible); returns the body after the correlation id."""
    header = struct.pack(">hhih", api_key, version, correlation, len(CLIENT_ID)) + CLIENT_ID
    payload = header + body
    sock.sendall(struct.pack(">i", len(payload)) + payload)
    (size,) = struct.unpack(">i", _recv_exact(sock, 4))
    response = _recv_exact(sock, size)
    (got,) = struct.unpack(">i", response[:4])
    if got != correlation:
        raise NotReady(f"correlation id {got}, expected {correlation}")
    return response[4:]


def check_kafka(host: str, port: int, timeout: float) -> None:
    with socket.create_connection((host, port), timeout=timeout) as sock:
        # ApiVersions v0: every broker version answers it.
        body = _kafka_call(sock, API_VERSIONS, 0, 1, b"")
        (error,) = struct.unpack(">h", body[:2])
        if error:
            raise NotReady(f"ApiVersions error code {error}")
        (count,) = struct.unpack(">i", body[2:6])
        ranges = {}
        for i in range(count):
            key, low, high = struct.unpack(">hhh", body[6 + 6 * i : 12 + 6 * i])
            ranges[key] = (low, high)
        if API_METADATA not in ranges:
            raise NotReady("broker does not offer Metadata")
        low, high = ranges[API_METADATA]
        # v4..v8 are the non-flexible versions whose prefix we parse.
        version = max(low, 4)
        if version > min(high, 8):
            raise NotReady(f"no Metadata version in 4..8 (broker offers {low}..{high})")
        request = struct.pack(">ib", 0, 0)  # no topics, no auto-creation
        if version >= 8:
            request += struct.pack(">bb", 0, 0)  # no authorized operations
        body = _kafka_call(sock, API_METADATA, version, 2, request)
        (brokers,) = struct.unpack(">i", body[4:8])  # after throttle_time_ms
        if brokers < 1:
            raise NotReady("Metadata lists no broker yet")


CHECKS = {"tcp": check_tcp, "redis": check_redis, "kafka": check_kafka}


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie (exited, not yet reaped) still accepts signal 0.
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return True


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("service", choices=sorted(CHECKS))
    parser.add_argument("host")
    parser.add_argument("port", type=int)
    parser.add_argument("--timeout", type=float, default=90.0)
    parser.add_argument("--once", action="store_true")
    parser.add_argument("--pid", type=int)
    args = parser.parse_args()

    check = CHECKS[args.service]
    deadline = time.monotonic() + args.timeout
    last: BaseException | None = None
    while True:
        attempt_timeout = max(0.2, min(3.0, deadline - time.monotonic()))
        try:
            check(args.host, args.port, args.timeout if args.once else attempt_timeout)
            return 0
        except (OSError, NotReady, struct.error) as error:
            last = error
        if args.once or time.monotonic() >= deadline:
            break
        if args.pid is not None and not _alive(args.pid):
            print(f"process {args.pid} exited", file=sys.stderr)
            return 2
        time.sleep(0.5)
    print(f"{args.service} on {args.host}:{args.port}: {last}", file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main())
