"""``dev/docker-compose.yml`` describes the topology ``dev/cluster`` runs: no Docker engine runs in CI,
so the file is checked, not run. Same roles, same ``spark.flight.*`` keys, two Flight SQL nodes in one
ZooKeeper membership on one shared metastore and warehouse, healthchecks, ports for host clients.
"""

from __future__ import annotations

import importlib.util
import itertools
import re
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
DEV = ROOT / "dev"
COMPOSE = DEV / "docker-compose.yml"
NODES = ("node-a", "node-b")
WORKERS = ("worker-1", "worker-2")
SPARK_SERVICES = ("spark-master", *WORKERS, *NODES)


def load_dev_cluster() -> ModuleType:
    """``dev/cluster.py`` as a module (it is a script, not a package)."""
    spec = importlib.util.spec_from_file_location("dev_cluster", DEV / "cluster.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("dev_cluster", module)  # dataclasses look their module up by name
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    return yaml.safe_load(COMPOSE.read_text())


@pytest.fixture(scope="module")
def services(compose: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return compose["services"]


@pytest.fixture(scope="module")
def dev_cluster() -> ModuleType:
    return load_dev_cluster()


def conf_of(command: list[str]) -> dict[str, str]:
    """The ``--conf KEY=VALUE`` pairs of a ``spark-flight-sql serve`` command."""
    conf = {}
    for flag, value in itertools.pairwise(command):
        if flag == "--conf":
            key, _, setting = value.partition("=")
            conf[key] = setting
    return conf


def option(command: list[str], name: str) -> str:
    return command[command.index(name) + 1]


def published(service: dict[str, Any]) -> dict[int, int]:
    """Container port -> host port of a service's ``ports``."""
    mapping = {}
    for entry in service.get("ports", []):
        host, container = str(entry).rsplit(":", 1)[-2:]
        mapping[int(container)] = int(host)
    return mapping


def mounts(service: dict[str, Any]) -> dict[str, str]:
    """Mount point -> named volume of a service's ``volumes``."""
    return {target: source for source, target in (str(v).split(":")[:2] for v in service.get("volumes", []))}


def dev_node_conf(dev_cluster: ModuleType, node_id: str) -> dict[str, str]:
    settings = dev_cluster.Settings.from_env({"DEV_CLUSTER_DIR": "/tmp/dev-cluster-compose-check"})
    return dev_cluster.node_conf(settings, node_id)


def test_the_services_are_dev_clusters_processes_plus_postgres(services, dev_cluster) -> None:
    roles = ["zookeeper", "spark-master", *dev_cluster.WORKERS, "metastore", *dev_cluster.NODE_IDS]
    assert sorted(services) == sorted([*roles, "postgres"])
    assert tuple(dev_cluster.NODE_IDS) == NODES


def test_images_are_the_expected_ones(services) -> None:
    assert services["zookeeper"]["image"] == "zookeeper:3.9"
    assert services["postgres"]["image"] == "postgres:16"
    metastore_dockerfile = (DEV / services["metastore"]["build"]["dockerfile"]).read_text()
    assert re.search(r"^FROM apache/hive:4\.0\.0$", metastore_dockerfile, re.MULTILINE)
    for name in SPARK_SERVICES:
        build = services[name]["build"]
        assert (DEV / build["context"] / build["dockerfile"]).resolve() == DEV / "Dockerfile"
    dockerfile = (DEV / "Dockerfile").read_text()
    assert re.search(r"^FROM python:3\.11-slim", dockerfile, re.MULTILINE)
    assert "openjdk-17-jre-headless" in dockerfile and "pip install --no-cache-dir ." in dockerfile


def test_every_service_has_a_healthcheck_and_waits_for_what_it_needs(services) -> None:
    for name, service in services.items():
        assert service.get("healthcheck", {}).get("test"), f"{name} has no healthcheck"
    assert services["metastore"]["depends_on"]["postgres"]["condition"] == "service_healthy"
    for worker in WORKERS:
        assert services[worker]["depends_on"]["spark-master"]["condition"] == "service_healthy"
    for node in NODES:
        needs = services[node]["depends_on"]
        assert sorted(needs) == sorted(["zookeeper", "metastore", *WORKERS])
        assert {need["condition"] for need in needs.values()} == {"service_healthy"}


def test_the_metastore_runs_on_postgres(services) -> None:
    env = services["metastore"]["environment"]
    assert env["SERVICE_NAME"] == "metastore" and env["DB_DRIVER"] == "postgres"
    opts = dict(item.removeprefix("-D").partition("=")[::2] for item in env["SERVICE_OPTS"].split())
    postgres = services["postgres"]["environment"]
    assert (
        opts["javax.jdo.option.ConnectionURL"] == f"jdbc:postgresql://postgres:5432/{postgres['POSTGRES_DB']}"
    )
    assert opts["javax.jdo.option.ConnectionUserName"] == postgres["POSTGRES_USER"]
    assert opts["javax.jdo.option.ConnectionPassword"] == postgres["POSTGRES_PASSWORD"]
    assert published(services["metastore"]) == {9083: 9083}


def test_spark_runs_a_master_and_two_one_core_workers_like_dev_cluster(services) -> None:
    master = services["spark-master"]["command"]
    assert master[:2] == ["spark-class", "org.apache.spark.deploy.master.Master"]
    master_url = f"spark://spark-master:{option(master, '--port')}"
    for worker in WORKERS:
        command = services[worker]["command"]
        assert command[:3] == ["spark-class", "org.apache.spark.deploy.worker.Worker", master_url]
        assert (option(command, "--cores"), option(command, "--memory")) == ("1", "1g")
    for node in NODES:
        assert option(services[node]["command"], "--master") == master_url


def test_the_nodes_have_dev_clusters_flight_keys(services, dev_cluster) -> None:
    for node in NODES:
        compose_conf = conf_of(services[node]["command"])
        local_conf = dev_node_conf(dev_cluster, node)
        flight_keys = {key for key in local_conf if key.startswith("spark.flight.")}
        assert {key for key in compose_conf if key.startswith("spark.flight.")} == flight_keys
        for key in (
            "spark.flight.manager",
            "spark.flight.manager.zookeeper.membershipPath",
            "spark.flight.node.id",
            "spark.sql.catalogImplementation",
            "spark.cores.max",
            "spark.executor.cores",
            "spark.executor.memory",
            "spark.app.name",
        ):
            assert compose_conf[key] == local_conf[key], key
        assert compose_conf["spark.flight.manager"] == "zookeeper"
        assert compose_conf["spark.flight.node.id"] == node


def test_both_nodes_share_zookeeper_path_metastore_and_warehouse(services) -> None:
    confs = [conf_of(services[node]["command"]) for node in NODES]
    for key in (
        "spark.flight.manager.zookeeper.url",
        "spark.flight.manager.zookeeper.membershipPath",
        "spark.hadoop.hive.metastore.uris",
        "spark.sql.warehouse.dir",
    ):
        assert len({conf[key] for conf in confs}) == 1, key
    conf = confs[0]
    zookeeper_port = published(services["zookeeper"])
    assert conf["spark.flight.manager.zookeeper.url"] == f"zookeeper:{next(iter(zookeeper_port))}"
    assert conf["spark.hadoop.hive.metastore.uris"] == "thrift://metastore:9083"
    warehouse = conf["spark.sql.warehouse.dir"].removeprefix("file://")
    opts = services["metastore"]["environment"]["SERVICE_OPTS"]
    assert f"-Dmetastore.warehouse.dir={warehouse}" in opts
    # Executors write tables: every worker, node and the metastore see the same volume there.
    for name in ("metastore", *WORKERS, *NODES):
        assert mounts(services[name]).get(warehouse) == "warehouse", name
    for name in (*WORKERS, *NODES):
        assert mounts(services[name]).get("/data/staging") == "staging", name


def test_each_node_is_reachable_from_the_host_where_it_says_it_is(services) -> None:
    ports = set()
    for node in NODES:
        conf = conf_of(services[node]["command"])
        port = int(conf["spark.flight.port"])
        assert published(services[node]).get(port) == port, "endpoint locations carry the container's port"
        assert conf["spark.flight.host"] == "0.0.0.0"
        # A node bound to all interfaces refuses to start without an explicit authentication mode.
        assert conf["spark.flight.auth"] == "${SFS_AUTH:-none}"
        assert conf["spark.flight.public.host"] == "${SFS_PUBLIC_HOST:-127.0.0.1}"
        # Executors in the workers' containers push to the node by its service name.
        assert conf["spark.flight.internal.host"] == node == services[node]["hostname"]
        assert conf["spark.driver.host"] == node
        ports |= {port, int(conf["spark.flight.internal.port"])}
    assert len(ports) == 4


def test_the_image_excludes_everything_but_the_package(services) -> None:
    lines = (DEV / "Dockerfile.dockerignore").read_text().splitlines()
    ignore = [line.strip() for line in lines if line.strip() and not line.startswith("#")]
    assert ignore[0] == "**" and "!flightsql/**" in ignore and "!pyproject.toml" in ignore
