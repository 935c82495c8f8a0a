"""The benchmark script runs end to end on a tiny result, so it never rots (its numbers are not checked).

One run covers every path: one node, the two-node ZooKeeper cluster, and ``df.toArrow()``.
"""

from __future__ import annotations

import sys

import pytest
from support import ROOT
from support.processes import run_command

SMOKE_TIMEOUT = 1800.0
"""A limit, not a budget: the script starts three Spark applications and a ZooKeeper one after another,
minutes on a busy two-core machine. Past it the script is killed with everything it started."""


@pytest.mark.timeout(SMOKE_TIMEOUT + 300)
def test_fetch_vs_to_arrow_smoke() -> None:
    result = run_command(
        [
            sys.executable,
            "-W",
            "ignore::Warning",
            str(ROOT / "benchmarks" / "fetch_vs_to_arrow.py"),
            "--rows",
            "20000",
            "--runs",
            "1",
        ],
        capture_output=True,
        text=True,
        timeout=SMOKE_TIMEOUT,
        cwd=ROOT,
        check=False,
    )
    output = result.stdout
    assert result.returncode == 0, output[-3000:] + result.stderr[-3000:]
    for row in (
        "| ADBC through one node |",
        "| ADBC through two nodes (ZooKeeper, both endpoints) |",
        "| in-process df.toArrow() |",
        "| node | Python RSS | JVM RSS | peak buffered |",
        "| one node |",
        "| two nodes: node-1 |",
        "| two nodes: node-2 |",
        "ratio (toArrow time / one-node time):",
        "ratio (one-node time / two-node time):",
    ):
        assert row in output, f"{row!r} missing from:\n{output}"
    memory_rows = [line for line in output.splitlines() if line.startswith(("| one node |", "| two nodes: "))]
    assert len(memory_rows) == 3 and not any("| - |" in line for line in memory_rows), (
        memory_rows
    )  # all peaks read
