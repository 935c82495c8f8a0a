"""Every script of ``examples/`` runs: the client recipes against a demo node, and the Parquet Flight
server (the FlightManager embedded in a plain Flight server) alone and as a two-node cluster."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.flight as flight
import pyarrow.parquet as pq
import pytest
from adbc_driver_manager.dbapi import Connection
from support import ROOT
from support.cluster import wait_for_members
from support.processes import COMMAND_TIMEOUT, run_command, start
from support.server import ServerProcess, free_port_for_tests, port_is_free, serving

from spark_flight_sql.flightsql.devtools.zookeeper import EmbeddedZooKeeper

EXAMPLES = ROOT / "examples"
PARQUET_READY = "parquet-flight-server: serving on "
EVENT_FILES = 4
EVENTS_PER_FILE = 2_500
EVENTS = EVENT_FILES * EVENTS_PER_FILE
KINDS = ("a", "b", "c", "d")


# ---- helpers ---------------------------------------------------------------------------------


def run_example(name: str, *args: str, cwd: Path | None = None, timeout: float = COMMAND_TIMEOUT) -> str:
    """Run ``examples/<name>`` with warnings as errors; its stdout, after checking it succeeded."""
    result = run_command(
        [sys.executable, "-W", "error", str(EXAMPLES / name), *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=cwd or ROOT,
        check=False,
    )
    assert result.returncode == 0, f"{name} failed:\n{result.stdout[-2000:]}\n{result.stderr[-4000:]}"
    return result.stdout


def event_table(file_index: int) -> pa.Table:
    """One file of the ``events`` dataset: ids ``file_index * EVENTS_PER_FILE`` onwards."""
    ids = pa.array(range(file_index * EVENTS_PER_FILE, (file_index + 1) * EVENTS_PER_FILE), pa.int64())
    return pa.table(
        {
            "id": ids,
            "kind": pa.array([KINDS[i % len(KINDS)] for i in ids.to_pylist()]),
            "amount": pa.array([float(i % 100) for i in ids.to_pylist()]),
        }
    )


def all_events() -> pa.Table:
    """Every file of the ``events`` dataset, in id order."""
    return pa.concat_tables([event_table(index) for index in range(EVENT_FILES)])


def start_parquet_server(data: Path, workdir: Path, *conf: str, port: int = 0) -> ServerProcess:
    """Start ``examples/parquet_flight_server.py`` and wait (with a deadline) for its ready line."""
    command = [
        sys.executable,
        "-W",
        "error",
        str(EXAMPLES / "parquet_flight_server.py"),
        "--data",
        str(data),
        "--port",
        str(port),
        "--master",
        "local[2]",
        "--conf",
        "spark.flight.internal.port=0",
        "--conf",
        "spark.ui.enabled=false",
        "--conf",
        f"spark.flight.buffer.spillDir={workdir / 'spill'}",
        "--conf",
        f"spark.sql.warehouse.dir={workdir / 'warehouse'}",
        # One file per Spark partition, so that every node of a cluster gets a share.
        "--conf",
        "spark.sql.files.openCostInBytes=134217728",
    ]
    for setting in conf:
        command += ["--conf", setting]
    # A session of its own, so that a stop can signal the whole group (the JVM too) as Ctrl-C does.
    process = start(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd=workdir)
    return serving(ServerProcess(process, ready_marker=PARQUET_READY))


def stop_cleanly(node: ServerProcess, *, ctrl_c: bool = False) -> None:
    """Stop an example server with SIGTERM, or SIGINT to its process group (Ctrl-C in a terminal);
    it must exit 0, say so last, and free its port."""
    if ctrl_c:
        os.killpg(node.process.pid, signal.SIGINT)
    else:
        node.process.send_signal(signal.SIGTERM)
    assert node.wait_exit() == 0, "\n".join(node.lines[-40:])
    assert node.lines[-1] == "parquet-flight-server: stopped"
    assert port_is_free(node.port)


def command(
    path: str, columns: list[str] | None = None, filter_: str | None = None
) -> flight.FlightDescriptor:
    """A CMD descriptor of the example server."""
    return flight.FlightDescriptor.for_command(
        json.dumps({"path": path, "columns": columns, "filter": filter_}).encode()
    )


def read_all_endpoints(
    location: str, descriptor: flight.FlightDescriptor
) -> tuple[flight.FlightInfo, list[pa.Table]]:
    """The FlightInfo and each endpoint's share, read from the endpoint's own location."""
    with flight.FlightClient(location) as client:
        info = client.get_flight_info(descriptor)
    shares = []
    for endpoint in info.endpoints:
        with flight.FlightClient(endpoint.locations[0]) as node:
            shares.append(node.do_get(endpoint.ticket).read_all())
    return info, shares


def sorted_ids(shares: list[pa.Table]) -> list[int]:
    """The ids of every share together, sorted (duplicates kept, so that a row sent twice shows)."""
    return sorted(pa.concat_tables(shares).column("id").to_pylist())


# ---- the Parquet Flight server ---------------------------------------------------------------


@pytest.fixture(scope="module")
def parquet_data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder with two datasets (a folder of files and a single file) and a file that is none."""
    data = tmp_path_factory.mktemp("parquet-data")
    (data / "events").mkdir()
    for index in range(EVENT_FILES):
        pq.write_table(event_table(index), data / "events" / f"part-{index}.parquet")
    small = pa.table({"n": pa.array(range(50), pa.int32()), "label": [f"l{i}" for i in range(50)]})
    pq.write_table(small, data / "small.parquet")
    (data / "notes.txt").write_text("not a dataset")
    return data


