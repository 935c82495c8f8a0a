"""A node's data folder (``spark.flight.dataDir``): the persistent catalog a node has by default.

``spark-flight-sql serve`` keeps its catalog (a Hive metastore on embedded Derby, from PySpark's own
jars) and its warehouse (the tables' files) in one folder, so that the tables, views and databases
created through a node are there again after it stops, cleanly or not:

- ``metastore_db/``: the Derby database of the catalog (Derby recovers it from its log after a kill);
- ``warehouse/``: the files of managed tables (``<database>.db/<table>/`` beside ``default``'s);
- ``derby.log``, ``hive/``: Derby's log and Hive's scratch folders;
- ``node.lock``: held by the node that uses the folder (the pid of its process inside).

Embedded Derby admits one process per database, so a folder serves one node at a time: a second node
started on a folder in use fails at once, before it starts Spark, with a message naming the folder
and how to choose another. Nodes that should see the same tables share a Hive metastore service
instead (``dev/cluster`` runs one).

Whoever configured a catalog wins over this default: a Hive metastore named in the conf
(``spark.hadoop.hive.metastore.uris``, ``spark.hive.metastore.uris``,
``spark.hadoop.javax.jdo.option.ConnectionURL``) or in a ``hive-site.xml`` of Spark's conf folder,
``spark.sql.catalogImplementation=in-memory``, and ``spark.sql.warehouse.dir``. Under spark-submit the
catalog is spark-submit's (its conf, ``spark-defaults.conf``, ``hive-site.xml``) unless
``spark.flight.dataDir`` is set. An in-memory catalog forgets its tables at stop, so its warehouse
is a temporary folder removed at stop too: a table created again after a restart finds no files in
its way.
"""

from __future__ import annotations

import contextlib
import importlib.util
import logging
import os
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

log = logging.getLogger(__name__)

__all__ = [
    "CatalogError",
    "CatalogKind",
    "CatalogPlan",
    "DataConfKey",
    "DataDirError",
    "DataDirLock",
    "default_data_dir",
    "find_hive_site",
    "jvm_pid",
    "open_catalog",
    "plan_catalog",
]


class DataConfKey(str, Enum):
    """The Spark conf key of a node's data folder."""

    DATA_DIR = "spark.flight.dataDir"
    """The folder of the node's persistent catalog (a Hive metastore on embedded Derby) and of its
    warehouse; one node at a time. Default: ``$XDG_DATA_HOME/spark-flight-sql`` (that is
    ``~/.local/share/spark-flight-sql``; ``~/Library/Application Support/spark-flight-sql`` on
    macOS); ``serve --data-dir DIR`` sets it. Not used when the conf names a catalog of its own; under
    spark-submit only when set."""


APP_FOLDER = "spark-flight-sql"
LOCK_FILE = "node.lock"
METASTORE_FOLDER = "metastore_db"
WAREHOUSE_FOLDER = "warehouse"
DERBY_LOG = "derby.log"

CATALOG_IMPLEMENTATION = "spark.sql.catalogImplementation"
WAREHOUSE_DIR = "spark.sql.warehouse.dir"
METASTORE_KEYS = (
    "spark.hadoop.hive.metastore.uris",
    "spark.hive.metastore.uris",
    "spark.hadoop.javax.jdo.option.ConnectionURL",
)
"""Conf keys that point Spark at a metastore of the user's (``spark.hive.*`` reaches Hive as ``hive.*``)."""
DERBY_LOG_PROPERTY = "derby.stream.error.file"

OPTION_HINT = f"--data-dir DIR (or --conf {DataConfKey.DATA_DIR.value}=DIR)"


class DataDirError(Exception):
    """The data folder cannot be used; the message names it and says what to do."""


class CatalogError(Exception):
    """The catalog did not start; the message says why and what to do."""


def default_data_dir(env: Mapping[str, str] | None = None, platform: str = sys.platform) -> Path:
    """The per-user data folder: ``$XDG_DATA_HOME/spark-flight-sql`` (an absolute XDG_DATA_HOME
    only, as the XDG specification says), else ``~/.local/share/spark-flight-sql``;
    ``~/Library/Application Support/spark-flight-sql`` on macOS."""
    env = os.environ if env is None else env
    if platform == "darwin":
        return Path.home() / "Library" / "Application Support" / APP_FOLDER
    xdg = env.get("XDG_DATA_HOME", "")
    base = Path(xdg) if xdg and os.path.isabs(xdg) else Path.home() / ".local" / "share"
    return base / APP_FOLDER


