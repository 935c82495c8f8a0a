"""Scaling through a simulated network: 1, 2 and 3 Flight SQL nodes beside Spark Connect, each host's link capped.

On one machine, the cores are the bottleneck of every path; in a real cluster it is the network. Here
every host gets a network namespace of its own (:mod:`simnet`) and a link capped with ``tc tbf`` in both
directions, so that the links, not this machine's cores, bound what the capped paths deliver:

- ``sw``: a Spark standalone master and one worker, i.e. the cluster's executors (uncapped: they stand
  for many executor hosts). Every node and the Spark Connect server is a Spark application on it.
- ``n1`` .. ``n3``: one Flight SQL node each (ZooKeeper mode), capped. The query enters node-1 and the
  executors push every node its share, across that node's capped link.
- ``sc``: the Spark Connect server (its driver), capped: executors send it the result across its link,
  and it sends the result to the client across the same link.
- The client (ADBC, which reads every endpoint at once, or Spark Connect's ``toArrow()``) and ZooKeeper
  run in the root namespace, behind the bridge, whose link is not capped.

One run starts everything once, measures Spark Connect, then the nodes with their links uncapped (the
machine's ceiling: the capped rows are network-bound only well below it), then 3, 2 and 1 nodes with
capped links (stopping a node between counts), at every size. Everything is torn down on exit, on an
error, on Ctrl-C or SIGTERM. Writes ``network.md``, ``network.json`` and ``network.png`` to ``--out``.
Needs root and iproute2; elsewhere every row is reported as skipped. Usage:

    python benchmarks/harness.py --network [--sizes 10M] [--runs 3] [--rate 200] [--nodes 1,2,3]
    python benchmarks/netns.py [the same options]
"""

from __future__ import annotations

import argparse
import concurrent.futures
import contextlib
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

import bench_common
import simnet
from bench_common import (
    CONNECT_CLASS,
    DEFAULT_OUT,
    HERE,
    SPARK_CONF,
    Throughput,
    accepts,
    alive_workers,
    machine_info,
    median,
    missing_connect,
    missing_modules,
    pyspark_home,
    run_worker,
    signals_end_the_run,
    start,
    stop,
    worker_env,
)
from bench_data import parse_sizes, query
from bench_node import NodeProcess, node_command, wait_for_members

NET_WORKER = HERE / "net_worker.py"
DEFAULT_RATE_MBIT = 200.0
SMOKE_RATE_MBIT = 2000.0
DEFAULT_SIZES = (10_000_000,)
SMOKE_SIZES = (20_000,)
DEFAULT_NODES = (1, 2, 3)
DEFAULT_PARTITIONS = 60
"""Partitions of the result: a multiple of 1, 2 and 3, so every node count gets even shares; and many
beside the task slots: a node serves a partition once its push has ended (its task succeeded), so
while the last wave of pushes arrives, a node's outgoing link idles for about slots / partitions of
the run (10% here), whatever the node count."""
SMOKE_PARTITIONS = 12
DEFAULT_SLOTS = 6
"""Task slots of each application's executor: more than the machine's cores, as a real cluster has
many executors, so that pushes to every node run at once (a push waits on its node's link, not a core)."""
EXECUTOR_MEMORY = "2g"
DRIVER_MEMORY = "2g"
FLIGHT_PORT = 32010
FLIGHT_INTERNAL_PORT = 32011
CONNECT_PORT = 15002
MASTER_PORT = 7077
MASTER_WEBUI_PORT = 8080
WORKER_WEBUI_PORT = 8081
START_TIMEOUT = 900.0
ENDPOINTS_TIMEOUT = 300.0
STOP_TIMEOUT = 60.0
GOAL_TWO_NODES = 1.8
HEADROOM_WARNING = 1.25
"""Below this ratio of the uncapped ceiling to the capped links' sum, the cores may bound the capped rows."""


@dataclass
class LinkFigures(Throughput):
    """One configuration's figures at one size (medians over the timed runs), or why it was skipped or failed."""

    key: str
    """``1``, ``2``, ``3`` (capped nodes), ``connect`` (Spark Connect, capped) or ``ceiling`` (nodes, uncapped)."""
    label: str
    nodes: int
    rows: int
    capped_links: int
    """How many capped links carry the result to the client (0: none is capped)."""
    rate_mbit: float | None = None
    seconds: float | None = None
    bytes: int | None = None
    first_batch: float | None = None
    endpoints: int | None = None
    skipped: str | None = None
    failed: str | None = None
    note: str | None = None

    @property
    def link_mb_per_second(self) -> float | None:
        """What the capped links carry together, in MB/s (None when none is capped)."""
        return (
            None
            if not self.capped_links or self.rate_mbit is None
            else self.capped_links * self.rate_mbit / 8
        )

    @classmethod
    def from_json(cls, row: dict[str, Any]) -> LinkFigures:
        """Rebuild from a ``network.json`` row (unknown keys ignored)."""
        return cls(**{f.name: row[f.name] for f in fields(cls) if f.name in row})


