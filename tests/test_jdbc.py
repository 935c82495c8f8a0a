"""The Arrow Flight SQL JDBC driver (``org.apache.arrow:flight-sql-jdbc-driver``, the way BI tools and Java
services come in) against real nodes: queries on one node and through both nodes of a cluster with one
and four reader threads, DatabaseMetaData as DBeaver calls it, statements and prepared statements,
ResultSet getters over Spark's types, cancel, time limits, row limits, the catalog property, logins.

Each test runs one JVM with a script of JDBC calls (``support.jdbc``). What the driver itself does wrong
is asserted as it is, with the driver's source named, so that a driver release that fixes it shows.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
from support.certificates import Certificates, make_certificates
from support.cluster import running_cluster
from support.flight_calls import PASSWORDS, SECRET, write_users
from support.jdbc import connect, jdbc_url, ok, rows, run_probe
from support.server import ServerProcess, stalling_query

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


TYPED = [
    ["int", 1],
    ["long", 10_000_000_000],
    ["decimal", "12.34"],
    ["string", "ann"],
    ["date", "2024-02-29"],
    ["timestamp", "2024-03-01 12:34:56.789"],
    ["double", 1.5],
]


def test_statements_ddl_and_prepared_statements(server: ServerProcess) -> None:
    """DDL runs once and counts 0 (a -1 made the driver run it again as a query); updates count their
    rows; prepared statements without markers query and update; typed values bind to the markers of
    INSERT ... VALUES, one at a time and in batches, and only nulls elsewhere."""
    name = table_name()
    columns = "(id INT, big BIGINT, price DECIMAL(10, 2), name STRING, day DATE, at TIMESTAMP, x DOUBLE)"
    marks = ", ".join("?" * 7)
    answers = run_probe(
        [
            connect(jdbc_url(server.location)),
            {"op": "update", "sql": f"CREATE TABLE {name} {columns} USING parquet"},
            {
                "op": "update",
                "sql": f"INSERT INTO {name} SELECT id, id, id / 4, 'r', DATE'2024-01-01', NULL, 0 FROM range(25)",
            },
            {
                "op": "prepared",
                "sql": f"INSERT INTO {name} (id, name) VALUES (100, 'p')",
                "executeUpdate": True,
            },
            {"op": "prepared", "sql": f"SELECT count(*) AS n, sum(id) AS s FROM {name}"},
            {
                "op": "prepared",
                "sql": f"INSERT INTO {name} VALUES ({marks})",
                "params": [
                    ["null", t]
                    for t in ("INTEGER", "BIGINT", "DECIMAL", "VARCHAR", "DATE", "TIMESTAMP", "DOUBLE")
                ],
            },
            {"op": "prepared", "sql": f"SELECT id FROM {name} WHERE id = ?", "params": [["int", 1]]},
            {
                "op": "batch",
                "sql": f"INSERT INTO {name} (id, name) VALUES (?, ?)",
                "rows": [[["null", "INTEGER"], ["null", "VARCHAR"]]] * 2,
            },
            {
                "op": "prepared",
                "sql": f"INSERT INTO {name} VALUES ({marks})",
                "params": TYPED,
                "executeUpdate": True,
            },
            {
                "op": "batch",
                "sql": f"INSERT INTO {name} (id, name, price) VALUES (?, ?, ?)",
                "rows": [[["int", 300 + n], ["string", f"b{n}"], ["decimal", f"{n}.25"]] for n in range(3)],
            },
            {
                "op": "query",
                "sql": f"SELECT id, big, price, name, day, CAST(at AS STRING) AS at, x FROM {name} "
                "WHERE id >= 300 OR big > 25 ORDER BY id",
            },
            {
                "op": "statementBatch",
                "sqls": [f"INSERT INTO {name} (id) VALUES (200)", f"INSERT INTO {name} (id) VALUES (201)"],
            },
            {"op": "execute", "sql": f"ALTER TABLE {name} ADD COLUMNS (extra STRING)"},
            {
                "op": "query",
                "sql": f"SELECT count(*) AS n, count(id) AS ids, count(extra) AS extras FROM {name}",
            },
            {"op": "update", "sql": f"DROP TABLE {name}"},
            {"op": "execute", "sql": f"SHOW TABLES IN default LIKE '{name.split('.')[1]}'"},
        ]
    )
    (
        _,
        create,
        insert,
        prepared_insert,
        prepared_query,
        nulls,
        bound,
        batch,
        typed,
        typed_batch,
        written,
        statements,
        alter,
        counted,
        drop,
        shown,
    ) = answers
    assert ok(create)["count"] == 0
    assert ok(insert)["count"] == 25
    assert ok(prepared_insert)["updateCount"] == 1
    assert rows(prepared_query) == [{"n": 26, "s": 100 + 24 * 25 // 2}]
    # execute() of a prepared update reports an empty result set, not a count: the driver's Meta.execute
    # takes a statement for an update only when it has no signature, and it gives every one a signature
    # (arrow-java ArrowFlightMetaImpl.execute and prepareForHandle). The row is written all the same.
    assert ok(nulls)["parameterCount"] == 7 and nulls["rows"] == [] and nulls["columns"] == []
    # Outside INSERT ... VALUES the server declares each marker with Arrow's null type (Spark types a
    # parameter from its value); the driver binds a value only into a vector of the declared type, and
    # a NullVector takes nulls only (arrow-java AvaticaParameterBinder.bind, NullAvaticaParameterConverter).
    assert bound["message"] == "Can't set non-null value on NullVector", bound
    # INSERT ... VALUES (?, ...) declares its markers with the columns' types, so they bind.
    assert ok(typed)["updateCount"] == 1 and ok(typed_batch)["counts"] == [3]
    empty = {"big": None, "day": None, "at": None, "x": None}
    assert rows(written) == [
        {
            "id": 1,
            "big": 10_000_000_000,
            "price": "12.34",
            "name": "ann",
            "day": "2024-02-29",
            "at": "2024-03-01 12:34:56.789",
            "x": 1.5,
        },
        *({"id": 300 + n, "price": f"{n}.25", "name": f"b{n}", **empty} for n in range(3)),
    ]
    # A prepared INSERT's batch is one write of its rows, and the driver answers one count for the
    # whole batch, not one per row (arrow-java ArrowFlightMetaImpl.executeBatch).
    assert ok(batch)["counts"] == [2]
    # Statement.addBatch/executeBatch fails: the driver's prepareAndExecuteBatch is a stub returning
    # null (arrow-java ArrowFlightMetaImpl.prepareAndExecuteBatch, "TODO Fill this stub").
    assert statements["error"] == "java.lang.NullPointerException", statements
    assert ok(alter)["resultSet"] is False and alter["updateCount"] == 0
    assert rows(counted) == [{"n": 33, "ids": 30, "extras": 0}]
    assert ok(drop)["count"] == 0
    assert ok(shown)["resultSet"] is True


def test_database_metadata_as_dbeaver_calls_it(server: ServerProcess) -> None:
    """A BI tool's first minute: catalogs, schemas, tables with types, columns with JDBC types (decimal
    precision and scale), type info, table types, and the key and index calls for each table shown."""
    name = table_name()
    table = name.split(".")[1]
    view = f"{table}_v"
    answers = run_probe(
        [
            connect(jdbc_url(server.location)),
            {
                "op": "update",
                "sql": f"CREATE TABLE {name} (id INT, price DECIMAL(10, 2), name STRING COMMENT 'who', "
                "day DATE, at TIMESTAMP, ntz TIMESTAMP_NTZ, tags ARRAY<STRING>, m MAP<STRING, INT>, "
                "s STRUCT<a: INT>, code VARCHAR(7)) USING parquet",
            },
            {"op": "update", "sql": f"CREATE VIEW default.{view} AS SELECT id, price FROM {name}"},
            {"op": "meta", "call": "info"},
            {"op": "meta", "call": "getCatalogs"},
            {"op": "meta", "call": "getSchemas", "args": ["spark_catalog", None]},
            {"op": "meta", "call": "getTableTypes"},
            {"op": "meta", "call": "getTables", "args": ["spark_catalog", "default", f"{table}%", None]},
            {"op": "meta", "call": "getTables", "args": ["spark_catalog", "default", f"{table}%", ["VIEW"]]},
            {"op": "meta", "call": "getColumns", "args": ["spark_catalog", "default", table, "%"]},
            {"op": "meta", "call": "getTypeInfo"},
            {"op": "meta", "call": "getPrimaryKeys", "args": ["spark_catalog", "default", table]},
            {"op": "meta", "call": "getImportedKeys", "args": ["spark_catalog", "default", table]},
            {"op": "meta", "call": "getExportedKeys", "args": ["spark_catalog", "default", table]},
            {"op": "meta", "call": "getIndexInfo", "args": ["spark_catalog", "default", table]},
            {"op": "query", "sql": f"SELECT id, price FROM {name}"},
            {"op": "update", "sql": f"DROP VIEW default.{view}"},
            {"op": "update", "sql": f"DROP TABLE {name}"},
        ]
    )
    (_, _, _, info, catalogs, schemas, types, tables, views, columns, type_info, *keys, empty, _, _) = answers
    assert ok(info)["productName"] == "Spark Flight SQL" and info["identifierQuote"] == "`"
    assert info["supportsTransactions"] is False
    assert {"spark_catalog", "system"} <= {row["TABLE_CAT"] for row in rows(catalogs)}
    assert {("spark_catalog", "default"), ("spark_catalog", "demo")} <= {
        (row["TABLE_CATALOG"], row["TABLE_SCHEM"]) for row in rows(schemas)
    }
    assert [row["TABLE_TYPE"] for row in rows(types)] == ["TABLE", "TEMPORARY VIEW", "VIEW"]
    assert sorted((row["TABLE_NAME"], row["TABLE_TYPE"]) for row in rows(tables)) == [
        (table, "TABLE"),
        (view, "VIEW"),
    ]
    assert [row["TABLE_NAME"] for row in rows(views)] == [view]
    described = {
        row["COLUMN_NAME"]: (row["DATA_TYPE"], row["TYPE_NAME"], row["COLUMN_SIZE"], row["DECIMAL_DIGITS"])
        for row in rows(columns)
    }
    assert described == {
        "id": (4, "INT", 10, 0),  # java.sql.Types.INTEGER
        "price": (3, "DECIMAL(10,2)", 10, 2),  # DECIMAL, precision and scale
        "name": (12, "STRING", 65536, None),  # VARCHAR
        "day": (91, "DATE", 10, 0),
        "at": (2014, "TIMESTAMP", 26, 6),  # TIMESTAMP_WITH_TIMEZONE: Spark's TIMESTAMP is an instant
        "ntz": (93, "TIMESTAMP_NTZ", 26, 6),  # TIMESTAMP
        "tags": (2003, "ARRAY<STRING>", None, None),  # ARRAY
        "m": (2000, "MAP<STRING, INT>", None, None),  # JAVA_OBJECT
        "s": (2000, "STRUCT<a: INT>", None, None),
        "code": (12, "VARCHAR(7)", 7, None),
    }
    assert [row["REMARKS"] for row in rows(columns)][2] == "who"
    # The driver answers getTypeInfo itself, empty: it never sends CommandGetXdbcTypeInfo (arrow-java
    # ArrowDatabaseMetadata has no getTypeInfo; Avatica's MetaImpl answers an empty result).
    assert rows(type_info) == [] and ok(type_info)["columns"][0]["label"] == "TYPE_NAME"
    for answer in keys:  # Spark has no keys or indexes: empty, without an error
        assert rows(answer) == []
    # An empty result lists every column twice in its ResultSetMetaData: the driver adds the prepared
    # statement's columns to a signature that already has them, and only a batch with rows replaces
    # them (arrow-java ArrowFlightStatement.executeFlightInfoQuery, ArrowFlightMetaImpl.newSignature).
    assert rows(empty) == [] and [c["label"] for c in empty["columns"]] == ["id", "price"] * 2


EVERY_TYPE = (
    "SELECT CAST(1 AS TINYINT) AS t, CAST(2 AS SMALLINT) AS s, 3 AS i, 4L AS l, CAST(1.5 AS FLOAT) AS f, "
    "2.25D AS d, CAST(12345.678 AS DECIMAL(10, 3)) AS dec, "
    "CAST('123456789012345678901234567890.12' AS DECIMAL(38, 2)) AS wide, true AS b, 'héllo' AS str, "
    "X'0102' AS bin, DATE'2024-02-29' AS day, TIMESTAMP'2024-03-01 12:34:56.789' AS ts, "
    "TIMESTAMP_NTZ'2024-03-01 12:34:56.789' AS ntz, array(1, 2, 3) AS arr, map('a', 1, 'b', 2) AS m, "
    "named_struct('x', 1, 'y', 'z') AS st, array(named_struct('k', 1)) AS arr_st, CAST(NULL AS INT) AS nul, "
    "INTERVAL '1-2' YEAR TO MONTH AS ym, INTERVAL '1 02:03:04' DAY TO SECOND AS dt, "
    "CAST('x' AS VARCHAR(5)) AS vc"
)
INSTANT_MS = 1_709_296_496_789
"""2024-03-01T12:34:56.789Z: the nodes' session time zone is UTC."""


