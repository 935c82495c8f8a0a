"""Authorization of Flight SQL statements: what a statement reads and writes, and the policy that
decides whether a user may run it.

:func:`analyse_access` learns a statement's :class:`StatementAccess` from Spark's analysed plan
without running it; :func:`load_policy` builds the node's :class:`Policy` from
``spark.flight.authz.policy``; ``Policy.check(identity, access)`` raises :class:`AccessDenied`.
"""

from spark_flight_sql.flightsql.authz.access import AccessKind, StatementAccess, analyse_access
from spark_flight_sql.flightsql.authz.file_policy import FilePolicy
from spark_flight_sql.flightsql.authz.loader import load_policy
from spark_flight_sql.flightsql.authz.policy import AccessDenied, AllowAll, AuthzConfKey, Policy

__all__ = [
    "AccessDenied",
    "AccessKind",
    "AllowAll",
    "AuthzConfKey",
    "FilePolicy",
    "Policy",
    "StatementAccess",
    "analyse_access",
    "load_policy",
]
