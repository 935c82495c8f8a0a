"""The error mapping: our errors, Python and pyarrow errors, and real Spark errors."""

from __future__ import annotations

import logging
import re
import sys
from collections.abc import Callable, Iterator
from typing import Any

import pyarrow as pa
import pyarrow.flight as flight
import pytest
from support.processes import COMMAND_TIMEOUT, run_command

import spark_flight_sql.flightmanager.errors as manager_errors
from spark_flight_sql.flightmanager.errors import (
    FlightManagerError,
    InvalidHeaderError,
    NodeUnavailableError,
    PushRejectedError,
    PushUnauthenticatedError,
    QueryCancelledError,
    QueryFailedError,
    RelayedError,
    RowTooLargeError,
    StreamInterruptedError,
    StreamTimeoutError,
    UnknownTicketError,
    WrongNodeError,
    from_spark_exception,
    spark_error,
)
from spark_flight_sql.flightsql import errors
from spark_flight_sql.flightsql.errors import (
    AlreadyExists,
    Cancelled,
    DeadlineExceeded,
    FlightSqlError,
    Internal,
    InvalidArgument,
    NotFound,
    PermissionDenied,
    Unauthenticated,
    Unavailable,
    Unimplemented,
    as_flight_sql_error,
    flight_errors,
    guarded,
    to_flight_error,
)

# Our error -> (pyarrow exception raised on the client, gRPC status code on the wire).
# The class a client sees in front of the message: the status's, INTERNAL as Spark names it.
MAPPING: list[tuple[type[FlightSqlError], type[Exception], str]] = [
    (InvalidArgument, pa.ArrowInvalid, "INVALID_ARGUMENT"),
    (NotFound, pa.ArrowKeyError, "NOT_FOUND"),
    (AlreadyExists, pa.ArrowInvalid, "INVALID_ARGUMENT"),  # pyarrow cannot send ALREADY_EXISTS
    (PermissionDenied, flight.FlightUnauthorizedError, "PERMISSION_DENIED"),
    (Unauthenticated, flight.FlightUnauthenticatedError, "UNAUTHENTICATED"),
    (Unimplemented, pa.ArrowNotImplementedError, "UNIMPLEMENTED"),
    (Cancelled, flight.FlightCancelledError, "CANCELLED"),
    (DeadlineExceeded, flight.FlightTimedOutError, "DEADLINE_EXCEEDED"),
    (Unavailable, flight.FlightUnavailableError, "UNAVAILABLE"),
    (Internal, flight.FlightInternalError, "INTERNAL"),
]


class Raising(flight.FlightServerBase):
    """Raises ``to_flight_error(<the error the action names>)``, as the edge does."""

    def do_action(self, context: flight.ServerCallContext, action: flight.Action) -> list[bytes]:
        error = {cls.__name__: cls for cls, _, _ in MAPPING}[action.type]
        with flight_errors():
            raise error(f"message of {action.type}")


@pytest.fixture(scope="module")
def raising() -> Iterator[tuple[int, flight.FlightClient]]:
    with Raising("grpc://127.0.0.1:0") as server:
        with flight.connect(f"grpc://127.0.0.1:{server.port}") as client:
            yield server.port, client


@pytest.mark.parametrize(
    ("error", "client_sees", "code"), MAPPING, ids=[error.__name__ for error, _, _ in MAPPING]
)
def test_our_errors_reach_a_pyarrow_client(
    raising: tuple[int, flight.FlightClient],
    error: type[FlightSqlError],
    client_sees: type[Exception],
    code: str,
) -> None:
    assert isinstance(to_flight_error(error("m")), client_sees)
    _, client = raising
    error_class = "INTERNAL_ERROR" if error.status == "INTERNAL" else error.status.value
    expected = rf"^\[{error_class}\] message of {error.__name__} \(error id [0-9a-f]{{8}}\)\. Detail: "
    with pytest.raises(client_sees, match=expected) as raised:
        list(client.do_action(flight.Action(error.__name__, b"")))
    # FlightUnauthorizedError etc. are FlightErrors; the pyarrow ones are not: be exact.
    assert type(raised.value) is client_sees
    assert "Traceback" not in str(raised.value) and '.py"' not in str(raised.value)