@dataclass
class Options:
    """What to measure and how: sizes, runs, the link rate, node counts, Spark's partitions and slots."""

    sizes: list[int]
    runs: int
    rate_mbit: float
    nodes: list[int]
    partitions: int = DEFAULT_PARTITIONS
    slots: int = DEFAULT_SLOTS
    connect: bool = True
    ceiling: bool = True
    fetch: bool = True
    """Also measure ADBC's ``fetch_record_batch()`` for every node count above one."""
    early: bool = False
    """Nodes stream partitions early (``spark.flight.stream.early``)."""
    out: Path = DEFAULT_OUT


@dataclass
class Started:
    """A process started in a simulated host, with its log file."""

    name: str
    process: subprocess.Popen[Any]
    log: Path | None = None
    server: NodeProcess | None = None

    def log_tail(self, lines: int = 40) -> str:
        """The last lines the process printed (a node's from its pipe, the others' from their log file)."""
        if self.server is not None:
            return "\n".join(self.server.lines[-lines:])
        with contextlib.suppress(OSError):
            if self.log is not None:
                return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        return ""

    def stop(self, timeout: float = STOP_TIMEOUT) -> None:
        """SIGTERM, wait with a deadline, SIGKILL; close the node's output."""
        if self.server is not None:
            self.server.stop(timeout)
            return
        stop(self.process, timeout)


@dataclass
class Cluster:
    """The running pieces of one network run."""

    network: simnet.SimulatedNetwork
    workdir: Path
    zookeeper_url: str
    master_url: str
    nodes: list[Started] = field(default_factory=list)
    connect: Started | None = None
    others: list[Started] = field(default_factory=list)

    def node_location(self, index: int = 0) -> str:
        """The public location of a running node (node-1 by default: every query enters there)."""
        server = self.nodes[index].server
        assert server is not None
        return server.location


# ---------------------------------------------------------------- starting things


def base_env(host: simnet.Host, workdir: Path) -> dict[str, str]:
    """Every process's environment: this interpreter for Spark's Python workers, Spark's home, the host's address."""
    env = worker_env()
    env.pop("SPARK_CONF_DIR", None)
    local = workdir / "local" / host.key
    local.mkdir(parents=True, exist_ok=True)
    env.update(
        SPARK_HOME=str(pyspark_home()),
        SPARK_LOCAL_IP=host.address,
        SPARK_LOCAL_DIRS=str(local),
        SPARK_DAEMON_MEMORY="512m",
    )
    return env


def launch(name: str, host: simnet.Host, command: list[str], workdir: Path, *, pipe: bool = False) -> Started:
    """Start ``command`` inside ``host``, in a folder of its own under ``workdir``; its output goes to a log
    file, or to a pipe (``pipe``) for a node, whose readiness line is read from there."""
    env = base_env(host, workdir)
    cwd = workdir / name
    cwd.mkdir(parents=True, exist_ok=True)
    if pipe:
        process = start(
            [*host.exec_prefix(), *command],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            cwd=cwd,
            env=env,
        )
        return Started(name, process, server=NodeProcess(process))
    log = workdir / f"{name}.log"
    with log.open("w") as output:
        process = start(
            [*host.exec_prefix(), *command], stdout=output, stderr=subprocess.STDOUT, cwd=cwd, env=env
        )
    return Started(name, process, log=log)


def progress(message: str, since: float | None = None) -> None:
    """A progress line on stderr, with the seconds since ``since`` when given."""
    took = "" if since is None else f" ({time.monotonic() - since:.1f} s)"
    print(f"[network] {message}{took}", file=sys.stderr, flush=True)


def wait_until(what: str, check: Callable[[], bool], deadline: float, started: Started | None = None) -> None:
    """Poll ``check`` until it holds; fail at ``deadline`` (the run's start's), or at once when ``started``
    exits (with what it printed last)."""
    bench_common.wait_until(
        what,
        check,
        max(deadline - time.monotonic(), 1.0),
        started.process if started is not None else None,
        started.log_tail if started is not None else None,
    )


def start_spark(cluster: Cluster, host: simnet.Host, options: Options, deadline: float) -> None:
    """A standalone master in ``host`` (waited for), and one worker (started, not waited for) offering every
    application ``slots`` cores; both join ``cluster.others`` as soon as they run."""
    spark_class = str(pyspark_home() / "bin" / "spark-class")
    cluster.master_url = f"spark://{host.address}:{MASTER_PORT}"
    apps = max(options.nodes) + (1 if options.connect else 0)
    memory_gb = apps * int(EXECUTOR_MEMORY.rstrip("g"))
    master = launch(
        "spark-master",
        host,
        [
            spark_class,
            "org.apache.spark.deploy.master.Master",
            "--host",
            host.address,
            "--port",
            str(MASTER_PORT),
            "--webui-port",
            str(MASTER_WEBUI_PORT),
        ],
        cluster.workdir,
    )
    cluster.others.append(master)
    wait_until("the Spark master", lambda: accepts(host.address, MASTER_PORT), deadline, master)
    cluster.others.append(
        launch(
            "spark-worker",
            host,
            [
                spark_class,
                "org.apache.spark.deploy.worker.Worker",
                cluster.master_url,
                "--host",
                host.address,
                "--cores",
                str(apps * options.slots),
                "--memory",
                f"{memory_gb}g",
                "--work-dir",
                str(cluster.workdir / "executors"),
                "--webui-port",
                str(WORKER_WEBUI_PORT),
            ],
            cluster.workdir,
        )
    )


