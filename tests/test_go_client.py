"""arrow-go's Flight SQL client (``github.com/apache/arrow-go/v18/arrow/flight/flightsql``) against this
server: a two-node result read through every endpoint at its own location, a prepared statement with a
bound parameter, and an error a Go program can print.

The client is ``tests/clients/go`` (a small program printing JSON), built by ``make test`` (``make
go-client``) at the versions its ``go.sum`` pins. Without Go these tests are skipped.
"""

from __future__ import annotations

import json
import subprocess
from typing import Any
from urllib.parse import urlparse

import pytest
from support import ROOT
from support.server import ServerProcess

PROBE = ROOT / "tests" / "clients" / "go" / "bin" / "flightsql-probe"
PROBE_TIMEOUT = 300.0

pytestmark = pytest.mark.skipif(
    not PROBE.exists(), reason="the Go client is not built: `make go-client` builds it (needs Go)"
)


def probe(*args: str) -> tuple[int, dict[str, Any]]:
    """Run the Go client; its exit code and the JSON it printed."""
    result = subprocess.run(
        [str(PROBE), *args], capture_output=True, text=True, timeout=PROBE_TIMEOUT, check=False
    )
    assert result.stdout.strip(), f"the Go client printed nothing; stderr: {result.stderr[-2000:]}"
    return result.returncode, json.loads(result.stdout)


def address(location: str) -> str:
    """``host:port`` of a ``grpc://`` location, as arrow-go dials it."""
    return urlparse(location).netloc


def test_go_reads_a_two_node_result_through_every_endpoint(
    cluster_pair: tuple[str, list[ServerProcess]],
) -> None:
    _, nodes = cluster_pair
    rows = 300_000
    code, seen = probe("query", address(nodes[0].location), f"SELECT id FROM range(0, {rows}, 1, 4)")
    assert code == 0, seen
    assert seen["endpoints"] == 2
    assert sorted(seen["locations"]) == sorted(node.location for node in nodes)
    assert seen["rows"] == rows
    assert seen["sum"] == rows * (rows - 1) // 2


def test_go_prepared_statement_with_a_parameter(server: ServerProcess) -> None:
    code, seen = probe(
        "prepared", address(server.location), "SELECT id FROM range(0, 100000, 1, 2) WHERE id < ?", "1000"
    )
    assert code == 0, seen
    assert seen["rows"] == 1000
    assert seen["sum"] == 999 * 1000 // 2


def test_go_prints_a_readable_error(server: ServerProcess) -> None:
    code, seen = probe("query", address(server.location), "SELECT * FROM no_such_table")
    assert code == 1
    assert "code = InvalidArgument" in seen["error"], seen["error"]
    assert "[TABLE_OR_VIEW_NOT_FOUND]" in seen["error"] and "error id" in seen["error"], seen["error"]
    assert "Traceback" not in seen["error"] and '.py"' not in seen["error"]
