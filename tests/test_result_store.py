"""The node-side store: staged pushes, confirmation, exactly-once, ordering, failure and release."""

from __future__ import annotations

import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pyarrow as pa
import pytest

from spark_flight_sql.flightmanager.errors import (
    FlightManagerError,
    PushRejectedError,
    QueryCancelledError,
    QueryFailedError,
    StreamTimeoutError,
    UnknownTicketError,
)
from spark_flight_sql.flightmanager.results import ResultStore

SCHEMA = pa.schema([("x", pa.int64())])
SECRET = b"s" * 16
DEADLINE = 30.0


def batch(*values: int) -> pa.RecordBatch:
    return pa.record_batch([pa.array(values, pa.int64())], schema=SCHEMA)


@pytest.fixture
def abandoned() -> list[str]:
    return []


@pytest.fixture
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

    short = ResultStore(ttl=0.2, stream_timeout=DEADLINE, on_abandoned=on_abandoned).start()
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


# ---- bounded memory and spill to disk -------------------------------------------------------------

ROWS_PER_BATCH = 1000
BATCH_BYTES = ROWS_PER_BATCH * 8  # one int64 column, no nulls
LIMIT = 8 * BATCH_BYTES
BATCHES_PER_PARTITION = 10
PARTITIONS = 4  # 4 partitions of 10 batches: 5 times LIMIT


def partition_batches(partition: int) -> list[pa.RecordBatch]:
    first = partition * BATCHES_PER_PARTITION * ROWS_PER_BATCH
    return [
        pa.record_batch([pa.array(range(start, start + ROWS_PER_BATCH), pa.int64())], schema=SCHEMA)
        for start in range(first, first + BATCHES_PER_PARTITION * ROWS_PER_BATCH, ROWS_PER_BATCH)
    ]


def expected_values(partitions: int = PARTITIONS) -> list[int]:
    return list(range(partitions * BATCHES_PER_PARTITION * ROWS_PER_BATCH))


def push_partition(store: ResultStore, partition: int, attempt: int, query: str = "q") -> None:
    assert store.receive(query, SECRET, partition, attempt, partition_batches(partition), SCHEMA).staged


def files_in(directory: Path) -> list[Path]:
    return sorted(directory.glob("*.arrows")) if directory.exists() else []


def assert_nothing_on_disk(store: ResultStore, directory: Path) -> None:
    assert (store.spill_files(), store.spilled_bytes(), files_in(directory)) == (0, 0, [])


@pytest.fixture
def spill_dir(tmp_path: Path) -> Path:
    return tmp_path / "spill"


@pytest.fixture
def bounded(spill_dir: Path, abandoned: list[str]) -> Iterator[ResultStore]:
    result_store = ResultStore(
        ttl=600,
        stream_timeout=DEADLINE,
        on_abandoned=abandoned.append,
        max_memory_bytes=LIMIT,
        spill_dir=spill_dir,
    )
    yield result_store
    result_store.close()


def test_a_result_five_times_the_limit_spills_and_streams_back_in_order(
    bounded: ResultStore, spill_dir: Path
) -> None:
    assert partition_batches(0)[0].nbytes == BATCH_BYTES
    bounded.create("q", SCHEMA, SECRET, partitions=range(PARTITIONS))
    for partition in range(PARTITIONS):
        push_partition(bounded, partition, attempt=partition + 100)
        assert bounded.confirm("q", partition, partition + 100)
    # Partition 0 filled the memory with its first 8 batches; everything after went to disk.
    assert bounded.buffered_bytes() == LIMIT
    files = files_in(spill_dir)
    assert len(files) == bounded.spill_files() == PARTITIONS
    assert (
        bounded.spilled_bytes() == sum(f.stat().st_size for f in files) > (PARTITIONS * 10 - 8) * BATCH_BYTES
    )

    _, batches = bounded.open_stream("q")
    values = next(batches).column(0).to_pylist()
    for _ in range(BATCHES_PER_PARTITION):  # the rest of partition 0, and the first batch of 1
        values += next(batches).column(0).to_pylist()
    assert bounded.spill_files() == PARTITIONS - 1  # partition 0's file went when it had been read
    bounded.finish("q", [(p, p + 100) for p in range(PARTITIONS)])
    values += [v for b in batches for v in b.column(0).to_pylist()]

    assert values == expected_values()
    assert bounded.peak_buffered_bytes() == LIMIT  # the bound holds exactly: no per-push overshoot
    assert bounded.buffered_bytes() == 0
    assert_nothing_on_disk(bounded, spill_dir)


