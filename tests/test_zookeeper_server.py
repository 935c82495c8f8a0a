"""The embedded ZooKeeper server and the ``zookeeper`` command, against a real JVM and real kazoo clients."""

from __future__ import annotations

import os
import signal
import stat
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from kazoo.client import KazooClient
from kazoo.protocol.states import KazooState
from support import ROOT
from support.processes import COMMAND_TIMEOUT, kill_group, run_command, start
from support.server import START_TIMEOUT, STOP_TIMEOUT, ServerProcess, port_is_free
from support.waiting import pid_alive, wait_until

from spark_flight_sql.flightsql.devtools.zookeeper import EmbeddedZooKeeper, ZooKeeperStartError, _free_port

READY = "spark-flight-sql: ZooKeeper serving on "
STOPPED = "spark-flight-sql: ZooKeeper stopped"


@contextmanager
def kazoo(url: str, **options: object) -> Iterator[KazooClient]:
    client = KazooClient(hosts=url, **options)
    client.start(timeout=15)
    try:
        yield client
    finally:
        client.stop()
        client.close()


def java_children() -> set[int]:
    """Living java child processes of this test process."""
    found = set()
    for children in Path(f"/proc/{os.getpid()}/task").glob("*/children"):
        for pid in map(int, children.read_text().split()):
            try:
                comm = Path(f"/proc/{pid}/comm").read_text().strip()
            except OSError:
                continue
            if comm == "java" and pid_alive(pid):
                found.add(pid)
    return found


def test_the_session_fixture_serves(zookeeper: EmbeddedZooKeeper) -> None:
    assert zookeeper.running
    assert zookeeper.url == f"127.0.0.1:{zookeeper.port}"
    with kazoo(zookeeper.url) as client:
        client.ensure_path("/fixture")
        assert client.exists("/fixture") is not None


def test_znodes_and_ephemerals_on_a_free_port(tmp_path: Path) -> None:
    with EmbeddedZooKeeper(tmp_path / "zk") as server:
        assert server.port > 0 and server.running
        assert (tmp_path / "zk" / "zoo.cfg").read_text().count(f"clientPort={server.port}") == 1
        with kazoo(server.url) as writer, kazoo(server.url) as watcher:
            writer.create("/app/config", b"v1", makepath=True)
            assert watcher.get("/app/config")[0] == b"v1"

            member = writer.create(
                "/app/members/node-", b"here", ephemeral=True, sequence=True, makepath=True
            )
            gone = threading.Event()
            watcher.exists(member, watch=lambda event: gone.set() if event.type == "DELETED" else None)
            assert watcher.get_children("/app/members") == [member.rsplit("/", 1)[1]]
            writer.stop()
            wait_until(gone.is_set, timeout=60, message="the ephemeral znode was not deleted")
            assert watcher.get_children("/app/members") == []
            assert watcher.get("/app/config")[0] == b"v1"
        assert (tmp_path / "zk" / "zookeeper.log").stat().st_size > 0


def test_restart_keeps_data_and_clients_reconnect(tmp_path: Path) -> None:
    log = tmp_path / "logs" / "zk.log"
    with EmbeddedZooKeeper(tmp_path / "zk", log_file=log) as server:
        port = server.port
        with kazoo(server.url, timeout=30) as client:
            client.create("/kept", b"persistent")
            lost, back = threading.Event(), threading.Event()

            def on_state(state: str) -> None:
                if state == KazooState.SUSPENDED:
                    lost.set()
                elif state == KazooState.CONNECTED and lost.is_set():
                    back.set()

            client.add_listener(on_state)
            old_pid = server.pid
            server.restart()
            assert server.port == port and server.url.endswith(f":{port}")
            assert server.pid != old_pid and old_pid is not None and not pid_alive(old_pid)
            wait_until(lost.is_set, timeout=60, message="the client did not become SUSPENDED")
            wait_until(back.is_set, timeout=120, message="the client did not reconnect")
            assert client.state == KazooState.CONNECTED
            assert client.get("/kept")[0] == b"persistent"
        with kazoo(server.url) as fresh:
            assert fresh.get("/kept")[0] == b"persistent"
    assert log.read_text().count(f"binding to port /127.0.0.1:{port}") == 2, "both JVMs log to log_file"


