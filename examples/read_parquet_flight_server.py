"""Read from ``parquet_flight_server.py`` with a plain pyarrow.flight client, every endpoint of each flight.

    python examples/read_parquet_flight_server.py [URI] [DATASET [COLUMNS [FILTER]]]

Without a dataset it lists the flights and reads each whole; with one it sends a CMD descriptor
(``COLUMNS`` comma-separated, ``FILTER`` a Spark SQL expression). Prints one line per flight:
``<dataset>: <rows> rows, <endpoints> endpoints, columns <names>``.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence

import pyarrow as pa
import pyarrow.flight as flight

DEFAULT_URI = "grpc://127.0.0.1:32010"


def read_flight(client: flight.FlightClient, descriptor: flight.FlightDescriptor) -> tuple[pa.Table, int]:
    """The whole result of ``descriptor``: every endpoint read from its own location, and how many there were."""
    info = client.get_flight_info(descriptor)
    tables = [read_endpoint(endpoint) for endpoint in info.endpoints]
    return pa.concat_tables(tables) if tables else info.schema.empty_table(), len(info.endpoints)


def read_endpoint(endpoint: flight.FlightEndpoint) -> pa.Table:
    """One node's share, from the node the endpoint names."""
    with flight.FlightClient(endpoint.locations[0]) as node:
        return node.do_get(endpoint.ticket).read_all()


def command(dataset: str, columns: str = "", filter_: str = "") -> flight.FlightDescriptor:
    """A CMD descriptor asking for a projection and a filter of ``dataset``."""
    request = {"path": dataset, "columns": [c for c in columns.split(",") if c], "filter": filter_ or None}
    return flight.FlightDescriptor.for_command(json.dumps(request).encode())


def main(argv: Sequence[str] = ()) -> int:
    """Read each requested flight whole and print its size, endpoints and columns."""
    uri = argv[0] if argv else DEFAULT_URI
    with flight.FlightClient(uri) as client:
        if len(argv) > 1:
            requests = [(argv[1], command(*argv[1:4]))]
        else:
            requests = [(info.descriptor.path[0].decode(), info.descriptor) for info in client.list_flights()]
        for name, descriptor in requests:
            table, endpoints = read_flight(client, descriptor)
            print(
                f"{name}: {table.num_rows} rows, {endpoints} endpoints, columns {','.join(table.column_names)}"
            )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
