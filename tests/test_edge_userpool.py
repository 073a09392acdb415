"""The user pool's half of the credentials model (edge/userpool.py): caches, bound, rate limit, rights."""

from __future__ import annotations

import hashlib
import json

import pytest

from edge import credentials, userpool
from edge.credentials import Principal, Verifier, render_file
from edge.userpool import PoolVerifier, RateLimited, Settings, Unavailable
from tests.edge_helpers import basic

POOL_ID = "eu-west-1_AbC123xyz"
CLIENT_ID = "1example23456789clientid"
ITER = 1000


class FakePool:
    """Cognito's answers by (user, password), recording every call; `down` makes it unreachable."""

    def __init__(self, users: dict[tuple[str, str], list[str]] | None = None) -> None:
        self.users = dict(users or {})
        self.calls: list[tuple[str, str]] = []
        self.down = False
        self.clock: Clock | None = None
        self.latency = 0.0

    def __call__(self, username: str, password: str) -> list[str] | None:
        self.calls.append((username, password))
        if self.clock is not None:
            self.clock.now += self.latency
        if self.down:
            raise Unavailable("down")
        return self.users.get((username, password))


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


READER = ["pypi-edge:read"]
PUBLISHER = ["pypi-edge:read", "pypi-edge:publish:acme-*", "pypi-edge:publish:tools"]


def make(users=None, cache_seconds: int = 60, **kwargs) -> tuple[PoolVerifier, FakePool, Clock]:
    pool, clock = FakePool(users), Clock()
    pool.clock = clock
    verifier = PoolVerifier(Settings(POOL_ID, CLIENT_ID, cache_seconds), pool, clock=clock, **kwargs)
    return verifier, pool, clock


def check(verifier: PoolVerifier, user: str, password: str):
    return verifier.verify(basic(user, password), user, password)


# --- answers and their caches ---------------------------------------------------------------------


def test_a_pool_user_is_a_reader_and_a_repeat_is_answered_from_the_cache() -> None:
    verifier, pool, _ = make({("carol", "pw-Carol-12345"): READER})
    assert check(verifier, "carol", "pw-Carol-12345") == Principal("carol", "user", ())
    assert check(verifier, "carol", "pw-Carol-12345") == Principal("carol", "user", ())
    assert pool.calls == [("carol", "pw-Carol-12345")]


def test_publish_rights_come_from_the_publish_groups_normalized() -> None:
    verifier, _, _ = make({("ci", "pw"): ["pypi-edge:read", "pypi-edge:publish:Acme_*", "other-app:admin"]})
    who = check(verifier, "ci", "pw")
    assert who.publish == ("acme-*",)
    assert who.can_publish("ACME.widgets") and not who.can_publish("other")


def test_a_pool_user_outside_the_read_group_is_refused() -> None:
    """An existing pool shared with other applications grants nothing by itself."""
    verifier, _, _ = make({("dave", "pw"): ["other-app:admin", "pypi-edge:publish:*"]})
    assert check(verifier, "dave", "pw") is None


def test_a_revoked_user_is_refused_once_the_bound_has_passed_and_not_before() -> None:
    verifier, pool, clock = make({("carol", "pw"): READER}, cache_seconds=60)
    assert check(verifier, "carol", "pw") is not None
    del pool.users[("carol", "pw")]  # `pypi-edge user remove carol`
    clock.now += 59.9
    assert check(verifier, "carol", "pw") is not None  # still within the bound: the cache answers
    clock.now += 0.2
    assert check(verifier, "carol", "pw") is None
    assert len(pool.calls) == 2


def test_the_bound_counts_from_before_the_pool_was_asked() -> None:
    """An answer that took time to arrive does not live longer for it."""
    verifier, pool, clock = make({("carol", "pw"): READER}, cache_seconds=60)
    pool.latency = 2.5
    start = clock.now
    check(verifier, "carol", "pw")
    pool.latency = 0
    del pool.users[("carol", "pw")]
    clock.now = start + 60.0
    assert check(verifier, "carol", "pw") is None


