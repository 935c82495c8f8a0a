"""A node's data folder: tables, views and databases outlive the node (a clean stop, Ctrl-C, SIGKILL), the
demo tables are made once, and one folder serves one node at a time, with a clear error for a second.

The catalog rules (whose settings win) and the folder's lock are checked without Spark; three real node
starts on one folder check the rest.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import adbc_driver_flightsql.dbapi
import pytest
from support import ROOT
from support.processes import COMMAND_TIMEOUT, run_command, start
from support.server import ServerProcess, server_command, start_server

from spark_flight_sql.flightsql.data_dir import (
    CatalogKind,
    DataConfKey,
    DataDirError,
    DataDirLock,
    default_data_dir,
    plan_catalog,
)

DATA_DIR = DataConfKey.DATA_DIR.value
DERBY_URL = "spark.hadoop.javax.jdo.option.ConnectionURL"


# ---- which catalog: the rules ---------------------------------------------------------------------


def test_by_default_the_catalog_is_a_derby_metastore_in_the_users_data_folder(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "share"))
    plan = plan_catalog({})
    folder = tmp_path / "share" / "spark-flight-sql"
    assert plan.kind is CatalogKind.EMBEDDED
    assert plan.data_dir == folder
    assert plan.settings["spark.sql.catalogImplementation"] == "hive"
    assert plan.settings["spark.sql.warehouse.dir"] == str(folder / "warehouse")
    assert plan.settings[DERBY_URL] == f"jdbc:derby:;databaseName={folder / 'metastore_db'};create=true"
    assert plan.settings[DATA_DIR] == str(folder)
    assert all(
        str(folder) in plan.settings[key] for key in plan.settings if key.startswith("spark.hadoop.hive.")
    )
    assert not plan.scratch_warehouse


def test_the_default_folder_follows_xdg_and_is_never_the_current_directory(tmp_path: Path) -> None:
    home = Path.home()
    assert default_data_dir({}, "linux") == home / ".local" / "share" / "spark-flight-sql"
    assert default_data_dir({"XDG_DATA_HOME": str(tmp_path)}, "linux") == tmp_path / "spark-flight-sql"
    assert (
        default_data_dir({"XDG_DATA_HOME": "relative"}, "linux")
        == home / ".local" / "share" / "spark-flight-sql"
    )
    assert default_data_dir({}, "darwin") == home / "Library" / "Application Support" / "spark-flight-sql"


def test_a_data_folder_given_is_made_absolute_and_the_users_own_settings_win(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.chdir(tmp_path)
    plan = plan_catalog({DATA_DIR: "mine", "spark.sql.warehouse.dir": "/data/tables"})
    assert plan.data_dir == tmp_path / "mine"
    assert plan.settings[DATA_DIR] == str(tmp_path / "mine")
    assert "spark.sql.warehouse.dir" not in plan.settings, "the user's warehouse wins"
    assert DERBY_URL in plan.settings


@pytest.mark.parametrize(
    "conf",
    [
        {"spark.hadoop.hive.metastore.uris": "thrift://metastore:9083"},
        {"spark.hive.metastore.uris": "thrift://metastore:9083"},
        {DERBY_URL: "jdbc:postgresql://db/metastore"},
        {"spark.hadoop.hive.metastore.uris": "thrift://m:9083", DATA_DIR: "/ignored"},
    ],
)
def test_a_metastore_of_the_users_wins_and_no_folder_is_used(conf: dict[str, str]) -> None:
    plan = plan_catalog(conf)
    assert plan.kind is CatalogKind.METASTORE
    assert plan.data_dir is None
    assert plan.settings == {"spark.sql.catalogImplementation": "hive"}
    given = plan_catalog({**conf, "spark.sql.catalogImplementation": "hive"})
    assert given.settings == {}


def test_a_hive_site_in_sparks_conf_folder_wins(tmp_path: Path) -> None:
    site = tmp_path / "hive-site.xml"
    site.write_text("<configuration/>")
    plan = plan_catalog({}, hive_site=site)
    assert plan.kind is CatalogKind.METASTORE and plan.data_dir is None


def test_an_in_memory_catalog_gets_a_warehouse_that_goes_with_it() -> None:
    plan = plan_catalog({"spark.sql.catalogImplementation": "in-memory"})
    assert plan.kind is CatalogKind.IN_MEMORY and plan.data_dir is None
    assert plan.scratch_warehouse and plan.settings == {}
    own = plan_catalog({"spark.sql.catalogImplementation": "in-memory", "spark.sql.warehouse.dir": "/w"})
    assert not own.scratch_warehouse


def test_under_spark_submit_its_catalog_wins_unless_a_data_folder_is_set(tmp_path: Path) -> None:
    assert plan_catalog({}, under_submit=True).kind is CatalogKind.IN_MEMORY
    hive = plan_catalog({"spark.sql.catalogImplementation": "hive"}, under_submit=True)
    assert hive.kind is CatalogKind.METASTORE and hive.settings == {}
    opted_in = plan_catalog({DATA_DIR: str(tmp_path)}, under_submit=True)
    assert opted_in.kind is CatalogKind.EMBEDDED and opted_in.data_dir == tmp_path


def test_a_catalog_implementation_spark_does_not_know_is_refused() -> None:
    with pytest.raises(ValueError, match="must be 'hive' or 'in-memory'"):
        plan_catalog({"spark.sql.catalogImplementation": "hvie"})


# ---- one node per folder: the lock ----------------------------------------------------------------


@contextlib.contextmanager
def child_process(code: str, *args: str) -> Iterator[subprocess.Popen[str]]:
    """A Python child running ``code`` with ``args``, once it printed its first line; killed (SIGKILL)
    and reaped at the end."""
    child = start(
        [sys.executable, "-c", code, *args], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    try:
        assert child.stdout is not None and child.stdout.readline().strip() == "ready"
        yield child
    finally:
        child.kill()
        child.communicate()


def locked_by_child(folder: Path) -> contextlib.AbstractContextManager[subprocess.Popen[str]]:
    """A child process that holds ``folder``'s lock until it is killed."""
    code = (
        "import sys\n"
        "from pathlib import Path\n"
        "from spark_flight_sql.flightsql.data_dir import DataDirLock\n"
        "DataDirLock.acquire(Path(sys.argv[1]))\n"
        "print('ready', flush=True)\n"
        "sys.stdin.read()\n"
    )
    return child_process(code, str(folder))


