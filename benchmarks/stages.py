"""Where one node's time goes: the data path of path (a) measured stage by stage, each stage adding one step.

1. ``floor``: executors make the Arrow batches in the JVM and drop them (path g).
2. ``python``: the batches also cross into the executors' Python workers, which drop them.
3. ``pushed``: the Python workers also push them, with the server's own push code
   (``spark_flight_sql.flightmanager.push.push_partition``), to a Flight server in another process that drops them.
4. ``served``: path (a): a node receives them, holds them, and streams them to an ADBC client.

Each stage is the median of ``--runs`` runs after a warm-up, all in one run on the same settings, so
the difference between two stages is what the added step costs. Usage:

    python benchmarks/stages.py [--rows 10M] [--runs 3] [--location grpc://host:port]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import fetch_paths
from bench_common import (
    DEFAULT_OUT,
    MASTER,
    SPARK_CONF,
    median,
    run_worker,
    signals_end_the_run,
    start,
    stop,
    worker_env,
)
from bench_data import parse_size, query
from bench_worker import floor_rdd, spark_session


def timed(run: Callable[[], object], runs: int) -> float:
    """The median seconds of ``runs`` runs of ``run`` after one warm-up run."""
    run()
    seconds = []
    for _ in range(runs):
        start = time.perf_counter()
        run()
        seconds.append(time.perf_counter() - start)
    return statistics.median(seconds)


def serve_discard() -> None:
    """A Flight server that reads every DoPut to its end, drops the batches, and answers as a node does."""
    import pyarrow as pa
    from pyarrow import flight

    class Discard(flight.FlightServerBase):
        def do_put(self, context: Any, descriptor: Any, reader: Any, writer: Any) -> None:
            rows = sum(chunk.data.num_rows for chunk in reader if chunk.data is not None)
            writer.write(pa.py_buffer(json.dumps({"rows": rows}).encode()))

    with Discard("grpc://127.0.0.1:0") as server:
        print(server.port, flush=True)
        server.serve()


@contextlib.contextmanager
def discard_server() -> Iterator[str]:
    """``serve_discard`` in a process of its own; yields its location."""
    process = start([sys.executable, __file__, "--serve-discard"], stdout=subprocess.PIPE, text=True)
    try:
        assert process.stdout is not None
        port = int(process.stdout.readline())
        yield f"grpc://127.0.0.1:{port}"
    finally:
        stop(process)


def python_stage(spark: Any, rows: int) -> Callable[[], object]:
    """Stage 2: the IPC messages reach the Python workers, which count their bytes."""
    from pyspark.rdd import RDD
    from pyspark.serializers import NoOpSerializer

    def run() -> object:
        batches = RDD(floor_rdd(spark, rows), spark.sparkContext, NoOpSerializer())
        return batches.mapPartitions(lambda messages: [sum(len(m) for m in messages)]).collect()

    return run


def pushed_stage(spark: Any, rows: int, location: str) -> Callable[[], object]:
    """Stage 3: the Python workers push each partition with the server's push code to ``location``."""
    import functools

    from pyspark.rdd import RDD
    from pyspark.serializers import NoOpSerializer

    from spark_flight_sql.flightmanager.push import PushNode, PushTarget, push_jvm_batches
    from spark_flight_sql.flightmanager.spark_job import arrow_schema

    schema = arrow_schema(spark.sql(query(rows)), jvm=True)
    target = PushTarget(
        query_id="stages",
        secret=b"-" * 32,
        schema_ipc=schema.serialize().to_pybytes(),
        nodes=(PushNode("discard", location, "-"),),
        max_message_bytes=4 * 1024 * 1024,
    )

    def run() -> object:
        batches = RDD(floor_rdd(spark, rows), spark.sparkContext, NoOpSerializer())
        pushed = batches.mapPartitionsWithIndex(functools.partial(push_jvm_batches, target)).collect()
        total = sum(int(row[3]) for row in pushed)
        if total != rows:
            raise AssertionError(f"pushed {total} rows, expected {rows}")
        return pushed

    return run


def measure(rows: int, runs: int, node: str | None = None) -> list[tuple[str, float]]:
    """Stages 1-3 in one PySpark process, then stage 4 (path a) in its own processes, or through the node
    already serving at the location ``node``."""
    stages: list[tuple[str, float]] = []
    os.environ.update(worker_env())  # Spark's Python workers run this interpreter
    spark = spark_session(MASTER, SPARK_CONF)
    try:
        stages.append(
            (
                "floor: Arrow batches made in the executors' JVM and dropped",
                timed(lambda: floor_rdd(spark, rows).count(), runs),
            )
        )
        stages.append(
            ("+ the batches cross into the executors' Python workers", timed(python_stage(spark, rows), runs))
        )
        with discard_server() as location:
            stages.append(
                (
                    "+ the Python workers push them (DoPut) to a server that drops them",
                    timed(pushed_stage(spark, rows, location), runs),
                )
            )
    finally:
        spark.stop()
    if node is None:
        served = fetch_paths.measure(fetch_paths.PATHS["a"], rows, runs).seconds
    else:
        served = median(
            run_worker("adbc", "--location", node, "--rows", str(rows), "--runs", str(runs))["seconds"]
        )
    if served is None:
        raise RuntimeError("path a did not run: no figures")
    stages.append(("+ a node holds them and streams them to an ADBC client (path a)", served))
    return stages


def markdown(stages: list[tuple[str, float]], rows: int, runs: int) -> str:
    total = stages[-1][1]
    lines = [
        f"Stages of one node's data path, {rows:,} rows, median of {runs} run(s) after a warm-up, "
        f"{MASTER} on this machine:",
        "",
        "| stage | seconds | added by this step | share of path a |",
        "| --- | --- | --- | --- |",
    ]
    previous = 0.0
    for name, seconds in stages:
        lines.append(
            f"| {name} | {seconds:.3f} | {seconds - previous:+.3f} | {(seconds - previous) / total:.0%} |"
        )
        previous = seconds
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=parse_size, default=10_000_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    parser.add_argument(
        "--location",
        help="stage 4 through the node already serving at this location (with its own settings, so a "
        "check that the stages run rather than a measurement) instead of a node of its own",
    )
    parser.add_argument("--serve-discard", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.serve_discard:
        serve_discard()
        return 0
    with signals_end_the_run():  # SIGTERM stops the discarding server and the node on its way out
        stages = measure(args.rows, args.runs, args.location)
    text = markdown(stages, args.rows, args.runs)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "stages.md").write_text(text)
    (args.out / "stages.json").write_text(
        json.dumps({"rows": args.rows, "runs": args.runs, "stages": stages})
    )
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
