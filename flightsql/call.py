"""One Flight call as a handler sees it: who makes it, from where, and whether it still runs.

The router builds one :class:`Call` per RPC (through its service's ``new_call``) and passes it to
the handler, so that no handler derives these again from pyarrow's ``ServerCallContext``. Each
value is worked out the first time it is asked for and kept for the rest of the call.
"""

from __future__ import annotations

from functools import cached_property

import pyarrow.flight as flight

from spark_flight_sql.flightsql.auth.base import ANONYMOUS, Identity
from spark_flight_sql.flightsql.auth.middleware import MIDDLEWARE_KEY, AuthMiddleware

__all__ = ["Call"]


class Call:
    """The per-call request: the caller's identity and address, and the pyarrow context beneath."""

    def __init__(self, context: flight.ServerCallContext) -> None:
        self.context = context
        """pyarrow's context of the call (for the call's middleware and for result streams)."""

    @cached_property
    def identity(self) -> Identity:
        """Who makes the call (``anonymous`` when no authentication middleware runs)."""
        middleware = self.context.get_middleware(MIDDLEWARE_KEY)
        return middleware.identity if isinstance(middleware, AuthMiddleware) else ANONYMOUS

    @property
    def user(self) -> str:
        """The caller's user name."""
        return self.identity.user

    @cached_property
    def peer(self) -> str:
        """The caller's address as gRPC names it (``ipv4:127.0.0.1:5000``), empty if unknown."""
        return self.context.peer() or ""

    def is_cancelled(self) -> bool:
        """Whether the client has gone away or cancelled the call."""
        return bool(self.context.is_cancelled())