def wait_for_worker(cluster: Cluster, deadline: float) -> None:
    """Wait until the worker has registered with the master (applications get their executors then)."""
    host = cluster.network.hosts["sw"]
    worker = cluster.others[-1]
    wait_until(
        "the Spark worker to register",
        lambda: alive_workers(MASTER_WEBUI_PORT, host.address) == 1,
        deadline,
        worker,
    )


def app_conf(host: simnet.Host, name: str, options: Options) -> dict[str, str]:
    """The Spark settings every application (node or Spark Connect server) of the run shares."""
    return {
        **SPARK_CONF,
        "spark.app.name": name,
        "spark.driver.memory": DRIVER_MEMORY,
        "spark.driver.host": host.address,
        "spark.driver.bindAddress": host.address,
        "spark.executor.memory": EXECUTOR_MEMORY,
        "spark.executor.cores": str(options.slots),
        "spark.cores.max": str(options.slots),
        "spark.default.parallelism": str(options.partitions),
        "spark.ui.showConsoleProgress": "false",
    }


def conf_args(conf: dict[str, str]) -> list[str]:
    """``--conf key=value`` arguments."""
    return [arg for key, value in conf.items() for arg in ("--conf", f"{key}={value}")]


def launch_node(index: int, host: simnet.Host, cluster: Cluster, options: Options) -> Started:
    """Node ``node-<index>`` in ``host``: a Spark application on the run's master, in ZooKeeper mode."""
    name = f"node-{index}"
    conf = {
        **app_conf(host, f"bench-{name}", options),
        "spark.flight.dataDir": str(cluster.workdir / name / "data"),
        "spark.sql.catalogImplementation": "in-memory",  # no table is read: no Derby metastore to open
        "spark.flight.manager": "zookeeper",
        "spark.flight.manager.zookeeper.url": cluster.zookeeper_url,
        "spark.flight.node.id": name,
        "spark.flight.host": host.address,
        "spark.flight.public.host": host.address,
        "spark.flight.internal.host": host.address,
        "spark.flight.port": str(FLIGHT_PORT),
        "spark.flight.internal.port": str(FLIGHT_INTERNAL_PORT),
        "spark.flight.auth": "none",  # a non-loopback address needs it said
        "spark.flight.sql.executionMode": "distributed",
        "spark.flight.buffer.spillDir": str(cluster.workdir / name / "spill"),
        "spark.flight.stream.early": str(options.early).lower(),
    }
    command = node_command("--master", cluster.master_url, *conf_args(conf))
    return launch(name, host, command, cluster.workdir, pipe=True)


def launch_connect(host: simnet.Host, cluster: Cluster, options: Options) -> Started:
    """The Spark Connect server in ``host``: its driver is there, its executors on the run's worker."""
    conf = {
        **app_conf(host, "bench-spark-connect", options),
        "spark.connect.grpc.binding.address": host.address,
        "spark.connect.grpc.binding.port": str(CONNECT_PORT),
        "spark.driver.maxResultSize": "0",  # toArrow() of a large result goes through the driver
        "spark.sql.warehouse.dir": str(cluster.workdir / "connect" / "warehouse"),
    }
    command = [
        str(pyspark_home() / "bin" / "spark-submit"),
        "--master",
        cluster.master_url,
        "--class",
        CONNECT_CLASS,
        *conf_args(conf),
        "spark-internal",
    ]
    return launch("spark-connect", host, command, cluster.workdir)


def wait_ready(started: list[Started], deadline: float) -> None:
    """Wait, in parallel and with a deadline, until every node prints that it serves."""
    servers = [s.server for s in started if s.server is not None]
    with concurrent.futures.ThreadPoolExecutor(max_workers=max(len(servers), 1)) as pool:
        for future in [
            pool.submit(server.wait_ready, max(deadline - time.monotonic(), 1.0)) for server in servers
        ]:
            future.result()


