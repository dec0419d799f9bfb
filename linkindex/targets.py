"""What a query is about: a TARGET and its scope (docs/queries.md)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from linkcore.errors import UsageError
from linkcore.seeds import parse_site
from linkcore.urls import host_of, registered_domain, reverse_host
from linkindex.filters import SCOPES

Scope = Literal["url", "host", "domain", "prefix"]


@dataclass(frozen=True, slots=True)
class Target:
    """A parsed TARGET: its normalized URL, host, registered domain and scope."""

    text: str
    url: str
    host: str
    domain: str
    rev_host: str
    scope: Scope

    @classmethod
    def parse(cls, text: str, scope: str | None = None) -> Target:
        """Parse TARGET as a URL (``http://…``) or a bare domain/host.

        A bare name (no scheme, no path) defaults to ``domain`` scope, anything
        else to ``url`` (docs/queries.md#targets-and-scopes).
        Raises :class:`UsageError` for what is not
        an http(s) URL or a host name.
        """
        raw = text.strip()
        if not raw:
            raise UsageError("TARGET is empty")
        if scope is not None and scope not in SCOPES:
            raise UsageError(f"unknown scope {scope!r} (choose from {', '.join(SCOPES)})")
        parsed = parse_site(raw)
        if parsed is None:
            raise UsageError(f"TARGET {text!r} is not an http(s) URL or a domain name")
        url, bare = parsed
        host = host_of(url)
        chosen: Scope = scope or ("domain" if bare else "url")  # type: ignore[assignment]
        return cls(raw, url, host, registered_domain(host), reverse_host(host), chosen)
