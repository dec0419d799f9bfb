"""The backlink explorer page in headless Chromium, driven over the DevTools protocol.

Chromium runs with ``--remote-debugging-pipe``: the DevTools protocol flows
over two pipes (NUL-terminated JSON), so the test needs no websocket library
and opens no debugging port. A user's steps are replayed — type a target,
press Enter — and the page must fill its cards, tables and SVG charts with
what the hand-written page records say, page through the backlinks, ask for a
token when the server wants one, show hostile anchor text as text, and log no
error (a Content-Security-Policy violation included).

Needs Debian's ``chromium`` package (``make test`` installs it); without it
these tests fail, naming the package.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import select
import shutil
import signal
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from linkcore.records import Link, PageRecord
from linkgraph import api
from linkindex import queries, rank
from linkindex.client import Index, IndexLocation, open_index
from linkindex.filters import Filters
from tests.integration.api_web import (
    DAY,
    HOSTILE_ANCHOR,
    T0,
    TOKEN,
    Running,
    oracle_anchors,
    oracle_edges,
    oracle_refdomains,
    write_web,
)

pytestmark = [pytest.mark.integration, pytest.mark.slow]

CHROMIUM = os.environ.get("LINKGRAPH_CHROMIUM", "/usr/bin/chromium")
#: Seconds the page may take to answer a search.
PAGE_TIMEOUT = 30
#: Where the screenshots are left for a person to look at.
SCREENSHOT_DIR = Path(os.environ.get("LINKGRAPH_SCREENSHOT_DIR", "/tmp"))
BACKLINKS_PAGE = 50  # as in app.js
REFDOMAINS_PAGE = 25  # as in app.js


#: Where the home page links of the referrers sit, in turn.
PLACES = ("content", "footer", "nav", "aside", "header", "other")
#: The product page that answers 404: its backlinks are broken.
GONE = "https://www.example-shop.com/product/3"


#: Text profiles: the odd referrers write about shoes, as the shop does; the
#: even ones about a casino.
SHOES = [("shoes", 4), ("leather", 2), ("boots", 2), ("sneakers", 1), ("deals", 1)]
CASINO = [("casino", 4), ("jackpot", 2), ("poker", 2), ("bonus", 1), ("deals", 1)]
SHOP_HOME = "https://www.example-shop.com/"


def _explorer_web() -> list[PageRecord]:
    """Thirty referring domains over three weeks: enough to page and to chart."""
    pages = []
    anchors = ["Example Shop", "example shop", "great deals", "click here", "", "official site"]
    for i in range(30):
        at = T0 + (i % 21) * DAY + i * 60
        links = [
            Link(
                "https://www.example-shop.com/",
                anchor=anchors[i % len(anchors)],
                image=i % 6 == 4,
                location=PLACES[i % len(PLACES)],
                text_before=f"Site {i} recommends" if i % 4 else "",
                text_after="for shoes." if i % 3 else "",
            ),
            Link(
                f"https://www.example-shop.com/product/{i % 7}",
                anchor=f"product {i % 7}",
                location="content",
                text_before="Buy",
                text_after="today.",
            ),
        ]
        if i % 3 == 0:
            links.append(Link("https://blog.example-shop.com/post", anchor="review", nofollow=True))
        if i % 5 == 0:
            links.append(Link("https://example-shop.com/", kind="canonical"))
        pages.append(
            PageRecord(
                f"https://site{i:02d}.org/links",
                200,
                at,
                "text/html",
                links=links,
                profile=SHOES if i % 2 else CASINO,
            )
        )
    pages.append(
        PageRecord(
            "https://evil-site.net/",
            200,
            T0 + 20 * DAY,
            "text/html",
            links=[Link("https://www.example-shop.com/x", anchor=HOSTILE_ANCHOR)],
        )
    )
    # A directory linking two of the referrers: they get authority (linkgraph rank).
    pages.append(
        PageRecord(
            "https://directory.info/sites",
            200,
            T0,
            "text/html",
            links=[Link("https://site03.org/", anchor="three"), Link("https://site07.org/")],
        )
    )
    # The shop's product 3 is gone.
    pages.append(PageRecord(GONE, 404, T0, "text/html"))
    # The shop's home page, about shoes: relevance to it (docs/relevance.md).
    pages.append(PageRecord(SHOP_HOME, 200, T0, "text/html", profile=SHOES))
    # A second crawl of one page, days later: its edges keep their first sighting.
    pages.append(
        PageRecord(
            "https://site00.org/links",
            200,
            T0 + 22 * DAY,
            "text/html",
            links=[Link("https://www.example-shop.com/", anchor="Example Shop")],
            profile=CASINO,
        )
    )
    return pages


EXPLORER_WEB = _explorer_web()


def placed() -> dict[tuple[str, str], tuple[str, str, str]]:
    """Each `a` link's location and texts, from its latest sighting."""
    found: dict[tuple[str, str], tuple[str, str, str]] = {}
    for record in sorted(EXPLORER_WEB, key=lambda r: r.fetched_at):
        for link in record.links:
            if link.kind == "a":
                found[(record.url, link.target_url)] = (
                    link.location,
                    link.text_before,
                    link.text_after,
                )
    return found