def test_with_cache_seconds_zero_every_request_asks_the_pool() -> None:
    verifier, pool, _ = make({("carol", "pw"): READER}, cache_seconds=0)
    for _ in range(3):
        assert check(verifier, "carol", "pw") is not None
    assert len(pool.calls) == 3


def test_refusals_are_cached_a_few_seconds_only() -> None:
    verifier, pool, clock = make()
    assert check(verifier, "carol", "new-pw") is None
    assert check(verifier, "carol", "new-pw") is None
    assert len(pool.calls) == 1
    pool.users[("carol", "new-pw")] = READER  # added a moment later
    clock.now += userpool.NEGATIVE_SECONDS
    assert check(verifier, "carol", "new-pw") is not None
    assert len(pool.calls) == 2


def test_the_cache_key_is_a_keyed_hash_of_the_header_never_the_password() -> None:
    header = basic("carol", "pw-Carol-12345")
    verifier, _, _ = make({("carol", "pw-Carol-12345"): READER})
    other, _, _ = make({("carol", "pw-Carol-12345"): READER})
    verifier.verify(header, "carol", "pw-Carol-12345")
    other.verify(header, "carol", "pw-Carol-12345")
    [key] = verifier.positive
    assert key not in other.positive  # a per-container key: no two containers agree
    assert key != hashlib.sha256(header.encode()).digest()
    assert b"pw-Carol" not in key and b"pw-Carol" not in repr(verifier.positive).encode()


def test_the_caches_are_bounded() -> None:
    users = {(f"u{i}", "pw"): READER for i in range(10)}
    verifier, _, _ = make(users, cache_size=4)
    for i in range(10):
        check(verifier, f"u{i}", "pw")
        check(verifier, f"u{i}", "wrong")
    assert len(verifier.positive) == 4 and len(verifier.negative) == 4


# --- the pool unreachable ----------------------------------------------------------------------------


def test_an_unreachable_pool_is_unavailable_never_a_pass_and_nothing_is_cached() -> None:
    verifier, pool, _ = make({("carol", "pw"): READER})
    pool.down = True
    with pytest.raises(Unavailable):
        check(verifier, "carol", "pw")
    assert verifier.positive == {} and verifier.negative == {} and verifier.failures == {}
    pool.down = False
    assert check(verifier, "carol", "pw") is not None


def test_a_cached_user_keeps_working_while_the_pool_is_down() -> None:
    verifier, pool, clock = make({("carol", "pw"): READER})
    check(verifier, "carol", "pw")
    pool.down = True
    clock.now += 30
    assert check(verifier, "carol", "pw") is not None
    with pytest.raises(Unavailable):
        check(verifier, "dave", "pw")


# --- brute force -------------------------------------------------------------------------------------


def test_failed_attempts_for_one_name_are_limited_per_container() -> None:
    verifier, pool, clock = make({("carol", "right"): READER})
    for i in range(userpool.MAX_FAILURES):
        assert check(verifier, "carol", f"guess{i}") is None
    with pytest.raises(RateLimited) as limited:
        check(verifier, "carol", "right")  # even the right one: the pool is not asked
    assert limited.value.retry_after == userpool.FAILURE_WINDOW_SECONDS
    assert len(pool.calls) == userpool.MAX_FAILURES
    # Another name is not affected; the window ends.
    assert check(verifier, "dave", "x") is None
    clock.now += userpool.FAILURE_WINDOW_SECONDS
    assert check(verifier, "carol", "right") is not None


def test_retrying_the_same_wrong_password_counts_once() -> None:
    """The negative cache answers repeats: a CI job with a stale password does not lock its user."""
    verifier, pool, _ = make()
    for _ in range(20):
        assert check(verifier, "carol", "stale") is None
    assert len(pool.calls) == 1
    assert verifier.failures["carol"][1] == 1


