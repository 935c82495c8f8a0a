"""The benchmark harness (``benchmarks/harness.py``): its smoke mode runs every path end to end on a tiny
result, reports a row per path with positive figures (or why a path was skipped), and leaves no process
behind; its network mode (``--network``, ``benchmarks/netns.py``) builds namespaces with capped links,
measures one and two nodes through them and deletes every namespace it made (where ``ip netns`` works:
root and iproute2). Its numbers are not checked: benchmarks are not timed tests."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

# The benchmark modules import each other by name, as scripts in benchmarks/ do: conftest.py puts that
# folder on sys.path.
import bench_common
import fetch_paths
import goals
import harness
import netns
import pytest
import render_docs
import simnet
from bench_data import parse_sizes, query
from support import ROOT
from support.processes import kill_group, run_command, session_members, start
from support.server import ServerProcess
from support.waiting import wait_until

SMOKE_TIMEOUT = 1800.0
"""A limit, not a budget: the smoke run starts half a dozen Spark applications, a standalone cluster, a
Spark Connect and a Thrift server: minutes on an idle two-core machine, many more on a busy one. Past it
the run is killed with everything it started."""
SMOKE = ("--smoke", "--share-servers", "--paths", ",".join(fetch_paths.ALL_PATHS))
"""Every path end to end, on servers shared where paths run on the same ones (a and c share a node, b and
j a cluster, i's cluster reuses their ZooKeeper and standalone cluster, one Thrift Server serves d's
Spark Connect and e): each path's own machinery in the fewest JVM starts."""
NETWORK_SMOKE_TIMEOUT = 1800.0
"""A limit only: on an idle two-core machine the network smoke run takes about half a minute."""
TEST_TIMEOUT = SMOKE_TIMEOUT + 300
"""pytest-timeout's limit for a test that waits for a run: above the run's own, so that the run's
outcome (and what it printed) is what a failure shows."""
NETWORK_SMOKE = ("--network", "--smoke", "--nodes", "1,2", "--no-connect")
"""Tiny rows, 2000 Mbit/s links, one and two nodes and the uncapped ceiling: the namespaces, the caps,
nodes on a standalone Spark in namespaces and the teardown, in the least time (Spark Connect's server
would add two JVMs; the full run measures it)."""
EXIT_TIMEOUT = 120.0
MEASURED = ("f", "g", "a", "h", "c", "b", "i")
"""The paths whose dependencies ship with the project; the others may be skipped, never failed."""


def wait_until_empty(session: int, timeout: float) -> set[int]:
    """Wait until no process of ``session`` runs; returns those still running at the deadline."""
    try:
        wait_until(lambda: not session_members(session), timeout=timeout, interval=0.2)
    except AssertionError:
        pass
    return session_members(session)


@dataclass
class HarnessRun:
    """One ``harness.py`` run in a session of its own (so that its processes can be found by session id,
    which is its process id)."""

    result: subprocess.CompletedProcess[str]
    process: subprocess.Popen[str]

    @property
    def pid(self) -> int:
        return self.process.pid


def run_harness(*args: str, timeout: float) -> HarnessRun:
    """``harness.py args`` in a session of its own; past ``timeout`` it is ended with its whole session
    (SIGTERM first, which the harness answers by stopping what it started), and the test fails."""
    process = start(
        [sys.executable, "-W", "ignore::Warning", str(ROOT / "benchmarks" / "harness.py"), *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=ROOT,
    )
    try:
        stdout, stderr = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        kill_group(process)
        stdout, stderr = process.communicate()
        pytest.fail(f"the harness did not finish within {timeout} s:\n{stdout[-3000:]}\n{stderr[-3000:]}")
    except BaseException:
        kill_group(process)
        raise
    return HarnessRun(subprocess.CompletedProcess(process.args, process.returncode, stdout, stderr), process)


@pytest.fixture(scope="module")
def smoke(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[subprocess.CompletedProcess[str], list[dict], int]]:
    """One ``--smoke`` run of every path, in a session of its own so that its processes can be found;
    whatever it left running is killed once the module's tests have looked."""
    out = tmp_path_factory.mktemp("bench")
    run = run_harness(*SMOKE, "--out", str(out), timeout=SMOKE_TIMEOUT)
    yield run.result, bench_common.read_json(out / "results.json") or [], run.pid
    kill_group(run.process)


@pytest.mark.timeout(TEST_TIMEOUT)
def test_smoke_run_succeeds(smoke: tuple[subprocess.CompletedProcess[str], list[dict], int]) -> None:
    result, _, _ = smoke
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]