def test_our_errors_carry_the_grpc_code(raising: tuple[int, flight.FlightClient]) -> None:
    grpc = pytest.importorskip("grpc")
    port, _ = raising
    with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
        do_action = channel.unary_stream(
            "/arrow.flight.protocol.FlightService/DoAction",
            request_serializer=bytes,
            response_deserializer=bytes,
        )
        for error, _, code in MAPPING:
            name = error.__name__.encode()
            with pytest.raises(grpc.RpcError) as raised:
                list(do_action(b"\x0a" + bytes([len(name)]) + name))
            assert raised.value.code().name == code, error.__name__
            details = raised.value.details()
            assert re.fullmatch(
                rf"\[\w+\] message of {error.__name__} \(error id \w+\)\. Detail: [\w :]+", details
            )


def test_converted_errors_pass_unchanged() -> None:
    converted = to_flight_error(NotFound("no such handle"))
    assert to_flight_error(converted) is converted
    with pytest.raises(pa.ArrowKeyError) as raised, flight_errors():
        raise converted
    assert raised.value is converted


def test_pyarrow_flight_errors_get_a_class_and_an_id() -> None:
    with pytest.raises(flight.FlightUnauthenticatedError) as raised, flight_errors():
        raise flight.FlightUnauthenticatedError("who are you", b"extra")
    assert re.fullmatch(r"\[UNAUTHENTICATED\] who are you \(error id [0-9a-f]{8}\)", str(raised.value))
    assert raised.value.extra_info == b"extra"


class WithStatus(Exception):
    """Like the FlightManager's errors: a ``status`` attribute names the gRPC code."""

    status = "NOT_FOUND"


@pytest.mark.parametrize(
    ("raised", "expected", "message"),
    [
        (pa.ArrowInvalid("bad batch"), InvalidArgument, "bad batch"),
        (pa.ArrowKeyError("no such"), NotFound, "no such"),
        (pa.ArrowNotImplementedError("later"), Unimplemented, "later"),
        (NotImplementedError("later"), Unimplemented, "later"),
        (pa.ArrowCancelled("stop"), Cancelled, "stop"),
        (TimeoutError("slow"), DeadlineExceeded, "slow"),
        (WithStatus("ticket gone"), NotFound, "ticket gone"),
        (flight.FlightUnauthorizedError("no"), PermissionDenied, "no"),
        (flight.FlightCancelledError("gone"), Cancelled, "gone"),
        (flight.FlightServerError("failed"), Internal, "failed"),
        (ValueError("oops"), Internal, "internal error: ValueError: oops"),
        (KeyError("k"), Internal, "internal error: KeyError: 'k'"),
    ],
    ids=lambda v: type(v).__name__ if isinstance(v, BaseException) else None,
)
def test_other_exceptions(raised: BaseException, expected: type, message: str) -> None:
    error = as_flight_sql_error(raised)
    assert type(error) is expected
    assert str(error) == message


def test_unknown_errors_are_internal_and_logged(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.ERROR, logger="spark_flight_sql.flightmanager.client_errors"):
        with pytest.raises(flight.FlightInternalError, match="RuntimeError: boom") as raised:
            with flight_errors():
                raise RuntimeError("boom")
    [record] = caplog.records
    assert record.levelno == logging.ERROR
    assert record.exc_info is not None and record.exc_info[1].args == ("boom",)
    error_id = re.search(r"\(error id ([0-9a-f]{8})\)$", str(raised.value))
    assert error_id is not None and record.getMessage().startswith(
        f"error {error_id.group(1)} (INTERNAL) sent to a client: "
    )


def test_client_mistakes_are_logged_at_info(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO, logger="spark_flight_sql.flightmanager.client_errors"):
        with pytest.raises(pa.ArrowInvalid), flight_errors():
            raise InvalidArgument("bad")
    [record] = caplog.records
    assert record.levelno == logging.INFO and record.exc_info is not None


def test_converted_errors_do_not_chain_the_original() -> None:
    with pytest.raises(pa.ArrowInvalid) as raised, flight_errors():
        raise InvalidArgument("bad")
    assert raised.value.__suppress_context__ is True
    assert raised.value.__cause__ is None


def test_base_exceptions_pass_through() -> None:
    with pytest.raises(KeyboardInterrupt), flight_errors():
        raise KeyboardInterrupt


