"""The flightsql data source against our own server: one node with demo data, and a two-node cluster."""

from __future__ import annotations

import datetime
import decimal
import uuid
from pathlib import Path

import pytest
from support.processes import COMMAND_TIMEOUT, run_command
from support.server import ServerProcess

from spark_flight_sql import datasource

CLUSTER_ROWS = 200_000


@pytest.fixture(scope="module")
def spark_ds(spark):
    datasource.register(spark)
    return spark


@pytest.fixture(scope="module")
def two_nodes(cluster_pair) -> list[ServerProcess]:
    """The session's two-node cluster (the conftest's: other modules use it too)."""
    return cluster_pair[1]


def load(spark, uri: str, **options: str):
    reader = spark.read.format("flightsql").option("uri", uri)
    for key, value in options.items():
        reader = reader.option(key, value)
    return reader.load()


def test_a_two_node_cluster_gives_two_partitions_and_every_row_once(spark_ds, two_nodes) -> None:
    from pyspark.sql import functions as sf

    sql = f"SELECT id, concat('v', id) AS label FROM range(0, {CLUSTER_ROWS}, 1, 4)"
    df = load(spark_ds, two_nodes[1].location, query=sql)
    # One action: our server serves each ticket once, and Spark reuses a loaded DataFrame's tickets.
    stats = (
        df.withColumn("p", sf.spark_partition_id())
        .agg(
            sf.count("*").alias("n"),
            sf.count_distinct("id").alias("ids"),
            sf.min("id").alias("low"),
            sf.max("id").alias("high"),
            sf.sum((sf.col("label") == sf.concat(sf.lit("v"), sf.col("id"))).cast("int")).alias("labels"),
            sf.count_distinct("p").alias("partitions"),
        )
        .collect()[0]
    )
    assert (stats.n, stats.ids, stats.low, stats.high) == (CLUSTER_ROWS, CLUSTER_ROWS, 0, CLUSTER_ROWS - 1)
    assert stats.labels == CLUSTER_ROWS
    assert stats.partitions == 2  # both endpoints delivered rows
    assert df.rdd.getNumPartitions() == 2  # one Spark partition per node's endpoint


def test_types_of_a_demo_table_come_through(spark_ds, server: ServerProcess) -> None:
    df = load(spark_ds, server.location, query="SELECT * FROM demo.products ORDER BY product_id LIMIT 3")
    assert [f.dataType.simpleString() for f in df.schema] == ["bigint", "string", "string", "decimal(10,2)"]
    first = df.collect()[0]
    assert (first.product_id, first.name, first.price) == (1, "Product 1", decimal.Decimal("8.70"))
    sales = load(
        spark_ds, server.location, query="SELECT date, sold_at FROM demo.sales WHERE sale_id = 0"
    ).collect()
    assert sales[0].date == datetime.date(2024, 1, 1)
    assert sales[0].sold_at == datetime.datetime(2024, 1, 1)  # the session and this process run in UTC


def test_pushdown_uses_the_servers_backtick_quote_and_filters_there(spark_ds, server: ServerProcess) -> None:
    spark_ds.conf.set(datasource.FILTER_PUSHDOWN_CONF, "true")
    try:
        df = load(spark_ds, server.location, dbtable="demo.customers", pushdown="true")
        got = df.filter("country = 'FR' AND customer_id < 30").select("customer_id").collect()
    finally:
        spark_ds.conf.unset(datasource.FILTER_PUSHDOWN_CONF)
    assert sorted(r.customer_id for r in got) == [i for i in range(1, 30) if i % 5 == 1]
    # Double quotes would make "country" a string literal in Spark SQL and match no row.


