"""A real ZooKeeper server in a child JVM, for development and tests.

PySpark's jars folder ships the ZooKeeper server classes, so no separate install is needed:
:class:`EmbeddedZooKeeper` writes a ``zoo.cfg`` and runs
``java -cp "<pyspark>/jars/*" org.apache.zookeeper.server.ZooKeeperServerMain zoo.cfg``.

Importing this module starts nothing and does not import PySpark.
"""

from __future__ import annotations

import atexit
import functools
import importlib.util
import os
import signal
import socket
import subprocess
import time
from collections import deque
from collections.abc import Callable
from pathlib import Path
from types import TracebackType

from spark_flight_sql.flightsql.devtools.java import check_java, java_executable

__all__ = ["EmbeddedZooKeeper", "ZooKeeperStartError", "zookeeper_jars"]

MAIN_CLASS = "org.apache.zookeeper.server.ZooKeeperServerMain"
JVM_OPTIONS = ("-Xmx256m", "-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1")
# A short tick lets tests use session timeouts down to 1 s; kazoo's default 10 s still fits.
TICK_TIME_MS = 500
_PROBE_INTERVAL = 0.05
_LOG4J2_CONFIG = """\
status = warn
appender.out.type = Console
appender.out.name = out
appender.out.target = SYSTEM_OUT
appender.out.layout.type = PatternLayout
appender.out.layout.pattern = %d{ISO8601} %-5p [%t] %c{1}: %m%n
rootLogger.level = INFO
rootLogger.appenderRef.out.ref = out
"""


class ZooKeeperStartError(RuntimeError):
    """The ZooKeeper JVM exited, or did not serve, while starting."""


def zookeeper_jars() -> Path:
    """PySpark's ``jars`` folder, which holds the ZooKeeper server classes."""
    spec = importlib.util.find_spec("pyspark")  # locates the package without importing it
    if spec is None or not spec.submodule_search_locations:
        raise ZooKeeperStartError("PySpark is not installed: its jars folder holds the ZooKeeper server")
    jars = Path(next(iter(spec.submodule_search_locations))) / "jars"
    if not any(jars.glob("zookeeper-[0-9]*.jar")):
        raise ZooKeeperStartError(f"no zookeeper-*.jar in {jars}")
    return jars


def _terminate(process: subprocess.Popen[bytes], timeout: float) -> None:
    """SIGTERM, wait up to ``timeout`` seconds, SIGKILL, and reap."""
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            process.kill()
    process.wait()


def _check_port(host: str, port: int) -> None:
    """Raise unless ``host:port`` can be bound, as the JVM binds it (TIME_WAIT is no obstacle)."""
    with socket.socket() as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as exc:
            raise ZooKeeperStartError(
                f"ZooKeeper cannot listen on {host}:{port}: {exc.strerror or exc}"
            ) from None


def _free_port(host: str) -> int:
    with socket.socket() as probe:
        probe.bind((host, 0))
        return int(probe.getsockname()[1])


