"""Catalog metadata handlers: catalogs, schemas, tables, table types, keys, type info and SqlInfo."""

from __future__ import annotations

from functools import cached_property

import pyarrow as pa
import pyarrow.flight as flight

from flightsql import __version__
from flightsql.proto import FlightSql_pb2 as sql_pb2
from flightsql.schemas import SQL_INFO, filter_sql_info, sql_info_table
from flightsql.spark_base import SparkHandlers
from flightsql.sql_info import server_sql_info


class MetadataHandlers(SparkHandlers):
    """Metadata commands answered from Spark's catalogs; each result is one endpoint on this node."""

    @cached_property
    def _sql_info(self) -> pa.Table:
        return sql_info_table(server_sql_info(__version__, self.spark.version))

    def get_flight_info_sql_info(
        self, context: flight.ServerCallContext, command: sql_pb2.CommandGetSqlInfo, descriptor: flight.FlightDescriptor
    ) -> flight.FlightInfo:
        """One endpoint on this node, served from the ticket itself."""
        return self.command_flight_info(command, SQL_INFO, descriptor)

    def do_get_sql_info(
        self, context: flight.ServerCallContext, command: sql_pb2.CommandGetSqlInfo
    ) -> flight.FlightDataStream:
        """The requested SqlInfo values (all of them when none are named)."""
        return flight.RecordBatchStream(filter_sql_info(self._sql_info, list(command.info)))
