"""A policy of per-user and per-group access levels and table allow-lists, in a TOML file.

``spark.flight.authz.policy=file`` reads the rules from ``spark.flight.authz.policyFile``::

    [default]            # users with no entry of their own and in no listed group
    access = "read-only"

    [users.alice]
    access = "read-write"
    tables = ["spark_catalog.sales.*", "spark_catalog.default.t"]

    [groups.analysts]    # matched against the groups the authenticator reports
    access = "read-only"

Whose rules apply
-----------------
A user's own ``[users.<name>]`` entry (the name exactly as authenticated) is all that applies to
them, so an entry can narrow what their groups would give. A user without one gets the entries of
every ``[groups.<name>]`` they belong to, and may run a statement when any one of those entries
allows it on its own (entries are not merged: one group's level never combines with another
group's tables). A user with neither gets ``[default]``; without a ``[default]``, they may run
nothing.

Levels
------
``access`` is one of:

- ``none``: nothing.
- ``read-only``: queries, and statements that change nothing other sessions see
  (``StatementAccess.session_only``): SHOW, DESCRIBE, EXPLAIN, USE, SET of a session SQL setting,
  and creating, replacing and dropping the session's own temporary views.
- ``read-write``: adds writing table data (the ``WRITE`` kind: INSERT, UPDATE, DELETE, MERGE,
  TRUNCATE, LOAD DATA, and CREATE/REPLACE TABLE ... AS SELECT, since Spark counts them as writes of
  the new table's data).
- ``admin``: adds DDL (creating, altering and dropping tables, views, global temporary views,
  functions and databases) and the commands that change shared state (CACHE/UNCACHE, REFRESH,
  ANALYZE, ADD JAR, SET of other settings). Only an admin without ``tables`` may run statements
  whose effect is known only when they run (EXECUTE IMMEDIATE, SQL scripts, CALL).

Tables
------
``tables`` is an optional allow-list of glob patterns (``fnmatch``: ``*``, ``?``, ``[...]``; ``*``
also matches dots) on the normalised names of :mod:`spark_flight_sql.flightsql.authz.access`. Every name a
statement reads or writes must match one of its patterns: ``spark_catalog.sales.*`` allows every
table and view of that database, and, as a name of its own, the database as a whole (CREATE/DROP
DATABASE for an admin); ``spark_catalog.*`` the whole session catalog; ``global_temp.*`` every
global temporary view (they are named ``global_temp.<name>``). Patterns match in lower
case, as the names are; files are allowed only by patterns that start with ``path:``
(``path:s3a://bucket/shared/*``; their case is kept) and other sources (a JDBC relation behind a
view) only by patterns that start with ``source:``. Without ``tables``, an entry allows every table
and view of every catalog, but files and other sources only for an ``admin``: direct file access
goes around the catalog. ``tables = []`` allows no table at all (only the session's own objects).

What is not checked against ``tables``: the session's own objects (``system.session.*``: local
temporary views, whose own reads are checked instead, since reading a temporary view records what
the view reads; temporary functions; session variables), databases only listed or entered (SHOW
TABLES IN, USE, DESCRIBE DATABASE: names only, as the Flight SQL metadata calls give them to every
user), and what a persistent or global temporary view reads on a reader's behalf
(``view_reads``): allowing a view allows reading it, as in SQL.

Reloading
---------
The file is checked for changes (modification time, size and inode) on every statement and
reread when it changed: operators edit it in place or replace it, and the next statement follows
the new rules. A file that is missing or wrong at start is a ValueError naming the key and the
problem; a later edit that does not parse (or a file that disappears) is logged as an error once
and the last good rules stay in force until the file is fixed. Reading TOML needs Python 3.11 or
newer (``tomllib``).
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from enum import IntEnum
from fnmatch import fnmatchcase
from typing import Any

from spark_flight_sql.flightsql.auth.base import Identity
from spark_flight_sql.flightsql.authz.access import AccessKind, StatementAccess
from spark_flight_sql.flightsql.authz.policy import AccessDenied, AuthzConfKey, Policy

__all__ = ["FilePolicy"]

log = logging.getLogger(__name__)

_SESSION = "system.session."
_UNCATALOGUED = ("path:", "source:")


class _Level(IntEnum):
    NONE = 0
    READ_ONLY = 1
    READ_WRITE = 2
    ADMIN = 3

    @property
    def label(self) -> str:
        return self.name.lower().replace("_", "-")


_LEVELS = {level.label: level for level in _Level}


@dataclass(frozen=True)
class _Entry:
    level: _Level
    tables: tuple[str, ...] | None
    """Glob patterns, or None for every catalogued name."""

    def allows(self, name: str) -> bool:
        if self.tables is None:
            return self.level is _Level.ADMIN or not name.startswith(_UNCATALOGUED)
        prefixed = name.startswith(_UNCATALOGUED)
        return any(
            fnmatchcase(name, pattern)
            for pattern in self.tables
            if pattern.startswith(_UNCATALOGUED) == prefixed
        )


@dataclass(frozen=True)
class _Rules:
    default: _Entry | None
    users: Mapping[str, _Entry]
    groups: Mapping[str, _Entry]

    def entries(self, identity: Identity) -> list[_Entry]:
        own = self.users.get(identity.user)
        if own is not None:
            return [own]
        groups = [self.groups[group] for group in dict.fromkeys(identity.groups) if group in self.groups]
        if groups:
            return groups
        return [self.default] if self.default is not None else []


class FilePolicy(Policy):
    """Access levels and table allow-lists per user, group and default, from a TOML file that is
    reread when it changes (see the module docstring for the rules)."""

    def __init__(self, get: Callable[[str], str | None]) -> None:
        """Read the file ``spark.flight.authz.policyFile`` names; ValueError when it is missing or wrong."""
        key = AuthzConfKey.POLICY_FILE.value
        path = (get(key) or "").strip()
        if not path:
            raise ValueError(f"{key} must name the policy file when {AuthzConfKey.POLICY.value} is file")
        self.path = path
        self._lock = threading.Lock()
        try:
            self._state = _read(path)
        except ValueError as exc:
            raise ValueError(f"{key}: {exc}") from None
        self._failed: object = None
        """The file version (or error) last found wrong, so that it is logged once."""

    def check(self, identity: Identity, access: StatementAccess) -> None:
        """Allow the statement, or raise AccessDenied naming the user and the first thing refused."""
        entries = self._rules().entries(identity)
        if not entries:
            raise AccessDenied(
                f"user {identity.user!r} has no access: the authorization policy has no entry for them"
            )
        refusals = [_refusal(entry, access) for entry in entries]
        if any(refusal is None for refusal in refusals):
            return
        level, what = next(r for r in refusals if r is not None)
        raise AccessDenied(f"user {identity.user!r} ({level.label}) may not {what}")

    def _rules(self) -> _Rules:
        version, rules = self._state
        try:
            current = _version(os.stat(self.path))
        except OSError as exc:
            self._log_failure(str(exc), f"cannot read the authorization policy {self.path}: {exc}")
            return rules
        if current == version:
            if self._failed is not None:
                self._failed = None  # the file is back as it was: a later failure is news again
            return rules
        with self._lock:
            version, rules = self._state
            if current == version or current == self._failed:
                return rules
            try:
                self._state = _read(self.path)
            except ValueError as exc:
                self._log_failure(current, f"{exc}")
                return rules
            self._failed = None
            log.info("reloaded the authorization policy %s", self.path)
            return self._state[1]

    def _log_failure(self, failure: object, message: str) -> None:
        if failure != self._failed:
            self._failed = failure
            log.error("%s; the last good authorization policy stays in force", message)


def _refusal(entry: _Entry, access: StatementAccess) -> tuple[_Level, str] | None:
    """Why ``entry`` does not allow the statement (its level and what it may not do), or None."""
    level = entry.level
    if level is _Level.NONE:
        return level, "run any statement"
    if access.opaque:
        if level is _Level.ADMIN and entry.tables is None:
            return None
        return level, f"run statements whose effect is known only when they run ({access.operation})"
    if access.kind is AccessKind.QUERY or access.session_only:
        needed = _Level.READ_ONLY
    elif access.kind is AccessKind.WRITE:
        needed = _Level.READ_WRITE
    else:
        needed = _Level.ADMIN
    if level < needed:
        what = "statements that change shared state" if access.kind is AccessKind.COMMAND else "statements"
        return level, f"run {access.kind.value.upper()} {what} ({access.operation})"
    for name in sorted(access.writes):
        if not name.startswith(_SESSION) and not entry.allows(name):
            return level, f"write {name}"
    for name in sorted(access.reads):
        if not name.startswith(_SESSION) and not name.endswith(".*") and not entry.allows(name):
            return level, f"read {name}"
    return None


def _version(stat: os.stat_result) -> tuple[int, int, int]:
    return stat.st_mtime_ns, stat.st_size, stat.st_ino


def _read(path: str) -> tuple[tuple[int, int, int], _Rules]:
    """The file's version and rules; ValueError (naming the file and the problem) when it is wrong."""
    try:
        with open(path, "rb") as file:
            version = _version(os.fstat(file.fileno()))
            data = file.read()
    except OSError as exc:
        raise ValueError(f"cannot read the authorization policy {path}: {exc.strerror or exc}") from None
    try:
        import tomllib
    except ModuleNotFoundError:  # Python 3.10
        raise ValueError("the file policy needs Python 3.11 or newer (tomllib)") from None
    try:
        document = tomllib.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise ValueError(f"{path} is not valid TOML: {exc}") from None
    try:
        return version, _parse(document)
    except ValueError as exc:
        raise ValueError(f"{path}: {exc}") from None


