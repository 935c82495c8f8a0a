"""Client sessions: options, current catalog and schema, isolation, closing."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator

import adbc_driver_flightsql.dbapi
import adbc_driver_manager
import pyarrow as pa
import pyarrow.flight as flight
import pytest
from support.flight_calls import CookieJar, get_options

from spark_flight_sql.flightsql.proto import FlightSession_pb2 as session_pb2
from spark_flight_sql.flightsql.proto import FlightSql_pb2 as sql_pb2
from spark_flight_sql.flightsql.protocol import pack_command

KEEP_COOKIES = {"adbc.flight.sql.rpc.with_cookie_middleware": "true"}
OPTION = "adbc.flight.sql.session.option."


@pytest.fixture
def connect(server) -> Iterator:
    opened = []

    def open_connection(**kwargs: str):
        connection = adbc_driver_flightsql.dbapi.connect(
            server.location, db_kwargs={**KEEP_COOKIES, **kwargs}
        )
        opened.append(connection)
        return connection

    yield open_connection
    for connection in opened:
        connection.close()


def scalar(connection, sql: str) -> object:
    with connection.cursor() as cursor:
        cursor.execute(sql)
        ((value,),) = cursor.fetchall()
    return value


def options(connection) -> dict[str, str]:
    return json.loads(connection.adbc_connection.get_option("adbc.flight.sql.session.options"))


def test_a_spark_setting_applies_to_its_session_only(connect) -> None:
    tokyo, other = connect(), connect()
    tokyo.adbc_connection.set_options(**{OPTION + "spark.sql.session.timeZone": "Asia/Tokyo"})
    assert scalar(tokyo, "SELECT current_timezone()") == "Asia/Tokyo"
    assert scalar(other, "SELECT current_timezone()") == "UTC"
    assert options(tokyo)["spark.sql.session.timeZone"] == "Asia/Tokyo"
    assert "spark.sql.session.timeZone" not in options(other)
    # An empty value unsets it.
    tokyo.adbc_connection.set_options(
        **{"adbc.flight.sql.session.optionerase.spark.sql.session.timeZone": ""}
    )
    assert scalar(tokyo, "SELECT current_timezone()") == "UTC"


def test_ansi_mode_per_session(connect) -> None:
    lenient = connect()
    lenient.adbc_connection.set_options(**{OPTION + "spark.sql.ansi.enabled": "false"})
    assert scalar(lenient, "SELECT CAST('x' AS INT)") is None
    with pytest.raises(adbc_driver_manager.Error, match="CAST_INVALID_INPUT"):
        scalar(connect(), "SELECT CAST('x' AS INT)")


def test_current_catalog_and_schema_follow_adbc(connect) -> None:
    connection = connect()
    assert (connection.adbc_current_catalog, connection.adbc_current_db_schema) == (
        "spark_catalog",
        "default",
    )
    connection.adbc_connection.set_options(**{"adbc.connection.db_schema": "demo"})
    assert connection.adbc_current_db_schema == "demo"
    assert scalar(connection, "SELECT count(*) FROM customers") == 1000
    assert scalar(connect(), "SELECT current_schema()") == "default"
    with pytest.raises(adbc_driver_manager.Error, match="invalid value"):
        connection.adbc_connection.set_options(**{"adbc.connection.db_schema": "no_such_schema"})
    assert connection.adbc_current_db_schema == "demo"


def test_temporary_views_belong_to_their_session(connect) -> None:
    mine, theirs = connect(), connect()
    name = f"v_{uuid.uuid4().hex[:8]}"
    with mine.cursor() as cursor:
        cursor.execute(f"CREATE TEMPORARY VIEW {name} AS SELECT 42 AS answer")
    assert scalar(mine, f"SELECT answer FROM {name}") == 42
    with pytest.raises(adbc_driver_manager.Error, match="TABLE_OR_VIEW_NOT_FOUND"):
        scalar(theirs, f"SELECT answer FROM {name}")


def test_unknown_names_and_bad_values_are_refused_by_name(connect) -> None:
    connection = connect()
    with pytest.raises(adbc_driver_manager.Error, match="spark.executor.memory.*invalid name"):
        connection.adbc_connection.set_options(**{OPTION + "spark.executor.memory": "1g"})
    with pytest.raises(adbc_driver_manager.Error, match="spark.sql.ansi.enabled.*invalid value"):
        connection.adbc_connection.set_options(**{OPTION + "spark.sql.ansi.enabled": "maybe"})
    with pytest.raises(adbc_driver_manager.Error, match="executionMode.*invalid value"):
        connection.adbc_connection.set_options(**{OPTION + "executionMode": "sideways"})
    assert options(connection)["executionMode"] == "auto"


# ---- the wire, with a raw client --------------------------------------------------------------


def set_options(client: flight.FlightClient, **values: str) -> session_pb2.SetSessionOptionsResult:
    request = session_pb2.SetSessionOptionsRequest()
    for name, value in values.items():
        request.session_options[name].string_value = value
    (result,) = client.do_action(flight.Action("SetSessionOptions", request.SerializeToString()))
    return session_pb2.SetSessionOptionsResult.FromString(result.body.to_pybytes())


def test_the_first_call_sets_a_session_cookie_and_close_forgets_the_session(server) -> None:
    jar = CookieJar()
    with flight.FlightClient(server.location, middleware=[jar]) as client:
        assert get_options(client)["schema"] == "default"
        assert len(jar.set_cookies) == 1 and jar.set_cookies[0].startswith("arrow_flight_session_id=")
        result = set_options(client, schema="demo", executionMode="SINGLE")
        assert not result.errors
        assert get_options(client)["schema"] == "demo"
        assert get_options(client)["executionMode"] == "single"
        assert len(jar.set_cookies) == 1  # the session keeps its id
        (closed,) = client.do_action(
            flight.Action("CloseSession", session_pb2.CloseSessionRequest().SerializeToString())
        )
        status = session_pb2.CloseSessionResult.FromString(closed.body.to_pybytes()).status
        assert status == session_pb2.CloseSessionResult.CLOSED
        assert get_options(client)["schema"] == "default"


def test_a_client_without_cookies_has_a_session_per_connection(server) -> None:
    with flight.FlightClient(server.location) as client, flight.FlightClient(server.location) as other:
        assert not set_options(client, schema="demo").errors
        assert get_options(client)["schema"] == "demo"
        assert get_options(other)["schema"] == "default"


def test_cookieless_adbc_connections_are_isolated_from_each_other(server) -> None:
    name = f"v_{uuid.uuid4().hex[:8]}"
    with (
        adbc_driver_flightsql.dbapi.connect(server.location) as mine,
        adbc_driver_flightsql.dbapi.connect(server.location) as theirs,
    ):
        with mine.cursor() as cursor:
            cursor.execute(f"CREATE TEMPORARY VIEW {name} AS SELECT 7 AS seven")
            cursor.execute("USE demo")
        assert scalar(mine, f"SELECT seven FROM {name}") == 7
        assert scalar(mine, "SELECT count(*) FROM customers") == 1000
        assert scalar(theirs, "SELECT current_schema()") == "default"
        with pytest.raises(adbc_driver_manager.Error, match="TABLE_OR_VIEW_NOT_FOUND"):
            scalar(theirs, f"SELECT seven FROM {name}")


def test_a_forged_cookie_starts_a_fresh_session(server) -> None:
    headers = [(b"cookie", b"arrow_flight_session_id=../../etc; other=1")]
    with flight.FlightClient(server.location) as client:
        options_seen = get_options_with(client, headers)
    assert options_seen["schema"] == "default"


def get_options_with(client: flight.FlightClient, headers: list[tuple[bytes, bytes]]) -> dict[str, str]:
    body = session_pb2.GetSessionOptionsRequest().SerializeToString()
    (result,) = client.do_action(
        flight.Action("GetSessionOptions", body), flight.FlightCallOptions(headers=headers)
    )
    answer = session_pb2.GetSessionOptionsResult.FromString(result.body.to_pybytes())
    return {name: value.string_value for name, value in answer.session_options.items()}


def test_a_query_runs_in_the_session_that_sent_it(server) -> None:
    jar = CookieJar()
    with flight.FlightClient(server.location, middleware=[jar]) as client:
        get_options(client)
        set_options(client, **{"spark.sql.session.timeZone": "America/Lima"})
        command = sql_pb2.CommandStatementQuery(query="SELECT current_timezone() AS tz")
        info = client.get_flight_info(flight.FlightDescriptor.for_command(pack_command(command)))
        table = pa.concat_tables(client.do_get(endpoint.ticket).read_all() for endpoint in info.endpoints)
    assert table.column("tz").to_pylist() == ["America/Lima"]


def test_unsetting_the_schema_returns_to_the_node_s_own(server) -> None:
    jar = CookieJar()
    with flight.FlightClient(server.location, middleware=[jar]) as client:
        get_options(client)
        set_options(client, schema="demo")
        assert get_options(client)["schema"] == "demo"
        request = session_pb2.SetSessionOptionsRequest()
        request.session_options["schema"].CopyFrom(session_pb2.SessionOptionValue())
        client.do_action(flight.Action("SetSessionOptions", request.SerializeToString()))
        assert get_options(client)["schema"] == "default"
