"""Extra ``redis-server`` instances on free ports, for runs over several shards.

Each runs with a directory of its own under ``root`` and no persistence, and
is shut down by :meth:`RedisServers.stop`. The shared Redis of
``deploy/local/up`` stays the first shard of a test's list.
"""

from __future__ import annotations

import contextlib
import shutil
import subprocess
import time
from pathlib import Path

import redis

from tests.integration.private_services import free_port


class RedisServers:
    """``count`` redis-servers under ``root``; :attr:`urls` once started."""

    def __init__(self, root: Path, count: int) -> None:
        self.root = root
        self.ports = [free_port() for _ in range(count)]
        self.started: list[int] = []

    @property
    def urls(self) -> list[str]:
        return [f"redis://127.0.0.1:{port}/0" for port in self.ports]

    def start(self) -> RedisServers:
        binary = shutil.which("redis-server")
        if binary is None:
            raise RuntimeError("redis-server is not on PATH")
        for port in self.ports:
            folder = self.root / f"redis-{port}"
            folder.mkdir(parents=True, exist_ok=True)
            subprocess.run(
                [
                    binary,
                    "--daemonize", "yes",
                    "--bind", "127.0.0.1",
                    "--port", str(port),
                    "--save", "",
                    "--appendonly", "no",
                    "--dir", str(folder),
                    "--logfile", str(folder / "redis.log"),
                    "--pidfile", str(folder / "redis.pid"),
                ],
                check=True,
                capture_output=True,
            )  # fmt: skip
            self.started.append(port)
        deadline = time.monotonic() + 20
        for port in self.ports:
            client = redis.Redis(port=port)
            while True:
                try:
                    client.ping()
                    break
                except redis.ConnectionError:
                    if time.monotonic() > deadline:
                        raise RuntimeError(f"redis-server on {port} did not answer") from None
                    time.sleep(0.05)
        return self

    def stop(self) -> None:
        for port in self.started:
            # Shutting down closes the connection: that is the answer.
            with contextlib.suppress(redis.RedisError):
                redis.Redis(port=port).shutdown(nosave=True)
        self.started.clear()