def test_flight_errors_as_a_decorator() -> None:
    @flight_errors()
    def handler() -> None:
        raise NotFound("no such handle")

    with pytest.raises(pa.ArrowKeyError, match="no such handle"):
        handler()


def test_guarded_iterables() -> None:
    def produce() -> Iterator[int]:
        yield 1
        raise PermissionDenied("not yours")

    items = guarded(produce())
    assert next(items) == 1
    with pytest.raises(flight.FlightUnauthorizedError, match="not yours"):
        next(items)


def test_long_messages_are_cut() -> None:
    error = as_flight_sql_error(ValueError("x" * 10_000))
    assert len(str(error)) < errors.MAX_MESSAGE_CHARS + 100
    assert str(error).endswith("more characters cut)")


def test_importing_the_protocol_layer_does_not_import_pyspark() -> None:
    code = (
        "import sys, spark_flight_sql.flightsql.errors, spark_flight_sql.flightsql.router, spark_flight_sql.flightsql.protocol, spark_flight_sql.flightsql.schemas;"
        "assert 'pyspark' not in sys.modules and 'py4j' not in sys.modules, sorted(sys.modules)"
    )
    run_command([sys.executable, "-c", code], timeout=COMMAND_TIMEOUT, check=True, capture_output=False)


# --- SQLSTATE rules, checked without a JVM ------------------------------------------------


def _fake_spark_error(sqlstate: str | None, condition: str | None, message: str) -> Exception:
    base = pytest.importorskip("pyspark.errors")

    class FakeSparkError(base.PySparkException):
        def __init__(self) -> None:
            Exception.__init__(self, message)

        def getSqlState(self) -> str | None:  # noqa: N802 - PySpark's name
            return sqlstate

        def getCondition(self) -> str | None:  # noqa: N802 - PySpark's name
            return condition

        def __str__(self) -> str:
            return message

    return FakeSparkError()


@pytest.mark.parametrize(
    ("sqlstate", "expected"),
    [
        ("42601", InvalidArgument),
        ("42P01", InvalidArgument),
        ("42501", PermissionDenied),
        ("42P07", AlreadyExists),
        ("22012", InvalidArgument),
        ("21000", InvalidArgument),
        ("23505", InvalidArgument),
        ("54000", InvalidArgument),
        ("P0001", InvalidArgument),
        ("0A000", Unimplemented),
        ("08001", Unavailable),
        ("HY008", Cancelled),
        ("XX000", Internal),
        ("58030", Internal),
        (None, Internal),
    ],
)
def test_sqlstate_rules(sqlstate: str | None, expected: type[FlightSqlError]) -> None:
    error = as_flight_sql_error(_fake_spark_error(sqlstate, "SOME_CONDITION", "it failed"))
    assert type(error) is expected
    assert str(error) == "[SOME_CONDITION] it failed" + (f" SQLSTATE: {sqlstate}" if sqlstate else "")


def test_condition_is_not_repeated_and_jvm_stack_is_dropped() -> None:
    message = "[X_Y] went wrong\n\nJVM stacktrace:\norg.apache.spark.Foo\n\tat bar"
    error = as_flight_sql_error(_fake_spark_error("22000", "X_Y", message))
    assert str(error) == "[X_Y] went wrong SQLSTATE: 22000"


# --- Real Spark errors ------------------------------------------------------------------


def _spark_error(action: Callable[[], object]) -> BaseException:
    try:
        action()
    except Exception as exc:  # noqa: BLE001 - the point is to capture whatever Spark raises
        return exc
    raise AssertionError("Spark did not fail")


def test_parse_exception(spark: Any) -> None:
    exc = _spark_error(lambda: spark.sql("SELEC 1"))
    assert type(exc).__name__ == "ParseException"
    error = as_flight_sql_error(exc)
    assert isinstance(error, InvalidArgument)
    assert str(error).startswith("[PARSE_SYNTAX_ERROR] Syntax error at or near 'SELEC'")
    converted = to_flight_error(exc)
    assert isinstance(converted, pa.ArrowInvalid)
    assert "JVM stacktrace" not in str(converted)


