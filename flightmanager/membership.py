"""Membership of a ``zookeeper`` cluster: this node's ephemeral znode, and the live nodes.

``<root>/nodes/<node>`` is an ephemeral znode carrying ``{public, internal, host}`` of a live node
(and ``draining``, once it drains).
:class:`Membership` registers this node there, registers it again when its ZooKeeper session was
lost and a new one begins, and keeps a cache of the live nodes through a children watch; it
reports each node that leaves to the ``on_left`` callback it was given at :meth:`Membership.join`.

The cache holds each node's info with the creation zxid of the znode it was read from: at every
change of the children each znode's stat is checked, so a node restarted under the same
``spark.flight.node.id`` (a new znode, maybe a new internal port) replaces its old entry even when
the children's names did not change, and its previous life is reported as a departure (what that
incarnation owned or served is settled as if it had left).

A node that drains before it stops (see :meth:`Membership.drain`) stays a member, so that what it
serves is still read and relayed, but rewrites its znode with ``"draining": true``: new queries
leave it out. The rewrite bumps the znode's version, and an owner creates a query's znodes in a
transaction that checks the version of every other node it chose (see :meth:`Membership.versions`),
so no query can include a node that started draining, or left, after the owner last read it: the
transaction fails, the owner reads the members again (:meth:`Membership.refresh`) and chooses anew.
The children watch does not see a rewrite; that check is what makes it safe, not the cache.

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
from kazoo.protocol.states import ZnodeStat
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
        # node id -> the version of its znode the cache read, and the nodes that said they drain
        self._versions: dict[str, int] = {}
        self._draining: set[str] = set()
        self._lock = threading.Lock()
        self._update_lock = threading.Lock()
        self._node: NodeInfo | None = None
        self._on_left: Callable[[str], None] = lambda node_id: None
        self._closing = False
        self._session_lost = threading.Event()
        self._draining_self = False

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
        """The live nodes as last seen by the watch (draining ones included)."""
        with self._lock:
            return dict(self._live)

    def serving(self) -> dict[str, NodeInfo]:
        """The live nodes that take new queries (the draining ones left out)."""
        with self._lock:
            return {n: info for n, info in self._live.items() if n not in self._draining}

    def versions(self, node_ids: list[str]) -> dict[str, int]:
        """The version of each node's znode as the cache read it (for a transaction's checks)."""
        with self._lock:
            return {n: self._versions[n] for n in node_ids if n in self._versions}

    def refresh(self) -> None:
        """Read the members again now (the cache may lag: a rewrite does not fire the children watch)."""
        self._zk.retry(self._update)

    def drain(self) -> None:
        """Say that this node drains: it takes no new query from now on (see the module docstring)."""
        node = self._node
        if node is None:
            return
        self._draining_self = True
        self._zk.retry(self._zk.set, self.node_path(node.node_id), self._body(node))
        log.info("node %s drains: new queries leave it out", node.node_id)

    def is_member(self, node_id: str) -> bool:
        """Whether ``node_id`` is live: from the cache, or (the cache may lag) from ZooKeeper."""
        with self._lock:
            if node_id in self._live:
                return True
        return self._zk.exists(self.node_path(node_id)) is not None

    def _body(self, node: NodeInfo) -> bytes:
        body: dict[str, object] = {
            "public": node.public_location,
            "internal": node.internal_location,
            "host": node.host,
        }
        if self._draining_self:
            body["draining"] = True
        return json.dumps(body).encode()

    def _register(self, node: NodeInfo) -> None:
        path = self.node_path(node.node_id)
        body = self._body(node)
        try:
            self._zk.retry(self._zk.create, path, body, ephemeral=True)
        except NodeExistsError:
            stat = self._zk.retry(self._zk.exists, path)
            if stat is not None and stat.ephemeralOwner == self._zk.client_id[0]:
                return  # registered already in this very session
            # Left over from this node's previous session (or life), which ZooKeeper has not expired
            # yet: replaced in one transaction, so the other nodes never see this id missing; they
            # tell the new znode by its creation zxid.
            self._zk.retry(self._replace, path, body)
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
        try:
            self._update()
        except Exception:  # ZooKeeper away mid-read: the next change, or a refresh, reads again
            log.exception("could not read the members of the cluster")
        return True

    def _update(self) -> None:
        """Read the members (children and each one's znode) and report each node that left.

        Serialized, and reading afresh rather than trusting a watch's list: a refresh and the watch
        may run at once, and a later update never sees an older cluster than an earlier one."""
        with self._update_lock:
            members: dict[str, NodeInfo] = {}
            incarnations: dict[str, int] = {}
            versions: dict[str, int] = {}
            draining: set[str] = set()
            for node_id in self._zk.get_children(self.nodes_path):
                read = self._read_node(node_id)
                if read is not None:
                    members[node_id], stat, drains = read
                    incarnations[node_id], versions[node_id] = stat.czxid, stat.version
                    if drains:
                        draining.add(node_id)
            with self._lock:
                gone = set(self._live) - set(members)
                # The same id on a new znode: a new incarnation, whose predecessor left.
                gone |= {
                    n for n in members if n in self._incarnations and self._incarnations[n] != incarnations[n]
                }
                self._live = members
                self._incarnations = incarnations
                self._versions = versions
                self._draining = draining
        me = self._node.node_id if self._node is not None else None
        for node_id in sorted(gone):
            if node_id != me:
                try:
                    self._on_left(node_id)
                except Exception:  # one failure must not hide the other departures
                    log.exception("handling the departure of node %s failed", node_id)

    def _read_node(self, node_id: str) -> tuple[NodeInfo, ZnodeStat, bool] | None:
        """The node's info, its znode's stat, and whether it drains; None when it is gone."""
        try:
            data, stat = self._zk.get(self.node_path(node_id))
        except NoNodeError:
            return None
        body = json.loads(data)
        info = NodeInfo(node_id, body["public"], body["internal"], body["host"])
        return info, stat, bool(body.get("draining", False))
