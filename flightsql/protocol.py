"""How Flight SQL messages travel on the wire: the command registry and action encodings.

Commands (``FlightDescriptor.cmd`` of GetFlightInfo, GetSchema and DoPut) and tickets are a
serialized ``google.protobuf.Any`` wrapping one Flight SQL message; :data:`COMMANDS` lists
every message that can arrive that way, keyed by its Any type URL
(``type.googleapis.com/arrow.flight.protocol.sql.CommandStatementQuery``, ...).

Actions come in two encodings, as the Flight SQL specification, arrow-go's server and
client and the ADBC Go driver (which uses arrow-go's client) all do:

- Flight SQL's own actions (CreatePreparedStatement, ClosePreparedStatement,
  CreatePreparedSubstraitPlan, BeginTransaction, EndTransaction, BeginSavepoint,
  EndSavepoint, CancelQuery): ``Action.body`` and each ``Result.body`` are a serialized Any.
- Flight's actions (CancelFlightInfo, RenewFlightEndpoint, SetSessionOptions,
  GetSessionOptions, CloseSession): body and result are the raw serialized message.
  CancelFlightInfo and RenewFlightEndpoint carry Flight messages that pyarrow already
  models (FlightInfo, FlightEndpoint); :func:`decode_cancel_flight_info_request` and the
  functions beside it translate those.

:data:`ACTIONS` records which is which. Everything here raises
:class:`spark_flight_sql.flightsql.errors.InvalidArgument` for bytes that are not what they should be.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import TypeVar

import pyarrow.flight as flight
from google.protobuf import any_pb2, wrappers_pb2
from google.protobuf.message import DecodeError, Message

from spark_flight_sql.flightsql.errors import InvalidArgument
from spark_flight_sql.flightsql.proto import FlightSession_pb2 as session_pb2
from spark_flight_sql.flightsql.proto import FlightSql_pb2 as sql_pb2

KEEP_RESULT_HEADER = "x-spark-flight-keep-result"
"""A call header of GetFlightInfo: ``true`` asks the server to keep the result after it was read, so
that every endpoint's ticket can be read again (until the endpoint's ``expiration_time``); the
``flightsql`` data source sends it, since Spark reads the same tickets for every action."""

__all__ = [
    "ACTIONS",
    "COMMANDS",
    "KEEP_RESULT_HEADER",
    "TYPE_URL_PREFIX",
    "ActionSpec",
    "CancelStatus",
    "CommandSpec",
    "command_name",
    "decode_action_body",
    "decode_action_result",
    "decode_cancel_flight_info_request",
    "decode_cancel_flight_info_result",
    "decode_flight_info",
    "decode_renew_flight_endpoint_request",
    "encode_action_body",
    "encode_action_result",
    "encode_cancel_flight_info_request",
    "encode_cancel_flight_info_result",
    "encode_renew_flight_endpoint_request",
    "pack_command",
    "type_url",
    "unpack_command",
]

TYPE_URL_PREFIX = "type.googleapis.com/"


def type_url(message: Message | type[Message]) -> str:
    """The Any type URL of a message or message class."""
    return TYPE_URL_PREFIX + message.DESCRIPTOR.full_name


@dataclass(frozen=True)
class CommandSpec:
    """A message that travels Any-wrapped as a command or ticket."""

    type_url: str
    message: type[Message]
    name: str
    """The message name, e.g. ``CommandGetCatalogs``: what error messages call it."""


def _command(message: type[Message]) -> tuple[str, CommandSpec]:
    url = type_url(message)
    return url, CommandSpec(url, message, message.DESCRIPTOR.name)


COMMANDS: Mapping[str, CommandSpec] = MappingProxyType(
    dict(
        _command(message)
        for message in (
            sql_pb2.CommandStatementQuery,
            sql_pb2.CommandStatementSubstraitPlan,
            sql_pb2.CommandPreparedStatementQuery,
            sql_pb2.CommandStatementUpdate,
            sql_pb2.CommandPreparedStatementUpdate,
            sql_pb2.CommandStatementIngest,
            sql_pb2.CommandGetCatalogs,
            sql_pb2.CommandGetDbSchemas,
            sql_pb2.CommandGetTables,
            sql_pb2.CommandGetTableTypes,
            sql_pb2.CommandGetSqlInfo,
            sql_pb2.CommandGetPrimaryKeys,
            sql_pb2.CommandGetExportedKeys,
            sql_pb2.CommandGetImportedKeys,
            sql_pb2.CommandGetCrossReference,
            sql_pb2.CommandGetXdbcTypeInfo,
            sql_pb2.TicketStatementQuery,
        )
    )
)
"""Every command and ticket message, by Any type URL."""

_COMMANDS_BY_NAME = {spec.message.DESCRIPTOR.full_name: spec for spec in COMMANDS.values()}


def command_name(message: Message) -> str:
    """The short name of a command message, e.g. ``CommandGetCatalogs``."""
    return message.DESCRIPTOR.name


def _pack(message: Message) -> bytes:
    wrapper = any_pb2.Any()
    wrapper.Pack(message, type_url_prefix=TYPE_URL_PREFIX)
    return wrapper.SerializeToString()


M = TypeVar("M", bound=Message)
MessageClass = type[Message]
"""A protobuf message class (named so that ``ActionSpec.type``, a field, does not hide ``type``)."""


def _parse(cls: type[M], data: bytes, what: str) -> M:
    message = cls()
    try:
        message.ParseFromString(data)
    except DecodeError as exc:
        raise InvalidArgument(f"malformed {what}: {exc}") from None
    return message


def _parse_any(data: bytes, what: str) -> any_pb2.Any:
    wrapper = _parse(any_pb2.Any, data, f"{what} (expected a serialized google.protobuf.Any)")
    if not wrapper.type_url:
        raise InvalidArgument(f"{what} is not a google.protobuf.Any-wrapped Flight SQL message")
    return wrapper


def pack_command(message: Message) -> bytes:
    """Serialize a command or ticket message as Flight SQL sends it: Any-wrapped."""
    if type_url(message) not in COMMANDS:
        raise ValueError(f"{command_name(message)} is not a Flight SQL command or ticket")
    return _pack(message)


def unpack_command(data: bytes) -> Message:
    """The typed command or ticket message in ``data`` (a serialized Any).

    Raises :class:`InvalidArgument` when ``data`` is not protobuf, not an Any, or wraps a
    message that is not a Flight SQL command or ticket.
    """
    wrapper = _parse_any(bytes(data), "command")
    # Any allows any host in the URL; resolve by the message name after the last "/".
    spec = COMMANDS.get(wrapper.type_url) or _COMMANDS_BY_NAME.get(wrapper.type_url.rsplit("/", 1)[-1])
    if spec is None:
        raise InvalidArgument(f"unknown Flight SQL command type URL: {wrapper.type_url!r}")
    return _parse(spec.message, wrapper.value, spec.name)


# --- Actions -----------------------------------------------------------------------------


@dataclass(frozen=True)
class ActionSpec:
    """One DoAction type: its messages and how its body and results are encoded."""

    type: str
    description: str
    request: MessageClass | None
    """The body's message, None for the two whose body is a pyarrow-modelled Flight message."""
    result: MessageClass | None
    """The message each Result carries, None when there is none or it is pyarrow-modelled."""
    any_wrapped: bool
    """True for Flight SQL actions (Any-wrapped), False for Flight's own (raw messages)."""