@pytest.fixture(scope="module")
def parquet_node(parquet_data: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """One example server (manager ``local``) on a chosen free port."""
    port = free_port_for_tests()
    node = start_parquet_server(parquet_data, tmp_path_factory.mktemp("parquet-node"), port=port)
    assert node.location == f"grpc://127.0.0.1:{port}"
    yield node
    stop_cleanly(node, ctrl_c=True)


def test_list_flights_shows_each_dataset_with_its_schema(parquet_node: ServerProcess) -> None:
    with flight.FlightClient(parquet_node.location) as client:
        infos = list(client.list_flights())
    assert [info.descriptor.path for info in infos] == [[b"events"], [b"small.parquet"]]
    assert [info.schema.names for info in infos] == [["id", "kind", "amount"], ["n", "label"]]


def test_a_path_descriptor_reads_the_whole_dataset_once(parquet_node: ServerProcess) -> None:
    info, shares = read_all_endpoints(parquet_node.location, flight.FlightDescriptor.for_path("events"))
    assert len(info.endpoints) == 1
    assert info.schema.names == ["id", "kind", "amount"]
    assert sorted_ids(shares) == list(range(EVENTS))
    table = pa.concat_tables(shares).sort_by("id")
    assert table.select(["kind", "amount"]).equals(all_events().select(["kind", "amount"]))


def test_a_command_applies_its_columns_and_filter(parquet_node: ServerProcess) -> None:
    descriptor = command("events", ["amount", "id"], "kind = 'b' AND amount >= 50")
    info, shares = read_all_endpoints(parquet_node.location, descriptor)
    assert info.schema.names == ["amount", "id"]
    events = all_events()
    expected = events.filter(pc.and_(pc.equal(events["kind"], "b"), pc.greater_equal(events["amount"], 50.0)))
    assert expected.num_rows > 0
    assert sorted_ids(shares) == sorted(expected.column("id").to_pylist())
    assert all(share.schema.names == ["amount", "id"] for share in shares)


@pytest.mark.parametrize(
    ("descriptor", "error", "message"),
    [
        (flight.FlightDescriptor.for_path("missing"), pa.ArrowKeyError, "no dataset 'missing'"),
        (command("../parquet-data"), pa.ArrowKeyError, "no dataset"),
        (command("notes.txt"), pa.ArrowKeyError, "no dataset"),
        (command("events", ["nope"]), pa.ArrowInvalid, "UNRESOLVED_COLUMN"),
        (command("events", None, "nope > 1"), pa.ArrowInvalid, "UNRESOLVED_COLUMN"),
        (flight.FlightDescriptor.for_command(b"not json"), pa.ArrowInvalid, "CMD descriptor holds JSON"),
    ],
)
def test_bad_requests_get_a_clear_status(
    parquet_node: ServerProcess, descriptor: flight.FlightDescriptor, error: type[Exception], message: str
) -> None:
    with flight.FlightClient(parquet_node.location) as client, pytest.raises(error, match=message):
        client.get_flight_info(descriptor)


def test_the_client_example_reads_every_flight(parquet_node: ServerProcess) -> None:
    lines = run_example("read_parquet_flight_server.py", parquet_node.location).splitlines()
    assert lines == [
        f"events: {EVENTS} rows, 1 endpoints, columns id,kind,amount",
        "small.parquet: 50 rows, 1 endpoints, columns n,label",
    ]
    filtered = run_example(
        "read_parquet_flight_server.py", parquet_node.location, "events", "id", "kind = 'a'"
    )
    assert filtered.splitlines() == [f"events: {EVENTS // len(KINDS)} rows, 1 endpoints, columns id"]


def test_two_example_servers_form_a_cluster(
    zookeeper: EmbeddedZooKeeper,
    parquet_data: Path,
    tmp_path: Path,
) -> None:
    root = f"/examples-{uuid.uuid4().hex[:8]}"
    conf = (
        "spark.flight.manager=zookeeper",
        f"spark.flight.manager.zookeeper.url={zookeeper.url}",
        f"spark.flight.manager.zookeeper.membershipPath={root}",
        "spark.flight.manager.zookeeper.sessionTimeout=4",
    )
    nodes: list[ServerProcess] = []
    try:
        for index in range(2):
            workdir = tmp_path / f"node-{index}"
            workdir.mkdir()
            nodes.append(
                start_parquet_server(parquet_data, workdir, *conf, f"spark.flight.node.id=node-{index}")
            )
        wait_for_members(zookeeper.url, root, 2)
        info, shares = read_all_endpoints(nodes[1].location, flight.FlightDescriptor.for_path("events"))
        assert sorted(endpoint.locations[0].uri.decode() for endpoint in info.endpoints) == sorted(
            n.location for n in nodes
        )
        assert all(share.num_rows > 0 for share in shares)  # both nodes served a share
        assert sorted_ids(shares) == list(range(EVENTS))

        _, shares = read_all_endpoints(nodes[0].location, command("events", ["id"], "amount < 10"))
        assert sorted_ids(shares) == [i for i in range(EVENTS) if i % 100 < 10]
        output = run_example("read_parquet_flight_server.py", nodes[0].location, "small.parquet")
        assert output.splitlines() == ["small.parquet: 50 rows, 2 endpoints, columns n,label"]
    finally:
        for node in nodes:
            stop_cleanly(node)


# ---- client recipes against a Flight SQL node with the demo tables ----------------------------


def scalar(adbc: Connection, sql: str) -> object:
    """The one value of a query, through the session server's ADBC connection."""
    with adbc.cursor() as cursor:
        cursor.execute(sql)
        return cursor.fetchone()[0]


def test_adbc_dbapi_example(server: ServerProcess) -> None:
    lines = run_example("adbc_dbapi.py", server.location).splitlines()
    assert lines == [
        "customers per country: [('BR', 200), ('DE', 200), ('FR', 200), ('JP', 200), ('US', 200)]",
        "books: 25 rows, columns ['product_id', 'name', 'category', 'price']",
        "sales: 100000 rows from 1 endpoints",
    ]


def test_pandas_read_sql_example(server: ServerProcess, adbc: Connection) -> None:
    output = run_example("pandas_read_sql.py", server.location)
    assert f"total units: {scalar(adbc, 'SELECT sum(quantity) FROM demo.sales')}\n" in output
    assert "customers: ['customer_id', 'name', 'country', 'signup_date'], first 'Customer 1'" in output
    assert all(category in output for category in ("books", "games", "garden", "kitchen"))


def test_polars_read_database_example(server: ServerProcess) -> None:
    lines = run_example("polars_read_database.py", server.location).splitlines()
    assert lines[0] == "dates: 731 rows, per year [(2024, 366), (2025, 365)]"
    assert lines[1].startswith("sales: 100000 rows, top customer (")


def test_sqlalchemy_example(server: ServerProcess) -> None:
    lines = run_example("sqlalchemy_query.py", server.location).splitlines()
    assert lines == [
        "first customers: [(1, 'Customer 1'), (2, 'Customer 2'), (3, 'Customer 3')]",
        "per country: [('BR', 200), ('DE', 200), ('FR', 200), ('JP', 200), ('US', 200)]",
        "columns: ['product_id', 'name', 'category', 'price']",
    ]


def test_spark_datasource_example_reads_and_writes_back(
    server: ServerProcess, adbc: Connection, tmp_path: Path
) -> None:
    table = f"default.examples_{uuid.uuid4().hex[:8]}"
    units = scalar(adbc, "SELECT sum(quantity) FROM demo.sales")
    try:
        output = run_example("spark_datasource.py", server.location, table, cwd=tmp_path)
        assert "read: schema struct<date:date,quantity:int>" in output
        assert f"wrote {table}: 731 days, {units} units" in output
        assert scalar(adbc, f"SELECT count(*) FROM {table}") == 731
    finally:
        with adbc.cursor() as cursor:
            cursor.execute(f"DROP TABLE IF EXISTS {table}")
