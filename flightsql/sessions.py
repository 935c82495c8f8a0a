"""Flight SQL sessions: per-client options and Spark sessions, honoured by every node.

A client's session is named by the ``arrow_flight_session_id`` cookie, which every reply to a call
without one sets (clients must keep cookies: ADBC does with
``adbc.flight.sql.rpc.with_cookie_middleware=true``). The session's options live in the
FlightManager's shared records (ZooKeeper in a cluster), so whichever node a request reaches applies
them. Each node keeps one Spark session per client session (a clone of the node's session, with the
temporary views and functions its init scripts registered: from then on its own temporary views,
current catalog and SQL settings), dropped on CloseSession or after ``spark.flight.sql.session.ttl``
without use on that node; options expire the same time after they were last used.

A client that keeps no cookies gets a session per connection instead (named by its address and
port, on the node it is connected to): still isolated from every other client, but only as long as
that connection lives, and only on that node.

Options: ``catalog`` and ``schema`` (the current ones, as ADBC's current catalog and schema use),
``executionMode`` (``auto``, ``distributed``, ``single``), ``statementTimeout`` (seconds; a
session's own time limit, which only lowers ``spark.flight.sql.statementTimeout``; ``0`` unsets it:
see :mod:`~spark_flight_sql.flightsql.statement_timeout`), ``endpoints`` (``direct``, ``proxy``,
``reuse``: where a result's endpoints point, as ``spark.flight.endpoints``) and the ``spark.sql.*``
settings of :data:`ALLOWED_SPARK_SETTINGS`.
"""

from __future__ import annotations

import hashlib
import json
import threading
import time
import uuid
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import cached_property
from http.cookies import CookieError, SimpleCookie
from typing import TYPE_CHECKING

import pyarrow.flight as flight

from spark_flight_sql.flightmanager.config import EndpointsMode, parse_endpoints_mode
from spark_flight_sql.flightsql.auth.middleware import Headers, header_text
from spark_flight_sql.flightsql.call import Call
from spark_flight_sql.flightsql.errors import InvalidArgument
from spark_flight_sql.flightsql.proto import FlightSession_pb2 as session_pb2
from spark_flight_sql.flightsql.protocol import KEEP_RESULT_HEADER
from spark_flight_sql.flightsql.settings import (
    ExecutionMode,
    SqlSettings,
    parse_execution_mode,
    parse_timeout,
)

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

    from spark_flight_sql.flightmanager import FlightManager

COOKIE = "arrow_flight_session_id"
MIDDLEWARE_KEY = "flight-sql-session"
CATALOG = "catalog"
SCHEMA = "schema"
EXECUTION_MODE = "executionMode"
STATEMENT_TIMEOUT = "statementTimeout"
ENDPOINTS = "endpoints"

ALLOWED_SPARK_SETTINGS = frozenset(
    {
        "spark.sql.session.timeZone",
        "spark.sql.ansi.enabled",
        "spark.sql.caseSensitive",
        "spark.sql.shuffle.partitions",
        "spark.sql.adaptive.enabled",
        "spark.sql.autoBroadcastJoinThreshold",
        "spark.sql.legacy.timeParserPolicy",
        "spark.sql.storeAssignmentPolicy",
        "spark.sql.files.maxPartitionBytes",
        "spark.sql.sources.default",
        "spark.sql.execution.arrow.maxRecordsPerBatch",
        "spark.sql.execution.arrow.useLargeVarTypes",
        "spark.sql.parquet.compression.codec",
        "spark.sql.maxSinglePartitionBytes",
    }
)
"""The Spark SQL settings a client session may change (settings that shape one query's semantics
or plan; nothing that reaches beyond the session)."""

RECORD_KIND = "flightsql_sessions"
MAX_NODE_SESSIONS = 1000
"""Spark sessions a node keeps for client sessions; beyond it the least recently used is dropped
(with its temporary views)."""
MAX_OPTIONS_BYTES = 16 * 1024
OptionValue = str | bool | int | float | list[str]


class SessionMiddleware(flight.ServerMiddleware):
    """The call's session id: the client's cookie, or a new id sent back in a ``set-cookie``; and
    whether the call asks for its result to be kept (the ``x-spark-flight-keep-result`` header)."""

    def __init__(self, session_id: str | None, keep_result: bool = False) -> None:
        self.from_client = session_id is not None
        self.session_id = session_id or uuid.uuid4().hex
        self.keep_result = keep_result

    def sending_headers(self) -> dict[str, list[str] | list[bytes]]:
        """A new session cookie for a client that has none (headers go out before the handler runs,
        so the id is decided here, and options are kept on the server)."""
        if self.from_client:
            return {}
        return {"set-cookie": [f"{COOKIE}={self.session_id}; Path=/"]}


