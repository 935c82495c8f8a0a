"""The ``flightsql`` data source: Spark's entry point to the reader and the writer."""

from __future__ import annotations

from typing import TYPE_CHECKING

from pyspark.sql.datasource import DataSource

if TYPE_CHECKING:
    from pyspark.sql.datasource import DataSourceReader, DataSourceWriter
    from pyspark.sql.types import StructType

    from spark_flight_sql.datasource.options import FlightSqlOptions

__all__ = ["FlightSqlDataSource"]


class FlightSqlDataSource(DataSource):
    """``spark.read.format("flightsql")`` and ``df.write.format("flightsql")``.

    Reads take ``uri`` and ``query`` or ``dbtable``; writes take ``uri`` and ``table``. See
    :data:`spark_flight_sql.datasource.options.OPTIONS` for the rest (credentials, TLS, headers, timeouts).
    """

    @classmethod
    def name(cls) -> str:
        """The format name: ``flightsql``."""
        return "flightsql"

    def _options(self) -> FlightSqlOptions:
        from spark_flight_sql.datasource.options import parse_options

        return parse_options(self.options)

    def _read_options(self) -> FlightSqlOptions:
        from spark_flight_sql.datasource.options import OptionError

        options = self._options()
        if (options.query is None) == (options.dbtable is None):
            raise OptionError("reading needs exactly one of the options 'query' and 'dbtable'")
        return options

    def schema(self) -> StructType:
        """The result's schema as the server describes it, in Spark types."""
        from spark_flight_sql.datasource.client import FlightSqlSourceError, connect
        from spark_flight_sql.datasource.protocol import result_schema
        from spark_flight_sql.datasource.types import spark_schema

        options = self._read_options()
        with connect(options, what="read the schema from") as connection:
            arrow_schema = result_schema(connection, options.read_sql())
        try:
            return spark_schema(arrow_schema)
        except TypeError as exc:
            raise FlightSqlSourceError(
                f"flightsql: the result of {options.read_sql()!r} at {options.uri}: {exc}"
            ) from None

    def reader(self, schema: StructType) -> DataSourceReader:
        """A reader; ``dbtable`` reads with the ``pushdown`` option push filters into the SQL."""
        from spark_flight_sql.datasource.reader import FlightSqlPushdownReader, FlightSqlReader

        options = self._read_options()
        if options.dbtable is not None and options.pushdown:
            return FlightSqlPushdownReader(options, schema)
        return FlightSqlReader(options, schema)

    def writer(self, schema: StructType, overwrite: bool) -> DataSourceWriter:
        """A writer; creating it prepares the table (replaces it when ``overwrite``)."""
        from spark_flight_sql.datasource.writer import FlightSqlWriter

        return FlightSqlWriter(self._options(), schema, overwrite)
