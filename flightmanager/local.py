"""The ``local`` FlightManager: one node, everything in this process, no ZooKeeper."""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from typing import Any

import pyarrow as pa

from spark_flight_sql.flightmanager.manager import FlightManager
from spark_flight_sql.flightmanager.model import NodeInfo, QueryState


class LocalFlightManager(FlightManager):
    """A single-node cluster: this node serves every partition of every result."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._records: dict[tuple[str, str], tuple[bytes, float]] = {}
        self._records_lock = threading.Lock()

    def put_record(self, kind: str, key: str, value: bytes) -> None:
        """Kept in this process."""
        with self._records_lock:
            self._records[(kind, key)] = (value, time.time())

    def get_record(self, kind: str, key: str) -> bytes | None:
        """From this process."""
        with self._records_lock:
            found = self._records.get((kind, key))
        return None if found is None else found[0]

    def delete_record(self, kind: str, key: str) -> None:
        """From this process."""
        with self._records_lock:
            self._records.pop((kind, key), None)

    def expire_records(self, kind: str, max_age: float) -> int:
        """From this process."""
        cutoff = time.time() - max_age
        with self._records_lock:
            old = [
                name for name, (_, written) in self._records.items() if name[0] == kind and written < cutoff
            ]
            for name in old:
                del self._records[name]
        return len(old)

    def serving_nodes(self) -> list[NodeInfo]:
        """Just this node."""
        return [self.node]

    def _join(self, node: NodeInfo) -> None:
        pass

    def _leave(self, node: NodeInfo) -> None:
        pass

    def _open_query(self, query_id: str, schema: pa.Schema, nodes: Sequence[NodeInfo]) -> None:
        self.store.create(query_id, schema, self.push_secret(query_id))

    def _set_partitions(self, query_id: str, assignment: dict[str, list[int]]) -> None:
        self.store.set_partitions(query_id, assignment.get(self.node_id, []))

    def _share_finished(self, query_id: str, *, abandoned: bool) -> None:
        if abandoned and self._cancel_job(query_id, "its reader went away"):
            self._record_outcome(query_id, QueryState.CANCELLED, error="the reader went away")

    def _confirm(self, query_id: str, partition: int, attempt: int) -> None:
        self.store.confirm(query_id, partition, attempt)

    def _record_outcome(
        self,
        query_id: str,
        state: QueryState,
        *,
        error: str | None = None,
        attempts: dict[str, list[tuple[int, int]]] | None = None,
        status: str | None = None,
    ) -> bool:
        decided = self.store.state(query_id) is QueryState.RUNNING
        self._settle_share(
            query_id, state, error=error, status=status, attempts=(attempts or {}).get(self.node_id, [])
        )
        return decided
