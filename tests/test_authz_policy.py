"""The authorization policies: load_policy, AllowAll, and FilePolicy's levels, globs, groups,
default entry, reloading and validation. Pure Python: statements are described by hand."""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from pathlib import Path

import pytest

from spark_flight_sql.flightsql.auth.base import Identity
from spark_flight_sql.flightsql.authz import (
    AccessDenied,
    AccessKind,
    AllowAll,
    AuthzConfKey,
    FilePolicy,
    Policy,
    StatementAccess,
    load_policy,
)
from spark_flight_sql.flightsql.errors import PermissionDenied

QUERY, WRITE, DDL, COMMAND = AccessKind.QUERY, AccessKind.WRITE, AccessKind.DDL, AccessKind.COMMAND
SALES_T = "spark_catalog.sales.t"
SALES_U = "spark_catalog.sales.u"
HR_PAY = "spark_catalog.hr.pay"


def access(
    kind: AccessKind,
    reads: str = "",
    writes: str = "",
    *,
    view_reads: str = "",
    session_only: bool | None = None,
    opaque: bool = False,
    operation: str = "Op",
) -> StatementAccess:
    return StatementAccess(
        kind,
        frozenset(reads.split()),
        frozenset(writes.split()),
        "-- a statement",
        view_reads=frozenset(view_reads.split()),
        operation=operation,
        session_only=kind is QUERY if session_only is None else session_only,
        opaque=opaque,
    )


def conf(path: Path | str | None, policy: str | None = "file") -> Callable[[str], str | None]:
    values = {
        AuthzConfKey.POLICY.value: policy,
        AuthzConfKey.POLICY_FILE.value: None if path is None else str(path),
    }
    return values.get


def file_policy(tmp_path: Path, text: str) -> FilePolicy:
    path = tmp_path / "policy.toml"
    path.write_text(text)
    return FilePolicy(conf(path))


def allowed(policy: Policy, user: Identity | str, statement: StatementAccess) -> bool:
    identity = Identity(user) if isinstance(user, str) else user
    try:
        policy.check(identity, statement)
    except AccessDenied:
        return False
    return True


def denial(policy: Policy, user: Identity | str, statement: StatementAccess) -> str:
    identity = Identity(user) if isinstance(user, str) else user
    with pytest.raises(AccessDenied) as caught:
        policy.check(identity, statement)
    return str(caught.value)


# ---- load_policy ------------------------------------------------------------------------------


class RecordingPolicy(Policy):
    """A policy loaded by its dotted name in the tests below."""

    def __init__(self, get: Callable[[str], str | None]) -> None:
        self.setting = get("spark.flight.authz.example")

    def check(self, identity: Identity, access: StatementAccess) -> None:
        raise AccessDenied(f"user {identity.user!r} may not do anything ({self.setting})")


class NotAPolicy:
    def __init__(self, get: Callable[[str], str | None]) -> None:
        pass


def test_load_policy_defaults_to_allowing_everything() -> None:
    for setting in (None, "", " none ", "NONE"):
        policy = load_policy({AuthzConfKey.POLICY.value: setting}.get)
        assert isinstance(policy, AllowAll)
        policy.check(Identity("anyone"), access(DDL, writes="spark_catalog.x.y"))
        policy.check(Identity("anyone"), access(COMMAND, opaque=True))


def test_load_policy_file(tmp_path: Path) -> None:
    path = tmp_path / "policy.toml"
    path.write_text('[default]\naccess = "read-only"\n')
    assert isinstance(load_policy(conf(path, "file")), FilePolicy)
    assert isinstance(load_policy(conf(path, " File ")), FilePolicy)
    with pytest.raises(ValueError, match="spark.flight.authz.policyFile must name the policy file"):
        load_policy(conf(None, "file"))


def test_load_policy_by_class_name() -> None:
    values = {
        AuthzConfKey.POLICY.value: f"{__name__}.RecordingPolicy",
        "spark.flight.authz.example": "configured",
    }
    policy = load_policy(values.get)
    assert isinstance(policy, RecordingPolicy) and policy.setting == "configured"
    assert "(configured)" in denial(policy, "bob", access(QUERY))