def test_concurrent_pushes_and_a_streaming_reader_stay_under_the_limit(
    bounded: ResultStore, spill_dir: Path
) -> None:
    bounded.create("q", SCHEMA, SECRET, partitions=range(PARTITIONS))
    _, batches = bounded.open_stream("q")
    received: list[int] = []
    reader = threading.Thread(
        target=lambda: received.extend(v for b in batches for v in b.column(0).to_pylist())
    )
    reader.start()

    def executor(partition: int) -> None:
        push_partition(bounded, partition, attempt=1)
        bounded.confirm("q", partition, 1)

    pushes = [threading.Thread(target=executor, args=(p,)) for p in range(PARTITIONS)]
    for thread in pushes:
        thread.start()
    for thread in pushes:
        thread.join(DEADLINE)
    bounded.finish("q", [(p, 1) for p in range(PARTITIONS)])
    reader.join(DEADLINE)
    assert not reader.is_alive()
    assert received == expected_values()
    assert 0 < bounded.peak_buffered_bytes() <= LIMIT
    assert bounded.buffered_bytes() == 0
    assert_nothing_on_disk(bounded, spill_dir)


def test_a_client_reading_one_endpoint_at_a_time_never_deadlocks(tmp_path: Path) -> None:
    """Two nodes; one executor pushes partitions alternately to each; the client reads node A to
    its end before it opens node B. B's pushes must complete while nobody reads B."""
    nodes = {
        name: ResultStore(
            ttl=600, stream_timeout=DEADLINE, max_memory_bytes=BATCH_BYTES, spill_dir=tmp_path / name
        )
        for name in ("a", "b")
    }
    try:
        owner = {p: "b" if p % 2 == 0 else "a" for p in range(PARTITIONS)}
        for name, store in nodes.items():
            store.create("q", SCHEMA, SECRET, partitions=[p for p, n in owner.items() if n == name])

        def executor() -> None:
            for partition in range(PARTITIONS):
                push_partition(nodes[owner[partition]], partition, attempt=1)
                nodes[owner[partition]].confirm("q", partition, 1)

        thread = threading.Thread(target=executor)
        thread.start()
        rows = {name: read_all(nodes[name]) for name in ("a", "b")}  # endpoint A first, to its end
        thread.join(DEADLINE)
        per_partition = BATCHES_PER_PARTITION * ROWS_PER_BATCH
        assert sorted(rows["a"] + rows["b"]) == expected_values()
        assert rows["a"] == [v for p in (1, 3) for v in range(p * per_partition, (p + 1) * per_partition)]
        assert all(store.peak_buffered_bytes() <= BATCH_BYTES for store in nodes.values())
        for name, store in nodes.items():
            assert_nothing_on_disk(store, tmp_path / name)
    finally:
        for store in nodes.values():
            store.close()


def test_a_losing_attempt_and_an_unconfirmed_one_delete_their_files_at_once(tmp_path: Path) -> None:
    store = ResultStore(ttl=600, stream_timeout=DEADLINE, max_memory_bytes=0, spill_dir=tmp_path)
    try:
        store.create("q", SCHEMA, SECRET, partitions=[0, 1])
        for attempt in (1, 2, 3):
            push_partition(store, 0, attempt)
        push_partition(store, 1, 4)
        assert len(files_in(tmp_path)) == store.spill_files() == 4
        assert store.confirm("q", 0, 2)
        assert len(files_in(tmp_path)) == store.spill_files() == 2  # attempts 1 and 3 lost
        store.finish("q", [(0, 2)])  # partition 1's attempt was never counted as successful
        assert len(files_in(tmp_path)) == store.spill_files() == 1
        assert store.buffered_bytes() == 0
        assert store.spilled_bytes() == files_in(tmp_path)[0].stat().st_size
    finally:
        store.close()


def test_a_push_that_breaks_midway_deletes_its_file(bounded: ResultStore, spill_dir: Path) -> None:
    bounded.create("q", SCHEMA, SECRET, partitions=[0])

    def broken_stream() -> Iterator[pa.RecordBatch]:
        yield from partition_batches(0)
        raise OSError("the executor went away")

    with pytest.raises(OSError, match="went away"):
        bounded.receive("q", SECRET, 0, 1, broken_stream(), SCHEMA)
    assert bounded.buffered_bytes() == 0
    assert bounded.peak_buffered_bytes() == LIMIT
    assert_nothing_on_disk(bounded, spill_dir)


def test_the_same_attempt_pushed_twice_is_kept_once(bounded: ResultStore, spill_dir: Path) -> None:
    bounded.create("q", SCHEMA, SECRET, partitions=[0])
    push_partition(bounded, 0, 1)
    push_partition(bounded, 0, 1)
    assert bounded.spill_files() == 1
    bounded.finish("q", [(0, 1)])
    assert read_all(bounded) == expected_values(1)
    assert_nothing_on_disk(bounded, spill_dir)


