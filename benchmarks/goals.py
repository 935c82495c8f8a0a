"""The benchmark's goals, each checked against measured figures: met or not, with the numbers.

``goal_lines`` reads the figures of one harness run (paths a-j) and of one ``--network`` run and
writes one Markdown list item per goal and configuration. A goal whose figures were not measured
says so instead of guessing.
"""

from __future__ import annotations

from collections.abc import Sequence

import netns
from bench_common import mb
from fetch_paths import Figures

GOAL_SIZE = 10_000_000
"""The size the speed and first-batch goals name (the largest measured size stands in when it is missing)."""
CONNECT_SPEEDUP = 1.5
FLOOR_WITHIN = 1.3
THRIFT_SPEEDUP = 20.0
MEMORY_GROWTH = 0.20
FIRST_BATCH_SHARE = 0.25

ONE_NODE = (("a", "one node"), ("h", "one node, early streaming"))
TWO_NODES = (("b", "two nodes"), ("i", "two nodes, early streaming"))


def verdict(met: bool) -> str:
    return "**met**" if met else "**NOT met**"


def goal_lines(fetch: Sequence[Figures], network: Sequence[netns.LinkFigures] = ()) -> list[str]:
    """One Markdown list item per goal and configuration."""
    measured = [f for f in fetch if f.seconds]
    sizes = sorted({f.rows for f in measured})
    lines: list[str] = []
    if sizes:
        size = GOAL_SIZE if GOAL_SIZE in sizes else sizes[-1]
        at = {f.path: f for f in measured if f.rows == size}
        lines += speed_lines(at, size)
        lines += thrift_lines(measured)
        lines += memory_lines(measured, sizes)
        lines += first_batch_lines(at, size)
    else:
        lines.append("- Paths a-j: not measured.")
    lines += network_lines(network)
    return lines


def speed_lines(at: dict[str, Figures], size: int) -> list[str]:
    connect, floor = at.get("d"), at.get("g")
    lines = []
    for key, name in ONE_NODE:
        ours = at.get(key)
        if ours is None:
            continue
        if connect is not None and connect.seconds and ours.seconds:
            speedup = connect.seconds / ours.seconds
            lines.append(
                f"- {name.capitalize()}, at least {CONNECT_SPEEDUP}x Spark Connect's throughput at {size:,} "
                f"rows: {speedup:.2f}x ({ours.seconds:.2f} s against {connect.seconds:.2f} s), "
                f"{verdict(speedup >= CONNECT_SPEEDUP)}."
            )
        if floor is not None and floor.seconds and ours.seconds:
            slower = ours.seconds / floor.seconds
            lines.append(
                f"- {name.capitalize()}, within {FLOOR_WITHIN}x of the floor at {size:,} rows: "
                f"{slower:.2f}x ({ours.seconds:.2f} s against {floor.seconds:.2f} s), "
                f"{verdict(slower <= FLOOR_WITHIN)}."
            )
    return lines


def thrift_lines(measured: Sequence[Figures]) -> list[str]:
    """At every size both the Thrift path and one node were measured."""
    lines = []
    for thrift in (f for f in measured if f.path == "e"):
        ours = next((f for f in measured if f.path == "a" and f.rows == thrift.rows), None)
        if ours is not None and ours.seconds and thrift.seconds:
            speedup = thrift.seconds / ours.seconds
            lines.append(
                f"- One node, at least {THRIFT_SPEEDUP:g}x the Thrift Server path at {thrift.rows:,} rows: "
                f"{speedup:.1f}x ({ours.seconds:.2f} s against {thrift.seconds:.2f} s), "
                f"{verdict(speedup >= THRIFT_SPEEDUP)}."
            )
    return lines or ["- Thrift Server: not measured."]


def owner_peak(figures: Figures) -> int | None:
    if figures.owner_python_peak is None or figures.owner_jvm_peak is None:
        return None
    return figures.owner_python_peak + figures.owner_jvm_peak


def memory_lines(measured: Sequence[Figures], sizes: list[int]) -> list[str]:
    """The query-owning node's peak (Python + JVM) from the smallest to the largest size."""
    if len(sizes) < 2:
        return ["- Owner memory growth: needs two sizes."]
    small, large = sizes[0], sizes[-1]
    lines = []
    for key, name in TWO_NODES:
        first = next((f for f in measured if f.path == key and f.rows == small), None)
        last = next((f for f in measured if f.path == key and f.rows == large), None)
        if first is None or last is None or owner_peak(first) is None or owner_peak(last) is None:
            continue
        growth = owner_peak(last) / owner_peak(first) - 1
        python = last.owner_python_peak / first.owner_python_peak - 1
        jvm = last.owner_jvm_peak / first.owner_jvm_peak - 1
        lines.append(
            f"- {name.capitalize()}, the owning node's peak memory grows less than {MEMORY_GROWTH:.0%} from {small:,} "
            f"to {large:,} rows: {growth:+.0%} ({mb(owner_peak(first))} MB to {mb(owner_peak(last))} "
            f"MB; its Python server {python:+.0%}, {mb(first.owner_python_peak)} to "
            f"{mb(last.owner_python_peak)} MB; its JVM {jvm:+.0%}), {verdict(growth < MEMORY_GROWTH)}."
        )
    return lines


def first_batch_lines(at: dict[str, Figures], size: int) -> list[str]:
    def line(figures: Figures, name: str) -> str:
        if figures.first_batch is None or not figures.seconds:
            return f"- {name.capitalize()}: no time to the first batch measured."
        share = figures.first_batch / figures.seconds
        return (
            f"- {name.capitalize()}, first batch within {FIRST_BATCH_SHARE:.0%} of the total at {size:,} rows: "
            f"{share:.0%} ({figures.first_batch:.2f} s of {figures.seconds:.2f} s), "
            f"{verdict(share < FIRST_BATCH_SHARE)}."
        )

    return [line(at[key], name) for key, name in (*ONE_NODE, *TWO_NODES) if key in at]


def network_lines(network: Sequence[netns.LinkFigures]) -> list[str]:
    lines = []
    for rows in sorted({f.rows for f in network}):
        single = netns.one_node(list(network), rows)
        two = next((f for f in network if f.key == "2" and f.rows == rows and f.seconds), None)
        ratio = netns.throughput_ratio(two, single) if two is not None else None
        if ratio is not None:
            lines.append(
                f"- Simulated network, two nodes deliver at least {netns.GOAL_TWO_NODES}x one node's "
                f"throughput at {rows:,} rows: {ratio:.2f}x, {verdict(ratio >= netns.GOAL_TWO_NODES)}."
            )
    return lines or ["- Simulated network: not measured."]