@pytest.mark.timeout(TEST_TIMEOUT)
def test_a_row_per_path_with_positive_figures(
    smoke: tuple[subprocess.CompletedProcess[str], list[dict], int],
) -> None:
    result, rows, _ = smoke
    by_path = {row["path"]: row for row in rows}
    assert sorted(by_path) == sorted(fetch_paths.ALL_PATHS), rows
    for key, row in by_path.items():
        assert row["failed"] is None, row
        if key in MEASURED or row["skipped"] is None:
            assert row["skipped"] is None, row
            assert row["seconds"] > 0 and row["bytes"] > 0, row
            assert row["owner_jvm_peak"] > 0 and row["client_peak"] > 0, row
        else:
            assert row["skipped"], row  # a reason, shown in the table
    for key in ("a", "b", "c", "h", "i"):
        assert by_path[key]["first_batch"] > 0 and by_path[key]["owner_python_peak"] > 0
    # two nodes: both serve a share
    assert [by_path[key]["endpoints"] for key in ("a", "b", "c", "h", "i")] == [1, 2, 1, 1, 2]
    same_bytes = {by_path[key]["bytes"] for key in ("f", "g")}
    assert len(same_bytes) == 1, same_bytes  # the floor measures the same Arrow data as toArrow()
    for key in fetch_paths.ALL_PATHS:
        assert f"| {key} | {fetch_paths.PATHS[key].label} | 20,000 |" in result.stdout


@pytest.mark.timeout(TEST_TIMEOUT)
def test_markdown_written(smoke: tuple[subprocess.CompletedProcess[str], list[dict], int]) -> None:
    result, _, _ = smoke
    assert fetch_paths.HEADER in result.stdout
    assert "| time / Spark Connect | time / floor |" in fetch_paths.HEADER


@pytest.mark.timeout(TEST_TIMEOUT)
def test_no_process_left_behind(smoke: tuple[subprocess.CompletedProcess[str], list[dict], int]) -> None:
    _, _, session = smoke
    assert not wait_until_empty(session, EXIT_TIMEOUT)


def test_sizes_parse() -> None:
    assert parse_sizes("1M,10m,20k,5000") == [1_000_000, 10_000_000, 20_000, 5000]
    with pytest.raises(ValueError):
        parse_sizes("0")


def test_every_type_in_the_query() -> None:
    for text in ("DOUBLE", "DECIMAL", "STRING", "DATE", "TIMESTAMP", "range(7)"):
        assert text in query(7)


def test_missing_dependencies_skip_not_crash() -> None:
    spec = fetch_paths.PathSpec(
        "x",
        "needs a module",
        lambda: bench_common.missing_modules(("no_such_module_x", "nsm")),
        lambda *_: pytest.fail("a path with missing dependencies must not run"),
    )
    figures = fetch_paths.measure(spec, 10, 1)
    assert figures.skipped == "not installed: nsm" and figures.failed is None
    row = fetch_paths.table_row(figures, {})
    assert "skipped: not installed: nsm" in row and row.count("|") == fetch_paths.HEADER.count("|")


def test_unknown_path_rejected() -> None:
    with pytest.raises(SystemExit):
        harness.parse_args(["--paths", "a,z"])


# ---------------------------------------------------------------- the network mode (netns.py)


@dataclass
class NetworkSmoke:
    """One ``--network --smoke`` run: its outcome, its JSON, its process id, and what it left behind."""

    result: subprocess.CompletedProcess[str]
    report: dict
    pid: int
    left_behind: list[str]


@pytest.fixture(scope="module")
def network_smoke(tmp_path_factory: pytest.TempPathFactory) -> Iterator[NetworkSmoke]:
    """One network smoke run in a session of its own; skipped where ``ip netns`` does not work."""
    reason = simnet.netns_unavailable()
    if reason is not None:
        pytest.skip(f"the network benchmark needs ip netns: {reason}")
    out = tmp_path_factory.mktemp("bench-network")
    run = run_harness(*NETWORK_SMOKE, "--out", str(out), timeout=NETWORK_SMOKE_TIMEOUT)
    left_behind = simnet.owned_by(run.pid)
    simnet.sweep_stale()  # the run's process is gone: whatever it left is removed before the assertions
    yield NetworkSmoke(run.result, bench_common.read_json(out / "network.json") or {}, run.pid, left_behind)
    kill_group(run.process)


