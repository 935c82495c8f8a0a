"""Catalog metadata handlers: catalogs, schemas, tables, table types, keys, type info and SqlInfo.

Each metadata command is answered by one endpoint on this node whose ticket is the command itself:
GetFlightInfo only checks what must fail at once (an unknown table for the key commands), DoGet
computes the rows. GetSchema of each command is the fixed schema
:class:`spark_flight_sql.flightsql.interface.FlightSqlService` returns. Where
relations appear, and why, is in :mod:`spark_flight_sql.flightsql.catalog`.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

import pyarrow as pa
import pyarrow.flight as flight
from google.protobuf.message import Message

from spark_flight_sql.flightsql import __version__, schemas
from spark_flight_sql.flightsql.catalog import TABLE_TYPES, SparkCatalogs, TableRef
from spark_flight_sql.flightsql.errors import NotFound
from spark_flight_sql.flightsql.handlers.backend import Backend
from spark_flight_sql.flightsql.interface import command_flight_info
from spark_flight_sql.flightsql.proto import FlightSql_pb2 as sql_pb2
from spark_flight_sql.flightsql.sessions import SparkCall
from spark_flight_sql.flightsql.sql_info import (
    RUNTIME_SQL_INFO_IDS,
    basic_sql_info,
    runtime_sql_info,
    xdbc_type_info_table,
)

if TYPE_CHECKING:
    from spark_flight_sql.flightsql.schemas import SqlInfoValue

__all__ = ["MetadataHandlers"]


def _optional(command: Message, field: str) -> str | None:
    """A proto3 ``optional string``: None when unset (an empty string is a value)."""
    return getattr(command, field) if command.HasField(field) else None


def _table_name(catalog: str | None, db_schema: str | None, table: str) -> str:
    return ".".join(part for part in (catalog, db_schema, table) if part is not None)


class MetadataHandlers:
    """Metadata commands answered from Spark's catalogs; each result is one endpoint on this node."""

    def __init__(self, backend: Backend) -> None:
        self.backend = backend
        self._sql_info_lock = threading.Lock()
        self._basic_sql_info: Mapping[int, SqlInfoValue] | None = None
        self._sql_info_tables: dict[bool, pa.Table] = {}

    # ---- GetSqlInfo -------------------------------------------------------------------------------

    def _sql_info(self, call: SparkCall, requested: Sequence[int]) -> pa.Table:
        """The node's SqlInfo rows; Spark is asked for keywords and functions only once one is wanted."""
        full = not requested or any(info_id in RUNTIME_SQL_INFO_IDS for info_id in requested)
        with self._sql_info_lock:
            tables = self._sql_info_tables
            if full not in tables:
                spark = call.spark
                if self._basic_sql_info is None:
                    self._basic_sql_info = basic_sql_info(__version__, spark)
                values = dict(self._basic_sql_info)
                if full:
                    values.update(runtime_sql_info(spark))
                tables[full] = schemas.sql_info_table(values)
            return tables[full]

    def get_flight_info_sql_info(
        self, call: SparkCall, command: sql_pb2.CommandGetSqlInfo, descriptor: flight.FlightDescriptor
    ) -> flight.FlightInfo:
        """One endpoint on this node, served from the ticket itself."""
        return command_flight_info(command, schemas.SQL_INFO, descriptor)

    def do_get_sql_info(
        self, call: SparkCall, command: sql_pb2.CommandGetSqlInfo
    ) -> flight.RecordBatchStream:
        """The requested SqlInfo values (all of them when none are named)."""
        requested = list(command.info)
        return flight.RecordBatchStream(schemas.filter_sql_info(self._sql_info(call, requested), requested))

    # ---- catalogs, schemas, tables, table types ---------------------------------------------------

    def get_flight_info_catalogs(
        self, call: SparkCall, command: sql_pb2.CommandGetCatalogs, descriptor: flight.FlightDescriptor
    ) -> flight.FlightInfo:
        """One endpoint on this node listing the catalogs."""
        return command_flight_info(command, schemas.CATALOGS, descriptor)

    def do_get_catalogs(self, call: SparkCall, command: sql_pb2.CommandGetCatalogs) -> pa.Table:
        """Every catalog, sorted (see :meth:`spark_flight_sql.flightsql.catalog.SparkCatalogs.catalogs`)."""
        names = SparkCatalogs(call.spark).catalogs()
        return pa.Table.from_pydict({"catalog_name": names}, schema=schemas.CATALOGS)

    def get_flight_info_schemas(
        self, call: SparkCall, command: sql_pb2.CommandGetDbSchemas, descriptor: flight.FlightDescriptor
    ) -> flight.FlightInfo:
        """One endpoint on this node listing the schemas."""
        return command_flight_info(command, schemas.DB_SCHEMAS, descriptor)

    def do_get_schemas(self, call: SparkCall, command: sql_pb2.CommandGetDbSchemas) -> pa.Table:
        """The schemas of the catalog asked for (all), matching the schema pattern, sorted."""
        catalogs = SparkCatalogs(call.spark)
        pairs = catalogs.db_schemas(
            _optional(command, "catalog"), catalogs.like(_optional(command, "db_schema_filter_pattern"))
        )
        return pa.Table.from_pydict(
            {"catalog_name": [c for c, _ in pairs], "db_schema_name": [s for _, s in pairs]},
            schema=schemas.DB_SCHEMAS,
        )

    def get_flight_info_tables(
        self, call: SparkCall, command: sql_pb2.CommandGetTables, descriptor: flight.FlightDescriptor
    ) -> flight.FlightInfo:
        """One endpoint on this node listing the tables (with their schemas if asked)."""
        schema = schemas.TABLES_WITH_SCHEMA if command.include_schema else schemas.TABLES
        return command_flight_info(command, schema, descriptor)

    def do_get_tables(self, call: SparkCall, command: sql_pb2.CommandGetTables) -> pa.Table:
        """The relations matching every filter; ``table_schema`` is each one's IPC-serialized schema."""
        catalogs = SparkCatalogs(call.spark)
        refs = catalogs.tables(
            _optional(command, "catalog"),
            catalogs.like(_optional(command, "db_schema_filter_pattern")),
            catalogs.like(_optional(command, "table_name_filter_pattern")),
            list(command.table_types),
        )
        columns: dict[str, list[object]] = {
            "catalog_name": [ref.catalog for ref in refs],
            "db_schema_name": [ref.db_schema for ref in refs],
            "table_name": [ref.name for ref in refs],
            "table_type": [ref.table_type for ref in refs],
        }
        if not command.include_schema:
            return pa.Table.from_pydict(columns, schema=schemas.TABLES)
        columns["table_schema"] = [self._serialized_schema(catalogs, ref) for ref in refs]
        return pa.Table.from_pydict(columns, schema=schemas.TABLES_WITH_SCHEMA)

    def _serialized_schema(self, catalogs: SparkCatalogs, ref: TableRef) -> bytes:
        schema = catalogs.arrow_schema(ref, self.backend.manager.config.push_method)
        return schema.serialize().to_pybytes()

    def get_flight_info_table_types(
        self, call: SparkCall, command: sql_pb2.CommandGetTableTypes, descriptor: flight.FlightDescriptor
    ) -> flight.FlightInfo:
        """One endpoint on this node listing the table types."""
        return command_flight_info(command, schemas.TABLE_TYPES, descriptor)

    def do_get_table_types(self, call: SparkCall, command: sql_pb2.CommandGetTableTypes) -> pa.Table:
        """TABLE, TEMPORARY VIEW and VIEW."""
        return pa.Table.from_pydict({"table_type": sorted(TABLE_TYPES)}, schema=schemas.TABLE_TYPES)

    # ---- keys: Spark enforces none, so every answer is empty, for tables that exist ---------------

    def _require_table(self, call: SparkCall, command: Message, prefix: str = "") -> None:
        """NOT_FOUND unless the table ``command`` names (its ``<prefix>catalog``, ``<prefix>db_schema``
        and ``<prefix>table`` fields) exists."""
        catalog, db_schema = _optional(command, f"{prefix}catalog"), _optional(command, f"{prefix}db_schema")
        table: str = getattr(command, f"{prefix}table")
        if not SparkCatalogs(call.spark).table_exists(catalog, db_schema, table):
            raise NotFound(f"table not found: {_table_name(catalog, db_schema, table)}")

    def get_flight_info_primary_keys(
        self, call: SparkCall, command: sql_pb2.CommandGetPrimaryKeys, descriptor: flight.FlightDescriptor
    ) -> flight.FlightInfo:
        """NOT_FOUND for an unknown table; otherwise one endpoint on this node."""
        self._require_table(call, command)
        return command_flight_info(command, schemas.PRIMARY_KEYS, descriptor)

    def do_get_primary_keys(self, call: SparkCall, command: sql_pb2.CommandGetPrimaryKeys) -> pa.Table:
        """No rows: Spark has no enforced primary keys."""
        return schemas.PRIMARY_KEYS.empty_table()

    def get_flight_info_exported_keys(
        self, call: SparkCall, command: sql_pb2.CommandGetExportedKeys, descriptor: flight.FlightDescriptor
    ) -> flight.FlightInfo:
        """NOT_FOUND for an unknown table; otherwise one endpoint on this node."""
        self._require_table(call, command)
        return command_flight_info(command, schemas.EXPORTED_KEYS, descriptor)

    def do_get_exported_keys(self, call: SparkCall, command: sql_pb2.CommandGetExportedKeys) -> pa.Table:
        """No rows: Spark has no enforced foreign keys."""
        return schemas.EXPORTED_KEYS.empty_table()

    def get_flight_info_imported_keys(
        self, call: SparkCall, command: sql_pb2.CommandGetImportedKeys, descriptor: flight.FlightDescriptor
    ) -> flight.FlightInfo:
        """NOT_FOUND for an unknown table; otherwise one endpoint on this node."""
        self._require_table(call, command)
        return command_flight_info(command, schemas.IMPORTED_KEYS, descriptor)

    def do_get_imported_keys(self, call: SparkCall, command: sql_pb2.CommandGetImportedKeys) -> pa.Table:
        """No rows: Spark has no enforced foreign keys."""
        return schemas.IMPORTED_KEYS.empty_table()

    def get_flight_info_cross_reference(
        self, call: SparkCall, command: sql_pb2.CommandGetCrossReference, descriptor: flight.FlightDescriptor
    ) -> flight.FlightInfo:
        """NOT_FOUND if either table is unknown; otherwise one endpoint on this node."""
        self._require_table(call, command, "pk_")
        self._require_table(call, command, "fk_")
        return command_flight_info(command, schemas.CROSS_REFERENCE, descriptor)

    def do_get_cross_reference(self, call: SparkCall, command: sql_pb2.CommandGetCrossReference) -> pa.Table:
        """No rows: Spark has no enforced foreign keys."""
        return schemas.CROSS_REFERENCE.empty_table()

    # ---- XDBC type info ---------------------------------------------------------------------------

    def get_flight_info_xdbc_type_info(
        self, call: SparkCall, command: sql_pb2.CommandGetXdbcTypeInfo, descriptor: flight.FlightDescriptor
    ) -> flight.FlightInfo:
        """One endpoint on this node listing Spark's SQL types."""
        return command_flight_info(command, schemas.XDBC_TYPE_INFO, descriptor)

    def do_get_xdbc_type_info(self, call: SparkCall, command: sql_pb2.CommandGetXdbcTypeInfo) -> pa.Table:
        """Spark's SQL types, or those of the XDBC ``data_type`` asked for."""
        data_type = command.data_type if command.HasField("data_type") else None
        return xdbc_type_info_table(data_type)
