"""Bulk ingest: CommandStatementIngest (ADBC's ``adbc_ingest``). How an upload is staged and
loaded is in :mod:`spark_flight_sql.flightsql.ingest`."""

from __future__ import annotations

import pyarrow.flight as flight

from spark_flight_sql.flightsql.handlers.backend import Backend
from spark_flight_sql.flightsql.ingest import IngestRequest, TableLoader
from spark_flight_sql.flightsql.proto import FlightSql_pb2 as sql_pb2
from spark_flight_sql.flightsql.sessions import SparkCall

__all__ = ["IngestHandlers"]


class IngestHandlers:
    """CommandStatementIngest, loaded by ``loader`` into the caller's Spark session's catalogs."""

    def __init__(self, backend: Backend, loader: TableLoader) -> None:
        self.backend = backend
        self.loader = loader

    def do_put_statement_ingest(
        self,
        call: SparkCall,
        command: sql_pb2.CommandStatementIngest,
        reader: flight.MetadataRecordBatchReader,
    ) -> int:
        """Stage the upload as Parquet, then write it into the table; the number of rows loaded."""
        request = IngestRequest.from_command(command)
        spark = call.spark
        target = self.loader.target(spark, request)
        self.backend.authorize(call, "", access=self.loader.access(spark, request))
        rows = self.loader.load(spark, request, target, reader, call.is_cancelled)
        self.backend.audit(
            call, "ingest", f"into {target.sql_name}", rows=rows, temporary=str(request.temporary).lower()
        )
        return rows
