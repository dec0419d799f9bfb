"""Redis key names. Everything lives under one prefix (``LINKGRAPH_REDIS_PREFIX``,
default ``lg:``) so that several deployments, or test runs, can share a server.

With several shards (:mod:`.shards`), ``jobs``, ``running`` and ``job`` live on
the first; a job's ``queue``, ``leases``, ``bloom``, ``host`` and ``sitemaps``
counts and ``pushed``, and ``rate``, exist on every shard, each holding that
shard's hosts."""

from __future__ import annotations

from dataclasses import dataclass

from linkcore import config

DEFAULT_PREFIX = config.REDIS_KEY_PREFIX


@dataclass(frozen=True, slots=True)
class Keys:
    """Key names for one prefix."""

    prefix: str = DEFAULT_PREFIX

    @classmethod
    def from_env(cls, prefix: str | None = None) -> Keys:
        return cls(config.REDIS_PREFIX.resolve(prefix))

    @property
    def jobs(self) -> str:
        """Set of every job name."""
        return f"{self.prefix}jobs"

    @property
    def running(self) -> str:
        """Set of jobs whose frontier workers serve."""
        return f"{self.prefix}running"

    def job(self, name: str) -> str:
        """Hash: a job's settings, state and counters."""
        return f"{self.prefix}job:{name}"

    def queue(self, name: str) -> str:
        """List: the job's frontier, FIFO (LPUSH in, RPOP out)."""
        return f"{self.prefix}job:{name}:queue"

    def leases(self, name: str) -> str:
        """Sorted set: entries handed to a worker, scored by lease deadline."""
        return f"{self.prefix}job:{name}:leases"

    def bloom(self, name: str) -> str:
        """Bitmap: the job's Bloom filter of normalized URLs."""
        return f"{self.prefix}job:{name}:bloom"

    def pushed(self, name: str) -> str:
        """Integer: entries ever queued new on this shard (how a finished job is told
        from one whose work moved between shards while they were checked)."""
        return f"{self.prefix}job:{name}:pushed"

    def host(self, name: str, host: str) -> str:
        """Integer: pages the job requested from ``host`` (the per-host page cap).

        A key per host rather than one hash of hosts: a hash of a few hundred
        hosts is kept as a list that every increment scans, several times the
        cost of a key's increment."""
        return f"{self.prefix}job:{name}:host:{host}"

    def traps(self, name: str) -> str:
        """Hash: URL template -> the trap rule that declined it, for every worker of
        the job (docs/crawling.md#spider-traps)."""
        return f"{self.prefix}job:{name}:traps"

    def declined(self, name: str) -> str:
        """Hash: "HOST RULE" -> URLs the job's workers declined as a trap."""
        return f"{self.prefix}job:{name}:declined"

    def sitemaps(self, name: str, host: str) -> str:
        """Integer: sitemap files of ``host`` the job read (docs/crawling.md#sitemaps)."""
        return f"{self.prefix}job:{name}:sitemaps:{host}"

    def rate(self, host: str) -> str:
        """String: the next free request slot of a host (server time, seconds)."""
        return f"{self.prefix}rate:{host}"

    def workers(self) -> str:
        """Hash: worker id -> last heartbeat (server time)."""
        return f"{self.prefix}workers"