def _parse(document: Mapping[str, Any]) -> _Rules:
    unknown = sorted(set(document) - {"default", "users", "groups"})
    if unknown:
        raise ValueError(f"unknown key {unknown[0]!r} (the keys are default, users and groups)")
    default = _entry("default", document["default"]) if "default" in document else None
    sections: dict[str, dict[str, _Entry]] = {}
    for section in ("users", "groups"):
        table = document.get(section, {})
        if not isinstance(table, dict):
            raise ValueError(f"{section} must be a table of entries ([{section}.<name>])")
        sections[section] = {name: _entry(f"{section}.{name}", value) for name, value in table.items()}
    return _Rules(default, sections["users"], sections["groups"])


def _entry(key: str, value: object) -> _Entry:
    if not isinstance(value, dict):
        raise ValueError(f"{key} must be a table with access (and optionally tables)")
    unknown = sorted(set(value) - {"access", "tables"})
    if unknown:
        raise ValueError(f"{key}: unknown key {unknown[0]!r} (an entry has access and tables)")
    if "access" not in value:
        raise ValueError(f"{key}.access is missing (one of {', '.join(_LEVELS)})")
    access = value["access"]
    if not isinstance(access, str) or access.strip().lower() not in _LEVELS:
        raise ValueError(f"{key}.access must be one of {', '.join(_LEVELS)}, not {access!r}")
    tables = value.get("tables")
    patterns: tuple[str, ...] | None = None
    if tables is not None:
        if not isinstance(tables, list) or not all(isinstance(t, str) and t.strip() for t in tables):
            raise ValueError(f"{key}.tables must be a list of non-empty name patterns, not {tables!r}")
        patterns = tuple(
            t.strip() if t.strip().startswith(_UNCATALOGUED) else t.strip().lower() for t in tables
        )
    return _Entry(_LEVELS[access.strip().lower()], patterns)
