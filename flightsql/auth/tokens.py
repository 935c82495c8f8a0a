"""Bearer tokens: signed (HS256 JWT), expiring, bound to their user, valid on every node that shares
the cluster secret."""

from __future__ import annotations

import time
import uuid

import jwt

from spark_flight_sql.flightsql.auth.base import AuthenticationFailed, Identity
from spark_flight_sql.flightsql.auth.signing import derive_key

ISSUER = "spark-flight-sql"
CLOCK_SKEW = 30.0
"""Seconds of clock difference between nodes a token tolerates."""


class TokenService:
    """Issues and verifies the bearer tokens that a login returns."""

    def __init__(self, secret: bytes, ttl: float) -> None:
        self._key = derive_key(secret, "bearer token")
        self.ttl = ttl

    def issue(self, identity: Identity) -> str:
        """A token proving ``identity`` until it expires."""
        now = int(time.time())
        claims = {
            "iss": ISSUER,
            "sub": identity.user,
            "grp": list(identity.groups),
            "iat": now,
            "exp": now + int(self.ttl),
            "jti": uuid.uuid4().hex,
        }
        return jwt.encode(claims, self._key, algorithm="HS256")

    def verify(self, token: str) -> Identity:
        """The identity a valid, unexpired token of this cluster proves; AuthenticationFailed otherwise."""
        try:
            claims = jwt.decode(
                token,
                self._key,
                algorithms=["HS256"],
                issuer=ISSUER,
                leeway=CLOCK_SKEW,
                options={"require": ["exp", "iat", "sub", "iss"]},
            )
        except jwt.ExpiredSignatureError:
            raise AuthenticationFailed("the token has expired: log in again") from None
        except jwt.InvalidTokenError:
            raise AuthenticationFailed("the token is not valid on this cluster: log in again") from None
        groups = claims.get("grp") or []
        if not isinstance(claims["sub"], str) or not isinstance(groups, list):
            raise AuthenticationFailed("the token is not valid on this cluster: log in again")
        return Identity(claims["sub"], tuple(str(group) for group in groups))
