"""Connections to a Flight SQL server with plain ``pyarrow.flight``: auth, headers, TLS, errors.

Used on the driver (planning, preparing a write) and in every task: it imports only pyarrow and
the options module, never ADBC.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass

import pyarrow.flight as flight

from spark_flight_sql.datasource.options import FlightSqlOptions

__all__ = [
    "REUSE_CONNECTION",
    "Connection",
    "FlightSqlSourceError",
    "auth_headers",
    "call_options",
    "connect",
    "describe_error",
    "endpoint_uris",
]

REUSE_CONNECTION = "arrow-flight-reuse-connection://?"
"""The location that tells a client to fetch the ticket over the connection it already has."""


Header = tuple[bytes, bytes]
"""A call header (name, value); gRPC wants the name lowercase."""


class FlightSqlSourceError(RuntimeError):
    """A call to a Flight SQL server failed; the message names the server and the cause."""


def describe_error(exc: BaseException) -> str:
    """A one-line cause for ``exc``, with the gRPC status class of Flight errors."""
    kinds = (
        (flight.FlightUnauthenticatedError, "authentication refused"),
        (flight.FlightUnauthorizedError, "permission denied"),
        (flight.FlightUnavailableError, "server unavailable"),
        (flight.FlightTimedOutError, "timed out"),
        (flight.FlightCancelledError, "cancelled"),
        (flight.FlightServerError, "server error"),
        (flight.FlightInternalError, "internal error"),
    )
    text = str(exc).strip() or type(exc).__name__
    # pyarrow appends gRPC's debug context on a new line: keep the message, drop the noise.
    for noise in (". gRPC client debug context:", ". Detail:", "\n"):
        text = text.split(noise, 1)[0]
    for kind, label in kinds:
        if isinstance(exc, kind):
            return f"{label}: {text}"
    if isinstance(exc, flight.FlightError):
        return f"flight error: {text}"
    return f"{type(exc).__name__}: {text}"


@dataclass
class Connection:
    """An open client and the call options (headers, timeout) every call of it uses."""

    client: flight.FlightClient
    uri: str
    headers: list[Header]
    timeout: float | None

    def call_options(self, timeout: float | None = None) -> flight.FlightCallOptions:
        """Options for one call: the connection's headers, and ``timeout`` or the default."""
        return call_options(self.headers, timeout or self.timeout)

    def close(self) -> None:
        """Close the client."""
        self.client.close()


def _pem(data: bytes | None) -> str | None:
    # PEM is ASCII (parse_options checks it); pyarrow takes it as text.
    return None if data is None else data.decode("ascii")


def _bytes(value: str | bytes) -> bytes:
    return value.encode() if isinstance(value, str) else bytes(value)


def call_options(headers: list[Header], timeout: float | None) -> flight.FlightCallOptions:
    """Options for one call with ``headers`` and ``timeout`` (None: no limit)."""
    return flight.FlightCallOptions(headers=headers, timeout=timeout)  # type: ignore[arg-type]  # - pyarrow converts headers to C++ strings, which takes bytes only (its stubs say str)


def _client(uri: str, options: FlightSqlOptions) -> flight.FlightClient:
    return flight.FlightClient(
        uri,
        tls_root_certs=_pem(options.tls_root_certs),
        cert_chain=_pem(options.tls_cert_chain),
        private_key=_pem(options.tls_private_key),
        override_hostname=options.tls_override_hostname,
        disable_server_verification=options.tls_skip_verify,
    )


def _base_headers(options: FlightSqlOptions) -> list[Header]:
    headers = [(name.encode(), value.encode()) for name, value in options.headers]
    if options.token is not None:
        headers.append((b"authorization", f"Bearer {options.token}".encode()))
    return headers


@contextlib.contextmanager
def connect(
    options: FlightSqlOptions,
    uri: str | None = None,
    auth_headers: list[Header] | None = None,
    what: str = "connect",
) -> Iterator[Connection]:
    """An authenticated connection to ``uri`` (default: the ``uri`` option), closed on exit.

    With ``auth_headers`` (a bearer header obtained earlier) the handshake is skipped: that is how
    tasks reuse the token of the planning connection on every endpoint location, as ADBC does.
    Otherwise a username and password are exchanged once for a bearer token.
    """
    target = uri or options.uri
    try:
        client = _client(target, options)
    except Exception as exc:
        raise FlightSqlSourceError(f"flightsql: cannot {what} {target}: {describe_error(exc)}") from exc
    try:
        headers = _base_headers(options)
        if auth_headers is not None:
            headers = [h for h in headers if h[0].lower() != b"authorization"] + list(auth_headers)
        elif options.username is not None:
            try:
                pair = client.authenticate_basic_token(
                    options.username,
                    options.password or "",
                    call_options(headers, options.timeout),
                )
            except Exception as exc:
                raise FlightSqlSourceError(
                    f"flightsql: cannot authenticate as {options.username!r} at {target}: {describe_error(exc)}"
                ) from exc
            # pyarrow returns the header as bytes (its stubs say str).
            headers.append((_bytes(pair[0]).lower(), _bytes(pair[1])))
        yield Connection(client, target, headers, options.timeout)
    finally:
        client.close()


def auth_headers(connection: Connection) -> list[Header]:
    """The connection's authorization header (if any), to hand to tasks with the tickets."""
    return [h for h in connection.headers if h[0].lower() == b"authorization"]


def endpoint_uris(endpoint: flight.FlightEndpoint, original: str) -> list[str]:
    """The URIs to try for ``endpoint``, in order.

    An endpoint without locations, or whose location says to reuse the connection, is served by
    the server that answered GetFlightInfo (``original``).
    """
    uris: list[str] = []
    for location in endpoint.locations:
        uri = location.uri.decode() if isinstance(location.uri, bytes) else str(location.uri)
        if uri.startswith("arrow-flight-reuse-connection:"):
            uri = original
        if uri not in uris:
            uris.append(uri)
    return uris or [original]
