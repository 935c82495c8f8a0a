"""The README's client snippet runs against a real node and prints rows."""

from __future__ import annotations

import re
import subprocess
import sys

from support import ROOT
from support.processes import COMMAND_TIMEOUT, run_command, start


def test_readme_adbc_snippet_prints_rows(server) -> None:
    readme = (ROOT / "README.md").read_text()
    snippet = next(
        block for block in re.findall(r"```python\n(.*?)```", readme, re.S) if "flight_sql.connect" in block
    )
    assert "grpc://127.0.0.1:32010" in snippet
    stdout = run_python(snippet.replace("grpc://127.0.0.1:32010", server.location))
    assert "('BR', " in stdout or "('DE', " in stdout
    assert "100 ['product_id', 'name', 'category', 'price']" in stdout
    assert "Customer 1" in stdout
    assert "shape: (5, 4)" in stdout


def test_ci_runs_the_readme_test_command() -> None:
    ci = (ROOT / ".ci" / "run").read_text().strip().splitlines()[-1]
    assert ci == "make test"
    assert "make test " in (ROOT / "README.md").read_text()


def test_readme_cluster_section_starts_zookeeper_and_two_nodes(tmp_path) -> None:
    """Run the README's three cluster commands (on free ports) and read a result from both nodes."""
    import shlex

    import adbc_driver_flightsql.dbapi
    import pyarrow.flight as flight
    from support.server import ServerProcess, free_port_for_tests

    readme = (ROOT / "README.md").read_text()
    section = readme.split("## A cluster on one machine", 1)[1]
    block = re.search(r"```bash\n(.*?)```", section, re.S).group(1)
    commands = [shlex.split(c.replace("\\\n", " ")) for c in block.strip().split("\n\n")]
    assert [c[1] for c in commands] == ["zookeeper", "serve", "serve"]
    ports = {p: str(free_port_for_tests()) for p in ("2181", "32010", "32011", "32020", "32021")}

    def localize(argv: list[str]) -> list[str]:
        out = [sys.executable, "-m", "spark_flight_sql.flightsql"]
        for arg in argv[1:]:
            for old, new in ports.items():
                arg = arg.replace(f":{old}", f":{new}").replace(f"={old}", f"={new}")
                if arg == old:
                    arg = new
            out.append(str(tmp_path / arg.removeprefix("/tmp/")) if arg.startswith("/tmp/") else arg)
        return out

    processes: list[ServerProcess] = []
    try:
        for argv, ready in zip(
            commands, ("ZooKeeper serving on", "serving Flight SQL on", "serving Flight SQL on")
        ):
            process = start(
                localize(argv), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd=ROOT
            )
            node = ServerProcess(process)
            processes.append(node)
            node.ready_marker = ready
            node.wait_ready()
        first, second = processes[1].location, processes[2].location
        with adbc_driver_flightsql.dbapi.connect(first, autocommit=True) as connection:
            with connection.cursor() as cursor:
                partitions, _ = cursor.adbc_execute_partitions("SELECT id FROM range(0, 100000, 1, 4)")
        locations = {
            flight.FlightInfo.deserialize(p).endpoints[0].locations[0].uri.decode() for p in partitions
        }
        assert locations == {first, second}
    finally:
        for node in reversed(processes):
            assert node.stop() == 0


def readme_snippet(section: str) -> str:
    """The first Python block under the README heading ``section``."""
    readme = (ROOT / "README.md").read_text()
    text = readme.split(f"### {section}\n", 1)[1]
    return re.search(r"```python\n(.*?)```", text, re.S).group(1)


def run_python(code: str) -> str:
    """What ``code``, run by this interpreter in a process of its own, printed; it must succeed."""
    result = run_command(
        [sys.executable, "-W", "ignore::Warning", "-c", code],
        capture_output=True,
        text=True,
        timeout=COMMAND_TIMEOUT,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


def run_snippet(code: str, server) -> str:
    code = "import adbc_driver_flightsql.dbapi as flight_sql\n" + code.replace(
        "127.0.0.1:32010", server.location.removeprefix("grpc://")
    )
    return run_python(code)


def test_readme_parameters_snippet(server) -> None:
    assert run_snippet(readme_snippet("Parameters and updates"), server).strip() == "2"


def test_readme_sessions_snippet(server) -> None:
    assert run_snippet(readme_snippet("Sessions"), server).strip() == "[(1000, 'Europe/Paris')]"


def test_readme_sqlalchemy_snippet(server) -> None:
    output = run_snippet(readme_snippet("Clients we test"), server)
    assert "(1, 'Customer 1'" in output and "'name': 'customer_id'" in output


def test_readme_data_source_snippet_reads_both_servers_and_writes_back(server, spark) -> None:
    """The data source section's block, run in this process's Spark: our node stands for the
    cluster, the toy non-Spark server for "any other Flight SQL server"."""
    import pyarrow as pa
    from flightsql_toy_server import ToyFlightSqlServer

    readme = (ROOT / "README.md").read_text()
    section = readme.split("## Read and write from Spark: the `flightsql` data source", 1)[1]
    code = re.search(r"```python\n(.*?)```", section, re.S).group(1)
    events = pa.table({"id": list(range(50)), "kind": ["click", "view"] * 25})
    with ToyFlightSqlServer({"events": events}, username="me", password="secret") as toy:
        code = code.replace("grpc://127.0.0.1:32010", server.location).replace(
            "grpc+tls://flight.example.com:443", toy.uri
        )
        scope: dict[str, object] = {"spark": spark}
        exec(compile(code, "README.md", "exec"), scope)
        assert scope["other"].count() == 50

    def count(table: str) -> int:
        return (
            spark.read.format("flightsql")
            .option("uri", server.location)
            .option("dbtable", table)
            .load()
            .count()
        )

    assert count("default.sales_copy") == count("demo.sales") > 0
