"""Early streaming (``spark.flight.stream.early``): a partition is served while its attempt is pushed,
and rows are still never sent twice."""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterator
from pathlib import Path

import pyarrow as pa
import pytest
from support.waiting import wait_until

from spark_flight_sql.flightmanager.config import FlightConfig
from spark_flight_sql.flightmanager.errors import StreamInterruptedError, status_of
from spark_flight_sql.flightmanager.results import ResultStore

SCHEMA = pa.schema([("x", pa.int64())])
SECRET = b"s" * 16
DEADLINE = 30.0


def batch(*values: int) -> pa.RecordBatch:
    return pa.record_batch([pa.array(values, pa.int64())], schema=SCHEMA)


class Push:
    """One attempt's DoPut stream, fed batch by batch from the test, on its own thread."""

    def __init__(self, store: ResultStore, partition: int, attempt: int) -> None:
        self._items: queue.Queue[pa.RecordBatch | BaseException | None] = queue.Queue()
        self.error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, args=(store, partition, attempt))
        self._thread.start()

    def _batches(self) -> Iterator[pa.RecordBatch]:
        while (item := self._items.get(timeout=DEADLINE)) is not None:
            if isinstance(item, BaseException):
                raise item
            yield item

    def _run(self, store: ResultStore, partition: int, attempt: int) -> None:
        try:
            store.receive("q", SECRET, partition, attempt, self._batches(), SCHEMA)
        except BaseException as error:  # noqa: BLE001 - the test looks at it
            self.error = error

    def send(self, *values: int) -> None:
        self._items.put(batch(*values))

    def end(self) -> None:
        self._items.put(None)
        self.join()

    def break_off(self) -> None:
        self._items.put(ConnectionResetError("the executor died"))
        self.join()

    def join(self) -> None:
        self._thread.join(DEADLINE)
        assert not self._thread.is_alive()


class Reader:
    """A client reading the node's share on its own thread, batch by batch."""

    def __init__(self, store: ResultStore) -> None:
        _, self._batches = store.open_stream("q")
        self.values: list[int] = []
        self.error: BaseException | None = None
        self._changed = threading.Condition()
        self._thread = threading.Thread(target=self._run)
        self._thread.start()

    def _run(self) -> None:
        try:
            for b in self._batches:
                with self._changed:
                    self.values.extend(b.column(0).to_pylist())
                    self._changed.notify_all()
        except BaseException as error:  # noqa: BLE001 - the test looks at it
            self.error = error
        finally:
            with self._changed:
                self._changed.notify_all()

    def wait_for(self, count: int) -> list[int]:
        with self._changed:
            assert self._changed.wait_for(
                lambda: len(self.values) >= count or self.error is not None, DEADLINE
            )
        return list(self.values)

    def done(self) -> bool:
        return not self._thread.is_alive()

    def join(self) -> None:
        self._thread.join(DEADLINE)
        assert self.done()


@pytest.fixture
def abandoned() -> list[str]:
    return []


@pytest.fixture
def store(abandoned: list[str]) -> Iterator[ResultStore]:
    result_store = ResultStore(
        ttl=600, stream_timeout=DEADLINE, on_abandoned=abandoned.append, early_streaming=True
    )
    yield result_store
    result_store.close()


def test_batches_reach_the_reader_while_their_task_still_pushes(store: ResultStore) -> None:
    store.create("q", SCHEMA, SECRET, partitions=[0, 1])
    reader = Reader(store)
    first = Push(store, 0, 7)
    second = Push(store, 1, 3)
    second.send(100)  # partition 1 arrives meanwhile and waits its turn
    first.send(1, 2)
    assert reader.wait_for(2) == [1, 2]
    first.send(3)
    assert reader.wait_for(3) == [1, 2, 3]
    first.end()
    second.end()
    assert not reader.done()  # partition 0 was streamed, but Spark has not confirmed attempt 7 yet
    store.confirm("q", 0, 7)
    assert reader.wait_for(4) == [1, 2, 3, 100]
    store.confirm("q", 1, 3)
    store.finish("q", [(0, 7), (1, 3)])
    reader.join()
    assert reader.error is None and reader.values == [1, 2, 3, 100]
    assert store.buffered_bytes() == 0