def wait_for_endpoints(location: str, expected: int, timeout: float = ENDPOINTS_TIMEOUT) -> None:
    """Wait until a query through ``location`` gets ``expected`` endpoints (the node saw the membership
    change); each probe's small result is read to the end so that the node releases it."""
    from pyarrow import flight

    from spark_flight_sql.flightsql.proto import FlightSql_pb2 as sql_pb2
    from spark_flight_sql.flightsql.protocol import pack_command

    descriptor = flight.FlightDescriptor.for_command(
        pack_command(sql_pb2.CommandStatementQuery(query=query(1000)))
    )
    seen: list[int] = []

    def endpoints_as_expected() -> bool:
        with flight.FlightClient(location) as client:
            info = client.get_flight_info(descriptor)
            for endpoint in info.endpoints:
                with flight.FlightClient(endpoint.locations[0] if endpoint.locations else location) as reader:
                    reader.do_get(endpoint.ticket).read_all()
        seen[:] = [len(info.endpoints)]
        return len(info.endpoints) == expected

    try:
        bench_common.wait_until(f"{expected} endpoints through {location}", endpoints_as_expected, timeout)
    except TimeoutError:
        raise TimeoutError(
            f"{location} still gives {seen[0]} endpoints after {timeout} s, expected {expected}"
        ) from None


# ---------------------------------------------------------------- measuring


def node_label(nodes: int, capped: bool, fetch: bool = False) -> str:
    """The report's label of a node count, with capped or uncapped links, read by either client."""
    what = f"this server, {nodes} node{'s' if nodes > 1 else ''}, ADBC "
    what += "fetch_record_batch()" if fetch else "partitions read in parallel"
    return what + ("" if capped else ", links uncapped (the machine's ceiling)")


def node_key(nodes: int, capped: bool = True, fetch: bool = False) -> str:
    """The row key: ``1``, ``2``... (parallel client), ``2f``... (fetch_record_batch), ``ceiling``."""
    return "ceiling" if not capped else f"{nodes}{'f' if fetch else ''}"


CONNECT_LABEL = "Spark Connect toArrow()"
FETCH_NOTE = "endpoints handed out in order, 5 batches of each read ahead (adbc.rpc.result_queue_size)"


def node_row(
    nodes: int, rows: int, options: Options, capped: bool = True, fetch: bool = False
) -> LinkFigures:
    """A node count's row, not measured yet."""
    return LinkFigures(
        node_key(nodes, capped, fetch),
        node_label(nodes, capped, fetch),
        nodes,
        rows,
        nodes if capped else 0,
        options.rate_mbit if capped else None,
        endpoints=nodes,
        note=FETCH_NOTE if fetch else None,
    )


def measure_nodes(
    cluster: Cluster, nodes: int, rows: int, options: Options, capped: bool = True, fetch: bool = False
) -> LinkFigures:
    """Through node-1 while ``nodes`` nodes serve: the parallel client (``net_worker.py``: a thread per
    endpoint) or ADBC's ``fetch_record_batch()`` (``bench_worker.py adbc``); failures are reported, not raised."""
    figures = node_row(nodes, rows, options, capped, fetch)
    try:
        arguments = ("--location", cluster.node_location(), "--rows", str(rows), "--runs", str(options.runs))
        if fetch:
            measured = run_worker("adbc", *arguments)
        else:
            measured = run_worker(*arguments, script=NET_WORKER)
            if measured.get("endpoints") != nodes:
                raise AssertionError(
                    f"the result had {measured.get('endpoints')} endpoints, expected {nodes}"
                )
    except Exception as error:  # noqa: BLE001 - a failing row is reported, the others still run
        figures.failed = f"{type(error).__name__}: {str(error)[:300]}"
        return figures
    return fill(figures, measured)


def measure_connect(cluster: Cluster, rows: int, options: Options) -> LinkFigures:
    """Spark Connect ``toArrow()`` through the server's capped link; failures are reported, not raised."""
    figures = LinkFigures("connect", CONNECT_LABEL, 0, rows, 1, options.rate_mbit, endpoints=1)
    assert cluster.connect is not None
    host = cluster.network.hosts["sc"]
    try:
        measured = run_worker(
            "connect",
            "--remote",
            f"sc://{host.address}:{CONNECT_PORT}",
            "--rows",
            str(rows),
            "--runs",
            str(options.runs),
        )
    except Exception as error:  # noqa: BLE001
        figures.failed = f"{type(error).__name__}: {str(error)[:300]}"
        return figures
    figures.note = "executors -> driver -> client, both across the server's link"
    return fill(figures, measured)


def fill(figures: LinkFigures, measured: dict[str, Any]) -> LinkFigures:
    """``figures`` with the medians of a measuring worker's JSON result."""
    figures.seconds = median(measured["seconds"])
    figures.bytes = measured["bytes"]
    figures.first_batch = median(measured["first_batch"])
    return figures


def stop_node(cluster: Cluster) -> None:
    """Stop the last node; it leaves ZooKeeper's membership as it goes."""
    cluster.nodes.pop().stop()


