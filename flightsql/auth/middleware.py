"""The call middleware that authenticates every call on the public server.

A call carries ``authorization: Basic <base64 user:password>`` (padded or not: ADBC sends it
unpadded) or ``authorization: Bearer <token>``. A Basic call, the Flight handshake included, is a
login: its reply carries a fresh bearer token in its ``authorization`` header, which clients send
on every later call. A Bearer call's reply carries its token back: the Flight SQL JDBC driver keeps
the token of the last reply's headers (a reply without one clears it) for the clients it opens to
endpoint locations, and without one logs in again with the password on every endpoint's node.
Calls without valid credentials end UNAUTHENTICATED before any handler runs.

pyarrow gives middleware no peer address, so login audit lines name the user and the call, not the
address; query audit lines (``spark_flight_sql.audit``) name the peer.
"""

from __future__ import annotations

import base64
import binascii
import logging
import threading
from collections.abc import Mapping
from typing import TYPE_CHECKING

import pyarrow.flight as flight

from spark_flight_sql.flightsql.auth.base import (
    AuthenticationFailed,
    Authenticator,
    AuthenticatorUnavailable,
    Identity,
)
from spark_flight_sql.flightsql.auth.tokens import TokenService
from spark_flight_sql.flightsql.errors import flight_errors

if TYPE_CHECKING:
    from pyarrow._flight import ServerAuthReader, ServerAuthSender

Headers = Mapping[str, list[str] | list[bytes]]
"""A call's headers as pyarrow hands them to middleware (bytes for ``-bin`` keys only)."""

MIDDLEWARE_KEY = "flight-sql-auth"
audit = logging.getLogger("spark_flight_sql.audit")
log = logging.getLogger(__name__)

MAX_HEADER_CHARS = 16 * 1024
MAX_CONCURRENT_LOGINS = 8
LOGIN_WAIT = 10.0
"""Seconds a login waits for one of the MAX_CONCURRENT_LOGINS slots before UNAVAILABLE."""
_REFUSED = "authentication required: log in with a user name and password, or send a bearer token"


class AuthMiddleware(flight.ServerMiddleware):
    """The authenticated caller of one call, and the token its reply hands back (a login's new one,
    or the one the call came with)."""

    def __init__(self, identity: Identity, token: str | None = None) -> None:
        self.identity = identity
        self._token = token

    def sending_headers(self) -> dict[str, list[str] | list[bytes]]:
        """The reply carries the bearer token."""
        return {"authorization": [f"Bearer {self._token}"]} if self._token else {}


class HandshakeAccepted(flight.ServerAuthHandler):
    """The Flight handshake itself does nothing: the middleware checks its ``authorization`` header
    (without an auth handler, pyarrow answers every handshake UNIMPLEMENTED)."""

    def authenticate(self, outgoing: ServerAuthSender, incoming: ServerAuthReader) -> None:
        """Nothing to exchange."""

    def is_valid(self, token: bytes) -> str:  # type: ignore[override]  # - pyarrow passes bytes and wants the peer's identity (str); its stubs say str -> bool
        """Every call is checked by the middleware instead."""
        return ""


class AuthMiddlewareFactory(flight.ServerMiddlewareFactory):
    """Authenticates each call with ``authenticator`` (logins) or ``tokens`` (bearer tokens)."""

    def __init__(self, authenticator: Authenticator, tokens: TokenService, node_id: str) -> None:
        self.authenticator = authenticator
        self.tokens = tokens
        self.node_id = node_id
        self._logins = threading.BoundedSemaphore(MAX_CONCURRENT_LOGINS)

    @flight_errors()  # refusals carry an error class and id like every other status
    def start_call(self, info: flight.CallInfo, headers: Headers) -> AuthMiddleware:
        """The caller's identity, or UNAUTHENTICATED."""
        method = _method_name(info)
        values = headers.get("authorization") or headers.get("Authorization") or []
        if not values:
            raise flight.FlightUnauthenticatedError(_REFUSED)
        scheme, _, credentials = header_text(values[0]).strip().partition(" ")
        credentials = credentials.strip()
        if len(credentials) > MAX_HEADER_CHARS:
            raise flight.FlightUnauthenticatedError("the authorization header is too long")
        if scheme.lower() == "bearer":
            try:
                identity = self.tokens.verify(credentials)
                if not self.authenticator.is_active(identity):
                    raise AuthenticationFailed("the user of this token no longer exists: log in again")
                return AuthMiddleware(identity, credentials)
            except AuthenticationFailed as exc:
                audit.info("token refused node=%s call=%s reason=%s", self.node_id, method, exc)
                raise flight.FlightUnauthenticatedError(str(exc)) from None
            except Exception:  # a broken authenticator must not reveal why to the client
                log.exception("authenticator %s failed to check a token", type(self.authenticator).__name__)
                raise flight.FlightInternalError("the server could not check credentials") from None
        if scheme.lower() == "basic":
            return self._login(method, credentials)
        raise flight.FlightUnauthenticatedError(
            f"unsupported authorization scheme {scheme[:20]!r}: {_REFUSED}"
        )

    def _login(self, method: str, credentials: str) -> AuthMiddleware:
        user, password = _basic_credentials(credentials)
        shown = user[:256].encode("unicode_escape").decode()
        # Each login hashes a password (Argon2: 64 MiB, tens of milliseconds) or asks a directory:
        # a flood of logins waits its turn instead of exhausting the node's memory and CPU.
        if not self._logins.acquire(timeout=LOGIN_WAIT):
            audit.warning("login shed user=%s node=%s call=%s: too many at once", shown, self.node_id, method)
            raise flight.FlightUnavailableError("too many logins at once: retry shortly")
        try:
            identity = self.authenticator.authenticate(user, password)
        except AuthenticationFailed as exc:
            audit.warning("login failed user=%s node=%s call=%s", shown, self.node_id, method)
            raise flight.FlightUnauthenticatedError(str(exc) or "invalid user name or password") from None
        except AuthenticatorUnavailable as exc:
            audit.warning(
                "login undecided user=%s node=%s call=%s reason=%s", shown, self.node_id, method, exc
            )
            raise flight.FlightUnavailableError(f"cannot check credentials now: {exc}") from None
        except Exception:  # a broken authenticator must not reveal why to the client
            log.exception("authenticator %s failed", type(self.authenticator).__name__)
            raise flight.FlightInternalError("the server could not check credentials") from None
        finally:
            self._logins.release()
        audit.info("login user=%s node=%s call=%s", identity.user, self.node_id, method)
        return AuthMiddleware(identity, self.tokens.issue(identity))


def header_text(value: str | bytes) -> str:
    """A header value as text (pyarrow gives text, except for binary ``-bin`` headers)."""
    return value.decode("latin-1") if isinstance(value, bytes) else value


def _basic_credentials(credentials: str) -> tuple[str, str]:
    try:
        decoded = base64.b64decode(credentials + "=" * (-len(credentials) % 4), validate=True).decode("utf-8")
    except (binascii.Error, ValueError):
        raise flight.FlightUnauthenticatedError(
            "the Basic credentials are not base64 of user:password"
        ) from None
    user, sep, password = decoded.partition(":")
    if not sep or not user:
        raise flight.FlightUnauthenticatedError("the Basic credentials are not base64 of user:password")
    return user, password


def _method_name(info: flight.CallInfo) -> str:
    name = getattr(info.method, "name", str(info.method))
    return name.removeprefix("FlightMethod.")
