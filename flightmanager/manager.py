"""The FlightManager: distribute a DataFrame's result over the nodes, and serve each node's share.

``FlightManager`` holds what every implementation shares: the node's internal Flight server that
receives pushed batches, the store of this node's shares, and the Spark push job. Implementations
(``local``, ``zookeeper``) supply the coordination: which nodes are alive, and where query metadata
lives. A Flight server embeds it in a few calls::

    with create_manager(config, spark) as manager:      # creating it starts nothing
        manager.start(public_port)                      # internal server, reaper, listener, cluster
        result = manager.distribute(df)                 # in get_flight_info: endpoints, at once
        schema, batches = manager.open_stream(ticket, context.is_cancelled)   # in do_get
                                                        # (another node's share: relayed from it)
                                                        # leaving the block closes it

Lifetime: ``__init__`` only builds objects; :meth:`FlightManager.start` starts the result store's
reaper, registers the Spark task listener, starts the internal server and joins the cluster;
:meth:`FlightManager.close` undoes all of it (also on a manager that never started).

Control flow goes one way. The manager calls down: into the :class:`ResultStore`, the Spark job,
and its coordination (the implementation's hooks: ``_open_query``, ``_confirm``,
``_record_outcome``...; the ``zookeeper`` manager's query registry then writes ZooKeeper, whose
watches apply the cluster's decisions to the store). The layers below never hold the manager:
what they must report goes up through :class:`~spark_flight_sql.flightmanager.events.QueryEvents`,
which the manager implements and hands down explicitly when it creates them (the store's
``on_abandoned``, the task listener's callback, the internal server's ``ensure_query``, the query
registry's ``events``); see :mod:`spark_flight_sql.flightmanager.events` for the table.
"""

from __future__ import annotations

import contextlib
import datetime
import hashlib
import hmac
import logging
import secrets
import socket
import threading
import time
import uuid
from abc import ABC, abstractmethod
from collections import OrderedDict
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import pyarrow as pa
import pyarrow.flight as flight

from spark_flight_sql.flightmanager.batches import split_batch
from spark_flight_sql.flightmanager.config import EndpointsMode, FlightConfig
from spark_flight_sql.flightmanager.draining import DrainReport, OpenStreams, wait_until_idle
from spark_flight_sql.flightmanager.errors import (
    NodeUnavailableError,
    WrongNodeError,
    from_spark_exception,
    to_flight_error,
)
from spark_flight_sql.flightmanager.internal_server import InternalFlightServer
from spark_flight_sql.flightmanager.message_limit import MIDDLEWARE_KEY as MESSAGE_LIMIT_KEY
from spark_flight_sql.flightmanager.message_limit import (
    MessageLimitMiddlewareFactory,
    client_limit,
    fit_messages,
)
from spark_flight_sql.flightmanager.model import (
    Endpoint,
    NodeInfo,
    NodeTicket,
    Outcome,
    QueryState,
    TimeLimit,
)
from spark_flight_sql.flightmanager.push import PushNode, PushSummary, PushTarget
from spark_flight_sql.flightmanager.relay import Relay
from spark_flight_sql.flightmanager.results import ResultStore
from spark_flight_sql.flightmanager.shared_records import SharedRecords
from spark_flight_sql.flightmanager.spark_job import CollectJob, PushJob, arrow_schema, use_jvm
from spark_flight_sql.flightmanager.status import Status
from spark_flight_sql.flightmanager.task_listener import TaskSuccessListener

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

log = logging.getLogger(__name__)

REUSE_CONNECTION = "arrow-flight-reuse-connection://?"
"""The location that tells a Flight client to read an endpoint over the connection it already has."""