def run_measurements(cluster: Cluster, options: Options, report: Callable[[LinkFigures], None]) -> None:
    """Spark Connect, the uncapped ceiling, then the node counts from the largest down, at every size."""
    if cluster.connect is not None:
        for rows in options.sizes:
            report(measure_connect(cluster, rows, options))
        cluster.connect.stop()
        cluster.connect = None
    counts = sorted(set(options.nodes), reverse=True)
    hosts = [cluster.network.hosts[f"n{i}"] for i in range(1, max(counts) + 1)]
    if options.ceiling:
        for host in hosts:
            cluster.network.uncap(host)
        try:
            wait_for_endpoints(cluster.node_location(), max(counts))
            for rows in options.sizes:
                report(measure_nodes(cluster, max(counts), rows, options, capped=False))
        finally:
            for host in hosts:
                cluster.network.cap(host)
    for count in counts:
        while len(cluster.nodes) > count:
            stop_node(cluster)
        wait_for_members(cluster.zookeeper_url, count)
        wait_for_endpoints(cluster.node_location(), count)
        for rows in options.sizes:
            report(measure_nodes(cluster, count, rows, options))
            if options.fetch and count > 1:
                report(measure_nodes(cluster, count, rows, options, fetch=True))


def planned_rows(options: Options) -> list[LinkFigures]:
    """Every row the run will report, in report order, with no figures yet."""
    rows: list[LinkFigures] = []
    for size in options.sizes:
        rows += [node_row(n, size, options) for n in sorted(set(options.nodes))]
        if options.fetch:
            rows += [node_row(n, size, options, fetch=True) for n in sorted(set(options.nodes)) if n > 1]
        if options.connect:
            rows.append(LinkFigures("connect", CONNECT_LABEL, 0, size, 1, options.rate_mbit, endpoints=1))
        if options.ceiling:
            rows.append(node_row(max(options.nodes), size, options, capped=False))
    return rows


def measure_all(options: Options) -> list[LinkFigures]:
    """Build the network and the cluster, measure every row, tear everything down; a setup failure marks
    every row not measured yet as failed."""
    planned = planned_rows(options)
    done: dict[tuple[str, int], LinkFigures] = {}

    last = [time.monotonic()]

    def report(figures: LinkFigures) -> None:
        """Keep a measured row and print a progress line."""
        done[(figures.key, figures.rows)] = figures
        state = (figures.failed and "FAILED") or f"{figures.seconds:.3f} s, {figures.mb_per_second:,.1f} MB/s"
        progress(f"[{figures.rows:,} rows] {figures.label}: {state}", last[0])
        last[0] = time.monotonic()

    reason = simnet.netns_unavailable()
    if reason is not None:
        for row in planned:
            row.skipped = reason
        return planned
    missing = missing_connect() if options.connect else None
    if missing:
        for row in planned:
            if row.key == "connect":
                row.skipped = missing
        options.connect = False  # not started
    try:
        with signals_end_the_run(), tempfile.TemporaryDirectory(prefix="bench-netns-") as tmp:
            with cluster_running(options, Path(tmp)) as cluster:
                run_measurements(cluster, options, report)
    except Exception as error:  # noqa: BLE001 - reported in every row it prevented
        message = f"{type(error).__name__}: {str(error)[:600]}"
        print(f"network run failed: {message}", file=sys.stderr, flush=True)
        for row in planned:
            if not row.skipped:
                row.failed = row.failed or message
    return [done.get((row.key, row.rows), row) for row in planned]


@contextlib.contextmanager
def cluster_running(options: Options, workdir: Path) -> Iterator[Cluster]:
    """The network, ZooKeeper, Spark's master and worker, the nodes and the Spark Connect server, started
    in parallel where they can be; all stopped and deleted on exit."""
    from spark_flight_sql.flightsql.devtools.zookeeper import EmbeddedZooKeeper

    started = time.monotonic()
    deadline = started + START_TIMEOUT
    with contextlib.ExitStack() as stack:
        stack.callback(progress, "torn down: processes stopped, namespaces and bridge deleted")  # runs last
        network = stack.enter_context(simnet.SimulatedNetwork(options.rate_mbit))
        spark_host = network.add_host("sw", capped=False)
        connect_host = network.add_host("sc", capped=True) if options.connect else None
        node_hosts = [network.add_host(f"n{i}", capped=True) for i in range(1, max(options.nodes) + 1)]
        progress(
            f"network {network.subnet}: {', '.join(f'{h.key} {h.address}' for h in network.hosts.values())}; "
            f"capped links at {options.rate_mbit:g} Mbit/s",
            started,
        )
        (workdir / "zookeeper").mkdir()
        zookeeper = stack.enter_context(EmbeddedZooKeeper(workdir / "zookeeper", host=network.gateway))
        cluster = Cluster(network, workdir, zookeeper.url, "")
        stack.callback(stop_all, cluster)  # before ZooKeeper and the network go
        progress(f"ZooKeeper on {zookeeper.url}", started)
        start_spark(cluster, spark_host, options, deadline)
        progress(f"Spark master on {cluster.master_url}", started)
        if connect_host is not None:
            cluster.connect = launch_connect(connect_host, cluster, options)
        for index, host in enumerate(node_hosts, start=1):
            cluster.nodes.append(launch_node(index, host, cluster, options))
        wait_for_worker(cluster, deadline)
        progress("Spark worker registered", started)
        wait_ready(cluster.nodes, deadline)
        wait_for_members(cluster.zookeeper_url, len(cluster.nodes))
        progress(f"{len(cluster.nodes)} nodes serve", started)
        if cluster.connect is not None:
            connect = cluster.connect
            wait_until(
                "the Spark Connect server",
                lambda: accepts(connect_host.address, CONNECT_PORT),
                deadline,
                connect,
            )
            progress("the Spark Connect server serves", started)
        yield cluster


