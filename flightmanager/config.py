"""Node configuration, read from Spark conf keys so the same server also starts under spark-submit."""

from __future__ import annotations

import socket
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from enum import Enum
from typing import TypedDict


class EndpointsMode(str, Enum):
    """Where the endpoints of a result's FlightInfo point (``spark.flight.endpoints``)."""

    DIRECT = "direct"
    """Each endpoint at the public location of the node that serves it: clients read every node in
    parallel (the default)."""
    PROXY = "proxy"
    """Every endpoint at the public location of the node the client asked: for networks where clients
    reach one node only (Kubernetes, NAT: set ``spark.flight.public.host`` to the name they reach it
    by). That node relays the other nodes' shares from them; all of the result passes through it."""
    REUSE = "reuse"
    """Every endpoint at ``arrow-flight-reuse-connection://?``: clients that know this location (ADBC,
    pyarrow, the JDBC driver) read it over the connection they already have, whatever address that
    connection reached (a load balancer, a port forward); the node relays as in ``proxy``."""


class ConfKey(str, Enum):
    """Every Spark conf key the FlightManager reads, with its meaning."""

    HOST = "spark.flight.host"
    """Address the public Flight SQL server binds to (default 127.0.0.1)."""
    PORT = "spark.flight.port"
    """Public Flight SQL port (default 32010; 0 picks a free port)."""
    PUBLIC_HOST = "spark.flight.public.host"
    """Host advertised in endpoint locations (default: the bind address, or this host's name when
    binding to all interfaces)."""
    INTERNAL_HOST = "spark.flight.internal.host"
    """Address the internal server that receives pushed batches binds to (default: spark.flight.host)."""
    INTERNAL_PORT = "spark.flight.internal.port"
    """Internal Flight port receiving batches pushed by executors (default 32011; 0 picks a free port)."""
    MANAGER = "spark.flight.manager"
    """FlightManager implementation: ``local`` (single node, the default) or ``zookeeper``."""
    MAX_MESSAGE_BYTES = "spark.flight.batch.maxBytes"
    """Upper bound on one Arrow IPC message (record batch) sent to clients, in bytes (default 4 MiB;
    ADBC refuses messages over 16 MiB by default)."""
    CLIENT_MAX_MESSAGE_BYTES = "spark.flight.client.maxMessageBytes"
    """The largest message, in bytes, a node assumes a client accepts when the client does not say
    its own in the ``x-spark-flight-max-message-bytes`` call header (default 16 MiB, ADBC's): a
    result's batches are split by rows to fit it, and a single row that cannot fit ends the
    stream with INVALID_ARGUMENT naming its widest column. From 65536 to 2147483647."""
    RESULT_TTL = "spark.flight.result.ttl"
    """Seconds a result may wait for its reader before it is released (default 600)."""
    STREAM_TIMEOUT = "spark.flight.stream.timeout"
    """Seconds a reader may wait for the next batch of a running query before the stream fails
    (default 3600)."""
    ENDPOINTS = "spark.flight.endpoints"
    """Where a result's endpoints point: ``direct`` (each at the node that serves it; the default),
    ``proxy`` (every one at the node the client asked, which relays the other nodes' shares) or
    ``reuse`` (the reuse-connection location: the connection the client already has). A client
    session may choose its own with the session option ``endpoints``. Whatever the setting, a node
    given a ticket of another node's share relays it from that node."""
    NODE_ID = "spark.flight.node.id"
    """This node's id in the cluster (default: a random one at each start)."""
    ZOOKEEPER_URL = "spark.flight.manager.zookeeper.url"
    """ZooKeeper connection string (``host:port[,host:port...]``) for ``spark.flight.manager=zookeeper``."""
    ZOOKEEPER_PATH = "spark.flight.manager.zookeeper.membershipPath"
    """ZooKeeper path under which the cluster keeps membership and query metadata."""
    ZOOKEEPER_SESSION_TIMEOUT = "spark.flight.manager.zookeeper.sessionTimeout"
    """Seconds without contact after which ZooKeeper declares a node dead (default 10)."""
    BUFFER_MAX_BYTES = "spark.flight.buffer.maxBytes"
    """Bytes of pushed batches a node holds in memory; beyond it they spill to local disk as Arrow IPC
    (default 1 GiB)."""
    BUFFER_SPILL_DIR = "spark.flight.buffer.spillDir"
    """Folder for spilled batches (default: a fresh temporary folder)."""
    CLUSTER_SECRET = "spark.flight.auth.secret"
    """The cluster secret (at least 32 characters): it signs login tokens, tickets and prepared
    statement handles so that every node accepts what any node issued, and derives each query's push
    secret. Every node of a cluster needs the same one. Prefer ``spark.flight.auth.secretFile``: conf
    values show in Spark's UI and logs. Default: a random one per node (local manager), or one the
    cluster keeps in ZooKeeper (only allowed with ``spark.flight.auth=none``)."""
    CLUSTER_SECRET_FILE = "spark.flight.auth.secretFile"
    """A file holding the cluster secret (its content, surrounding whitespace removed)."""
    TLS_ENABLED = "spark.flight.tls.enabled"
    """``true`` serves both the public Flight SQL server and the internal push server over TLS
    (locations become ``grpc+tls://``); needs ``spark.flight.tls.certFile`` and
    ``spark.flight.tls.keyFile`` (default false)."""
    TLS_CERT_FILE = "spark.flight.tls.certFile"
    """PEM file with this node's certificate chain (its certificate first), used by both its public
    and internal servers. It must name the host clients connect to (``spark.flight.public.host``)
    and the host executors push to (``spark.flight.internal.host``)."""
    TLS_KEY_FILE = "spark.flight.tls.keyFile"
    """PEM file with the private key of ``spark.flight.tls.certFile`` (unencrypted)."""
    TLS_CLIENT_CA_FILE = "spark.flight.tls.clientCaFile"
    """PEM file of the certificates that sign client certificates: when set, the public server
    requires every client to present a certificate signed by one of them (mutual TLS). The internal
    server does not ask executors for one: pushes are authenticated by their per-query secret."""
    TLS_CA_FILE = "spark.flight.tls.caFile"
    """PEM file of the root certificates executors trust when they push to the nodes' internal
    servers (sent to them with each query, so executors need no file). Default:
    ``spark.flight.tls.certFile``: executors trust exactly the certificates in it, which is enough
    when every node serves that same certificate; when nodes have certificates of their own, set
    this to the CA that signs them all (the query's owner sends its own CA file to executors
    pushing to every node)."""
    PUSH_METHOD = "spark.flight.push.method"
    """How executors produce Arrow: ``auto`` (the JVM's conversion when the session has a JVM),
    ``jvm`` (Dataset.toArrowBatchRdd) or ``mapInArrow``."""
    STREAM_IDLE_TIMEOUT = "spark.flight.stream.idleTimeout"
    """Seconds a client may take nothing from a stream it is reading (it stopped reading, or vanished
    without closing its connection) before the node releases the result and cancels its job; the
    stream then ends with DEADLINE_EXCEEDED (default 600)."""
    SHUTDOWN_GRACE_PERIOD = "spark.flight.shutdown.gracePeriod"
    """Seconds a node asked to stop (SIGTERM, Ctrl-C) keeps serving what it already took before it
    leaves: it refuses new queries at once (UNAVAILABLE), other nodes leave it out of new ones, and it
    waits until its running jobs, unread results, open streams and (in a cluster) unsettled queries
    are over, or this many seconds pass; a second signal stops it at once (default 30; 0 stops at
    once)."""
    STREAM_EARLY = "spark.flight.stream.early"
    """Serve a partition's batches while its task still runs, instead of once Spark counts the task
    successful (default false). The first batch reaches the client as soon as an executor made it and
    a node holds less of the result; but a task attempt that fails after some of its rows were sent
    fails the query (UNAVAILABLE: run it again) instead of being retried, and with
    ``spark.speculation`` a losing speculative attempt does too. Rows are never sent twice."""


