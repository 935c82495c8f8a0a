"""A two-node Flight SQL cluster on one machine, as local processes: ``dev/cluster start|stop|status``.

The same topology as ``dev/docker-compose.yml``, without Docker:

- ZooKeeper (``spark-flight-sql zookeeper``, from PySpark's jars);
- a Spark standalone master and two workers (``pyspark/bin/spark-class``), one core each;
- a Hive metastore as a Thrift service (``org.apache.hadoop.hive.metastore.HiveMetaStore`` from
  PySpark's jars) on embedded Derby, shared by both nodes;
- two Flight SQL nodes, ``node-a`` and ``node-b``: each a Spark application in client mode on that
  master (one core each), in one ZooKeeper membership, on one warehouse folder. Their catalog is the
  metastore's (``spark.hadoop.hive.metastore.uris``), so they keep no data folder of their own: what
  one creates, the other sees.

Everything lives in one folder (``DEV_CLUSTER_DIR``, default ``dev/.cluster``): ``logs/`` holds every
process's log, ``state.json`` the processes started. Ports come from environment variables (see
:data:`PORT_VARIABLES`); ``start`` refuses ports in use, waits (with deadlines) until every process is
ready and prints where the nodes are; ``stop`` stops everything and is safe to run twice; ``status``
says what runs (exit code 0: all of it, 1: part of it, 3: nothing).

Run it with the project's interpreter: ``.venv/bin/python dev/cluster.py start`` (or ``dev/cluster``).
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.util
import json
import os
import select
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent
PROJECT = HERE.parent
MEMBERSHIP_PATH = "/spark-flight-sql"
NODE_IDS = ("node-a", "node-b")
WORKERS = ("worker-1", "worker-2")
READY_LINE = "spark-flight-sql: serving Flight SQL on "
ZOOKEEPER_READY_LINE = "spark-flight-sql: ZooKeeper serving on "
STOP_TIMEOUT = 90.0
"""Seconds a process may take to stop after SIGTERM before it is killed (a node drains for up to
``spark.flight.shutdown.gracePeriod``, 30 s, and its own watchdog allows 45 s more)."""

PORT_VARIABLES: dict[str, int] = {
    "DEV_CLUSTER_ZOOKEEPER_PORT": 2181,
    "DEV_CLUSTER_SPARK_MASTER_PORT": 7077,
    "DEV_CLUSTER_SPARK_MASTER_WEBUI_PORT": 8080,
    "DEV_CLUSTER_SPARK_WORKER_1_WEBUI_PORT": 8081,
    "DEV_CLUSTER_SPARK_WORKER_2_WEBUI_PORT": 8082,
    "DEV_CLUSTER_METASTORE_PORT": 9083,
    "DEV_CLUSTER_NODE_A_PORT": 32010,
    "DEV_CLUSTER_NODE_A_INTERNAL_PORT": 32011,
    "DEV_CLUSTER_NODE_A_UI_PORT": 4040,
    "DEV_CLUSTER_NODE_B_PORT": 32020,
    "DEV_CLUSTER_NODE_B_INTERNAL_PORT": 32021,
    "DEV_CLUSTER_NODE_B_UI_PORT": 4041,
}
"""Every port the cluster listens on (besides random ones of Spark's), its variable and default."""


class ClusterError(RuntimeError):
    """Starting or stopping failed; the message says why and where to look."""


# ---- settings ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Settings:
    """Where the cluster lives and listens, from the environment."""

    root: Path
    host: str
    ports: dict[str, int]
    start_timeout: float

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None) -> Settings:
        """Read ``DEV_CLUSTER_*`` variables, with defaults."""
        env = dict(os.environ if env is None else env)
        ports = {name: _int(env, name, default) for name, default in PORT_VARIABLES.items()}
        return cls(
            root=Path(env.get("DEV_CLUSTER_DIR", HERE / ".cluster")).resolve(),
            host=env.get("DEV_CLUSTER_HOST", "127.0.0.1"),
            ports=ports,
            start_timeout=float(env.get("DEV_CLUSTER_START_TIMEOUT", "300")),
        )

    def port(self, short: str) -> int:
        """The port of ``DEV_CLUSTER_<short>_PORT``."""
        return self.ports[f"DEV_CLUSTER_{short}_PORT"]

    @property
    def logs(self) -> Path:
        return self.root / "logs"

    @property
    def state_file(self) -> Path:
        return self.root / "state.json"

    @property
    def warehouse(self) -> Path:
        return self.root / "warehouse"

    @property
    def master_url(self) -> str:
        return f"spark://{self.host}:{self.port('SPARK_MASTER')}"

    @property
    def zookeeper_url(self) -> str:
        return f"{self.host}:{self.port('ZOOKEEPER')}"

    @property
    def metastore_uri(self) -> str:
        return f"thrift://{self.host}:{self.port('METASTORE')}"

    def node_location(self, node_id: str) -> str:
        return f"grpc://{self.host}:{self.port(_node_key(node_id))}"


