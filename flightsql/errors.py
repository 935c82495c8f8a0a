"""The one mapping from errors to Flight (gRPC) status codes.

Handlers raise the :class:`FlightSqlError` subclass that says what went wrong, or let Spark's
own exceptions through; :func:`flight_errors` converts everything at the edge of the server
with :func:`to_flight_error`, so that no other exception reaches pyarrow.flight.

Our errors, and the exception that makes pyarrow.flight send each status (checked against a
real server and client, pyarrow 26; a pyarrow client raises that same class):

=====================  ===================  ====================================
error                  gRPC status          raised to pyarrow.flight
=====================  ===================  ====================================
InvalidArgument        INVALID_ARGUMENT     pa.ArrowInvalid
NotFound               NOT_FOUND            pa.ArrowKeyError
AlreadyExists          INVALID_ARGUMENT¹    pa.ArrowInvalid
PermissionDenied       PERMISSION_DENIED    flight.FlightUnauthorizedError
Unauthenticated        UNAUTHENTICATED      flight.FlightUnauthenticatedError
Unimplemented          UNIMPLEMENTED        pa.ArrowNotImplementedError
Cancelled              CANCELLED            flight.FlightCancelledError
DeadlineExceeded       DEADLINE_EXCEEDED    flight.FlightTimedOutError
Unavailable            UNAVAILABLE          flight.FlightUnavailableError
Internal               INTERNAL             flight.FlightInternalError
=====================  ===================  ====================================

¹ pyarrow.flight has no exception that produces ALREADY_EXISTS (nor RESOURCE_EXHAUSTED,
ABORTED, FAILED_PRECONDITION, OUT_OF_RANGE), so AlreadyExists goes out as INVALID_ARGUMENT;
the message still names the condition, e.g. ``[TABLE_OR_VIEW_ALREADY_EXISTS] ...``.

pyarrow.flight appends a detail to every status message: ``. Detail: Internal`` and the like
for the FlightError subclasses, but ``. Detail: Python exception: Traceback ...`` (with the
server's file names) for the three that are not FlightErrors: INVALID_ARGUMENT, NOT_FOUND and
UNIMPLEMENTED. Nothing in pyarrow's Python API avoids it; errors are raised without their
cause chained, so that traceback is two frames long and holds nothing of the original error.

Other exceptions:

=====================================================  =====================================
exception                                              status
=====================================================  =====================================
any ``pyarrow.flight.FlightError``                     unchanged (already carries a status)
an error with ``status = "<GRPC_CODE>"`` (e.g. the     that code
FlightManager's errors)
``pa.ArrowInvalid``                                    INVALID_ARGUMENT
``pa.ArrowKeyError``                                   NOT_FOUND
``pa.ArrowNotImplementedError``, NotImplementedError   UNIMPLEMENTED
``pa.ArrowCancelled``                                  CANCELLED
TimeoutError                                           DEADLINE_EXCEEDED
PySpark / Spark (JVM) errors                           by SQLSTATE, see below
anything else                                          INTERNAL, logged with its traceback
=====================================================  =====================================

Spark errors (``pyspark.errors.PySparkException``, including the exceptions captured from
the JVM, and a raw ``py4j.protocol.Py4JJavaError`` whose Java exception is a SparkThrowable)
map by their SQLSTATE; a full SQLSTATE rule wins over its class:

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
anything else (XX, 58, HY, none ...)   INTERNAL
=====================================  ==================

A Spark error without a SQLSTATE falls back on its class: AnalysisException (and
ParseException), IllegalArgumentException, ArithmeticException, NumberFormatException,
DateTimeException and ArrayIndexOutOfBoundsException are INVALID_ARGUMENT,
UnsupportedOperationException is UNIMPLEMENTED, the rest INTERNAL. The message is Spark's
own, ``[CONDITION] message`` (the condition is added in front when Spark left it out), without
the JVM stack trace, and at most :data:`MAX_MESSAGE_CHARS` long: gRPC carries it in a trailer,
and clients reject trailers past a few kilobytes.

pyspark is imported only when an exception might be a Spark one (its module is already
loaded), so importing this module never starts a JVM.
"""

from __future__ import annotations

import contextlib
import logging
import sys
from collections.abc import Callable, Iterable, Iterator
from types import TracebackType
from typing import Any, ClassVar, TypeVar

import pyarrow as pa
import pyarrow.flight as flight

__all__ = [
    "MAX_MESSAGE_CHARS",
    "AlreadyExists",
    "Cancelled",
    "DeadlineExceeded",
    "FlightSqlError",
    "Internal",
    "InvalidArgument",
    "NotFound",
    "PermissionDenied",
    "Unauthenticated",
    "Unavailable",
    "Unimplemented",
    "as_flight_sql_error",
    "flight_errors",
    "guarded",
    "to_flight_error",
]

logger = logging.getLogger(__name__)

MAX_MESSAGE_CHARS = 4000
"""Longest message sent to a client; longer ones are cut, with a note saying so."""

T = TypeVar("T")


