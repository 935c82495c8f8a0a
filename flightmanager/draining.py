"""Draining a node before it stops: what it still serves, and waiting until that is over.

A node asked to stop (SIGTERM, or :meth:`FlightSqlNode.drain`) first takes no new work, then waits,
at most its grace period (``spark.flight.shutdown.gracePeriod``), until nothing it runs or holds is
left: the Spark jobs it owns, the results handed out and not read yet, the streams open on it (its
own shares, and shares it relays), and in a cluster the queries it owns or serves a share of that
are not settled. Only then does it leave the cluster. :class:`OpenStreams` counts the streams;
:func:`wait_until_idle` is the wait; :class:`DrainReport` says how it ended.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import pyarrow as pa

__all__ = ["DrainReport", "OpenStreams", "wait_until_idle"]

log = logging.getLogger(__name__)

_POLL_SECONDS = 0.2
_PROGRESS_SECONDS = 5.0


@dataclass(frozen=True)
class DrainReport:
    """How a drain ended: after ``seconds``, with ``left`` (what was still pending, by kind: empty
    when everything ended in time) and whether it was ``interrupted`` (asked to stop at once)."""

    seconds: float
    left: dict[str, int] = field(default_factory=dict)
    interrupted: bool = False

    @property
    def complete(self) -> bool:
        """Whether everything the node served ended before it stopped."""
        return not self.left

    def describe(self) -> str:
        """One line for the node's log."""
        if self.complete:
            return f"drained in {self.seconds:.1f} s: nothing left"
        why = "asked to stop at once" if self.interrupted else "the grace period ended"
        return f"stopping after {self.seconds:.1f} s ({why}) with {describe_pending(self.left)} left"


def describe_pending(pending: dict[str, int]) -> str:
    """``{"running jobs": 2, ...}`` as ``2 running jobs, ...``."""
    return ", ".join(f"{count} {kind}" for kind, count in pending.items()) or "nothing"


def wait_until_idle(
    pending: Callable[[], dict[str, int]], grace: float, stop_now: threading.Event | None = None
) -> DrainReport:
    """Wait until ``pending()`` reports nothing (kinds with a zero count do not count), ``grace``
    seconds pass, or ``stop_now`` is set; progress is logged every few seconds."""
    stop_now = stop_now or threading.Event()
    started = time.monotonic()
    deadline = started + max(0.0, grace)
    next_progress = started + _PROGRESS_SECONDS
    while True:
        left = {kind: count for kind, count in pending().items() if count}
        now = time.monotonic()
        if not left or now >= deadline or stop_now.is_set():
            return DrainReport(now - started, left, interrupted=bool(left) and stop_now.is_set())
        if now >= next_progress:
            log.info("draining: waiting %.0f s more for %s", deadline - now, describe_pending(left))
            next_progress = now + _PROGRESS_SECONDS
        stop_now.wait(min(_POLL_SECONDS, deadline - now))


class OpenStreams:
    """Counts the result streams open on a node: each one from :meth:`counted` until it ends, is
    closed, or is dropped unread."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._open = 0

    def counted(self, batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        """``batches``, counted as one open stream from now on."""
        with self._lock:
            self._open += 1
        return _CountedStream(batches, self._closed)

    def __len__(self) -> int:
        with self._lock:
            return self._open

    def _closed(self) -> None:
        with self._lock:
            self._open -= 1


class _CountedStream(Iterator[pa.RecordBatch]):
    """An iterator that calls ``on_close`` once: when exhausted, failed, closed, or collected.

    A class rather than a generator: a generator dropped before its first batch never runs its
    ``finally``, and a stream whose client went away at once would stay counted."""

    def __init__(self, batches: Iterator[pa.RecordBatch], on_close: Callable[[], None]) -> None:
        self._batches = batches
        self._on_close: Callable[[], None] | None = on_close

    def __next__(self) -> pa.RecordBatch:
        try:
            return next(self._batches)
        except BaseException:
            self.close()
            raise

    def close(self) -> None:
        on_close, self._on_close = self._on_close, None
        if on_close is None:
            return
        try:
            inner_close: Any = getattr(self._batches, "close", None)
            if inner_close is not None:
                inner_close()
        finally:
            on_close()

    def __del__(self) -> None:
        self.close()