def find_hive_site(env: Mapping[str, str] | None = None) -> Path | None:
    """The ``hive-site.xml`` Spark would read from its conf folder (``SPARK_CONF_DIR``, else
    ``$SPARK_HOME/conf``, else PySpark's own ``conf``), if there is one."""
    env = os.environ if env is None else env
    folder = env.get("SPARK_CONF_DIR")
    if not folder:
        home = env.get("SPARK_HOME")
        if not home:
            spec = importlib.util.find_spec("pyspark")
            locations = list(spec.submodule_search_locations or []) if spec else []
            home = locations[0] if locations else None
        folder = os.path.join(home, "conf") if home else None
    if not folder:
        return None
    site = Path(folder) / "hive-site.xml"
    return site if site.is_file() else None


class CatalogKind(str, Enum):
    """Which catalog a node runs with."""

    EMBEDDED = "embedded"
    """A Hive metastore on embedded Derby in the node's data folder: the default."""
    METASTORE = "metastore"
    """A Hive metastore the Spark conf configures: a service, a database of the user's, or
    spark-submit's choice."""
    IN_MEMORY = "in-memory"
    """Spark's in-memory catalog: tables last as long as the node."""


@dataclass(frozen=True)
class CatalogPlan:
    """What a node does about its catalog, decided from the conf before Spark starts."""

    kind: CatalogKind
    data_dir: Path | None = None
    """The folder the node keeps its catalog and warehouse in, and locks (``EMBEDDED`` only)."""
    settings: dict[str, str] = field(default_factory=dict)
    """Spark settings to add: only keys the conf does not set."""
    scratch_warehouse: bool = False
    """Whether the warehouse is a temporary folder, removed at stop (an in-memory catalog's)."""

    def describe(self) -> str:
        """One line for the node's log."""
        if self.kind is CatalogKind.EMBEDDED:
            return f"catalog: Hive metastore on embedded Derby in {self.data_dir}"
        if self.kind is CatalogKind.METASTORE:
            return "catalog: the Hive metastore of the Spark conf"
        temporary = " (a temporary warehouse: its tables go at stop)" if self.scratch_warehouse else ""
        return f"catalog: in memory{temporary}"


def plan_catalog(
    conf: Mapping[str, str], *, under_submit: bool = False, hive_site: Path | None = None
) -> CatalogPlan:
    """The catalog of a node whose Spark conf is ``conf`` (under spark-submit: spark-submit's conf and
    the command line's together); ``hive_site``: a ``hive-site.xml`` Spark reads (:func:`find_hive_site`).
    """

    def missing(settings: dict[str, str]) -> dict[str, str]:
        return {key: value for key, value in settings.items() if not conf.get(key)}

    chosen = (conf.get(CATALOG_IMPLEMENTATION) or "").strip().lower()
    if chosen not in ("", "hive", "in-memory"):
        raise ValueError(f"{CATALOG_IMPLEMENTATION} must be 'hive' or 'in-memory', not {chosen!r}")
    explicit_dir = (conf.get(DataConfKey.DATA_DIR.value) or "").strip()
    in_memory = CatalogPlan(CatalogKind.IN_MEMORY, scratch_warehouse=not conf.get(WAREHOUSE_DIR))
    if chosen == "in-memory":
        return in_memory
    if any(conf.get(key) for key in METASTORE_KEYS) or hive_site is not None:
        return CatalogPlan(CatalogKind.METASTORE, settings=missing({CATALOG_IMPLEMENTATION: "hive"}))
    if under_submit and not explicit_dir:
        # spark-submit's own choice: Hive with Spark's default metastore, or Spark's in-memory default.
        return CatalogPlan(CatalogKind.METASTORE) if chosen == "hive" else in_memory
    folder = Path(explicit_dir).expanduser() if explicit_dir else default_data_dir()
    folder = Path(os.path.abspath(folder))
    if ";" in str(folder):
        raise DataDirError(
            f"the data folder {folder} has a ';' in its path, which Derby's URL cannot hold; choose another with {OPTION_HINT}"
        )
    hive = folder / "hive"
    settings = {
        CATALOG_IMPLEMENTATION: "hive",
        WAREHOUSE_DIR: str(folder / WAREHOUSE_FOLDER),
        "spark.hadoop.javax.jdo.option.ConnectionURL": (
            f"jdbc:derby:;databaseName={folder / METASTORE_FOLDER};create=true"
        ),
        # Hive's scratch folders default to /tmp/hive and /tmp/<user>: keep them with the catalog.
        "spark.hadoop.hive.exec.scratchdir": str(hive / "scratch"),
        "spark.hadoop.hive.exec.local.scratchdir": str(hive / "local"),
        "spark.hadoop.hive.downloaded.resources.dir": str(hive / "resources"),
    }
    settings = missing(settings)
    settings[DataConfKey.DATA_DIR.value] = str(folder)
    return CatalogPlan(CatalogKind.EMBEDDED, data_dir=folder, settings=settings)


