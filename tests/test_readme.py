"""The README's client snippet runs against a real node and prints rows."""

from __future__ import annotations

import re
import subprocess
import sys

from conftest import ROOT


def test_readme_adbc_snippet_prints_rows(server) -> None:
    readme = (ROOT / "README.md").read_text()
    snippet = next(block for block in re.findall(r"```python\n(.*?)```", readme, re.S) if "flight_sql.connect" in block)
    assert "grpc://127.0.0.1:32010" in snippet
    code = snippet.replace("grpc://127.0.0.1:32010", server.location)
    result = subprocess.run(
        [sys.executable, "-W", "ignore::Warning", "-c", code], capture_output=True, text=True, timeout=120, check=False
    )
    assert result.returncode == 0, result.stderr
    assert "('BR', " in result.stdout or "('DE', " in result.stdout
    assert "100 ['product_id', 'name', 'category', 'price']" in result.stdout
    assert "Customer 1" in result.stdout
    assert "shape: (5, 4)" in result.stdout


def test_ci_runs_the_readme_test_command() -> None:
    ci = (ROOT / ".ci" / "run").read_text().strip().splitlines()[-1]
    assert ci == "make test"
    assert "make test " in (ROOT / "README.md").read_text()
