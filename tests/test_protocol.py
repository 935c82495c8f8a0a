"""The Flight SQL wire format: field numbers, the command registry, action encodings."""

from __future__ import annotations

import importlib.util

import pyarrow as pa
import pyarrow.flight as flight
import pytest
from google.protobuf import any_pb2
from google.protobuf.descriptor import FieldDescriptor
from google.protobuf.message import Message

from spark_flight_sql.flightsql import protocol
from spark_flight_sql.flightsql.errors import InvalidArgument
from spark_flight_sql.flightsql.proto import FlightSession_pb2 as session_pb2
from spark_flight_sql.flightsql.proto import FlightSql_pb2 as sql_pb2

SQL = "arrow.flight.protocol.sql"

# Field name -> number for every message of the specification (FlightSql.proto and the
# session part of Flight.proto), written out independently of our .proto files.
SPEC_FIELDS: dict[str, dict[str, int]] = {
    f"{SQL}.CommandGetSqlInfo": {"info": 1},
    f"{SQL}.CommandGetXdbcTypeInfo": {"data_type": 1},
    f"{SQL}.CommandGetCatalogs": {},
    f"{SQL}.CommandGetDbSchemas": {"catalog": 1, "db_schema_filter_pattern": 2},
    f"{SQL}.CommandGetTables": {
        "catalog": 1,
        "db_schema_filter_pattern": 2,
        "table_name_filter_pattern": 3,
        "table_types": 4,
        "include_schema": 5,
    },
    f"{SQL}.CommandGetTableTypes": {},
    f"{SQL}.CommandGetPrimaryKeys": {"catalog": 1, "db_schema": 2, "table": 3},
    f"{SQL}.CommandGetExportedKeys": {"catalog": 1, "db_schema": 2, "table": 3},
    f"{SQL}.CommandGetImportedKeys": {"catalog": 1, "db_schema": 2, "table": 3},
    f"{SQL}.CommandGetCrossReference": {
        "pk_catalog": 1,
        "pk_db_schema": 2,
        "pk_table": 3,
        "fk_catalog": 4,
        "fk_db_schema": 5,
        "fk_table": 6,
    },
    f"{SQL}.ActionCreatePreparedStatementRequest": {"query": 1, "transaction_id": 2},
    f"{SQL}.SubstraitPlan": {"plan": 1, "version": 2},
    f"{SQL}.ActionCreatePreparedSubstraitPlanRequest": {"plan": 1, "transaction_id": 2},
    f"{SQL}.ActionCreatePreparedStatementResult": {
        "prepared_statement_handle": 1,
        "dataset_schema": 2,
        "parameter_schema": 3,
        "is_update": 4,
    },
    f"{SQL}.ActionClosePreparedStatementRequest": {"prepared_statement_handle": 1},
    f"{SQL}.ActionBeginTransactionRequest": {},
    f"{SQL}.ActionBeginSavepointRequest": {"transaction_id": 1, "name": 2},
    f"{SQL}.ActionBeginTransactionResult": {"transaction_id": 1},
    f"{SQL}.ActionBeginSavepointResult": {"savepoint_id": 1},
    f"{SQL}.ActionEndTransactionRequest": {"transaction_id": 1, "action": 2},
    f"{SQL}.ActionEndSavepointRequest": {"savepoint_id": 1, "action": 2},
    f"{SQL}.CommandStatementQuery": {"query": 1, "transaction_id": 2},
    f"{SQL}.CommandStatementSubstraitPlan": {"plan": 1, "transaction_id": 2},
    f"{SQL}.TicketStatementQuery": {"statement_handle": 1},
    f"{SQL}.CommandPreparedStatementQuery": {"prepared_statement_handle": 1},
    f"{SQL}.CommandStatementUpdate": {"query": 1, "transaction_id": 2},
    f"{SQL}.CommandPreparedStatementUpdate": {"prepared_statement_handle": 1},
    f"{SQL}.CommandStatementIngest": {
        "table_definition_options": 1,
        "table": 2,
        "schema": 3,
        "catalog": 4,
        "temporary": 5,
        "transaction_id": 6,
        "options": 1000,
    },
    f"{SQL}.CommandStatementIngest.TableDefinitionOptions": {"if_not_exist": 1, "if_exists": 2},
    f"{SQL}.DoPutUpdateResult": {"record_count": 1},
    f"{SQL}.DoPutPreparedStatementResult": {"prepared_statement_handle": 1},
    f"{SQL}.ActionCancelQueryRequest": {"info": 1},
    f"{SQL}.ActionCancelQueryResult": {"result": 1},
    "arrow.flight.protocol.SessionOptionValue": {
        "string_value": 1,
        "bool_value": 2,
        "int64_value": 3,
        "double_value": 4,
        "string_list_value": 5,
    },
    "arrow.flight.protocol.SessionOptionValue.StringListValue": {"values": 1},
    "arrow.flight.protocol.SetSessionOptionsRequest": {"session_options": 1},
    "arrow.flight.protocol.SetSessionOptionsResult": {"errors": 1},
    "arrow.flight.protocol.SetSessionOptionsResult.Error": {"value": 1},
    "arrow.flight.protocol.GetSessionOptionsRequest": {},
    "arrow.flight.protocol.GetSessionOptionsResult": {"session_options": 1},
    "arrow.flight.protocol.CloseSessionRequest": {},
    "arrow.flight.protocol.CloseSessionResult": {"status": 1},
}

