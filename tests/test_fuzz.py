"""Property-based fuzzing of the public server through a real pyarrow.flight client.

Every request, however malformed, answers a result or a deliberate status: INVALID_ARGUMENT,
NOT_FOUND, UNIMPLEMENTED, UNAUTHENTICATED, PERMISSION_DENIED or CANCELLED (ALREADY_EXISTS and
FAILED_PRECONDITION travel as INVALID_ARGUMENT, as pyarrow.flight cannot send them). Never
INTERNAL or UNKNOWN, never a call that hangs past its deadline, never a server that stops
answering. At the end the node still answers a query and holds no buffers the fuzzing left.

The inputs: random bytes and mutated valid messages as GetFlightInfo and GetSchema commands and
as DoGet tickets, google.protobuf.Any with unknown type URLs, every Flight SQL command with
random field values, path descriptors, the body of every action type (and unknown types), DoPut
streams of random schemas and data (wide, nested, malformed), and ListFlights criteria.

The one exception lies outside the server's code: strings that are not UTF-8 where Flight's
protobuf declares ``string`` are refused by gRPC itself (see the test that says so).

Hypothesis runs derandomized (the same examples on every run) and does not shrink: a failure
prints the falsifying example, which is small already.
"""

from __future__ import annotations

import json
import re
import string
import time
from collections.abc import Callable, Iterator
from typing import Any

import pyarrow as pa
import pyarrow.flight as flight
import pytest
from google.protobuf import any_pb2, message_factory
from google.protobuf.descriptor import Descriptor, FieldDescriptor
from google.protobuf.message import Message
from hypothesis import HealthCheck, Phase, example, given, settings
from hypothesis import strategies as st
from support.waiting import wait_until

from spark_flight_sql.flightsql import protocol
from spark_flight_sql.flightsql.proto import FlightSql_pb2 as sql_pb2
from spark_flight_sql.flightsql.router import ACTION_HANDLERS

CALL_TIMEOUT = 60.0
"""Seconds any one call may take; past it the call fails with DEADLINE_EXCEEDED, a failure."""

DELIBERATE = frozenset(
    {
        "OK",
        "INVALID_ARGUMENT",
        "NOT_FOUND",
        "UNIMPLEMENTED",
        "UNAUTHENTICATED",
        "PERMISSION_DENIED",
        "CANCELLED",
    }
)


def fuzz_settings(max_examples: int) -> settings:
    return settings(
        derandomize=True,
        database=None,
        deadline=None,
        max_examples=max_examples,
        phases=(Phase.explicit, Phase.generate),
        suppress_health_check=(
            HealthCheck.too_slow,
            HealthCheck.data_too_large,
            HealthCheck.large_base_example,
            HealthCheck.filter_too_much,
        ),
    )


# ---- the client side ------------------------------------------------------------------------

OPTIONS = flight.FlightCallOptions(timeout=CALL_TIMEOUT)

# What a pyarrow client raises for each status. GetSchema's client raises plain Arrow errors for
# the statuses that are FlightErrors elsewhere ("Flight returned unavailable error, ...").
_FLIGHT_ERRORS: tuple[tuple[type[BaseException], str], ...] = (
    (flight.FlightUnauthenticatedError, "UNAUTHENTICATED"),
    (flight.FlightUnauthorizedError, "PERMISSION_DENIED"),
    (flight.FlightCancelledError, "CANCELLED"),
    (flight.FlightUnavailableError, "UNAVAILABLE"),
    (flight.FlightTimedOutError, "DEADLINE_EXCEEDED"),
    (flight.FlightInternalError, "INTERNAL"),
    (flight.FlightError, "UNKNOWN"),
    (pa.ArrowInvalid, "INVALID_ARGUMENT"),
    (pa.ArrowKeyError, "NOT_FOUND"),
    (pa.ArrowNotImplementedError, "UNIMPLEMENTED"),
)
_RETURNED = {
    "unauthenticated": "UNAUTHENTICATED",
    "unauthorized": "PERMISSION_DENIED",
    "cancelled": "CANCELLED",
    "unavailable": "UNAVAILABLE",
    "timeout": "DEADLINE_EXCEEDED",
    "internal": "INTERNAL",
}


