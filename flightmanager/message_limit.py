"""Wide values: every message a DoGet sends fits the largest message its client accepts.

gRPC clients refuse a message over their receive limit, and the server cannot see that limit. ADBC
(Go driver) accepts 16 MiB by default (``adbc.flight.sql.client_option.with_max_msg_size``; grpc-go
alone accepts 4 MiB); the Arrow Flight SQL JDBC driver accepts ``Integer.MAX_VALUE`` bytes (arrow-java's
``NettyClientBuilder``; the driver has no property to change it); pyarrow's client has no limit. A
node assumes ``spark.flight.client.maxMessageBytes`` (default 16 MiB) unless the client says its
own in the call header :data:`MAX_MESSAGE_HEADER` (bytes), which a client sends as:

* ADBC: the database option ``adbc.flight.sql.rpc.call_header.x-spark-flight-max-message-bytes``
  (with ``adbc.flight.sql.client_option.with_max_msg_size`` raised to the same number);
* JDBC: the connection property ``x-spark-flight-max-message-bytes`` (the driver sends every
  property it does not know as a call header, on every endpoint's stream too);
* any Flight client: the header itself.

Batches pushed by executors are already cut to ``spark.flight.batch.maxBytes``; what the stream
sends is checked once more against the client's limit here, where DoGet batches are served, for
every result: a batch that does not fit is split by rows (:func:`fit_messages`), and only a single
row that cannot fit ends the stream with INVALID_ARGUMENT (``[ROW_TOO_LARGE]``, naming the widest
column, the row's size, the limit and how to raise it) after the rows before it were sent. The
check costs one ``RecordBatch.nbytes`` per batch (O(columns), not O(rows)): a message's size is
estimated as the batch's bytes plus an allowance for its IPC metadata, counted once per stream
from the schema (:func:`metadata_allowance`, above what Arrow writes: about 85 to 230 bytes per
column).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pyarrow as pa
import pyarrow.flight as flight

from spark_flight_sql.flightmanager.batches import split_batch
from spark_flight_sql.flightmanager.errors import InvalidHeaderError, RowTooLargeError

__all__ = [
    "DEFAULT_CLIENT_MAX_MESSAGE_BYTES",
    "MAX_MESSAGE_HEADER",
    "MIDDLEWARE_KEY",
    "MessageLimitMiddlewareFactory",
    "client_limit",
    "fit_messages",
    "metadata_allowance",
]

MAX_MESSAGE_HEADER = "x-spark-flight-max-message-bytes"
"""Call header in which a client says the largest message, in bytes, it accepts."""
MIDDLEWARE_KEY = "spark-flight-message-limit"
"""The key :class:`MessageLimitMiddlewareFactory` is registered under in a Flight server."""
DEFAULT_CLIENT_MAX_MESSAGE_BYTES = 16 * 1024 * 1024
"""ADBC's default receive limit: what a node assumes of a client that does not say its own."""
MIN_CLIENT_MAX_MESSAGE_BYTES = 64 * 1024
MAX_CLIENT_MAX_MESSAGE_BYTES = 2**31 - 1
"""gRPC's limits are 32-bit signed integers."""

_ADBC_OPTION = "adbc.flight.sql.client_option.with_max_msg_size"
_ADBC_HEADER_OPTION = f"adbc.flight.sql.rpc.call_header.{MAX_MESSAGE_HEADER}"


class MessageLimit(flight.ServerMiddleware):
    """The value of the :data:`MAX_MESSAGE_HEADER` header of one DoGet call."""

    def __init__(self, value: str) -> None:
        self.value = value