def test_write_then_read_back_round_trip(spark_ds, server: ServerProcess) -> None:
    table = f"default.ds_round_trip_{uuid.uuid4().hex[:8]}"
    df = spark_ds.range(0, 5000, 1, 3).selectExpr("id", "concat('v', id) AS label", "id * 0.5 AS half")
    writer = df.write.format("flightsql").option("uri", server.location).option("table", table)
    writer.mode("overwrite").save()
    writer.mode("append").save()
    back = load(spark_ds, server.location, query=f"SELECT id, label, half FROM {table}")
    assert back.count() == 10_000
    again = load(
        spark_ds, server.location, query=f"SELECT count(DISTINCT id) AS d, count(*) AS n FROM {table}"
    ).collect()
    assert (again[0].d, again[0].n) == (5000, 10_000)
    writer.mode("overwrite").save()
    rows = load(spark_ds, server.location, query=f"SELECT id, label, half FROM {table}").collect()
    assert sorted((r.id, r.label, float(r.half)) for r in rows) == [
        (i, f"v{i}", i * 0.5) for i in range(5000)
    ]


def test_appending_other_columns_fails_before_any_task_and_names_the_table(
    spark_ds, server: ServerProcess
) -> None:
    table = f"default.ds_mismatch_{uuid.uuid4().hex[:8]}"
    spark_ds.range(3).write.format("flightsql").option("uri", server.location).option("table", table).mode(
        "append"
    ).save()
    with pytest.raises(Exception, match=rf"cannot prepare table {table} at {server.location}") as caught:
        spark_ds.range(3).selectExpr("id AS other").write.format("flightsql").option(
            "uri", server.location
        ).option("table", table).mode("append").save()
    assert "other" in str(caught.value)


def test_bad_sql_surfaces_sparks_error_and_the_server(spark_ds, server: ServerProcess) -> None:
    with pytest.raises(Exception, match=rf"at {server.location} failed: .*no_such_table"):
        load(spark_ds, server.location, query="SELECT * FROM no_such_table")


def test_a_loaded_dataframe_runs_action_after_action_each_with_the_whole_result(
    spark_ds, two_nodes, tmp_path: Path
) -> None:
    from pyspark.sql import functions as sf

    sql = f"SELECT id, concat('v', id) AS label FROM range(0, {CLUSTER_ROWS}, 1, 4)"
    df = load(spark_ds, two_nodes[0].location, query=sql)
    expected_sum = CLUSTER_ROWS * (CLUSTER_ROWS - 1) // 2
    assert df.count() == CLUSTER_ROWS
    assert df.agg(sf.sum("id"), sf.count_distinct("id")).first() == (expected_sum, CLUSTER_ROWS)
    assert sorted(row.id for row in df.collect()) == list(range(CLUSTER_ROWS))
    assert len(df.limit(5).collect()) == 5  # what show() reads
    df.write.parquet(str(tmp_path / "copy"))
    copy = spark_ds.read.parquet(str(tmp_path / "copy"))
    assert copy.agg(sf.sum("id"), sf.count("*")).first() == (expected_sum, CLUSTER_ROWS)
    assert df.count() == CLUSTER_ROWS
    assert df.rdd.getNumPartitions() == 2  # the same two tickets, read every time


def test_without_keep_result_a_second_action_says_why_its_tickets_are_spent(
    spark_ds, server: ServerProcess
) -> None:
    df = load(spark_ds, server.location, query="SELECT id FROM range(0, 50000, 1, 4)", keep_result="false")
    assert df.count() == 50_000
    with pytest.raises(Exception, match=r"endpoint 1 of 1; tried grpc://.*leave the option keep_result on"):
        df.count()


def test_pyspark_finds_the_format_without_registering(server) -> None:
    """A fresh Spark application reads through format("flightsql") with no register() call."""
    import os
    import sys

    code = (
        "from pyspark.sql import SparkSession\n"
        "spark = SparkSession.builder.master('local[1]').config('spark.ui.enabled', 'false').getOrCreate()\n"
        f"df = spark.read.format('flightsql').option('uri', {server.location!r})"
        ".option('query', 'SELECT 41 + 1 AS answer').load()\n"
        "print('answer', df.collect()[0].answer)\n"
        "spark.stop()\n"
    )
    env = {**os.environ, "PYSPARK_PYTHON": sys.executable}
    result = run_command(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=COMMAND_TIMEOUT,
        env=env,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert "answer 42" in result.stdout
