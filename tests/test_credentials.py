"""The credentials model (edge/credentials.py): readers, publishers, API tokens, minted tokens."""

from __future__ import annotations

import base64
import hashlib
import json
import shlex

import pytest

from edge import credentials
from edge.credentials import Principal, Verifier, render_file
from indexer import cli

ITER = 1000


def basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


TOKEN = "pypi-edge-" + "A" * 43
READ_TOKEN = "pypi-edge-" + "B" * 43
CONFIG = {
    "alice": "reader:pw",
    "ci": {"password": "ci-pw", "publish": ["Acme_*", "tools"]},
    "admin": {"password": "admin-pw", "publish": ["*"]},
    "__token__": {
        "deploy": {"sha256": credentials.token_digest(TOKEN), "publish": ["acme-*"]},
        "mirror": {"sha256": credentials.token_digest(READ_TOKEN)},
    },
}


@pytest.fixture
def verifier() -> Verifier:
    v = Verifier()
    v.configure(render_file(CONFIG, "realm", "seed", iterations=ITER))
    return v


def test_a_string_password_is_a_reader_who_publishes_nothing(verifier):
    who = verifier.verify(basic("alice", "reader:pw"))
    assert who == Principal("alice", "user", ())
    assert not who.can_publish("acme-tools")


def test_a_publisher_may_publish_only_projects_matching_its_normalized_globs(verifier):
    who = verifier.verify(basic("ci", "ci-pw"))
    assert who.publish == ("acme-*", "tools")
    assert who.can_publish("acme-widgets")
    assert who.can_publish("Acme_Widgets")  # any spelling of the name
    assert who.can_publish("TOOLS")
    assert not who.can_publish("tools-extra")
    assert not who.can_publish("other")


def test_star_publishes_everything(verifier):
    assert verifier.verify(basic("admin", "admin-pw")).can_publish("anything-at-all")


def test_a_wrong_password_for_a_publisher_is_refused(verifier):
    assert verifier.verify(basic("ci", "wrong")) is None


def test_an_api_token_is_user_token_and_carries_its_rights(verifier):
    who = verifier.verify(basic("__token__", TOKEN))
    assert who == Principal("deploy", "token", ("acme-*",))
    assert who.can_publish("acme-x")
    assert not who.can_publish("tools")


def test_a_token_without_publish_only_reads(verifier):
    who = verifier.verify(basic("__token__", READ_TOKEN))
    assert who is not None and who.publish == ()


def test_an_unknown_or_revoked_token_is_refused(verifier):
    assert verifier.verify(basic("__token__", "pypi-edge-" + "C" * 43)) is None
    revoked = {**CONFIG, "__token__": {"deploy": CONFIG["__token__"]["deploy"]}}  # entry removed
    verifier.configure(render_file(revoked, "realm", "seed", iterations=ITER))
    assert verifier.verify(basic("__token__", READ_TOKEN)) is None
    assert verifier.verify(basic("__token__", TOKEN)) is not None


def test_tokens_cost_no_slow_hash(verifier, monkeypatch):
    calls = []
    monkeypatch.setattr(credentials, "hash_password", lambda *a: calls.append(a) or b"")
    assert verifier.verify(basic("__token__", TOKEN)) is not None
    assert verifier.verify(basic("__token__", "pypi-edge-wrong")) is None
    assert calls == []


def test_the_file_holds_only_hashes_never_a_password_or_token():
    raw = render_file(CONFIG, "realm", "seed", iterations=ITER)
    for secret in ("reader:pw", "ci-pw", "admin-pw", TOKEN, READ_TOKEN):
        assert secret.encode() not in raw
    doc = json.loads(raw)
    assert doc["tokens"][hashlib.sha256(TOKEN.encode()).hexdigest()] == {
        "name": "deploy",
        "publish": ["acme-*"],
    }
    assert "publish" not in doc["users"]["alice"]  # a readers-only file is what it always was


def test_a_readers_only_config_renders_exactly_as_before():
    raw = render_file({"alice": "pw"}, "r", "s", iterations=ITER)
    assert set(json.loads(raw)) == {"realm", "users"}


def test_minted_tokens_go_to_the_minted_verifier_and_are_never_cached(verifier):
    seen = []

    def minted(token):
        seen.append(token)
        return Principal("repo:acme/widgets", "minted", ("acme-widgets",)) if token.endswith("good") else None

    header = basic("__token__", credentials.MINTED_PREFIX + "good")
    assert verifier.verify(header, minted=minted).can_publish("acme-widgets")
    assert verifier.verify(header, minted=minted) is not None
    assert len(seen) == 2  # asked again: an expired token must not live on in a cache
    assert verifier.verify(basic("__token__", credentials.MINTED_PREFIX + "bad"), minted=minted) is None


def test_minted_tokens_are_refused_where_no_minted_verifier_is_given(verifier):
    assert verifier.verify(basic("__token__", credentials.MINTED_PREFIX + "good")) is None


def test_api_tokens_never_carry_the_minted_prefix():
    assert all(not credentials.new_token().startswith(credentials.MINTED_PREFIX) for _ in range(50))


def test_new_token_is_long_random_and_prefixed():
    a, b = credentials.new_token(), credentials.new_token()
    assert a != b and a.startswith(credentials.TOKEN_PREFIX)
    assert len(a) - len(credentials.TOKEN_PREFIX) == 43  # 256 bits, base64url