@pytest.mark.timeout(TEST_TIMEOUT)
def test_network_smoke_run_succeeds(network_smoke: NetworkSmoke) -> None:
    """The run exits 0 and prints the report with the two-node ratio."""
    result = network_smoke.result
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert netns.HEADER in result.stdout and "2 nodes / 1 node = **" in result.stdout


@pytest.mark.timeout(TEST_TIMEOUT)
def test_network_rows_have_positive_figures(network_smoke: NetworkSmoke) -> None:
    """One, two nodes (both clients) and the ceiling, each measured, the same bytes through each, an
    endpoint per node."""
    rows = {row["key"]: row for row in network_smoke.report["results"]}
    assert sorted(rows) == ["1", "2", "2f", "ceiling"], rows
    for row in rows.values():
        assert row["failed"] is None and row["skipped"] is None, row
        assert row["seconds"] > 0 and row["bytes"] > 0 and row["rows"] == 20_000, row
    assert len({row["bytes"] for row in rows.values()}) == 1  # the same result through every configuration
    assert [rows[key]["endpoints"] for key in ("1", "2", "ceiling")] == [1, 2, 2]
    assert rows["1"]["rate_mbit"] == netns.SMOKE_RATE_MBIT and rows["ceiling"]["capped_links"] == 0
    assert network_smoke.report["meta"]["machine"]["cores"] == os.cpu_count()


@pytest.mark.timeout(TEST_TIMEOUT)
def test_network_run_leaves_no_namespace_and_no_process(network_smoke: NetworkSmoke) -> None:
    """Every namespace, link and process of the run is gone once it has exited."""
    assert network_smoke.left_behind == []
    assert not [name for name in simnet.namespaces() if simnet.owner_of(name) == network_smoke.pid]
    assert not wait_until_empty(network_smoke.pid, EXIT_TIMEOUT)  # its session id is its process id


def test_network_mode_skips_where_netns_does_not_work(monkeypatch: pytest.MonkeyPatch) -> None:
    """Without ip netns every row is skipped with the reason, none failed."""
    monkeypatch.setattr(simnet, "netns_unavailable", lambda: "needs root (ip netns, veth and tc)")
    options = netns.Options(sizes=[1000], runs=1, rate_mbit=100.0, nodes=[1, 2])
    rows = netns.measure_all(options)
    assert [row.key for row in rows] == ["1", "2", "2f", "connect", "ceiling"]
    assert all(row.skipped == "needs root (ip netns, veth and tc)" and row.failed is None for row in rows)
    assert "skipped: needs root" in netns.table_row(rows[0], rows)


def link_figures(key: str, nodes: int, seconds: float, capped: bool = True) -> netns.LinkFigures:
    """A measured row of 1M rows (55 MB of Arrow) through ``nodes`` links of 200 Mbit/s, or uncapped ones."""
    return netns.LinkFigures(
        key,
        key,
        nodes,
        1_000_000,
        nodes if capped else 0,
        200.0 if capped else None,
        seconds=seconds,
        bytes=55_000_000,
        endpoints=max(nodes, 1),
    )


def test_network_ratios_and_the_bottleneck_check() -> None:
    """The ratios against one node, the goal's verdict, and the warning when the cores may be the bottleneck."""
    results = [
        link_figures("1", 1, 2.4),
        link_figures("2", 2, 1.25),
        link_figures("3", 3, 0.9),
        link_figures("2f", 2, 2.3),
        link_figures("connect", 1, 2.6),
        link_figures("ceiling", 3, 0.5, capped=False),
    ]
    summary = "\n".join(netns.summary_lines(results))
    assert "ADBC fetch_record_batch(): 2 nodes / 1 node = 1.04x." in summary
    assert "2 nodes / 1 node = **1.92x** (goal >= 1.8x: met)" in summary
    assert "3 nodes / 1 node = **2.67x**" in summary and "1 node / Spark Connect = 1.08x" in summary
    assert "110.0 MB/s" in summary and "1.5x what their 3 capped links carry (75.0 MB/s)" in summary
    assert "WARNING" not in summary
    table = netns.table_lines(results)
    assert all(line.count("|") == netns.HEADER.count("|") for line in table)
    assert "| 2 | 2 | 1,000,000 | 2 x 200 | 1.250 | 800,000 | 44.0 | 88% |" in table[3]
    slow = [
        link_figures("1", 1, 2.4),
        link_figures("2", 2, 2.0),
        link_figures("ceiling", 2, 1.0, capped=False),
    ]
    summary = "\n".join(netns.summary_lines(slow))
    assert "goal >= 1.8x: NOT met" in summary and "WARNING" in summary


