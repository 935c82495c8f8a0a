"""The FlightManager embedded in this process's SparkSession: both push paths, and exactly-once."""

from __future__ import annotations

import logging

import pyarrow as pa
import pytest

from spark_flight_sql.flightmanager import FlightConfig, create_manager

MIXED = """
    SELECT id,
           CAST(id * 1.5 AS DOUBLE) AS d,
           CAST(id AS DECIMAL(20, 3)) AS dec,
           concat('row-', id) AS s,
           date_add(DATE'2024-01-01', CAST(id % 365 AS INT)) AS day,
           timestamp_seconds(id) AS ts,
           IF(id % 3 = 0, NULL, array(id, id + 1)) AS arr,
           named_struct('a', id, 'b', CAST(id AS STRING)) AS st
    FROM range(0, 20000, 1, 5)
"""


@pytest.fixture
def manager(spark, request):
    method = getattr(request, "param", "auto")
    config = FlightConfig(internal_port=0, push_method=method)
    with create_manager(config, spark) as flight_manager:
        flight_manager.start(public_port=0)
        yield flight_manager


@pytest.fixture
def early_manager(spark):
    config = FlightConfig(internal_port=0, stream_early=True)
    with create_manager(config, spark) as flight_manager:
        flight_manager.start(public_port=0)
        yield flight_manager


def read_result(manager, df) -> pa.Table:
    result = manager.distribute(df)
    assert len(result.endpoints) == 1
    schema, batches = manager.open_stream(result.endpoints[0].ticket)
    return pa.Table.from_batches(list(batches), schema=schema)


@pytest.mark.parametrize("manager", ["jvm", "mapInArrow"], indirect=True)
def test_both_push_paths_match_spark_to_arrow(spark, manager) -> None:
    df = spark.sql(MIXED)
    got = read_result(manager, df)
    expected = df.toArrow()
    assert got.schema.equals(expected.schema)
    assert got.sort_by("id").equals(expected.sort_by("id"))
    assert manager.store.query_ids() == []
    assert manager.store.buffered_bytes() == 0


def failing_first_attempts(spark):
    """4000 ids in 4 partitions whose first attempts fail after pushing 900 rows each (50-row batches)."""
    from pyspark.sql.functions import udf

    @udf("long", useArrow=False)
    def fail_first_attempt_late(x: int) -> int:
        from pyspark import TaskContext

        if TaskContext.get().attemptNumber() == 0 and x % 1000 == 900:
            raise RuntimeError("injected failure after most of the partition was pushed")
        return x

    return spark.range(0, 4000, 1, 4).select(fail_first_attempt_late("id").alias("id"))


def test_failed_first_attempts_never_duplicate_rows(spark, manager, caplog) -> None:
    spark.conf.set("spark.sql.execution.arrow.maxRecordsPerBatch", "50")
    try:
        df = failing_first_attempts(spark)
        with caplog.at_level(logging.INFO, logger="spark_flight_sql.flightmanager.results"):
            table = read_result(manager, df)
    finally:
        spark.conf.unset("spark.sql.execution.arrow.maxRecordsPerBatch")
    ids = table.column("id").to_pylist()
    assert len(ids) == 4000
    assert sorted(ids) == list(range(4000))
    assert any("discarded" in record.getMessage() for record in caplog.records), (
        "no failed attempt had pushed anything: the test did not exercise the discard path"
    )


def test_early_streaming_serves_the_whole_result_once(spark, early_manager) -> None:
    df = spark.sql(MIXED)
    got = read_result(early_manager, df)
    assert got.sort_by("id").equals(df.toArrow().sort_by("id"))
    assert early_manager.store.query_ids() == [] and early_manager.store.buffered_bytes() == 0


def test_early_streaming_never_duplicates_rows_of_a_failed_attempt(spark, early_manager) -> None:
    """A first attempt fails after pushing most of its partition: the reader either streamed some of
    it (then the stream fails, UNAVAILABLE) or had not reached it (then the retry is served)."""
    from spark_flight_sql.flightmanager.errors import StreamInterruptedError

    spark.conf.set("spark.sql.execution.arrow.maxRecordsPerBatch", "50")
    ids: list[int] = []
    interrupted = None
    try:
        result = early_manager.distribute(failing_first_attempts(spark))
        _, batches = early_manager.open_stream(result.endpoints[0].ticket)
        try:
            for batch in batches:
                ids.extend(batch.column(0).to_pylist())
        except StreamInterruptedError as error:
            interrupted = error
    finally:
        spark.conf.unset("spark.sql.execution.arrow.maxRecordsPerBatch")
    assert len(ids) == len(set(ids))  # never a row twice
    if interrupted is not None:
        assert "run it again" in str(interrupted) and len(ids) < 4000
    else:
        assert sorted(ids) == list(range(4000))
    assert early_manager.store.query_ids() == [] and early_manager.store.buffered_bytes() == 0


def test_an_analysis_error_is_raised_before_anything_runs(spark, manager) -> None:
    from pyspark.errors import AnalysisException

    with pytest.raises(AnalysisException):
        manager.distribute(spark.sql("SELECT no_such_column FROM range(1)"))
    assert manager.store.query_ids() == []


def test_the_task_listener_leaves_spark_when_its_last_owner_closes(spark) -> None:
    """Spark removes listeners by reference: the one Java proxy added is the one removed."""
    from spark_flight_sql.flightmanager.task_listener import TaskSuccessListener

    bus = spark.sparkContext._jsc.sc().listenerBus()
    before = bus.listeners().size()
    first = TaskSuccessListener.for_context(spark.sparkContext)
    second = TaskSuccessListener.for_context(spark.sparkContext)
    assert second is first
    assert bus.listeners().size() == before + 1
    first.close()
    assert bus.listeners().size() == before + 1
    second.close()
    assert bus.listeners().size() == before
    assert TaskSuccessListener.for_context(spark.sparkContext) is not first  # a new owner, a new listener
    TaskSuccessListener._instances[id(spark.sparkContext)].close()
    assert bus.listeners().size() == before