def test_a_success_clears_the_failures_of_that_name() -> None:
    verifier, _, _ = make({("carol", "right"): READER})
    for i in range(userpool.MAX_FAILURES - 1):
        check(verifier, "carol", f"guess{i}")
    assert check(verifier, "carol", "right") is not None
    assert "carol" not in verifier.failures


def test_the_failure_table_is_bounded() -> None:
    verifier, _, _ = make(cache_size=8)
    for i in range(50):
        check(verifier, f"name{i}", "x")
    assert len(verifier.failures) <= 8


# --- tokens and names ----------------------------------------------------------------------------------


def test_a_pool_token_is_checked_as_the_pool_user_token_colon_name() -> None:
    token = userpool.make_token("deploy", "Secret-abc123_XYZ")
    verifier, pool, _ = make(
        {("token:deploy", "Secret-abc123_XYZ"): ["pypi-edge:read", "pypi-edge:publish:acme-*"]}
    )
    assert check(verifier, "__token__", token) == Principal("deploy", "token", ("acme-*",))
    assert pool.calls == [("token:deploy", "Secret-abc123_XYZ")]


@pytest.mark.parametrize(
    ("user", "password"),
    [
        ("__token__", "pypi-edge-0123456789abcdefghijklmnopqrstuvwxyzABCDEFG"),  # a static token's shape
        ("__token__", "pypi-edge-pool-deploy"),  # no secret
        ("__token__", "pypi-edge-pool-.secret"),  # no name
        ("__token__", "pypi-edge-pool-a.b.c" + "x" * 300),  # secret over Cognito's 256
        ("__token__", "pypi-edge-pool-bad:name.secret"),
        ("token:deploy", "Secret-abc123_XYZ"),  # a token's pool user, by name: never
        ("carol smith", "pw"),  # no whitespace in Cognito names
        ("carol\x7f", "pw"),
        ("c" * 129, "pw"),
        ("carol", "p" * 257),  # over Cognito's password length
    ],
)
def test_what_cannot_be_a_pool_user_is_refused_without_asking_the_pool(user: str, password: str) -> None:
    verifier, pool, _ = make()
    assert verifier.verify(basic(user, password), user, password) is None
    assert pool.calls == []


def test_token_helpers_round_trip_and_refuse_bad_names() -> None:
    token = userpool.make_token("ci-2_x", "s3cret")
    assert userpool.parse_token(token) == ("ci-2_x", "s3cret")
    assert userpool.is_pool_token(token)
    with pytest.raises(ValueError, match="invalid token name"):
        userpool.make_token("a.b", "s")


# --- static users win ----------------------------------------------------------------------------------


def static_with_pool(pool_users) -> tuple[Verifier, FakePool]:
    v = Verifier()
    v.configure(
        render_file(
            {"alice": "static-pw", "__token__": {"old": {"sha256": "0" * 64}}}, "r", "s", iterations=ITER
        )
    )
    pool, clock = FakePool(pool_users), Clock()
    v.pool = PoolVerifier(Settings(POOL_ID, CLIENT_ID), pool, clock=clock)
    return v, pool


def test_a_static_name_is_never_asked_of_the_pool() -> None:
    v, pool = static_with_pool({("alice", "pool-pw"): READER})
    assert v.verify(basic("alice", "static-pw")) == Principal("alice", "user", ())
    assert v.verify(basic("alice", "pool-pw")) is None  # the static entry wins the clash
    assert pool.calls == []


def test_names_the_static_file_does_not_know_go_to_the_pool() -> None:
    v, pool = static_with_pool({("carol", "pw"): READER})
    assert v.verify(basic("carol", "pw")) == Principal("carol", "user", ())
    assert v.verify(basic("__token__", userpool.make_token("t", "s"))) is None
    assert pool.calls == [("carol", "pw"), ("token:t", "s")]
    # Pool answers expire, so they never enter the static caches (which never expire).
    assert v.cache == {} and v.rejected == {}