def _int(env: dict[str, str], name: str, default: int) -> int:
    value = env.get(name, str(default))
    try:
        return int(value)
    except ValueError:
        raise ClusterError(f"{name}={value!r} is not a port number") from None


def _node_key(node_id: str) -> str:
    return "NODE_" + node_id.split("-", 1)[1].upper()


def spark_home() -> Path:
    """PySpark's folder: it holds ``bin/spark-class`` and ``jars/``."""
    spec = importlib.util.find_spec("pyspark")
    if spec is None or not spec.submodule_search_locations:
        raise ClusterError(
            f"PySpark is not installed for {sys.executable}: use the project's .venv/bin/python"
        )
    return Path(next(iter(spec.submodule_search_locations)))


# ---- processes -----------------------------------------------------------------------------------


@dataclass
class Proc:
    """A process the cluster started: its own process group (``pid`` leads it) and log."""

    name: str
    pid: int
    start_ticks: int
    log: str
    address: str = ""


def _stat(pid: int) -> list[str] | None:
    """Fields of ``/proc/<pid>/stat`` from the state on (index 0 is the state), or None when gone."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return None
    return text.rsplit(")", 1)[1].split()


def _start_ticks(pid: int) -> int | None:
    fields = _stat(pid)
    return int(fields[19]) if fields else None


def is_alive(proc: Proc) -> bool:
    """Whether ``proc`` still runs (the same process, not a later one with its pid; zombies are gone)."""
    fields = _stat(proc.pid)
    return fields is not None and fields[0] not in ("Z", "X") and int(fields[19]) == proc.start_ticks


def group_members(pgid: int) -> list[int]:
    """Live (not zombie) processes of process group ``pgid``."""
    members = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            fields = _stat(int(entry.name))
            if fields and fields[0] not in ("Z", "X") and int(fields[2]) == pgid:
                members.append(int(entry.name))
    return members


def wait_exit(pid: int, timeout: float) -> bool:
    """Wait for ``pid`` to exit (a pidfd: no polling); True if it did within ``timeout`` seconds."""
    try:
        fd = os.pidfd_open(pid)
    except ProcessLookupError:
        return True
    try:
        ready, _, _ = select.select([fd], [], [], timeout)
        return bool(ready)
    finally:
        os.close(fd)


def spawn(name: str, argv: list[str], env: dict[str, str], settings: Settings, cwd: Path) -> Proc:
    """Start ``argv`` in a session of its own, output to ``logs/<name>.log``."""
    log = settings.logs / f"{name}.log"
    with open(log, "ab") as out:
        process = subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            env=env,
            cwd=cwd,
            start_new_session=True,
        )
    ticks = _start_ticks(process.pid)
    return Proc(name, process.pid, ticks if ticks is not None else -1, str(log))


def stop_proc(proc: Proc, timeout: float = STOP_TIMEOUT) -> None:
    """SIGTERM the leader, wait, then end whatever is left of its process group (SIGTERM, then SIGKILL)."""
    if is_alive(proc):
        with contextlib.suppress(ProcessLookupError):
            os.kill(proc.pid, signal.SIGTERM)
        if not wait_exit(proc.pid, timeout):
            with contextlib.suppress(ProcessLookupError):
                os.kill(proc.pid, signal.SIGKILL)
            wait_exit(proc.pid, 10)
    for sig in (signal.SIGTERM, signal.SIGKILL):
        members = group_members(proc.pid)
        if not members:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, sig)
        for pid in members:
            wait_exit(pid, 10 if sig == signal.SIGTERM else 5)


# ---- state ---------------------------------------------------------------------------------------


def load_state(settings: Settings) -> list[Proc]:
    if not settings.state_file.exists():
        return []
    return [Proc(**item) for item in json.loads(settings.state_file.read_text())["processes"]]


def save_state(settings: Settings, procs: list[Proc]) -> None:
    tmp = settings.state_file.with_suffix(".tmp")
    tmp.write_text(json.dumps({"processes": [asdict(p) for p in procs]}, indent=2))
    tmp.replace(settings.state_file)


# ---- readiness -----------------------------------------------------------------------------------


def wait_until(what: str, check: Callable[[], bool], deadline: float, procs: list[Proc]) -> None:
    """Wait until ``check()`` holds; fail at the deadline or as soon as a started process dies."""
    while True:
        if check():
            return
        dead = [p for p in procs if not is_alive(p)]
        if dead:
            raise ClusterError(f"{dead[0].name} exited while waiting for {what}:\n{log_tail(dead[0])}")
        if time.monotonic() > deadline:
            raise ClusterError(f"timed out waiting for {what}; see the logs in {Path(procs[-1].log).parent}")
        time.sleep(0.25)


def log_tail(proc: Proc, lines: int = 30) -> str:
    try:
        return "\n".join(Path(proc.log).read_text(errors="replace").splitlines()[-lines:])
    except FileNotFoundError:
        return "(no log)"


def log_line(proc: Proc, marker: str) -> str | None:
    """The first line of ``proc``'s log holding ``marker``."""
    with contextlib.suppress(FileNotFoundError):
        for line in Path(proc.log).read_text(errors="replace").splitlines():
            if marker in line:
                return line
    return None


