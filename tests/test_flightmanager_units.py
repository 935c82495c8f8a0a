"""Small pieces of the FlightManager: batch splitting, tickets, configuration."""

from __future__ import annotations

import pyarrow as pa
import pytest

from spark_flight_sql.flightmanager.batches import split_batch
from spark_flight_sql.flightmanager.config import FlightConfig
from spark_flight_sql.flightmanager.errors import UnknownTicketError
from spark_flight_sql.flightmanager.model import NodeTicket
from spark_flight_sql.flightmanager.push import PushNode, PushTarget


def test_split_batch_keeps_every_row_under_the_limit() -> None:
    wide = pa.record_batch(
        {"id": pa.array(range(1000)), "s": pa.array(["x" * (i % 500) for i in range(1000)])}
    )
    pieces = list(split_batch(wide, 20_000))
    assert sum(p.num_rows for p in pieces) == 1000
    assert all(p.nbytes <= 20_000 for p in pieces)
    assert pa.Table.from_batches(pieces).equals(pa.Table.from_batches([wide]))


def test_a_row_larger_than_the_limit_travels_alone() -> None:
    huge = pa.record_batch({"s": pa.array(["y" * 5000, "z"])})
    pieces = list(split_batch(huge, 1000))
    assert [p.num_rows for p in pieces] == [1, 1]


def test_ticket_round_trip_and_forgery() -> None:
    ticket = NodeTicket("query", "node")
    assert NodeTicket.decode(ticket.encode()) == ticket
    for forged in (b"", b"{}", b"[1,2]", b'{"q": 1, "n": 2}', b"\xff"):
        with pytest.raises(UnknownTicketError):
            NodeTicket.decode(forged)


def test_placement_is_even_and_deterministic_and_prefers_the_local_host() -> None:
    nodes = (PushNode("a", "grpc://a:1", "host-a"), PushNode("b", "grpc://b:1", "host-b"))
    target = PushTarget("q", b"s", pa.schema([]).serialize().to_pybytes(), nodes, 1 << 20)
    spread = [target.node_for(p, "elsewhere").node_id for p in range(6)]
    assert spread == ["a", "b", "a", "b", "a", "b"]
    assert {target.node_for(p, "host-b").node_id for p in range(6)} == {"b"}


def test_config_from_spark_conf_keys() -> None:
    config = FlightConfig.from_conf(
        {
            "spark.flight.host": "0.0.0.0",
            "spark.flight.port": "4000",
            "spark.flight.public.host": "db.example",
        }
    )
    assert (config.host, config.port, config.public_host, config.internal_host) == (
        "0.0.0.0",
        4000,
        "db.example",
        "0.0.0.0",
    )
    assert config.manager == "local"


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        ("spark.flight.port", "http", "whole number"),
        ("spark.flight.port", "70000", "port number"),
        ("spark.flight.manager", "etcd", "'local' or 'zookeeper'"),
        ("spark.flight.batch.maxBytes", "10", "at least"),
        ("spark.flight.push.method", "magic", "push.method"),
    ],
)
def test_bad_config_names_the_key(key: str, value: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        FlightConfig.from_conf({key: value})
