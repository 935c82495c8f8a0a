"""The one error vocabulary at the edge: gRPC status codes, and how pyarrow.flight sends each one.

As ADBC has one ``Error`` carrying a status code, every error this library raises on purpose is a
:class:`StatusError` that carries a :class:`Status`: the FlightManager's errors
(:mod:`spark_flight_sql.flightmanager.errors`) and the Flight SQL front end's
(:mod:`spark_flight_sql.flightsql.errors`) both derive from it. Translations of foreign errors
into a status live beside the code that meets them: Spark's in
:mod:`spark_flight_sql.flightmanager.spark_errors`, ZooKeeper's (kazoo) in
:mod:`spark_flight_sql.flightmanager.kazoo_errors`.

This module imports only pyarrow and the standard library.

The exception that makes pyarrow.flight send each status (checked against a real server and
client, pyarrow 26; a pyarrow client raises that same class), :data:`PYARROW_EXCEPTIONS`:

===================  ====================================
gRPC status          raised to pyarrow.flight
===================  ====================================
INVALID_ARGUMENT     pa.ArrowInvalid
NOT_FOUND            pa.ArrowKeyError
ALREADY_EXISTS       pa.ArrowInvalid, sent as INVALID_ARGUMENT¹
PERMISSION_DENIED    flight.FlightUnauthorizedError
UNAUTHENTICATED      flight.FlightUnauthenticatedError
UNIMPLEMENTED        pa.ArrowNotImplementedError
CANCELLED            flight.FlightCancelledError
DEADLINE_EXCEEDED    flight.FlightTimedOutError
UNAVAILABLE          flight.FlightUnavailableError
INTERNAL             flight.FlightInternalError
===================  ====================================

¹ pyarrow.flight has no exception that produces ALREADY_EXISTS (nor RESOURCE_EXHAUSTED,
ABORTED, FAILED_PRECONDITION, OUT_OF_RANGE; ``pa.ArrowException`` itself goes out as
UNKNOWN), so ALREADY_EXISTS goes out as INVALID_ARGUMENT; the message still names the
condition, e.g. ``[TABLE_OR_VIEW_ALREADY_EXISTS] ...``.

pyarrow.flight appends a detail to every status message: ``. Detail: Internal`` and the like
for the FlightError subclasses, but ``. Detail: Python exception: Traceback ...`` (with the
server's file names) for the three that are not FlightErrors: INVALID_ARGUMENT, NOT_FOUND and
UNIMPLEMENTED. Nothing in pyarrow's Python API avoids it; raise without chaining the cause to
keep that traceback two frames long.

The status an exception names itself (:func:`status_of`):

=====================================================  =====================================
exception                                              status
=====================================================  =====================================
a :class:`StatusError`, or any error with              that code
``status = "<GRPC_CODE>"``
``pyarrow.flight.FlightError`` subclasses              theirs (unauthenticated, unauthorized,
                                                       unavailable, timed out, cancelled;
                                                       any other FlightError: INTERNAL)
``pa.ArrowInvalid``                                    INVALID_ARGUMENT
``pa.ArrowKeyError``                                   NOT_FOUND
``pa.ArrowNotImplementedError``, NotImplementedError   UNIMPLEMENTED
``pa.ArrowCancelled``                                  CANCELLED
TimeoutError                                           DEADLINE_EXCEEDED
anything else                                          None (the caller decides)
=====================================================  =====================================

Messages sent to clients carry no stack traces (:func:`clean_message`: JVM frames ``\\tat ...``
and ``... 27 more``, PySpark's ``JVM stacktrace:`` and Spark's ``Driver stacktrace:`` sections
are dropped, and a Python traceback is cut to the exception line that ends it) and are at most
:data:`MAX_MESSAGE_CHARS` long (:func:`truncate`): gRPC carries them in a trailer, and clients
reject trailers past a few kilobytes (pyarrow then reports UNKNOWN).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from enum import StrEnum

import pyarrow as pa
import pyarrow.flight as flight

__all__ = [
    "MAX_MESSAGE_CHARS",
    "PYARROW_EXCEPTIONS",
    "Status",
    "StatusError",
    "clean_message",
    "flight_exception",
    "plain_message",
    "status_of",
    "truncate",
]

MAX_MESSAGE_CHARS = 4000
"""Longest message sent to a client; longer ones are cut, with a note saying so."""


class Status(StrEnum):
    """The gRPC status codes this library sends. Each member equals its name as a string."""

    INVALID_ARGUMENT = "INVALID_ARGUMENT"
    NOT_FOUND = "NOT_FOUND"
    ALREADY_EXISTS = "ALREADY_EXISTS"
    PERMISSION_DENIED = "PERMISSION_DENIED"
    UNAUTHENTICATED = "UNAUTHENTICATED"
    UNIMPLEMENTED = "UNIMPLEMENTED"
    CANCELLED = "CANCELLED"
    DEADLINE_EXCEEDED = "DEADLINE_EXCEEDED"
    UNAVAILABLE = "UNAVAILABLE"
    INTERNAL = "INTERNAL"

    @classmethod
    def named(cls, name: str) -> Status:
        """The status called ``name``; INTERNAL for a name that is none of ours."""
        return _STATUS_NAMES.get(name, cls.INTERNAL)


class StatusError(Exception):
    """An error that carries the :class:`Status` it is sent with. Subclasses set ``status``."""

    status: Status = Status.INTERNAL


PYARROW_EXCEPTIONS: Mapping[Status, Callable[[str], Exception]] = {
    Status.INVALID_ARGUMENT: pa.ArrowInvalid,
    Status.NOT_FOUND: pa.ArrowKeyError,
    Status.ALREADY_EXISTS: pa.ArrowInvalid,
    Status.PERMISSION_DENIED: flight.FlightUnauthorizedError,
    Status.UNAUTHENTICATED: flight.FlightUnauthenticatedError,
    Status.UNIMPLEMENTED: pa.ArrowNotImplementedError,
    Status.CANCELLED: flight.FlightCancelledError,
    Status.DEADLINE_EXCEEDED: flight.FlightTimedOutError,
    Status.UNAVAILABLE: flight.FlightUnavailableError,
    Status.INTERNAL: flight.FlightInternalError,
}
"""gRPC status -> the exception which, raised in a pyarrow.flight handler, sends it (the one
mapping: every layer sends statuses through :func:`flight_exception`)."""

_STATUS_NAMES: Mapping[str, Status] = {status.value: status for status in Status}

# pyarrow's own exceptions (and Python's nearest ones), which pyarrow.flight maps the same way
# when they escape a handler. The first match wins: subclasses before their bases.
_NATIVE: tuple[tuple[type[BaseException], Status], ...] = (
    (flight.FlightUnauthenticatedError, Status.UNAUTHENTICATED),
    (flight.FlightUnauthorizedError, Status.PERMISSION_DENIED),
    (flight.FlightUnavailableError, Status.UNAVAILABLE),
    (flight.FlightTimedOutError, Status.DEADLINE_EXCEEDED),
    (flight.FlightCancelledError, Status.CANCELLED),
    (flight.FlightError, Status.INTERNAL),
    (pa.ArrowInvalid, Status.INVALID_ARGUMENT),
    (pa.ArrowKeyError, Status.NOT_FOUND),
    (pa.ArrowNotImplementedError, Status.UNIMPLEMENTED),
    (NotImplementedError, Status.UNIMPLEMENTED),
    (pa.ArrowCancelled, Status.CANCELLED),
    (TimeoutError, Status.DEADLINE_EXCEEDED),
)


def flight_exception(status: str, message: str) -> Exception:
    """The pyarrow exception which, raised in a Flight handler, sends ``status`` with ``message``.

    An unknown status name gives INTERNAL.
    """
    return PYARROW_EXCEPTIONS[Status.named(status)](message)


def status_of(exc: BaseException) -> Status | None:
    """The status ``exc`` names itself, or None (see the module docstring).

    That is its ``status`` attribute when it names a :class:`Status` (as for every
    :class:`StatusError`), else the status pyarrow.flight gives its own exceptions and Python's
    NotImplementedError and TimeoutError.
    """
    named = getattr(exc, "status", None)
    if isinstance(named, str) and named in _STATUS_NAMES:
        return _STATUS_NAMES[named]
    return next((status for native, status in _NATIVE if isinstance(exc, native)), None)


# ---- messages -----------------------------------------------------------------------------

# Where the stack trace that follows an error's own message begins (PySpark's, Spark's).
_STACK_SECTIONS = ("\n\nJVM stacktrace:", "\nDriver stacktrace:")
# One JVM stack frame, or the elision that ends a "Caused by:" trace.
_JVM_FRAME = re.compile(r"^\s+(at \S|\.\.\. \d+ (more|common frames omitted))")
_PYTHON_TRACEBACK = "Traceback (most recent call last):"
_CUT_NOTE = "... ({} more characters cut)"


def truncate(message: str) -> str:
    """``message`` stripped, and cut to at most :data:`MAX_MESSAGE_CHARS` with a note saying so."""
    message = message.strip()
    if len(message) <= MAX_MESSAGE_CHARS:
        return message
    keep = MAX_MESSAGE_CHARS - len(_CUT_NOTE.format(len(message)))
    return message[:keep] + _CUT_NOTE.format(len(message) - keep)


def _without_python_traceback(message: str) -> str:
    # "<prefix> Traceback (most recent call last):\n  File ...\n    code\nValueError: bad row":
    # keep the prefix and the exception that ends the last traceback (the one raised; chained
    # ones come first); its frames and source lines are the indented lines after the header.
    if _PYTHON_TRACEBACK not in message:
        return message
    prefix = message.split(_PYTHON_TRACEBACK, 1)[0].strip()
    lines = message.rsplit(_PYTHON_TRACEBACK, 1)[1].splitlines()
    while lines and (not lines[0].strip() or lines[0][:1].isspace()):
        lines.pop(0)
    raised = "\n".join(lines).strip()
    return f"{prefix} {raised}".strip()


def clean_message(message: str) -> str:
    """``message`` without JVM stack frames, stack trace sections and Python tracebacks."""
    for section in _STACK_SECTIONS:
        message = message.split(section, 1)[0]
    message = _without_python_traceback(message)
    lines = (line.rstrip() for line in message.splitlines() if not _JVM_FRAME.match(line))
    return "\n".join(line for line in lines if line).strip()


def plain_message(exc: BaseException) -> str:
    """``exc``'s message, cleaned and cut, or its class name when it has none."""
    return truncate(clean_message(str(exc)) or type(exc).__name__)
