"""A plain Arrow Flight server (not Flight SQL) that serves a folder of Parquet datasets through the FlightManager.

The port of the original Scala SparkFlightSql project's reference Parquet producer, and the proof
that ``flightmanager`` is a library: each sub-folder or ``.parquet`` file of ``--data`` is a
flight. ``get_flight_info`` has Spark read it and spreads the result over every node of the
cluster (one endpoint per node); ``do_get`` streams a node's share as executors push it.

Descriptors:

- PATH ``["sales"]``: the whole dataset ``<data>/sales``.
- CMD ``{"path": "sales", "columns": ["id", "amount"], "filter": "amount > 10"}`` (JSON, UTF-8):
  a projection and a Spark SQL filter expression. The filter runs with the server's rights (Spark
  SQL expressions can call Java methods): expose this server to trusted clients only.

Single node (``spark.flight.manager=local``, the default)::

    python examples/parquet_flight_server.py --data /path/to/parquet --port 33333

A cluster: start one per machine (over a shared file system) with
``--conf spark.flight.manager=zookeeper --conf spark.flight.manager.zookeeper.url=zk:2181``.
Every ``spark.flight.*`` key of the Flight SQL node applies; ``--port`` is ``spark.flight.port``.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import signal
import sys
import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Any

import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.flight as flight

from spark_flight_sql.flightmanager import FlightConfig, FlightManager, create_manager
from spark_flight_sql.flightmanager.errors import to_flight_error

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

READY = "parquet-flight-server: serving on "


@dataclass(frozen=True)
class DatasetRequest:
    """What a descriptor asks for: a dataset of the data folder, optionally projected and filtered."""

    path: str
    columns: tuple[str, ...] = ()
    filter: str | None = None

    @classmethod
    def from_descriptor(cls, descriptor: flight.FlightDescriptor) -> DatasetRequest:
        """Parse a PATH descriptor (the whole dataset) or a CMD descriptor holding JSON."""
        if descriptor.descriptor_type == flight.DescriptorType.PATH:
            return cls("/".join(part.decode() for part in descriptor.path))
        try:
            command = json.loads(descriptor.command)
            path, columns, filter_ = (
                command["path"],
                command.get("columns") or [],
                command.get("filter") or None,
            )
        except (ValueError, KeyError, TypeError, AttributeError):
            raise pa.ArrowInvalid(
                'a CMD descriptor holds JSON: {"path": ..., "columns": [...], "filter": ...}'
            ) from None
        if (
            not isinstance(path, str)
            or not isinstance(columns, list)
            or not all(isinstance(c, str) for c in columns)
        ):
            raise pa.ArrowInvalid("path must be a string and columns a list of strings")
        if filter_ is not None and not isinstance(filter_, str):
            raise pa.ArrowInvalid("filter must be a Spark SQL expression, as a string")
        return cls(path, tuple(columns), filter_)


class ParquetFlightServer(flight.FlightServerBase):
    """Serves the Parquet datasets under ``data_dir``, each result spread over the cluster by ``manager``."""

    def __init__(
        self, location: str, data_dir: Path, spark: SparkSession, manager: FlightManager, **options: Any
    ) -> None:
        """``options`` go to ``FlightServerBase`` (TLS certificates, middleware)."""
        super().__init__(location, **options)
        self.data_dir = data_dir.resolve()
        self.spark = spark
        self.manager = manager

    def datasets(self) -> list[str]:
        """The flights: every sub-folder and ``.parquet`` file directly under the data folder."""
        return sorted(p.name for p in self.data_dir.iterdir() if p.is_dir() or p.suffix == ".parquet")

    def resolve(self, name: str) -> Path:
        """The dataset's path, refusing anything outside the data folder."""
        path = (self.data_dir / name).resolve()
        if path.parent != self.data_dir or path.name not in self.datasets():
            raise pa.ArrowKeyError(f"no dataset {name!r}; list_flights shows them")
        return path

    def list_flights(self, context: flight.ServerCallContext, criteria: bytes) -> Iterator[flight.FlightInfo]:
        """One FlightInfo per dataset, with a PATH descriptor and no endpoints (get_flight_info makes them)."""
        for name in self.datasets():
            # The files' own schema, read without Spark; get_flight_info gives Spark's Arrow schema.
            schema = ds.dataset(self.data_dir / name, format="parquet", partitioning="hive").schema
            yield flight.FlightInfo(schema, flight.FlightDescriptor.for_path(name), [], -1, -1)

    def get_flight_info(
        self, context: flight.ServerCallContext, descriptor: flight.FlightDescriptor
    ) -> flight.FlightInfo:
        """Start the read on the cluster; answer at once with one endpoint per node."""
        try:
            request = DatasetRequest.from_descriptor(descriptor)
            result = self.manager.distribute(self.dataframe(request), f"parquet {request.path}")
        except Exception as exc:  # noqa: BLE001 - every error leaves with its status, a message and an error id, no traceback
            raise to_flight_error(exc) from None
        return flight.FlightInfo(result.schema, descriptor, result.flight_endpoints(), -1, -1)

    def dataframe(self, request: DatasetRequest) -> DataFrame:
        """The Spark read of a request (analysed at once: a wrong column fails here, not in the job)."""
        df = self.spark.read.parquet(str(self.resolve(request.path)))
        if request.columns:
            df = df.select(*request.columns)
        if request.filter:
            df = df.filter(request.filter)
        return df

    def do_get(self, context: flight.ServerCallContext, ticket: flight.Ticket) -> flight.FlightDataStream:
        """This node's share, streamed while executors still push it."""
        return self.manager.flight_stream(ticket.ticket, context)


