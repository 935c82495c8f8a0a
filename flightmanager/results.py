"""One node's share of every distributed result: what executors pushed, until a client reads it.

Executors push each partition attempt as one stream; it is staged, and becomes readable only when
the driver confirms that Spark counted that task attempt as successful (a completed push alone
proves nothing: see ``task_listener``). The first confirmed attempt wins and every other attempt of
that partition is discarded, so retried and speculative tasks never duplicate rows and rows of a
failed attempt are never served. A reader gets the node's partitions in partition order,
each batch freed as soon as it is handed out.

Memory and spill
----------------
``max_memory_bytes`` bounds the batches the store keeps in memory, over every result and every
attempt; above it a push goes on into its attempt's spill file and never waits for memory. The
budget, the bound it keeps and when a push spills are :mod:`spark_flight_sql.flightmanager.memory_budget`'s.
Spill files of an attempt that loses to another attempt of its partition, fails mid-push, or
arrives for a finished result are deleted at once; a committed attempt keeps its file until its
partition has been read, or the result is cancelled, failed, released or expires, or the store
closes. Disk I/O (creating, writing, reading, deleting) never happens under the store's lock.

Readers that stall
------------------
A reader that stops taking batches (its client stopped reading but keeps the connection, or
vanished without closing it) blocks its gRPC thread inside pyarrow.flight, which a Python server
cannot interrupt; what it can do is not hold the result for it. When a reader has not come back
for the next batch ``idle_timeout`` seconds after it got the previous one
(``spark.flight.stream.idleTimeout``; default: ``ttl``), the reaper
(:mod:`spark_flight_sql.flightmanager.reaper`) releases the result (its
memory and spill files go at once) and reports it abandoned, which cancels the job; if the reader
ever asks for more, its stream ends with DEADLINE_EXCEEDED saying why. Time the reader spends
waiting for data that has not arrived yet does not count: that is ``stream_timeout``'s.

Early streaming
---------------
With ``early_streaming`` (``spark.flight.stream.early``) a reader does not wait for its next
partition to be confirmed: it streams an attempt of it while the attempt is still being pushed
(a completely received attempt first, else the lowest attempt that has sent something), batch by
batch as they arrive, then waits for Spark to confirm that very attempt before it moves on. The
first batch reaches the client when the executor made it rather than when its task ended, and a
reader that keeps up leaves little in memory. Rows are still never sent twice: if the streamed
attempt stops pushing, or Spark counts another attempt of the partition, the stream ends with
StreamInterruptedError (UNAVAILABLE) instead of Spark's retry reaching the client, so the client
runs the query again. An attempt that spills is read up to its file, then from its file once its
push is complete.

Pieces and lifetime
-------------------
The store composes a :class:`~spark_flight_sql.flightmanager.memory_budget.MemoryBudget` (the
bytes in memory, and the spill area) and a :class:`~spark_flight_sql.flightmanager.reaper.Reaper`
(the loop that releases expired and stalled results). Creating a store starts nothing:
:meth:`ResultStore.start` starts the reaper, :meth:`ResultStore.close` stops it and frees
everything (``with ResultStore(...) as store`` does both); a store that was started and is
collected without being closed emits a ``ResourceWarning``. What the store must tell its owner (a
share given up) goes through ``on_abandoned``, which the manager passes in (see
:mod:`spark_flight_sql.flightmanager.events`).
"""

from __future__ import annotations

import hmac
import logging
import threading
import time
import warnings
from collections.abc import Callable, Generator, Iterable, Iterator, Sequence
from contextlib import closing
from dataclasses import dataclass, field
from pathlib import Path

import pyarrow as pa

from spark_flight_sql.flightmanager.config import ConfKey
from spark_flight_sql.flightmanager.errors import (
    FlightManagerError,
    PushRejectedError,
    QueryCancelledError,
    QueryFailedError,
    StreamInterruptedError,
    StreamTimeoutError,
    UnknownTicketError,
)
from spark_flight_sql.flightmanager.kept_results import KeptResults
from spark_flight_sql.flightmanager.memory_budget import MemoryBudget, Part
from spark_flight_sql.flightmanager.model import QueryState
from spark_flight_sql.flightmanager.reaper import Reaper
from spark_flight_sql.flightmanager.spill import SpillError, SpillFile, SpillWriter

