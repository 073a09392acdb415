"""`python -m local --user-store cognito`: what goes into the pool, what stays static, and the pool itself."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import boto3
import pytest

from edge import handler as edge
from edge import userpool
from local.__main__ import pool_config
from local.stack import DEFAULT_USERS, LocalStack, free_port
from local.userstore import CognitoStore, PoolSeed, split_tokens

ROOT = Path(__file__).resolve().parent.parent
POOL_TOKEN = userpool.make_token("ci", "Ci-secret-12345")
STATIC_TOKEN = "pypi-edge-" + "S" * 43


def test_users_and_pool_tokens_go_into_the_pool_static_tokens_stay_static() -> None:
    static, seed = pool_config(
        [("alice", "Alice-password-1")],
        [("alice", "acme-*"), ("ci", "tools"), ("old", "legacy")],
        [("ci", POOL_TOKEN), ("old", STATIC_TOKEN)],
    )
    assert seed == PoolSeed(
        users={"alice": ("Alice-password-1", ["acme-*"])}, tokens={"ci": ("Ci-secret-12345", ["tools"])}
    )
    assert set(static) == {"__token__"} and set(static["__token__"]) == {"old"}
    assert static["__token__"]["old"]["publish"] == ["legacy"]


def test_without_users_or_tokens_the_default_user_stays_static() -> None:
    static, seed = pool_config(None, None, None)
    assert static == DEFAULT_USERS and seed == PoolSeed()


@pytest.mark.parametrize(
    ("users", "publish", "tokens", "message"),
    [
        ([("a", "Alice-password-1")], [("b", "x")], [], "--publish names no --user or --token: b"),
        ([], [], [("other", POOL_TOKEN)], "that token is named 'ci'"),
    ],
)
def test_command_line_mistakes_stop_before_starting(users, publish, tokens, message) -> None:
    with pytest.raises(SystemExit, match=message):
        pool_config(users, publish, tokens)


def test_split_tokens_tells_pool_tokens_by_their_shape() -> None:
    assert split_tokens([("ci", POOL_TOKEN), ("old", STATIC_TOKEN)]) == (
        {"ci": "Ci-secret-12345"},
        {"old": STATIC_TOKEN},
    )


def test_a_seeded_password_the_pool_refuses_stops_the_stack_with_one_line() -> None:
    argv = ["--port", str(free_port()), "--s3-port", str(free_port()), "--bucket", "pypi-refused"]
    argv += ["--user-store", "cognito", "--user", "bob:hunter2", "-q"]
    done = subprocess.run(
        [sys.executable, "-m", "local", *argv], cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 1
    assert done.stderr.strip().splitlines()[-1].startswith("error: the pool's password policy refuses")


def test_the_local_pool_is_made_as_pulumi_makes_it() -> None:
    store = CognitoStore("127.0.0.1", free_port()).start()
    try:
        idp = boto3.client(
            "cognito-idp",
            endpoint_url=store.endpoint,
            region_name="us-east-1",
            aws_access_key_id="local",
            aws_secret_access_key="local",
        )
        described = idp.describe_user_pool(UserPoolId=store.pool_id)["UserPool"]
        assert described["AdminCreateUserConfig"]["AllowAdminCreateUserOnly"] is True
        assert described["Policies"]["PasswordPolicy"]["MinimumLength"] == 12
        client = idp.describe_user_pool_client(UserPoolId=store.pool_id, ClientId=store.client_id)[
            "UserPoolClient"
        ]
        assert client["ExplicitAuthFlows"] == ["ALLOW_ADMIN_USER_PASSWORD_AUTH", "ALLOW_REFRESH_TOKEN_AUTH"]
        assert "ClientSecret" not in client
        settings = userpool.load(store.settings_file(7))
        assert (settings.pool_id, settings.client_id, settings.cache_seconds) == (
            store.pool_id,
            store.client_id,
            7,
        )
        assert settings.endpoint == store.endpoint
    finally:
        store.stop()


def test_a_static_stack_sets_no_pool_for_the_functions(monkeypatch) -> None:
    """A cognito stack started earlier in the same process must not leave its pool behind."""
    monkeypatch.setenv(userpool.ENV_VAR, "/left/over/userpool.json")
    stack = LocalStack(port=free_port(), s3_port=free_port(), bucket="pypi-static-only", batch_window=0.1)
    stack.start()
    try:
        assert userpool.ENV_VAR not in os.environ
        assert stack.cognito is None and edge._verifier.pool is None
    finally:
        stack.stop()
