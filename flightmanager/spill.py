"""Spill files: the part of a pushed partition attempt that did not fit in memory, on local disk.

Each spilled attempt is one Arrow IPC stream file, written batch by batch while the push arrives
and read back batch by batch (memory-mapped, so an uncompressed file is never copied into the
heap) when its partition is served. :class:`SpillArea` owns the directory and keeps the count
and size of the files on disk; it takes its own small lock, never the result store's.
"""

from __future__ import annotations

import re
import shutil
import tempfile
import threading
import uuid
from collections.abc import Generator
from pathlib import Path
from typing import Literal, cast

import pyarrow as pa

from spark_flight_sql.flightmanager.errors import FlightManagerError

DEFAULT_PREFIX = "flight-spill-"
SUFFIX = ".arrows"
_UNSAFE = re.compile(r"[^A-Za-z0-9_.-]+")


class SpillError(FlightManagerError):
    """Writing or reading a spill file failed (the disk is full, the directory is not writable...)."""


class SpillArea:
    """The directory of one store's spill files, and the account of what it holds.

    ``directory=None`` means a fresh ``tempfile.mkdtemp(prefix="flight-spill-")``, created on the
    first spill and removed by :meth:`close`; a given directory is created when missing and is
    left in place by :meth:`close`, which deletes only the files this area wrote. After
    :meth:`close`, :meth:`new_file` returns None: nothing is written any more.
    """

    def __init__(self, directory: str | Path | None = None, compression: str | None = None) -> None:
        codec = cast("Literal['lz4', 'zstd'] | None", compression)  # any name: pyarrow checks it here
        if codec is not None and not pa.Codec.is_available(codec):
            raise ValueError(f"this pyarrow build cannot compress IPC with {compression!r}")
        self._given = Path(directory) if directory is not None else None
        self._directory: Path | None = None
        self._options = pa.ipc.IpcWriteOptions(compression=codec)
        self._files: dict[Path, int] = {}
        self._bytes = 0
        self._closed = False
        # Held only for the bookkeeping and for creating a file, so that close() never races
        # a file appearing in a directory it is removing.
        self._lock = threading.Lock()

    @property
    def directory(self) -> Path | None:
        """Where spill files go; None until the first spill when the directory is the default one."""
        return self._directory or self._given

    def bytes_on_disk(self) -> int:
        """Size of every spill file that exists now."""
        with self._lock:
            return self._bytes

    def file_count(self) -> int:
        """Number of spill files that exist now."""
        with self._lock:
            return len(self._files)

    def new_file(self, schema: pa.Schema, label: str) -> SpillWriter | None:
        """Start a spill file for batches of ``schema``; None once the area is closed.

        ``label`` only helps an operator tell the files apart (e.g. query, partition, attempt).
        """
        name = f"{_UNSAFE.sub('_', label)[:80]}-{uuid.uuid4().hex}{SUFFIX}"
        with self._lock:
            if self._closed:
                return None
            try:
                path = self._ensure_directory() / name
                sink = pa.OSFile(str(path), "wb")
            except OSError as exc:
                raise SpillError(f"cannot create a spill file in {self.directory}: {exc}") from exc
            self._files[path] = 0
        try:
            return SpillWriter(self, path, sink, schema, self._options)
        except BaseException as exc:
            sink.close()
            self.delete(path)
            if isinstance(exc, OSError):
                raise SpillError(f"cannot write spill file {path}: {exc}") from exc
            raise

    def delete(self, path: Path) -> None:
        """Delete a spill file; deleting one that is already gone is a no-op."""
        with self._lock:
            self._bytes -= self._files.pop(path, 0)
        path.unlink(missing_ok=True)

    def close(self) -> None:
        """Delete every spill file, and the directory when this area created it."""
        with self._lock:
            self._closed = True
            files = list(self._files)
            self._files.clear()
            self._bytes = 0
            created = self._directory if self._given is None else None
        for path in files:
            path.unlink(missing_ok=True)
        if created is not None:
            shutil.rmtree(created, ignore_errors=True)

    def _ensure_directory(self) -> Path:
        if self._given is None:
            if self._directory is None:
                self._directory = Path(tempfile.mkdtemp(prefix=DEFAULT_PREFIX))
            return self._directory
        if self._directory is None:
            self._given.mkdir(parents=True, exist_ok=True)
            self._directory = self._given
        return self._directory

    def _resize(self, path: Path, size: int) -> None:
        with self._lock:
            if path in self._files:  # not when close() or delete() came first
                self._bytes += size - self._files[path]
                self._files[path] = size


class SpillWriter:
    """One spill file being written: an Arrow IPC stream, one batch at a time."""

    def __init__(
        self,
        area: SpillArea,
        path: Path,
        sink: pa.NativeFile,
        schema: pa.Schema,
        options: pa.ipc.IpcWriteOptions,
    ) -> None:
        self._area = area
        self._path = path
        self._sink = sink
        self._writer = pa.ipc.new_stream(sink, schema, options=options)

    def write(self, batch: pa.RecordBatch) -> None:
        """Append one batch to the file."""
        try:
            self._writer.write_batch(batch)
        except OSError as exc:
            raise SpillError(f"cannot write spill file {self._path}: {exc}") from exc
        self._area._resize(self._path, self._sink.tell())

    def finish(self) -> SpillFile:
        """End the stream and close the file; it can then be read back."""
        try:
            self._writer.close()
            size = self._sink.tell()
            self._sink.close()
        except OSError as exc:
            raise SpillError(f"cannot write spill file {self._path}: {exc}") from exc
        self._area._resize(self._path, size)
        return SpillFile(self._area, self._path)

    def discard(self) -> None:
        """Close and delete the file, whatever state it is in."""
        try:
            self._writer.close()
        except (OSError, pa.ArrowException):
            pass  # the file is going away: a failed end-of-stream marker does not matter
        finally:
            self._sink.close()
            self._area.delete(self._path)


class SpillFile:
    """A finished spill file: read back batch by batch, then deleted."""

    def __init__(self, area: SpillArea, path: Path) -> None:
        self._area = area
        self.path = path

    def batches(self) -> Generator[pa.RecordBatch, None, None]:
        """Stream the batches back in the order they were written, one at a time.

        Memory-mapped: an uncompressed batch points into the mapping, which stays valid while
        the batch lives, even after the file was closed and deleted.
        """
        try:
            with pa.memory_map(str(self.path)) as source, pa.ipc.open_stream(source) as reader:
                yield from reader
        except OSError as exc:
            raise SpillError(f"cannot read spill file {self.path}: {exc}") from exc

    def delete(self) -> None:
        """Delete the file (a no-op when it is already gone)."""
        self._area.delete(self.path)