# Fields proto3 `optional` in the specification (they keep presence on the wire).
SPEC_OPTIONAL = {
    ("CommandGetXdbcTypeInfo", "data_type"),
    ("CommandGetDbSchemas", "catalog"),
    ("CommandGetDbSchemas", "db_schema_filter_pattern"),
    ("CommandGetTables", "catalog"),
    ("CommandGetTables", "db_schema_filter_pattern"),
    ("CommandGetTables", "table_name_filter_pattern"),
    ("CommandGetPrimaryKeys", "catalog"),
    ("CommandGetPrimaryKeys", "db_schema"),
    ("CommandGetExportedKeys", "catalog"),
    ("CommandGetExportedKeys", "db_schema"),
    ("CommandGetImportedKeys", "catalog"),
    ("CommandGetImportedKeys", "db_schema"),
    ("CommandGetCrossReference", "pk_catalog"),
    ("CommandGetCrossReference", "pk_db_schema"),
    ("CommandGetCrossReference", "fk_catalog"),
    ("CommandGetCrossReference", "fk_db_schema"),
    ("ActionCreatePreparedStatementRequest", "transaction_id"),
    ("ActionCreatePreparedSubstraitPlanRequest", "transaction_id"),
    ("ActionCreatePreparedStatementResult", "is_update"),
    ("CommandStatementQuery", "transaction_id"),
    ("CommandStatementSubstraitPlan", "transaction_id"),
    ("CommandStatementUpdate", "transaction_id"),
    ("CommandStatementIngest", "schema"),
    ("CommandStatementIngest", "catalog"),
    ("CommandStatementIngest", "transaction_id"),
    ("DoPutPreparedStatementResult", "prepared_statement_handle"),
}


def _all_messages() -> dict[str, type[Message]]:
    found: dict[str, type[Message]] = {}

    def walk(cls: type[Message]) -> None:
        found[cls.DESCRIPTOR.full_name] = cls
        for nested in cls.DESCRIPTOR.nested_types:
            if not nested.GetOptions().map_entry:
                walk(getattr(cls, nested.name))

    for module in (sql_pb2, session_pb2):
        for name in module.DESCRIPTOR.message_types_by_name:
            walk(getattr(module, name))
    return found


def _filled(cls: type[Message]) -> Message:
    """An instance of ``cls`` with every field set to a non-default value."""
    message = cls()
    for field in cls.DESCRIPTOR.fields:
        if field.message_type is not None and field.message_type.GetOptions().map_entry:
            value_field = field.message_type.fields_by_name["value"]
            target = getattr(message, field.name)
            if value_field.message_type is not None:
                target["k"].CopyFrom(_filled(target["k"].__class__))
            else:
                target["k"] = "v"
        elif field.message_type is not None:
            getattr(message, field.name).CopyFrom(_filled(getattr(message, field.name).__class__))
        else:
            value = _sample(field)
            if field.is_repeated:
                getattr(message, field.name).extend([value, value])
            else:
                setattr(message, field.name, value)
    return message


