"""A Flight SQL front end on pyarrow.flight, backed by PySpark.

Run a node with ``spark-flight-sql serve`` (or ``python -m spark_flight_sql.flightsql serve``), or
embed one with :class:`spark_flight_sql.flightsql.node.FlightSqlNode`.
"""

from __future__ import annotations

from spark_flight_sql import __version__

__all__ = ["__version__"]
