"""Clients that ignore endpoint locations get the whole result: a node given a ticket of another node's
share relays it from that node over the internal data plane (authenticated by the query's relay secret,
batch by batch, cancelled with its reader, UNAVAILABLE naming a node that is gone); and
``spark.flight.endpoints`` / the session option ``endpoints`` point every endpoint at the node asked.

The session's two-node cluster (ZooKeeper, no configured cluster secret: the cluster keeps one in
ZooKeeper, which the data-plane tests read to derive secrets the way nodes do). The test of a node that
dies adds a third node and kills that one.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import shutil
import signal
import subprocess
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import adbc_driver_flightsql.dbapi
import adbc_driver_manager
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.flight as flight
import pytest
from kazoo.client import KazooClient
from support import ROOT
from support.cluster import (
    WAIT,
    cluster_conf,
    read_endpoint,
    statement,
    wait_for_children,
)
from support.server import ServerProcess, stalling_query, start_server

from spark_flight_sql.flightmanager.config import ConfKey, EndpointsMode, FlightConfig
from spark_flight_sql.flightmanager.model import NodeTicket
from spark_flight_sql.flightsql.proto import FlightSql_pb2 as sql_pb2
from spark_flight_sql.flightsql.protocol import unpack_command

ROWS = 1_000_000
CLIENTS = ROOT / "tests" / "clients"
NODE_CLIENT = CLIENTS / "flight_sql_client_node.js"
REUSE = "arrow-flight-reuse-connection://?"
KEEP_COOKIES = {"adbc.flight.sql.rpc.with_cookie_middleware": "true"}
SESSION_OPTION = "adbc.flight.sql.session.option."
CALL = flight.FlightCallOptions(timeout=WAIT)
"""Every call here has a deadline: a relay that hangs fails the test instead of blocking it."""


@pytest.fixture(scope="module")
def pair(cluster_pair) -> tuple[str, list[ServerProcess]]:
    """The session's two-node cluster (the conftest's: other modules use it too)."""
    return cluster_pair


def distributed(
    node: ServerProcess, sql: str, members: tuple[str, ...] = ("node-1", "node-2")
) -> tuple[flight.FlightInfo, dict[str, flight.FlightEndpoint]]:
    """The FlightInfo of ``sql`` taken by ``node``, and its endpoints by node id (one per member)."""
    with flight.FlightClient(node.location) as client:
        info = client.get_flight_info(statement(sql), CALL)
    by_node = {node_ticket(endpoint).node_id: endpoint for endpoint in info.endpoints}
    assert sorted(by_node) == sorted(members), "the result is spread over every node"
    return info, by_node


def node_ticket(endpoint: flight.FlightEndpoint) -> NodeTicket:
    """The node ticket inside a Flight SQL ticket (a signed payload ``{"u": user, "v": node ticket}``,
    read here without checking its signature)."""
    handle = unpack_command(endpoint.ticket.ticket)
    assert isinstance(handle, sql_pb2.TicketStatementQuery)
    payload = handle.statement_handle.partition(b".")[0]
    body = json.loads(base64.urlsafe_b64decode(payload + b"=" * (-len(payload) % 4)))
    return NodeTicket.decode(body["v"].encode("latin-1"))


def assert_every_row_once(ids: pa.ChunkedArray | pa.Array, rows: int) -> None:
    """``ids`` are 0..rows-1, each once: count, sum and distinct count."""
    assert len(ids) == rows
    assert pc.sum(ids).as_py() == rows * (rows - 1) // 2
    assert pc.count_distinct(ids).as_py() == rows
    assert pc.min(ids).as_py() == 0 and pc.max(ids).as_py() == rows - 1


# ---- a client that sends every ticket to the node it is connected to -----------------------------


@pytest.mark.parametrize("entry", [0, 1], ids=["via-node-1", "via-node-2"])
def test_every_ticket_sent_to_one_node_gives_the_whole_result(pair, entry: int) -> None:
    _, nodes = pair
    _, endpoints = distributed(nodes[entry], f"SELECT id FROM range(0, {ROWS}, 1, 8)")
    # pyarrow's FlightClient on one node, reading every endpoint at once (as ADBC reads them), each
    # ticket sent to that node whatever its location says.
    with flight.FlightClient(nodes[entry].location) as client:

        def read(endpoint: flight.FlightEndpoint) -> pa.Table:
            return client.do_get(endpoint.ticket, CALL).read_all()

        with ThreadPoolExecutor(len(endpoints)) as pool:
            shares = dict(zip(endpoints, pool.map(read, endpoints.values())))
    assert all(share.num_rows > 0 for share in shares.values()), "both nodes hold part of the result"
    assert_every_row_once(pa.concat_tables(shares.values()).column("id"), ROWS)


def test_an_npm_client_that_ignores_locations_gets_the_whole_result(pair) -> None:
    """@lakehouse-rs/flight-sql-client (arrow-rs inside) sends every ticket to the node it is
    connected to; before relays it panicked on a two-node result."""
    if shutil.which("node") is None or shutil.which("npm") is None:
        pytest.skip("node and npm are not installed: the npm client cannot run")
    if not (CLIENTS / "node_modules" / "@lakehouse-rs" / "flight-sql-client").is_dir():
        pytest.fail("the npm clients are not installed: run `make clients` (npm install in tests/clients)")
    _, nodes = pair
    rows = 2 * ROWS
    sql = f"SELECT id FROM range(0, {rows}, 1, 8)"
    _, endpoints = distributed(nodes[0], sql)  # this query's shape is spread over both nodes
    for endpoint in endpoints.values():
        read_endpoint(endpoint)  # drained, so that the node lets it go at once
    completed = subprocess.run(
        ["node", str(NODE_CLIENT), "127.0.0.1", str(nodes[0].port), sql],
        capture_output=True,
        text=True,
        timeout=WAIT * 2,
        cwd=ROOT,
        env={**os.environ, "NODE_PATH": str(CLIENTS / "node_modules")},
    )
    assert completed.returncode == 0, completed.stderr[-3000:]
    got = json.loads(completed.stdout.strip().splitlines()[-1])
    assert got == {"rows": rows, "sum": str(rows * (rows - 1) // 2), "distinct": rows}


# ---- proxy mode: every endpoint at the node the client asked ---------------------------------------


@pytest.mark.parametrize(
    ("mode", "location"), [("proxy", 0), ("reuse", REUSE)], ids=["proxy", "reuse-connection"]
)
def test_the_endpoints_session_option_points_every_endpoint_at_the_node_asked(
    pair, mode: str, location: int | str
) -> None:
    _, nodes = pair
    entry = nodes[1]
    expected = entry.location if location == 0 else location
    sql = f"SELECT id FROM range(0, {ROWS}, 1, 8)"
    with adbc_driver_flightsql.dbapi.connect(entry.location, db_kwargs=dict(KEEP_COOKIES)) as connection:
        connection.adbc_connection.set_options(**{SESSION_OPTION + "endpoints": mode})
        with connection.cursor() as cursor:
            partitions, _ = cursor.adbc_execute_partitions(sql)
            assert len(partitions) == 2, "still one endpoint per node"
            for partition in partitions:
                info = flight.FlightInfo.deserialize(partition)
                assert [loc.uri.decode() for e in info.endpoints for loc in e.locations] == [expected]
            ids = []
            for partition in partitions:
                cursor.adbc_read_partition(partition)
                ids.append(cursor.fetch_arrow_table().column("id"))
            assert_every_row_once(pa.chunked_array([c for column in ids for c in column.chunks]), ROWS)
            # ADBC's own reading of every endpoint through the node asked.
            cursor.execute(sql)
            assert_every_row_once(cursor.fetch_arrow_table().column("id"), ROWS)
        # The option unset: each endpoint at its own node again.
        connection.adbc_connection.set_options(**{"adbc.flight.sql.session.optionerase.endpoints": ""})
        with connection.cursor() as cursor:
            partitions, _ = cursor.adbc_execute_partitions(sql)
            served = sorted(
                flight.FlightInfo.deserialize(p).endpoints[0].locations[0].uri.decode() for p in partitions
            )
            assert served == sorted(node.location for node in nodes)
            for partition in partitions:
                cursor.adbc_read_partition(partition)
                cursor.fetch_arrow_table()


def test_an_unknown_endpoints_mode_is_refused(pair) -> None:
    _, nodes = pair
    with adbc_driver_flightsql.dbapi.connect(nodes[0].location, db_kwargs=dict(KEEP_COOKIES)) as connection:
        with pytest.raises(adbc_driver_manager.Error, match="endpoints.*invalid value"):
            connection.adbc_connection.set_options(**{SESSION_OPTION + "endpoints": "sideways"})


def test_spark_flight_endpoints_is_read_and_checked() -> None:
    assert FlightConfig.from_conf({}).endpoints is EndpointsMode.DIRECT
    for text, mode in (("proxy", EndpointsMode.PROXY), (" Reuse ", EndpointsMode.REUSE)):
        assert FlightConfig.from_conf({ConfKey.ENDPOINTS.value: text}).endpoints is mode
    with pytest.raises(ValueError, match="spark.flight.endpoints must be one of 'direct', 'proxy', 'reuse'"):
        FlightConfig.from_conf({ConfKey.ENDPOINTS.value: "everywhere"})


# ---- cancel through the relay ------------------------------------------------------------------------


CANCELLED = "cancelling the job (its readers went away)"


def test_a_client_that_cancels_a_relayed_stream_abandons_the_share_on_its_node(pair, kazoo) -> None:
    root, nodes = pair
    cancelled = sum(CANCELLED in line for line in nodes[0].lines)  # the nodes' output is shared
    _, endpoints = distributed(nodes[0], stalling_query())
    # Both shares read through node-1 (node-2's relayed), one batch each while the job crawls on:
    # the relay streams, it does not wait for the whole share.
    with flight.FlightClient(nodes[0].location) as client:
        readers = [client.do_get(endpoints[node].ticket) for node in ("node-1", "node-2")]
        for reader in readers:
            assert reader.read_chunk().data.num_rows > 0
        for reader in readers:
            reader.cancel()
    # The owner cancels the job only once every share is over: node-2's too, which its own reader
    # (node-1's relay) gave up when the client cancelled.
    nodes[0].wait_for_count(CANCELLED, cancelled + 1, timeout=WAIT)
    wait_for_children(kazoo, f"{root}/queries", lambda children: children == [])


# ---- the data plane: a relay secret opens a relay of its query, and nothing else ------------------


def derived(kazoo: KazooClient, root: str, purpose: bytes, query_id: str) -> bytes:
    """A query's secret derived from the cluster secret as the design says (not with the library's code)."""
    cluster_secret, _ = kazoo.get(f"{root}/secret")
    return hmac.new(bytes(cluster_secret), purpose + b"\0" + query_id.encode(), hashlib.sha256).digest()


def internal_location(kazoo: KazooClient, root: str, node_id: str) -> str:
    data, _ = kazoo.get(f"{root}/nodes/{node_id}")
    return json.loads(data)["internal"]


def headers(kind: str, query_id: str, secret: bytes) -> list[tuple[bytes, bytes]]:
    return [
        (f"x-spark-flight-{kind}-query".encode(), query_id.encode()),
        (f"x-spark-flight-{kind}-secret".encode(), secret.hex().encode()),
    ]


def refused(call: Callable[[], object], error: type[Exception], text: str) -> str:
    with pytest.raises(error) as caught:
        call()
    message = str(caught.value).split(". Detail:", 1)[0]
    assert text in message, message
    assert "Traceback" not in str(caught.value)
    return message


def test_a_relay_secret_opens_only_a_relay_of_its_own_query_s_share(pair, kazoo) -> None:
    root, nodes = pair
    _, first = distributed(nodes[0], f"SELECT id FROM range(0, {ROWS}, 1, 8)")
    _, second = distributed(nodes[0], f"SELECT id FROM range(0, {ROWS}, 1, 8)")
    ticket = node_ticket(first["node-2"])
    other = node_ticket(second["node-2"])
    query_id = ticket.query_id
    relay = derived(kazoo, root, b"relay", query_id)
    push = derived(kazoo, root, b"push", query_id)
    location = internal_location(kazoo, root, "node-2")
    raw = flight.Ticket(ticket.encode())

    def do_get(ticket: flight.Ticket, call_headers: list[tuple[bytes, bytes]]) -> pa.Table:
        with flight.FlightClient(location) as client:
            options = flight.FlightCallOptions(headers=call_headers, timeout=WAIT)
            return client.do_get(ticket, options).read_all()

    def do_put(call_headers: list[tuple[bytes, bytes]]) -> None:
        batch = pa.record_batch([pa.array(range(10), pa.int64())], names=["id"])
        descriptor = flight.FlightDescriptor.for_command(json.dumps({"q": query_id, "p": 1, "a": 99}))
        with flight.FlightClient(location) as client:
            options = flight.FlightCallOptions(headers=call_headers, timeout=WAIT)
            writer, reader = client.do_put(descriptor, batch.schema, options)
            try:
                writer.write_batch(batch)
                writer.done_writing()
                reader.read()
            finally:
                writer.close()

    unauthenticated = flight.FlightUnauthenticatedError
    # The push secret shown as a relay secret, and the other way round.
    refused(lambda: do_get(raw, headers("relay", query_id, push)), unauthenticated, "wrong relay secret")
    refused(lambda: do_put(headers("push", query_id, relay)), unauthenticated, "wrong push secret")
    refused(lambda: do_put(headers("relay", query_id, relay)), unauthenticated, "a push needs the")
    # Push headers open no DoGet; relay headers open no other call.
    only = "it takes only pushes of query partitions from Spark executors and relays"
    refused(lambda: do_get(raw, headers("push", query_id, push)), unauthenticated, only)
    with flight.FlightClient(location) as client:
        options = flight.FlightCallOptions(headers=headers("relay", query_id, relay), timeout=WAIT)
        refused(
            lambda: client.get_flight_info(flight.FlightDescriptor.for_command(b"x"), options),
            unauthenticated,
            only,
        )
        refused(
            lambda: list(client.do_action(flight.Action("NodeStats", b""), options)), unauthenticated, only
        )
    # A relay secret reads its own query's share only, and only from the node that holds it.
    refused(
        lambda: do_get(flight.Ticket(other.encode()), headers("relay", query_id, relay)),
        unauthenticated,
        "wrong relay secret",
    )
    own = node_ticket(first["node-1"])
    refused(
        lambda: do_get(flight.Ticket(own.encode()), headers("relay", query_id, relay)),
        pa.ArrowInvalid,
        "a share is relayed only from the node that holds it",
    )
    # Nothing above consumed the share: the relay that shows the right secret reads all of it, and
    # node-1 serves its own share and relays the second query's as ever.
    share = do_get(raw, headers("relay", query_id, relay)).column("id")
    assert len(share) > 0
    mine = read_endpoint(first["node-1"]).column("id")
    assert_every_row_once(pa.chunked_array(share.chunks + mine.chunks), ROWS)
    with flight.FlightClient(nodes[0].location) as client:
        total = sum(client.do_get(e.ticket, CALL).read_all().num_rows for e in second.values())
    assert total == ROWS


# ---- a node gone (a third node, killed) ----------------------------------------------------------


THREE_FAST = (
    "SELECT id, java_method('java.lang.Thread', 'sleep', IF(id < 30000, 0L, 200L)) AS pause "
    "FROM range(0, 80000, 1, 8)"
)
"""Partitions 0-2 of 8 finish at once, the others crawl. Partition p goes to the (p mod 3)-th of three
nodes: node-3's share is partition 2, ready at once, then partition 5, which crawls."""


