"""analyse_access on a real in-process SparkSession: what every statement form reads and writes,
and that analysing a statement runs nothing."""

from __future__ import annotations

import shutil
import tempfile
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from pyspark.errors import AnalysisException, ParseException

from spark_flight_sql.flightsql.auth.base import Identity
from spark_flight_sql.flightsql.authz import (
    AccessDenied,
    AccessKind,
    FilePolicy,
    StatementAccess,
    analyse_access,
)

DERBY_CATALOG = "org.apache.spark.sql.execution.datasources.v2.jdbc.JDBCTableCatalog"
DERBY_DRIVER = "org.apache.derby.iapi.jdbc.AutoloadedDriver"


@dataclass
class Env:
    """A session of its own with a database, views and a v2 (JDBC on in-memory Derby) catalog."""

    spark: object
    names: dict[str, str]

    def sql(self, template: str) -> str:
        return template.format(**self.names)

    def analyse(self, template: str, args: list[object] | None = None) -> StatementAccess:
        return analyse_access(self.spark, self.sql(template), args)  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def env(spark: object) -> Iterator[Env]:
    suffix = uuid.uuid4().hex[:10]
    session = spark.newSession()  # type: ignore[attr-defined]
    db, cat, gv = f"authz_{suffix}", f"authz_derby_{suffix}", f"authz_gv_{suffix}"
    files = Path(tempfile.mkdtemp(prefix="authz-access-"))
    session.conf.set(f"spark.sql.catalog.{cat}", DERBY_CATALOG)
    session.conf.set(f"spark.sql.catalog.{cat}.url", f"jdbc:derby:memory:{cat};create=true")
    session.conf.set(f"spark.sql.catalog.{cat}.driver", DERBY_DRIVER)
    setup = [
        f"CREATE DATABASE {db}",
        f"CREATE TABLE {db}.a (id INT, v STRING) USING parquet",
        f"INSERT INTO {db}.a VALUES (1, 'x')",
        f"CREATE TABLE {db}.b (id INT, w STRING) USING parquet",
        f"CREATE VIEW {db}.va AS SELECT * FROM {db}.a",
        f"CREATE TEMPORARY VIEW tv AS SELECT * FROM {db}.b",
        f"CREATE GLOBAL TEMPORARY VIEW {gv} AS SELECT * FROM {db}.a",
        f"CREATE NAMESPACE {cat}.s",
        f"CREATE TABLE {cat}.s.t (id INT, v STRING)",
        f"CREATE TABLE {cat}.s.u (id INT, v STRING)",
        f"CREATE TABLE {cat}.s.`We.Ird` (id INT)",
        f"INSERT INTO {cat}.s.t VALUES (1, 'x')",
    ]
    names = {
        "db": db,
        "cat": cat,
        "gv": gv,
        "dir": str(files),
        "pq": str(files / "pq"),
        "A": f"spark_catalog.{db}.a",
        "B": f"spark_catalog.{db}.b",
        "VA": f"spark_catalog.{db}.va",
        "TV": "system.session.tv",
        "GV": f"global_temp.{gv}",
        "T": f"{cat}.s.t",
        "U": f"{cat}.s.u",
        "PQ": f"path:file:{files / 'pq'}",
    }
    try:
        session.range(3).write.parquet(str(files / "pq"))
        for statement in setup:
            session.sql(statement)
        yield Env(session, names)
    finally:
        session.sql(f"DROP VIEW IF EXISTS global_temp.{gv}")
        session.sql(f"DROP DATABASE IF EXISTS {db} CASCADE")
        for leftover in ("new", "never"):  # analysed only: they exist only if analysis ran them
            session.sql(f"DROP DATABASE IF EXISTS {db}_{leftover} CASCADE")
        for table in ("t", "u", "`We.Ird`"):
            session.sql(f"DROP TABLE IF EXISTS {cat}.s.{table}")
        _drop_derby_database(session, cat)
        shutil.rmtree(files, ignore_errors=True)


