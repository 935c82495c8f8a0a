"""A real Flight SQL node as a child process (``spark-flight-sql serve``) and what it prints; ports.

The process and its output are :mod:`spark_flight_sql.flightsql.devtools.node_process`'s (shared with the
benchmarks); what is the tests' own: each child in a session of its own, killed as a whole on failure.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

import pyarrow.flight as flight

from spark_flight_sql.flightsql.devtools.node_process import NodeProcess, node_arguments, node_command
from support import ROOT
from support.processes import kill_group, start

START_TIMEOUT = 300.0
"""A node starts a JVM and a SparkSession: seconds when idle, minutes on a busy two-core machine."""
STOP_TIMEOUT = 120.0


@dataclass
class ServerProcess(NodeProcess):
    """A server child process (a node, by default; started by :func:`support.processes.start`) and the
    lines it printed (stdout and stderr)."""

    name: str = "server"

    def wait_ready(self, timeout: float = START_TIMEOUT) -> None:
        """Wait for the ready line (which names the location); fail if the process exits first."""
        super().wait_ready(timeout)

    def stop(self, timeout: float = STOP_TIMEOUT) -> int:
        """SIGTERM the server (its own clean shutdown is what tests check) and wait for it to exit."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        return self.wait_exit(timeout)

    def wait_exit(self, timeout: float = STOP_TIMEOUT) -> int:
        """Wait for the process to exit (past the deadline, kill it with its whole process group and
        fail) and close its output."""
        try:
            code = self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            kill_group(self.process)
            raise AssertionError(
                f"the server did not exit within {timeout} s; its last lines:\n" + self.tail(60)
            ) from None
        finally:
            self.close_output()
        return code


def serving(server: ServerProcess) -> ServerProcess:
    """``server`` once it printed its ready line; if it never does, it is killed with its whole session
    (and the error raised)."""
    try:
        server.wait_ready()
    except BaseException:
        kill_group(server.process)
        server.wait_exit()
        raise
    return server


def server_command(workdir: Path, *extra: str, demo: bool = True, data_dir: Path | None = None) -> list[str]:
    """The command of a test node on free ports whose spill files and data folder (catalog and warehouse)
    live in ``workdir``, or whose data folder is ``data_dir``: a test node never writes into the
    user's data folder."""
    command = node_command(
        "--master",
        "local[2]",
        "--conf",
        "spark.ui.enabled=false",
        "--conf",
        "spark.driver.memory=2g",
        *node_arguments(workdir, data_dir),
        *extra,
    )
    if demo:
        command.append("--demo")
    return command


def start_server(
    *extra: str,
    demo: bool = True,
    env: dict[str, str] | None = None,
    data_dir: Path | None = None,
    cwd: Path = ROOT,
) -> ServerProcess:
    """Start a node on free ports, with its own data folder (or ``data_dir``, which outlives it), and
    wait until it serves.

    Without ``data_dir`` the node keeps Spark's in-memory catalog: nothing of it outlives the node, and
    opening a Derby metastore would add seconds to every start of the suite; the tests of the
    persistent catalog pass a ``data_dir``."""
    workdir = Path(tempfile.mkdtemp(prefix="spark-flight-sql-test-"))
    catalog = () if data_dir is not None else ("--conf", "spark.sql.catalogImplementation=in-memory")
    process = start(
        server_command(workdir, *catalog, *extra, demo=demo, data_dir=data_dir),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        cwd=cwd,
        env={**os.environ, **(env or {})},
    )
    return serving(ServerProcess(process, workdir=workdir))


def stalling_query(fast_rows: int = 20_000, pause_ms: int = 200) -> str:
    """A query whose first two of eight partitions finish at once and whose others crawl.

    Rows below ``fast_rows`` arrive at once; every other row waits ``pause_ms``, so the job keeps
    running for as long as a test needs while producing almost no bytes (nothing to spill).
    """
    pause = f"java_method('java.lang.Thread', 'sleep', IF(id < {fast_rows}, 0L, {pause_ms}L))"
    return f"SELECT id, {pause} AS pause FROM range(0, {fast_rows * 4}, 1, 8)"


def free_port_for_tests() -> int:
    """A port nothing listens on right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def port_is_free(port: int) -> bool:
    """Whether a server could listen on ``port`` now (SO_REUSEADDR as servers bind: closed connections
    lingering in TIME_WAIT do not count; a listening socket does)."""
    with socket.socket() as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def node_stats(node: ServerProcess | str) -> dict[str, Any]:
    """The ``NodeStats`` action of a node (or of the node at a location): its results, buffers, spill
    files, open streams and memory."""
    location = node if isinstance(node, str) else node.location
    with flight.FlightClient(location) as client:
        (result,) = client.do_action(flight.Action("NodeStats", b""))
    return cast(dict[str, Any], json.loads(result.body.to_pybytes()))
