"""Lets PySpark find the ``flightsql`` data source without ``datasource.register(spark)``.

PySpark 4 looks for top-level modules named ``pyspark_*`` that define ``DefaultSource``.
"""

from __future__ import annotations

from spark_flight_sql.datasource.source import FlightSqlDataSource as DefaultSource

__all__ = ["DefaultSource"]
