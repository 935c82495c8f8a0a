"""The FlightManager's errors, and their conversion at the edge of a server that embeds it.

The FlightManager knows nothing of SQL, but its errors and the Spark errors of the jobs it runs
reach clients through any Flight server that embeds it. Each error is a
:class:`~spark_flight_sql.flightmanager.status.StatusError` carrying its
:class:`~spark_flight_sql.flightmanager.status.Status`, the one vocabulary every layer shares
(:mod:`spark_flight_sql.flightmanager.status` owns the mapping from a status to the pyarrow
exception that sends it, and the cleaning of messages), and the error class a client sees in
front of its message (:mod:`spark_flight_sql.flightmanager.client_errors`):

========================  ===================  ======================
error                     gRPC status          error class
========================  ===================  ======================
FlightManagerError        INTERNAL             INTERNAL_ERROR
UnknownTicketError        NOT_FOUND            UNKNOWN_TICKET
WrongNodeError            INVALID_ARGUMENT     WRONG_NODE
InvalidHeaderError        INVALID_ARGUMENT     INVALID_HEADER
RowTooLargeError          INVALID_ARGUMENT¹    ROW_TOO_LARGE
QueryFailedError          the Spark error's    Spark's condition, else QUERY_FAILED
                          (see below),
                          INTERNAL when not
                          given
QueryCancelledError       CANCELLED            QUERY_CANCELLED
PushRejectedError         PERMISSION_DENIED    PUSH_REJECTED
PushUnauthenticatedError  UNAUTHENTICATED      PUSH_UNAUTHENTICATED
StreamTimeoutError        DEADLINE_EXCEEDED    STREAM_TIMEOUT
StreamInterruptedError    UNAVAILABLE          STREAM_INTERRUPTED
NodeUnavailableError      UNAVAILABLE          NODE_UNAVAILABLE
RelayedError              the serving node's   the serving node's
                          (INTERNAL when not   (in its message)
                          given)
SpillError (in spill)     INTERNAL             INTERNAL_ERROR
========================  ===================  ======================

¹ RESOURCE_EXHAUSTED would say it better, but pyarrow.flight cannot send it (see
:mod:`~spark_flight_sql.flightmanager.status`).

:func:`to_flight_error` converts anything at the edge of a server that embeds only the
FlightManager (Flight SQL servers use :func:`spark_flight_sql.flightsql.errors.to_flight_error`,
built on the same vocabulary), and :class:`flight_errors` does it around a block:

=====================================================  =====================================
exception                                              status
=====================================================  =====================================
one already converted (a ``SentStatus``)               unchanged
an error that names its status (the errors above;      that code (see
pyarrow's, a ``pyarrow.flight.FlightError``            :func:`~.status.status_of`)
included, and Python's own, e.g. TimeoutError)
ZooKeeper unreachable (kazoo errors, retries spent)    UNAVAILABLE (:mod:`.kazoo_errors`)
PySpark / Spark (JVM) errors                           by SQLSTATE (:mod:`.spark_errors`)
anything else                                          INTERNAL
=====================================================  =====================================

Importing this module imports neither pyspark, py4j nor kazoo.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from types import TracebackType
from typing import Literal

from spark_flight_sql.flightmanager.client_errors import describe, log_error, send
from spark_flight_sql.flightmanager.kazoo_errors import kazoo_status
from spark_flight_sql.flightmanager.spark_errors import spark_error
from spark_flight_sql.flightmanager.status import (
    MAX_MESSAGE_CHARS,
    PYARROW_EXCEPTIONS,
    SentStatus,
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
    "InvalidHeaderError",
    "NodeUnavailableError",
    "PushRejectedError",
    "PushUnauthenticatedError",
    "QueryCancelledError",
    "QueryFailedError",
    "RelayedError",
    "RowTooLargeError",
    "Status",
    "StatusError",
    "StreamInterruptedError",
    "StreamTimeoutError",
    "UnknownTicketError",
    "WrongNodeError",
    "flight_errors",
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
    error_class = "UNKNOWN_TICKET"


class WrongNodeError(FlightManagerError):
    """The ticket is for another node of the cluster."""

    status = Status.INVALID_ARGUMENT
    error_class = "WRONG_NODE"


class InvalidHeaderError(FlightManagerError):
    """A call header this library reads holds a value it cannot take."""

    status = Status.INVALID_ARGUMENT
    error_class = "INVALID_HEADER"


class RowTooLargeError(FlightManagerError):
    """One row of a result is larger than the largest message its client accepts."""

    status = Status.INVALID_ARGUMENT
    error_class = "ROW_TOO_LARGE"


class QueryFailedError(FlightManagerError):
    """The Spark job behind a result failed; the message carries Spark's error."""

    status = Status.INTERNAL
    error_class = "QUERY_FAILED"

    def __init__(self, message: str, status: str | None = None) -> None:
        super().__init__(message)
        if status is not None:
            self.status = Status.named(status)


