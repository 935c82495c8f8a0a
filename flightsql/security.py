"""The security of one Flight SQL node, assembled from its settings: who may connect (authenticator
and bearer tokens), what they may run (the authorization policy), and the signatures that bind
tickets and prepared statement handles to their user.

The cluster secret (:attr:`spark_flight_sql.flightmanager.FlightManager.cluster_secret`) keys every signature, so a
token, ticket or handle issued by one node is accepted by all and by no other cluster.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from dataclasses import dataclass

from spark_flight_sql.flightmanager.config import ConfKey, FlightConfig
from spark_flight_sql.flightsql.auth.base import Authenticator, Identity
from spark_flight_sql.flightsql.auth.settings import (
    AuthConfKey,
    AuthMode,
    auth_mode,
    load_authenticator,
    token_ttl,
)
from spark_flight_sql.flightsql.auth.signing import Signer
from spark_flight_sql.flightsql.auth.tokens import TokenService
from spark_flight_sql.flightsql.authz import AccessDenied, AllowAll, Policy, StatementAccess, load_policy
from spark_flight_sql.flightsql.errors import InvalidArgument, PermissionDenied

audit = logging.getLogger("spark_flight_sql.audit")


@dataclass(frozen=True)
class Security:
    """A node's authenticator (None: anyone may connect), tokens, policy and signers."""

    authenticator: Authenticator | None
    tokens: TokenService
    policy: Policy
    tickets: Signer
    statements: Signer

    @classmethod
    def from_conf(cls, get: Callable[[str], str | None], config: FlightConfig, secret: bytes) -> Security:
        """Build from the node's conf; ValueError naming the key of a bad or unsafe setting."""
        check_settings(get, config)
        mode = auth_mode(get, config.host)
        return cls(
            authenticator=load_authenticator(mode, get),
            tokens=TokenService(secret, token_ttl(get)),
            policy=load_policy(get),
            tickets=Signer(secret, "ticket"),
            statements=Signer(secret, "prepared statement handle"),
        )

    def bind(self, signer: Signer, identity: Identity, value: bytes) -> bytes:
        """``value`` signed and bound to ``identity``'s user."""
        return signer.sign(json.dumps({"u": identity.user, "v": value.decode("latin-1")}).encode())

    def unbind(self, signer: Signer, identity: Identity, signed: bytes) -> bytes:
        """The value of ``signed``, if this cluster signed it for ``identity``'s user."""
        try:
            body = json.loads(signer.verify(signed))
            user, value = body["u"], body["v"]
            if not isinstance(user, str) or not isinstance(value, str):
                raise ValueError
        except (ValueError, TypeError, KeyError):
            raise InvalidArgument(f"not a {signer.purpose} issued by this server") from None
        if user != identity.user:
            audit.warning("refused %s of user=%s to user=%s", signer.purpose, user, identity.user)
            raise PermissionDenied(f"this {signer.purpose} belongs to another user")
        return value.encode("latin-1")

    @property
    def checks_statements(self) -> bool:
        """Whether statements must be analysed for the policy (not when it allows everything)."""
        return not isinstance(self.policy, AllowAll)

    def authorize(self, identity: Identity, access: StatementAccess) -> None:
        """PERMISSION_DENIED unless the policy lets ``identity`` run the statement."""
        try:
            self.policy.check(identity, access)
        except AccessDenied as exc:
            audit.warning(
                "denied user=%s kind=%s operation=%s reason=%s",
                identity.user,
                access.kind.value,
                access.operation,
                exc,
            )
            raise PermissionDenied(str(exc)) from None


def check_settings(get: Callable[[str], str | None], config: FlightConfig) -> None:
    """Refuse settings that would open the cluster: no authentication on a reachable address unless
    asked for, and a cluster with authentication but no configured secret (tokens and signatures
    would then be keyed by a secret anyone with ZooKeeper access can read)."""
    mode = auth_mode(get, config.host)
    if mode != AuthMode.NONE.value and config.manager == "zookeeper" and config.cluster_secret is None:
        raise ValueError(
            f"{AuthConfKey.AUTH.value}={mode} on a cluster needs the same {ConfKey.CLUSTER_SECRET_FILE.value} "
            f"(or {ConfKey.CLUSTER_SECRET.value}) on every node"
        )
