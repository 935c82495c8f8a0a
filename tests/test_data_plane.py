"""The internal push port: only a DoPut carrying its query's push secret gets in.

One node of a ZooKeeper cluster, its internal server bound to 127.0.0.2 (another loopback address
than the public server's), with no configured cluster secret: the cluster keeps one in ZooKeeper,
which this test reads to derive push secrets the way executors get them.
"""

from __future__ import annotations

import dataclasses
import hashlib
import hmac
import json
import os
import re
import secrets
import socket
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from urllib.parse import urlparse

import adbc_driver_flightsql.dbapi
import pyarrow as pa
import pyarrow.flight as flight
import pytest
from kazoo.client import KazooClient
from support.cluster import cluster_conf, statement, wait_for_children, wait_for_members
from support.flight_calls import cancel_flight_info
from support.server import ServerProcess, node_stats, start_server
from support.waiting import wait_until

NODE_ID = "plane-1"
INTERNAL_HOST = "127.0.0.2"
# Every row sleeps a second and a batch holds 10,000 rows: the job runs, its tasks have opened
# their pushes, and not one batch reaches the node until the query is cancelled. Over 10,000 rows
# (spark.flight.sql.single.maxRows), so it is distributed, not collected on the driver.
SLOW = "SELECT id, java_method('java.lang.Thread', 'sleep', 1000L) AS pause FROM range(0, 1000000, 1, 2)"
WAIT = 120.0
PUSH_QUERY_HEADER = b"x-spark-flight-push-query"
PUSH_SECRET_HEADER = b"x-spark-flight-push-secret"


@pytest.fixture(scope="module")
def plane(zookeeper) -> Iterator[tuple[str, ServerProcess]]:
    """(ZooKeeper root, node): one node of a cluster, internal server on 127.0.0.2."""
    root = f"/test-plane-{uuid.uuid4().hex[:8]}"
    node = start_server(
        *cluster_conf(zookeeper.url, root, NODE_ID, "--conf", f"spark.flight.internal.host={INTERNAL_HOST}"),
        demo=False,
    )
    try:
        wait_for_members(zookeeper.url, root, 1)
        yield root, node
    finally:
        assert node.stop() == 0, "\n".join(node.lines[-40:])


@pytest.fixture(scope="module")
def zk(zookeeper) -> Iterator[KazooClient]:
    client = KazooClient(hosts=zookeeper.url)
    client.start(timeout=30)
    yield client
    client.stop()
    client.close()


def internal_location(zk: KazooClient, root: str) -> str:
    data, _ = zk.get(f"{root}/nodes/{NODE_ID}")
    return json.loads(data)["internal"]


def derived_secret(cluster_secret: bytes, query_id: str) -> bytes:
    """The push secret of ``query_id``, derived as the design says (not with the library's code)."""
    return hmac.new(cluster_secret, b"push\0" + query_id.encode(), hashlib.sha256).digest()


def cluster_secret(zk: KazooClient, root: str) -> bytes:
    data, _ = zk.get(f"{root}/secret")
    return bytes(data)


def wait_for_stats(
    node: ServerProcess, predicate: Callable[[dict[str, object]], bool], timeout: float = WAIT
) -> None:
    """Wait until the node's NodeStats satisfy ``predicate``."""
    seen: list[dict[str, object]] = []

    def satisfied() -> bool:
        seen[:] = [node_stats(node)]
        return predicate(seen[0])

    wait_until(
        satisfied,
        timeout=timeout,
        interval=0.2,
        message=lambda: f"node stats never satisfied the condition: {seen[0] if seen else None}",
    )


def descriptor(query_id: str, partition: int = 0, attempt: int = 999_999) -> flight.FlightDescriptor:
    return flight.FlightDescriptor.for_command(json.dumps({"q": query_id, "p": partition, "a": attempt}))


def rows_for(schema: pa.Schema, count: int = 1000) -> pa.RecordBatch:
    columns = [
        pa.array(range(count), field.type) if pa.types.is_integer(field.type) else pa.nulls(count, field.type)
        for field in schema
    ]
    return pa.RecordBatch.from_arrays(columns, schema=schema)


def push(
    location: str, desc: flight.FlightDescriptor, headers: list[tuple[bytes, bytes]], batch: pa.RecordBatch
) -> dict:
    """One DoPut of ``batch``; the node's answer."""
    with flight.FlightClient(location) as client:
        writer, reader = client.do_put(
            desc, batch.schema, flight.FlightCallOptions(headers=headers, timeout=30)
        )
        try:
            writer.write_batch(batch)
            writer.done_writing()
            answer = reader.read()
        finally:
            writer.close()
    return json.loads(answer.to_pybytes())


def headers_of(query_id: str, secret: bytes) -> list[tuple[bytes, bytes]]:
    return [(PUSH_QUERY_HEADER, query_id.encode()), (PUSH_SECRET_HEADER, secret.hex().encode())]


