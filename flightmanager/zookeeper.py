"""The ``zookeeper`` FlightManager: every node serves a share of every result.

ZooKeeper (through kazoo) holds the cluster's shared state; every change reaches the nodes by
watches. Under ``spark.flight.manager.zookeeper.membershipPath`` (``ROOT``)::

    ROOT/nodes/<node>                    ephemeral: {public, internal, host} of a live node
    ROOT/secret                          the cluster secret, when none is configured (see
                                         ``_generated_secret``); push secrets derive from it
    ROOT/queries/<query>                 {owner, nodes, schema}: a query and its node set (no
                                         secret: every node derives the query's push secret)
    ROOT/queries/<query>/assignment      {node: [partition, ...]} when placement is known in advance
    ROOT/queries/<query>/confirmed/<p>   the task attempt of partition p that Spark counted as
                                         successful; the first one created wins
    ROOT/queries/<query>/outcome         {state, error, status, attempts: {node: [[p, attempt], ...]}}
    ROOT/queries/<query>/done/<node>     "drained" or "abandoned": that node's share is over

The owner (the node that took the query) runs the Spark job, writes confirmations and the
outcome, cancels the job once every share is over and one was abandoned, and deletes the query's
znodes when every share is over. When the owner leaves the cluster, every node fails its stream
and the query's znodes go; when a serving node leaves, the owner fails the query.
"""

from __future__ import annotations

import base64
import json
import logging
import secrets
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import pyarrow as pa
from kazoo.client import KazooClient, KazooState
from kazoo.exceptions import BadVersionError, NodeExistsError, NoNodeError, NotEmptyError
from kazoo.recipe.watchers import ChildrenWatch, DataWatch
from kazoo.retry import KazooRetry

from spark_flight_sql.flightmanager.config import FlightConfig
from spark_flight_sql.flightmanager.errors import FlightManagerError, QueryFailedError
from spark_flight_sql.flightmanager.manager import FlightManager
from spark_flight_sql.flightmanager.model import NodeInfo, QueryState

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

log = logging.getLogger(__name__)

_FORGOTTEN_LIMIT = 10_000
_DELETE_ATTEMPTS = 5
_SHUTDOWN_SECONDS = 5.0


def _quietly(operation: Callable[..., object], *args: object) -> None:
    try:
        operation(*args)
    except Exception:
        log.debug("ZooKeeper clean-up at shutdown failed", exc_info=True)


DRAINED = b"drained"
ABANDONED = b"abandoned"


@dataclass
class _Tracked:
    """A query this node serves a share of."""

    query_id: str
    owner: str
    nodes: tuple[str, ...]
    confirmed: set[str] = field(default_factory=set)
    finished: bool = False


def _logged(watch: Callable[..., bool]) -> Callable[..., bool]:
    """A watch function that logs its failures instead of dying silently inside kazoo."""

    def guarded(*args: Any) -> bool:
        try:
            return watch(*args)
        except Exception:
            log.exception("ZooKeeper watch failed")
            return True

    return guarded


