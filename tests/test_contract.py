"""FlightSqlRouter over a real gRPC connection, serving a bare or a partly implemented
FlightSqlService: dispatch, defaults, result encoding."""

from __future__ import annotations

from collections.abc import Iterator

import pyarrow as pa
import pyarrow.flight as flight
import pytest
from google.protobuf.message import Message

from spark_flight_sql.flightsql import protocol, schemas
from spark_flight_sql.flightsql.errors import InvalidArgument
from spark_flight_sql.flightsql.proto import FlightSession_pb2 as session_pb2
from spark_flight_sql.flightsql.proto import FlightSql_pb2 as sql_pb2
from spark_flight_sql.flightsql.router import ROUTES
from spark_flight_sql.flightsql.standalone import StandaloneService

QUERY_COMMANDS = [
    sql_pb2.CommandStatementQuery(query="SELECT 1"),
    sql_pb2.CommandStatementSubstraitPlan(plan=sql_pb2.SubstraitPlan(plan=b"p", version="0.1")),
    sql_pb2.CommandPreparedStatementQuery(prepared_statement_handle=b"h"),
]
METADATA_COMMANDS: list[tuple[Message, pa.Schema]] = [
    (sql_pb2.CommandGetCatalogs(), schemas.CATALOGS),
    (sql_pb2.CommandGetDbSchemas(catalog="c"), schemas.DB_SCHEMAS),
    (sql_pb2.CommandGetTables(), schemas.TABLES),
    (sql_pb2.CommandGetTables(include_schema=True), schemas.TABLES_WITH_SCHEMA),
    (sql_pb2.CommandGetTableTypes(), schemas.TABLE_TYPES),
    (sql_pb2.CommandGetSqlInfo(info=[0, 8]), schemas.SQL_INFO),
    (sql_pb2.CommandGetPrimaryKeys(table="t"), schemas.PRIMARY_KEYS),
    (sql_pb2.CommandGetExportedKeys(table="t"), schemas.EXPORTED_KEYS),
    (sql_pb2.CommandGetImportedKeys(table="t"), schemas.IMPORTED_KEYS),
    (sql_pb2.CommandGetCrossReference(pk_table="a", fk_table="b"), schemas.CROSS_REFERENCE),
    (sql_pb2.CommandGetXdbcTypeInfo(), schemas.XDBC_TYPE_INFO),
]
PUT_COMMANDS = [
    sql_pb2.CommandStatementUpdate(query="DELETE FROM t"),
    sql_pb2.CommandStatementIngest(table="t"),
    sql_pb2.CommandPreparedStatementQuery(prepared_statement_handle=b"h"),
    sql_pb2.CommandPreparedStatementUpdate(prepared_statement_handle=b"h"),
    sql_pb2.CommandStatementSubstraitPlan(plan=sql_pb2.SubstraitPlan(plan=b"p")),
]
TICKETS = [
    sql_pb2.TicketStatementQuery(statement_handle=b"s"),
    sql_pb2.CommandPreparedStatementQuery(prepared_statement_handle=b"h"),
    *(command for command, _ in METADATA_COMMANDS),
]
PARAMS_SCHEMA = pa.schema([("x", pa.int64())])


def _id(value: object) -> str | None:
    """Parameter id: a command's name, pytest's default for anything else."""
    return protocol.command_name(value) if isinstance(value, Message) else None


def _descriptor(command: Message) -> flight.FlightDescriptor:
    return flight.FlightDescriptor.for_command(protocol.pack_command(command))


def _flight_info() -> flight.FlightInfo:
    return flight.FlightInfo(
        pa.schema([]),
        flight.FlightDescriptor.for_command(b"x"),
        [flight.FlightEndpoint(b"t", [])],
        -1,
        -1,
    )


def _action_bodies() -> dict[str, bytes]:
    bodies = {
        name: protocol.encode_action_body(name, spec.request())
        for name, spec in protocol.ACTIONS.items()
        if spec.request is not None
    }
    bodies["CancelQuery"] = protocol.encode_action_body(
        "CancelQuery", sql_pb2.ActionCancelQueryRequest(info=_flight_info().serialize())
    )
    bodies["CancelFlightInfo"] = protocol.encode_cancel_flight_info_request(_flight_info())
    bodies["RenewFlightEndpoint"] = protocol.encode_renew_flight_endpoint_request(_flight_info().endpoints[0])
    return bodies


