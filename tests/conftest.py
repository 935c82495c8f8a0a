"""Fixtures: a real Flight SQL node as a separate process, a real ZooKeeper server, and a SparkSession in
this process. The helpers behind them live in ``tests/support/`` (test modules import them from there)."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator

import pytest
from kazoo.client import KazooClient
from support import ROOT
from support.cluster import running_cluster
from support.error_sweep import Sweep
from support.processes import kill_leftovers
from support.server import ServerProcess, port_is_free, start_server

from spark_flight_sql.flightsql.devtools.zookeeper import EmbeddedZooKeeper

# The benchmark tests import the benchmark modules by name, as the benchmark scripts import each other.
sys.path.append(str(ROOT / "benchmarks"))


SWEEP = Sweep()
"""Every error the tests expect a client to raise, checked (see :mod:`support.error_sweep`)."""


@pytest.fixture(autouse=True)
def error_message_sweep(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Each ``with pytest.raises(...)`` of the test records what it caught; after the test, every
    client error among them must read as one message, without traceback, path or repeated text."""
    raises = pytest.raises

    def recording_raises(*args: object, **kwargs: object) -> object:
        return SWEEP.recording(raises(*args, **kwargs))  # type: ignore[call-overload]  # - pytest.raises' own arguments

    monkeypatch.setattr(pytest, "raises", recording_raises)
    yield
    problems = list(SWEEP.check())
    assert not problems, "errors a client would show a person:\n" + "\n".join(problems)


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """The sweep's totals, for the record."""
    if SWEEP.errors:
        terminalreporter.write_line(
            f"error message sweep: {SWEEP.errors} client errors expected by {SWEEP.tests} tests, "
            f"{SWEEP.messages} texts checked (no traceback, path or repeated sentence); "
            f"{SWEEP.with_id} carried a server's error id"
        )


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """No child process outlives the test run: whatever a test started and left running is killed."""
    left = kill_leftovers()
    if left:
        print(f"\nkilled processes left running by tests: {left}", file=sys.stderr)


@pytest.fixture(scope="session")
def server() -> Iterator[ServerProcess]:
    """One node with demo data for the whole session; its clean shutdown is checked at the end."""
    node = start_server()
    yield node
    code = node.stop()
    assert code == 0, "the server did not stop cleanly:\n" + "\n".join(node.lines[-50:])
    assert port_is_free(node.port), "the public port is still bound after shutdown"


@pytest.fixture
def adbc(server: ServerProcess) -> Iterator[object]:
    """An ADBC Flight SQL DBAPI connection to the session's server."""
    import adbc_driver_flightsql.dbapi

    with adbc_driver_flightsql.dbapi.connect(server.location) as connection:
        yield connection


@pytest.fixture(scope="session")
def spark() -> Iterator[object]:
    """A SparkSession in the test process, for tests that embed the FlightManager."""
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    from pyspark.sql import SparkSession

    session = (
        SparkSession.builder.master("local[2,3]")
        .config("spark.ui.enabled", "false")
        .config("spark.sql.session.timeZone", "UTC")
        .config("spark.ui.showConsoleProgress", "false")
        .getOrCreate()
    )
    session.sparkContext.setLogLevel("OFF")
    yield session
    session.stop()


@pytest.fixture(scope="session")
def zookeeper(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmbeddedZooKeeper]:
    """A started :class:`EmbeddedZooKeeper` on a free port for the whole session; ``.url`` is for kazoo."""
    zookeeper_server = EmbeddedZooKeeper(tmp_path_factory.mktemp("zookeeper"))
    zookeeper_server.start()
    try:
        yield zookeeper_server
    finally:
        zookeeper_server.stop()


@pytest.fixture(scope="session")
def cluster_pair(zookeeper: EmbeddedZooKeeper) -> Iterator[tuple[str, list[ServerProcess]]]:
    """(membership path, nodes): a plain two-node cluster on the session's ZooKeeper, shared by the
    modules that need one and leave it as they found it (a test may add a node for a while; one that
    stops or kills a node, or needs other settings, starts a cluster of its own). Each node must stop
    cleanly at the end."""
    with running_cluster(zookeeper.url, 2) as cluster:
        yield cluster


@pytest.fixture
def kazoo(zookeeper: EmbeddedZooKeeper) -> Iterator[KazooClient]:
    """A started kazoo client of the session's ZooKeeper."""
    client = KazooClient(hosts=zookeeper.url)
    client.start(timeout=30)
    yield client
    client.stop()
    client.close()
