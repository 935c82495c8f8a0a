"""Waiting for a stop signal in a process whose other threads (Py4J's, gRPC's) may receive it."""

from __future__ import annotations

import threading


def wait_interruptibly(stop: threading.Event, tick: float = 0.5) -> None:
    """Block until ``stop`` is set, waking every ``tick`` seconds.

    A signal that lands on another thread runs its Python handler only when the main thread next
    runs bytecode, which an untimed ``Event.wait()`` never lets it do: the process would not stop.
    """
    while not stop.wait(timeout=tick):
        pass