def _put(client: flight.FlightClient, command: Message) -> bytes | None:
    """DoPut one batch of parameters for ``command``; the app_metadata answered."""
    writer, reader = client.do_put(_descriptor(command), PARAMS_SCHEMA)
    with writer:
        writer.write_table(pa.table({"x": [1, 2]}, schema=PARAMS_SCHEMA))
        writer.done_writing()
        metadata = reader.read()
    return None if metadata is None else metadata.to_pybytes()


@pytest.fixture(scope="module")
def bare_server() -> Iterator[StandaloneService]:
    with StandaloneService("grpc://127.0.0.1:0") as server:
        yield server


@pytest.fixture(scope="module")
def bare(bare_server: StandaloneService) -> Iterator[flight.FlightClient]:
    with flight.connect(f"grpc://127.0.0.1:{bare_server.port}") as client:
        yield client


def test_routes_cover_every_command() -> None:
    assert set(ROUTES) == set(protocol.COMMANDS)


@pytest.mark.parametrize("command", QUERY_COMMANDS + [c for c, _ in METADATA_COMMANDS], ids=_id)
def test_get_flight_info_is_unimplemented(bare: flight.FlightClient, command: Message) -> None:
    name = protocol.command_name(command)
    with pytest.raises(pa.ArrowNotImplementedError, match=f"{name} is not implemented"):
        bare.get_flight_info(_descriptor(command))


@pytest.mark.parametrize("command", QUERY_COMMANDS, ids=_id)
def test_get_schema_of_queries_is_unimplemented(bare: flight.FlightClient, command: Message) -> None:
    name = protocol.command_name(command)
    with pytest.raises(pa.ArrowNotImplementedError, match=f"{name} is not implemented"):
        bare.get_schema(_descriptor(command))


@pytest.mark.parametrize(("command", "schema"), METADATA_COMMANDS, ids=_id)
def test_get_schema_of_metadata_is_the_fixed_schema(
    bare: flight.FlightClient, command: Message, schema: pa.Schema
) -> None:
    assert bare.get_schema(_descriptor(command)).schema.equals(schema)


@pytest.mark.parametrize("ticket", TICKETS, ids=_id)
def test_do_get_is_unimplemented(bare: flight.FlightClient, ticket: Message) -> None:
    name = protocol.command_name(ticket)
    with pytest.raises(pa.ArrowNotImplementedError, match=f"{name} is not implemented"):
        bare.do_get(flight.Ticket(protocol.pack_command(ticket))).read_all()


@pytest.mark.parametrize("command", PUT_COMMANDS, ids=_id)
def test_do_put_is_unimplemented(bare: flight.FlightClient, command: Message) -> None:
    name = protocol.command_name(command)
    with pytest.raises(pa.ArrowNotImplementedError, match=f"{name} is not implemented"):
        _put(bare, command)


@pytest.mark.parametrize("action_type", sorted(protocol.ACTIONS))
def test_every_action_is_unimplemented(bare: flight.FlightClient, action_type: str) -> None:
    body = _action_bodies()[action_type]
    with pytest.raises(pa.ArrowNotImplementedError, match=f"{action_type} is not implemented"):
        list(bare.do_action(flight.Action(action_type, body)))


def test_list_actions_lists_every_action(bare: flight.FlightClient) -> None:
    listed = {action.type: action.description for action in bare.list_actions()}
    assert set(listed) == set(protocol.ACTIONS)
    assert all(listed.values())


@pytest.mark.parametrize(
    "descriptor",
    [
        flight.FlightDescriptor.for_path("some", "path"),
        flight.FlightDescriptor.for_command(b"\xff\xfe garbage"),
        flight.FlightDescriptor.for_command(b""),
        flight.FlightDescriptor.for_command(
            sql_pb2.CommandStatementQuery(query="SELECT 1").SerializeToString()
        ),
    ],
    ids=["path", "garbage", "empty", "not-any"],
)
def test_bad_descriptors_are_invalid_argument(
    bare: flight.FlightClient, descriptor: flight.FlightDescriptor
) -> None:
    for call in (bare.get_flight_info, bare.get_schema):
        with pytest.raises(pa.ArrowInvalid):
            call(descriptor)
    with pytest.raises(pa.ArrowInvalid):
        writer, _ = bare.do_put(descriptor, PARAMS_SCHEMA)
        writer.close()
    # The server keeps answering.
    assert bare.get_schema(_descriptor(sql_pb2.CommandGetCatalogs())).schema == schemas.CATALOGS
    assert len(list(bare.list_actions())) == len(protocol.ACTIONS)


