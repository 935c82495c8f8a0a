"""Query a Flight SQL node with SQLAlchemy 2 through sqlalchemy-adbc (``adbc+flightsql://``).

    python examples/sqlalchemy_query.py [URI]   # default grpc://127.0.0.1:32010, a node started with --demo

sqlalchemy-adbc has no Spark SQL dialect and quotes identifiers with ``"``, which Spark reads as a
string: keep table and column names lower-case so that SQLAlchemy never quotes them.
"""

from __future__ import annotations

import sys
import warnings
from collections.abc import Sequence
from urllib.parse import urlsplit

from sqlalchemy import (
    Column,
    Integer,
    MetaData,
    String,
    Table,
    create_engine,
    func,
    inspect,
    select,
    text,
)

DEFAULT_URI = "grpc://127.0.0.1:32010"

# The dialect's ADBC connections ask for DB-API transactions, which Flight SQL (and Spark) do not have.
warnings.filterwarnings("ignore", "Cannot disable autocommit")


def engine_url(uri: str) -> str:
    """The SQLAlchemy URL of a ``grpc://host:port`` Flight SQL location."""
    parts = urlsplit(uri)
    return f"adbc+flightsql://{parts.hostname}:{parts.port}?tls={'true' if parts.scheme == 'grpc+tls' else 'false'}"


def main(argv: Sequence[str] = ()) -> int:
    """Run a text query with a bound parameter, a Core select, and reflection; print each result."""
    engine = create_engine(engine_url(argv[0] if argv else DEFAULT_URI))
    customers = Table(
        "customers",
        MetaData(schema="demo"),
        Column("customer_id", Integer),
        Column("name", String),
        Column("country", String),
    )
    try:
        with engine.connect() as conn:
            first = text(
                "SELECT customer_id, name FROM demo.customers WHERE customer_id <= :n ORDER BY customer_id"
            )
            print("first customers:", [tuple(row) for row in conn.execute(first, {"n": 3})])
            country = customers.c.country
            per_country = select(country, func.count().label("n")).group_by(country).order_by(country)
            print("per country:", [tuple(row) for row in conn.execute(per_country)])
        print(
            "columns:", [column["name"] for column in inspect(engine).get_columns("products", schema="demo")]
        )
    finally:
        engine.dispose()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
