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
a number beyond what Python converts (a 400-digit timestamp, a date in the year 3 000 000); like
every error sent, each is logged with its traceback, in case it is a bug of the server instead.

What the client reads is ``[ERROR_CLASS] message (error id 3fa2c91b)``, Spark's SQLSTATE kept in
Spark's messages, no traceback and no server path; the node logs the error's traceback under
that id (:mod:`spark_flight_sql.flightmanager.client_errors`). Our errors here have no class of
their own: the client sees the status's (``[INVALID_ARGUMENT] ...``), or the class of the error
they were made from (a FlightManager error's ``[UNKNOWN_TICKET]``), or one given when raising
(``InvalidArgument("...", error_class="...")``).

Every error here is a :class:`~spark_flight_sql.flightmanager.status.StatusError` carrying its
:class:`~spark_flight_sql.flightmanager.status.Status`: the one vocabulary the FlightManager's
errors share. Everything else follows the tables of the lower layer, each written down beside its
code: :mod:`spark_flight_sql.flightmanager.status` (the exception that makes pyarrow.flight send
each status, and why ALREADY_EXISTS goes out as INVALID_ARGUMENT; the statuses of pyarrow's own
exceptions and of errors with a ``status`` attribute, the FlightManager's included; how messages
are cleaned of stack traces and cut to :data:`MAX_MESSAGE_CHARS`),
:mod:`spark_flight_sql.flightmanager.kazoo_errors` (ZooKeeper unreachable is UNAVAILABLE) and
:mod:`spark_flight_sql.flightmanager.spark_errors` (the SQLSTATE and class rules for Spark
errors). Here, an exception of no known kind is INTERNAL.

pyspark is imported only when an exception might be a Spark one (its module is already
loaded), so importing this module never starts a JVM.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import TypeVar

from spark_flight_sql.flightmanager import errors as manager_errors
from spark_flight_sql.flightmanager.client_errors import class_of, send
from spark_flight_sql.flightmanager.errors import status_of
from spark_flight_sql.flightmanager.spark_errors import spark_error
from spark_flight_sql.flightmanager.status import (
    MAX_MESSAGE_CHARS,
    SentStatus,
    Status,
    StatusError,
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
    the module docstring). An error that names its status keeps its error class (a FlightManager
    error's ``UNKNOWN_TICKET``, say); a Spark error's message starts with Spark's.
    """
    if isinstance(exc, FlightSqlError):
        return exc
    if isinstance(exc, RecursionError):
        return InvalidArgument("the request is nested too deeply to be processed")
    if isinstance(exc, OverflowError):
        return InvalidArgument(truncate(f"the request holds a value out of range: {exc}"))
    status = status_of(exc)
    if status is not None:
        return _BY_STATUS[status](truncate(str(exc) or type(exc).__name__), error_class=class_of(exc, status))
    mapped = spark_error(exc)
    if mapped is not None:
        status, message = mapped
        return _BY_STATUS[status](message)
    return Internal(truncate(f"internal error: {type(exc).__name__}: {exc}"))


def to_flight_error(exc: BaseException) -> Exception:
    """The exception which, raised in a Flight handler, sends ``exc`` to the client: the status and
    message :func:`as_flight_sql_error` gives it, its error class and a new error id in front of and
    after the message, ``exc`` logged under that id with its traceback. One already converted (a
    ``SentStatus``) comes back as it is.
    """
    if isinstance(exc, SentStatus) and isinstance(exc, Exception):
        return exc
    error = as_flight_sql_error(exc)
    status = error.status
    return send(exc, status, str(error) or type(error).__name__, error_class=class_of(error, status))


class flight_errors(manager_errors.flight_errors):  # noqa: N801 - reads as a statement
    """Context manager and decorator that converts every exception at the Flight edge.

    ``with flight_errors(): ...`` or ``@flight_errors()``: an ``Exception`` raised inside
    leaves as :func:`to_flight_error` made it, never as anything pyarrow.flight would turn
    into an UNKNOWN status or a Python traceback. The original exception is not chained to
    the new one (pyarrow.flight would send its traceback to the client); it is logged under the
    error id the client sees. One already converted, and a ``BaseException`` that is not an
    ``Exception`` (KeyboardInterrupt, GeneratorExit), pass unchanged.
    """

    def __init__(self) -> None:
        super().__init__(to_flight_error)


def guarded(items: Iterable[T]) -> Iterator[T]:
    """Iterate ``items`` converting errors as :class:`flight_errors` does.

    pyarrow.flight pulls a ``GeneratorStream``'s batches (and a ``do_action`` result
    iterator) after the handler has returned, outside any ``with flight_errors()``: wrap
    such iterables with this, e.g. ``flight.GeneratorStream(schema, guarded(batches))``.
    """
    with flight_errors():
        yield from items
