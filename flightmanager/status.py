"""The one error vocabulary at the edge: gRPC status codes, and how pyarrow.flight sends each one.

As ADBC has one ``Error`` carrying a status code, every error this library raises on purpose is a
:class:`StatusError` that carries a :class:`Status`: the FlightManager's errors
(:mod:`spark_flight_sql.flightmanager.errors`) and the Flight SQL front end's
(:mod:`spark_flight_sql.flightsql.errors`) both derive from it. Translations of foreign errors
into a status live beside the code that meets them: Spark's in
:mod:`spark_flight_sql.flightmanager.spark_errors`, ZooKeeper's (kazoo) in
:mod:`spark_flight_sql.flightmanager.kazoo_errors`. What a client is told of an error (its class,
message and error id) and what the log keeps of it is :mod:`spark_flight_sql.flightmanager.client_errors`.

This module imports only pyarrow and the standard library.

The exception that makes pyarrow.flight send each status (checked against a real server and
client, pyarrow 26; a pyarrow client raises the pyarrow class named), :func:`flight_exception`:

===================  ====================================
gRPC status          raised to pyarrow.flight (a subclass of)
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
ABORTED, FAILED_PRECONDITION, OUT_OF_RANGE: pa.ArrowMemoryError, pa.ArrowCapacityError and
``pa.ArrowException`` itself go out as UNKNOWN), so ALREADY_EXISTS goes out as INVALID_ARGUMENT;
the message still names the condition, e.g. ``[TABLE_OR_VIEW_ALREADY_EXISTS] ...``.

**No traceback on the wire.** Arrow's server appends a status's detail to the gRPC message:
``<message>. Detail: <detail>`` (``TransportStatus::FromStatus``). For a ``FlightError``
subclass the detail is the Flight code's name (``. Detail: Internal``). The three statuses that
have no FlightError class (INVALID_ARGUMENT, NOT_FOUND, UNIMPLEMENTED) are sent by raising
pa.ArrowInvalid, pa.ArrowKeyError or pa.ArrowNotImplementedError, which pyarrow converts with
``ConvertPyError``: its detail, ``PythonErrorDetail``, renders as ``Python exception: `` followed
by ``traceback.format_exception(type, value, tb)``, looked up in the ``traceback`` module each time
a status is sent. That put the handler's traceback (with the server's file paths) and the message a
second time into every such status. pyarrow offers no other way to send those three codes (a
FlightError always carries a Flight code; its Python API cannot attach a detail of our own), so:

* every exception this library raises to pyarrow.flight is made by :func:`flight_exception` and
  is a :class:`SentStatus` (a subclass of the class above, marked as ours);
* :func:`install_traceback_hook`, called by :func:`flight_exception` (once per process; idempotent
  and thread-safe), wraps ``traceback.format_exception``: for a :class:`SentStatus` it returns one
  short line, the status in Flight's spelling (``InvalidArgument``, ``NotFound``...); every other
  call is passed, arguments unchanged, to the function it wrapped. A client sees
  ``<message>. Detail: Python exception: InvalidArgument`` (the prefix is hard-coded in C++).

A SentStatus raised where pyarrow does not look for FlightErrors (GetSchema) still goes through
``ConvertPyError``, and is cut to that line too. Only pyarrow formats these exceptions: the log
keeps the original error, with its traceback, under the error id the client sees.

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

import functools
import re
import threading
import traceback
from collections.abc import Callable, Mapping
from enum import StrEnum
from typing import Any, ClassVar

import pyarrow as pa
import pyarrow.flight as flight

__all__ = [
    "MAX_MESSAGE_CHARS",
    "PYARROW_EXCEPTIONS",
    "SentStatus",
    "Status",
    "StatusError",
    "clean_message",
    "flight_exception",
    "install_traceback_hook",
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
    """An error that carries the :class:`Status` it is sent with. Subclasses set ``status``.

    ``error_class`` is the class a client sees in front of the message (``[UNKNOWN_TICKET] ...``,
    see :mod:`~spark_flight_sql.flightmanager.client_errors`): a subclass's own, or one given when
    raising; None leaves it to the status.
    """

    status: Status = Status.INTERNAL
    error_class: str | None = None

    def __init__(self, *args: object, error_class: str | None = None) -> None:
        super().__init__(*args)
        if error_class is not None:
            self.error_class = error_class


class SentStatus:
    """Marks an exception raised only to make pyarrow.flight send a status (made by
    :func:`flight_exception`): ``traceback.format_exception`` renders it as ``flight_name`` alone
    once :func:`install_traceback_hook` ran (see the module docstring)."""

    status: ClassVar[Status]
    flight_name: ClassVar[str]
    """The status as Flight spells its codes; what a client reads after ``Detail: Python exception:``."""


def _sent(base: type[Exception], status: Status, flight_name: str) -> type[Exception]:
    """A subclass of ``base`` marked as :class:`SentStatus`, sending ``status``."""
    namespace = {"status": status, "flight_name": flight_name, "__module__": __name__}
    return type(f"Sent{flight_name}", (base, SentStatus), namespace)


PYARROW_EXCEPTIONS: Mapping[Status, type[Exception]] = {
    Status.INVALID_ARGUMENT: _sent(pa.ArrowInvalid, Status.INVALID_ARGUMENT, "InvalidArgument"),
    Status.NOT_FOUND: _sent(pa.ArrowKeyError, Status.NOT_FOUND, "NotFound"),
    Status.ALREADY_EXISTS: _sent(pa.ArrowInvalid, Status.ALREADY_EXISTS, "AlreadyExists"),
    Status.PERMISSION_DENIED: _sent(flight.FlightUnauthorizedError, Status.PERMISSION_DENIED, "Unauthorized"),
    Status.UNAUTHENTICATED: _sent(
        flight.FlightUnauthenticatedError, Status.UNAUTHENTICATED, "Unauthenticated"
    ),
    Status.UNIMPLEMENTED: _sent(pa.ArrowNotImplementedError, Status.UNIMPLEMENTED, "Unimplemented"),
    Status.CANCELLED: _sent(flight.FlightCancelledError, Status.CANCELLED, "Cancelled"),
    Status.DEADLINE_EXCEEDED: _sent(flight.FlightTimedOutError, Status.DEADLINE_EXCEEDED, "TimedOut"),
    Status.UNAVAILABLE: _sent(flight.FlightUnavailableError, Status.UNAVAILABLE, "Unavailable"),
    Status.INTERNAL: _sent(flight.FlightInternalError, Status.INTERNAL, "Internal"),
}
"""gRPC status -> the exception class which, raised in a pyarrow.flight handler, sends it (the one
mapping: every layer sends statuses through :func:`flight_exception`). Each is a subclass of the
pyarrow class in the module docstring's table, and a :class:`SentStatus`."""

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


