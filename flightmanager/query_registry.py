"""The queries of a ``zookeeper`` cluster: their znodes, their outcome, and the watches on them.

Under ``<root>/queries`` (see :mod:`spark_flight_sql.flightmanager.zookeeper` for the whole tree)::

    <query>                    {owner, nodes, schema}: a query and its node set (no secret: every
                               node derives the query's push secret)
    <query>/assignment         {node: [partition, ...]} when placement is known in advance
    <query>/confirmed/<p>      the task attempt of partition p that Spark counted as successful;
                               the first one created wins
    <query>/outcome            {state, error, status, attempts: {node: [[p, attempt], ...]}}
    <query>/done/<node>        "drained" or "abandoned": that node's share is over

:class:`QueryRegistry` writes these for the manager (calls down) and applies what its watches see
to the node's :class:`~spark_flight_sql.flightmanager.results.ResultStore` (ZooKeeper -> store).
What it must tell the manager (cancel a job, a share is over) goes up through
:class:`~spark_flight_sql.flightmanager.events.QueryEvents`, given to it explicitly.

Writes run under kazoo's retry, and are idempotent or guarded by ZooKeeper itself: creations that
may race (a confirmation, a share's end) end in ``NodeExistsError``, the first outcome wins by
version, deletes end in ``NoNodeError``. The one transaction (a new query's znodes) is not retried:
its failure fails the query. Reads inside watch callbacks are not retried (a watch must not block
kazoo's event thread; a failed read is logged, and the next event reads again).

Settlement (who deletes a query's znodes; see "Settlement" in docs/architecture.md):

- the owner, once every live serving node's share is over (``done/<node>``);
- when the owner leaves (its membership znode goes, or a new incarnation under its id replaces it),
  every live node: the ones tracking the query fail their share and delete the query; every node
  also sweeps ``queries/`` for the queries it does not track whose owner is gone (a serving node
  that already finished its share, a node outside the node set) and deletes them, whatever the
  outcome says;
- a node joining sweeps the same way, and deletes the queries owned by its own id (a previous
  incarnation's: a node starts owning nothing);
- when a serving node leaves, the owner marks its share abandoned (``done/<node>``) so the settling
  does not wait for a new incarnation under the same id, fails the query if it was still running,
  and settles.

ZooKeeper unreachable (kazoo queues every call until it reconnects, so a plain call waits as long
as the outage): the outcome write waits at most ``unreachable_after`` seconds (the session
timeout); past it the owner fails the query on its own node at once (UNAVAILABLE) and writes a
FAILED outcome and its own share's end in the background once ZooKeeper answers, so that the
query settles as usual. A node whose connection stays away longer than ``unreachable_after`` fails
its running shares (UNAVAILABLE: it can no longer learn their outcome) and, as owner, cancels their
jobs. A share's end is written in the background while ZooKeeper is away, so a reader's stream
ends at once.
"""

from __future__ import annotations

import base64
import json
import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import pyarrow as pa
from kazoo.client import KazooClient, KazooState
from kazoo.exceptions import (
    BadVersionError,
    ConnectionLoss,
    NodeExistsError,
    NoNodeError,
    NotEmptyError,
    OperationTimeoutError,
    RolledBackError,
)
from kazoo.recipe.watchers import ChildrenWatch, DataWatch

from spark_flight_sql.flightmanager.errors import QueryFailedError
from spark_flight_sql.flightmanager.events import QueryEvents
from spark_flight_sql.flightmanager.kazoo_errors import kazoo_status
from spark_flight_sql.flightmanager.membership import Membership
from spark_flight_sql.flightmanager.model import NodeInfo, Outcome, QueryState
from spark_flight_sql.flightmanager.results import ResultStore

__all__ = ["ABANDONED", "DRAINED", "NodeSetChanged", "QueryRegistry"]

log = logging.getLogger(__name__)

_FORGOTTEN_LIMIT = 10_000
_DELETE_ATTEMPTS = 5
_OUTCOME_RETRY_SECONDS = 1.0