def port_open(host: str, port: int) -> bool:
    with contextlib.suppress(OSError), socket.create_connection((host, port), timeout=1):
        return True
    return False


def master_json(settings: Settings) -> dict | None:
    """The Spark master's state from its web UI, or None while it does not answer."""
    url = f"http://{settings.host}:{settings.port('SPARK_MASTER_WEBUI')}/json/"
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return json.load(response)
    except (OSError, urllib.error.URLError, ValueError):
        return None


def alive_workers(settings: Settings) -> int:
    state = master_json(settings)
    return sum(w.get("state") == "ALIVE" for w in state.get("workers", [])) if state else 0


def running_apps(settings: Settings) -> list[dict]:
    """Applications the master runs that hold cores (each node is one)."""
    state = master_json(settings)
    return [a for a in state.get("activeapps", []) if a.get("cores", 0) > 0] if state else []


def zookeeper_members(settings: Settings) -> list[str]:
    """Node ids registered in the cluster's ZooKeeper membership."""
    from kazoo.client import KazooClient
    from kazoo.exceptions import NoNodeError

    client = KazooClient(hosts=settings.zookeeper_url)
    client.start(timeout=10)
    try:
        return sorted(client.get_children(f"{MEMBERSHIP_PATH}/nodes"))
    except NoNodeError:
        return []
    finally:
        client.stop()
        client.close()


# ---- configuration files -------------------------------------------------------------------------


HIVE_SITE = """<?xml version="1.0"?>
<configuration>
{properties}
</configuration>
"""


HIVE_LOG4J2 = """\
status = warn
appender.console.type = Console
appender.console.name = console
appender.console.target = SYSTEM_ERR
appender.console.layout.type = PatternLayout
appender.console.layout.pattern = %d{ISO8601} %-5p [%t] %c{1}: %m%n
rootLogger.level = INFO
rootLogger.appenderRef.console.ref = console
"""
"""The metastore logs to its console (``logs/metastore.log``), not to ``/tmp/<user>/hive.log``."""


