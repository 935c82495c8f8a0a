"""Authentication with spark.flight.auth=basic, on one node and across a two-node cluster: logins by
handshake and by header, tokens every node accepts, results and statements bound to their user,
audit lines, and the refusals (wrong password, forged token, another user's ticket)."""

from __future__ import annotations

import base64
import subprocess
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import adbc_driver_flightsql.dbapi
import pyarrow as pa
import pyarrow.flight as flight
import pytest
from click.testing import CliRunner
from support import ROOT
from support.cluster import start_cluster, wait_for_members
from support.flight_calls import PASSWORDS, SECRET, write_users
from support.processes import COMMAND_TIMEOUT, run_command
from support.server import ServerProcess, start_server

from spark_flight_sql.flightsql.auth.base import Identity
from spark_flight_sql.flightsql.auth.tokens import TokenService
from spark_flight_sql.flightsql.auth.users_file import UsersFile
from spark_flight_sql.flightsql.cli import main as cli
from spark_flight_sql.flightsql.devtools.node_process import node_command
from spark_flight_sql.flightsql.proto import FlightSql_pb2 as sql_pb2
from spark_flight_sql.flightsql.protocol import (
    encode_action_body,
    encode_cancel_flight_info_request,
    pack_command,
)

CALL = flight.FlightCallOptions(timeout=60)


def auth_conf(users: Path, *extra: str) -> list[str]:
    return [
        "--conf",
        "spark.flight.auth=basic",
        "--conf",
        f"spark.flight.auth.basic.usersFile={users}",
        *extra,
    ]


@pytest.fixture(scope="module")
def users_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_users(tmp_path_factory.mktemp("auth"))


@pytest.fixture(scope="module")
def node(users_file: Path) -> Iterator[ServerProcess]:
    server = start_server(*auth_conf(users_file, "--conf", f"spark.flight.auth.secret={SECRET}"))
    yield server
    assert server.stop() == 0, "\n".join(server.lines[-40:])


def login(
    location: str, user: str, password: str | None = None
) -> tuple[flight.FlightClient, flight.FlightCallOptions]:
    client = flight.FlightClient(location)
    header = client.authenticate_basic_token(user, password if password is not None else PASSWORDS[user])
    return client, flight.FlightCallOptions(headers=[header], timeout=60)


def statement(sql: str) -> flight.FlightDescriptor:
    return flight.FlightDescriptor.for_command(pack_command(sql_pb2.CommandStatementQuery(query=sql)))


def adbc_connect(location: str, user: str, password: str) -> adbc_driver_flightsql.dbapi.Connection:
    return adbc_driver_flightsql.dbapi.connect(
        location, db_kwargs={"username": user, "password": password}, autocommit=True
    )


# ---- the pieces, without a server ------------------------------------------------------------


def test_users_file_keeps_only_salted_argon2_hashes(tmp_path: Path) -> None:
    path = tmp_path / "users"
    users = UsersFile(str(path))
    assert users.add("carol", "s3cret pass") is True
    assert users.add("dave", "s3cret pass") is True
    text = path.read_text()
    assert "s3cret" not in text
    hashes = dict(line.split(":", 1) for line in text.splitlines() if not line.startswith("#"))
    assert hashes["carol"].startswith("$argon2id$") and hashes["carol"] != hashes["dave"], "salted"
    assert oct(path.stat().st_mode & 0o777) == "0o600"
    assert users.verify("carol", "s3cret pass") and not users.verify("carol", "s3cret pas")
    assert not users.verify("nobody", "s3cret pass") and not users.verify("carol", "")
    assert users.add("carol", "new password") is False
    assert users.verify("carol", "new password") and not users.verify("carol", "s3cret pass")
    assert users.remove("carol") is True and users.remove("carol") is False
    assert not users.verify("carol", "new password") and users.verify("dave", "s3cret pass")
    for bad in ("", "a:b", "with space", "tab\there", "x" * 300):
        with pytest.raises(ValueError):
            users.add(bad, "pw")


