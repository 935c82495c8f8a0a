"""Two- and three-node clusters as separate processes with a real ZooKeeper: every node serves a share."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import adbc_driver_flightsql.dbapi
import pyarrow as pa
import pyarrow.flight as flight
import pytest
from support.cluster import (
    TTL_SECONDS,
    WAIT,
    assert_every_node_serves_a_share,
    cluster_conf,
    read_endpoint,
    start_cluster,
    statement,
    wait_for_children,
    wait_for_members,
)
from support.flight_calls import CookieJar, bind, cancel_flight_info, get_options, prepare, run_prepared
from support.server import ServerProcess, stalling_query, start_server


@pytest.fixture(scope="module")
def pair(cluster_pair) -> tuple[str, list[ServerProcess]]:
    """The session's two-node cluster (the conftest's: other modules use it too)."""
    return cluster_pair


def test_every_node_serves_one_endpoint(pair) -> None:
    _, nodes = pair
    with adbc_driver_flightsql.dbapi.connect(nodes[0].location, autocommit=True) as connection:
        ids = assert_every_node_serves_a_share(
            connection, "SELECT id FROM range(0, 100000, 1, 8)", [node.location for node in nodes]
        )
    assert sorted(ids) == list(range(100_000))


@pytest.mark.parametrize("entry", [0, 1], ids=["via-node-1", "via-node-2"])
def test_any_node_takes_a_query_and_the_result_equals_spark(pair, spark, entry: int) -> None:
    _, nodes = pair
    sql = """
        SELECT id, CAST(id AS DOUBLE) / 3 AS third, concat('v', id) AS label,
               IF(id % 5 = 0, NULL, date_add(DATE'2020-01-01', CAST(id % 1000 AS INT))) AS day
        FROM range(0, 300000, 1, 6)
    """
    with adbc_driver_flightsql.dbapi.connect(nodes[entry].location, autocommit=True) as connection:
        with connection.cursor() as cursor:
            cursor.execute(sql)
            got = cursor.fetch_arrow_table()
    expected = spark.sql(sql).toArrow()
    assert got.schema.equals(expected.schema)
    assert got.sort_by("id").equals(expected.sort_by("id"))


def test_a_ticket_shown_to_the_other_node_is_relayed_from_its_node(pair) -> None:
    """More in test_relay.py."""
    _, nodes = pair
    with flight.FlightClient(nodes[0].location) as client:
        info = client.get_flight_info(statement("SELECT id FROM range(0, 40000, 1, 4)"))
        by_location = {e.locations[0].uri.decode(): e for e in info.endpoints}
        other = by_location[nodes[1].location]
        relayed = client.do_get(other.ticket).read_all().num_rows
        mine = by_location[nodes[0].location]
        assert relayed > 0 and read_endpoint(mine).num_rows + relayed == 40000


def test_query_metadata_is_released_when_drained(pair, kazoo) -> None:
    root, nodes = pair
    with flight.FlightClient(nodes[1].location) as client:
        info = client.get_flight_info(statement("SELECT id FROM range(0, 50000, 1, 4)"))
    total = sum(read_endpoint(endpoint).num_rows for endpoint in info.endpoints)
    assert total == 50_000
    wait_for_children(kazoo, f"{root}/queries", lambda children: children == [])


CANCELLED = "cancelling the job (its readers went away)"


def cancellations(node: ServerProcess) -> int:
    """How many jobs ``node`` has cancelled for want of readers so far (its cluster is shared)."""
    return sum(CANCELLED in line for line in node.lines)


def test_closing_every_stream_cancels_the_job_and_releases(pair, kazoo) -> None:
    root, nodes = pair
    cancelled = cancellations(nodes[0])
    with flight.FlightClient(nodes[0].location) as client:
        info = client.get_flight_info(statement(stalling_query()))
        readers = []
        for endpoint in info.endpoints:
            remote = flight.FlightClient(endpoint.locations[0])
            reader = remote.do_get(endpoint.ticket)
            assert reader.read_chunk().data.num_rows > 0
            readers.append((remote, reader))
        for remote, reader in readers:
            reader.cancel()
            remote.close()
    nodes[0].wait_for_count(CANCELLED, cancelled + 1, timeout=WAIT)
    wait_for_children(kazoo, f"{root}/queries", lambda children: children == [])


def test_an_unread_result_expires_after_its_ttl(pair, kazoo) -> None:
    root, nodes = pair
    cancelled = cancellations(nodes[1])
    with flight.FlightClient(nodes[1].location) as client:
        info = client.get_flight_info(statement(stalling_query()))
    assert len(info.endpoints) == 2
    # Nobody reads: after spark.flight.result.ttl both shares are given up, the job is cancelled
    # and the query's znodes go.
    nodes[1].wait_for_count(CANCELLED, cancelled + 1, timeout=TTL_SECONDS + WAIT)
    wait_for_children(kazoo, f"{root}/queries", lambda children: children == [])


def test_sequential_reader_in_reverse_order(pair) -> None:
    """The JDBC driver reads endpoints one at a time; any order must complete."""
    _, nodes = pair
    with flight.FlightClient(nodes[0].location) as client:
        info = client.get_flight_info(statement("SELECT id FROM range(0, 2000000, 1, 8)"))
    ids = []
    for endpoint in reversed(info.endpoints):
        ids.extend(read_endpoint(endpoint).column("id").to_pylist())
    assert sorted(ids) == list(range(2_000_000))


def test_a_node_that_joins_later_serves_only_new_queries(zookeeper, pair, kazoo) -> None:
    root, nodes = pair
    with flight.FlightClient(nodes[0].location) as client:
        before = client.get_flight_info(statement("SELECT id FROM range(0, 30000, 1, 3)"))
        # Read before the third node starts: its start may take longer than the module's short TTL.
        assert len(before.endpoints) == 2
        assert sum(read_endpoint(e).num_rows for e in before.endpoints) == 30_000
        late = start_server(*cluster_conf(zookeeper.url, root, "node-3"), demo=False)
        try:
            wait_for_children(kazoo, f"{root}/nodes", lambda children: len(children) == 3)
            after = client.get_flight_info(statement("SELECT id FROM range(0, 30000, 1, 3)"))
            assert {e.locations[0].uri.decode() for e in after.endpoints} == {
                nodes[0].location,
                nodes[1].location,
                late.location,
            }
            assert sum(read_endpoint(e).num_rows for e in after.endpoints) == 30_000
        finally:
            assert late.stop() == 0
    wait_for_children(kazoo, f"{root}/nodes", lambda children: len(children) == 2)


INIT_SCRIPT = str(Path(__file__).parent / "init_scripts" / "flaky_udfs.py")


@pytest.fixture(scope="module")
def flaky_pair(zookeeper) -> Iterator[tuple[str, list[ServerProcess]]]:
    """Two nodes whose Spark retries failed tasks and speculates on stragglers."""
    root, nodes = start_cluster(
        zookeeper.url,
        2,
        "--master",
        "local[2,4]",
        "--init-script",
        INIT_SCRIPT,
        "--conf",
        "spark.speculation=true",
        "--conf",
        "spark.speculation.interval=100ms",
        "--conf",
        "spark.speculation.multiplier=1.5",
        "--conf",
        "spark.speculation.quantile=0.5",
        "--conf",
        "spark.speculation.minTaskRuntime=500ms",
        "--conf",
        "spark.sql.execution.arrow.maxRecordsPerBatch=500",
    )
    wait_for_members(zookeeper.url, root, 2)
    yield root, nodes
    for node in nodes:
        assert node.stop() == 0, "\n".join(node.lines[-40:])


@pytest.mark.parametrize("udf", ["fail_first_attempt", "straggle_first_attempt"])
def test_retried_and_speculative_attempts_never_duplicate_rows(flaky_pair, udf: str) -> None:
    _, nodes = flaky_pair
    with adbc_driver_flightsql.dbapi.connect(nodes[0].location, autocommit=True) as connection:
        with connection.cursor() as cursor:
            cursor.execute(f"SELECT {udf}(id) AS id FROM range(0, 40000, 1, 4)")
            ids = cursor.fetch_arrow_table().column("id").to_pylist()
    assert len(ids) == 40_000
    assert sorted(ids) == list(range(40_000))
    logs = "\n".join(nodes[0].lines + nodes[1].lines)
    # Evidence that a second attempt of some partition also pushed, and was thrown away.
    assert "discarded, attempt" in logs, "no duplicate attempt reached a node: the test proved nothing"


# ---- Flight SQL features across nodes ------------------------------------------------------------


def session_cookie(location: str) -> tuple[bytes, bytes]:
    """A new session's cookie, as the node at ``location`` sets it."""
    jar = CookieJar()
    with flight.FlightClient(location, middleware=[jar]) as client:
        get_options(client)
    assert jar.cookie is not None
    return (b"cookie", jar.cookie.encode())


