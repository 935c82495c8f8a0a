"""A Spark job that reads from a Flight SQL server through the ``flightsql`` data source and writes back to it.

    python examples/spark_datasource.py [URI [TABLE]]   # default grpc://127.0.0.1:32010, default.sales_by_day

Reads a query (one Spark partition per endpoint, so one per node of our cluster), aggregates it in
this job's own local Spark, writes the result to ``TABLE`` on the server through bulk ingest, and
reads that table back.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as sf

from spark_flight_sql import datasource

DEFAULT_URI = "grpc://127.0.0.1:32010"
DEFAULT_TABLE = "default.sales_by_day"


def read(spark: SparkSession, uri: str, **options: str) -> DataFrame:
    """A fresh read (our server serves each ticket once, so load again for every action)."""
    return spark.read.format("flightsql").option("uri", uri).options(**options).load()


def main(argv: Sequence[str] = ()) -> int:
    """Read, aggregate, write back, read back; print what went each way."""
    uri = argv[0] if argv else DEFAULT_URI
    table = argv[1] if len(argv) > 1 else DEFAULT_TABLE
    os.environ["PYSPARK_PYTHON"] = sys.executable  # the executors' Python workers import `datasource`
    spark = (
        SparkSession.builder.master("local[2]")
        .config("spark.ui.enabled", "false")
        .config("spark.ui.showConsoleProgress", "false")
        .getOrCreate()
    )
    spark.sparkContext.setLogLevel("ERROR")
    try:
        datasource.register(spark)  # optional once this package is installed: PySpark finds the format
        sales = read(spark, uri, query="SELECT date, quantity FROM demo.sales")
        print(f"read: schema {sales.schema.simpleString()}")  # from the server, before the query runs
        by_day = sales.groupBy("date").agg(sf.sum("quantity").alias("units"))
        by_day.write.format("flightsql").option("uri", uri).option("table", table).mode("overwrite").save()
        back = (
            read(spark, uri, dbtable=table)
            .agg(sf.count("*").alias("days"), sf.sum("units").alias("units"))
            .first()
        )
        print(f"wrote {table}: {back.days} days, {back.units} units")
    finally:
        spark.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