def test_users_command_reads_the_password_from_stdin(tmp_path: Path) -> None:
    path = str(tmp_path / "users")
    runner = CliRunner()
    added = runner.invoke(cli, ["users", "add", path, "erin"], input="pass word 1\n")
    assert added.exit_code == 0, added.output
    assert "added erin" in added.output and "pass word 1" not in Path(path).read_text()
    assert UsersFile(path).verify("erin", "pass word 1")
    changed = runner.invoke(cli, ["users", "add", path, "erin"], input="pass word 2\n")
    assert "changed the password of erin" in changed.output
    assert UsersFile(path).verify("erin", "pass word 2") and not UsersFile(path).verify("erin", "pass word 1")
    empty = runner.invoke(cli, ["users", "add", path, "frank"], input="\n")
    assert empty.exit_code != 0 and "empty" in empty.output
    removed = runner.invoke(cli, ["users", "remove", path, "erin"])
    assert removed.exit_code == 0 and not UsersFile(path).verify("erin", "pass word 2")
    missing = runner.invoke(cli, ["users", "remove", path, "erin"])
    assert missing.exit_code != 0 and "not in" in missing.output


def test_secret_command_writes_a_private_secret_once(tmp_path: Path) -> None:
    path = tmp_path / "secret"
    runner = CliRunner()
    assert runner.invoke(cli, ["secret", str(path)]).exit_code == 0
    assert len(path.read_text().strip()) >= 32 and oct(path.stat().st_mode & 0o777) == "0o600"
    again = runner.invoke(cli, ["secret", str(path)])
    assert again.exit_code != 0, "an existing secret is never overwritten"


def test_tokens_are_signed_expiring_and_bound_to_the_cluster_secret() -> None:
    tokens = TokenService(SECRET.encode(), ttl=60)
    token = tokens.issue(Identity("alice", ("analysts",)))
    assert tokens.verify(token) == Identity("alice", ("analysts",))
    other_cluster = TokenService(b"another secret of at least 32 bytes....", ttl=60)
    with pytest.raises(Exception, match="not valid on this cluster"):
        other_cluster.verify(token)
    header, payload, signature = token.split(".")
    claims = base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)).replace(b"alice", b"mallo")
    forged = ".".join([header, base64.urlsafe_b64encode(claims).decode().rstrip("="), signature])
    with pytest.raises(Exception, match="not valid on this cluster"):
        tokens.verify(forged)
    expired = TokenService(SECRET.encode(), ttl=-3600).issue(Identity("alice"))
    with pytest.raises(Exception, match="expired"):
        tokens.verify(expired)


def run_serve(*arguments: str) -> subprocess.CompletedProcess[str]:
    """``serve`` with ``arguments``, run to its end (a node that refuses to start ends at once)."""
    return run_command(
        node_command(*arguments), cwd=ROOT, capture_output=True, text=True, timeout=COMMAND_TIMEOUT
    )


def test_a_node_reachable_from_other_machines_needs_an_explicit_auth_mode() -> None:
    result = run_serve("--conf", "spark.flight.host=0.0.0.0", "--conf", "spark.flight.port=0")
    assert result.returncode != 0
    assert "spark.flight.auth" in result.stderr and "0.0.0.0" in result.stderr


def test_a_cluster_with_authentication_needs_a_configured_secret(users_file: Path) -> None:
    result = run_serve(
        *auth_conf(users_file),
        "--conf",
        "spark.flight.manager=zookeeper",
        "--conf",
        "spark.flight.manager.zookeeper.url=127.0.0.1:1",
    )
    assert result.returncode != 0 and "spark.flight.auth.secretFile" in result.stderr


# ---- one node -------------------------------------------------------------------------------


def test_a_wrong_password_is_refused_and_the_right_one_lets_adbc_in(node: ServerProcess) -> None:
    with pytest.raises(Exception, match="(?i)unauthenticated|invalid user name or password"):
        with adbc_connect(node.location, "alice", "wrong") as connection:
            with connection.cursor() as cursor:
                cursor.execute("SELECT 1")
    with pytest.raises(Exception, match="(?i)unauthenticated|invalid user name or password"):
        with adbc_connect(node.location, "nobody", "whatever") as connection:
            with connection.cursor() as cursor:
                cursor.execute("SELECT 1")
    with adbc_connect(node.location, "alice", PASSWORDS["alice"]) as connection:
        with connection.cursor() as cursor:
            cursor.execute("SELECT count(*) AS n FROM demo.sales")
            assert cursor.fetch_arrow_table().column("n")[0].as_py() > 0


