"""Statement timeouts: how long a query or an update may run, and the watch that keeps it to that.

The limit is ``spark.flight.sql.statementTimeout``, or the client session's ``statementTimeout``
option when that is shorter (a session can lower the server's limit, never raise it). Its clock
starts when the call that starts the statement arrives: GetFlightInfo for a query (ad hoc or
prepared), the DoPut of an update.

Spark work done on the handler's own thread (analysing a query, a command Spark runs as it analyses
it, an update) runs in a Spark job group of the call's own, which :meth:`StatementClock.watching`
cancels when the limit passes, or when the client has gone away: gRPC cancels a call whose
client-side deadline passed, and that cancellation is all a pyarrow server learns of the deadline
(the ``grpc-timeout`` header reaches neither the handler nor its middleware). A query's job, which
runs on after GetFlightInfo has answered, then runs under what is left of the limit
(:class:`~spark_flight_sql.flightmanager.TimeLimit`, kept by the FlightManager on the node that owns
the query): when it passes, every reader on every node ends with DEADLINE_EXCEEDED and the message
of :meth:`StatementLimit.message`. The limit covers the work, not a slow reader: a result whose job
finished is read at the reader's own pace.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

from spark_flight_sql.flightmanager.model import TimeLimit
from spark_flight_sql.flightsql.errors import Cancelled, DeadlineExceeded
from spark_flight_sql.flightsql.sessions import STATEMENT_TIMEOUT as SESSION_OPTION
from spark_flight_sql.flightsql.settings import SqlConfKey

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

    from spark_flight_sql.flightsql.sessions import SparkCall
    from spark_flight_sql.flightsql.settings import SqlSettings

__all__ = ["StatementClock", "StatementLimit"]

log = logging.getLogger(__name__)

_CHECK_SECONDS = 0.25
"""How often the watch asks whether the client is still there."""

_CLIENT_GONE = "the client went away (it cancelled the call, or its deadline passed)"


@dataclass(frozen=True)
class StatementLimit:
    """The time limit a statement runs under, and where it comes from."""

    seconds: float
    from_session: bool
    """Whether the session option set it (else the server's setting did)."""
    server_seconds: float | None = None
    """The server's limit, when there is one."""

    @classmethod
    def of(cls, server: float | None, session: float | None) -> StatementLimit | None:
        """The limit in force: the shorter of the server's and the session's; None without either."""
        if session is not None and (server is None or session < server):
            return cls(session, from_session=True, server_seconds=server)
        return None if server is None else cls(server, from_session=False, server_seconds=server)

    def message(self, what: str) -> str:
        """What a client is told when ``what`` (``query``, ``update``) ran past this limit."""
        key = SqlConfKey.STATEMENT_TIMEOUT.value
        if self.from_session:
            most = (
                ""
                if self.server_seconds is None
                else f" (at most the server's {self.server_seconds:g} s, {key})"
            )
            return (
                f"the {what} ran longer than its time limit of {self.seconds:g} s, set by the session option "
                f"{SESSION_OPTION}, and was cancelled: set {SESSION_OPTION} higher{most}, or unset it"
            )
        return (
            f"the {what} ran longer than the server's time limit of {self.seconds:g} s ({key}) and was "
            f"cancelled: the node's operator can raise {key} in its Spark conf"
        )


class StatementClock:
    """One statement's time limit, counted from the moment the clock was made."""

    def __init__(self, call: SparkCall, limit: StatementLimit | None, what: str) -> None:
        self.call = call
        self.limit = limit
        self.what = what
        self.started = time.monotonic()
        self._fired: str | None = None

    @classmethod
    def start(cls, call: SparkCall, settings: SqlSettings, what: str) -> StatementClock:
        """The clock of a ``what`` (``query``, ``update``) that ``call`` starts now."""
        return cls(call, StatementLimit.of(settings.statement_timeout, call.statement_timeout), what)

    def _deadline(self) -> float | None:
        return None if self.limit is None else self.started + self.limit.seconds

    def _message(self) -> str:
        assert self.limit is not None, "a limit passed, so there is one"
        return self.limit.message(self.what)

    def time_limit(self) -> TimeLimit | None:
        """What is left of the limit, for the FlightManager to keep while the query's job runs.

        DeadlineExceeded when nothing is left, Cancelled when the client has gone already (a job
        nobody will read is not started)."""
        if self.call.is_cancelled():
            raise Cancelled(f"the {self.what} was not started: {_CLIENT_GONE}")
        deadline = self._deadline()
        if deadline is None:
            return None
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise DeadlineExceeded(self._message())
        return TimeLimit(remaining, self._message())

    @contextlib.contextmanager
    def watching(self, spark: SparkSession, description: str) -> Iterator[None]:
        """Run the block's Spark jobs (this thread's) in a job group that is cancelled when the limit
        passes (the block then raises DeadlineExceeded) or the client goes away (Cancelled). Work
        that ends within the block without an error stands, even if the limit passed meanwhile."""
        context = spark.sparkContext
        group = f"flight-call-{uuid.uuid4().hex}"
        context.setJobGroup(group, description[:200], interruptOnCancel=True)
        stop = threading.Event()
        watch = threading.Thread(
            target=self._watch, args=(spark, group, stop), name=f"{group[:20]}-watch", daemon=True
        )
        watch.start()
        try:
            yield
        except Exception:
            if self._fired is None:
                raise
            if self._fired == _CLIENT_GONE:
                raise Cancelled(f"the {self.what} was cancelled: {_CLIENT_GONE}") from None
            raise DeadlineExceeded(self._fired) from None
        finally:
            stop.set()
            watch.join()
            context._jsc.clearJobGroup()

    def _watch(self, spark: SparkSession, group: str, stop: threading.Event) -> None:
        deadline = self._deadline()
        while True:
            wait = _CHECK_SECONDS if deadline is None else min(_CHECK_SECONDS, deadline - time.monotonic())
            if stop.wait(max(0.0, wait)):
                return
            if deadline is not None and time.monotonic() >= deadline:
                reason, self._fired = "its time limit passed", self._message()
            elif self.call.is_cancelled():
                reason = self._fired = _CLIENT_GONE
            else:
                continue
            log.info("cancelling the Spark jobs of the %s (%s)", self.what, reason)
            try:
                spark.sparkContext._jsc.sc().cancelJobGroupAndFutureJobs(group, reason)
            except Exception:  # Spark may be stopping; the call ends with it
                log.debug("cancelling job group %s failed", group, exc_info=True)
            return