def _drop_derby_database(session: object, name: str) -> None:
    """Free the in-memory Derby database (Derby cannot drop a schema with CASCADE, which Spark's
    DROP NAMESPACE asks of it)."""
    try:
        session._jvm.java.sql.DriverManager.getConnection(f"jdbc:derby:memory:{name};drop=true")  # type: ignore[attr-defined]
    except Exception:  # noqa: BLE001 - Derby reports a successful drop as an SQLException
        pass


QUERY, WRITE, DDL, COMMAND = AccessKind.QUERY, AccessKind.WRITE, AccessKind.DDL, AccessKind.COMMAND

# (id, statement, kind, reads, writes, view_reads, session_only); {X} are Env.names.
CASES = [
    # queries
    ("subqueries", "SELECT a.id, (SELECT max(id) FROM {db}.b) FROM {db}.a a WHERE a.id IN (SELECT id FROM {db}.b) "
     "OR EXISTS (SELECT 1 FROM {cat}.s.t t WHERE t.id = a.id)", QUERY, "A B T", "", "", True),
    ("join", "SELECT * FROM {db}.a JOIN {db}.b USING (id)", QUERY, "A B", "", "", True),
    ("lateral", "SELECT * FROM {db}.a a, LATERAL (SELECT * FROM {db}.b b WHERE b.id = a.id)", QUERY, "A B", "", "", True),
    ("cte_union", "WITH c AS (SELECT id FROM {db}.a) SELECT id FROM c UNION ALL SELECT id FROM {db}.b",
     QUERY, "A B", "", "", True),
    ("temp_view", "SELECT * FROM tv", QUERY, "TV B", "", "", True),
    ("temp_view_qualified", "SELECT * FROM system.session.tv", QUERY, "TV B", "", "", True),
    ("view", "SELECT * FROM {db}.va", QUERY, "VA", "", "A", True),
    ("global_temp_view", "SELECT * FROM global_temp.{gv}", QUERY, "GV", "", "A", True),
    ("range", "SELECT * FROM range(10)", QUERY, "", "", "", True),
    ("values", "VALUES (1, 2)", QUERY, "", "", "", True),
    ("path", "SELECT * FROM parquet.`{pq}`", QUERY, "PQ", "", "", True),
    ("v2_table", "SELECT * FROM {cat}.s.t", QUERY, "T", "", "", True),
    # writes
    ("insert", "INSERT INTO {db}.a SELECT id, w FROM {db}.b", WRITE, "B", "A", "", False),
    ("insert_overwrite", "INSERT OVERWRITE TABLE {db}.b SELECT * FROM {db}.va", WRITE, "VA", "B", "A", False),
    ("insert_values", "INSERT INTO {db}.a VALUES (2, 'y')", WRITE, "", "A", "", False),
    ("insert_v2", "INSERT INTO {cat}.s.t SELECT * FROM {db}.a", WRITE, "A", "T", "", False),
    ("insert_overwrite_v2", "INSERT OVERWRITE {cat}.s.t SELECT * FROM {cat}.s.u", WRITE, "U", "T", "", False),
    ("multi_insert", "FROM {db}.b INSERT INTO {db}.a SELECT id, w INSERT INTO {cat}.s.t SELECT id, w WHERE id > 1",
     WRITE, "B", "A T", "", False),
    ("with_insert", "WITH s AS (SELECT id, w FROM {db}.b) INSERT INTO {db}.a SELECT * FROM s", WRITE, "B", "A", "", False),
    ("ctas", "CREATE TABLE {db}.c AS SELECT * FROM {db}.a", WRITE, "A", "spark_catalog.{db}.c", "", False),
    ("ctas_location", "CREATE TABLE {db}.c USING parquet LOCATION '{dir}/c' AS SELECT * FROM {db}.a",
     WRITE, "A", "spark_catalog.{db}.c path:file:{dir}/c", "", False),
    ("ctas_v2", "CREATE TABLE {cat}.s.c AS SELECT * FROM {db}.a", WRITE, "A", "{cat}.s.c", "", False),
    ("rtas_v2", "REPLACE TABLE {cat}.s.t AS SELECT * FROM {db}.a", WRITE, "A", "T", "", False),
    ("delete_v1", "DELETE FROM {db}.a WHERE id = 1", WRITE, "", "A", "", False),
    ("delete_v2", "DELETE FROM {cat}.s.t WHERE id IN (SELECT id FROM {db}.b)", WRITE, "B", "T", "", False),
    ("update_v2", "UPDATE {cat}.s.t SET v = 'y' WHERE id = 1", WRITE, "", "T", "", False),
    ("merge_v2", "MERGE INTO {cat}.s.t t USING {db}.b s ON t.id = s.id WHEN MATCHED THEN UPDATE SET v = s.w "
     "WHEN NOT MATCHED THEN INSERT (id, v) VALUES (s.id, s.w)", WRITE, "B", "T", "", False),
    ("truncate", "TRUNCATE TABLE {db}.a", WRITE, "", "A", "", False),
    ("truncate_v2", "TRUNCATE TABLE {cat}.s.t", WRITE, "", "T", "", False),
    ("insert_directory", "INSERT OVERWRITE DIRECTORY '{dir}/out' USING parquet SELECT * FROM {db}.a",
     WRITE, "A", "path:file:{dir}/out", "", False),
    ("load_data", "LOAD DATA LOCAL INPATH '{pq}' INTO TABLE {db}.a", WRITE, "PQ", "A", "", False),
    # DDL
    ("create_table", "CREATE TABLE {db}.c (x INT) USING parquet", DDL, "", "spark_catalog.{db}.c", "", False),
    ("create_table_v2", "CREATE TABLE {cat}.s.c (x INT)", DDL, "", "{cat}.s.c", "", False),
    ("create_table_like", "CREATE TABLE {db}.c LIKE {db}.a", DDL, "A", "spark_catalog.{db}.c", "", False),
    ("create_view", "CREATE VIEW {db}.vc AS SELECT a.id FROM {db}.a a JOIN {db}.va x USING (id)",
     DDL, "A VA", "spark_catalog.{db}.vc", "A", False),
    ("create_temp_view", "CREATE TEMPORARY VIEW tv2 AS SELECT * FROM {db}.va", DDL, "VA", "system.session.tv2", "A", True),
    ("create_temp_view_using", "CREATE TEMPORARY VIEW tv3 USING parquet OPTIONS (path '{pq}')",
     DDL, "PQ", "system.session.tv3", "", True),
    ("create_global_temp_view", "CREATE GLOBAL TEMPORARY VIEW gv2 AS SELECT * FROM {db}.b",
     DDL, "B", "global_temp.gv2", "", False),
    ("alter_view", "ALTER VIEW {db}.va AS SELECT * FROM {db}.b", DDL, "B", "VA", "", False),
    ("alter_temp_view", "ALTER VIEW tv AS SELECT * FROM {db}.a", DDL, "A", "TV", "", True),
    ("rename_temp_view", "ALTER VIEW tv RENAME TO tv4", DDL, "", "TV system.session.tv4", "", True),
    ("drop_table", "DROP TABLE {db}.a", DDL, "", "A", "", False),
    ("drop_table_v2", "DROP TABLE {cat}.s.t", DDL, "", "T", "", False),
    ("drop_view", "DROP VIEW {db}.va", DDL, "", "VA", "", False),
    ("drop_temp_view", "DROP VIEW tv", DDL, "", "TV", "", True),
    ("drop_global_temp_view", "DROP VIEW global_temp.{gv}", DDL, "", "GV", "", False),
    ("add_columns", "ALTER TABLE {db}.a ADD COLUMNS (z INT)", DDL, "", "A", "", False),
    ("add_column_v2", "ALTER TABLE {cat}.s.t ADD COLUMN z INT", DDL, "", "T", "", False),
    ("rename", "ALTER TABLE {db}.a RENAME TO {db}.a2", DDL, "", "A spark_catalog.{db}.a2", "", False),
    ("rename_unqualified", "ALTER TABLE {db}.a RENAME TO a3", DDL, "", "A spark_catalog.{db}.a3", "", False),
    ("rename_v2", "ALTER TABLE {cat}.s.t RENAME TO t9", DDL, "", "T {cat}.s.t9", "", False),
    ("set_location", "ALTER TABLE {db}.a SET LOCATION '{dir}/moved'", DDL, "", "A path:file:{dir}/moved", "", False),
    ("set_properties", "ALTER TABLE {db}.a SET TBLPROPERTIES ('k' = 'v')", DDL, "", "A", "", False),
    ("repair", "MSCK REPAIR TABLE {db}.a", DDL, "", "A", "", False),
    ("create_database", "CREATE DATABASE {db}_new", DDL, "", "spark_catalog.{db}_new.*", "", False),
    ("drop_database", "DROP DATABASE {db} CASCADE", DDL, "", "spark_catalog.{db}.*", "", False),
    ("create_namespace_v2", "CREATE NAMESPACE {cat}.s2", DDL, "", "{cat}.s2.*", "", False),
    ("create_function", "CREATE FUNCTION {db}.f AS 'org.example.F'", DDL, "", "spark_catalog.{db}.f", "", False),
    ("create_temp_function", "CREATE TEMPORARY FUNCTION tf AS 'org.example.F'", DDL, "", "system.session.tf", "", False),
    # commands
    ("use", "USE {db}", COMMAND, "spark_catalog.{db}.*", "", "", True),
    ("set", "SET spark.sql.shuffle.partitions = 3", COMMAND, "", "", "", True),
    ("set_get", "SET spark.sql.shuffle.partitions", COMMAND, "", "", "", True),
    ("set_all", "SET", COMMAND, "", "", "", True),
    ("set_time_zone", "SET TIME ZONE 'UTC'", COMMAND, "", "", "", True),
    ("set_catalog_conf", "SET spark.sql.catalog.x = org.example.Catalog", COMMAND, "", "", "", False),
    ("set_hadoop_conf", "SET spark.hadoop.fs.example = 1", COMMAND, "", "", "", False),
    ("reset", "RESET", COMMAND, "", "", "", True),
    ("show_tables", "SHOW TABLES IN {db}", COMMAND, "spark_catalog.{db}.*", "", "", True),
    ("show_databases", "SHOW DATABASES", COMMAND, "spark_catalog.*", "", "", True),
    ("show_columns", "SHOW COLUMNS IN {db}.a", COMMAND, "A", "", "", True),
    ("show_create_table", "SHOW CREATE TABLE {db}.va", COMMAND, "VA", "", "", True),
    ("describe", "DESCRIBE {db}.a", COMMAND, "A", "", "", True),
    ("describe_view", "DESCRIBE TABLE EXTENDED {db}.va", COMMAND, "VA", "", "", True),
    ("describe_temp_view", "DESCRIBE tv", COMMAND, "TV", "", "", True),
    ("describe_v2", "DESCRIBE {cat}.s.t", COMMAND, "T", "", "", True),
    ("describe_column", "DESCRIBE {db}.a id", COMMAND, "A", "", "", True),
    ("describe_database", "DESCRIBE DATABASE {db}", COMMAND, "spark_catalog.{db}.*", "", "", True),
    ("describe_function", "DESCRIBE FUNCTION abs", COMMAND, "", "", "", True),
    ("describe_query", "DESCRIBE QUERY SELECT * FROM {db}.va", COMMAND, "VA", "", "A", True),
    ("explain", "EXPLAIN INSERT INTO {db}.a SELECT * FROM {db}.b", COMMAND, "A B", "", "", True),
    ("explain_view", "EXPLAIN EXTENDED SELECT * FROM {db}.va", COMMAND, "VA", "", "A", True),
    ("cache", "CACHE TABLE {db}.a", COMMAND, "A", "", "", False),
    ("cache_temp_view", "CACHE LAZY TABLE tv", COMMAND, "TV B", "", "", False),
    ("cache_as_select", "CACHE TABLE c1 AS SELECT * FROM {db}.b", COMMAND, "B", "system.session.c1", "", False),
    ("uncache", "UNCACHE TABLE {db}.a", COMMAND, "A", "", "", False),
    ("refresh", "REFRESH TABLE {db}.a", COMMAND, "A", "", "", False),
    ("clear_cache", "CLEAR CACHE", COMMAND, "", "", "", False),
    ("analyze", "ANALYZE TABLE {db}.a COMPUTE STATISTICS", COMMAND, "", "A", "", False),
    ("add_jar", "ADD JAR '{dir}/example.jar'", COMMAND, "", "", "", False),
]  # fmt: skip