def test_calls_without_credentials_or_with_a_forged_token_are_refused(node: ServerProcess) -> None:
    with flight.FlightClient(node.location) as client:
        with pytest.raises(flight.FlightUnauthenticatedError, match="authentication required"):
            client.get_flight_info(statement("SELECT 1"), CALL)
        with pytest.raises(flight.FlightUnauthenticatedError):
            list(client.do_action(flight.Action("NodeStats", b""), CALL))
        forged = TokenService(b"not the cluster secret, but 32+ bytes long", ttl=60).issue(Identity("alice"))
        options = flight.FlightCallOptions(
            headers=[(b"authorization", f"Bearer {forged}".encode())], timeout=60
        )
        with pytest.raises(flight.FlightUnauthenticatedError, match="not valid on this cluster"):
            client.get_flight_info(statement("SELECT 1"), options)
        for garbage in (b"Bearer", b"Basic !!!", b"Digest abc", b"Basic " + base64.b64encode(b"no-colon")):
            options = flight.FlightCallOptions(headers=[(b"authorization", garbage)], timeout=60)
            with pytest.raises(flight.FlightUnauthenticatedError):
                client.get_flight_info(statement("SELECT 1"), options)


def test_a_plain_basic_header_works_on_any_call_padded_or_not(node: ServerProcess) -> None:
    raw = f"bob:{PASSWORDS['bob']}".encode()
    with flight.FlightClient(node.location) as client:
        for encoded in (base64.b64encode(raw), base64.b64encode(raw).rstrip(b"=")):
            options = flight.FlightCallOptions(headers=[(b"authorization", b"Basic " + encoded)], timeout=60)
            info = client.get_flight_info(statement("SELECT 42 AS answer"), options)
            assert client.do_get(info.endpoints[0].ticket, options).read_all().column(
                "answer"
            ).to_pylist() == [42]


def test_results_and_statements_belong_to_their_user(node: ServerProcess) -> None:
    alice, as_alice = login(node.location, "alice")
    bob, as_bob = login(node.location, "bob")
    with alice, bob:
        info = alice.get_flight_info(statement("SELECT id FROM range(1000)"), as_alice)
        ticket = info.endpoints[0].ticket
        with pytest.raises(flight.FlightUnauthorizedError, match="belongs to another user"):
            bob.do_get(ticket, as_bob).read_all()
        # Altering the ticket (even to name bob) is caught by its signature.
        command = sql_pb2.TicketStatementQuery()
        command.ParseFromString(_any_value(ticket.ticket))
        tampered = bytearray(command.statement_handle)
        position = len(tampered) // 3  # inside the signed payload; swapped for another base64 letter, so that
        tampered[position] = ord("B") if tampered[position] == ord("A") else ord("A")  # it still decodes
        forged = flight.Ticket(pack_command(sql_pb2.TicketStatementQuery(statement_handle=bytes(tampered))))
        with pytest.raises(pa.ArrowInvalid, match="altered or not issued by this cluster"):
            alice.do_get(forged, as_alice).read_all()
        # The owner still reads it, once.
        assert alice.do_get(ticket, as_alice).read_all().num_rows == 1000

        body = encode_action_body(
            "CreatePreparedStatement", sql_pb2.ActionCreatePreparedStatementRequest(query="SELECT 1 AS one")
        )
        result = list(alice.do_action(flight.Action("CreatePreparedStatement", body), as_alice))
        prepared = sql_pb2.ActionCreatePreparedStatementResult()
        prepared.ParseFromString(_any_value(result[0].body.to_pybytes()))
        descriptor = flight.FlightDescriptor.for_command(
            pack_command(
                sql_pb2.CommandPreparedStatementQuery(
                    prepared_statement_handle=prepared.prepared_statement_handle
                )
            )
        )
        with pytest.raises(flight.FlightUnauthorizedError, match="belongs to another user"):
            bob.get_flight_info(descriptor, as_bob)
        info = alice.get_flight_info(descriptor, as_alice)
        assert alice.do_get(info.endpoints[0].ticket, as_alice).read_all().column("one").to_pylist() == [1]