def test_a_push_into_an_ended_result_is_dropped_and_leaves_nothing(
    bounded: ResultStore, spill_dir: Path
) -> None:
    bounded.create("q", SCHEMA, SECRET, partitions=[0])
    push_partition(bounded, 0, 1)
    bounded.confirm("q", 0, 1)
    late = bounded.receive("q", SECRET, 0, 2, partition_batches(0), SCHEMA)  # a speculative copy
    assert (late.staged, late.batches) == (False, BATCHES_PER_PARTITION)
    assert bounded.spill_files() == 1
    bounded.cancel("q")
    after = bounded.receive("q", SECRET, 1, 3, partition_batches(1), SCHEMA)
    assert not after.staged
    assert bounded.buffered_bytes() == 0
    assert_nothing_on_disk(bounded, spill_dir)


def end_by_cancel(store: ResultStore) -> None:
    store.cancel("q", "stop")


def end_by_fail(store: ResultStore) -> None:
    store.fail("q", QueryFailedError("boom"))


def end_by_release(store: ResultStore) -> None:
    store.release("q")


def end_by_close(store: ResultStore) -> None:
    store.close()


@pytest.mark.parametrize(
    ("end", "error"),
    [
        (end_by_cancel, QueryCancelledError),
        (end_by_fail, QueryFailedError),
        (end_by_release, QueryCancelledError),
        (end_by_close, QueryCancelledError),
    ],
)
def test_ending_a_result_mid_read_deletes_its_spill_files(
    bounded: ResultStore, spill_dir: Path, end: Callable[[ResultStore], None], error: type[Exception]
) -> None:
    bounded.create("q", SCHEMA, SECRET, partitions=range(PARTITIONS))
    for partition in range(PARTITIONS):
        push_partition(bounded, partition, attempt=1)
        if partition < PARTITIONS - 1:  # the last one stays staged, unconfirmed
            bounded.confirm("q", partition, 1)
    _, batches = bounded.open_stream("q")
    for _ in range(BATCHES_PER_PARTITION + 1):  # into partition 1, which is read from its file
        next(batches)
    assert bounded.spill_files() == PARTITIONS - 1  # partitions 1 and 2, and the staged 3
    end(bounded)
    assert_nothing_on_disk(bounded, spill_dir)
    assert bounded.buffered_bytes() == 0
    with pytest.raises(error):
        next(batches)  # an error, never a silently short result
    assert_nothing_on_disk(bounded, spill_dir)


def test_an_expired_result_deletes_its_spill_files(spill_dir: Path) -> None:
    expired = threading.Event()
    store = ResultStore(
        ttl=0.2,
        stream_timeout=DEADLINE,
        on_abandoned=lambda _: expired.set(),
        max_memory_bytes=LIMIT,
        spill_dir=spill_dir,
    ).start()
    try:
        store.create("q", SCHEMA, SECRET, partitions=[0, 1])
        push_partition(store, 0, 1)
        store.confirm("q", 0, 1)
        push_partition(store, 1, 1)
        assert store.spill_files() == 2
        assert expired.wait(DEADLINE)
        assert store.query_ids() == []
        assert store.buffered_bytes() == 0
        assert_nothing_on_disk(store, spill_dir)
    finally:
        store.close()


def test_the_default_spill_dir_is_made_on_first_spill_and_removed_by_close(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))  # where mkdtemp makes it, for this test
    store = ResultStore(ttl=600, stream_timeout=DEADLINE, max_memory_bytes=LIMIT)
    try:
        store.create("q", SCHEMA, SECRET, partitions=[0])
        assert store.spill_dir is None
        push_partition(store, 0, 1)
        directory = store.spill_dir
        assert directory is not None and directory.parent == tmp_path
        assert directory.name.startswith("flight-spill-")
        assert len(files_in(directory)) == 1
    finally:
        store.close()
    assert not directory.exists()
    assert store.spilled_bytes() == 0


def test_unbounded_memory_never_touches_the_disk(spill_dir: Path) -> None:
    store = ResultStore(ttl=600, stream_timeout=DEADLINE, spill_dir=spill_dir)
    try:
        store.create("q", SCHEMA, SECRET, partitions=range(PARTITIONS))
        for partition in range(PARTITIONS):
            push_partition(store, partition, attempt=1)
        store.finish("q", [(p, 1) for p in range(PARTITIONS)])
        assert store.peak_buffered_bytes() == 5 * LIMIT
        assert read_all(store) == expected_values()
        assert not spill_dir.exists()
        assert store.spill_files() == 0
    finally:
        store.close()
    assert not spill_dir.exists()


def test_lz4_spill_files_read_back_the_same(spill_dir: Path) -> None:
    store = ResultStore(
        ttl=600, stream_timeout=DEADLINE, max_memory_bytes=0, spill_dir=spill_dir, spill_compression="lz4"
    )
    try:
        store.create("q", SCHEMA, SECRET, partitions=[0])
        push_partition(store, 0, 1)
        assert 0 < store.spilled_bytes() < BATCHES_PER_PARTITION * BATCH_BYTES  # smaller than the batches
        store.finish("q", [(0, 1)])
        assert read_all(store) == expected_values(1)
        assert_nothing_on_disk(store, spill_dir)
    finally:
        store.close()