PREVIOUS_JVM_TIMEOUT = 60.0
"""Seconds a node waits for the Spark JVM of the folder's previous node to exit (a node killed with
SIGKILL leaves its JVM to notice and exit on its own)."""


class DataDirLock:
    """An exclusive lock on a data folder, held for as long as the node runs (the kernel drops it
    when the process ends, however it ends): one node per folder, found out before Spark starts.

    The lock file holds the node's pid and, once Spark runs, its JVM's: the JVM of a node killed
    with SIGKILL outlives it for a moment, holding the Derby database, and the next node waits for
    it to exit before it starts Spark.
    """

    def __init__(self, folder: Path, fd: int) -> None:
        self.folder = folder
        self._fd: int | None = fd

    @classmethod
    def acquire(cls, folder: Path, previous_jvm_timeout: float = PREVIOUS_JVM_TIMEOUT) -> DataDirLock:
        """Create ``folder`` if needed and lock it; DataDirError when it cannot be used, another node
        holds it, or the JVM of its previous node does not exit within ``previous_jvm_timeout``."""
        try:
            folder.mkdir(parents=True, exist_ok=True, mode=0o700)
            fd = os.open(folder / LOCK_FILE, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        except OSError as exc:
            raise DataDirError(
                f"cannot use the data folder {folder}: {exc.strerror or exc}; choose another with {OPTION_HINT}"
            ) from None
        lock = cls(folder, fd)
        try:
            lock._lock(previous_jvm_timeout)
        except BaseException:
            lock.release()
            raise
        return lock

    def _lock(self, previous_jvm_timeout: float) -> None:
        try:
            import fcntl
        except ImportError:  # Windows: Derby's own lock is the only guard there
            return
        fd = self._require_fd()
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            holder = _holder(self._read())
            raise DataDirError(
                f"the data folder {self.folder} is in use by another node{holder}: a folder keeps the "
                f"catalog of one node at a time. Stop that node, or start this one with a folder of its "
                f"own: {OPTION_HINT}. Nodes that should see the same tables share a Hive metastore "
                "instead (see the README: A cluster on one machine)."
            ) from None
        jvm = _previous_jvm(self._read(), self.folder)
        if jvm is not None:
            log.info("waiting for the Spark JVM (pid %d) of the folder's previous node to exit", jvm)
        if jvm is not None and not _wait_exit(jvm, previous_jvm_timeout):
            raise DataDirError(
                f"the Spark JVM (pid {jvm}) of the node that last used the data folder {self.folder} still "
                f"runs after {previous_jvm_timeout:.0f} s: end it (kill {jvm}), or start this node with "
                f"another folder: {OPTION_HINT}"
            )
        self._write(f"{os.getpid()}\n")

    def record_jvm(self, pid: int) -> None:
        """Note the pid of the node's Spark JVM in the lock file, for the folder's next node."""
        self._write(f"{os.getpid()}\n{pid}\n")

    def _require_fd(self) -> int:
        if self._fd is None:
            raise RuntimeError("the data folder's lock was released")
        return self._fd

    def _read(self) -> list[str]:
        with contextlib.suppress(OSError, UnicodeDecodeError):
            return os.pread(self._require_fd(), 256, 0).decode().split()
        return []

    def _write(self, text: str) -> None:
        fd = self._require_fd()
        os.ftruncate(fd, 0)
        os.pwrite(fd, text.encode(), 0)

    def release(self) -> None:
        """Unlock (closing the file drops the lock); the lock file stays."""
        fd, self._fd = self._fd, None
        if fd is not None:
            os.close(fd)

    def __enter__(self) -> DataDirLock:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.release()


def _holder(fields: list[str]) -> str:
    """`` (pid N)`` from a held lock file's fields, or nothing when it does not say."""
    return f" (pid {fields[0]})" if fields and fields[0].isdigit() else ""


def _previous_jvm(fields: list[str], folder: Path) -> int | None:
    """The JVM a free lock file names, if it still runs as a JVM of a node on ``folder`` (its command
    line carries the folder: the node passes its conf to spark-submit), not a later process with
    its pid."""
    if len(fields) < 2 or not fields[1].isdigit():
        return None
    pid = int(fields[1])
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as file:
            command = file.read().decode(errors="replace")
    except OSError:  # gone, or no /proc (macOS): nothing to wait for that can be told apart
        return None
    return pid if str(folder) in command else None


def _wait_exit(pid: int, timeout: float) -> bool:
    """Wait for process ``pid`` (not a child) to exit; whether it did within ``timeout`` seconds."""
    import select

    try:
        fd = os.pidfd_open(pid)
    except ProcessLookupError:
        return True
    try:
        ready, _, _ = select.select([fd], [], [], timeout)
        return bool(ready)
    finally:
        os.close(fd)


def jvm_pid(spark: SparkSession) -> int:
    """The pid of the JVM behind ``spark``."""
    jvm: Any = spark._jvm  # the node's session has a JVM
    return int(jvm.java.lang.management.ManagementFactory.getRuntimeMXBean().getPid())


def open_catalog(spark: SparkSession, plan: CatalogPlan) -> None:
    """Start the node's catalog now rather than at the first query that needs it: its errors (and
    Derby's recovery after a kill) belong to the start. CatalogError with what to do when it fails."""
    if plan.kind is CatalogKind.EMBEDDED and plan.data_dir is not None:
        jvm: Any = spark._jvm  # the node's session has a JVM
        system = jvm.java.lang.System
        if system.getProperty(DERBY_LOG_PROPERTY) is None:  # a -D of the user's wins
            system.setProperty(DERBY_LOG_PROPERTY, str(plan.data_dir / DERBY_LOG))
    from py4j.protocol import Py4JError
    from pyspark.errors import PySparkException

    try:
        spark.catalog.databaseExists("default")
    except (PySparkException, Py4JError) as exc:
        raise CatalogError(_catalog_failure(plan, _java_messages(exc))) from None


def _java_messages(exc: BaseException) -> list[str]:
    """The messages of a Spark error and of every Java exception that caused it, outermost first."""
    messages = [str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__]
    origin: Any = getattr(exc, "_origin", None)
    seen = 0
    with contextlib.suppress(Exception):  # the chain is read through py4j: whatever fails ends it
        while origin is not None and seen < 30:
            messages.append(str(origin.toString()))
            origin, seen = origin.getCause(), seen + 1
    return messages


def _catalog_failure(plan: CatalogPlan, messages: list[str]) -> str:
    """The message of a catalog that did not start."""
    if plan.kind is CatalogKind.EMBEDDED and any("XSDB6" in message for message in messages):
        return (
            f"the catalog in {plan.data_dir} is in use by another program (Derby opens a database in "
            f"one process at a time): stop it, or start this node with another folder: {OPTION_HINT}"
        )
    cause = messages[-1]
    if plan.kind is CatalogKind.EMBEDDED and plan.data_dir is not None:
        return f"the catalog in {plan.data_dir} did not start: {cause} (Derby's log: {plan.data_dir / DERBY_LOG})"
    if plan.kind is CatalogKind.METASTORE:
        return f"the Hive metastore of the Spark conf did not start: {cause}"
    return f"the catalog did not start: {cause}"