def _sample(field: FieldDescriptor) -> object:
    if field.type == FieldDescriptor.TYPE_STRING:
        return f"{field.name}-value"
    if field.type == FieldDescriptor.TYPE_BYTES:
        return f"{field.name}-bytes".encode()
    if field.type == FieldDescriptor.TYPE_BOOL:
        return True
    if field.type == FieldDescriptor.TYPE_ENUM:
        return field.enum_type.values[-1].number
    if field.type in (FieldDescriptor.TYPE_DOUBLE, FieldDescriptor.TYPE_FLOAT):
        return 1.5
    return 7


def test_every_field_number_matches_the_specification() -> None:
    messages = _all_messages()
    assert set(messages) == set(SPEC_FIELDS)
    for full_name, fields in SPEC_FIELDS.items():
        actual = {f.name: f.number for f in messages[full_name].DESCRIPTOR.fields}
        assert actual == fields, full_name


def test_optional_fields_keep_presence() -> None:
    optional = {
        (cls.DESCRIPTOR.name, field.name)
        for cls in _all_messages().values()
        for field in cls.DESCRIPTOR.fields
        if field.has_presence
        and field.containing_oneof is not None
        and field.containing_oneof.name == f"_{field.name}"
    }
    assert optional == SPEC_OPTIONAL


def test_enum_values_match_the_specification() -> None:
    assert sql_pb2.SqlInfo.Value("FLIGHT_SQL_SERVER_BULK_INGESTION") == 10
    assert sql_pb2.SqlInfo.Value("FLIGHT_SQL_SERVER_INGEST_TRANSACTIONS_SUPPORTED") == 11
    assert sql_pb2.SqlInfo.Value("FLIGHT_SQL_SERVER_STATEMENT_TIMEOUT") == 100
    assert sql_pb2.SqlInfo.Value("SQL_STORED_FUNCTIONS_USING_CALL_SYNTAX_SUPPORTED") == 576
    assert len(sql_pb2.SqlInfo.keys()) == 14 + 77
    assert sql_pb2.XdbcDataType.Value("XDBC_WVARCHAR") == -9
    assert sql_pb2.XdbcDatetimeSubcode.Value("XDBC_SUBCODE_DATE") == 1
    assert sql_pb2.XdbcDatetimeSubcode.Value("XDBC_SUBCODE_INTERVAL_MINUTE_TO_SECOND") == 113
    assert sql_pb2.SqlSupportedTransaction.Value("SQL_SUPPORTED_TRANSACTION_SAVEPOINT") == 2
    assert sql_pb2.Nullable.Value("NULLABILITY_UNKNOWN") == 2
    assert sql_pb2.Searchable.Value("SEARCHABLE_FULL") == 3
    assert sql_pb2.UpdateDeleteRules.Value("SET_DEFAULT") == 4
    options = sql_pb2.CommandStatementIngest.TableDefinitionOptions
    assert options.TableExistsOption.Value("TABLE_EXISTS_OPTION_REPLACE") == 3
    assert options.TableNotExistOption.Value("TABLE_NOT_EXIST_OPTION_FAIL") == 2
    assert session_pb2.CloseSessionResult.Status.Value("NOT_CLOSEABLE") == 3
    assert session_pb2.SetSessionOptionsResult.ErrorValue.Value("ERROR") == 3


def test_session_int64_value_is_sfixed64_on_the_wire() -> None:
    encoded = session_pb2.SessionOptionValue(int64_value=1).SerializeToString()
    assert encoded == b"\x19" + (1).to_bytes(8, "little")  # field 3, wire type I64


def test_registry_covers_every_command_and_ticket_message() -> None:
    commands = {
        cls.DESCRIPTOR.full_name
        for cls in _all_messages().values()
        if cls.DESCRIPTOR.name.startswith(("Command", "Ticket")) and cls.DESCRIPTOR.containing_type is None
    }
    assert {spec.message.DESCRIPTOR.full_name for spec in protocol.COMMANDS.values()} == commands
    assert len(commands) == 17


