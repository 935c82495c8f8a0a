"""``spark.flight.auth=basic``: users and Argon2 password hashes in a users file."""

from __future__ import annotations

from collections.abc import Callable

from spark_flight_sql.flightsql.auth.base import AuthenticationFailed, Authenticator, Identity
from spark_flight_sql.flightsql.auth.settings import AuthConfKey
from spark_flight_sql.flightsql.auth.users_file import UsersFile


class BasicAuthenticator(Authenticator):
    """Checks passwords against the users file named by ``spark.flight.auth.basic.usersFile``."""

    def __init__(self, get: Callable[[str], str | None]) -> None:
        path = get(AuthConfKey.USERS_FILE.value)
        if not path:
            raise ValueError(f"spark.flight.auth=basic needs {AuthConfKey.USERS_FILE.value}")
        self.users = UsersFile(path)
        try:
            known = self.users.users()
        except (OSError, ValueError) as exc:
            raise ValueError(f"{AuthConfKey.USERS_FILE.value}: {exc}") from None
        if not known:
            raise ValueError(
                f"{AuthConfKey.USERS_FILE.value}: {path} has no users; add one with `spark-flight-sql users add {path} NAME`"
            )

    def authenticate(self, username: str, password: str) -> Identity:
        """The user, when the password matches the file's hash."""
        try:
            matches = self.users.verify(username, password)
        except (OSError, ValueError):
            matches = False  # an unreadable or half-edited file lets nobody in until fixed
        if not matches:
            raise AuthenticationFailed("invalid user name or password")
        return Identity(username)

    def is_active(self, identity: Identity) -> bool:
        """Whether the user is still in the users file (a removed user's tokens stop working at once)."""
        try:
            return identity.user in self.users.users()
        except (OSError, ValueError):
            return False
