"""The benchmark script runs end to end on a tiny result, so it never rots (its numbers are not checked)."""

from __future__ import annotations

import subprocess
import sys

from conftest import ROOT


def test_fetch_vs_to_arrow_smoke() -> None:
    result = subprocess.run(
        [sys.executable, "-W", "ignore::Warning", str(ROOT / "benchmarks" / "fetch_vs_to_arrow.py"), "--rows", "20000", "--runs", "1"],
        capture_output=True, text=True, timeout=600, cwd=ROOT, check=False,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert "| ADBC through one node |" in result.stdout
    assert "ratio (toArrow time / node time):" in result.stdout
