"""Reading what clients upload with DoPut: well-formed Arrow batches, one at a time."""

from __future__ import annotations

from collections.abc import Callable, Iterator

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


BIGINT_MAX = 2**63 - 1
"""Largest integer Spark binds (as BIGINT); unsigned 64-bit parameters may hold more."""


def _check_python_values(parameters: pa.Table) -> None:
    """InvalidArgument when a parameter value has no Python (hence no Spark) value: valid Arrow
    dates, timestamps and durations reach far beyond Python's years 1 to 9999, and unsigned 64-bit
    integers beyond Spark's BIGINT. Parameters become Python values to be bound, and an
    OverflowError (or py4j's refusal of the integer) then would be the server's error."""
    for name, column in zip(parameters.column_names, parameters.columns):
        if not _has_type(column.type, _binds_with_care):
            continue
        try:
            values = column.to_pylist()
        except (OverflowError, ValueError, pa.ArrowException) as exc:
            raise InvalidArgument(f"parameter {name!r} holds a value that cannot be bound: {exc}") from None
        if _has_type(column.type, pa.types.is_uint64) and _beyond_bigint(values):
            raise InvalidArgument(
                f"parameter {name!r} holds an integer beyond Spark's BIGINT range (at most {BIGINT_MAX}): "
                "send it as a decimal or a string"
            )


def _binds_with_care(data_type: pa.DataType) -> bool:
    return pa.types.is_temporal(data_type) or pa.types.is_uint64(data_type)


def _beyond_bigint(value: object) -> bool:
    """Whether ``value``, or a value nested in it, is an integer over :data:`BIGINT_MAX`."""
    if isinstance(value, int):
        return value > BIGINT_MAX
    if isinstance(value, dict):
        return any(_beyond_bigint(item) for item in value.values())
    if isinstance(value, (list, tuple)):
        return any(_beyond_bigint(item) for item in value)
    return False


def _has_type(data_type: pa.DataType, matches: Callable[[pa.DataType], bool]) -> bool:
    """Whether ``data_type``, or a type nested in it, ``matches``."""
    if matches(data_type):
        return True
    if pa.types.is_dictionary(data_type):
        return _has_type(data_type.value_type, matches)
    if pa.types.is_map(data_type):
        return _has_type(data_type.key_type, matches) or _has_type(data_type.item_type, matches)
    if hasattr(data_type, "value_type"):  # lists
        return _has_type(data_type.value_type, matches)
    return any(_has_type(data_type.field(i).type, matches) for i in range(data_type.num_fields))
