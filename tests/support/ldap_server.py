"""A real OpenLDAP server (Debian's ``slapd``) for tests: ``with SlapdServer() as server: ...``.

Each server runs on loopback ports of its own, with its configuration (a ``slapd.conf``), TLS
certificates and mdb database in a fresh temporary folder that :meth:`SlapdServer.stop` removes. The
directory (suffix ``dc=example,dc=org``) holds the users of :data:`USERS` and the groups of
:data:`GROUPS`; :func:`find_slapd` says where the binary is, or :data:`SKIP_REASON` why tests skip.
"""

from __future__ import annotations

import base64
import hashlib
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import warnings
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

from support.processes import start
from support.waiting import wait_until

with warnings.catch_warnings():
    # ldap3 2.9.1, its last release, imports names that pyasn1 0.6.1 and later deprecate.
    warnings.filterwarnings("ignore", category=DeprecationWarning, module=r"ldap3(\.|$)")
    import ldap3

SUFFIX = "dc=example,dc=org"
PEOPLE = f"ou=people,{SUFFIX}"
STAFF = f"ou=staff,{SUFFIX}"
CONTRACTORS = f"ou=contractors,{SUFFIX}"
GROUPS_OU = f"ou=groups,{SUFFIX}"
ADMIN_DN = f"cn=admin,{SUFFIX}"
ADMIN_PASSWORD = "admin-secret"
READER_DN = f"cn=reader,{SUFFIX}"
"""A service account that may read ``ou=staff``, which anonymous clients cannot search."""
READER_PASSWORD = "reader-secret"
SKIP_REASON = (
    "OpenLDAP's slapd is not installed: install the Debian packages 'slapd' and 'ldap-utils' "
    "(bash tests/ensure_slapd.sh does it as root)"
)
START_TIMEOUT = 120.0
STOP_TIMEOUT = 60.0
SCHEMA_DIRS = ("/etc/ldap/schema", "/etc/openldap/schema", "/usr/local/etc/openldap/schema")
MODULE_DIRS = ("/usr/lib/ldap", "/usr/lib64/openldap", "/usr/lib/openldap", "/usr/libexec/openldap")


@dataclass(frozen=True)
class User:
    """A person in the directory: ``uid`` is the login name, ``ou`` the DN of the entry's parent."""

    uid: str
    password: str
    ou: str = PEOPLE

    @property
    def dn(self) -> str:
        return f"uid={escape_dn_value(self.uid)},{self.ou}"


ALICE = User("alice", "alice-secret")
BOB = User("bob", "bob-secret")
CAROL = User("carol", "carol-secret")
OBRIEN = User("o'brien, jr", "obrien-secret")
"""DN-special characters: the comma must be escaped in the DN."""
PLUS = User("a+b", "plus-secret")
"""A multi-valued-RDN look-alike: the plus must be escaped in the DN."""
WEIRD = User("we(i)rd*\\name", "weird-secret")
"""Filter-special characters: ``(``, ``)``, ``*`` and ``\\`` must be escaped in a search filter."""
ZOE = User("zoë", "zoë-secret")
"""A non-ASCII name and password."""
DAVE = User("dave", "dave-secret", STAFF)
"""Under ``ou=staff``: only an authenticated account (:data:`READER_DN`) can find him by searching."""
TWIN = User("twin", "twin-secret")
TWIN_CONTRACTOR = User("twin", "twin-other-secret", CONTRACTORS)
"""Same uid as :data:`TWIN` in another OU: a search from the suffix finds both."""
USERS = (ALICE, BOB, CAROL, OBRIEN, PLUS, WEIRD, ZOE, DAVE, TWIN, TWIN_CONTRACTOR)
GROUPS: dict[str, tuple[User, ...]] = {
    "analysts": (ALICE, OBRIEN, PLUS, ZOE),
    "admins": (BOB,),
    "everyone": (ALICE, BOB, CAROL, OBRIEN, PLUS, WEIRD, ZOE, DAVE, TWIN),
}
"""groupOfNames under ``ou=groups``, by cn; carol is only in ``everyone``."""


def escape_dn_value(value: str) -> str:
    """``value`` escaped as an RFC 4514 attribute value (for building the test data)."""
    out = []
    for index, char in enumerate(value):
        if char in '"+,;<>\\=' or (index == 0 and char in "# ") or (index == len(value) - 1 and char == " "):
            out.append("\\" + char)
        elif char == "\0":
            out.append("\\00")
        else:
            out.append(char)
    return "".join(out)


def find_slapd() -> str | None:
    """The slapd binary (PATH, then /usr/sbin and /usr/local/libexec), or None."""
    found = shutil.which("slapd")
    if found:
        return found
    for candidate in (
        "/usr/sbin/slapd",
        "/usr/local/sbin/slapd",
        "/usr/libexec/slapd",
        "/usr/local/libexec/slapd",
    ):
        if os.access(candidate, os.X_OK):
            return candidate
    return None