class SessionMiddlewareFactory(flight.ServerMiddlewareFactory):
    """Reads the session cookie of every call."""

    def start_call(self, info: flight.CallInfo, headers: Headers) -> SessionMiddleware:
        """The call's middleware, with the session its cookie names (if any)."""
        keep = any(
            header_text(value).strip().lower() == "true" for value in headers.get(KEEP_RESULT_HEADER, [])
        )
        return SessionMiddleware(_session_id_from_headers(headers), keep)


def _session_id_from_headers(headers: Headers) -> str | None:
    for header in headers.get("cookie", []):
        cookies: SimpleCookie = SimpleCookie()
        try:
            cookies.load(header_text(header))
        except CookieError:
            continue
        if COOKIE in cookies:
            try:
                return uuid.UUID(hex=cookies[COOKIE].value).hex
            except ValueError:
                return None  # not an id this server issued: the call gets a new session
    return None


@dataclass
class _NodeSession:
    spark: SparkSession
    applied: dict[str, str]
    used_at: float
    lock: threading.Lock = field(default_factory=threading.Lock)


class ClientSessions:
    """This node's client sessions: their ids, their options (in the FlightManager's shared
    records) and one Spark session per client session, created on first use.

    ``on_ended`` is called with each Spark session dropped (closed, expired or evicted), so that
    what handlers keep for it goes too.
    """

    def __init__(
        self,
        spark: SparkSession,
        manager: FlightManager,
        settings: SqlSettings,
        on_ended: Callable[[SparkSession], None] = lambda spark: None,
    ) -> None:
        self.spark = spark
        """The node's own Spark session: calls without a client session run in it."""
        self.manager = manager
        self.settings = settings
        self._on_ended = on_ended
        self._sessions: OrderedDict[str, _NodeSession] = OrderedDict()
        self._sessions_lock = threading.Lock()
        self._scratch: SparkSession | None = None
        self._scratch_lock = threading.Lock()
        self._next_expiry = 0.0
        # What an unset option returns to: the node's settings as it started (calls without a
        # session share the node's own Spark session and may change it since).
        self._node_defaults: dict[str, str | None] = {
            key: spark.conf.get(key, None) for key in ALLOWED_SPARK_SETTINGS
        }
        self._node_defaults[CATALOG] = spark.catalog.currentCatalog()
        self._node_defaults[SCHEMA] = spark.catalog.currentDatabase()

    @staticmethod
    def middleware_factory() -> SessionMiddlewareFactory:
        """The call middleware (registered as :data:`MIDDLEWARE_KEY`) that reads session cookies."""
        return SessionMiddlewareFactory()

    # ---- which session a call belongs to, and its Spark session ----------------------------------

    def session_id(self, call: Call) -> str | None:
        """The session the client's cookie names, else one for the client's connection (None when
        neither is known). Sessions belong to their user: another user's call with the same cookie
        or from the same connection reaches a session of its own."""
        middleware = call.context.get_middleware(MIDDLEWARE_KEY)
        if isinstance(middleware, SessionMiddleware) and middleware.from_client:
            name = middleware.session_id
        else:
            if not call.peer:
                return None
            name = f"connection-{call.peer.replace('/', '_')}"
        user = hashlib.sha256(call.user.encode()).hexdigest()[:16]
        return f"{user}-{name}"

    def spark_session(self, session_id: str, options: Mapping[str, str]) -> SparkSession:
        """This node's Spark session of a client session, with ``options`` applied."""
        node_session = self._node_session(session_id)
        with node_session.lock:
            if node_session.applied != options:
                _apply(node_session.spark, node_session.applied, options, self._node_defaults)
                node_session.applied = dict(options)
        return node_session.spark

    def _node_session(self, session_id: str) -> _NodeSession:
        now = time.monotonic()
        with self._sessions_lock:
            dropped = []
            while self._sessions:
                oldest_id, oldest = next(iter(self._sessions.items()))
                if (
                    now - oldest.used_at < self.settings.session_ttl
                    and len(self._sessions) < MAX_NODE_SESSIONS
                ):
                    break
                dropped.append(self._sessions.pop(oldest_id))  # its options stay in the records
            node_session = self._sessions.get(session_id)
            if node_session is None:
                node_session = _NodeSession(clone_session(self.spark), {}, now)
                self._sessions[session_id] = node_session
            node_session.used_at = now
            self._sessions.move_to_end(session_id)
        for gone in dropped:
            self._on_ended(gone.spark)
        return node_session

    # ---- options --------------------------------------------------------------------------------

    def read_options(self, session_id: str) -> dict[str, str]:
        """The session's options from the shared records; using them keeps them from expiring."""
        record = self.manager.get_record(RECORD_KIND, session_id)
        body = json.loads(record) if record else {}
        age = time.time() - float(body.get("written", 0))
        options: dict[str, str] = body.get("options", {}) if age < self.settings.session_ttl else {}
        if options and age > self.settings.session_ttl / 8:
            self.store_options(session_id, options)
        return options

    def store_options(self, session_id: str, options: Mapping[str, str]) -> None:
        """Write the session's options to the shared records."""
        body = json.dumps({"options": options, "written": time.time()}, separators=(",", ":")).encode()
        if len(body) > MAX_OPTIONS_BYTES:
            raise InvalidArgument(f"a session's options are limited to {MAX_OPTIONS_BYTES} bytes")
        self.manager.put_record(RECORD_KIND, session_id, body)

    def updated_options(
        self, options: Mapping[str, str], requested: Mapping[str, session_pb2.SessionOptionValue]
    ) -> tuple[dict[str, str], session_pb2.SetSessionOptionsResult]:
        """``options`` with each requested change Spark accepts; the result names each rejected one."""
        result = session_pb2.SetSessionOptionsResult()
        updated = dict(options)
        for name, value in requested.items():
            before = dict(updated)
            error = _set_option(updated, name, value)
            if error is None and name in updated and not self._accepts(name, updated):
                error = session_pb2.SetSessionOptionsResult.INVALID_VALUE
            if error is not None:
                updated = before
                result.errors[name].value = error
        return updated, result

    def _accepts(self, name: str, options: Mapping[str, str]) -> bool:
        """Whether Spark takes the option's value (tried on a scratch session of this node)."""
        with self._scratch_lock:
            if self._scratch is None:
                self._scratch = clone_session(self.spark)
            scratch = self._scratch
            try:
                if name in ALLOWED_SPARK_SETTINGS:
                    scratch.conf.set(name, options[name])
                    scratch.conf.unset(name)
                elif name in (CATALOG, SCHEMA):
                    scratch.catalog.setCurrentCatalog(
                        options.get(CATALOG) or self._node_defaults[CATALOG] or "spark_catalog"
                    )
                    if SCHEMA in options:
                        scratch.catalog.setCurrentDatabase(options[SCHEMA])
            except Exception:  # noqa: BLE001 - Spark refused the value
                return False
        return True

    def expire_records(self) -> None:
        """Remove expired sessions' options from the shared records (at most every ten minutes)."""
        now = time.monotonic()
        if now < self._next_expiry:
            return
        self._next_expiry = now + min(600.0, self.settings.session_ttl)
        self.manager.expire_records(RECORD_KIND, self.settings.session_ttl)

    def close(self, session_id: str) -> None:
        """Forget the session's options and this node's Spark session (its temporary views go too)."""
        self.manager.delete_record(RECORD_KIND, session_id)
        with self._sessions_lock:
            gone = self._sessions.pop(session_id, None)
        if gone is not None:
            self._on_ended(gone.spark)