def _names(env: Env, spec: str) -> frozenset[str]:
    return frozenset(env.names[word] if word in env.names else env.sql(word) for word in spec.split())


@pytest.mark.parametrize(("sql", "kind", "reads", "writes", "view_reads", "session_only"),
                         [case[1:] for case in CASES], ids=[case[0] for case in CASES])  # fmt: skip
def test_statement_forms(
    env: Env, sql: str, kind: AccessKind, reads: str, writes: str, view_reads: str, session_only: bool
) -> None:
    access = env.analyse(sql)
    assert (access.kind, access.reads, access.writes, access.view_reads, access.session_only) == (
        kind,
        _names(env, reads),
        _names(env, writes),
        _names(env, view_reads),
        session_only,
    ), access
    assert access.sql == env.sql(sql)
    assert not access.opaque
    assert access.operation
    assert access.changes_state == (kind is not QUERY and not session_only)


def test_analysing_executes_nothing(env: Env) -> None:
    """Analysing DDL, DML and commands leaves every table, view, setting and cache as it was."""
    spark = env.spark
    db, cat = env.names["db"], env.names["cat"]
    shuffle = spark.conf.get("spark.sql.shuffle.partitions")  # type: ignore[attr-defined]
    current = spark.catalog.currentDatabase()  # type: ignore[attr-defined]
    statements = [
        "CREATE TABLE {db}.never (x INT) USING parquet",
        "CREATE TABLE {db}.never2 AS SELECT * FROM {db}.a",
        "CREATE TABLE {cat}.s.never (x INT)",
        "INSERT INTO {db}.a VALUES (9, 'z')",
        "INSERT OVERWRITE TABLE {db}.a SELECT * FROM {db}.b",
        "INSERT INTO {cat}.s.t VALUES (9, 'z')",
        "TRUNCATE TABLE {db}.a",
        "DELETE FROM {cat}.s.t",
        "MERGE INTO {cat}.s.t t USING {db}.b s ON t.id = s.id WHEN NOT MATCHED THEN INSERT (id, v) VALUES (s.id, s.w)",
        "DROP TABLE {db}.b",
        "DROP TABLE {cat}.s.t",
        "DROP VIEW {db}.va",
        "DROP VIEW tv",
        "DROP VIEW global_temp.{gv}",
        "CREATE VIEW {db}.never_v AS SELECT * FROM {db}.a",
        "CREATE TEMPORARY VIEW never_tv AS SELECT * FROM {db}.a",
        "CREATE GLOBAL TEMPORARY VIEW never_gv AS SELECT * FROM {db}.a",
        "ALTER TABLE {db}.a ADD COLUMNS (z INT)",
        "ALTER TABLE {db}.a RENAME TO {db}.never3",
        "CREATE DATABASE {db}_never",
        "USE {db}",
        "SET spark.sql.shuffle.partitions = 7",
        "CACHE TABLE {db}.a",
        "CACHE TABLE never_c AS SELECT * FROM {db}.a",
        "INSERT OVERWRITE DIRECTORY '{dir}/never' USING parquet SELECT * FROM {db}.a",
        "CREATE TEMPORARY FUNCTION never_f AS 'org.example.F'",
        "EXECUTE IMMEDIATE 'CREATE TABLE {db}.never4 (x INT) USING parquet'",
        "EXPLAIN EXECUTE IMMEDIATE 'DROP TABLE {db}.b'",
        "EXPLAIN INSERT INTO {db}.a VALUES (8, 'w')",
    ]
    for statement in statements:
        env.analyse(statement)
    catalog = spark.catalog  # type: ignore[attr-defined]
    assert sorted(t.name for t in catalog.listTables(db) if not t.isTemporary) == ["a", "b", "va"]
    assert [tuple(r) for r in spark.sql(f"SELECT * FROM {db}.a").collect()] == [(1, "x")]  # type: ignore[attr-defined]
    assert [c.name for c in catalog.listColumns(f"{db}.a")] == ["id", "v"]
    assert [tuple(r) for r in spark.sql(f"SELECT * FROM {cat}.s.t").collect()] == [(1, "x")]  # type: ignore[attr-defined]
    assert not catalog.tableExists(f"{cat}.s.never")
    assert (
        catalog.tableExists("tv")
        and not catalog.tableExists("never_tv")
        and not catalog.tableExists("never_c")
    )
    assert catalog.tableExists(f"global_temp.{env.names['gv']}") and not catalog.tableExists(
        "global_temp.never_gv"
    )
    assert not catalog.databaseExists(f"{db}_never")
    assert not catalog.isCached(f"{db}.a")
    assert not catalog.functionExists("never_f")
    assert spark.conf.get("spark.sql.shuffle.partitions") == shuffle  # type: ignore[attr-defined]
    assert catalog.currentDatabase() == current
    assert not Path(env.names["dir"], "never").exists()