@pytest.mark.parametrize(
    ("setting", "message"),
    [
        ("nonsense", "must be none, file or the dotted name of a Policy class"),
        ("no_such_module_anywhere.Policy", "cannot import 'no_such_module_anywhere'"),
        (f"{__name__}.Missing", "is not a subclass of spark_flight_sql.flightsql.authz.Policy"),
        (f"{__name__}.NotAPolicy", "is not a subclass of spark_flight_sql.flightsql.authz.Policy"),
    ],
)
def test_load_policy_rejects_what_is_not_a_policy(setting: str, message: str) -> None:
    with pytest.raises(ValueError, match="spark.flight.authz.policy") as caught:
        load_policy({AuthzConfKey.POLICY.value: setting}.get)
    assert message in str(caught.value)


def test_access_denied_is_permission_denied() -> None:
    assert issubclass(AccessDenied, PermissionDenied)
    assert AccessDenied("x").status == "PERMISSION_DENIED"


def test_conf_keys_are_documented() -> None:
    assert {key.value for key in AuthzConfKey} == {
        "spark.flight.authz.policy",
        "spark.flight.authz.policyFile",
    }
    assert all(key.__doc__ for key in AuthzConfKey)


# ---- FilePolicy: levels ---------------------------------------------------------------------------

LEVELS = """
[users.none]
access = "none"
[users.reader]
access = "read-only"
[users.writer]
access = "read-write"
[users.admin]
access = "admin"
"""

# (id, statement, lowest level that may run it)
STATEMENTS = [
    ("query", access(QUERY, SALES_T), "reader"),
    ("query_of_a_view", access(QUERY, "spark_catalog.sales.v", view_reads=HR_PAY), "reader"),
    ("describe", access(COMMAND, SALES_T, session_only=True), "reader"),
    ("set_session_setting", access(COMMAND, session_only=True), "reader"),
    ("use", access(COMMAND, "spark_catalog.sales.*", session_only=True), "reader"),
    ("create_temp_view", access(DDL, SALES_T, "system.session.v", session_only=True), "reader"),
    ("drop_temp_view", access(DDL, writes="system.session.v", session_only=True), "reader"),
    ("insert", access(WRITE, SALES_U, SALES_T), "writer"),
    ("ctas", access(WRITE, SALES_U, "spark_catalog.sales.new"), "writer"),
    ("delete", access(WRITE, writes=SALES_T), "writer"),
    ("create_table", access(DDL, writes="spark_catalog.sales.new"), "admin"),
    ("drop_view", access(DDL, writes="spark_catalog.sales.v"), "admin"),
    ("create_global_temp_view", access(DDL, SALES_T, "global_temp.g"), "admin"),
    ("create_temp_function", access(DDL, writes="system.session.f"), "admin"),
    ("create_database", access(DDL, writes="spark_catalog.new.*"), "admin"),
    ("cache", access(COMMAND, SALES_T), "admin"),
    ("set_catalog_setting", access(COMMAND), "admin"),
    ("analyze", access(COMMAND, writes=SALES_T), "admin"),
    ("execute_immediate", access(COMMAND, opaque=True, operation="UnresolvedExecuteImmediate"), "admin"),
    ("read_a_file", access(QUERY, "path:file:/data/x"), "admin"),
    ("read_another_source", access(QUERY, "source:JDBCRelation"), "admin"),
]
ORDER = ["none", "reader", "writer", "admin"]


@pytest.mark.parametrize(("statement", "lowest"), [s[1:] for s in STATEMENTS], ids=[s[0] for s in STATEMENTS])
def test_levels(tmp_path: Path, statement: StatementAccess, lowest: str) -> None:
    policy = file_policy(tmp_path, LEVELS)
    assert {user: allowed(policy, user, statement) for user in ORDER} == {
        user: ORDER.index(user) >= ORDER.index(lowest) for user in ORDER
    }


