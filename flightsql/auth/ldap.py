"""``spark.flight.auth=ldap``: user names and passwords checked by binding to an LDAP directory.

Two ways to find the user's entry:

* **DN template** (``spark.flight.auth.ldap.userDnTemplate``, e.g. ``uid={user},ou=people,dc=example,dc=org``):
  the user name, escaped as an RFC 4514 attribute value, makes the DN to bind as.
* **Search, then bind** (``spark.flight.auth.ldap.baseDn`` and ``userFilter``): a search (anonymous, or
  as the ``bindDn`` service account) must find exactly one entry for the user name, escaped per
  RFC 4515; the user then binds as that entry.

When ``groupBaseDn`` is set, the groups whose filter matches the user's DN are read (with the user's
own credentials) into :attr:`Identity.groups`, and ``requiredGroups`` may demand one of them.

Every authentication opens its own connection, so one authenticator serves any number of threads.
Empty passwords are refused before the directory is asked: LDAP treats a DN with an empty password as
an unauthenticated bind that "succeeds" (RFC 4513, 5.1.2). Clients learn only "invalid user name or
password"; the log says why (never with the password).
"""

from __future__ import annotations

import ipaddress
import logging
import math
import re
import ssl
import unicodedata
import warnings
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from enum import Enum
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from spark_flight_sql.flightmanager.config import parse_seconds
from spark_flight_sql.flightsql.auth.base import (
    AuthenticationFailed,
    Authenticator,
    AuthenticatorUnavailable,
    Identity,
)

with warnings.catch_warnings():
    # ldap3 2.9.1, its last release, imports names that pyasn1 0.6.1 and later deprecate.
    warnings.filterwarnings("ignore", category=DeprecationWarning, module=r"ldap3(\.|$)")
    import ldap3
    from ldap3.core.exceptions import LDAPException, LDAPInvalidDnError, LDAPSASLPrepError
    from ldap3.utils.dn import parse_dn

log = logging.getLogger(__name__)

MAX_NAME_LENGTH = 256
MAX_PASSWORD_BYTES = 4096
DEFAULT_TIMEOUT = 5.0
DEFAULT_USER_FILTER = "(uid={user})"
DEFAULT_GROUP_FILTER = "(&(objectClass=groupOfNames)(member={dn}))"
FAILED_MESSAGE = "invalid user name or password"
UNAVAILABLE_MESSAGE = "the LDAP directory cannot be reached; try again later"
GROUP_NAME_ATTRIBUTE = "cn"

# Bind results that mean "these credentials prove nothing": inappropriateAuthentication (48),
# invalidCredentials (49), insufficientAccessRights (50, e.g. an account that may not log in),
# unwillingToPerform (53, e.g. a disabled account), invalidDNSyntax (34), noSuchObject (32) and
# constraintViolation (19, password policy lockouts). Any other result: the directory could not decide.
CREDENTIAL_RESULTS = frozenset({19, 32, 34, 48, 49, 50, 53})
SEARCH_OK = 0
SIZE_LIMIT_EXCEEDED = 4
# Characters a user name may not contain: control, format, surrogate, private-use and unassigned code
# points, and line or paragraph separators.
_REFUSED_CATEGORIES = frozenset({"Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp"})
_PLACEHOLDER = re.compile(r"\{(\w*)\}")
_TRUE = frozenset({"true", "yes", "on", "1"})
_FALSE = frozenset({"false", "no", "off", "0"})


