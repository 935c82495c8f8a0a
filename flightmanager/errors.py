"""The FlightManager's errors, and their conversion at the edge of a server that embeds it.

The FlightManager knows nothing of SQL, but its errors and the Spark errors of the jobs it runs
reach clients through any Flight server that embeds it. Each error is a
:class:`~spark_flight_sql.flightmanager.status.StatusError` carrying its
:class:`~spark_flight_sql.flightmanager.status.Status`, the one vocabulary every layer shares
(:mod:`spark_flight_sql.flightmanager.status` owns the mapping from a status to the pyarrow
exception that sends it, and the cleaning of messages):

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
SpillError (in spill)     INTERNAL
========================  ===================

:func:`to_flight_error` converts anything at the edge of a server that embeds only the
FlightManager (Flight SQL servers use :func:`spark_flight_sql.flightsql.errors.to_flight_error`,
built on the same vocabulary):

=====================================================  =====================================
exception                                              status
=====================================================  =====================================
any ``pyarrow.flight.FlightError``                     unchanged (already carries a status)
an error that names its status (the errors above;      that code (see
pyarrow's and Python's own, e.g. TimeoutError)         :func:`~.status.status_of`)
ZooKeeper unreachable (kazoo errors, retries spent)    UNAVAILABLE (:mod:`.kazoo_errors`)
PySpark / Spark (JVM) errors                           by SQLSTATE (:mod:`.spark_errors`)
anything else                                          INTERNAL
=====================================================  =====================================

Importing this module imports neither pyspark, py4j nor kazoo.
"""

from __future__ import annotations

import pyarrow.flight as flight

from spark_flight_sql.flightmanager.kazoo_errors import kazoo_status
from spark_flight_sql.flightmanager.spark_errors import spark_error
from spark_flight_sql.flightmanager.status import (
    MAX_MESSAGE_CHARS,
    PYARROW_EXCEPTIONS,
    Status,
    StatusError,
    flight_exception,
    plain_message,
    truncate,
)
from spark_flight_sql.flightmanager.status import status_of as named_status

# MAX_MESSAGE_CHARS, PYARROW_EXCEPTIONS, Status, StatusError, flight_exception, truncate (from status)
# and spark_error (from spark_errors) are re-exported for code written against this module.
__all__ = [
    "MAX_MESSAGE_CHARS",
    "PYARROW_EXCEPTIONS",
    "FlightManagerError",
    "PushRejectedError",
    "PushUnauthenticatedError",
    "QueryCancelledError",
    "QueryFailedError",
    "Status",
    "StatusError",
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


class FlightManagerError(StatusError):
    """Base of every FlightManager error. ``status`` is the Flight status code it maps to."""

    status = Status.INTERNAL


class UnknownTicketError(FlightManagerError):
    """The ticket names no result on this node: unknown, forged, expired, or already consumed."""

    status = Status.NOT_FOUND


class WrongNodeError(FlightManagerError):
    """The ticket is for another node of the cluster."""

    status = Status.INVALID_ARGUMENT


class QueryFailedError(FlightManagerError):
    """The Spark job behind a result failed; the message carries Spark's error."""

    status = Status.INTERNAL

    def __init__(self, message: str, status: str | None = None) -> None:
        super().__init__(message)
        if status is not None:
            self.status = Status.named(status)


class QueryCancelledError(FlightManagerError):
    """The result was cancelled before it was read."""

    status = Status.CANCELLED


class PushRejectedError(FlightManagerError):
    """A push into the internal server that is not allowed (unknown query, wrong secret)."""

    status = Status.PERMISSION_DENIED


class PushUnauthenticatedError(FlightManagerError):
    """A push into the internal server without the push secret of the query it names."""

    status = Status.UNAUTHENTICATED


class StreamTimeoutError(FlightManagerError):
    """A stream waited longer than its deadline for data that never came."""

    status = Status.DEADLINE_EXCEEDED


class StreamInterruptedError(FlightManagerError):
    """A task attempt whose rows were already streamed (``spark.flight.stream.early``) failed or lost
    to another attempt: the stream cannot go on without sending rows twice. Running the query again
    is the remedy, hence UNAVAILABLE."""

    status = Status.UNAVAILABLE


def status_of(exc: BaseException) -> Status | None:
    """The status ``exc`` names itself (:func:`spark_flight_sql.flightmanager.status.status_of`),
    or UNAVAILABLE for a ZooKeeper (kazoo) error; None for anything else."""
    return named_status(exc) or kazoo_status(exc)


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
    status, message = spark_error(exc) or (Status.INTERNAL, plain_message(exc))
    return flight_exception(status, message)


def from_spark_exception(exc: BaseException) -> FlightManagerError:
    """What a failed Spark job raised, as the error its query fails with.

    A FlightManagerError comes back unchanged; a Spark error becomes a
    :class:`QueryFailedError` with its status and message (see :func:`spark_error`); anything
    else a QueryFailedError with status INTERNAL and the exception's message.
    """
    if isinstance(exc, FlightManagerError):
        return exc
    status, message = spark_error(exc) or (Status.INTERNAL, plain_message(exc))
    return QueryFailedError(message, status)