@dataclass(frozen=True)
class DistributedResult:
    """A result being computed: its id, Arrow schema, and one endpoint per serving node."""

    query_id: str
    schema: pa.Schema
    endpoints: tuple[Endpoint, ...]
    keep_for: float | None = None
    """Seconds each node keeps its share for reading again after a read began; None: read once."""

    def flight_endpoints(
        self, wrap_ticket: Callable[[bytes], bytes] = lambda ticket: ticket, location: str | None = None
    ) -> list[flight.FlightEndpoint]:
        """Flight endpoints, each ticket passed through ``wrap_ticket`` (e.g. into a Flight SQL ticket),
        each at the location of the node that serves it, or every one at ``location`` (see
        :meth:`FlightManager.endpoint_location`). A kept result's endpoints say until when their
        tickets can surely be read again (``expiration_time``: Flight's promise that DoGet may be
        retried); every read pushes that time further."""
        expires = None
        if self.keep_for is not None:
            now = datetime.datetime.now(datetime.UTC).replace(tzinfo=None)  # Flight reads it as UTC
            expires = pa.scalar(now + datetime.timedelta(seconds=self.keep_for), pa.timestamp("us"))
        return [
            flight.FlightEndpoint(
                wrap_ticket(e.ticket), [flight.Location(location or e.location)], expiration_time=expires
            )
            for e in self.endpoints
        ]


