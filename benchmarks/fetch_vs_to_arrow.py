"""Fetch one large result with ADBC through one node and through a two-node cluster, beside ``df.toArrow()``.

Everything runs on this machine in one run, each path in its own processes with the same Spark
settings: one node; two nodes coordinated by a real ZooKeeper (the query enters through node-1 and
ADBC reads both nodes' endpoints concurrently); and ``df.toArrow()`` in a plain PySpark process.
The script prints the medians, each node's peak memory, and the ratios. Usage:

    python benchmarks/fetch_vs_to_arrow.py [--rows 10000000] [--runs 3] [--nodes {1,2,both}]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from bench_common import MASTER, SPARK_CONF, WORKER_TIMEOUT, run, signals_end_the_run
from bench_node import NodeProcess, start_node, wait_for_members

ONE_NODE = "ADBC through one node"
TWO_NODES = "ADBC through two nodes (ZooKeeper, both endpoints)"
TO_ARROW_PATH = "in-process df.toArrow()"


@dataclass
class Timing:
    """Medians of one path's timed runs (the warm-up run excluded)."""

    seconds: float
    bytes: int
    first_batch: float | None = None


@dataclass
class NodeMemory:
    """One node's peaks after the runs: its Python process, its Spark JVM, and its result buffers."""

    node: str
    python_rss: int | None
    jvm_rss: int | None
    buffered: int | None


def query(rows: int) -> str:
    return f"SELECT id, CAST(id AS DOUBLE) AS d, CAST(id AS STRING) AS s FROM range({rows})"


def spark_conf_args(extra: dict[str, str] | None = None) -> list[str]:
    """``--conf key=value`` arguments for ``SPARK_CONF`` plus ``extra``."""
    return [
        arg for key, value in {**SPARK_CONF, **(extra or {})}.items() for arg in ("--conf", f"{key}={value}")
    ]


@contextlib.contextmanager
def running_node(extra: dict[str, str] | None = None, master: str | None = None) -> Iterator[NodeProcess]:
    """A node (no demo data) with the benchmark's Spark settings (on ``master``, else local), stopped on exit."""
    server = start_node(*spark_conf_args(extra), master=master or MASTER)
    try:
        yield server
    finally:
        server.stop()


def fetch_adbc(location: str, rows: int, runs: int) -> Timing:
    """Run the query through the node at ``location`` with ADBC: a warm-up run, then the median of ``runs``.

    ``fetch_record_batch()`` streams, so the time to the first batch is measured too; ADBC reads
    every endpoint of the FlightInfo concurrently.
    """
    import adbc_driver_flightsql.dbapi as flight_sql

    times, firsts, size = [], [], 0
    with flight_sql.connect(location, autocommit=True) as conn:
        for run in range(runs + 1):
            with conn.cursor() as cursor:
                start = time.perf_counter()
                cursor.execute(query(rows))
                reader = cursor.fetch_record_batch()
                batches = [reader.read_next_batch()]
                first = time.perf_counter() - start
                batches.extend(reader)
                elapsed = time.perf_counter() - start
            count = sum(b.num_rows for b in batches)
            assert count == rows, f"expected {rows} rows, got {count}"
            size = sum(b.nbytes for b in batches)
            if run:  # the first run warms up
                times.append(elapsed)
                firsts.append(first)
    return Timing(statistics.median(times), size, statistics.median(firsts))


def node_stats(location: str) -> dict[str, object]:
    """The node's ``NodeStats`` action: its result buffers and peak memory, as JSON."""
    import pyarrow.flight as flight

    with flight.FlightClient(location) as client:
        (result,) = client.do_action(flight.Action("NodeStats", b""))
        return json.loads(result.body.to_pybytes())


def jvm_peak_rss(server_pid: int) -> int | None:
    """VmHWM (peak resident memory) of the java process the node started, or None if none is found."""
    for children in Path(f"/proc/{server_pid}/task").glob("*/children"):
        for pid in children.read_text().split():
            try:
                if Path(f"/proc/{pid}/comm").read_text().strip() != "java":
                    continue
                status = Path(f"/proc/{pid}/status").read_text()
            except OSError:
                continue
            for line in status.splitlines():
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
    return None


def node_memory(name: str, server: NodeProcess) -> NodeMemory:
    """Read a running node's peaks (call it after the runs, before stopping the node)."""
    stats = node_stats(server.location)
    return NodeMemory(
        name, stats.get("peak_rss_bytes"), jvm_peak_rss(server.process.pid), stats.get("peak_buffered_bytes")
    )


def measure_one_node(rows: int, runs: int) -> tuple[Timing, list[NodeMemory]]:
    """The query through a single node (the local FlightManager)."""
    with running_node() as server:
        timing = fetch_adbc(server.location, rows, runs)
        return timing, [node_memory("one node", server)]


