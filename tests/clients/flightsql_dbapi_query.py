"""Run flightsql-dbapi (0.2.2) against a server and print what each step got, as JSON lines.

flightsql-dbapi installs a top-level package named ``flightsql`` (this project's packages live
under ``spark_flight_sql``, so both sit in one environment). Its SQLAlchemy dialect needs
SQLAlchemy 1.4, so the tests run this script in a process of its own with a folder holding
SQLAlchemy 1.4 first on the path.

Every step prints one line: ``{"step": NAME, "value": ...}`` or ``{"step": NAME, "error": ...}``,
so that one failing step does not hide what the others did.

Usage:
    python flightsql_dbapi_query.py HOST PORT query SQL
    python flightsql_dbapi_query.py HOST PORT sqlalchemy SCHEMA TABLE SQL
"""

from __future__ import annotations

import json
import sys
import traceback
from collections.abc import Callable
from typing import Any

from flightsql import FlightSQLClient  # the flightsql-dbapi package, not this project's


def report(step: str, action: Callable[[], Any]) -> None:
    """Run one step and print its value, or the error it raised, as one JSON line."""
    try:
        line: dict[str, Any] = {"step": step, "value": action()}
    except Exception as error:  # noqa: BLE001 - every failure is reported, not raised
        # The first line: servers written with pyarrow append their Python traceback to the message.
        detail = "".join(traceback.format_exception_only(type(error), error)).strip().splitlines()[0]
        line = {"step": step, "error": detail}
    print(json.dumps(line, default=str), flush=True)


def flight_rows(host: str, port: int, sql: str) -> dict[str, Any]:
    """CommandStatementQuery through the bare client: GetFlightInfo, then DoGet of endpoint 0."""
    client = FlightSQLClient(host=host, port=port, insecure=True)
    try:
        info = client.execute(sql)
        table = client.do_get(info.endpoints[0].ticket).read_all()
        return {"schema": [f.name for f in table.schema], "rows": table.to_pylist()}
    finally:
        client.close()


def dbapi_rows(host: str, port: int, sql: str) -> list[list[Any]]:
    """The same query through flightsql-dbapi's DB-API cursor (no parameters: no prepare)."""
    import flightsql.dbapi

    connection = flightsql.dbapi.connect(FlightSQLClient(host=host, port=port, insecure=True))
    try:
        cursor = connection.cursor()
        cursor.execute(sql)
        return [list(row) for row in cursor.fetchall()]
    finally:
        connection.close()


def run_query(host: str, port: int, sql: str) -> None:
    """The ``query`` mode: one statement through the bare client and through the DB-API."""
    report("flight", lambda: flight_rows(host, port, sql))
    report("dbapi", lambda: dbapi_rows(host, port, sql))


def versions() -> dict[str, str]:
    """Which SQLAlchemy (1.4, from its own folder) and flightsql (flightsql-dbapi's) this process imported."""
    import sqlalchemy

    import flightsql

    return {"sqlalchemy": sqlalchemy.__version__, "flightsql": flightsql.__file__}


def server_info(engine: Any) -> dict[str, Any]:
    """Connect, which makes the dialect ask GetSqlInfo for ids 0, 2, 3 and 504."""
    with engine.connect():
        dialect = engine.dialect
        return {
            "sql_info": {str(key): value for key, value in dialect.sql_info.items()},
            "quote": dialect.identifier_preparer.initial_quote,
        }


def text_rows(engine: Any, sql: str) -> list[list[Any]]:
    """A textual SELECT, executed without parameters (CommandStatementQuery)."""
    from sqlalchemy import text

    with engine.connect() as connection:
        return [list(row) for row in connection.execute(text(sql))]


def core_rows(engine: Any, schema: str, table: str) -> list[list[Any]]:
    """A Core SELECT on a declared (not reflected) table; the dialect inlines the bound values."""
    from sqlalchemy import Column, Integer, MetaData, String, Table, select

    customers = Table(
        table, MetaData(), Column("customer_id", Integer), Column("country", String), schema=schema
    )
    query = (
        select(customers.c.customer_id, customers.c.country)
        .where(customers.c.customer_id <= 3)
        .order_by(customers.c.customer_id)
    )
    with engine.connect() as connection:
        return [list(row) for row in connection.execute(query)]


def columns(engine: Any, schema: str, table: str) -> list[dict[str, Any]]:
    """Inspector.get_columns: GetTables with include_schema, filtered by schema and table name."""
    from sqlalchemy import inspect

    found = inspect(engine).get_columns(table, schema=schema)
    return [{"name": c["name"], "type": str(c["type"]), "nullable": c["nullable"]} for c in found]


def autoloaded_rows(engine: Any, schema: str, table: str) -> dict[str, Any]:
    """Reflect the table with ``autoload_with``, then select its first three columns through it."""
    from sqlalchemy import MetaData, Table, select

    reflected = Table(table, MetaData(), schema=schema, autoload_with=engine)
    key, *others = reflected.columns
    with engine.connect() as connection:
        rows = connection.execute(select(key, *others[:2]).order_by(key).limit(3))
        return {"columns": [c.name for c in reflected.columns], "rows": [list(row) for row in rows]}


def run_sqlalchemy(host: str, port: int, schema: str, table: str, sql: str) -> None:
    """The ``sqlalchemy`` mode: the dialect's connect, selects and reflection, step by step."""
    import flightsql.sqlalchemy  # noqa: F401 - registers the datafusion+flightsql URL scheme
    from sqlalchemy import create_engine, inspect

    report("versions", versions)
    engine = create_engine(f"datafusion+flightsql://{host}:{port}?insecure=True")
    try:
        report("server_info", lambda: server_info(engine))
        report("text_select", lambda: text_rows(engine, sql))
        report("core_select", lambda: core_rows(engine, schema, table))
        report("schema_names", lambda: inspect(engine).get_schema_names())
        report("table_names", lambda: inspect(engine).get_table_names(schema=schema))
        report("has_table", lambda: inspect(engine).has_table(table, schema=schema))
        report("columns", lambda: columns(engine, schema, table))
        report("autoload", lambda: autoloaded_rows(engine, schema, table))
    finally:
        engine.dispose()


def main(argv: list[str]) -> None:
    """Dispatch on the mode named after HOST and PORT."""
    host, port, mode, *rest = argv
    if mode == "query":
        run_query(host, int(port), *rest)
    elif mode == "sqlalchemy":
        run_sqlalchemy(host, int(port), *rest)
    else:
        raise SystemExit(f"unknown mode {mode!r}: use query or sqlalchemy")


if __name__ == "__main__":
    main(sys.argv[1:])
