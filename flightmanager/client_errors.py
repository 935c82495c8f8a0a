"""What a client is told of an error, and what the node's log keeps of it.

Every status this library sends carries one message, in the shape of Spark's own::

    [TABLE_OR_VIEW_NOT_FOUND] The table or view `demo`.`nope` cannot be found. ... SQLSTATE: 42P01 (error id 3fa2c91b)

* the error class in brackets: Spark's condition when the error is Spark's, else the class of the
  error raised (``[UNKNOWN_TICKET]``, ``[ROW_TOO_LARGE]``...), else one named after the status
  (``[INVALID_ARGUMENT]``; INTERNAL is ``[INTERNAL_ERROR]``, as Spark names it);
* the message once, without stack traces (Spark's message keeps its ``SQLSTATE: ...`` and the
  ``== SQL ==`` excerpt that points at the fault);
* ``(error id <8 hex digits>)``, new for each error, at the end. The whole is at most
  :data:`~spark_flight_sql.flightmanager.status.MAX_MESSAGE_CHARS` long: the message is cut, the
  id never.

The node logs the same text under that id (``error 3fa2c91b (NOT_FOUND) sent to a client: ...``)
with the full traceback of the error: at ERROR for INTERNAL, WARNING for UNAVAILABLE and
DEADLINE_EXCEEDED, INFO for the rest (a client's mistake, or its own cancellation). A message that
already ends with an error id keeps it: a query's failure is given its id where its job failed
(:func:`~spark_flight_sql.flightmanager.errors.from_spark_exception` logs ``error 3fa2c91b
(INVALID_ARGUMENT) failed a query: ...`` with Spark's traceback), and every node that ends a stream
with it logs that same id again, with its own traceback.
"""

from __future__ import annotations

import logging
import re
import secrets

from spark_flight_sql.flightmanager.status import MAX_MESSAGE_CHARS, Status, flight_exception, truncate

__all__ = ["ERROR_ID", "class_of", "describe", "log_error", "report", "send"]

log = logging.getLogger(__name__)

ERROR_ID = re.compile(r" \(error id ([0-9a-f]{8})\)$")
"""How a message ends with its error id (group 1: the id)."""

_CLASS_PREFIX = re.compile(r"^\[[A-Z_][A-Z0-9_]*(\.[A-Z0-9_]+)*\] ")  # Spark's _LEGACY_ERROR_TEMP_1234 too
# A status as a client read it: our text, then what Arrow's server and pyarrow's client appended.
_RECEIVED = re.compile(r"( \(error id [0-9a-f]{8}\))\. Detail: .*$", re.S)

_STATUS_CLASSES = {Status.INTERNAL: "INTERNAL_ERROR"}

_LOG_LEVELS = {
    Status.INTERNAL: logging.ERROR,
    Status.UNAVAILABLE: logging.WARNING,
    Status.DEADLINE_EXCEEDED: logging.WARNING,
}


def class_of(exc: BaseException, status: Status) -> str:
    """The error class of ``exc``: its ``error_class`` when it has one, else the status's."""
    named = getattr(exc, "error_class", None)
    if isinstance(named, str) and named:
        return named
    return _STATUS_CLASSES.get(status, status.value)


def describe(message: str, error_class: str) -> tuple[str, str]:
    """``(text, error id)``: ``message`` with ``[error_class]`` in front unless it starts with a
    class already, and a new error id at the end unless it ends with one (see the module
    docstring; a status another node sent, as a client read it, keeps its own up to its id), at
    most MAX_MESSAGE_CHARS long."""
    message = _RECEIVED.sub(r"\1", message.strip())
    found = ERROR_ID.search(message)
    if found is not None:
        return truncate(message), found.group(1)
    if not _CLASS_PREFIX.match(message):
        message = f"[{error_class}] {message}".rstrip()
    error_id = secrets.token_hex(4)
    suffix = f" (error id {error_id})"
    return truncate(message, MAX_MESSAGE_CHARS - len(suffix)) + suffix, error_id


def log_error(
    error_id: str, status: Status, text: str, exc: BaseException | None, event: str = "sent to a client"
) -> None:
    """Log ``text`` under ``error_id`` at the status's level, with ``exc``'s traceback:
    ``error 3fa2c91b (NOT_FOUND) sent to a client: [UNKNOWN_TICKET] ...``."""
    level = _LOG_LEVELS.get(status, logging.INFO)
    log.log(
        level, "error %s (%s) %s: %s", error_id, status.value, event, ERROR_ID.sub("", text), exc_info=exc
    )


def report(exc: BaseException, status: Status, message: str, error_class: str | None = None) -> str:
    """The text a client is told of ``exc`` (status and message as mapped by the caller; its class
    ``error_class``, by default :func:`class_of` ``exc``), logged under its error id with
    ``exc``'s traceback."""
    text, error_id = describe(message, error_class or class_of(exc, status))
    log_error(error_id, status, text, exc)
    return text


def send(exc: BaseException, status: Status, message: str, error_class: str | None = None) -> Exception:
    """The exception which, raised in a Flight handler, sends ``status`` and :func:`report`'s text
    (``exc``'s ``extra_info``, if any, goes with it)."""
    text = report(exc, status, message, error_class)
    extra_info = getattr(exc, "extra_info", b"")
    return flight_exception(status, text, extra_info if isinstance(extra_info, bytes) else b"")
