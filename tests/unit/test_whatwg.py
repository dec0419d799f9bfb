"""Link resolution agrees with the WHATWG URL Standard's own test cases.

The cases are web-platform-tests' ``urltestdata.json`` (shared/testdata). Each
case that concerns http(s) links is checked twice: ``resolve()`` must give the
standard's serialization (or fail where the standard fails), and normalization
must give that serialization with docs/urls.md steps 2-4 applied, rebuilt here from
the case's own URL components.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from linkcore.urls import TRACKING_PARAMETERS, normalize, resolve, resolve_and_normalize

# The suite's own copy, so that a bare clone runs it; the project's shared
# test data beside the checkout, when present, must be the same file.
TESTDATA = Path(__file__).resolve().parents[1] / "data" / "urltestdata.json"
SHARED_TESTDATA = (
    Path(__file__).resolve().parents[2].parent / "shared" / "testdata" / "urltestdata.json"
)


def _is_http(url: object) -> bool:
    return isinstance(url, str) and url.lower().startswith(("http:", "https:"))


def _load() -> list[dict[str, Any]]:
    if not TESTDATA.is_file():
        return []
    data = json.loads(TESTDATA.read_text(encoding="utf-8"))
    # Strings in the file are section comments. A case matters to links when
    # its base is http(s) (an href on a web page), when it yields an http(s)
    # URL, or when an http(s)-looking input must fail.
    return [
        case
        for case in data
        if isinstance(case, dict)
        and (
            _is_http(case.get("base"))
            or _is_http(case.get("href"))
            or (case.get("failure") and _is_http(case["input"].strip()))
        )
    ]


CASES = _load()


def _case_id(index: int, case: dict[str, Any]) -> str:
    base = case["base"]
    return f"{index}:{case['input']!r}@{base!r}" if base else f"{index}:{case['input']!r}"


PARAMS = [pytest.param(case, id=_case_id(i, case)) for i, case in enumerate(CASES)]


def test_testdata_is_present() -> None:
    assert TESTDATA.is_file(), f"WHATWG URL test data missing: expected {TESTDATA}"
    assert len(CASES) > 300, f"only {len(CASES)} http(s) cases in {TESTDATA}"


@pytest.mark.skipif(not SHARED_TESTDATA.is_file(), reason="no shared/testdata beside the checkout")
def test_testdata_copy_equals_the_shared_one() -> None:
    assert TESTDATA.read_bytes() == SHARED_TESTDATA.read_bytes(), (
        f"{TESTDATA} differs from {SHARED_TESTDATA}: copy the shared file over"
    )


# Hosts whose trailing dots stay: without them the last label is a number, so
# WHATWG parses the host as IPv4 and fails ("foo.09" is not an address).
_DOTS_KEPT = {"foo.09.."}


def _expected_normalized(case: dict[str, Any]) -> str | None:
    """docs/urls.md applied to a case's expected components, independently of linkcore.urls."""
    if case.get("failure") or case["protocol"] not in ("http:", "https:"):
        return None
    if case["hostname"] in _DOTS_KEPT:
        return str(case["href"]).split("#", 1)[0]
    userinfo = ""
    if case["username"] or case["password"]:
        userinfo = case["username"] + (":" + case["password"] if case["password"] else "") + "@"
    hostname = case["hostname"].rstrip(".") or case["hostname"]
    port = ":" + case["port"] if case["port"] else ""
    # The URL API's "search" is "" for an empty query, so a bare "?" goes, as in
    # docs/urls.md#step-4-drop-tracking-parameters.
    search = case["search"]
    if search:
        kept = [
            p
            for p in search[1:].split("&")
            if not p.split("=", 1)[0].lower().startswith("utm_")
            and p.split("=", 1)[0].lower() not in TRACKING_PARAMETERS
        ]
        search = "?" + "&".join(kept) if "&".join(kept) else ""
    return f"{case['protocol']}//{userinfo}{hostname}{port}{case['pathname']}{search}"


@pytest.mark.parametrize("case", PARAMS)
def test_resolve(case: dict[str, Any]) -> None:
    expected = None if case.get("failure") else case["href"]
    assert resolve(case["input"], case["base"]) == expected


@pytest.mark.parametrize("case", PARAMS)
def test_normalize(case: dict[str, Any]) -> None:
    expected = _expected_normalized(case)
    if not case.get("failure"):
        assert normalize(case["href"]) == expected
    assert resolve_and_normalize(case["input"], case["base"]) == expected
