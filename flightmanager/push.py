"""The executor side of the data path: push one partition's Arrow batches to one node.

These functions run inside Spark's Python workers, so they import nothing from the driver side
and keep one Flight client per node location for the life of the worker process.
"""

from __future__ import annotations

import functools
import json
import socket
import threading
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

import pyarrow as pa
import pyarrow.flight as flight

from spark_flight_sql.flightmanager.batches import split_batches
from spark_flight_sql.flightmanager.push_protocol import PushDescriptor, push_headers

_clients: dict[tuple[str, bytes | None], flight.FlightClient] = {}
_clients_lock = threading.Lock()


class PushFailedError(RuntimeError):
    """A partition could not reach its node; the task fails and Spark may retry it."""


@dataclass(frozen=True)
class PushNode:
    """A node that can receive pushes: its id, internal location and host."""

    node_id: str
    internal_location: str
    host: str


@dataclass(frozen=True)
class PushTarget:
    """Everything a task needs to push its partition: the query, its secret, its nodes, the limits,
    and the root certificates that the nodes' internal servers are verified with under TLS."""

    query_id: str
    secret: bytes = field(repr=False)
    schema_ipc: bytes = field(repr=False)
    """The result schema as an IPC message: it survives pickling where some types do not
    (pyarrow cannot unpickle a year-month interval type)."""
    nodes: tuple[PushNode, ...]
    max_message_bytes: int
    tls_root_certs: bytes | None = field(default=None, repr=False)
    """PEM roots to verify ``grpc+tls://`` internal locations with (carried here, so executors
    need no file of their own); None: the system's roots."""

    @property
    def schema(self) -> pa.Schema:
        """The result schema."""
        return _read_schema(self.schema_ipc)

    def node_for(self, partition: int, host: str | None) -> PushNode:
        """The node on the executor's own host when there is one, else an even deterministic spread."""
        local = [node for node in self.nodes if host is not None and node.host == host]
        candidates = local or list(self.nodes)
        return candidates[partition % len(candidates)]


@dataclass(frozen=True)
class PushSummary:
    """What one task attempt pushed, and where."""

    partition: int
    attempt: int
    node_id: str
    rows: int


@functools.lru_cache(maxsize=16)
def _read_schema(ipc: bytes) -> pa.Schema:
    return pa.ipc.read_schema(pa.py_buffer(ipc))


def _client(location: str, tls_root_certs: bytes | None) -> flight.FlightClient:
    key = (location, tls_root_certs)
    with _clients_lock:
        client = _clients.get(key)
        if client is None:
            if tls_root_certs is not None and location.startswith("grpc+tls:"):
                client = flight.FlightClient(location, tls_root_certs=tls_root_certs)  # type: ignore[arg-type]  # - pyarrow takes bytes too
            else:
                client = flight.FlightClient(location)
            _clients[key] = client
        return client


def push_partition(
    target: PushTarget, partition: int, attempt: int, batches: Iterable[pa.RecordBatch], host: str | None
) -> PushSummary:
    """Push every batch of one partition attempt as one DoPut stream, and wait for the node's answer."""
    node = target.node_for(partition, host)
    descriptor = PushDescriptor(target.query_id, partition, attempt).to_descriptor()
    headers = push_headers(target.query_id, target.secret)
    options = flight.FlightCallOptions(headers=headers)  # type: ignore[arg-type]  # - bytes: stubs say str
    try:
        writer, reader = _client(node.internal_location, target.tls_root_certs).do_put(
            descriptor, target.schema, options
        )
        try:
            for batch in split_batches(batches, target.max_message_bytes):
                writer.write_batch(batch)
            writer.done_writing()
            # do_put's reader is a FlightMetadataReader; pyarrow-stubs call it a FlightStreamReader.
            answer = reader.read()  # type: ignore[attr-defined]  # - see the line above
        finally:
            writer.close()
    except (flight.FlightUnavailableError, flight.FlightTimedOutError) as exc:
        tls = ""
        if node.internal_location.startswith("grpc+tls:"):
            tls = " or its TLS certificate is not trusted (spark.flight.tls.caFile)"
        raise PushFailedError(
            f"could not push partition {partition} to node {node.node_id} at {node.internal_location}: "
            f"the node is unreachable{tls} ({type(exc).__name__}: {_first_line(exc)})"
        ) from None
    except flight.FlightUnauthenticatedError as exc:
        raise PushFailedError(
            f"node {node.node_id} at {node.internal_location} refused the push of partition {partition}: "
            f"{_first_line(exc)} (every node of a cluster needs the same cluster secret, spark.flight.auth.secret)"
        ) from None
    outcome = json.loads(answer.to_pybytes()) if answer is not None else {"rows": 0}
    return PushSummary(partition, attempt, node.node_id, int(outcome["rows"]))


def _first_line(exc: BaseException) -> str:
    """An error's message without gRPC's debug context."""
    return str(exc).split(". gRPC client debug context", 1)[0].split("\n", 1)[0]


def _executor_host() -> str:
    # Nodes register the same name (socket.gethostname()), so equal names mean the same host.
    return socket.gethostname()


def push_jvm_batches(
    target: PushTarget, partition: int, serialized: Iterator[bytes]
) -> Iterator[tuple[int, int, str, int]]:
    """``mapPartitionsWithIndex`` body for the JVM path: the elements are IPC record batch messages."""
    from pyspark import TaskContext

    context = TaskContext.get()
    assert context is not None, "pushes always run in a task"
    attempt = context.taskAttemptId()
    batches = (pa.ipc.read_record_batch(pa.py_buffer(message), target.schema) for message in serialized)
    summary = push_partition(target, partition, attempt, batches, _executor_host())
    yield (summary.partition, summary.attempt, summary.node_id, summary.rows)


PUSH_SUMMARY_DDL = "partition int, attempt long, node_id string, rows long"
_SUMMARY_FIELDS: list[pa.Field[Any]] = [
    pa.field("partition", pa.int32()),
    pa.field("attempt", pa.int64()),
    pa.field("node_id", pa.string()),
    pa.field("rows", pa.int64()),
]
_SUMMARY_SCHEMA = pa.schema(_SUMMARY_FIELDS)


def push_arrow_batches(target: PushTarget, batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
    """``mapInArrow`` body for the fallback path: push the partition, return one summary row."""
    from pyspark import TaskContext

    context = TaskContext.get()
    assert context is not None, "mapInArrow always runs in a task"

    def conformed() -> Iterator[pa.RecordBatch]:
        for batch in batches:
            yield batch if batch.schema.equals(target.schema) else _conform(batch, target.schema)

    summary = push_partition(
        target, context.partitionId(), context.taskAttemptId(), conformed(), _executor_host()
    )
    yield pa.RecordBatch.from_pylist(
        [
            {
                "partition": summary.partition,
                "attempt": summary.attempt,
                "node_id": summary.node_id,
                "rows": summary.rows,
            }
        ],
        schema=_SUMMARY_SCHEMA,
    )


def _conform(batch: pa.RecordBatch, schema: pa.Schema) -> pa.RecordBatch:
    """Relabel a batch whose types equal the query schema's but whose field metadata or nullability differ."""
    columns = [column.cast(field.type) for column, field in zip(batch.columns, schema)]
    return pa.RecordBatch.from_arrays(columns, schema=schema)