def _schema_dir() -> Path:
    for folder in SCHEMA_DIRS:
        if (Path(folder) / "core.schema").is_file():
            return Path(folder)
    raise FileNotFoundError(f"no OpenLDAP schema folder (core.schema) in {', '.join(SCHEMA_DIRS)}")


def _module_lines() -> str:
    """modulepath/moduleload lines when back_mdb is a loadable module (it may be built in)."""
    for folder in MODULE_DIRS:
        for name in ("back_mdb.so", "back_mdb.la"):
            if (Path(folder) / name).exists():
                return f"modulepath {folder}\nmoduleload back_mdb\n"
    return ""


def _ssha(password: str) -> str:
    salt = os.urandom(8)
    digest = hashlib.sha1(password.encode() + salt).digest()
    return "{SSHA}" + base64.b64encode(digest + salt).decode()


def _ldif_line(attribute: str, value: str) -> str:
    """One LDIF line, base64 when the value is not an RFC 2849 SAFE-STRING."""
    safe = value.isascii() and value[:1] not in (" ", ":", "<") and not value.endswith(" ")
    safe = safe and not any(char in value for char in "\0\r\n")
    if safe:
        return f"{attribute}: {value}"
    return f"{attribute}:: {base64.b64encode(value.encode()).decode()}"


def _entry(dn: str, *attributes: tuple[str, str]) -> str:
    return "\n".join([_ldif_line("dn", dn), *(_ldif_line(name, value) for name, value in attributes)]) + "\n"


def directory_ldif() -> str:
    """The whole test directory as LDIF."""
    entries = [
        _entry(
            SUFFIX,
            ("objectClass", "dcObject"),
            ("objectClass", "organization"),
            ("dc", "example"),
            ("o", "Example"),
        ),
        _entry(
            READER_DN,
            ("objectClass", "organizationalRole"),
            ("objectClass", "simpleSecurityObject"),
            ("cn", "reader"),
            ("userPassword", _ssha(READER_PASSWORD)),
        ),
    ]
    for ou in (PEOPLE, STAFF, CONTRACTORS, GROUPS_OU):
        entries.append(
            _entry(ou, ("objectClass", "organizationalUnit"), ("ou", ou.split(",")[0].split("=")[1]))
        )
    for user in USERS:
        entries.append(
            _entry(
                user.dn,
                ("objectClass", "inetOrgPerson"),
                ("uid", user.uid),
                ("cn", user.uid),
                ("sn", user.uid),
                ("userPassword", _ssha(user.password)),
            )
        )
    for name, members in GROUPS.items():
        entries.append(
            _entry(
                f"cn={name},{GROUPS_OU}",
                ("objectClass", "groupOfNames"),
                ("cn", name),
                *(("member", member.dn) for member in members),
            )
        )
    return "\n".join(entries)


def _write_certificates(folder: Path) -> tuple[Path, Path, Path, Path]:
    """A CA, a server certificate for IP 127.0.0.1 signed by it, and an unrelated CA:
    (ca.pem, server.pem, server.key, other-ca.pem)."""
    from support.certificates import cert_pem, certificate_authority, key_pem, leaf_certificate, write_pem

    ca, ca_key = certificate_authority("test LDAP CA")
    other_ca, _ = certificate_authority("some other CA")
    server, server_key = leaf_certificate("127.0.0.1", ca, ca_key, server=True, server_names=("127.0.0.1",))
    return (
        write_pem(folder / "ca.pem", cert_pem(ca)),
        write_pem(folder / "server.pem", cert_pem(server)),
        write_pem(folder / "server.key", key_pem(server_key), private=True),
        write_pem(folder / "other-ca.pem", cert_pem(other_ca)),
    )


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _answers(url: str) -> bool:
    """Whether an LDAP server at ``url`` answers a root DSE search (certificates unchecked)."""
    server = ldap3.Server(url, connect_timeout=1, get_info=ldap3.NONE)
    conn = ldap3.Connection(server, receive_timeout=2, raise_exceptions=True)
    try:
        conn.open(read_server_info=False)
        conn.search("", "(objectClass=*)", ldap3.BASE)
        return True
    except (ldap3.core.exceptions.LDAPException, OSError):
        return False
    finally:
        try:
            if not conn.closed:
                conn.unbind()
        except (ldap3.core.exceptions.LDAPException, OSError):
            pass
        if conn.socket is not None:  # ldap3 leaves the socket of a failed connect open
            conn.socket.close()
            conn.socket = None


