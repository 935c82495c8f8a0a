"""The flightsql data source's pure parts: options, filter SQL, type mapping, endpoint locations."""

from __future__ import annotations

import datetime
import decimal

import pyarrow as pa
import pyarrow.flight as flight
import pytest
from pyspark.sql import datasource as ds
from pyspark.sql.types import (
    BooleanType,
    DecimalType,
    LongType,
    StringType,
    StructField,
    StructType,
    TimestampNTZType,
    TimestampType,
)

from spark_flight_sql.datasource.client import REUSE_CONNECTION, endpoint_uris
from spark_flight_sql.datasource.filters import filter_sql, quote_identifier, where_clause
from spark_flight_sql.datasource.options import OptionError, parse_options
from spark_flight_sql.datasource.types import conform_batch, spark_arrow_schema, spark_schema
from spark_flight_sql.datasource.writer import table_parts

URI = "grpc://127.0.0.1:32010"


def test_options_are_parsed_case_insensitively_with_headers_and_timeouts() -> None:
    options = parse_options(
        {"URI": URI, "Query": "SELECT 1", "Header.X-Tenant": "a", "timeout": "2.5", "tls_skip_verify": "TRUE"}
    )
    assert options.uri == URI and options.query == "SELECT 1"
    assert options.headers == (("x-tenant", "a"),)
    assert options.timeout == 2.5 and options.tls_skip_verify is True
    assert options.pushdown is False


@pytest.mark.parametrize(
    ("given", "message"),
    [
        ({}, "'uri' is required"),
        ({"uri": "http://x:1"}, "grpc://"),
        ({"uri": URI, "username": "u"}, "go together"),
        ({"uri": URI, "username": "u", "password": "p", "token": "t"}, "not both"),
        ({"uri": URI, "timeout": "soon"}, "number of seconds"),
        ({"uri": URI, "pushdown": "maybe"}, "true or false"),
        ({"uri": URI, "tls_root_certs": "/nonexistent/ca.pem"}, "cannot read"),
    ],
)
def test_bad_options_say_what_is_wrong(given: dict[str, str], message: str) -> None:
    with pytest.raises(OptionError, match=message):
        parse_options(given)


def test_a_certificate_file_must_be_pem_text(tmp_path) -> None:
    der = tmp_path / "ca.der"
    der.write_bytes(b"0\x82\x01\xff")  # DER, not PEM
    with pytest.raises(OptionError, match="not a PEM file"):
        parse_options({"uri": URI, "tls_root_certs": str(der)})
    pem = tmp_path / "ca.pem"
    pem.write_bytes(b"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n")
    assert parse_options({"uri": URI, "tls_root_certs": str(pem)}).tls_root_certs == pem.read_bytes()


def test_a_password_and_token_stay_out_of_the_repr() -> None:
    options = parse_options({"uri": URI, "username": "u", "password": "secret-pw"})
    assert "secret-pw" not in repr(options)
    assert "secret-tok" not in repr(parse_options({"uri": URI, "token": "secret-tok"}))


@pytest.mark.parametrize(
    ("table", "parts"),
    [("t", (None, None, "t")), ("demo.t", (None, "demo", "t")), ("c.demo.t", ("c", "demo", "t"))],
)
def test_the_table_option_splits_into_catalog_schema_and_table(table: str, parts: tuple) -> None:
    assert table_parts(parse_options({"uri": URI, "table": table})) == parts


def test_an_explicit_schema_keeps_a_dotted_table_name_whole() -> None:
    assert table_parts(parse_options({"uri": URI, "table": "a.b", "db_schema": "s"})) == (None, "s", "a.b")


@pytest.mark.parametrize(
    ("item", "sql"),
    [
        (ds.EqualTo(("a",), 1), '"a" = 1'),
        (ds.GreaterThan(("a",), 1.5), '"a" > 1.5'),
        (ds.LessThanOrEqual(("a",), decimal.Decimal("1.10")), '"a" <= 1.10'),
        (ds.EqualTo(("b",), "it's"), "\"b\" = 'it''s'"),
        (ds.EqualTo(("c",), True), '"c" = TRUE'),
        (ds.EqualTo(("d",), datetime.date(2024, 2, 29)), "\"d\" = DATE '2024-02-29'"),
        (ds.In(("a",), (1, 2)), '"a" IN (1, 2)'),
        (ds.IsNull(("a",)), '"a" IS NULL'),
        (ds.Not(ds.IsNotNull(("a",))), 'NOT ("a" IS NOT NULL)'),
        (ds.EqualNullSafe(("a",), 3), '("a" IS NOT NULL AND "a" = 3)'),
        (ds.StringStartsWith(("s",), "50%_!"), "\"s\" LIKE '50!%!_!!%' ESCAPE '!'"),
        (ds.StringEndsWith(("s",), "x"), "\"s\" LIKE '%x' ESCAPE '!'"),
        (ds.StringContains(("s",), "o'k"), "\"s\" LIKE '%o''k%' ESCAPE '!'"),
        (ds.EqualTo(('we"ird',), 1), '"we""ird" = 1'),
    ],
)
def test_filters_become_quoted_sql(item: ds.Filter, sql: str) -> None:
    assert filter_sql(item) == sql


