"""The cluster secret a ``zookeeper`` cluster keeps at ``<root>/secret`` when none is configured."""

from __future__ import annotations

import logging
import secrets

from kazoo.client import KazooClient
from kazoo.exceptions import NodeExistsError

from spark_flight_sql.flightmanager.errors import FlightManagerError

__all__ = ["SECRET_BYTES", "shared_secret"]

log = logging.getLogger(__name__)

SECRET_BYTES = 32


def shared_secret(zk: KazooClient, root: str, node_id: str) -> bytes:
    """The cluster's shared secret at ``<root>/secret``: the first node to get here creates it
    (random, 32 bytes), every node reads back the one that won. Both steps are idempotent and run
    under kazoo's retry.

    The znode carries ZooKeeper's default open ACL: any client of this ZooKeeper can read it.
    Nodes share no credential before they share this secret, so no ACL could let them in and
    keep others out; a cluster whose ZooKeeper is reachable by others sets
    ``spark.flight.auth.secret`` or ``spark.flight.auth.secretFile`` instead.
    """
    path = f"{root}/secret"
    try:
        zk.retry(zk.create, path, secrets.token_bytes(SECRET_BYTES), makepath=True)
        log.info("node %s created the cluster secret at %s", node_id, path)
    except NodeExistsError:
        pass  # another node was first: its secret stands
    data, _ = zk.retry(zk.get, path)
    if len(data) < SECRET_BYTES:
        raise FlightManagerError(f"the cluster secret at {path} in ZooKeeper is shorter than 32 bytes")
    return bytes(data)
