"""What the benchmark scripts share: folders, Spark settings, child processes that never outlive the run,
waiting with a deadline, the measuring workers, what the machine has, and small formatting helpers.

It imports no other benchmark module, so every script can import it without a cycle.

Child processes: every server, worker and Spark daemon a benchmark starts runs in a process group of its
own (in the run's session), so that stopping it stops what it started too (a ``spark-submit`` and its
JVM, a node and its Spark). :func:`signals_end_the_run` turns SIGTERM, SIGHUP and Ctrl-C into an
exception, so that the ``finally`` blocks stop everything, and whatever is still running when the
interpreter exits is killed (``atexit``).
"""

from __future__ import annotations

import atexit
import contextlib
import importlib.util
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from types import FrameType
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
DEFAULT_OUT = HERE / "results"
DOCS = ROOT / "docs" / "benchmarks.md"
WORKER = HERE / "bench_worker.py"

SPARK_CONF = {
    "spark.driver.memory": "6g",
    "spark.driver.maxResultSize": "4g",
    "spark.ui.enabled": "false",
    "spark.sql.session.timeZone": "UTC",
}
"""Every path's Spark settings. ``spark.driver.maxResultSize`` is raised from Spark's 1 GiB so that the paths
that collect the result in a driver (d, f) can hold 30M rows (1.7 GB): with the default they fail."""
MASTER = "local[2]"
"""What every node and every in-process path runs on."""
CONNECT_CLASS = "org.apache.spark.sql.connect.service.SparkConnectServer"
WORKER_TIMEOUT = 3600.0
STOP_TIMEOUT = 60.0

# ---------------------------------------------------------------- child processes

_started: list[subprocess.Popen[Any]] = []
_started_lock = threading.Lock()


def start(command: Sequence[str], **options: Any) -> subprocess.Popen[Any]:
    """``subprocess.Popen(command, **options)`` in a process group of its own (whose id is its pid), so that
    :func:`stop` ends it with everything it started; killed at exit if it still runs then."""
    process = subprocess.Popen(command, process_group=0, **options)
    with _started_lock:
        _started.append(process)
    return process


def _signal_group(process: subprocess.Popen[Any], signum: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, signum)


def stop(process: subprocess.Popen[Any], timeout: float = STOP_TIMEOUT) -> None:
    """SIGTERM ``process`` (started by :func:`start`) so that it can stop what it started, wait, and then
    SIGKILL its whole process group: past ``timeout`` seconds the process itself, and in any case whatever
    it left behind in its group."""
    if process.poll() is None:
        process.terminate()
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(timeout=timeout)
    _signal_group(process, signal.SIGKILL)
    with contextlib.suppress(subprocess.TimeoutExpired):
        process.wait(timeout=timeout)
    with _started_lock:
        if process in _started:
            _started.remove(process)


def run(command: Sequence[str], timeout: float, **options: Any) -> subprocess.CompletedProcess[str]:
    """Run ``command`` to its end with its output captured (text); past ``timeout`` seconds, or when the wait
    is interrupted, its process group is stopped (TimeoutExpired is raised then)."""
    process = start(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **options)
    try:
        stdout, stderr = process.communicate(timeout=timeout)
    except BaseException:
        stop(process, timeout=10.0)
        raise
    stop(process)  # anything it left running in its group
    return subprocess.CompletedProcess(process.args, process.returncode, stdout, stderr)


@atexit.register
def stop_everything() -> None:
    """Stop every process started by :func:`start` that still runs (at exit, and on a signal's way out)."""
    with _started_lock:
        started = list(reversed(_started))
    for process in started:
        stop(process, timeout=10.0)


@contextlib.contextmanager
def signals_end_the_run() -> Iterator[None]:
    """The first Ctrl-C, SIGTERM or SIGHUP ends the run (as KeyboardInterrupt or SystemExit, so that the
    ``finally`` blocks stop what was started); later ones are ignored, so the teardown runs to its end.
    The previous handlers come back on exit."""
    handled = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
    ending = []

    def end(signum: int, _frame: FrameType | None) -> None:
        """The handler: raise once, ignore afterwards."""
        if ending:
            return
        ending.append(signum)
        print("stopping: tearing everything the run started down", file=sys.stderr, flush=True)
        if signum == signal.SIGINT:
            raise KeyboardInterrupt
        raise SystemExit(128 + signum)

    previous = {sig: signal.signal(sig, end) for sig in handled}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


# ---------------------------------------------------------------- waiting


def wait_until(
    what: str,
    check: Callable[[], bool],
    timeout: float,
    process: subprocess.Popen[Any] | None = None,
    log_tail: Callable[[], str] | None = None,
) -> None:
    """Poll ``check`` until it holds; fail past ``timeout`` seconds, or at once when ``process`` exits
    (with ``log_tail()``, what it printed last, in the error)."""
    deadline = time.monotonic() + timeout
    while not check():
        tail = f":\n{log_tail()}" if log_tail is not None else ""
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"the process exited with {process.returncode} before {what}{tail}")
        if time.monotonic() > deadline:
            raise TimeoutError(f"not {what} within {timeout:.0f} s{tail}")
        time.sleep(0.2)


def accepts(address: str, port: int) -> bool:
    """Whether something accepts TCP connections on ``address:port``."""
    with contextlib.suppress(OSError), socket.create_connection((address, port), timeout=1):
        return True
    return False