def test_analysis_exception(spark: Any) -> None:
    exc = _spark_error(lambda: spark.sql("SELECT * FROM no_such_table_anywhere"))
    assert type(exc).__name__ == "AnalysisException"
    error = as_flight_sql_error(exc)
    assert isinstance(error, InvalidArgument)
    assert str(error).startswith("[TABLE_OR_VIEW_NOT_FOUND] The table or view")
    assert "no_such_table_anywhere" in str(error)


def test_already_exists(spark: Any) -> None:
    spark.sql("CREATE OR REPLACE TEMPORARY VIEW flightsql_errors_v AS SELECT 1")
    exc = _spark_error(lambda: spark.sql("CREATE TEMPORARY VIEW flightsql_errors_v AS SELECT 1"))
    error = as_flight_sql_error(exc)
    assert isinstance(error, AlreadyExists)
    assert str(error).startswith("[TEMP_TABLE_OR_VIEW_ALREADY_EXISTS]")
    assert isinstance(to_flight_error(exc), pa.ArrowInvalid)


def test_spark_error_pyspark_leaves_as_py4j_error(spark: Any) -> None:
    # PySpark converts only some JVM exception classes; this one stays a Py4JJavaError.
    exc = _spark_error(lambda: spark.sql("CREATE TABLE flightsql_errors_t (a INT) USING no_such_format"))
    assert type(exc).__name__ == "Py4JJavaError"
    error = as_flight_sql_error(exc)
    assert isinstance(error, InvalidArgument)
    assert str(error).startswith("[DATA_SOURCE_NOT_FOUND]")


def test_plain_java_exception_is_internal(spark: Any) -> None:
    jvm = spark.sparkContext._jvm
    exc = _spark_error(lambda: jvm.java.util.ArrayList().get(5))
    assert type(exc).__name__ == "Py4JJavaError"
    error = as_flight_sql_error(exc)
    assert isinstance(error, Internal)
    assert "java.lang.IndexOutOfBoundsException" in str(error)


def _raise_through_a_server(exc: BaseException) -> None:
    """Raise ``exc`` in a real Flight server's handler (converted at the edge) and call it."""

    class Failing(flight.FlightServerBase):
        def do_action(self, context: flight.ServerCallContext, action: flight.Action) -> None:
            with flight_errors():
                raise exc

    with Failing("grpc://127.0.0.1:0") as server:
        with flight.connect(f"grpc://127.0.0.1:{server.port}") as client:
            list(client.do_action(flight.Action("x", b"")))


def test_spark_error_through_a_server(spark: Any) -> None:
    exc = _spark_error(lambda: spark.sql("SELECT * FROM no_such_table_anywhere"))

    with pytest.raises(pa.ArrowInvalid, match=r"^\[TABLE_OR_VIEW_NOT_FOUND\]"):
        _raise_through_a_server(exc)


# --- Spark jobs that fail: short messages, whatever the error -------------------------------


def _job_error(spark: Any, sql: str, rdd: bool = False) -> BaseException:
    """What collecting ``sql`` raises, through the DataFrame or (as the push job does) an RDD."""
    df = spark.sql(sql)
    with pytest.raises(Exception) as raised:
        df.rdd.map(tuple).collect() if rdd else df.collect()
    return raised.value


def _assert_short(message: str) -> None:
    assert len(message) <= errors.MAX_MESSAGE_CHARS
    assert "\tat " not in message
    assert not re.search(r"^\s+(at |\.\.\. \d+ more)", message, re.MULTILINE), message
    assert "Traceback" not in message and "stacktrace" not in message.lower(), message


def _mapped_messages(exc: BaseException) -> list[str]:
    """The message of ``exc`` as each layer sends it: they must agree (a failed query's adds its
    error id, and QUERY_FAILED in front when Spark gave no condition)."""
    mapped = spark_error(exc)
    assert mapped is not None
    failed = re.sub(r" \(error id [0-9a-f]{8}\)$", "", str(from_spark_exception(exc)))
    messages = [mapped[1], str(as_flight_sql_error(exc)), failed.removeprefix("[QUERY_FAILED] ")]
    assert len(set(messages)) == 1, messages
    return messages