def stop_all(cluster: Cluster) -> None:
    """Stop the nodes (last first), the Spark Connect server, the worker and the master."""
    pending = [
        *reversed(cluster.nodes),
        *([cluster.connect] if cluster.connect else []),
        *reversed(cluster.others),
    ]
    for started in pending:
        started.stop()
    cluster.nodes, cluster.connect, cluster.others = [], None, []


# ---------------------------------------------------------------- report


def fmt(value: float | None, pattern: str) -> str:
    """``value`` formatted with ``pattern``, or ``-`` when there is none."""
    return "-" if value is None else format(value, pattern)


def one_node(results: list[LinkFigures], rows: int) -> LinkFigures | None:
    """The measured one-node row at ``rows``, the reference of every ratio."""
    return next((f for f in results if f.key == "1" and f.rows == rows and f.seconds), None)


def throughput_ratio(figures: LinkFigures, reference: LinkFigures | None) -> float | None:
    """``figures``' rows/s over ``reference``'s (above 1: faster)."""
    if not figures.seconds or reference is None or not reference.seconds:
        return None
    return reference.seconds / figures.seconds


HEADER = (
    "| key | what | rows | links (capped x Mbit/s) | seconds | rows/s | MB/s | share of the links' rate | "
    "first batch (s) | endpoints | throughput / one node | note |"
)


def table_row(figures: LinkFigures, results: list[LinkFigures]) -> str:
    """One Markdown table row (the reason instead of figures when skipped or failed)."""
    links = "uncapped" if not figures.capped_links else f"{figures.capped_links} x {figures.rate_mbit:g}"
    start = f"| {figures.key} | {figures.label} | {figures.rows:,} | {links} |"
    if figures.skipped or figures.failed:
        status = f"skipped: {figures.skipped}" if figures.skipped else f"FAILED: {figures.failed}"
        return f"{start} {status} |" + " - |" * 7
    share = None if figures.link_mb_per_second is None else figures.mb_per_second / figures.link_mb_per_second
    return (
        f"{start} {figures.seconds:.3f} | {figures.rows_per_second:,.0f} | {figures.mb_per_second:,.1f} | "
        f"{fmt(share, '.0%')} | {fmt(figures.first_batch, '.3f')} | {figures.endpoints} | "
        f"{fmt(throughput_ratio(figures, one_node(results, figures.rows)), '.2f')} | {figures.note or ''} |"
    )


def table_lines(results: list[LinkFigures]) -> list[str]:
    """The Markdown table: a row per configuration and size."""
    lines = [HEADER, "|" + " --- |" * 12]
    for rows in sorted({f.rows for f in results}):
        lines += [table_row(f, results) for f in results if f.rows == rows]
    return lines


def summary_lines(results: list[LinkFigures]) -> list[str]:
    """Per size: the scaling ratios against one node (and the goal), and whether the links were the bottleneck."""
    lines = []
    for rows in sorted({f.rows for f in results}):
        at = {f.key: f for f in results if f.rows == rows}
        single = one_node(results, rows)
        counts = sorted({f.nodes for f in at.values() if f.nodes > 1 and f.key != "ceiling"})
        parts = []
        for n in counts:
            if str(n) in at and (ratio := throughput_ratio(at[str(n)], single)) is not None:
                goal = (
                    f" (goal >= {GOAL_TWO_NODES}x: {'met' if ratio >= GOAL_TWO_NODES else 'NOT met'})"
                    if n == 2
                    else ""
                )
                parts.append(f"{n} nodes / 1 node = **{ratio:.2f}x**{goal}")
        if (
            "connect" in at
            and single is not None
            and (ratio := throughput_ratio(single, at["connect"])) is not None
        ):
            parts.append(f"1 node / Spark Connect = {ratio:.2f}x")
        if parts:
            lines.append(f"- {rows:,} rows, partitions read in parallel: " + "; ".join(parts) + ".")
        fetched = [
            f"{n} nodes / 1 node = {ratio:.2f}x"
            for n in counts
            if f"{n}f" in at and (ratio := throughput_ratio(at[f"{n}f"], single)) is not None
        ]
        if fetched:
            lines.append(f"- {rows:,} rows, ADBC fetch_record_batch(): " + "; ".join(fetched) + ".")
        ceiling = at.get("ceiling")
        capped = at.get(str(ceiling.nodes)) if ceiling is not None else None
        if ceiling is not None and ceiling.mb_per_second and capped is not None and capped.link_mb_per_second:
            headroom = ceiling.mb_per_second / capped.link_mb_per_second
            verdict = (
                "so the links, not the cores, bound the capped rows"
                if headroom >= HEADROOM_WARNING
                else f"WARNING: under {HEADROOM_WARNING}x, the cores may bound the capped rows: lower --rate"
            )
            lines.append(
                f"- {rows:,} rows: uncapped, {ceiling.nodes} nodes move {ceiling.mb_per_second:,.1f} MB/s "
                f"on this machine, {headroom:.1f}x what their {capped.capped_links} capped links carry "
                f"({capped.link_mb_per_second:,.1f} MB/s): {verdict}."
            )
    return lines