def build_spark(master: str, conf: dict[str, str]) -> SparkSession:
    """A SparkSession whose executors run this interpreter (they import ``flightmanager``)."""
    from pyspark.sql import SparkSession

    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    builder = SparkSession.builder.master(master).appName("parquet-flight-server")
    for key, value in {
        "spark.sql.session.timeZone": "UTC",
        "spark.ui.showConsoleProgress": "false",
        **conf,
    }.items():
        builder = builder.config(key, value)
    return builder.getOrCreate()


def stop_spark(spark: SparkSession) -> None:
    """Stop Spark, which may be gone already: Ctrl-C in a terminal signals the JVM too."""
    try:
        spark.stop()
    except Exception as exc:  # noqa: BLE001 - nothing is left to clean up then
        logging.getLogger(__name__).info("Spark was already gone at shutdown (%s)", type(exc).__name__)


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    """The command line; ``conf`` becomes a dict, with ``--host`` and ``--port`` as their conf keys."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument(
        "--data", required=True, type=Path, help="folder of Parquet datasets (sub-folders or .parquet files)"
    )
    parser.add_argument("--host", help="address to bind (spark.flight.host, default 127.0.0.1)")
    parser.add_argument(
        "--port", type=int, help="public Flight port (spark.flight.port, default 32010; 0 picks one)"
    )
    parser.add_argument("--master", default="local[*]", help="Spark master URL (default local[*])")
    parser.add_argument(
        "--conf", action="append", default=[], metavar="KEY=VALUE", help="a Spark conf setting; repeatable"
    )
    args = parser.parse_args(argv)
    if not args.data.is_dir():
        parser.error(f"--data {args.data} is not a folder")
    try:
        args.conf = dict(item.split("=", 1) for item in args.conf)
    except ValueError:
        parser.error("--conf takes KEY=VALUE")
    for key, value in (("spark.flight.host", args.host), ("spark.flight.port", args.port)):
        if value is not None:
            args.conf[key] = str(value)
    return args


def stop_event() -> threading.Event:
    """An event set by SIGINT or SIGTERM."""
    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, on_signal)
    return stop


def main(argv: Sequence[str] | None = None) -> int:
    """Serve until SIGINT or SIGTERM; returns the exit code."""
    args = parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    for logger in ("SQLQueryContextLogger", "DataFrameQueryContextLogger"):  # the client gets Spark's error
        logging.getLogger(logger).setLevel(logging.CRITICAL)
    try:
        config = FlightConfig.from_conf(args.conf)  # a bad setting fails before Spark starts
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    spark = build_spark(args.master, args.conf)
    stop = stop_event()  # after Spark, whose SparkContext installs a SIGINT handler of its own
    spark.sparkContext.setLogLevel("ERROR")
    manager = create_manager(config, spark)
    server: ParquetFlightServer | None = None
    try:
        server = ParquetFlightServer(
            config.location(config.host, config.port),
            args.data,
            spark,
            manager,
            **config.server_tls_options(public=True),
        )
        manager.start(server.port)
        print(f"parquet-flight-server: {len(server.datasets())} datasets in {server.data_dir}", flush=True)
        print(f"{READY}{manager.node.public_location}", flush=True)
        while not stop.wait(timeout=0.5):  # wake now and then: a signal caught by another thread
            pass  # runs its Python handler only when this (main) thread runs again
    finally:
        manager.close()  # first: it fails open streams, which server.shutdown() would wait for
        if server is not None:
            server.shutdown()
        stop_spark(spark)
    print("parquet-flight-server: stopped", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