class SparkCall(Call):
    """A call to the Spark-backed service: the caller, plus its client session, that session's
    options and the Spark session it runs in (each worked out once, when first asked for)."""

    def __init__(self, context: flight.ServerCallContext, sessions: ClientSessions) -> None:
        super().__init__(context)
        self._sessions = sessions
        self._options: dict[str, str] | None = None

    @cached_property
    def session_id(self) -> str | None:
        """The client session of the call; None when there is neither a cookie nor a peer."""
        return self._sessions.session_id(self)

    def options(self) -> dict[str, str]:
        """A copy of the session's options (read once per call; none without a session)."""
        if self._options is None:
            session_id = self.session_id
            self._options = self._sessions.read_options(session_id) if session_id is not None else {}
        return dict(self._options)

    def remember_options(self, options: Mapping[str, str]) -> None:
        """The session's options as this call has just stored them."""
        self._options = dict(options)

    @cached_property
    def spark(self) -> SparkSession:
        """The client's own Spark session with its options applied, or the node's without a session."""
        session_id = self.session_id
        if session_id is None:
            return self._sessions.spark
        return self._sessions.spark_session(session_id, self.options())

    @property
    def execution_mode(self) -> ExecutionMode:
        """The session's ``executionMode`` option, else ``spark.flight.sql.executionMode``."""
        mode = self.options().get(EXECUTION_MODE) if self.session_id is not None else None
        return ExecutionMode(mode) if mode is not None else self._sessions.settings.execution_mode

    @property
    def wants_kept_result(self) -> bool:
        """Whether the call asked for its result to be kept for reading again."""
        middleware = self.context.get_middleware(MIDDLEWARE_KEY)
        return isinstance(middleware, SessionMiddleware) and middleware.keep_result

    @property
    def endpoints_mode(self) -> EndpointsMode | None:
        """The session's ``endpoints`` option; None when it has none (``spark.flight.endpoints``)."""
        mode = self.options().get(ENDPOINTS) if self.session_id is not None else None
        return EndpointsMode(mode) if mode is not None else None

    @property
    def statement_timeout(self) -> float | None:
        """The session's ``statementTimeout`` option in seconds; None when it has none."""
        seconds = self.options().get(STATEMENT_TIMEOUT) if self.session_id is not None else None
        return float(seconds) if seconds is not None else None


