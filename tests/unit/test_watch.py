"""``linkgraph watch``: the window of changes, the checkpoint, the webhook
(docs/queries.md#watch; embedded chDB and a webhook receiver on loopback)."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from linkcore.records import Link, PageRecord
from linkgraph.cli import watch as watch_cli
from linkindex import watch
from linkindex.queries import Filters, Target

T0 = 1_790_000_000.0
DAY = 86_400.0


def write(index: Any, *pages: PageRecord) -> None:
    from linkindex.writer import EdgeWriter

    writer = EdgeWriter(index)
    for page in pages:
        writer.add(page)
    writer.flush()


def page(url: str, *links: Link, at: float, status: int = 200) -> PageRecord:
    return PageRecord(
        url=url, status=status, fetched_at=at, content_type="text/html", links=list(links)
    )


def moment(seconds: float) -> datetime:
    return datetime.fromtimestamp(seconds, UTC)


def records(changes: watch.Changes) -> list[tuple[str, str, str, str | None]]:
    at = {name: i for i, name in enumerate(changes.result.columns)}
    return [
        (row[0], row[at["source_url"]], row[at["target_url"]], row[at["lost_reason"]])
        for row in changes.result.rows
    ]


def test_new_and_lost_links_in_the_window(index) -> None:
    target = Target.parse("t.org")
    write(
        index,
        page("http://a.com/", Link("http://t.org/1"), Link("http://t.org/2"), at=T0),
        page("http://b.com/", Link("http://t.org/1"), at=T0),
        page("http://t.org/", Link("http://t.org/1"), at=T0),  # internal: not a backlink
    )
    first = watch.changes(index, target, None, moment(T0 + DAY / 2))
    assert records(first) == [
        ("new", "http://a.com/", "http://t.org/1", None),
        ("new", "http://b.com/", "http://t.org/1", None),
        ("new", "http://a.com/", "http://t.org/2", None),
    ]
    assert first.result.columns[0] == "change" and "sitewide" in first.result.columns
    # A day later: a.com dropped its link to /2, b.com is gone, c.com is new.
    write(
        index,
        page("http://a.com/", Link("http://t.org/1"), at=T0 + DAY),
        page("http://b.com/", at=T0 + DAY, status=404),
        page("http://c.com/", Link("http://t.org/3"), at=T0 + DAY),
    )
    later = watch.changes(index, target, moment(T0 + DAY / 2), moment(T0 + 2 * DAY))
    assert records(later) == [
        ("new", "http://c.com/", "http://t.org/3", None),
        ("lost", "http://b.com/", "http://t.org/1", "page_gone"),
        ("lost", "http://a.com/", "http://t.org/2", "link_removed"),
    ]
    assert (later.count("new"), later.count("lost")) == (1, 2)
    # Nothing after the day's crawl; the unchanged link of a.com is never new again.
    assert (
        watch.changes(index, target, moment(T0 + 1.5 * DAY), moment(T0 + 2 * DAY)).result.rows == []
    )
    # The end of the window is exclusive of later sightings.
    assert (
        records(watch.changes(index, target, moment(T0 + DAY / 2), moment(T0 + DAY / 2 + 1))) == []
    )
    # Filters narrow the links as in every query.
    only_c = watch.changes(
        index, target, moment(T0 + DAY / 2), moment(T0 + 2 * DAY), Filters(from_domain="c.com")
    )
    assert records(only_c) == [("new", "http://c.com/", "http://t.org/3", None)]


def test_checkpoints_per_target_and_scope(index) -> None:
    domain, host = Target.parse("t.org"), Target.parse("www.t.org", "host")
    assert watch.last_checkpoint(index, domain) is None
    watch.save_checkpoint(index, domain, moment(T0))
    watch.save_checkpoint(index, domain, moment(T0 + DAY))
    watch.save_checkpoint(index, host, moment(T0 + 2 * DAY))
    assert watch.last_checkpoint(index, domain) == moment(T0 + DAY)
    assert watch.last_checkpoint(index, host) == moment(T0 + 2 * DAY)
    assert watch.last_checkpoint(index, Target.parse("t.org", "host")) is None


class Receiver(ThreadingHTTPServer):
    """A webhook receiver that answers the statuses it is given, in turn (then 200)."""

    def __init__(self, statuses: list[int]) -> None:
        self.statuses = list(statuses)
        self.bodies: list[dict[str, Any]] = []
        self.types: list[str] = []
        super().__init__(("127.0.0.1", 0), _Handler)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/hooks/secret-token"


class _Handler(BaseHTTPRequestHandler):
    server: Receiver

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        self.server.bodies.append(json.loads(body))
        self.server.types.append(self.headers["Content-Type"])
        status = self.server.statuses.pop(0) if self.server.statuses else 200
        self.send_response(status)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def receiver(request: pytest.FixtureRequest) -> Iterator[Receiver]:
    server = Receiver(getattr(request, "param", []))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


@pytest.fixture(autouse=True)
def quick_backoff(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(watch_cli, "WEBHOOK_BACKOFF", 0.01)


DOCUMENT = {"target": "t.org", "new": 1, "lost": 0, "records": [{"change": "new"}]}


@pytest.mark.parametrize("receiver", [[503, 500]], indirect=True)
def test_webhook_retries_until_accepted(receiver: Receiver) -> None:
    watch_cli.post(receiver.url, DOCUMENT, retries=2)
    assert receiver.bodies == [DOCUMENT] * 3
    assert receiver.types == ["application/json"] * 3


@pytest.mark.parametrize("receiver", [[500] * 5], indirect=True)
def test_webhook_gives_up_in_one_line_without_the_secret(receiver: Receiver) -> None:
    with pytest.raises(watch_cli.WebhookFailed) as failed:
        watch_cli.post(receiver.url, DOCUMENT, retries=2)
    message = str(failed.value)
    assert "after 3 attempts: HTTP 500" in message and "\n" not in message
    assert "secret-token" not in message and f":{receiver.server_address[1]}" in message
    assert len(receiver.bodies) == 3


@pytest.mark.parametrize("receiver", [[404]], indirect=True)
def test_webhook_refusal_is_not_retried(receiver: Receiver) -> None:
    with pytest.raises(watch_cli.WebhookFailed, match="after 1 attempt: HTTP 404"):
        watch_cli.post(receiver.url, DOCUMENT, retries=3)
    assert len(receiver.bodies) == 1


def test_webhook_unreachable() -> None:
    with pytest.raises(watch_cli.WebhookFailed, match=r"after 2 attempts: .*refused"):
        watch_cli.post("http://127.0.0.1:1/hook", DOCUMENT, retries=1)
