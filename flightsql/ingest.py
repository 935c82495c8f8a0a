"""Bulk ingest: CommandStatementIngest writes uploaded Arrow batches into a Spark table.

An upload never sits in memory: each batch is written, as it arrives, into a Parquet file in a
fresh staging folder (under ``spark.flight.sql.ingest.stagingDir``, or a temporary folder of the
node), about 16 MiB per row group. Only when the whole upload is on disk does Spark
read that folder and write the table, so a client that goes away mid-upload leaves no table
behind, only a staging folder that is removed at once.

The four ADBC modes map onto the command's TableDefinitionOptions (if_not_exist, if_exists):
create (CREATE, FAIL), append (FAIL, APPEND), replace (CREATE, REPLACE) and create_append
(CREATE, APPEND). Appending matches columns by name, nested fields included (``INSERT ... BY
NAME``), under Spark's store-assignment rules (int into bigint is fine, string into bigint is
not). A temporary table is a temporary view of the caller's Spark session over its staging
folder, which therefore lives as long as the view: it is removed when the view is replaced
through ingest, when :meth:`TableLoader.release_temporary_tables` is called for the session,
or when the node stops.
"""

from __future__ import annotations

import dataclasses
import enum
import logging
import os
import tempfile
import threading
import uuid
import zlib
from collections.abc import Callable, Iterator, Mapping
from types import MappingProxyType
from typing import TYPE_CHECKING

import pyarrow as pa
import pyarrow.flight as flight
import pyarrow.fs as pafs
import pyarrow.parquet as pq

from spark_flight_sql.flightmanager.errors import spark_error
from spark_flight_sql.flightsql.errors import AlreadyExists, Cancelled, InvalidArgument, NotFound
from spark_flight_sql.flightsql.proto import FlightSql_pb2 as sql_pb2
from spark_flight_sql.flightsql.statements import quote_identifier
from spark_flight_sql.flightsql.uploads import upload_batches

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

    from spark_flight_sql.flightsql.authz import StatementAccess

__all__ = [
    "INGEST_OPTIONS",
    "IngestAction",
    "IngestRequest",
    "IngestTarget",
    "StagedFolder",
    "StagingArea",
    "TableLoader",
    "quote_identifier",
    "stage_batches",
    "unsupported_column",
    "upload_batches",
]

log = logging.getLogger(__name__)

ROW_GROUP_BYTES = 16 * 1024 * 1024
"""Uploaded batches are gathered up to about this many bytes per Parquet row group: small client
batches would otherwise make tiny row groups, large ones are written as they come."""

STAGED_FILE = "part-00000.parquet"
FOLDER_PREFIX = "ingest-"
LOCK_STRIPES = 64

_Options = sql_pb2.CommandStatementIngest.TableDefinitionOptions

INGEST_OPTIONS: Mapping[str, str] = MappingProxyType(
    {
        "format": "the data source of a table the ingest creates (default: spark.sql.sources.default)",
        "partition_by": "comma-separated columns to partition a table the ingest creates by",
    }
)
"""The command's ``options`` this server understands, with their meaning; any other is an error."""


class IngestAction(enum.Enum):
    """What an ingest does to its target, once it is known whether the target exists."""

    CREATE = "create"
    APPEND = "append"
    REPLACE = "replace"


