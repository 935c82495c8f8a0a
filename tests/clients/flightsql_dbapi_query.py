"""Run one query with flightsql-dbapi and print the result as JSON lines.

flightsql-dbapi installs a top-level package named ``flightsql``, like this project's, so the tests
run it in a process of its own, with its install folder first on the path.
Usage: python flightsql_dbapi_query.py HOST PORT SQL
"""

import json
import sys

from flightsql import FlightSQLClient  # the flightsql-dbapi package, not this project's

host, port, sql = sys.argv[1], int(sys.argv[2]), sys.argv[3]
client = FlightSQLClient(host=host, port=port, insecure=True)
try:
    info = client.execute(sql)
    reader = client.do_get(info.endpoints[0].ticket)
    table = reader.read_all()
    print(json.dumps({"schema": [f.name for f in table.schema], "rows": table.to_pylist()}, default=str))
    import flightsql.dbapi

    connection = flightsql.dbapi.connect(FlightSQLClient(host=host, port=port, insecure=True))
    cursor = connection.cursor()
    cursor.execute(sql)
    print(json.dumps({"dbapi_rows": [list(row) for row in cursor.fetchall()]}, default=str))
    connection.close()
finally:
    client.close()