def test_docs_render_from_the_json(tmp_path: Path) -> None:
    """render_docs fills only the generated section, from both JSON reports, and is idempotent."""
    doc = tmp_path / "benchmarks.md"
    doc.write_text(f"# Title\n\n{render_docs.BEGIN}\nold\n{render_docs.END}\n\nafter\n")
    results = tmp_path / "results"
    results.mkdir()
    render_docs.render(results, doc)
    assert render_docs.NO_RESULTS in doc.read_text() and "old" not in doc.read_text()
    netns.write_results(
        [link_figures("1", 1, 2.4), link_figures("2", 2, 1.25)],
        {
            "rate_mbit": 200.0,
            "runs": 3,
            "nodes": [1, 2],
            "partitions": 12,
            "slots": 6,
            "cores": 2,
            "machine": bench_common.machine_info(),
        },
        results,
    )
    figures = [
        fetch_paths.Figures("a", fetch_paths.PATHS["a"].label, 1_000_000, seconds=2.0, bytes=55_000_000)
    ]
    fetch_paths.write_results(figures, 3, results)
    render_docs.render(results, doc)
    text = doc.read_text()
    assert text.startswith("# Title") and text.rstrip().endswith("after")
    assert fetch_paths.HEADER in text and netns.HEADER in text and "2 nodes / 1 node = **1.92x**" in text
    assert "two nodes deliver at least 1.8x one node's throughput at 1,000,000 rows: 1.92x, **met**" in text
    assert "](results/network.png)" in text and "](results/results.png)" in text
    render_docs.render(results, doc)
    assert doc.read_text() == text  # rendering again changes nothing


def made(path: str, rows: int, seconds: float, **extra: Any) -> fetch_paths.Figures:
    return fetch_paths.Figures(
        path, fetch_paths.PATHS[path].label, rows, seconds=seconds, bytes=rows * 55, **extra
    )


def test_goals_are_judged_from_the_figures() -> None:
    """Each goal is met or not by the numbers given, at 10M rows where measured."""
    peaks = {"owner_python_peak": 200_000_000, "owner_jvm_peak": 800_000_000}
    measured = [
        made("d", 10_000_000, 3.0),
        made("g", 10_000_000, 1.5),
        made("a", 10_000_000, 2.0, first_batch=1.8),
        made("h", 10_000_000, 1.9, first_batch=0.2),
        made("a", 1_000_000, 0.3),
        made("e", 1_000_000, 4.5),
        made("b", 1_000_000, 0.5, **peaks),
        made("b", 30_000_000, 6.0, owner_python_peak=450_000_000, owner_jvm_peak=800_000_000),
        made("i", 1_000_000, 0.5, **peaks),
        made("i", 30_000_000, 6.0, owner_python_peak=210_000_000, owner_jvm_peak=850_000_000),
    ]
    text = "\n".join(goals.goal_lines(measured))
    assert (
        "One node, at least 1.5x Spark Connect's throughput at 10,000,000 rows: 1.50x (2.00 s against 3.00 s), **met**"
        in text
    )
    assert (
        "One node, within 1.3x of the floor at 10,000,000 rows: 1.33x (2.00 s against 1.50 s), **NOT met**"
        in text
    )
    assert (
        "at least 20x the Thrift Server path at 1,000,000 rows: 15.0x" in text
        and "15.0x (0.30 s against 4.50 s), **NOT met**" in text
    )
    assert (
        "Two nodes, the owning node's peak memory grows less than 20% from 1,000,000 to 30,000,000 rows: +25%"
        in text
    )
    assert (
        "+25% (1,000 MB to 1,250 MB; its Python server +125%, 200 to 450 MB; its JVM +0%), **NOT met**"
        in text
    )
    assert (
        "Two nodes, early streaming, the owning node's peak memory grows less than 20% from 1,000,000 to 30,000,000 rows: +6%"
        in text
    )
    assert (
        "One node, first batch within 25% of the total at 10,000,000 rows: 90% (1.80 s of 2.00 s), **NOT met**"
        in text
    )
    assert "One node, early streaming, first batch within 25% of the total at 10,000,000 rows: 11%" in text
    assert "- Simulated network: not measured." in text