@pytest.mark.parametrize("rdd", [False, True], ids=["dataframe", "rdd"])
def test_job_failed_by_a_java_exception(spark: Any, rdd: bool) -> None:
    exc = _job_error(
        spark,
        "SELECT java_method('java.lang.Integer', 'parseInt', IF(id = 3, 'nan', '1')) FROM range(10)",
        rdd,
    )
    assert type(exc).__name__ == "Py4JJavaError"
    assert len(str(exc)) > errors.MAX_MESSAGE_CHARS  # what the mapping must not pass on
    [message, *_] = _mapped_messages(exc)
    _assert_short(message)
    first, cause = message.splitlines()
    assert first.startswith("org.apache.spark.SparkException: Job aborted due to stage failure")
    assert cause == 'Caused by: java.lang.NumberFormatException: For input string: "nan"'
    failed = from_spark_exception(exc)
    assert isinstance(failed, QueryFailedError) and failed.status == "INTERNAL"
    assert isinstance(to_flight_error(exc), flight.FlightInternalError)


def test_job_failed_by_a_java_exception_through_a_server(spark: Any) -> None:
    exc = _job_error(
        spark, "SELECT java_method('java.lang.Integer', 'parseInt', IF(id = 3, 'nan', '1')) FROM range(10)"
    )

    with pytest.raises(flight.FlightInternalError, match="NumberFormatException.*nan") as raised:
        _raise_through_a_server(exc)
    _assert_short(str(raised.value))


def test_job_failed_by_a_spark_error(spark: Any) -> None:
    exc = _job_error(spark, "SELECT 1 / (id - 5) FROM range(10)")
    [message, *_] = _mapped_messages(exc)
    _assert_short(message)
    assert message.startswith("[DIVIDE_BY_ZERO] Division by zero")
    assert spark_error(exc) == ("INVALID_ARGUMENT", message)
    assert isinstance(as_flight_sql_error(exc), InvalidArgument)
    assert from_spark_exception(exc).status == "INVALID_ARGUMENT"
    assert isinstance(to_flight_error(exc), pa.ArrowInvalid)


def test_job_failed_in_a_python_udf(spark: Any) -> None:
    from pyspark.sql.functions import udf

    @udf("long", useArrow=False)
    def bad_row(x: int) -> int:
        if x == 3:
            raise ValueError("bad row")
        return x

    with pytest.raises(Exception) as raised:
        spark.range(10).select(bad_row("id")).collect()
    [message, *_] = _mapped_messages(raised.value)
    _assert_short(message)
    assert message.startswith("[PYTHON_EXCEPTION] ")
    assert "ValueError: bad row" in message
    assert 'File "' not in message and "raise ValueError" not in message


def test_job_failed_in_python_code_of_an_rdd(spark: Any) -> None:
    def bad_row(x: int) -> int:
        if x == 3:
            raise ValueError("bad row")
        return x

    with pytest.raises(Exception) as raised:
        spark.sparkContext.parallelize(range(10), 2).map(bad_row).collect()
    [message, *_] = _mapped_messages(raised.value)
    _assert_short(message)
    assert "ValueError: bad row" in message
    assert 'File "' not in message and "raise ValueError" not in message


class FakeJavaException:
    """Duck-types a Py4J proxy of a Java exception; a SparkThrowable when it has a condition."""

    _target_id = "o0"

    def __init__(
        self, text: str, cause: FakeJavaException | None = None, sqlstate: str | None = None
    ) -> None:
        self.text, self.cause, self.sqlstate = text, cause, sqlstate

    def getCause(self) -> FakeJavaException | None:  # noqa: N802 - Java's name
        return self.cause

    def getCondition(self) -> str | None:  # noqa: N802 - Java's name
        if self.sqlstate is None:
            raise RuntimeError("Method getCondition([]) does not exist")
        return self.text.split("]", 1)[0].lstrip("[")

    def getSqlState(self) -> str | None:  # noqa: N802 - Java's name
        if self.sqlstate is None:
            raise RuntimeError("Method getSqlState([]) does not exist")
        return self.sqlstate

    def getMessage(self) -> str:  # noqa: N802 - Java's name
        return self.text

    def toString(self) -> str:  # noqa: N802 - Java's name
        return f"org.example.Failure: {self.text}"


def _py4j_error(java_exception: FakeJavaException) -> BaseException:
    protocol = pytest.importorskip("py4j.protocol")
    return protocol.Py4JJavaError("An error occurred while calling o1.collect.\n", java_exception)


