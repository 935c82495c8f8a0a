"""The authentication settings (``spark.flight.auth*``) and how they choose an authenticator."""

from __future__ import annotations

import ipaddress
from collections.abc import Callable
from enum import Enum

from spark_flight_sql.flightmanager.config import parse_seconds
from spark_flight_sql.flightsql.auth.base import Authenticator
from spark_flight_sql.flightsql.plugins import load_plugin

LOOPBACK_NAMES = frozenset({"localhost", "ip6-localhost"})


class AuthConfKey(str, Enum):
    """Every Spark conf key authentication reads, with its meaning (the cluster secret is
    ``spark.flight.auth.secret`` / ``secretFile``, in :class:`spark_flight_sql.flightmanager.config.ConfKey`)."""

    AUTH = "spark.flight.auth"
    """Who may connect: ``none`` (anyone; the default only when the public server binds to a loopback
    address), ``basic`` (users file), ``ldap`` (an LDAP directory), or the dotted name of an
    :class:`spark_flight_sql.flightsql.auth.Authenticator` subclass (``package.module.Class``), built with the conf lookup."""
    USERS_FILE = "spark.flight.auth.basic.usersFile"
    """The users file of ``basic``: ``NAME:ARGON2-HASH`` lines, edited by ``spark-flight-sql users``."""
    TOKEN_TTL = "spark.flight.auth.tokenTtl"
    """Seconds a bearer token stays valid after login (default 43200: a working day; clients log in
    again when they reconnect)."""


class AuthMode(str, Enum):
    """The built-in values of ``spark.flight.auth``."""

    NONE = "none"
    BASIC = "basic"
    LDAP = "ldap"


BUILT_IN = {
    AuthMode.BASIC.value: "spark_flight_sql.flightsql.auth.basic.BasicAuthenticator",
    AuthMode.LDAP.value: "spark_flight_sql.flightsql.auth.ldap.LdapAuthenticator",
}
DEFAULT_TOKEN_TTL = 43_200.0


def is_loopback(host: str) -> bool:
    """Whether ``host`` names only this machine."""
    if host.lower() in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def auth_mode(get: Callable[[str], str | None], host: str) -> str:
    """The configured ``spark.flight.auth`` value; ``none`` by default on a loopback address only."""
    value = (get(AuthConfKey.AUTH.value) or "").strip()
    if not value:
        if not is_loopback(host):
            raise ValueError(
                f"the server binds to {host!r}, which other machines can reach: set {AuthConfKey.AUTH.value} "
                "(basic, ldap or an authenticator class), or 'none' to let anyone in"
            )
        return AuthMode.NONE.value
    return value.lower() if value.lower() in (*BUILT_IN, AuthMode.NONE.value) else value


def load_authenticator(mode: str, get: Callable[[str], str | None]) -> Authenticator | None:
    """The authenticator ``mode`` names, built with ``get``; None for ``none``."""
    if mode == AuthMode.NONE.value:
        return None
    if mode not in BUILT_IN and "." not in mode:
        choices = ", ".join([AuthMode.NONE.value, *BUILT_IN])
        raise ValueError(f"{AuthConfKey.AUTH.value} must be {choices} or package.module.Class, not {mode!r}")
    return load_plugin(
        AuthConfKey.AUTH.value,
        BUILT_IN.get(mode, mode),
        Authenticator,  # type: ignore[type-abstract]  # - the base the named class must derive from, never instantiated
        "spark_flight_sql.flightsql.auth.Authenticator",
        get,
    )


def token_ttl(get: Callable[[str], str | None]) -> float:
    """``spark.flight.auth.tokenTtl`` in seconds."""
    text = (get(AuthConfKey.TOKEN_TTL.value) or "").strip()
    if not text:
        return DEFAULT_TOKEN_TTL
    seconds = parse_seconds(AuthConfKey.TOKEN_TTL.value, text)
    if seconds <= 0:
        raise ValueError(f"{AuthConfKey.TOKEN_TTL.value} must be positive")
    return seconds