def test_sessions_belong_to_their_user(node: ServerProcess) -> None:
    """A temporary view of alice's session is invisible to bob, even over the same connection."""
    raw_alice = base64.b64encode(f"alice:{PASSWORDS['alice']}".encode())
    raw_bob = base64.b64encode(f"bob:{PASSWORDS['bob']}".encode())
    as_alice = flight.FlightCallOptions(headers=[(b"authorization", b"Basic " + raw_alice)], timeout=60)
    as_bob = flight.FlightCallOptions(headers=[(b"authorization", b"Basic " + raw_bob)], timeout=60)
    update = pack_command(sql_pb2.CommandStatementUpdate(query="CREATE TEMPORARY VIEW mine AS SELECT 7 AS x"))
    with flight.FlightClient(node.location) as client:
        writer, reader = client.do_put(flight.FlightDescriptor.for_command(update), pa.schema([]), as_alice)
        writer.done_writing()
        reader.read()
        writer.close()
        info = client.get_flight_info(statement("SELECT x FROM mine"), as_alice)
        assert client.do_get(info.endpoints[0].ticket, as_alice).read_all().column("x").to_pylist() == [7]
        with pytest.raises((flight.FlightError, pa.ArrowException), match="mine"):
            client.get_flight_info(statement("SELECT x FROM mine"), as_bob)


def test_a_removed_user_is_refused_at_once_even_with_a_token(node: ServerProcess, users_file: Path) -> None:
    users = UsersFile(str(users_file))
    users.add("temp", "temporary password")
    client, options = login(node.location, "temp", "temporary password")
    with client:
        client.get_flight_info(statement("SELECT 1"), options)
        users.remove("temp")
        with pytest.raises(flight.FlightUnauthenticatedError):
            client.get_flight_info(statement("SELECT 1"), options)


def test_logins_and_queries_are_audited_without_secrets(node: ServerProcess) -> None:
    with pytest.raises(flight.FlightUnauthenticatedError):
        login(node.location, "mallory", "guess-one")
    with flight.FlightClient(node.location) as client:
        header = client.authenticate_basic_token("alice", PASSWORDS["alice"])
        options = flight.FlightCallOptions(headers=[header], timeout=60)
        info = client.get_flight_info(statement("SELECT 'audited' AS a"), options)
        client.do_get(info.endpoints[0].ticket, options).read_all()
    token = header[1].decode().split()[-1]
    failed = node.wait_for_line("login failed user=mallory", timeout=30)
    assert "call=HANDSHAKE" in failed
    node.wait_for_line("login user=alice", timeout=30)
    query = node.wait_for_line("sql=SELECT 'audited' AS a", timeout=30)
    assert "user=alice" in query and "query_id=" in query and "node=" in query and "peer=" in query
    log = "\n".join(node.lines)
    for secret in (*PASSWORDS.values(), "guess-one", token):
        assert secret not in log


def test_many_unauthenticated_callers_do_not_stop_the_node_serving_others(node: ServerProcess) -> None:
    stop = threading.Event()

    def hammer(_: int) -> int:
        refused = 0
        with flight.FlightClient(node.location) as client:
            while not stop.is_set() and refused < 20:
                try:
                    client.get_flight_info(statement("SELECT 1"), flight.FlightCallOptions(timeout=30))
                except flight.FlightUnauthenticatedError:
                    refused += 1
        return refused

    with ThreadPoolExecutor(max_workers=64) as pool:
        futures = [pool.submit(hammer, index) for index in range(200)]
        client, options = login(node.location, "bob")
        with client:
            info = client.get_flight_info(statement("SELECT id FROM range(5000)"), options)
            assert client.do_get(info.endpoints[0].ticket, options).read_all().num_rows == 5000
        results = [future.result(timeout=120) for future in futures]
        stop.set()
    assert all(refused == 20 for refused in results)


def _any_value(data: bytes) -> bytes:
    from google.protobuf import any_pb2

    wrapper = any_pb2.Any()
    wrapper.ParseFromString(data)
    return wrapper.value


# ---- two nodes ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def secure_pair(zookeeper, users_file: Path, tmp_path_factory: pytest.TempPathFactory):
    secret_file = tmp_path_factory.mktemp("secret") / "secret"
    secret_file.write_text(SECRET + "\n")
    root, nodes = start_cluster(
        zookeeper.url, 2, *auth_conf(users_file, "--conf", f"spark.flight.auth.secretFile={secret_file}")
    )
    wait_for_members(zookeeper.url, root, 2)
    yield nodes
    for node in nodes:
        assert node.stop() == 0, "\n".join(node.lines[-40:])


