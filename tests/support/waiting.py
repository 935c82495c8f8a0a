"""Waiting on a condition with a generous deadline, and a message that says what never happened.

The deadlines are limits, not budgets: a busy machine makes a wait longer, never a test wrong, so each
one is far above what the condition takes on an idle machine. Waits poll (``interval``) only where
nothing can notify; lines a process prints and ZooKeeper children are waited on with notifications.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

T = TypeVar("T")

DEFAULT_TIMEOUT = 120.0
"""Seconds: generous for anything a test waits on (a node seeing a change, a thread finishing a push)."""
DEFAULT_INTERVAL = 0.1


def wait_until(
    condition: Callable[[], T],
    timeout: float = DEFAULT_TIMEOUT,
    interval: float = DEFAULT_INTERVAL,
    message: str | Callable[[], str] = "the condition never held",
) -> T:
    """Call ``condition`` until it returns something true, and return that; past ``timeout`` seconds fail
    with ``message`` (a string, or a callable asked at that moment, e.g. for the last state seen)."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() >= deadline:
            text = message() if callable(message) else message
            raise AssertionError(f"{text}: not within {timeout:g} s")
        time.sleep(interval)


def pid_alive(pid: int) -> bool:
    """Whether ``pid`` runs and is not a zombie (Linux /proc)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def wait_until_gone(pids: set[int], timeout: float) -> set[int]:
    """Wait until none of ``pids`` runs; returns those still running at the deadline (no failure)."""
    alive = set(pids)

    def none_left() -> bool:
        alive.difference_update([pid for pid in alive if not pid_alive(pid)])
        return not alive

    try:
        wait_until(none_left, timeout=timeout)
    except AssertionError:
        pass
    return alive


def descendants(pid: int) -> set[int]:
    """Every living descendant process of ``pid`` (Linux /proc)."""
    found: set[int] = set()
    pending = [pid]
    while pending:
        current = pending.pop()
        for children in Path(f"/proc/{current}/task").glob("*/children"):
            try:
                kids = {int(c) for c in children.read_text().split()}
            except OSError:
                continue
            pending.extend(kids - found)
            found |= kids
    return found
