"""The authorization hook: a pluggable policy that may deny a user a statement.

Before a statement runs, the server learns what it reads and writes
(:func:`spark_flight_sql.flightsql.authz.analyse_access`) and asks the node's policy, built once at start by
:func:`load_policy` from ``spark.flight.authz.policy``, whether the authenticated user may run
it. A policy says no by raising :class:`AccessDenied`, which the client receives as
PERMISSION_DENIED with the policy's message.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from enum import Enum

from spark_flight_sql.flightsql.auth.base import Identity
from spark_flight_sql.flightsql.authz.access import StatementAccess
from spark_flight_sql.flightsql.errors import PermissionDenied
from spark_flight_sql.flightsql.plugins import load_plugin

__all__ = ["AccessDenied", "AllowAll", "AuthzConfKey", "Policy", "load_policy"]


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


def load_policy(get: Callable[[str], str | None]) -> Policy:
    """The policy ``spark.flight.authz.policy`` names, built from the conf lookup ``get``.

    Raises ValueError, naming the key, when the setting or the policy's own configuration is wrong.
    """
    key = AuthzConfKey.POLICY.value
    value = (get(key) or "").strip()
    if value == "" or value.lower() == "none":
        return AllowAll()
    if value.lower() == "file":
        from spark_flight_sql.flightsql.authz.file_policy import FilePolicy

        return FilePolicy(get)
    if "." not in value:
        raise ValueError(
            f"{key} must be none, file or the dotted name of a Policy class (module.Class), not {value!r}"
        )
    return load_plugin(key, value, Policy, "spark_flight_sql.flightsql.authz.Policy", get)
