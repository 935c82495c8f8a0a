"""The one way calls go up to the manager: :class:`QueryEvents`, which the FlightManager implements.

Calls go down: the manager drives the result store, the Spark job and its coordination (the
``zookeeper`` manager's query registry and membership, which drive ZooKeeper), and ZooKeeper's
watches drive the query registry, which applies what the cluster decided to the store. Whatever
a lower layer must tell the manager goes through this protocol, which the manager passes down
explicitly (itself, or one of these bound methods) when it creates that layer:

==========================  ===============================  =======================================
called by                   method                           why
==========================  ===============================  =======================================
ResultStore (reader gone,   :meth:`result_abandoned`         this node's share is over, unread: the
idle or TTL, its reaper)                                     cluster must know (the owner cancels)
TaskSuccessListener         :meth:`task_succeeded`           Spark counted a push attempt: confirm it
InternalFlightServer        :meth:`query_needed`             a push arrived: load the query if the
                                                             node has not heard of it yet
QueryRegistry (zookeeper)   :meth:`cancel_job`,              the cluster gave the query up, or its
                            :meth:`share_over`               outcome ended this node's share
==========================  ===============================  =======================================
"""

from __future__ import annotations

from typing import Protocol

__all__ = ["QueryEvents"]


class QueryEvents(Protocol):
    """What the layers below the manager report to it (see the module docstring)."""

    def result_abandoned(self, query_id: str) -> None:
        """This node's share of ``query_id`` was given up before it was read to the end."""

    def task_succeeded(self, query_id: str, partition: int, attempt: int) -> None:
        """Spark counted this push attempt as successful."""

    def query_needed(self, query_id: str) -> None:
        """Make sure this node holds its share of ``query_id`` if the cluster knows the query."""

    def cancel_job(self, query_id: str, reason: str) -> bool:
        """Cancel the query's Spark job if it runs on this node; whether it did."""

    def share_over(self, query_id: str, *, abandoned: bool) -> None:
        """This node's share of ``query_id`` is over: read to the end, or abandoned."""