def test_result_set_getters_over_every_spark_type(server: ServerProcess) -> None:
    """Every Spark type through the getters that apply, in a JVM whose zone is not UTC (+05:30)."""
    url = jdbc_url(server.location)
    _, plain, _, utc = run_probe(
        [
            connect(url),
            {"op": "getters", "sql": EVERY_TYPE},
            connect(jdbc_url(server.location, timeZone="UTC")),
            {"op": "getters", "sql": EVERY_TYPE},
        ],
        "-Duser.timezone=Asia/Kolkata",
    )
    columns = ok(plain)["columns"]
    jdbc_types = {name: (column["type"], column["typeName"]) for name, column in columns.items()}
    assert jdbc_types == {
        "t": (-6, "TINYINT"),
        "s": (5, "SMALLINT"),
        "i": (4, "INTEGER"),
        "l": (-5, "BIGINT"),
        "f": (6, "FLOAT"),
        "d": (8, "DOUBLE"),
        "dec": (3, "DECIMAL"),
        "wide": (3, "DECIMAL"),
        "b": (16, "BOOLEAN"),
        "str": (12, "VARCHAR"),
        "bin": (-3, "VARBINARY"),
        "day": (91, "DATE"),
        "ts": (2014, "TIMESTAMP_WITH_TIMEZONE"),
        "ntz": (93, "TIMESTAMP"),
        "arr": (2003, "ARRAY"),
        "m": (2000, "JAVA_OBJECT"),
        "st": (2000, "JAVA_OBJECT"),
        "arr_st": (2003, "ARRAY"),
        "nul": (4, "INTEGER"),
        "ym": (2000, "JAVA_OBJECT"),
        "dt": (2000, "JAVA_OBJECT"),
        "vc": (12, "VARCHAR"),
    }
    values = {name: column["object"] for name, column in columns.items() if name not in ("ts",)}
    assert values == {
        "t": 1,
        "s": 2,
        "i": 3,
        "l": 4,
        "f": 1.5,
        "d": 2.25,
        "dec": "12345.678",
        "wide": "123456789012345678901234567890.12",
        "b": True,
        "str": "héllo",
        "bin": "bytes:2",
        "day": "2024-02-29",
        "ntz": columns["ntz"]["timestamp"],
        "arr": [1, 2, 3],
        "m": {"a": 1, "b": 2},  # a map as java.util.Map
        "st": {"x": 1, "y": "z"},  # a struct as a Map of its fields
        "arr_st": [{"k": 1}],
        "nul": None,
        "ym": "P14M",  # java.time.Period
        "dt": "PT26H3M4S",  # java.time.Duration
        "vc": "x",
    }
    assert columns["wide"]["bigDecimal"] == "123456789012345678901234567890.12"
    assert (columns["i"]["long"], columns["nul"]["int"], columns["f"]["double"]) == (3, 0, 1.5)
    assert columns["arr"]["array"] == [1, 2, 3] and columns["bin"]["bytes"] == 2
    assert columns["day"]["date"] == "2024-02-29"
    ts, ntz = columns["ts"], columns["ntz"]
    # The right values, through java.time: the instant of a TIMESTAMP, the wall clock of a TIMESTAMP_NTZ.
    assert ts["instant"] == "2024-03-01T12:34:56.789Z" and ntz["localDateTime"] == "2024-03-01T12:34:56.789"
    assert ts["string"] == ntz["string"] == "2024-03-01 12:34:56.789"
    # getObject of a TIMESTAMP_WITH_TIMEZONE column is not implemented (Avatica's AvaticaSite.get has no
    # case for the type), and getTimestamp moves both kinds by the JVM zone's offset: the accessor
    # reads the UTC wall clock as local time (arrow-java ArrowFlightJdbcTimeStampVectorAccessor
    # getLocalDateTime and getTimestampWithOffset, given the connection's default calendar).
    assert "not implemented" in ts["object"]["error"]
    assert ts["timestamp"] == ntz["timestamp"] == "2024-03-01 07:04:56.789"  # both 5:30 early, in +05:30
    # The connection property timeZone=UTC (Avatica's) makes the calendar UTC: a TIMESTAMP_NTZ's
    # getTimestamp then keeps its wall clock; a TIMESTAMP's still does not give its instant.
    in_utc = ok(utc)["columns"]
    assert in_utc["ntz"]["timestamp"] == in_utc["ts"]["timestamp"] == "2024-03-01 12:34:56.789"
    assert in_utc["ts"]["epochMillis"] == INSTANT_MS - (5 * 3600 + 1800) * 1000