def intro_lines(meta: dict[str, Any]) -> list[str]:
    """What was run, on what, and how to read the table."""
    rate = meta["rate_mbit"]
    return [
        f"Query: `{query(0).replace('range(0)', 'range(N)')}`, {meta['partitions']} partitions."
        + (" Nodes stream partitions early (`spark.flight.stream.early=true`)." if meta.get("early") else ""),
        "",
        (
            f"Every host is a network namespace whose link is capped at **{rate:g} Mbit/s ({rate / 8:,.1f} MB/s) in "
            f"each direction** (`tc tbf`, a queue of {meta.get('queue', '?')}): each Flight SQL node, and the Spark "
            "Connect server's driver. Spark's "
            "executors (a standalone worker, every node and the Spark Connect server being an application on it, "
            f"with {meta['slots']} task slots each) run in an uncapped namespace of their own; the client and "
            "ZooKeeper in the root one, behind an uncapped bridge. The query enters node-1; executors push each "
            "node its share across that node's link. The client reads every endpoint at once, each on a thread "
            "and ADBC connection of its own (`adbc_execute_partitions`, `adbc_read_partition`); the `f` rows "
            "read the same result with ADBC's `fetch_record_batch()`, which hands batches out in endpoint order "
            "and reads only 5 batches ahead of each later endpoint (`adbc.rpc.result_queue_size`)."
        ),
        "",
        (
            f"Median of {meta['runs']} run(s) after a warm-up. All namespaces share this machine's {meta['cores']} "
            "cores: the rate is chosen so that the capped links, not the cores, are the bottleneck; the "
            "`ceiling` row (the same nodes, links uncapped) shows how far below the machine's own limit they are. "
            "MB/s counts the result's Arrow bytes; the links also carry IPC, gRPC and TCP framing, so a share "
            "of about 90% is a saturated link."
        ),
    ]


def markdown(results: list[LinkFigures], meta: dict[str, Any], chart: str | None) -> str:
    """The whole report."""
    lines = [
        "# Benchmark: scaling through a simulated network",
        "",
        *intro_lines(meta),
        "",
        *table_lines(results),
        "",
        *summary_lines(results),
        "",
        chart or "Chart: not drawn (matplotlib is not installed).",
    ]
    return "\n".join(lines) + "\n"


def draw_chart(results: list[LinkFigures], out: Path, rate_mbit: float) -> str | None:
    """MB/s per configuration and size, with the capped links' sums as dashed lines, in ``out/network.png``."""
    if missing_modules(("matplotlib", "matplotlib")):
        return None
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    measured = [f for f in results if f.seconds and f.key != "ceiling"]
    if not measured:
        return None
    sizes = sorted({f.rows for f in measured})
    keys = list(dict.fromkeys(f.key for f in sorted(measured, key=lambda f: f.key)))
    figure, axes = plt.subplots(figsize=(9, 5))
    width = 0.8 / max(len(keys), 1)
    for index, key in enumerate(keys):
        values = [next((f.mb_per_second for f in measured if f.key == key and f.rows == s), 0) for s in sizes]
        label = next(f.label for f in measured if f.key == key)
        axes.bar([i + index * width for i in range(len(sizes))], values, width, label=label)
    for links in sorted({f.capped_links for f in measured if f.capped_links}):
        axes.axhline(links * rate_mbit / 8, linestyle="--", linewidth=0.8, color="grey")
        axes.annotate(
            f"{links} capped link{'s' if links > 1 else ''}",
            (-width / 2, links * rate_mbit / 8),
            fontsize="x-small",
            color="grey",
            va="bottom",
            ha="left",
        )
    axes.set_xticks([i + 0.4 - width / 2 for i in range(len(sizes))], [f"{s:,} rows" for s in sizes])
    axes.set_ylabel(f"MB/s of Arrow (median), links capped at {rate_mbit:g} Mbit/s")
    axes.legend(fontsize="small")
    figure.tight_layout()
    figure.savefig(out / "network.png")
    plt.close(figure)
    return "![MB/s per node count, beside Spark Connect](network.png)"


