"""Relaying another node's share of a result to a client that asked this node for it.

Clients that ignore endpoint locations (arrow-rs's Flight SQL CLI and the npm clients built on it,
ClickHouse's ``arrowFlight()``) send every ticket to the node they are connected to, and in
networks where clients reach only one node (Kubernetes, NAT) even a client that follows locations
cannot reach the others: ``spark.flight.endpoints=proxy`` then points every endpoint at the node
the client asked. Either way a node receives tickets of other nodes' shares; it serves each by
relaying it from the node that holds it, over that node's internal server (the data plane the
executors push into):

* authenticated: the DoGet carries the query's *relay secret*, derived from the cluster secret
  like the push secret but differently (:func:`~spark_flight_sql.flightmanager.manager.relay_secret`),
  so that a push secret reads nothing and a relay secret pushes nothing. Who may read the result at
  all was decided before: on this node, by whatever checked the client's ticket;
* bounded in memory: batch by batch, each passed on as it comes; gRPC's flow control holds the
  serving node back while this node's client reads slowly. Nothing of the share is kept here;
* cancel propagates: when this node's client goes away (its call cancelled, or the stream closed),
  the upstream DoGet is cancelled, and the serving node treats its share as abandoned, as when a
  direct reader goes away (:class:`CancelWatch` notices a cancelled call while the relay waits for
  the serving node);
* a node that is not in the cluster, cannot be reached, or dies while relaying ends the stream with
  UNAVAILABLE naming it (:class:`~spark_flight_sql.flightmanager.errors.NodeUnavailableError`);
  errors the serving node ends its stream with are passed on with their status, class and error id
  (:class:`~spark_flight_sql.flightmanager.errors.RelayedError`).

The serving node's side is :meth:`InternalFlightServer.do_get
<spark_flight_sql.flightmanager.internal_server.InternalFlightServer.do_get>`.
"""

from __future__ import annotations

import contextlib
import logging
import re
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterator

import pyarrow as pa
import pyarrow.flight as flight

from spark_flight_sql.flightmanager.client_errors import ERROR_ID
from spark_flight_sql.flightmanager.errors import NodeUnavailableError, RelayedError
from spark_flight_sql.flightmanager.model import NodeInfo, NodeTicket
from spark_flight_sql.flightmanager.push_protocol import relay_headers
from spark_flight_sql.flightmanager.status import Status, status_of

__all__ = ["CancelWatch", "Relay"]

log = logging.getLogger(__name__)

CANCEL_CHECK_SECONDS = 0.5
"""How often a relay waiting for the serving node checks whether its own client went away."""
MAX_CLIENTS = 64
"""Flight clients kept, one per internal location (nodes that restart get new ports)."""

_CLIENT_DEBUG = ". gRPC client debug context"
_SERVER_DETAIL = ". Detail: "
_TRANSPORT_PREFIX = re.compile(r"^Flight returned \w+ error, with message: ")


class CancelWatch:
    """One thread that cancels upstream readers whose own client went away.

    A relay blocked in ``read_chunk`` (the serving node has nothing yet: the job still runs) does not
    see its client cancel; this thread asks every watched call's ``is_cancelled`` every
    :data:`CANCEL_CHECK_SECONDS` and cancels the upstream reader of each that is. The thread runs
    only while something is watched.
    """

    def __init__(self, interval: float = CANCEL_CHECK_SECONDS) -> None:
        self._interval = interval
        self._watched: dict[int, tuple[Callable[[], bool], flight.FlightStreamReader]] = {}
        self._changed = threading.Condition()
        self._thread: threading.Thread | None = None
        self._closed = False

    def watch(self, is_cancelled: Callable[[], bool], reader: flight.FlightStreamReader) -> int:
        """Cancel ``reader`` once ``is_cancelled()`` is true, until :meth:`forget` of the returned key."""
        with self._changed:
            key = id(reader)
            self._watched[key] = (is_cancelled, reader)
            if self._thread is None and not self._closed:
                self._thread = threading.Thread(target=self._run, name="flight-relay-cancel", daemon=True)
                self._thread.start()
            return key

    def forget(self, key: int) -> None:
        """Stop watching the reader registered under ``key``."""
        with self._changed:
            self._watched.pop(key, None)

    def close(self) -> None:
        """Stop the thread (readers still watched are left to their streams)."""
        with self._changed:
            self._closed = True
            self._watched.clear()
            self._changed.notify_all()
            thread, self._thread = self._thread, None
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout=5)

    def _run(self) -> None:
        while True:
            with self._changed:
                if self._closed or not self._watched:
                    self._thread = None
                    return
                watched = list(self._watched.items())
            for key, (is_cancelled, reader) in watched:
                try:
                    gone = is_cancelled()
                except Exception:  # noqa: BLE001 - a call that cannot tell is treated as gone
                    gone = True
                if gone:
                    self.forget(key)
                    with contextlib.suppress(Exception):  # the call may have ended meanwhile
                        reader.cancel()
            with self._changed:
                if not self._closed:
                    self._changed.wait(self._interval)


