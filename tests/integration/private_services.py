"""A private Redis and Kafka broker for fault tests, started by ``deploy/local/up``.

Fault tests kill and pause services; the shared ones (``make services``) may
be in use by other runs, so these tests never touch them. :class:`PrivateServices`
starts a pair on free loopback ports with a state directory of its own, and
stops it with ``deploy/local/down``.

The broker's jars are not downloaded again when a jar folder made from the
same ``kafka/pom.xml`` exists already (this checkout's ``.run/services``, the
shared services' ``LINKGRAPH_SERVICES_DIR``, or the main checkout of a git
worktree): it is linked in. From a fresh clone ``up`` fetches them once with
Maven, as it does for ``make services``.
"""

from __future__ import annotations

import hashlib
import os
import signal
import socket
import subprocess
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
LOCAL = ROOT / "deploy" / "local"


def free_port() -> int:
    """A TCP port nothing listens on right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def answers(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1):
            return True
    except OSError:
        return False


def _jar_folders() -> list[Path]:
    candidates = [ROOT / ".run" / "services" / "kafka-libs"]
    if os.environ.get("LINKGRAPH_SERVICES_DIR"):
        candidates.append(Path(os.environ["LINKGRAPH_SERVICES_DIR"]) / "kafka-libs")
    try:
        common = subprocess.run(
            ["git", "rev-parse", "--path-format=absolute", "--git-common-dir"],
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        candidates.append(Path(common).parent / ".run" / "services" / "kafka-libs")
    except (OSError, subprocess.CalledProcessError):
        pass  # not a git checkout: up downloads the jars
    return candidates


def reusable_jars() -> Path | None:
    """A complete jar folder built from this checkout's POM, if one exists."""
    pom = hashlib.sha256((LOCAL / "kafka" / "pom.xml").read_bytes()).hexdigest()
    for folder in _jar_folders():
        stamp = folder / ".pom-sha256"
        if stamp.is_file() and stamp.read_text().strip() == pom and any(folder.glob("kafka_*.jar")):
            return folder.resolve()
    return None


def _alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


class PrivateServices:
    """Redis (with an append-only file, so it survives kill -9) and a Kafka broker."""

    def __init__(self, state_dir: Path) -> None:
        self.state_dir = state_dir
        self.redis_port = free_port()
        self.kafka_port = free_port()
        self.controller_port = free_port()
        self.env = {
            **os.environ,
            "LINKGRAPH_SERVICES_DIR": str(state_dir),
            "REDIS_PORT": str(self.redis_port),
            "REDIS_APPENDONLY": "yes",
            "KAFKA_PORT": str(self.kafka_port),
            "KAFKA_CONTROLLER_PORT": str(self.controller_port),
            "KAFKA_HEAP_OPTS": "-Xms64m -Xmx384m",
            "KAFKA_LOG_LEVEL": "warn",
            "LINKGRAPH_SERVICES_STOP_TIMEOUT": "20",
        }

    @property
    def redis_url(self) -> str:
        return f"redis://127.0.0.1:{self.redis_port}/0"

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.kafka_port}"

    def _script(self, name: str, *args: str, timeout: float = 240) -> None:
        result = subprocess.run(
            [str(LOCAL / name), *args],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        if result.returncode != 0:
            raise RuntimeError(
                f"deploy/local/{name} {' '.join(args)} failed ({result.returncode}):\n"
                f"{result.stderr[-3000:]}"
            )

    def up(self, only: str | None = None) -> None:
        """Start both services (or ``only`` one) and wait until they answer."""
        self.state_dir.mkdir(parents=True, exist_ok=True)
        libs = self.state_dir / "kafka-libs"
        jars = reusable_jars()
        if jars is not None and not libs.exists():
            libs.symlink_to(jars, target_is_directory=True)
        self._script("up", *(["--only", only] if only else []))

    def down(self) -> None:
        self._script("down", timeout=120)

    def pid(self, service: str) -> int:
        return int((self.state_dir / f"{service}.pid").read_text().strip())

    def kill(self, service: str) -> None:
        """SIGKILL ``service`` ("redis" or "kafka") and wait until it is gone."""
        pid = self.pid(service)
        os.kill(pid, signal.SIGKILL)
        port = self.redis_port if service == "redis" else self.kafka_port
        deadline = time.monotonic() + 30
        # Neither is this process's child (Redis daemonizes, the broker runs under
        # setsid), so it cannot be waited for: watch /proc until it is gone or a
        # zombie, and the port until it is closed (a JVM's main thread turns zombie
        # while its other threads, sockets and all, are still being torn down).
        while time.monotonic() < deadline and (_alive(pid) or answers(port)):
            time.sleep(0.05)
        if answers(port):
            raise RuntimeError(f"{service} still answers on {port} after SIGKILL")