def write_results(results: list[LinkFigures], meta: dict[str, Any], out: Path) -> str:
    """Write ``network.md``, ``network.json`` and the chart to ``out``; returns the Markdown."""
    out.mkdir(parents=True, exist_ok=True)
    chart = draw_chart(results, out, meta["rate_mbit"])
    text = markdown(results, meta, chart)
    (out / "network.md").write_text(text)
    (out / "network.json").write_text(
        json.dumps({"meta": meta, "results": [asdict(f) for f in results]}, indent=2)
    )
    return text


# ---------------------------------------------------------------- CLI


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The network mode's options (shared with ``harness.py --network``)."""
    parser.add_argument(
        "--rate",
        type=float,
        default=None,
        help=f"each capped link's rate in Mbit/s, each direction (default {DEFAULT_RATE_MBIT:g}; "
        f"--smoke: {SMOKE_RATE_MBIT:g})",
    )
    parser.add_argument(
        "--nodes",
        default=",".join(map(str, DEFAULT_NODES)),
        help="comma-separated node counts to measure (1 is always measured: ratios need it)",
    )
    parser.add_argument(
        "--partitions",
        type=int,
        default=None,
        help=f"partitions of the result (default {DEFAULT_PARTITIONS}: even shares for 1, 2 and 3 "
        f"nodes; --smoke: {SMOKE_PARTITIONS})",
    )
    parser.add_argument(
        "--slots", type=int, default=DEFAULT_SLOTS, help="task slots of each application's executor"
    )
    parser.add_argument("--no-connect", action="store_true", help="leave out Spark Connect")
    parser.add_argument("--no-ceiling", action="store_true", help="leave out the uncapped ceiling")
    parser.add_argument(
        "--no-fetch", action="store_true", help="leave out ADBC fetch_record_batch() (the rows 2f, 3f...)"
    )
    parser.add_argument(
        "--early",
        action="store_true",
        help="nodes serve partitions while their tasks still push them (spark.flight.stream.early)",
    )


def options_from(args: argparse.Namespace, parser: argparse.ArgumentParser) -> Options:
    """Options from parsed arguments (``sizes``, ``runs``, ``smoke``, ``out`` and the network ones)."""
    try:
        nodes = sorted({int(part) for part in str(args.nodes).split(",") if part.strip()} | {1})
    except ValueError:
        parser.error(f"--nodes must be comma-separated node counts: {args.nodes!r}")
    if any(n < 1 or n > 9 for n in nodes):
        parser.error("--nodes: counts from 1 to 9")
    rate = args.rate if args.rate is not None else SMOKE_RATE_MBIT if args.smoke else DEFAULT_RATE_MBIT
    partitions = args.partitions or (SMOKE_PARTITIONS if args.smoke else DEFAULT_PARTITIONS)
    if rate <= 0 or partitions < 1 or args.slots < 1:
        parser.error("--rate, --partitions and --slots must be positive")
    return Options(
        sizes=list(args.sizes or (SMOKE_SIZES if args.smoke else DEFAULT_SIZES)),
        runs=args.runs or (1 if args.smoke else 3),
        rate_mbit=rate,
        nodes=nodes,
        partitions=partitions,
        slots=args.slots,
        connect=not args.no_connect,
        ceiling=not args.no_ceiling,
        fetch=not args.no_fetch,
        early=args.early,
        out=args.out,
    )


def meta_of(options: Options) -> dict[str, Any]:
    """What the report says about the run: its settings and the machine."""
    return {
        "rate_mbit": options.rate_mbit,
        "queue": simnet.TBF_LATENCY,
        "runs": options.runs,
        "nodes": options.nodes,
        "partitions": options.partitions,
        "slots": options.slots,
        "early": options.early,
        "cores": os.cpu_count(),
        "machine": machine_info(),
    }


def run(options: Options) -> int:
    """Measure, write the report, print it; exit 1 when a row failed (skipped rows are not failures), 130
    when interrupted (after the teardown; no report then)."""
    try:
        results = measure_all(options)
    except KeyboardInterrupt:
        print("interrupted: no report written", file=sys.stderr, flush=True)
        return 130
    print(write_results(results, meta_of(options), options.out))
    return 1 if any(f.failed for f in results) else 0


def parse_args(argv: list[str] | None = None) -> tuple[argparse.Namespace, argparse.ArgumentParser]:
    """This script's own command line (the same options as ``harness.py --network``)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--sizes", type=parse_sizes, default=None, help="comma-separated row counts (default 10M)"
    )
    parser.add_argument(
        "--runs", type=int, default=None, help="timed runs after the warm-up (default 3; --smoke: 1)"
    )
    parser.add_argument(
        "--smoke", action="store_true", help=f"tiny sizes, one run, {SMOKE_RATE_MBIT:g} Mbit/s links"
    )
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    add_arguments(parser)
    return parser.parse_args(argv), parser


def main(argv: list[str] | None = None) -> int:
    """Run the scaling benchmark; the exit status of :func:`run`."""
    args, parser = parse_args(argv)
    return run(options_from(args, parser))


if __name__ == "__main__":
    sys.exit(main())
