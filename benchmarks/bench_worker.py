"""The measuring side of each benchmark path, run as its own process by ``harness.py``.

Each sub-command runs the benchmark query a warm-up time plus ``--runs`` times and prints one JSON line:
``seconds`` and ``first_batch`` (lists over the timed runs), ``bytes`` (Arrow bytes of the result),
``rows``, and the peaks it can see (``python_peak``, ``jvm_peak``, ``client_peak``, bytes or null).

    python benchmarks/bench_worker.py spark --mode {to_arrow,floor} --rows N --runs R --conf JSON
    python benchmarks/bench_worker.py adbc --location grpc://host:port --rows N --runs R [--option KEY=VALUE]
    python benchmarks/bench_worker.py relay --location grpc://host:port --rows N --runs R
    python benchmarks/bench_worker.py connect --remote sc://host:port --rows N --runs R
    python benchmarks/bench_worker.py hive --port PORT --rows N --runs R
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench_data import COLUMNS, query

Fetch = Callable[[], tuple[int, int, float | None]]
"""One run: returns (rows, Arrow bytes, seconds to the first batch or None)."""


def peak_rss(pid: int | str = "self") -> int | None:
    """VmHWM (peak resident memory) of a process, in bytes, or None where unknown."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return None


def child_java_peak(pid: int | str = "self") -> int | None:
    """The largest VmHWM among the java processes that descend from ``pid`` (the Spark driver JVM)."""
    peaks, pending, seen = [], [str(pid)], set()
    while pending:
        current = pending.pop()
        for children in Path(f"/proc/{current}/task").glob("*/children"):
            try:
                kids = children.read_text().split()
            except OSError:
                continue
            for kid in kids:
                if kid in seen:
                    continue
                seen.add(kid)
                pending.append(kid)
                try:
                    if Path(f"/proc/{kid}/comm").read_text().strip() == "java":
                        peaks.append(peak_rss(kid))
                except OSError:
                    continue
    found = [peak for peak in peaks if peak is not None]
    return max(found) if found else None


def timed_run(fetch: Fetch, rows: int) -> tuple[float, float | None, int]:
    """One run of ``fetch``, checked to return all ``rows``: (seconds, first batch, Arrow bytes)."""
    start = time.perf_counter()
    count, size, first = fetch()
    elapsed = time.perf_counter() - start
    if count != rows:
        raise AssertionError(f"expected {rows} rows, got {count}")
    return elapsed, first, size


def timed_runs(fetch: Fetch, rows: int, runs: int) -> dict[str, Any]:
    """A warm-up run, then ``runs`` timed runs, each checked to return all ``rows``."""
    seconds, firsts, size = [], [], 0
    for run in range(runs + 1):
        elapsed, first, size = timed_run(fetch, rows)
        if run:
            seconds.append(elapsed)
            firsts.append(first)
    return {"rows": rows, "seconds": seconds, "first_batch": firsts, "bytes": size}


def spark_session(master: str, conf: dict[str, str]) -> Any:
    """A classic (JVM) SparkSession with the benchmark's settings."""
    from pyspark.sql import SparkSession

    builder = SparkSession.builder.master(master)
    for key, value in conf.items():
        builder = builder.config(key, value)
    return builder.getOrCreate()


def to_arrow_fetch(spark: Any, rows: int) -> Fetch:
    """Path (f): ``df.toArrow()`` in this process."""

    def fetch() -> tuple[int, int, float | None]:
        table = spark.sql(query(rows)).toArrow()
        return table.num_rows, table.nbytes, None

    return fetch


def floor_rdd(spark: Any, rows: int) -> Any:
    """The JVM RDD of Arrow IPC batches of the query (``Dataset.toArrowBatchRdd``), as the server makes it."""
    df = spark.sql(query(rows))
    conf = spark.conf
    time_zone = conf.get("spark.sql.session.timeZone") or "UTC"
    large = (conf.get("spark.sql.execution.arrow.useLargeVarTypes", "false") or "false").lower() == "true"
    max_records = int(conf.get("spark.sql.execution.arrow.maxRecordsPerBatch", "10000") or "10000")
    return df._jdf.toArrowBatchRdd(max_records, time_zone, False, large).toJavaRDD()