@dataclasses.dataclass(frozen=True)
class IngestRequest:
    """A validated CommandStatementIngest."""

    table: str
    catalog: str | None
    schema: str | None
    temporary: bool
    create_if_missing: bool
    if_exists: IngestAction | None
    """What to do when the table exists; None: fail."""
    table_format: str | None = None
    partition_by: tuple[str, ...] = ()

    @classmethod
    def from_command(cls, command: sql_pb2.CommandStatementIngest) -> IngestRequest:
        """Validate ``command``; InvalidArgument naming what is wrong with it."""
        if command.HasField("transaction_id"):
            raise InvalidArgument(
                "transactions are not supported: every ingest commits on its own (send no transaction_id)"
            )
        if not command.table.strip():
            raise InvalidArgument("CommandStatementIngest needs a table name")
        catalog = command.catalog if command.HasField("catalog") and command.catalog else None
        schema = command.schema if command.HasField("schema") and command.schema else None
        if command.temporary and (catalog or schema):
            raise InvalidArgument(
                "a temporary table lives in the session's own namespace: name no catalog or schema for it"
            )
        options = dict(command.options)
        if command.temporary and options:
            raise InvalidArgument("options do not apply to a temporary table")
        table_format, partition_by = _parse_options(options)
        return cls(
            table=command.table,
            catalog=catalog,
            schema=schema,
            temporary=command.temporary,
            create_if_missing=_if_not_exist(command.table_definition_options.if_not_exist),
            if_exists=_if_exists(command.table_definition_options.if_exists),
            table_format=table_format,
            partition_by=partition_by,
        )

    def action(self, exists: bool, name: str) -> IngestAction:
        """The action for a target that does or does not exist; AlreadyExists or NotFound otherwise."""
        if exists:
            if self.if_exists is None:
                raise AlreadyExists(f"[TABLE_OR_VIEW_ALREADY_EXISTS] table {name} already exists")
            return self.if_exists
        if not self.create_if_missing:
            raise NotFound(f"[TABLE_OR_VIEW_NOT_FOUND] table {name} does not exist")
        return IngestAction.CREATE


def _if_not_exist(option: int) -> bool:
    if option == _Options.TABLE_NOT_EXIST_OPTION_CREATE:
        return True
    if option == _Options.TABLE_NOT_EXIST_OPTION_FAIL:
        return False
    raise InvalidArgument("table_definition_options.if_not_exist must be CREATE or FAIL")


def _if_exists(option: int) -> IngestAction | None:
    actions: dict[int, IngestAction | None] = {
        _Options.TABLE_EXISTS_OPTION_FAIL: None,
        _Options.TABLE_EXISTS_OPTION_APPEND: IngestAction.APPEND,
        _Options.TABLE_EXISTS_OPTION_REPLACE: IngestAction.REPLACE,
    }
    if option not in actions:
        raise InvalidArgument("table_definition_options.if_exists must be FAIL, APPEND or REPLACE")
    return actions[option]


def _parse_options(options: Mapping[str, str]) -> tuple[str | None, tuple[str, ...]]:
    """The ``format`` and ``partition_by`` options; InvalidArgument naming any other option."""
    unknown = sorted(set(options) - set(INGEST_OPTIONS))
    if unknown:
        supported = ", ".join(f"{key!r} ({meaning})" for key, meaning in INGEST_OPTIONS.items())
        raise InvalidArgument(
            f"unknown ingest option(s) {', '.join(map(repr, unknown))}; supported: {supported}"
        )
    table_format = options.get("format", "").strip() or None
    partition_by = tuple(c.strip() for c in options.get("partition_by", "").split(",") if c.strip())
    return table_format, partition_by


# ---- what Spark can store ------------------------------------------------------------------


def unsupported_column(schema: pa.Schema) -> str | None:
    """Why some column of ``schema`` cannot become a Spark table column, or None if all can."""
    for field in schema:
        reason = _unsupported_type(field.type)
        if reason is not None:
            return f"column {field.name!r} has Arrow type {field.type}: {reason}"
    return None


def _unsupported_type(data_type: pa.DataType) -> str | None:
    if isinstance(data_type, pa.ExtensionType):
        return _unsupported_type(data_type.storage_type)
    for check, reason in _UNSUPPORTED:
        if check(data_type):
            return reason
    if pa.types.is_decimal(data_type) and data_type.precision > 38:
        return "Spark decimals have at most 38 digits"
    if pa.types.is_struct(data_type) and data_type.num_fields == 0:
        return "Spark cannot store a struct without fields"
    return next((r for r in map(_unsupported_type, _children(data_type)) if r is not None), None)