def status_of(exc: BaseException) -> str:
    """The gRPC status a pyarrow client exception stands for."""
    for cls, status in _FLIGHT_ERRORS:
        if isinstance(exc, cls):
            return status
    found = re.search(r"Flight returned (\w+) error", str(exc))
    return _RETURNED.get(found.group(1), "UNKNOWN") if found else "UNKNOWN"


def outcome(call: Callable[[], Any]) -> tuple[str, Any]:
    """``("OK", value)`` or ``(status, exception)``."""
    try:
        return "OK", call()
    except Exception as exc:  # noqa: BLE001 - every outcome is classified
        return status_of(exc), exc


def check(what: str, result: tuple[str, Any]) -> Any:
    """Assert the outcome is a result or a deliberate status; the value when it is a result."""
    status, value = result
    assert status in DELIBERATE, f"{what}: {status}: {value!r}"
    return value if status == "OK" else None


def node_stats(client: flight.FlightClient) -> dict[str, Any]:
    (result,) = client.do_action(flight.Action("NodeStats", b""), OPTIONS)
    return json.loads(result.body.to_pybytes())


def read_endpoints(client: flight.FlightClient, info: flight.FlightInfo, what: str) -> None:
    """Read every endpoint of ``info`` (so that no result is left waiting); each read must end in a
    result or a deliberate status. A result that could not be read is cancelled."""
    unread = False
    for endpoint in info.endpoints:
        status, _ = result = outcome(
            lambda endpoint=endpoint: client.do_get(endpoint.ticket, OPTIONS).read_all()
        )
        unread |= status != "OK"
        check(f"{what}: DoGet of its endpoint", result)
    if unread:
        cancel = protocol.encode_cancel_flight_info_request(info)
        check(
            f"{what}: CancelFlightInfo",
            outcome(lambda: list(client.do_action(flight.Action("CancelFlightInfo", cancel), OPTIONS))),
        )


@pytest.fixture(scope="module")
def client(server) -> Iterator[flight.FlightClient]:
    with flight.FlightClient(server.location) as connection:
        yield connection


@pytest.fixture(scope="module")
def baseline(client) -> dict[str, Any]:
    """The node's buffers before the fuzzing (the session's node may hold other tests' results)."""
    return node_stats(client)


@pytest.fixture(scope="module")
def prepared_handle(client) -> bytes:
    """A real prepared statement handle of a query with one parameter."""
    body = protocol.encode_action_body(
        "CreatePreparedStatement", sql_pb2.ActionCreatePreparedStatementRequest(query="SELECT ? AS p")
    )
    (result,) = client.do_action(flight.Action("CreatePreparedStatement", body), OPTIONS)
    return protocol.decode_action_result(
        "CreatePreparedStatement", result.body.to_pybytes()
    ).prepared_statement_handle


# ---- strategies: protobuf messages with random field values ------------------------------------

SQL = st.one_of(
    st.sampled_from(
        [
            "SELECT 1",
            "SELECT ? AS p",
            "SELECT * FROM demo.products",
            "SELECT id FROM range(3)",
            "SHOW TABLES IN demo",
            "DESCRIBE demo.sales",
            "EXPLAIN SELECT 1",
            "VALUES (1, 'a')",
            "SET spark.sql.ansi.enabled",
            "SELECT * FROM demo.no_such_table",
            "SELECT 1 /",
            "",
            " ",
            "SELECT '\x00'",
            "SELECT " + "(" * 300 + "1" + ")" * 300,
        ]
    ),
    st.text(max_size=60),
)

TICKET_HANDLES = st.one_of(
    st.binary(max_size=64),
    st.builds(
        lambda q, n: json.dumps({"q": q, "n": n}).encode(),
        st.one_of(
            st.text(alphabet="0123456789abcdef", min_size=32, max_size=32),
            st.text(max_size=20),
            st.integers(),
        ),
        st.one_of(st.text(max_size=12), st.lists(st.integers(), max_size=2)),
    ),
    st.sampled_from([b"[" * 100_000, b'{"q":' * 50_000, b"null", b"{}", b'"x"', b'{"q":"../x","n":"/"}']),
)

PREPARED_HANDLES = st.one_of(
    st.binary(max_size=64),
    st.builds(
        lambda sql, t, p: json.dumps(
            {"v": 2, "sql": sql, "t": t, **({"p": p} if p is not None else {})}
        ).encode(),
        SQL,
        st.one_of(st.floats(allow_nan=True), st.just(time.time()), st.text(max_size=5)),
        st.one_of(st.none(), st.text(alphabet=string.ascii_letters + "+/=", max_size=40)),
    ),
    st.sampled_from(
        [
            b"[" * 100_000,
            b'{"v":2,"sql":"SELECT 1","t":1e400}',
            b'{"v":2,"sql":"SELECT 1","t":1' + b"0" * 400 + b"}",
            b'{"v":2,"sql":7,"t":0}',
            b"{}",
        ]
    ),
)