def floor_fetch(spark: Any, rows: int) -> Fetch:
    """Path (g): executors make the Arrow batches in the JVM and discard them (a count of batches).

    The rows are not counted by the timed job, so the bytes and rows come from one untimed pass that
    reads every batch's IPC message in Python (with the schema the server uses), made once and reused.
    """
    from pyspark.rdd import RDD
    from pyspark.serializers import NoOpSerializer

    sizes: dict[str, int] = {}

    def measure_once() -> None:
        import pyarrow as pa

        from spark_flight_sql.flightmanager.spark_job import arrow_schema

        schema = arrow_schema(spark.sql(query(rows)), jvm=True)
        batches = RDD(floor_rdd(spark, rows), spark.sparkContext, NoOpSerializer())

        def count(messages: Any) -> Any:
            total_rows = total_bytes = 0
            for message in messages:
                batch = pa.ipc.read_record_batch(pa.py_buffer(message), schema)
                total_rows += batch.num_rows
                total_bytes += batch.nbytes
            yield total_rows, total_bytes

        results = batches.mapPartitions(count).collect()
        sizes["rows"] = sum(r for r, _ in results)
        sizes["bytes"] = sum(b for _, b in results)

    def fetch() -> tuple[int, int, float | None]:
        floor_rdd(spark, rows).count()
        if not sizes:
            measure_once()
        return sizes["rows"], sizes["bytes"], None

    return fetch


COOKIES = {"adbc.flight.sql.rpc.with_cookie_middleware": "true"}
"""A Flight SQL session (its options) is the node's cookie: ADBC sends it back only when asked to."""
SESSION_OPTION = "adbc.flight.sql.session.option."


def adbc_runs(location: str, rows: int, runs: int, options: dict[str, str] | None = None) -> dict[str, Any]:
    """Paths (a), (b), (c): ADBC ``fetch_record_batch`` streaming every endpoint of the FlightInfo, in a
    session with ``options`` (session options: then ``endpoints`` is how many the session gets)."""
    import adbc_driver_flightsql.dbapi as flight_sql

    if not options:
        with flight_sql.connect(location, autocommit=True) as conn:
            return timed_runs(adbc_fetch(conn, rows), rows, runs)
    with flight_sql.connect(location, db_kwargs=dict(COOKIES), autocommit=True) as conn:
        conn.adbc_connection.set_options(**{SESSION_OPTION + key: value for key, value in options.items()})
        result = timed_runs(adbc_fetch(conn, rows), rows, runs)
        result["endpoints"] = len(endpoint_locations(conn, rows))
        return result


def adbc_fetch(conn: Any, rows: int) -> Fetch:
    """One ADBC ``fetch_record_batch`` run of the query on ``conn`` (every endpoint, concurrently)."""

    def fetch() -> tuple[int, int, float | None]:
        with conn.cursor() as cursor:
            start = time.perf_counter()
            cursor.execute(query(rows))
            reader = cursor.fetch_record_batch()
            count = size = 0
            first = None
            for batch in reader:
                if first is None:
                    first = time.perf_counter() - start
                count += batch.num_rows
                size += batch.nbytes
            return count, size, first

    return fetch


def endpoint_locations(conn: Any, rows: int) -> list[str]:
    """The locations of the query's endpoints as ``conn``'s session gets them (untimed; every endpoint
    is read, so the nodes release the result at once)."""
    from pyarrow import flight

    with conn.cursor() as cursor:
        partitions, _ = cursor.adbc_execute_partitions(query(rows))
        locations = []
        for partition in partitions:
            info = flight.FlightInfo.deserialize(partition)
            locations.extend(loc.uri.decode() for e in info.endpoints for loc in e.locations)
            cursor.adbc_read_partition(partition)
            cursor.fetch_arrow_table()
    return locations


def relay_runs(location: str, rows: int, runs: int) -> dict[str, Any]:
    """Path (j): the same ADBC client twice on the same nodes, side by side: every endpoint read where
    it points (the direct reads of path b), and every endpoint pointed at the node asked (the session
    option ``endpoints=proxy``: that node relays the other nodes' shares). A warm-up of each, then
    ``runs`` rounds of one run of each; ``seconds`` are the relayed runs', ``direct_seconds`` the direct
    ones'."""
    import adbc_driver_flightsql.dbapi as flight_sql

    with (
        flight_sql.connect(location, db_kwargs=dict(COOKIES), autocommit=True) as direct,
        flight_sql.connect(location, db_kwargs=dict(COOKIES), autocommit=True) as relayed,
    ):
        relayed.adbc_connection.set_options(**{SESSION_OPTION + "endpoints": "proxy"})
        pointed = endpoint_locations(relayed, rows)
        spread = endpoint_locations(direct, rows)
        if len(pointed) < 2 or set(pointed) != {location} or len(set(spread)) < 2:
            raise AssertionError(
                f"expected the relayed session's endpoints all at {location} and the direct ones spread "
                f"over the nodes; got {pointed} and {spread}"
            )
        fetches = {"direct": adbc_fetch(direct, rows), "relay": adbc_fetch(relayed, rows)}
        measured: dict[str, dict[str, Any]] = {name: timed_runs(f, rows, 0) for name, f in fetches.items()}
        for _ in range(runs):
            for name, fetch in fetches.items():  # one of each per round: both see the same machine
                elapsed, first, _ = timed_run(fetch, rows)
                measured[name]["seconds"].append(elapsed)
                measured[name]["first_batch"].append(first)
    result = measured["relay"]
    result["direct_seconds"] = measured["direct"]["seconds"]
    result["direct_first_batch"] = measured["direct"]["first_batch"]
    result["endpoints"] = len(pointed)
    return result


