"""Spark's own JDBC reader (``spark.read.format("jdbc")``) with the Arrow Flight SQL JDBC driver, reading
from this server: a user's obvious first try from another Spark cluster.

It works with two options, which the README gives: ``sessionInitStatement`` turning on Spark SQL's
double-quoted identifiers (Spark's JDBC reader names columns as ``"id"``, which Spark SQL otherwise
reads as a string literal) and ``customSchema`` (the driver reports BIGINT columns as unsigned, which
Spark widens to DECIMAL(20,0)). Without the first, the read fails; both are checked here, in another
Spark application (the driver jar on its classpath), against the session's node.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

from support.jdbc import driver_jar
from support.server import ServerProcess

RUN_TIMEOUT = 600.0
ROWS = 1000
QUERY = f"(SELECT id, id * 2 AS twice FROM range(0, {ROWS})) t"

SCRIPT = textwrap.dedent(
    """
    import json, sys
    from pyspark.sql import SparkSession

    jar, url, table = sys.argv[1:4]
    spark = (SparkSession.builder.master("local[1]").config("spark.jars", jar)
             .config("spark.ui.enabled", "false").getOrCreate())
    spark.sparkContext.setLogLevel("OFF")
    DRIVER = "org.apache.arrow.driver.jdbc.ArrowFlightJdbcDriver"
    INIT = "SET spark.sql.ansi.doubleQuotedIdentifiers=true"

    def read(**options):
        reader = spark.read.format("jdbc").option("url", url).option("driver", DRIVER).option("dbtable", table)
        df = reader.options(**options).load()
        try:
            total = df.groupBy().sum("twice").collect()[0][0]
            return {"schema": df.schema.simpleString(), "count": df.count(), "sum": int(total)}
        except Exception as exc:
            return {"schema": df.schema.simpleString(), "error": str(exc)[:2000]}

    print(json.dumps({
        "plain": read(),
        "init": read(sessionInitStatement=INIT),
        "typed": read(sessionInitStatement=INIT, customSchema="id BIGINT, twice BIGINT"),
    }))
    spark.stop()
    """
)


def test_spark_reads_through_the_jdbc_driver_with_two_options(server: ServerProcess, tmp_path: Path) -> None:
    jar = driver_jar()
    script = tmp_path / "read_jdbc.py"
    script.write_text(SCRIPT)
    url = f"jdbc:arrow-flight-sql://127.0.0.1:{server.port}?useEncryption=false"
    result = subprocess.run(
        [sys.executable, str(script), jar, url, QUERY],
        capture_output=True,
        text=True,
        timeout=RUN_TIMEOUT,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    seen = json.loads(result.stdout.strip().splitlines()[-1])
    # Spark's "id" is a string to Spark SQL: the rows come back as the text of the column names.
    assert "error" in seen["plain"], seen["plain"]
    assert "NumberFormatException" in seen["plain"]["error"], seen["plain"]["error"]
    expected_sum = ROWS * (ROWS - 1)
    assert seen["init"] == {
        "schema": "struct<id:decimal(20,0),twice:decimal(20,0)>",
        "count": ROWS,
        "sum": expected_sum,
    }
    assert seen["typed"] == {"schema": "struct<id:bigint,twice:bigint>", "count": ROWS, "sum": expected_sum}
