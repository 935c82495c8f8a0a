"""The plain values the FlightManager passes around: nodes, query states and outcomes, time limits,
tickets."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from enum import Enum

from spark_flight_sql.flightmanager.errors import UnknownTicketError


class QueryState(str, Enum):
    """Where a distributed query is in its life."""

    RUNNING = "RUNNING"
    FINISHED = "FINISHED"
    FAILED = "FAILED"
    CANCELLED = "CANCELLED"

    @property
    def terminal(self) -> bool:
        """Whether the query can change state no more."""
        return self is not QueryState.RUNNING


@dataclass(frozen=True)
class Outcome:
    """A query's terminal state, as recorded so that every serving node ends its stream accordingly.

    ``error`` and ``status`` say why it FAILED (or was CANCELLED); ``attempts`` (FINISHED only) maps
    each node to the (partition, attempt) pairs it serves.
    """

    state: QueryState
    error: str | None = None
    attempts: dict[str, list[tuple[int, int]]] = field(default_factory=dict)
    status: str | None = None


@dataclass(frozen=True)
class TimeLimit:
    """How long a query's job may run, and what its readers are told when it runs longer.

    When ``seconds`` have passed since the job started and it still runs, the query fails with
    DEADLINE_EXCEEDED and ``message`` on every serving node and its job is cancelled. A finished
    result is not timed: reading it takes as long as its readers take.
    """

    seconds: float
    message: str


@dataclass(frozen=True)
class NodeInfo:
    """One node of the cluster: where clients reach it, where executors push to it, and its host."""

    node_id: str
    public_location: str
    internal_location: str
    host: str


@dataclass(frozen=True)
class NodeTicket:
    """What a DoGet ticket names: one node's share of one query's result, and for how many seconds
    the node keeps that share for reading again once it was read whole (``keep_for``; None: it is
    served once)."""

    query_id: str
    node_id: str
    keep_for: float | None = None

    def encode(self) -> bytes:
        """The ticket bytes handed to clients."""
        fields: dict[str, object] = {"q": self.query_id, "n": self.node_id}
        if self.keep_for is not None:
            fields["k"] = self.keep_for
        return json.dumps(fields, separators=(",", ":")).encode()

    @classmethod
    def decode(cls, data: bytes) -> NodeTicket:
        """Parse ticket bytes; anything that is not a ticket of ours is an unknown ticket."""
        try:
            fields = json.loads(data)
            ticket = cls(query_id=fields["q"], node_id=fields["n"], keep_for=fields.get("k"))
        except (ValueError, TypeError, KeyError, AttributeError, RecursionError):
            raise UnknownTicketError("the ticket is not a ticket issued by this server") from None
        keep_for = ticket.keep_for
        if (
            not isinstance(ticket.query_id, str)
            or not isinstance(ticket.node_id, str)
            or not (keep_for is None or (type(keep_for) in (int, float) and 0 < keep_for < 1e9))
        ):
            raise UnknownTicketError("the ticket is not a ticket issued by this server")
        return ticket


@dataclass(frozen=True)
class Endpoint:
    """One endpoint of a distributed result: the raw ticket and the serving node's public location."""

    ticket: bytes
    location: str
    node_id: str