def running_queries(zk: KazooClient, root: str, count: int) -> list[str]:
    return sorted(wait_for_children(zk, f"{root}/queries", lambda children: len(children) == count))


def cancel_all(node: ServerProcess, infos: list[flight.FlightInfo], zk: KazooClient, root: str) -> None:
    with flight.FlightClient(node.location) as client:
        for info in infos:
            cancel_flight_info(client, info)
    wait_for_children(zk, f"{root}/queries", lambda children: children == [])
    wait_for_stats(node, lambda stats: stats["results"] == 0 and stats["buffered_bytes"] == 0)


def test_pushes_without_their_query_s_secret_are_refused_and_stage_nothing(plane, zk) -> None:
    root, node = plane
    location = internal_location(zk, root)
    secret = cluster_secret(zk, root)
    with flight.FlightClient(node.location) as client:
        infos = [client.get_flight_info(statement(SLOW)) for _ in range(2)]
    try:
        first, second = running_queries(zk, root, 2)
        batch = rows_for(infos[0].schema)
        attempts = {
            "no headers": ([], first),
            "the query header alone": ([(PUSH_QUERY_HEADER, first.encode())], first),
            "the secret header alone": (
                [(PUSH_SECRET_HEADER, derived_secret(secret, first).hex().encode())],
                first,
            ),
            "a wrong secret": (headers_of(first, secrets.token_bytes(32)), first),
            "a secret that is not hex": (
                [(PUSH_QUERY_HEADER, first.encode()), (PUSH_SECRET_HEADER, b"zz")],
                first,
            ),
            "another cluster's secret": (
                headers_of(first, derived_secret(secrets.token_bytes(32), first)),
                first,
            ),
            "another query's secret": (headers_of(first, derived_secret(secret, second)), first),
            "another query's credentials, this query's descriptor": (
                headers_of(second, derived_secret(secret, second)),
                first,
            ),
        }
        for what, (headers, query_id) in attempts.items():
            with pytest.raises(flight.FlightUnauthenticatedError) as refused:
                push(location, descriptor(query_id), headers, batch)
            assert first not in str(refused.value) and second not in str(refused.value), what
        stats = node_stats(node)
        assert (stats["results"], stats["buffered_bytes"], stats["spilled_bytes"], stats["spill_files"]) == (
            2,
            0,
            0,
            0,
        )
        # The same push with its query's own secret is staged (never confirmed: nothing serves it),
        # and shows in the stats: the checks above could have seen a staged push.
        answer = push(location, descriptor(first), headers_of(first, derived_secret(secret, first)), batch)
        assert answer == {"staged": True, "rows": batch.num_rows}
        assert node_stats(node)["buffered_bytes"] > 0
    finally:
        cancel_all(node, infos, zk, root)


def assert_refused(call: Callable[[], object]) -> str:
    """``call`` fails with UNAUTHENTICATED; its message."""
    with pytest.raises(Exception) as refused:
        call()
    error = refused.value
    # pyarrow's get_schema raises a plain OSError carrying the status as text.
    assert isinstance(error, flight.FlightUnauthenticatedError) or "Detail: Unauthenticated" in str(error), (
        repr(error)
    )
    # Each error gets an error id of its own: the message is what must not vary.
    return re.sub(r" \(error id [0-9a-f]{8}\)$", "", str(error).split(". Detail:", 1)[0])


def test_every_other_rpc_on_the_internal_port_is_refused(plane, zk) -> None:
    root, _ = plane
    location = internal_location(zk, root)
    query_id = uuid.uuid4().hex
    valid = headers_of(query_id, derived_secret(cluster_secret(zk, root), query_id))
    cmd = descriptor(query_id)
    for headers in ([], valid):  # even a valid push secret opens nothing but DoPut
        options = flight.FlightCallOptions(headers=headers, timeout=30)
        with flight.FlightClient(location) as client:
            # Each call binds this iteration's client and options (default arguments, not the loop's names).
            def exchange(
                client: flight.FlightClient = client, options: flight.FlightCallOptions = options
            ) -> object:
                writer, reader = client.do_exchange(cmd, options)
                with writer:
                    return reader.read_all()

            calls: dict[str, Callable[[], object]] = {
                "GetFlightInfo": lambda client=client, options=options: client.get_flight_info(cmd, options),
                "GetSchema": lambda client=client, options=options: client.get_schema(cmd, options),
                "DoGet": lambda client=client, options=options: client.do_get(
                    flight.Ticket(json.dumps({"q": query_id, "n": NODE_ID})), options
                ).read_all(),
                "DoAction": lambda client=client, options=options: list(
                    client.do_action(flight.Action("NodeStats", b""), options)
                ),
                "ListFlights": lambda client=client, options=options: list(client.list_flights(b"", options)),
                "ListActions": lambda client=client, options=options: client.list_actions(options),
                "DoExchange": exchange,
                "Handshake": lambda client=client, options=options: client.authenticate_basic_token(
                    "user", "password", options
                ),
            }
            messages = {name: assert_refused(call) for name, call in calls.items()}
        assert len(set(messages.values())) == 1, messages  # one fixed message: nothing about the node leaks
        assert query_id not in next(iter(messages.values()))
        assert NODE_ID not in next(iter(messages.values()))