class ZooKeeperFlightManager(FlightManager):
    """A node of a cluster coordinated through ZooKeeper."""

    def __init__(self, config: FlightConfig, spark: SparkSession, *, node_id: str | None = None) -> None:
        super().__init__(config, spark, node_id=node_id)
        root = config.zookeeper_path
        self._nodes_path = f"{root}/nodes"
        self._queries_path = f"{root}/queries"
        self._records_path = f"{root}/records"
        self._zk = KazooClient(
            hosts=config.zookeeper_url,
            timeout=config.zookeeper_session_timeout,
            connection_retry=KazooRetry(max_tries=-1, max_delay=2.0),
            command_retry=KazooRetry(max_tries=10, max_delay=2.0),
        )
        self._live: dict[str, NodeInfo] = {}
        self._tracked: dict[str, _Tracked] = {}
        # Queries whose share this node already finished, so a late push does not reopen them.
        self._forgotten: OrderedDict[str, None] = OrderedDict()
        self._lock = threading.RLock()
        self._closing = False
        self._session_lost = threading.Event()
        self._connect_lock = threading.Lock()
        self._connected_once = False

    # ---- membership --------------------------------------------------------------------------

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
            self._zk.add_listener(self._on_connection_state)
            self._connected_once = True

    def _generated_secret(self) -> bytes:
        """The cluster's shared secret at ``ROOT/secret``: the first node to get here creates it
        (random, 32 bytes), every node reads back the one that won.

        The znode carries ZooKeeper's default open ACL: any client of this ZooKeeper can read it.
        Nodes share no credential before they share this secret, so no ACL could let them in and
        keep others out; a cluster whose ZooKeeper is reachable by others sets
        ``spark.flight.auth.secret`` or ``spark.flight.auth.secretFile`` instead.
        """
        self._connect()
        path = f"{self.config.zookeeper_path}/secret"
        try:
            self._zk.retry(self._zk.create, path, secrets.token_bytes(32), makepath=True)
            log.info("node %s created the cluster secret at %s", self.node_id, path)
        except NodeExistsError:
            pass  # another node was first: its secret stands
        data, _ = self._zk.retry(self._zk.get, path)
        if len(data) < 32:
            raise FlightManagerError(f"the cluster secret at {path} in ZooKeeper is shorter than 32 bytes")
        return bytes(data)

    def _join(self, node: NodeInfo) -> None:
        self._connect()
        self._zk.ensure_path(self._nodes_path)
        self._zk.ensure_path(self._queries_path)
        self._register(node)
        ChildrenWatch(self._zk, self._nodes_path, self._on_members)
        ChildrenWatch(self._zk, self._queries_path, self._on_queries)

    def _register(self, node: NodeInfo) -> None:
        path = f"{self._nodes_path}/{node.node_id}"
        body = json.dumps(
            {"public": node.public_location, "internal": node.internal_location, "host": node.host}
        )
        try:
            self._zk.retry(self._zk.create, path, body.encode(), ephemeral=True)
        except NodeExistsError:
            stat = self._zk.exists(path)
            if stat is not None and stat.ephemeralOwner == self._zk.client_id[0]:
                return  # registered already in this very session
            # Left over from this node's previous session, which ZooKeeper has not expired yet.
            self._zk.retry(self._zk.delete, path)
            self._zk.retry(self._zk.create, path, body.encode(), ephemeral=True)
        log.info("node %s joined the cluster at %s", node.node_id, self.config.zookeeper_url)

    def _on_connection_state(self, state: str) -> None:
        if self._closing:
            return
        if state == KazooState.LOST:
            self._session_lost.set()
            log.warning("node %s lost its ZooKeeper session", self.node_id)
        elif state == KazooState.CONNECTED and self._session_lost.is_set():
            self._session_lost.clear()
            # Listeners must not block: re-register from another thread.
            self._zk.handler.spawn(self._reregister)

    def _reregister(self) -> None:
        try:
            self._register(self.node)
        except Exception:
            log.exception("node %s could not re-register", self.node_id)
            self._session_lost.set()

    def _on_members(self, children: list[str]) -> bool:
        if self._closing:
            return False
        members: dict[str, NodeInfo] = {}
        for node_id in children:
            info = self._live.get(node_id) or self._read_node(node_id)
            if info is not None:
                members[node_id] = info
        with self._lock:
            gone = set(self._live) - set(members)
            self._live = members
        for node_id in sorted(gone):
            if node_id != self.node_id:
                try:
                    self._node_left(node_id)
                except Exception:
                    log.exception("handling the departure of node %s failed", node_id)
        return True

    def _read_node(self, node_id: str) -> NodeInfo | None:
        try:
            data, _ = self._zk.get(f"{self._nodes_path}/{node_id}")
        except NoNodeError:
            return None
        body = json.loads(data)
        return NodeInfo(node_id, body["public"], body["internal"], body["host"])

    def serving_nodes(self) -> list[NodeInfo]:
        """The live nodes, this one included, in node id order."""
        with self._lock:
            live = dict(self._live)
        live.setdefault(self.node_id, self.node)
        return [live[node_id] for node_id in sorted(live)]

    def _leave(self, node: NodeInfo) -> None:
        self._closing = True
        with self._lock:
            owned = [q for q, t in self._tracked.items() if t.owner == self.node_id]
        # Bounded waits: a node must stop even while ZooKeeper is unreachable.
        paths = [self._query_path(q) for q in owned]  # their jobs are cancelled: nobody will finish them
        if self._zk.connected:
            for path in paths:
                self._bounded(self._delete_tree, path)
            self._bounded(self._zk.delete, f"{self._nodes_path}/{node.node_id}")
        self._disconnect()

    def _disconnect(self) -> None:
        """End the ZooKeeper session (once), if one was opened."""
        with self._connect_lock:
            if not self._connected_once:
                return
            self._connected_once = False
        self._zk.stop()
        self._zk.close()

    def close(self) -> None:
        """Leave the cluster as every manager does; also end a session opened only to read the
        cluster secret of a node that never started."""
        try:
            super().close()
        finally:
            self._closing = True
            self._disconnect()

    def _bounded(self, operation: Callable[..., object], *args: object) -> None:
        """Run a ZooKeeper operation at shutdown, giving up after a few seconds."""
        worker = threading.Thread(target=_quietly, args=(operation, *args), daemon=True)
        worker.start()
        worker.join(_SHUTDOWN_SECONDS)

    def _node_left(self, node_id: str) -> None:
        with self._lock:
            affected = [t for t in self._tracked.values() if node_id == t.owner or node_id in t.nodes]
        for tracked in affected:
            if tracked.owner == node_id:
                log.warning("query %s: its owner %s left the cluster", tracked.query_id, node_id)
                self.store.fail(
                    tracked.query_id,
                    QueryFailedError(
                        f"the node running this query ({node_id}) left the cluster", "UNAVAILABLE"
                    ),
                )
                # The failed share stays until its reader has seen the error (or the TTL passes).
                self._forget(tracked.query_id, delete=True, release=False)
            elif tracked.owner == self.node_id:
                if not tracked.finished:
                    reason = f"node {node_id}, which serves part of this result, left the cluster"
                    self._cancel_job(tracked.query_id, reason)
                    self._record_outcome(
                        tracked.query_id, QueryState.FAILED, error=reason, status="UNAVAILABLE"
                    )
                self._settle(tracked)

    # ---- queries: the owner's side -----------------------------------------------------------

    # ---- small shared records ------------------------------------------------------------------

    def _record_path(self, kind: str, key: str) -> str:
        if not kind.isidentifier() or "/" in key or key in ("", ".", "..") or len(key) > 200:
            raise ValueError(f"not a record name: {kind!r}/{key!r}")
        return f"{self._records_path}/{kind}/{key}"

    def put_record(self, kind: str, key: str, value: bytes) -> None:
        """A persistent znode under ``<root>/records/<kind>/``."""
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

    def get_record(self, kind: str, key: str) -> bytes | None:
        """Read from ZooKeeper, so a record written by any node is seen at once."""
        try:
            data, _ = self._zk.retry(self._zk.get, self._record_path(kind, key))
        except NoNodeError:
            return None
        return bytes(data)

    def delete_record(self, kind: str, key: str) -> None:
        """Delete the znode if it is there."""
        try:
            self._zk.retry(self._zk.delete, self._record_path(kind, key))
        except NoNodeError:
            pass

    def expire_records(self, kind: str, max_age: float) -> int:
        """Delete the znodes of ``kind`` whose last write (ZooKeeper's mtime) is older than ``max_age``."""
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

    def _query_path(self, query_id: str, *parts: str) -> str:
        return "/".join((self._queries_path, query_id, *parts))

    def _open_query(self, query_id: str, schema: pa.Schema, nodes: Sequence[NodeInfo]) -> None:
        node_ids = tuple(n.node_id for n in nodes)
        body = {
            "owner": self.node_id,
            "nodes": list(node_ids),
            "schema": base64.b64encode(schema.serialize().to_pybytes()).decode(),
        }
        transaction = self._zk.transaction()
        transaction.create(self._query_path(query_id), json.dumps(body).encode())
        transaction.create(self._query_path(query_id, "confirmed"))
        transaction.create(self._query_path(query_id, "done"))
        # Created empty, filled once: their data watches then end when the query's znodes go.
        transaction.create(self._query_path(query_id, "assignment"))
        transaction.create(self._query_path(query_id, "outcome"))
        results = transaction.commit()
        failures = [r for r in results if isinstance(r, Exception)]
        if failures:
            raise failures[0]
        self._track(query_id, self.node_id, node_ids, schema)

    def _set_partitions(self, query_id: str, assignment: dict[str, list[int]]) -> None:
        self.store.set_partitions(query_id, assignment.get(self.node_id, []))
        try:
            self._zk.retry(
                self._zk.set, self._query_path(query_id, "assignment"), json.dumps(assignment).encode()
            )
        except NoNodeError:
            pass  # released (cancelled) before the job started

    def _confirm(self, query_id: str, partition: int, attempt: int) -> None:
        self.store.confirm(query_id, partition, attempt)
        try:
            self._zk.retry(
                self._zk.create,
                self._query_path(query_id, "confirmed", str(partition)),
                str(attempt).encode(),
            )
        except NodeExistsError:
            pass  # a speculative copy already won
        except NoNodeError:
            pass  # the query was released meanwhile

    def _record_outcome(
        self,
        query_id: str,
        state: QueryState,
        *,
        error: str | None = None,
        attempts: dict[str, list[tuple[int, int]]] | None = None,
        status: str | None = None,
    ) -> bool:
        with self._lock:
            tracked = self._tracked.get(query_id)
            if tracked is not None:
                tracked.finished = True
        body = {"state": state.value, "error": error, "status": status, "attempts": attempts or {}}
        try:
            # Version 0 is the empty outcome created with the query: the first outcome written stands.
            self._zk.retry(
                self._zk.set, self._query_path(query_id, "outcome"), json.dumps(body).encode(), version=0
            )
        except BadVersionError:
            return False
        except NoNodeError:
            decided = self.store.state(query_id) is QueryState.RUNNING
            self._apply_outcome(query_id, body)  # already released, or never in ZooKeeper: this node only
            return decided
        return True

    # ---- queries: every serving node's side ---------------------------------------------------

    def _on_queries(self, children: list[str]) -> bool:
        if self._closing:
            return False
        present = set(children)
        with self._lock:
            unknown = [q for q in children if q not in self._tracked]
            vanished = [t for q, t in self._tracked.items() if q not in present]
        for query_id in unknown:
            try:
                self._ensure_query(query_id)
            except Exception:
                log.exception("query %s: could not load it", query_id)
        for tracked in vanished:
            try:
                self._vanished(tracked)
            except Exception:
                log.exception("query %s: could not settle its disappearance", tracked.query_id)
        return True

    def _vanished(self, tracked: _Tracked) -> None:
        """A query's znodes are gone (settled without this node, or its owner was declared dead)."""
        if self._zk.exists(self._query_path(tracked.query_id)) is not None:
            return  # created after the children list was read
        if self.store.state(tracked.query_id) is QueryState.RUNNING:
            self._cancel_job(tracked.query_id, "its metadata left ZooKeeper")
            self.store.fail(
                tracked.query_id,
                QueryFailedError("the cluster gave this query up (a node left the cluster)", "UNAVAILABLE"),
            )
        self._forget(tracked.query_id, delete=False, release=False)

    def _ensure_query(self, query_id: str) -> None:
        with self._lock:
            if query_id in self._tracked or query_id in self._forgotten:
                return
        try:
            data, _ = self._zk.get(self._query_path(query_id))
        except NoNodeError:
            return
        body = json.loads(data)
        if self.node_id not in body["nodes"]:
            return
        with self._lock:
            owner_alive = body["owner"] in self._live or body["owner"] == self.node_id
        if not owner_alive:  # our view of the membership may lag: ask ZooKeeper itself
            owner_alive = self._zk.exists(f"{self._nodes_path}/{body['owner']}") is not None
        schema = pa.ipc.read_schema(pa.py_buffer(base64.b64decode(body["schema"])))
        self._track(query_id, body["owner"], tuple(body["nodes"]), schema)
        if not owner_alive:
            self._node_left(body["owner"])

    def _track(self, query_id: str, owner: str, nodes: tuple[str, ...], schema: pa.Schema) -> None:
        with self._lock:
            if query_id in self._tracked or query_id in self._forgotten:
                return
            tracked = _Tracked(query_id, owner, nodes)
            # The result exists before the query is visible as tracked, so a concurrent push or
            # reader that finds it tracked also finds its result.
            self.store.create(query_id, schema, self.push_secret(query_id))
            self._tracked[query_id] = tracked
        DataWatch(self._zk, self._query_path(query_id, "assignment"), self._watch_assignment(query_id))
        ChildrenWatch(self._zk, self._query_path(query_id, "confirmed"), self._watch_confirmed(tracked))
        DataWatch(self._zk, self._query_path(query_id, "outcome"), self._watch_outcome(query_id))
        if owner == self.node_id:
            ChildrenWatch(self._zk, self._query_path(query_id, "done"), self._watch_done(tracked))

    def _is_tracked(self, query_id: str) -> bool:
        with self._lock:
            return query_id in self._tracked and not self._closing

    def _watch_assignment(self, query_id: str) -> Any:
        def on_change(data: bytes | None, stat: Any, event: Any = None) -> bool:
            if not self._is_tracked(query_id) or stat is None:  # stat None: the znode is gone
                return False
            if data:
                self.store.set_partitions(query_id, json.loads(data).get(self.node_id, []))
                return False
            return True

        return _logged(on_change)

    def _watch_confirmed(self, tracked: _Tracked) -> Any:
        def on_change(children: list[str]) -> bool:
            if not self._is_tracked(tracked.query_id):
                return False
            for partition in children:
                if partition in tracked.confirmed:
                    continue
                try:
                    data, _ = self._zk.get(self._query_path(tracked.query_id, "confirmed", partition))
                except NoNodeError:
                    return False
                tracked.confirmed.add(partition)
                self.store.confirm(tracked.query_id, int(partition), int(data))
            return True

        return _logged(on_change)

    def _watch_outcome(self, query_id: str) -> Any:
        def on_change(data: bytes | None, stat: Any, event: Any = None) -> bool:
            if not self._is_tracked(query_id) or stat is None:  # stat None: the znode is gone
                return False
            if data:
                self._apply_outcome(query_id, json.loads(data))
                return False
            return True

        return _logged(on_change)

    def _apply_outcome(self, query_id: str, body: dict[str, Any]) -> None:
        state = QueryState(body["state"])
        attempts = [(int(p), int(a)) for p, a in body["attempts"].get(self.node_id, [])]
        self._settle_share(
            query_id, state, error=body.get("error"), status=body.get("status"), attempts=attempts
        )
        if state is QueryState.CANCELLED:
            self._finish_share(query_id, abandoned=True)

    def _share_finished(self, query_id: str, *, abandoned: bool) -> None:
        try:
            self._zk.retry(
                self._zk.create,
                self._query_path(query_id, "done", self.node_id),
                ABANDONED if abandoned else DRAINED,
            )
        except (NodeExistsError, NoNodeError):
            pass
        with self._lock:
            tracked = self._tracked.get(query_id)
        if tracked is not None and tracked.owner != self.node_id:
            self._forget(query_id, delete=False)

    def _watch_done(self, tracked: _Tracked) -> Any:
        def on_change(children: list[str]) -> bool:
            if not self._is_tracked(tracked.query_id):
                return False
            return not self._settle(tracked, children)

        return _logged(on_change)

    def _settle(self, tracked: _Tracked, done: list[str] | None = None) -> bool:
        """As the owner: once every live serving node's share is over, cancel the job if a share was
        abandoned, and delete the query. Returns whether the query is settled."""
        if done is None:
            try:
                done = self._zk.get_children(self._query_path(tracked.query_id, "done"))
            except NoNodeError:
                return True
        with self._lock:
            live = set(self._live) | {self.node_id}
        if any(n in live and n not in done for n in tracked.nodes):
            return False
        if not tracked.finished and any(self._done_state(tracked.query_id, n) == ABANDONED for n in done):
            self._cancel_job(tracked.query_id, "its readers went away")
            self._record_outcome(tracked.query_id, QueryState.CANCELLED, error="the readers went away")
        self._forget(tracked.query_id, delete=True)
        return True

    def _done_state(self, query_id: str, node_id: str) -> bytes | None:
        try:
            data, _ = self._zk.get(self._query_path(query_id, "done", node_id))
        except NoNodeError:
            return None
        return data

    def _forget(self, query_id: str, *, delete: bool, release: bool = True) -> None:
        with self._lock:
            self._tracked.pop(query_id, None)
            self._forgotten[query_id] = None
            while len(self._forgotten) > _FORGOTTEN_LIMIT:
                self._forgotten.popitem(last=False)
        if release:
            self.store.release(query_id)
        if delete:
            self._delete_tree(self._query_path(query_id))

    def _delete_tree(self, path: str) -> None:
        # A recursive delete is not atomic: a late confirmation or outcome may add a child meanwhile.
        for _ in range(_DELETE_ATTEMPTS):
            try:
                self._zk.retry(self._zk.delete, path, recursive=True)
                return
            except NoNodeError:
                return
            except NotEmptyError:
                continue
        log.warning("could not delete %s: children keep appearing", path)

    # ---- for tests and operators ----------------------------------------------------------------

    def query_ids_in_zookeeper(self) -> list[str]:
        """The queries whose metadata ZooKeeper holds."""
        return sorted(self._zk.get_children(self._queries_path))