def test_opaque_statements_are_not_analysed(env: Env) -> None:
    for statement in (
        "EXECUTE IMMEDIATE 'SELECT * FROM {db}.a'",
        "EXPLAIN EXECUTE IMMEDIATE 'DROP TABLE {db}.b'",
        "BEGIN SELECT 1; END",
        "CALL {cat}.system.do_something()",
    ):
        access = env.analyse(statement)
        assert access.opaque, statement
        assert (access.kind, access.reads, access.writes, access.session_only) == (
            COMMAND,
            frozenset(),
            frozenset(),
            False,
        )
        assert access.changes_state


def test_parameter_markers(env: Env) -> None:
    a, b = env.names["A"], env.names["B"]
    assert env.analyse("SELECT * FROM {db}.a WHERE id = ?").reads == {a}
    assert env.analyse("SELECT * FROM {db}.a WHERE id = ?", [1]).reads == {a}
    assert env.analyse("SELECT * FROM {db}.a LIMIT ?").reads == {a}  # a null LIMIT is refused: zeros stand in
    assert env.analyse("SELECT * FROM IDENTIFIER(?)", [env.sql("{db}.b")]).reads == {b}
    assert env.analyse("INSERT INTO {db}.a VALUES (?, ?)").writes == {a}
    assert env.analyse("EXPLAIN SELECT * FROM IDENTIFIER(?)", [env.sql("{db}.b")]).reads == {b}
    with pytest.raises(AnalysisException):
        env.analyse("SELECT * FROM IDENTIFIER(?)")  # the table's name is the parameter's value


