"""The ``flightsql`` PySpark data source: read any Flight SQL server in parallel, write through bulk ingest.

Not yet implemented: this package reserves the name. Its own issue builds
``spark.read.format("flightsql")`` (one Spark partition per FlightInfo endpoint) and
``df.write.format("flightsql")`` (through CommandStatementIngest).
"""

from __future__ import annotations

__all__: list[str] = []
