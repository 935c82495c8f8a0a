"""Run one Flight SQL node: a SparkSession, its FlightManager, and its Flight SQL service served by
a router on the public port."""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import signal
import sys
import tempfile
import threading
import time
import warnings
from collections.abc import Mapping, Sequence
from types import FrameType
from typing import TYPE_CHECKING, Any

from spark_flight_sql.flightmanager import FlightConfig, FlightManager, create_manager
from spark_flight_sql.flightmanager.draining import DrainReport
from spark_flight_sql.flightsql.admission import Admission
from spark_flight_sql.flightsql.data_dir import (
    WAREHOUSE_DIR,
    CatalogError,
    CatalogPlan,
    DataConfKey,
    DataDirError,
    DataDirLock,
    find_hive_site,
    jvm_pid,
    open_catalog,
    plan_catalog,
)
from spark_flight_sql.flightsql.lifetime import wait_interruptibly
from spark_flight_sql.flightsql.router import FlightSqlRouter
from spark_flight_sql.flightsql.service import SparkFlightSqlService

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

log = logging.getLogger(__name__)

# Spark settings a node starts with unless the user says otherwise.
SPARK_DEFAULTS = {
    "spark.app.name": "spark-flight-sql",
    "spark.sql.session.timeZone": "UTC",
    "spark.ui.showConsoleProgress": "false",
}


def build_spark(master: str | None, conf: Mapping[str, str]) -> SparkSession:
    """The node's SparkSession with ``conf``. Under spark-submit, its master and conf win over the
    defaults (:data:`SPARK_DEFAULTS`); ``conf`` wins over both."""
    from pyspark.sql import SparkSession

    # Executors' Python workers need this project's packages: use this very interpreter.
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    under_submit = "PYSPARK_GATEWAY_PORT" in os.environ
    builder = SparkSession.builder
    submitted = submitted_conf() if under_submit else {}
    settings = {key: value for key, value in SPARK_DEFAULTS.items() if key not in submitted}
    if not under_submit:
        settings["spark.master"] = master or conf.get("spark.master") or "local[*]"
    elif master:
        settings["spark.master"] = master
    settings.update(conf)
    for key, value in settings.items():
        builder = builder.config(key, value)
    return builder.getOrCreate()


def submitted_conf() -> dict[str, str]:
    """Under spark-submit, the conf it gave the driver (its ``--conf``, ``spark-defaults.conf``)."""
    from pyspark import SparkConf, SparkContext

    SparkContext._ensure_initialized()  # connects to spark-submit's JVM
    return dict(SparkConf().getAll())