@pytest.mark.parametrize(
    ("config", "message"),
    [
        ({"ci": {"password": "pw", "publish": "acme"}}, None),  # one string is one glob
        ({"ci": {"password": "pw", "publish": [1]}}, "'publish' must be a list"),
        ({"ci": {"publish": ["x"]}}, "expected a password"),
        ({"ci": 3}, "expected a password"),
        ({"__token__": {"x": {"sha256": "nothex"}}}, "64 hex digits"),
        ({"__token__": {"x": "abc"}}, "must be an object with 'sha256'"),
        ({"__token__": ["x"]}, "must map token names"),
        (
            {"__token__": {"a": {"sha256": "a" * 64}, "b": {"sha256": "A" * 64}}},
            "the same token hash is configured twice",
        ),
    ],
)
def test_render_file_checks_the_config(config, message):
    if message is None:
        assert json.loads(render_file(config, "r", "s", iterations=ITER))["users"]["ci"]["publish"] == [
            "acme"
        ]
        return
    with pytest.raises(ValueError, match=message):
        render_file(config, "r", "s", iterations=ITER)


def test_a_file_with_a_bad_token_entry_fails_closed():
    v = Verifier()
    raw = json.dumps({"realm": "r", "users": {}, "tokens": {"zz": {}}})
    with pytest.raises(ValueError, match="invalid credentials file"):
        v.configure(raw)
    assert v.verify(basic("__token__", TOKEN)) is None


def test_a_tokens_only_file_verifies_tokens():
    v = Verifier()
    v.configure(render_file({"__token__": CONFIG["__token__"]}, "r", "s", iterations=ITER))
    assert v.verify(basic("__token__", TOKEN)) is not None
    assert v.verify(basic("nobody", "pw")) is None


# --- `pypi-edge token new` ----------------------------------------------------------------------


def test_token_new_prints_the_token_once_and_config_lines_with_only_its_hash(capsys):
    assert cli.main(["token", "new", "--name", "ci", "--publish", "Acme_*", "--publish", "tools"]) == 0
    out, err = capsys.readouterr()
    token = out.strip()
    assert token.startswith(credentials.TOKEN_PREFIX)
    assert token not in err
    lines = [shlex.split(line) for line in err.splitlines() if line.strip().startswith("pulumi config set")]
    assert lines == [
        [
            "pulumi",
            "config",
            "set",
            "--secret",
            "--path",
            "users.__token__.ci.sha256",
            credentials.token_digest(token),
        ],
        ["pulumi", "config", "set", "--secret", "--path", "users.__token__.ci.publish[0]", "acme-*"],
        ["pulumi", "config", "set", "--secret", "--path", "users.__token__.ci.publish[1]", "tools"],
    ]
    # What those lines store is what render_file reads: the token verifies with its rights.
    config = {"__token__": {"ci": {"sha256": lines[0][-1], "publish": [lines[1][-1], lines[2][-1]]}}}
    v = Verifier()
    v.configure(render_file(config, "r", "s", iterations=ITER))
    assert v.verify(basic("__token__", token)).can_publish("acme-widgets")


def test_token_new_without_publish_is_read_only(capsys):
    assert cli.main(["token", "new", "--name", "reader"]) == 0
    _, err = capsys.readouterr()
    assert "read only" in err
    assert "publish[" not in err


def test_token_new_refuses_a_name_with_a_dot(capsys):
    assert cli.main(["token", "new", "--name", "a.b"]) == cli.EXIT_USAGE
    assert "invalid token name" in capsys.readouterr().err


def test_token_new_refuses_an_empty_glob(capsys):
    assert cli.main(["token", "new", "--name", "ci", "--publish", " "]) == cli.EXIT_USAGE
    assert "'publish' must be a list" in capsys.readouterr().err


def test_a_principal_is_an_immutable_value():
    who = Principal("ci", "user", ("acme-*",))
    with pytest.raises(AttributeError, match="immutable"):
        who.name = "root"
    assert {who, Principal("ci", "user", ("acme-*",))} == {who}
    assert repr(who) == "Principal('ci', 'user', publish=('acme-*',))"


@pytest.mark.parametrize(
    ("config", "message"),
    [({}, "at least one user"), ({"a:b": "pw"}, "invalid user name"), ({"a": ""}, "empty password")],
)
def test_render_file_refuses_unusable_users(config, message):
    with pytest.raises(ValueError, match=message):
        render_file(config, "r", "s", iterations=ITER)


def test_the_challenge_quotes_the_realm_for_edge_and_upload_alike():
    assert credentials.challenge('ACME "prod" \\ index\x01') == (
        'Basic realm="ACME \\"prod\\" \\\\ index", charset="UTF-8"'
    )


def test_the_deploy_bundle_renders_publishers_and_tokens_with_the_same_function():
    # infra/bundle.py writes the edge's credentials.json with render_file, so the object form and
    # __token__ entries reach the deployed functions unchanged.
    from infra.bundle import edge_files

    files = dict(edge_files(CONFIG, "realm", "seed"))
    v = Verifier()
    v.configure(files[credentials.FILE_NAME])
    assert v.verify(basic("__token__", TOKEN)).can_publish("acme-x")
    assert v.users["ci"].publish == ("acme-*", "tools")
