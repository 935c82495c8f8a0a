"""One node's share of every distributed result: what executors pushed, until a client reads it.

Executors push each partition attempt as one stream; it is staged, and becomes readable only when
the driver confirms that Spark counted that task attempt as successful (a completed push alone
proves nothing: see ``task_listener``). The first confirmed attempt wins and every other attempt of
that partition is discarded, so retried and speculative tasks never duplicate rows and rows of a
failed attempt are never served. A reader gets the node's partitions in partition order,
each batch freed as soon as it is handed out.
"""

from __future__ import annotations

import hmac
import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field

import pyarrow as pa

from flightmanager.errors import (
    FlightManagerError,
    PushRejectedError,
    QueryCancelledError,
    StreamTimeoutError,
    UnknownTicketError,
)
from flightmanager.model import QueryState

log = logging.getLogger(__name__)

# How often a blocked reader looks whether its client went away.
_CANCEL_CHECK_SECONDS = 0.25


@dataclass
class _Result:
    query_id: str
    schema: pa.Schema
    secret: bytes
    created: float
    partitions: list[int] | None = None
    committed: dict[int, deque[pa.RecordBatch]] = field(default_factory=dict)
    committed_attempts: dict[int, int] = field(default_factory=dict)
    staged: dict[tuple[int, int], tuple[deque[pa.RecordBatch], int]] = field(default_factory=dict)
    state: QueryState = QueryState.RUNNING
    error: FlightManagerError | None = None
    claimed: bool = False
    buffered_bytes: int = 0


@dataclass(frozen=True)
class PushOutcome:
    """What became of one pushed attempt."""

    staged: bool
    rows: int
    batches: int