class EmbeddedZooKeeper:
    """A standalone ZooKeeper server run as a child process; a context manager (start/stop).

    ``host`` is an IPv4 address or name to listen on. ``port=0`` picks a free port on the first
    start; :meth:`restart` keeps that port and the data. The JVM's output goes to ``log_file`` (default ``data_dir/zookeeper.log``, appended to).
    The JVM runs in its own session, so a Ctrl-C in the terminal reaches only this process, which
    then stops the server; an interpreter exit stops it too.
    """

    def __init__(
        self,
        data_dir: str | Path,
        port: int = 0,
        host: str = "127.0.0.1",
        log_file: Path | None = None,
    ) -> None:
        self.data_dir = Path(data_dir).resolve()
        self.host = host
        self.log_file = Path(log_file) if log_file is not None else self.data_dir / "zookeeper.log"
        self._port = port
        self._process: subprocess.Popen[bytes] | None = None
        self._at_exit: Callable[[], None] | None = None

    @property
    def port(self) -> int:
        """The client port (0 until the first start when a free port was asked for)."""
        return self._port

    @property
    def url(self) -> str:
        """The connect string for kazoo (``hosts=``) and ``spark.flight.manager.zookeeper.url``."""
        return f"{self._client_host}:{self._port}"

    @property
    def running(self) -> bool:
        """Whether the JVM is alive (it may still be starting)."""
        return self._process is not None and self._process.poll() is None

    @property
    def pid(self) -> int | None:
        """The JVM's process id while it runs."""
        process = self._process
        return process.pid if process is not None and process.poll() is None else None

    @property
    def _client_host(self) -> str:
        return "127.0.0.1" if self.host in ("", "0.0.0.0") else self.host

    def start(self, timeout: float = 60) -> EmbeddedZooKeeper:
        """Start the JVM and wait until it serves (``srvr`` answers); raise if it exits or the deadline passes."""
        if self.running:
            return self
        check_java()  # a clear error, with what to install, when Java is missing or too old
        java = java_executable()
        assert java is not None
        jars = zookeeper_jars()
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.log_file.parent.mkdir(parents=True, exist_ok=True)
        if self._port == 0:
            self._port = _free_port(self.host)
        else:
            _check_port(self.host, self._port)  # or another server there would answer the readiness probe
        self._launch(java, jars, timeout)
        return self

    def _launch(self, java: str, jars: Path, timeout: float) -> None:
        config = self._write_config()
        log4j = self.data_dir / "log4j2.properties"
        log4j.write_text(_LOG4J2_CONFIG)
        command = [
            java,
            *JVM_OPTIONS,
            f"-Dlog4j2.configurationFile={log4j.as_uri()}",
            "-Dzookeeper.jmx.log4j.disable=true",
            "-cp",
            f"{jars}{os.sep}*",
            MAIN_CLASS,
            str(config),
        ]
        offset = self.log_file.stat().st_size if self.log_file.exists() else 0
        with open(self.log_file, "ab") as log:
            self._process = subprocess.Popen(
                command,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=self.data_dir,
                start_new_session=True,
            )
        self._at_exit = functools.partial(_terminate, self._process, 10.0)
        atexit.register(self._at_exit)
        try:
            self._wait_serving(self._process, timeout, offset)
        except BaseException:
            self.stop()  # also on KeyboardInterrupt: leave no JVM behind
            raise

    def _wait_serving(self, process: subprocess.Popen[bytes], timeout: float, offset: int) -> None:
        deadline = time.monotonic() + timeout
        while not (self._serves() and process.poll() is None):
            try:
                code = process.wait(timeout=_PROBE_INTERVAL)  # the pause between probes
            except subprocess.TimeoutExpired:
                if time.monotonic() < deadline:
                    continue
                raise ZooKeeperStartError(
                    f"ZooKeeper did not serve on {self.url} within {timeout} s:\n{self._log_tail(offset)}"
                ) from None
            raise ZooKeeperStartError(
                f"ZooKeeper exited with code {code} while starting on {self.url}:\n{self._log_tail(offset)}"
            )

    def _write_config(self) -> Path:
        config = self.data_dir / "zoo.cfg"
        config.write_text(
            "\n".join(
                [
                    f"tickTime={TICK_TIME_MS}",
                    f"dataDir={self.data_dir}",
                    f"clientPort={self._port}",
                    f"clientPortAddress={self.host}",
                    "maxClientCnxns=1000",
                    "maxSessionTimeout=60000",
                    "admin.enableServer=false",
                    "4lw.commands.whitelist=ruok,srvr",
                    "",
                ]
            )
        )
        return config

    def _serves(self) -> bool:
        """Whether the server answers ``srvr`` with its stats (``ruok`` says imok before it serves)."""
        try:
            with socket.create_connection((self._client_host, self._port), timeout=1) as conn:
                conn.sendall(b"srvr")
                conn.shutdown(socket.SHUT_WR)
                reply = b""
                while chunk := conn.recv(4096):
                    reply += chunk
        except OSError:
            return False
        return b"Mode: " in reply

    def _log_tail(self, offset: int, lines: int = 30) -> str:
        try:
            with open(self.log_file, "rb") as log:
                log.seek(offset)
                tail = deque(log.read().decode(errors="replace").splitlines(), maxlen=lines)
        except OSError:
            return "(no log)"
        return "\n".join(tail) or "(empty log)"

    def stop(self, timeout: float = 30) -> None:
        """SIGTERM the JVM, wait up to ``timeout`` seconds, then SIGKILL it; the child is reaped."""
        process = self._forget_process()
        if process is not None:
            _terminate(process, timeout)

    def _forget_process(self) -> subprocess.Popen[bytes] | None:
        process, self._process = self._process, None
        if self._at_exit is not None:
            atexit.unregister(self._at_exit)
            self._at_exit = None
        return process

    def wait(self, timeout: float | None = None) -> int | None:
        """Wait until the JVM exits (``timeout`` seconds at most); its exit code, or None if it runs on."""
        process = self._process
        if process is None:
            return None
        try:
            return process.wait(timeout)
        except subprocess.TimeoutExpired:
            return None

    def restart(self, timeout: float = 60) -> EmbeddedZooKeeper:
        """Stop, then start again on the same port and data directory: the data survives."""
        self.stop()
        return self.start(timeout)

    def __enter__(self) -> EmbeddedZooKeeper:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    def __repr__(self) -> str:
        state = "running" if self.running else "stopped"
        return f"EmbeddedZooKeeper({self.url}, {state}, data_dir={str(self.data_dir)!r})"
