"""The command line and the Java check, run as a user would run them."""

from __future__ import annotations

import os
import signal
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from support import ROOT
from support.processes import COMMAND_TIMEOUT, run_command
from support.server import port_is_free, start_server
from support.waiting import descendants, wait_until_gone

from spark_flight_sql.flightsql.devtools.java import parse_java_version


def run(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return run_command(
        [sys.executable, *args],
        capture_output=True,
        text=True,
        timeout=COMMAND_TIMEOUT,
        cwd=ROOT,
        env={**os.environ, **(env or {})},
        check=False,
    )


def test_help_lists_serve() -> None:
    result = run("-m", "spark_flight_sql.flightsql", "--help")
    assert result.returncode == 0
    assert "serve" in result.stdout


def test_serve_help_names_the_options() -> None:
    result = run("-m", "spark_flight_sql.flightsql", "serve", "--help")
    assert result.returncode == 0
    for option in ("--master", "--conf", "--data-dir", "--demo"):
        assert option in result.stdout


@pytest.mark.parametrize(
    ("conf", "message"),
    [
        ("spark.flight.port", "KEY=VALUE"),
        ("spark.flight.port=abc", "whole number"),
        ("spark.flight.manager=etcd", "zookeeper"),
    ],
)
def test_bad_conf_is_a_usage_error(conf: str, message: str) -> None:
    result = run("-m", "spark_flight_sql.flightsql", "serve", "--conf", conf)
    assert result.returncode == 2
    assert message in result.stderr


def test_two_different_data_folders_are_a_usage_error(tmp_path: Path) -> None:
    result = run(
        "-m",
        "spark_flight_sql.flightsql",
        "serve",
        "--data-dir",
        str(tmp_path / "a"),
        "--conf",
        f"spark.flight.dataDir={tmp_path / 'b'}",
    )
    assert result.returncode == 2
    assert "--data-dir and --conf spark.flight.dataDir name different folders" in result.stderr
    assert not (tmp_path / "a").exists() and not (tmp_path / "b").exists()


def test_an_unknown_catalog_implementation_is_a_usage_error(tmp_path: Path) -> None:
    result = run(
        "-m",
        "spark_flight_sql.flightsql",
        "serve",
        "--data-dir",
        str(tmp_path / "data"),
        "--conf",
        "spark.sql.catalogImplementation=hvie",
    )
    assert result.returncode == 2
    assert "spark.sql.catalogImplementation must be 'hive' or 'in-memory', not 'hvie'" in result.stderr
    assert not (tmp_path / "data").exists()


@pytest.mark.parametrize(
    ("output", "version"),
    [
        ('openjdk version "17.0.15" 2025-04-15', 17),
        ('java version "1.8.0_392"', 8),
        ('openjdk version "21" 2023-09-19', 21),
        ("no version here", None),
    ],
)
def test_parse_java_version(output: str, version: int | None) -> None:
    assert parse_java_version(output) == version


def fake_java(tmp_path: Path, version_line: str) -> Path:
    home = tmp_path / "jdk"
    (home / "bin").mkdir(parents=True)
    java = home / "bin" / "java"
    java.write_text(f"#!/bin/sh\necho '{version_line}' >&2\n")
    java.chmod(java.stat().st_mode | stat.S_IXUSR)
    return home


def test_too_old_java_says_what_to_install(tmp_path: Path) -> None:
    home = fake_java(tmp_path, 'java version "1.8.0_392"')
    result = run("flightsql/devtools/java.py", env={"JAVA_HOME": str(home)})
    assert result.returncode == 1
    assert "Java 8, which is too old" in result.stderr
    assert "openjdk-17" in result.stderr


def test_missing_java_says_what_to_install(tmp_path: Path) -> None:
    result = run("-m", "spark_flight_sql.flightsql", "serve", env={"JAVA_HOME": str(tmp_path / "nothing")})
    assert result.returncode == 1
    assert "Java not found" in result.stderr
    assert "Java 17 or newer" in result.stderr


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_a_signal_stops_the_server_cleanly(signum: int) -> None:
    node = start_server(demo=False)
    children = descendants(node.process.pid)
    assert children, "the node should run a JVM and Spark's Python daemons as children"
    node.process.send_signal(signum)
    assert node.wait_exit(timeout=60) == 0
    node.wait_for_line("spark-flight-sql: stopped", timeout=10)
    assert port_is_free(node.port)
    assert wait_until_gone(children, timeout=30) == set(), "orphaned child processes"