def wait_for_port(port: int, process: subprocess.Popen[Any], timeout: float, host: str = "127.0.0.1") -> None:
    """Wait until something accepts connections on ``host:port``; fail if ``process`` exits."""
    wait_until(f"listening on port {port}", lambda: accepts(host, port), timeout, process)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def alive_workers(web_port: int, host: str = "127.0.0.1") -> int:
    """ALIVE workers according to the standalone master's JSON status (0 while it does not answer)."""
    import urllib.error
    import urllib.request

    try:
        with urllib.request.urlopen(f"http://{host}:{web_port}/json/", timeout=2) as response:
            state = json.load(response)
    except (OSError, urllib.error.URLError, ValueError):
        return 0
    return sum(worker.get("state") == "ALIVE" for worker in state.get("workers", []))


# ---------------------------------------------------------------- the environment


def worker_env() -> dict[str, str]:
    """This process's environment, with this interpreter for Spark's Python workers and drivers."""
    return {**os.environ, "PYSPARK_PYTHON": sys.executable, "PYSPARK_DRIVER_PYTHON": sys.executable}


def pyspark_home() -> Path:
    import pyspark

    return Path(pyspark.__file__).resolve().parent


def missing_modules(*modules: tuple[str, str]) -> str | None:
    """``(import name, pip name)`` pairs -> a reason naming the pip packages not installed, or None."""
    absent = []
    for module, package in modules:
        try:
            found = importlib.util.find_spec(module) is not None
        except (ImportError, ValueError):
            found = False
        if not found:
            absent.append(package)
    return f"not installed: {', '.join(absent)}" if absent else None


def jar_has_class(class_name: str) -> bool:
    """Whether a jar in PySpark's jars folder holds ``class_name``."""
    import zipfile

    entry = class_name.replace(".", "/") + ".class"
    for jar in (pyspark_home() / "jars").glob("*.jar"):
        with contextlib.suppress(OSError, zipfile.BadZipFile), zipfile.ZipFile(jar) as archive:
            if entry in archive.namelist():
                return True
    return False


def missing_connect() -> str | None:
    """Why Spark Connect cannot run here (its server class or its client's modules missing), or None."""
    if not jar_has_class(CONNECT_CLASS):
        return f"{CONNECT_CLASS} is not in PySpark's jars"
    return missing_modules(
        ("grpc", "grpcio"),
        ("grpc_status", "grpcio-status"),
        ("google.rpc", "googleapis-common-protos"),
        ("zstandard", "zstandard"),
        ("pandas", "pandas"),
    )


def machine_info() -> dict[str, Any]:
    """What the figures were measured on: CPU, cores, memory, kernel, and the versions that matter."""
    import platform
    from importlib import metadata

    cpu = "unknown"
    with contextlib.suppress(OSError):
        cpu = next(
            (
                line.split(":", 1)[1].strip()
                for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")
            ),
            cpu,
        )
    memory = None
    with contextlib.suppress(OSError, ValueError, StopIteration):
        memory = (
            int(
                next(
                    line
                    for line in Path("/proc/meminfo").read_text().splitlines()
                    if line.startswith("MemTotal:")
                ).split()[1]
            )
            * 1024
        )
    versions = {}
    for package in ("pyspark", "pyarrow", "adbc-driver-flightsql"):
        with contextlib.suppress(metadata.PackageNotFoundError):
            versions[package] = metadata.version(package)
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "memory_bytes": memory,
        "system": f"{platform.system()} {platform.release()}",
        "python": platform.python_version(),
        "versions": versions,
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
    }


# ---------------------------------------------------------------- measuring workers


def run_worker(*args: str, script: Path = WORKER) -> dict[str, Any]:
    """Run ``script`` (``bench_worker.py``) with ``args`` in its own process; its last stdout line is the JSON result."""
    result = run(
        [sys.executable, "-W", "ignore::Warning", str(script), *args],
        timeout=WORKER_TIMEOUT,
        cwd=ROOT,
        env=worker_env(),
    )
    lines = result.stdout.strip().splitlines()
    if result.returncode != 0 or not lines:
        raise RuntimeError(f"worker {args[0]} exited {result.returncode}: {failure_reason(result.stderr)}")
    return json.loads(lines[-1])


def failure_reason(stderr: str) -> str:
    """The line of a worker's error output that says what went wrong: the deepest Java ``Caused by``, else
    the last line naming an exception or error, else the output's end."""
    lines = [line.strip() for line in stderr.splitlines() if line.strip()]
    causes = [line for line in lines if line.startswith("Caused by:")]
    named = [line for line in lines if "Exception:" in line or "Error:" in line]
    return (causes or named or ["\n".join(lines[-5:])])[-1][:1500]


# ---------------------------------------------------------------- figures


class Throughput:
    """Rates of a measurement with ``rows``, ``seconds`` and ``bytes`` (None unless measured)."""

    rows: int
    seconds: float | None
    bytes: int | None

    @property
    def rows_per_second(self) -> float | None:
        """Rows per second."""
        return None if not self.seconds else self.rows / self.seconds

    @property
    def mb_per_second(self) -> float | None:
        """Arrow megabytes per second."""
        return None if not self.seconds or self.bytes is None else self.bytes / 1e6 / self.seconds


def median(values: list[float | None]) -> float | None:
    present = [v for v in values if v is not None]
    return statistics.median(present) if present else None


def mb(size: int | None) -> str:
    return "-" if size is None else f"{size / 1e6:,.0f}"


def read_json(path: Path) -> Any:
    """The file's JSON, or None when it does not exist."""
    return json.loads(path.read_text()) if path.exists() else None
