"""SQL statements: parsing without running, and prepared statement handles."""

from __future__ import annotations

import base64
import json
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import pyarrow as pa

from spark_flight_sql.flightsql.errors import InvalidArgument

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

_HANDLE_VERSION = 2
MAX_BOUND_PARAMETER_BYTES = 4 * 1024 * 1024
"""Largest parameter set a query handle carries (update parameters are never stored)."""
MAX_PARAMETER_ROWS = 1000
"""Most parameter rows a statement runs once per row with (each row is a Spark statement of its own;
``INSERT ... VALUES (?, ...)`` is one write however many rows it has)."""

# Parsed statements that are not yet Commands but become writes when analysed.
_PARSED_WRITES = frozenset({"InsertIntoStatement"})
# Statements whose effect is decided only when they run (dynamic SQL, SQL scripts).
_OPAQUE_COMMANDS = frozenset({"UnresolvedExecuteImmediate", "CompoundBody"})


@dataclass(frozen=True)
class PreparedStatement:
    """A prepared statement. The handle carries the statement and its bound parameters, so any node
    can execute it and the server holds nothing between calls."""

    sql: str
    parameters: pa.Table | None = None
    """Parameter rows bound by DoPut (one row per execution), or None."""
    issued_at: float = field(default_factory=time.time, compare=False)
    """When the handle was issued or last bound (seconds since the epoch); handles expire from it."""

    def encode(self) -> bytes:
        """The opaque handle sent to clients."""
        body: dict[str, object] = {"v": _HANDLE_VERSION, "sql": self.sql, "t": round(self.issued_at, 3)}
        if self.parameters is not None:
            body["p"] = base64.b64encode(_ipc_bytes(self.parameters)).decode()
        return json.dumps(body, separators=(",", ":")).encode()

    @classmethod
    def decode(cls, handle: bytes, ttl: float | None = None) -> PreparedStatement:
        """Parse a handle, rejecting anything this server did not issue, and handles older than ``ttl``."""
        try:
            body = json.loads(handle)
            if body["v"] != _HANDLE_VERSION or not isinstance(body["sql"], str):
                raise ValueError
            issued_at = float(body["t"])
            parameters = _read_ipc(base64.b64decode(body["p"], validate=True)) if "p" in body else None
        except (ValueError, TypeError, KeyError, OverflowError, RecursionError, pa.ArrowException):
            raise InvalidArgument("not a prepared statement handle issued by this server") from None
        if ttl is not None and time.time() - issued_at > ttl:
            raise InvalidArgument(
                f"this prepared statement expired ({ttl:g} s after it was prepared or bound): prepare it again"
            )
        return cls(sql=body["sql"], parameters=parameters, issued_at=issued_at)

    def bind(self, parameters: pa.Table) -> PreparedStatement:
        """The same statement with ``parameters`` bound (an empty table unbinds), issued now."""
        if parameters.num_rows == 0:
            return PreparedStatement(self.sql)
        check_parameter_rows(parameters.num_rows)
        if parameters.nbytes > MAX_BOUND_PARAMETER_BYTES:
            raise InvalidArgument(
                f"query parameters are limited to {MAX_BOUND_PARAMETER_BYTES} bytes; bind fewer rows"
            )
        return PreparedStatement(self.sql, parameters.combine_chunks())

    def argument_rows(self) -> list[list[object]]:
        """The bound parameters as one list of Python values per row ([[]] when none are bound)."""
        return parameter_rows(self.parameters) if self.parameters is not None else [[]]


def check_parameter_rows(rows: int) -> None:
    """INVALID_ARGUMENT when a statement would run once per row for more than MAX_PARAMETER_ROWS rows."""
    if rows > MAX_PARAMETER_ROWS:
        raise InvalidArgument(
            f"{rows} parameter rows: a statement runs once per row for at most {MAX_PARAMETER_ROWS} rows "
            "(INSERT INTO t VALUES (?, ...) takes any number in one write; for more rows use bulk ingest)"
        )


def parameter_rows(parameters: pa.Table) -> list[list[object]]:
    """Parameter rows as Python values, in column (marker) order."""
    columns = [column.to_pylist() for column in parameters.columns]
    return [list(row) for row in zip(*columns)] if columns else [[] for _ in range(parameters.num_rows)]


def parameter_schema(sql: str) -> pa.Schema:
    """One nullable field per ``?`` marker. Spark infers a parameter's type from the value bound,
    so each is declared with the null type (any value may be bound)."""
    return pa.schema([pa.field(f"parameter_{i + 1}", pa.null()) for i in range(count_markers(sql))])


