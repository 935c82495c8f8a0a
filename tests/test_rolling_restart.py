"""Rolling restarts: a node asked to stop drains (takes no new work, finishes what it took), leaves, and
comes back under its id and port while clients keep querying the cluster.

One two-node cluster with a grace period, under a steady load of ``CLIENTS`` Flight SQL clients that
run a query, read every endpoint and check every row, each at one node and at the other one when its
node refuses the query (a draining node's UNAVAILABLE) or cannot be reached (it is restarting), as a
client behind a load balancer would. Each node is restarted in turn (SIGTERM, exit, start again).
No query that was taken fails or hangs, a query taken while a node was away never names it, and at
the end no znode, buffer, spill file or stream is left. The drain itself is checked on the way: a
draining node refuses a new query with a message saying what to do, serves a result it handed out
before, exits only once it was read, and stops at once on a second signal.
"""

from __future__ import annotations

import signal
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field

import pyarrow.flight as flight
import pytest
from kazoo.client import KazooClient
from support.cluster import cluster_conf, read_endpoint, statement, wait_for_children, wait_for_members
from support.server import ServerProcess, free_port_for_tests, node_stats, start_server
from support.waiting import wait_until

from spark_flight_sql.flightmanager.draining import wait_until_idle
from spark_flight_sql.flightsql.devtools.zookeeper import EmbeddedZooKeeper

ROOT = f"/test-rolling-{uuid.uuid4().hex[:8]}"
CLIENTS = 8
ROWS = 60_000
LOAD_SQL = f"SELECT id FROM range(0, {ROWS}, 1, 4)"
GRACE = 300
"""Longer than any drain here can take on a loaded machine: a drain cut short would lose queries."""
CALL_TIMEOUT = 240.0
"""A call that takes longer counts as hung."""
REFUSED = "takes no new work"
"""In the message of a node that refuses a query because it is starting or shutting down."""


@dataclass
class Node:
    node_id: str
    port: int
    process: ServerProcess

    @property
    def location(self) -> str:
        return f"grpc://127.0.0.1:{self.port}"


def start_node(zookeeper: EmbeddedZooKeeper, node_id: str, port: int) -> Node:
    arguments = cluster_conf(
        zookeeper.url,
        ROOT,
        node_id,
        "--conf",
        f"spark.flight.port={port}",
        "--conf",
        f"spark.flight.shutdown.gracePeriod={GRACE}",
    )
    return Node(node_id, port, start_server(*arguments, demo=False))


@dataclass
class Cluster:
    zookeeper: EmbeddedZooKeeper
    nodes: list[Node] = field(default_factory=list)

    def restart(self, index: int) -> Node:
        old = self.nodes[index]
        self.nodes[index] = start_node(self.zookeeper, old.node_id, old.port)
        return self.nodes[index]


@pytest.fixture(scope="module")
def cluster(zookeeper: EmbeddedZooKeeper) -> Iterator[Cluster]:
    state = Cluster(zookeeper)
    try:
        for node_id in ("node-1", "node-2"):
            state.nodes.append(start_node(zookeeper, node_id, free_port_for_tests()))
        wait_for_members(zookeeper.url, ROOT, 2)
        yield state
    finally:
        for node in state.nodes:
            if node.process.process.poll() is None:
                node.process.process.send_signal(signal.SIGTERM)
                node.process.process.send_signal(signal.SIGTERM)  # the second one: at once
            node.process.wait_exit()


@dataclass(frozen=True)
class Taken:
    """A query a node took: when its GetFlightInfo was sent, and the ports of the nodes its endpoints
    name."""

    sent: float
    ports: frozenset[int]


