"""Bulk ingest: CommandStatementIngest writes uploaded Arrow batches into a Spark table."""

from __future__ import annotations

from flightsql.spark_base import SparkHandlers


class IngestHandlers(SparkHandlers):
    """CommandStatementIngest (ADBC ``adbc_ingest``)."""
