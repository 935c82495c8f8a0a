"""The users file of ``spark.flight.auth=basic``: one ``name:hash`` line per user.

Hashes are Argon2id (argon2-cffi's defaults: a random salt per hash, 64 MiB and three passes), so the
file reveals no password and a stolen copy is slow to attack. Lines starting with ``#`` are comments.
``spark-flight-sql users add|remove`` edits it; nodes reread it when it changes, so a user added or
removed takes effect without a restart.
"""

from __future__ import annotations

import os
import tempfile
import threading
from dataclasses import dataclass

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

MAX_NAME_LENGTH = 256
MAX_PASSWORD_BYTES = 4096

_hasher = PasswordHasher()
# Verified against when the user is unknown, so that both cases take the same time.
_DUMMY_HASH = _hasher.hash("not a password of anyone")


def check_user_name(name: str) -> str:
    """``name`` if it can name a user in the file (and in tokens and logs); ValueError otherwise."""
    if not name or len(name) > MAX_NAME_LENGTH:
        raise ValueError(f"a user name must have 1 to {MAX_NAME_LENGTH} characters")
    if ":" in name or any(ch.isspace() or not ch.isprintable() for ch in name):
        raise ValueError("a user name may not contain ':', spaces or control characters")
    return name


def hash_password(password: str) -> str:
    """An Argon2id hash of ``password`` with a fresh salt."""
    if not password:
        raise ValueError("the password is empty")
    if len(password.encode()) > MAX_PASSWORD_BYTES:
        raise ValueError(f"a password may have at most {MAX_PASSWORD_BYTES} bytes")
    return _hasher.hash(password)


@dataclass(frozen=True)
class _Snapshot:
    stamp: tuple[int, int, int] | None
    hashes: dict[str, str]


class UsersFile:
    """A users file: read (cached until the file changes), verify, add and remove users."""

    def __init__(self, path: str) -> None:
        self.path = path
        self._lock = threading.Lock()
        self._snapshot = _Snapshot(None, {})

    def users(self) -> dict[str, str]:
        """User name -> password hash, as the file says now."""
        try:
            info = os.stat(self.path)
        except FileNotFoundError:
            return {}
        stamp = (info.st_mtime_ns, info.st_size, info.st_ino)
        with self._lock:
            if self._snapshot.stamp != stamp:
                self._snapshot = _Snapshot(stamp, self._parse())
            return self._snapshot.hashes

    def verify(self, name: str, password: str) -> bool:
        """Whether ``password`` is ``name``'s; the same work is done for unknown users."""
        stored = self.users().get(name)
        if not password or len(password.encode()) > MAX_PASSWORD_BYTES:
            return False
        try:
            return _hasher.verify(stored or _DUMMY_HASH, password) and stored is not None
        except (VerificationError, InvalidHashError):
            return False

    def add(self, name: str, password: str) -> bool:
        """Add ``name`` or change their password; True when the user is new."""
        check_user_name(name)
        hashed = hash_password(password)
        with self._lock:
            users = self._parse()
            is_new = name not in users
            users[name] = hashed
            self._write(users)
        return is_new

    def remove(self, name: str) -> bool:
        """Remove ``name``; False when there was no such user."""
        with self._lock:
            users = self._parse()
            if users.pop(name, None) is None:
                return False
            self._write(users)
        return True

    def _parse(self) -> dict[str, str]:
        try:
            with open(self.path, encoding="utf-8") as file:
                lines = file.read().splitlines()
        except FileNotFoundError:
            return {}
        users: dict[str, str] = {}
        for number, line in enumerate(lines, 1):
            line = line.strip()
            if not line or line.startswith("#"):
                continue
            name, sep, hashed = line.partition(":")
            if not sep or not name or not hashed.startswith("$argon2"):
                raise ValueError(f"{self.path}, line {number}: expected NAME:ARGON2-HASH")
            users[name] = hashed
        return users

    def _write(self, users: dict[str, str]) -> None:
        folder = os.path.dirname(os.path.abspath(self.path))
        fd, temporary = tempfile.mkstemp(prefix=".users-", dir=folder)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as file:
                file.write(
                    "# spark-flight-sql users: NAME:ARGON2-HASH (edit with `spark-flight-sql users`)\n"
                )
                for name in sorted(users):
                    file.write(f"{name}:{users[name]}\n")
            os.chmod(temporary, 0o600)
            os.replace(temporary, self.path)
        except BaseException:
            os.unlink(temporary)
            raise
