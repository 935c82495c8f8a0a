"""A Flight SQL front end on pyarrow.flight, backed by PySpark.

Run a node with ``spark-flight-sql serve`` (or ``python -m spark_flight_sql.flightsql serve``), or
embed one with :class:`spark_flight_sql.flightsql.node.FlightSqlNode`.

How a request travels:

- :mod:`.router`: :class:`~.router.FlightSqlRouter`, the one pyarrow Flight server. It decodes the
  Any-wrapped command once, checks the request's bounds, builds the per-call request and calls one
  typed method of the service it holds (one table from type URL to method, :data:`~.router.ROUTES`).
- :mod:`.interface`: :class:`~.interface.FlightSqlService`, one method per Flight SQL command and
  action, each UNIMPLEMENTED until overridden; :mod:`.call`: the per-call request
  (:class:`~.call.Call`). :mod:`.standalone`: a service that runs its own router (tests, examples).
- :mod:`.service`: :class:`~.service.SparkFlightSqlService`, the node's service, composed of the
  handler groups in :mod:`.handlers` (queries, updates, metadata, sessions, ingest, cancel).
- :mod:`.node`: the node's lifecycle (:class:`~.node.FlightSqlNode`, ``serve``, ``build_spark``).

Beneath them: :mod:`.protocol` and :mod:`.schemas` (the wire), :mod:`.sessions` (client sessions),
:mod:`.ingest`, :mod:`.updates`, :mod:`.statements`, :mod:`.catalog` (Spark work), :mod:`.auth`,
:mod:`.authz` and :mod:`.security` (who may do what), :mod:`.errors` (statuses).
"""

from __future__ import annotations

from spark_flight_sql import __version__

__all__ = ["__version__"]