SESSION_OPTION_NAMES = st.one_of(
    st.sampled_from(
        [
            "catalog",
            "schema",
            "executionMode",
            "spark.sql.ansi.enabled",
            "spark.sql.session.timeZone",
            "spark.sql.shuffle.partitions",
        ]
    ),
    st.text(max_size=30),
)

# Field strategies that replace the generic ones: SQL text, handles, session option names.
OVERRIDES: dict[tuple[str, str], st.SearchStrategy[Any]] = {
    ("arrow.flight.protocol.sql.CommandStatementQuery", "query"): SQL,
    ("arrow.flight.protocol.sql.ActionCreatePreparedStatementRequest", "query"): SQL,
    ("arrow.flight.protocol.sql.TicketStatementQuery", "statement_handle"): TICKET_HANDLES,
    (
        "arrow.flight.protocol.sql.CommandPreparedStatementQuery",
        "prepared_statement_handle",
    ): PREPARED_HANDLES,
    (
        "arrow.flight.protocol.sql.CommandPreparedStatementUpdate",
        "prepared_statement_handle",
    ): PREPARED_HANDLES,
    (
        "arrow.flight.protocol.sql.ActionClosePreparedStatementRequest",
        "prepared_statement_handle",
    ): PREPARED_HANDLES,
}

_INTEGERS = {
    FieldDescriptor.TYPE_INT32: (-(2**31), 2**31 - 1),
    FieldDescriptor.TYPE_SINT32: (-(2**31), 2**31 - 1),
    FieldDescriptor.TYPE_SFIXED32: (-(2**31), 2**31 - 1),
    FieldDescriptor.TYPE_ENUM: (-(2**31), 2**31 - 1),
    FieldDescriptor.TYPE_INT64: (-(2**63), 2**63 - 1),
    FieldDescriptor.TYPE_SINT64: (-(2**63), 2**63 - 1),
    FieldDescriptor.TYPE_SFIXED64: (-(2**63), 2**63 - 1),
    FieldDescriptor.TYPE_UINT32: (0, 2**32 - 1),
    FieldDescriptor.TYPE_FIXED32: (0, 2**32 - 1),
    FieldDescriptor.TYPE_UINT64: (0, 2**64 - 1),
    FieldDescriptor.TYPE_FIXED64: (0, 2**64 - 1),
}


def _scalar(field: FieldDescriptor) -> st.SearchStrategy[Any]:
    if field.type == FieldDescriptor.TYPE_STRING:
        return st.text(max_size=40)
    if field.type == FieldDescriptor.TYPE_BYTES:
        return st.binary(max_size=64)
    if field.type == FieldDescriptor.TYPE_BOOL:
        return st.booleans()
    if field.type == FieldDescriptor.TYPE_FLOAT:
        return st.floats(width=32)
    if field.type == FieldDescriptor.TYPE_DOUBLE:
        return st.floats()
    low, high = _INTEGERS[field.type]
    integers = st.integers(low, high)
    if field.type == FieldDescriptor.TYPE_ENUM:  # proto3 enums are open: unknown values parse
        return st.one_of(st.sampled_from([v.number for v in field.enum_type.values]), integers)
    return st.one_of(st.sampled_from([0, 1, -1 if low < 0 else 2, high]), integers)


def _field(field: FieldDescriptor, depth: int) -> st.SearchStrategy[Any]:
    override = OVERRIDES.get((field.containing_type.full_name, field.name))
    if override is not None:
        return override
    if field.message_type is not None and field.message_type.GetOptions().map_entry:
        key_field, value_field = (
            field.message_type.fields_by_name["key"],
            field.message_type.fields_by_name["value"],
        )
        keys = (
            SESSION_OPTION_NAMES
            if field.containing_type.name == "SetSessionOptionsRequest"
            else _scalar(key_field)
        )
        return st.dictionaries(keys, _single(value_field, depth + 1), max_size=4)
    single = _single(field, depth)
    return st.lists(single, max_size=5) if field.is_repeated else single