@pytest.mark.parametrize(
    "item",
    [
        ds.EqualTo(("a", "b"), 1),  # a nested field
        ds.EqualTo(("a",), "back\\slash"),  # dialects disagree on backslashes
        ds.EqualTo(("a",), float("nan")),
        ds.EqualTo(("a",), datetime.datetime(2024, 1, 1)),  # no zone on the wire
        ds.EqualTo(("a",), [1, 2]),
        ds.In(("a",), (1, None)),  # NULL in IN changes NOT IN's meaning
        ds.Not(ds.EqualTo(("a",), b"bytes")),
    ],
)
def test_filters_that_could_change_meaning_stay_with_spark(item: ds.Filter) -> None:
    assert filter_sql(item) is None


def test_the_where_clause_uses_the_servers_quote_and_skips_what_it_cannot_push() -> None:
    clause = where_clause([ds.EqualTo(("a`b",), 1), ds.EqualTo(("x", "y"), 2), ds.IsNull(("c",))], "`")
    assert clause == " WHERE (`a``b` = 1) AND (`c` IS NULL)"
    assert where_clause([], '"') == ""
    assert quote_identifier('a"b', '"') == '"a""b"'


def test_server_types_map_to_spark_types() -> None:
    schema = pa.schema(
        [
            pa.field("id", pa.uint32(), nullable=False),
            pa.field("big", pa.uint64()),
            pa.field("name", pa.large_string()),
            pa.field("flag", pa.dictionary(pa.int8(), pa.bool_())),
            pa.field("at", pa.timestamp("ns", "Europe/Paris")),
            pa.field("local", pa.timestamp("ms")),
        ]
    )
    assert spark_schema(schema) == StructType(
        [
            StructField("id", LongType(), False),
            StructField("big", DecimalType(20, 0)),
            StructField("name", StringType()),
            StructField("flag", BooleanType()),
            StructField("at", TimestampType()),
            StructField("local", TimestampNTZType()),
        ]
    )


def test_a_column_spark_cannot_hold_is_named() -> None:
    with pytest.raises(TypeError, match="'u'"):
        spark_schema(pa.schema([pa.field("u", pa.dense_union([pa.field("i", pa.int8())]))]))


def test_batches_are_conformed_to_the_exact_arrow_schema_spark_expects() -> None:
    source = pa.schema(
        [("id", pa.uint32()), ("name", pa.large_string()), ("at", pa.timestamp("ns", "Europe/Paris"))]
    )
    target = spark_arrow_schema(spark_schema(source))
    batch = pa.record_batch(
        [
            pa.array([1, 2], pa.uint32()),
            pa.array(["a", None], pa.large_string()),
            pa.array([1_000_001_999, None], source.field("at").type),
        ],
        schema=source,
    )
    conformed = conform_batch(batch, target)
    assert conformed.schema.equals(target)
    assert conformed.column(0).to_pylist() == [1, 2]
    assert conformed.column(2).cast(pa.int64()).to_pylist() == [1_000_001, None]  # ns truncated to us


def test_a_lossy_cast_fails_with_the_column_name() -> None:
    target = pa.schema([("n", pa.int32())])
    with pytest.raises(TypeError, match="'n'"):
        conform_batch(pa.record_batch([pa.array([2**40])], names=["n"]), target)


def test_endpoint_locations_fall_back_to_the_original_uri() -> None:
    ticket = flight.Ticket(b"t")
    assert endpoint_uris(flight.FlightEndpoint(ticket, []), URI) == [URI]
    assert endpoint_uris(flight.FlightEndpoint(ticket, [REUSE_CONNECTION]), URI) == [URI]
    other = "grpc://10.0.0.2:32010"
    assert endpoint_uris(flight.FlightEndpoint(ticket, [other, REUSE_CONNECTION]), URI) == [other, URI]