class LdapConfKey(str, Enum):
    """Every Spark conf key ``spark.flight.auth=ldap`` reads, with its meaning."""

    URL = "spark.flight.auth.ldap.url"
    """The directory: ``ldap://host[:port]`` or ``ldaps://host[:port]`` (required). Several
    space-separated URLs are tried in order until one answers."""
    USER_DN_TEMPLATE = "spark.flight.auth.ldap.userDnTemplate"
    """The DN to bind as, with ``{user}`` where the user name goes (escaped as an RFC 4514 attribute
    value), e.g. ``uid={user},ou=people,dc=example,dc=org``. Set this or ``baseDn``, not both."""
    BASE_DN = "spark.flight.auth.ldap.baseDn"
    """Where to search for the user's entry (the whole subtree), for search-then-bind. Set this or
    ``userDnTemplate``, not both."""
    USER_FILTER = "spark.flight.auth.ldap.userFilter"
    """The search filter that finds the user's entry below ``baseDn``, with ``{user}`` where the user
    name goes (escaped per RFC 4515); exactly one entry must match (default ``(uid={user})``)."""
    BIND_DN = "spark.flight.auth.ldap.bindDn"
    """The service account that searches for users (default: search anonymously). Needs
    ``bindPasswordFile``; only with ``baseDn``."""
    BIND_PASSWORD_FILE = "spark.flight.auth.ldap.bindPasswordFile"
    """A file holding the ``bindDn`` password (its content without a trailing line break)."""
    GROUP_BASE_DN = "spark.flight.auth.ldap.groupBaseDn"
    """Where to search for the user's groups (the whole subtree) with the user's own credentials; their
    ``cn`` values become the identity's groups (default: groups are not read)."""
    GROUP_FILTER = "spark.flight.auth.ldap.groupFilter"
    """The filter that finds the user's groups below ``groupBaseDn``, with ``{dn}`` where the user's DN
    goes and ``{user}`` where the user name goes (both escaped per RFC 4515); default
    ``(&(objectClass=groupOfNames)(member={dn}))``."""
    REQUIRED_GROUPS = "spark.flight.auth.ldap.requiredGroups"
    """Comma-separated group ``cn`` values, compared case-insensitively: users in none of them are
    refused (default: any user with valid credentials). Needs ``groupBaseDn``."""
    START_TLS = "spark.flight.auth.ldap.startTls"
    """``true`` to upgrade ``ldap://`` connections with StartTLS before sending any password (default
    ``false``; not with ``ldaps://``)."""
    CA_FILE = "spark.flight.auth.ldap.caFile"
    """PEM file of the CA certificates that the directory's TLS certificate must chain to (default: the
    system's trusted CAs). The certificate must also name the URL's host."""
    TIMEOUT = "spark.flight.auth.ldap.timeout"
    """Seconds to wait for a connection and for each answer of the directory (default 5; answers are
    awaited whole seconds, rounded up)."""


def escape_dn_value(value: str) -> str:
    """``value`` escaped as an RFC 4514 attribute value, so it stays one value of one RDN."""
    out = []
    last = len(value) - 1
    for index, char in enumerate(value):
        if char == "\0":
            out.append("\\00")
        elif char in '"+,;<>\\=' or (index == 0 and char in "# ") or (index == last and char == " "):
            out.append("\\" + char)
        else:
            out.append(char)
    return "".join(out)


def escape_filter_value(value: str) -> str:
    """``value`` escaped as an RFC 4515 assertion value: ``*``, ``(``, ``)``, ``\\`` and NUL as hex
    pairs, so it matches only itself; spaces at either end too, which ldap3 would otherwise strip."""
    out = []
    last = len(value) - 1
    for index, char in enumerate(value):
        if char in "*()\\\0" or (char == " " and index in (0, last)):
            out.append(f"\\{ord(char):02x}")
        else:
            out.append(char)
    return "".join(out)


def _fill(template: str, values: Mapping[str, str]) -> str:
    """``template`` with each ``{name}`` replaced by ``values[name]`` in one pass, so a value that
    itself contains ``{user}`` is never expanded again."""
    return _PLACEHOLDER.sub(lambda match: values[match.group(1)], template)


def _refused_name_reason(username: object) -> str | None:
    if not isinstance(username, str):
        return "the user name is not a string"
    if not username:
        return "the user name is empty"
    if len(username) > MAX_NAME_LENGTH:
        return f"the user name is longer than {MAX_NAME_LENGTH} characters"
    if any(unicodedata.category(char) in _REFUSED_CATEGORIES for char in username):
        return "the user name contains control characters"
    return None


@dataclass(frozen=True)
class _Endpoint:
    url: str
    host: str
    port: int
    ldaps: bool


class _VerifyingTls(ldap3.Tls):
    """ldap3's TLS settings with the standard library's verification: the certificate must chain to a
    trusted CA and name the host (ldap3 2.9 checks names with the deprecated ``ssl.match_hostname``)."""

    def __init__(self, context: ssl.SSLContext) -> None:
        super().__init__(validate=ssl.CERT_REQUIRED)
        self.context = context

    def wrap_socket(self, connection: Any, do_handshake: bool = False) -> None:
        """Wrap the connection's socket, checking the certificate against the connection's host."""
        connection.socket = self.context.wrap_socket(
            connection.socket,
            server_side=False,
            do_handshake_on_connect=do_handshake,
            server_hostname=connection.server.host,
        )