def _single(field: FieldDescriptor, depth: int) -> st.SearchStrategy[Any]:
    if field.message_type is not None:
        cls = message_factory.GetMessageClass(field.message_type)
        return messages(cls, depth + 1) if depth < 3 else st.just(cls())
    return _scalar(field)


def _build(cls: type[Message], values: dict[str, Any]) -> Message:
    message = cls()
    descriptor: Descriptor = cls.DESCRIPTOR
    for name, value in values.items():
        field = descriptor.fields_by_name[name]
        target = getattr(message, name) if field.is_repeated or field.message_type is not None else None
        if field.message_type is not None and field.message_type.GetOptions().map_entry:
            for key, item in value.items():
                if isinstance(item, Message):
                    target[key].CopyFrom(item)
                else:
                    target[key] = item
        elif field.is_repeated:
            target.extend(value)
        elif field.message_type is not None:
            target.CopyFrom(value)
        else:
            setattr(message, name, value)
    return message


def messages(cls: type[Message], depth: int = 0) -> st.SearchStrategy[Message]:
    """Instances of ``cls`` with any subset of its fields set to random values."""
    fields = {field.name: _field(field, depth) for field in cls.DESCRIPTOR.fields}
    return st.fixed_dictionaries({}, optional=fields).map(lambda values: _build(cls, values))


COMMAND_CLASSES = [spec.message for spec in protocol.COMMANDS.values()]
COMMANDS = st.sampled_from(COMMAND_CLASSES).flatmap(messages)

TYPE_URL_NAMES = st.one_of(
    st.sampled_from(
        [
            "arrow.flight.protocol.sql.Nope",
            "arrow.flight.protocol.sql.ActionCreatePreparedStatementRequest",
            "arrow.flight.protocol.sql.DoPutUpdateResult",
            "arrow.flight.protocol.FlightDescriptor",
            "google.protobuf.Any",
            "",
            "/",
        ]
    ),
    st.text(max_size=40),
)
TYPE_URLS = st.one_of(
    st.builds(
        lambda prefix, name: prefix + name,
        st.sampled_from(["type.googleapis.com/", "", "x/y/", "/"]),
        TYPE_URL_NAMES,
    ),
    st.builds(
        lambda prefix, cls: prefix + cls.DESCRIPTOR.full_name,
        st.sampled_from(["example.com/", "a/b/c/"]),
        st.sampled_from(COMMAND_CLASSES),
    ),
)
UNKNOWN_ANY = st.builds(
    lambda url, value: any_pb2.Any(type_url=url, value=value).SerializeToString(),
    TYPE_URLS,
    st.binary(max_size=64),
)


def _mutate(data: bytes, kind: str, position: int, extra: bytes) -> bytes:
    if not data:
        return extra
    position %= len(data)
    if kind == "flip":
        return data[:position] + bytes([data[position] ^ (1 << (len(extra) % 8))]) + data[position + 1 :]
    if kind == "truncate":
        return data[:position]
    if kind == "insert":
        return data[:position] + extra + data[position:]
    return data + extra  # extend


MUTATIONS = st.tuples(
    st.sampled_from(["flip", "truncate", "insert", "extend"]), st.integers(0, 10_000), st.binary(max_size=16)
)

COMMAND_BYTES = st.one_of(
    st.binary(max_size=256),
    UNKNOWN_ANY,
    COMMANDS.map(protocol.pack_command),
    st.tuples(COMMANDS.map(protocol.pack_command), MUTATIONS).map(lambda pair: _mutate(pair[0], *pair[1])),
)


# ---- GetFlightInfo and GetSchema ---------------------------------------------------------------


def _get_flight_info_and_schema(
    client: flight.FlightClient, descriptor: flight.FlightDescriptor, what: str
) -> None:
    info = check(f"GetFlightInfo({what})", outcome(lambda: client.get_flight_info(descriptor, OPTIONS)))
    if info is not None:
        read_endpoints(client, info, f"GetFlightInfo({what})")
    check(f"GetSchema({what})", outcome(lambda: client.get_schema(descriptor, OPTIONS)))


