"""What calls into a node's internal server look like on the wire: their headers and descriptor.

Two calls get in (see :mod:`~spark_flight_sql.flightmanager.internal_server`): a *push* (DoPut of
one partition attempt, from an executor) and a *relay* (DoGet of the node's share of a result, from
another node whose client sent it that share's ticket: :mod:`~spark_flight_sql.flightmanager.relay`).
Each carries the query id and a per-query secret derived from the cluster secret, a different
derivation for each (a push secret opens no relay, a relay secret no push).

Shared by the executor side (:mod:`spark_flight_sql.flightmanager.push`, which sends pushes) and the
node side (:mod:`spark_flight_sql.flightmanager.internal_server`, which receives them), so that the
executor side imports nothing of the server, the result store or the manager.

Secrets travel in headers, not in the descriptor or ticket, so that they never appear in anything a
handler logs or stores.
"""

from __future__ import annotations

import json

import pyarrow.flight as flight

from spark_flight_sql.flightmanager.errors import PushRejectedError

__all__ = [
    "PUSH_QUERY_HEADER",
    "PUSH_SECRET_HEADER",
    "RELAY_QUERY_HEADER",
    "RELAY_SECRET_HEADER",
    "PushDescriptor",
    "push_headers",
    "relay_headers",
]

PUSH_QUERY_HEADER = "x-spark-flight-push-query"
"""Call header naming the query a push is for (text)."""
PUSH_SECRET_HEADER = "x-spark-flight-push-secret"
"""Call header carrying the query's push secret, hex-encoded."""
RELAY_QUERY_HEADER = "x-spark-flight-relay-query"
"""Call header naming the query whose share a relay reads (text)."""
RELAY_SECRET_HEADER = "x-spark-flight-relay-secret"
"""Call header carrying the query's relay secret, hex-encoded."""


def push_headers(query_id: str, secret: bytes) -> list[tuple[bytes, bytes]]:
    """The call headers of a push into ``query_id`` with its push ``secret`` (bytes: pyarrow's
    FlightCallOptions refuses str)."""
    return [
        (PUSH_QUERY_HEADER.encode(), query_id.encode()),
        (PUSH_SECRET_HEADER.encode(), secret.hex().encode()),
    ]


def relay_headers(query_id: str, secret: bytes) -> list[tuple[bytes, bytes]]:
    """The call headers of a relay of ``query_id``'s share with its relay ``secret``."""
    return [
        (RELAY_QUERY_HEADER.encode(), query_id.encode()),
        (RELAY_SECRET_HEADER.encode(), secret.hex().encode()),
    ]


class PushDescriptor:
    """The DoPut descriptor of one pushed partition attempt (no secret: that travels in a header)."""

    __slots__ = ("attempt", "partition", "query_id")

    def __init__(self, query_id: str, partition: int, attempt: int) -> None:
        self.query_id = query_id
        self.partition = partition
        self.attempt = attempt

    def to_descriptor(self) -> flight.FlightDescriptor:
        """Encode as a command descriptor."""
        body = {"q": self.query_id, "p": self.partition, "a": self.attempt}
        return flight.FlightDescriptor.for_command(json.dumps(body, separators=(",", ":")))

    @classmethod
    def from_descriptor(cls, descriptor: flight.FlightDescriptor) -> PushDescriptor:
        """Decode, rejecting anything that is not a push descriptor."""
        if descriptor.descriptor_type != flight.DescriptorType.CMD or descriptor.command is None:
            raise PushRejectedError("the internal server takes only pushes of query partitions")
        try:
            body = json.loads(descriptor.command)
            return cls(str(body["q"]), int(body["p"]), int(body["a"]))
        except (ValueError, TypeError, KeyError):
            raise PushRejectedError("the internal server takes only pushes of query partitions") from None
