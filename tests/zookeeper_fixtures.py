"""A real ZooKeeper server for tests: ``from zookeeper_fixtures import zookeeper``.

Import the fixture into a test module or conftest; the server runs once per session.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from spark_flight_sql.flightsql.devtools.zookeeper import EmbeddedZooKeeper


@pytest.fixture(scope="session")
def zookeeper(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmbeddedZooKeeper]:
    """A started :class:`EmbeddedZooKeeper` on a free port for the whole session; ``.url`` is for kazoo."""
    server = EmbeddedZooKeeper(tmp_path_factory.mktemp("zookeeper"))
    server.start()
    try:
        yield server
    finally:
        server.stop()
