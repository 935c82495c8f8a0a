"""``spark-flight-sql zookeeper``: a real ZooKeeper server in the foreground, for development."""

from __future__ import annotations

import signal
import sys
import threading
from pathlib import Path
from types import FrameType

from spark_flight_sql.flightsql.devtools.java import JavaNotFoundError, check_java
from spark_flight_sql.flightsql.devtools.zookeeper import EmbeddedZooKeeper, ZooKeeperStartError
from spark_flight_sql.flightsql.lifetime import wait_interruptibly


def run_zookeeper(port: int, data_dir: str | Path, host: str = "127.0.0.1") -> int:
    """Serve ZooKeeper until SIGINT or SIGTERM, or until the JVM dies; returns the process exit code."""
    try:
        check_java()
    except JavaNotFoundError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}
    server = EmbeddedZooKeeper(data_dir, port=port, host=host)
    try:
        try:
            server.start()
        except ZooKeeperStartError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 1
        exit_code: list[int | None] = []

        def watch() -> None:  # a JVM that dies on its own ends the command too
            exit_code.append(server.wait())
            stop.set()

        watcher = threading.Thread(target=watch, name="zookeeper-watcher", daemon=True)
        watcher.start()
        print(f"spark-flight-sql: ZooKeeper serving on {server.host}:{server.port}", flush=True)
        wait_interruptibly(stop)
        died = bool(exit_code)
    finally:
        server.stop()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    watcher.join(timeout=10)
    if died:
        print(
            f"error: ZooKeeper exited unexpectedly (code {exit_code[0]}); see {server.log_file}",
            file=sys.stderr,
        )
        return 1
    print("spark-flight-sql: ZooKeeper stopped", flush=True)
    return 0
