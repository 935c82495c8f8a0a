"""Authentication of Flight SQL clients: authenticators, tokens and the call middleware."""

from spark_flight_sql.flightsql.auth.base import (
    ANONYMOUS,
    AuthenticationFailed,
    Authenticator,
    AuthenticatorUnavailable,
    Identity,
)

__all__ = ["ANONYMOUS", "AuthenticationFailed", "Authenticator", "AuthenticatorUnavailable", "Identity"]
