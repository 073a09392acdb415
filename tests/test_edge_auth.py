"""HTTP Basic parsing (RFC 7617), verification, its cache, timing independence, fail-closed."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from edge import credentials
from edge import handler as edge
from edge.handler import parse_basic_auth, verify
from tests.edge_helpers import (
    GOOD_AUTH,
    OTHER_PASSWORD,
    OTHER_USER,
    PASSWORD,
    TEST_CREDENTIALS,
    TEST_ITERATIONS,
    USER,
    basic,
    call,
    install_test_credentials,
    make_event,
)

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(autouse=True)
def _credentials():
    install_test_credentials()
    yield
    install_test_credentials()


@pytest.fixture
def slow_hash_calls(monkeypatch):
    """Every call of the slow hash, as (password, iterations)."""
    calls: list[tuple[str, int]] = []
    real = credentials.hash_password

    def spy(password, salt, iterations=credentials.ITERATIONS):
        calls.append((password, iterations))
        return real(password, salt, iterations)

    monkeypatch.setattr(credentials, "hash_password", spy)
    return calls


def b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode("ascii")


# --- parse_basic_auth ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (basic("alice", "pw"), ("alice", "pw")),
        (basic("alice", "a:b:c"), ("alice", "a:b:c")),  # split on the first colon only
        (basic("alice", ""), ("alice", "")),  # parses; can never verify
        (basic("al ice", " pw "), ("al ice", " pw ")),
        (basic("jürgen", "pässwörd"), ("jürgen", "pässwörd")),  # UTF-8 (charset="UTF-8")
        ("basic " + b64(b"alice:pw"), ("alice", "pw")),  # scheme is case-insensitive
        ("BASIC " + b64(b"alice:pw"), ("alice", "pw")),
        ("Basic   " + b64(b"alice:pw"), ("alice", "pw")),  # 1*SP
        ("  Basic " + b64(b"alice:pw") + "  ", ("alice", "pw")),  # OWS around the field value
    ],
)
def test_parse_basic_auth_valid(value, expected):
    assert parse_basic_auth(value) == expected


@pytest.mark.parametrize(
    "value",
    [
        pytest.param(None, id="missing"),
        pytest.param("", id="empty"),
        pytest.param("Basic", id="no-credentials"),
        pytest.param("Basic ", id="blank-credentials"),
        pytest.param("Bearer " + b64(b"alice:pw"), id="other-scheme"),
        pytest.param("Digest username=alice", id="digest"),
        pytest.param("Basicc " + b64(b"alice:pw"), id="scheme-prefix"),
        pytest.param(b64(b"alice:pw"), id="no-scheme"),
        pytest.param("Basic !!!!", id="bad-base64-chars"),
        pytest.param("Basic YWxpY2U6cHc", id="bad-base64-padding"),
        pytest.param("Basic YWxp Y2U6cHc=", id="base64-with-space"),
        pytest.param("Basic " + b64(b"alice:pw") + "\n", id="base64-newline"),
        pytest.param("Basic " + b64(b"\xffalice:pw"), id="not-utf8"),
        pytest.param("Basic " + b64(b"alice:\xe9t\xe9"), id="latin1-password"),
        pytest.param("Basic " + b64(b"alicepw"), id="no-colon"),
        pytest.param("Basic " + b64(b":pw"), id="empty-user"),
        pytest.param("Basic " + b64(b""), id="empty-decoded"),
        pytest.param("Basic w6k6cHc=\u00e9", id="non-ascii-token"),
        pytest.param("Basic " + b64(b"alice:" + b"x" * 5000), id="too-long"),
    ],
)
def test_parse_basic_auth_malformed(value):
    assert parse_basic_auth(value) is None


@pytest.mark.parametrize(
    "value",
    [None, "", "Bearer x", "Basic !!!", "Basic " + b64(b"nocolon"), "Basic " + b64(b":pw")],
)
def test_malformed_authorization_gets_401(value):
    assert call(make_event("/simple/", authorization=value))["status"] == "401"


# --- verify -------------------------------------------------------------------------------------


def test_verify_accepts_both_users():
    assert verify(GOOD_AUTH)
    assert verify(basic(OTHER_USER, OTHER_PASSWORD))


@pytest.mark.parametrize(
    "value",
    [
        basic(USER, "wrong"),
        basic(USER, PASSWORD + " "),
        basic(USER, PASSWORD.split(":")[0]),  # the part before the password's first colon
        basic(USER, ""),
        basic(USER.upper(), PASSWORD),  # user ids are case-sensitive
        basic("mallory", PASSWORD),
        basic(OTHER_USER, PASSWORD),  # another user's password
    ],
)
def test_verify_rejects(value):
    assert not verify(value)


def test_verify_uses_constant_time_comparison(monkeypatch):
    seen = []
    real = hmac.compare_digest

    def spy(a, b):
        seen.append((len(a), len(b)))
        return real(a, b)

    monkeypatch.setattr(credentials.hmac, "compare_digest", spy)
    assert not verify(basic(USER, "wrong"))
    assert seen == [(32, 32)]


def test_unknown_user_costs_one_slow_hash_like_a_wrong_password(slow_hash_calls):
    """Timing independence without a clock: the same slow work for both kinds of failure."""
    assert not verify(basic(USER, "wrong password"))
    known = list(slow_hash_calls)
    slow_hash_calls.clear()
    assert not verify(basic("no-such-user", "wrong password"))
    unknown = list(slow_hash_calls)
    assert known == unknown == [("wrong password", TEST_ITERATIONS)]


def test_credentials_with_mixed_iteration_counts_are_refused_and_fail_closed():
    # The dummy entry for unknown users only costs what a real check costs if all users'
    # checks cost the same; a hand-made file that breaks that is refused.
    users = json.loads(TEST_CREDENTIALS)
    users["users"]["carol"] = credentials.make_entry("carol", "pw", b"s" * 16, iterations=3000)
    with pytest.raises(ValueError, match="mixed iteration counts"):
        edge.configure(json.dumps(users))
    assert not verify(GOOD_AUTH)


def test_warm_request_skips_the_slow_hash(slow_hash_calls):
    assert verify(GOOD_AUTH)
    assert len(slow_hash_calls) == 1
    for _ in range(5):
        assert verify(GOOD_AUTH)
    assert len(slow_hash_calls) == 1


def test_wrong_password_is_never_cached_as_good(slow_hash_calls):
    wrong = basic(USER, "wrong")
    before = len(edge._cache)
    for _ in range(3):
        assert not verify(wrong)
    assert len(edge._cache) == before
    assert verify(GOOD_AUTH)  # the right one still works after the wrong ones


def test_repeated_wrong_credentials_cost_one_slow_hash(slow_hash_calls):
    for header in (basic(USER, "wrong"), basic("nobody", "wrong")):
        slow_hash_calls.clear()
        for _ in range(5):
            assert not verify(header)
        assert len(slow_hash_calls) == 1


def test_rejected_cache_is_bounded():
    for n in range(edge.CACHE_SIZE + 50):
        assert not verify(basic(USER, f"wrong{n}"))
    assert len(edge._rejected) == edge.CACHE_SIZE


def test_cached_success_does_not_admit_a_different_password():
    assert verify(GOOD_AUTH)
    assert not verify(basic(USER, PASSWORD + "x"))
    assert not verify(GOOD_AUTH + "=")


def test_cache_holds_digests_not_header_values():
    assert verify(GOOD_AUTH)
    assert all(isinstance(k, bytes) and len(k) == 32 for k in edge._cache)
    assert hashlib.sha256(GOOD_AUTH.encode()).digest() in edge._cache
    assert not any(PASSWORD.encode() in k for k in edge._cache)


def test_cache_is_bounded(monkeypatch, slow_hash_calls):
    monkeypatch.setattr(edge._verifier, "cache_size", 4)
    users = {f"user{i}": f"pw{i}" for i in range(10)}
    edge.configure(credentials.render_file(users, "r", "s", iterations=100))
    for user, password in users.items():
        assert verify(basic(user, password))
        assert len(edge._cache) <= 4
    # The oldest entries were evicted: user0 costs a slow hash again, user9 does not.
    slow_hash_calls.clear()
    assert verify(basic("user9", "pw9"))
    assert slow_hash_calls == []
    assert verify(basic("user0", "pw0"))
    assert len(slow_hash_calls) == 1


def test_configure_clears_the_cache():
    assert verify(GOOD_AUTH)
    assert edge._cache
    edge.configure(credentials.render_file({USER: "rotated"}, "r", "s", iterations=100))
    assert not edge._cache
    assert not verify(GOOD_AUTH)  # rotation takes effect at once
    assert verify(basic(USER, "rotated"))


# --- credentials loading ------------------------------------------------------------------------


def test_configure_none_fails_closed():
    edge.configure(None)
    assert not verify(GOOD_AUTH)


@pytest.mark.parametrize(
    "raw",
    [
        b"",
        b"not json",
        b"[]",
        b'{"realm": "r"}',
        b'{"realm": 1, "users": {}}',
        b'{"realm": "r", "users": []}',
    ],
)
def test_configure_rejects_invalid_files_and_fails_closed(raw):
    with pytest.raises(ValueError):
        edge.configure(raw)
    assert not verify(GOOD_AUTH)
    assert call(make_event("/"))["status"] == "401"


def test_realm_is_quoted_in_the_challenge():
    edge.configure(credentials.render_file({USER: PASSWORD}, 'say "hi" \\o/', "s", iterations=100))
    result = call(make_event("/", authorization=None))
    value = result["headers"]["www-authenticate"][0]["value"]
    assert value == 'Basic realm="say \\"hi\\" \\\\o/", charset="UTF-8"'


def test_reload_reads_the_override_path(monkeypatch, tmp_path):
    path = tmp_path / "creds.json"
    path.write_bytes(credentials.render_file({"carol": "pw"}, "r", "s", iterations=100))
    monkeypatch.setenv(edge.ENV_VAR, str(path))
    assert edge.credentials_path() == str(path)
    assert edge.reload() is True
    assert verify(basic("carol", "pw"))
    assert not verify(GOOD_AUTH)


def test_reload_missing_file_fails_closed(monkeypatch, tmp_path, capsys):
    monkeypatch.setenv(edge.ENV_VAR, str(tmp_path / "missing.json"))
    assert edge.reload() is False
    assert "every request gets 401" in capsys.readouterr().err
    assert call(make_event("/"))["status"] == "401"


def test_reload_invalid_file_fails_closed(monkeypatch, tmp_path):
    path = tmp_path / "creds.json"
    path.write_text('{"realm": "r", "users": {"u": {"alg": "md5"}}}')
    monkeypatch.setenv(edge.ENV_VAR, str(path))
    assert edge.reload() is False
    assert call(make_event("/"))["status"] == "401"


def test_default_path_is_next_to_the_code(monkeypatch):
    monkeypatch.delenv(edge.ENV_VAR, raising=False)
    assert edge.credentials_path() == str(ROOT / "edge" / credentials.FILE_NAME)


def _run_fresh_interpreter(code: str, env_path: str) -> str:
    env = {k: v for k, v in os.environ.items() if k != edge.ENV_VAR}
    env[edge.ENV_VAR] = env_path
    return subprocess.run(
        [sys.executable, "-I", "-c", f"import sys; sys.path.insert(0, {str(ROOT)!r}); {code}"],
        env=env,
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    ).stdout


def test_import_with_no_credentials_file_answers_401(tmp_path):
    code = (
        "from edge.handler import handler; import json; "
        f"print(handler({make_event('/simple/')!r}, None)['status'])"
    )
    assert _run_fresh_interpreter(code, str(tmp_path / "missing.json")).strip() == "401"


def test_import_reads_the_env_override(tmp_path):
    path = tmp_path / "creds.json"
    path.write_bytes(TEST_CREDENTIALS)
    code = f"from edge.handler import handler; print(handler({make_event('/simple/')!r}, None)['uri'])"
    assert _run_fresh_interpreter(code, str(path)).strip() == "/index.html"


# --- credentials module ----------------------------------------------------------------------


def test_render_file_iterations_keyword_and_default():
    fast = json.loads(credentials.render_file({USER: PASSWORD}, "r", "s", iterations=123))
    assert fast["users"][USER]["iterations"] == 123
    _realm, users = credentials.load(credentials.render_file({USER: PASSWORD}, "r", "s"))
    assert users[USER].iterations == credentials.ITERATIONS
    assert credentials.check(users[USER], PASSWORD)


def test_render_file_is_deterministic():
    assert credentials.render_file({USER: PASSWORD}, "r", "s", iterations=10) == credentials.render_file(
        {USER: PASSWORD}, "r", "s", iterations=10
    )


def test_entry_is_immutable_and_hides_the_digest():
    entry = credentials.Entry(b"salt", b"digest-bytes", 10)
    with pytest.raises(AttributeError):
        entry.iterations = 1  # type: ignore[misc]
    assert entry == credentials.Entry(b"salt", b"digest-bytes", 10)
    assert hash(entry) == hash(credentials.Entry(b"salt", b"digest-bytes", 10))
    assert "digest-bytes" not in repr(entry)