def _parse_urls(text: str) -> tuple[_Endpoint, ...]:
    key = LdapConfKey.URL.value
    endpoints = []
    for url in text.split():
        try:
            parts = urlsplit(url)
            port = parts.port
        except ValueError as exc:
            raise ValueError(f"{key}: {url!r} is not a valid URL ({exc})") from None
        scheme = parts.scheme.lower()
        if scheme not in ("ldap", "ldaps") or not parts.hostname:
            raise ValueError(f"{key} must be ldap://host[:port] or ldaps://host[:port], not {url!r}")
        if parts.path not in ("", "/") or parts.query or parts.fragment or parts.username or parts.password:
            raise ValueError(f"{key}: {url!r} may only name a host and port (no DN, query or credentials)")
        ldaps = scheme == "ldaps"
        endpoints.append(_Endpoint(url, parts.hostname, port or (636 if ldaps else 389), ldaps))
    if not endpoints:
        raise ValueError(f"{key} is required for spark.flight.auth=ldap")
    return tuple(endpoints)


def _check_placeholders(key: LdapConfKey, template: str, allowed: tuple[str, ...], required: str) -> None:
    names = _PLACEHOLDER.findall(template)
    unknown = sorted({name for name in names if name not in allowed})
    if unknown:
        raise ValueError(
            f"{key.value}: unknown placeholder(s) {', '.join('{' + n + '}' for n in unknown)}; "
            f"allowed: {', '.join('{' + n + '}' for n in allowed)}"
        )
    if required not in names:
        raise ValueError(f"{key.value} must contain {{{required}}}")


def _check_dn(key: LdapConfKey, dn: str) -> str:
    try:
        parse_dn(dn)
    except (LDAPInvalidDnError, ValueError, IndexError) as exc:
        raise ValueError(f"{key.value}: {dn!r} is not a valid DN ({exc})") from None
    return dn


def _check_filter(key: LdapConfKey, text: str) -> str:
    """``text`` if it is a parenthesized filter with balanced parentheses (its values escaped)."""
    depth = 0
    for index, char in enumerate(text):
        depth += {"(": 1, ")": -1}.get(char, 0)
        if depth < 0 or (depth == 0 and index != len(text) - 1):
            break
    else:
        if text.startswith("(") and depth == 0:
            return text
    raise ValueError(
        f"{key.value} must be one parenthesized LDAP filter such as (uid={{user}}), not {text!r}"
    )


def _parse_bool(key: LdapConfKey, text: str | None) -> bool:
    value = (text or "").strip().lower()
    if not value or value in _FALSE:
        return False
    if value in _TRUE:
        return True
    raise ValueError(f"{key.value} must be true or false, not {text!r}")


def _parse_timeout(text: str | None) -> float:
    key = LdapConfKey.TIMEOUT.value
    value = (text or "").strip()
    if not value:
        return DEFAULT_TIMEOUT
    seconds = parse_seconds(key, value)
    if not (0 < seconds <= 600) or math.isnan(seconds):
        raise ValueError(f"{key} must be more than 0 and at most 600 seconds, not {text!r}")
    return seconds


def _close(connection: ldap3.Connection) -> None:
    """Unbind and close ``connection`` whatever state it is in (ldap3 leaves the socket of a failed
    connect open)."""
    try:
        if not connection.closed:
            connection.unbind()
    except (LDAPException, OSError):
        pass
    sock = getattr(connection, "socket", None)
    if sock is not None:
        try:
            sock.close()
        except OSError:
            pass
        connection.socket = None


def canonical_user_name(username: str) -> str:
    """The name an LDAP login is known by (tokens, tickets, policy, audit): directories compare user
    names without case and with runs of spaces as one, so ``Bob`` and `` bob`` are the same login and
    must not escape ``bob``'s policy entry. Lower case, spaces collapsed."""
    return " ".join(username.split()).lower()


