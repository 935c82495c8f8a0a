"""Node configuration, read from Spark conf keys so the same server also starts under spark-submit."""

from __future__ import annotations

import socket
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from enum import Enum


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
    RESULT_TTL = "spark.flight.result.ttl"
    """Seconds a result may wait for its reader before it is released (default 600)."""
    STREAM_TIMEOUT = "spark.flight.stream.timeout"
    """Seconds a reader may wait for the next batch of a running query before the stream fails
    (default 3600)."""
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
    PUSH_METHOD = "spark.flight.push.method"
    """How executors produce Arrow: ``auto`` (the JVM's conversion when the session has a JVM),
    ``jvm`` (Dataset.toArrowBatchRdd) or ``mapInArrow``."""


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
            internal_port=_int(ConfKey.INTERNAL_PORT, value(ConfKey.INTERNAL_PORT, str(DEFAULT_INTERNAL_PORT))),
            manager=value(ConfKey.MANAGER, cls.manager).lower(),
            max_message_bytes=_int(ConfKey.MAX_MESSAGE_BYTES, value(ConfKey.MAX_MESSAGE_BYTES, str(cls.max_message_bytes))),
            result_ttl=_float(ConfKey.RESULT_TTL, value(ConfKey.RESULT_TTL, str(cls.result_ttl))),
            stream_timeout=_float(ConfKey.STREAM_TIMEOUT, value(ConfKey.STREAM_TIMEOUT, str(cls.stream_timeout))),
            push_method=value(ConfKey.PUSH_METHOD, cls.push_method),
            node_id=lookup(ConfKey.NODE_ID.value) or None,
            zookeeper_url=lookup(ConfKey.ZOOKEEPER_URL.value) or None,
            zookeeper_path=value(ConfKey.ZOOKEEPER_PATH, cls.zookeeper_path),
            zookeeper_session_timeout=_float(
                ConfKey.ZOOKEEPER_SESSION_TIMEOUT,
                value(ConfKey.ZOOKEEPER_SESSION_TIMEOUT, str(cls.zookeeper_session_timeout)),
            ),
            buffer_max_bytes=_int(ConfKey.BUFFER_MAX_BYTES, value(ConfKey.BUFFER_MAX_BYTES, str(cls.buffer_max_bytes))),
            buffer_spill_dir=lookup(ConfKey.BUFFER_SPILL_DIR.value) or None,
            cluster_secret=_cluster_secret(lookup(ConfKey.CLUSTER_SECRET.value), lookup(ConfKey.CLUSTER_SECRET_FILE.value)),
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
        if self.result_ttl <= 0 or self.stream_timeout <= 0:
            raise ValueError(f"{ConfKey.RESULT_TTL.value} and {ConfKey.STREAM_TIMEOUT.value} must be positive")
        if self.manager == "zookeeper" and not self.zookeeper_url:
            raise ValueError(f"{ConfKey.MANAGER.value}=zookeeper needs {ConfKey.ZOOKEEPER_URL.value}")
        if not self.zookeeper_path.startswith("/") or self.zookeeper_path.endswith("/"):
            raise ValueError(f"{ConfKey.ZOOKEEPER_PATH.value} must start with '/' and not end with one")
        if self.zookeeper_session_timeout <= 0:
            raise ValueError(f"{ConfKey.ZOOKEEPER_SESSION_TIMEOUT.value} must be positive")
        if self.buffer_max_bytes is not None and self.buffer_max_bytes < 1024 * 1024:
            raise ValueError(f"{ConfKey.BUFFER_MAX_BYTES.value} must be at least 1048576 bytes")
        if self.push_method not in ("auto", "jvm", "mapInArrow"):
            raise ValueError(f"{ConfKey.PUSH_METHOD.value} must be 'auto', 'jvm' or 'mapInArrow', not {self.push_method!r}")


MIN_SECRET_BYTES = 32


def _cluster_secret(value: str | None, path: str | None) -> bytes | None:
    if value and path:
        raise ValueError(f"set {ConfKey.CLUSTER_SECRET.value} or {ConfKey.CLUSTER_SECRET_FILE.value}, not both")
    if path:
        try:
            with open(path, "rb") as file:
                secret = file.read().strip()
        except OSError as exc:
            raise ValueError(f"{ConfKey.CLUSTER_SECRET_FILE.value}: cannot read {path}: {exc.strerror}") from None
        key = ConfKey.CLUSTER_SECRET_FILE
    elif value:
        secret, key = value.strip().encode(), ConfKey.CLUSTER_SECRET
    else:
        return None
    if len(secret) < MIN_SECRET_BYTES:
        raise ValueError(f"{key.value}: the cluster secret must be at least {MIN_SECRET_BYTES} bytes long")
    return secret


def _int(key: ConfKey, text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise ValueError(f"{key.value} must be a whole number, not {text!r}") from None


def _float(key: ConfKey, text: str) -> float:
    cleaned = text.strip().lower().removesuffix("s")
    try:
        return float(cleaned)
    except ValueError:
        raise ValueError(f"{key.value} must be a number of seconds, not {text!r}") from None