def test_a_pool_and_no_static_users_still_checks_the_pool() -> None:
    v = Verifier()
    v.configure(render_file({}, "r", "s", iterations=ITER, allow_empty=True))
    pool, clock = FakePool({("carol", "pw"): READER}), Clock()
    v.pool = PoolVerifier(Settings(POOL_ID, CLIENT_ID), pool, clock=clock)
    assert v.verify(basic("carol", "pw")) is not None


def test_minted_tokens_never_reach_the_pool() -> None:
    v, pool = static_with_pool({})
    assert v.verify(basic("__token__", credentials.MINTED_PREFIX + "abc")) is None
    assert pool.calls == []


# --- the configuration file ----------------------------------------------------------------------------


def test_the_file_round_trips_and_is_deterministic() -> None:
    raw = userpool.render_file(POOL_ID, CLIENT_ID, 30)
    assert raw == userpool.render_file(POOL_ID, CLIENT_ID, 30)
    assert json.loads(raw) == {"pool_id": POOL_ID, "client_id": CLIENT_ID, "cache_seconds": 30}
    settings = userpool.load(raw)
    assert (settings.region, settings.cache_seconds) == ("eu-west-1", 30)
    assert settings.endpoint == "https://cognito-idp.eu-west-1.amazonaws.com/"
    local = userpool.load(userpool.render_file(POOL_ID, CLIENT_ID, endpoint="http://127.0.0.1:9001"))
    assert local.endpoint == "http://127.0.0.1:9001"
    with pytest.raises(AttributeError, match="immutable"):
        settings.cache_seconds = 0  # type: ignore[misc]


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (b"not json", "not JSON"),
        (b"[]", "must be an object"),
        (b'{"pool_id": "eu-west-1_Ab1"}', "must be an object"),
        (b'{"pool_id": "nowhere", "client_id": "c"}', "invalid user pool id"),
        (b'{"pool_id": "eu-west-1_Ab1", "client_id": "c d"}', "invalid app client id"),
        (b'{"pool_id": "eu-west-1_Ab1", "client_id": "c", "cache_seconds": -1}', "userCacheSeconds"),
        (b'{"pool_id": "eu-west-1_Ab1", "client_id": "c", "cache_seconds": 3601}', "userCacheSeconds"),
        (b'{"pool_id": "eu-west-1_Ab1", "client_id": "c", "cache_seconds": true}', "integer"),
        (b'{"pool_id": "eu-west-1_Ab1", "client_id": "c", "cache_seconds": "60"}', "userCacheSeconds"),
        (b'{"pool_id": "eu-west-1_Ab1", "client_id": "c", "endpoint": 1}', "endpoint"),
        (b'{"pool_id": "eu-west-1_Ab1", "client_id": "c", "endpoint": "http://evil.example"}', "https"),
    ],
)
def test_a_bad_file_is_refused(raw: bytes, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        userpool.load(raw)


def test_no_file_means_no_pool(tmp_path) -> None:
    assert userpool.read_file(str(tmp_path / "userpool.json")) is None


def test_a_broken_pool_answers_every_check_with_unavailable() -> None:
    with pytest.raises(Unavailable, match="not configured correctly"):
        userpool.Broken("bad file").verify("h", "carol", "pw")


def test_a_cached_pool_user_is_answered_before_the_header_is_parsed(monkeypatch) -> None:
    v, pool = static_with_pool({("carol", "pw"): READER})
    assert v.verify(basic("carol", "pw")) is not None
    monkeypatch.setattr(credentials, "parse_basic_auth", lambda value: pytest.fail("parsed on the warm path"))
    assert v.verify(basic("carol", "pw")) == Principal("carol", "user", ())
    assert len(pool.calls) == 1


def test_an_expired_entry_is_not_a_warm_hit() -> None:
    verifier, _, clock = make({("carol", "pw"): READER}, cache_seconds=60)
    check(verifier, "carol", "pw")
    assert verifier.cached(basic("carol", "pw")) is not None
    clock.now += 60
    assert verifier.cached(basic("carol", "pw")) is None
    assert userpool.Broken("x").cached(basic("carol", "pw")) is None
