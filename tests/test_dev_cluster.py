"""``dev/cluster``: the two-node cluster on one machine (ZooKeeper, a Spark standalone master and two
workers, a Hive metastore, two Flight SQL nodes) comes up, serves, and goes away without a trace.

One cluster for the whole module, on free ports in a temporary folder.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import adbc_driver_flightsql.dbapi
import pytest
from support.processes import run_command

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = ROOT / "dev" / "cluster.py"
PROCESSES = ["zookeeper", "spark-master", "worker-1", "worker-2", "metastore", "node-a", "node-b"]
PORT_VARIABLES = [
    "DEV_CLUSTER_ZOOKEEPER_PORT",
    "DEV_CLUSTER_SPARK_MASTER_PORT",
    "DEV_CLUSTER_SPARK_MASTER_WEBUI_PORT",
    "DEV_CLUSTER_SPARK_WORKER_1_WEBUI_PORT",
    "DEV_CLUSTER_SPARK_WORKER_2_WEBUI_PORT",
    "DEV_CLUSTER_METASTORE_PORT",
    "DEV_CLUSTER_NODE_A_PORT",
    "DEV_CLUSTER_NODE_A_INTERNAL_PORT",
    "DEV_CLUSTER_NODE_A_UI_PORT",
    "DEV_CLUSTER_NODE_B_PORT",
    "DEV_CLUSTER_NODE_B_INTERNAL_PORT",
    "DEV_CLUSTER_NODE_B_UI_PORT",
]
START_TIMEOUT = 420.0
STOP_TIMEOUT = 240.0


@dataclass
class DevCluster:
    """A started ``dev/cluster`` and how to reach it."""

    root: Path
    env: dict[str, str]
    ports: dict[str, int]

    @property
    def node_a(self) -> str:
        return f"grpc://127.0.0.1:{self.ports['DEV_CLUSTER_NODE_A_PORT']}"

    @property
    def node_b(self) -> str:
        return f"grpc://127.0.0.1:{self.ports['DEV_CLUSTER_NODE_B_PORT']}"

    def run(self, command: str, timeout: float = 60.0) -> subprocess.CompletedProcess[str]:
        """Run ``dev/cluster.py <command>`` against this cluster."""
        return run_command(
            [sys.executable, str(SCRIPT), command],
            check=False,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=timeout,
        )

    def processes(self) -> dict[str, int]:
        """The process ids ``start`` recorded, by name."""
        state = json.loads((self.root / "state.json").read_text())
        return {item["name"]: item["pid"] for item in state["processes"]}

    def master_state(self) -> dict:
        url = f"http://127.0.0.1:{self.ports['DEV_CLUSTER_SPARK_MASTER_WEBUI_PORT']}/json/"
        with urllib.request.urlopen(url, timeout=10) as response:
            return json.load(response)


def connect(location: str) -> adbc_driver_flightsql.dbapi.Connection:
    return adbc_driver_flightsql.dbapi.connect(location, autocommit=True)


def free_ports(count: int) -> list[int]:
    """``count`` distinct ports that were free a moment ago."""
    with contextlib.ExitStack() as stack:
        sockets = [stack.enter_context(socket.socket()) for _ in range(count)]
        for sock in sockets:
            sock.bind(("127.0.0.1", 0))
        return [sock.getsockname()[1] for sock in sockets]


def live_processes_mentioning(text: str) -> list[str]:
    """Command lines of running (not zombie) processes that mention ``text`` (the cluster's folder)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        with contextlib.suppress(OSError):
            state = (entry / "stat").read_text().rsplit(")", 1)[1].split()[0]
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            if state not in ("Z", "X") and text in cmdline:
                found.append(f"{entry.name}: {cmdline[:200]}")
    return found


def live_group_members(pgids: set[int]) -> list[int]:
    """Running (not zombie) processes whose process group is one of ``pgids``."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError):
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
                if fields[0] not in ("Z", "X") and int(fields[2]) in pgids:
                    found.append(int(entry.name))
    return found


def logs_of(root: Path) -> str:
    parts = []
    for log in sorted((root / "logs").glob("*.log")):
        parts.append(f"--- {log.name}\n" + "\n".join(log.read_text(errors="replace").splitlines()[-25:]))
    return "\n".join(parts)


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DevCluster]:
    root = tmp_path_factory.mktemp("dev-cluster")
    ports = dict(zip(PORT_VARIABLES, free_ports(len(PORT_VARIABLES))))
    env = {**os.environ, "DEV_CLUSTER_DIR": str(root), "DEV_CLUSTER_START_TIMEOUT": "360"}
    env.update({name: str(port) for name, port in ports.items()})
    dev = DevCluster(root, env, ports)
    try:
        started = dev.run("start", timeout=START_TIMEOUT)
        assert started.returncode == 0, f"{started.stdout}\n{started.stderr}\n{logs_of(root)}"
        assert f"Flight SQL nodes: {dev.node_a} {dev.node_b}" in started.stdout
        yield dev
    finally:
        dev.run("stop", timeout=STOP_TIMEOUT)  # a no-op once test_stop_* has stopped it


def test_status_says_every_process_runs(cluster: DevCluster) -> None:
    status = cluster.run("status")
    assert status.returncode == 0, status.stdout + status.stderr
    for name in PROCESSES:
        assert any(line.split()[:2] == [name, "running"] for line in status.stdout.splitlines()), (
            status.stdout
        )


def test_start_refuses_a_second_cluster_in_the_same_folder(cluster: DevCluster) -> None:
    again = cluster.run("start")
    assert again.returncode == 1
    assert "already runs" in again.stderr


def test_both_nodes_are_applications_of_the_standalone_cluster(cluster: DevCluster) -> None:
    state = cluster.master_state()
    assert sorted(w["state"] for w in state["workers"]) == ["ALIVE", "ALIVE"]
    apps = {app["name"]: app for app in state["activeapps"]}
    assert sorted(apps) == ["spark-flight-sql-node-a", "spark-flight-sql-node-b"]
    assert all(app["cores"] == 1 for app in apps.values())


def test_a_table_created_through_node_a_is_read_through_node_b(cluster: DevCluster) -> None:
    """The nodes share the metastore service (no data folder of their own): what one creates, a
    database, a table, a view, the other sees."""
    create = "CREATE TABLE shared_t USING parquet AS SELECT id, concat('v', id) AS label FROM range(0, 1000)"
    with connect(cluster.node_a) as connection, connection.cursor() as cursor:
        cursor.execute(create)
        cursor.execute("CREATE DATABASE shared_db")
        cursor.execute("CREATE TABLE shared_db.kept (id INT, name STRING) USING parquet")
        cursor.execute("INSERT INTO shared_db.kept VALUES (1, 'one'), (2, 'two')")
        cursor.execute("CREATE VIEW shared_db.kept_view AS SELECT name FROM shared_db.kept WHERE id > 1")
    with connect(cluster.node_b) as connection, connection.cursor() as cursor:
        cursor.execute("SELECT count(*), sum(id), max(label) FROM shared_t")
        assert cursor.fetchall() == [(1000, 499500, "v999")]
        cursor.execute("SELECT id, name FROM shared_db.kept ORDER BY id")
        assert cursor.fetchall() == [(1, "one"), (2, "two")]
        cursor.execute("SELECT * FROM shared_db.kept_view")
        assert cursor.fetchall() == [("two",)]
    assert (cluster.root / "warehouse" / "shared_t").is_dir(), "the table lives in the shared warehouse"
    assert (cluster.root / "warehouse" / "shared_db.db" / "kept").is_dir()
    for node in ("node-a", "node-b"):
        log = (cluster.root / "logs" / f"{node}.log").read_text(errors="replace")
        assert "catalog: the Hive metastore of the Spark conf" in log, node


def test_a_distributed_result_is_served_by_both_nodes(cluster: DevCluster) -> None:
    from support.cluster import assert_every_node_serves_a_share

    with connect(cluster.node_b) as connection:
        ids = assert_every_node_serves_a_share(
            connection, "SELECT id FROM range(0, 100000, 1, 4)", [cluster.node_a, cluster.node_b]
        )
    assert sorted(ids) == list(range(100_000))


def test_stop_leaves_no_process_and_can_run_twice(cluster: DevCluster) -> None:
    pgids = set(cluster.processes().values())  # each process leads a process group of its own
    assert sorted(cluster.processes()) == sorted(PROCESSES)
    stopped = cluster.run("stop", timeout=STOP_TIMEOUT)
    assert stopped.returncode == 0, stopped.stdout + stopped.stderr
    assert live_group_members(pgids) == []
    assert live_processes_mentioning(str(cluster.root)) == []
    again = cluster.run("stop")
    assert again.returncode == 0, again.stdout + again.stderr
    status = cluster.run("status")
    assert status.returncode == 3, status.stdout
    for name, port in cluster.ports.items():
        with socket.socket() as probe:
            assert probe.connect_ex(("127.0.0.1", port)) != 0, f"{name} {port} still accepts connections"
