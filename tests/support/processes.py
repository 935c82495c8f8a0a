"""Child processes that never outlive their test: each runs in a session (and process group) of its own,
so that a timeout or a teardown ends it with everything it started (Spark JVMs, a Spark Connect server,
ZooKeeper), and whatever a test leaves running is killed when the test session ends."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from support.waiting import wait_until

COMMAND_TIMEOUT = 480.0
"""Seconds a command that starts Spark (or only Python) may take: minutes on a busy two-core machine, and
still below pytest-timeout's 600 s, so that the command's own output tells what hung."""
TERM_GRACE = 30.0
"""Seconds a process group has to exit after SIGTERM before it is killed."""

_started: list[subprocess.Popen[Any]] = []
_started_lock = threading.Lock()


def start(command: Sequence[str], **options: Any) -> subprocess.Popen[Any]:
    """``subprocess.Popen(command, **options)`` in a new session whose id (and process group id) is the
    child's pid; remembered, so that :func:`kill_leftovers` can end it."""
    process = subprocess.Popen(command, start_new_session=True, **options)
    with _started_lock:
        _started.append(process)
    return process


def session_members(session: int) -> set[int]:
    """Every living process of session ``session`` (Linux /proc), whatever process group it moved to."""
    members = set()
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if fields[0] != "Z" and int(fields[3]) == session:
            members.add(int(stat.parent.name))
    return members


def _signal_session(session: int, signum: int) -> None:
    """``signum`` to the process group ``session`` and to every other process of that session."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(session, signum)
    for pid in session_members(session):
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, signum)


def kill_group(process: subprocess.Popen[Any], grace: float = TERM_GRACE) -> None:
    """End ``process`` (started by :func:`start`) and everything in its session: SIGTERM first, so that it
    can stop what it started, SIGKILL to whatever is left after ``grace`` seconds."""
    session = process.pid
    if process.poll() is None or session_members(session):
        _signal_session(session, signal.SIGTERM)
        try:
            wait_until(
                lambda: process.poll() is not None and not session_members(session),
                timeout=grace,
                interval=0.2,
            )
        except AssertionError:
            _signal_session(session, signal.SIGKILL)
    with contextlib.suppress(subprocess.TimeoutExpired):
        process.wait(timeout=grace)


def run_command(
    command: Sequence[str],
    *,
    timeout: float,
    check: bool = False,
    capture_output: bool = True,
    **options: Any,
) -> subprocess.CompletedProcess[Any]:
    """Like ``subprocess.run(command, timeout=timeout, capture_output=True, ...)``, but the command runs in
    a session of its own, which is ended as a whole when it times out (TimeoutExpired is raised then, with
    what it printed) or when the waiting is interrupted. Processes it leaves behind after exiting normally
    are not killed here (a test may check that there are none): :func:`kill_leftovers` ends them."""
    if capture_output:
        options.setdefault("stdout", subprocess.PIPE)
        options.setdefault("stderr", subprocess.PIPE)
    process = start(command, **options)
    try:
        stdout, stderr = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        kill_group(process)
        stdout, stderr = process.communicate()
        raise subprocess.TimeoutExpired(process.args, timeout, stdout, stderr) from None
    except BaseException:
        kill_group(process)
        raise
    result = subprocess.CompletedProcess(process.args, process.returncode, stdout, stderr)
    if check:
        result.check_returncode()
    return result


def kill_leftovers() -> list[str]:
    """Kill every session started by :func:`start` that still has a process; says which (for a report)."""
    with _started_lock:
        started = list(_started)
        _started.clear()
    left = []
    for process in started:
        if process.poll() is None or session_members(process.pid):
            left.append(" ".join(map(str, process.args))[:200])
            kill_group(process, grace=5.0)
    return left
