"""The benchmark harness (``benchmarks/harness.py``): its smoke mode runs every path end to end on a tiny
result, reports a row per path with positive figures (or why a path was skipped), and leaves no process
behind. Its numbers are not checked: benchmarks are not timed tests."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import ROOT

sys.path.insert(0, str(ROOT / "benchmarks"))

import harness
from bench_data import parse_sizes, query

SMOKE_TIMEOUT = 300.0
EXIT_TIMEOUT = 30.0
MEASURED = ("f", "g", "a", "c", "b")
"""The paths whose dependencies ship with the project; the others may be skipped, never failed."""


def session_members(session: int) -> set[int]:
    """Every living process of the given session id (Linux /proc)."""
    members = set()
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if fields[0] != "Z" and int(fields[3]) == session:
            members.add(int(stat.parent.name))
    return members


def wait_until_empty(session: int, timeout: float) -> set[int]:
    """Wait, with a deadline, until no process of ``session`` runs; returns those still running."""
    deadline = time.monotonic() + timeout
    while (left := session_members(session)) and time.monotonic() < deadline:
        time.sleep(0.2)
    return left


@pytest.fixture(scope="module")
def smoke(tmp_path_factory: pytest.TempPathFactory) -> tuple[subprocess.CompletedProcess[str], list[dict], int]:
    """One ``--smoke`` run of every path, in a session of its own so that its processes can be found."""
    out = tmp_path_factory.mktemp("bench")
    process = subprocess.Popen(
        [sys.executable, "-W", "ignore::Warning", str(ROOT / "benchmarks" / "harness.py"), "--smoke",
         "--paths", ",".join(harness.ALL_PATHS), "--out", str(out)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT, start_new_session=True,
    )
    try:
        stdout, stderr = process.communicate(timeout=SMOKE_TIMEOUT)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
    result = subprocess.CompletedProcess(process.args, process.returncode, stdout, stderr)
    rows = json.loads((out / "results.json").read_text()) if (out / "results.json").exists() else []
    return result, rows, process.pid


def test_smoke_run_succeeds(smoke: tuple[subprocess.CompletedProcess[str], list[dict], int]) -> None:
    result, _, _ = smoke
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]


def test_a_row_per_path_with_positive_figures(smoke: tuple[subprocess.CompletedProcess[str], list[dict], int]) -> None:
    result, rows, _ = smoke
    by_path = {row["path"]: row for row in rows}
    assert sorted(by_path) == sorted(harness.ALL_PATHS), rows
    for key, row in by_path.items():
        assert row["failed"] is None, row
        if key in MEASURED or row["skipped"] is None:
            assert row["skipped"] is None, row
            assert row["seconds"] > 0 and row["bytes"] > 0, row
            assert row["owner_jvm_peak"] > 0 and row["client_peak"] > 0, row
        else:
            assert row["skipped"], row  # a reason, shown in the table
    for key in ("a", "b", "c"):
        assert by_path[key]["first_batch"] > 0 and by_path[key]["owner_python_peak"] > 0
    assert [by_path[key]["endpoints"] for key in ("a", "b", "c")] == [1, 2, 1]  # two nodes: both serve a share
    same_bytes = {by_path[key]["bytes"] for key in ("f", "g")}
    assert len(same_bytes) == 1, same_bytes  # the floor measures the same Arrow data as toArrow()
    for key in harness.ALL_PATHS:
        assert f"| {key} | {harness.PATHS[key].label} | 20,000 |" in result.stdout


def test_markdown_written(smoke: tuple[subprocess.CompletedProcess[str], list[dict], int]) -> None:
    result, _, _ = smoke
    assert harness.HEADER in result.stdout
    assert "| time / Spark Connect | time / floor |" in harness.HEADER


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
    spec = harness.PathSpec("x", "needs a module", lambda: harness.missing_modules(("no_such_module_x", "nsm")),
                            lambda *_: pytest.fail("a path with missing dependencies must not run"))
    figures = harness.measure(spec, 10, 1)
    assert figures.skipped == "not installed: nsm" and figures.failed is None
    row = harness.table_row(figures, {})
    assert "skipped: not installed: nsm" in row and row.count("|") == harness.HEADER.count("|")


def test_unknown_path_rejected() -> None:
    with pytest.raises(SystemExit):
        harness.parse_args(["--paths", "a,z"])