def test_stop_frees_the_port_and_leaves_no_java(tmp_path: Path) -> None:
    server = EmbeddedZooKeeper(tmp_path / "zk").start()
    pid = server.pid
    assert pid is not None and pid in java_children()
    server.stop()
    assert not server.running and server.pid is None
    assert not pid_alive(pid) and not Path(f"/proc/{pid}").exists(), "the JVM was not reaped"
    assert pid not in java_children()
    assert port_is_free(server.port)
    server.stop()  # a second stop is harmless


def test_a_port_in_use_is_a_clear_error(zookeeper: EmbeddedZooKeeper, tmp_path: Path) -> None:
    before = java_children()
    with pytest.raises(ZooKeeperStartError, match=f"cannot listen on 127.0.0.1:{zookeeper.port}"):
        EmbeddedZooKeeper(tmp_path / "other", port=zookeeper.port).start()
    assert java_children() == before


def test_a_jvm_that_exits_while_starting_shows_its_log(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    home = tmp_path / "jdk"
    (home / "bin").mkdir(parents=True)
    java = home / "bin" / "java"
    java.write_text(
        '#!/bin/sh\nif [ "$1" = -version ]; then echo \'openjdk version "17.0.15"\' >&2; exit 0; fi\n'
        "echo 'java.net.BindException: something broke' >&2\nexit 3\n"
    )
    java.chmod(java.stat().st_mode | stat.S_IXUSR)
    monkeypatch.setenv("JAVA_HOME", str(home))
    server = EmbeddedZooKeeper(tmp_path / "zk")
    with pytest.raises(ZooKeeperStartError, match=r"(?s)exited with code 3.*something broke"):
        server.start()
    assert not server.running


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_the_zookeeper_command_serves_until_a_signal(tmp_path: Path, signum: int) -> None:
    port = _free_port("127.0.0.1")
    command = [
        sys.executable,
        "-m",
        "spark_flight_sql.flightsql",
        "zookeeper",
        "--port",
        str(port),
        "--data-dir",
        str(tmp_path / "zk"),
    ]
    process = start(
        command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL, text=True, cwd=ROOT
    )
    output = ServerProcess(process, ready_marker=READY)
    try:
        assert output.wait_for_line(READY, timeout=START_TIMEOUT) == f"{READY}127.0.0.1:{port}"
        with kazoo(f"127.0.0.1:{port}") as client:
            client.create("/from-cli", b"ok")
            assert client.get("/from-cli")[0] == b"ok"
        process.send_signal(signum)
        assert process.wait(timeout=STOP_TIMEOUT) == 0
        assert output.wait_for_line(STOPPED, timeout=STOP_TIMEOUT) == STOPPED
        assert process.stderr is not None
        assert process.stderr.read() == ""
    finally:
        if process.poll() is None:
            kill_group(process)
        output.wait_exit()
        if process.stderr is not None:
            process.stderr.close()
    assert port_is_free(port)
    assert "binding to port" in (tmp_path / "zk" / "zookeeper.log").read_text()


def test_the_zookeeper_command_without_java_says_what_to_install(tmp_path: Path) -> None:
    result = run_command(
        [
            sys.executable,
            "-m",
            "spark_flight_sql.flightsql",
            "zookeeper",
            "--port",
            "0",
            "--data-dir",
            str(tmp_path / "zk"),
        ],
        capture_output=True,
        text=True,
        timeout=COMMAND_TIMEOUT,
        cwd=ROOT,
        check=False,
        env={**os.environ, "JAVA_HOME": str(tmp_path / "nothing")},
    )
    assert result.returncode == 1
    assert "Java not found" in result.stderr and "Java 17 or newer" in result.stderr
    assert result.stdout == ""
