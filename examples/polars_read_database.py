"""Read query results into polars with ``polars.read_database`` on an ADBC connection (Arrow all the way).

python examples/polars_read_database.py [URI]   # default grpc://127.0.0.1:32010, a node started with --demo
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

import adbc_driver_flightsql.dbapi as flight_sql
import polars as pl

DEFAULT_URI = "grpc://127.0.0.1:32010"


def main(argv: Sequence[str] = ()) -> int:
    """Print two query results read into polars, and aggregates of them."""
    uri = argv[0] if argv else DEFAULT_URI
    with flight_sql.connect(uri, autocommit=True) as conn:
        dates = pl.read_database("SELECT * FROM demo.dates ORDER BY date", connection=conn)
        sales = pl.read_database("SELECT customer_id, quantity FROM demo.sales", connection=conn)
    per_year = dates.group_by("year").len().sort("year")
    print(f"dates: {dates.height} rows, per year {per_year.rows()}")
    top = (
        sales.group_by("customer_id")
        .agg(pl.col("quantity").sum())
        .sort(["quantity", "customer_id"], descending=[True, False])
    )
    print(f"sales: {sales.height} rows, top customer {top.row(0)}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
