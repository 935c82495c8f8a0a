"""The benchmark paths a-j: how each one is run and measured, and its part of the report.

Paths (each in its own processes, run one after another so they never share the cores; with
``harness.py --share-servers``, on servers reused from path to path: see :class:`Servers`):

- ``a``: this server, one node, ADBC ``fetch_record_batch``
- ``b``: two nodes on a real ZooKeeper; the query enters node-1 and ADBC reads both endpoints
- ``c``: this server, one node, the client's session forced to one endpoint (the session option
  ``executionMode=single``)
- ``d``: Spark Connect ``toArrow()`` against the bundled ``SparkConnectServer``
- ``e``: Spark Thrift Server read by a Python HiveServer2 client
- ``f``: in-process ``df.toArrow()``
- ``g``: the floor: executors make the Arrow batches (``toArrowBatchRdd``) and discard them
- ``h``, ``i``: (a) and (b) with early streaming (``spark.flight.stream.early=true``): a partition is
  served while its task still pushes it, instead of once Spark counts the task successful
- ``j``: (b)'s two nodes with every endpoint pointed at node-1 (the session option ``endpoints=proxy``),
  which relays node-2's share: what a client that sends every ticket to one node gets. Measured side by
  side with (b)'s direct reads on the same nodes, in alternate runs; the note gives relayed / direct

A path whose dependencies are missing is reported as skipped, with the reason. ``harness.py`` is the
command that runs them; ``stages.py``, ``goals.py`` and ``render_docs.py`` use the figures.
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

import fetch_vs_to_arrow as legacy
from bench_common import (
    CONNECT_CLASS,
    MASTER,
    SPARK_CONF,
    Throughput,
    alive_workers,
    free_port,
    jar_has_class,
    machine_info,
    mb,
    median,
    missing_connect,
    missing_modules,
    pyspark_home,
    run_worker,
    start,
    stop,
    wait_for_port,
    wait_until,
    worker_env,
)
from bench_data import query
from bench_node import NodeProcess, start_nodes, wait_for_members

CONNECT_START_TIMEOUT = 600.0
"""A limit, not a budget: a Spark daemon or server starts in seconds on an idle machine."""
THRIFT_CLASS = "org.apache.spark.sql.hive.thriftserver.HiveThriftServer2"
CONNECT_PLUGIN = "org.apache.spark.sql.connect.SparkConnectPlugin"
"""Spark Connect's service as a plugin of any Spark application (the shared pool's Thrift Server)."""
ALL_PATHS = ("f", "g", "a", "h", "c", "b", "j", "i", "d", "e")
EARLY = {"spark.flight.stream.early": "true"}
SINGLE_ENDPOINT = {"executionMode": "single"}
"""Path (c)'s session options."""
THRIFT_MAX_ROWS = 10_000_000
"""PyHive returns every row as a tuple of Python objects: about 400 bytes a row, 12 GB at 30M rows."""


@dataclass
class Figures(Throughput):
    """One path's figures at one size (medians over the timed runs), or why it was skipped or failed."""

    path: str
    label: str
    rows: int
    seconds: float | None = None
    bytes: int | None = None
    first_batch: float | None = None
    owner_python_peak: int | None = None
    owner_jvm_peak: int | None = None
    client_peak: int | None = None
    endpoints: int | None = None
    skipped: str | None = None
    failed: str | None = None
    note: str | None = None


@dataclass(frozen=True)
class PathSpec:
    """A benchmark path: its key, its label, what it needs (None when it can run), and how to run it."""

    key: str
    label: str
    missing: Callable[[], str | None]
    run: Callable[[PathSpec, int, int, Servers], Figures]
    max_rows: int | None = None
    """Larger sizes are skipped (with why: ``too_large``)."""
    too_large: str = ""


def figures_from(spec: PathSpec, rows: int, measured: dict[str, Any], **extra: Any) -> Figures:
    """Figures from a worker's JSON result plus the peaks measured outside the worker."""
    return Figures(
        path=spec.key,
        label=spec.label,
        rows=rows,
        seconds=median(measured["seconds"]),
        bytes=measured["bytes"],
        first_batch=median(measured["first_batch"]),
        owner_python_peak=extra.pop("owner_python_peak", measured.get("python_peak")),
        owner_jvm_peak=extra.pop("owner_jvm_peak", measured.get("jvm_peak")),
        client_peak=measured.get("client_peak"),
        **extra,
    )


