"""The LDAP authenticator against a real OpenLDAP server (slapd) that the tests start and stop."""

from __future__ import annotations

import logging
import socket
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from support.ldap_server import (
    ALICE,
    BOB,
    CAROL,
    DAVE,
    GROUPS_OU,
    OBRIEN,
    PEOPLE,
    PLUS,
    READER_DN,
    READER_PASSWORD,
    SKIP_REASON,
    SUFFIX,
    TWIN,
    USERS,
    WEIRD,
    ZOE,
    SlapdServer,
    User,
    find_slapd,
    ldap3,
)

from spark_flight_sql.flightsql.auth.base import AuthenticationFailed, AuthenticatorUnavailable, Identity
from spark_flight_sql.flightsql.auth.ldap import (
    FAILED_MESSAGE,
    LdapAuthenticator,
    LdapConfKey,
    escape_dn_value,
    escape_filter_value,
)

TEMPLATE = f"uid={{user}},{PEOPLE}"
LOGGER = "spark_flight_sql.flightsql.auth.ldap"
SPECIAL_USERS = (OBRIEN, PLUS, WEIRD, ZOE)
Mode = Callable[..., LdapAuthenticator]
"""template_mode or search_mode."""


@pytest.fixture(scope="module")
def slapd() -> Iterator[SlapdServer]:
    """One slapd for the module (each test that stops a directory starts its own)."""
    if find_slapd() is None:
        pytest.skip(SKIP_REASON)
    with SlapdServer() as server:
        yield server


def authenticator(**conf: str) -> LdapAuthenticator:
    """An LdapAuthenticator from conf given by LdapConfKey member names (``URL="ldap://..."``)."""
    values = {LdapConfKey[name].value: value for name, value in conf.items()}
    return LdapAuthenticator(values.get)


def template_mode(server: SlapdServer, **conf: str) -> LdapAuthenticator:
    return authenticator(URL=server.url, USER_DN_TEMPLATE=TEMPLATE, **conf)


def search_mode(server: SlapdServer, **conf: str) -> LdapAuthenticator:
    return authenticator(URL=server.url, BASE_DN=conf.pop("BASE_DN", PEOPLE), **conf)


def groups_conf() -> dict[str, str]:
    return {"GROUP_BASE_DN": GROUPS_OU}


def assert_refused(auth: LdapAuthenticator, username: str, password: str) -> None:
    with pytest.raises(AuthenticationFailed) as caught:
        auth.authenticate(username, password)
    assert str(caught.value) == FAILED_MESSAGE


@pytest.fixture
def reader_password_file(tmp_path: Path) -> str:
    path = tmp_path / "reader.password"
    path.write_text(READER_PASSWORD + "\n")
    return str(path)


# --- Escaping ----------------------------------------------------------------------------------------


def test_escape_dn_value() -> None:
    assert escape_dn_value("o'brien, jr") == "o'brien\\, jr"
    assert escape_dn_value("a+b") == "a\\+b"
    assert escape_dn_value(' #x"; <y> =\\ ') == '\\ #x\\"\\; \\<y\\> \\=\\\\\\ '
    assert escape_dn_value("#x") == "\\#x"
    assert escape_dn_value("a\0b") == "a\\00b"
    assert escape_dn_value("zoë") == "zoë"


def test_escape_filter_value() -> None:
    assert escape_filter_value("*") == "\\2a"
    assert escape_filter_value("admin)(uid=*") == "admin\\29\\28uid=\\2a"
    assert escape_filter_value("a\\b\0") == "a\\5cb\\00"
    assert escape_filter_value(" x y ") == "\\20x y\\20"
    assert escape_filter_value("zoë") == "zoë"


# --- Logging in --------------------------------------------------------------------------------------


def test_template_mode_login(slapd: SlapdServer) -> None:
    assert template_mode(slapd).authenticate(ALICE.uid, ALICE.password) == Identity("alice")


def test_search_mode_login(slapd: SlapdServer) -> None:
    assert search_mode(slapd).authenticate(ALICE.uid, ALICE.password) == Identity("alice")
    custom = search_mode(slapd, BASE_DN=SUFFIX, USER_FILTER="(&(objectClass=inetOrgPerson)(cn={user}))")
    assert custom.authenticate(BOB.uid, BOB.password) == Identity("bob")


