"""Helpers shared by the tests: waiting on conditions, child processes, nodes and clusters, Flight calls.

Test modules import from here (``from support.cluster import start_cluster``), never from each other;
``tests/conftest.py`` turns what needs a lifetime (a node, ZooKeeper, a SparkSession) into fixtures.
"""

from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent.parent
"""The repository's root folder."""