def test_a_spark_error_found_down_the_java_cause_chain() -> None:
    throwable = FakeJavaException(
        "[DIVIDE_BY_ZERO] Division by zero.\n\tat Foo.bar(Foo.java:1)", sqlstate="22012"
    )
    wrapper = FakeJavaException("wrapped", FakeJavaException("wrapped again", throwable))
    assert spark_error(_py4j_error(wrapper)) == (
        "INVALID_ARGUMENT",
        "[DIVIDE_BY_ZERO] Division by zero. SQLSTATE: 22012",
    )


def test_a_cyclic_java_cause_chain_ends() -> None:
    first = FakeJavaException("Job aborted: wrapper\n\tat Foo.bar(Foo.java:1)\n\t... 3 more")
    first.cause = FakeJavaException("root", first)
    status, message = spark_error(_py4j_error(first)) or ("", "")
    assert status == "INTERNAL"
    assert message.splitlines()[0] == "org.example.Failure: Job aborted: wrapper"
    _assert_short(message)


def test_python_tracebacks_keep_the_exception_they_end_with() -> None:
    message = (
        "[X] An exception was thrown from the Python worker:\n"
        "Traceback (most recent call last):\n"
        '  File "a.py", line 1, in f\n'
        "    {}[1]\n"
        "KeyError: 1\n\n"
        "During handling of the above exception, another exception occurred:\n\n"
        "Traceback (most recent call last):\n"
        '  File "a.py", line 3, in f\n'
        "    raise ValueError('bad row')\n"
        "    ^^^^^^^^^^^^^^^^^^^^^^^^^^^\n"
        "ValueError: bad row"
    )
    error = as_flight_sql_error(_fake_spark_error("38000", "X", message))
    assert type(error) is Internal
    assert (
        str(error)
        == "[X] An exception was thrown from the Python worker: ValueError: bad row SQLSTATE: 38000"
    )


def test_long_spark_messages_are_cut() -> None:
    error = as_flight_sql_error(_fake_spark_error("22000", "X", "y" * 10_000))
    assert len(str(error)) <= errors.MAX_MESSAGE_CHARS
    assert str(error).startswith("[X] yyy") and str(error).endswith("more characters cut) SQLSTATE: 22000")


# --- The FlightManager's own errors, mapped without flightsql --------------------------------


def _subclasses(cls: type) -> set[type]:
    return {cls}.union(*(_subclasses(sub) for sub in cls.__subclasses__()))


from spark_flight_sql.flightmanager.spill import SpillError  # noqa: E402 - with its siblings below

MANAGER_ERRORS: dict[type[FlightManagerError], type[Exception]] = {
    FlightManagerError: flight.FlightInternalError,
    UnknownTicketError: pa.ArrowKeyError,
    WrongNodeError: pa.ArrowInvalid,
    QueryFailedError: flight.FlightInternalError,
    QueryCancelledError: flight.FlightCancelledError,
    PushRejectedError: flight.FlightUnauthorizedError,
    PushUnauthenticatedError: flight.FlightUnauthenticatedError,
    StreamTimeoutError: flight.FlightTimedOutError,
    StreamInterruptedError: flight.FlightUnavailableError,
    SpillError: flight.FlightInternalError,
    RowTooLargeError: pa.ArrowInvalid,
    InvalidHeaderError: pa.ArrowInvalid,
    NodeUnavailableError: flight.FlightUnavailableError,
    RelayedError: flight.FlightInternalError,
}


def test_every_flight_manager_error_is_mapped() -> None:
    assert _subclasses(FlightManagerError) == set(MANAGER_ERRORS)
    for cls, expected in MANAGER_ERRORS.items():
        converted = manager_errors.to_flight_error(cls("m"))
        assert isinstance(converted, expected), cls.__name__
        assert type(converted) is manager_errors.PYARROW_EXCEPTIONS[cls.status]
        error_class = cls.error_class or ("INTERNAL_ERROR" if cls.status == "INTERNAL" else cls.status.value)
        assert re.fullmatch(rf"\[{error_class}\] m \(error id [0-9a-f]{{8}}\)", str(converted))
        # The Flight SQL edge sends the same status and class.
        converted = to_flight_error(cls("m"))
        assert type(converted) is manager_errors.PYARROW_EXCEPTIONS[cls.status], cls.__name__
        assert str(converted).startswith(f"[{error_class}] m (error id ")


