"""A pluggable FlightManager: spread a Spark result over the nodes of a cluster, serve it from each.

Knows nothing of SQL. ``create_manager(config, spark)`` picks the implementation named by
``spark.flight.manager``: ``local`` (one node, in process, the default) or ``zookeeper``.

Importing this package imports nothing else: its public names are loaded when first used (a module
``__getattr__``), so the executor side (``push``, ``batches``) and light modules (``status``,
``errors``, ``model``) never pull in the manager, the result store or kazoo.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

    from spark_flight_sql.flightmanager.config import ConfKey, EndpointsMode, FlightConfig
    from spark_flight_sql.flightmanager.errors import FlightManagerError
    from spark_flight_sql.flightmanager.manager import DistributedResult, FlightManager
    from spark_flight_sql.flightmanager.model import Endpoint, NodeInfo, NodeTicket, QueryState, TimeLimit

__all__ = [
    "ConfKey",
    "DistributedResult",
    "Endpoint",
    "EndpointsMode",
    "FlightConfig",
    "FlightManager",
    "FlightManagerError",
    "NodeInfo",
    "NodeTicket",
    "QueryState",
    "TimeLimit",
    "create_manager",
]

# Public name -> the module that defines it.
_LAZY = {
    "ConfKey": "config",
    "EndpointsMode": "config",
    "FlightConfig": "config",
    "FlightManagerError": "errors",
    "DistributedResult": "manager",
    "FlightManager": "manager",
    "Endpoint": "model",
    "NodeInfo": "model",
    "NodeTicket": "model",
    "QueryState": "model",
    "TimeLimit": "model",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{module}"), name)
    globals()[name] = value  # looked up once
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *_LAZY])


def create_manager(config: FlightConfig, spark: SparkSession) -> FlightManager:
    """The FlightManager named by ``config.manager``; call ``start(public_port)`` on it next (or use
    it as a context manager after that), and ``close()`` when done."""
    if config.manager == "local":
        from spark_flight_sql.flightmanager.local import LocalFlightManager

        return LocalFlightManager(config, spark)
    if config.manager == "zookeeper":
        from spark_flight_sql.flightmanager.zookeeper import ZooKeeperFlightManager

        return ZooKeeperFlightManager(config, spark)
    from spark_flight_sql.flightmanager.config import ConfKey

    raise ValueError(f"{ConfKey.MANAGER.value} must be 'local' or 'zookeeper', not {config.manager!r}")