@pytest.mark.timeout(TEST_TIMEOUT)
def test_stages_smoke(tmp_path: Path, server: ServerProcess) -> None:
    """benchmarks/stages.py measures its four stages of one node's data path and writes them out; its
    fourth stage goes through the session's node (the smoke run above starts path a's node)."""
    result = run_command(
        [
            sys.executable,
            "-W",
            "ignore::Warning",
            str(ROOT / "benchmarks" / "stages.py"),
            "--rows",
            "20k",
            "--runs",
            "1",
            "--out",
            str(tmp_path),
            "--location",
            server.location,
        ],
        text=True,
        timeout=SMOKE_TIMEOUT,
        cwd=ROOT,
    )
    assert result.returncode == 0, result.stderr[-3000:] + "\nthe node:\n" + server.tail()
    measured = json.loads((tmp_path / "stages.json").read_text())
    assert measured["rows"] == 20_000 and len(measured["stages"]) == 4
    assert all(seconds > 0 for _, seconds in measured["stages"])
    assert "| + a node holds them and streams them to an ADBC client (path a) |" in result.stdout


def test_update_replaces_only_what_was_measured_again(tmp_path: Path) -> None:
    """--update keeps the last run's other rows and orders the table by size, then path."""
    fetch_paths.write_results(
        [made("a", 1_000, 1.0), made("d", 1_000, 2.0), made("a", 2_000, 3.0)], 3, tmp_path
    )
    result = harness.merged(
        harness.previous_results(tmp_path, 3), [made("d", 1_000, 5.0), made("f", 2_000, 4.0)]
    )
    assert [(f.path, f.rows, f.seconds) for f in result] == [
        ("a", 1_000, 1.0),
        ("d", 1_000, 5.0),
        ("f", 2_000, 4.0),
        ("a", 2_000, 3.0),
    ]
    with pytest.raises(SystemExit, match="medians of 3 run"):
        harness.previous_results(tmp_path, 1)


def test_a_worker_failure_names_its_cause() -> None:
    stderr = (
        "Traceback (most recent call last):\n  py4j.protocol.Py4JJavaError: An error occurred\n"
        "\tat org.apache.spark.Foo(Foo.scala:1)\n"
        "Caused by: org.apache.spark.SparkException: Job aborted: results bigger than spark.driver.maxResultSize\n"
        "\tat org.apache.spark.Bar(Bar.scala:2)\n"
    )
    assert bench_common.failure_reason(stderr).endswith("bigger than spark.driver.maxResultSize")
    assert bench_common.failure_reason("one\ntwo\n") == "one\ntwo"


def test_the_documentation_has_a_generated_section() -> None:
    """docs/benchmarks.md has exactly one generated section for --write-docs."""
    text = (ROOT / "docs" / "benchmarks.md").read_text()
    assert text.count(render_docs.BEGIN) == 1 and text.count(render_docs.END) == 1
    assert "harness.py --network" in text


def test_names_carry_the_run_process_id() -> None:
    """Namespace and link names tell which run made them; tbf's bucket follows the rate."""
    assert simnet.owner_of("sfsbench-1234-n1") == 1234 and simnet.owner_of("sfsb1234n1") == 1234
    assert simnet.owner_of("sfsb77br") == 77 and simnet.owner_of("eth0") is None
    assert simnet.owner_of("sfsbench-x-n1") is None
    assert simnet.tbf_burst(200.0) == 100_000 and simnet.tbf_burst(10.0) == 8 * 1024


def test_network_options() -> None:
    """--network's defaults, its smoke defaults, and a bad rate refused."""
    args = harness.parse_args(["--network", "--smoke", "--nodes", "3"])
    assert args.options.nodes == [1, 3] and args.options.rate_mbit == netns.SMOKE_RATE_MBIT
    assert args.options.sizes == list(netns.SMOKE_SIZES) and args.options.runs == 1
    args = harness.parse_args(["--network", "--sizes", "1M", "--rate", "300"])
    assert args.options.sizes == [1_000_000] and args.options.rate_mbit == 300.0 and args.options.runs == 3
    with pytest.raises(SystemExit):
        harness.parse_args(["--network", "--rate", "-5"])