def connect_runs(remote: str, rows: int, runs: int) -> dict[str, Any]:
    """Path (d): Spark Connect ``toArrow()`` against a Spark Connect server."""
    from pyspark.sql import SparkSession

    spark = SparkSession.builder.remote(remote).getOrCreate()
    try:

        def fetch() -> tuple[int, int, float | None]:
            table = spark.sql(query(rows)).toArrow()
            return table.num_rows, table.nbytes, None

        return timed_runs(fetch, rows, runs)
    finally:
        spark.stop()


def hive_runs(port: int, rows: int, runs: int) -> dict[str, Any]:
    """Path (e): PyHive ``fetchall`` from the Spark Thrift Server; the Arrow bytes of the same rows are
    counted once, untimed, from the last run's rows converted with the query's Arrow schema."""
    import pyarrow as pa
    from pyhive import hive

    last: list[Any] = []
    with hive.connect(host="127.0.0.1", port=port, username="bench") as conn:

        def fetch() -> tuple[int, int, float | None]:
            cursor = conn.cursor()
            try:
                start = time.perf_counter()
                cursor.execute(query(rows))
                first_rows = cursor.fetchmany(1000)
                first = time.perf_counter() - start
                last[:] = [first_rows + cursor.fetchall()]
            finally:
                cursor.close()
            return len(last[0]), 0, first

        result = timed_runs(fetch, rows, runs)
        names = list(COLUMNS)
        columns = list(zip(*last[0])) if last[0] else [[] for _ in names]
        result["bytes"] = pa.table({n: pa.array(list(c)) for n, c in zip(names, columns)}).nbytes
        return result


def run_spark(args: argparse.Namespace) -> dict[str, Any]:
    """Paths (f) and (g), in a PySpark process of their own."""
    spark = spark_session(args.master, json.loads(args.conf))
    try:
        fetch = (to_arrow_fetch if args.mode == "to_arrow" else floor_fetch)(spark, args.rows)
        result = timed_runs(fetch, args.rows, args.runs)
        result["jvm_peak"] = child_java_peak()
    finally:
        spark.stop()
    result["python_peak"] = result["client_peak"] = peak_rss()
    return result


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    spark = commands.add_parser("spark")
    spark.add_argument("--mode", choices=("to_arrow", "floor"), required=True)
    spark.add_argument("--master", default="local[2]")
    spark.add_argument("--conf", default="{}")
    adbc = commands.add_parser("adbc")
    adbc.add_argument("--location", required=True)
    adbc.add_argument(
        "--option", action="append", default=[], metavar="KEY=VALUE", help="a session option (repeatable)"
    )
    relay = commands.add_parser("relay")
    relay.add_argument("--location", required=True)
    connect = commands.add_parser("connect")
    connect.add_argument("--remote", required=True)
    hive = commands.add_parser("hive")
    hive.add_argument("--port", type=int, required=True)
    for command in (spark, adbc, relay, connect, hive):
        command.add_argument("--rows", type=int, required=True)
        command.add_argument("--runs", type=int, default=3)
    args = parser.parse_args(argv)
    if args.command == "spark":
        result = run_spark(args)
    else:
        if args.command == "adbc":
            options = dict(option.split("=", 1) for option in args.option)
            result = adbc_runs(args.location, args.rows, args.runs, options)
        elif args.command == "relay":
            result = relay_runs(args.location, args.rows, args.runs)
        elif args.command == "connect":
            result = connect_runs(args.remote, args.rows, args.runs)
        else:
            result = hive_runs(args.port, args.rows, args.runs)
        result["client_peak"] = peak_rss()
    print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