def test_an_attempt_that_breaks_after_sending_rows_fails_the_stream(
    store: ResultStore, abandoned: list[str]
) -> None:
    store.create("q", SCHEMA, SECRET, partitions=[0])
    reader = Reader(store)
    first = Push(store, 0, 1)
    first.send(1, 2)
    assert reader.wait_for(2) == [1, 2]
    first.break_off()
    reader.join()
    assert isinstance(reader.error, StreamInterruptedError)
    assert "stopped pushing" in str(reader.error)
    assert status_of(reader.error) == "UNAVAILABLE"
    assert abandoned == ["q"]  # the job is cancelled: its retry would have nowhere to go
    retry = Push(store, 0, 2)  # Spark's retry finds the result released and is told so, not failed
    retry.send(1, 2)
    retry.end()
    assert retry.error is None
    assert reader.values == [1, 2] and store.buffered_bytes() == 0


def test_spark_confirming_another_attempt_fails_the_stream(store: ResultStore) -> None:
    store.create("q", SCHEMA, SECRET, partitions=[0])
    reader = Reader(store)
    streamed = Push(store, 0, 1)
    streamed.send(1)
    assert reader.wait_for(1) == [1]
    speculative = Push(store, 0, 2)
    speculative.send(1, 2)
    speculative.end()
    store.confirm("q", 0, 2)
    reader.join()
    assert isinstance(reader.error, StreamInterruptedError)
    assert "attempt 1 was being streamed" in str(reader.error)
    streamed.end()
    assert reader.values == [1] and store.buffered_bytes() == 0


def test_an_attempt_that_breaks_before_sending_anything_is_retried_unseen(store: ResultStore) -> None:
    store.create("q", SCHEMA, SECRET, partitions=[0])
    reader = Reader(store)
    first = Push(store, 0, 1)
    first.break_off()
    retry = Push(store, 0, 2)
    retry.send(5)
    retry.send(6)
    retry.end()
    store.finish("q", [(0, 2)])
    reader.join()
    assert reader.error is None and reader.values == [5, 6]


def test_an_attempt_that_spills_is_read_from_its_file_once_complete(tmp_path: Path) -> None:
    one = batch(*range(1000))
    limit = 3 * one.nbytes
    store = ResultStore(
        ttl=600, stream_timeout=DEADLINE, max_memory_bytes=limit, spill_dir=tmp_path, early_streaming=True
    )
    try:
        store.create("q", SCHEMA, SECRET, partitions=[0, 1])
        reader = Reader(store)
        waiting = Push(store, 1, 1)  # partition 1 fills memory while partition 0 streams
        for _ in range(3):
            waiting.send(*range(1000))
        wait_until(
            lambda: store.buffered_bytes() == limit, interval=0.01, message="the buffers never held the limit"
        )
        streamed = Push(store, 0, 1)
        for start in range(0, 5000, 1000):
            streamed.send(*range(start, start + 1000))  # all of it spills: memory is full
        wait_until(
            lambda: store.spilled_bytes() >= 5 * one.nbytes, interval=0.01, message="the pushes never spilled"
        )
        assert store.spill_files() == 1 and store.buffered_bytes() == limit
        assert not reader.values  # a spilling attempt is read only once its file is complete
        streamed.end()
        waiting.end()
        store.finish("q", [(0, 1), (1, 1)])
        reader.join()
        assert reader.error is None
        assert reader.values == list(range(5000)) + list(range(1000)) * 3
        assert store.peak_buffered_bytes() <= limit and store.spill_files() == 0
    finally:
        store.close()


def test_early_streaming_is_off_unless_configured() -> None:
    assert FlightConfig.from_conf({}).stream_early is False
    assert FlightConfig.from_conf({"spark.flight.stream.early": "true"}).stream_early is True
    with pytest.raises(ValueError, match="spark.flight.stream.early must be true or false"):
        FlightConfig.from_conf({"spark.flight.stream.early": "sometimes"})
