"""What the harness's fetch paths (``fetch_paths.py``) share about nodes: a node started with the
benchmark's Spark settings, and the memory peaks it reached (its Python process, its Spark JVM, its
result buffers).

This was once a benchmark of its own (ADBC through one node and two, beside ``df.toArrow()``); the
harness's paths ``a``, ``b`` and ``f`` measure the same, side by side with the others.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from bench_common import MASTER, SPARK_CONF
from bench_node import NodeProcess, start_node


@dataclass
class NodeMemory:
    """One node's peaks after the runs: its Python process, its Spark JVM, and its result buffers."""

    node: str
    python_rss: int | None
    jvm_rss: int | None
    buffered: int | None


def spark_conf_args(extra: dict[str, str] | None = None) -> list[str]:
    """``--conf key=value`` arguments for ``SPARK_CONF`` plus ``extra``."""
    return [
        arg for key, value in {**SPARK_CONF, **(extra or {})}.items() for arg in ("--conf", f"{key}={value}")
    ]


@contextlib.contextmanager
def running_node(extra: dict[str, str] | None = None, master: str | None = None) -> Iterator[NodeProcess]:
    """A node (no demo data) with the benchmark's Spark settings (on ``master``, else local), stopped on exit."""
    server = start_node(*spark_conf_args(extra), master=master or MASTER)
    try:
        yield server
    finally:
        server.stop()


def node_stats(location: str) -> dict[str, object]:
    """The node's ``NodeStats`` action: its result buffers and peak memory, as JSON."""
    import pyarrow.flight as flight

    with flight.FlightClient(location) as client:
        (result,) = client.do_action(flight.Action("NodeStats", b""))
        return json.loads(result.body.to_pybytes())


def jvm_peak_rss(server_pid: int) -> int | None:
    """VmHWM (peak resident memory) of the java process the node started, or None if none is found."""
    for children in Path(f"/proc/{server_pid}/task").glob("*/children"):
        for pid in children.read_text().split():
            try:
                if Path(f"/proc/{pid}/comm").read_text().strip() != "java":
                    continue
                status = Path(f"/proc/{pid}/status").read_text()
            except OSError:
                continue
            for line in status.splitlines():
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
    return None


def node_memory(name: str, server: NodeProcess) -> NodeMemory:
    """Read a running node's peaks (call it after the runs, before stopping the node)."""
    stats = node_stats(server.location)
    return NodeMemory(
        name, stats.get("peak_rss_bytes"), jvm_peak_rss(server.process.pid), stats.get("peak_buffered_bytes")
    )


def mb(size: int | None) -> str:
    return "-" if size is None else f"{size / 1e6:,.1f} MB"