def socket_inodes(pid: int) -> set[str]:
    """The inodes of the sockets process ``pid`` holds open (Linux /proc/<pid>/fd)."""
    inodes: set[str] = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        try:
            target = os.readlink(fd)
        except OSError:  # closed meanwhile
            continue
        if target.startswith("socket:["):
            inodes.add(target[len("socket:[") : -1])
    return inodes


def listening_addresses(port: int, pid: int) -> set[str]:
    """The local addresses of the sockets process ``pid`` listens on at TCP ``port`` (Linux /proc/net/tcp,
    tcp6), IPv4-mapped IPv6 addresses written as IPv4. Only that process's: another process may listen on
    the same port number at another address (a JVM's ephemeral port, say)."""
    owned = socket_inodes(pid)
    found: set[str] = set()
    for table, size in (("/proc/net/tcp", 4), ("/proc/net/tcp6", 16)):
        if not os.path.exists(table):
            continue
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            address, port_hex = fields[1].split(":")
            if fields[3] != "0A" or int(port_hex, 16) != port or fields[9] not in owned:  # 0A: LISTEN
                continue
            raw = bytes.fromhex(address)
            # /proc prints each 32-bit word in host (little-endian) order.
            ordered = b"".join(raw[i : i + 4][::-1] for i in range(0, size, 4))
            text = socket.inet_ntop(socket.AF_INET if size == 4 else socket.AF_INET6, ordered)
            found.add(text.removeprefix("::ffff:"))  # gRPC binds IPv4 addresses as IPv4-mapped IPv6
    return found


def test_the_internal_server_listens_only_on_the_internal_host(plane, zk) -> None:
    root, node = plane
    internal = urlparse(internal_location(zk, root))
    assert internal.hostname == INTERNAL_HOST
    assert listening_addresses(internal.port, node.process.pid) == {INTERNAL_HOST}
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", internal.port), timeout=10).close()
    assert listening_addresses(node.port, node.process.pid) == {"127.0.0.1"}


def test_queries_still_work_and_query_znodes_hold_no_secret(plane, zk) -> None:
    root, node = plane
    with adbc_driver_flightsql.dbapi.connect(node.location, autocommit=True) as connection:
        with connection.cursor() as cursor:
            cursor.execute("SELECT id FROM range(0, 200000, 1, 4)")
            ids = cursor.fetch_arrow_table().column("id").to_pylist()
    assert sorted(ids) == list(range(200_000))
    secret = cluster_secret(zk, root)
    assert len(secret) == 32
    with flight.FlightClient(node.location) as client:
        info = client.get_flight_info(statement(SLOW))
    try:
        (query_id,) = running_queries(zk, root, 1)
        body, _ = zk.get(f"{root}/queries/{query_id}")
        assert set(json.loads(body)) == {"owner", "nodes", "schema"}
        push_secret = derived_secret(secret, query_id)
        forms = (push_secret, push_secret.hex().encode(), secret, secret.hex().encode())
        pending = [f"{root}/queries/{query_id}"]
        while pending:
            path = pending.pop()
            data, _ = zk.get(path)
            assert not any(form in data for form in forms), f"{path} holds a secret"
            pending.extend(f"{path}/{child}" for child in zk.get_children(path))
    finally:
        cancel_all(node, [info], zk, root)


# ---- where the cluster secret comes from (managers in this process, never started) ---------------


def test_the_cluster_secret_is_configured_shared_through_zookeeper_or_random_per_node(
    spark, zookeeper, zk
) -> None:
    from spark_flight_sql.flightmanager import FlightConfig, create_manager

    configured = b"c" * 40
    local = [create_manager(FlightConfig(), spark) for _ in range(2)]
    try:
        assert all(len(manager.cluster_secret) == 32 for manager in local)
        assert local[0].cluster_secret == local[0].cluster_secret != local[1].cluster_secret
        assert local[0].push_secret("q") == derived_secret(local[0].cluster_secret, "q")
    finally:
        for manager in local:
            manager.close()
    root = f"/test-secret-{uuid.uuid4().hex[:8]}"
    cluster = FlightConfig(manager="zookeeper", zookeeper_url=zookeeper.url, zookeeper_path=root)
    shared = [create_manager(cluster, spark) for _ in range(2)]
    try:
        assert shared[0].cluster_secret == shared[1].cluster_secret == cluster_secret(zk, root)
        assert len(shared[0].cluster_secret) == 32
    finally:
        for manager in shared:
            manager.close()  # ends the ZooKeeper sessions opened only to read the secret
    with create_manager(dataclasses.replace(cluster, cluster_secret=configured), spark) as manager:
        assert manager.cluster_secret == configured
        assert manager.push_secret("q") == derived_secret(configured, "q")
