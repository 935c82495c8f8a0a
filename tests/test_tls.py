"""TLS: nodes serve Flight SQL and take executors' pushes over TLS; mutual TLS on the public port.

A TLS node (local manager; its certificate file is the chain that ends with the CA, and executors
trust it by default), and a two-node ZooKeeper cluster requiring client certificates (mutual TLS)
whose executors trust the CA named by ``spark.flight.tls.caFile``.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlparse

import adbc_driver_flightsql.dbapi
import adbc_driver_manager
import pyarrow.flight as flight
import pytest
from support.certificates import Certificates, make_certificates
from support.cluster import assert_every_node_serves_a_share, cluster_conf, statement, wait_for_members
from support.server import ServerProcess, start_server

from spark_flight_sql.datasource.options import OptionError, parse_options
from spark_flight_sql.flightmanager.config import FlightConfig

ROOT_CERTS = "adbc.flight.sql.client_option.tls_root_certs"
CLIENT_CERT = "adbc.flight.sql.client_option.mtls_cert_chain"
CLIENT_KEY = "adbc.flight.sql.client_option.mtls_private_key"
DISTRIBUTED = "SELECT id, concat('v', id) AS label FROM range(0, 100000, 1, 4)"  # over single.maxRows: pushed
CALL = flight.FlightCallOptions(timeout=30)


@pytest.fixture(scope="module")
def certs(tmp_path_factory: pytest.TempPathFactory) -> Certificates:
    return make_certificates(tmp_path_factory.mktemp("certificates"))


@pytest.fixture(scope="module")
def tls_node(certs: Certificates) -> Iterator[ServerProcess]:
    """A TLS node; no spark.flight.tls.caFile, so executors trust its certificate file."""
    node = start_server(
        "--conf",
        "spark.flight.tls.enabled=true",
        "--conf",
        f"spark.flight.tls.certFile={certs.server_chain}",
        "--conf",
        f"spark.flight.tls.keyFile={certs.server_key}",
        demo=False,
    )
    yield node
    assert node.stop() == 0, "\n".join(node.lines[-40:])


@pytest.fixture(scope="module")
def mtls_pair(zookeeper, certs: Certificates) -> Iterator[list[ServerProcess]]:
    """Two nodes of a ZooKeeper cluster, TLS with client certificates required."""
    root = f"/test-tls-{uuid.uuid4().hex[:8]}"
    tls = (
        "--conf",
        "spark.flight.tls.enabled=true",
        "--conf",
        f"spark.flight.tls.certFile={certs.server_cert}",
        "--conf",
        f"spark.flight.tls.keyFile={certs.server_key}",
        "--conf",
        f"spark.flight.tls.caFile={certs.ca}",
        "--conf",
        f"spark.flight.tls.clientCaFile={certs.ca}",
    )
    nodes: list[ServerProcess] = []
    try:
        for index in (1, 2):
            nodes.append(start_server(*cluster_conf(zookeeper.url, root, f"tls-{index}", *tls), demo=False))
        wait_for_members(zookeeper.url, root, 2)
        yield nodes
    finally:
        codes = [node.stop() for node in nodes]
        assert codes == [0] * len(nodes), "\n".join(line for node in nodes for line in node.lines[-30:])


def internal_location(node: ServerProcess) -> str:
    """The node's internal location, from its log line."""
    line = node.wait_for_line("internal server on ", timeout=10)
    return line.rsplit("internal server on ", 1)[1].strip()


def tls_client(location: str, certs: Certificates, *, client_cert: bool = False) -> flight.FlightClient:
    options: dict[str, bytes] = {"tls_root_certs": certs.pem("ca")}
    if client_cert:
        options.update(cert_chain=certs.pem("client_cert"), private_key=certs.pem("client_key"))
    return flight.FlightClient(location, **options)


def adbc_kwargs(certs: Certificates, *, client: str | None = None) -> dict[str, str]:
    kwargs = {ROOT_CERTS: certs.pem("ca").decode()}
    if client is not None:
        kwargs[CLIENT_CERT] = certs.pem(f"{client}_cert").decode()
        kwargs[CLIENT_KEY] = certs.pem(f"{client}_key").decode()
    return kwargs


# ---- one TLS node ------------------------------------------------------------------------------


def test_adbc_reads_a_distributed_result_pushed_over_tls(
    tls_node: ServerProcess, certs: Certificates
) -> None:
    assert tls_node.location.startswith("grpc+tls://127.0.0.1:")
    internal = internal_location(tls_node)
    assert internal.startswith("grpc+tls://127.0.0.1:")
    with adbc_driver_flightsql.dbapi.connect(
        tls_node.location, db_kwargs=adbc_kwargs(certs), autocommit=True
    ) as conn:
        with conn.cursor() as cursor:
            cursor.execute(DISTRIBUTED)
            table = cursor.fetch_arrow_table()
    assert sorted(table.column("id").to_pylist()) == list(range(100_000))
    assert table.column("label")[7].as_py() == f"v{table.column('id')[7].as_py()}"
    # The executors' pushes reached an internal server that speaks nothing but TLS.
    plain = f"grpc://{urlparse(internal).netloc}"
    with flight.FlightClient(plain) as client, pytest.raises(flight.FlightUnavailableError):
        client.do_put(flight.FlightDescriptor.for_command(b"{}"), table.schema, CALL)[0].close()