def test_a_folder_in_use_is_refused_naming_it_and_its_node_until_that_node_dies(tmp_path: Path) -> None:
    folder = tmp_path / "data"
    with locked_by_child(folder) as child:
        with pytest.raises(DataDirError) as refused:
            DataDirLock.acquire(folder)
        message = str(refused.value)
        assert f"the data folder {folder} is in use by another node (pid {child.pid})" in message
        assert "--data-dir DIR" in message and f"--conf {DATA_DIR}=DIR" in message
    # The child was killed with SIGKILL: the kernel dropped its lock.
    with DataDirLock.acquire(folder) as lock:
        assert lock.folder == folder
        assert (folder / "node.lock").read_text() == f"{os.getpid()}\n"


def test_an_unusable_folder_is_refused_with_what_to_do(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("not a folder")
    with pytest.raises(DataDirError, match="cannot use the data folder .*file.*--data-dir DIR"):
        DataDirLock.acquire(tmp_path / "file")


def test_the_jvm_of_the_folders_previous_node_is_waited_for(tmp_path: Path) -> None:
    """A node killed with SIGKILL leaves its JVM behind for a moment: the next node waits for it (told
    apart from a later process with its pid by the folder on its command line)."""
    folder = tmp_path / "data"
    folder.mkdir()
    # Stands for the JVM: a process whose command line carries the folder, as a node's JVM's does.
    with child_process("import sys; print('ready', flush=True); sys.stdin.read()", str(folder)) as jvm:
        (folder / "node.lock").write_text(f"999999999\n{jvm.pid}\n")
        with pytest.raises(
            DataDirError, match=rf"Spark JVM \(pid {jvm.pid}\) .* still runs .*kill {jvm.pid}"
        ):
            DataDirLock.acquire(folder, previous_jvm_timeout=0.5)
        acquired: list[DataDirLock] = []
        waiter = threading.Thread(target=lambda: acquired.append(DataDirLock.acquire(folder, 300)))
        waiter.start()
        assert acquired == [], "acquired while the previous JVM still ran"
    waiter.join(timeout=300)
    assert len(acquired) == 1, "not acquired once the previous JVM was gone"
    acquired[0].record_jvm(4242)
    assert (folder / "node.lock").read_text() == f"{os.getpid()}\n4242\n"
    acquired[0].release()
    (folder / "node.lock").write_text(f"1\n{os.getpid()}\n")  # a live pid that is no JVM of this folder
    DataDirLock.acquire(folder, previous_jvm_timeout=0.5).release()


# ---- real nodes on one folder ---------------------------------------------------------------------


def connect(node: ServerProcess) -> adbc_driver_flightsql.dbapi.Connection:
    return adbc_driver_flightsql.dbapi.connect(node.location, autocommit=True)


def rows(node: ServerProcess, sql: str) -> list[tuple[object, ...]]:
    with connect(node) as connection, connection.cursor() as cursor:
        cursor.execute(sql)
        return cursor.fetchall()


def created_time(node: ServerProcess, table: str) -> str:
    return next(row[1] for row in rows(node, f"DESCRIBE TABLE EXTENDED {table}") if row[0] == "Created Time")


def execute(node: ServerProcess, sql: str) -> None:
    with connect(node) as connection, connection.cursor() as cursor:
        cursor.execute(sql)


def refused_start(tmp_path: Path, data_dir: Path | None, env: dict[str, str] | None = None) -> str:
    """Start a node on ``data_dir`` (None: the default folder) that must fail at once, before it starts
    Spark; what it printed."""
    workdir = tmp_path / "refused"
    workdir.mkdir(exist_ok=True)
    command = server_command(workdir, demo=False, data_dir=data_dir)
    if data_dir is None:
        index = command.index("--data-dir")
        del command[index : index + 2]
    result = run_command(
        command, timeout=COMMAND_TIMEOUT, text=True, cwd=ROOT, env={**os.environ, **(env or {})}
    )
    output = result.stdout + result.stderr
    assert result.returncode == 1, output
    assert "catalog: " not in output, "it got as far as starting Spark:\n" + output
    assert "Traceback" not in output and "XSDB6" not in output, output
    return output


@pytest.fixture
def cwd(tmp_path: Path) -> Iterator[Path]:
    """An empty working directory for the nodes: nothing of the catalog may land there."""
    folder = tmp_path / "cwd"
    folder.mkdir()
    yield folder
    assert sorted(p.name for p in folder.iterdir()) == [], "the node wrote into its working directory"


def test_tables_views_and_databases_outlive_a_ctrl_c_and_a_sigkill(
    tmp_path: Path, cwd: Path, server: ServerProcess
) -> None:
    data = tmp_path / "data"
    first = start_server(data_dir=data, cwd=cwd)
    try:
        first.wait_for_line("demo tables: created demo.customers", timeout=10)
        with connect(first) as connection, connection.cursor() as cursor:
            cursor.execute("CREATE DATABASE kept_db")
            cursor.execute("CREATE TABLE kept_db.keepme (id INT, name STRING) USING parquet")
            cursor.execute("INSERT INTO kept_db.keepme VALUES (1, 'one'), (2, 'two')")
            cursor.execute("CREATE VIEW kept_db.kept_view AS SELECT id FROM kept_db.keepme WHERE id > 1")
        sales_created = created_time(first, "demo.sales")

        # A second node on the same folder fails at once, saying which folder and what to do.
        output = refused_start(tmp_path, data)
        assert f"the data folder {data} is in use by another node (pid {first.process.pid})" in output
        assert "--data-dir DIR" in output
        # A node with a folder of its own (the session's) serves beside it, with its own catalog.
        assert rows(server, "SHOW DATABASES LIKE 'kept_db'") == []
    finally:
        os.killpg(first.process.pid, signal.SIGINT)  # Ctrl-C in a terminal
        assert first.wait_exit() == 0, first.tail()
    assert (data / "derby.log").is_file() and (data / "metastore_db").is_dir()
    assert (data / "warehouse" / "kept_db.db" / "keepme").is_dir()

    second = start_server(data_dir=data, cwd=cwd)
    try:
        assert rows(second, "SELECT id, name FROM kept_db.keepme ORDER BY id") == [(1, "one"), (2, "two")]
        assert rows(second, "SELECT * FROM kept_db.kept_view") == [(2,)]
        second.wait_for_line("demo tables: already in the catalog: demo.customers", timeout=10)
        assert not any("demo tables: created" in line for line in second.lines)
        assert created_time(second, "demo.sales") == sales_created
        execute(second, "INSERT INTO kept_db.keepme VALUES (3, 'three')")
    finally:
        second.process.kill()  # SIGKILL to the node alone: its JVM notices and exits by itself
        second.wait_exit()

    third = start_server(data_dir=data, cwd=cwd, demo=False)
    try:
        assert rows(third, "SELECT id FROM kept_db.keepme ORDER BY id") == [(1,), (2,), (3,)]
        assert rows(third, "SELECT * FROM kept_db.kept_view ORDER BY id") == [(2,), (3,)]
        assert rows(third, "SELECT count(*) FROM demo.sales") == [(100_000,)]
    finally:
        assert third.stop() == 0, third.tail()


def test_a_second_node_with_the_default_folder_is_refused_at_once(tmp_path: Path) -> None:
    """The default folder ($XDG_DATA_HOME/spark-flight-sql) in use: the message names it."""
    share = tmp_path / "share"
    with locked_by_child(share / "spark-flight-sql") as holder:
        output = refused_start(tmp_path, None, env={"XDG_DATA_HOME": str(share)})
    assert (
        f"the data folder {share / 'spark-flight-sql'} is in use by another node (pid {holder.pid})" in output
    )