@pytest.mark.parametrize("url", sorted(protocol.COMMANDS))
def test_every_command_round_trips(url: str) -> None:
    spec = protocol.COMMANDS[url]
    assert url == f"type.googleapis.com/{SQL}.{spec.name}"
    message = _filled(spec.message)
    data = protocol.pack_command(message)
    wrapper = any_pb2.Any.FromString(data)
    assert wrapper.type_url == url
    unpacked = protocol.unpack_command(data)
    assert type(unpacked) is spec.message
    assert unpacked == message


def test_pack_command_is_the_canonical_any_encoding() -> None:
    url = b"type.googleapis.com/arrow.flight.protocol.sql.CommandStatementQuery"
    value = b"\x0a\x08SELECT 1"  # field 1 (query), length 8
    expected = b"\x0a" + bytes([len(url)]) + url + b"\x12" + bytes([len(value)]) + value
    assert protocol.pack_command(sql_pb2.CommandStatementQuery(query="SELECT 1")) == expected


def test_unpack_accepts_another_type_url_host() -> None:
    wrapper = any_pb2.Any(
        type_url=f"example.com/{SQL}.CommandGetCatalogs",
        value=b"",
    )
    assert protocol.unpack_command(wrapper.SerializeToString()) == sql_pb2.CommandGetCatalogs()


def test_pack_command_refuses_non_commands() -> None:
    with pytest.raises(ValueError, match="DoPutUpdateResult"):
        protocol.pack_command(sql_pb2.DoPutUpdateResult())


@pytest.mark.parametrize(
    ("data", "match"),
    [
        (b"\xff\xff\xff", "malformed command"),
        (b"\x0a\x05ab", "malformed command"),  # truncated
        (b"", "not a google.protobuf.Any"),
        (
            # A raw (not Any-wrapped) CommandStatementQuery whose query is not a type URL.
            sql_pb2.CommandStatementQuery(query="SELECT 1").SerializeToString(),
            "unknown Flight SQL command type URL: 'SELECT 1'",
        ),
        (
            any_pb2.Any(type_url="type.googleapis.com/acme.Nope").SerializeToString(),
            "unknown Flight SQL command type URL: 'type.googleapis.com/acme.Nope'",
        ),
        (
            # A Flight SQL message that is not a command.
            any_pb2.Any(type_url=f"type.googleapis.com/{SQL}.DoPutUpdateResult").SerializeToString(),
            f"'type.googleapis.com/{SQL}.DoPutUpdateResult'",
        ),
        (
            any_pb2.Any(
                type_url=f"type.googleapis.com/{SQL}.CommandStatementQuery", value=b"\x0a\xff"
            ).SerializeToString(),
            "malformed CommandStatementQuery",
        ),
    ],
)
def test_unpack_rejects_bad_input_with_invalid_argument(data: bytes, match: str) -> None:
    with pytest.raises(InvalidArgument, match=match):
        protocol.unpack_command(data)


FLIGHT_SQL_ACTIONS = {
    "CreatePreparedStatement",
    "ClosePreparedStatement",
    "CreatePreparedSubstraitPlan",
    "BeginTransaction",
    "EndTransaction",
    "BeginSavepoint",
    "EndSavepoint",
    "CancelQuery",
}
FLIGHT_ACTIONS = {
    "CancelFlightInfo",
    "RenewFlightEndpoint",
    "SetSessionOptions",
    "GetSessionOptions",
    "CloseSession",
}


def test_action_registry_says_which_actions_are_any_wrapped() -> None:
    assert set(protocol.ACTIONS) == FLIGHT_SQL_ACTIONS | FLIGHT_ACTIONS
    for name, spec in protocol.ACTIONS.items():
        assert spec.type == name
        assert spec.any_wrapped == (name in FLIGHT_SQL_ACTIONS)
        if spec.request is not None and spec.any_wrapped:
            assert spec.request.DESCRIPTOR.name == f"Action{name}Request"