@pytest.mark.parametrize(
    ("call", "command"),
    [
        ("get_flight_info", sql_pb2.CommandStatementUpdate(query="x")),
        ("get_flight_info", sql_pb2.TicketStatementQuery()),
        ("get_schema", sql_pb2.CommandStatementIngest()),
        ("do_get", sql_pb2.CommandStatementQuery(query="x")),
        ("do_put", sql_pb2.CommandGetCatalogs()),
    ],
    ids=_id,
)
def test_commands_sent_to_the_wrong_rpc_are_invalid_argument(
    bare: flight.FlightClient, call: str, command: Message
) -> None:
    with pytest.raises(pa.ArrowInvalid, match=f"{protocol.command_name(command)} cannot"):
        if call == "do_get":
            bare.do_get(flight.Ticket(protocol.pack_command(command))).read_all()
        elif call == "do_put":
            _put(bare, command)
        else:
            getattr(bare, call)(_descriptor(command))


def test_bad_tickets_and_actions_are_invalid_argument(bare: flight.FlightClient) -> None:
    with pytest.raises(pa.ArrowInvalid, match="malformed command"):
        bare.do_get(flight.Ticket(b"\xff\xff")).read_all()
    with pytest.raises(pa.ArrowInvalid, match="unknown action type: 'Nope'"):
        list(bare.do_action(flight.Action("Nope", b"")))
    with pytest.raises(pa.ArrowInvalid, match="CreatePreparedStatement request"):
        list(bare.do_action(flight.Action("CreatePreparedStatement", b"\xff")))
    with pytest.raises(pa.ArrowNotImplementedError, match="ListFlights"):
        list(bare.list_flights())


def _raw_action(action_type: str, body: bytes) -> bytes:
    """A serialized Flight ``Action {string type = 1; bytes body = 2}`` (short fields only)."""
    name = action_type.encode()
    return b"\x0a" + bytes([len(name)]) + name + b"\x12" + bytes([len(body)]) + body


def test_status_codes_on_the_wire(bare_server: StandaloneService) -> None:
    """The gRPC status itself, as a non-pyarrow client (ADBC's Go driver) sees it."""
    grpc = pytest.importorskip("grpc")
    action = _raw_action
    with grpc.insecure_channel(f"127.0.0.1:{bare_server.port}") as channel:
        do_action = channel.unary_stream(
            "/arrow.flight.protocol.FlightService/DoAction",
            request_serializer=bytes,
            response_deserializer=bytes,
        )
        get_flight_info = channel.unary_unary(
            "/arrow.flight.protocol.FlightService/GetFlightInfo",
            request_serializer=bytes,
            response_deserializer=bytes,
        )
        cases = [
            (lambda: list(do_action(action("CloseSession", b""))), "UNIMPLEMENTED"),
            (lambda: list(do_action(action("Nope", b""))), "INVALID_ARGUMENT"),
            (
                lambda: get_flight_info(_descriptor(sql_pb2.CommandGetCatalogs()).serialize()),
                "UNIMPLEMENTED",
            ),
            (
                lambda: get_flight_info(flight.FlightDescriptor.for_path("p").serialize()),
                "INVALID_ARGUMENT",
            ),
        ]
        for call, code in cases:
            with pytest.raises(grpc.RpcError) as raised:
                call()
            assert raised.value.code().name == code


# --- A server that implements handlers: results are encoded as the specification says ---


SQL_INFO = {0: "test-server", 8: 0, 508: ["SEMI"]}
CATALOG_ROWS = pa.table({"catalog_name": ["spark_catalog"]}, schema=schemas.CATALOGS)


