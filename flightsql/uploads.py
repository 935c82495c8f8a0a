"""Reading what clients upload with DoPut: well-formed Arrow batches, one at a time."""

from __future__ import annotations

from collections.abc import Iterator

import pyarrow as pa
import pyarrow.flight as flight

from flightsql.errors import InvalidArgument


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
            raise InvalidArgument(f"uploaded batch {number} does not match the declared schema: {exc}") from None
        number += 1
        yield chunk.data


def read_parameters(reader: flight.MetadataRecordBatchReader) -> pa.Table:
    """Every parameter batch of a DoPut (parameter sets are small: a few rows, or one per update);
    an empty table when the client sent no data at all."""
    try:
        schema = reader.schema
    except (pa.ArrowInvalid, flight.FlightError):
        return pa.table({})
    return pa.Table.from_batches(list(upload_batches(reader)), schema=schema)