def _action(
    type_: str,
    description: str,
    request: type[Message] | None,
    result: type[Message] | None,
    any_wrapped: bool,
) -> tuple[str, ActionSpec]:
    return type_, ActionSpec(type_, description, request, result, any_wrapped)


ACTIONS: Mapping[str, ActionSpec] = MappingProxyType(
    dict(
        (
            _action(
                "CreatePreparedStatement",
                "Create a prepared statement from a SQL query.",
                sql_pb2.ActionCreatePreparedStatementRequest,
                sql_pb2.ActionCreatePreparedStatementResult,
                True,
            ),
            _action(
                "ClosePreparedStatement",
                "Close a prepared statement and release its resources.",
                sql_pb2.ActionClosePreparedStatementRequest,
                None,
                True,
            ),
            _action(
                "CreatePreparedSubstraitPlan",
                "Create a prepared statement from a Substrait plan.",
                sql_pb2.ActionCreatePreparedSubstraitPlanRequest,
                sql_pb2.ActionCreatePreparedStatementResult,
                True,
            ),
            _action(
                "BeginTransaction",
                "Begin a transaction.",
                sql_pb2.ActionBeginTransactionRequest,
                sql_pb2.ActionBeginTransactionResult,
                True,
            ),
            _action(
                "EndTransaction",
                "Commit or roll back a transaction.",
                sql_pb2.ActionEndTransactionRequest,
                None,
                True,
            ),
            _action(
                "BeginSavepoint",
                "Create a savepoint within a transaction.",
                sql_pb2.ActionBeginSavepointRequest,
                sql_pb2.ActionBeginSavepointResult,
                True,
            ),
            _action(
                "EndSavepoint",
                "Release or roll back to a savepoint.",
                sql_pb2.ActionEndSavepointRequest,
                None,
                True,
            ),
            _action(
                "CancelQuery",
                "Cancel a running query (deprecated: use CancelFlightInfo).",
                sql_pb2.ActionCancelQueryRequest,
                sql_pb2.ActionCancelQueryResult,
                True,
            ),
            _action(
                "CancelFlightInfo",
                "Cancel the query behind a FlightInfo.",
                None,
                None,
                False,
            ),
            _action(
                "RenewFlightEndpoint",
                "Extend the expiration time of a FlightEndpoint.",
                None,
                None,
                False,
            ),
            _action(
                "SetSessionOptions",
                "Set options of the current session.",
                session_pb2.SetSessionOptionsRequest,
                session_pb2.SetSessionOptionsResult,
                False,
            ),
            _action(
                "GetSessionOptions",
                "Get the options of the current session.",
                session_pb2.GetSessionOptionsRequest,
                session_pb2.GetSessionOptionsResult,
                False,
            ),
            _action(
                "CloseSession",
                "Close the current session.",
                session_pb2.CloseSessionRequest,
                session_pb2.CloseSessionResult,
                False,
            ),
        )
    )
)
"""Every action a Flight SQL server answers, by ``Action.type``."""


