"""Seeds: URLs, or bare domains meaning ``http://DOMAIN/`` (docs/crawling.md#seeds).

International names are allowed (they become punycode). A seeds file holds one
seed per line; blank lines and lines starting with ``#`` are ignored. Invalid
seeds are reported with their line number.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from linkcore.errors import SeedError, UsageError
from linkcore.urls import host_of, normalize

#: Seeds files larger than this are refused (a seeds file is a list of sites).
MAX_SEEDS_FILE_BYTES = 64 * 1024 * 1024


def parse_site(text: str) -> tuple[str, bool] | None:
    """Parse what a user types for a site: an http(s) URL or a bare name.

    Returns ``(normalized URL, bare)`` where ``bare`` is true for a name with
    no scheme and no path (``example.com``, ``bücher.de``, ``host:8080``), or
    ``None`` for anything else (other schemes, ``user@host``, spaces, junk).
    """
    site = text.strip()
    if not site or any(c.isspace() for c in site):
        return None
    bare = False
    if "://" not in site:
        name, _, port = site.partition(":")
        # "mailto:x@y" or "user@host" is not a site; "host:8080" is.
        if "@" in site or (port and not port.split("/", 1)[0].isdigit()) or not name:
            return None
        bare = not any(c in site for c in "/?#")
        site = f"http://{site}"
    url = normalize(site)
    if url is None:
        return None
    host = host_of(url)
    if not host or (not host.startswith("[") and "." not in host and host != "localhost"):
        return None
    return url, bare


def parse_seed(text: str) -> str | None:
    """The normalized start URL of one seed, or ``None`` if it is not one."""
    parsed = parse_site(text)
    return None if parsed is None else parsed[0]


def parse_seeds(lines: Iterable[str], origin: str = "argument") -> list[str]:
    """Normalize seeds in order, dropping duplicates.

    ``origin`` names the source in errors (a file name, or "argument").
    Raises :class:`SeedError` naming the first bad seed and its line number.
    """
    seeds: list[str] = []
    seen: set[str] = set()
    for number, line in enumerate(lines, start=1):
        text = line.strip()
        if not text or text.startswith("#"):
            continue
        url = parse_seed(text)
        if url is None:
            where = f"{origin}:{number}" if origin != "argument" else "seed"
            raise SeedError(f"{where}: {text[:200]!r} is not an http(s) URL or a domain name")
        if url not in seen:
            seen.add(url)
            seeds.append(url)
    return seeds


def read_seeds_file(path: str) -> list[str]:
    """Read and parse a seeds file (UTF-8); errors name the file and line."""
    file = Path(path)
    try:
        if file.is_dir():
            raise UsageError(f"seeds file {path} is a directory")
        if file.stat().st_size > MAX_SEEDS_FILE_BYTES:
            raise UsageError(f"seeds file {path} is larger than {MAX_SEEDS_FILE_BYTES} bytes")
        raw = file.read_bytes()
    except FileNotFoundError:
        raise UsageError(f"seeds file {path} does not exist") from None
    except PermissionError:
        raise UsageError(f"seeds file {path} is not readable (permission denied)") from None
    except OSError as error:
        raise UsageError(f"cannot read seeds file {path}: {error.strerror}") from None
    if b"\x00" in raw:
        raise UsageError(f"seeds file {path} is binary, not a text file of seeds")
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        line = raw[: error.start].count(b"\n") + 1
        raise SeedError(f"{path}:{line}: not valid UTF-8") from None
    return parse_seeds(text.splitlines(), origin=path)
