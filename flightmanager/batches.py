"""Keeping Arrow IPC messages under a size limit."""

from __future__ import annotations

from collections.abc import Iterable, Iterator

import pyarrow as pa


def split_batch(batch: pa.RecordBatch, max_bytes: int) -> Iterator[pa.RecordBatch]:
    """Yield slices of ``batch`` whose buffers each stay under ``max_bytes`` (one row at the least).

    A single row larger than the limit is yielded alone: nothing smaller can carry it.
    """
    size = batch.nbytes
    if size <= max_bytes or batch.num_rows <= 1:
        yield batch
        return
    rows_per_slice = max(1, (batch.num_rows * max_bytes) // size)
    offset = 0
    while offset < batch.num_rows:
        piece = batch.slice(offset, rows_per_slice)
        if piece.nbytes > max_bytes and piece.num_rows > 1:
            # Rows vary in width: split this piece further rather than overshoot.
            yield from split_batch(piece, max_bytes)
        else:
            yield piece
        offset += rows_per_slice


def split_batches(batches: Iterable[pa.RecordBatch], max_bytes: int) -> Iterator[pa.RecordBatch]:
    """:func:`split_batch` over a stream of batches."""
    for batch in batches:
        yield from split_batch(batch, max_bytes)