def test_denials_name_the_user_and_what_was_refused(tmp_path: Path) -> None:
    policy = file_policy(
        tmp_path, LEVELS + '[users.listed]\naccess = "read-write"\ntables = ["spark_catalog.sales.*"]\n'
    )
    assert denial(policy, "none", access(QUERY, SALES_T)) == "user 'none' (none) may not run any statement"
    assert denial(policy, "reader", access(WRITE, writes=SALES_T, operation="AppendData")) == (
        "user 'reader' (read-only) may not run WRITE statements (AppendData)"
    )
    assert denial(policy, "writer", access(DDL, writes=SALES_T, operation="DropTable")) == (
        "user 'writer' (read-write) may not run DDL statements (DropTable)"
    )
    assert denial(policy, "writer", access(COMMAND, SALES_T, operation="CacheTable")) == (
        "user 'writer' (read-write) may not run COMMAND statements that change shared state (CacheTable)"
    )
    # The first refused name in order, writes before reads; never any data.
    assert denial(
        policy, "listed", access(WRITE, f"{HR_PAY} spark_catalog.hr.a", "spark_catalog.ops.z " + SALES_T)
    ) == ("user 'listed' (read-write) may not write spark_catalog.ops.z")
    assert denial(policy, "listed", access(QUERY, f"{HR_PAY} spark_catalog.hr.a {SALES_T}")) == (
        "user 'listed' (read-write) may not read spark_catalog.hr.a"
    )
    assert denial(policy, "stranger", access(QUERY)) == (
        "user 'stranger' has no access: the authorization policy has no entry for them"
    )


# ---- FilePolicy: tables ------------------------------------------------------------------------------


def test_table_globs(tmp_path: Path) -> None:
    policy = file_policy(
        tmp_path,
        """
[users.alice]
access = "admin"
tables = ["spark_catalog.sales.*", "Spark_Catalog.Default.T", "other.s?.x[0-9]", "global_temp.shared_*"]
""",
    )
    for name in (
        SALES_T,
        "spark_catalog.default.t",
        "other.s1.x7",
        "global_temp.shared_1",
        "spark_catalog.sales.*",
    ):
        assert allowed(policy, "alice", access(QUERY, name)), name
        assert allowed(policy, "alice", access(WRITE, writes=name)), name
    for name in ("spark_catalog.salesx.t", "spark_catalog.default.t2", "other.s12.x7", "other.s1.xa", HR_PAY,
                 "global_temp.private"):  # fmt: skip
        assert not allowed(policy, "alice", access(QUERY, name)), name
        assert not allowed(policy, "alice", access(WRITE, writes=name)), name
    # The database as a whole is a name of its own: an admin listing it may create or drop it.
    assert allowed(policy, "alice", access(DDL, writes="spark_catalog.sales.*"))
    for database in ("spark_catalog.hr.*", "spark_catalog.default.*", "spark_catalog.*"):
        assert not allowed(policy, "alice", access(DDL, writes=database)), database


def test_what_is_not_checked_against_the_tables(tmp_path: Path) -> None:
    policy = file_policy(
        tmp_path, '[users.alice]\naccess = "read-only"\ntables = ["spark_catalog.sales.v"]\n'
    )
    # A view allowed is readable whatever it reads.
    assert allowed(policy, "alice", access(QUERY, "spark_catalog.sales.v", view_reads=HR_PAY))
    # The session's own temporary objects; databases only listed or entered.
    assert allowed(policy, "alice", access(QUERY, "system.session.mine spark_catalog.sales.v"))
    assert allowed(
        policy, "alice", access(DDL, "spark_catalog.sales.v", "system.session.mine", session_only=True)
    )
    assert allowed(policy, "alice", access(COMMAND, "spark_catalog.hr.*", session_only=True))
    assert allowed(policy, "alice", access(COMMAND, "spark_catalog.*", session_only=True))
    # But a temporary view's own reads are (analyse_access records them in reads).
    assert not allowed(policy, "alice", access(QUERY, f"system.session.mine {HR_PAY}"))
    assert not allowed(policy, "alice", access(DDL, HR_PAY, "system.session.mine", session_only=True))