class LdapAuthenticator(Authenticator):
    """Checks user names and passwords by binding to an LDAP directory (see the module docstring)."""

    def __init__(self, get: Callable[[str], str | None]) -> None:
        def conf(key: LdapConfKey) -> str | None:
            value = get(key.value)
            return value.strip() if value is not None and value.strip() else None

        self._configure_transport(conf)
        self._configure_user_lookup(conf)
        self._configure_groups(conf)

    def _configure_transport(self, conf: Callable[[LdapConfKey], str | None]) -> None:
        """The directory's endpoints, timeout and TLS (ldaps://, StartTLS and the CA file)."""
        self._endpoints = _parse_urls(conf(LdapConfKey.URL) or "")
        self._start_tls = _parse_bool(LdapConfKey.START_TLS, conf(LdapConfKey.START_TLS))
        self._timeout = _parse_timeout(conf(LdapConfKey.TIMEOUT))
        if self._start_tls and any(endpoint.ldaps for endpoint in self._endpoints):
            raise ValueError(
                f"{LdapConfKey.START_TLS.value}=true needs ldap:// URLs: ldaps:// is TLS already"
            )
        uses_tls = self._start_tls or any(endpoint.ldaps for endpoint in self._endpoints)
        self._tls: _VerifyingTls | None = None
        ca_file = conf(LdapConfKey.CA_FILE)
        if ca_file is not None and not uses_tls:
            raise ValueError(
                f"{LdapConfKey.CA_FILE.value} is set but no TLS is used: use ldaps:// URLs or "
                f"{LdapConfKey.START_TLS.value}=true"
            )
        if uses_tls:
            self._tls = _VerifyingTls(self._tls_context(ca_file))
            return
        exposed = [e.host for e in self._endpoints if not _is_loopback(e.host)]
        if exposed:
            log.warning(
                "LDAP passwords go to %s unencrypted: use ldaps:// or %s=true",
                ", ".join(exposed),
                LdapConfKey.START_TLS.value,
            )

    def _configure_user_lookup(self, conf: Callable[[LdapConfKey], str | None]) -> None:
        """How a user name becomes a DN: a DN template, or a search under a base DN (with its filter
        and, optionally, the DN and password it binds as to search)."""
        template = conf(LdapConfKey.USER_DN_TEMPLATE)
        base_dn = conf(LdapConfKey.BASE_DN)
        if (template is None) == (base_dn is None):
            raise ValueError(
                f"set exactly one of {LdapConfKey.USER_DN_TEMPLATE.value} (bind as a DN made from the user name) "
                f"and {LdapConfKey.BASE_DN.value} (search for the user's entry, then bind)"
            )
        self._user_dn_template = template
        self._base_dn = base_dn
        self._user_filter: str | None = None
        self._bind_dn: str | None = None
        self._bind_password: str | None = None
        if template is not None:
            _check_placeholders(LdapConfKey.USER_DN_TEMPLATE, template, ("user",), "user")
            _check_dn(LdapConfKey.USER_DN_TEMPLATE, _fill(template, {"user": "x"}))
            for key in (LdapConfKey.USER_FILTER, LdapConfKey.BIND_DN, LdapConfKey.BIND_PASSWORD_FILE):
                if conf(key) is not None:
                    raise ValueError(
                        f"{key.value} only applies with {LdapConfKey.BASE_DN.value}, not with a DN template"
                    )
            return
        assert base_dn is not None
        _check_dn(LdapConfKey.BASE_DN, base_dn)
        user_filter = conf(LdapConfKey.USER_FILTER) or DEFAULT_USER_FILTER
        _check_placeholders(LdapConfKey.USER_FILTER, user_filter, ("user",), "user")
        self._user_filter = _check_filter(LdapConfKey.USER_FILTER, user_filter)
        bind_dn = conf(LdapConfKey.BIND_DN)
        password_file = conf(LdapConfKey.BIND_PASSWORD_FILE)
        if (bind_dn is None) != (password_file is None):
            raise ValueError(
                f"{LdapConfKey.BIND_DN.value} and {LdapConfKey.BIND_PASSWORD_FILE.value} go together "
                "(leave both unset to search anonymously)"
            )
        if bind_dn is not None and password_file is not None:
            self._bind_dn = _check_dn(LdapConfKey.BIND_DN, bind_dn)
            self._bind_password = self._read_password(password_file)

    def _configure_groups(self, conf: Callable[[LdapConfKey], str | None]) -> None:
        """Where groups are searched, with which filter, and the groups a user must be in."""
        self._group_base_dn = conf(LdapConfKey.GROUP_BASE_DN)
        group_filter = conf(LdapConfKey.GROUP_FILTER)
        required = conf(LdapConfKey.REQUIRED_GROUPS)
        self._group_filter = group_filter or DEFAULT_GROUP_FILTER
        self._required_groups: frozenset[str] = frozenset()
        if self._group_base_dn is None:
            for key, value in (
                (LdapConfKey.GROUP_FILTER, group_filter),
                (LdapConfKey.REQUIRED_GROUPS, required),
            ):
                if value is not None:
                    raise ValueError(f"{key.value} needs {LdapConfKey.GROUP_BASE_DN.value}")
            return
        _check_dn(LdapConfKey.GROUP_BASE_DN, self._group_base_dn)
        _check_placeholders(LdapConfKey.GROUP_FILTER, self._group_filter, ("dn", "user"), "dn")
        _check_filter(LdapConfKey.GROUP_FILTER, self._group_filter)
        if required is not None:
            names = frozenset(name.strip().casefold() for name in required.split(",") if name.strip())
            if not names:
                raise ValueError(f"{LdapConfKey.REQUIRED_GROUPS.value} names no group")
            self._required_groups = names

    @staticmethod
    def _tls_context(ca_file: str | None) -> ssl.SSLContext:
        key = LdapConfKey.CA_FILE.value
        if ca_file is not None and not Path(ca_file).is_file():
            raise ValueError(f"{key}: {ca_file!r} is not a file")
        try:
            context = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=ca_file)
        except (ssl.SSLError, OSError) as exc:
            raise ValueError(f"{key}: cannot load CA certificates from {ca_file!r} ({exc})") from None
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        return context

    @staticmethod
    def _read_password(path: str) -> str:
        key = LdapConfKey.BIND_PASSWORD_FILE.value
        try:
            password = Path(path).read_text(encoding="utf-8").rstrip("\r\n")
        except (OSError, UnicodeDecodeError) as exc:
            raise ValueError(f"{key}: cannot read {path!r} ({exc})") from None
        if not password:
            raise ValueError(f"{key}: {path!r} is empty")
        return password

    def authenticate(self, username: str, password: str) -> Identity:
        """The identity the directory confirms for these credentials (see :class:`Authenticator`)."""
        reason = _refused_name_reason(username)
        if reason is None:
            if not isinstance(password, str) or not password:
                reason = "the password is empty"
            else:
                try:
                    if len(password.encode("utf-8")) > MAX_PASSWORD_BYTES:
                        reason = f"the password is longer than {MAX_PASSWORD_BYTES} bytes"
                except UnicodeEncodeError:
                    reason = "the password is not valid Unicode"
        if reason is not None:
            log.info("LDAP login refused for %r: %s", username if isinstance(username, str) else "?", reason)
            raise AuthenticationFailed(FAILED_MESSAGE)
        connection = self._connect()
        try:
            if self._user_dn_template is not None:
                user_dn = _fill(self._user_dn_template, {"user": escape_dn_value(username)})
            else:
                user_dn = self._find_user(connection, username)
            self._bind(connection, username, user_dn, password)
            groups = self._groups(connection, username, user_dn) if self._group_base_dn is not None else ()
        except (LDAPException, OSError) as exc:
            log.warning("LDAP authentication of %r could not finish: %s", username, exc)
            raise AuthenticatorUnavailable(UNAVAILABLE_MESSAGE) from exc
        finally:
            _close(connection)
        if self._required_groups and not any(group.casefold() in self._required_groups for group in groups):
            log.info(
                "LDAP login refused for %r: in none of the required groups (%s); member of: %s",
                username,
                ", ".join(sorted(self._required_groups)),
                ", ".join(groups) or "no group",
            )
            raise AuthenticationFailed(FAILED_MESSAGE)
        return Identity(canonical_user_name(username), groups)

    def _connect(self) -> ldap3.Connection:
        """An open connection (TLS started if configured) to the first URL that answers."""
        failures = []
        for endpoint in self._endpoints:
            server = ldap3.Server(
                endpoint.host,
                port=endpoint.port,
                use_ssl=endpoint.ldaps,
                tls=self._tls,
                get_info=ldap3.NONE,
                connect_timeout=self._timeout,
            )
            connection = ldap3.Connection(
                server,
                user=self._bind_dn,
                password=self._bind_password,
                authentication=ldap3.SIMPLE if self._bind_dn else ldap3.ANONYMOUS,
                client_strategy=ldap3.SYNC,
                auto_bind=ldap3.AUTO_BIND_NONE,
                read_only=True,
                raise_exceptions=False,
                auto_referrals=False,
                receive_timeout=max(1, math.ceil(self._timeout)),
            )
            try:
                connection.open(read_server_info=False)
                if self._start_tls:
                    connection.start_tls(read_server_info=False)
                return connection
            except (LDAPException, OSError) as exc:
                _close(connection)
                failures.append(f"{endpoint.url}: {exc}")
        log.warning("no LDAP directory answered: %s", "; ".join(failures))
        raise AuthenticatorUnavailable(UNAVAILABLE_MESSAGE)

    def _bind(self, connection: ldap3.Connection, username: str, dn: str, password: str) -> None:
        """Bind as ``dn``; AuthenticationFailed when the directory rejects the credentials."""
        try:
            bound = connection.rebind(
                user=dn, password=password, authentication=ldap3.SIMPLE, read_server_info=False
            )
        except LDAPSASLPrepError:
            log.info("LDAP login refused for %r: the password has characters SASLprep prohibits", username)
            raise AuthenticationFailed(FAILED_MESSAGE) from None
        result = connection.result or {}
        if bound and result.get("result") == 0:
            return
        code = result.get("result")
        if code in CREDENTIAL_RESULTS:
            log.info("LDAP login refused for %r: bind as %r: %s", username, dn, result.get("description"))
            raise AuthenticationFailed(FAILED_MESSAGE)
        log.warning("LDAP bind as %r failed: %s (%s)", dn, result.get("description"), result.get("message"))
        raise AuthenticatorUnavailable(UNAVAILABLE_MESSAGE)

    def _search(
        self,
        connection: ldap3.Connection,
        base: str,
        search_filter: str,
        attributes: Any,
        size_limit: int = 0,
    ) -> list[dict[str, Any]]:
        """The entries a subtree search finds (a size limit cut is no error); AuthenticatorUnavailable
        when the search fails."""
        connection.search(
            base,
            search_filter,
            ldap3.SUBTREE,
            attributes=attributes,
            size_limit=size_limit,
            time_limit=max(1, math.ceil(self._timeout)),
        )
        result = connection.result or {}
        if result.get("result") not in (SEARCH_OK, SIZE_LIMIT_EXCEEDED):
            log.warning(
                "LDAP search below %r for %s failed: %s (%s)",
                base,
                search_filter,
                result.get("description"),
                result.get("message"),
            )
            raise AuthenticatorUnavailable(UNAVAILABLE_MESSAGE)
        return [entry for entry in connection.response or () if entry.get("type") == "searchResEntry"]

    def _find_user(self, connection: ldap3.Connection, username: str) -> str:
        """The DN of the one entry the user filter finds (as the service account, or anonymously)."""
        if self._bind_dn is not None and not connection.bind(read_server_info=False):
            result = connection.result or {}
            log.error(
                "LDAP bind as the service account %r failed: %s (%s); check %s and %s",
                self._bind_dn,
                result.get("description"),
                result.get("message"),
                LdapConfKey.BIND_DN.value,
                LdapConfKey.BIND_PASSWORD_FILE.value,
            )
            raise AuthenticatorUnavailable(UNAVAILABLE_MESSAGE)
        assert self._base_dn is not None and self._user_filter is not None
        search_filter = _fill(self._user_filter, {"user": escape_filter_value(username)})
        entries = self._search(connection, self._base_dn, search_filter, ldap3.NO_ATTRIBUTES, size_limit=2)
        if len(entries) != 1 or not entries[0].get("dn"):
            if entries:
                log.warning(
                    "LDAP login refused for %r: %s matches several entries below %r",
                    username,
                    search_filter,
                    self._base_dn,
                )
            else:
                log.info(
                    "LDAP login refused for %r: no entry below %r matches %s",
                    username,
                    self._base_dn,
                    search_filter,
                )
            raise AuthenticationFailed(FAILED_MESSAGE)
        return str(entries[0]["dn"])

    def _groups(self, connection: ldap3.Connection, username: str, user_dn: str) -> tuple[str, ...]:
        """The ``cn`` values of the user's groups, sorted (searched as the bound user)."""
        assert self._group_base_dn is not None
        search_filter = _fill(
            self._group_filter, {"dn": escape_filter_value(user_dn), "user": escape_filter_value(username)}
        )
        names: set[str] = set()
        for entry in self._search(connection, self._group_base_dn, search_filter, [GROUP_NAME_ATTRIBUTE]):
            values = (entry.get("attributes") or {}).get(GROUP_NAME_ATTRIBUTE) or []
            names.update(str(value) for value in (values if isinstance(values, list) else [values]))
        return tuple(sorted(names))


def _is_loopback(host: str) -> bool:
    if host.lower() in ("localhost", "ip6-localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
