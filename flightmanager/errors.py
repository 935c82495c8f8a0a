"""Errors raised by the FlightManager, each tagged with the Flight status it stands for.

The FlightManager knows nothing of SQL, but its errors reach clients through any Flight server
that embeds it, so each one names its gRPC status; :func:`flightsql.errors.to_flight_error` (and
:func:`flightmanager.errors.to_flight_error` for servers that do not use ``flightsql``) turn them
into the Flight exception that carries that status.
"""

from __future__ import annotations

import pyarrow as pa
import pyarrow.flight as flight


class FlightManagerError(Exception):
    """Base of every FlightManager error. ``status`` is the Flight status code it maps to."""

    status = "INTERNAL"


class UnknownTicketError(FlightManagerError):
    """The ticket names no result on this node: unknown, forged, expired, or already consumed."""

    status = "NOT_FOUND"


class WrongNodeError(FlightManagerError):
    """The ticket is for another node of the cluster."""

    status = "INVALID_ARGUMENT"


class QueryFailedError(FlightManagerError):
    """The Spark job behind a result failed; the message carries Spark's error."""

    status = "INTERNAL"

    def __init__(self, message: str, status: str | None = None) -> None:
        super().__init__(message)
        if status is not None:
            self.status = status


class QueryCancelledError(FlightManagerError):
    """The result was cancelled before it was read."""

    status = "CANCELLED"


class PushRejectedError(FlightManagerError):
    """A push into the internal server that is not allowed (unknown query, wrong secret)."""

    status = "PERMISSION_DENIED"


class StreamTimeoutError(FlightManagerError):
    """A stream waited longer than its deadline for data that never came."""

    status = "DEADLINE_EXCEEDED"


def to_flight_error(exc: BaseException) -> BaseException:
    """The pyarrow Flight exception that makes a Flight server send ``exc``'s status."""
    status = getattr(exc, "status", "INTERNAL")
    message = str(exc) or type(exc).__name__
    factory = _FLIGHT_EXCEPTIONS.get(status, flight.FlightInternalError)
    return factory(message)


_FLIGHT_EXCEPTIONS = {
    "INVALID_ARGUMENT": pa.ArrowInvalid,
    "NOT_FOUND": pa.ArrowKeyError,
    "ALREADY_EXISTS": pa.ArrowException,
    "UNIMPLEMENTED": pa.ArrowNotImplementedError,
    "CANCELLED": flight.FlightCancelledError,
    "PERMISSION_DENIED": flight.FlightUnauthorizedError,
    "UNAUTHENTICATED": flight.FlightUnauthenticatedError,
    "UNAVAILABLE": flight.FlightUnavailableError,
    "DEADLINE_EXCEEDED": flight.FlightTimedOutError,
    "INTERNAL": flight.FlightInternalError,
}


# SQLSTATE class (first two characters) -> Flight status, for errors that Spark tags with one.
SQLSTATE_STATUS = {
    "22": "INVALID_ARGUMENT",  # data exception: division by zero, overflow, bad cast
    "23": "INVALID_ARGUMENT",  # integrity constraint violation
    "42": "INVALID_ARGUMENT",  # syntax error or access rule violation: parse and analysis errors
    "0A": "UNIMPLEMENTED",  # feature not supported
    "08": "UNAVAILABLE",  # connection exception
    "57": "CANCELLED",  # operator intervention, e.g. a cancelled job
    "HY": "INVALID_ARGUMENT",  # call-level interface errors, e.g. bad parameter values
}


def spark_error_parts(exc: BaseException) -> tuple[str | None, str | None, str]:
    """(error condition, SQLSTATE, message) of a PySpark exception, found through its cause chain."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        condition = _ask(current, "getCondition") or _ask(current, "getErrorClass")
        if condition:
            message = _ask(current, "getMessage") or str(current)
            return condition, _ask(current, "getSqlState"), _first_paragraph(message)
        current = current.__cause__ or current.__context__
    return None, None, _first_paragraph(str(exc) or type(exc).__name__)


def from_spark_exception(exc: BaseException) -> FlightManagerError:
    """A FlightManagerError carrying Spark's error condition and message, with the matching status."""
    if isinstance(exc, FlightManagerError):
        return exc
    condition, sqlstate, message = spark_error_parts(exc)
    status = SQLSTATE_STATUS.get((sqlstate or "")[:2], "INTERNAL")
    if condition and not message.startswith(f"[{condition}]"):
        message = f"[{condition}] {message}"
    return QueryFailedError(message, status)


def _ask(exc: BaseException, method: str) -> str | None:
    getter = getattr(exc, method, None)
    if getter is None:
        return None
    try:
        value = getter()
    except Exception:  # noqa: BLE001 - a half-converted Java exception may refuse
        return None
    return str(value) if value else None


def _first_paragraph(message: str) -> str:
    """Spark appends JVM stack traces and hints after a blank line; clients want the error itself."""
    return message.strip().split("\n\n", 1)[0].strip()
