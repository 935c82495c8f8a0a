"""Session actions: SetSessionOptions, GetSessionOptions and CloseSession.

What a session is, and which options it takes, is in :mod:`spark_flight_sql.flightsql.sessions`.
"""

from __future__ import annotations

from spark_flight_sql.flightsql.errors import InvalidArgument
from spark_flight_sql.flightsql.proto import FlightSession_pb2 as session_pb2
from spark_flight_sql.flightsql.sessions import (
    CATALOG,
    COOKIE,
    EXECUTION_MODE,
    SCHEMA,
    ClientSessions,
    SparkCall,
)

__all__ = ["SessionHandlers"]


class SessionHandlers:
    """The Flight session actions, on this node's :class:`ClientSessions`."""

    def __init__(self, sessions: ClientSessions) -> None:
        self.sessions = sessions

    def do_action_set_session_options(
        self, call: SparkCall, request: session_pb2.SetSessionOptionsRequest
    ) -> session_pb2.SetSessionOptionsResult:
        """Set (or, with an empty value, unset) options; each rejected one is named in the result."""
        session_id = call.session_id
        if session_id is None:
            raise InvalidArgument(
                f"no session: keep the {COOKIE} cookie this server sets and send it with this call"
            )
        options, result = self.sessions.updated_options(call.options(), request.session_options)
        self.sessions.store_options(session_id, options)
        call.remember_options(options)
        self.sessions.expire_records()
        return result

    def do_action_get_session_options(
        self, call: SparkCall, request: session_pb2.GetSessionOptionsRequest
    ) -> session_pb2.GetSessionOptionsResult:
        """The session's options, with the current catalog, schema and execution mode always present."""
        options = call.options()
        spark = call.spark
        options[CATALOG] = spark.catalog.currentCatalog()
        options[SCHEMA] = spark.catalog.currentDatabase()
        options.setdefault(EXECUTION_MODE, self.sessions.settings.execution_mode.value)
        result = session_pb2.GetSessionOptionsResult()
        for name, value in options.items():
            result.session_options[name].string_value = value
        return result

    def do_action_close_session(
        self, call: SparkCall, request: session_pb2.CloseSessionRequest
    ) -> session_pb2.CloseSessionResult:
        """Forget the session's options and this node's Spark session (its temporary views go too)."""
        session_id = call.session_id
        if session_id is not None:
            self.sessions.close(session_id)
        return session_pb2.CloseSessionResult(status=session_pb2.CloseSessionResult.CLOSED)
