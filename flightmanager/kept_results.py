"""Shares kept after their first read, so that the same ticket can be read again.

A ticket whose :class:`~spark_flight_sql.flightmanager.model.NodeTicket` says ``keep_for`` is
recorded while its first reader drains it: every batch handed out is also appended to a file in the
store's spill area (Arrow IPC, like a spill file). Once that read has ended with the whole share,
the node keeps the file for ``keep_for`` seconds after the last read began, and every later DoGet of
the ticket streams it again from the start, as many times as it is asked, several at once if need
be. A first read that ends early (its client went away, the query failed) keeps nothing: the share
is then gone as any share is.

This is what lets a Spark DataFrame loaded through the ``flightsql`` data source run one action
after another: Spark plans the scan once and sends the same tickets for every action.

The price is a copy of the share on this node's disk for as long as it is kept (counted in the spill
area's bytes and files), written while the first read goes on. If writing it fails (a full disk), the
first read goes on unharmed and the share is simply not kept.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass

import pyarrow as pa

from spark_flight_sql.flightmanager.spill import SpillArea, SpillError, SpillFile, SpillWriter

__all__ = ["KeptResults"]

log = logging.getLogger(__name__)


@dataclass
class _Kept:
    schema: pa.Schema
    file: SpillFile
    keep_for: float
    expires: float
    readers: int = 0


class KeptResults:
    """The kept shares of one node, by query id, in files of ``area``."""

    def __init__(self, area: SpillArea) -> None:
        self._area = area
        self._kept: dict[str, _Kept] = {}
        self._lock = threading.Lock()

    def __contains__(self, query_id: object) -> bool:
        with self._lock:
            return query_id in self._kept

    def __len__(self) -> int:
        with self._lock:
            return len(self._kept)

    def recording(
        self, query_id: str, schema: pa.Schema, batches: Iterator[pa.RecordBatch], keep_for: float
    ) -> Iterator[pa.RecordBatch]:
        """``batches`` unchanged, each also written to the share's file; kept once they all went out."""
        writer = self._new_writer(query_id, schema)
        complete = False
        try:
            for batch in batches:
                if writer is not None:
                    writer = self._write(query_id, writer, batch)
                yield batch
            complete = True
        finally:
            if writer is not None:
                if complete:
                    self._keep(query_id, schema, writer, keep_for)
                else:
                    writer.discard()

    def open(self, query_id: str) -> tuple[pa.Schema, Iterator[pa.RecordBatch]] | None:
        """A new read of a kept share from its start, which keeps it ``keep_for`` seconds longer; None
        when the share is not kept (never was, or expired)."""
        with self._lock:
            kept = self._kept.get(query_id)
            if kept is None:
                return None
            kept.expires = time.monotonic() + kept.keep_for  # not expired before the read starts
        return kept.schema, self._replay(kept)

    def expire(self) -> list[str]:
        """Delete the shares whose time is up and that nobody reads now; their query ids."""
        now = time.monotonic()
        with self._lock:
            due = [qid for qid, kept in self._kept.items() if kept.readers == 0 and now >= kept.expires]
            files = [self._kept.pop(qid).file for qid in due]
        for file in files:
            file.delete()
        return due

    def forget(self, query_id: str) -> None:
        """Delete a kept share now (a reader still reading it keeps its memory mapping)."""
        with self._lock:
            kept = self._kept.pop(query_id, None)
        if kept is not None:
            kept.file.delete()

    def close(self) -> None:
        """Delete every kept share."""
        with self._lock:
            files = [kept.file for kept in self._kept.values()]
            self._kept.clear()
        for file in files:
            file.delete()

    def _new_writer(self, query_id: str, schema: pa.Schema) -> SpillWriter | None:
        try:
            return self._area.new_file(schema, f"{query_id}-kept")
        except SpillError as exc:
            log.warning("query %s: the result cannot be kept for reading again: %s", query_id, exc)
            return None

    def _write(self, query_id: str, writer: SpillWriter, batch: pa.RecordBatch) -> SpillWriter | None:
        try:
            writer.write(batch)
        except SpillError as exc:
            log.warning("query %s: the result cannot be kept for reading again: %s", query_id, exc)
            writer.discard()
            return None
        return writer

    def _keep(self, query_id: str, schema: pa.Schema, writer: SpillWriter, keep_for: float) -> None:
        try:
            file = writer.finish()
        except SpillError as exc:
            log.warning("query %s: the result cannot be kept for reading again: %s", query_id, exc)
            writer.discard()
            return
        with self._lock:
            replaced = self._kept.pop(query_id, None)
            self._kept[query_id] = _Kept(schema, file, keep_for, time.monotonic() + keep_for)
        if replaced is not None:
            replaced.file.delete()

    def _replay(self, kept: _Kept) -> Iterator[pa.RecordBatch]:
        # Counted from its first batch: a read that never starts never runs its finally.
        with self._lock:
            kept.readers += 1
        try:
            yield from kept.file.batches()
        finally:
            with self._lock:
                kept.readers -= 1
