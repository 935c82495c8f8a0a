"""Demo data: a small star schema in the database ``demo``, so a newcomer can query at once; made once
in a persistent catalog, again in an in-memory one."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

DEMO_DATABASE = "demo"

# Each table is made from range() so the demo needs no files; sizes keep start-up to seconds.
_TABLES = {
    "customers": """
        SELECT id AS customer_id,
               concat('Customer ', id) AS name,
               element_at(array('DE', 'FR', 'US', 'JP', 'BR'), CAST(id % 5 AS INT) + 1) AS country,
               date_add(DATE'2020-01-01', CAST(id % 1000 AS INT)) AS signup_date
        FROM range(1, 1001)""",
    "products": """
        SELECT id AS product_id,
               concat('Product ', id) AS name,
               element_at(array('books', 'games', 'garden', 'kitchen'), CAST(id % 4 AS INT) + 1) AS category,
               CAST(5 + (id * 37 % 500) / 10.0 AS DECIMAL(10, 2)) AS price
        FROM range(1, 101)""",
    "dates": """
        SELECT date_add(DATE'2024-01-01', CAST(id AS INT)) AS date,
               year(date_add(DATE'2024-01-01', CAST(id AS INT))) AS year,
               month(date_add(DATE'2024-01-01', CAST(id AS INT))) AS month,
               dayofweek(date_add(DATE'2024-01-01', CAST(id AS INT))) AS day_of_week
        FROM range(0, 731)""",
    "sales": """
        SELECT id AS sale_id,
               1 + (id * 7919 % 1000) AS customer_id,
               1 + (id * 104729 % 100) AS product_id,
               date_add(DATE'2024-01-01', CAST(id * 31 % 731 AS INT)) AS date,
               CAST(1 + id % 9 AS INT) AS quantity,
               timestamp_seconds(1704067200 + id * 631) AS sold_at
        FROM range(0, 100000)""",
}


@dataclass(frozen=True)
class DemoTables:
    """What :func:`register_demo_tables` did: the qualified names it created and those it found."""

    created: list[str]
    existing: list[str]

    def describe(self) -> str:
        """One line for the node's log."""
        parts = []
        if self.created:
            parts.append("created " + ", ".join(self.created))
        if self.existing:
            parts.append("already in the catalog: " + ", ".join(self.existing))
        return "demo tables: " + "; ".join(parts)


def register_demo_tables(spark: SparkSession) -> DemoTables:
    """Create the demo tables the catalog lacks; the ones it has are left as they are (with a
    persistent catalog they are made once, on the first start)."""
    spark.sql(f"CREATE DATABASE IF NOT EXISTS {DEMO_DATABASE}")
    created, existing = [], []
    for table, query in _TABLES.items():
        name = f"{DEMO_DATABASE}.{table}"
        if spark.catalog.tableExists(name):
            existing.append(name)
            continue
        # Overwrite: a start killed while it wrote this table may have left its files behind, which
        # a plain CREATE TABLE ... AS refuses (LOCATION_ALREADY_EXISTS).
        spark.sql(query).write.mode("overwrite").format("parquet").saveAsTable(name)
        created.append(name)
    return DemoTables(created, existing)
