"""Classifying statements with Spark's parser, without running them; prepared statement handles."""

from __future__ import annotations

import pyarrow as pa
import pytest

from spark_flight_sql.flightsql.errors import InvalidArgument
from spark_flight_sql.flightsql.statements import PreparedStatement, StatementKind, classify

QUERY = StatementKind(is_command=False, returns_rows=True)
ROWS_COMMAND = StatementKind(is_command=True, returns_rows=True)
UPDATE = StatementKind(is_command=True, returns_rows=False)


@pytest.mark.parametrize(
    ("sql", "kind"),
    [
        ("SELECT 1", QUERY),
        ("WITH a AS (SELECT 1) SELECT * FROM a", QUERY),
        ("VALUES (1), (2)", QUERY),
        ("SHOW TABLES", ROWS_COMMAND),
        ("DESCRIBE TABLE t", ROWS_COMMAND),
        ("SET spark.sql.ansi.enabled", ROWS_COMMAND),
        ("EXPLAIN SELECT 1", ROWS_COMMAND),
        ("INSERT INTO t VALUES (1)", UPDATE),
        ("INSERT OVERWRITE t SELECT 1", UPDATE),
        ("CREATE TABLE x AS SELECT 1", UPDATE),
        ("DROP TABLE IF EXISTS x", UPDATE),
        ("DELETE FROM t WHERE a = 1", UPDATE),
        ("UPDATE t SET a = 1", UPDATE),
        ("MERGE INTO t USING s ON t.a = s.a WHEN MATCHED THEN DELETE", UPDATE),
        ("USE default", UPDATE),
        ("WITH c AS (SELECT 1 AS a) INSERT INTO t SELECT * FROM c", UPDATE),
        ("FROM s INSERT INTO t SELECT a", UPDATE),
        ("FROM s INSERT INTO t SELECT a INSERT INTO u SELECT b", UPDATE),
        ("EXECUTE IMMEDIATE 'INSERT INTO t VALUES (1)'", ROWS_COMMAND),
        ("BEGIN SELECT 1; END", ROWS_COMMAND),
        ("(SELECT 1) UNION (SELECT 2)", QUERY),
    ],
)
def test_classify_without_running(spark, sql: str, kind: StatementKind) -> None:
    # None of the tables exist: classifying only parses.
    assert classify(spark, sql) == kind


def test_classify_rejects_bad_sql(spark) -> None:
    from pyspark.errors import ParseException

    with pytest.raises(ParseException):
        classify(spark, "SELEC 1")
    with pytest.raises(InvalidArgument, match="empty"):
        classify(spark, "   ")


def test_prepared_statement_handle_round_trip_and_forgery() -> None:
    statement = PreparedStatement("SELECT 'ü' AS x")
    assert PreparedStatement.decode(statement.encode()) == statement
    for forged in (b"", b"{}", b'{"v": 99, "sql": "x"}', b'{"v": 1, "sql": 5}', b"\x80"):
        with pytest.raises(InvalidArgument):
            PreparedStatement.decode(forged)


def test_a_statement_runs_once_per_row_for_at_most_a_thousand_rows() -> None:
    from spark_flight_sql.flightsql.errors import InvalidArgument
    from spark_flight_sql.flightsql.statements import MAX_PARAMETER_ROWS, PreparedStatement

    statement = PreparedStatement("SELECT ? AS x")
    assert (
        statement.bind(pa.table({"x": list(range(MAX_PARAMETER_ROWS))})).parameters.num_rows
        == MAX_PARAMETER_ROWS
    )
    with pytest.raises(InvalidArgument, match="bulk ingest"):
        statement.bind(pa.table({"x": list(range(MAX_PARAMETER_ROWS + 1))}))
