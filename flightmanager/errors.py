"""Errors and the one mapping from errors to Flight (gRPC) status codes.

The FlightManager knows nothing of SQL, but its errors and the Spark errors of the jobs it runs
reach clients through any Flight server that embeds it. This module owns the mapping every
layer uses: :func:`to_flight_error` here (for servers that embed only the FlightManager) and
:func:`spark_flight_sql.flightsql.errors.to_flight_error` (the Flight SQL front end, built on these tables).

The FlightManager's errors, each naming its status in a ``status`` class attribute:

========================  ===================
error                     gRPC status
========================  ===================
FlightManagerError        INTERNAL
UnknownTicketError        NOT_FOUND
WrongNodeError            INVALID_ARGUMENT
QueryFailedError          the Spark error's (see below), INTERNAL when not given
QueryCancelledError       CANCELLED
PushRejectedError         PERMISSION_DENIED
PushUnauthenticatedError  UNAUTHENTICATED
StreamTimeoutError        DEADLINE_EXCEEDED
StreamInterruptedError    UNAVAILABLE
========================  ===================

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

Other exceptions:

=====================================================  =====================================
exception                                              status
=====================================================  =====================================
any ``pyarrow.flight.FlightError``                     unchanged (already carries a status)
an error with ``status = "<GRPC_CODE>"`` (e.g. the     that code
errors above)
``pa.ArrowInvalid``                                    INVALID_ARGUMENT
``pa.ArrowKeyError``                                   NOT_FOUND
``pa.ArrowNotImplementedError``, NotImplementedError   UNIMPLEMENTED
``pa.ArrowCancelled``                                  CANCELLED
TimeoutError                                           DEADLINE_EXCEEDED
ZooKeeper unreachable (kazoo errors, retries spent)    UNAVAILABLE
PySpark / Spark (JVM) errors                           by SQLSTATE, see below
anything else                                          INTERNAL
=====================================================  =====================================

Spark errors (``pyspark.errors.PySparkException``, including the exceptions captured from
the JVM, and a raw ``py4j.protocol.Py4JJavaError``) map by the SQLSTATE of the first
SparkThrowable in the Java cause chain; a full SQLSTATE rule wins over its class:

=====================================  ==================
SQLSTATE                               status
=====================================  ==================
42501 (insufficient privilege)         PERMISSION_DENIED
42P06, 42P07, 42710, 42723 (exists)    ALREADY_EXISTS, sent as INVALID_ARGUMENT¹
HY008 (operation cancelled)            CANCELLED
class 42 (syntax error, analysis)      INVALID_ARGUMENT
class 22 (data exception, e.g.         INVALID_ARGUMENT
DIVIDE_BY_ZERO, CAST_INVALID_INPUT)
classes 07, 21, 23, 54, P0 (dynamic    INVALID_ARGUMENT
SQL, cardinality, constraint,
statement too complex, raise_error)
class 0A (feature not supported)       UNIMPLEMENTED
class 08 (connection exception)        UNAVAILABLE
anything else (XX, 38, 58, HY, none)   INTERNAL
=====================================  ==================

A PySpark error without a SQLSTATE falls back on its class: AnalysisException (and
ParseException), IllegalArgumentException (and NumberFormatException), ArithmeticException,
DateTimeException and ArrayIndexOutOfBoundsException are INVALID_ARGUMENT,
UnsupportedOperationException is UNIMPLEMENTED, the rest INTERNAL. A Java exception with no
SparkThrowable in its cause chain (e.g. a job aborted by an exception that a function threw
on an executor) is INTERNAL.

Messages are Spark's own, ``[CONDITION] message`` (the condition is added in front when Spark
left it out), without stack traces: JVM frames (``\\tat ...``, ``... 27 more``), PySpark's
``JVM stacktrace:`` and Spark's ``Driver stacktrace:`` sections are dropped, and a Python
traceback (a UDF's ``[PYTHON_EXCEPTION]``) is cut to the exception line that ends it. For a
Java exception with no SparkThrowable, the message is its first line (e.g. ``Job aborted due
to stage failure: ...``) and the ``toString()`` of its root cause, e.g. ``Caused by:
java.lang.NumberFormatException: For input string: "nan"``. Every message is at most
:data:`MAX_MESSAGE_CHARS` long: gRPC carries it in a trailer, and clients reject trailers past
a few kilobytes (pyarrow then reports UNKNOWN).

pyspark and py4j are looked up in ``sys.modules`` only (an exception can only be theirs when
they are loaded), so importing this module never imports pyspark nor starts a JVM.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Callable, Mapping
from typing import Any

import pyarrow as pa
import pyarrow.flight as flight
from kazoo.exceptions import KazooException
from kazoo.retry import RetryFailedError

__all__ = [
    "MAX_MESSAGE_CHARS",
    "PYARROW_EXCEPTIONS",
    "FlightManagerError",
    "PushRejectedError",
    "PushUnauthenticatedError",
    "QueryCancelledError",
    "QueryFailedError",
    "StreamInterruptedError",
    "StreamTimeoutError",
    "UnknownTicketError",
    "WrongNodeError",
    "flight_exception",
    "from_spark_exception",
    "spark_error",
    "status_of",
    "to_flight_error",
    "truncate",
]

MAX_MESSAGE_CHARS = 4000
"""Longest message sent to a client; longer ones are cut, with a note saying so."""


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


class PushUnauthenticatedError(FlightManagerError):
    """A push into the internal server without the push secret of the query it names."""

    status = "UNAUTHENTICATED"


class StreamTimeoutError(FlightManagerError):
    """A stream waited longer than its deadline for data that never came."""

    status = "DEADLINE_EXCEEDED"


class StreamInterruptedError(FlightManagerError):
    """A task attempt whose rows were already streamed (``spark.flight.stream.early``) failed or lost
    to another attempt: the stream cannot go on without sending rows twice. Running the query again
    is the remedy, hence UNAVAILABLE."""

    status = "UNAVAILABLE"


# ---- the tables (written down in the module docstring) --------------------------------------

PYARROW_EXCEPTIONS: Mapping[str, Callable[[str], Exception]] = {
    "INVALID_ARGUMENT": pa.ArrowInvalid,
    "NOT_FOUND": pa.ArrowKeyError,
    "ALREADY_EXISTS": pa.ArrowInvalid,
    "PERMISSION_DENIED": flight.FlightUnauthorizedError,
    "UNAUTHENTICATED": flight.FlightUnauthenticatedError,
    "UNIMPLEMENTED": pa.ArrowNotImplementedError,
    "CANCELLED": flight.FlightCancelledError,
    "DEADLINE_EXCEEDED": flight.FlightTimedOutError,
    "UNAVAILABLE": flight.FlightUnavailableError,
    "INTERNAL": flight.FlightInternalError,
}
"""gRPC status name -> the exception which, raised in a pyarrow.flight handler, sends it."""

# pyarrow's own exceptions (and Python's nearest ones), which pyarrow.flight maps the same way
# when they escape a handler. The first match wins: subclasses before their bases.
_PYARROW_NATIVE: tuple[tuple[type[BaseException], str], ...] = (
    (flight.FlightUnauthenticatedError, "UNAUTHENTICATED"),
    (flight.FlightUnauthorizedError, "PERMISSION_DENIED"),
    (flight.FlightUnavailableError, "UNAVAILABLE"),
    (flight.FlightTimedOutError, "DEADLINE_EXCEEDED"),
    (flight.FlightCancelledError, "CANCELLED"),
    (flight.FlightError, "INTERNAL"),
    (pa.ArrowInvalid, "INVALID_ARGUMENT"),
    (pa.ArrowKeyError, "NOT_FOUND"),
    (pa.ArrowNotImplementedError, "UNIMPLEMENTED"),
    (NotImplementedError, "UNIMPLEMENTED"),
    (pa.ArrowCancelled, "CANCELLED"),
    (TimeoutError, "DEADLINE_EXCEEDED"),
    (KazooException, "UNAVAILABLE"),
    (RetryFailedError, "UNAVAILABLE"),
)

_SQLSTATE_EXACT: dict[str, str] = {
    "42501": "PERMISSION_DENIED",
    "42P06": "ALREADY_EXISTS",
    "42P07": "ALREADY_EXISTS",
    "42710": "ALREADY_EXISTS",
    "42723": "ALREADY_EXISTS",
    "HY008": "CANCELLED",
}

_SQLSTATE_CLASS: dict[str, str] = {
    "42": "INVALID_ARGUMENT",
    "22": "INVALID_ARGUMENT",
    "07": "INVALID_ARGUMENT",
    "21": "INVALID_ARGUMENT",
    "23": "INVALID_ARGUMENT",
    "54": "INVALID_ARGUMENT",
    "P0": "INVALID_ARGUMENT",
    "0A": "UNIMPLEMENTED",
    "08": "UNAVAILABLE",
}

# pyspark.errors classes -> status, for PySpark errors that carry no SQLSTATE.
_SPARK_CLASS_FALLBACK: tuple[tuple[str, str], ...] = (
    ("AnalysisException", "INVALID_ARGUMENT"),
    ("IllegalArgumentException", "INVALID_ARGUMENT"),
    ("ArithmeticException", "INVALID_ARGUMENT"),
    ("DateTimeException", "INVALID_ARGUMENT"),
    ("ArrayIndexOutOfBoundsException", "INVALID_ARGUMENT"),
    ("UnsupportedOperationException", "UNIMPLEMENTED"),
)

# ---- messages -----------------------------------------------------------------------------

# Where the stack trace that follows an error's own message begins (PySpark's, Spark's).
_STACK_SECTIONS = ("\n\nJVM stacktrace:", "\nDriver stacktrace:")
# One JVM stack frame, or the elision that ends a "Caused by:" trace.
_JVM_FRAME = re.compile(r"^\s+(at \S|\.\.\. \d+ (more|common frames omitted))")
_PYTHON_TRACEBACK = "Traceback (most recent call last):"
_JAVA_CAUSE_DEPTH = 8
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


def _without_stack(message: str) -> str:
    """``message`` without JVM stack frames, stack trace sections and Python tracebacks."""
    for section in _STACK_SECTIONS:
        message = message.split(section, 1)[0]
    message = _without_python_traceback(message)
    lines = (line.rstrip() for line in message.splitlines() if not _JVM_FRAME.match(line))
    return "\n".join(line for line in lines if line).strip()


def _with_condition(condition: str | None, message: str) -> str:
    message = _without_stack(message)
    if condition and not message.startswith(f"[{condition}]"):
        message = f"[{condition}] {message}"
    return truncate(message)


# ---- classification -------------------------------------------------------------------------


def flight_exception(status: str, message: str) -> Exception:
    """The pyarrow exception which, raised in a Flight handler, sends ``status`` with ``message``.

    An unknown status name gives INTERNAL.
    """
    return PYARROW_EXCEPTIONS.get(status, flight.FlightInternalError)(message)


def status_of(exc: BaseException) -> str | None:
    """The status ``exc`` names itself, or None.

    That is its ``status`` attribute when it is a status name of :data:`PYARROW_EXCEPTIONS`
    (as for :class:`FlightManagerError`), else the status pyarrow.flight gives its own
    exceptions and Python's NotImplementedError and TimeoutError (see the module docstring).
    """
    status = getattr(exc, "status", None)
    if isinstance(status, str) and status in PYARROW_EXCEPTIONS:
        return status
    return next((status for native, status in _PYARROW_NATIVE if isinstance(exc, native)), None)


def spark_error(exc: BaseException) -> tuple[str, str] | None:
    """``(status, message)`` for a Spark error, or None when ``exc`` is not one.

    A Spark error is a ``pyspark.errors.PySparkException`` (including those PySpark converts
    from JVM exceptions) or a ``py4j.protocol.Py4JJavaError``; the status and the message
    (short, stack-free, at most :data:`MAX_MESSAGE_CHARS`) follow the module docstring.
    """
    return _from_pyspark(exc) or _from_py4j(exc)


def to_flight_error(exc: BaseException) -> Exception:
    """The pyarrow exception which, raised in a Flight handler, sends ``exc``'s status.

    A ``pyarrow.flight.FlightError`` is returned as it is; an error that names its status
    (:func:`status_of`) and a Spark error (:func:`spark_error`) get theirs; anything else is
    INTERNAL. For servers that embed only the FlightManager; Flight SQL servers use
    :func:`spark_flight_sql.flightsql.errors.to_flight_error`, which follows the same tables.
    """
    if isinstance(exc, flight.FlightError):
        return exc
    status = status_of(exc)
    if status is not None:
        return flight_exception(status, truncate(str(exc) or type(exc).__name__))
    status, message = spark_error(exc) or ("INTERNAL", _plain_message(exc))
    return flight_exception(status, message)


def from_spark_exception(exc: BaseException) -> FlightManagerError:
    """What a failed Spark job raised, as the error its query fails with.

    A FlightManagerError comes back unchanged; a Spark error becomes a
    :class:`QueryFailedError` with its status and message (see :func:`spark_error`); anything
    else a QueryFailedError with status INTERNAL and the exception's message.
    """
    if isinstance(exc, FlightManagerError):
        return exc
    status, message = spark_error(exc) or ("INTERNAL", _plain_message(exc))
    return QueryFailedError(message, status)


def _plain_message(exc: BaseException) -> str:
    return truncate(_without_stack(str(exc)) or type(exc).__name__)


def _status_of_sqlstate(sqlstate: str | None) -> str | None:
    if not sqlstate:
        return None
    sqlstate = sqlstate.upper()
    return _SQLSTATE_EXACT.get(sqlstate) or _SQLSTATE_CLASS.get(sqlstate[:2]) or "INTERNAL"


def _ask(obj: Any, method: str) -> str | None:
    """``obj.method()`` as a string, or None when it is missing, fails or is empty."""
    getter = getattr(obj, method, None)
    if getter is None:
        return None
    try:
        value = getter()
    except Exception:  # noqa: BLE001 - not a SparkThrowable, or the JVM is gone
        return None
    return str(value) if value else None


def _from_pyspark(exc: BaseException) -> tuple[str, str] | None:
    errors = sys.modules.get("pyspark.errors")
    if errors is None or not isinstance(exc, errors.PySparkException):
        return None
    # getCondition is Spark 4's name; getErrorClass still exists but warns.
    condition = _ask(exc, "getCondition") if hasattr(exc, "getCondition") else _ask(exc, "getErrorClass")
    status = _status_of_sqlstate(_ask(exc, "getSqlState"))
    if status is None:
        status = next(
            (target for name, target in _SPARK_CLASS_FALLBACK if isinstance(exc, getattr(errors, name, ()))),
            "INTERNAL",
        )
    return status, _with_condition(condition, str(exc))


def _from_py4j(exc: BaseException) -> tuple[str, str] | None:
    protocol = sys.modules.get("py4j.protocol")
    if protocol is None or not isinstance(exc, protocol.Py4JJavaError):
        return None
    try:
        return _from_java_exception(exc.java_exception)
    except Exception:  # noqa: BLE001 - the JVM is gone or the object is not what we expect
        try:
            message = str(exc)
        except Exception:  # noqa: BLE001 - its __str__ asks the JVM too
            message = type(exc).__name__
        return "INTERNAL", truncate(_without_stack(message))


def _from_java_exception(java_exc: Any) -> tuple[str, str]:
    # The SparkThrowable that explains a failure may be the cause of a wrapper exception, e.g.
    # of the SparkException "Job aborted due to stage failure".
    chain = [java_exc]
    while len(chain) < _JAVA_CAUSE_DEPTH and (cause := chain[-1].getCause()) is not None:
        chain.append(cause)
    for current in chain:
        condition, sqlstate = _ask(current, "getCondition"), _ask(current, "getSqlState")
        if condition or sqlstate:
            message = _ask(current, "getMessage") or str(current.toString())
            return _status_of_sqlstate(sqlstate) or "INTERNAL", _with_condition(condition, message)
    # No SparkThrowable: the first line of the exception and the root cause are what explain it.
    lines = _without_stack(str(java_exc.toString())).splitlines()
    message = lines[0] if lines else str(java_exc.getClass().getName())
    if len(chain) > 1:
        root = _without_stack(str(chain[-1].toString()))
        if root and root not in message:
            message = f"{message}\nCaused by: {root}"
    return "INTERNAL", truncate(message)
