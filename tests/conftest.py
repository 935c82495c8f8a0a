"""Shared fixtures: a real Flight SQL node as a separate process, and a SparkSession in this one."""

from __future__ import annotations

import os
import queue
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
READY = "spark-flight-sql: serving Flight SQL on "
START_TIMEOUT = 180.0
STOP_TIMEOUT = 60.0


@dataclass
class ServerProcess:
    """A ``spark-flight-sql serve`` child process and what it printed."""

    process: subprocess.Popen[str]
    location: str = ""
    lines: list[str] = field(default_factory=list)
    _queue: queue.Queue[str | None] = field(default_factory=queue.Queue)
    _printed: threading.Condition = field(default_factory=threading.Condition)
    ready_marker: str = READY
    workdir: Path | None = None
    """A private folder (its Spark warehouse and spill files) removed when the process has exited."""

    @property
    def port(self) -> int:
        return int(self.location.rsplit(":", 1)[1])

    def _pump(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            with self._printed:
                self.lines.append(line.rstrip("\n"))
                self._printed.notify_all()
            self._queue.put(line)
        self._queue.put(None)

    def wait_for_line(self, text: str, timeout: float) -> str:
        """Wait until the server prints a line containing ``text``; fail after ``timeout`` seconds."""
        with self._printed:
            found = self._printed.wait_for(
                lambda: next((line for line in self.lines if text in line), None), timeout=timeout
            )
        assert found, f"the server never printed {text!r} within {timeout} s:\n" + "\n".join(self.lines[-40:])
        return found

    def wait_for_count(self, text: str, count: int, timeout: float) -> None:
        """Wait until at least ``count`` lines printed by the server contain ``text``."""
        with self._printed:
            found = self._printed.wait_for(
                lambda: sum(text in line for line in self.lines) >= count, timeout=timeout
            )
        assert found, (
            f"the server printed {text!r} fewer than {count} times within {timeout} s:\n"
            + "\n".join(self.lines[-40:])
        )

    def wait_ready(self, timeout: float = START_TIMEOUT) -> None:
        self._pump_thread = threading.Thread(target=self._pump, daemon=True)
        self._pump_thread.start()
        deadline = time.monotonic() + timeout
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError("the server did not start in time:\n" + "\n".join(self.lines[-50:]))
            try:
                line = self._queue.get(timeout=remaining)
            except queue.Empty:
                continue
            if line is None:
                raise RuntimeError("the server exited before it was ready:\n" + "\n".join(self.lines[-50:]))
            if self.ready_marker in line:
                self.location = line.split(self.ready_marker, 1)[1].strip()
                return

    def stop(self, timeout: float = STOP_TIMEOUT) -> int:
        """SIGTERM the server and wait for it to exit."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        return self.wait_exit(timeout)

    def wait_exit(self, timeout: float = STOP_TIMEOUT) -> int:
        """Wait for the process to exit (killing it past the deadline) and close its output."""
        try:
            code = self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
            raise AssertionError(
                f"the server did not exit within {timeout} s; its last lines:\n" + "\n".join(self.lines[-60:])
            ) from None
        finally:
            pump = getattr(self, "_pump_thread", None)
            if pump is not None:
                pump.join(timeout=10)
            if self.process.stdout is not None:
                self.process.stdout.close()
            if self.workdir is not None and self.process.poll() is not None:
                shutil.rmtree(self.workdir, ignore_errors=True)
        return code


def stalling_query(fast_rows: int = 20_000, pause_ms: int = 200) -> str:
    """A query whose first two of eight partitions finish at once and whose others crawl.

    Rows below ``fast_rows`` arrive at once; every other row waits ``pause_ms``, so the job keeps
    running for as long as a test needs while producing almost no bytes (nothing to spill).
    """
    pause = f"java_method('java.lang.Thread', 'sleep', IF(id < {fast_rows}, 0L, {pause_ms}L))"
    return f"SELECT id, {pause} AS pause FROM range(0, {fast_rows * 4}, 1, 8)"


def start_server(*extra: str, demo: bool = True, env: dict[str, str] | None = None) -> ServerProcess:
    """Start a node on free ports, with its own warehouse folder, and wait until it serves."""
    workdir = Path(tempfile.mkdtemp(prefix="spark-flight-sql-test-"))
    command = [
        sys.executable,
        "-m",
        "flightsql",
        "serve",
        "--master",
        "local[2]",
        "--conf",
        "spark.flight.port=0",
        "--conf",
        "spark.flight.internal.port=0",
        "--conf",
        "spark.ui.enabled=false",
        "--conf",
        "spark.driver.memory=2g",
        "--conf",
        f"spark.sql.warehouse.dir={workdir / 'warehouse'}",
        # Inside the workdir, spill files go with it even when a test kills the node.
        "--conf",
        f"spark.flight.buffer.spillDir={workdir / 'spill'}",
        *extra,
    ]
    if demo:
        command.append("--demo")
    process = subprocess.Popen(
        command,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        cwd=ROOT,
        env={**os.environ, **(env or {})},
    )
    server = ServerProcess(process, workdir=workdir)
    try:
        server.wait_ready()
    except BaseException:
        server.stop()
        raise
    return server


def descendants(pid: int) -> set[int]:
    """Every living descendant process of ``pid`` (Linux /proc)."""
    found: set[int] = set()
    pending = [pid]
    while pending:
        current = pending.pop()
        for children in Path(f"/proc/{current}/task").glob("*/children"):
            try:
                kids = {int(c) for c in children.read_text().split()}
            except OSError:
                continue
            pending.extend(kids - found)
            found |= kids
    return found


def wait_until_gone(pids: set[int], timeout: float) -> set[int]:
    """Wait (with a deadline) until none of ``pids`` runs; returns those still running."""
    deadline = time.monotonic() + timeout
    alive = set(pids)
    while alive and time.monotonic() < deadline:
        alive = {pid for pid in alive if pid_alive(pid)}
        if alive:
            time.sleep(0.1)
    return alive


def pid_alive(pid: int) -> bool:
    """Whether ``pid`` runs and is not a zombie (Linux /proc)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


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


@pytest.fixture(scope="session")
def server() -> Iterator[ServerProcess]:
    """One node with demo data for the whole session; its clean shutdown is checked at the end."""
    node = start_server()
    yield node
    code = node.stop()
    assert code == 0, "the server did not stop cleanly:\n" + "\n".join(node.lines[-50:])
    assert port_is_free(node.port), "the public port is still bound after shutdown"


@pytest.fixture
def adbc(server: ServerProcess) -> Iterator[object]:
    """An ADBC Flight SQL DBAPI connection to the session's server."""
    import adbc_driver_flightsql.dbapi

    with adbc_driver_flightsql.dbapi.connect(server.location) as connection:
        yield connection


@pytest.fixture(scope="session")
def spark() -> Iterator[object]:
    """A SparkSession in the test process, for tests that embed the FlightManager."""
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    from pyspark.sql import SparkSession

    session = (
        SparkSession.builder.master("local[2,3]")
        .config("spark.ui.enabled", "false")
        .config("spark.sql.session.timeZone", "UTC")
        .config("spark.ui.showConsoleProgress", "false")
        .getOrCreate()
    )
    session.sparkContext.setLogLevel("OFF")
    yield session
    session.stop()