_UNSUPPORTED: tuple[tuple[Callable[[pa.DataType], bool], str], ...] = (
    (pa.types.is_null, "give the column a concrete type (a column of nulls only has none)"),
    (pa.types.is_float16, "Spark has no half-precision float; send float32"),
    (pa.types.is_duration, "Spark tables cannot store durations or intervals"),
    (pa.types.is_interval, "Spark tables cannot store durations or intervals"),
    (pa.types.is_time, "Spark tables cannot store a time of day"),
    (pa.types.is_union, "Spark has no union type"),
    (pa.types.is_run_end_encoded, "send the values decoded"),
)


def _children(data_type: pa.DataType) -> list[pa.DataType]:
    if pa.types.is_map(data_type):
        return [data_type.key_type, data_type.item_type]
    if pa.types.is_dictionary(data_type):
        return [data_type.value_type]
    if hasattr(data_type, "value_type"):  # list, large list, list view, fixed-size list
        return [data_type.value_type]
    return [data_type.field(i).type for i in range(data_type.num_fields)]


def duplicate_column(names: list[str], case_sensitive: bool) -> str | None:
    """A column name that occurs twice (as Spark compares names), or None."""
    seen: set[str] = set()
    for name in names:
        key = _column_key(name, case_sensitive)
        if key in seen:
            return name
        seen.add(key)
    return None


def _column_key(name: str, case_sensitive: bool) -> str:
    return name if case_sensitive else name.lower()


def check_same_columns(uploaded: list[str], table: list[str], name: str, case_sensitive: bool) -> None:
    """InvalidArgument unless the upload has exactly the table's columns, in any order."""
    table_keys = {_column_key(c, case_sensitive) for c in table}
    uploaded_keys = {_column_key(c, case_sensitive) for c in uploaded}
    missing = [c for c in table if _column_key(c, case_sensitive) not in uploaded_keys]
    unexpected = [c for c in uploaded if _column_key(c, case_sensitive) not in table_keys]
    if missing or unexpected:
        raise InvalidArgument(
            f"the upload's columns do not match table {name} (columns {table}): "
            f"missing {missing}, not in the table {unexpected}"
        )


# ---- staging ---------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class StagedFolder:
    """One upload's staging folder: where pyarrow writes it and where Spark reads it."""

    filesystem: pafs.FileSystem
    path: str
    """The folder in ``filesystem``."""
    uri: str
    """The folder as Spark reads it."""

    def file(self, name: str) -> str:
        """The path of file ``name`` in this folder, in ``filesystem``."""
        return f"{self.path}/{name}"

    def remove(self) -> None:
        """Delete the folder and everything in it (a folder already gone is fine)."""
        try:
            self.filesystem.delete_dir(self.path)
        except FileNotFoundError:
            pass
        except OSError as exc:
            log.warning("could not remove ingest staging folder %s: %s", self.uri, exc)


class StagingArea:
    """Where uploads are staged: a folder, a URI pyarrow can write, or a private temporary folder.

    With no setting, the root is a temporary folder of this node created on first use and removed
    by :meth:`close`; a configured root is never removed, only the folders made in it.
    """

    def __init__(self, setting: str | None) -> None:
        self._setting = setting
        self._lock = threading.Lock()
        self._root: tuple[pafs.FileSystem, str, str] | None = None
        self._private_root: str | None = None

    def new_folder(self) -> StagedFolder:
        """A fresh, empty folder for one upload."""
        filesystem, path, uri = self._resolve_root()
        name = f"{FOLDER_PREFIX}{uuid.uuid4().hex}"
        folder = StagedFolder(filesystem, f"{path}/{name}", f"{uri}/{name}")
        filesystem.create_dir(folder.path, recursive=True)
        return folder

    def close(self) -> None:
        """Remove the private temporary root, if one was made (configured roots stay)."""
        with self._lock:
            private, self._private_root, self._root = self._private_root, None, None
        if private is not None:
            StagedFolder(pafs.LocalFileSystem(), private, private).remove()

    def _resolve_root(self) -> tuple[pafs.FileSystem, str, str]:
        with self._lock:
            if self._root is None:
                self._root = self._open_root()
            return self._root

    def _open_root(self) -> tuple[pafs.FileSystem, str, str]:
        if self._setting is None:
            self._private_root = tempfile.mkdtemp(prefix="spark-flight-sql-ingest-")
            return _local_root(self._private_root)
        if "://" not in self._setting:
            return _local_root(os.path.abspath(self._setting))
        filesystem, path = pafs.FileSystem.from_uri(self._setting)
        return filesystem, path.rstrip("/"), self._setting.rstrip("/")


