"""The Arrow Flight SQL JDBC driver (``org.apache.arrow:flight-sql-jdbc-driver``, the way BI tools and Java
services come in) against real nodes: queries on one node and through both nodes of a cluster with one
and four reader threads, DatabaseMetaData as DBeaver calls it, statements and prepared statements,
ResultSet getters over Spark's types, cancel, time limits, row limits, the catalog property, logins.

Each test runs one JVM with a script of JDBC calls (``support.jdbc``). What the driver itself does wrong
is asserted as it is, with the driver's source named, so that a driver release that fixes it shows.
"""

from __future__ import annotations

import uuid

from support.jdbc import connect, jdbc_url, ok, rows, run_probe
from support.server import ServerProcess

DEADLINE = 120.0
ROWS = 300_000
RANGE = f"SELECT id FROM range(0, {ROWS}, 1, 8)"
SUM = ROWS * (ROWS - 1) // 2


def every_row_once(answer: dict[str, object], count: int = ROWS) -> None:
    """A ``count`` step read ``range(count)``: every id once."""
    ok(answer)
    assert (answer["count"], answer["sum"], answer["distinct"]) == (count, count * (count - 1) // 2, count)


def table_name() -> str:
    return f"default.jdbc_{uuid.uuid4().hex[:8]}"


# ---- one node -------------------------------------------------------------------------------------


def test_a_query_reads_every_row_once_and_its_types(server: ServerProcess) -> None:
    url = jdbc_url(server.location)
    opened, counted, typed = run_probe(
        [
            connect(url),
            {"op": "count", "sql": RANGE},
            {"op": "query", "sql": "SELECT 1 AS one, 'x' AS x, CAST(2.50 AS DECIMAL(5, 2)) AS d"},
        ]
    )
    assert ok(opened)["driver"].startswith("18.")
    every_row_once(counted)
    assert rows(typed) == [{"one": 1, "x": "x", "d": "2.50"}]
    assert [(c["label"], c["typeName"]) for c in typed["columns"]] == [
        ("one", "INTEGER"),
        ("x", "VARCHAR"),
        ("d", "DECIMAL"),
    ]