class Load:
    """``CLIENTS`` clients querying the cluster until told to stop; what happened to their queries."""

    def __init__(self, ports: list[int]) -> None:
        self.ports = ports
        self.stop = threading.Event()
        self.taken: list[Taken] = []
        self.completed = 0
        self.refused = 0
        self.failures: list[str] = []
        self._lock = threading.Lock()
        self.threads = [
            threading.Thread(target=self._client, args=(i % len(ports),), daemon=True) for i in range(CLIENTS)
        ]
        for thread in self.threads:
            thread.start()

    def completed_after(self, count: int) -> bool:
        with self._lock:
            return self.completed >= count

    def _client(self, index: int) -> None:
        options = flight.FlightCallOptions(timeout=CALL_TIMEOUT)
        while not self.stop.is_set():
            location = f"grpc://127.0.0.1:{self.ports[index]}"
            sent = time.monotonic()
            try:
                with flight.FlightClient(location) as client:
                    info = client.get_flight_info(statement(LOAD_SQL), options)
            except flight.FlightUnavailableError as exc:
                if REFUSED in str(exc) or "connect" in str(exc).lower():
                    with self._lock:
                        self.refused += 1
                    index = (index + 1) % len(self.ports)  # the other node, as a load balancer would
                    self.stop.wait(0.2)
                    continue
                self._failed("GetFlightInfo", exc)
                continue
            except Exception as exc:  # noqa: BLE001 - every other error is a failure the test reports
                self._failed("GetFlightInfo", exc)
                continue
            ports = frozenset(int(e.locations[0].uri.decode().rsplit(":", 1)[1]) for e in info.endpoints)
            with self._lock:
                self.taken.append(Taken(sent, ports))
            try:
                ids = sorted(i for e in info.endpoints for i in read(e, options))
            except Exception as exc:  # noqa: BLE001 - a query taken and then lost: what the test counts
                self._failed("DoGet", exc)
                continue
            if ids != list(range(ROWS)):
                self._failed("DoGet", AssertionError(f"{len(ids)} rows, not each of the {ROWS} once"))
                continue
            with self._lock:
                self.completed += 1

    def _failed(self, rpc: str, exc: BaseException) -> None:
        with self._lock:
            self.failures.append(f"{rpc}: {type(exc).__name__}: {str(exc)[:300]}")
        self.stop.wait(0.2)

    def finish(self) -> None:
        self.stop.set()
        for thread in self.threads:
            thread.join(CALL_TIMEOUT * 2)
            assert not thread.is_alive(), "a client never returned"


def read(endpoint: flight.FlightEndpoint, options: flight.FlightCallOptions) -> list[int]:
    with flight.FlightClient(endpoint.locations[0]) as client:
        return client.do_get(endpoint.ticket, options).read_all().column("id").to_pylist()


def drain_line(node: Node) -> str:
    """The line of the node's log that says how its drain ended."""
    return next((line for line in node.process.lines if "drained in" in line or "stopping after" in line), "")


def check_a_drain(draining: Node, other: Node, held: flight.FlightInfo) -> None:
    """While ``draining`` drains with ``held`` (a result it handed out) unread: a new query there is
    refused with UNAVAILABLE saying what to do, ``other`` leaves it out of new queries, it still
    serves ``held`` whole, and it exits once that was read."""
    draining.process.wait_for_line("drains: new queries leave it out", timeout=CALL_TIMEOUT)
    with flight.FlightClient(draining.location) as client:
        with pytest.raises(flight.FlightUnavailableError, match=REFUSED) as refused:
            client.get_flight_info(statement("SELECT 1"))
    assert "another node of the cluster" in str(refused.value)
    assert draining.process.process.poll() is None, "the drain waits for the result it handed out"
    assert spread_over(other) == {other.port}
    ids = sorted(i for e in held.endpoints for i in read_endpoint(e).column("id").to_pylist())
    assert ids == list(range(ROWS))


def spread_over(node: Node) -> set[int]:
    """The ports of the nodes a query taken by ``node`` is spread over (its result read)."""
    with flight.FlightClient(node.location) as client:
        info = client.get_flight_info(statement(LOAD_SQL))
    for endpoint in info.endpoints:
        read_endpoint(endpoint)
    return {int(e.locations[0].uri.decode().rsplit(":", 1)[1]) for e in info.endpoints}


