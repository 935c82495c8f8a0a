"""Generated protobuf modules of the Flight SQL protocol.

- :mod:`spark_flight_sql.flightsql.proto.FlightSql_pb2`: every Flight SQL message (package
  ``arrow.flight.protocol.sql``), generated from ``FlightSql.proto``.
- :mod:`spark_flight_sql.flightsql.proto.FlightSession_pb2`: the session messages of Flight itself (package
  ``arrow.flight.protocol``), generated from ``FlightSession.proto``.

Both are written from the Arrow specification and regenerated with
``python -m spark_flight_sql.flightsql.proto.generate``. Application code should go through
:mod:`spark_flight_sql.flightsql.protocol`, which knows how each message travels on the wire.
"""
