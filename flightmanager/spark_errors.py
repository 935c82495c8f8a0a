"""Spark's errors as a status and a short message, beside the code that meets Spark.

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

¹ see :mod:`spark_flight_sql.flightmanager.status`: pyarrow.flight cannot send ALREADY_EXISTS.

A PySpark error without a SQLSTATE falls back on its class: AnalysisException (and
ParseException), IllegalArgumentException (and NumberFormatException), ArithmeticException,
DateTimeException and ArrayIndexOutOfBoundsException are INVALID_ARGUMENT,
UnsupportedOperationException is UNIMPLEMENTED, the rest INTERNAL. A Java exception with no
SparkThrowable in its cause chain (e.g. a job aborted by an exception that a function threw
on an executor) is INTERNAL.

Messages are Spark's own, ``[CONDITION] message ... SQLSTATE: xxxxx`` (the condition is added
in front, and the SQLSTATE at the end, when Spark left them out), without stack traces
(:func:`~spark_flight_sql.flightmanager.status.clean_message`) and without the analysed plan that
an AnalysisException's message ends with (``; line 1 pos 14;\n'Project [*] ...``: its
``getSimpleMessage()`` is kept, the ``== SQL ==`` excerpt of a parse or runtime error too), at
most :data:`~spark_flight_sql.flightmanager.status.MAX_MESSAGE_CHARS` long. For a Java
exception with no SparkThrowable, the message is its first line (e.g. ``Job aborted due to
stage failure: ...``) and the ``toString()`` of its root cause, e.g. ``Caused by:
java.lang.NumberFormatException: For input string: "nan"``.

pyspark and py4j are looked up in ``sys.modules`` only (an exception can only be theirs when
they are loaded), so importing this module never imports pyspark nor starts a JVM.
"""

from __future__ import annotations

import sys
from typing import Any

from spark_flight_sql.flightmanager.status import MAX_MESSAGE_CHARS, Status, clean_message, truncate

__all__ = ["spark_error"]

_SQLSTATE_EXACT: dict[str, Status] = {
    "42501": Status.PERMISSION_DENIED,
    "42P06": Status.ALREADY_EXISTS,
    "42P07": Status.ALREADY_EXISTS,
    "42710": Status.ALREADY_EXISTS,
    "42723": Status.ALREADY_EXISTS,
    "HY008": Status.CANCELLED,
}

_SQLSTATE_CLASS: dict[str, Status] = {
    "42": Status.INVALID_ARGUMENT,
    "22": Status.INVALID_ARGUMENT,
    "07": Status.INVALID_ARGUMENT,
    "21": Status.INVALID_ARGUMENT,
    "23": Status.INVALID_ARGUMENT,
    "54": Status.INVALID_ARGUMENT,
    "P0": Status.INVALID_ARGUMENT,
    "0A": Status.UNIMPLEMENTED,
    "08": Status.UNAVAILABLE,
}

# pyspark.errors classes -> status, for PySpark errors that carry no SQLSTATE.
_SPARK_CLASS_FALLBACK: tuple[tuple[str, Status], ...] = (
    ("AnalysisException", Status.INVALID_ARGUMENT),
    ("IllegalArgumentException", Status.INVALID_ARGUMENT),
    ("ArithmeticException", Status.INVALID_ARGUMENT),
    ("DateTimeException", Status.INVALID_ARGUMENT),
    ("ArrayIndexOutOfBoundsException", Status.INVALID_ARGUMENT),
    ("UnsupportedOperationException", Status.UNIMPLEMENTED),
)

_JAVA_CAUSE_DEPTH = 8


def spark_error(exc: BaseException) -> tuple[Status, str] | None:
    """``(status, message)`` for a Spark error, or None when ``exc`` is not one.

    A Spark error is a ``pyspark.errors.PySparkException`` (including those PySpark converts
    from JVM exceptions) or a ``py4j.protocol.Py4JJavaError``; the status and the message
    (short, stack-free, at most ``MAX_MESSAGE_CHARS``) follow the module docstring.
    """
    return _from_pyspark(exc) or _from_py4j(exc)


def _with_condition(condition: str | None, message: str, sqlstate: str | None = None) -> str:
    message = clean_message(message)
    if condition and not message.startswith(f"[{condition}]"):
        message = f"[{condition}] {message}"
    if sqlstate and f"SQLSTATE: {sqlstate}" not in message:
        suffix = f" SQLSTATE: {sqlstate}"
        return truncate(message, MAX_MESSAGE_CHARS - len(suffix)) + suffix
    return truncate(message)


def _without_plan(java_exc: Any, message: str) -> str:
    """``message`` without the analysed plan an AnalysisException's getMessage() appends to its
    getSimpleMessage() (``;\n<plan>``); unchanged for any other exception."""
    simple = _ask(java_exc, "getSimpleMessage") if java_exc is not None else None
    if simple and message.startswith(simple) and message[len(simple) :].startswith(";\n"):
        return simple
    return message


def _status_of_sqlstate(sqlstate: str | None) -> Status | None:
    if not sqlstate:
        return None
    sqlstate = sqlstate.upper()
    return _SQLSTATE_EXACT.get(sqlstate) or _SQLSTATE_CLASS.get(sqlstate[:2]) or Status.INTERNAL


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


def _from_pyspark(exc: BaseException) -> tuple[Status, str] | None:
    errors = sys.modules.get("pyspark.errors")
    if errors is None or not isinstance(exc, errors.PySparkException):
        return None
    # getCondition is Spark 4's name; getErrorClass still exists but warns.
    condition = _ask(exc, "getCondition") if hasattr(exc, "getCondition") else _ask(exc, "getErrorClass")
    sqlstate = _ask(exc, "getSqlState")
    status = _status_of_sqlstate(sqlstate)
    if status is None:
        status = next(
            (target for name, target in _SPARK_CLASS_FALLBACK if isinstance(exc, getattr(errors, name, ()))),
            Status.INTERNAL,
        )
    # A PySpark exception captured from the JVM keeps the Java exception as _origin.
    message = _without_plan(getattr(exc, "_origin", None), str(exc))
    return status, _with_condition(condition, message, sqlstate)


def _from_py4j(exc: BaseException) -> tuple[Status, str] | None:
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
        return Status.INTERNAL, truncate(clean_message(message))


def _from_java_exception(java_exc: Any) -> tuple[Status, str]:
    # The SparkThrowable that explains a failure may be the cause of a wrapper exception, e.g.
    # of the SparkException "Job aborted due to stage failure".
    chain = [java_exc]
    while len(chain) < _JAVA_CAUSE_DEPTH and (cause := chain[-1].getCause()) is not None:
        chain.append(cause)
    for current in chain:
        condition, sqlstate = _ask(current, "getCondition"), _ask(current, "getSqlState")
        if condition or sqlstate:
            message = _without_plan(current, _ask(current, "getMessage") or str(current.toString()))
            return _status_of_sqlstate(sqlstate) or Status.INTERNAL, _with_condition(
                condition, message, sqlstate
            )
    # No SparkThrowable: the first line of the exception and the root cause are what explain it.
    lines = clean_message(str(java_exc.toString())).splitlines()
    message = lines[0] if lines else str(java_exc.getClass().getName())
    if len(chain) > 1:
        root = clean_message(str(chain[-1].toString()))
        if root and root not in message:
            message = f"{message}\nCaused by: {root}"
    return Status.INTERNAL, truncate(message)
