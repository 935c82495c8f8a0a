"""A small non-Spark Flight SQL server for the data source's tests: pyarrow.flight over sqlite3.

It runs the SQL it receives on an in-memory sqlite database (so pushed-down WHERE clauses really
filter), records every statement and every call's headers, and shapes each result the way the
data source must cope with: several endpoints, one without locations, one that says to reuse
the connection, one whose first location is unreachable, one with no rows, and data endpoints
that send many small batches. It answers CommandStatementQuery, CreatePreparedStatement (with
the dataset schema), CommandStatementIngest and basic or bearer authentication; everything else
is UNIMPLEMENTED, SqlInfo included (clients then fall back to the standard ``"`` quote).
"""

from __future__ import annotations

import base64
import itertools
import secrets
import sqlite3
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field

import pyarrow as pa
import pyarrow.flight as flight

from spark_flight_sql.flightsql.proto import FlightSql_pb2 as sql_pb2
from spark_flight_sql.flightsql.protocol import (
    decode_action_body,
    encode_action_result,
    pack_command,
    unpack_command,
)

REUSE = "arrow-flight-reuse-connection://?"
UNREACHABLE = "grpc://127.0.0.1:1"


@dataclass
class Calls:
    """What the server was asked."""

    sql: list[str] = field(default_factory=list)
    """Every statement executed for GetFlightInfo, in order."""
    prepared: list[str] = field(default_factory=list)
    headers: list[dict[str, list[str]]] = field(default_factory=list)
    do_gets: int = 0
    ingests: list[tuple[str, int, int, int]] = field(default_factory=list)
    """(table, if_not_exist, if_exists, rows) of every ingest."""


class _AuthFactory(flight.ServerMiddlewareFactory):
    def __init__(self, server: ToyFlightSqlServer) -> None:
        self.server = server

    def start_call(
        self, info: flight.CallInfo, headers: dict[str, list[str]]
    ) -> flight.ServerMiddleware | None:
        self.server.calls.headers.append(dict(headers))
        auth = (headers.get("authorization") or [""])[0]
        if self.server.username is None and self.server.token is None:
            return None
        if auth.startswith("Basic ") and self.server.username is not None:
            user, _, password = base64.b64decode(auth[6:] + "==").decode().partition(":")
            if (user, password) != (self.server.username, self.server.password):
                raise flight.FlightUnauthenticatedError("invalid user name or password")
            token = secrets.token_hex(8)
            self.server.tokens.add(token)
            return _Respond(f"Bearer {token}")
        if auth.startswith("Bearer ") and auth[7:] in self.server.tokens:
            return None
        raise flight.FlightUnauthenticatedError("no valid credentials")


class _NoopAuthHandler(flight.ServerAuthHandler):
    """Accepts the Handshake call: the middleware checks the credentials and answers the token."""

    def authenticate(self, outgoing: flight.ServerAuthSender, incoming: flight.ServerAuthReader) -> None:
        pass

    def is_valid(self, token: bytes) -> str:
        return ""


class _Respond(flight.ServerMiddleware):
    def __init__(self, authorization: str) -> None:
        self.authorization = authorization

    def sending_headers(self) -> dict[str, str]:
        return {"authorization": self.authorization}


def _sqlite_value(value: object) -> object:
    return int(value) if isinstance(value, bool) else value


