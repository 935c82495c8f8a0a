"""A Flight SQL node (``python -m spark_flight_sql.flightsql serve``) as a child process, for tests and
benchmarks: its command, its output read on a thread, waiting for a line or for the ready line that names
its location, and its output closed (and its private folder removed) once it is over.

Starting and ending the process stay with the caller, who decides what a child's lifetime is bound to
(the tests run each child in a session of its own, the benchmarks in a process group of their own).
Importing this module imports only the standard library.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

__all__ = ["READY", "NodeProcess", "node_arguments", "node_command"]

READY = "spark-flight-sql: serving Flight SQL on "
"""The line (followed by the public location) a node prints once it serves."""
OUTPUT_JOIN_TIMEOUT = 10.0
"""Seconds to wait for the output reader once the process has exited."""


def node_command(*extra: str, python_options: Sequence[str] = ()) -> list[str]:
    """The command of a node with ``extra`` arguments, run by this interpreter with ``python_options``."""
    return [sys.executable, *python_options, "-m", "spark_flight_sql.flightsql", "serve", *extra]


def node_arguments(workdir: Path, data_dir: Path | None = None) -> list[str]:
    """``serve`` arguments for a node on free ports (its ready line names the public one) whose spill
    files and data folder (catalog and warehouse) live in ``workdir`` (so they go with it even when the
    node is killed), or whose data folder is ``data_dir`` (to outlive it)."""
    folder = data_dir or workdir / "data"
    arguments = [
        # Stopped at once, as before draining existed: tests and benchmarks leave results unread, and
        # each stop would wait out the grace period. The drain's own tests give one.
        "--conf",
        "spark.flight.shutdown.gracePeriod=0",
        "--conf",
        "spark.flight.port=0",
        "--conf",
        "spark.flight.internal.port=0",
        "--data-dir",
        str(folder),
        "--conf",
        f"spark.flight.buffer.spillDir={workdir / 'spill'}",
    ]
    if data_dir is None:
        # Where the data folder keeps it anyway; said, so that a node with Spark's in-memory catalog
        # (whose own warehouse would be a temporary folder, left behind by a kill) keeps it there too.
        arguments += ["--conf", f"spark.sql.warehouse.dir={folder / 'warehouse'}"]
    return arguments


@dataclass
class NodeProcess:
    """A started child process (a node, by default) with its output piped as text, and the lines it
    printed (stdout and stderr, if the caller merged them)."""

    process: subprocess.Popen[str]
    location: str = ""
    lines: list[str] = field(default_factory=list)
    ready_marker: str = READY
    workdir: Path | None = None
    """A private folder (its data folder and spill files) removed when the process has exited."""
    name: str = "node"
    """What the process is called in error messages."""
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

    def _start_reading(self) -> None:
        if self._pump_thread is None:
            self._pump_thread = threading.Thread(target=self._pump, daemon=True)
            self._pump_thread.start()

    def tail(self, count: int = 40) -> str:
        """The last ``count`` lines printed."""
        return "\n".join(self.lines[-count:])

    def wait_for_line(self, text: str, timeout: float) -> str:
        """Wait until the process prints a line containing ``text``; AssertionError after ``timeout``
        seconds or when its output ends first."""
        self._start_reading()
        with self._printed:
            found = self._printed.wait_for(
                lambda: next((line for line in self.lines if text in line), None) or self._ended,
                timeout=timeout,
            )
        if not isinstance(found, str):
            state = "exited without printing" if self._ended else f"did not print within {timeout} s"
            raise AssertionError(f"the {self.name} {state} {text!r}; its last lines:\n" + self.tail())
        return found

    def wait_for_count(self, text: str, count: int, timeout: float) -> None:
        """Wait until at least ``count`` printed lines contain ``text``; AssertionError after ``timeout``."""
        self._start_reading()
        with self._printed:
            found = self._printed.wait_for(
                lambda: sum(text in line for line in self.lines) >= count, timeout=timeout
            )
        if not found:
            raise AssertionError(
                f"the {self.name} printed {text!r} fewer than {count} times within {timeout} s:\n"
                + self.tail()
            )

    def wait_ready(self, timeout: float) -> None:
        """Wait for the ready line and take the location it names; RuntimeError if the process exits
        first, TimeoutError after ``timeout`` seconds."""
        self._start_reading()
        with self._printed:
            line = self._printed.wait_for(
                lambda: next((line for line in self.lines if self.ready_marker in line), None) or self._ended,
                timeout=timeout,
            )
        if isinstance(line, str):
            self.location = line.split(self.ready_marker, 1)[1].strip()
        elif line:
            raise RuntimeError(f"the {self.name} exited before it was ready:\n" + self.tail(50))
        else:
            raise TimeoutError(f"the {self.name} did not start within {timeout} s:\n" + self.tail(50))

    def close_output(self) -> None:
        """Once the process is over: let the output reader finish, close the output and, if the process
        has exited, remove its private folder."""
        if self._pump_thread is not None:
            self._pump_thread.join(timeout=OUTPUT_JOIN_TIMEOUT)
        if self.process.stdout is not None:
            self.process.stdout.close()
        if self.workdir is not None and self.process.poll() is not None:
            shutil.rmtree(self.workdir, ignore_errors=True)