def set_session_options(location: str, cookie: tuple[bytes, bytes], **values: str) -> None:
    from spark_flight_sql.flightsql.proto import FlightSession_pb2 as session_pb2

    request = session_pb2.SetSessionOptionsRequest()
    for name, value in values.items():
        request.session_options[name].string_value = value
    with flight.FlightClient(location) as client:
        (result,) = client.do_action(
            flight.Action("SetSessionOptions", request.SerializeToString()),
            flight.FlightCallOptions(headers=[cookie]),
        )
    assert not session_pb2.SetSessionOptionsResult.FromString(result.body.to_pybytes()).errors


def run(location: str, sql: str, cookie: tuple[bytes, bytes] | None = None) -> tuple[list[str], pa.Table]:
    """The endpoint locations of ``sql`` taken by ``location``, and every row."""
    options = flight.FlightCallOptions(headers=[cookie] if cookie else [])
    with flight.FlightClient(location) as client:
        info = client.get_flight_info(statement(sql), options)
    locations = [endpoint.locations[0].uri.decode() for endpoint in info.endpoints]
    return locations, pa.concat_tables(read_endpoint(endpoint) for endpoint in info.endpoints)


def test_execution_modes_decide_how_many_nodes_serve(pair) -> None:
    _, (first, second) = pair
    big = "SELECT id FROM range(0, 40000, 1, 4)"
    # auto: a small or driver-side result comes from the node that took the query alone.
    for small in (
        "SELECT id FROM range(0, 40000, 1, 4) ORDER BY id LIMIT 5",
        "SELECT count(*) AS n FROM range(40000)",
        "SHOW DATABASES",
        "VALUES (1), (2)",
    ):
        locations, table = run(second.location, small)
        assert locations == [second.location], small
        assert table.num_rows >= 1
    locations, table = run(second.location, big)
    assert sorted(locations) == sorted([first.location, second.location])
    assert sorted(table.column("id").to_pylist()) == list(range(40000))
    # single, chosen by the session: one endpoint on the node asked, every row.
    cookie = session_cookie(first.location)
    set_session_options(first.location, cookie, executionMode="single")
    locations, table = run(first.location, big, cookie)
    assert locations == [first.location]
    assert sorted(table.column("id").to_pylist()) == list(range(40000))
    # distributed, even for a one-row result.
    set_session_options(first.location, cookie, executionMode="distributed")
    locations, table = run(first.location, "SELECT 1 AS one", cookie)
    assert sorted(locations) == sorted([first.location, second.location])
    assert table.column("one").to_pylist() == [1]