class FlightSqlNode:
    """One node: starts the FlightManager (internal server) and the public Flight SQL router over
    the node's :class:`SparkFlightSqlService`.

    Construction starts nothing: :meth:`start` (or entering the ``with``) does. :meth:`close` (or
    leaving the ``with``) stops both servers, cancels running jobs and frees every result. The
    SparkSession is the caller's to stop.
    """

    def __init__(self, spark: SparkSession, config: FlightConfig | None = None) -> None:
        self.spark = spark
        self.config = config or FlightConfig.from_conf(lambda key: spark.conf.get(key, None))
        self.manager: FlightManager = create_manager(self.config, spark)
        self.service: SparkFlightSqlService | None = None
        """The node's Flight SQL handlers, between :meth:`start` and :meth:`close`."""
        self.router: FlightSqlRouter | None = None
        """The public Flight server, between :meth:`start` and :meth:`close`."""

    @property
    def location(self) -> str:
        """The public location clients connect to."""
        return self.manager.node.public_location

    def start(self) -> FlightSqlNode:
        """Bind both servers; the public port is known once this returns. With
        ``spark.flight.tls.enabled`` both serve TLS (``grpc+tls://``), the public one requiring client
        certificates when ``spark.flight.tls.clientCaFile`` is set."""
        try:
            self.service = SparkFlightSqlService(self.spark, self.manager)
            # The port serves once bound; queries wait for the manager (the node joining its cluster).
            admission = Admission(
                "this node is starting and takes no new work yet: connect again in a moment"
            )
            self.router = self.service.router(
                self.config.location(self.config.host, self.config.port),
                admission=admission,
                **self.config.server_tls_options(public=True),
            )
            self.manager.start(self.router.port)
            admission.open()
        except BaseException:
            self.close()  # neither server outlives a failed start
            raise
        return self

    def drain(self, grace: float | None = None, stop_now: threading.Event | None = None) -> DrainReport:
        """Take no new work and wait until what this node already took is over, at most ``grace``
        seconds (default ``spark.flight.shutdown.gracePeriod``) or until ``stop_now`` is set; then
        :meth:`close` it. New queries, updates and prepared statements are refused with UNAVAILABLE
        from now on, and a cluster's other nodes leave this one out of theirs; results handed out
        are still read (and relayed), running jobs still finish (see
        :mod:`~spark_flight_sql.flightmanager.draining`)."""
        grace = self.config.shutdown_grace_period if grace is None else grace
        if self.router is None:
            return DrainReport(0.0)
        started = time.monotonic()
        elsewhere = (
            "run it on another node of the cluster"
            if self.config.manager == "zookeeper"
            else "connect again once it is back"
        )
        self.router.admission.close(f"this node is shutting down and takes no new work: {elsewhere}")
        log.info("draining: up to %.0f s for what this node already took", grace)
        calls = self.router.admission.wait_idle(grace, stop_now)
        report = self.manager.drain(grace - (time.monotonic() - started), stop_now)
        if calls:
            report = DrainReport(report.seconds, {"calls": calls, **report.left}, report.interrupted)
        return report

    def close(self) -> None:
        """Stop serving: fail open streams, stop the public server, then the internal one; then
        remove what the service keeps (staged ingest files)."""
        with contextlib.ExitStack() as steps:  # every step runs; last-in, first-out
            steps.callback(self._close_service)
            steps.callback(self._stop_router)
            steps.callback(self.manager.close)

    def _stop_router(self) -> None:
        router, self.router = self.router, None
        if router is not None:
            router.shutdown()

    def _close_service(self) -> None:
        service, self.service = self.service, None
        if service is not None:
            service.close()

    def __enter__(self) -> FlightSqlNode:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __del__(self) -> None:
        # A started node that was never closed keeps both servers, and Spark jobs, running.
        if getattr(self, "router", None) is not None:
            warnings.warn(
                "unclosed FlightSqlNode: close() it, or use it in a with statement",
                ResourceWarning,
                stacklevel=1,
                source=self,
            )


def quiet_logs() -> None:
    """Keep Spark's Python-side loggers from flooding the node's log with stack traces."""
    logging.getLogger("py4j").setLevel(logging.WARNING)
    # PySpark logs every failed query with its whole JVM stack trace; the client gets the error.
    logging.getLogger("SQLQueryContextLogger").setLevel(logging.CRITICAL)


def _exit_with_parent(signum: int) -> None:
    """Under spark-submit the JVM is our parent: when it dies, get ``signum`` to shut down too."""
    if not sys.platform.startswith("linux"):
        return
    import ctypes

    pr_set_pdeathsig = 1
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(pr_set_pdeathsig, signum)
    if os.getppid() == 1:  # the parent died before prctl took effect
        os.kill(os.getpid(), signum)


SHUTDOWN_DEADLINE = 45.0
"""Seconds a node may take to stop once its drain ended (or was cut short); past them it prints every
thread's stack and exits."""


def _exit_if_shutdown_hangs(deadline: float) -> None:
    """Start a watchdog: a stop that never ends is worse than an abrupt one (the JVM dies with us)."""
    import faulthandler

    def expire() -> None:
        log.error("shutdown did not finish within %.0f s; exiting now. Threads:", deadline)
        faulthandler.dump_traceback(file=sys.stderr, all_threads=True)
        os._exit(3)

    timer = threading.Timer(deadline, expire)
    timer.daemon = True
    timer.start()


def _stop_spark(spark: SparkSession) -> None:
    try:
        spark.stop()
    except Exception as exc:  # noqa: BLE001 - a signal sent to the whole process group kills the JVM first
        log.info("Spark was already gone at shutdown (%s)", type(exc).__name__)


class InitScriptError(RuntimeError):
    """An init script raised; the node does not start."""


def run_init_scripts(spark: SparkSession, paths: Sequence[str]) -> None:
    """Run each Python file with ``spark`` in its globals: register UDFs, views, catalogs."""
    import runpy

    for path in paths:
        log.info("running init script %s", path)
        try:
            runpy.run_path(path, init_globals={"spark": spark}, run_name="__main__")
        except Exception as exc:
            raise InitScriptError(f"init script {path} failed: {type(exc).__name__}: {exc}") from exc


