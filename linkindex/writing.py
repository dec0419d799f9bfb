"""The one way batches reach the index: a writer thread that retries while the index is away.

:class:`WriterThread` owns one thread that runs the writes handed to it
(:meth:`~WriterThread.submit`), one at a time and in the order they came.
The one-process crawl, the Kafka consumer and ``linkgraph import`` write
through it; each waits for a write's outcome on :attr:`Write.future`, a
:class:`concurrent.futures.Future`, without blocking what it does meanwhile
(the crawl wraps it in a Deferred, the consumer polls Kafka).

A write that fails with a retriable :class:`~linkcore.errors.LinkgraphError`
(the index unavailable) is run again, whole, after a back-off: 0.5 s, doubling
up to ``max_backoff`` (``CLICKHOUSE_MAX_BACKOFF``). Writes are idempotent, so a
write that failed part-way may be run again. A write gives up, and its future
raises the last error, when:

* the error is not retriable (disk full, schema mismatch); any other exception
  (a row the index cannot hold, or a bug) is not retriable either and is
  raised as it is (:func:`write_failure` turns it into one line);
* the next attempt would start after the write's deadline: ``retry_for``
  seconds after its first attempt (the crawl's budget), or ``stop_timeout``
  seconds after a failure seen once ``stop`` was set (the consumer's stop);
* it was told to (:meth:`Write.abandon`, :meth:`WriterThread.close` without
  waiting), or hurried (:meth:`Write.hurry`) and its last attempt failed.

The retry waits on the writer thread, never on the caller's: the crawl's
reactor goes on fetching, the consumer goes on polling (paused).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from types import TracebackType
from typing import Generic, TypeVar

from linkcore import config
from linkcore.errors import IndexError_, LinkgraphError

log = logging.getLogger(__name__)

T = TypeVar("T")

#: Seconds before the second attempt; each further wait doubles, up to the cap.
FIRST_BACKOFF = 0.5
#: Name of the writer thread (``linkgraph-index-writer_0``).
THREAD_NAME = "linkgraph-index-writer"
# How often a back-off looks at its write's flags (hurried, abandoned, closing).
_WAKE_SECONDS = 0.1


def backoff(failures: int, cap: float = config.CLICKHOUSE_MAX_BACKOFF) -> float:
    """Seconds to wait after the ``failures``-th failed attempt in a row (1 for the first)."""
    return min(cap, FIRST_BACKOFF * 2.0 ** max(failures - 1, 0))


def write_failure(error: BaseException) -> LinkgraphError:
    """``error`` of a write as a one-line :class:`~linkcore.errors.LinkgraphError`:
    itself, or (a row the index cannot hold, or a bug) an :class:`IndexError_`."""
    if isinstance(error, LinkgraphError):
        return error
    return IndexError_(
        f"index write failed: {type(error).__name__}: {' '.join(str(error).split())[:300]}"
    )


#: Called on the writer thread before each retry: the error and the seconds until it.
OnRetry = Callable[[LinkgraphError, float], None]


class Write(Generic[T]):
    """One piece of work handed to a :class:`WriterThread`; ``future`` is its outcome.

    ``failures`` counts the failed attempts so far (a retry of the same work
    with :meth:`WriterThread.retry` goes on counting).
    """

    def __init__(self, work: Callable[[], T], on_retry: OnRetry | None, failures: int = 0) -> None:
        self.work = work
        self.on_retry = on_retry
        self.failures = failures
        self.future: Future[T]
        self.deadline: float | None = None
        self.stop_deadline: float | None = None
        self.hurried = False
        self.abandoned = False

    def done(self) -> bool:
        return self.future.done()

    def hurry(self) -> None:
        """Finish now, without back-off: the attempt under way, or else the next, is the last."""
        self.hurried = True

    def abandon(self) -> None:
        """No attempt after the one under way (if any): nobody waits for this write any more."""
        self.abandoned = True


class WriterThread:
    """The thread that writes to the index, one write at a time (see module doc).

    ``retry_for`` is a write's retry budget in seconds (None: no budget).
    Once ``stop`` is set, a write keeps retrying for ``stop_timeout`` seconds
    more at most. The thread is started on the first write; :meth:`close`
    ends it.
    """

    def __init__(
        self,
        *,
        max_backoff: float = config.CLICKHOUSE_MAX_BACKOFF,
        retry_for: float | None = None,
        stop: threading.Event | None = None,
        stop_timeout: float = 0.0,
    ) -> None:
        self.max_backoff = max_backoff
        self.retry_for = retry_for
        self.stop = stop
        self.stop_timeout = stop_timeout
        self._closing = False
        self._threads = ThreadPoolExecutor(max_workers=1, thread_name_prefix=THREAD_NAME)

    def submit(self, work: Callable[[], T], on_retry: OnRetry | None = None) -> Write[T]:
        """Hand ``work`` to the thread, after the writes before it; ``on_retry``
        is told of each retry (see :data:`OnRetry`)."""
        return self._start(Write(work, on_retry), None)

    def retry(self, write: Write[T], error: LinkgraphError) -> Write[T]:
        """Run ``write``'s work again, as if its last attempt had failed with
        ``error`` (something done after it failed): judged and backed off as any failure."""
        again = Write(write.work, write.on_retry, write.failures + 1)
        again.deadline, again.stop_deadline = write.deadline, write.stop_deadline
        return self._start(again, error)

    def write(self, work: Callable[[], T], on_retry: OnRetry | None = None) -> T:
        """Run ``work`` on the thread and wait for it; raises what the write gave up with."""
        return self.submit(work, on_retry).future.result()

    def close(self, *, wait: bool = True) -> None:
        """End the thread. With ``wait``, once every write handed over is done;
        else writes not started are cancelled and the one under way gives up
        after its attempt (a running insert cannot be interrupted)."""
        if not wait:
            self._closing = True
        self._threads.shutdown(wait=wait, cancel_futures=not wait)

    def __enter__(self) -> WriterThread:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    def _start(self, write: Write[T], error: LinkgraphError | None) -> Write[T]:
        write.future = self._threads.submit(self._run, write, error)
        return write

    def _run(self, write: Write[T], error: LinkgraphError | None) -> T:
        """The write's attempts, on the writer thread (see module doc)."""
        if write.deadline is None and self.retry_for is not None:
            write.deadline = time.monotonic() + self.retry_for
        while True:
            if error is not None:
                self._back_off(write, error)
            try:
                return write.work()
            except LinkgraphError as failure:
                write.failures += 1
                error = failure

    def _back_off(self, write: Write[T], error: LinkgraphError) -> None:
        """Wait before the next attempt at ``write``; raises ``error`` to give up instead."""
        if not error.retriable or write.hurried or self._given_up(write):
            raise error
        now = time.monotonic()
        if self.stop is not None and self.stop.is_set() and write.stop_deadline is None:
            write.stop_deadline = now + self.stop_timeout
        delay = backoff(write.failures, self.max_backoff)
        deadlines = [d for d in (write.deadline, write.stop_deadline) if d is not None]
        if deadlines and now + delay > min(deadlines):
            raise error
        if write.on_retry is not None:
            write.on_retry(error, delay)
        until = now + delay
        while (left := until - time.monotonic()) > 0 and not write.hurried:
            if self._given_up(write):
                raise error
            time.sleep(min(left, _WAKE_SECONDS))
        if self._given_up(write):
            raise error

    def _given_up(self, write: Write[T]) -> bool:
        return write.abandoned or self._closing