def test_a_negative_memory_limit_is_refused() -> None:
    with pytest.raises(ValueError, match="max_memory_bytes"):
        ResultStore(ttl=600, stream_timeout=DEADLINE, max_memory_bytes=-1)


def test_a_started_store_that_is_never_closed_warns() -> None:
    unclosed = ResultStore(ttl=600, stream_timeout=DEADLINE).start()
    with pytest.warns(ResourceWarning, match="never closed"):
        del unclosed  # the last reference: its reaper holds it weakly


# ---- shares kept for reading again ----------------------------------------------------------------


def read_kept(store: ResultStore, keep_for: float = 600, query: str = "q") -> list[int]:
    _, batches = store.open_stream(query, keep_for=keep_for)
    return [value for b in batches for value in b.column(0).to_pylist()]


def test_a_kept_share_is_read_again_whole_as_often_as_asked(bounded: ResultStore, spill_dir: Path) -> None:
    bounded.create("q", SCHEMA, SECRET, partitions=list(range(PARTITIONS)))
    for partition in range(PARTITIONS):
        push_partition(bounded, partition, 1)
        bounded.confirm("q", partition, 1)
    bounded.finish("q", [(p, 1) for p in range(PARTITIONS)])
    assert read_kept(bounded) == expected_values()
    assert bounded.query_ids() == []  # the share itself is released as after any read
    assert bounded.buffered_bytes() == 0 and bounded.kept_results() == 1
    first, second = bounded.open_stream("q"), bounded.open_stream("q")  # two reads at once
    assert [v for b in first[1] for v in b.column(0).to_pylist()] == expected_values()
    assert [v for b in second[1] for v in b.column(0).to_pylist()] == expected_values()
    assert read_kept(bounded) == expected_values()  # a later read with keep_for reads the copy
    bounded.close()
    assert files_in(spill_dir) == []


def test_a_first_read_that_ends_early_keeps_nothing(
    bounded: ResultStore, spill_dir: Path, abandoned: list[str]
) -> None:
    bounded.create("q", SCHEMA, SECRET, partitions=[0, 1])
    push_partition(bounded, 0, 1)
    bounded.confirm("q", 0, 1)
    _, batches = bounded.open_stream("q", keep_for=600)
    next(batches)
    batches.close()  # the client went away
    assert abandoned == ["q"]
    assert bounded.kept_results() == 0
    assert_nothing_on_disk(bounded, spill_dir)
    with pytest.raises(UnknownTicketError):
        bounded.open_stream("q", keep_for=600)


def test_a_failed_query_keeps_nothing(store: ResultStore) -> None:
    store.create("q", SCHEMA, SECRET, partitions=[0, 1])
    push(store, 0, 1, 1, 2)
    store.confirm("q", 0, 1)
    _, batches = store.open_stream("q", keep_for=600)
    assert next(batches).num_rows == 2
    store.fail("q", QueryFailedError("[DIVIDE_BY_ZERO] Division by zero", "INVALID_ARGUMENT"))
    with pytest.raises(QueryFailedError):
        next(batches)
    assert store.kept_results() == 0


def test_a_share_being_read_for_the_first_time_says_to_read_it_again_later(store: ResultStore) -> None:
    store.create("q", SCHEMA, SECRET, partitions=[0])
    store.open_stream("q", keep_for=600)
    with pytest.raises(UnknownTicketError, match="is being read: read it again once that read has ended"):
        store.open_stream("q", keep_for=600)


def test_a_kept_share_expires_unless_it_is_being_read(spill_dir: Path) -> None:
    store = ResultStore(ttl=600, stream_timeout=DEADLINE, spill_dir=spill_dir, max_memory_bytes=LIMIT)
    try:
        store.create("q", SCHEMA, SECRET, partitions=[0])
        push_partition(store, 0, 1)
        store.confirm("q", 0, 1)
        store.finish("q", [(0, 1)])
        assert len(read_kept(store, keep_for=0.2)) == BATCHES_PER_PARTITION * ROWS_PER_BATCH
        _, reading = store.open_stream("q")
        next(reading)  # a read in progress holds the share past its time
        time.sleep(0.3)  # past keep_for on the monotonic clock the store reads
        store.due()  # what the reaper calls
        assert store.kept_results() == 1
        reading.close()
        store.due()
        assert store.kept_results() == 0
        assert_nothing_on_disk(store, spill_dir)
        with pytest.raises(UnknownTicketError):
            store.open_stream("q")
    finally:
        store.close()
