"""The internal Flight server of a node: it takes the Arrow batches that executors push, and serves
its shares of results to other nodes that relay them; nothing else.

Every call is checked before any handler runs, by :class:`PushAuthMiddleware`. Two calls get through:

* a DoPut that carries the push headers (``x-spark-flight-push-query`` and
  ``x-spark-flight-push-secret``, the query's push secret derived from the cluster secret): an
  executor pushing one partition attempt;
* a DoGet that carries the relay headers (``x-spark-flight-relay-query`` and
  ``x-spark-flight-relay-secret``, the query's relay secret, derived differently): another node
  relaying this node's share to a client that sent it there
  (:mod:`~spark_flight_sql.flightmanager.relay`). The ticket must name that query and this node.

A missing or wrong secret, a push secret shown for a relay or the other way round, and every other
RPC (GetFlightInfo, DoAction, ListFlights, ListActions, DoExchange, GetSchema, Handshake, ...) is
refused with UNAUTHENTICATED before the server reads anything of the call. The DoPut handler then
checks that the descriptor names the query the secret was shown for. Secrets travel in headers, not
in the descriptor or ticket, so that they never appear in anything a handler logs or stores. Every
refusal and error reaches the executor or node as the public server's do: an error class, a message
and an error id, no traceback (:mod:`~spark_flight_sql.flightmanager.client_errors`).
"""

from __future__ import annotations

import hmac
import json
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

import pyarrow as pa
import pyarrow.flight as flight

from spark_flight_sql.flightmanager.errors import PushUnauthenticatedError, flight_errors
from spark_flight_sql.flightmanager.model import NodeTicket
from spark_flight_sql.flightmanager.push_protocol import (
    PUSH_QUERY_HEADER,
    PUSH_SECRET_HEADER,
    RELAY_QUERY_HEADER,
    RELAY_SECRET_HEADER,
    PushDescriptor,
)

if TYPE_CHECKING:
    from spark_flight_sql.flightmanager.results import ResultStore

MIDDLEWARE_KEY = "spark-flight-push-auth"

_REFUSED_RPC = (
    "this is a node's internal port: it takes only pushes of query partitions from Spark executors "
    "and relays of result shares between the nodes of its cluster"
)

ShareOpener = Callable[[bytes, Callable[[], bool]], tuple[pa.Schema, Iterator[pa.RecordBatch]]]
"""``open(ticket, is_cancelled)``: this node's share named by a node ticket, as the manager opens it
for a reader (raising the manager's errors for a ticket of another node, unknown or consumed)."""


class PushCredentials(flight.ServerMiddleware):
    """The query a DoPut proved it may push into, and its secret (for the handler)."""

    def __init__(self, query_id: str, secret: bytes) -> None:
        self.query_id = query_id
        self.secret = secret


class RelayCredentials(flight.ServerMiddleware):
    """The query whose share a DoGet proved it may relay (for the handler)."""

    def __init__(self, query_id: str) -> None:
        self.query_id = query_id


