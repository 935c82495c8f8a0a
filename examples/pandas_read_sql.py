"""Read query results into pandas with ``pandas.read_sql`` on an ADBC connection (no SQLAlchemy needed).

python examples/pandas_read_sql.py [URI]   # default grpc://127.0.0.1:32010, a node started with --demo
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

import adbc_driver_flightsql.dbapi as flight_sql
import pandas as pd

DEFAULT_URI = "grpc://127.0.0.1:32010"

QUERY = """
    SELECT p.category, sum(s.quantity) AS units
    FROM demo.sales s JOIN demo.products p USING (product_id)
    GROUP BY p.category ORDER BY p.category"""


def main(argv: Sequence[str] = ()) -> int:
    """Print two query results read into pandas."""
    uri = argv[0] if argv else DEFAULT_URI
    with flight_sql.connect(uri, autocommit=True) as conn:
        # pandas reads an ADBC connection natively, as Arrow, with no SQLAlchemy engine.
        units = pd.read_sql(QUERY, conn)
        customers = pd.read_sql("SELECT * FROM demo.customers ORDER BY customer_id LIMIT 5", conn)
    print(units.to_string(index=False))
    print(f"total units: {units['units'].sum()}")
    print(f"customers: {list(customers.columns)}, first {customers['name'].iloc[0]!r}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