class FlightSqlError(Exception):
    """Base of our errors. ``status`` is the name of the gRPC status code it stands for."""

    status: ClassVar[str] = "INTERNAL"


class InvalidArgument(FlightSqlError):
    """The request is malformed or the SQL is invalid (INVALID_ARGUMENT)."""

    status = "INVALID_ARGUMENT"


class NotFound(FlightSqlError):
    """The request names something that does not exist: handle, ticket, table (NOT_FOUND)."""

    status = "NOT_FOUND"


class AlreadyExists(FlightSqlError):
    """The request would create something that exists (sent as INVALID_ARGUMENT, see above)."""

    status = "ALREADY_EXISTS"


class PermissionDenied(FlightSqlError):
    """The caller is known but not allowed to do this (PERMISSION_DENIED)."""

    status = "PERMISSION_DENIED"


class Unauthenticated(FlightSqlError):
    """The caller did not prove who it is (UNAUTHENTICATED)."""

    status = "UNAUTHENTICATED"


class Unimplemented(FlightSqlError):
    """The server does not implement this command or feature (UNIMPLEMENTED)."""

    status = "UNIMPLEMENTED"


class Cancelled(FlightSqlError):
    """The operation was cancelled (CANCELLED)."""

    status = "CANCELLED"


class DeadlineExceeded(FlightSqlError):
    """The operation timed out (DEADLINE_EXCEEDED)."""

    status = "DEADLINE_EXCEEDED"


class Unavailable(FlightSqlError):
    """A resource the request needs is unavailable, try again later (UNAVAILABLE)."""

    status = "UNAVAILABLE"


class Internal(FlightSqlError):
    """A server-side failure that is not the client's fault (INTERNAL)."""

    status = "INTERNAL"


_BY_STATUS: dict[str, type[FlightSqlError]] = {
    cls.status: cls
    for cls in (
        InvalidArgument,
        NotFound,
        AlreadyExists,
        PermissionDenied,
        Unauthenticated,
        Unimplemented,
        Cancelled,
        DeadlineExceeded,
        Unavailable,
        Internal,
    )
}