def _action_spec(action_type: str) -> ActionSpec:
    try:
        return ACTIONS[action_type]
    except KeyError:
        raise InvalidArgument(f"unknown action type: {action_type!r}") from None


def _check_type(spec: ActionSpec, message: Message, expected: type[Message] | None) -> None:
    if expected is None or not isinstance(message, expected):
        wanted = expected.DESCRIPTOR.name if expected is not None else "no message"
        raise TypeError(f"{spec.type} takes {wanted}, not {type(message).__name__}")


def _decode(action_type: str, cls: type[Message] | None, body: bytes, what: str) -> Message:
    """Parse ``body`` as ``cls``, unwrapping (and checking) the Any when the action wraps one."""
    spec = _action_spec(action_type)
    if cls is None:
        raise ValueError(f"{action_type} has no protobuf {what}: use its own decoder")
    label = f"{action_type} {what}"
    if not spec.any_wrapped:
        return _parse(cls, bytes(body), label)
    wrapper = _parse_any(bytes(body), label)
    if wrapper.type_url.rsplit("/", 1)[-1] != cls.DESCRIPTOR.full_name:
        raise InvalidArgument(f"{action_type} expects {cls.DESCRIPTOR.name}, got {wrapper.type_url!r}")
    return _parse(cls, wrapper.value, label)


def _encode(action_type: str, message: Message, expected: type[Message] | None) -> bytes:
    spec = _action_spec(action_type)
    _check_type(spec, message, expected)
    return _pack(message) if spec.any_wrapped else message.SerializeToString()


