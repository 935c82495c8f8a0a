"""ZooKeeper's errors as a status, beside the ZooKeeper code that meets them.

=====================================================  ============
exception                                              status
=====================================================  ============
ZooKeeper unreachable: any ``kazoo.exceptions``        UNAVAILABLE
KazooException, ``kazoo.retry.RetryFailedError``
(kazoo's retries spent)
=====================================================  ============

kazoo is looked up in ``sys.modules`` only (an exception can only be kazoo's when kazoo is
loaded), so importing this module never imports kazoo: the executor side and the front end's
protocol layer stay free of it.
"""

from __future__ import annotations

import sys

from spark_flight_sql.flightmanager.status import Status

__all__ = ["kazoo_status"]


def kazoo_status(exc: BaseException) -> Status | None:
    """UNAVAILABLE for a kazoo error (ZooKeeper unreachable, retries spent), else None."""
    exceptions = sys.modules.get("kazoo.exceptions")
    if exceptions is not None and isinstance(exc, exceptions.KazooException):
        return Status.UNAVAILABLE
    retry = sys.modules.get("kazoo.retry")
    if retry is not None and isinstance(exc, retry.RetryFailedError):
        return Status.UNAVAILABLE
    return None