class Implemented(StandaloneService):
    """Implements a handful of handlers to check what the router does around them."""

    def __init__(self) -> None:
        super().__init__("grpc://127.0.0.1:0")
        self.cancelled: list[flight.FlightInfo] = []

    def get_flight_info_catalogs(self, context, command, descriptor):  # type: ignore[override]
        return self.command_flight_info(command, schemas.CATALOGS, descriptor)

    def get_schema_statement(self, context, command, descriptor):  # type: ignore[override]
        return pa.schema([("q", pa.utf8())])

    def get_schema_prepared_statement(self, context, command, descriptor):  # type: ignore[override]
        return flight.SchemaResult(pa.schema([("p", pa.int8())]))

    def do_get_catalogs(self, context, command):  # type: ignore[override]
        return CATALOG_ROWS  # a Table: the router wraps it in a RecordBatchStream

    def get_flight_info_sql_info(self, context, command, descriptor):  # type: ignore[override]
        return self.command_flight_info(command, schemas.SQL_INFO, descriptor)

    def do_get_sql_info(self, context, command):  # type: ignore[override]
        return flight.RecordBatchStream(schemas.filter_sql_info(SQL_INFO, command.info))

    def do_get_tables(self, context, command):  # type: ignore[override]
        def batches() -> Iterator[pa.RecordBatch]:
            yield pa.record_batch([["c"], ["s"], ["t"], ["TABLE"]], schema=schemas.TABLES)
            raise InvalidArgument("table listing failed half way")

        return self.generator_stream(schemas.TABLES, batches())

    def do_get_table_types(self, context, command):  # type: ignore[override]
        raise RuntimeError("a bug in a handler")

    def do_put_statement_update(self, context, command, reader):  # type: ignore[override]
        return reader.read_all().num_rows * 10

    def do_put_prepared_statement_query(self, context, command, reader):  # type: ignore[override]
        reader.read_all()
        return None if command.prepared_statement_handle == b"keep" else b"new-handle"

    def do_action_create_prepared_statement(self, context, request):  # type: ignore[override]
        return sql_pb2.ActionCreatePreparedStatementResult(
            prepared_statement_handle=request.query.encode(),
            dataset_schema=pa.schema([("a", pa.int64())]).serialize().to_pybytes(),
            is_update=False,
        )

    def do_action_close_prepared_statement(self, context, request):  # type: ignore[override]
        return None

    def do_action_cancel_flight_info(self, context, info):  # type: ignore[override]
        self.cancelled.append(info)
        return protocol.CancelStatus.CANCELLED

    def do_action_renew_flight_endpoint(self, context, endpoint):  # type: ignore[override]
        return flight.FlightEndpoint(endpoint.ticket, ["grpc://127.0.0.1:9"])

    def do_action_set_session_options(self, context, request):  # type: ignore[override]
        errors = {
            name: session_pb2.SetSessionOptionsResult.Error(
                value=session_pb2.SetSessionOptionsResult.INVALID_NAME
            )
            for name in request.session_options
            if name != "catalog"
        }
        return session_pb2.SetSessionOptionsResult(errors=errors)

    def do_action_close_session(self, context, request):  # type: ignore[override]
        return session_pb2.CloseSessionResult(status=session_pb2.CloseSessionResult.CLOSED)


@pytest.fixture(scope="module")
def served() -> Iterator[tuple[Implemented, flight.FlightClient]]:
    with Implemented() as server:
        with flight.connect(f"grpc://127.0.0.1:{server.port}") as client:
            yield server, client


def test_metadata_flow_uses_the_command_as_ticket(
    served: tuple[Implemented, flight.FlightClient],
) -> None:
    _, client = served
    command = sql_pb2.CommandGetCatalogs()
    info = client.get_flight_info(_descriptor(command))
    assert info.schema.equals(schemas.CATALOGS)
    [endpoint] = info.endpoints
    assert endpoint.locations == []
    assert protocol.unpack_command(endpoint.ticket.ticket) == command
    assert client.do_get(endpoint.ticket).read_all().equals(CATALOG_ROWS)


def test_get_schema_handlers_may_return_a_schema_or_a_schema_result(
    served: tuple[Implemented, flight.FlightClient],
) -> None:
    _, client = served
    query = client.get_schema(_descriptor(sql_pb2.CommandStatementQuery(query="SELECT 'x'")))
    assert query.schema.names == ["q"]
    prepared = sql_pb2.CommandPreparedStatementQuery(prepared_statement_handle=b"h")
    assert client.get_schema(_descriptor(prepared)).schema.names == ["p"]


def test_sql_info_flow(served: tuple[Implemented, flight.FlightClient]) -> None:
    _, client = served
    info = client.get_flight_info(_descriptor(sql_pb2.CommandGetSqlInfo(info=[8, 508, 77])))
    table = client.do_get(info.endpoints[0].ticket).read_all()
    assert table.schema.equals(schemas.SQL_INFO)
    assert table.to_pylist() == [
        {"info_name": 8, "value": 0},
        {"info_name": 508, "value": ["SEMI"]},
    ]


def test_errors_in_a_generator_stream_keep_their_status(
    served: tuple[Implemented, flight.FlightClient],
) -> None:
    _, client = served
    ticket = flight.Ticket(protocol.pack_command(sql_pb2.CommandGetTables()))
    with pytest.raises(pa.ArrowInvalid, match="table listing failed half way"):
        client.do_get(ticket).read_all()


