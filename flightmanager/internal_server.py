"""The internal Flight server of a node: it takes the Arrow batches that executors push, and nothing else.

Every call is checked before any handler runs, by :class:`PushAuthMiddleware`: only a DoPut that
carries the push headers (``x-spark-flight-push-query`` and ``x-spark-flight-push-secret``, the
query's push secret derived from the cluster secret) gets through; a missing or wrong secret, and
every other RPC (GetFlightInfo, DoGet, DoAction, ListFlights, ListActions, DoExchange, GetSchema,
Handshake, ...), is refused with UNAUTHENTICATED before the server reads anything of the call.
The DoPut handler then checks that the descriptor names the query the secret was shown for. The
secret travels in headers, not in the descriptor, so that it never appears in anything a handler
logs or stores. Every refusal and error reaches the executor as the public server's do: an error
class, a message and an error id, no traceback (:mod:`~spark_flight_sql.flightmanager.client_errors`).
"""

from __future__ import annotations

import hmac
import json
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

import pyarrow as pa
import pyarrow.flight as flight

from spark_flight_sql.flightmanager.errors import PushUnauthenticatedError, flight_errors
from spark_flight_sql.flightmanager.push_protocol import (
    PUSH_QUERY_HEADER,
    PUSH_SECRET_HEADER,
    PushDescriptor,
)

if TYPE_CHECKING:
    from spark_flight_sql.flightmanager.results import ResultStore

MIDDLEWARE_KEY = "spark-flight-push-auth"

_REFUSED_RPC = (
    "this is a node's internal push port: it takes only DoPut pushes of query partitions from Spark executors"
)


class PushCredentials(flight.ServerMiddleware):
    """The query a DoPut proved it may push into, and its secret (for the handler)."""

    def __init__(self, query_id: str, secret: bytes) -> None:
        self.query_id = query_id
        self.secret = secret


class PushAuthMiddleware(flight.ServerMiddlewareFactory):
    """Lets through only DoPut calls whose headers carry the push secret of the query they name.

    ``push_secret(query_id)`` derives the expected secret; it is compared in constant time.
    """

    def __init__(self, push_secret: Callable[[str], bytes]) -> None:
        super().__init__()
        self._push_secret = push_secret

    @flight_errors()
    def start_call(self, info: flight.CallInfo, headers: dict[str, list[Any]]) -> PushCredentials:
        """Check the call before any handler sees it; raise FlightUnauthenticatedError to refuse it."""
        if info.method != flight.FlightMethod.DO_PUT:
            raise flight.FlightUnauthenticatedError(_REFUSED_RPC)
        query_id = _single(headers, PUSH_QUERY_HEADER)
        secret_hex = _single(headers, PUSH_SECRET_HEADER)
        if query_id is None or secret_hex is None:
            raise flight.FlightUnauthenticatedError(
                f"a push needs the {PUSH_QUERY_HEADER} and {PUSH_SECRET_HEADER} headers of its query"
            )
        try:
            secret = bytes.fromhex(secret_hex)
        except ValueError:
            secret = b""
        if not secret or not hmac.compare_digest(self._push_secret(query_id), secret):
            raise flight.FlightUnauthenticatedError("wrong push secret for this query")
        return PushCredentials(query_id, secret)


def _single(headers: dict[str, list[Any]], name: str) -> str | None:
    values = headers.get(name) or []
    if len(values) != 1:
        return None
    value = values[0]
    return value.decode("ascii", "replace") if isinstance(value, bytes) else str(value)


class InternalFlightServer(flight.FlightServerBase):
    """Receives one DoPut stream per partition attempt and hands it to the node's :class:`ResultStore`.

    ``push_secret(query_id)`` is the secret a push into ``query_id`` must carry (see
    :class:`PushAuthMiddleware`); ``**kwargs`` go to ``FlightServerBase`` (TLS certificates).
    """

    def __init__(
        self,
        location: str,
        store: ResultStore,
        ensure_query: Callable[[str], None] | None = None,
        *,
        push_secret: Callable[[str], bytes],
        **kwargs: Any,
    ) -> None:
        """``ensure_query(query_id)`` is called before each push, so that a node that has not yet
        heard of a query from the cluster can load it first."""
        if "middleware" in kwargs or "auth_handler" in kwargs:
            raise TypeError("the internal server authenticates pushes itself: no middleware or auth_handler")
        super().__init__(location, middleware={MIDDLEWARE_KEY: PushAuthMiddleware(push_secret)}, **kwargs)
        self._store = store
        self._ensure_query = ensure_query or (lambda query_id: None)

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
        """Refused."""
        raise flight.FlightUnauthenticatedError(_REFUSED_RPC)

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