# ---------------------------------------------------------------- runners


def run_in_process(spec: PathSpec, rows: int, runs: int, mode: str) -> Figures:
    """Paths (f) and (g): a PySpark process of their own; the client is that same process."""
    measured = run_worker(
        "spark",
        "--mode",
        mode,
        "--master",
        MASTER,
        "--conf",
        json.dumps(SPARK_CONF),
        "--rows",
        str(rows),
        "--runs",
        str(runs),
    )
    return figures_from(spec, rows, measured, note="client = the Spark driver's Python process")


def run_to_arrow(spec: PathSpec, rows: int, runs: int, _servers: Servers) -> Figures:
    return run_in_process(spec, rows, runs, "to_arrow")


def run_floor(spec: PathSpec, rows: int, runs: int, _servers: Servers) -> Figures:
    return run_in_process(spec, rows, runs, "floor")


def adbc_through(
    spec: PathSpec,
    rows: int,
    runs: int,
    owner: NodeProcess,
    note: str | None,
    session_options: dict[str, str] | None = None,
) -> Figures:
    """Run the ADBC client process against ``owner``, its session with ``session_options``, and read the
    owner's peaks afterwards."""
    options = [
        arg for key, value in (session_options or {}).items() for arg in ("--option", f"{key}={value}")
    ]
    measured = run_worker(
        "adbc", "--location", owner.location, "--rows", str(rows), "--runs", str(runs), *options
    )
    memory = legacy.node_memory(spec.key, owner)  # before the probe below, which reads the result once more
    endpoints = measured["endpoints"] if session_options else count_endpoints(owner.location, rows)
    described = f"{endpoints} endpoint(s)" + (f"; {note}" if note else "")
    return figures_from(
        spec,
        rows,
        measured,
        owner_python_peak=memory.python_rss,
        owner_jvm_peak=memory.jvm_rss,
        endpoints=endpoints,
        note=described,
    )


def count_endpoints(location: str, rows: int) -> int:
    """How many endpoints the node's FlightInfo for the query has (untimed; every endpoint is then drained,
    so the node releases the result at once)."""
    from pyarrow import flight

    from spark_flight_sql.flightsql.proto import FlightSql_pb2 as sql_pb2
    from spark_flight_sql.flightsql.protocol import pack_command

    descriptor = flight.FlightDescriptor.for_command(
        pack_command(sql_pb2.CommandStatementQuery(query=query(rows)))
    )
    with flight.FlightClient(location) as client:
        info = client.get_flight_info(descriptor)
    total = 0
    for endpoint in info.endpoints:
        with flight.FlightClient(endpoint.locations[0] if endpoint.locations else location) as reader:
            total += reader.do_get(endpoint.ticket).read_all().num_rows
    if total != rows:
        raise AssertionError(f"the endpoint probe read {total} rows, expected {rows}")
    return len(info.endpoints)


def run_one_node(spec: PathSpec, rows: int, runs: int, servers: Servers) -> Figures:
    """Path (a): one node (the local FlightManager)."""
    return adbc_through(spec, rows, runs, servers.node({}), None)


def run_one_node_early(spec: PathSpec, rows: int, runs: int, servers: Servers) -> Figures:
    """Path (h): path (a) with early streaming."""
    return adbc_through(spec, rows, runs, servers.node(EARLY), "spark.flight.stream.early=true")


def run_single_endpoint(spec: PathSpec, rows: int, runs: int, servers: Servers) -> Figures:
    """Path (c): path (a)'s node, the client's session served from a single endpoint (the session option
    ``executionMode=single``, which overrides the node's ``spark.flight.sql.executionMode``)."""
    return adbc_through(
        spec, rows, runs, servers.node({}), "session option executionMode=single", SINGLE_ENDPOINT
    )


def run_two_nodes(spec: PathSpec, rows: int, runs: int, servers: Servers) -> Figures:
    """Path (b): node-1 owns the query, ADBC reads node-1's and node-2's endpoints concurrently."""
    return two_nodes(spec, rows, runs, servers.pair({}), None)


def run_two_nodes_early(spec: PathSpec, rows: int, runs: int, servers: Servers) -> Figures:
    """Path (i): path (b) with early streaming."""
    return two_nodes(spec, rows, runs, servers.pair(EARLY), "spark.flight.stream.early=true")