def test_statements_spark_cannot_analyse_raise(env: Env) -> None:
    with pytest.raises(AnalysisException, match="TABLE_OR_VIEW_NOT_FOUND"):
        env.analyse("SELECT * FROM {db}.nope")
    with pytest.raises(AnalysisException):
        env.analyse("INSERT INTO {db}.nope SELECT 1")
    with pytest.raises(AnalysisException):
        env.analyse("EXPLAIN SELECT * FROM {db}.nope")
    with pytest.raises(ParseException):
        env.analyse("SELEC 1")


def test_names_are_lower_case_and_quoted(env: Env) -> None:
    sql = f"SELECT * FROM {env.names['db'].upper()}.A JOIN {env.names['cat']}.s.`We.Ird` USING (id)"
    access = analyse_access(env.spark, sql)  # type: ignore[arg-type]
    assert access.reads == {env.names["A"], env.sql("{cat}.s.`we.ird`")}  # a dot inside a part is quoted


def test_unqualified_names_use_the_sessions_database(env: Env) -> None:
    session = env.spark.newSession()  # type: ignore[attr-defined]
    session.sql(env.sql("USE {db}"))
    a, b = env.names["A"], env.names["B"]

    def analyse(sql: str) -> StatementAccess:
        return analyse_access(session, sql)

    assert analyse("SELECT * FROM a").reads == {a}
    assert analyse("WITH a AS (SELECT * FROM b) SELECT * FROM a").reads == {b}  # a CTE is not a table
    access = analyse("INSERT INTO a SELECT * FROM b")
    assert (access.reads, access.writes) == ({b}, {a})
    assert analyse("CREATE TABLE c (x INT) USING parquet").writes == {env.sql("spark_catalog.{db}.c")}
    session.sql("CREATE TEMPORARY VIEW a AS SELECT * FROM b")  # a temporary view hides the table
    assert analyse("SELECT * FROM a").reads == {"system.session.a", b}