def serve(master: str | None, conf: Mapping[str, str], demo: bool, init_scripts: Sequence[str] = ()) -> int:
    """Run a node until SIGINT or SIGTERM; returns the process exit code."""
    from spark_flight_sql.flightsql.devtools.java import JavaNotFoundError, check_java

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    quiet_logs()
    try:
        check_java()
    except JavaNotFoundError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    # Fail on a bad or unsafe setting before starting Spark.
    from spark_flight_sql.flightsql.security import Security

    Security.from_conf(conf.get, FlightConfig.from_conf(conf), secret=bytes(32))
    under_submit = "PYSPARK_GATEWAY_PORT" in os.environ
    try:
        plan = plan_catalog(
            {**(submitted_conf() if under_submit else {}), **conf},
            under_submit=under_submit,
            hive_site=find_hive_site(),
        )
    except DataDirError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    conf = {**conf, **plan.settings}
    with contextlib.ExitStack() as held:  # the data folder's lock, or the scratch warehouse
        lock = None
        if plan.data_dir is not None:
            try:
                lock = DataDirLock.acquire(plan.data_dir)
            except DataDirError as exc:
                print(f"error: {exc}", file=sys.stderr)
                return 1
            held.callback(lock.release)
        if plan.scratch_warehouse:
            scratch = tempfile.mkdtemp(prefix="spark-flight-sql-warehouse-")
            held.callback(shutil.rmtree, scratch, ignore_errors=True)
            conf[WAREHOUSE_DIR] = scratch
        log.info(plan.describe())
        if plan.data_dir is None and conf.get(DataConfKey.DATA_DIR.value):
            log.warning("%s is not used: the conf chose the catalog", DataConfKey.DATA_DIR.value)
        code = _run_spark(master, conf, plan, lock, demo, init_scripts)
    if code == 0:
        print("spark-flight-sql: stopped", flush=True)
    return code


def _run_spark(
    master: str | None,
    conf: Mapping[str, str],
    plan: CatalogPlan,
    lock: DataDirLock | None,
    demo: bool,
    init_scripts: Sequence[str],
) -> int:
    """Start Spark, serve until SIGINT or SIGTERM, stop Spark; the process exit code."""
    spark = build_spark(master, conf)
    if lock is not None:
        lock.record_jvm(jvm_pid(spark))
    spark.sparkContext.setLogLevel("ERROR")
    stop, now = threading.Event(), threading.Event()
    previous = _stop_on_signals(stop, now)
    if "PYSPARK_GATEWAY_PORT" in os.environ:
        _exit_with_parent(signal.SIGTERM)
    try:
        return _serve_until_stopped(spark, plan, demo, init_scripts, stop, now)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        _stop_spark(spark)


def _stop_on_signals(stop: threading.Event, now: threading.Event) -> dict[int, Any]:
    """Set ``stop`` on the first SIGINT or SIGTERM, and ``now`` on the next one; the handlers this
    replaces, by signal."""

    def on_signal(signum: int, frame: FrameType | None) -> None:
        name = signal.Signals(signum).name
        if stop.is_set():
            log.info("received %s again; stopping now", name)
            now.set()
            return
        log.info("received %s; shutting down (send it again to stop at once)", name)
        stop.set()

    return {sig: signal.signal(sig, on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}


def _serve_until_stopped(
    spark: SparkSession,
    plan: CatalogPlan,
    demo: bool,
    init_scripts: Sequence[str],
    stop: threading.Event,
    now: threading.Event,
) -> int:
    """Open the catalog, make the demo tables it lacks, run the init scripts, then serve a node until
    ``stop`` is set, and drain it (until ``now`` is set at the latest); the process exit code."""
    try:
        open_catalog(spark, plan)
    except CatalogError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    if demo:
        from spark_flight_sql.flightsql.devtools.demo import register_demo_tables

        log.info(register_demo_tables(spark).describe())
    try:
        run_init_scripts(spark, init_scripts)
    except InitScriptError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    with FlightSqlNode(spark) as node:
        print(f"spark-flight-sql: serving Flight SQL on {node.location}", flush=True)
        wait_interruptibly(stop)
        grace = node.config.shutdown_grace_period
        _exit_if_shutdown_hangs(grace + SHUTDOWN_DEADLINE)
        if grace > 0 and not now.is_set():
            node.drain(grace, now)
    return 0
