"""Writing through CommandStatementIngest: every Spark task streams its own partition.

The table is prepared once, on the driver, when Spark creates the writer: ``overwrite`` replaces
it (or creates it) with an empty upload of the DataFrame's schema, ``append`` creates it when
missing (and an existing table's columns are checked there, before any task runs). Then each
task appends its partition in one DoPut. Nothing makes the whole write atomic: tasks that finished
keep their rows when another fails, an overwrite has already emptied the table by then, and a
task that Spark retries after its upload succeeded appends its rows again.

Where it runs: ``FlightSqlWriter(...)`` (preparing the table) on the driver, ``write()`` in the
tasks, with the pickled writer; this module imports PySpark's base classes and the options at
module level, the connection and the protocol messages inside the methods.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

from pyspark.sql.datasource import DataSourceArrowWriter, WriterCommitMessage

from spark_flight_sql.datasource.options import FlightSqlOptions, OptionError

if TYPE_CHECKING:
    import pyarrow as pa
    from pyspark.sql.types import StructType

    from spark_flight_sql.flightsql.proto.FlightSql_pb2 import CommandStatementIngest

__all__ = ["FlightSqlWriter", "IngestCommitMessage", "table_parts"]


@dataclass
class IngestCommitMessage(WriterCommitMessage):
    """What one task uploaded."""

    rows: int
    server_count: int


def table_parts(options: FlightSqlOptions) -> tuple[str | None, str | None, str]:
    """(catalog, schema, table) of the target: the ``table`` option split at dots, unless the
    ``catalog`` or ``db_schema`` options are given, in which case ``table`` is taken whole."""
    if options.table is None:
        raise OptionError("writing needs option 'table'")
    if options.catalog is not None or options.db_schema is not None:
        return options.catalog, options.db_schema, options.table
    parts = options.table.split(".")
    if len(parts) > 3 or not all(parts):
        raise OptionError(f"option 'table' must be [catalog.][schema.]table, not {options.table!r}")
    padded: list[str | None] = [None] * (3 - len(parts)) + list(parts)
    return padded[0], padded[1], padded[2] or ""


def _command(options: FlightSqlOptions, if_not_exist: str, if_exists: str) -> CommandStatementIngest:
    from spark_flight_sql.flightsql.proto import FlightSql_pb2 as sql_pb2

    definition = sql_pb2.CommandStatementIngest.TableDefinitionOptions
    catalog, schema, table = table_parts(options)
    command = sql_pb2.CommandStatementIngest(
        table=table,
        table_definition_options=definition(
            if_not_exist=getattr(definition, f"TABLE_NOT_EXIST_OPTION_{if_not_exist}"),
            if_exists=getattr(definition, f"TABLE_EXISTS_OPTION_{if_exists}"),
        ),
    )
    if catalog is not None:
        command.catalog = catalog
    if schema is not None:
        command.schema = schema
    for key, value in options.ingest_options:
        command.options[key] = value
    return command


class FlightSqlWriter(DataSourceArrowWriter):
    """Prepares the table on creation (driver side); each task appends its partition."""

    def __init__(self, options: FlightSqlOptions, schema: StructType, overwrite: bool) -> None:
        self.options = options
        self.schema = schema
        self.overwrite = overwrite
        self._prepare()

    def _target(self) -> str:
        return ".".join(part for part in table_parts(self.options) if part)

    def _prepare(self) -> None:
        from spark_flight_sql.datasource.client import FlightSqlSourceError, connect, describe_error
        from spark_flight_sql.datasource.protocol import ingest
        from spark_flight_sql.datasource.types import spark_arrow_schema

        command = _command(self.options, "CREATE", "REPLACE" if self.overwrite else "APPEND")
        mode = "replace" if self.overwrite else "prepare"
        with connect(self.options, what="write to") as connection:
            try:
                ingest(connection, command, spark_arrow_schema(self.schema), [], timeout=self.options.timeout)
            except Exception as exc:
                raise FlightSqlSourceError(
                    f"flightsql: cannot {mode} table {self._target()} at {connection.uri}: {describe_error(exc)}"
                ) from exc

    def write(self, iterator: Iterator[pa.RecordBatch]) -> IngestCommitMessage:  # type: ignore[override]  # - DataSourceArrowWriter's own signature: batches, where DataSourceWriter's takes Rows
        """Append this task's batches to the table in one DoPut (nothing is sent for none)."""
        from spark_flight_sql.datasource.client import FlightSqlSourceError, connect, describe_error
        from spark_flight_sql.datasource.protocol import ingest

        first = next(iterator, None)
        if first is None:
            return IngestCommitMessage(0, 0)
        rows = 0

        def counted() -> Iterator[pa.RecordBatch]:
            nonlocal rows
            for batch in itertools.chain([first], iterator):
                rows += batch.num_rows
                yield batch

        command = _command(self.options, "FAIL", "APPEND")
        with connect(self.options, what="write to") as connection:
            try:
                count = ingest(
                    connection, command, first.schema, counted(), timeout=self.options.write_timeout
                )
            except Exception as exc:
                raise FlightSqlSourceError(
                    f"flightsql: appending to table {self._target()} at {connection.uri} failed "
                    f"after {rows} rows were sent: {describe_error(exc)}"
                ) from exc
        return IngestCommitMessage(rows, count)
