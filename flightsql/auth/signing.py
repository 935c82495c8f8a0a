"""Values the cluster hands out and takes back (tickets, prepared statement handles), signed with a
key derived from the cluster secret, so that any node accepts them and nobody can alter or forge them."""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac

from spark_flight_sql.flightsql.errors import InvalidArgument


def derive_key(secret: bytes, purpose: str) -> bytes:
    """A key for one purpose, so that a value signed for one use is worthless for another."""
    return hmac.new(secret, b"spark-flight-sql\0" + purpose.encode(), hashlib.sha256).digest()


class Signer:
    """Signs and verifies byte strings for one purpose: ``base64url(payload) "." base64url(mac)``."""

    def __init__(self, secret: bytes, purpose: str) -> None:
        self.purpose = purpose
        self._key = derive_key(secret, purpose)

    def sign(self, payload: bytes) -> bytes:
        """``payload`` with its signature."""
        mac = hmac.new(self._key, payload, hashlib.sha256).digest()
        return _encode(payload) + b"." + _encode(mac)

    def verify(self, signed: bytes) -> bytes:
        """The payload of a value this cluster signed; InvalidArgument for anything else."""
        encoded, dot, encoded_mac = signed.partition(b".")
        try:
            if not dot:
                raise ValueError
            payload, mac = _decode(encoded), _decode(encoded_mac)
        except (ValueError, binascii.Error):
            raise InvalidArgument(f"not a {self.purpose} issued by this server") from None
        expected = hmac.new(self._key, payload, hashlib.sha256).digest()
        if not hmac.compare_digest(mac, expected):
            raise InvalidArgument(f"the {self.purpose} was altered or not issued by this cluster")
        return payload


def _encode(data: bytes) -> bytes:
    return base64.urlsafe_b64encode(data).rstrip(b"=")


def _decode(data: bytes) -> bytes:
    return base64.urlsafe_b64decode(data + b"=" * (-len(data) % 4))
