"""A Flight SQL front end on pyarrow.flight, backed by PySpark.

Run a node with ``spark-flight-sql serve`` (or ``python -m flightsql serve``), or embed one with
:class:`flightsql.server.FlightSqlNode`.
"""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("spark-flight-sql")
except PackageNotFoundError:  # running from a source tree that is not installed
    __version__ = "0.0.0"

__all__ = ["__version__"]