def test_a_session_is_honoured_by_every_node(pair) -> None:
    _, (first, second) = pair
    cookie = session_cookie(first.location)
    set_session_options(first.location, cookie, **{"spark.sql.session.timeZone": "Asia/Kolkata"})
    for node in (first, second):
        _, table = run(node.location, "SELECT current_timezone() AS tz", cookie)
        assert table.column("tz").to_pylist() == ["Asia/Kolkata"]
    _, table = run(second.location, "SELECT current_timezone() AS tz")
    assert table.column("tz").to_pylist() == ["UTC"]


def test_a_statement_prepared_and_bound_on_one_node_runs_on_another(pair) -> None:
    _, (first, second) = pair
    with flight.FlightClient(first.location) as client:
        prepared = prepare(client, "SELECT id FROM range(0, 40000, 1, 4) WHERE id % ? = 0")
        bound = bind(client, prepared.prepared_statement_handle, pa.table({"m": [1000]}))
    with flight.FlightClient(second.location) as client:
        table = run_prepared(client, bound)
    assert sorted(table.column("id").to_pylist()) == list(range(0, 40000, 1000))


def test_cancel_sent_to_another_node_stops_the_owner_s_job(pair, kazoo) -> None:
    root, (owner, other) = pair
    before = sum("cancelling the job" in line for line in owner.lines)
    with flight.FlightClient(owner.location) as client:
        info = client.get_flight_info(statement(stalling_query()))
    assert len(info.endpoints) == 2
    with flight.FlightClient(other.location) as client:
        from spark_flight_sql.flightsql.protocol import CancelStatus

        assert cancel_flight_info(client, info) is CancelStatus.CANCELLED
    owner.wait_for_count("cancelling the job", before + 1, timeout=WAIT)
    wait_for_children(kazoo, f"{root}/queries", lambda children: children == [])


def test_a_reader_leaving_a_small_result_cancels_its_job_in_a_cluster(pair) -> None:
    _, (first, _) = pair
    before = sum("cancelling the job (its reader went away)" in line for line in first.lines)
    # A global aggregate has one row: in auto mode the node that takes it computes it alone.
    with flight.FlightClient(first.location) as client:
        info = client.get_flight_info(statement(f"SELECT count(*) AS n FROM ({stalling_query()})"))
        assert [e.locations[0].uri.decode() for e in info.endpoints] == [first.location]
        reader = client.do_get(info.endpoints[0].ticket)
        reader.cancel()
    first.wait_for_count("cancelling the job (its reader went away)", before + 1, timeout=WAIT)
