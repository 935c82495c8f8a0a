"""Flight SQL sessions: per-client options and Spark sessions, honoured by every node.

A client's session is named by the ``arrow_flight_session_id`` cookie (clients must keep cookies:
ADBC does with ``adbc.flight.sql.rpc.with_cookie_middleware=true``). The cookie carries the session's
id and its options, so whichever node a request reaches applies the same options; each node keeps
one Spark session per client session (``SparkSession.newSession()``: its own temporary views,
current catalog and SQL settings), dropped on CloseSession or after
``spark.flight.sql.session.idleTimeout``. Requests without a session run in the node's own session.

Options: ``catalog`` and ``schema`` (the current ones, as ADBC's current catalog and schema use),
``executionMode`` (``auto``, ``distributed``, ``single``) and the ``spark.sql.*`` settings of
:data:`ALLOWED_SPARK_SETTINGS`.
"""

from __future__ import annotations

import base64
import binascii
import json
import threading
import time
import uuid
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass, field
from http.cookies import CookieError, SimpleCookie
from typing import TYPE_CHECKING, Union

import pyarrow.flight as flight

from flightsql.errors import InvalidArgument
from flightsql.proto import FlightSession_pb2 as session_pb2
from flightsql.settings import ExecutionMode, parse_execution_mode
from flightsql.spark_base import SparkHandlers

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

COOKIE = "arrow_flight_session_id"
MIDDLEWARE_KEY = "flight-sql-session"
CATALOG = "catalog"
SCHEMA = "schema"
EXECUTION_MODE = "executionMode"

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

MAX_COOKIE_CHARS = 3500  # browsers' and gRPC proxies' comfortable limit for one cookie

OptionValue = Union[str, bool, int, float, list[str]]


@dataclass
class ClientSession:
    """A client session as its cookie carries it: an id and the options set so far."""

    session_id: str
    options: dict[str, str] = field(default_factory=dict)

    def cookie_value(self) -> str:
        """The cookie's value: the id, a dot, the options as URL-safe base64 JSON."""
        body = base64.urlsafe_b64encode(json.dumps(self.options, separators=(",", ":")).encode()).decode().rstrip("=")
        return f"{self.session_id}.{body}"

    @classmethod
    def from_cookie_value(cls, value: str) -> ClientSession | None:
        """The session a cookie names; None for a value this server did not issue."""
        session_id, _, body = value.partition(".")
        try:
            uuid.UUID(hex=session_id)
            options = json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4))) if body else {}
        except (ValueError, binascii.Error):
            return None
        if not isinstance(options, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in options.items()):
            return None
        return cls(session_id, options)


class SessionMiddleware(flight.ServerMiddleware):
    """Holds the call's client session and sends its cookie back when it was created or changed."""

    def __init__(self, session: ClientSession | None) -> None:
        self.session = session
        self._sent_value = session.cookie_value() if session is not None else None
        self.closed = False

    def begin(self) -> ClientSession:
        """The call's session, created (with a fresh id) if the client had none."""
        if self.session is None:
            self.session = ClientSession(uuid.uuid4().hex)
        return self.session

    def sending_headers(self) -> dict[str, list[str]]:
        """A ``set-cookie`` header when the session is new, changed or closed."""
        if self.session is None:
            return {}
        if self.closed:
            return {"set-cookie": [f"{COOKIE}=; Max-Age=0; Path=/"]}
        value = self.session.cookie_value()
        if value == self._sent_value:
            return {}
        return {"set-cookie": [f"{COOKIE}={value}; Path=/"]}


class SessionMiddlewareFactory(flight.ServerMiddlewareFactory):
    """Reads the session cookie of every call."""

    def start_call(self, info: flight.CallInfo, headers: Mapping[str, list[str]]) -> SessionMiddleware:
        """The call's middleware, with the session its cookie names (if any)."""
        return SessionMiddleware(_session_from_headers(headers))


