"""The Arrow Flight SQL JDBC driver, driven through ``tests/clients/jdbc/JdbcProbe.java``: one JVM runs a
script of JDBC calls (one JSON object a step) and prints one JSON object a step.

``make jdbc`` (part of ``make test``) fetches the pinned driver jar with Maven into
``tests/clients/jdbc/lib`` and compiles the probe into ``tests/clients/jdbc/classes``. Without java the
tests that need it are skipped; without the jar too, except on CI, where that is a failure.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from typing import Any
from urllib.parse import urlencode, urlsplit

import pytest

from support import ROOT

JDBC_DIR = ROOT / "tests" / "clients" / "jdbc"
PROBE_SOURCE = JDBC_DIR / "JdbcProbe.java"
CLASSES = JDBC_DIR / "classes"
JVM_OPTIONS = (
    # Arrow's memory module reads direct buffers' addresses (the driver's documented JVM option).
    "--add-opens=java.base/java.nio=ALL-UNNAMED",
    "-Xmx1g",
)
RUN_TIMEOUT = 600.0
"""Seconds one probe run may take: a generous limit, not a measure."""

Step = dict[str, Any]


def driver_jar() -> str:
    """The driver jar ``make jdbc`` fetched; skips (fails on CI) when java or the jar is missing."""
    if shutil.which("java") is None or shutil.which("javac") is None:
        pytest.skip("java and javac are not installed: the JDBC driver cannot run")
    jars = sorted((JDBC_DIR / "lib").glob("flight-sql-jdbc-driver-*.jar"))
    if not jars:
        message = "the JDBC driver jar is missing: run `make jdbc` (it fetches it with Maven)"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    return str(jars[-1])


def probe_command(*jvm_options: str) -> list[str]:
    """``java ... JdbcProbe``, the probe compiled first if its class is missing or older than its source."""
    jar = driver_jar()
    compiled = CLASSES / "JdbcProbe.class"
    if not compiled.exists() or compiled.stat().st_mtime < PROBE_SOURCE.stat().st_mtime:
        subprocess.run(
            ["javac", "-d", str(CLASSES), "-cp", jar, str(PROBE_SOURCE)],
            check=True,
            capture_output=True,
            timeout=RUN_TIMEOUT,
        )
    return ["java", *JVM_OPTIONS, *jvm_options, "-cp", os.pathsep.join([jar, str(CLASSES)]), "JdbcProbe"]


def jdbc_url(location: str, **properties: str | int) -> str:
    """The driver's URL of a node's ``grpc://host:port`` location (``useEncryption=false`` unless the
    location is ``grpc+tls``), with ``properties`` in the query string."""
    parts = urlsplit(location)
    query = {"useEncryption": "true" if parts.scheme == "grpc+tls" else "false", **properties}
    return f"jdbc:arrow-flight-sql://{parts.hostname}:{parts.port}?{urlencode(query)}"


def connect(url: str, **props: str | int) -> Step:
    """The step that opens the connection the next steps use."""
    return {"op": "connect", "url": url, "props": props}


def run_probe(steps: list[Step], *jvm_options: str, timeout: float = RUN_TIMEOUT) -> list[Step]:
    """Run ``steps`` in one JVM (with ``jvm_options``); each step's JSON answer, in order."""
    command = probe_command(*jvm_options)
    script = "".join(json.dumps(step) + "\n" for step in steps)
    done = subprocess.run(command, input=script, capture_output=True, text=True, timeout=timeout, check=False)
    answers = [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]
    assert done.returncode == 0 and len(answers) >= len(steps), (
        f"the probe exited with {done.returncode} after {len(answers)} of {len(steps)} steps:\n"
        + done.stdout[-3000:]
        + done.stderr[-3000:]
    )
    return answers


def ok(answer: Step) -> Step:
    """``answer`` when its step succeeded; AssertionError with the driver's error otherwise."""
    assert "error" not in answer, f"{answer['op']} failed: {answer}"
    return answer


def rows(answer: Step) -> list[dict[str, Any]]:
    """The rows of a step that returned a result set."""
    return list(ok(answer)["rows"])