class SlapdServer:
    """A slapd child process serving the test directory on ``ldap://`` and ``ldaps://`` loopback ports.

    Certificates are for IP 127.0.0.1 only (so ``localhost`` does not match them); ``ca_file`` is the
    CA that signed them and ``other_ca_file`` a CA that did not.
    """

    def __init__(self) -> None:
        binary = find_slapd()
        if binary is None:
            raise FileNotFoundError(SKIP_REASON)
        self.binary = binary
        self.folder = Path(tempfile.mkdtemp(prefix="slapd-test-"))
        self.process: subprocess.Popen[bytes] | None = None
        self.port = 0
        self.ldaps_port = 0
        self.log_path = self.folder / "slapd.log"
        self.ca_file, self.cert_file, self.key_file, self.other_ca_file = _write_certificates(self.folder)

    @property
    def url(self) -> str:
        return f"ldap://127.0.0.1:{self.port}"

    @property
    def ldaps_url(self) -> str:
        return f"ldaps://127.0.0.1:{self.ldaps_port}"

    def _write_config(self) -> Path:
        schema = _schema_dir()
        data = self.folder / "data"
        data.mkdir(exist_ok=True)
        config = self.folder / "slapd.conf"
        config.write_text(
            "".join(
                f"include {schema / name}\n"
                for name in ("core.schema", "cosine.schema", "inetorgperson.schema")
            )
            + f"pidfile {self.folder / 'slapd.pid'}\nargsfile {self.folder / 'slapd.args'}\n"
            + _module_lines()
            # Permissive like many real directories: a DN with an empty password is an anonymous bind.
            + "allow bind_anon_dn\n"
            + f"TLSCACertificateFile {self.ca_file}\nTLSCertificateFile {self.cert_file}\n"
            + f"TLSCertificateKeyFile {self.key_file}\n"
            + "database mdb\nmaxsize 16777216\n"
            + f'suffix "{SUFFIX}"\nrootdn "{ADMIN_DN}"\nrootpw {ADMIN_PASSWORD}\ndirectory {data}\n'
            + "index objectClass eq\nindex uid eq\nindex member eq\n"
            + f'access to dn.subtree="{STAFF}" attrs=userPassword\n    by anonymous auth\n    by * none\n'
            + f'access to dn.subtree="{STAFF}"\n    by users read\n    by anonymous auth\n    by * none\n'
            + "access to attrs=userPassword\n    by anonymous auth\n    by * none\n"
            + "access to *\n    by * read\n"
        )
        return config

    def start(self) -> SlapdServer:
        """Load the directory, start slapd and wait until it answers (a few tries on port clashes)."""
        config = self._write_config()
        ldif = self.folder / "directory.ldif"
        ldif.write_text(directory_ldif(), encoding="utf-8")
        load = subprocess.run(
            [self.binary, "-T", "add", "-f", str(config), "-l", str(ldif)],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            timeout=START_TIMEOUT,
            check=False,
        )
        if load.returncode != 0:
            raise RuntimeError(f"slapadd failed ({load.returncode}):\n{load.stdout.decode(errors='replace')}")
        failure = ""
        for _ in range(5):
            self.port, self.ldaps_port = _free_port(), _free_port()
            if self.port == self.ldaps_port:
                continue
            with open(self.log_path, "ab") as log:
                self.process = start(
                    [self.binary, "-d", "0", "-f", str(config), "-h", f"{self.url}/ {self.ldaps_url}/"],
                    stdin=subprocess.DEVNULL,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                )
            failure = self._wait_ready(START_TIMEOUT)
            if not failure:
                return self
            self._terminate()
        self.stop()
        raise RuntimeError(f"slapd did not start: {failure}")

    def _wait_ready(self, timeout: float) -> str:
        """'' once slapd answers a root DSE search on both ports, else why it did not."""
        process = self.process
        assert process is not None
        try:
            wait_until(
                lambda: (
                    process.poll() is not None or all(_answers(url) for url in (self.url, self.ldaps_url))
                ),
                timeout=timeout,
                interval=0.05,
            )
        except AssertionError:
            return f"no answer within {timeout} s:\n{self.log_path.read_text(errors='replace')[-4000:]}"
        if process.poll() is not None:
            return f"exited with {process.returncode}:\n{self.log_path.read_text(errors='replace')[-4000:]}"
        return ""

    def _terminate(self) -> None:
        if self.process is None:
            return
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=STOP_TIMEOUT)
        self.process = None

    def stop(self) -> None:
        """Stop slapd (SIGTERM, SIGKILL after a while) and remove its folder; safe to call twice."""
        try:
            self._terminate()
        finally:
            shutil.rmtree(self.folder, ignore_errors=True)

    def __enter__(self) -> SlapdServer:
        try:
            return self.start()
        except BaseException:
            self.stop()
            raise

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self.stop()