class ResultStore:
    """Thread-safe store of this node's shares of running and finished results.

    ``on_abandoned(query_id)`` is called (outside the store's lock) when a result is given up before
    it was completely read: its reader went away, or nobody read it within ``ttl`` seconds. The
    owner uses it to cancel the Spark job.
    """

    def __init__(
        self,
        *,
        ttl: float,
        stream_timeout: float,
        on_abandoned: Callable[[str], None] | None = None,
    ) -> None:
        self._results: dict[str, _Result] = {}
        # Secrets of recently released results, so a late retried push is told "not committed"
        # instead of failing its task after the result was already served.
        self._released: dict[str, tuple[bytes, float]] = {}
        self._lock = threading.Lock()
        self._changed = threading.Condition(self._lock)
        self._ttl = ttl
        self._stream_timeout = stream_timeout
        self._on_abandoned = on_abandoned
        self._closed = threading.Event()
        self._reaper = threading.Thread(target=self._reap, name="flight-result-reaper", daemon=True)
        self._reaper.start()

    # ---- lifecycle of a result -------------------------------------------------------------

    def create(self, query_id: str, schema: pa.Schema, secret: bytes, partitions: Sequence[int] | None = None) -> None:
        """Open a result that executors may push into with ``secret``."""
        with self._lock:
            self._results[query_id] = _Result(
                query_id=query_id,
                schema=schema,
                secret=secret,
                created=time.monotonic(),
                partitions=sorted(partitions) if partitions is not None else None,
            )

    def set_partitions(self, query_id: str, partitions: Sequence[int]) -> None:
        """Say which partitions this node will serve, once the job's partitioning is known."""
        with self._changed:
            result = self._results.get(query_id)
            if result is not None:
                result.partitions = sorted(partitions)
                self._changed.notify_all()

    def finish(self, query_id: str, attempts: Sequence[tuple[int, int]]) -> None:
        """Mark the result complete. ``attempts`` are the (partition, attempt) pairs that Spark counted
        as successful for this node; any not yet confirmed are confirmed now, and a missing one fails
        the result rather than leave it silently short."""
        missing = [p for p, a in attempts if not self.confirm(query_id, p, a)]
        if missing and self.state(query_id) is QueryState.RUNNING:
            self.fail(query_id, FlightManagerError(
                f"query {query_id}: partitions {missing} succeeded but their data never reached this node"))
            return
        self._set_state(query_id, QueryState.FINISHED, None, [p for p, _ in attempts])

    def fail(self, query_id: str, error: FlightManagerError) -> None:
        """Mark the result failed: its reader's stream ends with ``error``."""
        self._set_state(query_id, QueryState.FAILED, error, None)

    def cancel(self, query_id: str, reason: str = "the query was cancelled") -> None:
        """Mark the result cancelled and drop its buffers."""
        self._set_state(query_id, QueryState.CANCELLED, QueryCancelledError(reason), None)

    def release(self, query_id: str) -> None:
        """Forget the result and free everything it holds."""
        with self._changed:
            result = self._results.pop(query_id, None)
            if result is not None:
                self._released[query_id] = (result.secret, time.monotonic())
            self._changed.notify_all()

    def state(self, query_id: str) -> QueryState | None:
        """The state of a result this node holds, or None."""
        with self._lock:
            result = self._results.get(query_id)
            return None if result is None else result.state

    def query_ids(self) -> list[str]:
        """Every result this node holds."""
        with self._lock:
            return list(self._results)

    def buffered_bytes(self) -> int:
        """Bytes of committed batches held in memory, over all results."""
        with self._lock:
            return sum(result.buffered_bytes for result in self._results.values())

    def close(self) -> None:
        """Stop the reaper and fail every open result so blocked readers return."""
        self._closed.set()
        with self._changed:
            for result in self._results.values():
                if not result.state.terminal:
                    result.state = QueryState.CANCELLED
                    result.error = QueryCancelledError("the server is shutting down")
            self._changed.notify_all()
        self._reaper.join(timeout=5)

    # ---- the push side ---------------------------------------------------------------------

    def receive(
        self,
        query_id: str,
        secret: bytes,
        partition: int,
        attempt: int,
        batches: Iterable[pa.RecordBatch],
        schema: pa.Schema,
    ) -> PushOutcome:
        """Stage one task attempt's complete push of ``partition`` until the attempt is confirmed."""
        if self._is_released(query_id, secret):
            return PushOutcome(staged=False, rows=0, batches=0)
        self._check_push(query_id, secret, schema)
        staged: deque[pa.RecordBatch] = deque()
        rows = 0
        size = 0
        for batch in batches:
            if batch.num_rows:
                staged.append(batch)
                rows += batch.num_rows
                size += batch.nbytes
        with self._changed:
            result = self._results.get(query_id)
            if result is None or result.state.terminal or partition in result.committed_attempts:
                return PushOutcome(staged=False, rows=rows, batches=len(staged))
            result.staged[(partition, attempt)] = (staged, size)
            result.buffered_bytes += size
        return PushOutcome(staged=True, rows=rows, batches=len(staged))

    def confirm(self, query_id: str, partition: int, attempt: int) -> bool:
        """Spark counted this attempt as successful: make its staged batches readable, unless another
        attempt of the partition was confirmed first. False when nothing of that attempt is staged."""
        with self._changed:
            result = self._results.get(query_id)
            if result is None:
                return False
            if partition in result.committed_attempts:
                self._discard_locked(result, partition, attempt)
                return True
            staged = result.staged.pop((partition, attempt), None)
            if staged is None:
                return False
            result.committed_attempts[partition] = attempt
            result.committed[partition] = staged[0]
            for other in [key for key in result.staged if key[0] == partition]:
                self._discard_locked(result, *other)
            self._changed.notify_all()
            return True

    def _discard_locked(self, result: _Result, partition: int, attempt: int) -> None:
        dropped = result.staged.pop((partition, attempt), None)
        if dropped is not None:
            result.buffered_bytes -= dropped[1]
            log.info("query %s partition %d: attempt %d discarded, attempt %d won",
                     result.query_id, partition, attempt, result.committed_attempts.get(partition, -1))

    def _is_released(self, query_id: str, secret: bytes) -> bool:
        with self._lock:
            released = self._released.get(query_id)
        return released is not None and hmac.compare_digest(released[0], secret)

    def _check_push(self, query_id: str, secret: bytes, schema: pa.Schema) -> None:
        with self._lock:
            result = self._results.get(query_id)
            if result is None:
                raise PushRejectedError(f"no running query {query_id} on this node")
            if not hmac.compare_digest(result.secret, secret):
                raise PushRejectedError(f"wrong push secret for query {query_id}")
            if not schema.equals(result.schema):
                raise PushRejectedError(
                    f"pushed schema does not match query {query_id}: got {schema}, expected {result.schema}"
                )

    # ---- the read side ---------------------------------------------------------------------

    def open_stream(
        self, query_id: str, is_cancelled: Callable[[], bool] | None = None
    ) -> tuple[pa.Schema, Iterator[pa.RecordBatch]]:
        """Claim the result for its one reader: its schema, and its batches in partition order.

        Raises UnknownTicketError when the result is unknown or was already claimed. The iterator
        ends when every partition of this node was handed out, and raises the query's error when it
        failed or was cancelled. Leaving it before the end abandons the result.
        """
        with self._lock:
            result = self._results.get(query_id)
            if result is None:
                raise UnknownTicketError(f"no result for query {query_id} on this node (unknown, expired or released)")
            if result.claimed:
                raise UnknownTicketError(f"the ticket of query {query_id} was already consumed")
            result.claimed = True
        return result.schema, self._stream(result, is_cancelled or (lambda: False))

    def _stream(self, result: _Result, is_cancelled: Callable[[], bool]) -> Iterator[pa.RecordBatch]:
        drained = False
        try:
            position = 0
            while True:
                batches = self._next_partition(result, position, is_cancelled)
                if batches is None:
                    break
                position += 1
                while True:
                    with self._lock:
                        if not batches:
                            break
                        batch = batches.popleft()
                        result.buffered_bytes -= batch.nbytes
                    yield batch
            drained = True
        finally:
            self.release(result.query_id)
            if not drained and result.state is QueryState.RUNNING and self._on_abandoned is not None:
                self._on_abandoned(result.query_id)

    def _next_partition(
        self, result: _Result, position: int, is_cancelled: Callable[[], bool]
    ) -> deque[pa.RecordBatch] | None:
        """Wait until the partition at ``position`` of this node's list is committed; None at the end."""
        deadline = time.monotonic() + self._stream_timeout
        with self._changed:
            while True:
                if result.error is not None:
                    raise result.error
                partitions = result.partitions
                if partitions is not None and position >= len(partitions):
                    return None
                if partitions is not None:
                    wanted = partitions[position]
                    if wanted in result.committed:
                        return result.committed.pop(wanted)
                    if result.state is QueryState.FINISHED:
                        raise FlightManagerError(
                            f"query {result.query_id} finished without partition {wanted} on this node"
                        )
                if is_cancelled():
                    raise QueryCancelledError("the client cancelled the stream")
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise StreamTimeoutError(
                        f"no data for query {result.query_id} within {self._stream_timeout:.0f} s"
                    )
                self._changed.wait(min(_CANCEL_CHECK_SECONDS, remaining))

    # ---- internals -------------------------------------------------------------------------

    def _set_state(
        self,
        query_id: str,
        state: QueryState,
        error: FlightManagerError | None,
        partitions: Sequence[int] | None,
    ) -> None:
        with self._changed:
            result = self._results.get(query_id)
            if result is None or result.state.terminal:
                return
            result.state = state
            result.error = error
            if partitions is not None:
                result.partitions = sorted(partitions)
            if state is QueryState.FINISHED:
                for key in list(result.staged):
                    self._discard_locked(result, *key)
            else:
                result.committed.clear()
                result.staged.clear()
                result.buffered_bytes = 0
            self._changed.notify_all()

    def _reap(self) -> None:
        interval = min(max(self._ttl / 4, 0.05), 5.0)
        while not self._closed.wait(interval):
            now = time.monotonic()
            with self._lock:
                for query_id, (_, when) in list(self._released.items()):
                    if now - when > self._ttl:
                        del self._released[query_id]
                expired = [
                    r.query_id for r in self._results.values() if not r.claimed and now - r.created > self._ttl
                ]
            for query_id in expired:
                log.info("query %s: nobody read the result within %.0f s; releasing it", query_id, self._ttl)
                running = self.state(query_id) is QueryState.RUNNING
                self.release(query_id)
                if running and self._on_abandoned is not None:
                    self._on_abandoned(query_id)