class Relay:
    """Opens other nodes' shares through their internal servers, for this node's readers.

    ``relay_secret(query_id)`` derives the secret each DoGet shows; ``root_certs`` verifies
    ``grpc+tls://`` internal locations (None: the system's roots); ``node_id`` is this node's (for
    messages). One Flight client per internal location is kept for the life of the relay.
    """

    def __init__(self, relay_secret: Callable[[str], bytes], root_certs: bytes | None, node_id: str) -> None:
        self._relay_secret = relay_secret
        self._root_certs = root_certs
        self._node_id = node_id
        self._clients: OrderedDict[str, flight.FlightClient] = OrderedDict()
        self._lock = threading.Lock()
        self._watch = CancelWatch()
        self._closed = False

    def open(
        self,
        node: NodeInfo,
        ticket: bytes,
        is_cancelled: Callable[[], bool] | None = None,
    ) -> tuple[pa.Schema, Iterator[pa.RecordBatch]]:
        """The share of ``node`` named by ``ticket``, read from ``node``'s internal server: its schema,
        and its batches as they arrive. ``is_cancelled`` is this node's reader's call: once it is
        cancelled, so is the upstream DoGet. Leaving the iterator early cancels it too."""
        named = NodeTicket.decode(ticket)
        options = flight.FlightCallOptions(
            headers=relay_headers(named.query_id, self._relay_secret(named.query_id))  # type: ignore[arg-type]  # - bytes: stubs say str
        )
        try:
            reader = self._client(node.internal_location).do_get(flight.Ticket(ticket), options)
            schema = reader.schema
        except Exception as exc:  # noqa: BLE001 - every upstream failure is translated
            raise self._translated(exc, node, named, started=False) from None
        return schema, self._batches(reader, node, named, is_cancelled)

    def _batches(
        self,
        reader: flight.FlightStreamReader,
        node: NodeInfo,
        named: NodeTicket,
        is_cancelled: Callable[[], bool] | None,
    ) -> Iterator[pa.RecordBatch]:
        key = self._watch.watch(is_cancelled, reader) if is_cancelled is not None else None
        ended = False
        try:
            while True:
                try:
                    chunk = reader.read_chunk()
                except StopIteration:
                    ended = True
                    return
                except Exception as exc:  # noqa: BLE001 - every upstream failure is translated
                    ended = True  # the upstream call is over
                    if is_cancelled is not None and is_cancelled():
                        raise RelayedError("the client cancelled the stream", Status.CANCELLED) from None
                    raise self._translated(exc, node, named, started=True) from None
                if chunk.data is not None:
                    yield chunk.data
        finally:
            if key is not None:
                self._watch.forget(key)
            if not ended:  # this node's reader left early: so does the relay
                with contextlib.suppress(Exception):
                    reader.cancel()

    def _translated(self, exc: Exception, node: NodeInfo, named: NodeTicket, *, started: bool) -> Exception:
        """The error this node's reader gets for what reading ``node``'s share raised: the serving
        node's own (it carries its error id), or NODE_UNAVAILABLE naming ``node``."""
        message = upstream_message(exc)
        status = status_of(exc) or Status.INTERNAL
        if ERROR_ID.search(message):
            return RelayedError(message, status)
        what = "stopped serving" if started else "cannot serve"
        log.warning(
            "query %s: relaying node %s's share from %s failed: %s",
            named.query_id,
            node.node_id,
            node.internal_location,
            message,
        )
        return NodeUnavailableError(
            f"node {node.node_id}, which holds this share of query {named.query_id}, {what} it through "
            f"node {self._node_id} ({message}): run the query again"
        )

    def _client(self, location: str) -> flight.FlightClient:
        with self._lock:
            if self._closed:
                raise NodeUnavailableError(f"node {self._node_id} is shutting down")
            client = self._clients.get(location)
            if client is None:
                if self._root_certs is not None and location.startswith("grpc+tls:"):
                    client = flight.FlightClient(location, tls_root_certs=self._root_certs)  # type: ignore[arg-type]  # - pyarrow takes bytes too
                else:
                    client = flight.FlightClient(location)
                self._clients[location] = client
                while len(self._clients) > MAX_CLIENTS:
                    # Dropped, not closed: a stream may still read through it; it closes when collected.
                    self._clients.popitem(last=False)
            else:
                self._clients.move_to_end(location)
            return client

    def close(self) -> None:
        """Stop the cancel watch and close every client (streams still relaying end with an error)."""
        with self._lock:
            self._closed = True
            clients = list(self._clients.values())
            self._clients.clear()
        self._watch.close()
        for client in clients:
            with contextlib.suppress(Exception):
                client.close()


def upstream_message(exc: BaseException) -> str:
    """What a Flight client's error says, without what gRPC and Arrow add to it (the status's
    detail, the client's debug context, the "Flight returned ... error" prefix)."""
    text = str(exc).split(_CLIENT_DEBUG, 1)[0]
    if _SERVER_DETAIL in text:
        text = text.rsplit(_SERVER_DETAIL, 1)[0]
    return _TRANSPORT_PREFIX.sub("", text).strip() or type(exc).__name__
