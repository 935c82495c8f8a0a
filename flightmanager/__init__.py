"""A pluggable FlightManager: spread a Spark result over the nodes of a cluster, serve it from each.

Knows nothing of SQL. ``create_manager(config, spark)`` picks the implementation named by
``spark.flight.manager``: ``local`` (one node, in process, the default) or ``zookeeper``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from spark_flight_sql.flightmanager.config import ConfKey, FlightConfig
from spark_flight_sql.flightmanager.errors import FlightManagerError
from spark_flight_sql.flightmanager.manager import DistributedResult, FlightManager
from spark_flight_sql.flightmanager.model import Endpoint, NodeInfo, NodeTicket, QueryState

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

__all__ = [
    "ConfKey",
    "DistributedResult",
    "Endpoint",
    "FlightConfig",
    "FlightManager",
    "FlightManagerError",
    "NodeInfo",
    "NodeTicket",
    "QueryState",
    "create_manager",
]


def create_manager(config: FlightConfig, spark: SparkSession) -> FlightManager:
    """The FlightManager named by ``config.manager``; call ``start(public_port)`` on it next."""
    if config.manager == "local":
        from spark_flight_sql.flightmanager.local import LocalFlightManager

        return LocalFlightManager(config, spark)
    if config.manager == "zookeeper":
        from spark_flight_sql.flightmanager.zookeeper import ZooKeeperFlightManager

        return ZooKeeperFlightManager(config, spark)
    raise ValueError(f"{ConfKey.MANAGER.value} must be 'local' or 'zookeeper', not {config.manager!r}")