@fuzz_settings(max_examples=150)
@given(command=COMMAND_BYTES)
@example(command=b"")
@example(command=b"\x0a" * 10_000)
@example(command=protocol.pack_command(sql_pb2.TicketStatementQuery(statement_handle=b"[" * 100_000)))
@example(
    command=protocol.pack_command(
        sql_pb2.CommandPreparedStatementQuery(prepared_statement_handle=b"[" * 100_000)
    )
)
@example(
    command=protocol.pack_command(
        sql_pb2.CommandPreparedStatementQuery(
            prepared_statement_handle=b'{"v":2,"sql":"SELECT 1","t":1' + b"0" * 400 + b"}"
        )
    )
)
def test_command_descriptors(client, baseline, command: bytes) -> None:
    _get_flight_info_and_schema(client, flight.FlightDescriptor.for_command(command), repr(command[:80]))


@fuzz_settings(max_examples=150)
@given(command=COMMANDS)
def test_every_command_with_random_fields(client, baseline, command: Message) -> None:
    descriptor = flight.FlightDescriptor.for_command(protocol.pack_command(command))
    _get_flight_info_and_schema(client, descriptor, f"{type(command).__name__}({command})")


@fuzz_settings(max_examples=40)
@given(path=st.lists(st.text(max_size=20), max_size=4))
def test_path_descriptors(client, baseline, path: list[str]) -> None:
    descriptor = flight.FlightDescriptor.for_path(*path)
    _get_flight_info_and_schema(client, descriptor, f"path {path!r}")
    check(f"DoPut(path {path!r})", _put(client, descriptor, pa.schema([]), []))


# ---- DoGet --------------------------------------------------------------------------------------


@fuzz_settings(max_examples=300)
@given(ticket=COMMAND_BYTES)
@example(ticket=protocol.pack_command(sql_pb2.TicketStatementQuery(statement_handle=b"[" * 100_000)))
@example(ticket=protocol.pack_command(sql_pb2.TicketStatementQuery(statement_handle=b'{"q":"x","n":"y"}')))
def test_random_tickets(client, baseline, ticket: bytes) -> None:
    check(
        f"DoGet({ticket[:80]!r})", outcome(lambda: client.do_get(flight.Ticket(ticket), OPTIONS).read_all())
    )


VALID_TICKET_SOURCES = st.sampled_from(
    [
        sql_pb2.CommandStatementQuery(query="SELECT id FROM range(3)"),
        sql_pb2.CommandStatementQuery(query="SELECT * FROM demo.products"),
        sql_pb2.CommandGetTables(db_schema_filter_pattern="demo", include_schema=True),
        sql_pb2.CommandGetSqlInfo(info=[0, 1]),
        sql_pb2.CommandGetXdbcTypeInfo(),
    ]
)


@fuzz_settings(max_examples=30)
@given(source=VALID_TICKET_SOURCES, mutation=MUTATIONS)
def test_mutated_valid_tickets(client, baseline, source: Message, mutation: tuple[str, int, bytes]) -> None:
    info = client.get_flight_info(flight.FlightDescriptor.for_command(protocol.pack_command(source)), OPTIONS)
    ticket = info.endpoints[0].ticket.ticket
    mutated = _mutate(ticket, *mutation)
    check(
        f"DoGet(mutated {mutated!r})",
        outcome(lambda: client.do_get(flight.Ticket(mutated), OPTIONS).read_all()),
    )
    read_endpoints(client, info, f"the original ticket {ticket!r}")  # consumed already: NOT_FOUND


# ---- DoAction ------------------------------------------------------------------------------------


def _flight_infos() -> st.SearchStrategy[flight.FlightInfo]:
    tickets = st.one_of(st.binary(max_size=32), COMMANDS.map(protocol.pack_command))
    endpoints = st.builds(lambda ticket: flight.FlightEndpoint(ticket, []), tickets)
    return st.builds(
        lambda eps: flight.FlightInfo(pa.schema([]), flight.FlightDescriptor.for_command(b"x"), eps, -1, -1),
        st.lists(endpoints, max_size=3),
    )