@pytest.mark.parametrize(("error", "client_sees", "code"), MAPPING, ids=[e.__name__ for e, _, _ in MAPPING])
def test_a_failed_query_carries_any_status(
    error: type[FlightSqlError], client_sees: type[Exception], code: str
) -> None:
    failed = QueryFailedError("it failed", error.status)
    assert isinstance(manager_errors.to_flight_error(failed), client_sees)
    assert isinstance(to_flight_error(failed), client_sees)


def test_both_layers_share_one_status_table() -> None:
    assert {cls.status for cls, _, _ in MAPPING} == set(manager_errors.PYARROW_EXCEPTIONS)
    for cls, client_sees, _ in MAPPING:
        assert issubclass(manager_errors.PYARROW_EXCEPTIONS[cls.status], client_sees)


@pytest.mark.parametrize(
    ("raised", "expected"),
    [
        (pa.ArrowInvalid("bad batch"), pa.ArrowInvalid),
        (TimeoutError("slow"), flight.FlightTimedOutError),
        (ValueError("oops"), flight.FlightInternalError),
    ],
    ids=lambda v: type(v).__name__ if isinstance(v, BaseException) else None,
)
def test_manager_to_flight_error_of_other_exceptions(raised: Exception, expected: type) -> None:
    converted = manager_errors.to_flight_error(raised)
    assert isinstance(converted, expected)
    assert str(raised) in str(converted)
    assert manager_errors.to_flight_error(converted) is converted


def test_from_spark_exception_of_other_exceptions() -> None:
    failed = from_spark_exception(RuntimeError("the node went away"))
    assert isinstance(failed, QueryFailedError)
    assert failed.status == "INTERNAL"
    assert re.fullmatch(r"\[QUERY_FAILED\] the node went away \(error id [0-9a-f]{8}\)", str(failed))
    cancelled = QueryCancelledError("stop")
    assert from_spark_exception(cancelled) is cancelled


def test_importing_the_flight_manager_errors_does_not_import_pyspark() -> None:
    code = (
        "import sys, spark_flight_sql.flightmanager.errors;"
        "assert 'pyspark' not in sys.modules and 'py4j' not in sys.modules, sorted(sys.modules)"
    )
    run_command([sys.executable, "-c", code], timeout=COMMAND_TIMEOUT, check=True, capture_output=False)


def test_an_unreachable_zookeeper_is_unavailable() -> None:
    from kazoo.exceptions import ConnectionLoss, SessionExpiredError
    from kazoo.retry import RetryFailedError

    from spark_flight_sql.flightmanager.errors import status_of

    for error in (ConnectionLoss(), SessionExpiredError(), RetryFailedError("Exceeded retry deadline")):
        assert status_of(error) == "UNAVAILABLE"


# --- What a client reads: class, message, error id --------------------------------------------


def test_a_message_gets_a_class_and_an_id_once() -> None:
    from spark_flight_sql.flightmanager.client_errors import describe

    text, error_id = describe("the ticket is gone", "UNKNOWN_TICKET")
    assert text == f"[UNKNOWN_TICKET] the ticket is gone (error id {error_id})"
    assert describe(text, "OTHER") == (text, error_id)  # already described: unchanged
    legacy, _ = describe("[_LEGACY_ERROR_TEMP_2000] boom", "OTHER")
    assert legacy.startswith("[_LEGACY_ERROR_TEMP_2000] boom (error id ")
    # As another node's client read it: Arrow's detail and pyarrow's client context are dropped.
    received = f"{text}. Detail: NotFound. gRPC client debug context: NOT_FOUND:{text}. Client context: OK"
    assert describe(received, "OTHER") == (text, error_id)


def test_a_long_message_is_cut_but_keeps_its_id() -> None:
    from spark_flight_sql.flightmanager.client_errors import describe

    text, error_id = describe("x" * 10_000, "INTERNAL_ERROR")
    assert len(text) <= errors.MAX_MESSAGE_CHARS
    assert text.endswith(f"more characters cut) (error id {error_id})")
