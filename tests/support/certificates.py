"""Test certificates made with ``cryptography``: a CA, a server certificate for 127.0.0.1 and
localhost, a client certificate, and a second CA that signed nothing of ours."""

from __future__ import annotations

import datetime
import ipaddress
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

SERVER_NAMES = ("localhost", "127.0.0.1", "::1")
"""What a server certificate is valid for, unless told otherwise."""


@dataclass(frozen=True)
class Certificates:
    """Paths of the PEM files :func:`make_certificates` wrote."""

    folder: Path
    ca: Path
    """The CA certificate that signed the server and client certificates."""
    server_cert: Path
    """The server certificate alone (SAN 127.0.0.1, ::1 and localhost)."""
    server_chain: Path
    """The server certificate followed by the CA certificate: a chain that ends with its root."""
    server_key: Path
    client_cert: Path
    client_key: Path
    other_ca: Path
    """A CA that signed nothing here: trusting only it must fail."""
    other_client_cert: Path
    """A client certificate signed by ``other_ca``."""
    other_client_key: Path

    def pem(self, name: str) -> bytes:
        """The bytes of one of the files, by field name."""
        path = getattr(self, name)
        assert isinstance(path, Path)
        return path.read_bytes()


def _key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    """``key`` as unencrypted PKCS#8 PEM."""
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def cert_pem(cert: x509.Certificate) -> bytes:
    """``cert`` as PEM."""
    return cert.public_bytes(serialization.Encoding.PEM)


def write_pem(path: Path, content: bytes, *, private: bool = False) -> Path:
    """Write ``content`` to ``path``, readable by its owner only if ``private`` (a key)."""
    path.write_bytes(content)
    if private:
        path.chmod(0o600)
    return path


def _general_name(name: str) -> x509.GeneralName:
    """An IP address entry of a SubjectAlternativeName if ``name`` is one, else a DNS name entry."""
    try:
        return x509.IPAddress(ipaddress.ip_address(name))
    except ValueError:
        return x509.DNSName(name)


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def _builder(
    subject: x509.Name, issuer: x509.Name, key: ec.EllipticCurvePrivateKey, *, days: int
) -> x509.CertificateBuilder:
    """A certificate of ``key`` for ``subject`` signed by ``issuer``: valid from an hour ago for ``days``."""
    now = datetime.datetime.now(datetime.UTC)
    return (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(hours=1))
        .not_valid_after(now + datetime.timedelta(days=days))
    )


def certificate_authority(name: str) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
    """A self-signed CA certificate named ``name``, and its key."""
    key = _key()
    subject = _name(name)
    cert = (
        _builder(subject, subject, key, days=2)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    return cert, key


def leaf_certificate(
    name: str,
    ca: x509.Certificate,
    ca_key: ec.EllipticCurvePrivateKey,
    *,
    server: bool,
    server_names: Sequence[str] = SERVER_NAMES,
) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
    """A certificate named ``name`` signed by ``ca``, and its key: a client's, or a server's valid for
    ``server_names`` (host names and IP addresses) only."""
    key = _key()
    builder = (
        _builder(_name(name), ca.subject, key, days=1)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.ExtendedKeyUsage(
                [ExtendedKeyUsageOID.SERVER_AUTH if server else ExtendedKeyUsageOID.CLIENT_AUTH]
            ),
            critical=False,
        )
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False
        )
    )
    if server:
        builder = builder.add_extension(
            x509.SubjectAlternativeName([_general_name(name) for name in server_names]),
            critical=False,
        )
    return builder.sign(ca_key, hashes.SHA256()), key


def make_certificates(folder: Path) -> Certificates:
    """Write a fresh CA, server and client certificates (and an unrelated CA) into ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    ca, ca_key = certificate_authority("spark-flight-sql test CA")
    server, server_key = leaf_certificate("spark-flight-sql test node", ca, ca_key, server=True)
    client, client_key = leaf_certificate("test-client", ca, ca_key, server=False)
    other_ca, other_ca_key = certificate_authority("an unrelated CA")
    other_client, other_client_key = leaf_certificate("stranger", other_ca, other_ca_key, server=False)
    files = {
        "ca": cert_pem(ca),
        "server_cert": cert_pem(server),
        "server_chain": cert_pem(server) + cert_pem(ca),
        "server_key": key_pem(server_key),
        "client_cert": cert_pem(client),
        "client_key": key_pem(client_key),
        "other_ca": cert_pem(other_ca),
        "other_client_cert": cert_pem(other_client),
        "other_client_key": key_pem(other_client_key),
    }
    paths = {
        name: write_pem(folder / f"{name}.pem", content, private=name.endswith("key"))
        for name, content in files.items()
    }
    return Certificates(folder=folder, **paths)