def _action_bodies(action_type: str) -> st.SearchStrategy[bytes]:
    spec = protocol.ACTIONS[action_type]
    choices: list[st.SearchStrategy[bytes]] = [st.binary(max_size=128), UNKNOWN_ANY]
    if spec.request is not None:
        requests = messages(spec.request)
        valid = requests.map(lambda request: protocol.encode_action_body(action_type, request))
        choices += [valid, valid]
        # the right message under the wrong encoding (raw for Any-wrapped actions, and back)
        choices.append(requests.map(lambda request: request.SerializeToString()))
        choices.append(
            requests.map(
                lambda request: any_pb2.Any(
                    type_url=protocol.type_url(request), value=request.SerializeToString()
                ).SerializeToString()
            )
        )
    if action_type == "CancelFlightInfo":
        choices.append(_flight_infos().map(protocol.encode_cancel_flight_info_request))
    if action_type == "RenewFlightEndpoint":
        choices.append(
            _flight_infos()
            .filter(lambda info: info.endpoints)
            .map(lambda info: protocol.encode_renew_flight_endpoint_request(info.endpoints[0]))
        )
    if action_type == "CancelQuery":
        choices.append(
            _flight_infos().map(
                lambda info: protocol.encode_action_body(
                    "CancelQuery", sql_pb2.ActionCancelQueryRequest(info=info.serialize())
                )
            )
        )
    return st.one_of(choices)


ACTIONS = st.one_of(
    st.sampled_from(sorted(ACTION_HANDLERS)).flatmap(
        lambda kind: st.tuples(st.just(kind), _action_bodies(kind))
    ),
    st.tuples(st.text(max_size=30).filter(lambda kind: kind not in ACTION_HANDLERS), st.binary(max_size=64)),
)


@fuzz_settings(max_examples=400)
@given(action=ACTIONS)
@example(
    action=(
        "ClosePreparedStatement",
        protocol.encode_action_body(
            "ClosePreparedStatement",
            sql_pb2.ActionClosePreparedStatementRequest(prepared_statement_handle=b"[" * 100_000),
        ),
    )
)
@example(action=("", b""))
def test_action_bodies(client, baseline, action: tuple[str, bytes]) -> None:
    action_type, body = action
    check(
        f"DoAction({action_type!r}, {body[:80]!r})",
        outcome(lambda: list(client.do_action(flight.Action(action_type, body), OPTIONS))),
    )


def test_list_actions(client, baseline) -> None:
    assert set(ACTION_HANDLERS) <= {action.type for action in client.list_actions(OPTIONS)}


@fuzz_settings(max_examples=30)
@given(criteria=st.binary(max_size=128))
def test_list_flights_criteria(client, baseline, criteria: bytes) -> None:
    check(f"ListFlights({criteria!r})", outcome(lambda: list(client.list_flights(criteria, OPTIONS))))


# ---- DoPut ----------------------------------------------------------------------------------------

_PRIMITIVES = [
    pa.null(),
    pa.bool_(),
    pa.int8(),
    pa.int16(),
    pa.int32(),
    pa.int64(),
    pa.uint8(),
    pa.uint32(),
    pa.uint64(),
    pa.float16(),
    pa.float32(),
    pa.float64(),
    pa.string(),
    pa.large_string(),
    pa.binary(),
    pa.large_binary(),
    pa.date32(),
    pa.date64(),
    pa.timestamp("us"),
    pa.timestamp("ns", "UTC"),
    pa.time32("s"),
    pa.time64("us"),
    pa.duration("ms"),
    pa.decimal128(10, 2),
    pa.decimal128(38, 0),
    pa.binary(4),
    pa.month_day_nano_interval(),
    pa.dictionary(pa.int8(), pa.string()),
]
FIELD_NAMES = st.one_of(st.sampled_from(["a", "b", "A", "p", "id", "`x`", "a.b", ""]), st.text(max_size=8))


def _nested(children: st.SearchStrategy[pa.DataType]) -> st.SearchStrategy[pa.DataType]:
    return st.one_of(
        children.map(pa.list_),
        children.map(pa.large_list),
        children.map(lambda t: pa.list_(t, 2)),
        st.lists(st.tuples(FIELD_NAMES, children), max_size=3).map(
            lambda fs: pa.struct([pa.field(n, t) for n, t in fs])
        ),
        children.map(lambda t: pa.map_(pa.string(), t)),
    )


TYPES = st.recursive(st.sampled_from(_PRIMITIVES), _nested, max_leaves=6)
SCHEMAS = st.one_of(
    st.lists(st.tuples(FIELD_NAMES, TYPES), max_size=5).map(
        lambda fs: pa.schema([pa.field(n, t) for n, t in fs])
    ),
    st.lists(st.tuples(FIELD_NAMES, st.sampled_from(_PRIMITIVES)), min_size=1, max_size=3).map(
        lambda fs: pa.schema([pa.field(n, t) for n, t in fs])
    ),
    st.integers(500, 20_000).map(lambda n: pa.schema([pa.field(f"c{i}", pa.int8()) for i in range(n)])),
)


