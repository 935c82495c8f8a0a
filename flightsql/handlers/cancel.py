"""Cancellation: CancelFlightInfo (and the deprecated CancelQuery, which goes through it)."""

from __future__ import annotations

import pyarrow.flight as flight

from spark_flight_sql.flightmanager.errors import FlightManagerError
from spark_flight_sql.flightmanager.model import NodeTicket
from spark_flight_sql.flightsql import protocol
from spark_flight_sql.flightsql.errors import InvalidArgument
from spark_flight_sql.flightsql.handlers.backend import Backend
from spark_flight_sql.flightsql.proto import FlightSql_pb2 as sql_pb2
from spark_flight_sql.flightsql.sessions import SparkCall

__all__ = ["CancelHandlers"]


class CancelHandlers:
    """Cancel the Spark job behind a FlightInfo this cluster issued to the caller."""

    def __init__(self, backend: Backend) -> None:
        self.backend = backend

    def do_action_cancel_flight_info(self, call: SparkCall, info: flight.FlightInfo) -> protocol.CancelStatus:
        """Cancel the Spark job behind ``info`` and release its result on every node."""
        query_ids = {self._query_of(call, endpoint.ticket.ticket) for endpoint in info.endpoints}
        if not query_ids:
            raise InvalidArgument("this FlightInfo has no endpoints, so there is no query to cancel")
        manager = self.backend.manager
        cancelled = [manager.cancel(query_id, "the client cancelled the query") for query_id in query_ids]
        return protocol.CancelStatus.CANCELLED if any(cancelled) else protocol.CancelStatus.NOT_CANCELLABLE

    def _query_of(self, call: SparkCall, ticket: bytes) -> str:
        command = protocol.unpack_command(ticket)
        if not isinstance(command, sql_pb2.TicketStatementQuery):
            raise InvalidArgument("only query results can be cancelled; this FlightInfo is of metadata")
        security = self.backend.security
        node_ticket = security.unbind(security.tickets, call.identity, command.statement_handle)
        try:
            return NodeTicket.decode(node_ticket).query_id
        except FlightManagerError as exc:
            raise InvalidArgument(str(exc)) from None