class MessageLimitMiddlewareFactory(flight.ServerMiddlewareFactory):
    """Keeps a DoGet's :data:`MAX_MESSAGE_HEADER` header for :func:`client_limit` (register it under
    :data:`MIDDLEWARE_KEY`; without it every client is assumed to take the configured limit)."""

    def start_call(self, info: flight.CallInfo, headers: dict[str, list[Any]]) -> MessageLimit | None:
        """A :class:`MessageLimit` for a DoGet that names its limit, else nothing."""
        if info.method != flight.FlightMethod.DO_GET:
            return None
        values = headers.get(MAX_MESSAGE_HEADER) or []
        if not values:
            return None
        value = values[-1]
        return MessageLimit(value.decode("ascii", "replace") if isinstance(value, bytes) else str(value))


def client_limit(context: flight.ServerCallContext | None, default: int) -> tuple[int, bool]:
    """``(limit, said)``: the largest message the client of this call accepts, and whether the
    client said it (its :data:`MAX_MESSAGE_HEADER`) or it is ``default``. InvalidHeaderError for a
    value that is not a whole number of bytes from 64 KiB to 2 GiB - 1."""
    said = context.get_middleware(MIDDLEWARE_KEY) if context is not None else None
    if not isinstance(said, MessageLimit):
        return default, False
    try:
        limit = int(said.value.strip())
    except ValueError:
        limit = 0
    if not MIN_CLIENT_MAX_MESSAGE_BYTES <= limit <= MAX_CLIENT_MAX_MESSAGE_BYTES:
        raise InvalidHeaderError(
            f"the {MAX_MESSAGE_HEADER} header must be a number of bytes from {MIN_CLIENT_MAX_MESSAGE_BYTES} "
            f"to {MAX_CLIENT_MAX_MESSAGE_BYTES}, not {said.value[:40]!r}"
        )
    return limit, True


def metadata_allowance(schema: pa.Schema) -> int:
    """Bytes a message adds to its batch's ``nbytes``, at most: its IPC metadata and padding (a
    flatbuffer with a node per field and a few buffers each) and the FlightData framing."""
    return 1024 + 256 * _field_count(schema)


def _field_count(schema: pa.Schema) -> int:
    def count(data_type: pa.DataType) -> int:
        return 1 + sum(count(data_type.field(i).type) for i in range(data_type.num_fields))

    return sum(count(field.type) for field in schema)


def fit_messages(
    batches: Iterator[pa.RecordBatch], limit: int, schema: pa.Schema, *, said: bool = False
) -> Iterator[pa.RecordBatch]:
    """``batches``, each split by rows into messages of at most ``limit`` bytes; RowTooLargeError
    at a single row that cannot fit (the rows before it are yielded first). ``said``: the client
    said the limit (else it is the node's setting; the message says which)."""
    allowance = metadata_allowance(schema)
    room = max(1, limit - allowance)
    for batch in batches:
        if batch.nbytes <= room:
            yield batch
            continue
        for piece in split_batch(batch, room):
            if piece.nbytes > room:
                raise _too_large(piece, limit, allowance, said=said)
            yield piece


def _too_large(row: pa.RecordBatch, limit: int, allowance: int, *, said: bool) -> RowTooLargeError:
    widest = max(range(row.num_columns), key=lambda i: row.column(i).nbytes)
    needed = row.nbytes + allowance
    whose = (
        f"the limit the client said in {MAX_MESSAGE_HEADER}"
        if said
        else "the limit this node assumes of clients (spark.flight.client.maxMessageBytes)"
    )
    return RowTooLargeError(
        f"a row of this result needs a message of {needed} bytes, over {whose}: {limit} bytes; "
        f"its widest column is {row.schema.field(widest).name!r} ({row.column(widest).nbytes} bytes). "
        f"To read it, raise the client's limit and tell the server: ADBC: the database options "
        f"{_ADBC_OPTION}={needed} and {_ADBC_HEADER_OPTION}={needed}; JDBC (accepts up to "
        f"{MAX_CLIENT_MAX_MESSAGE_BYTES} bytes): the connection property {MAX_MESSAGE_HEADER}={needed}; "
        f"or the node's spark.flight.client.maxMessageBytes"
    )
