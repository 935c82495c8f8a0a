"""A cluster keeps its promises when parts fail: nodes die, the owner dies, ZooKeeper restarts.

And a sequential reader of a result larger than the buffers completes with memory bounded.
A test that kills a node builds its own cluster. The last three share one (``bounded_pair``), each
breaking it further, in file order: the memory test, then ZooKeeper restarts under it, then ZooKeeper
stops and a node stops cleanly without it. One ZooKeeper serves the module (each cluster under a
membership path of its own); the restart and stop tests restart and stop it, and run last.
"""

from __future__ import annotations

import signal
import threading
import time
from collections.abc import Iterator

import pyarrow.flight as flight
import pytest
from kazoo.client import KazooClient
from support.cluster import read_endpoint, start_cluster, statement, wait_for_children, wait_for_members
from support.server import ServerProcess, node_stats, stalling_query

from spark_flight_sql.flightsql.devtools.zookeeper import EmbeddedZooKeeper

# Rows arrive at once from two partitions, then the job crawls: a query long enough to kill a node
# under, that writes almost nothing.
BIG = stalling_query()
# ZooKeeper declares a killed node dead after the 4 s session timeout; allow for a loaded machine.
FAILURE_DEADLINE = 45.0


@pytest.fixture(scope="module")
def own_zookeeper(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmbeddedZooKeeper]:
    """The module's ZooKeeper (not the session's: tests here restart and stop it)."""
    with EmbeddedZooKeeper(tmp_path_factory.mktemp("zk")) as server:
        yield server


@pytest.fixture
def kazoo_client(own_zookeeper) -> Iterator[KazooClient]:
    client = KazooClient(hosts=own_zookeeper.url)
    client.start(timeout=30)
    yield client
    client.stop()
    client.close()


def stop_all(nodes: list[ServerProcess]) -> None:
    for node in nodes:
        if node.process.poll() is None:
            node.stop()
        else:
            node.wait_exit()


class Reader(threading.Thread):
    """Reads one endpoint to its end in the background; keeps the rows or the error."""

    def __init__(self, endpoint: flight.FlightEndpoint) -> None:
        super().__init__(daemon=True)
        self.endpoint = endpoint
        self.rows = 0
        self.error: BaseException | None = None
        self.started_reading = threading.Event()
        self.finished_at: float | None = None

    def run(self) -> None:
        try:
            with flight.FlightClient(self.endpoint.locations[0]) as client:
                for chunk in client.do_get(self.endpoint.ticket):
                    self.rows += chunk.data.num_rows
                    self.started_reading.set()
        except BaseException as exc:  # noqa: BLE001 - the error is what the test checks
            self.error = exc
        finally:
            self.finished_at = time.monotonic()
            self.started_reading.set()


def start_readers(info: flight.FlightInfo) -> dict[str, Reader]:
    readers = {e.locations[0].uri.decode(): Reader(e) for e in info.endpoints}
    for reader in readers.values():
        reader.start()
    for reader in readers.values():
        assert reader.started_reading.wait(FAILURE_DEADLINE), "no data arrived"
    return readers


@pytest.fixture
def pair_reading(own_zookeeper) -> Iterator[tuple[str, list[ServerProcess], dict[str, Reader]]]:
    """Two nodes, and a large query taken by node-1 whose both endpoints are being read."""
    root, nodes = start_cluster(own_zookeeper.url, 2)
    try:
        wait_for_members(own_zookeeper.url, root, 2)
        with flight.FlightClient(nodes[0].location) as client:
            info = client.get_flight_info(statement(BIG))
        yield root, nodes, start_readers(info)
    finally:
        stop_all(nodes)


def kill_and_wait(node: ServerProcess, readers: list[Reader]) -> float:
    """SIGKILL ``node``; wait (with a deadline) until every reader ended; returns the kill time."""
    killed_at = time.monotonic()
    node.process.send_signal(signal.SIGKILL)
    for reader in readers:
        reader.join(FAILURE_DEADLINE)
        assert not reader.is_alive(), "a stream neither ended nor failed: it waits forever"
        assert reader.error is not None, "a stream ended as if complete"
        assert reader.finished_at - killed_at < FAILURE_DEADLINE
    return killed_at


