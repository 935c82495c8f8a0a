"""What every group of Spark-backed Flight SQL handlers shares: the node's Spark and FlightManager.

:class:`spark_flight_sql.flightsql.spark_server.SparkFlightSqlServer` is assembled from one mixin per concern
(queries and updates, catalog metadata, bulk ingest, sessions); each mixin derives from
:class:`SparkHandlers` and reaches Spark only through :meth:`SparkHandlers.spark_for`, so that
every request runs in the caller's own Spark session.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

import pyarrow.flight as flight

from spark_flight_sql.flightmanager import FlightManager
from spark_flight_sql.flightsql.auth.base import ANONYMOUS, Identity
from spark_flight_sql.flightsql.auth.middleware import (
    MIDDLEWARE_KEY,
    AuthMiddleware,
    AuthMiddlewareFactory,
    HandshakeAccepted,
)
from spark_flight_sql.flightsql.auth.settings import is_loopback
from spark_flight_sql.flightsql.base import FlightSqlServerBase
from spark_flight_sql.flightsql.security import Security
from spark_flight_sql.flightsql.settings import SqlSettings
from spark_flight_sql.flightsql.statements import check_parameter_rows, count_markers

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

    from spark_flight_sql.flightsql.authz.access import StatementAccess

audit = logging.getLogger("spark_flight_sql.audit")


class SparkHandlers(FlightSqlServerBase):
    """A Flight SQL server whose handlers run on ``spark`` and serve results through ``manager``."""

    def __init__(self, location: str, spark: SparkSession, manager: FlightManager, **kwargs: object) -> None:
        def get(key: str) -> str | None:
            return spark.conf.get(key, None)

        self.settings = SqlSettings.from_conf(get)
        self.security = Security.from_conf(get, manager.config, manager.cluster_secret)
        if self.security.authenticator is None and not is_loopback(manager.config.host):
            audit.warning(
                "authentication is off (spark.flight.auth=none) on %s: anyone who reaches it is in",
                manager.config.host,
            )
        if self.security.authenticator is not None:
            middleware = dict(kwargs.pop("middleware", None) or {})  # type: ignore[call-overload]
            middleware[MIDDLEWARE_KEY] = AuthMiddlewareFactory(
                self.security.authenticator, self.security.tokens, manager.node_id
            )
            kwargs["middleware"] = middleware
            kwargs.setdefault("auth_handler", HandshakeAccepted())
        super().__init__(location, max_sql_length=self.settings.max_sql_length, **kwargs)
        self.spark = spark
        self.manager = manager

    def identity(self, context: flight.ServerCallContext) -> Identity:
        """Who makes the call (``anonymous`` when ``spark.flight.auth=none``)."""
        middleware = context.get_middleware(MIDDLEWARE_KEY)
        return middleware.identity if isinstance(middleware, AuthMiddleware) else ANONYMOUS

    def authorize(
        self,
        context: flight.ServerCallContext,
        spark: SparkSession,
        sql: str,
        rows: list[list[object]] | None = None,
        access: StatementAccess | None = None,
    ) -> None:
        """PERMISSION_DENIED unless the policy lets the caller run ``sql`` with each parameter row of
        ``rows`` (or ``access``, when the caller already knows what the request reads and writes).
        The statement is analysed, never run."""
        if not self.security.checks_statements:
            return
        identity = self.identity(context)
        if access is not None:
            self.security.authorize(identity, access)
            return
        from spark_flight_sql.flightsql.authz.access import analyse_access

        # A parameter is a literal except inside IDENTIFIER(...), where it names a table: then every
        # row may touch other tables and each distinct row is checked.
        candidates = [row for row in rows or [] if row] or [None]
        if candidates == [None] and count_markers(sql):
            # Unbound markers: analysed with stand-ins, which Spark may refuse (IDENTIFIER(?)).
            # Then the check waits for the values: every execution is checked with them.
            try:
                access = analyse_access(spark, sql, None)
            except Exception:  # noqa: BLE001 - known once the values are bound
                return
            self.security.authorize(identity, access)
            return
        if len(candidates) > 1 and "identifier" not in sql.lower():
            candidates = candidates[:1]
        check_parameter_rows(len(candidates))
        seen: set[str] = set()
        for row in candidates:
            key = repr(row)
            if key not in seen:
                seen.add(key)
                self.security.authorize(identity, analyse_access(spark, sql, row))

    def audit_statement(
        self, context: flight.ServerCallContext, what: str, sql: str, **fields: object
    ) -> None:
        """One ``spark_flight_sql.audit`` line per statement: who, from where, on which node, what."""
        details = " ".join(f"{key}={value}" for key, value in fields.items())
        audit.info(
            "%s user=%s node=%s peer=%s %s sql=%s",
            what,
            self.identity(context).user,
            self.manager.node_id,
            context.peer(),
            details,
            " ".join(sql.split())[:300],
        )

    def spark_for(self, context: flight.ServerCallContext) -> SparkSession:
        """The Spark session a request runs in: the client's own session (see spark_flight_sql.flightsql.sessions)."""
        return self.spark

    def session_ended(self, spark: SparkSession) -> None:
        """A client's Spark session is being dropped (closed, expired or evicted): release what
        handlers keep for it. Mixins that keep something override this and call ``super()``."""
