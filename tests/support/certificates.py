"""Test certificates made with ``cryptography``: a CA, a server certificate for 127.0.0.1 and
localhost, a client certificate, and a second CA that signed nothing of ours."""

from __future__ import annotations

import datetime
import ipaddress
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID


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


def _key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def _cert_pem(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.PEM)


def _ca(name: str) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
    key = _key()
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(hours=1))
        .not_valid_after(now + datetime.timedelta(days=2))
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


def _leaf(
    name: str, ca: x509.Certificate, ca_key: ec.EllipticCurvePrivateKey, *, server: bool
) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
    key = _key()
    now = datetime.datetime.now(datetime.UTC)
    builder = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)]))
        .issuer_name(ca.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(hours=1))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.ExtendedKeyUsage(
                [ExtendedKeyUsageOID.SERVER_AUTH if server else ExtendedKeyUsageOID.CLIENT_AUTH]
            ),
            critical=False,
        )
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca.public_key()),
            critical=False,  # type: ignore[arg-type]
        )
    )
    if server:
        builder = builder.add_extension(
            x509.SubjectAlternativeName(
                [
                    x509.DNSName("localhost"),
                    x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
                    x509.IPAddress(ipaddress.ip_address("::1")),
                ]
            ),
            critical=False,
        )
    return builder.sign(ca_key, hashes.SHA256()), key


def make_certificates(folder: Path) -> Certificates:
    """Write a fresh CA, server and client certificates (and an unrelated CA) into ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    ca, ca_key = _ca("spark-flight-sql test CA")
    server, server_key = _leaf("spark-flight-sql test node", ca, ca_key, server=True)
    client, client_key = _leaf("test-client", ca, ca_key, server=False)
    other_ca, other_ca_key = _ca("an unrelated CA")
    other_client, other_client_key = _leaf("stranger", other_ca, other_ca_key, server=False)
    files = {
        "ca": _cert_pem(ca),
        "server_cert": _cert_pem(server),
        "server_chain": _cert_pem(server) + _cert_pem(ca),
        "server_key": _key_pem(server_key),
        "client_cert": _cert_pem(client),
        "client_key": _key_pem(client_key),
        "other_ca": _cert_pem(other_ca),
        "other_client_cert": _cert_pem(other_client),
        "other_client_key": _key_pem(other_client_key),
    }
    paths: dict[str, Path] = {}
    for name, content in files.items():
        path = folder / f"{name}.pem"
        path.write_bytes(content)
        if name.endswith("key"):
            path.chmod(0o600)
        paths[name] = path
    return Certificates(folder=folder, **paths)
