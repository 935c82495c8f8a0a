"""A Flight SQL service that runs its own router: for tests, examples and small servers.

::

    class Echo(StandaloneService):
        def get_schema_statement(self, call, command, descriptor):
            return pa.schema([("sql", pa.utf8())])

    with Echo("grpc://127.0.0.1:0") as server:
        client = flight.connect(f"grpc://127.0.0.1:{server.port}")

Construction only records the options; :meth:`StandaloneService.start` (or entering the ``with``)
binds a :class:`spark_flight_sql.flightsql.router.FlightSqlRouter` over the service, and
:meth:`StandaloneService.shutdown` (or leaving the ``with``) stops it. A Flight SQL node composes
its router and service itself (:mod:`spark_flight_sql.flightsql.node`).
"""

from __future__ import annotations

from typing import Any, Self

import pyarrow.flight as flight

from spark_flight_sql.flightsql.call import Call
from spark_flight_sql.flightsql.interface import FlightSqlService
from spark_flight_sql.flightsql.router import FlightSqlRouter

__all__ = ["StandaloneService"]


class StandaloneService(FlightSqlService[Call]):
    """A :class:`FlightSqlService` with its own router, started by :meth:`start` or ``with``.

    Takes the router's arguments: ``location`` and pyarrow's server options, ``max_sql_length``
    and ``max_request_bytes``.
    """

    def __init__(
        self, location: str | tuple[str, int] | flight.Location | None = None, **router_options: Any
    ) -> None:
        self._location = location
        self._router_options = router_options
        self.router: FlightSqlRouter | None = None
        """The running router, between :meth:`start` and :meth:`shutdown`."""

    def start(self) -> Self:
        """Bind and serve; the port is known once this returns."""
        if self.router is None:
            self.router = FlightSqlRouter(self, self._location, **self._router_options)
        return self

    @property
    def port(self) -> int:
        """The port the router listens on."""
        if self.router is None:
            raise RuntimeError("the service is not serving: call start() first")
        return self.router.port

    def shutdown(self) -> None:
        """Stop serving (a service that is not serving is left as it is)."""
        router, self.router = self.router, None
        if router is not None:
            router.shutdown()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.shutdown()
