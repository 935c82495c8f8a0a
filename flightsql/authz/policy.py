"""The authorization hook: a pluggable policy that may deny a user a statement.

Before a statement runs, the server learns what it reads and writes
(:func:`spark_flight_sql.flightsql.authz.analyse_access`) and asks the node's policy, built once at start by
:func:`spark_flight_sql.flightsql.authz.loader.load_policy` from ``spark.flight.authz.policy``, whether the authenticated user may run
it. A policy says no by raising :class:`AccessDenied`, which the client receives as
PERMISSION_DENIED with the policy's message.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from enum import Enum

from spark_flight_sql.flightsql.auth.base import Identity
from spark_flight_sql.flightsql.authz.access import StatementAccess
from spark_flight_sql.flightsql.errors import PermissionDenied

__all__ = ["AccessDenied", "AllowAll", "AuthzConfKey", "Policy"]


class AuthzConfKey(str, Enum):
    """Every Spark conf key of the authorization hook, with its meaning."""

    POLICY = "spark.flight.authz.policy"
    """Which policy decides: ``none`` (default: every authenticated user may run every statement),
    ``file`` (:class:`spark_flight_sql.flightsql.authz.FilePolicy`, rules from ``spark.flight.authz.policyFile``), or
    the dotted name of a :class:`Policy` subclass (``package.module.Class``), constructed with the
    node's conf lookup ``get(key) -> str | None``."""
    POLICY_FILE = "spark.flight.authz.policyFile"
    """The TOML file of ``file``'s rules (required with it). The node rereads it when it changes, so
    operators edit it without a restart; an edit that does not parse is logged and ignored (the last
    good rules stay)."""


class AccessDenied(PermissionDenied):
    """A policy refused the statement (PERMISSION_DENIED). The message goes to the client: it names
    the user and what was refused (a table, a kind of statement), never any data."""


class Policy(ABC):
    """Decides whether a user may run a statement; ``spark.flight.authz.policy`` names the
    implementation.

    Implementations loaded by name are built with the node's Spark conf lookup
    (``get(key) -> str | None``) and must be safe to call from many threads at once.
    """

    @abstractmethod
    def check(self, identity: Identity, access: StatementAccess) -> None:
        """Return when ``identity`` may run the statement ``access`` describes; raise
        :class:`AccessDenied` (with a message for the client) when not."""


class AllowAll(Policy):
    """Every authenticated user may run every statement (``spark.flight.authz.policy=none``)."""

    def check(self, identity: Identity, access: StatementAccess) -> None:
        """Allow."""