def test_flight_info_locations_are_grpc_tls(tls_node: ServerProcess, certs: Certificates) -> None:
    with tls_client(tls_node.location, certs) as client:
        info = client.get_flight_info(statement(DISTRIBUTED), CALL)
        assert [e.locations[0].uri.decode() for e in info.endpoints] == [tls_node.location]
        rows = sum(client.do_get(e.ticket, CALL).read_all().num_rows for e in info.endpoints)
    assert rows == 100_000


def test_plaintext_and_untrusting_clients_are_refused(tls_node: ServerProcess, certs: Certificates) -> None:
    plain = tls_node.location.replace("grpc+tls://", "grpc://")
    with flight.FlightClient(plain) as client, pytest.raises(flight.FlightUnavailableError):
        client.get_flight_info(statement("SELECT 1"), CALL)
    with flight.FlightClient(tls_node.location, tls_root_certs=certs.pem("other_ca")) as client:
        with pytest.raises(flight.FlightUnavailableError):
            client.get_flight_info(statement("SELECT 1"), CALL)
    with adbc_driver_flightsql.dbapi.connect(plain, autocommit=True) as conn, conn.cursor() as cursor:
        with pytest.raises(adbc_driver_manager.OperationalError):
            cursor.execute("SELECT 1")


def test_the_data_source_reads_from_a_tls_node(spark, tls_node: ServerProcess, certs: Certificates) -> None:
    from spark_flight_sql import datasource

    datasource.register(spark)
    df = (
        spark.read.format("flightsql")
        .option("uri", tls_node.location)
        .option("tls_root_certs", str(certs.ca))
        .option("query", DISTRIBUTED)
        .load()
    )
    assert df.count() == 100_000


# ---- mutual TLS, and a cluster -------------------------------------------------------------------


def test_a_tls_cluster_with_client_certificates_serves_both_endpoints(
    mtls_pair: list[ServerProcess], certs: Certificates
) -> None:
    locations = [node.location for node in mtls_pair]
    assert all(location.startswith("grpc+tls://") for location in locations)
    kwargs = adbc_kwargs(certs, client="client")
    with adbc_driver_flightsql.dbapi.connect(locations[0], db_kwargs=kwargs, autocommit=True) as conn:
        ids = assert_every_node_serves_a_share(conn, "SELECT id FROM range(0, 100000, 1, 8)", locations)
    assert sorted(ids) == list(range(100_000))


def test_a_tls_node_relays_the_other_node_s_share_over_tls(
    mtls_pair: list[ServerProcess], certs: Certificates
) -> None:
    """Every ticket sent to tls-1: it relays tls-2's share from tls-2's internal TLS port, trusting
    spark.flight.tls.caFile (test_relay.py has the rest of relays)."""
    with tls_client(mtls_pair[0].location, certs, client_cert=True) as client:
        info = client.get_flight_info(statement("SELECT id FROM range(0, 100000, 1, 8)"), CALL)
        assert len(info.endpoints) == 2
        shares = [client.do_get(e.ticket, CALL).read_all().column("id").to_pylist() for e in info.endpoints]
    assert all(shares) and sorted(i for share in shares for i in share) == list(range(100_000))


@pytest.mark.parametrize(
    "client", [None, "other_client"], ids=["no-client-certificate", "certificate-of-another-ca"]
)
def test_mutual_tls_refuses_clients_without_a_trusted_certificate(
    mtls_pair: list[ServerProcess], certs: Certificates, client: str | None
) -> None:
    location = mtls_pair[1].location
    with adbc_driver_flightsql.dbapi.connect(
        location, db_kwargs=adbc_kwargs(certs, client=client), autocommit=True
    ) as conn:
        with conn.cursor() as cursor, pytest.raises(adbc_driver_manager.OperationalError):
            cursor.execute("SELECT 1")
    options: dict[str, bytes] = {"tls_root_certs": certs.pem("ca")}
    if client is not None:
        options.update(cert_chain=certs.pem(f"{client}_cert"), private_key=certs.pem(f"{client}_key"))
    with (
        flight.FlightClient(location, **options) as plain_client,
        pytest.raises(flight.FlightUnavailableError),
    ):
        plain_client.get_flight_info(statement("SELECT 1"), CALL)
    with tls_client(location, certs, client_cert=True) as trusted:  # the same call with a good certificate
        info = trusted.get_flight_info(statement("SELECT 1 AS one"), CALL)
        assert [
            trusted.do_get(e.ticket, CALL).read_all().column("one").to_pylist() for e in info.endpoints
        ] == [[1]]


