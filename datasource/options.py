"""The data source's options, parsed once into a small picklable value.

Spark hands options over as a case-insensitive mapping of strings; :func:`parse_options` checks
them and turns them into :class:`FlightSqlOptions`, which the driver-side planning and every
executor task share (it is pickled with the reader, the writer and each partition).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

__all__ = ["HEADER_PREFIX", "OPTIONS", "FlightSqlOptions", "OptionError", "parse_options"]

HEADER_PREFIX = "header."
"""Options named ``header.<name>`` become the call header ``<name>`` on every call."""

OPTIONS: Mapping[str, str] = {
    "uri": "grpc://host:port or grpc+tls://host:port of the Flight SQL server (required)",
    "query": "the SQL query to read (reads: this or dbtable)",
    "dbtable": "a table (or any relation text) to read as SELECT * FROM <dbtable>; filters push down",
    "table": "the table a write ingests into, [catalog.][schema.]table (writes)",
    "catalog": "catalog of the written table, when the table option should not be split at dots",
    "db_schema": "schema of the written table, when the table option should not be split at dots",
    "username": "user name for HTTP basic authentication (with password)",
    "password": "password for HTTP basic authentication",
    "token": "a bearer token sent as 'authorization: Bearer <token>'",
    "tls_root_certs": "path of a PEM file with the root certificates to trust",
    "tls_cert_chain": "path of a PEM file with the client certificate chain, for mutual TLS (with tls_private_key)",
    "tls_private_key": "path of a PEM file with the private key of tls_cert_chain, for mutual TLS",
    "tls_skip_verify": "true to accept any server certificate (testing only; pyarrow then sends no client certificate)",
    "tls_override_hostname": "host name to check the server certificate against",
    "timeout": "seconds each metadata call (handshake, schema, GetFlightInfo, ingest result) may take",
    "read_timeout": "seconds one endpoint's whole DoGet stream may take (default: no limit)",
    "write_timeout": "seconds one task's whole ingest upload may take (default: no limit)",
    "identifier_quote": "character that quotes identifiers in pushed-down SQL (default: asked from the server)",
    "keep_result": "true (default) asks the server to keep the result so every action of the DataFrame reads it (see spark_flight_sql.datasource.reader); false: each ticket is read once",
    "pushdown": "true to push filters of dbtable reads into the SQL (default false: see spark_flight_sql.datasource.reader)",
    "ingest.<key>": "passed to the server in CommandStatementIngest.options",
    "header.<name>": "extra call header sent on every call",
}
"""Every option the data source reads, and what it means."""

_TRUE = {"true", "1", "yes"}
_FALSE = {"false", "0", "no"}


class OptionError(ValueError):
    """An option is missing, unknown in its combination, or malformed."""


@dataclass(frozen=True)
class FlightSqlOptions:
    """Everything a reader, writer or task needs to reach the server."""

    uri: str
    query: str | None = None
    dbtable: str | None = None
    table: str | None = None
    catalog: str | None = None
    db_schema: str | None = None
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    token: str | None = field(default=None, repr=False)
    tls_root_certs: bytes | None = field(default=None, repr=False)
    tls_cert_chain: bytes | None = field(default=None, repr=False)
    tls_private_key: bytes | None = field(default=None, repr=False)
    tls_skip_verify: bool = False
    tls_override_hostname: str | None = None
    timeout: float | None = None
    read_timeout: float | None = None
    write_timeout: float | None = None
    identifier_quote: str | None = None
    pushdown: bool = False
    keep_result: bool = True
    headers: tuple[tuple[str, str], ...] = ()
    ingest_options: tuple[tuple[str, str], ...] = ()

    def read_sql(self) -> str:
        """The SQL a read sends before any pushdown: the query, or SELECT * FROM dbtable."""
        if self.query is not None:
            return self.query
        assert self.dbtable is not None
        return f"SELECT * FROM {self.dbtable}"


def _flag(options: Mapping[str, str], key: str, default: bool) -> bool:
    value = options.get(key)
    if value is None:
        return default
    text = str(value).strip().lower()
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise OptionError(f"option {key!r} must be true or false, not {value!r}")


def _seconds(options: Mapping[str, str], key: str) -> float | None:
    value = options.get(key)
    if value is None or str(value).strip() == "":
        return None
    try:
        seconds = float(value)
    except ValueError:
        raise OptionError(f"option {key!r} must be a number of seconds, not {value!r}") from None
    if seconds <= 0:
        raise OptionError(f"option {key!r} must be positive, not {value!r}")
    return seconds


def _text(options: Mapping[str, str], key: str) -> str | None:
    value = options.get(key)
    if value is None:
        return None
    text = str(value)
    return text if text.strip() else None


def _read_certs(path: str | None, key: str = "tls_root_certs") -> bytes | None:
    if path is None:
        return None
    try:
        with open(path, "rb") as file:
            pem = file.read()
    except OSError as exc:
        raise OptionError(f"option {key!r}: cannot read {path!r}: {exc}") from None
    if not pem.isascii():
        raise OptionError(f"option {key!r}: {path!r} is not a PEM file (it is not ASCII text)")
    return pem


def parse_options(options: Mapping[str, str]) -> FlightSqlOptions:
    """Check Spark's options and return them as :class:`FlightSqlOptions`.

    Keys are matched case-insensitively; ``header.<name>`` and ``ingest.<key>`` options are
    gathered (header names lowercased, as gRPC metadata requires). Raises :class:`OptionError`
    for a missing ``uri``, a non-gRPC scheme, half a basic credential, basic and token together,
    a client certificate without its key (or the reverse),
    or malformed numbers and flags. Whether ``query``/``dbtable`` or ``table`` is needed is
    checked by the reader and the writer.
    """
    lowered = {str(key).lower(): value for key, value in options.items()}
    uri = _text(lowered, "uri")
    if uri is None:
        raise OptionError("option 'uri' is required, e.g. grpc://host:32010")
    scheme = uri.split("://", 1)[0].lower() if "://" in uri else ""
    if scheme not in {"grpc", "grpc+tcp", "grpc+tls"}:
        raise OptionError(f"option 'uri' must start with grpc://, grpc+tcp:// or grpc+tls://, not {uri!r}")
    username, password, token = _text(lowered, "username"), lowered.get("password"), _text(lowered, "token")
    if (username is None) != (password is None):
        raise OptionError("options 'username' and 'password' go together")
    if token is not None and username is not None:
        raise OptionError("give either 'username' and 'password' or 'token', not both")
    cert_chain, private_key = _text(lowered, "tls_cert_chain"), _text(lowered, "tls_private_key")
    if (cert_chain is None) != (private_key is None):
        raise OptionError("options 'tls_cert_chain' and 'tls_private_key' go together")
    quote = _text(lowered, "identifier_quote")
    if quote is not None and len(quote) != 1:
        raise OptionError(f"option 'identifier_quote' must be one character, not {quote!r}")
    headers = tuple(
        sorted(
            (key[len(HEADER_PREFIX) :], str(value))
            for key, value in lowered.items()
            if key.startswith(HEADER_PREFIX)
        )
    )
    ingest_options = tuple(
        sorted(
            (key[len("ingest.") :], str(value)) for key, value in lowered.items() if key.startswith("ingest.")
        )
    )
    return FlightSqlOptions(
        uri=uri,
        query=_text(lowered, "query"),
        dbtable=_text(lowered, "dbtable"),
        table=_text(lowered, "table"),
        catalog=_text(lowered, "catalog"),
        db_schema=_text(lowered, "db_schema"),
        username=username,
        password=None if password is None else str(password),
        token=token,
        tls_root_certs=_read_certs(_text(lowered, "tls_root_certs")),
        tls_cert_chain=_read_certs(cert_chain, "tls_cert_chain"),
        tls_private_key=_read_certs(private_key, "tls_private_key"),
        tls_skip_verify=_flag(lowered, "tls_skip_verify", False),
        tls_override_hostname=_text(lowered, "tls_override_hostname"),
        timeout=_seconds(lowered, "timeout"),
        read_timeout=_seconds(lowered, "read_timeout"),
        write_timeout=_seconds(lowered, "write_timeout"),
        identifier_quote=quote,
        pushdown=_flag(lowered, "pushdown", False),
        keep_result=_flag(lowered, "keep_result", True),
        headers=headers,
        ingest_options=ingest_options,
    )
