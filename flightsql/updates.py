"""Running DDL and DML with Spark, with or without parameter rows, and counting affected rows."""

from __future__ import annotations

import logging
import uuid
from typing import TYPE_CHECKING, Any

import pyarrow as pa

from spark_flight_sql.flightsql.errors import InvalidArgument
from spark_flight_sql.flightsql.statements import (
    check_parameter_rows,
    classify,
    parameter_rows,
    quote_identifier,
    writes_rows,
)

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

log = logging.getLogger(__name__)

UNKNOWN = -1
"""The Flight SQL record count meaning "Spark cannot know" (of a write: statements that change no
rows answer 0)."""

# Write metrics that count rows (v1 file writes, and v2 and table-format commands that report them).
_ROW_METRICS = ("numOutputRows", "numAffectedRows", "numInsertedRows", "numUpdatedRows", "numDeletedRows")


def run_update(spark: SparkSession, sql: str, parameters: pa.Table | None = None) -> int:
    """Run a DDL or DML statement once, or once per parameter row; the affected rows (0 for DDL), or -1
    for a write Spark did not count.

    ``INSERT INTO t [(columns)] VALUES (?, ..., ?)`` with many rows is one Spark write of all of
    them, not one job per row.
    """
    kind = classify(spark, sql)
    if parameters is None or parameters.num_rows == 0:
        return _run_once(spark, sql, None, kind.is_command)
    if parameters.num_rows > 1:
        found = _insert_values_target(spark, sql)
        if found is not None:
            target, markers = found
            if markers != parameters.num_columns:
                raise InvalidArgument(
                    f"the statement has {markers} parameter markers but {parameters.num_columns} values per row were sent"
                )
            return _insert_rows(spark, target, parameters)
    total = 0
    check_parameter_rows(parameters.num_rows)
    for row in parameter_rows(parameters):
        count = _run_once(spark, sql, row, kind.is_command)
        total = UNKNOWN if UNKNOWN in (total, count) else total + count
    return total


def _run_once(spark: SparkSession, sql: str, args: list[object] | None, is_command: bool) -> int:
    df = spark.sql(sql, args=args or None)  # Spark runs commands here, eagerly
    if not is_command:
        df.count()
        return UNKNOWN
    count = affected_rows(df)
    if count == UNKNOWN and not writes_rows(spark, sql):
        # DDL, SET, USE, CACHE...: no rows changed. JDBC says 0 for "a statement that returns
        # nothing", and the Flight SQL JDBC driver takes -1 for "this was a query" and runs it again.
        return 0
    return count


def affected_rows(df: DataFrame) -> int:
    """The rows a command that already ran wrote or changed, from its result or its metrics; -1 when
    it does not say."""
    if "num_affected_rows" in df.columns:  # table formats that answer DML with a row of counts
        row = df.first()
        return (
            int(row["num_affected_rows"])
            if row is not None and row["num_affected_rows"] is not None
            else UNKNOWN
        )
    try:
        plan = df._jdf.queryExecution().executedPlan()
        if plan.getClass().getSimpleName() == "CommandResultExec":
            plan = plan.commandPhysicalPlan()
        return _row_metric(plan)
    except Exception:  # metrics are a best effort; the statement itself succeeded
        log.debug("no row count for a command", exc_info=True)
        return UNKNOWN


def _row_metric(plan: Any) -> int:
    metrics = plan.metrics()
    for name in _ROW_METRICS:
        if metrics.contains(name):
            return int(metrics.apply(name).value())
    children = plan.children()
    if children.size() == 1:
        return _row_metric(children.head())
    return UNKNOWN


def insert_parameter_schema(spark: SparkSession, sql: str) -> pa.Schema | None:
    """For ``INSERT INTO t [(cols)] VALUES (?, ..., ?)``: one field per marker, of the type of the
    column it fills as query results have it (clients that bind by the declared type, such as the
    Flight SQL JDBC driver, need one); None for other statements, or when the table cannot tell."""
    from spark_flight_sql.flightmanager.spark_job import arrow_schema_of_struct

    found = _insert_values_parts(spark, sql)
    if found is None:
        return None
    table, columns, markers = found
    try:
        df = spark.table(table)
        if columns:
            df = df.select(*[quote_identifier(column) for column in columns])
        schema = arrow_schema_of_struct(spark, df._jdf.schema())
    except Exception:  # noqa: BLE001 - no table yet, a column unknown: Spark says so when it runs
        return None
    if len(schema) != markers:
        return None
    return pa.schema(
        [pa.field(f"parameter_{i + 1}", _parameter_type(field.type)) for i, field in enumerate(schema)]
    )


def _parameter_type(column: pa.DataType) -> pa.DataType:
    """The declared type of a marker filling a column of type ``column``. Timestamps are declared in
    milliseconds: the JDBC driver writes a timestamp parameter's milliseconds into the declared vector
    whatever its unit (arrow-java TimestampAvaticaParameterConverter), and Spark reads any unit."""
    if pa.types.is_timestamp(column):
        return pa.timestamp("ms", tz=column.tz)
    return column


def _insert_values_target(spark: SparkSession, sql: str) -> tuple[str, int] | None:
    """For ``INSERT INTO t [(cols)] VALUES (?, ..., ?)``: ``t [(cols)]`` quoted and the number of
    markers, else None."""
    found = _insert_values_parts(spark, sql)
    if found is None:
        return None
    table, columns, markers = found
    if columns:
        table += f" ({', '.join(quote_identifier(column) for column in columns)})"
    return table, markers


def _insert_values_parts(spark: SparkSession, sql: str) -> tuple[str, list[str], int] | None:
    """For ``INSERT INTO t [(cols)] VALUES (?, ..., ?)``: ``t`` quoted, the columns named (or none),
    and the number of markers, else None."""
    plan = spark._jsparkSession.sessionState().sqlParser().parsePlan(sql)
    if plan.getClass().getSimpleName() != "InsertIntoStatement":
        return None
    query = plan.query()
    if (
        query.getClass().getSimpleName() != "UnresolvedInlineTable"
        or plan.overwrite()
        or plan.byName()
        or plan.ifPartitionNotExists()
        or not plan.partitionSpec().isEmpty()
        or query.rows().size() != 1
        or plan.table().getClass().getSimpleName() != "UnresolvedRelation"
    ):
        return None
    values = query.rows().head()
    markers = [values.apply(i) for i in range(values.size())]
    if not markers or any(marker.getClass().getSimpleName() != "PosParameter" for marker in markers):
        return None
    parts = plan.table().multipartIdentifier()
    table = ".".join(quote_identifier(parts.apply(i)) for i in range(parts.size()))
    columns = plan.userSpecifiedCols()
    return table, [columns.apply(i) for i in range(columns.size())], len(markers)


def _insert_rows(spark: SparkSession, target: str, parameters: pa.Table) -> int:
    # Positional, like VALUES: parameter columns keep their order under names of our own.
    names = [f"c{i}" for i in range(parameters.num_columns)]
    view = f"flight_sql_parameters_{uuid.uuid4().hex}"
    spark.createDataFrame(parameters.rename_columns(names)).createOrReplaceTempView(view)
    try:
        df = spark.sql(f"INSERT INTO {target} SELECT {', '.join(names)} FROM {quote_identifier(view)}")
        count = affected_rows(df)
        return parameters.num_rows if count == UNKNOWN else count
    finally:
        spark.catalog.dropTempView(view)
