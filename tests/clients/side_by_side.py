"""Start a node and query it with flightsql-dbapi, both imported into this one process.

flightsql-dbapi installs a top-level package named ``flightsql`` and compiles ``FlightSql.proto``
into protobuf's default descriptor pool; this project's packages live under ``spark_flight_sql``
and its messages in a pool of their own, so the two load side by side in either order.

Usage: python side_by_side.py dbapi-first|ours-first
Prints one JSON line: where each package came from, and the rows each client read.
"""

from __future__ import annotations

import importlib
import json
import sys
from typing import Any


def main(order: str) -> dict[str, Any]:
    names = ["flightsql", "spark_flight_sql.flightsql.node"]
    if order == "ours-first":
        names.reverse()
    modules = {name: importlib.import_module(name) for name in names}
    dbapi = modules["flightsql"]
    node_module = modules["spark_flight_sql.flightsql.node"]

    from adbc_driver_flightsql import dbapi as adbc

    conf = {"spark.ui.enabled": "false", "spark.flight.port": "0", "spark.flight.internal.port": "0"}
    spark = node_module.build_spark("local[1]", conf)
    try:
        with node_module.FlightSqlNode(spark) as node:
            host, port = node.location.removeprefix("grpc://").rsplit(":", 1)
            client = dbapi.FlightSQLClient(host=host, port=int(port), insecure=True)
            try:
                info = client.execute("SELECT id, id * 2 AS twice FROM range(3)")
                by_dbapi = client.do_get(info.endpoints[0].ticket).read_all().to_pylist()
            finally:
                client.close()
            with adbc.connect(node.location) as conn, conn.cursor() as cur:
                cur.execute("SELECT count(*) FROM range(10)")
                by_adbc = cur.fetchall()
    finally:
        spark.stop()
    import spark_flight_sql

    return {
        "flightsql": dbapi.__file__,
        "dbapi_version": dbapi.__version__,
        "spark_flight_sql": spark_flight_sql.__file__,
        "dbapi_rows": by_dbapi,
        "adbc_rows": [list(row) for row in by_adbc],
    }


if __name__ == "__main__":
    print(json.dumps(main(sys.argv[1])), flush=True)