DRAINED = b"drained"
ABANDONED = b"abandoned"


class NodeSetChanged(Exception):
    """A new query's node set is stale: one of its nodes began draining or left since it was read."""


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
        except Exception:  # keep watching; the next event may succeed
            log.exception("ZooKeeper watch failed")
            return True

    return guarded


class QueryRegistry:
    """The queries this node serves a share of, kept in step with their znodes."""

    def __init__(
        self,
        zk: KazooClient,
        queries_path: str,
        node_id: str,
        *,
        store: ResultStore,
        membership: Membership,
        events: QueryEvents,
        push_secret: Callable[[str], bytes],
        unreachable_after: float = 10.0,
    ) -> None:
        self._zk = zk
        self._queries_path = queries_path
        self._node_id = node_id
        self._store = store
        self._membership = membership
        self._events = events
        self._push_secret = push_secret
        self._tracked: dict[str, _Tracked] = {}
        # Queries whose share this node already finished, so a late push does not reopen them.
        self._forgotten: OrderedDict[str, None] = OrderedDict()
        self._lock = threading.RLock()
        self._closing = False
        self._closed = threading.Event()
        self._unreachable_after = unreachable_after
        self._disconnections = 0  # counts SUSPENDED/LOST transitions, so a timer knows it is stale

    # ---- lifetime ------------------------------------------------------------------------------

    def watch(self) -> None:
        """Start watching the queries (after this node joined the cluster)."""
        self._zk.retry(self._zk.ensure_path, self._queries_path)
        self.sweep_orphans(joining=True)
        self._zk.add_listener(self._on_connection_state)
        ChildrenWatch(self._zk, self._queries_path, self._on_queries)

    def close(self) -> list[str]:
        """Stop reacting to ZooKeeper; the paths of the queries this node owns (their jobs are
        cancelled: nobody will finish them), for the caller to delete."""
        with self._lock:
            self._closing = True
            self._closed.set()
        self._zk.remove_listener(self._on_connection_state)
        with self._lock:
            owned = [q for q, t in self._tracked.items() if t.owner == self._node_id]
        return [self.query_path(q) for q in owned]

    def catch_up(self) -> None:
        """Track now every query ZooKeeper holds that this node serves, without waiting for the
        watch (a node that drains must know every query created before it said so)."""
        self._zk.retry(self._zk.sync, self._queries_path)
        for query_id in self.query_ids():
            self._zk.retry(self.ensure_query, query_id)

    def tracked(self) -> int:
        """How many queries this node owns or serves a share of that are not over yet."""
        with self._lock:
            return len(self._tracked)

    def query_path(self, query_id: str, *parts: str) -> str:
        """The znode of ``query_id``, or of one of its children."""
        return "/".join((self._queries_path, query_id, *parts))

    def query_ids(self) -> list[str]:
        """The queries whose metadata ZooKeeper holds."""
        return sorted(self._zk.retry(self._zk.get_children, self._queries_path))

    # ---- the owner's side ----------------------------------------------------------------------

    def open_query(
        self, query_id: str, schema: pa.Schema, nodes: Sequence[NodeInfo], versions: Mapping[str, int]
    ) -> None:
        """Create a RUNNING query's znodes in one transaction, and track it. The transaction checks
        that each other node's membership znode is still at the version in ``versions``: a node that
        began draining or left since (or one missing from ``versions``) raises
        :class:`NodeSetChanged`, and nothing is created."""
        node_ids = tuple(n.node_id for n in nodes)
        others = [n for n in node_ids if n != self._node_id]
        if any(n not in versions for n in others):
            raise NodeSetChanged(f"no version known for some of {others}")
        body = {
            "owner": self._node_id,
            "nodes": list(node_ids),
            "schema": base64.b64encode(schema.serialize().to_pybytes()).decode(),
        }
        transaction = self._zk.transaction()
        transaction.create(self.query_path(query_id), json.dumps(body).encode())
        transaction.create(self.query_path(query_id, "confirmed"))
        transaction.create(self.query_path(query_id, "done"))
        # Created empty, filled once: their data watches then end when the query's znodes go.
        transaction.create(self.query_path(query_id, "assignment"))
        transaction.create(self.query_path(query_id, "outcome"))
        for node_id in others:
            transaction.check(self._membership.node_path(node_id), versions[node_id])
        results = transaction.commit()
        checks = results[len(results) - len(others) :] if others else []
        if any(isinstance(r, (BadVersionError, NoNodeError)) for r in checks):
            raise NodeSetChanged("a node of the set began draining, or left, since the members were read")
        failures = [r for r in results if isinstance(r, Exception)]
        if failures:  # the failed operation rather than the ones it rolled back
            raise next((r for r in failures if not isinstance(r, RolledBackError)), failures[0])
        self._track(query_id, self._node_id, node_ids, schema)

    def set_partitions(self, query_id: str, assignment: dict[str, list[int]]) -> None:
        """Publish which node serves which partitions."""
        self._store.set_partitions(query_id, assignment.get(self._node_id, []))
        try:
            self._zk.retry(
                self._zk.set, self.query_path(query_id, "assignment"), json.dumps(assignment).encode()
            )
        except NoNodeError:
            pass  # released (cancelled) before the job started

    def confirm(self, query_id: str, partition: int, attempt: int) -> None:
        """Publish the attempt Spark counted for ``partition`` (the first one published wins)."""
        self._store.confirm(query_id, partition, attempt)
        try:
            self._zk.retry(
                self._zk.create,
                self.query_path(query_id, "confirmed", str(partition)),
                str(attempt).encode(),
            )
        except NodeExistsError:
            pass  # a speculative copy already won
        except NoNodeError:
            pass  # the query was released meanwhile

    def record_outcome(self, query_id: str, outcome: Outcome) -> bool:
        """Write the query's outcome; whether this call decided it (the first outcome written stands)."""
        with self._lock:
            tracked = self._tracked.get(query_id)
            if tracked is not None:
                tracked.finished = True
        body = {
            "state": outcome.state.value,
            "error": outcome.error,
            "status": outcome.status,
            "attempts": outcome.attempts,
        }
        try:
            # Version 0 is the empty outcome created with the query: the first outcome written stands.
            self._set_outcome_within(query_id, json.dumps(body).encode())
        except BadVersionError:
            return False
        except NoNodeError:
            decided = self._store.state(query_id) is QueryState.RUNNING
            self._apply_outcome(query_id, body)  # already released, or never in ZooKeeper: this node only
            return decided
        except Exception as exc:
            if kazoo_status(exc) is None:
                raise
            self._outcome_unwritten(query_id, outcome, exc)
        return True

    def _set_outcome_within(self, query_id: str, body: bytes) -> None:
        """Set the outcome (version 0), giving up after ``unreachable_after`` seconds: kazoo's own
        calls wait for a reconnection however long ZooKeeper stays away."""
        deadline = time.monotonic() + self._unreachable_after
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise OperationTimeoutError(f"ZooKeeper did not answer within {self._unreachable_after:g} s")
            pending = self._zk.set_async(self.query_path(query_id, "outcome"), body, version=0)
            try:
                pending.get(timeout=remaining)
                return
            except self._zk.handler.timeout_exception:
                raise OperationTimeoutError(
                    f"ZooKeeper did not answer within {self._unreachable_after:g} s"
                ) from None
            except (ConnectionLoss, OperationTimeoutError):
                self._closed.wait(min(0.2, max(remaining, 0.0)))

    def _outcome_unwritten(self, query_id: str, outcome: Outcome, exc: BaseException) -> None:
        """ZooKeeper stayed unreachable past kazoo's retries: fail the query here at once, and write a
        FAILED outcome in the background for the other nodes (their readers fail when it lands)."""
        reason = (
            "the node running this query could not record its outcome in ZooKeeper "
            f"({type(exc).__name__}): run the query again"
        )
        log.warning("query %s: %s", query_id, reason)
        failed: dict[str, Any] = {
            "state": QueryState.FAILED.value,
            "error": reason,
            "status": "UNAVAILABLE",
            "attempts": {},
        }
        if outcome.state is not QueryState.FINISHED:  # a cancellation or failure keeps its own words
            failed |= {"state": outcome.state.value, "error": outcome.error, "status": outcome.status}
        self._apply_outcome(query_id, failed)
        body = json.dumps(failed).encode()

        def write() -> None:
            try:
                self._zk.retry(self._zk.set, self.query_path(query_id, "outcome"), body, version=0)
            except BadVersionError:
                pass  # decided meanwhile (a serving node left, or the first write landed after all)
            self._create_done(query_id, ABANDONED)  # this node's share failed here

        self._later(query_id, "its outcome", write)

    def _later(self, query_id: str, what: str, write: Callable[[], None]) -> None:
        """Run ``write`` on a thread of its own until ZooKeeper takes it (or the query is gone, or
        this node closes): kazoo's calls wait for a reconnection, and a new session after an
        expired one needs another try."""

        def run() -> None:
            while True:
                try:
                    write()
                except NoNodeError:
                    return  # settled meanwhile
                except Exception as exc:
                    if kazoo_status(exc) is None:
                        log.exception("query %s: could not record %s", query_id, what)
                        return
                    if self._closed.wait(_OUTCOME_RETRY_SECONDS):
                        return
                    continue
                log.info("query %s: recorded %s once ZooKeeper answered", query_id, what)
                return

        threading.Thread(target=run, name=f"flight-later-{query_id[:8]}", daemon=True).start()

    def _create_done(self, query_id: str, state: bytes) -> None:
        try:
            self._zk.retry(self._zk.create, self.query_path(query_id, "done", self._node_id), state)
        except NodeExistsError:
            pass

    def _on_connection_state(self, state: str) -> None:
        if state == KazooState.CONNECTED:
            return
        with self._lock:
            self._disconnections += 1
            generation = self._disconnections
        timer = threading.Timer(self._unreachable_after, self._still_away, args=(generation,))
        timer.name = "flight-zookeeper-away"
        timer.daemon = True
        timer.start()

    def _still_away(self, generation: int) -> None:
        """ZooKeeper has been away for ``unreachable_after`` seconds: this node can no longer learn
        the outcome of the queries it serves, whose owner (maybe this node) gives them up too."""
        with self._lock:
            if generation != self._disconnections or self._closing or self._zk.connected:
                return
            running = [t for t in self._tracked.values() if not t.finished]
        for tracked in running:
            if self._store.state(tracked.query_id) is not QueryState.RUNNING:
                continue
            reason = (
                f"this node lost contact with ZooKeeper for more than {self._unreachable_after:g} s, "
                "so the query's outcome cannot be known: run it again"
            )
            log.warning("query %s: %s", tracked.query_id, reason)
            self._store.fail(tracked.query_id, QueryFailedError(reason, "UNAVAILABLE"))
            if tracked.owner == self._node_id:
                self._events.cancel_job(tracked.query_id, "ZooKeeper is unreachable")

    def node_left(self, node_id: str) -> None:
        """A node left the cluster: fail what it owned, and as the owner fail what it served."""
        with self._lock:
            affected = [t for t in self._tracked.values() if node_id == t.owner or node_id in t.nodes]
        for tracked in affected:
            if tracked.owner == node_id:
                log.warning("query %s: its owner %s left the cluster", tracked.query_id, node_id)
                self._store.fail(
                    tracked.query_id,
                    QueryFailedError(
                        f"the node running this query ({node_id}) left the cluster", "UNAVAILABLE"
                    ),
                )
                # The failed share stays until its reader has seen the error (or the TTL passes).
                self._forget(tracked.query_id, delete=True, release=False)
            elif tracked.owner == self._node_id:
                # Its share is over; a new incarnation under the same id owes nothing for it.
                try:
                    self._zk.create(self.query_path(tracked.query_id, "done", node_id), ABANDONED)
                except (NodeExistsError, NoNodeError):
                    pass
                if not tracked.finished:
                    reason = f"node {node_id}, which serves part of this result, left the cluster"
                    self._events.cancel_job(tracked.query_id, reason)
                    self.record_outcome(
                        tracked.query_id, Outcome(QueryState.FAILED, error=reason, status="UNAVAILABLE")
                    )
                self._settle(tracked)
        self.sweep_orphans(departed=node_id)

    def sweep_orphans(self, *, departed: str | None = None, joining: bool = False) -> int:
        """Delete the queries this node does not track whose owner is gone (``departed``, or not a
        member), and, ``joining``, those owned by this node's id (a previous incarnation's); how many."""
        try:
            query_ids = self._zk.get_children(self._queries_path)
        except NoNodeError:
            return 0
        swept = 0
        for query_id in query_ids:
            with self._lock:
                if query_id in self._tracked:
                    continue
            try:
                data, _ = self._zk.get(self.query_path(query_id))
                owner = json.loads(data)["owner"]
            except NoNodeError:
                continue
            except (ValueError, KeyError):
                log.warning("query %s: unreadable metadata; deleting it", query_id)
                owner = None
            if owner == self._node_id:
                orphaned = joining
            else:
                orphaned = owner is None or owner == departed or not self._membership.is_member(owner)
            if orphaned:
                log.info("query %s: its owner %s is gone; deleting its metadata", query_id, owner)
                self._forget(query_id, delete=True, release=False)
                swept += 1
        return swept

    # ---- every serving node's side -------------------------------------------------------------

    def ensure_query(self, query_id: str) -> None:
        """Track ``query_id`` if ZooKeeper knows it and this node serves part of it."""
        with self._lock:
            if query_id in self._tracked or query_id in self._forgotten:
                return
        try:
            data, _ = self._zk.get(self.query_path(query_id))
        except NoNodeError:
            return
        body = json.loads(data)
        if self._node_id not in body["nodes"]:
            return
        if self._done_state(query_id, self._node_id) is not None:
            return  # this id's share ended already (a previous incarnation's)
        owner_alive = body["owner"] == self._node_id or self._membership.is_member(body["owner"])
        schema = pa.ipc.read_schema(pa.py_buffer(base64.b64decode(body["schema"])))
        self._track(query_id, body["owner"], tuple(body["nodes"]), schema)
        if not owner_alive:
            self.node_left(body["owner"])

    def share_finished(self, query_id: str, *, abandoned: bool) -> None:
        """Publish that this node's share is over (drained or abandoned); in the background while
        ZooKeeper is away, so that the reader's stream ends at once."""
        state = ABANDONED if abandoned else DRAINED
        if self._zk.connected:
            try:
                self._create_done(query_id, state)
            except NoNodeError:
                pass
        else:
            self._later(query_id, "the end of this node's share", lambda: self._create_done(query_id, state))
        with self._lock:
            tracked = self._tracked.get(query_id)
        if tracked is not None and tracked.owner != self._node_id:
            self._forget(query_id, delete=False)

    def delete_tree(self, path: str) -> None:
        """Delete ``path`` and its children, retrying while children keep appearing."""
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

    # ---- watches -------------------------------------------------------------------------------

    def _on_queries(self, children: list[str]) -> bool:
        if self._closing:
            return False
        present = set(children)
        with self._lock:
            unknown = [q for q in children if q not in self._tracked]
            vanished = [t for q, t in self._tracked.items() if q not in present]
        for query_id in unknown:
            try:
                self.ensure_query(query_id)
            except Exception:  # one bad query must not stop the others
                log.exception("query %s: could not load it", query_id)
        for tracked in vanished:
            try:
                self._vanished(tracked)
            except Exception:  # one bad query must not stop the others
                log.exception("query %s: could not settle its disappearance", tracked.query_id)
        return True

    def _vanished(self, tracked: _Tracked) -> None:
        """A query's znodes are gone (settled without this node, or its owner was declared dead)."""
        if self._zk.exists(self.query_path(tracked.query_id)) is not None:
            return  # created after the children list was read
        if self._store.state(tracked.query_id) is QueryState.RUNNING:
            self._events.cancel_job(tracked.query_id, "its metadata left ZooKeeper")
            self._store.fail(
                tracked.query_id,
                QueryFailedError("the cluster gave this query up (a node left the cluster)", "UNAVAILABLE"),
            )
        self._forget(tracked.query_id, delete=False, release=False)

    def _track(self, query_id: str, owner: str, nodes: tuple[str, ...], schema: pa.Schema) -> None:
        with self._lock:
            if query_id in self._tracked or query_id in self._forgotten:
                return
            tracked = _Tracked(query_id, owner, nodes)
            # The result exists before the query is visible as tracked, so a concurrent push or
            # reader that finds it tracked also finds its result.
            self._store.create(query_id, schema, self._push_secret(query_id))
            self._tracked[query_id] = tracked
        DataWatch(self._zk, self.query_path(query_id, "assignment"), self._watch_assignment(query_id))
        ChildrenWatch(self._zk, self.query_path(query_id, "confirmed"), self._watch_confirmed(tracked))
        DataWatch(self._zk, self.query_path(query_id, "outcome"), self._watch_outcome(query_id))
        if owner == self._node_id:
            ChildrenWatch(self._zk, self.query_path(query_id, "done"), self._watch_done(tracked))

    def _is_tracked(self, query_id: str) -> bool:
        with self._lock:
            return query_id in self._tracked and not self._closing

    def _watch_assignment(self, query_id: str) -> Any:
        def on_change(data: bytes | None, stat: Any, event: Any = None) -> bool:
            if not self._is_tracked(query_id) or stat is None:  # stat None: the znode is gone
                return False
            if data:
                self._store.set_partitions(query_id, json.loads(data).get(self._node_id, []))
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
                    data, _ = self._zk.get(self.query_path(tracked.query_id, "confirmed", partition))
                except NoNodeError:
                    return False
                tracked.confirmed.add(partition)
                self._store.confirm(tracked.query_id, int(partition), int(data))
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
        attempts = [(int(p), int(a)) for p, a in body["attempts"].get(self._node_id, [])]
        self._store.settle(
            query_id, state, error=body.get("error"), status=body.get("status"), attempts=attempts
        )
        if state is QueryState.CANCELLED:
            self._events.share_over(query_id, abandoned=True)

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
                done = self._zk.get_children(self.query_path(tracked.query_id, "done"))
            except NoNodeError:
                return True
        live = set(self._membership.live()) | {self._node_id}
        if any(n in live and n not in done for n in tracked.nodes):
            return False
        if not tracked.finished and any(self._done_state(tracked.query_id, n) == ABANDONED for n in done):
            self._events.cancel_job(tracked.query_id, "its readers went away")
            self.record_outcome(
                tracked.query_id, Outcome(QueryState.CANCELLED, error="the readers went away")
            )
        self._forget(tracked.query_id, delete=True)
        return True

    def _done_state(self, query_id: str, node_id: str) -> bytes | None:
        try:
            data, _ = self._zk.get(self.query_path(query_id, "done", node_id))
        except NoNodeError:
            return None
        return bytes(data)

    def _forget(self, query_id: str, *, delete: bool, release: bool = True) -> None:
        with self._lock:
            self._tracked.pop(query_id, None)
            self._forgotten[query_id] = None
            while len(self._forgotten) > _FORGOTTEN_LIMIT:
                self._forgotten.popitem(last=False)
        if release:
            self._store.release(query_id)
        if delete:
            self.delete_tree(self.query_path(query_id))