def test_the_data_source_reads_a_mutual_tls_cluster(
    spark, mtls_pair: list[ServerProcess], certs: Certificates
) -> None:
    from pyspark.sql import functions as sf

    from spark_flight_sql import datasource

    datasource.register(spark)
    df = (
        spark.read.format("flightsql")
        .option("uri", mtls_pair[0].location)
        .option("tls_root_certs", str(certs.ca))
        .option("tls_cert_chain", str(certs.client_cert))
        .option("tls_private_key", str(certs.client_key))
        .option("query", "SELECT id FROM range(0, 50000, 1, 4)")
        .load()
    )
    stats = (
        df.withColumn("p", sf.spark_partition_id())
        .agg(sf.count("*").alias("n"), sf.count_distinct("p").alias("parts"))
        .collect()[0]
    )
    assert (stats.n, stats.parts) == (50_000, 2)


# ---- settings ------------------------------------------------------------------------------------


def tls_conf(certs: Certificates, **overrides: str | None) -> dict[str, str]:
    conf: dict[str, str | None] = {
        "spark.flight.tls.enabled": "true",
        "spark.flight.tls.certFile": str(certs.server_cert),
        "spark.flight.tls.keyFile": str(certs.server_key),
        **{f"spark.flight.tls.{key}": value for key, value in overrides.items()},
    }
    return {key: value for key, value in conf.items() if value is not None}


def test_tls_settings(certs: Certificates) -> None:
    config = FlightConfig.from_conf(tls_conf(certs))
    assert config.location("127.0.0.1", 1) == "grpc+tls://127.0.0.1:1"
    assert config.push_root_certs == certs.pem("server_cert")  # the default: the node's certificate file
    assert config.server_tls_options(public=True) == {
        "tls_certificates": [(certs.pem("server_cert"), certs.pem("server_key"))]
    }
    assert "PRIVATE KEY" not in repr(config)
    mutual = FlightConfig.from_conf(tls_conf(certs, caFile=str(certs.ca), clientCaFile=str(certs.ca)))
    assert mutual.push_root_certs == certs.pem("ca")
    assert mutual.server_tls_options(public=True)["verify_client"] is True
    assert "verify_client" not in mutual.server_tls_options(public=False)  # executors show no certificate
    assert FlightConfig.from_conf({}).location("::1", 2) == "grpc://[::1]:2"


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"keyFile": None}, r"spark.flight.tls.enabled=true needs spark.flight.tls.keyFile"),
        (
            {"certFile": None, "keyFile": None},
            r"needs spark.flight.tls.certFile and spark.flight.tls.keyFile",
        ),
        (
            {"certFile": "/nonexistent/cert.pem"},
            r"spark.flight.tls.certFile: cannot read /nonexistent/cert.pem",
        ),
        ({"keyFile": "CLIENT_KEY"}, r"are not a certificate and its unencrypted private key"),
        ({"caFile": "NOT_PEM"}, r"spark.flight.tls.caFile: .* is not a PEM file"),
        ({"clientCaFile": "KEY_AS_CA"}, r"spark.flight.tls.clientCaFile: .* holds no usable certificate"),
        ({"enabled": "false"}, r"set but spark.flight.tls.enabled is false"),
        ({"enabled": "maybe"}, r"spark.flight.tls.enabled must be true or false"),
    ],
)
def test_bad_tls_settings_name_the_key(
    certs: Certificates, tmp_path: Path, overrides: dict[str, str | None], message: str
) -> None:
    not_pem = tmp_path / "not.pem"
    not_pem.write_text("hello")
    stand_ins = {
        "CLIENT_KEY": str(certs.client_key),
        "NOT_PEM": str(not_pem),
        "KEY_AS_CA": str(certs.server_key),
    }
    conf = tls_conf(
        certs, **{key: stand_ins.get(value, value) if value else value for key, value in overrides.items()}
    )
    with pytest.raises(ValueError, match=message):
        FlightConfig.from_conf(conf)


def test_the_data_source_needs_both_halves_of_a_client_certificate(certs: Certificates) -> None:
    with pytest.raises(OptionError, match="'tls_cert_chain' and 'tls_private_key' go together"):
        parse_options({"uri": "grpc+tls://127.0.0.1:1", "tls_cert_chain": str(certs.client_cert)})
    options = parse_options(
        {
            "uri": "grpc+tls://127.0.0.1:1",
            "tls_cert_chain": str(certs.client_cert),
            "tls_private_key": str(certs.client_key),
        }
    )
    assert options.tls_private_key == certs.pem("client_key")
    assert "PRIVATE KEY" not in repr(options)
