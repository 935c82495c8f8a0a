"""Nothing is left behind when parts of a cluster die, and a node restarted under its id is reached at its
new address; ZooKeeper away past the session timeout ends every reader at once.

One cluster on a ZooKeeper of this module's own (the last test stops it), with a short result TTL and
session timeout, its tests in order: several ADBC clients load node-1 and node-2, node-2 is SIGKILLed
mid-load and node-3 replaces it; ``queries/`` empties and both nodes' buffers, spill files and results
return to zero. Then node-3 (whose session is long) is SIGKILLed and restarted at once under its id on a
new internal port, replacing its znode before ZooKeeper expired it (in one transaction: the other
node never sees the id missing), and a query served partly by it returns every row.
"""

from __future__ import annotations

import json
import signal
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field

import adbc_driver_flightsql.dbapi
import pyarrow.flight as flight
import pytest
from kazoo.client import KazooClient
from support.cluster import cluster_conf, read_endpoint, statement, wait_for_children, wait_for_members
from support.server import ServerProcess, free_port_for_tests, node_stats, start_server
from support.waiting import wait_until

from spark_flight_sql.flightsql.devtools.zookeeper import EmbeddedZooKeeper

RESULT_TTL = 8
# node-3's session outlives its restart (about 15-40 s), so the restarted node replaces a znode that still
# stands under its id; ZooKeeper would expire it after this many seconds otherwise.
LONG_SESSION = 60
LONG_SESSION_ARGS = ("--conf", f"spark.flight.manager.zookeeper.sessionTimeout={LONG_SESSION}")
CLIENTS = 8
LOAD_SQL = "SELECT id, repeat('x', 40) AS pad FROM range(0, 150000, 1, 4)"
# The result TTL, the long session and the reaper's sweeps, on a loaded machine.
CLEANUP_DEADLINE = 240.0
READER_DEADLINE = 60.0


def node_args(zookeeper_url: str, root: str, node_id: str, *extra: str) -> list[str]:
    return cluster_conf(
        zookeeper_url, root, node_id, "--conf", f"spark.flight.result.ttl={RESULT_TTL}", *extra
    )


def idle(stats: dict) -> bool:
    return stats["buffered_bytes"] == 0 and stats["spill_files"] == 0 and stats["results"] == 0


@dataclass
class Cluster:
    zookeeper: EmbeddedZooKeeper
    root: str
    nodes: list[ServerProcess] = field(default_factory=list)


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    with EmbeddedZooKeeper(tmp_path_factory.mktemp("zk-cleanup")) as zookeeper:
        state = Cluster(zookeeper, "/test-cleanup")
        try:
            state.nodes.append(start_server(*node_args(zookeeper.url, state.root, "node-1"), demo=False))
            state.nodes.append(start_server(*node_args(zookeeper.url, state.root, "node-2"), demo=False))
            wait_for_members(zookeeper.url, state.root, 2)
            yield state
        finally:
            for node in state.nodes:
                if node.process.poll() is None:
                    node.stop()
                else:
                    node.wait_exit()


@pytest.fixture
def zk_client(cluster: Cluster) -> Iterator[KazooClient]:
    client = KazooClient(hosts=cluster.zookeeper.url)
    client.start(timeout=30)
    yield client
    client.stop()
    client.close()


def close_cursor(cursor: adbc_driver_flightsql.dbapi.Cursor) -> None:
    """Close ``cursor``; a statement whose stream broke may fail to release, which ADBC's cursor
    does not count as closed (its connection and its finalizer would release it again, and fail on
    the count of the connection's statements): it is marked closed, its handle being gone anyway."""
    try:
        cursor.close()
    except Exception:  # noqa: BLE001 - e.g. the prepared statement's node is dead; the handle is gone
        cursor._closed = True


