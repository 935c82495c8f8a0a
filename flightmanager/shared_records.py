"""Small records every node of the cluster can read (e.g. a front end's client sessions).

:class:`LocalRecords` keeps them in this process (the ``local`` manager); :class:`ZooKeeperRecords`
keeps them as persistent znodes under ``<root>/records/<kind>/<key>`` (the ``zookeeper`` manager),
read from ZooKeeper at every call so that a record written by any node is seen at once. Every
ZooKeeper operation here is idempotent and runs under kazoo's retry. kazoo's exceptions are
imported where they are caught, so that the ``local`` manager, which uses :class:`LocalRecords`
from this module, never loads kazoo.
"""

from __future__ import annotations

import threading
import time
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from kazoo.client import KazooClient

__all__ = ["LocalRecords", "SharedRecords", "ZooKeeperRecords"]


class SharedRecords(Protocol):
    """Small records (under a few KiB) by kind and key."""

    def put(self, kind: str, key: str, value: bytes) -> None:
        """Store (or replace) a record."""

    def get(self, kind: str, key: str) -> bytes | None:
        """A record stored by any node, or None."""

    def delete(self, kind: str, key: str) -> None:
        """Forget a record (nothing happens if there is none)."""

    def expire(self, kind: str, max_age: float) -> int:
        """Forget the records of ``kind`` last written more than ``max_age`` seconds ago; how many."""


class LocalRecords:
    """Records kept in this process."""

    def __init__(self) -> None:
        self._records: dict[tuple[str, str], tuple[bytes, float]] = {}
        self._lock = threading.Lock()

    def put(self, kind: str, key: str, value: bytes) -> None:
        """Kept in this process."""
        with self._lock:
            self._records[(kind, key)] = (value, time.time())

    def get(self, kind: str, key: str) -> bytes | None:
        """From this process."""
        with self._lock:
            found = self._records.get((kind, key))
        return None if found is None else found[0]

    def delete(self, kind: str, key: str) -> None:
        """From this process."""
        with self._lock:
            self._records.pop((kind, key), None)

    def expire(self, kind: str, max_age: float) -> int:
        """From this process."""
        cutoff = time.time() - max_age
        with self._lock:
            old = [
                name for name, (_, written) in self._records.items() if name[0] == kind and written < cutoff
            ]
            for name in old:
                del self._records[name]
        return len(old)


class ZooKeeperRecords:
    """Records as persistent znodes under ``<root>/records``."""

    def __init__(self, zk: KazooClient, root: str) -> None:
        self._zk = zk
        self._path = f"{root}/records"

    def _record_path(self, kind: str, key: str) -> str:
        if not kind.isidentifier() or "/" in key or key in ("", ".", "..") or len(key) > 200:
            raise ValueError(f"not a record name: {kind!r}/{key!r}")
        return f"{self._path}/{kind}/{key}"

    def put(self, kind: str, key: str, value: bytes) -> None:
        """A persistent znode under ``<root>/records/<kind>/``."""
        from kazoo.exceptions import NodeExistsError, NoNodeError

        path = self._record_path(kind, key)

        def put() -> None:
            try:
                self._zk.set(path, value)
            except NoNodeError:
                try:
                    self._zk.create(path, value, makepath=True)
                except NodeExistsError:
                    self._zk.set(path, value)

        self._zk.retry(put)

    def get(self, kind: str, key: str) -> bytes | None:
        """Read from ZooKeeper, so a record written by any node is seen at once."""
        from kazoo.exceptions import NoNodeError

        try:
            data, _ = self._zk.retry(self._zk.get, self._record_path(kind, key))
        except NoNodeError:
            return None
        return bytes(data)

    def delete(self, kind: str, key: str) -> None:
        """Delete the znode if it is there."""
        from kazoo.exceptions import NoNodeError

        try:
            self._zk.retry(self._zk.delete, self._record_path(kind, key))
        except NoNodeError:
            pass

    def expire(self, kind: str, max_age: float) -> int:
        """Delete the znodes of ``kind`` whose last write (ZooKeeper's mtime) is older than ``max_age``."""
        from kazoo.exceptions import BadVersionError, NoNodeError

        folder = self._record_path(kind, "x").rsplit("/", 1)[0]
        try:
            keys = self._zk.retry(self._zk.get_children, folder)
        except NoNodeError:
            return 0
        cutoff_ms = (time.time() - max_age) * 1000
        expired = 0
        for key in keys:
            try:
                stat = self._zk.retry(self._zk.exists, f"{folder}/{key}")
                if stat is not None and stat.mtime < cutoff_ms:
                    self._zk.retry(self._zk.delete, f"{folder}/{key}", version=stat.version)
                    expired += 1
            except (NoNodeError, BadVersionError):
                pass  # deleted or rewritten meanwhile
        return expired