def count_markers(sql: str) -> int:
    """The number of ``?`` parameter markers in ``sql``, outside quotes and comments."""
    count = 0
    i = 0
    length = len(sql)
    while i < length:
        char = sql[i]
        if char in "'\"`":
            i = _skip_quoted(sql, i, char)
            continue
        if sql.startswith("--", i):
            end = sql.find("\n", i)
            i = length if end < 0 else end
            continue
        if sql.startswith("/*", i):
            end = sql.find("*/", i + 2)
            i = length if end < 0 else end + 2
            continue
        if char == "?":
            count += 1
        i += 1
    return count


def _skip_quoted(sql: str, start: int, quote: str) -> int:
    i = start + 1
    while i < len(sql):
        if sql[i] == "\\" and quote != "`":
            i += 2
            continue
        if sql[i] == quote:
            if quote == "`" and sql.startswith("``", i):  # an escaped backtick inside an identifier
                i += 2
                continue
            return i + 1
        i += 1
    return i


def _ipc_bytes(table: pa.Table) -> bytes:
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, table.schema) as writer:
        writer.write_table(table)
    return sink.getvalue().to_pybytes()


def _read_ipc(data: bytes) -> pa.Table:
    table = pa.ipc.open_stream(pa.py_buffer(data)).read_all()
    table.validate(full=True)  # a forged handle must not decode into arrays that point anywhere
    return table


@dataclass(frozen=True)
class StatementKind:
    """What a statement is, learnt from Spark's parser without running it."""

    is_command: bool
    """A command (DDL, DML, SET, SHOW, ...): Spark runs it eagerly when the statement is executed."""
    returns_rows: bool
    """Whether its result has columns (a query, SHOW, DESCRIBE) rather than being an update."""


def classify(spark: SparkSession, sql: str) -> StatementKind:
    """Parse ``sql`` with the session's parser (raising Spark's ParseException) and classify it."""
    if not sql.strip():
        raise InvalidArgument("the SQL statement is empty")
    jvm = spark._jvm
    assert jvm is not None, "a classic Spark session, with a JVM"
    plan = spark._jsparkSession.sessionState().sqlParser().parsePlan(sql)
    name = plan.getClass().getSimpleName()
    if name in _OPAQUE_COMMANDS:
        # What runs is known only when it runs: treat it as a command that may return rows, so
        # that nothing executes it before the client does.
        return StatementKind(is_command=True, returns_rows=True)
    if _is_parsed_write(plan):
        return StatementKind(is_command=True, returns_rows=False)
    command_class = jvm.java.lang.Class.forName("org.apache.spark.sql.catalyst.plans.logical.Command")
    if not command_class.isInstance(plan):
        return StatementKind(is_command=False, returns_rows=True)
    try:
        returns_rows = plan.output().length() > 0
    except Exception:  # noqa: BLE001 - some unresolved commands cannot tell their output yet
        returns_rows = True
    return StatementKind(is_command=True, returns_rows=returns_rows)


# Parsed statements other than INSERT that write or change table rows.
_ROW_WRITES = frozenset(
    {"DeleteFromTable", "UpdateTable", "MergeIntoTable", "CreateTableAsSelect", "ReplaceTableAsSelect"}
)


def writes_rows(spark: SparkSession, sql: str) -> bool:
    """Whether ``sql`` writes or changes table rows (INSERT, DELETE, UPDATE, MERGE, CREATE or REPLACE
    TABLE ... AS SELECT), or may (EXECUTE IMMEDIATE, SQL scripts); not DDL, SET, USE, CACHE..."""
    plan = spark._jsparkSession.sessionState().sqlParser().parsePlan(sql)
    name = plan.getClass().getSimpleName()
    return name in _ROW_WRITES or name in _OPAQUE_COMMANDS or _is_parsed_write(plan)


def _is_parsed_write(plan: Any) -> bool:
    """INSERT statements, also under WITH and as the branches of a multi-insert (FROM s INSERT ... INSERT ...)."""
    name = plan.getClass().getSimpleName()
    if name in _PARSED_WRITES:
        return True
    children = plan.children()
    if name == "UnresolvedWith":
        return _is_parsed_write(children.head())
    if name == "Union" and children.size() > 0:
        return all(_is_parsed_write(children.apply(i)) for i in range(children.size()))
    return False


def quote_identifier(name: str) -> str:
    """``name`` as one Spark SQL identifier: in backticks, a backtick inside doubled."""
    return "`" + name.replace("`", "``") + "`"