# What pyarrow.flight must be given to send each status (see the module docstring).
_TO_PYARROW: dict[str, Callable[[str], Exception]] = {
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

# pyarrow's own exceptions, which it maps the same way when they escape a handler.
_PYARROW_NATIVE: tuple[tuple[type[BaseException], type[FlightSqlError]], ...] = (
    (flight.FlightUnauthenticatedError, Unauthenticated),
    (flight.FlightUnauthorizedError, PermissionDenied),
    (flight.FlightUnavailableError, Unavailable),
    (flight.FlightTimedOutError, DeadlineExceeded),
    (flight.FlightCancelledError, Cancelled),
    (flight.FlightError, Internal),
    (pa.ArrowInvalid, InvalidArgument),
    (pa.ArrowKeyError, NotFound),
    (pa.ArrowNotImplementedError, Unimplemented),
    (NotImplementedError, Unimplemented),
    (pa.ArrowCancelled, Cancelled),
    (TimeoutError, DeadlineExceeded),
)

_SQLSTATE_EXACT: dict[str, type[FlightSqlError]] = {
    "42501": PermissionDenied,
    "42P06": AlreadyExists,
    "42P07": AlreadyExists,
    "42710": AlreadyExists,
    "42723": AlreadyExists,
    "HY008": Cancelled,
}

_SQLSTATE_CLASS: dict[str, type[FlightSqlError]] = {
    "42": InvalidArgument,
    "22": InvalidArgument,
    "07": InvalidArgument,
    "21": InvalidArgument,
    "23": InvalidArgument,
    "54": InvalidArgument,
    "P0": InvalidArgument,
    "0A": Unimplemented,
    "08": Unavailable,
}

# Spark exception classes (pyspark.errors names) for errors that carry no SQLSTATE.
_SPARK_CLASS_FALLBACK: tuple[tuple[str, type[FlightSqlError]], ...] = (
    ("AnalysisException", InvalidArgument),
    ("IllegalArgumentException", InvalidArgument),
    ("ArithmeticException", InvalidArgument),
    ("DateTimeException", InvalidArgument),
    ("ArrayIndexOutOfBoundsException", InvalidArgument),
    ("UnsupportedOperationException", Unimplemented),
)

_JVM_STACKTRACE_MARKER = "\n\nJVM stacktrace:"
_JAVA_CAUSE_DEPTH = 8


def _truncate(message: str) -> str:
    message = message.strip()
    if len(message) <= MAX_MESSAGE_CHARS:
        return message
    cut = len(message) - MAX_MESSAGE_CHARS
    return f"{message[:MAX_MESSAGE_CHARS]}... ({cut} more characters cut)"


def _with_condition(condition: str | None, message: str) -> str:
    message = message.split(_JVM_STACKTRACE_MARKER, 1)[0].strip()
    if condition and not message.startswith(f"[{condition}]"):
        message = f"[{condition}] {message}"
    return message


def _from_sqlstate(sqlstate: str | None) -> type[FlightSqlError] | None:
    if not sqlstate:
        return None
    sqlstate = sqlstate.upper()
    return _SQLSTATE_EXACT.get(sqlstate) or _SQLSTATE_CLASS.get(sqlstate[:2]) or Internal


def _spark_condition(exc: BaseException) -> str | None:
    # getCondition is Spark 4's name; getErrorClass still exists but warns.
    getter = getattr(exc, "getCondition", None) or getattr(exc, "getErrorClass", None)
    try:
        return getter() if getter is not None else None
    except Exception:
        return None


def _from_pyspark(exc: BaseException) -> FlightSqlError | None:
    errors = sys.modules.get("pyspark.errors")
    if errors is None or not isinstance(exc, errors.PySparkException):
        return None
    condition = _spark_condition(exc)
    try:
        sqlstate = exc.getSqlState()
    except Exception:
        sqlstate = None
    cls = _from_sqlstate(sqlstate)
    if cls is None:
        cls = next(
            (
                target
                for name, target in _SPARK_CLASS_FALLBACK
                if isinstance(exc, getattr(errors, name))
            ),
            Internal,
        )
    return cls(_truncate(_with_condition(condition, str(exc))))


def _from_py4j(exc: BaseException) -> FlightSqlError | None:
    protocol = sys.modules.get("py4j.protocol")
    if protocol is None or not isinstance(exc, protocol.Py4JJavaError):
        return None
    try:
        return _from_java_exception(exc.java_exception)
    except Exception:  # the JVM is gone or the object is not what we expect
        return Internal(_truncate(str(exc)))


def _from_java_exception(java_exc: Any) -> FlightSqlError:
    # The SparkThrowable that explains a failure may be the cause of a wrapper exception.
    current = java_exc
    for _ in range(_JAVA_CAUSE_DEPTH):
        if current is None:
            break
        try:
            condition, sqlstate = current.getCondition(), current.getSqlState()
        except Exception:  # not a SparkThrowable
            condition = sqlstate = None
        if condition or sqlstate:
            message = current.getMessage() or current.toString()
            cls = _from_sqlstate(sqlstate) or Internal
            return cls(_truncate(_with_condition(condition, str(message))))
        current = current.getCause()
    return Internal(_truncate(str(java_exc.toString())))


def as_flight_sql_error(exc: BaseException) -> FlightSqlError:
    """``exc`` as one of our errors, following the mapping in the module docstring.

    Our own errors come back unchanged. Anything that maps to INTERNAL because it is not a
    known kind of error is logged here with its traceback.
    """
    if isinstance(exc, FlightSqlError):
        return exc
    status = getattr(exc, "status", None)
    if isinstance(status, str) and status in _BY_STATUS:
        return _BY_STATUS[status](_truncate(str(exc) or type(exc).__name__))
    for native, cls in _PYARROW_NATIVE:
        if isinstance(exc, native):
            return cls(_truncate(str(exc) or type(exc).__name__))
    spark_error = _from_pyspark(exc) or _from_py4j(exc)
    if spark_error is not None:
        if isinstance(spark_error, Internal):
            logger.error("Spark error mapped to INTERNAL", exc_info=exc)
        return spark_error
    logger.error("unexpected error mapped to INTERNAL", exc_info=exc)
    return Internal(_truncate(f"internal error: {type(exc).__name__}: {exc}"))


def to_flight_error(exc: BaseException) -> Exception:
    """The pyarrow exception which, raised in a Flight handler, sends ``exc``'s status.

    A ``pyarrow.flight.FlightError`` is returned as it is; everything else is mapped as the
    module docstring says.
    """
    if isinstance(exc, flight.FlightError):
        return exc
    error = as_flight_sql_error(exc)
    return _TO_PYARROW[error.status](str(error) or type(error).__name__)


class flight_errors(contextlib.ContextDecorator):  # noqa: N801 - reads as a statement
    """Context manager and decorator that converts every exception at the Flight edge.

    ``with flight_errors(): ...`` or ``@flight_errors()``: an ``Exception`` raised inside
    leaves as :func:`to_flight_error` made it, never as anything pyarrow.flight would turn
    into an UNKNOWN status or a Python traceback. The original exception is not chained to
    the new one, because pyarrow.flight would send its traceback to the client.
    ``BaseException`` that is not an ``Exception`` (KeyboardInterrupt, GeneratorExit)
    passes unchanged.
    """

    def __enter__(self) -> flight_errors:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> bool:
        if exc is None or not isinstance(exc, Exception) or isinstance(exc, flight.FlightError):
            return False
        converted = to_flight_error(exc)
        logger.debug("Flight call failed: %s: %s", type(converted).__name__, converted)
        raise converted from None


def guarded(items: Iterable[T]) -> Iterator[T]:
    """Iterate ``items`` converting errors as :class:`flight_errors` does.

    pyarrow.flight pulls a ``GeneratorStream``'s batches (and a ``do_action`` result
    iterator) after the handler has returned, outside any ``with flight_errors()``: wrap
    such iterables with this, e.g. ``flight.GeneratorStream(schema, guarded(batches))``.
    """
    with flight_errors():
        yield from items