def _local_root(path: str) -> tuple[pafs.FileSystem, str, str]:
    # Spark gets an explicit file: URI: a bare path would mean the cluster's default filesystem.
    return pafs.LocalFileSystem(), path, "file://" + path


def stage_batches(batches: Iterator[pa.RecordBatch], schema: pa.Schema, folder: StagedFolder) -> int:
    """Write ``batches`` as they come into one Parquet file in ``folder``; the number of rows.

    Timestamps are stored in microseconds, Spark's precision: a finer value that would lose
    digits is an InvalidArgument rather than a silent truncation.
    """
    rows = 0
    pending: list[pa.RecordBatch] = []
    pending_bytes = 0
    with _parquet_writer(folder, schema) as writer:
        for batch in batches:
            rows += batch.num_rows
            pending.append(batch)
            pending_bytes += batch.nbytes
            if pending_bytes >= ROW_GROUP_BYTES:
                _write_row_group(writer, pending, schema)
                pending, pending_bytes = [], 0
        if pending:
            _write_row_group(writer, pending, schema)
    return rows


def _parquet_writer(folder: StagedFolder, schema: pa.Schema) -> pq.ParquetWriter:
    return pq.ParquetWriter(
        folder.file(STAGED_FILE),
        schema,
        filesystem=folder.filesystem,
        coerce_timestamps="us",
        allow_truncated_timestamps=False,
    )


def _write_row_group(writer: pq.ParquetWriter, batches: list[pa.RecordBatch], schema: pa.Schema) -> None:
    try:
        writer.write_table(pa.Table.from_batches(batches, schema))
    except pa.ArrowInvalid as exc:
        raise InvalidArgument(f"the upload cannot be stored as Spark stores it: {exc}") from None


# ---- loading ---------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class IngestTarget:
    """The table an ingest writes."""

    sql_name: str
    """The table's name as Spark SQL reads it, every part quoted."""
    lock_key: str
    """Names the table among every ingest of this node (temporary ones: of one session)."""


@dataclasses.dataclass(frozen=True)
class _TemporaryTable:
    name: str
    folder: StagedFolder
    """The staged files the temporary view reads."""


