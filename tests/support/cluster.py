"""Clusters of nodes as separate processes on a real ZooKeeper: settings, starting, waiting on membership
(with ZooKeeper watches, not polls), and reading endpoints."""

from __future__ import annotations

import contextlib
import threading
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pyarrow as pa
import pyarrow.flight as flight
from kazoo.client import KazooClient

from spark_flight_sql.flightsql.proto import FlightSql_pb2 as sql_pb2
from spark_flight_sql.flightsql.protocol import pack_command
from support.server import ServerProcess, start_server

TTL_SECONDS = 30
WAIT = 120.0
"""Seconds to wait for a cluster to see a change (a node joining or leaving, a query released)."""


def cluster_conf(zookeeper_url: str, root: str, node_id: str, *extra: str) -> list[str]:
    """``serve`` arguments of node ``node_id`` of the cluster whose membership path is ``root``."""
    return [
        "--conf",
        "spark.flight.manager=zookeeper",
        "--conf",
        f"spark.flight.manager.zookeeper.url={zookeeper_url}",
        "--conf",
        f"spark.flight.manager.zookeeper.membershipPath={root}",
        "--conf",
        "spark.flight.manager.zookeeper.sessionTimeout=4",
        "--conf",
        f"spark.flight.node.id={node_id}",
        "--conf",
        f"spark.flight.result.ttl={TTL_SECONDS}",
        # The nodes share no metastore, so no test here needs a persistent catalog: Spark's in-memory one
        # spares each start the few seconds of opening a Derby metastore of its own.
        "--conf",
        "spark.sql.catalogImplementation=in-memory",
        *extra,
    ]


def start_cluster(zookeeper_url: str, size: int, *extra: str) -> tuple[str, list[ServerProcess]]:
    """``size`` nodes ``node-1``... under a new membership path: (that path, the nodes)."""
    root = f"/test-{uuid.uuid4().hex[:8]}"
    nodes: list[ServerProcess] = []
    try:
        for index in range(size):
            nodes.append(
                start_server(*cluster_conf(zookeeper_url, root, f"node-{index + 1}", *extra), demo=False)
            )
    except BaseException:
        for node in nodes:
            node.stop()
        raise
    return root, nodes


@contextlib.contextmanager
def running_cluster(zookeeper_url: str, size: int, *extra: str) -> Iterator[tuple[str, list[ServerProcess]]]:
    """:func:`start_cluster` once every node joined; at the end each node still running must stop
    cleanly, and one a test killed is reaped."""
    root, nodes = start_cluster(zookeeper_url, size, *extra)
    wait_for_members(zookeeper_url, root, size)
    yield root, nodes
    for node in nodes:
        if node.process.poll() is None:
            assert node.stop() == 0, "\n".join(node.lines[-40:])
        else:
            node.wait_exit()


def wait_for_children(
    client: KazooClient, path: str, predicate: Callable[[list[str]], Any], timeout: float = WAIT
) -> list[str]:
    """Wait (with a ZooKeeper watch, not a poll) until the children of ``path`` satisfy ``predicate``."""
    changed = threading.Condition()
    latest: list[list[str]] = [[]]

    def watch(children: list[str]) -> bool:
        with changed:
            latest[0] = children
            changed.notify_all()
        return not predicate(children)

    client.ensure_path(path)
    client.ChildrenWatch(path, watch)
    with changed:
        assert changed.wait_for(lambda: predicate(latest[0]), timeout=timeout), (
            f"{path}: still {latest[0]} after {timeout} s"
        )
    return latest[0]


def wait_for_members(zookeeper_url: str, root: str, count: int) -> None:
    """Wait until the cluster under ``root`` has exactly ``count`` members."""
    client = KazooClient(hosts=zookeeper_url)
    client.start(timeout=30)
    try:
        wait_for_children(client, f"{root}/nodes", lambda children: len(children) == count)
    finally:
        client.stop()
        client.close()


def statement(sql: str) -> flight.FlightDescriptor:
    """The descriptor of a CommandStatementQuery of ``sql``."""
    return flight.FlightDescriptor.for_command(pack_command(sql_pb2.CommandStatementQuery(query=sql)))


def read_endpoint(endpoint: flight.FlightEndpoint) -> pa.Table:
    """Every row of ``endpoint``, read from its first location."""
    with flight.FlightClient(endpoint.locations[0]) as client:
        return client.do_get(endpoint.ticket).read_all()


def assert_every_node_serves_a_share(connection: Any, sql: str, locations: list[str]) -> list[int]:
    """Run ``sql`` (a query of an ``id`` column) through ADBC's partitions: one endpoint at each of
    ``locations``, each serving a non-empty share; the ids of every share, in one list."""
    with connection.cursor() as cursor:
        partitions, _ = cursor.adbc_execute_partitions(sql)
        served = [flight.FlightInfo.deserialize(p).endpoints[0].locations[0].uri.decode() for p in partitions]
        assert sorted(served) == sorted(locations)
        ids: list[int] = []
        for partition in partitions:
            cursor.adbc_read_partition(partition)
            share = cursor.fetch_arrow_table().column("id").to_pylist()
            assert share, "every node serves part of the result"
            ids.extend(share)
    return ids