DEFAULT_PORT = 32010
DEFAULT_INTERNAL_PORT = 32011
WILDCARD_HOSTS = {"0.0.0.0", "::", ""}


@dataclass(frozen=True)
class FlightConfig:
    """The settings of one node."""

    host: str = "127.0.0.1"
    port: int = DEFAULT_PORT
    public_host: str = "127.0.0.1"
    internal_host: str = "127.0.0.1"
    internal_port: int = DEFAULT_INTERNAL_PORT
    manager: str = "local"
    max_message_bytes: int = 4 * 1024 * 1024
    client_max_message_bytes: int = 16 * 1024 * 1024
    result_ttl: float = 600.0
    stream_timeout: float = 3600.0
    push_method: str = "auto"
    node_id: str | None = None
    zookeeper_url: str | None = None
    zookeeper_path: str = "/spark-flight-sql"
    zookeeper_session_timeout: float = 10.0
    buffer_max_bytes: int | None = 1024 * 1024 * 1024
    buffer_spill_dir: str | None = None
    cluster_secret: bytes | None = field(default=None, repr=False)
    tls_enabled: bool = False
    tls_cert_chain: bytes | None = field(default=None, repr=False)
    """PEM certificate chain of this node's servers (``spark.flight.tls.certFile``)."""
    tls_private_key: bytes | None = field(default=None, repr=False)
    """PEM private key of ``tls_cert_chain`` (``spark.flight.tls.keyFile``)."""
    tls_client_ca: bytes | None = field(default=None, repr=False)
    """PEM roots that client certificates must chain to (``spark.flight.tls.clientCaFile``): mutual TLS."""
    tls_ca: bytes | None = field(default=None, repr=False)
    """PEM roots executors trust for the internal servers (``spark.flight.tls.caFile``); None: the
    certificate chain itself."""
    stream_idle_timeout: float = 600.0
    stream_early: bool = False
    endpoints: EndpointsMode = EndpointsMode.DIRECT
    """``spark.flight.endpoints``: where a result's endpoints point."""
    shutdown_grace_period: float = 30.0
    """``spark.flight.shutdown.gracePeriod``: the longest drain before a node stops."""

    @property
    def scheme(self) -> str:
        """The URI scheme of this node's locations: ``grpc+tls`` with TLS on, else ``grpc``."""
        return "grpc+tls" if self.tls_enabled else "grpc"

    def location(self, host: str, port: int) -> str:
        """A location of this node's servers (IPv6 addresses bracketed)."""
        if ":" in host and not host.startswith("["):
            host = f"[{host}]"
        return f"{self.scheme}://{host}:{port}"

    @property
    def push_root_certs(self) -> bytes | None:
        """PEM roots executors verify the internal servers with; None without TLS."""
        if not self.tls_enabled:
            return None
        return self.tls_ca or self.tls_cert_chain

    def server_tls_options(self, *, public: bool) -> dict[str, object]:
        """``FlightServerBase`` keyword arguments for this node's public (``public=True``) or internal
        server: its certificate and key, and for the public one client verification when
        ``tls_client_ca`` is set. Empty without TLS."""
        if not self.tls_enabled:
            return {}
        assert self.tls_cert_chain is not None and self.tls_private_key is not None, "validate() checks it"
        options: dict[str, object] = {"tls_certificates": [(self.tls_cert_chain, self.tls_private_key)]}
        if public and self.tls_client_ca is not None:
            options["verify_client"] = True
            options["root_certificates"] = self.tls_client_ca
        return options

    @classmethod
    def from_conf(cls, get: Callable[[str], str | None] | Mapping[str, str]) -> FlightConfig:
        """Build the config from a conf lookup (``spark.conf.get``-like callable, or a mapping)."""
        lookup = get.get if isinstance(get, Mapping) else get

        def value(key: ConfKey, default: str) -> str:
            found = lookup(key.value)
            return default if found is None or found == "" else str(found)

        host = value(ConfKey.HOST, cls.host)
        default_public = socket.gethostname() if host in WILDCARD_HOSTS else host
        config = cls(
            host=host,
            port=_int(ConfKey.PORT, value(ConfKey.PORT, str(DEFAULT_PORT))),
            public_host=value(ConfKey.PUBLIC_HOST, default_public),
            internal_host=value(ConfKey.INTERNAL_HOST, host),
            internal_port=_int(
                ConfKey.INTERNAL_PORT, value(ConfKey.INTERNAL_PORT, str(DEFAULT_INTERNAL_PORT))
            ),
            manager=value(ConfKey.MANAGER, cls.manager).lower(),
            max_message_bytes=_int(
                ConfKey.MAX_MESSAGE_BYTES, value(ConfKey.MAX_MESSAGE_BYTES, str(cls.max_message_bytes))
            ),
            client_max_message_bytes=_int(
                ConfKey.CLIENT_MAX_MESSAGE_BYTES,
                value(ConfKey.CLIENT_MAX_MESSAGE_BYTES, str(cls.client_max_message_bytes)),
            ),
            result_ttl=_float(ConfKey.RESULT_TTL, value(ConfKey.RESULT_TTL, str(cls.result_ttl))),
            stream_timeout=_float(
                ConfKey.STREAM_TIMEOUT, value(ConfKey.STREAM_TIMEOUT, str(cls.stream_timeout))
            ),
            push_method=value(ConfKey.PUSH_METHOD, cls.push_method),
            stream_idle_timeout=_float(
                ConfKey.STREAM_IDLE_TIMEOUT, value(ConfKey.STREAM_IDLE_TIMEOUT, str(cls.stream_idle_timeout))
            ),
            stream_early=_flag(ConfKey.STREAM_EARLY, lookup(ConfKey.STREAM_EARLY.value)),
            endpoints=parse_endpoints_mode(
                value(ConfKey.ENDPOINTS, cls.endpoints.value), ConfKey.ENDPOINTS.value
            ),
            shutdown_grace_period=_float(
                ConfKey.SHUTDOWN_GRACE_PERIOD,
                value(ConfKey.SHUTDOWN_GRACE_PERIOD, str(cls.shutdown_grace_period)),
            ),
            node_id=lookup(ConfKey.NODE_ID.value) or None,
            zookeeper_url=lookup(ConfKey.ZOOKEEPER_URL.value) or None,
            zookeeper_path=value(ConfKey.ZOOKEEPER_PATH, cls.zookeeper_path),
            zookeeper_session_timeout=_float(
                ConfKey.ZOOKEEPER_SESSION_TIMEOUT,
                value(ConfKey.ZOOKEEPER_SESSION_TIMEOUT, str(cls.zookeeper_session_timeout)),
            ),
            buffer_max_bytes=_int(
                ConfKey.BUFFER_MAX_BYTES, value(ConfKey.BUFFER_MAX_BYTES, str(cls.buffer_max_bytes))
            ),
            buffer_spill_dir=lookup(ConfKey.BUFFER_SPILL_DIR.value) or None,
            cluster_secret=_cluster_secret(
                lookup(ConfKey.CLUSTER_SECRET.value), lookup(ConfKey.CLUSTER_SECRET_FILE.value)
            ),
            **_tls_settings(lookup),
        )
        config.validate()
        return config

    def validate(self) -> None:
        """Raise ValueError naming the key of the first setting that is out of range."""
        for key, port in ((ConfKey.PORT, self.port), (ConfKey.INTERNAL_PORT, self.internal_port)):
            if not 0 <= port <= 65535:
                raise ValueError(f"{key.value} must be a port number from 0 to 65535, not {port}")
        if self.manager not in ("local", "zookeeper"):
            raise ValueError(f"{ConfKey.MANAGER.value} must be 'local' or 'zookeeper', not {self.manager!r}")
        if self.max_message_bytes < 64 * 1024:
            raise ValueError(f"{ConfKey.MAX_MESSAGE_BYTES.value} must be at least 65536 bytes")
        _check_bytes(ConfKey.CLIENT_MAX_MESSAGE_BYTES, self.client_max_message_bytes, 64 * 1024, 2**31 - 1)
        for key, seconds in (
            (ConfKey.RESULT_TTL, self.result_ttl),
            (ConfKey.STREAM_TIMEOUT, self.stream_timeout),
            (ConfKey.ZOOKEEPER_SESSION_TIMEOUT, self.zookeeper_session_timeout),
            (ConfKey.STREAM_IDLE_TIMEOUT, self.stream_idle_timeout),
        ):
            if seconds <= 0:
                raise ValueError(f"{key.value} must be positive")
        if self.manager == "zookeeper" and not self.zookeeper_url:
            raise ValueError(f"{ConfKey.MANAGER.value}=zookeeper needs {ConfKey.ZOOKEEPER_URL.value}")
        if not self.zookeeper_path.startswith("/") or self.zookeeper_path.endswith("/"):
            raise ValueError(f"{ConfKey.ZOOKEEPER_PATH.value} must start with '/' and not end with one")
        if self.buffer_max_bytes is not None and self.buffer_max_bytes < 1024 * 1024:
            raise ValueError(f"{ConfKey.BUFFER_MAX_BYTES.value} must be at least 1048576 bytes")
        if self.push_method not in ("auto", "jvm", "mapInArrow"):
            raise ValueError(
                f"{ConfKey.PUSH_METHOD.value} must be 'auto', 'jvm' or 'mapInArrow', not {self.push_method!r}"
            )
        if self.shutdown_grace_period < 0:
            raise ValueError(f"{ConfKey.SHUTDOWN_GRACE_PERIOD.value} must be 0 or more seconds")
        if self.tls_enabled:
            missing = [
                key.value
                for key, value in (
                    (ConfKey.TLS_CERT_FILE, self.tls_cert_chain),
                    (ConfKey.TLS_KEY_FILE, self.tls_private_key),
                )
                if not value
            ]
            if missing:
                raise ValueError(f"{ConfKey.TLS_ENABLED.value}=true needs {' and '.join(missing)}")
        else:
            stray = [
                key.value
                for key, value in (
                    (ConfKey.TLS_CERT_FILE, self.tls_cert_chain),
                    (ConfKey.TLS_KEY_FILE, self.tls_private_key),
                    (ConfKey.TLS_CLIENT_CA_FILE, self.tls_client_ca),
                    (ConfKey.TLS_CA_FILE, self.tls_ca),
                )
                if value
            ]
            if stray:
                raise ValueError(
                    f"{', '.join(stray)} set but {ConfKey.TLS_ENABLED.value} is false: set it to true to serve "
                    "over TLS, or remove the TLS files"
                )