def write_hive_site(settings: Settings) -> Path:
    """``metastore/conf/hive-site.xml``: a metastore on embedded Derby, schema created on first start."""
    conf = settings.root / "metastore" / "conf"
    conf.mkdir(parents=True, exist_ok=True)
    properties = {
        "javax.jdo.option.ConnectionURL": f"jdbc:derby:;databaseName={settings.root / 'metastore' / 'metastore_db'};create=true",
        "javax.jdo.option.ConnectionDriverName": "org.apache.derby.jdbc.EmbeddedDriver",
        "datanucleus.schema.autoCreateAll": "true",
        "hive.metastore.schema.verification": "false",
        "hive.metastore.warehouse.dir": settings.warehouse.as_uri(),
        # Hive's asynchronous logging needs the LMAX disruptor, which PySpark does not ship.
        "hive.async.log.enabled": "false",
    }
    body = "\n".join(
        f"  <property><name>{key}</name><value>{value}</value></property>"
        for key, value in properties.items()
    )
    (conf / "hive-site.xml").write_text(HIVE_SITE.format(properties=body))
    (conf / "hive-log4j2.properties").write_text(HIVE_LOG4J2)  # found before the one in Hive's jar
    return conf


def write_daemon_properties(settings: Settings) -> Path:
    """Spark properties of the master and workers: fail on a taken port instead of moving to the next."""
    path = settings.root / "spark-daemons.conf"
    path.write_text("spark.port.maxRetries 0\nspark.worker.cleanup.enabled true\n")
    return path


def node_conf(settings: Settings, node_id: str) -> dict[str, str]:
    """The Spark and ``spark.flight.*`` settings of one Flight SQL node."""
    key = _node_key(node_id)
    return {
        "spark.app.name": f"spark-flight-sql-{node_id}",
        "spark.cores.max": "1",
        "spark.executor.cores": "1",
        "spark.executor.memory": "1g",
        "spark.driver.host": settings.host,
        "spark.ui.port": str(settings.port(f"{key}_UI")),
        "spark.port.maxRetries": "0",
        "spark.sql.catalogImplementation": "hive",
        "spark.hadoop.hive.metastore.uris": settings.metastore_uri,
        "spark.sql.warehouse.dir": settings.warehouse.as_uri(),
        "spark.hadoop.hive.exec.scratchdir": str(settings.root / "hive" / node_id / "scratch"),
        "spark.hadoop.hive.exec.local.scratchdir": str(settings.root / "hive" / node_id / "local"),
        "spark.hadoop.hive.downloaded.resources.dir": str(settings.root / "hive" / node_id / "resources"),
        "spark.flight.manager": "zookeeper",
        "spark.flight.manager.zookeeper.url": settings.zookeeper_url,
        "spark.flight.manager.zookeeper.membershipPath": MEMBERSHIP_PATH,
        "spark.flight.node.id": node_id,
        "spark.flight.host": settings.host,
        # Said explicitly, as the compose file must (its nodes listen on every interface).
        "spark.flight.auth": os.environ.get("SFS_AUTH", "none"),
        "spark.flight.internal.host": settings.host,
        "spark.flight.public.host": settings.host,
        "spark.flight.port": str(settings.port(key)),
        "spark.flight.internal.port": str(settings.port(f"{key}_INTERNAL")),
        # Where bulk ingest stages uploads; executors read it (on one machine, any local folder).
        "spark.flight.sql.ingest.stagingDir": str(settings.root / "staging" / node_id),
    }


# ---- commands ------------------------------------------------------------------------------------


def base_env(settings: Settings) -> dict[str, str]:
    """The environment of every process: Spark's home, the loopback address, this interpreter for executors."""
    env = dict(os.environ)
    env.update(
        SPARK_HOME=str(spark_home()),
        SPARK_LOCAL_IP=settings.host,
        SPARK_DAEMON_MEMORY="512m",
        PYSPARK_PYTHON=env.get("PYSPARK_PYTHON", sys.executable),
    )
    env.pop("SPARK_CONF_DIR", None)
    return env


