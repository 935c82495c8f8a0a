"""The node-side store: staged pushes, confirmation, exactly-once, ordering, failure and release."""

from __future__ import annotations

import threading

import pyarrow as pa
import pytest

from flightmanager.errors import (
    FlightManagerError,
    PushRejectedError,
    QueryCancelledError,
    QueryFailedError,
    StreamTimeoutError,
    UnknownTicketError,
)
from flightmanager.results import ResultStore

SCHEMA = pa.schema([("x", pa.int64())])
SECRET = b"s" * 16
DEADLINE = 30.0


def batch(*values: int) -> pa.RecordBatch:
    return pa.record_batch([pa.array(values, pa.int64())], schema=SCHEMA)


@pytest.fixture()
def abandoned() -> list[str]:
    return []


@pytest.fixture()
def store(abandoned: list[str]):
    result_store = ResultStore(ttl=600, stream_timeout=DEADLINE, on_abandoned=abandoned.append)
    yield result_store
    result_store.close()


def push(store: ResultStore, partition: int, attempt: int, *values: int, query: str = "q") -> None:
    outcome = store.receive(query, SECRET, partition, attempt, [batch(*values)], SCHEMA)
    assert outcome.staged


def read_all(store: ResultStore, query: str = "q") -> list[int]:
    _, batches = store.open_stream(query)
    return [value for b in batches for value in b.column(0).to_pylist()]


def test_first_confirmed_attempt_wins_and_others_are_discarded(store: ResultStore) -> None:
    store.create("q", SCHEMA, SECRET, partitions=[0, 1])
    push(store, 0, 10, 1, 2)  # a failed first attempt that pushed part of its rows
    push(store, 0, 11, 1, 2, 3)
    push(store, 0, 12, 1, 2, 3)  # a speculative copy
    push(store, 1, 20, 4)
    assert store.confirm("q", 0, 11)
    assert store.confirm("q", 0, 12)  # already committed by 11: accepted, discarded
    assert store.confirm("q", 1, 20)
    store.finish("q", [(0, 11), (1, 20)])
    assert read_all(store) == [1, 2, 3, 4]
    assert store.buffered_bytes() == 0


def test_unconfirmed_pushes_are_never_served(store: ResultStore) -> None:
    store.create("q", SCHEMA, SECRET, partitions=[0])
    push(store, 0, 1, 99)
    store.fail("q", QueryFailedError("[DIVIDE_BY_ZERO] Division by zero", "INVALID_ARGUMENT"))
    with pytest.raises(QueryFailedError, match="DIVIDE_BY_ZERO"):
        read_all(store)


def test_finish_confirms_the_attempts_spark_returned(store: ResultStore) -> None:
    store.create("q", SCHEMA, SECRET)
    push(store, 1, 5, 7)
    push(store, 0, 4, 6)
    store.finish("q", [(1, 5), (0, 4)])
    assert read_all(store) == [6, 7]


def test_finish_with_missing_data_fails_rather_than_short(store: ResultStore) -> None:
    store.create("q", SCHEMA, SECRET)
    push(store, 0, 1, 1)
    store.finish("q", [(0, 1), (1, 2)])
    with pytest.raises(FlightManagerError, match="never reached this node"):
        read_all(store)


def test_reader_streams_partitions_in_order_while_the_job_runs(store: ResultStore) -> None:
    store.create("q", SCHEMA, SECRET, partitions=[0, 1, 2])
    _, batches = store.open_stream("q")
    received: list[int] = []
    got_first = threading.Event()

    def reader() -> None:
        for b in batches:
            received.extend(b.column(0).to_pylist())
            got_first.set()

    thread = threading.Thread(target=reader)
    thread.start()
    push(store, 2, 1, 30)
    store.confirm("q", 2, 1)
    push(store, 0, 2, 10)
    store.confirm("q", 0, 2)
    assert got_first.wait(DEADLINE)
    assert received == [10]  # partition 2 waits for partition 1
    push(store, 1, 3, 20)
    store.confirm("q", 1, 3)
    store.finish("q", [(0, 2), (1, 3), (2, 1)])
    thread.join(DEADLINE)
    assert not thread.is_alive()
    assert received == [10, 20, 30]


