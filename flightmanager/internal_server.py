"""The internal Flight server of a node: it takes the Arrow batches that executors push, and nothing else."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from typing import Any

import pyarrow.flight as flight

from flightmanager.errors import PushRejectedError, to_flight_error
from flightmanager.results import ResultStore

log = logging.getLogger(__name__)


class PushDescriptor:
    """The DoPut descriptor of one pushed partition attempt."""

    __slots__ = ("query_id", "secret", "partition", "attempt")

    def __init__(self, query_id: str, secret: bytes, partition: int, attempt: int) -> None:
        self.query_id = query_id
        self.secret = secret
        self.partition = partition
        self.attempt = attempt

    def to_descriptor(self) -> flight.FlightDescriptor:
        """Encode as a command descriptor."""
        body = {"q": self.query_id, "s": self.secret.hex(), "p": self.partition, "a": self.attempt}
        return flight.FlightDescriptor.for_command(json.dumps(body, separators=(",", ":")))

    @classmethod
    def from_descriptor(cls, descriptor: flight.FlightDescriptor) -> PushDescriptor:
        """Decode, rejecting anything that is not a push descriptor."""
        if descriptor.descriptor_type != flight.DescriptorType.CMD:
            raise PushRejectedError("the internal server takes only pushes of query partitions")
        try:
            body = json.loads(descriptor.command)
            return cls(str(body["q"]), bytes.fromhex(body["s"]), int(body["p"]), int(body["a"]))
        except (ValueError, TypeError, KeyError):
            raise PushRejectedError("the internal server takes only pushes of query partitions") from None


class InternalFlightServer(flight.FlightServerBase):
    """Receives one DoPut stream per partition attempt and hands it to the node's :class:`ResultStore`."""

    def __init__(
        self, location: str, store: ResultStore, ensure_query: Callable[[str], None] | None = None, **kwargs: Any
    ) -> None:
        """``ensure_query(query_id)`` is called before each push, so that a node that has not yet
        heard of a query from the cluster can load it first."""
        super().__init__(location, **kwargs)
        self._store = store
        self._ensure_query = ensure_query or (lambda query_id: None)

    def do_put(
        self,
        context: flight.ServerCallContext,
        descriptor: flight.FlightDescriptor,
        reader: flight.MetadataRecordBatchReader,
        writer: flight.FlightMetadataWriter,
    ) -> None:
        """Receive one attempt's batches; answer whether they were staged."""
        try:
            push = PushDescriptor.from_descriptor(descriptor)
            self._ensure_query(push.query_id)
            batches = (chunk.data for chunk in reader if chunk.data is not None)
            outcome = self._store.receive(
                push.query_id, push.secret, push.partition, push.attempt, batches, reader.schema
            )
            # A push the store turned away early (its result is released) is read to its end all
            # the same: ending the call under a writing executor would fail its task, and the job.
            for _ in batches:
                pass
            writer.write(json.dumps({"staged": outcome.staged, "rows": outcome.rows}).encode())
        except Exception as exc:  # noqa: BLE001 - every error leaves as a Flight status
            log.info("push refused: %s", exc)
            raise to_flight_error(exc) from None