class PushAuthMiddleware(flight.ServerMiddlewareFactory):
    """Lets through only DoPut calls whose headers carry the push secret of the query they name, and
    DoGet calls whose headers carry the relay secret of the query they name.

    ``push_secret(query_id)`` and ``relay_secret(query_id)`` derive the expected secrets; they are
    compared in constant time. Without ``relay_secret`` no DoGet gets through.
    """

    def __init__(
        self, push_secret: Callable[[str], bytes], relay_secret: Callable[[str], bytes] | None = None
    ) -> None:
        super().__init__()
        self._push_secret = push_secret
        self._relay_secret = relay_secret

    @flight_errors()
    def start_call(
        self, info: flight.CallInfo, headers: dict[str, list[Any]]
    ) -> PushCredentials | RelayCredentials:
        """Check the call before any handler sees it; raise FlightUnauthenticatedError to refuse it."""
        if info.method == flight.FlightMethod.DO_PUT:
            query_id, secret = _credentials(headers, PUSH_QUERY_HEADER, PUSH_SECRET_HEADER, "a push")
            if not secret or not hmac.compare_digest(self._push_secret(query_id), secret):
                raise flight.FlightUnauthenticatedError("wrong push secret for this query")
            return PushCredentials(query_id, secret)
        # A DoGet without the relay headers is told what any other call is (one fixed message).
        if (
            info.method == flight.FlightMethod.DO_GET
            and self._relay_secret is not None
            and _has_any(headers, RELAY_QUERY_HEADER, RELAY_SECRET_HEADER)
        ):
            query_id, secret = _credentials(headers, RELAY_QUERY_HEADER, RELAY_SECRET_HEADER, "a relay")
            if not secret or not hmac.compare_digest(self._relay_secret(query_id), secret):
                raise flight.FlightUnauthenticatedError("wrong relay secret for this query")
            return RelayCredentials(query_id)
        raise flight.FlightUnauthenticatedError(_REFUSED_RPC)


def _has_any(headers: dict[str, list[Any]], *names: str) -> bool:
    return any(headers.get(name) for name in names)


def _credentials(
    headers: dict[str, list[Any]], query_header: str, secret_header: str, what: str
) -> tuple[str, bytes]:
    """The query id and secret (empty when it is not hex) a call shows in its headers; refused
    (UNAUTHENTICATED) when either header is missing or repeated."""
    query_id = _single(headers, query_header)
    secret_hex = _single(headers, secret_header)
    if query_id is None or secret_hex is None:
        raise flight.FlightUnauthenticatedError(
            f"{what} needs the {query_header} and {secret_header} headers of its query"
        )
    try:
        return query_id, bytes.fromhex(secret_hex)
    except ValueError:
        return query_id, b""


