"""A Flight SQL node as a child process of a benchmark (``python -m spark_flight_sql.flightsql serve``): its
output read on a thread, its readiness line waited for, its stop; and waiting for a cluster's members.

The benchmarks' own copy of what the tests use (``tests/support/server.py``): nothing outside ``tests/``
imports from there.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
import threading
from dataclasses import dataclass, field
from pathlib import Path

from bench_common import ROOT, start, stop

READY = "spark-flight-sql: serving Flight SQL on "
START_TIMEOUT = 600.0
"""A limit, not a budget: a node starts a JVM and a SparkSession, minutes on a busy two-core machine."""
STOP_TIMEOUT = 120.0
MEMBERS_PATH = "/spark-flight-sql/nodes"  # spark.flight.manager.zookeeper.membershipPath's default + /nodes
MEMBERS_TIMEOUT = 300.0


@dataclass
class NodeProcess:
    """A node child process (started by :func:`bench_common.start`) and the lines it printed."""

    process: subprocess.Popen[str]
    location: str = ""
    lines: list[str] = field(default_factory=list)
    workdir: Path | None = None
    """A private folder (its Spark warehouse and spill files) removed when the process has exited."""
    _printed: threading.Condition = field(default_factory=threading.Condition)
    _ended: bool = False
    _pump_thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        return int(self.location.rsplit(":", 1)[1])

    def _pump(self) -> None:
        assert self.process.stdout is not None
        try:
            for line in self.process.stdout:
                with self._printed:
                    self.lines.append(line.rstrip("\n"))
                    self._printed.notify_all()
        except ValueError:  # the output was closed while a line was being read
            pass
        finally:
            with self._printed:
                self._ended = True
                self._printed.notify_all()

    def wait_ready(self, timeout: float = START_TIMEOUT) -> None:
        """Wait for the ready line (which names the location); fail if the process exits first."""
        if self._pump_thread is None:
            self._pump_thread = threading.Thread(target=self._pump, daemon=True)
            self._pump_thread.start()
        with self._printed:
            line = self._printed.wait_for(
                lambda: next((line for line in self.lines if READY in line), None) or self._ended,
                timeout=timeout,
            )
        tail = "\n".join(self.lines[-50:])
        if isinstance(line, str):
            self.location = line.split(READY, 1)[1].strip()
        elif line:
            raise RuntimeError(f"the node exited before it was ready:\n{tail}")
        else:
            raise TimeoutError(f"the node did not start within {timeout} s:\n{tail}")

    def stop(self, timeout: float = STOP_TIMEOUT) -> None:
        """SIGTERM the node, wait for it (SIGKILL to its process group past ``timeout``), close its output."""
        try:
            stop(self.process, timeout)
        finally:
            if self._pump_thread is not None:
                self._pump_thread.join(timeout=10)
            if self.process.stdout is not None:
                self.process.stdout.close()
            if self.workdir is not None:
                shutil.rmtree(self.workdir, ignore_errors=True)


def node_command(*extra: str) -> list[str]:
    """The command of a node with ``extra`` arguments."""
    return [sys.executable, "-W", "ignore::Warning", "-m", "spark_flight_sql.flightsql", "serve", *extra]


def start_node(*extra: str, master: str) -> NodeProcess:
    """Start a node on free ports on ``master``, with its own warehouse and spill folder, and wait until it
    serves; stopped again if it does not."""
    workdir = Path(tempfile.mkdtemp(prefix="spark-flight-sql-bench-"))
    command = node_command(
        "--master",
        master,
        "--conf",
        "spark.flight.port=0",
        "--conf",
        "spark.flight.internal.port=0",
        "--conf",
        f"spark.sql.warehouse.dir={workdir / 'warehouse'}",
        "--conf",
        f"spark.flight.buffer.spillDir={workdir / 'spill'}",
        *extra,
    )
    process = start(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd=ROOT)
    node = NodeProcess(process, workdir=workdir)
    try:
        node.wait_ready()
    except BaseException:
        node.stop()
        raise
    return node


def wait_for_members(zookeeper_url: str, count: int, timeout: float = MEMBERS_TIMEOUT) -> None:
    """Wait, with a ZooKeeper watch and a deadline, until ``count`` nodes are members."""
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
        client.ensure_path(MEMBERS_PATH)
        client.ChildrenWatch(MEMBERS_PATH, watch)
        with changed:
            if not changed.wait_for(lambda: len(members) == count, timeout=timeout):
                raise TimeoutError(f"{MEMBERS_PATH}: {members} after {timeout} s, expected {count} members")
    finally:
        client.stop()
        client.close()
