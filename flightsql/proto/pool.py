"""The descriptor pool of this package's protobuf messages.

The generated modules register their files here rather than in protobuf's default pool, so
that another package compiling the same ``.proto`` files (under its own file name) can be
imported in the same process. Messages from this pool pack into and unpack from
``google.protobuf.Any`` like any other: the type URL is the message's full name.
"""

from __future__ import annotations

from google.protobuf import descriptor_pool

POOL = descriptor_pool.DescriptorPool()
"""Holds ``FlightSql.proto`` and ``FlightSession.proto``; nothing else is added to it."""
