"""The driver side of the data path: a DataFrame's Arrow schema, and the Spark job that pushes it.

Executors convert partitions to Arrow in the JVM (``Dataset.toArrowBatchRdd``, reached through
Py4J) and a Python task per partition pushes the batches to a node. Sessions without a JVM (Spark
Connect) fall back to ``mapInArrow``, which converts in the Python workers instead.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

import pyarrow as pa

from spark_flight_sql.flightmanager.push import (
    PUSH_SUMMARY_DDL,
    PushSummary,
    PushTarget,
    push_arrow_batches,
    push_jvm_batches,
)
from spark_flight_sql.flightmanager.task_listener import PUSH_QUERY_PROPERTY

if TYPE_CHECKING:
    from pyspark.sql import DataFrame


def has_jvm(df: DataFrame) -> bool:
    """Whether the DataFrame lives in a classic session whose JVM Py4J can reach."""
    return getattr(df, "_jdf", None) is not None


def use_jvm(df: DataFrame, method: str) -> bool:
    """Resolve a ``spark.flight.push.method`` value for this DataFrame."""
    if method == "jvm" and not has_jvm(df):
        raise ValueError("spark.flight.push.method=jvm needs a classic SparkSession with a JVM")
    return method == "jvm" or (method == "auto" and has_jvm(df))


def _arrow_settings(df: DataFrame) -> tuple[str, bool, int]:
    conf = df.sparkSession.conf
    time_zone = conf.get("spark.sql.session.timeZone")
    large = (conf.get("spark.sql.execution.arrow.useLargeVarTypes", "false") or "false").lower() == "true"
    max_records = int(conf.get("spark.sql.execution.arrow.maxRecordsPerBatch", "10000") or "10000")
    return time_zone or "UTC", large, max_records


def arrow_schema(df: DataFrame, jvm: bool) -> pa.Schema:
    """The Arrow schema of the DataFrame's result, from the same conversion settings that make its batches."""
    time_zone, large, _ = _arrow_settings(df)
    if not jvm:
        from pyspark.sql.pandas.types import to_arrow_schema

        return to_arrow_schema(df.schema, timezone=time_zone, prefers_large_types=large)
    return arrow_schema_of_struct(df.sparkSession, df._jdf.schema())


def arrow_schema_of_struct(spark: Any, java_struct: Any) -> pa.Schema:
    """The Arrow schema of a JVM ``StructType``, as the session's own conversion settings make it."""
    conf = spark.conf
    time_zone = conf.get("spark.sql.session.timeZone") or "UTC"
    large = (conf.get("spark.sql.execution.arrow.useLargeVarTypes", "false") or "false").lower() == "true"
    jvm_handle = spark._jvm
    arrow_utils = getattr(jvm_handle.org.apache.spark.sql.util, "ArrowUtils$").__getattr__("MODULE$")
    extra_default = getattr(arrow_utils, "toArrowSchema$default$5")()
    java_schema = arrow_utils.toArrowSchema(java_struct, time_zone, False, large, extra_default)
    return pa.ipc.read_schema(pa.py_buffer(bytes(java_schema.serializeAsMessage())))


def cancel_job_group(df: DataFrame, job_group: str) -> None:
    """Cancel the Spark jobs of ``job_group``, and those it submits later: a cancel that arrives
    before the job was submitted must not let it run."""
    context = df.sparkSession.sparkContext
    context._jsc.sc().cancelJobGroupAndFutureJobs(job_group, "the query was cancelled")


class PushJob:
    """One Spark job that pushes every partition of a DataFrame's result to the nodes of ``target``."""

    def __init__(
        self, df: DataFrame, target: PushTarget, *, jvm: bool, job_group: str, description: str
    ) -> None:
        self._df = df
        self._target = target
        self._jvm = jvm
        self._job_group = job_group
        self._description = description

    def run(self, on_partitions: Callable[[int], None]) -> list[PushSummary]:
        """Run the job to the end (blocking). ``on_partitions(n)`` is called once the partition count
        is known (JVM path only). Returns the summaries of the attempts Spark counted as successful."""
        context = self._df.sparkSession.sparkContext
        context.setJobGroup(self._job_group, self._description[:200], interruptOnCancel=True)
        try:
            if self._jvm:
                pushed = self._jvm_push_rdd(context, on_partitions)
            else:
                pushed = self._df.mapInArrow(
                    functools.partial(push_arrow_batches, self._target), PUSH_SUMMARY_DDL
                )
            # Set only now, so that jobs run while planning (shuffles, broadcasts) are not taken
            # for the push job by the task listener.
            context.setLocalProperty(PUSH_QUERY_PROPERTY, self._target.query_id)
            rows = pushed.collect()
        finally:
            for key in (
                PUSH_QUERY_PROPERTY,
                "spark.jobGroup.id",
                "spark.job.description",
                "spark.job.interruptOnCancel",
            ):
                context.setLocalProperty(key, None)  # type: ignore[arg-type]  # - None clears it; PySpark says str
        return [PushSummary(int(r[0]), int(r[1]), str(r[2]), int(r[3])) for r in rows]

    def _jvm_push_rdd(self, context: Any, on_partitions: Callable[[int], None]) -> Any:
        from pyspark import RDD
        from pyspark.serializers import NoOpSerializer

        time_zone, large, max_records = _arrow_settings(self._df)
        # With adaptive execution this plans the query and may run its shuffle stages.
        java_rdd = self._df._jdf.toArrowBatchRdd(max_records, time_zone, False, large)
        on_partitions(java_rdd.getNumPartitions())
        batches: RDD[bytes] = RDD(java_rdd.toJavaRDD(), context, NoOpSerializer())
        return batches.mapPartitionsWithIndex(functools.partial(push_jvm_batches, self._target))

    def cancel(self) -> None:
        """Cancel the job's Spark jobs, running or still to come (safe at any time, from any thread)."""
        cancel_job_group(self._df, self._job_group)


class CollectJob:
    """Collects a small DataFrame's result as Arrow on the driver, with the same conversion as the
    push path (``toArrowBatchRdd``, so every type a push supports), cancellable like a push job."""

    def __init__(
        self, df: DataFrame, schema: pa.Schema, *, jvm: bool, job_group: str, description: str
    ) -> None:
        self._df = df
        self._schema = schema
        self._jvm = jvm
        self._job_group = job_group
        self._description = description

    def run(self) -> Iterator[pa.RecordBatch]:
        """Run the job (lazily, a partition at a time as the batches are consumed, so only one
        partition is in this process at once) and yield the result's batches in order."""
        context = self._df.sparkSession.sparkContext
        context.setJobGroup(self._job_group, self._description[:200], interruptOnCancel=True)
        try:
            if not self._jvm:
                yield from self._df.toArrow().cast(self._schema).to_batches()
                return
            from pyspark import RDD
            from pyspark.serializers import NoOpSerializer

            time_zone, large, max_records = _arrow_settings(self._df)
            java_rdd = self._df._jdf.toArrowBatchRdd(max_records, time_zone, False, large)
            messages: RDD[bytes] = RDD(java_rdd.toJavaRDD(), context, NoOpSerializer())
            for message in messages.toLocalIterator():
                yield pa.ipc.read_record_batch(pa.py_buffer(message), self._schema)
        finally:
            for key in ("spark.jobGroup.id", "spark.job.description", "spark.job.interruptOnCancel"):
                context.setLocalProperty(key, None)  # type: ignore[arg-type]  # - None clears it; PySpark says str

    def cancel(self) -> None:
        """Cancel the job's Spark jobs, running or still to come (safe at any time, from any thread)."""
        cancel_job_group(self._df, self._job_group)
