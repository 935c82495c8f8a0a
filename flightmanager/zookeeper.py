"""The ``zookeeper`` FlightManager: every node serves a share of every result.

ZooKeeper (through kazoo) holds the cluster's shared state; every change reaches the nodes by
watches. Under ``spark.flight.manager.zookeeper.membershipPath`` (``ROOT``)::

    ROOT/nodes/<node>                    ephemeral: {public, internal, host} of a live node, and
                                         draining once it drains before stopping
                                         (:mod:`~spark_flight_sql.flightmanager.membership`)
    ROOT/secret                          the cluster secret, when none is configured; push secrets
                                         derive from it (:mod:`~spark_flight_sql.flightmanager.cluster_secret`)
    ROOT/queries/<query>/...             a query, its node set, confirmations, outcome and the end
                                         of each share (:mod:`~spark_flight_sql.flightmanager.query_registry`)
    ROOT/records/<kind>/<key>            small records every node reads
                                         (:mod:`~spark_flight_sql.flightmanager.shared_records`)

:class:`ZooKeeperFlightManager` composes those pieces around one kazoo client: it opens the
session (once, on :meth:`start` or when the cluster secret is first needed), joins through
:class:`~spark_flight_sql.flightmanager.membership.Membership` (which reports each node that leaves
to the query registry), and delegates the coordination hooks of
:class:`~spark_flight_sql.flightmanager.manager.FlightManager` to the
:class:`~spark_flight_sql.flightmanager.query_registry.QueryRegistry`, which it hands itself as its
:class:`~spark_flight_sql.flightmanager.events.QueryEvents`.

The owner (the node that took the query) runs the Spark job, writes confirmations and the
outcome, cancels the job once every share is over and one was abandoned, and deletes the query's
znodes when every share is over. When the owner leaves the cluster, every node fails its stream
and the query's znodes go (whoever outlives the owner deletes them, also when its own share was
over already); when a serving node leaves, the owner fails the query and settles it without that
node's share. See "Settlement" in the query registry and docs/architecture.md.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

import pyarrow as pa
from kazoo.client import KazooClient
from kazoo.retry import KazooRetry

from spark_flight_sql.flightmanager.cluster_secret import shared_secret
from spark_flight_sql.flightmanager.config import FlightConfig
from spark_flight_sql.flightmanager.errors import FlightManagerError, NodeUnavailableError
from spark_flight_sql.flightmanager.manager import FlightManager
from spark_flight_sql.flightmanager.membership import Membership
from spark_flight_sql.flightmanager.model import NodeInfo, Outcome
from spark_flight_sql.flightmanager.query_registry import NodeSetChanged, QueryRegistry
from spark_flight_sql.flightmanager.shared_records import ZooKeeperRecords

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

__all__ = ["ZooKeeperFlightManager"]

log = logging.getLogger(__name__)

_SHUTDOWN_SECONDS = 5.0
# A new query's node set read again when a member changed under it; more changes than this while one
# query is placed mean the cluster is in turmoil.
_NODE_SET_ATTEMPTS = 5


def _quietly(operation: Callable[..., object], *args: object) -> None:
    try:
        operation(*args)
    except Exception:  # best effort at shutdown; the session's end removes ephemerals
        log.debug("ZooKeeper clean-up at shutdown failed", exc_info=True)


def _bounded(operation: Callable[..., object], *args: object) -> None:
    """Run a ZooKeeper operation at shutdown, giving up after a few seconds."""
    worker = threading.Thread(target=_quietly, args=(operation, *args), daemon=True)
    worker.start()
    worker.join(_SHUTDOWN_SECONDS)


class ZooKeeperFlightManager(FlightManager):
    """A node of a cluster coordinated through ZooKeeper."""

    def __init__(self, config: FlightConfig, spark: SparkSession, *, node_id: str | None = None) -> None:
        super().__init__(config, spark, node_id=node_id)
        root = config.zookeeper_path
        # Creating the client opens nothing: the session begins in _connect.
        self._zk = KazooClient(
            hosts=config.zookeeper_url,
            timeout=config.zookeeper_session_timeout,
            connection_retry=KazooRetry(max_tries=-1, max_delay=2.0),
            command_retry=KazooRetry(max_tries=10, max_delay=2.0),
        )
        self._records = ZooKeeperRecords(self._zk, root)
        self._membership = Membership(self._zk, f"{root}/nodes")
        self._queries = QueryRegistry(
            self._zk,
            f"{root}/queries",
            self.node_id,
            store=self.store,
            membership=self._membership,
            events=self,
            push_secret=self.push_secret,
            unreachable_after=config.zookeeper_session_timeout,
        )
        self._connect_lock = threading.Lock()
        self._connected_once = False

    # ---- the session ---------------------------------------------------------------------------

    def _connect(self) -> None:
        """Open the ZooKeeper session once (the cluster secret may need it before :meth:`start`)."""
        with self._connect_lock:
            if self._connected_once:
                return
            try:
                self._zk.start(timeout=max(30.0, self.config.zookeeper_session_timeout))
            except Exception as exc:
                raise FlightManagerError(
                    f"cannot reach ZooKeeper at {self.config.zookeeper_url}: {type(exc).__name__}: {exc}"
                ) from exc
            self._connected_once = True

    def _disconnect(self) -> None:
        """End the ZooKeeper session (once), if one was opened."""
        with self._connect_lock:
            if not self._connected_once:
                return
            self._connected_once = False
        self._zk.stop()
        self._zk.close()

    def _generated_secret(self) -> bytes:
        """The cluster's shared secret, kept in ZooKeeper (see :mod:`.cluster_secret`)."""
        self._connect()
        return shared_secret(self._zk, self.config.zookeeper_path, self.node_id)

    # ---- membership ----------------------------------------------------------------------------

    def _join(self, node: NodeInfo) -> None:
        self._connect()
        self._membership.join(node, on_left=self._queries.node_left)
        self._queries.watch()

    def serving_nodes(self) -> list[NodeInfo]:
        """The live nodes that take new queries, this one included, in node id order."""
        serving = self._membership.serving()
        serving[self.node_id] = self.node
        return [serving[node_id] for node_id in sorted(serving)]

    def _begin_drain(self) -> None:
        """Say so in this node's membership znode (new queries leave it out from now on), then track
        every query created before, which the watch may not have delivered yet."""
        self._membership.drain()
        self._queries.catch_up()

    def pending_work(self) -> dict[str, int]:
        """The manager's, and the queries this node owns or serves a share of that are not settled."""
        return {**super().pending_work(), "unsettled queries": self._queries.tracked()}

    def live_nodes(self) -> list[NodeInfo]:
        """Every live node, draining ones included, in node id order."""
        live = self._membership.live()
        live[self.node_id] = self.node
        return [live[node_id] for node_id in sorted(live)]

    def _leave(self, node: NodeInfo) -> None:
        owned = self._queries.close()  # their jobs are cancelled: nobody will finish them
        self._membership.close()
        # Bounded waits: a node must stop even while ZooKeeper is unreachable.
        if self._zk.connected:
            for path in owned:
                _bounded(self._queries.delete_tree, path)
            _bounded(self._zk.delete, self._membership.node_path(node.node_id))
        self._disconnect()

    def close(self) -> None:
        """Leave the cluster as every manager does; also end a session opened only to read the
        cluster secret of a node that never started."""
        try:
            super().close()
        finally:
            self._queries.close()
            self._disconnect()

    # ---- queries, through the registry ---------------------------------------------------------

    def _open_query(self, query_id: str, schema: pa.Schema, *, here_only: bool) -> Sequence[NodeInfo]:
        """Over the serving nodes as this node knows them; when one of them began draining or left
        meanwhile, the members are read again and the query placed anew (see
        :mod:`~spark_flight_sql.flightmanager.membership`)."""
        for _ in range(_NODE_SET_ATTEMPTS):
            nodes = [self.node] if here_only else self.serving_nodes()
            versions = self._membership.versions([n.node_id for n in nodes])
            try:
                self._queries.open_query(query_id, schema, nodes, versions)
            except NodeSetChanged:
                self._membership.refresh()
                continue
            return nodes
        raise NodeUnavailableError(
            f"the cluster's members changed {_NODE_SET_ATTEMPTS} times while this query was placed: "
            "run it again"
        )

    def _set_partitions(self, query_id: str, assignment: dict[str, list[int]]) -> None:
        self._queries.set_partitions(query_id, assignment)

    def _confirm(self, query_id: str, partition: int, attempt: int) -> None:
        self._queries.confirm(query_id, partition, attempt)

    def _record_outcome(self, query_id: str, outcome: Outcome) -> bool:
        return self._queries.record_outcome(query_id, outcome)

    def _ensure_query(self, query_id: str) -> None:
        self._queries.ensure_query(query_id)

    def _share_finished(self, query_id: str, *, abandoned: bool) -> None:
        self._queries.share_finished(query_id, abandoned=abandoned)

    # ---- for tests and operators ---------------------------------------------------------------

    def query_ids_in_zookeeper(self) -> list[str]:
        """The queries whose metadata ZooKeeper holds."""
        return self._queries.query_ids()
