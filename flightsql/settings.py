"""Settings of the Flight SQL front end, read from Spark conf keys (``spark.flight.sql.*``)."""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from enum import Enum
from typing import TypeVar


class ExecutionMode(str, Enum):
    """How a query's result reaches the client."""

    AUTO = "auto"
    """Small or driver-side results (SHOW, DESCRIBE, SET, local relations, a small LIMIT) come from
    one endpoint on the node that ran them; every other result is distributed."""
    DISTRIBUTED = "distributed"
    """Executors push partitions to every node; one endpoint per node."""
    SINGLE = "single"
    """The node that takes the query collects the result and serves it from one endpoint."""


class SqlConfKey(str, Enum):
    """Every Spark conf key the Flight SQL front end reads, with its meaning."""

    EXECUTION_MODE = "spark.flight.sql.executionMode"
    """``auto`` (default), ``distributed`` or ``single``; a session may override it with the
    session option of the same name."""
    SINGLE_MAX_ROWS = "spark.flight.sql.single.maxRows"
    """In ``auto`` mode, a query whose LIMIT is at most this many rows is served from one endpoint
    (default 10000)."""
    PREPARED_TTL = "spark.flight.sql.preparedStatement.ttl"
    """Seconds a prepared statement handle stays valid after it was issued or last bound
    (default 86400)."""
    SESSION_TTL = "spark.flight.sql.session.ttl"
    """Seconds a client session's options live after they were last set, and a node keeps the
    session's Spark session after its last use (default 86400)."""
    INGEST_STAGING_DIR = "spark.flight.sql.ingest.stagingDir"
    """Where bulk ingest stages uploads as Parquet before Spark writes them into the table: a local
    folder or a URI pyarrow can write (``hdfs://``, ``s3://``, ...). Spark's executors must be able to
    read it (default: a temporary folder on this node, right for a local master or a one-host
    cluster)."""
    MAX_SQL_LENGTH = "spark.flight.sql.maxLength"
    """Longest SQL text, in characters, a request may carry (CommandStatementQuery,
    CommandStatementUpdate, CreatePreparedStatement); a longer one is refused with
    INVALID_ARGUMENT before Spark parses it (default 1048576)."""
    STATEMENT_TIMEOUT = "spark.flight.sql.statementTimeout"
    """Seconds a query, update or prepared statement execution may run, counted from the call that
    starts it (GetFlightInfo, or the update's DoPut) to the end of its Spark job; past it the job is
    cancelled and the statement fails with DEADLINE_EXCEEDED (every reader of a query, on every
    node). A finished result is not timed while it is read. Unset or ``0``: no limit (default); a
    session may set a shorter one with the session option ``statementTimeout``."""
    KEEP_RESULTS = "spark.flight.sql.keepResults"
    """``true`` (default): a GetFlightInfo that carries the call header ``x-spark-flight-keep-result:
    true`` (the ``flightsql`` data source sends it) gets a result whose every endpoint can be read
    again until its ``expiration_time``: each node keeps its share on disk for
    ``spark.flight.result.ttl`` seconds after the share's last read began. ``false``: tickets are
    read once, whatever the client asks."""


DEFAULT_MAX_SQL_LENGTH = 1_048_576
"""The default of ``spark.flight.sql.maxLength``, in characters."""


