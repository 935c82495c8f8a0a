"""What every authenticator shares: the identity it establishes and the error it raises."""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass


@dataclass(frozen=True)
class Identity:
    """An authenticated user: the name every node, ticket and audit line knows them by."""

    user: str
    groups: tuple[str, ...] = ()


ANONYMOUS = Identity("anonymous")
"""The caller's identity when ``spark.flight.auth=none``."""


class AuthenticationFailed(Exception):
    """Wrong or missing credentials. The message goes to the client, so it never says which part
    was wrong (unknown user and wrong password read the same)."""


class AuthenticatorUnavailable(Exception):
    """The authenticator could not decide (its directory is unreachable): the client should retry."""


class Authenticator(ABC):
    """Checks a user name and password; ``spark.flight.auth`` names the implementation.

    Implementations are built with the node's Spark conf lookup (``get(key) -> str | None``) and
    must be safe to call from many threads at once.
    """

    @abstractmethod
    def authenticate(self, username: str, password: str) -> Identity:
        """The identity these credentials prove; AuthenticationFailed when they prove none,
        AuthenticatorUnavailable when it cannot be decided now."""

    def is_active(self, identity: Identity) -> bool:
        """Whether a token of ``identity`` may still be honoured (checked on every call, so it must be
        cheap): an authenticator that can tell cheaply that a user was removed says False."""
        return True