@st.composite
def _column(draw: st.DrawFn, data_type: pa.DataType, rows: int) -> pa.Array:
    kind = draw(st.sampled_from(["nulls", "values", "garbage"]))
    if kind == "nulls" or rows == 0 or pa.types.is_null(data_type):
        return pa.nulls(rows, data_type)
    if pa.types.is_dictionary(data_type):
        dictionary = pa.array(["x", "y"])
        top = 1 if kind == "values" else 127
        indices = pa.array(
            draw(st.lists(st.integers(-128 if kind == "garbage" else 0, top), min_size=rows, max_size=rows)),
            pa.int8(),
        )
        return pa.DictionaryArray.from_arrays(indices, dictionary, safe=False)
    if pa.types.is_string(data_type) or pa.types.is_binary(data_type):
        data = draw(st.binary(min_size=rows, max_size=rows + 16))
        if kind == "values" and pa.types.is_binary(data_type):
            return pa.array([data[i : i + 1] for i in range(rows)], data_type)
        # offsets that start at 0 and end at the data's size, anything in between; maybe not UTF-8
        inner = draw(st.lists(st.integers(0, len(data)), min_size=rows - 1, max_size=rows - 1))
        offsets = pa.array([0, *inner, len(data)], pa.int32()).buffers()[1]
        return pa.Array.from_buffers(data_type, rows, [None, offsets, pa.py_buffer(data)])
    if (
        pa.types.is_primitive(data_type)
        or pa.types.is_fixed_size_binary(data_type)
        or pa.types.is_decimal(data_type)
    ):
        width = data_type.bit_width
        size = (rows + 7) // 8 if width == 1 else rows * (width // 8)
        values = draw(st.binary(min_size=size, max_size=size))
        return pa.Array.from_buffers(data_type, rows, [None, pa.py_buffer(values)])
    return pa.nulls(rows, data_type)


@st.composite
def _batches(draw: st.DrawFn, schema: pa.Schema) -> list[tuple[pa.RecordBatch, bytes | None]]:
    count = draw(st.sampled_from([0, 1, 1, 2, 3]))
    wide = len(schema) > 100
    batches = []
    for _ in range(count):
        rows = draw(st.integers(0, 1 if wide else 3))
        columns = [pa.nulls(rows, f.type) if wide else draw(_column(f.type, rows)) for f in schema]
        metadata = draw(st.one_of(st.none(), st.binary(max_size=32)))
        batches.append((pa.RecordBatch.from_arrays(columns, schema=schema), metadata))
    return batches


def _put(
    client: flight.FlightClient,
    descriptor: flight.FlightDescriptor,
    schema: pa.Schema,
    batches: list[tuple[pa.RecordBatch, bytes | None]],
) -> tuple[str, Any]:
    """One DoPut; the server's status is the one the writer's close() reports (a write after the
    server ended the call fails without it)."""

    def call() -> bytes | None:
        writer, reader = client.do_put(descriptor, schema, OPTIONS)
        try:
            try:
                for batch, metadata in batches:
                    if metadata is None:
                        writer.write_batch(batch)
                    else:
                        writer.write_with_metadata(batch, metadata)
                writer.done_writing()
                answer = reader.read()
            except (OSError, pa.ArrowException, flight.FlightError):
                answer = None  # the server ended the call early: close() says why
        finally:
            writer.close()
        return None if answer is None else answer.to_pybytes()

    return outcome(call)


_Options = sql_pb2.CommandStatementIngest.TableDefinitionOptions