def measure_two_nodes(rows: int, runs: int) -> tuple[Timing, list[NodeMemory]]:
    """The query through node-1 of a two-node cluster on a real ZooKeeper; ADBC reads both nodes."""
    from spark_flight_sql.flightsql.devtools.zookeeper import EmbeddedZooKeeper

    with tempfile.TemporaryDirectory(prefix="bench-zookeeper-") as data, contextlib.ExitStack() as stack:
        zookeeper = stack.enter_context(EmbeddedZooKeeper(data))
        names = ("node-1", "node-2")
        # Entered after ZooKeeper, so the nodes stop (and leave the cluster) before it does.
        nodes = [
            stack.enter_context(
                running_node(
                    {
                        "spark.flight.manager": "zookeeper",
                        "spark.flight.manager.zookeeper.url": zookeeper.url,
                        "spark.flight.node.id": name,
                    }
                )
            )
            for name in names
        ]
        wait_for_members(zookeeper.url, len(nodes))
        timing = fetch_adbc(nodes[0].location, rows, runs)
        return timing, [node_memory(f"two nodes: {name}", node) for name, node in zip(names, nodes)]


TO_ARROW = """
import json, statistics, sys, time
from pyspark.sql import SparkSession
rows, runs, conf = int(sys.argv[1]), int(sys.argv[2]), json.loads(sys.argv[3])
builder = SparkSession.builder.master(sys.argv[4])
for key, value in conf.items():
    builder = builder.config(key, value)
spark = builder.getOrCreate()
times = []
for run in range(runs + 1):
    start = time.perf_counter()
    table = spark.sql(sys.argv[5]).toArrow()
    elapsed = time.perf_counter() - start
    assert table.num_rows == rows
    if run:
        times.append(elapsed)
print(json.dumps({"seconds": statistics.median(times), "bytes": table.nbytes}))
spark.stop()
"""


def measure_to_arrow(rows: int, runs: int) -> Timing:
    """``spark.sql(...).toArrow()`` in a plain PySpark process with the same settings."""
    result = run(
        [sys.executable, "-c", TO_ARROW, str(rows), str(runs), json.dumps(SPARK_CONF), MASTER, query(rows)],
        timeout=WORKER_TIMEOUT,
        env={**os.environ, "PYSPARK_PYTHON": sys.executable},
    )
    result.check_returncode()
    measured = json.loads(result.stdout.strip().splitlines()[-1])
    return Timing(measured["seconds"], measured["bytes"])


def mb(size: int | None) -> str:
    return "-" if size is None else f"{size / 1e6:,.1f} MB"


def print_report(rows: int, runs: int, timings: dict[str, Timing], memory: list[NodeMemory]) -> None:
    """The Markdown tables and the ratio lines."""
    size = next(iter(timings.values())).bytes
    print(f"{rows:,} rows ({size / 1e6:.0f} MB of Arrow), {MASTER}, median of {runs} runs after a warm-up")
    if TWO_NODES in timings:
        print(
            f"Both nodes run on this one machine ({os.cpu_count()} cores), each its own Spark application with "
            f"--master {MASTER}: node-1 runs the query's job and both nodes serve a share, all on the same "
            "cores, so the two-node row measures the cluster's data path, not a scale-out."
        )
    print()
    print("| path | seconds | rows/s | MB/s | first batch |")
    print("| --- | --- | --- | --- | --- |")
    for path, timing in timings.items():
        first = "-" if timing.first_batch is None else f"{timing.first_batch:.2f} s"
        print(
            f"| {path} | {timing.seconds:.2f} | {rows / timing.seconds:,.0f} | "
            f"{timing.bytes / 1e6 / timing.seconds:.0f} | {first} |"
        )
    print()
    print(
        "Peak memory per node after the runs (Python RSS from NodeStats, JVM RSS from VmHWM of the node's java):"
    )
    print()
    print("| node | Python RSS | JVM RSS | peak buffered |")
    print("| --- | --- | --- | --- |")
    for node in memory:
        print(f"| {node.node} | {mb(node.python_rss)} | {mb(node.jvm_rss)} | {mb(node.buffered)} |")
    print()
    for label, numerator, denominator in ratio_lines(timings):
        print(f"ratio ({label}): {timings[numerator].seconds / timings[denominator].seconds:.2f}")


def ratio_lines(timings: dict[str, Timing]) -> list[tuple[str, str, str]]:
    """(label, numerator path, denominator path) for each ratio the measured paths allow."""
    lines = []
    if ONE_NODE in timings:
        lines.append(("toArrow time / one-node time", TO_ARROW_PATH, ONE_NODE))
    if TWO_NODES in timings:
        lines.append(
            ("one-node time / two-node time", ONE_NODE, TWO_NODES)
            if ONE_NODE in timings
            else ("toArrow time / two-node time", TO_ARROW_PATH, TWO_NODES)
        )
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=10_000_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument(
        "--nodes",
        choices=("1", "2", "both"),
        default="both",
        help="measure one node, the two-node cluster, or both (default)",
    )
    args = parser.parse_args()
    with signals_end_the_run():  # SIGTERM stops the nodes and ZooKeeper on its way out
        measure_and_report(args)


def measure_and_report(args: argparse.Namespace) -> None:
    """Measure the chosen paths and print the report."""
    timings: dict[str, Timing] = {}
    memory: list[NodeMemory] = []
    for path, wanted, measure in ((ONE_NODE, "1", measure_one_node), (TWO_NODES, "2", measure_two_nodes)):
        if args.nodes in (wanted, "both"):
            timings[path], peaks = measure(args.rows, args.runs)
            memory.extend(peaks)
    timings[TO_ARROW_PATH] = measure_to_arrow(args.rows, args.runs)
    print_report(args.rows, args.runs, timings, memory)


if __name__ == "__main__":
    main()