def test_temporary_views_over_files_and_other_sources(env: Env) -> None:
    session = env.spark.newSession()  # type: ignore[attr-defined]
    session.sql(env.sql("CREATE TEMPORARY VIEW files USING parquet OPTIONS (path '{pq}')"))
    session.sql(
        env.sql(
            """CREATE TEMPORARY VIEW jdbc USING jdbc OPTIONS (url 'jdbc:derby:memory:{cat}', dbtable '"s"."t"')"""
        )
    )

    def analyse(sql: str) -> StatementAccess:
        return analyse_access(session, sql)

    assert analyse("SELECT * FROM files").reads == {"system.session.files", env.names["PQ"]}
    access = analyse("INSERT INTO files SELECT 5L")  # writes where the view's files are
    assert (access.kind, access.reads, access.writes) == (WRITE, frozenset(), {env.names["PQ"]})
    assert analyse("SELECT * FROM jdbc").reads == {"system.session.jdbc", "source:JDBCRelation"}  # no options
    assert analyse("INSERT INTO jdbc SELECT 2, 'y'").writes == {"source:JDBCRelation"}


def test_analysis_leaves_the_active_session_as_it_was(env: Env, spark: object) -> None:
    sessions = spark._jvm.org.apache.spark.sql.SparkSession  # type: ignore[attr-defined]
    before = sessions.getActiveSession()
    env.analyse("SELECT * FROM {db}.a")  # analysed with env's own session active
    assert sessions.getActiveSession().equals(before)