def two_nodes(spec: PathSpec, rows: int, runs: int, nodes: list[NodeProcess], note: str | None) -> Figures:
    """ADBC through node-1 of a :meth:`Servers.pair`; node-1 owns the query."""
    figures = adbc_through(spec, rows, runs, nodes[0], note)
    return with_second_node(figures, nodes[1])


def with_second_node(figures: Figures, node: NodeProcess) -> Figures:
    """``figures`` with node-2's peaks in its note (read while node-2 still runs)."""
    other = legacy.node_memory("node-2", node)
    figures.note = (
        f"{figures.note}; owner node-1; node-2 peaks: Python {legacy.mb(other.python_rss)}, "
        f"JVM {legacy.mb(other.jvm_rss)}"
    )
    return figures


def run_relay(spec: PathSpec, rows: int, runs: int, servers: Servers) -> Figures:
    """Path (j): path (b)'s cluster; one ADBC process reads every endpoint through node-1 (relayed) and,
    in alternate runs, where each endpoint points (direct); the figures are the relayed reads', the
    note the ratio of the medians."""
    nodes = servers.pair({})
    owner = nodes[0]
    measured = run_worker("relay", "--location", owner.location, "--rows", str(rows), "--runs", str(runs))
    memory = legacy.node_memory(spec.key, owner)
    direct = median(measured["direct_seconds"])
    relayed = median(measured["seconds"])
    # Each round is one relayed and one direct run back to back: their ratio is the paired figure.
    rounds = [r / d for r, d in zip(measured["seconds"], measured["direct_seconds"])]
    listed = ", ".join(f"{ratio:.2f}" for ratio in rounds)
    figures = figures_from(
        spec,
        rows,
        measured,
        owner_python_peak=memory.python_rss,
        owner_jvm_peak=memory.jvm_rss,
        endpoints=measured["endpoints"],
        note=(
            f"{measured['endpoints']} endpoint(s), all at node-1; relayed / direct (path b's reads, "
            f"alternate runs on the same nodes): {median(rounds):.2f} by round ({listed}), "
            f"{relayed / direct:.2f} by medians"
        ),
    )
    return with_second_node(figures, nodes[1])


