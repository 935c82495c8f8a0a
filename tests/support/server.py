"""A real Flight SQL node as a child process (``spark-flight-sql serve``) and what it prints; ports."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
from dataclasses import dataclass, field
from pathlib import Path

from support import ROOT
from support.processes import kill_group, start

READY = "spark-flight-sql: serving Flight SQL on "
START_TIMEOUT = 300.0
"""A node starts a JVM and a SparkSession: seconds when idle, minutes on a busy two-core machine."""
STOP_TIMEOUT = 120.0


@dataclass
class ServerProcess:
    """A server child process (a node, by default) and the lines it printed (stdout and stderr)."""

    process: subprocess.Popen[str]
    location: str = ""
    lines: list[str] = field(default_factory=list)
    ready_marker: str = READY
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
        except ValueError:  # the output was closed by wait_exit while a line was being read
            pass
        finally:
            with self._printed:
                self._ended = True
                self._printed.notify_all()

    def _start_reading(self) -> None:
        if self._pump_thread is None:
            self._pump_thread = threading.Thread(target=self._pump, daemon=True)
            self._pump_thread.start()

    def _tail(self, count: int = 40) -> str:
        return "\n".join(self.lines[-count:])

    def wait_for_line(self, text: str, timeout: float) -> str:
        """Wait until the server prints a line containing ``text``; fail after ``timeout`` seconds."""
        self._start_reading()
        with self._printed:
            found = self._printed.wait_for(
                lambda: next((line for line in self.lines if text in line), None) or self._ended,
                timeout=timeout,
            )
        if not isinstance(found, str):
            state = "exited without printing" if self._ended else f"did not print within {timeout} s"
            raise AssertionError(f"the server {state} {text!r}; its last lines:\n" + self._tail())
        return found

    def wait_for_count(self, text: str, count: int, timeout: float) -> None:
        """Wait until at least ``count`` lines printed by the server contain ``text``."""
        self._start_reading()
        with self._printed:
            found = self._printed.wait_for(
                lambda: sum(text in line for line in self.lines) >= count, timeout=timeout
            )
        assert found, (
            f"the server printed {text!r} fewer than {count} times within {timeout} s:\n" + self._tail()
        )

    def wait_ready(self, timeout: float = START_TIMEOUT) -> None:
        """Wait for the ready line (which names the location); fail if the process exits first."""
        self._start_reading()
        with self._printed:
            line = self._printed.wait_for(
                lambda: next((line for line in self.lines if self.ready_marker in line), None) or self._ended,
                timeout=timeout,
            )
        if isinstance(line, str):
            self.location = line.split(self.ready_marker, 1)[1].strip()
        elif line:
            raise RuntimeError("the server exited before it was ready:\n" + self._tail(50))
        else:
            raise TimeoutError(f"the server did not start within {timeout} s:\n" + self._tail(50))

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
                f"the server did not exit within {timeout} s; its last lines:\n" + self._tail(60)
            ) from None
        finally:
            if self._pump_thread is not None:
                self._pump_thread.join(timeout=10)
            if self.process.stdout is not None:
                self.process.stdout.close()
            if self.workdir is not None and self.process.poll() is not None:
                shutil.rmtree(self.workdir, ignore_errors=True)
        return code


def start_server(*extra: str, demo: bool = True, env: dict[str, str] | None = None) -> ServerProcess:
    """Start a node on free ports, with its own warehouse folder, and wait until it serves."""
    workdir = Path(tempfile.mkdtemp(prefix="spark-flight-sql-test-"))
    command = [
        sys.executable,
        "-m",
        "spark_flight_sql.flightsql",
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
    process = start(
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
        kill_group(process)
        server.wait_exit()
        raise
    return server


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