@pytest.mark.parametrize("mode", [template_mode, search_mode])
def test_identity_groups(slapd: SlapdServer, mode: Mode) -> None:
    auth = mode(slapd, **groups_conf())
    assert auth.authenticate(ALICE.uid, ALICE.password) == Identity("alice", ("analysts", "everyone"))
    assert auth.authenticate(BOB.uid, BOB.password) == Identity("bob", ("admins", "everyone"))
    assert auth.authenticate(CAROL.uid, CAROL.password) == Identity("carol", ("everyone",))


def test_group_filter_with_user_name(slapd: SlapdServer) -> None:
    auth = search_mode(slapd, GROUP_BASE_DN=GROUPS_OU, GROUP_FILTER="(&(member={dn})(cn=ad*)(!(cn={user})))")
    assert auth.authenticate(BOB.uid, BOB.password).groups == ("admins",)
    assert auth.authenticate(ALICE.uid, ALICE.password).groups == ()


@pytest.mark.parametrize("mode", [template_mode, search_mode])
@pytest.mark.parametrize("user", SPECIAL_USERS, ids=lambda user: user.uid)
def test_user_with_special_characters(slapd: SlapdServer, mode: Mode, user: User) -> None:
    auth = mode(slapd, **groups_conf())
    identity = auth.authenticate(user.uid, user.password)
    assert identity.user == user.uid
    assert "everyone" in identity.groups
    assert_refused(auth, user.uid, ALICE.password)


def test_service_account_finds_what_anonymous_cannot(slapd: SlapdServer, reader_password_file: str) -> None:
    anonymous = search_mode(slapd, BASE_DN=SUFFIX)
    assert_refused(anonymous, DAVE.uid, DAVE.password)
    reader = search_mode(
        slapd, BASE_DN=SUFFIX, BIND_DN=READER_DN, BIND_PASSWORD_FILE=reader_password_file, **groups_conf()
    )
    assert reader.authenticate(DAVE.uid, DAVE.password) == Identity("dave", ("everyone",))
    assert reader.authenticate(ALICE.uid, ALICE.password) == Identity("alice", ("analysts", "everyone"))
    assert_refused(reader, DAVE.uid, "wrong")