class Servers:
    """The servers the paths run against: each started when a path first asks for it, reused by every
    later path that asks for the same one (the same settings), and all stopped on exit.

    :func:`measure` gives each path a pool of its own by default, so that a path starts everything it
    uses and has the machine to itself. ``harness.py --share-servers`` keeps one pool for the whole run:
    the paths then run end to end in far fewer JVM starts (what the smoke test checks), but their
    figures are no longer each path's own (a reused node's peaks include the earlier paths').

    A pool holds any number of one-node servers and at most one two-node cluster: the standalone
    cluster's worker offers task slots to two applications, so a cluster with other settings replaces
    the current one (ZooKeeper and the standalone cluster stay). A ``shared`` pool also serves Spark
    Connect from the Thrift Server's JVM where PySpark ships the Thrift Server: one JVM for paths d
    and e."""

    def __init__(self, shared: bool = False) -> None:
        self.shared = shared
        self._stack = contextlib.ExitStack()
        self._nodes: dict[str, NodeProcess] = {}
        self._base: tuple[str, str] | None = None
        self._pair: tuple[str, list[NodeProcess]] | None = None
        self._pairs_started = 0
        self._connect: tuple[str, subprocess.Popen[str]] | None = None
        self._thrift: tuple[int, subprocess.Popen[str]] | None = None

    def __enter__(self) -> Servers:
        return self

    def __exit__(self, *_: object) -> None:
        self._stack.close()

    def node(self, extra: dict[str, str]) -> NodeProcess:
        """One node on ``MASTER`` with the benchmark's settings and ``extra``."""
        key = json.dumps(extra, sort_keys=True)
        if key not in self._nodes:
            self._nodes[key] = self._stack.enter_context(legacy.running_node(extra))
        return self._nodes[key]

    def pair(self, extra: dict[str, str]) -> list[NodeProcess]:
        """Two nodes with ``extra`` settings on a real ZooKeeper, each a Spark application on one
        standalone cluster whose executors run in processes of their own, as in a real deployment (so
        the owner's peaks are its driver and its server, not executors); returned once both are members."""
        key = json.dumps(extra, sort_keys=True)
        if self._pair is not None and self._pair[0] == key:
            return self._pair[1]
        self._stop_pair()
        zookeeper_url, master = self._cluster_base()
        self._pairs_started += 1
        root = f"/spark-flight-sql-bench-{self._pairs_started}"  # a cluster of its own in ZooKeeper
        settings = {
            **extra,
            **STANDALONE_APPLICATION,
            "spark.flight.manager": "zookeeper",
            "spark.flight.manager.zookeeper.url": zookeeper_url,
            "spark.flight.manager.zookeeper.membershipPath": root,
        }
        nodes = start_nodes(
            *(
                legacy.spark_conf_args({**settings, "spark.flight.node.id": name})
                for name in ("node-1", "node-2")
            ),
            master=master,
        )
        self._pair = (key, nodes)
        wait_for_members(zookeeper_url, len(nodes), path=f"{root}/nodes")
        return nodes

    def _stop_pair(self) -> None:
        if self._pair is not None:
            nodes, self._pair = self._pair[1], None
            for node in reversed(nodes):
                node.stop()

    def _cluster_base(self) -> tuple[str, str]:
        """ZooKeeper's URL and the standalone master's, started once (a pair is stopped before them)."""
        if self._base is None:
            from spark_flight_sql.flightsql.devtools.zookeeper import EmbeddedZooKeeper

            data = self._stack.enter_context(tempfile.TemporaryDirectory(prefix="bench-zookeeper-"))
            zookeeper = self._stack.enter_context(EmbeddedZooKeeper(data))
            master = self._stack.enter_context(standalone_cluster(applications=2, workdir=Path(data)))
            self._stack.callback(self._stop_pair)
            self._base = (zookeeper.url, master)
        return self._base

    def connect(self) -> tuple[str, subprocess.Popen[str]]:
        """The bundled Spark Connect server (a shared pool's Thrift Server): its ``sc://`` address and
        its process."""
        if self._connect is None:
            if self.shared and self._thrift is None and jar_has_class(THRIFT_CLASS):
                self.thrift()
            else:
                self._connect = self._stack.enter_context(connect_server())
        assert self._connect is not None
        return self._connect

    def thrift(self) -> tuple[int, subprocess.Popen[str]]:
        """The bundled Spark Thrift Server: its port and its process."""
        if self._thrift is None:
            connect_port = free_port() if self.shared and self._connect is None else None
            self._thrift = self._stack.enter_context(thrift_server(connect_port))
            if connect_port is not None:
                wait_for_port(connect_port, self._thrift[1], CONNECT_START_TIMEOUT)
                self._connect = (connect_address(connect_port), self._thrift[1])
        return self._thrift


CORES = 2
"""Task slots of each application on the standalone cluster: the machine's cores, as local[2] has."""
STANDALONE_APPLICATION = {
    "spark.cores.max": str(CORES),
    "spark.executor.cores": str(CORES),
    "spark.executor.memory": "4g",
}