class TableLoader:
    """Writes uploads into Spark tables: each is staged as Parquet, then loaded by Spark.

    Keeps the staged files of ingested temporary tables until their session ends
    (:meth:`release_temporary_tables`) or :meth:`close`.
    """

    def __init__(self, staging_dir: str | None) -> None:
        self._staging = StagingArea(staging_dir)
        self._write_locks = [threading.Lock() for _ in range(LOCK_STRIPES)]
        self._temporary_lock = threading.Lock()
        self._temporary: dict[SparkSession, dict[str, _TemporaryTable]] = {}

    def load(
        self,
        spark: SparkSession,
        request: IngestRequest,
        target: IngestTarget,
        upload: flight.MetadataRecordBatchReader,
        is_cancelled: Callable[[], bool],
    ) -> int:
        """Stage ``upload`` as Parquet, then write it into ``target``; the number of rows loaded.
        ``is_cancelled`` tells whether the client went away (its stream then ends as if complete)."""
        # Fail before the upload when the answer is already known; decided again under the lock.
        self.plan(spark, request, target, upload.schema)
        folder = self._staging.new_folder()
        keep = False
        try:
            rows = stage_batches(upload_batches(upload), upload.schema, folder)
            # A client that dies mid-upload ends the stream as if it had finished: only the call's
            # cancellation tells the two apart.
            if is_cancelled():
                raise Cancelled("the client went away before the upload was complete")
            with self._write_locks[zlib.crc32(target.lock_key.encode()) % LOCK_STRIPES]:
                keep = self._load(spark, request, target, folder, upload.schema)
        finally:
            if not keep:
                folder.remove()
        return rows

    def release_temporary_tables(self, spark: SparkSession) -> None:
        """Drop the temporary tables ingested in ``spark`` and remove their staged files.

        Called when a client's session ends; the node calls it for every session when it stops.
        """
        with self._temporary_lock:
            views = self._temporary.pop(spark, {})
        for table in views.values():
            try:
                spark.catalog.dropTempView(table.name)
            except Exception as exc:  # noqa: BLE001 - the session may be stopped already
                log.debug("could not drop temporary view %s: %s", table.name, exc)
            table.folder.remove()

    def close(self) -> None:
        """Remove every staged file (temporary tables included): the node stops serving."""
        with self._temporary_lock:
            sessions = list(self._temporary)
        for spark in sessions:
            self.release_temporary_tables(spark)
        self._staging.close()

    # ---- steps -------------------------------------------------------------------------------

    def target(self, spark: SparkSession, request: IngestRequest) -> IngestTarget:
        case_sensitive = _case_sensitive(spark)
        if request.temporary:
            key = request.table if case_sensitive else request.table.lower()
            return IngestTarget(quote_identifier(request.table), f"temporary:{id(spark)}:{key}")
        sql_name = self._qualified_name(spark, request)
        return IngestTarget(sql_name, sql_name if case_sensitive else sql_name.lower())

    @staticmethod
    def access(spark: SparkSession, request: IngestRequest) -> StatementAccess:
        """What an ingest writes, for the authorization policy: the table (created or appended to),
        or for a temporary table a view of the client's own session."""
        from spark_flight_sql.flightsql.authz import AccessKind, StatementAccess
        from spark_flight_sql.flightsql.authz.access import table_name

        sql = f"-- bulk ingest into {request.table}"
        if request.temporary:
            name = table_name("system", "session", request.table)
            return StatementAccess(
                AccessKind.DDL, frozenset(), frozenset({name}), sql, operation="Ingest", session_only=True
            )
        # The same parts as the table the ingest writes (_qualified_name).
        current = spark.catalog.currentCatalog()
        catalog = request.catalog or current
        if request.schema is not None:
            name = table_name(catalog, request.schema, request.table)
        elif catalog == current:
            name = table_name(catalog, spark.catalog.currentDatabase(), request.table)
        else:
            name = table_name(catalog, request.table)
        return StatementAccess(AccessKind.WRITE, frozenset(), frozenset({name}), sql, operation="Ingest")

    def _qualified_name(self, spark: SparkSession, request: IngestRequest) -> str:
        # Always qualified, so that a temporary view of the same name never stands in for the table.
        current_catalog = spark.catalog.currentCatalog()
        catalog = request.catalog or current_catalog
        _check_catalog(spark, catalog)
        if request.schema is not None:
            namespace = f"{quote_identifier(catalog)}.{quote_identifier(request.schema)}"
            if not spark.catalog.databaseExists(namespace):
                raise NotFound(f"[SCHEMA_NOT_FOUND] schema {namespace} does not exist")
        elif catalog == current_catalog:
            namespace = f"{quote_identifier(catalog)}.{spark.catalog.currentDatabase()}"
        else:
            namespace = quote_identifier(catalog)
        return f"{namespace}.{quote_identifier(request.table)}"

    def _exists(self, spark: SparkSession, request: IngestRequest, target: IngestTarget) -> bool:
        if request.temporary:
            return (
                spark.catalog.tableExists(target.sql_name)
                and spark.catalog.getTable(target.sql_name).isTemporary
            )
        return spark.catalog.tableExists(target.sql_name)

    def plan(
        self, spark: SparkSession, request: IngestRequest, target: IngestTarget, schema: pa.Schema
    ) -> IngestAction:
        """Check the upload's schema and decide the action; errors say why it cannot be done."""
        if len(schema) == 0:
            raise InvalidArgument("the upload has no columns: a Spark table needs at least one")
        reason = unsupported_column(schema)
        if reason is not None:
            raise InvalidArgument(reason)
        case_sensitive = _case_sensitive(spark)
        duplicate = duplicate_column(schema.names, case_sensitive)
        if duplicate is not None:
            raise InvalidArgument(f"the upload has column {duplicate!r} twice")
        action = request.action(self._exists(spark, request, target), target.sql_name)
        if action is IngestAction.APPEND:
            table_columns = spark.table(target.sql_name).columns
            check_same_columns(schema.names, table_columns, target.sql_name, case_sensitive)
        elif request.partition_by:
            uploaded = {_column_key(c, case_sensitive) for c in schema.names}
            missing = [c for c in request.partition_by if _column_key(c, case_sensitive) not in uploaded]
            if missing:
                raise InvalidArgument(f"partition_by names columns the upload does not have: {missing}")
        return action

    def _load(
        self,
        spark: SparkSession,
        request: IngestRequest,
        target: IngestTarget,
        folder: StagedFolder,
        schema: pa.Schema,
    ) -> bool:
        """Write the staged upload into the target; whether the staged folder must be kept."""
        action = self.plan(spark, request, target, schema)
        staged = spark.read.parquet(folder.uri)
        if action is IngestAction.APPEND:
            _append(spark, staged, target.sql_name)
            return False
        if request.temporary:
            self._replace_temporary_view(spark, request.table, target, staged, folder)
            return True
        writer = staged.write.mode("overwrite" if action is IngestAction.REPLACE else "errorifexists")
        if request.table_format:
            writer = writer.format(request.table_format)
        if request.partition_by:
            writer = writer.partitionBy(*request.partition_by)
        writer.saveAsTable(target.sql_name)
        return False

    def _replace_temporary_view(
        self, spark: SparkSession, name: str, target: IngestTarget, staged: DataFrame, folder: StagedFolder
    ) -> None:
        staged.createOrReplaceTempView(target.sql_name)
        with self._temporary_lock:
            views = self._temporary.setdefault(spark, {})
            previous = views.pop(target.lock_key, None)
            views[target.lock_key] = _TemporaryTable(name, folder)
        if previous is not None:
            previous.folder.remove()


