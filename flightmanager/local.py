"""The ``local`` FlightManager: one node, everything in this process, no ZooKeeper."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pyarrow as pa

from spark_flight_sql.flightmanager.manager import FlightManager
from spark_flight_sql.flightmanager.model import NodeInfo, Outcome, QueryState
from spark_flight_sql.flightmanager.shared_records import LocalRecords


class LocalFlightManager(FlightManager):
    """A single-node cluster: this node serves every partition of every result."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._records = LocalRecords()

    def serving_nodes(self) -> list[NodeInfo]:
        """Just this node."""
        return [self.node]

    def _join(self, node: NodeInfo) -> None:
        pass

    def _leave(self, node: NodeInfo) -> None:
        pass

    def _begin_drain(self) -> None:
        pass  # no other node could give this one a new query

    def _open_query(self, query_id: str, schema: pa.Schema, *, here_only: bool) -> Sequence[NodeInfo]:
        self.store.create(query_id, schema, self.push_secret(query_id))
        return [self.node]

    def _set_partitions(self, query_id: str, assignment: dict[str, list[int]]) -> None:
        self.store.set_partitions(query_id, assignment.get(self.node_id, []))

    def _ensure_query(self, query_id: str) -> None:
        pass  # a single node hears of every query when it opens it

    def _share_finished(self, query_id: str, *, abandoned: bool) -> None:
        if abandoned and self.cancel_job(query_id, "its reader went away"):
            self._record_outcome(query_id, Outcome(QueryState.CANCELLED, error="the reader went away"))

    def _confirm(self, query_id: str, partition: int, attempt: int) -> None:
        self.store.confirm(query_id, partition, attempt)

    def _record_outcome(self, query_id: str, outcome: Outcome) -> bool:
        decided = self.store.state(query_id) is QueryState.RUNNING
        self.store.settle(
            query_id,
            outcome.state,
            error=outcome.error,
            status=outcome.status,
            attempts=outcome.attempts.get(self.node_id, []),
        )
        return decided
