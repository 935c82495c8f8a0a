"""The ``flightsql`` PySpark data source: read any Flight SQL server in parallel, write through bulk ingest.

>>> from spark_flight_sql import datasource
>>> datasource.register(spark)
>>> df = (spark.read.format("flightsql")
...       .option("uri", "grpc://127.0.0.1:32010")
...       .option("query", "SELECT * FROM demo.sales")
...       .load())                                  # one Spark partition per endpoint
>>> (df.write.format("flightsql").option("uri", "grpc://127.0.0.1:32010")
...    .option("table", "demo.sales_copy").mode("overwrite").save())

What runs where, in the style of PySpark's Python data sources: the driver checks the options,
asks the server for the schema, sends GetFlightInfo and prepares a written table; each task
(:meth:`~spark_flight_sql.datasource.reader.FlightSqlReader.read`,
:meth:`~spark_flight_sql.datasource.writer.FlightSqlWriter.write`) gets a stateless reader or
writer and a partition that carries only its endpoint's ticket, locations and bearer header, and
moves Arrow batches. The modules tasks load import, at module level, only the standard library,
pyarrow, the protocol messages (:mod:`spark_flight_sql.flightsql.protocol`,
:mod:`spark_flight_sql.flightsql.proto`) and PySpark's data source base classes; anything else
(PySpark's type conversions, the filter translation) is imported inside the method that needs it.
No ADBC, no kazoo, nothing of the server nor of the FlightManager's driver side
(``tests/test_layers.py`` checks it).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from spark_flight_sql.datasource.options import OPTIONS, FlightSqlOptions, OptionError, parse_options

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

__all__ = [
    "FILTER_PUSHDOWN_CONF",
    "OPTIONS",
    "DefaultSource",
    "FlightSqlDataSource",
    "FlightSqlOptions",
    "FlightSqlSourceError",
    "OptionError",
    "parse_options",
    "register",
]

FILTER_PUSHDOWN_CONF = "spark.sql.python.filterPushdown.enabled"
"""Spark refuses a Python reader that pushes filters unless this is true (default false in 4.x)."""


def register(spark: SparkSession, enable_filter_pushdown: bool = False) -> None:
    """Register the ``flightsql`` format with ``spark``.

    With ``enable_filter_pushdown``, :data:`FILTER_PUSHDOWN_CONF` is also turned on (unless it
    was set explicitly), which reads with the ``pushdown`` option need.
    """
    from spark_flight_sql.datasource.source import FlightSqlDataSource

    spark.dataSource.register(FlightSqlDataSource)
    if enable_filter_pushdown and spark.conf.get(FILTER_PUSHDOWN_CONF, None) is None:
        spark.conf.set(FILTER_PUSHDOWN_CONF, "true")


def __getattr__(name: str) -> object:
    # Lazily, so that importing the package does not import pyspark's data source module.
    if name in {"FlightSqlDataSource", "DefaultSource"}:
        from spark_flight_sql.datasource.source import FlightSqlDataSource

        return FlightSqlDataSource
    if name == "FlightSqlSourceError":
        from spark_flight_sql.datasource.client import FlightSqlSourceError

        return FlightSqlSourceError
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