def _append(spark: SparkSession, staged: DataFrame, sql_name: str) -> None:
    # BY NAME matches nested struct fields by name too; by position would swap same-typed fields.
    # spark.sql formats its text like str.format: braces in a quoted name must be doubled.
    target = sql_name.replace("{", "{{").replace("}", "}}")
    try:
        spark.sql(f"INSERT INTO {target} BY NAME SELECT * FROM {{staged}}", staged=staged)
    except Exception as exc:
        condition = _condition(exc)
        if condition is not None and condition.startswith("INCOMPATIBLE_DATA_FOR_TABLE"):
            mapped = spark_error(exc)
            raise InvalidArgument(mapped[1] if mapped else str(exc)) from None
        raise


def _condition(exc: BaseException) -> str | None:
    get_condition = getattr(exc, "getCondition", None)
    return get_condition() if callable(get_condition) else None


def _check_catalog(spark: SparkSession, catalog: str) -> None:
    # Spark would read an unknown catalog's name as a schema of the current one. listCatalogs()
    # names only the catalogs loaded so far; a configured one loads on first use.
    if catalog == spark.catalog.currentCatalog() or spark.conf.get(f"spark.sql.catalog.{catalog}", None):
        return
    if catalog not in {known.name for known in spark.catalog.listCatalogs()}:
        raise NotFound(f"[CATALOG_NOT_FOUND] catalog {quote_identifier(catalog)} does not exist")


def _case_sensitive(spark: SparkSession) -> bool:
    return str(spark.conf.get("spark.sql.caseSensitive", "false")).lower() == "true"
