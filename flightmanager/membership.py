"""Membership of a ``zookeeper`` cluster: this node's ephemeral znode, and the live nodes.

``<root>/nodes/<node>`` is an ephemeral znode carrying ``{public, internal, host}`` of a live node.
:class:`Membership` registers this node there, registers it again when its ZooKeeper session was
lost and a new one begins, and keeps a cache of the live nodes through a children watch; it
reports each node that leaves to the ``on_left`` callback it was given at :meth:`Membership.join`.

The cache holds each node's info with the creation zxid of the znode it was read from: at every
change of the children each znode's stat is checked, so a node restarted under the same
``spark.flight.node.id`` (a new znode, maybe a new internal port) replaces its old entry even when
the children's names did not change, and its previous life is reported as a departure (what that
incarnation owned or served is settled as if it had left).

Registering is idempotent and runs under kazoo's retry. Reads inside watch callbacks are not
retried: a watch must not block kazoo's event thread, and the next event reads again.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable

from kazoo.client import KazooClient, KazooState
from kazoo.exceptions import NodeExistsError, NoNodeError
from kazoo.recipe.watchers import ChildrenWatch

from spark_flight_sql.flightmanager.model import NodeInfo

__all__ = ["Membership"]

log = logging.getLogger(__name__)


class Membership:
    """This node's registration under ``nodes_path``, and the cache of live nodes."""

    def __init__(self, zk: KazooClient, nodes_path: str) -> None:
        self._zk = zk
        self.nodes_path = nodes_path
        self._live: dict[str, NodeInfo] = {}
        # node id -> creation zxid of the znode its cached info was read from
        self._incarnations: dict[str, int] = {}
        self._lock = threading.Lock()
        self._node: NodeInfo | None = None
        self._on_left: Callable[[str], None] = lambda node_id: None
        self._closing = False
        self._session_lost = threading.Event()

    def join(self, node: NodeInfo, on_left: Callable[[str], None]) -> None:
        """Register ``node``, keep it registered across sessions, and watch the other nodes:
        ``on_left(node_id)`` is called (from a kazoo thread) for each node that leaves."""
        self._node = node
        self._on_left = on_left
        self._zk.retry(self._zk.ensure_path, self.nodes_path)
        self._register(node)
        self._zk.add_listener(self._on_connection_state)
        ChildrenWatch(self._zk, self.nodes_path, self._on_members)

    def close(self) -> None:
        """Stop reacting to ZooKeeper (the znode goes with the session, or :meth:`node_path` is
        deleted by the caller)."""
        self._closing = True
        self._zk.remove_listener(self._on_connection_state)

    def node_path(self, node_id: str) -> str:
        """The znode of ``node_id``."""
        return f"{self.nodes_path}/{node_id}"

    def live(self) -> dict[str, NodeInfo]:
        """The live nodes as last seen by the watch."""
        with self._lock:
            return dict(self._live)

    def is_member(self, node_id: str) -> bool:
        """Whether ``node_id`` is live: from the cache, or (the cache may lag) from ZooKeeper."""
        with self._lock:
            if node_id in self._live:
                return True
        return self._zk.exists(self.node_path(node_id)) is not None

    def _register(self, node: NodeInfo) -> None:
        path = self.node_path(node.node_id)
        body = json.dumps(
            {"public": node.public_location, "internal": node.internal_location, "host": node.host}
        )
        try:
            self._zk.retry(self._zk.create, path, body.encode(), ephemeral=True)
        except NodeExistsError:
            stat = self._zk.retry(self._zk.exists, path)
            if stat is not None and stat.ephemeralOwner == self._zk.client_id[0]:
                return  # registered already in this very session
            # Left over from this node's previous session (or life), which ZooKeeper has not expired
            # yet: replaced in one transaction, so the other nodes never see this id missing; they
            # tell the new znode by its creation zxid.
            self._zk.retry(self._replace, path, body.encode())
        log.info("node %s joined the cluster", node.node_id)

    def _replace(self, path: str, body: bytes) -> None:
        transaction = self._zk.transaction()
        transaction.delete(path)
        transaction.create(path, body, ephemeral=True)
        failures = [r for r in transaction.commit() if isinstance(r, Exception)]
        if failures:
            raise failures[0]

    def _on_connection_state(self, state: str) -> None:
        if self._closing or self._node is None:
            return
        if state == KazooState.LOST:
            self._session_lost.set()
            log.warning("node %s lost its ZooKeeper session", self._node.node_id)
        elif state == KazooState.CONNECTED and self._session_lost.is_set():
            self._session_lost.clear()
            # Listeners must not block: re-register from another thread.
            self._zk.handler.spawn(self._reregister)

    def _reregister(self) -> None:
        node = self._node
        if node is None:
            return
        try:
            self._register(node)
        except Exception:  # kazoo retries the connection; the next CONNECTED tries again
            log.exception("node %s could not re-register", node.node_id)
            self._session_lost.set()

    def _on_members(self, children: list[str]) -> bool:
        if self._closing:
            return False
        members: dict[str, NodeInfo] = {}
        incarnations: dict[str, int] = {}
        for node_id in children:
            read = self._read_node(node_id)
            if read is not None:
                members[node_id], incarnations[node_id] = read
        with self._lock:
            gone = set(self._live) - set(members)
            # The same id on a new znode: a new incarnation, whose predecessor left.
            gone |= {
                n for n in members if n in self._incarnations and self._incarnations[n] != incarnations[n]
            }
            self._live = members
            self._incarnations = incarnations
        me = self._node.node_id if self._node is not None else None
        for node_id in sorted(gone):
            if node_id != me:
                try:
                    self._on_left(node_id)
                except Exception:  # one failure must not hide the other departures
                    log.exception("handling the departure of node %s failed", node_id)
        return True

    def _read_node(self, node_id: str) -> tuple[NodeInfo, int] | None:
        """The node's info and the creation zxid of its znode, or None when it is gone."""
        try:
            data, stat = self._zk.get(self.node_path(node_id))
        except NoNodeError:
            return None
        body = json.loads(data)
        return NodeInfo(node_id, body["public"], body["internal"], body["host"]), stat.czxid