@dataclass(frozen=True)
class SqlSettings:
    """The Flight SQL front end's settings of one node."""

    execution_mode: ExecutionMode = ExecutionMode.AUTO
    single_max_rows: int = 10_000
    prepared_ttl: float = 86_400.0
    session_ttl: float = 86_400.0
    ingest_staging_dir: str | None = None
    max_sql_length: int = DEFAULT_MAX_SQL_LENGTH
    statement_timeout: float | None = None
    """``spark.flight.sql.statementTimeout`` in seconds; None for no limit."""
    keep_results: bool = True
    """``spark.flight.sql.keepResults``: whether a client may ask for a result to be kept."""

    @classmethod
    def from_conf(cls, get: Callable[[str], str | None] | Mapping[str, str]) -> SqlSettings:
        """Build the settings from a conf lookup (``spark.conf.get``-like callable, or a mapping)."""
        lookup = get.get if isinstance(get, Mapping) else get

        def value(key: SqlConfKey) -> str | None:
            found = lookup(key.value)
            return None if found is None or str(found).strip() == "" else str(found).strip()

        mode = value(SqlConfKey.EXECUTION_MODE)
        single_max_rows = _number(
            SqlConfKey.SINGLE_MAX_ROWS, value, cls.single_max_rows, int, "a whole number"
        )
        prepared_ttl = _number(
            SqlConfKey.PREPARED_TTL, value, cls.prepared_ttl, _seconds, "a number of seconds"
        )
        session_seconds = _number(
            SqlConfKey.SESSION_TTL, value, cls.session_ttl, _seconds, "a number of seconds"
        )
        max_sql_length = _number(
            SqlConfKey.MAX_SQL_LENGTH, value, cls.max_sql_length, int, "a whole number of characters"
        )
        statement_timeout = _number(
            SqlConfKey.STATEMENT_TIMEOUT, value, 0.0, parse_timeout, "a number of seconds (0 for no limit)"
        )
        if max_sql_length <= 0:
            raise ValueError(f"{SqlConfKey.MAX_SQL_LENGTH.value} must be positive")
        if session_seconds <= 0:
            raise ValueError(f"{SqlConfKey.SESSION_TTL.value} must be positive")
        if single_max_rows < 0 or prepared_ttl <= 0:
            raise ValueError(
                f"{SqlConfKey.SINGLE_MAX_ROWS.value} must not be negative and {SqlConfKey.PREPARED_TTL.value} must be positive"
            )
        return cls(
            execution_mode=parse_execution_mode(
                mode or cls.execution_mode.value, SqlConfKey.EXECUTION_MODE.value
            ),
            single_max_rows=single_max_rows,
            prepared_ttl=prepared_ttl,
            session_ttl=session_seconds,
            ingest_staging_dir=value(SqlConfKey.INGEST_STAGING_DIR),
            max_sql_length=max_sql_length,
            statement_timeout=statement_timeout or None,
            keep_results=_flag(SqlConfKey.KEEP_RESULTS, value(SqlConfKey.KEEP_RESULTS), cls.keep_results),
        )


N = TypeVar("N", int, float)


def _flag(key: SqlConfKey, raw: str | None, default: bool) -> bool:
    if raw is None:
        return default
    if raw.lower() in ("true", "false"):
        return raw.lower() == "true"
    raise ValueError(f"{key.value} must be true or false, not {raw!r}")


def _seconds(text: str) -> float:
    return float(text.lower().removesuffix("s"))


def parse_timeout(text: str) -> float:
    """A time limit in seconds (``30``, ``2.5``, ``30s``); ``0`` means none. ValueError for a negative,
    infinite or unparsable value."""
    seconds = _seconds(text.strip())
    if not math.isfinite(seconds) or seconds < 0:
        raise ValueError(f"not a time limit: {text!r}")
    return seconds


def _number(
    key: SqlConfKey,
    value: Callable[[SqlConfKey], str | None],
    default: N,
    parse: Callable[[str], N],
    what: str,
) -> N:
    """The setting ``key`` parsed, ``default`` when unset; ValueError naming the key and ``what`` it
    must be."""
    raw = value(key)
    if raw is None:
        return default
    try:
        return parse(raw)
    except ValueError:
        raise ValueError(f"{key.value} must be {what}, not {raw!r}") from None


def parse_execution_mode(text: str, where: str) -> ExecutionMode:
    """The execution mode named by ``text``; ValueError naming ``where`` otherwise."""
    try:
        return ExecutionMode(text.strip().lower())
    except ValueError:
        choices = ", ".join(repr(mode.value) for mode in ExecutionMode)
        raise ValueError(f"{where} must be one of {choices}, not {text!r}") from None