def test_rolling_restart_under_load_loses_no_query(cluster: Cluster, kazoo: KazooClient) -> None:
    """Each node restarted in turn under the load; the first one's drain checked on the way."""
    load = Load([node.port for node in cluster.nodes])
    away: list[tuple[int, float, float]] = []  # (port, exited, restart began)
    try:
        for index in range(len(cluster.nodes)):
            node = cluster.nodes[index]
            wait_until(
                lambda done=load.completed: load.completed_after(done + 2 * CLIENTS),
                timeout=CALL_TIMEOUT,
                message="the load made no progress",
            )
            if index == 0:
                with flight.FlightClient(node.location) as client:
                    held = client.get_flight_info(statement(LOAD_SQL))
            node.process.process.send_signal(signal.SIGTERM)
            if index == 0:
                check_a_drain(node, cluster.nodes[1], held)
            assert node.process.wait_exit() == 0, node.process.tail(40)
            exited = time.monotonic()
            print(f"{node.node_id}: {drain_line(node)}")
            assert "nothing left" in drain_line(node), node.process.tail(30)
            away.append((node.port, exited, time.monotonic()))
            restarted = cluster.restart(index)
            wait_for_members(cluster.zookeeper.url, ROOT, 2)
            # The restarted node takes part in new queries again.
            wait_until(
                lambda port=restarted.port, exited=exited: any(
                    port in t.ports and t.sent > exited for t in list(load.taken)
                ),
                timeout=CALL_TIMEOUT,
                message=f"{restarted.node_id} never served a query after its restart",
            )
        wait_until(
            lambda done=load.completed: load.completed_after(done + 2 * CLIENTS),
            timeout=CALL_TIMEOUT,
            message="the load made no progress after the restarts",
        )
    finally:
        load.finish()
    print(
        f"{load.completed} queries completed, {load.refused} refused and run again elsewhere, "
        f"{len(load.failures)} failed"
    )
    assert load.failures == [], load.failures[:10]
    assert load.completed > 0
    for port, exited, back in away:
        named = [t for t in load.taken if exited < t.sent < back and port in t.ports]
        assert named == [], f"{len(named)} queries taken while the node on port {port} was away named it"

    wait_for_children(kazoo, f"{ROOT}/queries", lambda children: children == [])
    for node in cluster.nodes:
        wait_until(
            lambda node=node: idle(node_stats(node.location)),
            message=lambda node=node: f"{node.location} still holds {node_stats(node.location)}",
        )


def test_a_second_signal_stops_a_draining_node_at_once(cluster: Cluster, kazoo: KazooClient) -> None:
    node = cluster.nodes[0]
    with flight.FlightClient(node.location) as client:
        client.get_flight_info(statement(LOAD_SQL))  # never read: the drain would wait for it
    node.process.process.send_signal(signal.SIGTERM)
    node.process.wait_for_line("draining: up to", timeout=CALL_TIMEOUT)
    assert node.process.process.poll() is None
    node.process.process.send_signal(signal.SIGTERM)
    assert node.process.wait_exit() == 0
    assert "asked to stop at once" in drain_line(node), node.process.tail(30)
    # The owner left: its query's znodes went with it.
    wait_for_children(kazoo, f"{ROOT}/queries", lambda children: children == [])


def idle(stats: dict) -> bool:
    return (
        stats["buffered_bytes"] == 0
        and stats["spill_files"] == 0
        and stats["results"] == 0
        and stats["open_streams"] == 0
    )


def test_a_drain_ends_with_the_grace_period_or_a_signal() -> None:
    """The wait itself: what is still pending once the grace period ends, or at once when told."""
    pending = {"unread results": 1, "running jobs": 0}
    report = wait_until_idle(lambda: pending, grace=0.3)
    assert report.left == {"unread results": 1}
    assert not report.interrupted and not report.complete
    assert "(the grace period ended) with 1 unread results left" in report.describe()
    now = threading.Event()
    now.set()
    report = wait_until_idle(lambda: pending, grace=600, stop_now=now)
    assert report.interrupted and "asked to stop at once" in report.describe()
    assert wait_until_idle(lambda: {"running jobs": 0}, grace=600).complete
