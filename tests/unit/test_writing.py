"""The index's writer thread: one write at a time, retried with back-off while the index is away."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

import pytest

from linkcore.errors import IndexError_, IndexUnavailable, LinkgraphError
from linkindex.writing import THREAD_NAME, WriterThread, backoff, write_failure


class Flaky:
    """Work that fails with ``error`` its first ``failures`` times, then returns its attempt."""

    def __init__(self, failures: int, error: LinkgraphError | None = None) -> None:
        self.failures = failures
        self.error = error or IndexUnavailable("cannot reach the index (test)")
        self.attempts = 0
        self.threads: set[str] = set()

    def __call__(self) -> int:
        self.attempts += 1
        self.threads.add(threading.current_thread().name)
        if self.attempts <= self.failures:
            raise self.error
        return self.attempts


def recorder() -> tuple[list[float], Callable[[LinkgraphError, float], None]]:
    delays: list[float] = []
    return delays, lambda error, delay: delays.append(delay)


def test_backoff_starts_at_half_a_second_and_doubles_up_to_the_cap() -> None:
    assert [backoff(n, cap=10.0) for n in range(1, 8)] == [0.5, 1, 2, 4, 8, 10, 10]


def test_a_retriable_failure_is_retried_on_the_writer_thread() -> None:
    work = Flaky(3)
    delays, on_retry = recorder()
    with WriterThread(max_backoff=0.02) as writer:
        assert writer.write(work, on_retry) == 4
    assert delays == [0.02, 0.02, 0.02]
    assert all(name.startswith(THREAD_NAME) for name in work.threads)


def test_a_refused_write_is_not_retried() -> None:
    work = Flaky(5, IndexError_("the index is out of disk space (test)"))
    with WriterThread(max_backoff=0.01) as writer, pytest.raises(IndexError_):
        writer.write(work)
    assert work.attempts == 1


def test_other_errors_are_not_retried_and_read_as_one_line() -> None:
    def broken() -> None:
        raise ValueError("a row\nthe index cannot hold")

    with WriterThread() as writer:
        write = writer.submit(broken)
        with pytest.raises(ValueError):
            write.future.result()
    assert str(write_failure(ValueError("a\nb"))) == "index write failed: ValueError: a b"


def test_the_retry_budget_ends_the_retries() -> None:
    work = Flaky(1000)
    with WriterThread(max_backoff=0.05, retry_for=0.3) as writer:
        started = time.monotonic()
        with pytest.raises(IndexUnavailable):
            writer.write(work)
    assert 0.2 < time.monotonic() - started < 2
    assert work.attempts > 2


def test_a_stop_request_ends_the_retries_after_its_timeout() -> None:
    stop = threading.Event()
    work = Flaky(1000)
    with WriterThread(max_backoff=0.02, stop=stop, stop_timeout=0.2) as writer:
        write = writer.submit(work)
        time.sleep(0.3)
        assert not write.done()  # no budget: retried until stopped
        stop.set()
        with pytest.raises(IndexUnavailable):
            write.future.result(timeout=5)


def test_a_hurried_write_gets_one_more_attempt_without_back_off() -> None:
    work = Flaky(1000)
    with WriterThread(max_backoff=60.0) as writer:
        write = writer.submit(work)
        while write.failures < 2:
            time.sleep(0.01)  # now in a 1 s back-off
        write.hurry()
        with pytest.raises(IndexUnavailable):
            write.future.result(timeout=0.5)
    assert work.attempts == 3


def test_an_abandoned_write_ends_and_the_next_one_runs() -> None:
    work = Flaky(1000)
    with WriterThread(max_backoff=60.0) as writer:
        write = writer.submit(work)
        while not write.failures:
            time.sleep(0.01)
        after = writer.submit(lambda: "next")
        write.abandon()
        with pytest.raises(IndexUnavailable):
            write.future.result(timeout=1)
        assert after.future.result(timeout=1) == "next"


def test_closing_without_waiting_gives_up_the_write_in_back_off() -> None:
    writer = WriterThread(max_backoff=60.0)
    write = writer.submit(Flaky(1000))
    queued = writer.submit(lambda: None)
    while not write.failures:
        time.sleep(0.01)
    writer.close(wait=False)
    with pytest.raises(IndexUnavailable):
        write.future.result(timeout=1)
    assert queued.future.cancelled()


def test_retry_goes_on_counting_failures() -> None:
    delays, on_retry = recorder()
    with WriterThread(max_backoff=10.0) as writer:
        first = writer.submit(Flaky(1), on_retry)
        assert first.future.result() == 2
        # Something after the write failed (the dead-letter confirmation): written again.
        again = writer.retry(first, IndexUnavailable("dead letters not acknowledged (test)"))
        assert again.future.result() == 3
    assert delays == [0.5, 1.0]