@st.composite
def _put_commands(draw: st.DrawFn, handle: bytes) -> Message:
    """Mostly commands that get past their own checks to the upload; some entirely random."""
    kind = draw(
        st.sampled_from(
            ["ingest-temporary"] * 3
            + ["bind"] * 3
            + ["prepared-update"] * 2
            + ["update", "ingest-random", "bind-random", "prepared-update-random", "other"]
        )
    )
    if kind == "update":
        return sql_pb2.CommandStatementUpdate(
            query=draw(SQL), transaction_id=draw(st.sampled_from([b"", b"t"]))
        )
    if kind == "ingest-temporary":
        return sql_pb2.CommandStatementIngest(
            table=draw(FIELD_NAMES.filter(bool)),
            temporary=True,
            table_definition_options=_Options(
                if_not_exist=_Options.TABLE_NOT_EXIST_OPTION_CREATE,
                if_exists=_Options.TABLE_EXISTS_OPTION_REPLACE,
            ),
        )
    if kind == "ingest-random":
        command = draw(messages(sql_pb2.CommandStatementIngest))
        if not command.temporary:
            # Never a table of the demo data: a name no table has, and no table created.
            command.table = "fuzz_missing_" + command.table.encode().hex()
            command.table_definition_options.if_not_exist = _Options.TABLE_NOT_EXIST_OPTION_FAIL
        return command
    if kind == "bind":
        return sql_pb2.CommandPreparedStatementQuery(prepared_statement_handle=handle)
    if kind == "prepared-update":
        # "SELECT ? AS p" as an update: Spark runs it once per parameter row, and writes nothing.
        return sql_pb2.CommandPreparedStatementUpdate(prepared_statement_handle=handle)
    if kind == "bind-random":
        return draw(messages(sql_pb2.CommandPreparedStatementQuery))
    if kind == "prepared-update-random":
        return draw(messages(sql_pb2.CommandPreparedStatementUpdate))
    return draw(COMMANDS)


@fuzz_settings(max_examples=60)
@given(data=st.data())
def test_do_put_streams(client, baseline, prepared_handle, data: st.DataObject) -> None:
    command = data.draw(_put_commands(prepared_handle), label="command")
    schema = data.draw(SCHEMAS, label="schema")
    batches = data.draw(_batches(schema), label="batches")
    what = f"DoPut({type(command).__name__}, {len(schema)} columns, {len(batches)} batches)"
    answer = check(
        what,
        _put(client, flight.FlightDescriptor.for_command(protocol.pack_command(command)), schema, batches),
    )
    if answer and isinstance(command, sql_pb2.CommandPreparedStatementQuery):
        # Bound: execute the new handle with the values just sent.
        result = sql_pb2.DoPutPreparedStatementResult.FromString(answer)
        if result.prepared_statement_handle:
            executed = sql_pb2.CommandPreparedStatementQuery(
                prepared_statement_handle=result.prepared_statement_handle
            )
            descriptor = flight.FlightDescriptor.for_command(protocol.pack_command(executed))
            _get_flight_info_and_schema(client, descriptor, f"the handle {what} bound")


def test_strings_that_are_not_utf8_are_refused_by_grpc_itself(client, baseline) -> None:
    """The one exception to the property, outside the server's code: an action type or descriptor
    path that is not UTF-8 fails gRPC's own parsing of the request (proto3 strings must be UTF-8),
    which answers INTERNAL with no message before pyarrow calls the server. pyarrow gives a Python
    server no hook there. The node keeps serving."""
    calls = {
        "action type": lambda: list(client.do_action(flight.Action(b"\xff\xfe", b""), OPTIONS)),
        "descriptor path": lambda: client.get_flight_info(flight.FlightDescriptor.for_path(b"\xff"), OPTIONS),
    }
    for what, call in calls.items():
        status, error = outcome(call)
        assert status == "INTERNAL", what
        assert str(error).startswith("Flight returned internal error, with message: "), str(error)
        assert "Python" not in str(error), str(error)
    assert set(ACTION_HANDLERS) <= {action.type for action in client.list_actions(OPTIONS)}


# ---- afterwards -------------------------------------------------------------------------------------


def test_the_node_still_serves_and_holds_nothing_left(client, baseline) -> None:
    """Run last (pytest keeps file order): a real query, then no buffers beyond the baseline."""
    query = flight.FlightDescriptor.for_command(
        protocol.pack_command(sql_pb2.CommandStatementQuery(query="SELECT count(*) AS n FROM demo.sales"))
    )
    info = client.get_flight_info(query, OPTIONS)
    assert client.do_get(info.endpoints[0].ticket, OPTIONS).read_all().column(0)[0].as_py() > 0
    seen: list[dict[str, Any]] = []

    def holds_nothing_left() -> bool:
        seen[:] = [node_stats(client)]
        keys = ("results", "buffered_bytes", "spill_files", "spilled_bytes")
        return all(seen[0][key] <= baseline[key] for key in keys)

    wait_until(
        holds_nothing_left,
        interval=0.2,
        message=lambda: f"the node still holds what the fuzzing left: {seen[0]} (before: {baseline})",
    )