def decode_action_body(action_type: str, body: bytes) -> Message:
    """The typed request in the body of an action of ``action_type`` (server side)."""
    return _decode(action_type, _action_spec(action_type).request, body, "request")


def encode_action_result(action_type: str, result: Message) -> bytes:
    """The ``Result.body`` that carries ``result`` for an action of ``action_type``."""
    return _encode(action_type, result, _action_spec(action_type).result)


def encode_action_body(action_type: str, request: Message) -> bytes:
    """The ``Action.body`` a client sends for ``request`` (client side, and tests)."""
    return _encode(action_type, request, _action_spec(action_type).request)


def decode_action_result(action_type: str, body: bytes) -> Message:
    """The typed message in a ``Result.body`` of ``action_type`` (client side, and tests)."""
    return _decode(action_type, _action_spec(action_type).result, body, "result")


class CancelStatus(enum.IntEnum):
    """Flight's ``CancelStatus``: the result of CancelFlightInfo (and, same values, CancelQuery)."""

    UNSPECIFIED = 0
    CANCELLED = 1
    CANCELLING = 2
    NOT_CANCELLABLE = 3


# CancelFlightInfoRequest {FlightInfo info = 1} and RenewFlightEndpointRequest
# {FlightEndpoint endpoint = 1} hold one embedded message in field 1, which encodes exactly
# like BytesValue {bytes value = 1}; CancelFlightInfoResult {CancelStatus status = 1}
# encodes like Int32Value {int32 value = 1}. pyarrow serializes FlightInfo and
# FlightEndpoint, so these wrappers are all that is needed to speak those messages.


def decode_flight_info(data: bytes) -> flight.FlightInfo:
    """A serialized FlightInfo (as in ActionCancelQueryRequest.info) as a pyarrow FlightInfo."""
    try:
        return flight.FlightInfo.deserialize(bytes(data))
    except Exception as exc:  # noqa: BLE001 - whatever pyarrow raises for bytes that are no FlightInfo
        raise InvalidArgument(f"malformed FlightInfo: {exc}") from None


def decode_cancel_flight_info_request(body: bytes) -> flight.FlightInfo:
    """The FlightInfo to cancel, from the body of a CancelFlightInfo action."""
    wrapper = _parse(wrappers_pb2.BytesValue, bytes(body), "CancelFlightInfoRequest")
    return decode_flight_info(wrapper.value)


def encode_cancel_flight_info_request(info: flight.FlightInfo) -> bytes:
    """The body of a CancelFlightInfo action for ``info`` (client side, and tests)."""
    return wrappers_pb2.BytesValue(value=info.serialize()).SerializeToString()


def encode_cancel_flight_info_result(status: CancelStatus | int) -> bytes:
    """The ``Result.body`` of a CancelFlightInfo action: a CancelFlightInfoResult."""
    return wrappers_pb2.Int32Value(value=int(CancelStatus(status))).SerializeToString()


def decode_cancel_flight_info_result(body: bytes) -> CancelStatus:
    """The status in a CancelFlightInfoResult (client side, and tests)."""
    wrapper = _parse(wrappers_pb2.Int32Value, bytes(body), "CancelFlightInfoResult")
    return CancelStatus(wrapper.value)


def decode_renew_flight_endpoint_request(body: bytes) -> flight.FlightEndpoint:
    """The FlightEndpoint to renew, from the body of a RenewFlightEndpoint action."""
    wrapper = _parse(wrappers_pb2.BytesValue, bytes(body), "RenewFlightEndpointRequest")
    try:
        return flight.FlightEndpoint.deserialize(wrapper.value)
    except Exception as exc:  # noqa: BLE001 - whatever pyarrow raises for bytes that are no FlightEndpoint
        raise InvalidArgument(f"malformed FlightEndpoint: {exc}") from None


def encode_renew_flight_endpoint_request(endpoint: flight.FlightEndpoint) -> bytes:
    """The body of a RenewFlightEndpoint action for ``endpoint`` (client side, and tests)."""
    return wrappers_pb2.BytesValue(value=endpoint.serialize()).SerializeToString()