def _session_from_headers(headers: Mapping[str, list[str]]) -> ClientSession | None:
    for header in headers.get("cookie", []):
        cookies: SimpleCookie = SimpleCookie()
        try:
            cookies.load(header)
        except CookieError:
            continue
        if COOKIE in cookies and cookies[COOKIE].value:
            return ClientSession.from_cookie_value(cookies[COOKIE].value)
    return None


@dataclass
class _NodeSession:
    spark: SparkSession
    applied: dict[str, str]
    used_at: float
    lock: threading.Lock = field(default_factory=threading.Lock)


class SessionHandlers(SparkHandlers):
    """SetSessionOptions, GetSessionOptions, CloseSession; and each request in its client's session."""

    IDLE_TIMEOUT = 3600.0
    """Seconds after which a node forgets the Spark session of a client that sent nothing."""

    def __init__(self, location: str, spark: SparkSession, manager: object, **kwargs: object) -> None:
        middleware = dict(kwargs.pop("middleware", None) or {})  # type: ignore[call-overload]
        middleware[MIDDLEWARE_KEY] = SessionMiddlewareFactory()
        super().__init__(location, spark, manager, middleware=middleware, **kwargs)  # type: ignore[arg-type]
        self._sessions: OrderedDict[str, _NodeSession] = OrderedDict()
        self._sessions_lock = threading.Lock()
        self._scratch: SparkSession | None = None
        self._scratch_lock = threading.Lock()

    # ---- which Spark session a request runs in -------------------------------------------------

    def spark_for(self, context: flight.ServerCallContext) -> SparkSession:
        """The client's own Spark session with its options applied, or the node's without a session."""
        session = self._client_session(context)
        if session is None:
            return self.spark
        node_session = self._node_session(session.session_id)
        with node_session.lock:
            if node_session.applied != session.options:
                _apply(node_session.spark, node_session.applied, session.options)
                node_session.applied = dict(session.options)
        return node_session.spark

    def execution_mode(self, context: flight.ServerCallContext) -> ExecutionMode:
        """The session's ``executionMode`` option, else ``spark.flight.sql.executionMode``."""
        session = self._client_session(context)
        if session is not None and EXECUTION_MODE in session.options:
            return ExecutionMode(session.options[EXECUTION_MODE])
        return self.settings.execution_mode

    @staticmethod
    def _middleware(context: flight.ServerCallContext) -> SessionMiddleware | None:
        return context.get_middleware(MIDDLEWARE_KEY)  # type: ignore[no-any-return]

    def _client_session(self, context: flight.ServerCallContext) -> ClientSession | None:
        middleware = self._middleware(context)
        return None if middleware is None or middleware.closed else middleware.session

    def _node_session(self, session_id: str) -> _NodeSession:
        now = time.monotonic()
        with self._sessions_lock:
            while self._sessions:
                oldest_id, oldest = next(iter(self._sessions.items()))
                if now - oldest.used_at < self.IDLE_TIMEOUT:
                    break
                del self._sessions[oldest_id]
            node_session = self._sessions.get(session_id)
            if node_session is None:
                node_session = _NodeSession(self.spark.newSession(), {}, now)
                self._sessions[session_id] = node_session
            node_session.used_at = now
            self._sessions.move_to_end(session_id)
            return node_session

    # ---- the session actions ----------------------------------------------------------------

    def do_action_set_session_options(
        self, context: flight.ServerCallContext, request: session_pb2.SetSessionOptionsRequest
    ) -> session_pb2.SetSessionOptionsResult:
        """Set (or, with an empty value, unset) options; each rejected one is named in the result.
        The session starts here if the client had none; its new cookie comes back in the headers."""
        middleware = self._middleware(context)
        if middleware is None:
            raise InvalidArgument("sessions are not available on this server")
        session = middleware.begin()
        middleware.closed = False
        result = session_pb2.SetSessionOptionsResult()
        options = dict(session.options)
        for name, value in request.session_options.items():
            before = dict(options)
            error = _set_option(options, name, value)
            if error is None and name in options and not self._accepts(name, options):
                error = session_pb2.SetSessionOptionsResult.INVALID_VALUE
            if error is not None:
                options = before
                result.errors[name].value = error
        if len(ClientSession(session.session_id, options).cookie_value()) > MAX_COOKIE_CHARS:
            raise InvalidArgument(f"the session's options exceed {MAX_COOKIE_CHARS} characters")
        session.options = options
        return result

    def _accepts(self, name: str, options: Mapping[str, str]) -> bool:
        """Whether Spark takes the option's value (tried on a scratch session of this node)."""
        with self._sessions_lock:
            if self._scratch is None:
                self._scratch = self.spark.newSession()
            scratch = self._scratch
        with self._scratch_lock:
            try:
                if name in ALLOWED_SPARK_SETTINGS:
                    scratch.conf.set(name, options[name])
                    scratch.conf.unset(name)
                elif name in (CATALOG, SCHEMA):
                    scratch.catalog.setCurrentCatalog(options.get(CATALOG, self.spark.catalog.currentCatalog()))
                    if SCHEMA in options:
                        scratch.catalog.setCurrentDatabase(options[SCHEMA])
            except Exception:  # noqa: BLE001 - Spark refused the value
                return False
        return True

    def do_action_get_session_options(
        self, context: flight.ServerCallContext, request: session_pb2.GetSessionOptionsRequest
    ) -> session_pb2.GetSessionOptionsResult:
        """The session's options, with the current catalog and schema always present."""
        session = self._client_session(context)
        spark = self.spark_for(context)
        options = dict(session.options) if session is not None else {}
        options[CATALOG] = spark.catalog.currentCatalog()
        options[SCHEMA] = spark.catalog.currentDatabase()
        options.setdefault(EXECUTION_MODE, self.execution_mode(context).value)
        result = session_pb2.GetSessionOptionsResult()
        for name, value in options.items():
            result.session_options[name].string_value = value
        return result

    def do_action_close_session(
        self, context: flight.ServerCallContext, request: session_pb2.CloseSessionRequest
    ) -> session_pb2.CloseSessionResult:
        """Forget the session on this node (its temporary views go with it) and clear the cookie."""
        middleware = self._middleware(context)
        if middleware is not None and middleware.session is not None:
            with self._sessions_lock:
                self._sessions.pop(middleware.session.session_id, None)
            middleware.closed = True
        return session_pb2.CloseSessionResult(status=session_pb2.CloseSessionResult.CLOSED)


def _set_option(options: dict[str, str], name: str, value: session_pb2.SessionOptionValue) -> int | None:
    """Apply one requested change to ``options``; the SetSessionOptionsResult error code, or None."""
    errors = session_pb2.SetSessionOptionsResult
    if name not in (CATALOG, SCHEMA, EXECUTION_MODE) and name not in ALLOWED_SPARK_SETTINGS:
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
    if not text:
        return errors.INVALID_VALUE
    options[name] = text
    return None


def _apply(spark: SparkSession, before: Mapping[str, str], after: Mapping[str, str]) -> None:
    """Move a Spark session from options ``before`` to options ``after``."""
    for key in ALLOWED_SPARK_SETTINGS:
        if key in after and after[key] != before.get(key):
            spark.conf.set(key, after[key])
        elif key in before and key not in after:
            spark.conf.unset(key)
    if CATALOG in after and after[CATALOG] != before.get(CATALOG):
        spark.catalog.setCurrentCatalog(after[CATALOG])
    if SCHEMA in after and (after[SCHEMA] != before.get(SCHEMA) or after.get(CATALOG) != before.get(CATALOG)):
        spark.catalog.setCurrentDatabase(after[SCHEMA])
