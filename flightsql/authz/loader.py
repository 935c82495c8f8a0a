"""Building the node's authorization policy from ``spark.flight.authz.policy``.

Kept apart from :mod:`spark_flight_sql.flightsql.authz.policy`, the interface, so that the
interface imports no implementation and :mod:`spark_flight_sql.flightsql.authz.file_policy` imports
the interface without a cycle.
"""

from __future__ import annotations

from collections.abc import Callable

from spark_flight_sql.flightsql.authz.file_policy import FilePolicy
from spark_flight_sql.flightsql.authz.policy import AllowAll, AuthzConfKey, Policy
from spark_flight_sql.flightsql.plugins import load_plugin

__all__ = ["load_policy"]


def load_policy(get: Callable[[str], str | None]) -> Policy:
    """The policy ``spark.flight.authz.policy`` names, built from the conf lookup ``get``.

    Raises ValueError, naming the key, when the setting or the policy's own configuration is wrong.
    """
    key = AuthzConfKey.POLICY.value
    value = (get(key) or "").strip()
    if value == "" or value.lower() == "none":
        return AllowAll()
    if value.lower() == "file":
        return FilePolicy(get)
    if "." not in value:
        raise ValueError(
            f"{key} must be none, file or the dotted name of a Policy class (module.Class), not {value!r}"
        )
    return load_plugin(
        key,
        value,
        Policy,  # type: ignore[type-abstract]  # - the base the named class must derive from, never instantiated
        "spark_flight_sql.flightsql.authz.Policy",
        get,
    )