def test_a_login_on_one_node_reads_both_endpoints_of_a_two_node_result(secure_pair) -> None:
    first, second = secure_pair
    with pytest.raises(Exception, match="(?i)unauthenticated|invalid user name or password"):
        with adbc_connect(first.location, "alice", "wrong"):
            pass
    with adbc_connect(first.location, "alice", PASSWORDS["alice"]) as connection:
        with connection.cursor() as cursor:
            cursor.execute("SELECT id FROM range(0, 100000, 1, 8)")
            assert sorted(cursor.fetch_arrow_table().column("id").to_pylist()) == list(range(100_000))
    # The token node-1 issued is what node-2 accepts: no second login.
    client, options = login(first.location, "alice")
    with client:
        info = client.get_flight_info(statement("SELECT id FROM range(0, 100000, 1, 8)"), options)
        locations = sorted(endpoint.locations[0].uri.decode() for endpoint in info.endpoints)
        assert locations == sorted([first.location, second.location])
        ids: list[int] = []
        for endpoint in info.endpoints:
            with flight.FlightClient(endpoint.locations[0]) as reader:
                ids += reader.do_get(endpoint.ticket, options).read_all().column("id").to_pylist()
        assert sorted(ids) == list(range(100_000))
        # bob, logged in on node-2, cannot read alice's share there.
        info = client.get_flight_info(statement("SELECT id FROM range(0, 100000, 1, 4)"), options)
        other = next(e for e in info.endpoints if e.locations[0].uri.decode() == second.location)
        bob, as_bob = login(second.location, "bob")
        with bob:
            with pytest.raises(flight.FlightUnauthorizedError, match="belongs to another user"):
                bob.do_get(other.ticket, as_bob).read_all()
        list(client.do_action(flight.Action("CancelFlightInfo", _cancel_body(info)), options))


def _cancel_body(info: flight.FlightInfo) -> bytes:
    return encode_cancel_flight_info_request(info)


# ---- LDAP, end to end ------------------------------------------------------------------------


def test_adbc_logs_in_through_ldap_with_a_required_group() -> None:
    from support.ldap_server import ALICE, CAROL, GROUPS_OU, PEOPLE, SKIP_REASON, SlapdServer, find_slapd

    if find_slapd() is None:
        pytest.skip(SKIP_REASON)
    with SlapdServer() as directory:
        node = start_server(
            "--conf",
            "spark.flight.auth=ldap",
            "--conf",
            f"spark.flight.auth.ldap.url={directory.url}",
            "--conf",
            f"spark.flight.auth.ldap.baseDn={PEOPLE}",
            "--conf",
            f"spark.flight.auth.ldap.groupBaseDn={GROUPS_OU}",
            "--conf",
            "spark.flight.auth.ldap.requiredGroups=analysts",
            demo=False,
        )
        try:
            with adbc_connect(node.location, ALICE.uid, ALICE.password) as connection:
                with connection.cursor() as cursor:
                    cursor.execute("SELECT 1 AS one")
                    assert cursor.fetch_arrow_table().column("one").to_pylist() == [1]
            for user, password in ((ALICE.uid, "wrong"), (CAROL.uid, CAROL.password), ("*", "x")):
                with pytest.raises(Exception, match="(?i)unauthenticated"):
                    with adbc_connect(node.location, user, password):
                        pass
            node.wait_for_line(f"login failed user={CAROL.uid}", timeout=30)
            # The Flight SQL JDBC driver logs in through the directory the same way (last: it skips
            # where java is missing).
            from support.jdbc import connect as jdbc_connect
            from support.jdbc import jdbc_url, ok, run_probe

            url = jdbc_url(node.location, user=ALICE.uid, password=ALICE.password)
            answers = run_probe(
                [
                    jdbc_connect(url),
                    {"op": "count", "sql": "SELECT id FROM range(0, 1000)"},
                    jdbc_connect(jdbc_url(node.location, user=CAROL.uid, password=CAROL.password)),
                ]
            )
            assert (ok(answers[1])["count"], answers[1]["sum"]) == (1000, 999 * 1000 // 2)
            assert "UNAUTHENTICATED" in answers[2]["message"], answers[2]
        finally:
            assert node.stop() == 0, "\n".join(node.lines[-40:])
