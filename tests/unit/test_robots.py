"""robots.txt by RFC 9309, including requests that arrive while it is being fetched."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from scrapy import Request
from scrapy.exceptions import IgnoreRequest, StopDownload
from scrapy.http import Response, TextResponse
from scrapy.utils.test import get_crawler

from crawler.robots import RFC9309RobotsMiddleware


class FakeEngine:
    """Answers robots.txt downloads from a table, after a delay."""

    def __init__(self, answers: dict[str, Any]) -> None:
        self.answers = answers
        self.downloads: list[str] = []
        self.requests: list[Request] = []

    async def download_async(self, request: Request) -> Response:
        self.downloads.append(request.url)
        self.requests.append(request)
        await asyncio.sleep(0.01)
        answer = self.answers[request.url]
        if isinstance(answer, Exception):
            raise answer
        status, headers, body = answer
        return TextResponse(request.url, status=status, headers=headers, body=body)


def middleware(answers: dict[str, Any]) -> tuple[RFC9309RobotsMiddleware, FakeEngine]:
    crawler = get_crawler(
        settings_dict={"ROBOTSTXT_OBEY": True, "ROBOTSTXT_USER_AGENT": "linkgraph"}
    )
    engine = FakeEngine(answers)
    crawler.engine = engine  # type: ignore[assignment]
    crawler.stats = crawler._create_stats() if hasattr(crawler, "_create_stats") else crawler.stats
    return RFC9309RobotsMiddleware(crawler), engine


async def allowed(mw: RFC9309RobotsMiddleware, url: str) -> bool:
    try:
        await mw.process_request(Request(url))
    except IgnoreRequest:
        return False
    return True


ROBOTS = b"User-agent: linkgraph\nDisallow: /private\n"


def run(coroutine: Any) -> Any:
    return asyncio.run(coroutine)


def test_concurrent_requests_all_obey_robots_txt() -> None:
    mw, engine = middleware({"http://a.com/robots.txt": (200, {}, ROBOTS)})

    async def scenario() -> list[bool]:
        urls = [
            "http://a.com/private/1",
            "http://a.com/private/2",
            "http://a.com/ok",
            "http://a.com/private/3",
        ]
        return list(await asyncio.gather(*(allowed(mw, url) for url in urls)))

    assert run(scenario()) == [False, False, True, False]
    assert engine.downloads == ["http://a.com/robots.txt"]


@pytest.mark.parametrize(
    ("answer", "private_allowed", "public_allowed"),
    [
        ((404, {}, b"<html>not found</html>"), True, True),  # unavailable: allow all
        ((403, {}, b""), True, True),
        ((503, {}, b"User-agent: *\nAllow: /\n"), False, False),  # unreachable: nothing
        (ConnectionError("reset"), False, False),
        (IgnoreRequest("private address"), False, False),
    ],
)
def test_status_rules(answer: Any, private_allowed: bool, public_allowed: bool) -> None:
    mw, _ = middleware({"http://a.com/robots.txt": answer})

    async def scenario() -> tuple[bool, bool]:
        return (
            await allowed(mw, "http://a.com/private/x"),
            await allowed(mw, "http://a.com/public"),
        )

    assert run(scenario()) == (private_allowed, public_allowed)


def test_redirects_are_followed() -> None:
    mw, engine = middleware(
        {
            "http://a.com/robots.txt": (301, {"Location": "https://www.a.com/robots.txt"}, b""),
            "https://www.a.com/robots.txt": (200, {}, ROBOTS),
        }
    )
    assert run(allowed(mw, "http://a.com/private/x")) is False
    assert engine.downloads == ["http://a.com/robots.txt", "https://www.a.com/robots.txt"]


def test_redirect_loop_counts_as_unavailable() -> None:
    mw, engine = middleware(
        {
            "http://a.com/robots.txt": (302, {"Location": "/robots.txt"}, b""),
        }
    )
    assert run(allowed(mw, "http://a.com/private/x")) is True
    assert len(engine.downloads) == 6


def test_robots_download_is_capped_timed_and_rated() -> None:
    from twisted.internet.error import TimeoutError as DownloadTimeout

    from crawler.robots import MAX_ROBOTS_BYTES
    from linkcore import config

    mw, engine = middleware({"http://a.com/robots.txt": (200, {}, ROBOTS)})
    request = Request("http://a.com/x", meta={"rate": 2.5})
    run(mw.process_request(request))
    (robots,) = engine.requests
    # The job's rate and the robots timeout travel with the request; the size
    # cap is enforced while downloading, not by the page-size limit.
    assert robots.meta["rate"] == 2.5
    assert robots.meta["download_timeout"] == config.LINKGRAPH_ROBOTS_TIMEOUT
    assert robots.meta["download_maxsize"] == 0
    # The download stops once more than MAX_ROBOTS_BYTES arrived, and only then.
    chunk = b"#" * (64 * 1024)
    for _ in range(MAX_ROBOTS_BYTES // len(chunk)):
        mw._bytes_received(chunk, robots)
    with pytest.raises(StopDownload):
        mw._bytes_received(b"#", robots)
    # Page downloads are never cut by it.
    page = Request("http://a.com/big")
    for _ in range(20):
        mw._bytes_received(chunk, page)
    # A robots.txt larger than the cap is parsed up to the cap.
    huge = b"User-agent: linkgraph\nDisallow: /private\n" + b"#" * (2 * MAX_ROBOTS_BYTES)
    mw, _ = middleware({"http://a.com/robots.txt": (200, {}, huge)})
    assert run(allowed(mw, "http://a.com/private/x")) is False
    # A timeout is "unreachable": nothing on that host.
    mw, _ = middleware({"http://a.com/robots.txt": DownloadTimeout("took too long")})
    assert run(allowed(mw, "http://a.com/public")) is False
