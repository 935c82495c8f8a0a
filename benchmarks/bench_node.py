"""A Flight SQL node as a child process of a benchmark (``python -m spark_flight_sql.flightsql serve``): its
output read on a thread, its readiness line waited for, its stop; and waiting for a cluster's members.

The process and its output are :mod:`spark_flight_sql.flightsql.devtools.node_process`'s (the tests use it
too); what is the benchmarks' own: a process group of its own, stopped as a group (and at exit).
"""

from __future__ import annotations

import subprocess
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path

from bench_common import ROOT, start, stop

from spark_flight_sql.flightsql.devtools import node_process

START_TIMEOUT = 600.0
"""A limit, not a budget: a node starts a JVM and a SparkSession, minutes on a busy two-core machine."""
STOP_TIMEOUT = 120.0
MEMBERS_PATH = "/spark-flight-sql/nodes"  # spark.flight.manager.zookeeper.membershipPath's default + /nodes
MEMBERS_TIMEOUT = 300.0


@dataclass
class NodeProcess(node_process.NodeProcess):
    """A node child process (started by :func:`bench_common.start`) and the lines it printed."""

    def wait_ready(self, timeout: float = START_TIMEOUT) -> None:
        """Wait for the ready line (which names the location); fail if the process exits first."""
        super().wait_ready(timeout)

    def stop(self, timeout: float = STOP_TIMEOUT) -> None:
        """SIGTERM the node, wait for it (SIGKILL to its process group past ``timeout``), close its output."""
        try:
            stop(self.process, timeout)
        finally:
            self.close_output()


def node_command(*extra: str) -> list[str]:
    """The command of a node with ``extra`` arguments."""
    return node_process.node_command(*extra, python_options=("-W", "ignore::Warning"))


IN_MEMORY_CATALOG = ("--conf", "spark.sql.catalogImplementation=in-memory")
"""Every path's query reads ``range(N)``, no table: Spark's in-memory catalog spares each node start the
seconds of opening a Derby metastore of its own."""


def launch_node(*extra: str, master: str) -> NodeProcess:
    """Start a node on free ports on ``master``, with its own warehouse and spill folder; not waited for."""
    workdir = Path(tempfile.mkdtemp(prefix="spark-flight-sql-bench-"))
    command = node_command(
        "--master", master, *node_process.node_arguments(workdir), *IN_MEMORY_CATALOG, *extra
    )
    process = start(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd=ROOT)
    return NodeProcess(process, workdir=workdir)


def start_nodes(*arguments: list[str], master: str) -> list[NodeProcess]:
    """Start a node per list of ``arguments`` on ``master``, all at once, and wait until every one serves;
    all stopped again if one does not."""
    nodes: list[NodeProcess] = []
    try:
        for extra in arguments:
            nodes.append(launch_node(*extra, master=master))
        for node in nodes:
            node.wait_ready()
    except BaseException:
        for node in nodes:
            node.stop()
        raise
    return nodes


def start_node(*extra: str, master: str) -> NodeProcess:
    """Start a node on free ports on ``master``, with its own warehouse and spill folder, and wait until it
    serves; stopped again if it does not."""
    (node,) = start_nodes(list(extra), master=master)
    return node


def wait_for_members(
    zookeeper_url: str, count: int, timeout: float = MEMBERS_TIMEOUT, path: str = MEMBERS_PATH
) -> None:
    """Wait, with a ZooKeeper watch and a deadline, until ``count`` nodes are members (under ``path``)."""
    from kazoo.client import KazooClient

    changed = threading.Condition()
    members: list[str] = []

    def watch(children: list[str]) -> bool:
        with changed:
            members[:] = children
            changed.notify_all()
        return len(children) != count  # False ends the watch

    client = KazooClient(hosts=zookeeper_url)
    client.start(timeout=30)
    try:
        client.ensure_path(path)
        client.ChildrenWatch(path, watch)
        with changed:
            if not changed.wait_for(lambda: len(members) == count, timeout=timeout):
                raise TimeoutError(f"{path}: {members} after {timeout} s, expected {count} members")
    finally:
        client.stop()
        client.close()
