"""flightsql-dbapi 0.2.2: its bare client, its DB-API and its SQLAlchemy (1.4) dialect.

The bare client and the DB-API send CommandStatementQuery without preparing; the dialect
(``datafusion+flightsql://``) asks GetSqlInfo for ids 0, 2, 3 and 504 on connect, inlines bound
values into the SQL, and reflects through GetDbSchemas and GetTables (with ``include_schema`` for
columns). flightsql-dbapi is installed in the test environment beside this project; the client
runs in a subprocess with SQLAlchemy 1.4 first on its path, since its dialect needs 1.4 and the
environment holds SQLAlchemy 2 for sqlalchemy-adbc (see tests/clients/flightsql_dbapi_query.py).
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

import pyarrow
import pytest
from support import ROOT
from support.processes import COMMAND_TIMEOUT, run_command
from support.server import ServerProcess

SQLALCHEMY14_DIR = ROOT / ".venv" / "sqlalchemy14"
SCRIPT = Path(__file__).parent / "clients" / "flightsql_dbapi_query.py"
QUERY = "SELECT customer_id, country FROM demo.customers WHERE customer_id <= 3 ORDER BY customer_id"
FIRST_CUSTOMERS = [[1, "FR"], [2, "US"], [3, "JP"]]

Steps = dict[str, dict[str, Any]]


def run_client(server: ServerProcess, *args: str) -> Steps:
    """Run the client script in its own process; returns each step's JSON line by step name."""
    if not (SQLALCHEMY14_DIR / "sqlalchemy").is_dir():
        pytest.fail(f"SQLAlchemy 1.4 is not installed in {SQLALCHEMY14_DIR}: run `make test`")
    host, port = server.location.removeprefix("grpc://").rsplit(":", 1)
    result = run_command(
        [sys.executable, str(SCRIPT), host, port, *args],
        capture_output=True,
        text=True,
        timeout=COMMAND_TIMEOUT,
        cwd=SQLALCHEMY14_DIR,
        env={**os.environ, "PYTHONPATH": str(SQLALCHEMY14_DIR)},
        check=False,
    )
    assert result.returncode == 0, result.stderr
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    return {line["step"]: line for line in lines}


def value(steps: Steps, step: str) -> Any:
    """The value a step returned; fails with the client's error when the step raised."""
    line = steps[step]
    assert "error" not in line, f"flightsql-dbapi step {step!r} failed: {line['error']}"
    return line["value"]


@pytest.fixture(scope="module")
def dialect_steps(server: ServerProcess) -> Steps:
    """One run of the SQLAlchemy dialect against demo.customers, shared by the tests below."""
    return run_client(server, "sqlalchemy", "demo", "customers", QUERY)


def test_statement_query_without_prepare(server: ServerProcess) -> None:
    steps = run_client(server, "query", QUERY)
    flight = value(steps, "flight")
    assert flight["schema"] == ["customer_id", "country"]
    assert flight["rows"] == [{"customer_id": i, "country": c} for i, c in FIRST_CUSTOMERS]
    assert value(steps, "dbapi") == FIRST_CUSTOMERS


def test_dialect_runs_on_its_own_sqlalchemy(dialect_steps: Steps) -> None:
    """SQLAlchemy 2 in the virtualenv does not leak into the client's SQLAlchemy 1.4, and the
    ``flightsql`` it imports is flightsql-dbapi's, installed in the same environment as this project."""
    versions = value(dialect_steps, "versions")
    assert versions["sqlalchemy"].startswith("1.4.")
    flightsql_file = Path(versions["flightsql"])
    assert "site-packages" in flightsql_file.parts
    assert (flightsql_file.parent / "client.py").exists()


def test_dialect_reads_sql_info_on_connect(dialect_steps: Steps) -> None:
    """GetSqlInfo 0 (server name), 2 (Arrow version), 3 (read only), 504 (identifier quote)."""
    info = value(dialect_steps, "server_info")
    sql_info = info["sql_info"]
    assert set(sql_info) == {"0", "2", "3", "504"}
    assert isinstance(sql_info["0"], str) and sql_info["0"]
    assert sql_info["2"] == pyarrow.__version__
    assert sql_info["3"] is False
    assert sql_info["504"] == "`"
    assert info["quote"] == "`"


def test_dialect_text_select(dialect_steps: Steps) -> None:
    assert value(dialect_steps, "text_select") == FIRST_CUSTOMERS


def test_dialect_core_select_with_inlined_values(dialect_steps: Steps) -> None:
    assert value(dialect_steps, "core_select") == FIRST_CUSTOMERS


def test_dialect_schema_names(dialect_steps: Steps) -> None:
    """Inspector.get_schema_names: CommandGetDbSchemas without filters."""
    assert {"default", "demo"} <= set(value(dialect_steps, "schema_names"))


def test_dialect_table_names(dialect_steps: Steps) -> None:
    """Inspector.get_table_names and has_table: CommandGetTables filtered by db_schema."""
    assert sorted(value(dialect_steps, "table_names")) == ["customers", "dates", "products", "sales"]
    assert value(dialect_steps, "has_table") is True


def test_dialect_columns(dialect_steps: Steps) -> None:
    """Inspector.get_columns: the Arrow schema GetTables returns with include_schema."""
    assert value(dialect_steps, "columns") == [
        {"name": "customer_id", "type": "BIGINT", "nullable": True},
        {"name": "name", "type": "TEXT", "nullable": True},
        {"name": "country", "type": "TEXT", "nullable": True},
        {"name": "signup_date", "type": "DATE", "nullable": True},
    ]


def test_dialect_autoload_and_select(dialect_steps: Steps) -> None:
    """Table(..., autoload_with=engine), then a Core select through the reflected columns."""
    autoload = value(dialect_steps, "autoload")
    assert autoload["columns"] == ["customer_id", "name", "country", "signup_date"]
    assert autoload["rows"] == [[i, f"Customer {i}", c] for i, c in FIRST_CUSTOMERS]
