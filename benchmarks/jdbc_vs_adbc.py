"""The Arrow Flight SQL JDBC driver beside ADBC on one two-node result: read time of ``range(N)`` through
every endpoint, with the driver's default single reader thread and with four, in alternating rounds.

    .venv/bin/python benchmarks/jdbc_vs_adbc.py [--rows 10000000] [--rounds 3]

Needs ``make jdbc`` (the driver jar and the compiled ``tests/clients/jdbc/JdbcProbe``). Starts an embedded
ZooKeeper and two nodes (``local[2]`` each) on free ports, checks every read got every row once (count,
sum, distinct ids), and prints each round's seconds, the medians and the ratios to ADBC's median. JDBC's
time is the read inside its JVM (executeQuery to the last row), ADBC's from execute to the last batch:
neither counts starting the client or connecting.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench_common import ROOT
from bench_node import start_nodes, wait_for_members

JDBC = ROOT / "tests" / "clients" / "jdbc"
JVM_OPTIONS = ("--add-opens=java.base/java.nio=ALL-UNNAMED", "-Xmx1g")
PATHS = ("adbc", "jdbc threadPoolSize=1", "jdbc threadPoolSize=4")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=10_000_000)
    parser.add_argument("--rounds", type=int, default=3)
    return parser.parse_args(argv)


def jdbc_command() -> list[str]:
    jars = sorted((JDBC / "lib").glob("flight-sql-jdbc-driver-*.jar"))
    if not jars or not (JDBC / "classes" / "JdbcProbe.class").exists():
        raise SystemExit("the JDBC driver or its probe is missing: run `make jdbc` first")
    classpath = os.pathsep.join([str(jars[-1]), str(JDBC / "classes")])
    return ["java", *JVM_OPTIONS, "-cp", classpath, "JdbcProbe"]


def read_jdbc(location: str, sql: str, threads: int) -> tuple[float, tuple[int, int, int]]:
    """Seconds the driver took to read ``sql``, and (count, sum, distinct ids)."""
    host_port = location.removeprefix("grpc://")
    url = f"jdbc:arrow-flight-sql://{host_port}?useEncryption=false&threadPoolSize={threads}"
    steps = [{"op": "connect", "url": url}, {"op": "count", "sql": sql}]
    done = subprocess.run(
        jdbc_command(),
        input="".join(json.dumps(step) + "\n" for step in steps),
        capture_output=True,
        text=True,
        check=True,
        timeout=3600,
    )
    answer = [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")][1]
    if "error" in answer:
        raise RuntimeError(f"the JDBC read failed: {answer}")
    return answer["ms"] / 1000, (answer["count"], answer["sum"], answer["distinct"])


def read_adbc(location: str, sql: str) -> tuple[float, tuple[int, int, int]]:
    """Seconds ADBC took to read ``sql`` (every endpoint, its own parallel reads), and the same check."""
    import adbc_driver_flightsql.dbapi
    import pyarrow.compute as pc

    with (
        adbc_driver_flightsql.dbapi.connect(location, autocommit=True) as connection,
        connection.cursor() as cursor,
    ):
        started = time.perf_counter()
        cursor.execute(sql)
        table = cursor.fetch_arrow_table()
        seconds = time.perf_counter() - started
    ids = table.column(0)
    return seconds, (table.num_rows, pc.sum(ids).as_py(), pc.count_distinct(ids).as_py())


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    jdbc_command()  # fail early without the driver
    from spark_flight_sql.flightsql.devtools.zookeeper import EmbeddedZooKeeper

    sql = f"SELECT id FROM range(0, {args.rows}, 1, 8)"
    expected = (args.rows, args.rows * (args.rows - 1) // 2, args.rows)
    times: dict[str, list[float]] = {path: [] for path in PATHS}
    with (
        tempfile.TemporaryDirectory(prefix="bench-jdbc-") as data,
        EmbeddedZooKeeper(Path(data)) as zookeeper,
    ):
        settings = [
            "--conf",
            "spark.flight.manager=zookeeper",
            "--conf",
            f"spark.flight.manager.zookeeper.url={zookeeper.url}",
            "--conf",
            "spark.driver.memory=2g",
        ]
        nodes = start_nodes(
            *([*settings, "--conf", f"spark.flight.node.id=node-{i}"] for i in (1, 2)), master="local[2]"
        )
        try:
            wait_for_members(zookeeper.url, 2)
            location = nodes[0].location
            read_adbc(location, "SELECT id FROM range(0, 100000, 1, 8)")  # warm both nodes up
            for round_number in range(1, args.rounds + 1):
                for path in PATHS:
                    if path == "adbc":
                        seconds, check = read_adbc(location, sql)
                    else:
                        seconds, check = read_jdbc(location, sql, int(path.rsplit("=", 1)[1]))
                    if check != expected:
                        raise RuntimeError(f"{path} read {check}, expected {expected}")
                    times[path].append(seconds)
                    print(f"round {round_number} {path}: {seconds:.2f} s", flush=True)
        finally:
            for node in reversed(nodes):
                node.stop()
    baseline = statistics.median(times["adbc"])
    print(f"\n{args.rows} rows, two nodes, medians of {args.rounds} rounds:")
    for path in PATHS:
        median = statistics.median(times[path])
        print(f"  {path:24} {median:7.2f} s  {median / baseline:5.2f} x ADBC")
    return 0


if __name__ == "__main__":
    sys.exit(main())
