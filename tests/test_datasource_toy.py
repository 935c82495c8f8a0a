"""The flightsql data source against a non-Spark Flight SQL server (tests/flightsql_toy_server.py)."""

from __future__ import annotations

from collections.abc import Iterator

import pyarrow as pa
import pytest
from flightsql_toy_server import ToyFlightSqlServer

from spark_flight_sql import datasource
from spark_flight_sql.flightsql.proto import FlightSql_pb2 as sql_pb2

ROWS = 1000
BATCH_ROWS = 7
_Definition = sql_pb2.CommandStatementIngest.TableDefinitionOptions


def items(rows: int = ROWS) -> pa.Table:
    return pa.table(
        {
            "id": pa.array(range(rows), pa.int64()),
            "name": [f"n{i}" if i % 10 else f"50%_{i}" for i in range(rows)],
            "score": pa.array([i / 4 for i in range(rows)], pa.float64()),
            "flag": [i % 3 == 0 for i in range(rows)],
            "note": [None if i % 5 == 0 else "it's" for i in range(rows)],
        }
    )


@pytest.fixture(scope="module")
def spark_ds(spark):
    datasource.register(spark)
    return spark


@pytest.fixture
def toy() -> Iterator[ToyFlightSqlServer]:
    with ToyFlightSqlServer({"items": items()}, endpoints=4, batch_rows=BATCH_ROWS) as server:
        yield server


def read(spark, server: ToyFlightSqlServer, **options: str):
    reader = spark.read.format("flightsql").option("uri", server.uri)
    for key, value in options.items():
        reader = reader.option(key, value)
    return reader.load()


def test_every_row_of_every_endpoint_and_batch_arrives_once(spark_ds, toy: ToyFlightSqlServer) -> None:
    df = read(spark_ds, toy, query="SELECT * FROM items")
    rows = df.collect()
    assert sorted(r.id for r in rows) == list(range(ROWS))
    # 4 data endpoints (no locations, reuse-connection, unreachable-then-good, good) and 1 empty.
    assert df.rdd.getNumPartitions() == 5
    # 250 rows per endpoint in batches of 7: only complete delivery of all 36 batches gives 1000.
    assert toy.calls.do_gets >= 5
    assert {r.note for r in rows} == {None, "it's"}


def test_the_schema_comes_from_the_prepared_statement_without_running_the_query(spark_ds, toy) -> None:
    df = read(spark_ds, toy, query="SELECT id, name, flag FROM items")
    assert [(f.name, f.dataType.simpleString()) for f in df.schema] == [
        ("id", "bigint"),
        ("name", "string"),
        ("flag", "boolean"),
    ]
    assert toy.calls.prepared == ["SELECT id, name, flag FROM items"]
    assert toy.calls.sql == []  # load() ran nothing; the action does
    assert df.count() == ROWS
    assert toy.calls.sql == ["SELECT id, name, flag FROM items"]


def test_an_empty_result_reads_as_no_rows(spark_ds, toy) -> None:
    assert read(spark_ds, toy, query="SELECT * FROM items WHERE id < 0").collect() == []


def test_pushed_filters_reach_the_server_as_quoted_sql(spark_ds, toy) -> None:
    spark_ds.conf.set(datasource.FILTER_PUSHDOWN_CONF, "true")
    try:
        df = read(spark_ds, toy, dbtable="items", pushdown="true")
        got = df.filter("id >= 100 AND name LIKE '50%' AND note = 'it''s' AND flag").collect()
    finally:
        spark_ds.conf.unset(datasource.FILTER_PUSHDOWN_CONF)
    expected = [
        r
        for r in items().to_pylist()
        if r["id"] >= 100 and r["name"].startswith("50") and r["note"] == "it's" and r["flag"]
    ]
    assert sorted(r.id for r in got) == [r["id"] for r in expected]
    sql = toy.calls.sql[-1]
    assert sql.startswith("SELECT * FROM items WHERE ")
    # The toy server has no SqlInfo: the standard double quote is used.
    for part in (
        '("id" >= 100)',
        "(\"name\" LIKE '50%' ESCAPE '!')",
        "(\"note\" = 'it''s')",
        '("flag" = TRUE)',
    ):
        assert part in sql


def test_a_literal_percent_is_escaped_in_like(spark_ds, toy) -> None:
    spark_ds.conf.set(datasource.FILTER_PUSHDOWN_CONF, "true")
    try:
        got = (
            read(spark_ds, toy, dbtable="items", pushdown="true")
            .filter("startswith(name, '50%_1')")
            .collect()
        )
    finally:
        spark_ds.conf.unset(datasource.FILTER_PUSHDOWN_CONF)
    assert sorted(r.id for r in got) == [
        r["id"] for r in items().to_pylist() if r["name"].startswith("50%_1")
    ]
    assert "LIKE '50!%!_1%' ESCAPE '!'" in toy.calls.sql[-1]


def test_without_the_pushdown_option_filters_stay_with_spark(spark_ds, toy) -> None:
    got = read(spark_ds, toy, dbtable="items").filter("id < 10").collect()
    assert sorted(r.id for r in got) == list(range(10))
    assert toy.calls.sql == ["SELECT * FROM items"]