def clone_session(spark: SparkSession) -> SparkSession:
    """A new Spark session starting as a copy of ``spark``: its SQL settings, temporary views and
    functions (what init scripts registered), from then on independent of it."""
    from pyspark.sql import SparkSession

    cloned = spark._jsparkSession.cloneSession()
    return SparkSession(spark.sparkContext, jsparkSession=cloned)


def _set_option(
    options: dict[str, str], name: str, value: session_pb2.SessionOptionValue
) -> session_pb2.SetSessionOptionsResult.ErrorValue | None:
    """Apply one requested change to ``options``; the SetSessionOptionsResult error code, or None."""
    errors = session_pb2.SetSessionOptionsResult
    if (
        name not in (CATALOG, SCHEMA, EXECUTION_MODE, STATEMENT_TIMEOUT, ENDPOINTS)
        and name not in ALLOWED_SPARK_SETTINGS
    ):
        return errors.INVALID_NAME
    kind = value.WhichOneof("option_value")
    if kind is None:  # an empty value unsets the option
        options.pop(name, None)
        return None
    if kind == "string_list_value":
        return errors.INVALID_VALUE
    raw = getattr(value, kind)
    text = ("true" if raw else "false") if kind == "bool_value" else str(raw)
    if name == EXECUTION_MODE:
        try:
            text = parse_execution_mode(text, EXECUTION_MODE).value
        except ValueError:
            return errors.INVALID_VALUE
    if name == ENDPOINTS:
        try:
            text = parse_endpoints_mode(text, ENDPOINTS).value
        except ValueError:
            return errors.INVALID_VALUE
    if name == STATEMENT_TIMEOUT:
        try:
            seconds = parse_timeout(text)
        except ValueError:
            return errors.INVALID_VALUE
        if not seconds:  # no limit of the session's own
            options.pop(name, None)
            return None
        text = f"{seconds:g}"
    if not text:
        return errors.INVALID_VALUE
    options[name] = text
    return None


def _apply(
    spark: SparkSession,
    before: Mapping[str, str],
    after: Mapping[str, str],
    defaults: Mapping[str, str | None],
) -> None:
    """Move a Spark session from options ``before`` to options ``after``; an unset option takes
    its value in ``defaults`` again."""
    for key in ALLOWED_SPARK_SETTINGS:
        if key in after and after[key] != before.get(key):
            spark.conf.set(key, after[key])
        elif key in before and key not in after:
            default = defaults.get(key)
            if default is None:
                spark.conf.unset(key)
            else:
                spark.conf.set(key, default)
    if after.get(CATALOG) != before.get(CATALOG) or after.get(SCHEMA) != before.get(SCHEMA):
        spark.catalog.setCurrentCatalog(after.get(CATALOG) or defaults[CATALOG] or "spark_catalog")
        if SCHEMA in after:
            spark.catalog.setCurrentDatabase(after[SCHEMA])
        elif CATALOG not in after and (default_schema := defaults[SCHEMA]):
            spark.catalog.setCurrentDatabase(default_schema)