MIN_SECRET_BYTES = 32


def _cluster_secret(value: str | None, path: str | None) -> bytes | None:
    if value and path:
        raise ValueError(
            f"set {ConfKey.CLUSTER_SECRET.value} or {ConfKey.CLUSTER_SECRET_FILE.value}, not both"
        )
    if path:
        try:
            with open(path, "rb") as file:
                secret = file.read().strip()
        except OSError as exc:
            raise ValueError(
                f"{ConfKey.CLUSTER_SECRET_FILE.value}: cannot read {path}: {exc.strerror}"
            ) from None
        key = ConfKey.CLUSTER_SECRET_FILE
    elif value:
        secret, key = value.strip().encode(), ConfKey.CLUSTER_SECRET
    else:
        return None
    if len(secret) < MIN_SECRET_BYTES:
        raise ValueError(f"{key.value}: the cluster secret must be at least {MIN_SECRET_BYTES} bytes long")
    return secret


def _flag(key: ConfKey, text: str | None) -> bool:
    cleaned = (text or "").strip().lower()
    if cleaned in ("", "false", "0", "no", "off"):
        return False
    if cleaned in ("true", "1", "yes", "on"):
        return True
    raise ValueError(f"{key.value} must be true or false, not {text!r}")


def _read_pem(key: ConfKey, path: str) -> bytes:
    """The content of a PEM file named by ``key``; ValueError naming the key when it is unreadable
    or holds no PEM block."""
    try:
        with open(path, "rb") as file:
            content = file.read()
    except OSError as exc:
        raise ValueError(f"{key.value}: cannot read {path}: {exc.strerror}") from None
    if b"-----BEGIN " not in content:
        raise ValueError(f"{key.value}: {path} is not a PEM file (no '-----BEGIN' line)")
    return content


