"""spark-flight-sql: a distributed Arrow Flight SQL server on Apache Spark.

Everything the distribution installs lives under this one name:

- :mod:`spark_flight_sql.flightmanager`: the pluggable FlightManager (no SQL in it);
- :mod:`spark_flight_sql.flightsql`: the Flight SQL front end and the ``spark-flight-sql`` CLI;
- :mod:`spark_flight_sql.datasource`: the ``flightsql`` PySpark data source.

In the source tree these are the top-level folders ``flightmanager/``, ``flightsql/`` and
``datasource/``; ``spark_flight_sql/`` links to them.
"""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("spark-flight-sql")
except PackageNotFoundError:  # a source tree that is not installed
    __version__ = "0.0.0"

__all__ = ["__version__"]