def cancellations(server: ServerProcess) -> int:
    return sum(1 for line in server.lines if "cancelling the job" in line)


def test_cancel_query_timeout_max_rows_and_catalog(server: ServerProcess) -> None:
    """Statement.cancel() from another thread and setQueryTimeout end the read and the Spark job;
    setMaxRows stops at its count; ``catalog=`` sets the session's catalog, ``schema`` does nothing and
    ``USE`` does."""
    url = jdbc_url(server.location)
    slow_first_row = (
        "SELECT id, java_method('java.lang.Thread', 'sleep', 2000L) AS p FROM range(0, 400, 1, 2)"
    )
    before = cancellations(server)
    _, cancelled, timed_out, limited, batches_of_five = run_probe(
        [
            connect(url),
            {"op": "cancel", "sql": stalling_query(), "afterRows": 1},
            {"op": "query", "sql": slow_first_row, "timeout": 1},
            {"op": "query", "sql": "SELECT id FROM range(0, 100000, 1, 4) ORDER BY id", "maxRows": 5},
            {"op": "count", "sql": "SELECT id FROM range(0, 10, 1, 2)", "maxRows": 5},
        ]
    )
    assert ok(cancelled)["readerEnded"] and cancelled["rowsRead"] >= 1
    assert cancelled["readerError"] == "java.sql.SQLException: Statement canceled", cancelled
    # setQueryTimeout bounds the wait for the first rows: no deadline reaches the server, and the job
    # stops when the statement closes its streams.
    assert timed_out["message"].endswith("java.sql.SQLTimeoutException: Query timed out after 1 SECONDS")
    assert rows(limited) == [{"id": n} for n in range(5)]
    # setMaxRows compares the limit with the row number within the current batch, which starts again at
    # each batch: two batches of five rows both come whole (arrow-java
    # ArrowFlightJdbcFlightStreamResultSet.next, this.getRow() > maxRows).
    assert ok(batches_of_five)["count"] == 10
    # The cancelled and the timed-out statements' jobs (the limited read's may have finished already).
    server.wait_for_count("cancelling the job", before + 2, timeout=DEADLINE)

    _, in_catalog, refused, plain, in_schema, _, used = run_probe(
        [
            connect(jdbc_url(server.location, catalog="spark_catalog")),
            {"op": "query", "sql": "SELECT current_catalog() AS c"},
            connect(jdbc_url(server.location, catalog="nope")),
            connect(url, schema="demo"),
            {"op": "query", "sql": "SELECT current_database() AS d"},
            {"op": "execute", "sql": "USE demo"},
            {"op": "query", "sql": "SELECT current_database() AS d, count(*) AS n FROM customers"},
        ]
    )
    assert rows(in_catalog) == [{"c": "spark_catalog"}]
    # The driver closes its client twice, so the second CloseSession meets a closed channel: closing a
    # connection made with catalog= throws (arrow-java ArrowFlightConnection.close calls
    # clientHandler.close() and then AutoCloseables.close(clientHandler); the handler's close sends
    # CloseSession whenever a catalog is set).
    assert refused["previousCloseError"] == "Channel shutdown invoked"
    # An unknown catalog is refused with the driver's message, which names the catalog as Java's
    # Optional (the server's reason goes to the driver's log).
    assert "Cannot set session option for catalog = Optional[nope]" in refused["message"]
    assert ok(plain)["catalog"] is None
    # The driver has no schema property: it sends the name as a call header the server ignores.
    assert rows(in_schema) == [{"d": "default"}]
    # USE holds for the connection's later statements (the driver keeps the session's cookie).
    assert rows(used) == [{"d": "demo", "n": 1000}]