def test_basic_auth_and_extra_headers_reach_every_call(spark_ds) -> None:
    with ToyFlightSqlServer({"items": items(50)}, username="alice", password="s3cret") as server:
        df = read(
            spark_ds,
            server,
            query="SELECT id FROM items",
            username="alice",
            password="s3cret",
            **{"header.x-tenant": "t1"},
        )
        assert df.count() == 50
        assert server.calls.do_gets >= 5
        assert all(h.get("x-tenant") == ["t1"] for h in server.calls.headers)


def test_a_bearer_token_is_sent(spark_ds) -> None:
    with ToyFlightSqlServer({"items": items(20)}, token="tok-1") as server:
        assert read(spark_ds, server, query="SELECT id FROM items", token="tok-1").count() == 20


def test_refused_authentication_names_the_server_and_the_cause(spark_ds) -> None:
    with ToyFlightSqlServer({"items": items(5)}, username="alice", password="s3cret") as server:
        with pytest.raises(
            Exception,
            match=r"cannot authenticate as 'alice' at grpc://127\.0\.0\.1:\d+: authentication refused",
        ) as caught:
            read(spark_ds, server, query="SELECT id FROM items", username="alice", password="wrong")
        assert server.uri in str(caught.value)


def test_an_unreachable_server_is_named(spark_ds) -> None:
    with pytest.raises(Exception, match=r"grpc://127\.0\.0\.1:1 failed: server unavailable"):
        spark_ds.read.format("flightsql").option("uri", "grpc://127.0.0.1:1").option(
            "query", "SELECT 1"
        ).load()


def test_bad_sql_names_the_statement_and_the_server_error(spark_ds, toy) -> None:
    with pytest.raises(
        Exception, match=r"preparing 'SELECT nope FROM items' at grpc://.*invalid SQL: no such column"
    ):
        read(spark_ds, toy, query="SELECT nope FROM items")


def test_a_schema_mismatch_names_the_endpoint_and_the_column(spark_ds, toy) -> None:
    df = (
        spark_ds.read.format("flightsql")
        .schema("id int, name string")
        .option("uri", toy.uri)
        .option("query", "SELECT name, id FROM items")
        .load()
    )
    with pytest.raises(Exception, match=r"endpoint \d of 5 at grpc://.*schema mismatch: column 'id'"):
        df.collect()


def test_options_are_checked_before_any_call(spark_ds, toy) -> None:
    with pytest.raises(Exception, match="exactly one of the options 'query' and 'dbtable'"):
        read(spark_ds, toy, query="SELECT 1", dbtable="items")


def test_write_appends_each_partition_and_overwrite_replaces_once(spark_ds, toy) -> None:
    df = spark_ds.range(0, 300, 1, 3).selectExpr("id", "concat('v', id) AS label")
    writer = df.write.format("flightsql").option("uri", toy.uri).option("table", "copy")
    writer.mode("append").save()
    writer.mode("append").save()
    assert toy.run("SELECT count(*) AS n, count(DISTINCT id) AS d FROM copy").to_pylist() == [
        {"n": 600, "d": 300}
    ]
    writer.mode("overwrite").save()
    back = read(spark_ds, toy, query="SELECT id, label FROM copy").collect()
    assert sorted((r.id, r.label) for r in back) == [(i, f"v{i}") for i in range(300)]
    replaces = [i for i in toy.calls.ingests if i[2] == _Definition.TABLE_EXISTS_OPTION_REPLACE]
    assert replaces == [
        ("copy", _Definition.TABLE_NOT_EXIST_OPTION_CREATE, _Definition.TABLE_EXISTS_OPTION_REPLACE, 0)
    ]
    appends = [i for i in toy.calls.ingests if i[1] == _Definition.TABLE_NOT_EXIST_OPTION_FAIL]
    assert len(appends) == 9 and sum(i[3] for i in appends) == 900  # one upload per task, 3 tasks x 3 writes


def test_a_write_to_a_refusing_server_names_the_table(spark_ds) -> None:
    with ToyFlightSqlServer(username="alice", password="s3cret") as server:
        with pytest.raises(Exception, match="cannot authenticate as 'alice'"):
            spark_ds.range(3).write.format("flightsql").option("uri", server.uri).option("table", "t").option(
                "username", "alice"
            ).option("password", "no").mode("append").save()


def test_a_second_action_reads_the_same_tickets_without_running_the_query_again(spark_ds, toy) -> None:
    df = read(spark_ds, toy, query="SELECT id FROM items")
    assert df.count() == ROWS and df.count() == ROWS
    assert toy.calls.sql == ["SELECT id FROM items"]
    assert toy.calls.do_gets == 10


def test_spark_reuses_a_pushed_down_plan_for_an_unfiltered_action(spark_ds, toy) -> None:
    """Why pushdown is opt-in: PySpark 4.3 keeps the filtered read for the unfiltered DataFrame.

    If this starts failing, Spark fixed its plan cache and pushdown could become the default.
    """
    spark_ds.conf.set(datasource.FILTER_PUSHDOWN_CONF, "true")
    try:
        df = read(spark_ds, toy, dbtable="items", pushdown="true")
        assert df.filter("id < 10").count() == 10
        assert df.count() == 10  # not ROWS: the WHERE clause of the filtered plan was reused
    finally:
        spark_ds.conf.unset(datasource.FILTER_PUSHDOWN_CONF)