def check_ports_free(settings: Settings) -> None:
    """Refuse to start when a configured port is taken, naming the variable that moves it."""
    for name, port in settings.ports.items():
        with socket.socket() as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                probe.bind((settings.host, port))
            except OSError as exc:
                raise ClusterError(
                    f"port {port} is in use ({exc.strerror}); set {name} to another one"
                ) from None


class Starter:
    """Starts the processes in order, records each in ``state.json`` as soon as it runs."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.env = base_env(settings)
        self.spark_class = str(spark_home() / "bin" / "spark-class")
        self.procs: list[Proc] = []
        self.deadline = time.monotonic() + settings.start_timeout

    def launch(
        self,
        name: str,
        argv: list[str],
        env: dict[str, str] | None = None,
        address: str = "",
        cwd: Path | None = None,
    ) -> Proc:
        proc = spawn(name, argv, env or self.env, self.settings, cwd or self.settings.root)
        proc.address = address
        self.procs.append(proc)
        save_state(self.settings, self.procs)
        return proc

    def wait(self, what: str, check: Callable[[], bool]) -> None:
        wait_until(what, check, self.deadline, self.procs)

    def zookeeper(self) -> None:
        s = self.settings
        zk = self.launch(
            "zookeeper",
            [
                sys.executable,
                "-m",
                "spark_flight_sql.flightsql",
                "zookeeper",
                "--host",
                s.host,
                "--port",
                str(s.port("ZOOKEEPER")),
                "--data-dir",
                str(s.root / "zookeeper"),
            ],
            address=s.zookeeper_url,
        )
        self.wait("ZooKeeper", lambda: log_line(zk, ZOOKEEPER_READY_LINE) is not None)

    def spark(self) -> None:
        s = self.settings
        props = str(write_daemon_properties(s))
        self.launch(
            "spark-master",
            [
                self.spark_class,
                "org.apache.spark.deploy.master.Master",
                "--host",
                s.host,
                "--port",
                str(s.port("SPARK_MASTER")),
                "--webui-port",
                str(s.port("SPARK_MASTER_WEBUI")),
                "--properties-file",
                props,
            ],
            address=f"{s.master_url} (web UI http://{s.host}:{s.port('SPARK_MASTER_WEBUI')})",
        )
        for index, worker in enumerate(WORKERS, start=1):
            work_dir = s.root / worker
            work_dir.mkdir(exist_ok=True)
            self.launch(
                worker,
                [
                    self.spark_class,
                    "org.apache.spark.deploy.worker.Worker",
                    s.master_url,
                    "--host",
                    s.host,
                    "--cores",
                    "1",
                    "--memory",
                    "1g",
                    "--work-dir",
                    str(work_dir),
                    "--webui-port",
                    str(s.port(f"SPARK_WORKER_{index}_WEBUI")),
                    "--properties-file",
                    props,
                ],
                address=f"web UI http://{s.host}:{s.port(f'SPARK_WORKER_{index}_WEBUI')}",
            )

    def metastore(self) -> None:
        s = self.settings
        env = dict(self.env)
        env["SPARK_CONF_DIR"] = str(write_hive_site(s))  # spark-class puts it first on the class path
        env["SPARK_DRIVER_MEMORY"] = "512m"  # spark-class's heap for a class that is not Spark's
        self.launch(
            "metastore",
            [
                self.spark_class,
                "org.apache.hadoop.hive.metastore.HiveMetaStore",
                "-p",
                str(s.port("METASTORE")),
            ],
            env=env,
            address=s.metastore_uri,
            cwd=s.root / "metastore",  # Derby writes derby.log there
        )

    def nodes(self, demo: bool) -> None:
        s = self.settings
        for node_id in NODE_IDS:
            argv = [sys.executable, "-m", "spark_flight_sql.flightsql", "serve", "--master", s.master_url]
            for key, value in node_conf(s, node_id).items():
                argv += ["--conf", f"{key}={value}"]
            if demo and node_id == NODE_IDS[0]:
                argv.append("--demo")
            self.launch(node_id, argv, address=s.node_location(node_id))

    def run(self, demo: bool) -> None:
        """Start everything and wait until it all serves."""
        s = self.settings
        self.zookeeper()
        self.spark()
        self.metastore()
        self.wait("the Spark master and two workers", lambda: alive_workers(s) == len(WORKERS))
        self.wait("the Hive metastore", lambda: port_open(s.host, s.port("METASTORE")))
        self.nodes(demo)
        for node in self.procs[-len(NODE_IDS) :]:
            self.wait(f"{node.name} to serve", lambda node=node: log_line(node, READY_LINE) is not None)
        self.wait("both nodes in the ZooKeeper membership", lambda: zookeeper_members(s) == sorted(NODE_IDS))
        self.wait(
            "both nodes to hold a core of the Spark cluster", lambda: len(running_apps(s)) == len(NODE_IDS)
        )


def start(settings: Settings, demo: bool = False) -> int:
    """``start``: bring the cluster up and print where its nodes are."""
    running = [p for p in load_state(settings) if is_alive(p)]
    if running:
        print(
            f"the dev cluster in {settings.root} already runs ({', '.join(p.name for p in running)}); "
            "run `dev/cluster stop` first",
            file=sys.stderr,
        )
        return 1
    check_ports_free(settings)
    for folder in (settings.root, settings.logs, settings.warehouse):
        folder.mkdir(parents=True, exist_ok=True)
    starter = Starter(settings)
    began = time.monotonic()
    ready = False
    try:
        starter.run(demo)
        ready = True
    except ClusterError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    finally:
        if not ready:  # a failure or Ctrl-C: leave nothing running
            stop_all(starter.procs, quiet=True)
            save_state(settings, [])
    print(f"dev cluster ready in {time.monotonic() - began:.0f} s (logs in {settings.logs}):")
    for proc in starter.procs:
        print(f"  {proc.name:<13} pid {proc.pid:<8} {proc.address}")
    print("Flight SQL nodes: " + " ".join(settings.node_location(n) for n in NODE_IDS))
    return 0


def stop_all(procs: list[Proc], quiet: bool = False) -> None:
    """Stop ``procs`` in reverse start order (nodes first, ZooKeeper last)."""
    for proc in reversed(procs):
        if not quiet:
            print(f"stopping {proc.name} (pid {proc.pid})" if is_alive(proc) else f"{proc.name}: not running")
        stop_proc(proc)


def stop(settings: Settings) -> int:
    """``stop``: stop every process of the cluster; running it again does nothing."""
    procs = load_state(settings)
    if not procs:
        print(f"no dev cluster in {settings.root}")
        return 0
    stop_all(procs)
    save_state(settings, [])
    print("dev cluster stopped")
    return 0


def status(settings: Settings) -> int:
    """``status``: what runs; exit code 0 when everything does, 1 when part of it does, 3 when nothing does."""
    procs = load_state(settings)
    alive = [is_alive(p) for p in procs]
    for proc, up in zip(procs, alive):
        print(f"  {proc.name:<13} {'running' if up else 'stopped':<8} pid {proc.pid:<8} {proc.address}")
    if procs and all(alive):
        print("Flight SQL nodes: " + " ".join(settings.node_location(n) for n in NODE_IDS))
        return 0
    if any(alive):
        return 1
    print(f"no dev cluster runs in {settings.root}")
    return 3


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="dev/cluster", description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    start_parser = commands.add_parser("start", help="start the cluster and wait until it serves")
    start_parser.add_argument(
        "--demo", action="store_true", help="node-a creates the demo tables in the metastore"
    )
    commands.add_parser("stop", help="stop every process of the cluster")
    commands.add_parser("status", help="say what runs")
    args = parser.parse_args(argv)
    try:
        settings = Settings.from_env()
        if args.command == "start":
            return start(settings, args.demo)
        if args.command == "stop":
            return stop(settings)
        return status(settings)
    except ClusterError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
