"""The ``local`` FlightManager: one node, everything in this process, no ZooKeeper."""

from __future__ import annotations

from collections.abc import Sequence

import pyarrow as pa

from flightmanager.manager import FlightManager
from flightmanager.model import NodeInfo, QueryState


class LocalFlightManager(FlightManager):
    """A single-node cluster: this node serves every partition of every result."""

    def serving_nodes(self) -> list[NodeInfo]:
        """Just this node."""
        return [self.node]

    def _join(self, node: NodeInfo) -> None:
        pass

    def _leave(self, node: NodeInfo) -> None:
        pass

    def _open_query(self, query_id: str, schema: pa.Schema, secret: bytes, nodes: Sequence[NodeInfo]) -> None:
        self.store.create(query_id, schema, secret)

    def _set_partitions(self, query_id: str, assignment: dict[str, list[int]]) -> None:
        self.store.set_partitions(query_id, assignment.get(self.node_id, []))

    def _share_finished(self, query_id: str, *, abandoned: bool) -> None:
        if abandoned and self._cancel_job(query_id, "its reader went away"):
            self._record_outcome(query_id, QueryState.CANCELLED, error="the reader went away")

    def _confirm(self, query_id: str, partition: int, attempt: int) -> None:
        self.store.confirm(query_id, partition, attempt)

    def _record_outcome(
        self, query_id: str, state: QueryState, *, error: str | None = None,
        attempts: dict[str, list[tuple[int, int]]] | None = None, status: str | None = None,
    ) -> bool:
        decided = self.store.state(query_id) is QueryState.RUNNING
        self._settle_share(query_id, state, error=error, status=status, attempts=(attempts or {}).get(self.node_id, []))
        return decided