@contextlib.contextmanager
def standalone_cluster(applications: int, workdir: Path) -> Iterator[str]:
    """A Spark standalone master and one worker on this machine, offering ``applications`` applications
    ``CORES`` task slots each; yields the master URL once the worker has registered."""
    spark_class = str(pyspark_home() / "bin" / "spark-class")
    port, web_port = free_port(), free_port()
    env = {
        **worker_env(),
        "SPARK_HOME": str(pyspark_home()),
        "SPARK_LOCAL_IP": "127.0.0.1",
        "SPARK_DAEMON_MEMORY": "512m",
    }
    env.pop("SPARK_CONF_DIR", None)
    url = f"spark://127.0.0.1:{port}"
    with contextlib.ExitStack() as stack:
        log = stack.enter_context(tempfile.TemporaryFile("w+"))
        master = start(
            [
                spark_class,
                "org.apache.spark.deploy.master.Master",
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
                "--webui-port",
                str(web_port),
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            env=env,
            cwd=workdir,
        )
        stack.callback(stop, master)
        wait_for_port(port, master, CONNECT_START_TIMEOUT)
        worker = start(
            [
                spark_class,
                "org.apache.spark.deploy.worker.Worker",
                url,
                "--host",
                "127.0.0.1",
                "--cores",
                str(applications * CORES),
                "--memory",
                f"{applications * 4 + 2}g",
                "--work-dir",
                str(workdir / "executors"),
                "--webui-port",
                str(free_port()),
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            env=env,
            cwd=workdir,
        )
        stack.callback(stop, worker)
        try:
            wait_until(
                "the worker registered", lambda: alive_workers(web_port) >= 1, CONNECT_START_TIMEOUT, worker
            )
        except (RuntimeError, TimeoutError) as error:
            log.seek(0)
            raise RuntimeError(f"{error}: {log.read()[-1500:]}") from None
        yield url


@contextlib.contextmanager
def spark_submit_server(
    main_class: str, port: int, conf: dict[str, str], *arguments: str, cwd: str | None = None
) -> Iterator[subprocess.Popen[str]]:
    """One of Spark's bundled servers (``main_class``, with ``arguments``) through ``spark-submit`` on the
    benchmark's master, with the benchmark's settings and ``conf``; yielded once it listens on ``port``,
    stopped on exit."""
    home = pyspark_home()
    confs = [arg for key, value in {**SPARK_CONF, **conf}.items() for arg in ("--conf", f"{key}={value}")]
    command = [
        str(home / "bin" / "spark-submit"),
        "--master",
        MASTER,
        "--class",
        main_class,
        *confs,
        "spark-internal",
        *arguments,
    ]
    with tempfile.TemporaryFile("w+") as log:
        process = start(
            command,
            stdout=log,
            stderr=subprocess.STDOUT,
            text=True,
            cwd=cwd,
            env={**worker_env(), "SPARK_HOME": str(home)},
        )
        try:
            wait_for_port(port, process, CONNECT_START_TIMEOUT)
            yield process
        finally:
            stop(process)


@contextlib.contextmanager
def connect_server() -> Iterator[tuple[str, subprocess.Popen[str]]]:
    """The bundled Spark Connect server on a free port, with the benchmark's settings; stopped on exit."""
    port = free_port()
    with spark_submit_server(CONNECT_CLASS, port, connect_conf(port)) as process:
        yield connect_address(port), process


def connect_conf(port: int) -> dict[str, str]:
    """The settings of a Spark Connect service on ``port``."""
    return {"spark.connect.grpc.binding.port": str(port)}


def connect_address(port: int) -> str:
    """The ``sc://`` address of the Spark Connect service on ``port``."""
    return f"sc://127.0.0.1:{port}"


def run_spark_connect(spec: PathSpec, rows: int, runs: int, servers: Servers) -> Figures:
    """Path (d): Spark Connect ``toArrow()``; the owner is the Connect server's JVM (no Python there)."""
    remote, process = servers.connect()
    measured = run_worker("connect", "--remote", remote, "--rows", str(rows), "--runs", str(runs))
    return jvm_owner_figures(spec, rows, measured, process, "the owner is one JVM (spark-submit)")


def jvm_owner_figures(
    spec: PathSpec, rows: int, measured: dict[str, Any], owner: subprocess.Popen[str], note: str
) -> Figures:
    """The figures of a path whose owner is one JVM (``owner``, still running), with no Python in it."""
    return figures_from(
        spec, rows, measured, owner_python_peak=None, owner_jvm_peak=peak_of_java_in(owner.pid), note=note
    )


def peak_of_java_in(pid: int) -> int | None:
    """VmHWM of ``pid`` if it is java, else of the largest java process below it."""
    from bench_worker import child_java_peak, peak_rss

    with contextlib.suppress(OSError):
        if Path(f"/proc/{pid}/comm").read_text().strip() == "java":
            return peak_rss(pid)
    return child_java_peak(pid)


@contextlib.contextmanager
def thrift_server(connect_port: int | None = None) -> Iterator[tuple[int, subprocess.Popen[str]]]:
    """The bundled Spark Thrift Server (HiveServer2) on a free port, its metastore and warehouse in a
    temporary folder (with ``connect_port``, it also serves Spark Connect there: Spark's
    ``SparkConnectPlugin``); stopped on exit."""
    port = free_port()
    conf = {} if connect_port is None else {"spark.plugins": CONNECT_PLUGIN, **connect_conf(connect_port)}
    with (
        tempfile.TemporaryDirectory(prefix="bench-thrift-") as workdir,
        spark_submit_server(
            THRIFT_CLASS,
            port,
            {"spark.sql.warehouse.dir": f"{workdir}/warehouse", **conf},
            "--hiveconf",
            f"hive.server2.thrift.port={port}",
            "--hiveconf",
            "hive.server2.thrift.bind.host=127.0.0.1",
            cwd=workdir,
        ) as process,
    ):
        yield port, process


def run_thrift_server(spec: PathSpec, rows: int, runs: int, servers: Servers) -> Figures:
    """Path (e): Spark Thrift Server, read by PyHive (rows arrive as Python tuples; the Arrow bytes are
    counted after the timed part, so MB/s compares with the other paths)."""
    port, process = servers.thrift()
    measured = run_worker("hive", "--port", str(port), "--rows", str(rows), "--runs", str(runs))
    return jvm_owner_figures(
        spec,
        rows,
        measured,
        process,
        "the owner is one JVM (spark-submit); rows arrive as Python tuples, MB/s counts them as Arrow",
    )


def missing_thrift() -> str | None:
    if not jar_has_class(THRIFT_CLASS):
        return f"{THRIFT_CLASS} is not in PySpark's jars"
    absent = missing_modules(
        ("pyhive", "pyhive"), ("thrift", "thrift"), ("thrift_sasl", "thrift-sasl"), ("puresasl", "pure-sasl")
    )
    return absent


def nothing_missing() -> str | None:
    return None


PATHS: dict[str, PathSpec] = {
    spec.key: spec
    for spec in (
        PathSpec("a", "this server, one node, ADBC", nothing_missing, run_one_node),
        PathSpec("h", "this server, one node, early streaming, ADBC", nothing_missing, run_one_node_early),
        PathSpec("b", "this server, two nodes (ZooKeeper), ADBC", nothing_missing, run_two_nodes),
        PathSpec(
            "j",
            "this server, two nodes, every ticket to node-1 (relay), ADBC",
            nothing_missing,
            run_relay,
        ),
        PathSpec(
            "i",
            "this server, two nodes (ZooKeeper), early streaming, ADBC",
            nothing_missing,
            run_two_nodes_early,
        ),
        PathSpec("c", "this server, single endpoint, ADBC", nothing_missing, run_single_endpoint),
        PathSpec("d", "Spark Connect toArrow()", missing_connect, run_spark_connect),
        PathSpec(
            "e",
            "Spark Thrift Server + PyHive",
            missing_thrift,
            run_thrift_server,
            THRIFT_MAX_ROWS,
            "PyHive holds every row as Python objects (about 400 bytes a row)",
        ),
        PathSpec("f", "in-process df.toArrow()", nothing_missing, run_to_arrow),
        PathSpec("g", "floor: Arrow batches made and discarded", nothing_missing, run_floor),
    )
}


def measure(spec: PathSpec, rows: int, runs: int, servers: Servers | None = None) -> Figures:
    """One path at one size, on ``servers`` (by default a pool of its own, stopped once the path is
    measured); skipped when its dependencies are missing, failed (not raised) on errors."""
    reason = spec.missing()
    if reason:
        return Figures(spec.key, spec.label, rows, skipped=reason)
    if spec.max_rows is not None and rows > spec.max_rows:
        return Figures(spec.key, spec.label, rows, skipped=f"above {spec.max_rows:,} rows: {spec.too_large}")
    try:
        if servers is not None:
            return spec.run(spec, rows, runs, servers)
        with Servers() as own:
            return spec.run(spec, rows, runs, own)
    except Exception as error:  # noqa: BLE001 - a failing path is reported, the others still run
        return Figures(spec.key, spec.label, rows, failed=f"{type(error).__name__}: {str(error)[:300]}")


# ---------------------------------------------------------------- report


def ratio(figures: Figures, reference: Figures | None) -> str:
    """``figures``' time over ``reference``'s (above 1: slower than the reference)."""
    if not figures.seconds or reference is None or not reference.seconds:
        return "-"
    return f"{figures.seconds / reference.seconds:.2f}"


def table_row(figures: Figures, by_path: dict[str, Figures]) -> str:
    if figures.skipped or figures.failed:
        status = f"skipped: {figures.skipped}" if figures.skipped else f"FAILED: {figures.failed}"
        return f"| {figures.path} | {figures.label} | {figures.rows:,} | {status} |" + " - |" * 9
    first = "-" if figures.first_batch is None else f"{figures.first_batch:.3f}"
    return (
        f"| {figures.path} | {figures.label} | {figures.rows:,} | {figures.seconds:.3f} | "
        f"{figures.rows_per_second:,.0f} | {figures.mb_per_second:,.1f} | {first} | "
        f"{mb(figures.owner_python_peak)} | {mb(figures.owner_jvm_peak)} | {mb(figures.client_peak)} | "
        f"{ratio(figures, by_path.get('d'))} | {ratio(figures, by_path.get('g'))} | {figures.note or ''} |"
    )


HEADER = (
    "| path | what | rows | seconds | rows/s | MB/s | first batch (s) | owner Python peak (MB) | "
    "owner JVM peak (MB) | client peak (MB) | time / Spark Connect | time / floor | note |"
)


def intro(runs: int, cores: int | None = None) -> str:
    """How the figures were made (``cores``: the machine's, this one's by default) and how to read the ratios."""
    return (
        f"Median of {runs} run(s) after a warm-up; {MASTER} on {cores or os.cpu_count()} cores; every path in its own "
        "processes, one after another. MB/s counts the result's Arrow bytes. Ratios divide this path's time by "
        "Spark Connect's (d) and the floor's (g) at the same size."
    )


def table_lines(results: list[Figures]) -> list[str]:
    """The Markdown table: the header, then one row per path and size."""
    lines = [HEADER, "|" + " --- |" * 13]
    for rows in sorted({f.rows for f in results}):
        at_size = [f for f in results if f.rows == rows]
        by_path = {f.path: f for f in at_size}
        lines.extend(table_row(f, by_path) for f in at_size)
    return lines


def markdown(results: list[Figures], runs: int, chart: str | None) -> str:
    """The whole report: a header, one table row per path and size, and the chart's link or why it is missing."""
    lines = [
        "# Benchmark: fetching one result",
        "",
        f"Query: `{query(0).replace('range(0)', 'range(N)')}`",
        "",
        intro(runs),
        "",
        *table_lines(results),
    ]
    lines += ["", chart or "Chart: not drawn (matplotlib is not installed)."]
    return "\n".join(lines) + "\n"


def draw_chart(results: list[Figures], out: Path) -> str | None:
    """A rows/s bar chart per size and path in ``out/results.png``; None when matplotlib is missing."""
    if missing_modules(("matplotlib", "matplotlib")):
        return None
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    measured = [f for f in results if f.seconds]
    sizes = sorted({f.rows for f in measured})
    paths = list(dict.fromkeys(f.path for f in measured))
    figure, axes = plt.subplots(figsize=(13, 5))
    width = 0.8 / max(len(paths), 1)
    for index, path in enumerate(paths):
        values = [
            next((f.rows_per_second / 1e6 for f in measured if f.path == path and f.rows == s), 0)
            for s in sizes
        ]
        axes.bar(
            [i + index * width for i in range(len(sizes))],
            values,
            width,
            label=f"{path}: {PATHS[path].label}",
        )
    axes.set_xticks([i + 0.4 - width / 2 for i in range(len(sizes))], [f"{s:,} rows" for s in sizes])
    axes.set_ylabel("million rows/s (median; higher is faster)")
    axes.legend(fontsize="small", loc="upper left", bbox_to_anchor=(1.01, 1.0))
    figure.tight_layout()
    figure.savefig(out / "results.png")
    plt.close(figure)
    return "![rows/s per path](results.png)"


def write_results(results: list[Figures], runs: int, out: Path) -> str:
    """Write ``results.md``, ``results.json`` and the chart to ``out``; returns the Markdown."""
    out.mkdir(parents=True, exist_ok=True)
    chart = draw_chart(results, out)
    text = markdown(results, runs, chart)
    (out / "results.md").write_text(text)
    (out / "results.json").write_text(json.dumps([asdict(f) for f in results], indent=2))
    (out / "results.meta.json").write_text(json.dumps({"runs": runs, "machine": machine_info()}, indent=2))
    return text


def figures_of(rows: list[dict[str, Any]]) -> list[Figures]:
    """Figures from ``results.json`` rows (unknown keys ignored)."""
    names = {f.name for f in fields(Figures)}
    return [Figures(**{k: v for k, v in row.items() if k in names}) for row in rows]