# ---- two nodes, with logins ----------------------------------------------------------------------


@pytest.fixture(scope="module")
def certs(tmp_path_factory: pytest.TempPathFactory) -> Certificates:
    return make_certificates(tmp_path_factory.mktemp("jdbc-certificates"))


@pytest.fixture(scope="module")
def secure_pair(
    zookeeper, certs: Certificates, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[list[ServerProcess]]:
    """Two nodes serving TLS (a certificate of the test CA) with basic authentication (users of
    ``PASSWORDS``) and one cluster secret."""
    folder = tmp_path_factory.mktemp("jdbc-auth")
    secret_file = folder / "secret"
    secret_file.write_text(SECRET + "\n")
    settings = {
        "spark.flight.auth": "basic",
        "spark.flight.auth.basic.usersFile": write_users(folder),
        "spark.flight.auth.secretFile": secret_file,
        "spark.flight.tls.enabled": "true",
        "spark.flight.tls.certFile": certs.server_cert,
        "spark.flight.tls.keyFile": certs.server_key,
        "spark.flight.tls.caFile": certs.ca,
        # Its minimum: a share waiting for its reader spills past 1 MiB rather than hold the job.
        "spark.flight.buffer.maxBytes": 1048576,
    }
    arguments = [argument for key, value in settings.items() for argument in ("--conf", f"{key}={value}")]
    with running_cluster(zookeeper.url, 2, *arguments) as (_, nodes):
        yield nodes


def logins(node: ServerProcess, user: str) -> int:
    return sum(1 for line in node.lines if f"login user={user}" in line)


def test_a_login_reads_every_endpoint_of_two_nodes_with_one_and_four_threads(
    secure_pair: list[ServerProcess], certs: Certificates
) -> None:
    """Over TLS trusting the test CA: every row once through both nodes, with the driver's default
    single reader thread (node-2's stream waits, opened, while node-1's is read: past the buffer's
    1 MiB its share spills to disk rather than stall the job) and with four; the token of the login on node-1 opens node-2's stream
    (retainAuth, the default), and without retainAuth the driver logs in again there; a wrong password
    and an untrusted certificate are refused clearly."""
    first, second = secure_pair
    assert first.location.startswith("grpc+tls://")
    url = jdbc_url(first.location, user="alice", password=PASSWORDS["alice"], tlsRootCerts=str(certs.ca))
    before = (logins(first, "alice"), logins(second, "alice"))
    one, four = run_probe(
        [
            connect(url, threadPoolSize=1),
            {"op": "count", "sql": RANGE},
            connect(url, threadPoolSize=4),
            {"op": "count", "sql": RANGE},
        ]
    )[1::2]
    every_row_once(one)
    every_row_once(four)
    # Two connections, two logins on node-1, none on node-2, whose endpoint the token opened.
    first.wait_for_count("login user=alice", before[0] + 2, timeout=DEADLINE)
    assert logins(second, "alice") == before[1], [line for line in second.lines if "login" in line]

    _, again, wrong, untrusted = run_probe(
        [
            connect(url, retainAuth="false"),
            {"op": "count", "sql": RANGE},
            connect(jdbc_url(first.location, user="alice", password="wrong", tlsRootCerts=str(certs.ca))),
            connect(jdbc_url(first.location, user="alice", password=PASSWORDS["alice"])),
        ]
    )
    every_row_once(again)
    second.wait_for_count("login user=alice", before[1] + 1, timeout=DEADLINE)
    assert "UNAUTHENTICATED: [UNAUTHENTICATED] invalid user name or password (error id" in wrong["message"]
    assert "PKIX path building failed" in str(untrusted["causes"]), untrusted