def test_files_and_other_sources_need_patterns_of_their_own(tmp_path: Path) -> None:
    policy = file_policy(
        tmp_path,
        """
[users.unlisted]
access = "read-write"
[users.everything]
access = "read-only"
tables = ["*"]
[users.files]
access = "read-only"
tables = ["path:s3a://Bucket/shared/*", "source:JDBC*"]
[users.admin]
access = "admin"
""",
    )
    read_file = access(QUERY, "path:s3a://Bucket/shared/x")
    assert not allowed(policy, "unlisted", read_file)  # no tables: every catalogued name, no files
    assert allowed(policy, "unlisted", access(QUERY, "cat.db.t"))
    assert not allowed(policy, "everything", read_file)  # "*" matches catalogued names only
    assert allowed(policy, "everything", access(QUERY, "cat.db.t"))
    assert allowed(policy, "files", read_file)
    assert not allowed(policy, "files", access(QUERY, "path:s3a://bucket/shared/x"))  # paths keep their case
    assert allowed(policy, "files", access(QUERY, "source:JDBCRelation"))
    assert not allowed(policy, "files", access(QUERY, "cat.db.t"))
    assert allowed(policy, "admin", read_file)
    assert allowed(policy, "admin", access(WRITE, writes="path:file:/anywhere"))


def test_empty_tables_allow_only_the_sessions_own_objects(tmp_path: Path) -> None:
    policy = file_policy(tmp_path, '[users.alice]\naccess = "read-write"\ntables = []\n')
    assert allowed(policy, "alice", access(QUERY))
    assert allowed(policy, "alice", access(DDL, writes="system.session.v", session_only=True))
    assert not allowed(policy, "alice", access(QUERY, SALES_T))


def test_only_an_unrestricted_admin_runs_opaque_statements(tmp_path: Path) -> None:
    policy = file_policy(
        tmp_path, '[users.root]\naccess = "admin"\n[users.scoped]\naccess = "admin"\ntables = ["*"]\n'
    )
    opaque = access(COMMAND, opaque=True, operation="CompoundBody")
    assert allowed(policy, "root", opaque)
    assert "known only when they run (CompoundBody)" in denial(policy, "scoped", opaque)


# ---- FilePolicy: whose rules --------------------------------------------------------------------------

WHOSE = """
[default]
access = "read-only"
tables = ["spark_catalog.public.*"]

[users.alice]
access = "read-only"
tables = ["spark_catalog.sales.*"]

[groups.writers]
access = "read-write"
tables = ["spark_catalog.sales.*"]

[groups.hr]
access = "read-only"
tables = ["spark_catalog.hr.*"]
"""


def test_default_applies_to_users_without_entries(tmp_path: Path) -> None:
    policy = file_policy(tmp_path, WHOSE)
    assert allowed(policy, "nobody", access(QUERY, "spark_catalog.public.t"))
    assert not allowed(policy, "nobody", access(QUERY, SALES_T))
    assert allowed(policy, Identity("nobody", ("unlisted-group",)), access(QUERY, "spark_catalog.public.t"))


def test_without_default_unlisted_users_are_denied(tmp_path: Path) -> None:
    policy = file_policy(tmp_path, '[users.alice]\naccess = "admin"\n')
    assert allowed(policy, "alice", access(DDL, writes=SALES_T))
    assert "has no access" in denial(policy, "bob", access(QUERY))
    assert "has no access" in denial(policy, Identity("bob", ("writers",)), access(QUERY))


def test_groups(tmp_path: Path) -> None:
    policy = file_policy(tmp_path, WHOSE)
    carol = Identity("carol", ("writers", "hr"))
    assert allowed(policy, carol, access(WRITE, writes=SALES_T))  # from writers
    assert allowed(policy, carol, access(QUERY, HR_PAY))  # from hr
    assert not allowed(
        policy, carol, access(WRITE, writes=HR_PAY)
    )  # hr is read-only, writers may not touch hr
    # Each entry decides alone: writers' level never combines with hr's tables.
    assert not allowed(policy, carol, access(WRITE, HR_PAY, SALES_T))
    assert not allowed(policy, carol, access(QUERY, "spark_catalog.public.t"))  # groups replace the default


def test_a_users_own_entry_replaces_their_groups(tmp_path: Path) -> None:
    policy = file_policy(tmp_path, WHOSE)
    alice = Identity("alice", ("writers",))
    assert allowed(policy, alice, access(QUERY, SALES_T))
    assert not allowed(policy, alice, access(WRITE, writes=SALES_T))
    assert not allowed(policy, Identity("Alice"), access(QUERY, SALES_T))  # names match exactly


# ---- FilePolicy: reloading --------------------------------------------------------------------------------


def _rewrite(path: Path, text: str) -> None:
    """Edit the file in place, with a modification time that surely differs from the last one."""
    stat = path.stat()
    path.write_text(text)
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000_000))


