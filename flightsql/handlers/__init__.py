"""The Spark-backed Flight SQL handlers, one plain class per group of commands.

:class:`spark_flight_sql.flightsql.service.SparkFlightSqlService` composes them: queries and
prepared statements (:mod:`.queries`), updates (:mod:`.updates`), catalog metadata
(:mod:`.metadata`), client sessions (:mod:`.sessions`), bulk ingest (:mod:`.ingest`) and
cancellation (:mod:`.cancel`). Each group gets what it needs at construction, the shared
:class:`.backend.Backend` first, and receives every call as a
:class:`spark_flight_sql.flightsql.sessions.SparkCall`.
"""
