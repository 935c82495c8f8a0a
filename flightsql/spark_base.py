"""What every group of Spark-backed Flight SQL handlers shares: the node's Spark and FlightManager.

:class:`flightsql.spark_server.SparkFlightSqlServer` is assembled from one mixin per concern
(queries and updates, catalog metadata, bulk ingest, sessions); each mixin derives from
:class:`SparkHandlers` and reaches Spark only through :meth:`SparkHandlers.spark_for`, so that
every request runs in the caller's own Spark session.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pyarrow.flight as flight

from flightmanager import FlightManager
from flightsql.base import FlightSqlServerBase
from flightsql.settings import SqlSettings

if TYPE_CHECKING:
    from pyspark.sql import SparkSession


class SparkHandlers(FlightSqlServerBase):
    """A Flight SQL server whose handlers run on ``spark`` and serve results through ``manager``."""

    def __init__(self, location: str, spark: SparkSession, manager: FlightManager, **kwargs: object) -> None:
        super().__init__(location, **kwargs)
        self.spark = spark
        self.manager = manager
        self.settings = SqlSettings.from_conf(lambda key: spark.conf.get(key, None))

    def spark_for(self, context: flight.ServerCallContext) -> SparkSession:
        """The Spark session a request runs in: the client's own session (see flightsql.sessions)."""
        return self.spark

    def session_ended(self, spark: SparkSession) -> None:
        """A client's Spark session is being dropped (closed, expired or evicted): release what
        handlers keep for it. Mixins that keep something override this and call ``super()``."""
