"""The Flight SQL front end's errors, and their conversion at the edge of the server.

Handlers raise the :class:`FlightSqlError` subclass that says what went wrong, or let Spark's
own exceptions through; :func:`flight_errors` converts everything at the edge of the server
with :func:`to_flight_error`, so that no other exception reaches pyarrow.flight.

Our errors and the gRPC status each stands for:

=====================  ===================
error                  gRPC status
=====================  ===================
InvalidArgument        INVALID_ARGUMENT
NotFound               NOT_FOUND
AlreadyExists          ALREADY_EXISTS, sent as INVALID_ARGUMENT
PermissionDenied       PERMISSION_DENIED
Unauthenticated        UNAUTHENTICATED
Unimplemented          UNIMPLEMENTED
Cancelled              CANCELLED
DeadlineExceeded       DEADLINE_EXCEEDED
Unavailable            UNAVAILABLE
Internal               INTERNAL
=====================  ===================

A ``RecursionError`` or an ``OverflowError`` is INVALID_ARGUMENT: they come from client bytes
nested deeper than Python parses (a JSON ticket or handle of a hundred thousand ``[``) or holding
a number beyond what Python converts (a 400-digit timestamp, a date in the year 3 000 000); each
is logged with its traceback, in case it is a bug of the server instead.

Every error here is a :class:`~spark_flight_sql.flightmanager.status.StatusError` carrying its
:class:`~spark_flight_sql.flightmanager.status.Status`: the one vocabulary the FlightManager's
errors share. Everything else follows the tables of the lower layer, each written down beside its
code: :mod:`spark_flight_sql.flightmanager.status` (the exception that makes pyarrow.flight send
each status, and why ALREADY_EXISTS goes out as INVALID_ARGUMENT; the statuses of pyarrow's own
exceptions and of errors with a ``status`` attribute, the FlightManager's included; how messages
are cleaned of stack traces and cut to :data:`MAX_MESSAGE_CHARS`),
:mod:`spark_flight_sql.flightmanager.kazoo_errors` (ZooKeeper unreachable is UNAVAILABLE) and
:mod:`spark_flight_sql.flightmanager.spark_errors` (the SQLSTATE and class rules for Spark
errors). Here, an exception of no known kind is INTERNAL, and is logged with its traceback, as is
a Spark error that maps to INTERNAL.

pyspark is imported only when an exception might be a Spark one (its module is already
loaded), so importing this module never starts a JVM.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterable, Iterator
from types import TracebackType
from typing import Literal, TypeVar

import pyarrow.flight as flight

from spark_flight_sql.flightmanager.errors import status_of
from spark_flight_sql.flightmanager.spark_errors import spark_error
from spark_flight_sql.flightmanager.status import (
    MAX_MESSAGE_CHARS,
    Status,
    StatusError,
    flight_exception,
    truncate,
)

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

T = TypeVar("T")


class FlightSqlError(StatusError):
    """Base of our errors: a :class:`~spark_flight_sql.flightmanager.status.StatusError` whose
    ``status`` is the gRPC status code it stands for."""

    status = Status.INTERNAL


class InvalidArgument(FlightSqlError):
    """The request is malformed or the SQL is invalid (INVALID_ARGUMENT)."""

    status = Status.INVALID_ARGUMENT


class NotFound(FlightSqlError):
    """The request names something that does not exist: handle, ticket, table (NOT_FOUND)."""

    status = Status.NOT_FOUND


class AlreadyExists(FlightSqlError):
    """The request would create something that exists (sent as INVALID_ARGUMENT, see above)."""

    status = Status.ALREADY_EXISTS


class PermissionDenied(FlightSqlError):
    """The caller is known but not allowed to do this (PERMISSION_DENIED)."""

    status = Status.PERMISSION_DENIED


class Unauthenticated(FlightSqlError):
    """The caller did not prove who it is (UNAUTHENTICATED)."""

    status = Status.UNAUTHENTICATED


class Unimplemented(FlightSqlError):
    """The server does not implement this command or feature (UNIMPLEMENTED)."""

    status = Status.UNIMPLEMENTED


class Cancelled(FlightSqlError):
    """The operation was cancelled (CANCELLED)."""

    status = Status.CANCELLED


class DeadlineExceeded(FlightSqlError):
    """The operation timed out (DEADLINE_EXCEEDED)."""

    status = Status.DEADLINE_EXCEEDED


class Unavailable(FlightSqlError):
    """A resource the request needs is unavailable, try again later (UNAVAILABLE)."""

    status = Status.UNAVAILABLE


class Internal(FlightSqlError):
    """A server-side failure that is not the client's fault (INTERNAL)."""

    status = Status.INTERNAL


_BY_STATUS: dict[Status, type[FlightSqlError]] = {
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


def as_flight_sql_error(exc: BaseException) -> FlightSqlError:
    """``exc`` as one of our errors, following the lower layer's tables (see the module docstring).

    Our own errors come back unchanged; a RecursionError or OverflowError is InvalidArgument (see
    the module docstring). Anything that maps to INTERNAL because it is not a
    known kind of error, and a Spark error that maps to INTERNAL, is logged here with its
    traceback.
    """
    if isinstance(exc, FlightSqlError):
        return exc
    if isinstance(exc, RecursionError):
        logger.warning("a request nested too deeply was refused as INVALID_ARGUMENT", exc_info=exc)
        return InvalidArgument("the request is nested too deeply to be processed")
    if isinstance(exc, OverflowError):
        logger.warning("a request holding a value out of range was refused as INVALID_ARGUMENT", exc_info=exc)
        return InvalidArgument(truncate(f"the request holds a value out of range: {exc}"))
    status = status_of(exc)
    if status is not None:
        return _BY_STATUS[status](truncate(str(exc) or type(exc).__name__))
    mapped = spark_error(exc)
    if mapped is not None:
        status, message = mapped
        if status is Status.INTERNAL:
            logger.error("Spark error mapped to INTERNAL", exc_info=exc)
        return _BY_STATUS[status](message)
    logger.error("unexpected error mapped to INTERNAL", exc_info=exc)
    return Internal(truncate(f"internal error: {type(exc).__name__}: {exc}"))


def to_flight_error(exc: BaseException) -> Exception:
    """The pyarrow exception which, raised in a Flight handler, sends ``exc``'s status.

    A ``pyarrow.flight.FlightError`` is returned as it is; everything else is mapped by
    :func:`as_flight_sql_error`.
    """
    if isinstance(exc, flight.FlightError):
        return exc
    error = as_flight_sql_error(exc)
    return flight_exception(error.status, str(error) or type(error).__name__)


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
    ) -> Literal[False]:
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
