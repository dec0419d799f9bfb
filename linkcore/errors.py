"""The project's one exception root.

Every error says whether retrying can help (``retriable``), in the manner of
kafka-python's ``KafkaError.retriable``: consumers retry retriable errors with
back-off and dead-letter the rest; the CLI turns any of them into one line on
stderr and a non-zero exit.
"""

from __future__ import annotations


class LinkgraphError(Exception):
    """Base of every error linkgraph raises on purpose.

    ``str(error)`` is a complete, one-line message meant for the user.
    """

    retriable = False
    #: Process exit status the CLI uses for this error.
    exit_code = 1


class UsageError(LinkgraphError):
    """Bad input from the user: flags, seeds, targets, files."""

    exit_code = 2


class SeedError(UsageError):
    """A seed that is not a crawlable http(s) URL or domain."""


class ConfigError(LinkgraphError):
    """A setting that cannot work (bad DSN, bad number, missing file)."""

    exit_code = 2


class IndexUnavailable(LinkgraphError):
    """The index cannot be reached or opened right now; retrying may help."""

    retriable = True


class IndexLocked(LinkgraphError):
    """Another process owns the embedded index's data directory."""

    retriable = True


class IndexError_(LinkgraphError):
    """The index rejected a statement (bad SQL, schema mismatch, disk full)."""


class ServiceUnavailable(LinkgraphError):
    """Redis or Kafka cannot be reached; retrying may help."""

    retriable = True
