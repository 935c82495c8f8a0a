"""Query a Flight SQL node through the ADBC DBAPI: rows, an Arrow table, and every endpoint.

python examples/adbc_dbapi.py [URI]        # default grpc://127.0.0.1:32010, a node started with --demo
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

import adbc_driver_flightsql.dbapi as flight_sql

DEFAULT_URI = "grpc://127.0.0.1:32010"


def main(argv: Sequence[str] = ()) -> int:
    """Print rows, an Arrow table, and a result read endpoint by endpoint."""
    uri = argv[0] if argv else DEFAULT_URI
    # autocommit=True: Flight SQL has no transactions, and ADBC warns when asked to turn them on.
    with flight_sql.connect(uri, autocommit=True) as conn, conn.cursor() as cur:
        cur.execute(
            "SELECT country, count(*) AS customers FROM demo.customers GROUP BY country ORDER BY country"
        )
        print("customers per country:", cur.fetchall())

        cur.execute("SELECT * FROM demo.products WHERE category = ? ORDER BY product_id", ("books",))
        table = cur.fetch_arrow_table()
        print(f"books: {table.num_rows} rows, columns {table.schema.names}")

        # One partition per endpoint: on a cluster, each is a node's share, readable in parallel.
        partitions, _schema = cur.adbc_execute_partitions("SELECT sale_id FROM demo.sales")
        rows = 0
        for partition in partitions:
            cur.adbc_read_partition(partition)
            rows += cur.fetch_arrow_table().num_rows
        print(f"sales: {rows} rows from {len(partitions)} endpoints")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
