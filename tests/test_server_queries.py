"""Queries through real clients against a real node process: ADBC DBAPI, pandas, polars."""

from __future__ import annotations

import pyarrow as pa
import pytest


def test_demo_tables_answer_a_star_join(adbc) -> None:
    with adbc.cursor() as cursor:
        cursor.execute(
            """
            SELECT c.country, p.category, sum(s.quantity) AS units
            FROM demo.sales s
            JOIN demo.customers c ON s.customer_id = c.customer_id
            JOIN demo.products p ON s.product_id = p.product_id
            GROUP BY c.country, p.category
            ORDER BY c.country, p.category
            """
        )
        rows = cursor.fetchall()
    assert len(rows) == 5 * 4
    assert rows[0][:2] == ("BR", "books")
    assert sum(units for _, _, units in rows) == sum(1 + i % 9 for i in range(100_000))


def test_fetch_arrow_table_keeps_order_and_types(adbc) -> None:
    with adbc.cursor() as cursor:
        cursor.execute(
            "SELECT id, id * 2 AS twice, CAST(id AS STRING) AS text FROM range(0, 50000, 1, 7) ORDER BY id DESC"
        )
        table = cursor.fetch_arrow_table()
    assert table.schema == pa.schema(
        [
            pa.field("id", pa.int64(), False),
            pa.field("twice", pa.int64(), False),
            pa.field("text", pa.string(), False),
        ]
    )
    assert table.column("id").to_pylist() == list(range(49_999, -1, -1))
    assert table.column("text")[123].as_py() == str(49_999 - 123)


def test_fetch_df_gives_pandas(adbc) -> None:
    with adbc.cursor() as cursor:
        cursor.execute(
            "SELECT product_id, price FROM demo.products WHERE product_id <= 3 ORDER BY product_id"
        )
        frame = cursor.fetch_df()
    assert list(frame.columns) == ["product_id", "price"]
    assert frame["product_id"].tolist() == [1, 2, 3]
    assert [str(p) for p in frame["price"]] == ["8.70", "12.40", "16.10"]


def test_polars_read_database(adbc) -> None:
    import polars as pl

    frame = pl.read_database("SELECT count(*) AS n, max(sale_id) AS top FROM demo.sales", connection=adbc)
    assert frame.to_dicts() == [{"n": 100_000, "top": 99_999}]


def test_empty_result_has_schema_and_no_rows(adbc) -> None:
    with adbc.cursor() as cursor:
        cursor.execute("SELECT sale_id, sold_at FROM demo.sales WHERE sale_id < 0")
        table = cursor.fetch_arrow_table()
    assert table.num_rows == 0
    assert table.schema.names == ["sale_id", "sold_at"]
    assert table.schema.field("sold_at").type == pa.timestamp("us", tz="UTC")


def test_one_million_rows_by_count_and_sum(adbc) -> None:
    with adbc.cursor() as cursor:
        cursor.execute("SELECT id, id % 7 AS bucket FROM range(1000000)")
        table = cursor.fetch_arrow_table()
    assert table.num_rows == 1_000_000
    assert pa.compute.sum(table.column("id")).as_py() == 999_999 * 1_000_000 // 2
    assert pa.compute.sum(table.column("bucket")).as_py() == sum(i % 7 for i in range(1_000_000))
    assert pa.compute.count_distinct(table.column("id")).as_py() == 1_000_000


def test_get_info_reports_the_server(adbc) -> None:
    info = adbc.adbc_get_info()
    assert info["vendor_name"] == "Spark Flight SQL"
    assert "Spark 4" in info["vendor_version"]
    assert info["vendor_arrow_version"] == pa.__version__


@pytest.mark.parametrize("statement", ["SHOW DATABASES", "DESCRIBE TABLE demo.products"])
def test_commands_that_return_rows(adbc, statement: str) -> None:
    with adbc.cursor() as cursor:
        cursor.execute(statement)
        rows = cursor.fetchall()
    assert rows
    flat = {value for row in rows for value in row}
    assert "demo" in flat or "product_id" in flat


def test_ddl_and_dml_through_prepared_updates(adbc) -> None:
    with adbc.cursor() as cursor:
        cursor.execute("CREATE TABLE default.ddl_probe (a INT, b STRING) USING parquet")
        cursor.execute("INSERT INTO default.ddl_probe VALUES (1, 'one'), (2, 'two')")
        cursor.execute("SELECT * FROM default.ddl_probe ORDER BY a")
        assert cursor.fetchall() == [(1, "one"), (2, "two")]
        cursor.execute("DROP TABLE default.ddl_probe")
        cursor.execute("SHOW TABLES IN default LIKE 'ddl_probe'")
        assert cursor.fetchall() == []


def test_concurrent_clients_each_get_their_own_result(server) -> None:
    """Eight clients at once, one of them failing: everyone else gets exactly their rows."""
    from concurrent.futures import ThreadPoolExecutor

    import adbc_driver_flightsql.dbapi

    def run(n: int) -> object:
        with adbc_driver_flightsql.dbapi.connect(server.location, autocommit=True) as connection:
            with connection.cursor() as cursor:
                if n == 3:
                    try:
                        cursor.execute("SELECT 1 / (id - 500) FROM range(1000)")
                        cursor.fetchall()
                    except Exception as exc:  # noqa: BLE001 - the failure is the point
                        return str(exc)
                    return "no error"
                cursor.execute(f"SELECT sum(id) AS total, count(*) AS n FROM range({n * 10000})")
                return cursor.fetchall()[0]

    with ThreadPoolExecutor(max_workers=8) as pool:
        results = list(pool.map(run, range(8)))
    for n, result in enumerate(results):
        if n == 3:
            assert "DIVIDE_BY_ZERO" in result
        else:
            rows = n * 10000
            assert result == ((rows * (rows - 1) // 2) if rows else None, rows)


@pytest.mark.slow
def test_ten_million_rows_arrive_exactly(adbc) -> None:
    with adbc.cursor() as cursor:
        cursor.execute("SELECT id FROM range(10000000)")
        table = cursor.fetch_arrow_table()
    ids = table.column("id")
    assert table.num_rows == 10_000_000
    assert pa.compute.sum(ids).as_py() == 9_999_999 * 10_000_000 // 2
    assert pa.compute.min_max(ids).as_py() == {"min": 0, "max": 9_999_999}
    assert pa.compute.count_distinct(ids).as_py() == 10_000_000