class Load:
    """``CLIENTS`` ADBC clients, alternately on each node, running ``LOAD_SQL`` until told to stop."""

    def __init__(self, locations: list[str]) -> None:
        self.stop = threading.Event()
        self.completed = 0
        self.failed = 0
        self._lock = threading.Lock()
        self.threads = [
            threading.Thread(target=self._client, args=(locations[i % len(locations)],), daemon=True)
            for i in range(CLIENTS)
        ]
        for thread in self.threads:
            thread.start()

    def _client(self, location: str) -> None:
        while not self.stop.is_set():
            try:
                connection = adbc_driver_flightsql.dbapi.connect(location, autocommit=True)
            except Exception:  # noqa: BLE001 - the killed node refuses connections
                self._failed()
                continue
            with connection:
                while not self.stop.is_set() and self._query(connection):
                    pass

    def _query(self, connection: adbc_driver_flightsql.dbapi.Connection) -> bool:
        """One query; whether it returned every row. The cursor is gone before its connection closes."""
        cursor = connection.cursor()
        try:
            cursor.execute(LOAD_SQL)
            rows = cursor.fetch_arrow_table().num_rows
        except Exception:  # noqa: BLE001 - queries touching the killed node fail; what is left is checked
            self._failed()
            return False
        finally:
            close_cursor(cursor)
        assert rows == 150_000
        with self._lock:
            self.completed += 1
        return True

    def _failed(self) -> None:
        with self._lock:
            self.failed += 1
        self.stop.wait(0.5)

    def finish(self) -> None:
        self.stop.set()
        for thread in self.threads:
            thread.join(READER_DEADLINE * 2)
            assert not thread.is_alive(), "an ADBC client never returned"


def test_a_node_killed_under_load_leaves_nothing_behind(cluster: Cluster, zk_client: KazooClient) -> None:
    url, root = cluster.zookeeper.url, cluster.root
    survivor, victim = cluster.nodes
    load = Load([survivor.location, victim.location])
    try:
        wait_until(lambda: load.completed >= 2 * CLIENTS, message="the load never got going")
        victim.process.send_signal(signal.SIGKILL)
        killed = time.monotonic()
        victim.wait_exit()
        wait_until(lambda: load.failed >= CLIENTS, message="the kill failed no query")
    finally:
        load.finish()
    stopped = time.monotonic()
    # A new node replaces it (its long session serves the next test).
    replacement = start_server(*node_args(url, root, "node-3", *LONG_SESSION_ARGS), demo=False)
    cluster.nodes[1] = replacement

    wait_for_children(zk_client, f"{root}/queries", lambda children: children == [], timeout=CLEANUP_DEADLINE)
    for node in (survivor, replacement):
        wait_until(
            lambda node=node: idle(node_stats(node)),
            timeout=CLEANUP_DEADLINE,
            message=lambda node=node: f"{node.location} still holds {node_stats(node)}",
        )
    now = time.monotonic()
    print(
        f"zero {now - killed:.1f} s after the kill, {now - stopped:.1f} s after the clients stopped; "
        f"{load.completed} queries completed, {load.failed} failed"
    )


