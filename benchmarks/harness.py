"""One command for every benchmark path: the same mixed-type data, several sizes, medians after a warm-up.

The paths (a-j: this server on one and two nodes (and relayed), Spark Connect, the Thrift server, ``toArrow()``, the
floor...) are listed and run by ``fetch_paths.py``, each in its own processes, one after another.

A path whose dependencies are missing is reported as skipped, with the reason. Results go to
``--out`` as ``results.md``, ``results.json`` (with ``results.meta.json``: runs and machine) and (with
matplotlib) ``results.png``. ``--network`` runs the scaling benchmark of ``netns.py`` instead (1, 2, 3
nodes and Spark Connect, each host in a network namespace with a capped link: ``network.*``).
``--write-docs`` then renders what ``--out`` holds into ``docs/benchmarks.md`` (``render_docs.py``). Usage:

    python benchmarks/harness.py [--sizes 1M,10M,30M] [--runs 3] [--paths f,g,a,c,b,d,e] [--smoke] [--out DIR]
        [--share-servers]
    python benchmarks/harness.py --network [--sizes 10M] [--runs 3] [--rate 200] [--nodes 1,2,3] [--smoke]
    python benchmarks/harness.py ... --write-docs
"""

from __future__ import annotations

import argparse
import contextlib
import sys
import time
from pathlib import Path

import netns
import render_docs
from bench_common import DEFAULT_OUT, DOCS, ROOT, read_json, signals_end_the_run
from bench_data import DEFAULT_SIZES, SMOKE_SIZES, parse_sizes
from fetch_paths import ALL_PATHS, PATHS, Figures, Servers, figures_of, measure, write_results

# ---------------------------------------------------------------- CLI


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--sizes",
        type=parse_sizes,
        default=None,
        help="comma-separated row counts, e.g. 1M,10M,30M (default; --smoke: 20k)",
    )
    parser.add_argument(
        "--runs", type=int, default=None, help="timed runs after the warm-up (default 3; --smoke: 1)"
    )
    parser.add_argument("--paths", default=",".join(ALL_PATHS), help="comma-separated keys among a..j")
    parser.add_argument(
        "--smoke", action="store_true", help="tiny sizes and one run: checks that every path works"
    )
    parser.add_argument(
        "--share-servers",
        action="store_true",
        help="start each server once and reuse it in every path that runs on the same one (with the same "
        "settings): far fewer JVM starts, but no path has the machine, or its figures, to itself; for "
        "checking that the paths work (the smoke test), not for measuring them",
    )
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    parser.add_argument(
        "--update",
        action="store_true",
        help="keep the other paths and sizes of the last run in --out, replacing only those measured now",
    )
    parser.add_argument(
        "--network",
        action="store_true",
        help="the scaling benchmark instead: 1, 2, 3 nodes and Spark Connect, each host in a network "
        "namespace with a capped link (benchmarks/netns.py; needs root and iproute2)",
    )
    parser.add_argument(
        "--write-docs",
        nargs="?",
        type=Path,
        const=DOCS,
        default=None,
        metavar="FILE",
        help=f"then render the latest results in --out into FILE's 'Latest results' (default "
        f"{DOCS.relative_to(ROOT)})",
    )
    network = parser.add_argument_group("--network options")
    netns.add_arguments(network)
    args = parser.parse_args(argv)
    if args.network:
        args.options = netns.options_from(args, parser)
        return args
    args.sizes = args.sizes or list(SMOKE_SIZES if args.smoke else DEFAULT_SIZES)
    args.runs = args.runs or (1 if args.smoke else 3)
    args.paths = [key.strip() for key in args.paths.split(",") if key.strip()]
    unknown = [key for key in args.paths if key not in PATHS]
    if unknown:
        parser.error(f"unknown path(s) {unknown}; choose among {','.join(ALL_PATHS)}")
    if args.runs < 1:
        parser.error("--runs must be at least 1")
    return args


def main(argv: list[str] | None = None) -> int:
    """Run every chosen path at every size; exit 1 when a path failed (skipped paths are not failures).
    SIGTERM, SIGHUP and Ctrl-C end the run after stopping every process it started."""
    args = parse_args(argv)
    with signals_end_the_run():
        return run(args)


def run(args: argparse.Namespace) -> int:
    """What :func:`main` does once the arguments are parsed."""
    if args.network:
        code = netns.run(args.options)
        render_docs_if_asked(args)
        return code
    results = []
    with contextlib.ExitStack() as stack:
        servers = stack.enter_context(Servers(shared=True)) if args.share_servers else None
        for rows in args.sizes:
            for key in args.paths:
                started = time.monotonic()
                figures = measure(PATHS[key], rows, args.runs, servers)
                state = (
                    (figures.skipped and "skipped")
                    or (figures.failed and "FAILED")
                    or f"{figures.seconds:.3f} s"
                )
                print(
                    f"[{rows:,} rows] {key} ({figures.label}): {state} "
                    f"(took {time.monotonic() - started:.0f} s)",
                    file=sys.stderr,
                    flush=True,
                )
                results.append(figures)
    if args.update:
        results = merged(previous_results(args.out, args.runs), results)
    print(write_results(results, args.runs, args.out))
    render_docs_if_asked(args)
    return 1 if any(f.failed for f in results) else 0


def previous_results(out: Path, runs: int) -> list[Figures]:
    """The figures of the last run in ``out`` (none when there is none); its runs must be ``runs``."""
    rows = read_json(out / "results.json") or []
    meta = read_json(out / "results.meta.json") or {}
    if rows and meta.get("runs") != runs:
        raise SystemExit(
            f"--update: the results in {out} are medians of {meta.get('runs')} run(s), not {runs}"
        )
    return figures_of(rows)


def merged(previous: list[Figures], new: list[Figures]) -> list[Figures]:
    """``previous`` with every (path, size) measured again replaced by ``new``'s, ordered by size and path."""
    remeasured = {(f.path, f.rows) for f in new}
    kept = [f for f in previous if (f.path, f.rows) not in remeasured]
    order = {key: index for index, key in enumerate(ALL_PATHS)}
    return sorted([*kept, *new], key=lambda f: (f.rows, order.get(f.path, len(order))))


def render_docs_if_asked(args: argparse.Namespace) -> None:
    """``--write-docs``: regenerate the documentation's latest results from the JSON in ``--out``."""
    if args.write_docs is not None:
        render_docs.render(args.out, args.write_docs)
        print(f"updated {args.write_docs}", file=sys.stderr)


if __name__ == "__main__":
    sys.exit(main())
