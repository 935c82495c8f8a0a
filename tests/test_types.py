"""Every Spark SQL type reaches an ADBC client as its natural Arrow type, with its values."""

from __future__ import annotations

import datetime as dt
import decimal
import zoneinfo

import pyarrow as pa
import pytest


def fetch(adbc, sql: str) -> pa.Table:
    with adbc.cursor() as cursor:
        cursor.execute(sql)
        return cursor.fetch_arrow_table()


SCALARS = [
    ("CAST(-7 AS TINYINT)", "TINYINT", pa.int8(), -7),
    ("CAST(300 AS SMALLINT)", "SMALLINT", pa.int16(), 300),
    ("2147483647", "INT", pa.int32(), 2147483647),
    ("9223372036854775807L", "BIGINT", pa.int64(), 9223372036854775807),
    ("CAST(1.5 AS FLOAT)", "FLOAT", pa.float32(), 1.5),
    ("CAST('NaN' AS DOUBLE)", "DOUBLE", pa.float64(), "NaN"),
    ("CAST(123.45 AS DECIMAL(5, 2))", "DECIMAL(5, 2)", pa.decimal128(5, 2), decimal.Decimal("123.45")),
    (
        "99999999999999999999999999999999999999BD",
        "DECIMAL(38, 0)",
        pa.decimal128(38, 0),
        decimal.Decimal("9" * 38),
    ),
    ("'grüße, 世界'", "STRING", pa.string(), "grüße, 世界"),
    ("X'00FF10'", "BINARY", pa.binary(), b"\x00\xff\x10"),
    ("true", "BOOLEAN", pa.bool_(), True),
    ("DATE'1900-02-28'", "DATE", pa.date32(), dt.date(1900, 2, 28)),
    (
        "TIMESTAMP'2024-02-29 23:59:59.123456'",
        "TIMESTAMP",
        pa.timestamp("us", tz="UTC"),
        dt.datetime(2024, 2, 29, 23, 59, 59, 123456, tzinfo=zoneinfo.ZoneInfo("UTC")),
    ),
    (
        "TIMESTAMP_NTZ'1970-01-01 00:00:01'",
        "TIMESTAMP_NTZ",
        pa.timestamp("us"),
        dt.datetime(1970, 1, 1, 0, 0, 1),
    ),
    (
        "INTERVAL '1 02:03:04.5' DAY TO SECOND",
        "INTERVAL DAY TO SECOND",
        pa.duration("us"),
        dt.timedelta(days=1, seconds=7384, microseconds=500000),
    ),
]


@pytest.mark.parametrize(
    ("expression", "spark_type", "arrow_type", "value"), SCALARS, ids=[s[1] for s in SCALARS]
)
def test_scalar_types(adbc, expression: str, spark_type: str, arrow_type: pa.DataType, value: object) -> None:
    table = fetch(adbc, f"SELECT {expression} AS v, CAST(NULL AS {spark_type}) AS n")
    assert table.schema.field("v").type == arrow_type
    assert table.schema.field("n").type == arrow_type
    assert table.schema.field("n").nullable
    got = table.column("v")[0].as_py()
    if value == "NaN":
        assert got != got
    else:
        assert got == value
    assert table.column("n")[0].as_py() is None


def test_year_month_interval_is_arrow_interval_months(adbc) -> None:
    table = fetch(adbc, "SELECT INTERVAL '1-2' YEAR TO MONTH AS ym")
    assert str(table.schema.field("ym").type) == "month_interval"
    # pyarrow has no Python array class for month intervals: read the value as the int32 it is.
    batch = table.to_batches()[0]
    as_int = pa.ipc.read_record_batch(batch.serialize(), pa.schema([pa.field("ym", pa.int32())]))
    assert as_int.column(0).to_pylist() == [14]


def test_nested_types_with_nulls_everywhere(adbc) -> None:
    table = fetch(
        adbc,
        """
        SELECT array(1, NULL, 3) AS arr,
               map('a', array(1), 'b', CAST(NULL AS ARRAY<INT>)) AS m,
               named_struct('x', 1, 'y', named_struct('z', CAST(NULL AS STRING))) AS s,
               array(named_struct('k', map(1, 'one'))) AS deep,
               CAST(NULL AS ARRAY<STRUCT<a: INT>>) AS nothing
        """,
    )
    assert table.schema.field("arr").type == pa.list_(pa.field("element", pa.int32()))
    assert pa.types.is_map(table.schema.field("m").type)
    assert table.schema.field("s").type.field("y").type.field("z").nullable
    row = table.to_pylist()[0]
    assert row == {
        "arr": [1, None, 3],
        "m": [("a", [1]), ("b", None)],
        "s": {"x": 1, "y": {"z": None}},
        "deep": [{"k": [(1, "one")]}],
        "nothing": None,
    }


def test_calendar_interval_and_null_type(adbc) -> None:
    table = fetch(adbc, "SELECT make_interval(1, 2, 0, 3, 4, 5, 6.5) AS ci, NULL AS n")
    assert table.schema.field("ci").type == pa.month_day_nano_interval()
    value = table.column("ci")[0].as_py()
    assert (value.months, value.days) == (14, 3)
    assert value.nanoseconds == ((4 * 60 + 5) * 60 + 6.5) * 1_000_000_000
    assert table.schema.field("n").type == pa.null()


def test_duplicate_column_names_are_kept(adbc) -> None:
    table = fetch(adbc, "SELECT 1 AS a, 2 AS a")
    assert table.schema.names == ["a", "a"]
    assert [c[0].as_py() for c in table.columns] == [1, 2]


def test_session_time_zone_shapes_timestamps(adbc) -> None:
    table = fetch(adbc, "SELECT current_timestamp() AS now")
    assert table.schema.field("now").type == pa.timestamp("us", tz="UTC")


def test_wide_rows_stay_under_the_message_limit(server) -> None:
    """10,000 rows of 5 KB are 50 MB in one Spark batch; every IPC message must stay far below 16 MiB."""
    import pyarrow.flight as flight

    from spark_flight_sql.flightsql.proto import FlightSql_pb2 as sql_pb2
    from spark_flight_sql.flightsql.protocol import pack_command

    command = pack_command(
        sql_pb2.CommandStatementQuery(query="SELECT id, repeat('x', 5000) AS wide FROM range(10000)")
    )
    with flight.FlightClient(server.location) as client:
        info = client.get_flight_info(flight.FlightDescriptor.for_command(command))
        reader = client.do_get(info.endpoints[0].ticket)
        sizes = []
        rows = 0
        for chunk in reader:
            sizes.append(chunk.data.nbytes)
            rows += chunk.data.num_rows
    assert rows == 10_000
    assert max(sizes) <= 4 * 1024 * 1024
    assert len(sizes) >= 12