def _as_statuses(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
    """``batches``, every error leaving as a Flight status with its message and error id (which the
    relaying node passes on to its client)."""
    with flight_errors():
        yield from batches


def _single(headers: dict[str, list[Any]], name: str) -> str | None:
    values = headers.get(name) or []
    if len(values) != 1:
        return None
    value = values[0]
    return value.decode("ascii", "replace") if isinstance(value, bytes) else str(value)


class InternalFlightServer(flight.FlightServerBase):
    """Receives one DoPut stream per partition attempt and hands it to the node's :class:`ResultStore`;
    serves this node's shares to the other nodes that relay them.

    ``push_secret(query_id)`` is the secret a push into ``query_id`` must carry, ``relay_secret(query_id)``
    the one a relay of its share must carry (see :class:`PushAuthMiddleware`); ``open_share`` opens
    this node's share for a relay (without it, relays are refused); ``**kwargs`` go to
    ``FlightServerBase`` (TLS certificates).
    """

    def __init__(
        self,
        location: str,
        store: ResultStore,
        ensure_query: Callable[[str], None] | None = None,
        *,
        push_secret: Callable[[str], bytes],
        relay_secret: Callable[[str], bytes] | None = None,
        open_share: ShareOpener | None = None,
        **kwargs: Any,
    ) -> None:
        """``ensure_query(query_id)`` is called before each push, so that a node that has not yet
        heard of a query from the cluster can load it first."""
        if "middleware" in kwargs or "auth_handler" in kwargs:
            raise TypeError("the internal server authenticates pushes itself: no middleware or auth_handler")
        auth = PushAuthMiddleware(push_secret, relay_secret if open_share is not None else None)
        super().__init__(location, middleware={MIDDLEWARE_KEY: auth}, **kwargs)
        self._store = store
        self._ensure_query = ensure_query or (lambda query_id: None)
        self._open_share = open_share

    @flight_errors()
    def do_put(
        self,
        context: flight.ServerCallContext,
        descriptor: flight.FlightDescriptor,
        reader: flight.MetadataRecordBatchReader,
        writer: flight.FlightMetadataWriter,
    ) -> None:
        """Receive one attempt's batches; answer whether they were staged."""
        credentials = context.get_middleware(MIDDLEWARE_KEY)
        if not isinstance(credentials, PushCredentials):  # the middleware lets no call through without them
            raise PushUnauthenticatedError("a push needs its query's push secret")
        push = PushDescriptor.from_descriptor(descriptor)
        if not hmac.compare_digest(push.query_id.encode(), credentials.query_id.encode()):
            raise PushUnauthenticatedError("wrong push secret for this query")
        self._ensure_query(push.query_id)
        batches = (chunk.data for chunk in reader if chunk.data is not None)
        outcome = self._store.receive(
            push.query_id, credentials.secret, push.partition, push.attempt, batches, reader.schema
        )
        # A push the store turned away early (its result is released) is read to its end all
        # the same: ending the call under a writing executor would fail its task, and the job.
        for _ in batches:
            pass
        writer.write(pa.py_buffer(json.dumps({"staged": outcome.staged, "rows": outcome.rows}).encode()))

    # Every other RPC is refused by the middleware before it gets here; these say the same should
    # the middleware ever be bypassed.

    @flight_errors()
    def get_flight_info(
        self, context: flight.ServerCallContext, descriptor: flight.FlightDescriptor
    ) -> flight.FlightInfo:
        """Refused."""
        raise flight.FlightUnauthenticatedError(_REFUSED_RPC)

    @flight_errors()
    def get_schema(  # type: ignore[override]  # - pyarrow wants a SchemaResult; its stubs say Schema
        self, context: flight.ServerCallContext, descriptor: flight.FlightDescriptor
    ) -> flight.SchemaResult:
        """Refused."""
        raise flight.FlightUnauthenticatedError(_REFUSED_RPC)

    @flight_errors()
    def do_get(self, context: flight.ServerCallContext, ticket: flight.Ticket) -> flight.FlightDataStream:
        """Stream this node's share of a result to the node relaying it: batch by batch, as to a
        client of its own (its reader going away abandons the share)."""
        credentials = context.get_middleware(MIDDLEWARE_KEY)
        if not isinstance(credentials, RelayCredentials) or self._open_share is None:
            raise flight.FlightUnauthenticatedError(_REFUSED_RPC)  # the middleware lets none through
        named = NodeTicket.decode(ticket.ticket)
        if not hmac.compare_digest(named.query_id.encode(), credentials.query_id.encode()):
            raise flight.FlightUnauthenticatedError("wrong relay secret for this query")
        schema, batches = self._open_share(ticket.ticket, context.is_cancelled)
        return flight.GeneratorStream(schema, _as_statuses(batches))

    @flight_errors()
    def do_exchange(
        self,
        context: flight.ServerCallContext,
        descriptor: flight.FlightDescriptor,
        reader: flight.MetadataRecordBatchReader,
        writer: flight.MetadataRecordBatchWriter,
    ) -> None:
        """Refused."""
        raise flight.FlightUnauthenticatedError(_REFUSED_RPC)

    @flight_errors()
    def do_action(self, context: flight.ServerCallContext, action: flight.Action) -> Iterator[bytes]:
        """Refused."""
        raise flight.FlightUnauthenticatedError(_REFUSED_RPC)

    @flight_errors()
    def list_actions(self, context: flight.ServerCallContext) -> list[flight.ActionType]:  # type: ignore[override]  # - pyarrow takes ActionTypes; its stubs say Actions
        """Refused."""
        raise flight.FlightUnauthenticatedError(_REFUSED_RPC)

    @flight_errors()
    def list_flights(  # type: ignore[override]  # - pyarrow passes bytes; its stubs say str
        self, context: flight.ServerCallContext, criteria: bytes
    ) -> Iterator[flight.FlightInfo]:
        """Refused."""
        raise flight.FlightUnauthenticatedError(_REFUSED_RPC)
