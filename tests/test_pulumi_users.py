"""The opt-in user pool in the Pulumi program (mocked): config → pool, app client, role policies, bundles."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from edge import credentials, userpool
from infra import pool, users
from infra.component import PrivateIndexArgs
from tests.pulumi_helpers import (
    ACCOUNT,
    REPO,
    STACK_REGION,
    USER_POOL_CLIENT_ID,
    ProgramRun,
    run_program,
    zip_members,
)

T_POOL = "aws:cognito/userPool:UserPool"
T_CLIENT = "aws:cognito/userPoolClient:UserPoolClient"
T_FUNCTION = "aws:lambda/function:Function"
T_ROLE_POLICY = "aws:iam/rolePolicy:RolePolicy"
USERS = {"breakglass": "correct horse battery staple"}
EXISTING = "ap-southeast-2_Abc123XYZ"


# Each run has its own stack name: bundles are written per stack, and the test files run in parallel.
@pytest.fixture(scope="module")
def created() -> ProgramRun:
    return run_program({"users": USERS, "userPool": "create"}, stack="pool")


@pytest.fixture(scope="module")
def existing() -> ProgramRun:
    return run_program(
        {"users": {}, "userPool": EXISTING, "userCacheSeconds": 30, "retainBucketOnDelete": False},
        stack="poolx",
    )


@pytest.fixture(scope="module")
def off() -> ProgramRun:
    return run_program({"users": USERS}, stack="nopool")


def statements(policy_json: str) -> list[dict[str, Any]]:
    return json.loads(policy_json)["Statement"]


def cognito_statements(run: ProgramRun, suffix: str) -> list[dict[str, Any]]:
    found = []
    for policy in run.of_type(T_ROLE_POLICY):
        if policy.name.endswith(suffix):
            found += [s for s in statements(policy.inputs["policy"]) if "cognito" in json.dumps(s["Action"])]
    return found


def bundle(run: ProgramRun, suffix: str) -> dict[str, bytes]:
    return zip_members(REPO / Path(run.one(T_FUNCTION, suffix).inputs["code"].path))


# --- off by default ------------------------------------------------------------------------------


def test_off_by_default_nothing_of_cognito_exists(off: ProgramRun) -> None:
    assert off.of_type(T_POOL) == [] and off.of_type(T_CLIENT) == []
    assert off.of_type(users.TYPE_TOKEN) == []
    assert "userPoolId" not in off.outputs
    assert cognito_statements(off, "") == []
    assert userpool.FILE_NAME not in bundle(off, "-edge")
    assert userpool.FILE_NAME not in bundle(off, "-upload-function")


# --- userPool: create -------------------------------------------------------------------------------


def test_create_makes_a_lite_pool_only_administrators_fill(created: ProgramRun) -> None:
    p = created.one(T_POOL).inputs
    assert p["userPoolTier"] == "LITE"
    assert p["adminCreateUserConfig"] == {"allowAdminCreateUserOnly": True}  # no self sign-up
    assert p["passwordPolicy"] == {
        "minimumLength": 12,
        "requireLowercase": True,
        "requireUppercase": True,
        "requireNumbers": True,
        "requireSymbols": False,
        "temporaryPasswordValidityDays": 1,
    }
    assert p["accountRecoverySetting"] == {"recoveryMechanisms": [{"name": "admin_only", "priority": 1}]}
    assert p["mfaConfiguration"] == "OFF"
    assert p["usernameConfiguration"] == {"caseSensitive": True}  # exact names, like static users
    assert "userPoolAddOns" not in p  # threat protection is a Plus feature: not on


def test_the_pool_is_kept_on_destroy_as_the_bucket_is(created: ProgramRun, existing: ProgramRun) -> None:
    made = created.one(T_POOL)
    assert made.retain_on_delete is True and made.inputs["deletionProtection"] == "ACTIVE"
    # retainBucketOnDelete false also lets destroy delete a created pool; an existing one is never ours.
    assert existing.of_type(T_POOL) == []
    relaxed = run_program(
        {"users": USERS, "userPool": "create", "retainBucketOnDelete": False}, stack="poold"
    )
    gone = relaxed.one(T_POOL)
    assert gone.retain_on_delete is False and gone.inputs["deletionProtection"] == "INACTIVE"


def test_the_app_client_has_no_secret_and_only_the_admin_flow(created: ProgramRun) -> None:
    c = created.one(T_CLIENT).inputs
    assert c["userPoolId"] == created.one(T_POOL).state["id"]
    assert c["generateSecret"] is False
    assert c["explicitAuthFlows"] == ["ALLOW_ADMIN_USER_PASSWORD_AUTH", "ALLOW_REFRESH_TOKEN_AUTH"]
    assert c["preventUserExistenceErrors"] == "ENABLED"
    assert c["enableTokenRevocation"] is True
    assert (c["accessTokenValidity"], c["idTokenValidity"], c["refreshTokenValidity"]) == (5, 5, 60)
    assert c["tokenValidityUnits"] == {
        "accessToken": "minutes",
        "idToken": "minutes",
        "refreshToken": "minutes",
    }
    for flow in ("allowedOauthFlows", "callbackUrls", "supportedIdentityProviders"):
        assert not c.get(flow)


def test_the_local_stack_makes_the_same_pool_and_client(created: ProgramRun) -> None:
    """infra.pool feeds both: the boto3 requests the local stack sends say what Pulumi declares."""
    p, c = created.one(T_POOL).inputs, created.one(T_CLIENT).inputs
    req = pool.create_pool_request("x")
    policy = req["Policies"]["PasswordPolicy"]
    assert policy["MinimumLength"] == p["passwordPolicy"]["minimumLength"]
    assert req["AdminCreateUserConfig"]["AllowAdminCreateUserOnly"] is True
    assert req["UserPoolTier"] == p["userPoolTier"]
    client = pool.create_client_request("pool", "x")
    assert client["ExplicitAuthFlows"] == c["explicitAuthFlows"]
    assert client["GenerateSecret"] is c["generateSecret"]
    assert client["PreventUserExistenceErrors"] == c["preventUserExistenceErrors"]


def test_both_roles_may_call_admin_initiate_auth_on_that_pool_only(created: ProgramRun) -> None:
    arn = created.one(T_POOL).state["arn"]
    for suffix in ("-edge-user-pool", "-upload-policy"):
        assert cognito_statements(created, suffix) == [
            {
                "Sid": "VerifyUsersInThePool",
                "Effect": "Allow",
                "Action": ["cognito-idp:AdminInitiateAuth"],
                "Resource": arn,
            }
        ], suffix
    edge_role = created.one("aws:iam/role:Role", "-edge-role")
    assert created.one(T_ROLE_POLICY, "-edge-user-pool").inputs["role"] == edge_role.state["name"]
    # Nothing else anywhere grants a Cognito action.
    assert len(cognito_statements(created, "")) == 2


def test_both_bundles_carry_the_pool_file(created: ProgramRun) -> None:
    expected = userpool.render_file(created.one(T_POOL).state["id"], USER_POOL_CLIENT_ID, 60)
    edge, upload = bundle(created, "-edge"), bundle(created, "-upload-function")
    assert edge[userpool.FILE_NAME] == expected
    assert upload[userpool.FILE_NAME] == expected  # at the zip root, beside credentials.json
    assert upload[credentials.FILE_NAME] == edge[credentials.FILE_NAME]
    assert {"userpool.py", "cognito.py"} <= set(edge)
    settings = userpool.load(expected)
    assert settings.region == STACK_REGION and settings.cache_seconds == 60
    # The static users stay beside the pool (break-glass accounts).
    _, static = credentials.load(edge[credentials.FILE_NAME])
    assert set(static) == set(USERS)


def test_the_pool_id_is_a_stack_output(created: ProgramRun) -> None:
    assert created.outputs["userPoolId"] == created.one(T_POOL).state["id"]


# --- userPool: an existing pool's id ------------------------------------------------------------


def test_an_existing_pool_gets_only_an_app_client_in_its_region(existing: ProgramRun) -> None:
    assert existing.of_type(T_POOL) == []
    client = existing.one(T_CLIENT)
    assert client.inputs["userPoolId"] == EXISTING
    assert existing.region(client) == "ap-southeast-2"
    assert existing.outputs["userPoolId"] == EXISTING
    arn = f"arn:aws:cognito-idp:ap-southeast-2:{ACCOUNT}:userpool/{EXISTING}"
    assert {s["Resource"] for s in cognito_statements(existing, "")} == {arn}


def test_with_a_pool_the_static_users_may_be_none_and_the_bound_travels(existing: ProgramRun) -> None:
    edge = bundle(existing, "-edge")
    _, static = credentials.load(edge[credentials.FILE_NAME])
    assert static == {}
    assert userpool.load(edge[userpool.FILE_NAME]).cache_seconds == 30


def test_without_a_pool_the_static_users_may_not_be_empty() -> None:
    with pytest.raises(Exception, match="at least one user"):
        run_program({"users": {}}, stack="empty")


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"user_pool": "yes"}, "userPool must be 'create' or the id"),
        ({"user_pool": "eu-west-1"}, "userPool must be 'create' or the id"),
        ({"user_pool": "create", "user_cache_seconds": -1}, "userCacheSeconds"),
        ({"user_pool": "create", "user_cache_seconds": 3601}, "userCacheSeconds"),
    ],
)
def test_bad_settings_fail_the_preview(change: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        PrivateIndexArgs(users={"a": "b"}, **change).validate()