def test_service_account_with_wrong_password_is_unavailable(
    slapd: SlapdServer, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    (tmp_path / "bad").write_text("not the reader's password")
    auth = search_mode(slapd, BIND_DN=READER_DN, BIND_PASSWORD_FILE=str(tmp_path / "bad"))
    with caplog.at_level(logging.INFO, logger=LOGGER), pytest.raises(AuthenticatorUnavailable):
        auth.authenticate(ALICE.uid, ALICE.password)
    assert "service account" in caplog.text


def test_several_entries_for_one_name_are_refused(slapd: SlapdServer) -> None:
    assert_refused(search_mode(slapd, BASE_DN=SUFFIX), TWIN.uid, TWIN.password)
    assert search_mode(slapd).authenticate(TWIN.uid, TWIN.password) == Identity("twin")
    assert template_mode(slapd).authenticate(TWIN.uid, TWIN.password) == Identity("twin")


# --- Refusals ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("mode", [template_mode, search_mode])
def test_wrong_password_and_unknown_user_read_the_same(
    slapd: SlapdServer, mode: Mode, caplog: pytest.LogCaptureFixture
) -> None:
    auth = mode(slapd)
    with caplog.at_level(logging.DEBUG):
        assert_refused(auth, ALICE.uid, "wrong-password")
        assert_refused(auth, ALICE.uid, BOB.password)
        assert_refused(auth, "nobody", "some-password")
        assert_refused(auth, "ALICE", "wrong-password")
    assert "'alice'" in caplog.text and "'nobody'" in caplog.text
    for secret in ("wrong-password", BOB.password, "some-password"):
        assert secret not in caplog.text


def test_slapd_accepts_an_unauthenticated_bind(slapd: SlapdServer) -> None:
    """What the empty-password check protects against: this slapd answers success to a bind with a
    DN and an empty password, and the connection is then anonymous."""
    from ldap3.protocol.rfc4511 import AuthenticationChoice, BindRequest, Simple, Version

    connection = ldap3.Connection(ldap3.Server(slapd.url, get_info=ldap3.NONE), receive_timeout=5)
    try:
        connection.open()
        request = BindRequest()
        request["version"] = Version(3)
        request["name"] = ALICE.dn
        request["authentication"] = AuthenticationChoice().setComponentByName("simple", Simple(""))
        connection.post_send_single_response(connection.send("bindRequest", request))
        assert connection.result["result"] == 0, connection.result
        assert not connection.extend.standard.who_am_i()
    finally:
        connection.unbind()


@pytest.mark.parametrize("mode", [template_mode, search_mode])
def test_empty_password_is_refused(slapd: SlapdServer, mode: Mode, caplog: pytest.LogCaptureFixture) -> None:
    auth = mode(slapd)
    with caplog.at_level(logging.INFO, logger=LOGGER):
        assert_refused(auth, ALICE.uid, "")
    assert "password is empty" in caplog.text


@pytest.mark.parametrize("mode", [template_mode, search_mode])
@pytest.mark.parametrize(
    "username",
    ["", "x" * 257, "alice\n", "alice\r", "\x7falice", "ali\u200bce", "alice\u2028", "alice\0"],
    ids=["empty", "too-long", "newline", "return", "del", "zero-width-space", "line-separator", "nul"],
)
def test_bad_user_names_are_refused(slapd: SlapdServer, mode: Mode, username: str) -> None:
    assert_refused(mode(slapd), username, ALICE.password)


def test_long_names_and_odd_passwords(slapd: SlapdServer) -> None:
    auth = search_mode(slapd)
    assert_refused(auth, "x" * 256, "password")  # asked, and unknown
    assert_refused(auth, ALICE.uid, "p" * 4097)
    assert_refused(auth, ALICE.uid, ALICE.password + "\0")  # SASLprep prohibits control characters
    assert_refused(auth, ALICE.uid, "\ud800")  # a lone surrogate: not encodable


@pytest.mark.parametrize(
    "username",
    [
        "*",
        "al*",
        "*)(|(uid=*",
        "admin)(uid=*",
        "alice)(uid=*",
        "alice)(|(uid=*",
        "a*e",
        "\\2a",
        "\\",
        "alice\\",
        "al\\69ce",
        "alice\0",
        "(uid=alice)",
        "*)(objectClass=*",
    ],
)
def test_filter_injection_is_refused(slapd: SlapdServer, username: str) -> None:
    """Each of these would find alice (or everyone) if the name reached the filter unescaped."""
    auth = search_mode(slapd, BASE_DN=SUFFIX, USER_FILTER="(&(objectClass=inetOrgPerson)(uid={user}))")
    assert_refused(auth, username, ALICE.password)
    assert auth.authenticate(ALICE.uid, ALICE.password).user == "alice"


@pytest.mark.parametrize(
    "username",
    [
        f"x,{PEOPLE}",
        f"alice,{PEOPLE}",
        "alice,ou=people",
        "alice+cn=alice",
        "alice\\",
        "alice\\,",
        "uid=alice",
        f"alice,ou=people,{SUFFIX}",
    ],
)
def test_dn_injection_is_refused(slapd: SlapdServer, username: str) -> None:
    auth = authenticator(URL=slapd.url, USER_DN_TEMPLATE=f"uid={{user}},{SUFFIX}")
    assert_refused(auth, username, ALICE.password)
    assert_refused(template_mode(slapd), username, ALICE.password)


def test_dn_template_placeholder_in_the_name_is_not_expanded(slapd: SlapdServer) -> None:
    auth = search_mode(slapd, **groups_conf())
    assert_refused(auth, "{user}", ALICE.password)
    assert_refused(template_mode(slapd), "{user}", ALICE.password)


# --- Required groups ---------------------------------------------------------------------------------


@pytest.mark.parametrize("mode", [template_mode, search_mode])
def test_required_group(slapd: SlapdServer, mode: Mode, caplog: pytest.LogCaptureFixture) -> None:
    auth = mode(slapd, GROUP_BASE_DN=GROUPS_OU, REQUIRED_GROUPS="Analysts")
    assert auth.authenticate(ALICE.uid, ALICE.password) == Identity("alice", ("analysts", "everyone"))
    assert auth.authenticate(OBRIEN.uid, OBRIEN.password).groups == ("analysts", "everyone")
    with caplog.at_level(logging.INFO, logger=LOGGER):
        assert_refused(auth, CAROL.uid, CAROL.password)
    assert "'carol'" in caplog.text and "required groups" in caplog.text
    assert CAROL.password not in caplog.text
    assert_refused(auth, CAROL.uid, "wrong")


def test_any_required_group_suffices(slapd: SlapdServer) -> None:
    auth = search_mode(slapd, GROUP_BASE_DN=GROUPS_OU, REQUIRED_GROUPS=" admins , analysts ")
    assert auth.authenticate(BOB.uid, BOB.password).user == "bob"
    assert auth.authenticate(ZOE.uid, ZOE.password).user == "zoë"
    assert_refused(auth, CAROL.uid, CAROL.password)
    assert_refused(auth, WEIRD.uid, WEIRD.password)


# --- Availability ------------------------------------------------------------------------------------


def test_stopped_directory_is_unavailable() -> None:
    if find_slapd() is None:
        pytest.skip(SKIP_REASON)
    with SlapdServer() as server:
        modes = [template_mode(server), search_mode(server, **groups_conf())]
        for auth in modes:
            assert auth.authenticate(ALICE.uid, ALICE.password).user == "alice"
        server.stop()
        for auth in modes:
            with pytest.raises(AuthenticatorUnavailable):
                auth.authenticate(ALICE.uid, ALICE.password)
            with pytest.raises(AuthenticatorUnavailable):
                auth.authenticate(ALICE.uid, "wrong")


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_next_url_is_tried_when_the_first_is_down(slapd: SlapdServer) -> None:
    urls = f"ldap://127.0.0.1:{_closed_port()} {slapd.url}"
    auth = authenticator(URL=urls, USER_DN_TEMPLATE=TEMPLATE)
    assert auth.authenticate(ALICE.uid, ALICE.password).user == "alice"
    assert_refused(auth, ALICE.uid, "wrong")


def test_silent_directory_times_out() -> None:
    """A server that accepts connections but never answers: Unavailable after the timeout."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(16)
        url = f"ldap://127.0.0.1:{listener.getsockname()[1]}"
        for auth in (
            authenticator(URL=url, USER_DN_TEMPLATE=TEMPLATE, TIMEOUT="1"),
            authenticator(URL=url, BASE_DN=PEOPLE, TIMEOUT="1s"),
        ):
            started = time.monotonic()
            with pytest.raises(AuthenticatorUnavailable):
                auth.authenticate(ALICE.uid, ALICE.password)
            assert time.monotonic() - started < 10


# --- TLS ---------------------------------------------------------------------------------------------


def test_ldaps_and_start_tls(slapd: SlapdServer) -> None:
    ldaps = authenticator(URL=slapd.ldaps_url, USER_DN_TEMPLATE=TEMPLATE, CA_FILE=str(slapd.ca_file))
    assert ldaps.authenticate(ALICE.uid, ALICE.password).user == "alice"
    assert_refused(ldaps, ALICE.uid, "wrong")
    start_tls = search_mode(slapd, START_TLS="true", CA_FILE=str(slapd.ca_file), **groups_conf())
    assert start_tls.authenticate(OBRIEN.uid, OBRIEN.password).groups == ("analysts", "everyone")


@pytest.mark.parametrize("tls", ["ldaps", "startTls"])
def test_untrusted_certificate_is_unavailable(
    slapd: SlapdServer, tls: str, caplog: pytest.LogCaptureFixture
) -> None:
    conf = {"CA_FILE": str(slapd.other_ca_file)}
    if tls == "ldaps":
        auth = authenticator(URL=slapd.ldaps_url, USER_DN_TEMPLATE=TEMPLATE, **conf)
    else:
        auth = template_mode(slapd, START_TLS="true", **conf)
    with caplog.at_level(logging.WARNING, logger=LOGGER), pytest.raises(AuthenticatorUnavailable):
        auth.authenticate(ALICE.uid, ALICE.password)
    assert "certificate verify failed" in caplog.text


@pytest.mark.parametrize("tls", ["ldaps", "startTls"])
def test_certificate_for_another_host_is_unavailable(
    slapd: SlapdServer, tls: str, caplog: pytest.LogCaptureFixture
) -> None:
    """The certificate names 127.0.0.1 only; a trusted CA does not make it valid for localhost."""
    conf = {"CA_FILE": str(slapd.ca_file)}
    if tls == "ldaps":
        auth = authenticator(URL=f"ldaps://localhost:{slapd.ldaps_port}", USER_DN_TEMPLATE=TEMPLATE, **conf)
    else:
        auth = authenticator(
            URL=f"ldap://localhost:{slapd.port}", USER_DN_TEMPLATE=TEMPLATE, START_TLS="true", **conf
        )
    with caplog.at_level(logging.WARNING, logger=LOGGER), pytest.raises(AuthenticatorUnavailable):
        auth.authenticate(ALICE.uid, ALICE.password)
    assert "mismatch" in caplog.text


# --- Threads -----------------------------------------------------------------------------------------


def test_concurrent_authentications(slapd: SlapdServer) -> None:
    auths = [
        template_mode(slapd, **groups_conf()),
        search_mode(slapd, GROUP_BASE_DN=GROUPS_OU, REQUIRED_GROUPS="everyone"),
    ]
    users = [user for user in USERS if user.ou == PEOPLE and user.uid != TWIN.uid]
    cases = [(auth, user, good) for auth in auths for user in users for good in (True, False)] * 4
    threads_seen: set[int] = set()
    lock = threading.Lock()

    def attempt(case: tuple[LdapAuthenticator, User, bool]) -> str:
        auth, user, good = case
        with lock:
            threads_seen.add(threading.get_ident())
        try:
            identity = auth.authenticate(user.uid, user.password if good else user.password + "x")
        except AuthenticationFailed:
            return "refused"
        assert identity.user == user.uid and "everyone" in identity.groups
        return "ok"

    with ThreadPoolExecutor(max_workers=8) as pool:
        results = list(pool.map(attempt, cases))
    assert results == ["ok" if good else "refused" for _, _, good in cases]
    assert len(threads_seen) > 1


# --- Configuration -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("conf", "key"),
    [
        ({"USER_DN_TEMPLATE": TEMPLATE}, LdapConfKey.URL),
        ({"URL": "http://example.org", "USER_DN_TEMPLATE": TEMPLATE}, LdapConfKey.URL),
        ({"URL": "ldap://", "USER_DN_TEMPLATE": TEMPLATE}, LdapConfKey.URL),
        ({"URL": "ldap://h:99999", "USER_DN_TEMPLATE": TEMPLATE}, LdapConfKey.URL),
        ({"URL": f"ldap://h/{SUFFIX}", "USER_DN_TEMPLATE": TEMPLATE}, LdapConfKey.URL),
        ({"URL": "ldap://h"}, LdapConfKey.USER_DN_TEMPLATE),
        ({"URL": "ldap://h", "USER_DN_TEMPLATE": TEMPLATE, "BASE_DN": PEOPLE}, LdapConfKey.BASE_DN),
        ({"URL": "ldap://h", "USER_DN_TEMPLATE": f"uid=alice,{PEOPLE}"}, LdapConfKey.USER_DN_TEMPLATE),
        ({"URL": "ldap://h", "USER_DN_TEMPLATE": "{user}"}, LdapConfKey.USER_DN_TEMPLATE),
        ({"URL": "ldap://h", "USER_DN_TEMPLATE": f"uid={{name}},{PEOPLE}"}, LdapConfKey.USER_DN_TEMPLATE),
        (
            {"URL": "ldap://h", "USER_DN_TEMPLATE": TEMPLATE, "USER_FILTER": "(uid={user})"},
            LdapConfKey.USER_FILTER,
        ),
        ({"URL": "ldap://h", "USER_DN_TEMPLATE": TEMPLATE, "BIND_DN": READER_DN}, LdapConfKey.BIND_DN),
        ({"URL": "ldap://h", "BASE_DN": "not a dn"}, LdapConfKey.BASE_DN),
        ({"URL": "ldap://h", "BASE_DN": PEOPLE, "USER_FILTER": "(uid={user}"}, LdapConfKey.USER_FILTER),
        (
            {"URL": "ldap://h", "BASE_DN": PEOPLE, "USER_FILTER": "(uid=x)(cn={user})"},
            LdapConfKey.USER_FILTER,
        ),
        ({"URL": "ldap://h", "BASE_DN": PEOPLE, "USER_FILTER": "(uid=alice)"}, LdapConfKey.USER_FILTER),
        ({"URL": "ldap://h", "BASE_DN": PEOPLE, "BIND_DN": READER_DN}, LdapConfKey.BIND_DN),
        (
            {
                "URL": "ldap://h",
                "BASE_DN": PEOPLE,
                "BIND_DN": READER_DN,
                "BIND_PASSWORD_FILE": "/nonexistent/file",
            },
            LdapConfKey.BIND_PASSWORD_FILE,
        ),
        ({"URL": "ldap://h", "BASE_DN": PEOPLE, "REQUIRED_GROUPS": "admins"}, LdapConfKey.REQUIRED_GROUPS),
        ({"URL": "ldap://h", "BASE_DN": PEOPLE, "GROUP_FILTER": "(member={dn})"}, LdapConfKey.GROUP_FILTER),
        (
            {"URL": "ldap://h", "BASE_DN": PEOPLE, "GROUP_BASE_DN": GROUPS_OU, "GROUP_FILTER": "(cn={user})"},
            LdapConfKey.GROUP_FILTER,
        ),
        (
            {"URL": "ldap://h", "BASE_DN": PEOPLE, "GROUP_BASE_DN": GROUPS_OU, "REQUIRED_GROUPS": " , "},
            LdapConfKey.REQUIRED_GROUPS,
        ),
        ({"URL": "ldap://h", "BASE_DN": PEOPLE, "GROUP_BASE_DN": "nonsense"}, LdapConfKey.GROUP_BASE_DN),
        ({"URL": "ldap://h", "BASE_DN": PEOPLE, "START_TLS": "maybe"}, LdapConfKey.START_TLS),
        ({"URL": "ldaps://h", "BASE_DN": PEOPLE, "START_TLS": "true"}, LdapConfKey.START_TLS),
        ({"URL": "ldaps://h", "BASE_DN": PEOPLE, "CA_FILE": "/nonexistent/ca.pem"}, LdapConfKey.CA_FILE),
        ({"URL": "ldap://h", "BASE_DN": PEOPLE, "CA_FILE": __file__}, LdapConfKey.CA_FILE),
        ({"URL": "ldaps://h", "BASE_DN": PEOPLE, "CA_FILE": __file__}, LdapConfKey.CA_FILE),
        ({"URL": "ldap://h", "BASE_DN": PEOPLE, "TIMEOUT": "soon"}, LdapConfKey.TIMEOUT),
        ({"URL": "ldap://h", "BASE_DN": PEOPLE, "TIMEOUT": "0"}, LdapConfKey.TIMEOUT),
        ({"URL": "ldap://h", "BASE_DN": PEOPLE, "TIMEOUT": "nan"}, LdapConfKey.TIMEOUT),
    ],
)
def test_bad_configuration_names_the_key(conf: dict[str, str], key: LdapConfKey) -> None:
    with pytest.raises(ValueError, match=key.value.replace(".", r"\.")):
        authenticator(**conf)


def test_empty_bind_password_file_is_refused(tmp_path: Path) -> None:
    (tmp_path / "empty").write_text("\n")
    with pytest.raises(ValueError, match=LdapConfKey.BIND_PASSWORD_FILE.value):
        authenticator(
            URL="ldap://h", BASE_DN=PEOPLE, BIND_DN=READER_DN, BIND_PASSWORD_FILE=str(tmp_path / "empty")
        )


def test_cleartext_to_a_remote_directory_is_logged(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger=LOGGER):
        authenticator(URL="ldap://127.0.0.1 ldap://directory.example.org", BASE_DN=PEOPLE)
    assert "directory.example.org" in caplog.text and "127.0.0.1" not in caplog.text


@pytest.mark.parametrize("mode", [template_mode, search_mode], ids=["template", "search"])
def test_a_login_is_known_by_one_name_whatever_its_case(slapd: SlapdServer, mode) -> None:
    """The directory takes ALICE for alice: so must tokens and the policy, or a change of case
    would escape alice's own policy entry."""
    assert mode(slapd).authenticate("ALICE", ALICE.password).user == "alice"
    assert mode(slapd).authenticate("alice", ALICE.password).user == "alice"