def test_unexpected_handler_errors_are_internal(
    served: tuple[Implemented, flight.FlightClient],
) -> None:
    _, client = served
    ticket = flight.Ticket(protocol.pack_command(sql_pb2.CommandGetTableTypes()))
    with pytest.raises(flight.FlightInternalError, match="RuntimeError: a bug in a handler"):
        client.do_get(ticket).read_all()


def test_do_put_update_answers_do_put_update_result(
    served: tuple[Implemented, flight.FlightClient],
) -> None:
    _, client = served
    metadata = _put(client, sql_pb2.CommandStatementUpdate(query="UPDATE t"))
    assert metadata is not None
    assert sql_pb2.DoPutUpdateResult.FromString(metadata).record_count == 20


def test_do_put_prepared_query_answers_the_new_handle(
    served: tuple[Implemented, flight.FlightClient],
) -> None:
    _, client = served
    metadata = _put(client, sql_pb2.CommandPreparedStatementQuery(prepared_statement_handle=b"h"))
    assert metadata is not None
    result = sql_pb2.DoPutPreparedStatementResult.FromString(metadata)
    assert result.prepared_statement_handle == b"new-handle"

    kept = _put(client, sql_pb2.CommandPreparedStatementQuery(prepared_statement_handle=b"keep"))
    result = sql_pb2.DoPutPreparedStatementResult.FromString(kept or b"")
    assert not result.HasField("prepared_statement_handle")


def _action(client: flight.FlightClient, action_type: str, body: bytes) -> list[bytes]:
    return [r.body.to_pybytes() for r in client.do_action(flight.Action(action_type, body))]


def test_flight_sql_action_results_are_any_wrapped(
    served: tuple[Implemented, flight.FlightClient],
) -> None:
    _, client = served
    request = sql_pb2.ActionCreatePreparedStatementRequest(query="SELECT 1")
    [body] = _action(
        client,
        "CreatePreparedStatement",
        protocol.encode_action_body("CreatePreparedStatement", request),
    )
    result = protocol.decode_action_result("CreatePreparedStatement", body)
    assert isinstance(result, sql_pb2.ActionCreatePreparedStatementResult)
    assert result.prepared_statement_handle == b"SELECT 1"
    assert result.HasField("is_update") and result.is_update is False
    assert pa.ipc.read_schema(pa.py_buffer(result.dataset_schema)).names == ["a"]

    close = protocol.encode_action_body(
        "ClosePreparedStatement", sql_pb2.ActionClosePreparedStatementRequest()
    )
    assert _action(client, "ClosePreparedStatement", close) == []


def test_session_actions_are_raw_messages(
    served: tuple[Implemented, flight.FlightClient],
) -> None:
    _, client = served
    request = session_pb2.SetSessionOptionsRequest(
        session_options={
            "catalog": session_pb2.SessionOptionValue(string_value="spark_catalog"),
            "nope": session_pb2.SessionOptionValue(bool_value=True),
        }
    )
    [body] = _action(client, "SetSessionOptions", request.SerializeToString())
    result = session_pb2.SetSessionOptionsResult.FromString(body)
    assert list(result.errors) == ["nope"]

    [body] = _action(client, "CloseSession", b"")
    assert session_pb2.CloseSessionResult.FromString(body).status == (session_pb2.CloseSessionResult.CLOSED)


def test_cancel_flight_info_and_cancel_query(
    served: tuple[Implemented, flight.FlightClient],
) -> None:
    server, client = served
    info = _flight_info()
    [body] = _action(client, "CancelFlightInfo", protocol.encode_cancel_flight_info_request(info))
    assert protocol.decode_cancel_flight_info_result(body) is protocol.CancelStatus.CANCELLED
    assert server.cancelled[-1] == info

    request = sql_pb2.ActionCancelQueryRequest(info=info.serialize())
    [body] = _action(client, "CancelQuery", protocol.encode_action_body("CancelQuery", request))
    result = protocol.decode_action_result("CancelQuery", body)
    assert isinstance(result, sql_pb2.ActionCancelQueryResult)
    assert result.result == sql_pb2.ActionCancelQueryResult.CANCEL_RESULT_CANCELLED