class FlightManager(ABC):
    """Distributes results over the nodes of a cluster; one instance per node.

    Implements :class:`~spark_flight_sql.flightmanager.events.QueryEvents`: the layers below call
    it only through those methods (see the module docstring).
    """

    _records: SharedRecords
    """Where :meth:`put_record` and its siblings keep records; set by each implementation."""

    def __init__(self, config: FlightConfig, spark: SparkSession, *, node_id: str | None = None) -> None:
        self.config = config
        self.spark = spark
        self.node_id = node_id or config.node_id or uuid.uuid4().hex[:12]
        self.store = ResultStore(
            ttl=config.result_ttl,
            stream_timeout=config.stream_timeout,
            on_abandoned=self.result_abandoned,
            max_memory_bytes=config.buffer_max_bytes,
            spill_dir=config.buffer_spill_dir,
            idle_timeout=config.stream_idle_timeout,
            early_streaming=config.stream_early,
        )
        self._jobs: dict[str, PushJob | CollectJob] = {}
        self._time_limits: dict[str, threading.Timer] = {}
        self._collected_here: set[str] = set()
        self._finished_shares: OrderedDict[str, None] = OrderedDict()
        self._jobs_lock = threading.Lock()
        self._internal: InternalFlightServer | None = None
        self._relay: Relay | None = None
        self._listener: TaskSuccessListener | None = None
        self._node: NodeInfo | None = None
        self._closed = False
        self._cluster_secret: bytes | None = None
        self._secret_lock = threading.Lock()
        self._streams = OpenStreams()

    # ---- lifetime ---------------------------------------------------------------------------

    def start(self, public_port: int) -> NodeInfo:
        """Start the result store's reaper, the Spark task listener and the internal server, and join
        the cluster as the node reachable on ``public_port``. Once; :meth:`close` undoes it."""
        if self._node is not None or self._closed:
            raise RuntimeError("a FlightManager starts once, and not after close()")
        try:
            return self._start(public_port)
        except BaseException:
            self.close()  # nothing a failed start began outlives it
            raise

    def _start(self, public_port: int) -> NodeInfo:
        # The zookeeper manager reads the cluster secret from the cluster now, not mid-push.
        cluster_secret = self.cluster_secret
        self.store.start()
        self._listener = TaskSuccessListener.for_context(self.spark.sparkContext)
        self._relay = Relay(
            lambda query_id: relay_secret(cluster_secret, query_id),
            self.config.push_root_certs,
            self.node_id,
        )
        self._internal = InternalFlightServer(
            self.config.location(self.config.internal_host, self.config.internal_port),
            self.store,
            self.query_needed,
            push_secret=lambda query_id: push_secret(cluster_secret, query_id),
            relay_secret=lambda query_id: relay_secret(cluster_secret, query_id),
            open_share=self._open_relayed_share,
            **self.config.server_tls_options(public=False),
        )
        host = socket.gethostname()
        internal_host = (
            self.config.public_host
            if self.config.internal_host in ("0.0.0.0", "::")
            else self.config.internal_host
        )
        self._node = NodeInfo(
            node_id=self.node_id,
            public_location=self.config.location(self.config.public_host, public_port),
            internal_location=self.config.location(internal_host, self._internal.port),
            host=host,
        )
        self._join(self._node)
        log.info("node %s: internal server on %s", self.node_id, self._node.internal_location)
        return self._node

    def close(self) -> None:
        """Cancel running jobs, leave the cluster, stop the internal server, free every result, and
        release the task listener. Safe on a manager that never started, and more than once."""
        with self._jobs_lock:
            running = list(self._jobs)
            already, self._closed = self._closed, True
        for query_id in running:
            self.cancel_job(query_id, "the node is shutting down")
        if already:
            return
        # Every step runs even when one before it fails (ZooKeeper away, say); the first error is raised.
        with contextlib.ExitStack() as steps:  # runs the callbacks last-in, first-out
            steps.callback(self._release_listener)
            steps.callback(self._stop_internal_server)
            steps.callback(self._close_relay)
            if self._node is not None:
                steps.callback(self._leave, self._node)
            steps.callback(self.store.close)

    def drain(self, grace: float, stop_now: threading.Event | None = None) -> DrainReport:
        """Take part in no new query, then wait at most ``grace`` seconds (less if ``stop_now`` is
        set) until nothing this node runs or holds is left (see
        :mod:`~spark_flight_sql.flightmanager.draining`). The caller stops taking new queries first
        and calls :meth:`close` after. The node keeps serving, pushing and relaying meanwhile."""
        started = time.monotonic()
        try:
            self._begin_drain()
        except Exception as exc:  # noqa: BLE001 - e.g. ZooKeeper away: wait for what runs here anyway
            log.warning("node %s could not tell the cluster it drains: %s", self.node_id, exc)
        remaining = grace - (time.monotonic() - started)
        report = wait_until_idle(self.pending_work, remaining, stop_now)
        log.info("node %s %s", self.node_id, report.describe())
        return report

    @abstractmethod
    def _begin_drain(self) -> None:
        """Leave this node out of new queries (a cluster's other nodes included)."""

    def pending_work(self) -> dict[str, int]:
        """What a drain waits for, by kind: Spark jobs running here, results held and not read yet,
        result streams open on this node."""
        with self._jobs_lock:
            jobs = len(self._jobs)
        return {
            "running jobs": jobs,
            "unread results": len(self.store.query_ids()),
            "open streams": len(self._streams),
        }

    def _stop_internal_server(self) -> None:
        if self._internal is not None:
            self._internal.shutdown()
            self._internal = None

    def _close_relay(self) -> None:
        if self._relay is not None:
            self._relay.close()
            self._relay = None

    def _release_listener(self) -> None:
        # Kept: job threads still ending after close() unregister their query from it.
        if self._listener is not None:
            self._listener.close()

    def __enter__(self) -> FlightManager:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    @property
    def node(self) -> NodeInfo:
        """This node, once started."""
        if self._node is None:
            raise RuntimeError("the FlightManager is not started")
        return self._node

    # ---- secrets ------------------------------------------------------------------------------

    @property
    def cluster_secret(self) -> bytes:
        """The secret every node of the cluster shares (at least 32 bytes).

        ``spark.flight.auth.secret`` / ``spark.flight.auth.secretFile`` when set; otherwise one the
        implementation provides: the ``zookeeper`` manager's cluster keeps one in ZooKeeper
        (generated by the first node that needs it), the ``local`` manager makes a random one at
        each start. Available before :meth:`start` (the ``zookeeper`` manager then connects to
        ZooKeeper to read it); it never changes during the life of this manager.
        """
        if self.config.cluster_secret is not None:
            return self.config.cluster_secret
        with self._secret_lock:
            if self._cluster_secret is None:
                self._cluster_secret = self._generated_secret()
            return self._cluster_secret

    def _generated_secret(self) -> bytes:
        """The cluster secret when none is configured; a random one for this node alone by default."""
        return secrets.token_bytes(32)

    def push_secret(self, query_id: str) -> bytes:
        """The secret executors show when they push into ``query_id``: derived from the cluster
        secret, so every node can check it and none needs to store it."""
        return push_secret(self.cluster_secret, query_id)

    def relay_secret(self, query_id: str) -> bytes:
        """The secret a node shows when it relays another node's share of ``query_id``: derived from
        the cluster secret, differently from the push secret (neither opens the other's call)."""
        return relay_secret(self.cluster_secret, query_id)

    # ---- the API a Flight server uses ------------------------------------------------------

    def distribute(
        self,
        df: DataFrame,
        description: str = "",
        *,
        here_only: bool = False,
        time_limit: TimeLimit | None = None,
        keep_for: float | None = None,
    ) -> DistributedResult:
        """Start computing ``df`` on the cluster and return its endpoints at once (the job runs on).

        ``here_only``: executors push every partition to this node, which serves the whole result
        from one endpoint (still streamed and bounded in memory, never collected).
        ``time_limit``: how long the job may run (see :meth:`expire`).
        ``keep_for``: each node keeps its share that many seconds after a read of it began, so that
        the tickets can be read again (see :mod:`~spark_flight_sql.flightmanager.kept_results`).
        """
        jvm = use_jvm(df, self.config.push_method)
        schema = arrow_schema(df, jvm)
        query_id = uuid.uuid4().hex
        nodes = self._open_query(query_id, schema, here_only=here_only)
        target = PushTarget(
            query_id=query_id,
            secret=self.push_secret(query_id),
            schema_ipc=schema.serialize().to_pybytes(),
            nodes=tuple(PushNode(n.node_id, n.internal_location, n.host) for n in nodes),
            max_message_bytes=self.config.max_message_bytes,
            tls_root_certs=self.config.push_root_certs,
        )
        self._task_listener().register(query_id, self.task_succeeded)
        job = PushJob(
            df, target, jvm=jvm, job_group=f"flight-{query_id}", description=description or query_id
        )
        with self._jobs_lock:
            self._jobs[query_id] = job
        self._start_time_limit(query_id, time_limit)
        threading.Thread(
            target=self._run, args=(query_id, job, target), name=f"flight-job-{query_id[:8]}", daemon=True
        ).start()
        endpoints = tuple(
            Endpoint(NodeTicket(query_id, n.node_id, keep_for).encode(), n.public_location, n.node_id)
            for n in nodes
        )
        return DistributedResult(query_id, schema, endpoints, keep_for)

    def collect_here(
        self,
        df: DataFrame,
        description: str = "",
        *,
        time_limit: TimeLimit | None = None,
        keep_for: float | None = None,
    ) -> DistributedResult:
        """Compute a small result on this node's driver (no push, no cluster metadata) and serve it
        from one endpoint here. For results known to be small: commands' output, local relations,
        a small LIMIT. Returns at once; the result is collected in the background and can be
        cancelled, limited in time (``time_limit``, see :meth:`expire`) or kept (``keep_for``, see
        :meth:`distribute`), like any other."""
        jvm = use_jvm(df, self.config.push_method)
        schema = arrow_schema(df, jvm)
        query_id = uuid.uuid4().hex
        secret = self.push_secret(query_id)
        self.store.create(query_id, schema, secret, partitions=[0])
        job = CollectJob(
            df, schema, jvm=jvm, job_group=f"flight-{query_id}", description=description or query_id
        )
        with self._jobs_lock:
            self._jobs[query_id] = job
            self._collected_here.add(query_id)
        self._start_time_limit(query_id, time_limit)
        threading.Thread(
            target=self._collect,
            args=(query_id, secret, schema, job),
            name=f"flight-collect-{query_id[:8]}",
            daemon=True,
        ).start()
        ticket = NodeTicket(query_id, self.node_id, keep_for).encode()
        return DistributedResult(
            query_id, schema, (Endpoint(ticket, self.node.public_location, self.node_id),), keep_for
        )

    def _collect(self, query_id: str, secret: bytes, schema: pa.Schema, job: CollectJob) -> None:
        try:
            batches = (
                piece for batch in job.run() for piece in split_batch(batch, self.config.max_message_bytes)
            )
            self.store.receive(query_id, secret, 0, 0, batches, schema)
            self.store.finish(query_id, [(0, 0)])
        except BaseException as exc:  # noqa: BLE001 - every failure becomes the result's outcome
            if self.store.state(query_id) is QueryState.RUNNING:
                error = from_spark_exception(exc)
                log.info("query %s failed: %s", query_id, error)
                self.store.fail(query_id, error)
        finally:
            self._stop_time_limit(query_id)
            with self._jobs_lock:
                self._jobs.pop(query_id, None)

    def open_stream(
        self, ticket: bytes, is_cancelled: Callable[[], bool] | None = None
    ) -> tuple[pa.Schema, Iterator[pa.RecordBatch]]:
        """The share of a result that ``ticket`` names, for its one DoGet: this node's own, or another
        node's relayed from that node (batch by batch; see :mod:`~spark_flight_sql.flightmanager.relay`).
        ``is_cancelled`` is the reader's call: a reader that went away abandons the share."""
        schema, batches = self._open_share(ticket, is_cancelled)
        return schema, self._streams.counted(batches)

    def _open_share(
        self, ticket: bytes, is_cancelled: Callable[[], bool] | None
    ) -> tuple[pa.Schema, Iterator[pa.RecordBatch]]:
        parsed = NodeTicket.decode(ticket)
        if parsed.node_id == self.node_id:
            return self._open_own_share(ticket, is_cancelled)
        holder = self._live_node(parsed.node_id)
        if holder is None:
            raise NodeUnavailableError(
                f"node {parsed.node_id}, which holds this share of query {parsed.query_id}, is not in the "
                f"cluster (it stopped, or lost its ZooKeeper session): run the query again"
            )
        if self._relay is None:
            raise RuntimeError("the FlightManager is not started")
        return self._relay.open(holder, ticket, is_cancelled)

    def _live_node(self, node_id: str) -> NodeInfo | None:
        return next((node for node in self.live_nodes() if node.node_id == node_id), None)

    def endpoint_location(self, mode: EndpointsMode | None = None) -> str | None:
        """Where a FlightInfo's endpoints point under ``mode`` (default: ``spark.flight.endpoints``):
        None for ``direct`` (each at the node that serves it), this node's public location for
        ``proxy``, the reuse-connection location for ``reuse`` (see
        :class:`~spark_flight_sql.flightmanager.config.EndpointsMode`). Pass it to
        :meth:`DistributedResult.flight_endpoints`."""
        mode = mode or self.config.endpoints
        if mode is EndpointsMode.PROXY:
            return self.node.public_location
        if mode is EndpointsMode.REUSE:
            return REUSE_CONNECTION
        return None

    def _open_own_share(
        self, ticket: bytes, is_cancelled: Callable[[], bool] | None = None
    ) -> tuple[pa.Schema, Iterator[pa.RecordBatch]]:
        """This node's own share named by ``ticket`` (for a reader here, or a node relaying it)."""
        parsed = NodeTicket.decode(ticket)
        if parsed.node_id != self.node_id:
            raise WrongNodeError(
                f"this ticket is for node {parsed.node_id}; this is node {self.node_id}: a share is "
                "relayed only from the node that holds it"
            )
        if not self.store.is_kept(parsed.query_id):
            self.query_needed(parsed.query_id)
        schema, batches = self.store.open_stream(parsed.query_id, is_cancelled, keep_for=parsed.keep_for)
        return schema, self._notify_drained(parsed.query_id, batches)

    def _open_relayed_share(
        self, ticket: bytes, is_cancelled: Callable[[], bool] | None = None
    ) -> tuple[pa.Schema, Iterator[pa.RecordBatch]]:
        """This node's own share, for another node that relays it (an open stream as any other)."""
        schema, batches = self._open_own_share(ticket, is_cancelled)
        return schema, self._streams.counted(batches)

    def _notify_drained(self, query_id: str, batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        drained = False
        try:
            yield from batches
            drained = True
        finally:
            self.share_over(query_id, abandoned=not drained)

    def share_over(self, query_id: str, *, abandoned: bool) -> None:
        """Report this node's share as over, once, however many paths notice it (a QueryEvents
        method: the zookeeper manager's query registry calls it when the outcome ends the share)."""
        with self._jobs_lock:
            if query_id in self._finished_shares:
                return
            self._finished_shares[query_id] = None
            while len(self._finished_shares) > 10_000:
                self._finished_shares.popitem(last=False)
            collected_here = query_id in self._collected_here
            self._collected_here.discard(query_id)
        if collected_here:  # no other node knows the query: settle it here
            if abandoned and self.cancel_job(query_id, "its reader went away"):
                self.store.cancel(query_id, "the reader went away")
            self.store.release(query_id)
            return
        try:
            self._share_finished(query_id, abandoned=abandoned)
        except Exception:  # called from streams' cleanup, which must not fail a delivered result
            log.exception("query %s: could not report this node's share as over", query_id)
            with self._jobs_lock:
                self._finished_shares.pop(query_id, None)  # another path (the TTL) may try again

    def flight_stream(
        self, ticket: bytes, context: flight.ServerCallContext | None = None
    ) -> flight.FlightDataStream:
        """:meth:`open_stream` as a Flight stream: every message fits the client's limit (split by
        rows; see :mod:`~spark_flight_sql.flightmanager.message_limit`), errors turned into Flight
        statuses. The server registers :meth:`call_middleware` for the client to say its limit."""
        try:
            limit, said = client_limit(context, self.config.client_max_message_bytes)
            schema, batches = self.open_stream(ticket, context.is_cancelled if context is not None else None)
        except Exception as exc:  # noqa: BLE001 - every error leaves as a Flight status
            raise to_flight_error(exc) from None
        return flight.GeneratorStream(schema, _flight_errors(fit_messages(batches, limit, schema, said=said)))

    def call_middleware(self) -> dict[str, flight.ServerMiddlewareFactory]:
        """The middleware a Flight server that serves :meth:`flight_stream` registers (the client's
        message limit header)."""
        return {MESSAGE_LIMIT_KEY: MessageLimitMiddlewareFactory()}

    def cancel(self, query_id: str, reason: str = "the query was cancelled") -> bool:
        """Cancel a running query: stop its job and release its result on every node serving it.
        False, touching nothing, when the query already ended (a finished result stays readable)
        or is unknown."""
        state = self.store.state(query_id)
        if state is not None and state is not QueryState.RUNNING:
            return False
        decided = self._record_outcome(query_id, Outcome(QueryState.CANCELLED, error=reason))
        if not decided and state is None:
            return False
        self.cancel_job(query_id, reason)
        with self._jobs_lock:
            self._collected_here.discard(query_id)
        self.store.cancel(query_id, reason)
        self.store.release(query_id)
        return True

    def expire(self, query_id: str, message: str) -> bool:
        """Fail a running query whose time limit passed: every serving node's reader ends with
        DEADLINE_EXCEEDED and ``message``, its Spark job is cancelled and its buffers dropped.
        False, touching nothing, when the query already ended (a finished result stays readable)."""
        if self.store.state(query_id) is not QueryState.RUNNING:
            return False
        # The outcome first, so that readers see the time limit rather than the job's cancellation.
        failed = Outcome(QueryState.FAILED, error=message, status=Status.DEADLINE_EXCEEDED.value)
        if not self._record_outcome(query_id, failed):
            return False
        self.cancel_job(query_id, "its time limit passed")
        return True

    def _start_time_limit(self, query_id: str, limit: TimeLimit | None) -> None:
        if limit is None:
            return
        timer = threading.Timer(max(0.0, limit.seconds), self.expire, args=(query_id, limit.message))
        timer.name = f"flight-limit-{query_id[:8]}"
        timer.daemon = True
        with self._jobs_lock:
            self._time_limits[query_id] = timer
        timer.start()

    def _stop_time_limit(self, query_id: str) -> None:
        """The job ended: its time limit no longer applies (reading the result is not timed)."""
        with self._jobs_lock:
            timer = self._time_limits.pop(query_id, None)
        if timer is not None:
            timer.cancel()

    def stats(self) -> dict[str, object]:
        """This node's result buffers and process memory, for operators and tests."""
        return {
            "open_streams": len(self._streams),
            "node_id": self.node_id,
            "results": len(self.store.query_ids()),
            "running_jobs": len(self._jobs),
            "buffer_limit_bytes": self.config.buffer_max_bytes,
            "buffered_bytes": self.store.buffered_bytes(),
            "peak_buffered_bytes": self.store.peak_buffered_bytes(),
            "spilled_bytes": self.store.spilled_bytes(),
            "spill_files": self.store.spill_files(),
            "peak_rss_bytes": _peak_rss_bytes(),
        }

    # ---- small records shared by every node (e.g. a front end's client sessions) -------------

    def put_record(self, kind: str, key: str, value: bytes) -> None:
        """Store a small record (under a few KiB) that every node of the cluster can read."""
        self._records.put(kind, key, value)

    def get_record(self, kind: str, key: str) -> bytes | None:
        """A record stored by any node, or None."""
        return self._records.get(kind, key)

    def delete_record(self, kind: str, key: str) -> None:
        """Forget a record (nothing happens if there is none)."""
        self._records.delete(kind, key)

    def expire_records(self, kind: str, max_age: float) -> int:
        """Forget the records of ``kind`` last written more than ``max_age`` seconds ago; how many."""
        return self._records.expire(kind, max_age)

    # ---- coordination, supplied by each implementation ---------------------------------------

    @abstractmethod
    def serving_nodes(self) -> list[NodeInfo]:
        """The live nodes a new query is spread over (draining ones left out)."""

    def live_nodes(self) -> list[NodeInfo]:
        """Every live node, draining ones included (they still serve what they hold)."""
        return self.serving_nodes()

    @abstractmethod
    def _join(self, node: NodeInfo) -> None:
        """Announce this node to the cluster."""

    @abstractmethod
    def _leave(self, node: NodeInfo) -> None:
        """Withdraw this node from the cluster."""

    @abstractmethod
    def _open_query(self, query_id: str, schema: pa.Schema, *, here_only: bool) -> Sequence[NodeInfo]:
        """Record a new RUNNING query over the serving nodes (this node alone with ``here_only``)
        and open its result on each (each node derives the query's push secret itself: see
        :meth:`push_secret`); returns those nodes."""

    @abstractmethod
    def _set_partitions(self, query_id: str, assignment: dict[str, list[int]]) -> None:
        """Tell each serving node which partitions it will receive (node id -> partition indexes)."""

    @abstractmethod
    def _ensure_query(self, query_id: str) -> None:
        """Make sure this node holds its share of ``query_id`` if the cluster knows the query (a push or
        a reader may arrive before the node heard of the query)."""

    @abstractmethod
    def _share_finished(self, query_id: str, *, abandoned: bool) -> None:
        """This node's share was read to the end (``abandoned=False``), or given up: its reader went
        away or nobody read it in time (``abandoned=True``)."""

    @abstractmethod
    def _confirm(self, query_id: str, partition: int, attempt: int) -> None:
        """Spark counted this push attempt as successful: make it readable on the node holding it."""

    @abstractmethod
    def _record_outcome(self, query_id: str, outcome: Outcome) -> bool:
        """Record the query's terminal state so every serving node ends its stream accordingly.
        Returns whether this call decided the outcome (False: one was recorded before)."""

    # ---- internals ----------------------------------------------------------------------------

    def _run(self, query_id: str, job: PushJob, target: PushTarget) -> None:
        def on_partitions(count: int) -> None:
            assignment: dict[str, list[int]] = {node.node_id: [] for node in target.nodes}
            for partition in range(count):
                assignment[target.node_for(partition, None).node_id].append(partition)
            # Placement is known in advance when it cannot depend on the executor's host; then
            # nodes stream partitions in order while the job runs, else they learn their share
            # from the outcome.
            if len({node.host for node in target.nodes}) == 1:
                self._set_partitions(query_id, assignment)

        try:
            summaries = job.run(on_partitions)
        except BaseException as exc:  # noqa: BLE001 - every failure becomes the query's outcome
            if self.store.state(query_id) is QueryState.CANCELLED:
                return
            error = from_spark_exception(exc)
            log.info("query %s failed: %s", query_id, error)
            self._record_outcome(query_id, Outcome(QueryState.FAILED, error=str(error), status=error.status))
        else:
            self._record_outcome(
                query_id, Outcome(QueryState.FINISHED, attempts=_attempts_by_node(summaries))
            )
        finally:
            self._stop_time_limit(query_id)
            self._task_listener().unregister(query_id)
            with self._jobs_lock:
                self._jobs.pop(query_id, None)

    # ---- QueryEvents: what the layers below report ------------------------------------------

    def result_abandoned(self, query_id: str) -> None:
        """The store gave this node's share up before it was read to the end."""
        log.info("query %s: the reader went away or never came", query_id)
        self.share_over(query_id, abandoned=True)

    def task_succeeded(self, query_id: str, partition: int, attempt: int) -> None:
        """The task listener saw Spark count this push attempt as successful."""
        self._confirm(query_id, partition, attempt)

    def query_needed(self, query_id: str) -> None:
        """A push or a reader names ``query_id``: load it if the cluster knows it."""
        self._ensure_query(query_id)

    def _task_listener(self) -> TaskSuccessListener:
        if self._listener is None:
            raise RuntimeError("the FlightManager is not started")
        return self._listener

    def cancel_job(self, query_id: str, reason: str) -> bool:
        """Cancel the query's Spark job if it runs here; whether it did."""
        with self._jobs_lock:
            job = self._jobs.get(query_id)
        if job is None:
            return False
        log.info("query %s: cancelling the job (%s)", query_id, reason)
        try:
            job.cancel()
        except Exception:  # Spark may be stopping
            log.debug("cancel failed", exc_info=True)
        return True


def push_secret(cluster_secret: bytes, query_id: str) -> bytes:
    """HMAC-SHA256(cluster secret, ``b"push\\0" + query id``): the per-query push secret."""
    return hmac.new(cluster_secret, b"push\0" + query_id.encode(), hashlib.sha256).digest()


def relay_secret(cluster_secret: bytes, query_id: str) -> bytes:
    """HMAC-SHA256(cluster secret, ``b"relay\\0" + query id``): the per-query relay secret."""
    return hmac.new(cluster_secret, b"relay\0" + query_id.encode(), hashlib.sha256).digest()


def _peak_rss_bytes() -> int | None:
    """The peak resident memory of this process (Linux), or None where unknown."""
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return None


def _attempts_by_node(summaries: Sequence[PushSummary]) -> dict[str, list[tuple[int, int]]]:
    attempts: dict[str, list[tuple[int, int]]] = {}
    for summary in summaries:
        attempts.setdefault(summary.node_id, []).append((summary.partition, summary.attempt))
    return attempts


def _flight_errors(batches: Iterator[pa.RecordBatch]) -> Iterator[Any]:
    """``batches``, every error raised as a Flight status (unchained: pyarrow.flight would send
    the cause's traceback to the client; it is logged under the error id instead)."""
    try:
        yield from batches
    except Exception as exc:  # noqa: BLE001 - every error leaves as a Flight status
        raise to_flight_error(exc) from None