def test_failure_mid_stream_ends_the_stream_with_the_error(store: ResultStore) -> None:
    store.create("q", SCHEMA, SECRET, partitions=[0, 1])
    push(store, 0, 1, 5)
    store.confirm("q", 0, 1)
    _, batches = store.open_stream("q")
    assert next(batches).column(0).to_pylist() == [5]
    store.fail("q", QueryFailedError("boom"))
    with pytest.raises(QueryFailedError, match="boom"):
        next(batches)


def test_pushes_need_the_query_secret_and_schema(store: ResultStore) -> None:
    store.create("q", SCHEMA, SECRET)
    with pytest.raises(PushRejectedError, match="secret"):
        store.receive("q", b"x" * 16, 0, 1, [batch(1)], SCHEMA)
    with pytest.raises(PushRejectedError, match="schema"):
        store.receive("q", SECRET, 0, 1, [], pa.schema([("y", pa.string())]))
    with pytest.raises(PushRejectedError, match="no running query"):
        store.receive("other", SECRET, 0, 1, [batch(1)], SCHEMA)


def test_a_late_push_after_release_is_not_an_error(store: ResultStore) -> None:
    store.create("q", SCHEMA, SECRET, partitions=[0])
    push(store, 0, 1, 1)
    store.confirm("q", 0, 1)
    assert read_all(store) == [1]
    late = store.receive("q", SECRET, 0, 2, [batch(1)], SCHEMA)
    assert not late.staged


def test_a_ticket_is_read_once(store: ResultStore) -> None:
    store.create("q", SCHEMA, SECRET, partitions=[])
    store.open_stream("q")
    with pytest.raises(UnknownTicketError, match="already consumed"):
        store.open_stream("q")
    with pytest.raises(UnknownTicketError):
        store.open_stream("never-created")


def test_a_reader_that_leaves_abandons_the_result(store: ResultStore, abandoned: list[str]) -> None:
    store.create("q", SCHEMA, SECRET, partitions=[0, 1])
    push(store, 0, 1, 1)
    store.confirm("q", 0, 1)
    _, batches = store.open_stream("q")
    next(batches)
    batches.close()  # what pyarrow does when the client cancels the stream
    assert abandoned == ["q"]
    assert store.query_ids() == []


def test_a_cancelled_client_stops_a_waiting_reader(store: ResultStore, abandoned: list[str]) -> None:
    store.create("q", SCHEMA, SECRET, partitions=[0])
    _, batches = store.open_stream("q", is_cancelled=lambda: True)
    with pytest.raises(QueryCancelledError):
        next(batches)
    assert abandoned == ["q"]


def test_a_stalled_query_times_out() -> None:
    with_timeout = ResultStore(ttl=600, stream_timeout=0.3)
    try:
        with_timeout.create("q", SCHEMA, SECRET, partitions=[0])
        _, batches = with_timeout.open_stream("q")
        with pytest.raises(StreamTimeoutError):
            next(batches)
    finally:
        with_timeout.close()


def test_an_unread_result_expires_after_its_ttl() -> None:
    expired = threading.Event()
    seen: list[str] = []

    def on_abandoned(query_id: str) -> None:
        seen.append(query_id)
        expired.set()

    short = ResultStore(ttl=0.2, stream_timeout=DEADLINE, on_abandoned=on_abandoned)
    try:
        short.create("q", SCHEMA, SECRET, partitions=[0])
        push(short, 0, 1, 1)
        assert expired.wait(DEADLINE)
        assert seen == ["q"]
        assert short.query_ids() == []
        assert short.buffered_bytes() == 0
    finally:
        short.close()


def test_close_fails_blocked_readers(store: ResultStore) -> None:
    store.create("q", SCHEMA, SECRET, partitions=[0])
    _, batches = store.open_stream("q")
    errors: list[BaseException] = []

    def reader() -> None:
        try:
            list(batches)
        except BaseException as exc:  # noqa: BLE001
            errors.append(exc)

    thread = threading.Thread(target=reader)
    thread.start()
    store.close()
    thread.join(DEADLINE)
    assert not thread.is_alive()
    assert isinstance(errors[0], QueryCancelledError)
