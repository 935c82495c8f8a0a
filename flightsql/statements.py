"""SQL statements: parsing without running, and prepared statement handles."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import TYPE_CHECKING

from flightsql.errors import InvalidArgument

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

_HANDLE_VERSION = 1

# Parsed statements that are not yet Commands but become writes when analysed.
_PARSED_WRITES = frozenset({"InsertIntoStatement"})


@dataclass(frozen=True)
class PreparedStatement:
    """A prepared statement. The handle carries the statement itself, so any node can execute it."""

    sql: str

    def encode(self) -> bytes:
        """The opaque handle sent to clients."""
        return json.dumps({"v": _HANDLE_VERSION, "sql": self.sql}, separators=(",", ":")).encode()

    @classmethod
    def decode(cls, handle: bytes) -> PreparedStatement:
        """Parse a handle, rejecting anything this server did not issue."""
        try:
            body = json.loads(handle)
            if body["v"] != _HANDLE_VERSION or not isinstance(body["sql"], str):
                raise ValueError
            return cls(sql=body["sql"])
        except (ValueError, TypeError, KeyError):
            raise InvalidArgument("not a prepared statement handle issued by this server") from None


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
    jvm = spark._jvm  # type: ignore[attr-defined]
    plan = spark._jsparkSession.sessionState().sqlParser().parsePlan(sql)  # type: ignore[attr-defined]
    command_class = jvm.java.lang.Class.forName("org.apache.spark.sql.catalyst.plans.logical.Command")
    is_command = bool(command_class.isInstance(plan)) or plan.getClass().getSimpleName() in _PARSED_WRITES
    if not is_command:
        return StatementKind(is_command=False, returns_rows=True)
    try:
        returns_rows = plan.output().length() > 0
    except Exception:  # noqa: BLE001 - some unresolved commands cannot tell their output yet
        returns_rows = True
    return StatementKind(is_command=True, returns_rows=returns_rows)