def test_file_policy_on_analysed_statements(env: Env, tmp_path: Path) -> None:
    policy_file = tmp_path / "policy.toml"
    policy_file.write_text(
        env.sql(
            '[users.alice]\naccess = "read-only"\ntables = ["spark_catalog.{db}.va", "spark_catalog.{db}.b"]\n'
        )
    )
    policy = FilePolicy({"spark.flight.authz.policyFile": str(policy_file)}.get)
    alice = Identity("alice")
    for allowed in (
        "SELECT * FROM {db}.va",  # the view is allowed; what it reads need not be
        "SELECT * FROM tv",  # the session's temporary view reads b, which is allowed
        "CREATE TEMPORARY VIEW mine AS SELECT * FROM {db}.b",
        "DESCRIBE {db}.b",
        "SHOW TABLES IN {db}",
        "SET spark.sql.shuffle.partitions = 4",
    ):
        policy.check(alice, env.analyse(allowed))
    for denied, message in (
        ("SELECT * FROM {db}.a", "user 'alice' (read-only) may not read spark_catalog.{db}.a"),
        ("SELECT * FROM global_temp.{gv}", "may not read global_temp.{gv}"),
        ("CREATE TEMPORARY VIEW mine AS SELECT * FROM {db}.a", "may not read spark_catalog.{db}.a"),
        ("INSERT INTO {db}.b VALUES (1, 'x')", "may not run WRITE statements"),
        ("CACHE TABLE {db}.b", "may not run COMMAND statements that change shared state"),
        ("DROP VIEW {db}.va", "may not run DDL statements"),
        ("SELECT * FROM parquet.`{pq}`", "may not read path:file:"),
        ("EXECUTE IMMEDIATE 'SELECT 1'", "known only when they run"),
    ):
        with pytest.raises(AccessDenied) as caught:
            policy.check(alice, env.analyse(denied))
        assert env.sql(message) in str(caught.value), (denied, str(caught.value))