def test_a_node_restarted_under_its_id_on_a_new_port_is_pushed_to_there(
    cluster: Cluster, zk_client: KazooClient
) -> None:
    url, root = cluster.zookeeper.url, cluster.root
    survivor, victim = cluster.nodes
    node_id = "node-3"
    old = zk_client.exists(f"{root}/nodes/{node_id}")
    assert old is not None
    old_internal = json.loads(zk_client.get(f"{root}/nodes/{node_id}")[0])["internal"]
    victim.process.send_signal(signal.SIGKILL)
    killed = time.monotonic()
    victim.wait_exit()
    new_port = free_port_for_tests()
    restarted = start_server(
        *node_args(url, root, node_id, "--conf", f"spark.flight.internal.port={new_port}"), demo=False
    )
    cluster.nodes[1] = restarted
    print(
        f"{node_id} back {time.monotonic() - killed:.1f} s after the kill (its old session: {LONG_SESSION} s)"
    )
    new = zk_client.exists(f"{root}/nodes/{node_id}")
    assert new is not None and new.czxid != old.czxid
    assert json.loads(zk_client.get(f"{root}/nodes/{node_id}")[0])["internal"] != old_internal

    # A query taken by node-1 returns every row, the restarted node's share pushed to its new port.
    with flight.FlightClient(survivor.location) as client:
        info = client.get_flight_info(statement("SELECT id FROM range(0, 60000, 1, 6)"))
    assert sorted(e.locations[0].uri.decode() for e in info.endpoints) == sorted(
        [survivor.location, restarted.location]
    )
    ids = sorted(i for e in info.endpoints for i in read_endpoint(e).column("id").to_pylist())
    assert ids == list(range(60_000))
    wait_for_children(zk_client, f"{root}/queries", lambda children: children == [], timeout=CLEANUP_DEADLINE)


class Reader(threading.Thread):
    """Reads one endpoint in the background; keeps the error it ended with."""

    def __init__(self, endpoint: flight.FlightEndpoint) -> None:
        super().__init__(daemon=True)
        self.endpoint = endpoint
        self.error: BaseException | None = None
        self.started_reading = threading.Event()

    def run(self) -> None:
        try:
            with flight.FlightClient(self.endpoint.locations[0]) as client:
                for _ in client.do_get(self.endpoint.ticket):
                    self.started_reading.set()
        except BaseException as exc:  # noqa: BLE001 - the error is what the test checks
            self.error = exc
        finally:
            self.started_reading.set()


def test_zookeeper_away_past_the_session_timeout_ends_every_reader_with_unavailable(
    cluster: Cluster,
) -> None:
    """No node can learn the outcome of a query still running when ZooKeeper goes away: every reader
    ends with UNAVAILABLE while ZooKeeper is still down (not after the hour of
    spark.flight.stream.timeout), and the owner cancels the job."""
    owner = cluster.nodes[0]
    wait_for_members(cluster.zookeeper.url, cluster.root, 2)
    # Every row at once but the last rows of partitions 6 and 7 (one on each node: partitions go to the
    # nodes in turn), which wait until the job is cancelled (the cancel interrupts the sleep): each node
    # streams its other partitions before ZooKeeper stops, and neither node's share can be complete
    # then, however slow the machine. (With one paused partition, the other node's share could end
    # whole before ZooKeeper stopped.)
    pause = "java_method('java.lang.Thread', 'sleep', IF(id IN (174999, 199999), 3600000L, 0L))"
    sql = f"SELECT id, {pause} AS pause FROM range(0, 200000, 1, 8)"
    with flight.FlightClient(owner.location) as client:
        info = client.get_flight_info(statement(sql))
    readers = [Reader(e) for e in info.endpoints]
    assert len(readers) == 2
    for reader in readers:
        reader.start()
    for reader in readers:
        assert reader.started_reading.wait(READER_DEADLINE), "no rows arrived"
        assert reader.error is None, repr(reader.error)
    cluster.zookeeper.stop()
    try:
        for reader in readers:
            reader.join(READER_DEADLINE)
            assert not reader.is_alive(), "a reader waits on a ZooKeeper that is away"
            assert isinstance(reader.error, flight.FlightUnavailableError), repr(reader.error)
            assert "ZooKeeper" in str(reader.error), str(reader.error)
    finally:
        cluster.zookeeper.start()
    # Once ZooKeeper is back the query settles as usual.
    client = KazooClient(hosts=cluster.zookeeper.url)
    client.start(timeout=30)
    try:
        wait_for_children(client, f"{cluster.root}/queries", lambda children: children == [])
    finally:
        client.stop()
        client.close()
    for node in cluster.nodes:
        wait_until(lambda node=node: idle(node_stats(node)), timeout=CLEANUP_DEADLINE)
