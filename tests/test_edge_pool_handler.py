"""The viewer-request function with a user pool: who passes, 401 / 429 / 503, and what is imported when."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from edge import handler as edge
from edge import userpool
from edge.credentials import render_file
from tests.edge_helpers import (
    GOOD_AUTH,
    TEST_ITERATIONS,
    basic,
    call,
    check_generated_response,
    header,
    install_test_credentials,
    is_response,
    make_event,
)
from tests.test_edge_userpool import CLIENT_ID, POOL_ID, READER, FakePool

ROOT = Path(__file__).resolve().parent.parent
POOL_FILE = userpool.render_file(POOL_ID, CLIENT_ID, 60)


@pytest.fixture
def pool():
    fake = FakePool({("carol", "Carol-password-1"): READER})
    install_test_credentials()
    edge.configure_pool(POOL_FILE, fake)
    yield fake
    edge.configure_pool(None)
    install_test_credentials()


def test_a_pool_user_is_routed_like_a_static_one(pool) -> None:
    result = call(make_event("/simple/acme/", authorization=basic("carol", "Carol-password-1")))
    assert not is_response(result)
    assert result["uri"] == "/acme/index.html" and "authorization" not in result["headers"]


def test_wrong_pool_credentials_get_the_basic_challenge(pool) -> None:
    result = call(make_event("/simple/", authorization=basic("carol", "wrong")))
    assert result["status"] == "401" and header(result, "www-authenticate").startswith("Basic realm=")
    check_generated_response(result)


def test_static_users_never_ask_the_pool(pool) -> None:
    assert not is_response(call(make_event("/simple/", authorization=GOOD_AUTH)))
    assert pool.calls == []


def test_an_unreachable_pool_is_a_503_with_retry_after_for_unknown_credentials(pool) -> None:
    pool.down = True
    result = call(make_event("/simple/", authorization=basic("dave", "Dave-password-1")))
    assert result["status"] == "503"
    assert header(result, "retry-after") == str(userpool.RETRY_AFTER_SECONDS)
    assert header(result, "www-authenticate") is None  # not a credentials problem: no prompt
    check_generated_response(result)
    # Static users keep working meanwhile; a HEAD gets the status without a body.
    assert not is_response(call(make_event("/simple/", authorization=GOOD_AUTH)))
    head = call(make_event("/simple/", method="HEAD", authorization=basic("dave", "x")))
    assert head["status"] == "503" and "body" not in head


def test_a_user_cached_before_the_pool_went_down_keeps_reading(pool) -> None:
    auth = basic("carol", "Carol-password-1")
    assert not is_response(call(make_event("/simple/", authorization=auth)))
    pool.down = True
    assert not is_response(call(make_event("/simple/", authorization=auth)))


def test_guessing_one_name_ends_in_429_with_retry_after(pool) -> None:
    for i in range(userpool.MAX_FAILURES):
        assert call(make_event("/simple/", authorization=basic("carol", f"guess-{i}")))["status"] == "401"
    result = call(make_event("/simple/", authorization=basic("carol", "Carol-password-1")))
    assert result["status"] == "429"
    assert 0 < int(header(result, "retry-after")) <= userpool.FAILURE_WINDOW_SECONDS
    check_generated_response(result)


def test_an_unreadable_pool_file_leaves_static_users_and_503_for_the_rest(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv(userpool.ENV_VAR, str(tmp_path / "userpool.json"))
    (tmp_path / "userpool.json").write_text("{not json")
    creds = tmp_path / "credentials.json"
    creds.write_bytes(render_file({"alice": "pw"}, "r", "s", iterations=TEST_ITERATIONS))
    monkeypatch.setenv(edge.ENV_VAR, str(creds))
    try:
        assert edge.reload() is True
        assert not is_response(call(make_event("/simple/", authorization=basic("alice", "pw"))))
        assert call(make_event("/simple/", authorization=basic("carol", "x")))["status"] == "503"
        with pytest.raises(ValueError):
            edge.configure_pool(b"[]")
        assert isinstance(edge._verifier.pool, userpool.Broken)
    finally:
        edge.configure_pool(None)
        install_test_credentials()


def test_reload_reads_the_pool_file_and_no_file_means_no_pool(tmp_path, monkeypatch) -> None:
    creds = tmp_path / "credentials.json"
    creds.write_bytes(render_file({}, "r", "s", iterations=TEST_ITERATIONS, allow_empty=True))
    monkeypatch.setenv(edge.ENV_VAR, str(creds))
    monkeypatch.setenv(userpool.ENV_VAR, str(tmp_path / "userpool.json"))
    try:
        assert edge.reload() is False  # no static user and no pool: nobody
        (tmp_path / "userpool.json").write_bytes(POOL_FILE)
        assert edge.reload() is True  # the pool alone
        assert edge._verifier.pool.settings.pool_id == POOL_ID
    finally:
        edge.configure_pool(None)
        install_test_credentials()


# --- what a container imports, and when -------------------------------------------------------------------

PROBE = """
import json, sys
from edge import handler as edge
from tests.edge_helpers import basic, make_event

def loaded():
    return {m: m in sys.modules for m in ("edge.cognito", "http.client", "ssl", "botocore", "boto3")}

before = loaded()
edge.handler(make_event("/simple/", authorization=basic("alice", "alice-pw")))
static = loaded()
edge.handler(make_event("/simple/", authorization=basic("carol", "Carol-password-1")))
miss = loaded()
print(json.dumps({"before": before, "static": static, "miss": miss}))
"""


def test_the_https_client_loads_on_a_containers_first_pool_miss_never_for_static_users(tmp_path) -> None:
    (tmp_path / "credentials.json").write_bytes(
        render_file({"alice": "alice-pw"}, "r", "s", iterations=TEST_ITERATIONS)
    )
    port_file = userpool.render_file(POOL_ID, CLIENT_ID, endpoint="http://127.0.0.1:9")  # nothing listens
    (tmp_path / "userpool.json").write_bytes(port_file)
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        edge.ENV_VAR: str(tmp_path / "credentials.json"),
        userpool.ENV_VAR: str(tmp_path / "userpool.json"),
        "AWS_ACCESS_KEY_ID": "a",
        "AWS_SECRET_ACCESS_KEY": "b",
    }
    out = subprocess.run(
        [sys.executable, "-c", PROBE], env=env, cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout
    seen = json.loads(out.strip().splitlines()[-1])
    nothing = {"edge.cognito": False, "http.client": False, "ssl": False, "botocore": False, "boto3": False}
    assert seen["before"] == nothing and seen["static"] == nothing
    # The miss loads the standard library's HTTPS client (nothing listens: that request gets a 503).
    assert seen["miss"] == {**nothing, "edge.cognito": True, "http.client": True, "ssl": True}