class QueryCancelledError(FlightManagerError):
    """The result was cancelled before it was read."""

    status = Status.CANCELLED
    error_class = "QUERY_CANCELLED"


class PushRejectedError(FlightManagerError):
    """A push into the internal server that is not allowed (unknown query, wrong secret)."""

    status = Status.PERMISSION_DENIED
    error_class = "PUSH_REJECTED"


class PushUnauthenticatedError(FlightManagerError):
    """A push into the internal server without the push secret of the query it names."""

    status = Status.UNAUTHENTICATED
    error_class = "PUSH_UNAUTHENTICATED"


class StreamTimeoutError(FlightManagerError):
    """A stream waited longer than its deadline for data that never came."""

    status = Status.DEADLINE_EXCEEDED
    error_class = "STREAM_TIMEOUT"


class StreamInterruptedError(FlightManagerError):
    """A task attempt whose rows were already streamed (``spark.flight.stream.early``) failed or lost
    to another attempt: the stream cannot go on without sending rows twice. Running the query again
    is the remedy, hence UNAVAILABLE."""

    status = Status.UNAVAILABLE
    error_class = "STREAM_INTERRUPTED"


class NodeUnavailableError(FlightManagerError):
    """The node that serves a share this node was asked to relay is not in the cluster, cannot be
    reached, or went away while the share was relayed. Running the query again is the remedy."""

    status = Status.UNAVAILABLE
    error_class = "NODE_UNAVAILABLE"


class RelayedError(FlightManagerError):
    """An error the node serving a relayed share ended its stream with: passed on with its status
    and message (which carries its own error class and error id)."""

    status = Status.INTERNAL

    def __init__(self, message: str, status: Status | None = None) -> None:
        super().__init__(message)
        if status is not None:
            self.status = status


def status_of(exc: BaseException) -> Status | None:
    """The status ``exc`` names itself (:func:`spark_flight_sql.flightmanager.status.status_of`),
    or UNAVAILABLE for a ZooKeeper (kazoo) error; None for anything else."""
    return named_status(exc) or kazoo_status(exc)


def to_flight_error(exc: BaseException) -> Exception:
    """The exception which, raised in a Flight handler, sends ``exc`` to the client (see
    :mod:`~spark_flight_sql.flightmanager.client_errors` for its message, and the log).

    One already converted comes back as it is; an error that names its status
    (:func:`status_of`) and a Spark error (:func:`spark_error`) get theirs; anything else is
    INTERNAL. For servers that embed only the FlightManager; Flight SQL servers use
    :func:`spark_flight_sql.flightsql.errors.to_flight_error`, which follows the same tables.
    """
    if isinstance(exc, SentStatus) and isinstance(exc, Exception):
        return exc
    status = status_of(exc)
    if status is not None:
        return send(exc, status, truncate(str(exc) or type(exc).__name__))
    status, message = spark_error(exc) or (Status.INTERNAL, plain_message(exc))
    return send(exc, status, message)


def from_spark_exception(exc: BaseException) -> FlightManagerError:
    """What a failed Spark job raised, as the error its query fails with.

    A FlightManagerError comes back unchanged; a Spark error becomes a
    :class:`QueryFailedError` with its status and message (see :func:`spark_error`); anything
    else a QueryFailedError with status INTERNAL and the exception's message. The failure gets its
    error id here (the message ends with it, on every node that serves the query), and is logged
    under it with ``exc``'s traceback.
    """
    if isinstance(exc, FlightManagerError):
        return exc
    status, message = spark_error(exc) or (Status.INTERNAL, plain_message(exc))
    text, error_id = describe(message, "QUERY_FAILED")
    log_error(error_id, status, text, exc, "failed a query")
    return QueryFailedError(text, status)


class flight_errors(contextlib.ContextDecorator):  # noqa: N801 - reads as a statement
    """Context manager and decorator that converts every exception at the Flight edge.

    ``with flight_errors(): ...`` or ``@flight_errors()``: an ``Exception`` raised inside leaves as
    ``convert`` (default :func:`to_flight_error`) made it, never as anything pyarrow.flight would
    turn into an UNKNOWN status or a Python traceback. The original exception is not chained to
    the new one (it is logged under the error id instead). One already converted passes unchanged,
    as does a ``BaseException`` that is not an ``Exception`` (KeyboardInterrupt, GeneratorExit).
    """

    def __init__(self, convert: Callable[[BaseException], Exception] = to_flight_error) -> None:
        self._convert = convert

    def __enter__(self) -> flight_errors:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> Literal[False]:
        if exc is None or not isinstance(exc, Exception) or isinstance(exc, SentStatus):
            return False
        raise self._convert(exc) from None
