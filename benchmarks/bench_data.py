"""The one data set every benchmark path reads: a ``range()``-based table of mixed types.

Every path runs exactly ``query(rows)``, so all of them convert and move the same bytes.
"""

from __future__ import annotations

DEFAULT_SIZES = (1_000_000, 10_000_000, 30_000_000)
SMOKE_SIZES = (20_000,)
SUFFIXES = {"k": 1_000, "m": 1_000_000, "g": 1_000_000_000}

COLUMNS = {
    "i64": "id",
    "f64": "CAST(id AS DOUBLE) * 1.5",
    "dec": "CAST(id / 100 AS DECIMAL(18, 2))",
    "s": "CONCAT('row-', CAST(id AS STRING))",
    "dt": "DATE_ADD(DATE'2000-01-01', CAST(id % 10000 AS INT))",
    "ts": "TIMESTAMP_SECONDS(946684800 + id)",
}
"""Column name -> SQL expression over ``range()``'s ``id``: bigint, double, decimal, string, date, timestamp."""


def query(rows: int) -> str:
    """The benchmark query producing ``rows`` rows of the mixed-type table."""
    select = ", ".join(f"{expression} AS {name}" for name, expression in COLUMNS.items())
    return f"SELECT {select} FROM range({rows})"


def parse_size(text: str) -> int:
    """``"30M"`` -> 30_000_000, ``"20k"`` -> 20_000, ``"5000"`` -> 5000."""
    text = text.strip().lower().replace("_", "")
    if text and text[-1] in SUFFIXES:
        return int(float(text[:-1]) * SUFFIXES[text[-1]])
    return int(text)


def parse_sizes(text: str) -> list[int]:
    """A comma-separated list of sizes, e.g. ``"1M,10M,30M"``."""
    sizes = [parse_size(part) for part in text.split(",") if part.strip()]
    if not sizes or any(size <= 0 for size in sizes):
        raise ValueError(f"sizes must be positive row counts: {text!r}")
    return sizes
