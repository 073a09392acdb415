"""The edge function's refusals that the routing and auth tests do not reach on their way."""

from __future__ import annotations

import json

import pytest

from edge import credentials, handler


@pytest.mark.parametrize(
    ("user", "password", "refusal"),
    [("", "pw", "invalid user name"), ("a:b", "pw", "invalid user name"), ("alice", "", "empty password")],
)
def test_a_user_basic_auth_cannot_express_is_refused_at_deploy_time(user, password, refusal):
    with pytest.raises(ValueError, match=refusal):
        credentials.make_entry(user, password, b"s" * 16, iterations=1)


def test_a_credentials_file_needs_a_user():
    with pytest.raises(ValueError, match="at least one user"):
        credentials.render_file({}, "realm", "seed", iterations=1)


@pytest.mark.parametrize(
    ("entry", "refusal"),
    [("not an object", "must be an object"), ({"alg": "pbkdf2-sha256", "iterations": 0}, "iterations")],
)
def test_a_malformed_credentials_entry_is_refused(entry, refusal):
    raw = json.loads(credentials.render_file({"alice": "pw"}, "realm", "seed", iterations=1))
    if isinstance(entry, dict):
        entry = {**raw["users"]["alice"], **entry, "alg": raw["users"]["alice"]["alg"]}
    raw["users"]["alice"] = entry
    with pytest.raises(ValueError, match=refusal):
        credentials.load(json.dumps(raw))


def test_an_entry_cannot_be_deleted_from():
    entry = credentials.Entry(b"s", b"d", 1)
    with pytest.raises(AttributeError, match="immutable"):
        del entry.salt


def test_an_unparsable_q_value_drops_that_media_range():
    # "q=1.0.0" matches the q-value pattern but is no number: that range counts as not acceptable.
    assert handler.negotiate("application/vnd.pypi.simple.v1+json;q=1.0.0, text/html;q=0.5") == "html"


def test_an_over_long_accept_header_is_negotiated_without_the_cache():
    accept = "application/vnd.pypi.simple.v1+json, " + ", ".join(f"x/y{i}" for i in range(200))
    assert len(accept) > 1024
    assert handler.negotiate(accept) == "json"


def test_a_bounded_cache_that_another_caller_emptied_is_reset_not_an_error():
    class Raced(dict):
        def __delitem__(self, key: bytes) -> None:
            raise KeyError(key)  # another thread evicted it first

    verifier = credentials.Verifier(cache_size=4)
    cache = Raced.fromkeys(bytes([i]) for i in range(4))
    verifier._remember(cache, b"new", None)
    assert list(cache) == [b"new"]


def test_a_media_range_parameter_other_than_q_is_ignored():
    assert handler.negotiate("text/html;level=1;q=0.4, application/vnd.pypi.simple.v1+json;q=0.5") == "json"


def test_a_credentials_file_with_no_users_lets_nobody_in():
    from tests.edge_helpers import install_test_credentials

    try:
        handler.configure(json.dumps({"realm": "empty", "users": {}}))
        assert not handler.verify("Basic " + __import__("base64").b64encode(b"alice:pw").decode())
    finally:
        install_test_credentials()