def expected(domain: str = "example-shop.com") -> list[dict[str, Any]]:
    return [
        e
        for e in oracle_edges(EXPLORER_WEB)
        if e["target_domain"] == domain and e["source_domain"] != domain
    ]


# -- Chromium over a pipe ----------------------------------------------------------


class CdpError(Exception):
    pass


class Chromium:
    """Headless Chromium and a DevTools-protocol session on one page."""

    FLAGS = (
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--disable-dev-shm-usage",
        "--no-proxy-server",
        "--hide-scrollbars",
        "--remote-debugging-pipe",
    )

    def __init__(self, exe: str, profile: Path, log: Path) -> None:
        to_chrome_r, self._to_chrome = os.pipe()
        self._from_chrome, from_chrome_w = os.pipe()
        # The protocol pipes must be the child's fds 3 and 4 (bash: dash cannot
        # redirect from a two-digit fd).
        script = f'exec "$0" "$@" 3<&{to_chrome_r} 4>&{from_chrome_w}'
        self._log = open(log, "wb")  # noqa: SIM115 - closed in close()
        self.process = subprocess.Popen(
            [
                "/bin/bash",
                "-c",
                script,
                exe,
                *self.FLAGS,
                f"--user-data-dir={profile}",
                "about:blank",
            ],
            pass_fds=(to_chrome_r, from_chrome_w),
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=self._log,
            start_new_session=True,
        )
        os.close(to_chrome_r)
        os.close(from_chrome_w)
        self._buffer = b""
        self._next_id = 0
        self.events: list[dict[str, Any]] = []
        self.session: str | None = None

    def _read_message(self, deadline: float) -> dict[str, Any]:
        while b"\0" not in self._buffer:
            left = deadline - time.monotonic()
            if left <= 0:
                raise CdpError("Chromium did not answer in time")
            ready, _, _ = select.select([self._from_chrome], [], [], left)
            if ready:
                chunk = os.read(self._from_chrome, 1 << 20)
                if not chunk:
                    raise CdpError(f"Chromium exited (status {self.process.poll()})")
                self._buffer += chunk
        message, _, self._buffer = self._buffer.partition(b"\0")
        parsed: dict[str, Any] = json.loads(message)
        return parsed

    def send(
        self,
        method: str,
        params: dict[str, Any] | None = None,
        *,
        timeout: float = 30,
        browser: bool = False,
    ) -> dict[str, Any]:
        self._next_id += 1
        request: dict[str, Any] = {"id": self._next_id, "method": method, "params": params or {}}
        if self.session and not browser:
            request["sessionId"] = self.session
        os.write(self._to_chrome, json.dumps(request).encode() + b"\0")
        deadline = time.monotonic() + timeout
        while True:
            message = self._read_message(deadline)
            if message.get("id") == self._next_id:
                if "error" in message:
                    raise CdpError(f"{method}: {message['error']}")
                result: dict[str, Any] = message.get("result", {})
                return result
            if "method" in message:
                self.events.append(message)

    def open_page(self, width: int = 1280, height: int = 900) -> None:
        target = self.send("Target.createTarget", {"url": "about:blank"}, browser=True)
        attached = self.send(
            "Target.attachToTarget", {"targetId": target["targetId"], "flatten": True}, browser=True
        )
        self.session = attached["sessionId"]
        for domain in ("Page", "Runtime", "Log"):
            self.send(f"{domain}.enable")
        self.resize(width, height)

    def resize(self, width: int, height: int) -> None:
        self.send(
            "Emulation.setDeviceMetricsOverride",
            {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": width < 600},
        )

    def evaluate(self, expression: str) -> Any:
        result = self.send(
            "Runtime.evaluate",
            {"expression": expression, "returnByValue": True, "awaitPromise": True},
        )
        if "exceptionDetails" in result:
            raise CdpError(f"{expression[:80]}: {result['exceptionDetails'].get('text')}")
        return result["result"].get("value")

    def wait_for(self, expression: str, timeout: float = PAGE_TIMEOUT) -> Any:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            value = self.evaluate(expression)
            if value:
                return value
            time.sleep(0.05)
        status = self.evaluate("document.getElementById('status')?.textContent")
        raise AssertionError(f"timed out waiting for {expression!r}; page status: {status!r}")

    def navigate(self, url: str) -> None:
        self.send("Page.navigate", {"url": url})
        self.wait_for("document.readyState === 'complete' && document.body.dataset.state")

    def type_text(self, text: str) -> None:
        self.send("Input.insertText", {"text": text})

    def press(self, key: str, code: int) -> None:
        for kind in ("keyDown", "keyUp"):
            event = {"type": kind, "key": key, "code": key, "windowsVirtualKeyCode": code}
            if kind == "keyDown" and key == "Enter":
                event["text"] = "\r"
            self.send("Input.dispatchKeyEvent", event)

    def screenshot(self, path: Path, width: int) -> Path:
        """The whole page at ``width`` CSS pixels as a PNG."""
        self.resize(width, 900)
        time.sleep(0.3)  # the page redraws its charts for the new width
        self.resize(width, int(self.evaluate("document.documentElement.scrollHeight")))
        time.sleep(0.1)
        shot = self.send("Page.captureScreenshot", {"format": "png"})
        path.write_bytes(base64.b64decode(shot["data"]))
        return path

    def problems(self) -> list[str]:
        """Script errors, console errors and blocked loads the page has caused so far."""
        found = []
        for event in self.events:
            method, params = event["method"], event.get("params", {})
            if method == "Runtime.exceptionThrown":
                found.append(f"exception: {params['exceptionDetails'].get('text')}")
            elif method == "Runtime.consoleAPICalled" and params.get("type") == "error":
                found.append(f"console.error: {params.get('args')}")
            elif method == "Log.entryAdded" and params["entry"]["level"] == "error":
                entry = params["entry"]
                # The 401 the token test provokes is expected; anything else is not.
                if "401" not in entry.get("text", ""):
                    found.append(f"log: {entry.get('text')}")
            elif method == "Page.javascriptDialogOpening":
                found.append(f"dialog: {params.get('message')}")
        return found

    def close(self) -> None:
        with contextlib.suppress(CdpError, OSError):
            self.send("Browser.close", browser=True, timeout=5)
        try:
            self.process.wait(10)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(10)
        for fd in (self._to_chrome, self._from_chrome):
            with contextlib.suppress(OSError):
                os.close(fd)
        self._log.close()


@pytest.fixture(scope="module")
def chromium_exe() -> str:
    if not (os.path.isfile(CHROMIUM) and os.access(CHROMIUM, os.X_OK)):
        found = shutil.which("chromium")
        if found is None:
            pytest.fail(
                f"{CHROMIUM} not found: the web page tests need Debian's `chromium` package "
                "(apt-get install chromium; `make test` installs it), or set LINKGRAPH_CHROMIUM"
            )
        return found
    return CHROMIUM


@pytest.fixture
def browser(chromium_exe: str, tmp_path: Path) -> Iterator[Chromium]:
    chrome = Chromium(chromium_exe, tmp_path / "profile", tmp_path / "chromium.log")
    try:
        chrome.open_page()
    except CdpError as error:
        chrome.close()
        log = (tmp_path / "chromium.log").read_text(errors="replace")[-2000:]
        pytest.fail(f"Chromium did not start: {error}; its log: {log}")
    yield chrome
    chrome.close()


@pytest.fixture(scope="module")
def explorer_index(index_dir: Path) -> Iterator[Index]:
    database = f"t_web_{uuid.uuid4().hex[:10]}"
    index = open_index(IndexLocation(data_dir=str(index_dir), database=database))
    write_web(index, EXPLORER_WEB)
    rank.compute_ranks(index)
    yield index
    index.command(f"DROP DATABASE IF EXISTS {database}")


@pytest.fixture(scope="module")
def explorer(explorer_index: Index) -> Iterator[Running]:
    running = Running(api.make_server(explorer_index, "127.0.0.1", 0))
    yield running
    running.close()


@pytest.fixture(scope="module")
def guarded_explorer(explorer_index: Index) -> Iterator[Running]:
    running = Running(api.make_server(explorer_index, "127.0.0.1", 0, token=TOKEN))
    yield running
    running.close()


def search(browser: Chromium, target: str) -> None:
    """Type TARGET into the search box and press Enter, as a user would."""
    browser.evaluate("document.getElementById('target').focus()")
    browser.evaluate("document.getElementById('target').select()")
    browser.type_text(target)
    browser.press("Enter", 13)


def texts(browser: Chromium, selector: str) -> list[str]:
    found: list[str] = browser.evaluate(
        f"Array.from(document.querySelectorAll({json.dumps(selector)}), e => e.textContent.trim())"
    )
    return found


# -- the tests ---------------------------------------------------------------------


def test_search_fills_cards_tables_and_charts(
    browser: Chromium, explorer: Running, explorer_index: Index
) -> None:
    browser.navigate(f"{explorer.url}/")
    assert browser.evaluate("document.body.dataset.state") == "idle"
    assert browser.evaluate("document.activeElement.id") == "target"
    search(browser, "example-shop.com")
    browser.wait_for("document.body.dataset.state === 'ready'")

    edges = expected()
    domains = oracle_refdomains(edges)
    assert browser.evaluate("location.hash") == "#target=example-shop.com"
    assert browser.evaluate("document.getElementById('card-backlinks').textContent") == str(
        len(edges)
    )
    assert browser.evaluate("document.getElementById('card-refdomains').textContent") == str(
        len(domains)
    )
    dofollow = sum(not e["nofollow"] for e in edges) / len(edges)
    assert browser.evaluate("document.getElementById('card-dofollow').textContent") == (
        f"{round(dofollow * 100, 1):g}%"
    )
    assert (
        browser.evaluate("document.getElementById('card-seen').textContent")
        == min(e["first_seen"] for e in edges)[:10]
    )

    # Referring domains: the first page, in the API's order, then "Show more".
    shown = texts(browser, "#refdomains-table tbody tr td:first-child")
    assert shown == [d["source_domain"] for d in domains][:REFDOMAINS_PAGE]
    browser.evaluate("document.getElementById('refdomains-more').click()")
    browser.wait_for(
        f"document.querySelectorAll('#refdomains-table tbody tr').length === {len(domains)}"
    )
    assert texts(browser, "#refdomains-table tbody tr td:first-child") == [
        d["source_domain"] for d in domains
    ]
    # Each referring domain's authority, as `linkgraph rank` stored it.
    scores = queries.authority_for(explorer_index, [d["source_domain"] for d in domains])
    assert texts(browser, "#refdomains-table tbody tr td:nth-child(2)") == [
        str(scores[d["source_domain"]]) for d in domains
    ]
    assert {d for d, score in scores.items() if score} == {"site03.org", "site07.org"}
    assert browser.evaluate("document.getElementById('refdomains-more').hidden") is True
    # Each one's spam score, its signals on hover and once expanded.
    answer = queries.refdomains(explorer_index, queries.Target.parse("example-shop.com"), Filters())
    at = answer.columns.index("spam_score")
    spam = {row[0]: (row[at], row[at + 1]) for row in answer.rows}
    assert texts(
        browser,
        "#refdomains-table tbody tr td:nth-child(3) summary, "
        "#refdomains-table tbody tr td:nth-child(3) > span",
    ) == [str(spam[d["source_domain"]][0]) for d in domains]
    cells = browser.evaluate(
        "Array.from(document.querySelectorAll('#refdomains-table tbody tr td:nth-child(3)'), "
        "td => [td.querySelector('details')?.title || '', "
        "Array.from(td.querySelectorAll('li'), li => li.dataset.signal)])"
    )
    assert any(signals for _, signals in cells)
    for (title, names), d in zip(cells, domains, strict=True):
        listed = [s["signal"] for s in spam[d["source_domain"]][1]]
        assert names == listed, d
        assert all(name.replace("_", " ") in title for name in names)
    browser.evaluate("document.querySelector('#refdomains-table td.spam details summary').click()")
    assert browser.evaluate("document.querySelector('#refdomains-table td.spam details').open")

    # Anchors: one bar per anchor (top ten), longest for the most referring domains.
    anchors = oracle_anchors(edges)[:10]
    bars = browser.evaluate(
        "Array.from(document.querySelectorAll('#anchors-chart svg rect.bar'), r => "
        "[r.dataset.anchor, Number(r.dataset.refdomains), Number(r.getAttribute('width'))])"
    )
    assert [(a, n) for a, n, _ in bars] == [(a["anchor"], a["refdomains"]) for a in anchors]
    widths = [w for _, _, w in bars]
    assert widths == sorted(widths, reverse=True) and widths[0] > widths[-1] > 0
    assert (
        browser.evaluate("document.querySelector('#anchors-chart svg').getAttribute('role')")
        == "img"
    )

    # New links per day: a bar on each day links were first seen, sized by their number.
    per_day: dict[str, int] = {}
    for edge in edges:
        per_day[edge["first_seen"][:10]] = per_day.get(edge["first_seen"][:10], 0) + 1
    days = browser.evaluate(
        "Object.fromEntries(Array.from(document.querySelectorAll('#days-chart svg g[data-day]'), "
        "g => [g.dataset.day, Number(g.querySelector('rect.bar')?.dataset.count || 0)]))"
    )
    assert {d: n for d, n in days.items() if n} == per_day
    assert len(days) >= len(per_day)  # days without links are drawn empty
    assert "lost links" in browser.evaluate("document.getElementById('days-legend').textContent")

    # Backlinks: pages of fifty, forwards and back.
    assert len(texts(browser, "#backlinks-table tbody tr")) == BACKLINKS_PAGE
    first_page = texts(browser, "#backlinks-table tbody tr td:first-child")
    browser.evaluate("document.getElementById('backlinks-next').click()")
    browser.wait_for("document.getElementById('backlinks-page').textContent.startsWith('Page 2')")
    second_page = texts(browser, "#backlinks-table tbody tr td:first-child")
    assert len(second_page) == len(edges) - BACKLINKS_PAGE
    assert browser.evaluate("document.getElementById('backlinks-next').disabled") is True
    browser.evaluate("document.getElementById('backlinks-prev').click()")
    browser.wait_for("document.getElementById('backlinks-page').textContent.startsWith('Page 1')")
    assert texts(browser, "#backlinks-table tbody tr td:first-child") == first_page
    assert sorted(first_page + second_page) == sorted(e["source_url"] for e in edges)

    assert browser.problems() == []
    path = browser.screenshot(SCREENSHOT_DIR / "linkgraph-explorer.png", 1280)
    assert path.stat().st_size > 10_000
    browser.screenshot(SCREENSHOT_DIR / "linkgraph-explorer-narrow.png", 390)
    overflow = browser.evaluate("document.documentElement.scrollWidth > window.innerWidth")
    assert overflow is False, "the page scrolls sideways on a narrow screen"


def test_hostile_anchor_text_is_shown_as_text(browser: Chromium, explorer: Running) -> None:
    browser.navigate(f"{explorer.url}/#target=https://www.example-shop.com/x")
    browser.wait_for("document.body.dataset.state === 'ready'")
    assert texts(browser, "#backlinks-table tbody td.anchor") == [HOSTILE_ANCHOR]
    assert browser.evaluate("document.querySelectorAll('#main img').length") == 0
    bar = browser.evaluate("document.querySelector('#anchors-chart rect.bar').dataset.anchor")
    assert bar == HOSTILE_ANCHOR
    assert browser.problems() == []


def test_bad_target_shows_the_api_error(browser: Chromium, explorer: Running) -> None:
    browser.navigate(f"{explorer.url}/")
    search(browser, "mailto:someone@example.com")
    browser.wait_for("document.body.dataset.state === 'error'")
    status = browser.evaluate("document.getElementById('status').textContent")
    assert "not an http(s) URL" in status
    assert browser.evaluate("document.getElementById('status').classList.contains('error')")


def test_the_page_asks_for_a_token(browser: Chromium, guarded_explorer: Running) -> None:
    browser.navigate(f"{guarded_explorer.url}/")
    search(browser, "example-shop.com")
    browser.wait_for("document.getElementById('token-dialog').open")
    assert browser.evaluate("document.activeElement.id") == "token-input"
    browser.type_text("not-the-token-0123456789")
    browser.press("Enter", 13)
    browser.wait_for(
        "document.getElementById('token-dialog').open && "
        "document.getElementById('token-error').textContent.includes('not accepted')"
    )
    browser.type_text(TOKEN)
    browser.press("Enter", 13)
    browser.wait_for("document.body.dataset.state === 'ready'")
    assert browser.evaluate("sessionStorage.getItem('linkgraph.token')") == TOKEN
    assert browser.evaluate("document.getElementById('card-backlinks').textContent") == str(
        len(expected())
    )
    assert browser.evaluate("document.getElementById('forget-token').hidden") is False
    assert browser.problems() == []


def test_escape_on_the_token_dialog_reports_the_need(
    browser: Chromium, guarded_explorer: Running
) -> None:
    browser.navigate(f"{guarded_explorer.url}/#target=example-shop.com")
    browser.wait_for("document.getElementById('token-dialog').open")
    browser.press("Escape", 27)
    browser.wait_for("document.body.dataset.state === 'error'")
    assert "token" in browser.evaluate("document.getElementById('status').textContent")


def test_backlinks_show_where_they_sit_and_the_broken_ones(
    browser: Chromium, explorer: Running
) -> None:
    browser.navigate(f"{explorer.url}/#target=example-shop.com")
    browser.wait_for("document.body.dataset.state === 'ready'")
    edges, where = expected(), placed()

    def location(edge: dict[str, Any]) -> str:
        return (
            where[(edge["source_url"], edge["target_url"])][0] if edge["kind"] == "a" else "other"
        )

    # The breakdown: backlinks per location, every location listed.
    counts = browser.evaluate(
        "Object.fromEntries(Array.from(document.querySelectorAll('#locations-chart li'), "
        "li => [li.dataset.location, Number(li.dataset.count)]))"
    )
    assert counts == {place: sum(location(e) == place for e in edges) for place in PLACES}
    assert sum(counts.values()) == len(edges)
    broken = [e for e in edges if e["target_url"] == GONE]
    assert len(broken) == 4
    note = browser.evaluate("document.getElementById('broken-note').textContent")
    assert note == f"{len(broken)} broken"

    # Each backlink: its location, and the text around its anchor, the anchor highlighted.
    rows = browser.evaluate(
        "Array.from(document.querySelectorAll('#backlinks-table tbody tr'), tr => ["
        "tr.dataset.source, tr.dataset.target, tr.dataset.kind, "
        "tr.querySelector('td.location .where').textContent, "
        "tr.querySelector('td.context .context-before')?.textContent ?? null, "
        "tr.querySelector('td.context mark')?.textContent ?? null, "
        "tr.querySelector('td.context .context-after')?.textContent ?? null, "
        "Array.from(tr.querySelectorAll('td.location .flag'), f => f.textContent)])"
    )
    assert len(rows) == BACKLINKS_PAGE
    anchors = {(e["source_url"], e["target_url"], e["kind"]): e["anchor"] for e in edges}
    for source, target, kind, shown, before, mark, after, flags in rows:
        if kind != "a":
            assert (shown, mark) == ("other", None)
            continue
        place, text_before, text_after = where[(source, target)]
        assert shown == place
        assert before == (f"{text_before} " if text_before else "")
        assert mark == (anchors[(source, target, kind)] or "(no text)")
        assert after == (f" {text_after}" if text_after else "")
        assert ("broken 404" in flags) is (target == GONE)

    # The broken view: the same search, broken backlinks only.
    browser.evaluate("document.getElementById('broken-view').click()")
    browser.wait_for(
        "location.hash.includes('broken=1') && document.body.dataset.state === 'ready' && "
        f"document.querySelectorAll('#backlinks-table tbody tr').length === {len(broken)}"
    )
    assert browser.evaluate("document.getElementById('broken').checked") is True
    assert sorted(texts(browser, "#backlinks-table tbody tr td:first-child")) == sorted(
        e["source_url"] for e in broken
    )
    assert set(texts(browser, "#backlinks-table tbody td.location .flag.broken")) == {"broken 404"}
    assert browser.evaluate("document.getElementById('card-backlinks').textContent") == str(
        len(broken)
    )
    assert browser.evaluate("document.getElementById('broken-view').hidden") is True
    assert browser.problems() == []


def test_backlinks_show_their_relevance_and_domains_their_topics(
    browser: Chromium, explorer: Running
) -> None:
    browser.navigate(f"{explorer.url}/#target=example-shop.com")
    browser.wait_for("document.body.dataset.state === 'ready'")
    rows = browser.evaluate(
        "Array.from(document.querySelectorAll('#backlinks-table tbody tr'), tr => ["
        "tr.dataset.source, tr.dataset.target, tr.dataset.kind, "
        "tr.querySelector('td.relevance').textContent, tr.querySelector('td.relevance').title])"
    )
    assert rows
    shown = {}
    for source, target, kind, text, title in rows:
        if target == SHOP_HOME and kind == "a" and source.startswith("https://site"):
            number = int(source[len("https://site") :][:2])
            shown[number] = float(title)
            assert text == f"{float(title):.2f}"
        elif source.startswith("https://evil-site.net"):
            assert (text, title) == ("–", "unknown")  # a source page without a profile
    assert shown
    shoes = [value for number, value in shown.items() if number % 2]
    casino = [value for number, value in shown.items() if not number % 2]
    assert min(shoes) > 0.9 and max(casino) < 0.2, shown
    topics = browser.evaluate(
        "Object.fromEntries(Array.from(document.querySelectorAll('#refdomains-table tbody tr'), "
        "tr => [tr.querySelector('td').textContent, tr.querySelector('td.topics').textContent]))"
    )
    sites = {domain: words for domain, words in topics.items() if domain.startswith("site")}
    assert sites
    for domain, words in sites.items():
        assert words.split(", ")[0] == ("shoes" if int(domain[4:6]) % 2 else "casino"), topics
    assert all(words == "–" for domain, words in topics.items() if domain not in sites)
    assert browser.problems() == []