def test_a_relay_from_a_node_that_dies_ends_with_unavailable_naming_it(pair, zookeeper, kazoo) -> None:
    """A third node joins the pair for this test and is killed (the pair is the session's)."""
    root, nodes = pair
    doomed = start_server(*cluster_conf(zookeeper.url, root, "node-3"), demo=False)
    try:
        wait_for_children(kazoo, f"{root}/nodes", lambda children: len(children) == 3)
        members = ("node-1", "node-2", "node-3")
        _, crawling = distributed(nodes[0], THREE_FAST, members)
        _, unread = distributed(nodes[0], THREE_FAST, members)
        outcome: list[BaseException | None] = []
        with flight.FlightClient(nodes[0].location) as client:
            reader = client.do_get(crawling["node-3"].ticket, CALL)
            assert reader.read_chunk().data.num_rows > 0  # relayed while the job crawls

            def read_on() -> None:
                try:
                    reader.read_all()
                    outcome.append(None)
                except BaseException as exc:  # noqa: BLE001 - the test inspects it
                    outcome.append(exc)

            reading = threading.Thread(target=read_on, daemon=True)
            reading.start()
            os.killpg(doomed.process.pid, signal.SIGKILL)  # node-3, with its JVM and workers
            doomed.wait_exit()
            reading.join(WAIT + 30)
            assert outcome, "the relayed stream never ended"
            (error,) = outcome
            assert isinstance(error, flight.FlightUnavailableError), repr(error)
            assert "node-3" in str(error) and "Traceback" not in str(error)
            # A ticket of the dead node, shown afterwards: UNAVAILABLE naming it, not a hang.
            with pytest.raises(flight.FlightUnavailableError, match="node node-3"):
                client.do_get(unread["node-3"].ticket, CALL).read_all()
    finally:
        if doomed.process.poll() is None:
            os.killpg(doomed.process.pid, signal.SIGKILL)
        doomed.wait_exit()
    # The pair is as it was: node-3 gone from the cluster, both crawling queries given up.
    wait_for_children(kazoo, f"{root}/nodes", lambda children: sorted(children) == ["node-1", "node-2"])
    wait_for_children(kazoo, f"{root}/queries", lambda children: children == [])
