"""The result store's reaper: the background loop that releases results nobody reads.

Every few seconds (a quarter of the shorter of ``ttl`` and ``idle_timeout``, between 0.05 and 5 s)
it asks the store which results are due (:meth:`Reapable.due`) and releases them:

- a result nobody started reading within ``ttl`` seconds of its creation (unread, or claimed by a
  DoGet whose stream never started because its client left first) expires;
- a result whose reader has not come back for the next batch ``idle_timeout`` seconds after it got
  the previous one is released, and its stream, should the reader ever ask for more, ends with
  DEADLINE_EXCEEDED saying why (see "Readers that stall" in
  :mod:`spark_flight_sql.flightmanager.results`).

Each released result is reported through ``on_abandoned(query_id)`` (outside the store's lock),
which tells the manager the share is over (the owner cancels the job).

The reaper holds its store weakly: a store nobody holds can be collected (and warn that it was
never closed) while its reaper runs; the loop ends when its store is gone.
"""

from __future__ import annotations

import inspect
import logging
import threading
import weakref
from collections.abc import Callable
from typing import Protocol

__all__ = ["Reapable", "Reaper"]

log = logging.getLogger(__name__)


class Reapable(Protocol):
    """What the reaper needs of the store."""

    def due(self) -> tuple[list[str], list[str]]:
        """The results due now: (expired, stalled) query ids."""
        ...

    def release(self, query_id: str) -> None:
        """Forget a result and free everything it holds."""

    def release_stalled(self, query_id: str) -> bool:
        """Release a result whose reader stalled, if it still has; whether it did."""
        ...


class Reaper:
    """One thread that releases the expired and stalled results of one store."""

    def __init__(
        self,
        store: Reapable,
        *,
        ttl: float,
        idle_timeout: float,
        on_abandoned: Callable[[str], None] | None,
    ) -> None:
        self._store = weakref.ref(store)
        self._ttl = ttl
        self._idle_timeout = idle_timeout
        # A bound method (the manager's) is held weakly too: the loop must not keep its owner alive.
        self._on_abandoned: Callable[[], Callable[[str], None] | None] | None = None
        if inspect.ismethod(on_abandoned):
            self._on_abandoned = weakref.WeakMethod(on_abandoned)
        elif on_abandoned is not None:
            callback = on_abandoned
            self._on_abandoned = lambda: callback
        self._interval = min(max(min(ttl, idle_timeout) / 4, 0.05), 5.0)
        self._closed = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        """Start the loop (once)."""
        if self._thread is not None or self._closed.is_set():
            raise RuntimeError("the reaper starts once, and not after close()")
        self._thread = threading.Thread(target=self._run, name="flight-result-reaper", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Tell the loop to end after the sweep it may be in."""
        self._closed.set()

    def close(self) -> None:
        """Stop the loop and wait (a few seconds at most) for it to end."""
        self.stop()
        if self._thread is not None:
            self._thread.join(timeout=5)

    @property
    def running(self) -> bool:
        """Whether the loop was started and not told to stop."""
        return self._thread is not None and not self._closed.is_set()

    def _run(self) -> None:
        while not self._closed.wait(self._interval):
            store = self._store()
            if store is None:
                return
            self.sweep(store)
            del store  # hold it only while sweeping

    def sweep(self, store: Reapable) -> None:
        """Release what is due now."""
        expired, stalled = store.due()
        for query_id in stalled:
            try:
                if store.release_stalled(query_id):
                    log.info(
                        "query %s: its reader took no batch for %g s; released the result",
                        query_id,
                        self._idle_timeout,
                    )
                    self._abandoned(query_id)
            except Exception:  # the reaper must outlive any one result
                log.exception("query %s: releasing a stalled result failed", query_id)
        for query_id in expired:
            log.info("query %s: nobody read the result within %.0f s; releasing it", query_id, self._ttl)
            try:
                store.release(query_id)
                self._abandoned(query_id)
            except Exception:  # the reaper must outlive any one result
                log.exception("query %s: releasing an expired result failed", query_id)

    def _abandoned(self, query_id: str) -> None:
        callback = self._on_abandoned() if self._on_abandoned is not None else None
        if callback is not None:
            callback(query_id)
