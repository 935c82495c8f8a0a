"""Raw Flight SQL calls several test modules make: cancelling, sessions (a cookie jar), prepared
statements, and the users of the authentication tests."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.flight as flight

from spark_flight_sql.flightsql import protocol
from spark_flight_sql.flightsql.auth.users_file import UsersFile
from spark_flight_sql.flightsql.proto import FlightSession_pb2 as session_pb2
from spark_flight_sql.flightsql.proto import FlightSql_pb2 as sql_pb2
from spark_flight_sql.flightsql.protocol import CancelStatus, pack_command

# ---- cancelling


def cancel_flight_info(client: flight.FlightClient, info: flight.FlightInfo) -> CancelStatus:
    """Send CancelFlightInfo for ``info``; the status the server answers."""
    body = protocol.encode_cancel_flight_info_request(info)
    (result,) = client.do_action(flight.Action("CancelFlightInfo", body))
    return protocol.decode_cancel_flight_info_result(result.body.to_pybytes())


# ---- sessions


class CookieJar(flight.ClientMiddlewareFactory):
    """Keeps the session cookie the server sets and sends it back."""

    def __init__(self) -> None:
        self.cookie: str | None = None
        self.set_cookies: list[str] = []

    def start_call(self, info: flight.CallInfo) -> flight.ClientMiddleware:
        return _Cookies(self)


class _Cookies(flight.ClientMiddleware):
    def __init__(self, jar: CookieJar) -> None:
        self.jar = jar

    def sending_headers(self) -> dict[str, str]:
        return {"cookie": self.jar.cookie} if self.jar.cookie else {}

    def received_headers(self, headers: dict[str, list[str]]) -> None:
        for value in headers.get("set-cookie", []):
            self.jar.set_cookies.append(value)
            self.jar.cookie = value.split(";", 1)[0]

    def call_completed(self, exception: Exception | None) -> None:
        pass


def get_options(client: flight.FlightClient) -> dict[str, str]:
    """The session's options (GetSessionOptions), as strings."""
    body = session_pb2.GetSessionOptionsRequest().SerializeToString()
    (result,) = client.do_action(flight.Action("GetSessionOptions", body))
    answer = session_pb2.GetSessionOptionsResult.FromString(result.body.to_pybytes())
    return {name: value.string_value for name, value in answer.session_options.items()}


# ---- prepared statements


def action(client: flight.FlightClient, name: str, request: Any) -> list[bytes]:
    """The result bodies of the Flight SQL action ``name`` with ``request``."""
    body = protocol.encode_action_body(name, request)
    return [result.body.to_pybytes() for result in client.do_action(flight.Action(name, body))]


def prepare(client: flight.FlightClient, sql: str) -> sql_pb2.ActionCreatePreparedStatementResult:
    """CreatePreparedStatement of ``sql``."""
    (body,) = action(
        client, "CreatePreparedStatement", sql_pb2.ActionCreatePreparedStatementRequest(query=sql)
    )
    return protocol.decode_action_result("CreatePreparedStatement", body)


def bind(client: flight.FlightClient, handle: bytes, parameters: pa.Table) -> bytes:
    """Bind ``parameters`` to the prepared statement by DoPut; the handle the server answers."""
    command = sql_pb2.CommandPreparedStatementQuery(prepared_statement_handle=handle)
    writer, metadata = client.do_put(
        flight.FlightDescriptor.for_command(pack_command(command)), parameters.schema
    )
    writer.write_table(parameters)
    writer.done_writing()
    answer = metadata.read()
    writer.close()
    result = sql_pb2.DoPutPreparedStatementResult()
    result.ParseFromString(answer.to_pybytes())
    return result.prepared_statement_handle


def run_prepared(client: flight.FlightClient, handle: bytes) -> pa.Table:
    """Every row of the prepared statement, read from each of its endpoints."""
    command = sql_pb2.CommandPreparedStatementQuery(prepared_statement_handle=handle)
    info = client.get_flight_info(flight.FlightDescriptor.for_command(pack_command(command)))
    tables = []
    for endpoint in info.endpoints:
        with flight.FlightClient(endpoint.locations[0]) as reader:
            tables.append(reader.do_get(endpoint.ticket).read_all())
    return pa.concat_tables(tables)


# ---- users of the authentication tests

PASSWORDS = {"alice": "correct horse battery staple", "bob": "hunter2-but-longer"}
SECRET = "a-cluster-secret-of-at-least-32-bytes-0123456789"


def write_users(folder: Path) -> Path:
    """A users file in ``folder`` with the users of ``PASSWORDS``."""
    path = folder / "users"
    users = UsersFile(str(path))
    for name, password in PASSWORDS.items():
        users.add(name, password)
    return path
