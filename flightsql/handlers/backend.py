"""What every group of Spark-backed handlers shares: the node's Spark session and FlightManager,
its settings and security, and the authorization, audit and prepared-statement handles built
on them."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING

from spark_flight_sql.flightmanager import FlightManager
from spark_flight_sql.flightsql.auth.settings import is_loopback
from spark_flight_sql.flightsql.errors import InvalidArgument
from spark_flight_sql.flightsql.security import Security
from spark_flight_sql.flightsql.sessions import SparkCall
from spark_flight_sql.flightsql.settings import SqlSettings
from spark_flight_sql.flightsql.statements import PreparedStatement, check_parameter_rows, count_markers

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

    from spark_flight_sql.flightsql.authz.access import StatementAccess

audit = logging.getLogger("spark_flight_sql.audit")

__all__ = ["Backend", "no_transactions"]


@dataclass(frozen=True)
class Backend:
    """The node's Spark session, FlightManager, SQL settings and security."""

    spark: SparkSession
    """The node's own Spark session (clients' sessions are clones of it)."""
    manager: FlightManager
    settings: SqlSettings
    security: Security

    @classmethod
    def from_conf(cls, spark: SparkSession, manager: FlightManager) -> Backend:
        """Settings and security from the Spark session's conf; ValueError naming a bad setting."""

        def get(key: str) -> str | None:
            return spark.conf.get(key, None)

        security = Security.from_conf(get, manager.config, manager.cluster_secret)
        if security.authenticator is None and not is_loopback(manager.config.host):
            audit.warning(
                "authentication is off (spark.flight.auth=none) on %s: anyone who reaches it is in",
                manager.config.host,
            )
        return cls(spark, manager, SqlSettings.from_conf(get), security)

    # ---- authorization and audit --------------------------------------------------------------

    def authorize(
        self,
        call: SparkCall,
        sql: str,
        rows: list[list[object]] | None = None,
        access: StatementAccess | None = None,
    ) -> None:
        """PERMISSION_DENIED unless the policy lets the caller run ``sql`` with each parameter row of
        ``rows`` (or ``access``, when the caller already knows what the request reads and writes).
        The statement is analysed in the call's Spark session, never run."""
        if not self.security.checks_statements:
            return
        if access is not None:
            self.security.authorize(call.identity, access)
            return
        from spark_flight_sql.flightsql.authz.access import analyse_access

        # A parameter is a literal except inside IDENTIFIER(...), where it names a table: then every
        # row may touch other tables and each distinct row is checked.
        candidates: list[list[object] | None] = [row for row in rows or [] if row] or [None]
        if candidates == [None] and count_markers(sql):
            # Unbound markers: analysed with stand-ins, which Spark may refuse (IDENTIFIER(?)).
            # Then the check waits for the values: every execution is checked with them.
            try:
                access = analyse_access(call.spark, sql, None)
            except Exception:  # noqa: BLE001 - known once the values are bound
                return
            self.security.authorize(call.identity, access)
            return
        if len(candidates) > 1 and "identifier" not in sql.lower():
            candidates = candidates[:1]
        check_parameter_rows(len(candidates))
        seen: set[str] = set()
        for row in candidates:
            key = repr(row)
            if key not in seen:
                seen.add(key)
                self.security.authorize(call.identity, analyse_access(call.spark, sql, row))

    def audit(self, call: SparkCall, what: str, sql: str, **fields: object) -> None:
        """One ``spark_flight_sql.audit`` line per statement: who, from where, on which node, what."""
        details = " ".join(f"{key}={value}" for key, value in fields.items())
        audit.info(
            "%s user=%s node=%s peer=%s %s sql=%s",
            what,
            call.user,
            self.manager.node_id,
            call.peer,
            details,
            " ".join(sql.split())[:300],
        )

    # ---- prepared statement handles -------------------------------------------------------------

    def prepared(self, call: SparkCall, handle: bytes) -> PreparedStatement:
        """The statement of a handle this cluster issued to the caller's user."""
        inner = self.security.unbind(self.security.statements, call.identity, handle)
        return PreparedStatement.decode(inner, ttl=self.settings.prepared_ttl)

    def handle(self, call: SparkCall, statement: PreparedStatement) -> bytes:
        """A handle for ``statement``, bound to the caller's user."""
        return self.security.bind(self.security.statements, call.identity, statement.encode())


def no_transactions(transaction_id: bytes) -> None:
    """INVALID_ARGUMENT for a request that names a transaction: Spark SQL has none."""
    if transaction_id:
        raise InvalidArgument("this server has no transactions (Spark SQL has none): send no transaction id")