@pytest.mark.parametrize("name", sorted(n for n, s in protocol.ACTIONS.items() if s.request is not None))
def test_action_bodies_and_results_round_trip(name: str) -> None:
    spec = protocol.ACTIONS[name]
    assert spec.request is not None
    request = _filled(spec.request)
    body = protocol.encode_action_body(name, request)
    if spec.any_wrapped:
        assert any_pb2.Any.FromString(body).type_url == protocol.type_url(request)
    else:
        assert body == request.SerializeToString()
    assert protocol.decode_action_body(name, body) == request
    if spec.result is not None:
        result = _filled(spec.result)
        encoded = protocol.encode_action_result(name, result)
        if spec.any_wrapped:
            assert any_pb2.Any.FromString(encoded).type_url == protocol.type_url(result)
        else:
            assert encoded == result.SerializeToString()
        assert protocol.decode_action_result(name, encoded) == result


def test_action_body_of_the_wrong_type_is_invalid() -> None:
    body = protocol.encode_action_body(
        "ClosePreparedStatement", sql_pb2.ActionClosePreparedStatementRequest()
    )
    with pytest.raises(InvalidArgument, match="CreatePreparedStatement expects"):
        protocol.decode_action_body("CreatePreparedStatement", body)
    with pytest.raises(InvalidArgument, match="not a google.protobuf.Any"):
        protocol.decode_action_body("ClosePreparedStatement", b"")
    with pytest.raises(InvalidArgument, match="malformed SetSessionOptions request"):
        protocol.decode_action_body("SetSessionOptions", b"\x0a\xff")
    with pytest.raises(InvalidArgument, match="unknown action type: 'Nope'"):
        protocol.decode_action_body("Nope", b"")


def test_action_results_must_have_the_declared_type() -> None:
    with pytest.raises(TypeError, match="CreatePreparedStatement takes"):
        protocol.encode_action_result("CreatePreparedStatement", sql_pb2.ActionBeginTransactionResult())


def _flight_info() -> flight.FlightInfo:
    ticket = protocol.pack_command(sql_pb2.TicketStatementQuery(statement_handle=b"h"))
    return flight.FlightInfo(
        pa.schema([("a", pa.int64())]),
        flight.FlightDescriptor.for_command(b"cmd"),
        [flight.FlightEndpoint(ticket, ["grpc://127.0.0.1:1"])],
        10,
        -1,
    )


def test_cancel_flight_info_uses_the_raw_flight_messages() -> None:
    info = _flight_info()
    body = protocol.encode_cancel_flight_info_request(info)
    serialized = info.serialize()
    # CancelFlightInfoRequest {FlightInfo info = 1}: one length-delimited field 1.
    assert body.startswith(b"\x0a") and body.endswith(serialized)
    assert protocol.decode_cancel_flight_info_request(body) == info
    result = protocol.encode_cancel_flight_info_result(protocol.CancelStatus.CANCELLING)
    assert result == b"\x08\x02"  # CancelFlightInfoResult {status = 1}: varint 2
    assert protocol.decode_cancel_flight_info_result(result) is protocol.CancelStatus.CANCELLING
    with pytest.raises(InvalidArgument, match="malformed FlightInfo"):
        protocol.decode_cancel_flight_info_request(b"\x0a\x03abc")


def test_renew_flight_endpoint_uses_the_raw_flight_messages() -> None:
    endpoint = _flight_info().endpoints[0]
    body = protocol.encode_renew_flight_endpoint_request(endpoint)
    assert body.startswith(b"\x0a") and body.endswith(endpoint.serialize())
    assert protocol.decode_renew_flight_endpoint_request(body) == endpoint


def test_cancel_status_shares_values_with_cancel_result() -> None:
    result = sql_pb2.ActionCancelQueryResult.CancelResult
    for status in protocol.CancelStatus:
        assert result.Value(f"CANCEL_RESULT_{status.name}") == status


@pytest.mark.skipif(importlib.util.find_spec("grpc_tools") is None, reason="grpcio-tools not installed")
def test_generated_modules_are_up_to_date() -> None:
    from spark_flight_sql.flightsql.proto import generate

    assert generate.check() == []


def test_generated_modules_have_no_runtime_version_pin() -> None:
    from pathlib import Path

    proto_dir = Path(sql_pb2.__file__).parent
    for module in ("FlightSql_pb2.py", "FlightSession_pb2.py"):
        assert "ValidateProtobufRuntimeVersion" not in (proto_dir / module).read_text()
