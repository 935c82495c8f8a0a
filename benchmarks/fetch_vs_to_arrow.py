"""Fetch one large result through a node with ADBC, beside the same result through ``df.toArrow()``.

Both run on this machine in one run, each in its own processes with the same Spark settings, and
the script prints the medians and their ratio. Usage:

    python benchmarks/fetch_vs_to_arrow.py [--rows 10000000] [--runs 3]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

SPARK_CONF = {"spark.driver.memory": "6g", "spark.ui.enabled": "false", "spark.sql.session.timeZone": "UTC"}
MASTER = "local[2]"


def query(rows: int) -> str:
    return f"SELECT id, CAST(id AS DOUBLE) AS d, CAST(id AS STRING) AS s FROM range({rows})"


def measure_adbc(rows: int, runs: int) -> dict[str, object]:
    import adbc_driver_flightsql.dbapi as flight_sql

    from conftest import start_server

    conf = [arg for key, value in SPARK_CONF.items() for arg in ("--conf", f"{key}={value}")]
    server = start_server(*conf, demo=False)
    try:
        times, firsts, size = [], [], 0
        with flight_sql.connect(server.location, autocommit=True) as conn:
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
        return {"seconds": statistics.median(times), "first_batch": statistics.median(firsts), "bytes": size}
    finally:
        server.stop()


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


def measure_to_arrow(rows: int, runs: int) -> dict[str, object]:
    result = subprocess.run(
        [sys.executable, "-c", TO_ARROW, str(rows), str(runs), json.dumps(SPARK_CONF), MASTER, query(rows)],
        capture_output=True, text=True, check=True, env={**os.environ, "PYSPARK_PYTHON": sys.executable},
    )
    return json.loads(result.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=10_000_000)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    adbc = measure_adbc(args.rows, args.runs)
    to_arrow = measure_to_arrow(args.rows, args.runs)
    mb = adbc["bytes"] / 1e6
    print(f"{args.rows:,} rows ({mb:.0f} MB of Arrow), {MASTER}, median of {args.runs} runs after a warm-up")
    print(f"| path | seconds | rows/s | MB/s | first batch |")
    print(f"| --- | --- | --- | --- | --- |")
    print(f"| ADBC through one node | {adbc['seconds']:.2f} | {args.rows / adbc['seconds']:,.0f} | "
          f"{mb / adbc['seconds']:.0f} | {adbc['first_batch']:.2f} s |")
    print(f"| in-process df.toArrow() | {to_arrow['seconds']:.2f} | {args.rows / to_arrow['seconds']:,.0f} | "
          f"{to_arrow['bytes'] / 1e6 / to_arrow['seconds']:.0f} | - |")
    print(f"ratio (toArrow time / node time): {to_arrow['seconds'] / adbc['seconds']:.2f}")


if __name__ == "__main__":
    main()