def test_a_serving_node_dying_fails_every_stream_within_seconds(pair_reading, kazoo_client) -> None:
    root, (owner, victim), readers = pair_reading
    kill_and_wait(victim, list(readers.values()))
    # Whichever comes first: the job fails pushing to the dead node, or ZooKeeper reports it gone.
    survivor_error = str(readers[owner.location].error)
    assert "node node-2" in survivor_error, survivor_error
    assert "unreachable" in survivor_error or "left the cluster" in survivor_error, survivor_error
    wait_for_children(kazoo_client, f"{root}/queries", lambda children: children == [])


def test_the_owner_dying_fails_the_other_streams(pair_reading, kazoo_client) -> None:
    root, (owner, other), readers = pair_reading
    kill_and_wait(owner, [readers[other.location]])
    error = str(readers[other.location].error)
    assert "node-1" in error and "left the cluster" in error, error
    wait_for_children(kazoo_client, f"{root}/queries", lambda children: children == [])


BUFFER_LIMIT = 8 * 1024 * 1024


@pytest.fixture(scope="module")
def bounded_pair(own_zookeeper) -> Iterator[tuple[str, list[ServerProcess]]]:
    """Two nodes whose buffers hold at most ``BUFFER_LIMIT`` bytes each (in batches of at most 1 MiB),
    for the tests below; they break it in file order (see the module's docstring)."""
    root, nodes = start_cluster(
        own_zookeeper.url,
        2,
        "--conf",
        f"spark.flight.buffer.maxBytes={BUFFER_LIMIT}",
        "--conf",
        "spark.flight.batch.maxBytes=1048576",
    )
    try:
        wait_for_members(own_zookeeper.url, root, 2)
        yield root, nodes
    finally:
        stop_all(nodes)


def test_a_sequential_reader_of_a_result_five_times_the_buffer_completes_with_memory_bounded(
    bounded_pair, kazoo_client
) -> None:
    root, nodes = bounded_pair
    # About 80 MB of Arrow: five times the limit on each of the two nodes.
    sql = "SELECT id, repeat('y', 100) AS pad FROM range(0, 700000, 1, 8)"
    with flight.FlightClient(nodes[0].location) as client:
        info = client.get_flight_info(statement(sql))
    ids: list[int] = []
    spilled_while_reading = 0
    for endpoint in reversed(info.endpoints):  # one at a time, the JDBC driver's way, in reverse
        table = read_endpoint(endpoint)
        ids.extend(table.column("id").to_pylist())
        spilled_while_reading = max(spilled_while_reading, max(node_stats(n)["spilled_bytes"] for n in nodes))
    assert sorted(ids) == list(range(700_000))
    assert spilled_while_reading > BUFFER_LIMIT, "the unread share should have spilled to disk"
    for node in nodes:
        stats = node_stats(node)
        assert stats["peak_buffered_bytes"] <= BUFFER_LIMIT, stats
        assert stats["spilled_bytes"] == 0 and stats["spill_files"] == 0, stats
        assert stats["buffered_bytes"] == 0 and stats["results"] == 0, stats
    wait_for_children(kazoo_client, f"{root}/queries", lambda children: children == [])


def test_nodes_come_back_after_zookeeper_restarts(bounded_pair, own_zookeeper, kazoo_client) -> None:
    root, nodes = bounded_pair
    kazoo_client.stop()
    own_zookeeper.restart()
    kazoo_client.start(timeout=30)
    wait_for_children(
        kazoo_client, f"{root}/nodes", lambda children: sorted(children) == ["node-1", "node-2"]
    )
    for node in nodes:
        with flight.FlightClient(node.location) as client:
            info = client.get_flight_info(statement("SELECT id FROM range(0, 40000, 1, 4)"))
        assert len(info.endpoints) == 2
        ids = sorted(i for e in info.endpoints for i in read_endpoint(e).column("id").to_pylist())
        assert ids == list(range(40_000))


def test_a_node_stops_cleanly_while_zookeeper_is_down(bounded_pair, own_zookeeper) -> None:
    """The module's last test: it stops ZooKeeper (and the other node then stops without it too)."""
    _, nodes = bounded_pair
    own_zookeeper.stop()
    assert nodes[0].stop(timeout=60) == 0