def test_renew_flight_endpoint(served: tuple[Implemented, flight.FlightClient]) -> None:
    _, client = served
    endpoint = flight.FlightEndpoint(b"ticket", [])
    [body] = _action(client, "RenewFlightEndpoint", protocol.encode_renew_flight_endpoint_request(endpoint))
    renewed = flight.FlightEndpoint.deserialize(body)
    assert renewed.ticket.ticket == b"ticket"
    assert [loc.uri for loc in renewed.locations] == [b"grpc://127.0.0.1:9"]


# --- The ADBC Flight SQL driver (Go) against the router's encodings ---------------------------


class Metadata(StandaloneService):
    """Serves GetSqlInfo and the catalog listing the way a real server would."""

    def get_flight_info_sql_info(self, context, command, descriptor):  # type: ignore[override]
        return self.command_flight_info(command, schemas.SQL_INFO, descriptor)

    def do_get_sql_info(self, context, command):  # type: ignore[override]
        return schemas.filter_sql_info(ADBC_SQL_INFO, command.info)

    def get_flight_info_catalogs(self, context, command, descriptor):  # type: ignore[override]
        return self.command_flight_info(command, schemas.CATALOGS, descriptor)

    def do_get_catalogs(self, context, command):  # type: ignore[override]
        return CATALOG_ROWS

    def get_flight_info_schemas(self, context, command, descriptor):  # type: ignore[override]
        return self.command_flight_info(command, schemas.DB_SCHEMAS, descriptor)

    def do_get_schemas(self, context, command):  # type: ignore[override]
        return pa.table(
            {"catalog_name": ["spark_catalog"], "db_schema_name": ["default"]},
            schema=schemas.DB_SCHEMAS,
        )

    def get_flight_info_tables(self, context, command, descriptor):  # type: ignore[override]
        return self.command_flight_info(command, self._tables_schema(command), descriptor)

    def do_get_tables(self, context, command):  # type: ignore[override]
        columns: dict[str, list[object]] = {
            "catalog_name": ["spark_catalog"],
            "db_schema_name": ["default"],
            "table_name": ["t"],
            "table_type": ["TABLE"],
        }
        if command.include_schema:
            table_schema = pa.schema([("a", pa.int64())]).serialize().to_pybytes()
            columns["table_schema"] = [table_schema]
        return pa.table(columns, schema=self._tables_schema(command))

    @staticmethod
    def _tables_schema(command: sql_pb2.CommandGetTables) -> pa.Schema:
        return schemas.TABLES_WITH_SCHEMA if command.include_schema else schemas.TABLES

    def get_flight_info_table_types(self, context, command, descriptor):  # type: ignore[override]
        return self.command_flight_info(command, schemas.TABLE_TYPES, descriptor)

    def do_get_table_types(self, context, command):  # type: ignore[override]
        return pa.table({"table_type": ["TABLE", "VIEW"]}, schema=schemas.TABLE_TYPES)


ADBC_SQL_INFO = schemas.sql_info_table(
    {
        sql_pb2.SqlInfo.FLIGHT_SQL_SERVER_NAME: "contract",
        sql_pb2.SqlInfo.FLIGHT_SQL_SERVER_VERSION: "1",
        sql_pb2.SqlInfo.FLIGHT_SQL_SERVER_ARROW_VERSION: pa.__version__,
        sql_pb2.SqlInfo.FLIGHT_SQL_SERVER_TRANSACTION: 0,
        sql_pb2.SqlInfo.SQL_KEYWORDS: ["SEMI"],
        sql_pb2.SqlInfo.SQL_SUPPORTS_CONVERT: {0: [19]},
    }
)


def test_adbc_driver_reads_sql_info_and_metadata() -> None:
    """The Go driver aborts the process on a malformed GetSqlInfo result: this must pass."""
    dbapi = pytest.importorskip("adbc_driver_flightsql.dbapi")
    with Metadata("grpc://127.0.0.1:0") as server:
        uri = f"grpc://127.0.0.1:{server.port}"
        with dbapi.connect(uri, autocommit=True) as connection:
            info = connection.adbc_get_info()
            assert info["vendor_name"] == "contract"
            assert info["vendor_arrow_version"] == pa.__version__
            assert connection.adbc_get_table_types() == ["TABLE", "VIEW"]
            objects = connection.adbc_get_objects(depth="tables").read_all().to_pylist()
            [catalog] = objects
            assert catalog["catalog_name"] == "spark_catalog"
            [db_schema] = catalog["catalog_db_schemas"]
            assert [t["table_name"] for t in db_schema["db_schema_tables"]] == ["t"]
            assert connection.adbc_get_table_schema("t").names == ["a"]
