"""Whether a node takes new work, and the calls it is serving: what lets it stop without losing any.

Every public RPC runs inside :meth:`Admission.call`. A node's gate opens once the node has started
(its public port serves as soon as it is bound, before the node joined its cluster). Once :meth:`Admission.close` is called (the node
drains before stopping), a call that would start new work (a query, an update, an ingest, a new
prepared statement or transaction) is refused with UNAVAILABLE, which clients and load balancers
take as "try another node"; what finishes work already started (reading a result, closing or
cancelling something, ending a transaction) still runs. :meth:`Admission.wait_idle` waits for the
calls already inside to return: a query admitted just before the close has not reached the
FlightManager yet, and the drain must see it.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

from spark_flight_sql.flightsql.errors import Unavailable

__all__ = ["WORK_STARTING_ACTIONS", "Admission"]

WORK_STARTING_ACTIONS = frozenset(
    {"CreatePreparedStatement", "CreatePreparedSubstraitPlan", "BeginTransaction", "BeginSavepoint"}
)
"""The Flight SQL actions a draining node refuses; every other action still runs (closing, cancelling,
ending a transaction, session options, ``NodeStats``)."""


class Admission:
    """The gate of a node's public server: open until :meth:`close`, counting the calls inside."""

    def __init__(self, refusal: str | None = None) -> None:
        """Open, or closed with ``refusal`` until :meth:`open` (a node that is still starting)."""
        self._changed = threading.Condition()
        self._refusal = refusal
        self._inside = 0

    @property
    def closed(self) -> bool:
        """Whether new work is refused."""
        with self._changed:
            return self._refusal is not None

    def open(self) -> None:
        """Take new work (the node started)."""
        with self._changed:
            self._refusal = None

    def close(self, reason: str) -> None:
        """Refuse new work from now on with UNAVAILABLE and ``reason``."""
        with self._changed:
            self._refusal = reason

    @contextmanager
    def call(self, *, starts_work: bool) -> Iterator[None]:
        """Run one RPC: refused (:class:`Unavailable`) when it ``starts_work`` and the gate is closed."""
        with self._changed:
            if starts_work and self._refusal is not None:
                raise Unavailable(self._refusal)
            self._inside += 1
        try:
            yield
        finally:
            with self._changed:
                self._inside -= 1
                self._changed.notify_all()

    def wait_idle(self, timeout: float, stop_now: threading.Event | None = None) -> int:
        """Wait at most ``timeout`` seconds (less once ``stop_now`` is set) for the calls inside to
        return; how many are still inside."""
        deadline = time.monotonic() + max(0.0, timeout)
        with self._changed:
            while self._inside and not (stop_now is not None and stop_now.is_set()):
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    break
                self._changed.wait(min(remaining, 0.2))
            return self._inside
