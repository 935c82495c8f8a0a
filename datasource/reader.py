"""Reading: one Spark partition per FlightInfo endpoint, Arrow batches straight into Spark.

Schema discovery (``DataSource.schema``, at ``load()``) does not run the query where the server
gives a prepared statement's dataset schema or answers GetSchema.

When the query runs: ``partitions()`` sends GetFlightInfo while Spark plans the scan, which
starts the query on most servers (ours included). Spark 4.3 plans a loaded DataFrame's read once
and keeps that plan, tickets included, for every later action on it (and on DataFrames derived
from it) that pushes no filter: a second action reads the same tickets again rather than
re-running the query. So GetFlightInfo carries the ``x-spark-flight-keep-result`` header (option
``keep_result``, on by default): our server then keeps each endpoint's share after its first read
(on its disk, until the endpoint's ``expiration_time``) and serves the ticket again. Servers that
serve a ticket once fail the second action; there, ``load()`` again per action, or ``cache()``.

Filter pushdown is opt-in (option ``pushdown``, with ``spark.sql.python.filterPushdown.enabled``)
because of the same plan cache: after ``df.filter(...)`` pushed a WHERE clause, a later action on
``df`` itself that pushes no filter reuses the filtered plan and silently gets the filtered rows
(checked with PySpark 4.3). With pushdown on, ``load()`` a fresh DataFrame for every query.

Where it runs: ``partitions()`` and ``pushFilters()`` on the driver; ``read()`` in the tasks, with
the pickled reader (options and schema) and one :class:`EndpointPartition`. This module imports
PySpark's base classes and the options at module level, everything else inside the method.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

from pyspark.sql.datasource import DataSourceReader, InputPartition

from spark_flight_sql.datasource.options import FlightSqlOptions

if TYPE_CHECKING:
    import pyarrow as pa
    from pyspark.sql.datasource import Filter
    from pyspark.sql.types import StructType

    from spark_flight_sql.datasource.client import Header

__all__ = ["EndpointPartition", "FlightSqlPushdownReader", "FlightSqlReader"]


class EndpointPartition(InputPartition):
    """One FlightInfo endpoint: its ticket, the URIs to try in order, and the bearer header."""

    def __init__(self, index: int, count: int, ticket: bytes, uris: list[str], auth: list[Header]) -> None:
        super().__init__(index)
        self.index = index
        self.count = count
        self.ticket = ticket
        self.uris = uris
        self.auth = auth

    def __repr__(self) -> str:  # keeps the bearer token out of plans and logs
        return f"EndpointPartition(index={self.index}, count={self.count}, uris={self.uris})"


class FlightSqlReader(DataSourceReader):
    """Reads a query (or ``SELECT * FROM dbtable``) from any Flight SQL server."""

    def __init__(self, options: FlightSqlOptions, schema: StructType) -> None:
        self.options = options
        self.schema = schema

    def sql(self, quote: str | None = None) -> str:
        """The SQL sent to the server."""
        return self.options.read_sql()

    def partitions(self) -> list[InputPartition]:
        """Send GetFlightInfo (the query starts on the server) and make one partition per endpoint."""
        from spark_flight_sql.datasource.client import auth_headers, connect, endpoint_uris
        from spark_flight_sql.datasource.protocol import flight_info, identifier_quote

        with connect(self.options, what="plan the read at") as connection:
            quote = self.options.identifier_quote
            if quote is None and self.needs_quote():
                quote = identifier_quote(connection)
            info = flight_info(connection, self.sql(quote), keep_result=self.options.keep_result)
            auth = auth_headers(connection)
        count = len(info.endpoints)
        partitions: list[InputPartition] = [
            EndpointPartition(
                index, count, endpoint.ticket.ticket, endpoint_uris(endpoint, self.options.uri), auth
            )
            for index, endpoint in enumerate(info.endpoints)
        ]
        # Spark makes one empty partition of a read with none; an empty result needs no call.
        return partitions or [EndpointPartition(0, 0, b"", [], auth)]

    def needs_quote(self) -> bool:
        """Whether :meth:`sql` quotes identifiers (and so needs the server's quote character)."""
        return False

    def read(self, partition: InputPartition) -> Iterator[pa.RecordBatch]:
        """Stream the endpoint's batches, trying its locations in order until one answers."""
        from spark_flight_sql.datasource.client import FlightSqlSourceError, describe_error
        from spark_flight_sql.datasource.types import conform_batch, spark_arrow_schema

        assert isinstance(partition, EndpointPartition)
        if partition.count == 0:
            return
        target = spark_arrow_schema(self.schema)
        label = f"endpoint {partition.index + 1} of {partition.count}"
        failures: list[str] = []
        spent = False
        for uri in partition.uris:
            rows = 0
            try:
                for batch in self._fetch(partition, uri):
                    try:
                        conformed = conform_batch(batch, target)
                    except TypeError as exc:
                        raise FlightSqlSourceError(
                            f"flightsql: {label} at {uri}: schema mismatch: {exc}"
                        ) from None
                    rows += batch.num_rows
                    yield conformed
                return
            except FlightSqlSourceError:
                raise
            except Exception as exc:
                if rows:  # batches already went to Spark: another location cannot resume the stream
                    raise FlightSqlSourceError(
                        f"flightsql: reading {label} at {uri} failed after {rows} rows: {describe_error(exc)}"
                    ) from exc
                failures.append(f"{uri}: {describe_error(exc)}")
                spent = spent or isinstance(exc, KeyError) or "not found" in str(exc).lower()
        hint = (
            " (Spark reuses a loaded DataFrame's tickets for every action on it, and this server"
            " served the ticket once: leave the option keep_result on, which our server honours, or"
            " load() again for each action, or cache() the DataFrame)"
            if spent
            else ""
        )
        raise FlightSqlSourceError(f"flightsql: cannot read {label}; tried " + "; ".join(failures) + hint)

    def _fetch(self, partition: EndpointPartition, uri: str) -> Iterator[pa.RecordBatch]:
        import pyarrow.flight as flight

        from spark_flight_sql.datasource.client import call_options, connect

        with connect(self.options, uri, auth_headers=partition.auth, what="read at") as connection:
            options = call_options(connection.headers, self.options.read_timeout)
            stream = connection.client.do_get(flight.Ticket(partition.ticket), options)
            finished = False
            try:
                while True:
                    try:
                        chunk = stream.read_chunk()
                    except StopIteration:
                        finished = True
                        return
                    if chunk.data is not None:
                        yield chunk.data
            finally:
                if not finished:  # Spark stopped early (a LIMIT, a failure): let the server stop too
                    stream.cancel()


class FlightSqlPushdownReader(FlightSqlReader):
    """A ``dbtable`` reader that turns Spark's pushed filters into the WHERE clause."""

    def __init__(self, options: FlightSqlOptions, schema: StructType) -> None:
        super().__init__(options, schema)
        self.pushed: list[Filter] = []

    def pushFilters(self, filters: list[Filter]) -> Iterator[Filter]:  # noqa: N802 - PySpark's DataSourceReader API names it so
        """Keep the filters :mod:`spark_flight_sql.datasource.filters` translates; hand the rest back to Spark."""
        from spark_flight_sql.datasource.filters import filter_sql

        for item in filters:
            if filter_sql(item) is not None:
                self.pushed.append(item)
            else:
                yield item

    def needs_quote(self) -> bool:
        """True when filters were pushed."""
        return bool(self.pushed)

    def sql(self, quote: str | None = None) -> str:
        """``SELECT * FROM dbtable WHERE <pushed filters>``."""
        from spark_flight_sql.datasource.filters import where_clause

        return self.options.read_sql() + where_clause(self.pushed, quote or '"')
