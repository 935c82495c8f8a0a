"""The error mapping: our errors, Python and pyarrow errors, and real Spark errors."""

from __future__ import annotations

import logging
import subprocess
import sys
from collections.abc import Callable, Iterator
from typing import Any

import pyarrow as pa
import pyarrow.flight as flight
import pytest

from flightsql import errors
from flightsql.errors import (
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
    with pytest.raises(client_sees, match=f"^message of {error.__name__}") as raised:
        list(client.do_action(flight.Action(error.__name__, b"")))
    # FlightUnauthorizedError etc. are FlightErrors; the pyarrow ones are not: be exact.
    assert type(raised.value) is client_sees


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
            assert raised.value.details().startswith(f"message of {error.__name__}")


def test_flight_errors_pass_unchanged() -> None:
    original = flight.FlightUnauthenticatedError("who are you")
    assert to_flight_error(original) is original
    with pytest.raises(flight.FlightUnauthenticatedError) as raised, flight_errors():
        raise original
    assert raised.value is original


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
    with caplog.at_level(logging.ERROR, logger="flightsql.errors"):
        with pytest.raises(flight.FlightInternalError, match="RuntimeError: boom"):
            with flight_errors():
                raise RuntimeError("boom")
    [record] = caplog.records
    assert record.exc_info is not None and record.exc_info[1].args == ("boom",)


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
        "import sys, flightsql.errors, flightsql.base, flightsql.protocol, flightsql.schemas;"
        "assert 'pyspark' not in sys.modules and 'py4j' not in sys.modules, sorted(sys.modules)"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


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
    assert str(error) == "[SOME_CONDITION] it failed"


def test_condition_is_not_repeated_and_jvm_stack_is_dropped() -> None:
    message = "[X_Y] went wrong\n\nJVM stacktrace:\norg.apache.spark.Foo\n\tat bar"
    error = as_flight_sql_error(_fake_spark_error("22000", "X_Y", message))
    assert str(error) == "[X_Y] went wrong"


# --- Real Spark errors ------------------------------------------------------------------


@pytest.fixture(scope="module")
def spark() -> Iterator[Any]:
    """The active SparkSession, or a small one of our own, stopped when this module is done.

    Stopping ours keeps it from becoming, through ``getOrCreate``, the session that later
    test modules configure for themselves.
    """
    sql = pytest.importorskip("pyspark.sql")
    active = sql.SparkSession.getActiveSession()
    if active is not None:
        yield active
        return
    session = (
        sql.SparkSession.builder.master("local[1]")
        .config("spark.ui.enabled", "false")
        .getOrCreate()
    )
    yield session
    session.stop()


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


def test_runtime_data_error_in_a_job(spark: Any) -> None:
    exc = _spark_error(
        lambda: spark.range(3).selectExpr("1 div (id - id)").collect()
    )
    error = as_flight_sql_error(exc)
    assert isinstance(error, InvalidArgument)
    assert str(error).startswith("[DIVIDE_BY_ZERO] Division by zero")


def test_already_exists(spark: Any) -> None:
    spark.sql("CREATE OR REPLACE TEMPORARY VIEW flightsql_errors_v AS SELECT 1")
    exc = _spark_error(
        lambda: spark.sql("CREATE TEMPORARY VIEW flightsql_errors_v AS SELECT 1")
    )
    error = as_flight_sql_error(exc)
    assert isinstance(error, AlreadyExists)
    assert str(error).startswith("[TEMP_TABLE_OR_VIEW_ALREADY_EXISTS]")
    assert isinstance(to_flight_error(exc), pa.ArrowInvalid)


def test_spark_error_pyspark_leaves_as_py4j_error(spark: Any) -> None:
    # PySpark converts only some JVM exception classes; this one stays a Py4JJavaError.
    exc = _spark_error(
        lambda: spark.sql("CREATE TABLE flightsql_errors_t (a INT) USING no_such_format")
    )
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


def test_spark_error_through_a_server(spark: Any) -> None:
    exc = _spark_error(lambda: spark.sql("SELECT * FROM no_such_table_anywhere"))

    class Failing(flight.FlightServerBase):
        def do_action(self, context: flight.ServerCallContext, action: flight.Action) -> None:
            with flight_errors():
                raise exc

    with Failing("grpc://127.0.0.1:0") as server:
        with flight.connect(f"grpc://127.0.0.1:{server.port}") as client:
            with pytest.raises(pa.ArrowInvalid, match=r"^\[TABLE_OR_VIEW_NOT_FOUND\]"):
                list(client.do_action(flight.Action("x", b"")))
