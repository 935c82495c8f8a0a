"""The network benchmark's parallel client, run as its own process by ``netns.py``: ADBC reading every
endpoint of the result at once and independently, one thread and one connection per endpoint.

``cursor.fetch_record_batch()`` reads the endpoints concurrently but hands batches out in endpoint order,
reading ahead only ``adbc.rpc.result_queue_size`` batches (5) of each later endpoint: when every node's
link is the bottleneck, the nodes then serve mostly one after another. A client that consumes every
endpoint on its own (``adbc_execute_partitions`` and ``adbc_read_partition``, as a distributed reader
does) keeps every link busy; that is what this worker measures. It runs the query a warm-up time plus
``--runs`` times and prints one JSON line like ``bench_worker.py``'s: ``seconds`` and ``first_batch``
(lists over the timed runs; the first batch of any endpoint), ``bytes``, ``rows``, ``endpoints`` and
``client_peak``. Usage:

    python benchmarks/net_worker.py --location grpc://host:port --rows N [--runs R]
"""

from __future__ import annotations

import argparse
import concurrent.futures
import json
import threading
import time
from typing import Any

from bench_data import query
from bench_worker import peak_rss, timed_runs


def read_partition(
    connection: Any, partition: bytes, start: float, firsts: list[float], lock: threading.Lock
) -> tuple[int, int]:
    """Stream one partition (one endpoint) to its end: its rows and Arrow bytes; notes its first batch's time."""
    count = size = 0
    with connection.cursor() as cursor:
        cursor.adbc_read_partition(partition)
        for batch in cursor.fetch_record_batch():
            if not count:
                with lock:
                    firsts.append(time.perf_counter() - start)
            count += batch.num_rows
            size += batch.nbytes
    return count, size


def partitioned_runs(location: str, rows: int, runs: int) -> dict[str, Any]:
    """Timed runs of the query through ``location``, every endpoint read by a thread (and connection) of its
    own; the connections are opened during the warm-up and reused."""
    import adbc_driver_flightsql.dbapi as flight_sql

    readers: list[Any] = []
    endpoints: list[int] = []
    main = flight_sql.connect(location, autocommit=True)
    try:

        def fetch() -> tuple[int, int, float | None]:
            start = time.perf_counter()
            with main.cursor() as cursor:
                partitions, _schema = cursor.adbc_execute_partitions(query(rows))
            while len(readers) < len(partitions):
                readers.append(flight_sql.connect(location, autocommit=True))
            firsts: list[float] = []
            lock = threading.Lock()
            with concurrent.futures.ThreadPoolExecutor(max_workers=max(len(partitions), 1)) as pool:
                shares = list(
                    pool.map(
                        lambda pair: read_partition(pair[0], pair[1], start, firsts, lock),
                        zip(readers, partitions),
                    )
                )
            endpoints.append(len(partitions))
            return sum(c for c, _ in shares), sum(s for _, s in shares), min(firsts) if firsts else None

        result = timed_runs(fetch, rows, runs)
    finally:
        for connection in readers:
            connection.close()
        main.close()
    result["endpoints"] = endpoints[-1] if endpoints else None
    return result


def main(argv: list[str] | None = None) -> None:
    """Measure and print the JSON line."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--location", required=True)
    parser.add_argument("--rows", type=int, required=True)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args(argv)
    result = partitioned_runs(args.location, args.rows, args.runs)
    result["client_peak"] = peak_rss()
    print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