log = logging.getLogger(__name__)

# How often a blocked reader looks whether its client went away.
_CANCEL_CHECK_SECONDS = 0.25


@dataclass
class _Incoming:
    """A push being received: what it kept so far, its spill file while being written, whether it is
    still wanted, and whether it was received completely (``complete``: staged)."""

    part: Part = field(default_factory=Part)
    writer: SpillWriter | None = None
    wanted: bool = True
    complete: bool = False


@dataclass
class _Early:
    """The attempt a reader streams before it is confirmed (``early_streaming``), and its push while
    that is still being received (None once it is staged)."""

    partition: int
    attempt: int
    incoming: _Incoming | None


@dataclass
class _Result:
    query_id: str
    schema: pa.Schema
    secret: bytes
    created: float
    partitions: list[int] | None = None
    committed: dict[int, Part] = field(default_factory=dict)
    committed_attempts: dict[int, int] = field(default_factory=dict)
    staged: dict[tuple[int, int], Part] = field(default_factory=dict)
    reading: Part | None = None
    receiving: dict[tuple[int, int], _Incoming] = field(default_factory=dict)
    """Pushes being received, by (partition, attempt); tracked only with ``early_streaming``."""
    early: _Early | None = None
    state: QueryState = QueryState.RUNNING
    error: FlightManagerError | None = None
    claimed: bool = False
    started: bool = False
    handed_out: float | None = None
    """When (monotonic) the reader got the batch it has not come back from yet; None while it waits
    on the store, or before its first batch."""


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

    ``max_memory_bytes`` bounds the batches held in memory (None: no bound, nothing ever spills);
    above it, pushes spill to Arrow IPC files in ``spill_dir`` (None: a fresh
    ``flight-spill-*`` temporary directory, made on the first spill and removed by :meth:`close`),
    compressed with ``spill_compression`` (None, ``"lz4"`` or ``"zstd"``). See the module docstring.

    ``idle_timeout``: seconds a reader may keep a batch before coming back for the next one; past
    them its result is released (see "Readers that stall" above). None: ``ttl``.

    ``early_streaming``: serve a partition's batches while its task attempt still runs (see "Early
    streaming" above) instead of once the attempt is confirmed.
    """

    def __init__(
        self,
        *,
        ttl: float,
        stream_timeout: float,
        on_abandoned: Callable[[str], None] | None = None,
        max_memory_bytes: int | None = None,
        spill_dir: str | Path | None = None,
        spill_compression: str | None = None,
        idle_timeout: float | None = None,
        early_streaming: bool = False,
    ) -> None:
        if idle_timeout is not None and idle_timeout <= 0:
            raise ValueError(f"idle_timeout must be None or positive, not {idle_timeout}")
        self._results: dict[str, _Result] = {}
        # Secrets of recently released results, so a late retried push is told "not committed"
        # instead of failing its task after the result was already served.
        self._released: dict[str, tuple[bytes, float]] = {}
        self._lock = threading.Lock()
        self._changed = threading.Condition(self._lock)
        self._ttl = ttl
        self._stream_timeout = stream_timeout
        self._idle_timeout = ttl if idle_timeout is None else idle_timeout
        self._on_abandoned = on_abandoned
        self._early_streaming = early_streaming
        self._budget = MemoryBudget(max_memory_bytes, spill_dir, spill_compression)
        self._kept = KeptResults(self._budget.spill)
        self._reaper = Reaper(self, ttl=ttl, idle_timeout=self._idle_timeout, on_abandoned=on_abandoned)

    # ---- lifetime of the store -----------------------------------------------------------------

    def start(self) -> ResultStore:
        """Start the reaper (results that expire, readers that stall); returns the store."""
        self._reaper.start()
        return self

    def __enter__(self) -> ResultStore:
        return self.start()

    def __del__(self) -> None:
        reaper = getattr(self, "_reaper", None)  # absent when __init__ failed
        if reaper is not None and reaper.running:
            warnings.warn(
                f"ResultStore {id(self):#x} was started and never closed: call close()",
                ResourceWarning,
                stacklevel=2,
            )
            reaper.stop()

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # ---- lifecycle of a result -------------------------------------------------------------

    def create(
        self, query_id: str, schema: pa.Schema, secret: bytes, partitions: Sequence[int] | None = None
    ) -> None:
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
            self.fail(
                query_id,
                FlightManagerError(
                    f"query {query_id}: partitions {missing} succeeded but their data never reached this node"
                ),
            )
            return
        self._set_state(query_id, QueryState.FINISHED, None, [p for p, _ in attempts])

    def fail(self, query_id: str, error: FlightManagerError) -> None:
        """Mark the result failed: its reader's stream ends with ``error``; its buffers are dropped."""
        self._set_state(query_id, QueryState.FAILED, error, None)

    def cancel(self, query_id: str, reason: str = "the query was cancelled") -> None:
        """Mark the result cancelled and drop its buffers."""
        self._set_state(query_id, QueryState.CANCELLED, QueryCancelledError(reason), None)

    def settle(
        self,
        query_id: str,
        state: QueryState,
        *,
        error: str | None = None,
        status: str | None = None,
        attempts: Sequence[tuple[int, int]] = (),
    ) -> None:
        """Apply a query's outcome as the cluster recorded it: ``attempts`` are the (partition,
        attempt) pairs this node serves when FINISHED; ``error`` and ``status`` say why it FAILED
        (or was CANCELLED)."""
        if state is QueryState.FINISHED:
            self.finish(query_id, attempts)
        elif state is QueryState.FAILED:
            self.fail(query_id, QueryFailedError(error or "the query failed", status))
        elif state is QueryState.CANCELLED:
            self.cancel(query_id, error or "the query was cancelled")

    def release(self, query_id: str) -> None:
        """Forget the result and free everything it holds, in memory and on disk. A reader still
        reading it ends with an error rather than a short result."""
        dropped: list[SpillFile] = []
        with self._changed:
            result = self._results.pop(query_id, None)
            if result is not None:
                self._released[query_id] = (result.secret, time.monotonic())
                if result.error is None:
                    result.error = QueryCancelledError(f"the result of query {query_id} was released")
                dropped = self._drop_all_locked(result)
            self._changed.notify_all()
        _delete(dropped)

    def state(self, query_id: str) -> QueryState | None:
        """The state of a result this node holds, or None."""
        with self._lock:
            result = self._results.get(query_id)
            return None if result is None else result.state

    def query_ids(self) -> list[str]:
        """Every result this node holds."""
        with self._lock:
            return list(self._results)

    def close(self) -> None:
        """Stop the reaper, fail every open result so blocked readers return, and free every buffer
        and spill file (and the spill directory when the store made it)."""
        self._reaper.stop()
        with self._changed:
            for result in self._results.values():
                if not result.state.terminal:
                    result.state = QueryState.CANCELLED
                result.error = result.error or QueryCancelledError("the server is shutting down")
                self._drop_all_locked(result)  # their files go with the whole spill area below
            self._changed.notify_all()
        self._kept.close()
        self._budget.close()
        self._reaper.close()

    # ---- accounting --------------------------------------------------------------------------

    def buffered_bytes(self) -> int:
        """Bytes of batches held in memory, over all results (never above ``max_memory_bytes``)."""
        with self._lock:
            return self._budget.used

    def peak_buffered_bytes(self) -> int:
        """The highest :meth:`buffered_bytes` since the store was created."""
        with self._lock:
            return self._budget.peak

    def spilled_bytes(self) -> int:
        """Bytes of the spill files on disk now."""
        return self._budget.spill.bytes_on_disk()

    def spill_files(self) -> int:
        """Number of spill files on disk now."""
        return self._budget.spill.file_count()

    def is_kept(self, query_id: str) -> bool:
        """Whether a read of ``query_id`` ended whole and its share is kept for reading again."""
        return query_id in self._kept

    def kept_results(self) -> int:
        """Shares kept for reading again (their files count in :meth:`spill_files`)."""
        return len(self._kept)

    @property
    def spill_dir(self) -> Path | None:
        """The spill directory; None while a default one has not been needed yet."""
        return self._budget.spill.directory

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
        """Stage one task attempt's complete push of ``partition`` until the attempt is confirmed.

        Batches stay in memory while they fit under ``max_memory_bytes``, the rest of the attempt
        goes to its spill file; this never waits for memory. A push that is not wanted (any more:
        its result ended or another attempt of the partition was committed) is read to its end
        and dropped.
        """
        if self._is_released(query_id, secret):
            return PushOutcome(staged=False, rows=0, batches=0)
        result = self._check_push(query_id, secret, schema)
        incoming = _Incoming()
        if self._early_streaming:
            with self._lock:
                result.receiving[(partition, attempt)] = incoming
        rows = count = 0
        try:
            for batch in batches:
                if batch.num_rows:
                    rows += batch.num_rows
                    count += 1
                    if incoming.wanted:
                        self._accept(result, partition, attempt, incoming, batch)
            staged = incoming.wanted and self._stage(result, partition, attempt, incoming)
        except BaseException:
            self._abandon(incoming)  # a broken push: its rows are never served, its file goes now
            raise
        finally:
            if self._early_streaming:
                with self._lock:
                    result.receiving.pop((partition, attempt), None)
        return PushOutcome(staged=staged, rows=rows, batches=count)

    def confirm(self, query_id: str, partition: int, attempt: int) -> bool:
        """Spark counted this attempt as successful: make its staged batches readable, unless another
        attempt of the partition was confirmed first. False when nothing of that attempt is staged."""
        with self._changed:
            result = self._results.get(query_id)
            if result is None:
                return False
            early = result.early
            if early is not None and early.partition == partition and early.attempt != attempt:
                result.error = result.error or _not_the_streamed_attempt(result.query_id, early, attempt)
                self._changed.notify_all()
            if partition in result.committed_attempts:
                dropped = self._discard_locked(result, partition, attempt)
            else:
                part = result.staged.pop((partition, attempt), None)
                if part is None:
                    return False
                result.committed_attempts[partition] = attempt
                result.committed[partition] = part
                dropped = []
                for other in [key for key in result.staged if key[0] == partition]:
                    dropped += self._discard_locked(result, *other)
                self._changed.notify_all()
        _delete(dropped)
        return True

    def _accept(
        self, result: _Result, partition: int, attempt: int, incoming: _Incoming, batch: pa.RecordBatch
    ) -> None:
        """Keep one pushed batch in memory if it fits, else append it to the attempt's spill file."""
        with self._lock:
            wanted = self._wants_locked(result, partition)
            kept = wanted and incoming.writer is None and self._budget.keep(incoming.part, batch)
            if kept and self._early_streaming and (result.early is None or result.early.incoming is incoming):
                self._changed.notify_all()  # a reader may be waiting to stream this attempt
        if not wanted:
            self._abandon(incoming)
            return
        if kept:
            return
        if incoming.writer is None:
            # Once an attempt spills, the rest of it goes to its file, so an early reader of it waits
            # for the whole push before it reads on from the file.
            incoming.writer = self._budget.spill_file(
                result.schema, f"{result.query_id}-p{partition}-a{attempt}"
            )
            if incoming.writer is None:  # the store is closing
                self._abandon(incoming)
                return
            log.debug(
                "query %s partition %d attempt %d: memory full, spilling to %s",
                result.query_id,
                partition,
                attempt,
                self._budget.spill.directory,
            )
        incoming.writer.write(batch)

    def _stage(self, result: _Result, partition: int, attempt: int, incoming: _Incoming) -> bool:
        """Make a completely received attempt wait for its confirmation; False when it is not wanted."""
        if incoming.writer is not None:
            incoming.part.spill = incoming.writer.finish()
            incoming.writer = None
        replaced: list[SpillFile] = []
        with self._changed:
            staged = self._wants_locked(result, partition)
            if staged:
                previous = result.staged.pop((partition, attempt), None)
                if previous is not None:  # the same attempt pushed twice: keep the later copy
                    replaced = self._budget.drop(previous)
                result.staged[(partition, attempt)] = incoming.part
                incoming.complete = True
                self._changed.notify_all()
        _delete(replaced)
        if not staged:
            self._abandon(incoming)
        return staged

    def _abandon(self, incoming: _Incoming) -> None:
        """Drop what a push kept in memory and delete its spill file."""
        with self._changed:
            incoming.wanted = False
            dropped = self._budget.drop(incoming.part)
            self._changed.notify_all()
        _delete(dropped)
        if incoming.writer is not None:
            writer, incoming.writer = incoming.writer, None
            writer.discard()

    def _wants_locked(self, result: _Result, partition: int) -> bool:
        return (
            self._results.get(result.query_id) is result
            and not result.state.terminal
            and partition not in result.committed_attempts
        )

    def _discard_locked(self, result: _Result, partition: int, attempt: int) -> list[SpillFile]:
        """Drop a staged attempt that lost (or was never confirmed); its spill file, for the caller
        to delete outside the lock."""
        dropped = result.staged.pop((partition, attempt), None)
        if dropped is None:
            return []
        log.info(
            "query %s partition %d: attempt %d discarded, attempt %d won",
            result.query_id,
            partition,
            attempt,
            result.committed_attempts.get(partition, -1),
        )
        return self._budget.drop(dropped)

    def _is_released(self, query_id: str, secret: bytes) -> bool:
        with self._lock:
            released = self._released.get(query_id)
        return released is not None and hmac.compare_digest(released[0], secret)

    def _check_push(self, query_id: str, secret: bytes, schema: pa.Schema) -> _Result:
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
            return result

    # ---- the read side ---------------------------------------------------------------------

    def open_stream(
        self,
        query_id: str,
        is_cancelled: Callable[[], bool] | None = None,
        *,
        keep_for: float | None = None,
    ) -> tuple[pa.Schema, Iterator[pa.RecordBatch]]:
        """Claim the result for its one reader: its schema, and its batches in partition order.

        Raises UnknownTicketError when the result is unknown or was already claimed. The iterator
        ends when every partition of this node was handed out, and raises the query's error when it
        failed or was cancelled. Leaving it before the end abandons the result.

        ``keep_for``: keep what this read hands out for that many seconds once it has read the
        whole share, for later reads of the same ticket (see
        :mod:`~spark_flight_sql.flightmanager.kept_results`); such a later read gets the kept copy.
        """
        with self._lock:
            result = self._results.get(query_id)
            if result is None or result.claimed:
                kept = self._kept.open(query_id)
                if kept is not None:
                    return kept
            if result is None:
                raise UnknownTicketError(
                    f"no result for query {query_id} on this node (unknown, expired or released)"
                )
            if result.claimed:
                again = " and is being read: read it again once that read has ended" if keep_for else ""
                raise UnknownTicketError(f"the ticket of query {query_id} was already consumed{again}")
            result.claimed = True
        batches = self._stream(result, is_cancelled or (lambda: False))
        if keep_for is not None:
            batches = self._kept.recording(query_id, result.schema, batches, keep_for)
        return result.schema, batches

    def _stream(self, result: _Result, is_cancelled: Callable[[], bool]) -> Iterator[pa.RecordBatch]:
        drained = False
        result.started = True
        try:
            position = 0
            while (part := self._next_partition(result, position, is_cancelled)) is not None:
                position += 1
                early = result.early
                reader = (
                    self._read_partition(result, part)
                    if early is None
                    else self._read_early(result, part, early, is_cancelled)
                )
                with closing(reader) as batches:
                    for batch in batches:
                        result.handed_out = time.monotonic()
                        yield batch
                        result.handed_out = None
            drained = True
        finally:
            self.release(result.query_id)
            if not drained and result.state is QueryState.RUNNING and self._on_abandoned is not None:
                self._on_abandoned(result.query_id)

    def _read_partition(
        self, result: _Result, part: Part, take: Callable[[], pa.RecordBatch | None] | None = None
    ) -> Generator[pa.RecordBatch, None, None]:
        """Hand out a partition's in-memory batches (``take``: the next one, or None when there are no
        more; default :meth:`_take`), then stream its spill file, freeing as it goes."""
        take = take or (lambda: self._take(result, part))
        while (batch := take()) is not None:
            yield batch
        with self._lock:
            if result.error is not None:
                raise result.error
            spill = part.spill
        if spill is not None:
            yield from self._read_spill(result, spill)

    def _read_spill(self, result: _Result, spill: SpillFile) -> Iterator[pa.RecordBatch]:
        try:
            with closing(spill.batches()) as batches:
                for batch in batches:
                    self._raise_if_ended(result)
                    yield batch
        except SpillError:
            self._raise_if_ended(result)  # a cancelled result's file may be gone: say why
            raise
        finally:
            spill.delete()

    def _take(self, result: _Result, part: Part) -> pa.RecordBatch | None:
        """The partition's next in-memory batch, uncounted; None when none is left."""
        with self._lock:
            if result.error is not None:
                raise result.error
            return self._budget.take(part)

    def _read_early(
        self, result: _Result, part: Part, early: _Early, is_cancelled: Callable[[], bool]
    ) -> Generator[pa.RecordBatch, None, None]:
        """Stream an attempt that is not confirmed yet: its batches as they arrive, then its spill file
        once the push is complete, then wait for Spark to confirm that very attempt."""
        try:
            yield from self._read_partition(
                result, part, lambda: self._take_arriving(result, part, early, is_cancelled)
            )
            self._await_confirmation(result, early, is_cancelled)
        finally:
            with self._lock:
                if result.early is early:
                    result.early = None

    def _take_arriving(
        self, result: _Result, part: Part, early: _Early, is_cancelled: Callable[[], bool]
    ) -> pa.RecordBatch | None:
        """The streamed attempt's next in-memory batch, waiting for it while the push goes on; None
        once the push is complete and its in-memory batches are handed out."""
        deadline = time.monotonic() + self._stream_timeout
        with self._changed:
            while True:
                if result.error is not None:
                    raise result.error
                batch = self._budget.take(part)
                if batch is not None:
                    return batch
                incoming = early.incoming
                if incoming is None or incoming.complete:
                    return None
                if not incoming.wanted:
                    raise StreamInterruptedError(
                        f"query {result.query_id}: task attempt {early.attempt} of partition {early.partition} "
                        f"stopped pushing after some of its rows were sent ({ConfKey.STREAM_EARLY.value}); the "
                        "query fails rather than send rows twice: run it again"
                    )
                self._wait_locked(result, deadline, is_cancelled)

    def _await_confirmation(self, result: _Result, early: _Early, is_cancelled: Callable[[], bool]) -> None:
        """Wait until Spark counts the streamed attempt as successful; fail if it counts another one."""
        deadline = time.monotonic() + self._stream_timeout
        with self._changed:
            while True:
                if result.error is not None:
                    raise result.error
                committed = result.committed_attempts.get(early.partition)
                if committed is not None:
                    if committed != early.attempt:
                        raise _not_the_streamed_attempt(result.query_id, early, committed)
                    result.committed.pop(early.partition, None)
                    result.reading = None
                    return
                if result.state is QueryState.FINISHED:
                    raise _finished_without(result, early.partition)
                self._wait_locked(result, deadline, is_cancelled)

    def _wait_locked(self, result: _Result, deadline: float, is_cancelled: Callable[[], bool]) -> None:
        """Wait (the lock held) for a change, at most until ``deadline``; raise if the client left."""
        if is_cancelled():
            raise QueryCancelledError("the client cancelled the stream")
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise StreamTimeoutError(
                f"no data for query {result.query_id} within {self._stream_timeout:.0f} s"
            )
        self._changed.wait(min(_CANCEL_CHECK_SECONDS, remaining))

    def _raise_if_ended(self, result: _Result) -> None:
        with self._lock:
            if result.error is not None:
                raise result.error

    def _next_partition(
        self, result: _Result, position: int, is_cancelled: Callable[[], bool]
    ) -> Part | None:
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
                        result.reading = result.committed.pop(wanted)
                        return result.reading
                    if result.state is QueryState.FINISHED:
                        raise _finished_without(result, wanted)
                    if (
                        self._early_streaming
                        and (part := self._bind_early_locked(result, wanted)) is not None
                    ):
                        return part
                self._wait_locked(result, deadline, is_cancelled)

    def _bind_early_locked(self, result: _Result, partition: int) -> Part | None:
        """Choose the attempt of ``partition`` to stream before it is confirmed: a completely received
        one, else one being received that has sent something; None while there is neither."""
        staged = sorted(attempt for (p, attempt) in result.staged if p == partition)
        if staged:
            part = result.staged[(partition, staged[0])]
            result.early = _Early(partition, staged[0], None)
        else:
            arriving = [
                (attempt, incoming)
                for (p, attempt), incoming in result.receiving.items()
                if p == partition
                and incoming.wanted
                and (incoming.part.batches or incoming.writer is not None)
            ]
            if not arriving:
                return None
            attempt, incoming = min(arriving, key=lambda pair: pair[0])
            part = incoming.part
            result.early = _Early(partition, attempt, incoming)
        result.reading = part
        return part

    # ---- internals -------------------------------------------------------------------------

    def _drop_all_locked(self, result: _Result) -> list[SpillFile]:
        """Free every attempt of a result, staged, committed and being read."""
        parts = [*result.staged.values(), *result.committed.values()]
        if result.reading is not None:
            parts.append(result.reading)
        result.staged.clear()
        result.committed.clear()
        result.reading = None
        return [spill for part in parts for spill in self._budget.drop(part)]

    def _set_state(
        self,
        query_id: str,
        state: QueryState,
        error: FlightManagerError | None,
        partitions: Sequence[int] | None,
    ) -> None:
        dropped: list[SpillFile] = []
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
                    dropped += self._discard_locked(result, *key)
            else:
                dropped = self._drop_all_locked(result)
            self._changed.notify_all()
        _delete(dropped)

    def _stalled_locked(self, result: _Result, now: float) -> bool:
        return result.handed_out is not None and now - result.handed_out > self._idle_timeout

    def release_stalled(self, query_id: str) -> bool:
        """Fail and release a result whose reader stalled (checked again under the lock)."""
        with self._lock:
            result = self._results.get(query_id)
            if result is None or not self._stalled_locked(result, time.monotonic()):
                return False
            if result.error is None:
                result.error = StreamTimeoutError(
                    f"the client took nothing of the result of query {query_id} for {self._idle_timeout:g} s "
                    f"({ConfKey.STREAM_IDLE_TIMEOUT.value}): the result was released"
                )
        self.release(query_id)
        return True

    def due(self) -> tuple[list[str], list[str]]:
        """For the reaper: the results that expired (unread, or claimed by a DoGet whose stream never
        started because its client left first) and those whose reader stalled; forgets the secrets of
        results released longer than ``ttl`` ago."""
        for query_id in self._kept.expire():
            log.info("query %s: the kept result expired; deleted", query_id)
        now = time.monotonic()
        with self._lock:
            for query_id, (_, when) in list(self._released.items()):
                if now - when > self._ttl:
                    del self._released[query_id]
            expired = [
                r.query_id for r in self._results.values() if not r.started and now - r.created > self._ttl
            ]
            stalled = [r.query_id for r in self._results.values() if self._stalled_locked(r, now)]
        return expired, stalled


def _finished_without(result: _Result, partition: int) -> FlightManagerError:
    return FlightManagerError(f"query {result.query_id} finished without partition {partition} on this node")


def _not_the_streamed_attempt(query_id: str, early: _Early, confirmed: int) -> StreamInterruptedError:
    return StreamInterruptedError(
        f"query {query_id}: Spark counted attempt {confirmed} of partition {early.partition} as successful, but "
        f"attempt {early.attempt} was being streamed ({ConfKey.STREAM_EARLY.value}); the query fails rather than "
        "send rows twice: run it again"
    )


def _delete(files: Iterable[SpillFile]) -> None:
    """Delete spill files; called outside the store's lock."""
    for spill in files:
        spill.delete()