def _no_password() -> bytes:
    return b""


class _TlsSettings(TypedDict):
    tls_enabled: bool
    tls_cert_chain: bytes | None
    tls_private_key: bytes | None
    tls_client_ca: bytes | None
    tls_ca: bytes | None


def _tls_settings(lookup: Callable[[str], str | None]) -> _TlsSettings:
    """The TLS fields of :class:`FlightConfig`, each file read and checked: the key must belong to
    the certificate, CA files must hold certificates."""
    import ssl

    enabled = _flag(ConfKey.TLS_ENABLED, lookup(ConfKey.TLS_ENABLED.value))
    paths = {
        key: lookup(key.value) or None
        for key in (
            ConfKey.TLS_CERT_FILE,
            ConfKey.TLS_KEY_FILE,
            ConfKey.TLS_CLIENT_CA_FILE,
            ConfKey.TLS_CA_FILE,
        )
    }
    pems = {key: _read_pem(key, path) if path else None for key, path in paths.items()}
    cert, key_file = paths[ConfKey.TLS_CERT_FILE], paths[ConfKey.TLS_KEY_FILE]
    if enabled and cert and key_file:
        try:
            ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER).load_cert_chain(cert, key_file, password=_no_password)
        except ssl.SSLError as exc:
            raise ValueError(
                f"{ConfKey.TLS_CERT_FILE.value} and {ConfKey.TLS_KEY_FILE.value}: {cert} and {key_file} are not a "
                f"certificate and its unencrypted private key ({exc.reason or exc})"
            ) from None
    for ca_key in (ConfKey.TLS_CLIENT_CA_FILE, ConfKey.TLS_CA_FILE):
        pem = pems[ca_key]
        if enabled and pem is not None:
            try:
                ssl.create_default_context(cadata=pem.decode("ascii", "replace"))
            except (ssl.SSLError, ValueError) as exc:
                raise ValueError(
                    f"{ca_key.value}: {paths[ca_key]} holds no usable certificate ({exc})"
                ) from None
    return {
        "tls_enabled": enabled,
        "tls_cert_chain": pems[ConfKey.TLS_CERT_FILE],
        "tls_private_key": pems[ConfKey.TLS_KEY_FILE],
        "tls_client_ca": pems[ConfKey.TLS_CLIENT_CA_FILE],
        "tls_ca": pems[ConfKey.TLS_CA_FILE],
    }


def _check_bytes(key: ConfKey, value: int, low: int, high: int) -> None:
    """ValueError naming ``key`` when ``value`` is not from ``low`` to ``high`` bytes."""
    if not low <= value <= high:
        raise ValueError(f"{key.value} must be from {low} to {high} bytes, not {value}")


def parse_endpoints_mode(text: str, where: str) -> EndpointsMode:
    """The endpoints mode named by ``text`` (any case); ValueError naming ``where`` otherwise."""
    try:
        return EndpointsMode(text.strip().lower())
    except ValueError:
        choices = ", ".join(repr(mode.value) for mode in EndpointsMode)
        raise ValueError(f"{where} must be one of {choices}, not {text!r}") from None


def _int(key: ConfKey, text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise ValueError(f"{key.value} must be a whole number, not {text!r}") from None


def parse_seconds(key: str, text: str) -> float:
    """A number of seconds (``30``, ``2.5``, ``30s``); ValueError naming ``key`` otherwise."""
    cleaned = text.strip().lower().removesuffix("s")
    try:
        return float(cleaned)
    except ValueError:
        raise ValueError(f"{key} must be a number of seconds, not {text!r}") from None


def _float(key: ConfKey, text: str) -> float:
    return parse_seconds(key.value, text)
