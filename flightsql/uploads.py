"""Reading what clients upload with DoPut: well-formed Arrow batches, one at a time."""

from __future__ import annotations

from collections.abc import Iterator

import pyarrow as pa
import pyarrow.flight as flight

from spark_flight_sql.flightsql.errors import InvalidArgument

MAX_PARAMETER_BYTES = 64 * 1024 * 1024
"""Largest parameter upload (bytes of Arrow data) a DoPut may bind or run a prepared statement
with: parameters are held in memory, so a client must not make the node buffer without end.
Bulk data goes through bulk ingest, which streams to disk."""


def upload_batches(reader: flight.MetadataRecordBatchReader) -> Iterator[pa.RecordBatch]:
    """The uploaded batches, one at a time as they arrive, each checked to be well-formed.

    IPC batches carry no types of their own: a batch that does not fit the declared schema may
    decode into arrays whose offsets point anywhere, which a full validation catches (it costs
    a few milliseconds per million rows).
    """
    number = 0
    while True:
        try:
            chunk = reader.read_chunk()
        except StopIteration:
            return
        if chunk.data is None:
            continue
        try:
            chunk.data.validate(full=True)
        except pa.ArrowInvalid as exc:
            raise InvalidArgument(
                f"uploaded batch {number} does not match the declared schema: {exc}"
            ) from None
        number += 1
        yield chunk.data


def read_parameters(
    reader: flight.MetadataRecordBatchReader, max_bytes: int = MAX_PARAMETER_BYTES
) -> pa.Table:
    """Every parameter batch of a DoPut (parameter sets are small: a few rows, or one per update);
    an empty table when the client sent no data at all. InvalidArgument, as soon as it is known,
    when the batches add up to more than ``max_bytes``."""
    try:
        schema = reader.schema
    except (pa.ArrowInvalid, flight.FlightError):
        return pa.table({})
    batches = []
    total = 0
    for batch in upload_batches(reader):
        total += batch.nbytes
        if total > max_bytes:
            raise InvalidArgument(
                f"parameter uploads are limited to {max_bytes} bytes; load bulk data with bulk ingest "
                "(CommandStatementIngest, ADBC's adbc_ingest)"
            )
        batches.append(batch)
    table = pa.Table.from_batches(batches, schema=schema)
    _check_python_values(table)
    return table


def _check_python_values(parameters: pa.Table) -> None:
    """InvalidArgument when a parameter value has no Python (hence no Spark) value: valid Arrow
    dates, timestamps and durations reach far beyond Python's years 1 to 9999. Parameters become
    Python values to be bound, and an OverflowError then would be the server's error."""
    for name, column in zip(parameters.column_names, parameters.columns):
        if not _has_temporal(column.type):
            continue
        try:
            column.to_pylist()
        except (OverflowError, ValueError, pa.ArrowException) as exc:
            raise InvalidArgument(f"parameter {name!r} holds a value that cannot be bound: {exc}") from None


def _has_temporal(data_type: pa.DataType) -> bool:
    if pa.types.is_temporal(data_type):
        return True
    if pa.types.is_dictionary(data_type):
        return _has_temporal(data_type.value_type)
    if pa.types.is_map(data_type):
        return _has_temporal(data_type.key_type) or _has_temporal(data_type.item_type)
    if hasattr(data_type, "value_type"):  # lists
        return _has_temporal(data_type.value_type)
    return any(_has_temporal(data_type.field(i).type) for i in range(data_type.num_fields))