def flight_exception(status: str, message: str, extra_info: bytes = b"") -> Exception:
    """The exception which, raised in a Flight handler, sends ``status`` with ``message`` as it is
    (a :class:`SentStatus`; an unknown status name gives INTERNAL). ``extra_info`` goes with the
    FlightError ones. Installs the traceback hook first, so that no such exception is ever sent
    with a traceback."""
    install_traceback_hook()
    sent = PYARROW_EXCEPTIONS[Status.named(status)]
    if issubclass(sent, flight.FlightError):
        return sent(message, extra_info)
    return sent(message)


def status_of(exc: BaseException) -> Status | None:
    """The status ``exc`` names itself, or None (see the module docstring).

    That is its ``status`` attribute when it names a :class:`Status` (as for every
    :class:`StatusError` and :class:`SentStatus`), else the status pyarrow.flight gives its own
    exceptions and Python's NotImplementedError and TimeoutError.
    """
    named = getattr(exc, "status", None)
    if isinstance(named, str) and named in _STATUS_NAMES:
        return _STATUS_NAMES[named]
    return next((status for native, status in _NATIVE if isinstance(exc, native)), None)


# ---- the traceback hook -------------------------------------------------------------------

_HOOK_MARK = "_spark_flight_sql_sent_status_hook"
_hook_lock = threading.Lock()


def install_traceback_hook() -> None:
    """Make ``traceback.format_exception`` render a :class:`SentStatus` as its ``flight_name``
    alone, and pass every other call to the function it replaces (see the module docstring).

    Once per process: a second call, from any thread, changes nothing.
    """
    if getattr(traceback.format_exception, _HOOK_MARK, False):
        return
    with _hook_lock:
        original = traceback.format_exception
        if getattr(original, _HOOK_MARK, False):
            return
        traceback.format_exception = _sent_status_short(original)


def _sent_status_short(original: Callable[..., list[str]]) -> Callable[..., list[str]]:
    @functools.wraps(original)
    def format_exception(exc: Any, /, *args: Any, **kwargs: Any) -> list[str]:
        # Called as (type, value, tb) by pyarrow, or (exception) by Python 3.10+ code.
        value = args[0] if args else kwargs.get("value", exc)
        if isinstance(value, SentStatus):
            return [value.flight_name]
        return original(exc, *args, **kwargs)

    setattr(format_exception, _HOOK_MARK, True)
    return format_exception


# ---- messages -----------------------------------------------------------------------------

# Where the stack trace that follows an error's own message begins (PySpark's, Spark's).
_STACK_SECTIONS = ("\n\nJVM stacktrace:", "\nDriver stacktrace:")
# One JVM stack frame, or the elision that ends a "Caused by:" trace.
_JVM_FRAME = re.compile(r"^\s+(at \S|\.\.\. \d+ (more|common frames omitted))")
_PYTHON_TRACEBACK = "Traceback (most recent call last):"
_CUT_NOTE = "... ({} more characters cut)"


def truncate(message: str, limit: int = MAX_MESSAGE_CHARS) -> str:
    """``message`` stripped, and cut to at most ``limit`` characters with a note saying so."""
    message = message.strip()
    if len(message) <= limit:
        return message
    keep = limit - len(_CUT_NOTE.format(len(message)))
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
