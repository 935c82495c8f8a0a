"""flightsql-dbapi sends CommandStatementQuery without preparing; it must get the same rows."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import ROOT

DBAPI_DIR = ROOT / ".venv" / "flightsql-dbapi"
SCRIPT = Path(__file__).parent / "clients" / "flightsql_dbapi_query.py"


def run_client(server, sql: str) -> list[dict]:
    if not (DBAPI_DIR / "flightsql" / "client.py").exists():
        pytest.fail(f"flightsql-dbapi is not installed in {DBAPI_DIR}: run `make test`")
    host, port = server.location.removeprefix("grpc://").rsplit(":", 1)
    result = subprocess.run(
        [sys.executable, str(SCRIPT), host, port, sql],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=DBAPI_DIR,
        env={**os.environ, "PYTHONPATH": str(DBAPI_DIR)},
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return [json.loads(line) for line in result.stdout.splitlines()]


def test_statement_query_without_prepare(server) -> None:
    flight_result, dbapi_result = run_client(
        server, "SELECT customer_id, country FROM demo.customers WHERE customer_id <= 3 ORDER BY customer_id"
    )
    assert flight_result["schema"] == ["customer_id", "country"]
    assert flight_result["rows"] == [
        {"customer_id": 1, "country": "FR"},
        {"customer_id": 2, "country": "US"},
        {"customer_id": 3, "country": "JP"},
    ]
    assert dbapi_result["dbapi_rows"] == [[1, "FR"], [2, "US"], [3, "JP"]]