def test_reloads_when_the_file_changes(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    path = tmp_path / "policy.toml"
    path.write_text('[users.alice]\naccess = "read-only"\n')
    policy = FilePolicy(conf(path))
    insert = access(WRITE, writes=SALES_T)
    assert not allowed(policy, "alice", insert)
    with caplog.at_level(logging.INFO, logger="spark_flight_sql.flightsql.authz.file_policy"):
        _rewrite(path, '[users.alice]\naccess = "read-write"\n')
        assert allowed(policy, "alice", insert)
    assert "reloaded the authorization policy" in caplog.text
    # Replacing the file (a new inode, as editors and config management do) counts too.
    replacement = tmp_path / "new.toml"
    replacement.write_text('[users.bob]\naccess = "read-write"\n')
    replacement.replace(path)
    assert "has no access" in denial(policy, "alice", insert)
    assert allowed(policy, "bob", insert)


def test_a_bad_edit_keeps_the_last_good_rules(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    path = tmp_path / "policy.toml"
    path.write_text('[users.alice]\naccess = "read-write"\n')
    policy = FilePolicy(conf(path))
    insert = access(WRITE, writes=SALES_T)
    with caplog.at_level(logging.ERROR, logger="spark_flight_sql.flightsql.authz.file_policy"):
        _rewrite(path, '[users.alice]\naccess = "everything"\n')
        assert allowed(policy, "alice", insert)
        assert allowed(policy, "alice", insert)
        errors = [r for r in caplog.records if r.levelno == logging.ERROR]
        assert len(errors) == 1, "a bad version is logged once"
        assert (
            "users.alice.access must be one of none, read-only, read-write, admin" in errors[0].getMessage()
        )
        assert "the last good authorization policy stays in force" in errors[0].getMessage()
        _rewrite(path, "[users.alice\n")
        assert allowed(policy, "alice", insert)
        assert "is not valid TOML" in caplog.records[-1].getMessage()
        path.unlink()
        assert allowed(policy, "alice", insert)
        assert "cannot read the authorization policy" in caplog.records[-1].getMessage()
        count = len(caplog.records)
        assert allowed(policy, "alice", insert)
        assert len(caplog.records) == count
    path.write_text('[users.alice]\naccess = "read-only"\n')
    assert not allowed(policy, "alice", insert)  # fixed: the new rules apply


# ---- FilePolicy: validation at start ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[users.alice\n", "is not valid TOML"),
        ('[user.alice]\naccess = "admin"\n', "unknown key 'user' (the keys are default, users and groups)"),
        ('[users.alice]\naccess = "rw"\n', "users.alice.access must be one of none, read-only, read-write, admin, not 'rw'"),
        ("[users.alice]\naccess = 3\n", "users.alice.access must be one of"),
        ("[users.alice]\ntables = []\n", "users.alice.access is missing"),
        ('[groups.hr]\naccess = "admin"\ntable = ["x"]\n', "groups.hr: unknown key 'table'"),
        ('[default]\naccess = "admin"\ntables = "spark_catalog.*"\n', "default.tables must be a list of non-empty name patterns"),
        ('[default]\naccess = "admin"\ntables = ["ok", ""]\n', "default.tables must be a list of non-empty name patterns"),
        ('default = "admin"\n', "default must be a table with access"),
        ('users = "alice"\n', "users must be a table of entries"),
        ('[users]\nalice = "admin"\n', "users.alice must be a table with access"),
    ],
)  # fmt: skip
def test_a_malformed_file_at_start_is_a_value_error(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "policy.toml"
    path.write_text(text)
    with pytest.raises(ValueError) as caught:
        FilePolicy(conf(path))
    assert str(caught.value).startswith(f"spark.flight.authz.policyFile: {path}")
    assert message in str(caught.value)


def test_a_missing_file_at_start_is_a_value_error(tmp_path: Path) -> None:
    with pytest.raises(
        ValueError, match="spark.flight.authz.policyFile: cannot read the authorization policy"
    ):
        FilePolicy(conf(tmp_path / "missing.toml"))
    with pytest.raises(ValueError, match="spark.flight.authz.policyFile must name the policy file"):
        FilePolicy(conf(" "))