class ToyFlightSqlServer(flight.FlightServerBase):
    """The toy server on a free port of 127.0.0.1; use as a context manager.

    ``endpoints`` data endpoints each get a slice of a result's rows, sent ``batch_rows`` at a
    time, plus one endpoint with no rows.
    """

    def __init__(
        self,
        tables: dict[str, pa.Table] | None = None,
        *,
        endpoints: int = 4,
        batch_rows: int = 7,
        username: str | None = None,
        password: str | None = None,
        token: str | None = None,
    ) -> None:
        self.username, self.password = username, password
        self.token = token
        self.tokens: set[str] = {token} if token else set()
        self.calls = Calls()
        self.endpoints = endpoints
        self.batch_rows = batch_rows
        self._db = sqlite3.connect(":memory:", check_same_thread=False)
        self._db.execute("PRAGMA case_sensitive_like = ON")
        self._lock = threading.Lock()
        self._types: dict[str, pa.DataType] = {}
        self._results: dict[bytes, list[pa.Table]] = {}
        self._ids = itertools.count()
        super().__init__(
            "grpc://127.0.0.1:0", auth_handler=_NoopAuthHandler(), middleware={"auth": _AuthFactory(self)}
        )
        self.uri = f"grpc://127.0.0.1:{self.port}"
        for name, table in (tables or {}).items():
            self.load(name, table)

    # --- data --------------------------------------------------------------------------

    def load(self, name: str, table: pa.Table, replace: bool = True) -> None:
        """Create (or with ``replace`` recreate) table ``name`` holding ``table``'s rows."""
        with self._lock:
            quoted = '"' + name.replace('"', '""') + '"'
            if replace:
                self._db.execute(f"DROP TABLE IF EXISTS {quoted}")
                columns = ", ".join('"' + c.replace('"', '""') + '"' for c in table.column_names)
                self._db.execute(f"CREATE TABLE {quoted} ({columns})")
            for arrow_field in table.schema:
                self._types[arrow_field.name] = arrow_field.type
            self._insert(quoted, table)

    def _insert(self, quoted: str, table: pa.Table) -> None:
        if table.num_rows:
            marks = ", ".join("?" * table.num_columns)
            rows = zip(*(column.to_pylist() for column in table.columns))
            self._db.executemany(
                f"INSERT INTO {quoted} VALUES ({marks})", ([_sqlite_value(v) for v in r] for r in rows)
            )
        self._db.commit()

    def table_exists(self, name: str) -> bool:
        with self._lock:
            found = self._db.execute(
                "SELECT 1 FROM sqlite_master WHERE type='table' AND name=?", (name,)
            ).fetchone()
        return found is not None

    def run(self, sql: str) -> pa.Table:
        """``sql``'s result, typed from the loaded tables' columns of the same names."""
        with self._lock:
            try:
                cursor = self._db.execute(sql)
            except sqlite3.Error as exc:
                raise flight.FlightServerError(f"invalid SQL: {exc}") from None
            names = [d[0] for d in cursor.description or []]
            rows = cursor.fetchall()
        arrays = []
        for index, name in enumerate(names):
            values = [row[index] for row in rows]
            data_type = self._types.get(name)
            if data_type is None:
                data_type = pa.array(values).type if values else pa.string()
            if pa.types.is_boolean(data_type):  # sqlite keeps booleans as 0 and 1
                values = [None if v is None else bool(v) for v in values]
            arrays.append(pa.array(values, type=data_type))
        return pa.Table.from_arrays(arrays, names=names)

    # --- Flight ------------------------------------------------------------------------

    def _locations(self, index: int) -> list[str]:
        layout = {0: [], 2: [REUSE], 3: [UNREACHABLE, self.uri]}
        return layout.get(index, [self.uri])

    def get_flight_info(
        self, context: flight.ServerCallContext, descriptor: flight.FlightDescriptor
    ) -> flight.FlightInfo:
        command = unpack_command(descriptor.command)
        if not isinstance(command, sql_pb2.CommandStatementQuery):
            raise NotImplementedError(f"{type(command).__name__} is not supported by the toy server")
        self.calls.sql.append(command.query)
        table = self.run(command.query)
        handle = str(next(self._ids)).encode()
        size = -(-table.num_rows // self.endpoints) if table.num_rows else 0
        parts = [table.slice(i * size, size) for i in range(self.endpoints)]
        parts.insert(1, table.slice(0, 0))  # an endpoint with no rows
        self._results[handle] = parts
        endpoints = []
        for index in range(len(parts)):
            ticket = pack_command(
                sql_pb2.TicketStatementQuery(statement_handle=handle + b"/" + str(index).encode())
            )
            endpoints.append(flight.FlightEndpoint(ticket, self._locations(index)))
        return flight.FlightInfo(table.schema, descriptor, endpoints, table.num_rows, -1)

    def do_get(self, context: flight.ServerCallContext, ticket: flight.Ticket) -> flight.FlightDataStream:
        command = unpack_command(ticket.ticket)
        handle, _, index = command.statement_handle.partition(b"/")
        self.calls.do_gets += 1
        part = self._results[handle][int(index)]
        batches = part.to_batches(max_chunksize=self.batch_rows) if part.num_rows else []
        return flight.GeneratorStream(part.schema, iter(batches))

    def do_action(self, context: flight.ServerCallContext, action: flight.Action) -> Iterator[flight.Result]:
        if action.type == "CreatePreparedStatement":
            request = decode_action_body(action.type, action.body.to_pybytes())
            self.calls.prepared.append(request.query)
            schema = self.run(request.query).schema
            result = sql_pb2.ActionCreatePreparedStatementResult(
                prepared_statement_handle=b"toy", dataset_schema=schema.serialize().to_pybytes()
            )
            return iter([flight.Result(encode_action_result(action.type, result))])
        if action.type == "ClosePreparedStatement":
            return iter([])
        raise NotImplementedError(f"action {action.type} is not supported by the toy server")

    def do_put(
        self,
        context: flight.ServerCallContext,
        descriptor: flight.FlightDescriptor,
        reader: flight.MetadataRecordBatchReader,
        writer: flight.FlightMetadataWriter,
    ) -> None:
        command = unpack_command(descriptor.command)
        if not isinstance(command, sql_pb2.CommandStatementIngest):
            raise NotImplementedError(f"{type(command).__name__} is not supported by the toy server")
        options = command.table_definition_options
        table = reader.read_all()
        exists = self.table_exists(command.table)
        definition = sql_pb2.CommandStatementIngest.TableDefinitionOptions
        if not exists and options.if_not_exist == definition.TABLE_NOT_EXIST_OPTION_FAIL:
            raise flight.FlightServerError(f"table {command.table} does not exist")
        if exists and options.if_exists == definition.TABLE_EXISTS_OPTION_FAIL:
            raise flight.FlightServerError(f"table {command.table} already exists")
        self.load(
            command.table,
            table,
            replace=not exists or options.if_exists == definition.TABLE_EXISTS_OPTION_REPLACE,
        )
        self.calls.ingests.append((command.table, options.if_not_exist, options.if_exists, table.num_rows))
        writer.write(pa.py_buffer(sql_pb2.DoPutUpdateResult(record_count=table.num_rows).SerializeToString()))
