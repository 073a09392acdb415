"""`pypi-edge user …` and `pypi-edge token …` against moto's Cognito (in process)."""

from __future__ import annotations

import io
import os
import stat
from collections.abc import Iterator
from pathlib import Path

import boto3
import pytest
from moto import mock_aws

from edge import userpool
from indexer import cli, users
from infra import pool

REGION = "eu-west-1"


@pytest.fixture
def idp(aws_env, monkeypatch) -> Iterator[tuple[object, str]]:
    monkeypatch.delenv(users.ENV_USER_POOL, raising=False)
    monkeypatch.setenv("PATH", "/nonexistent")  # no `pulumi` here unless a test puts one there
    with mock_aws():
        client = boto3.client("cognito-idp", region_name=REGION)
        pool_id = client.create_user_pool(**pool.create_pool_request("test"))["UserPool"]["Id"]
        yield client, pool_id


def run(pool_id: str | None, *argv: str, stdin: str | None = None, monkeypatch=None) -> int:
    if stdin is not None:
        monkeypatch.setattr("sys.stdin", io.StringIO(stdin))
    extra = ["--user-pool", pool_id] if pool_id else []
    return cli.main([*argv, *extra])


def groups_of(client, pool_id: str, username: str) -> set[str]:
    found = client.admin_list_groups_for_user(UserPoolId=pool_id, Username=username)["Groups"]
    return {g["GroupName"] for g in found}


def signs_in(client, pool_id: str, username: str, password: str) -> bool:
    app = client.create_user_pool_client(**pool.create_client_request(pool_id, "probe"))["UserPoolClient"]
    try:
        client.admin_initiate_auth(
            UserPoolId=pool_id,
            ClientId=app["ClientId"],
            AuthFlow="ADMIN_USER_PASSWORD_AUTH",
            AuthParameters={"USERNAME": username, "PASSWORD": password},
        )
    except client.exceptions.NotAuthorizedException:
        return False
    except client.exceptions.UserNotFoundException:
        return False
    return True


# --- users -------------------------------------------------------------------------------------------------


def test_user_add_prints_a_generated_password_once_and_makes_a_reader(idp, capsys) -> None:
    client, pool_id = idp
    assert run(pool_id, "user", "add", "carol") == 0
    out, err = capsys.readouterr()
    password = out.strip()
    assert len(password) == users.PASSWORD_CHARS and users.has_every_class(password)
    assert password not in err and "added user 'carol': read" in err
    assert groups_of(client, pool_id, "carol") == {userpool.READ_GROUP}
    assert signs_in(client, pool_id, "carol", password)


def test_user_add_with_publish_globs_and_a_password_from_stdin(idp, capsys, monkeypatch) -> None:
    client, pool_id = idp
    argv = ["user", "add", "ci", "--publish", "Acme_*", "--publish", "tools", "--password-stdin"]
    assert run(pool_id, *argv, stdin="Ci-password-1234\n", monkeypatch=monkeypatch) == 0
    out, err = capsys.readouterr()
    assert out == "" and "publish acme-*, tools" in err
    assert groups_of(client, pool_id, "ci") == {
        "pypi-edge:read",
        "pypi-edge:publish:acme-*",
        "pypi-edge:publish:tools",
    }
    assert signs_in(client, pool_id, "ci", "Ci-password-1234")


def test_a_password_the_policy_refuses_leaves_no_user_behind(idp, capsys, monkeypatch) -> None:
    client, pool_id = idp
    assert (
        run(pool_id, "user", "add", "carol", "--password-stdin", stdin="short\n", monkeypatch=monkeypatch)
        == 2
    )
    assert "password policy refuses" in capsys.readouterr().err
    assert client.list_users(UserPoolId=pool_id)["Users"] == []


def test_adding_an_existing_user_is_a_conflict(idp, capsys) -> None:
    _, pool_id = idp
    assert run(pool_id, "user", "add", "carol") == 0
    assert run(pool_id, "user", "add", "carol") == 1
    assert "user 'carol' already exists" in capsys.readouterr().err


@pytest.mark.parametrize("name", ["a:b", "two words", "__token__", "token:x", "x" * 129, "tab\there"])
def test_user_names_cognito_or_basic_auth_cannot_take_are_refused(idp, capsys, name: str) -> None:
    client, pool_id = idp
    assert run(pool_id, "user", "add", name) == 2
    assert "invalid user name" in capsys.readouterr().err
    assert client.list_users(UserPoolId=pool_id)["Users"] == []


def test_user_add_without_a_name_says_what_is_missing(idp, capsys) -> None:
    _, pool_id = idp
    assert run(pool_id, "user", "add") == 2
    assert "user add needs a NAME" in capsys.readouterr().err


def test_user_list_shows_name_rights_state_and_dates(idp, capsys) -> None:
    client, pool_id = idp
    run(pool_id, "user", "add", "carol")
    run(pool_id, "user", "add", "ci", "--publish", "acme-*")
    run(pool_id, "token", "new", "deploy")
    run(pool_id, "user", "disable", "carol")
    client.admin_create_user(UserPoolId=pool_id, Username="stranger", MessageAction="SUPPRESS")
    capsys.readouterr()
    assert run(pool_id, "user", "list") == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split() == ["NAME", "RIGHTS", "STATE", "CREATED", "CHANGED"]
    rows = {line.split()[0]: line for line in lines[1:]}
    assert set(rows) == {"carol", "ci", "stranger"}  # tokens are listed by `token list`
    assert "  read  " in rows["carol"] and "disabled" in rows["carol"]
    assert "publish acme-*" in rows["ci"] and "enabled" in rows["ci"]
    assert "no access (not in pypi-edge:read)" in rows["stranger"]


def test_remove_disable_enable_and_passwd(idp, capsys, monkeypatch) -> None:
    client, pool_id = idp
    run(
        pool_id,
        "user",
        "add",
        "carol",
        "--password-stdin",
        stdin="Carol-password-1\n",
        monkeypatch=monkeypatch,
    )
    assert run(pool_id, "user", "disable", "carol") == 0
    assert not signs_in(client, pool_id, "carol", "Carol-password-1")
    assert run(pool_id, "user", "enable", "carol") == 0
    assert signs_in(client, pool_id, "carol", "Carol-password-1")
    capsys.readouterr()
    assert run(pool_id, "user", "passwd", "carol") == 0
    out, err = capsys.readouterr()
    assert signs_in(client, pool_id, "carol", out.strip())
    assert not signs_in(client, pool_id, "carol", "Carol-password-1")
    assert "within userCacheSeconds" in err
    assert run(pool_id, "user", "remove", "carol") == 0
    assert client.list_users(UserPoolId=pool_id)["Users"] == []


@pytest.mark.parametrize("action", ["remove", "disable", "enable", "passwd"])
def test_acting_on_an_unknown_user_says_so(idp, capsys, action: str) -> None:
    _, pool_id = idp
    assert run(pool_id, "user", action, "nobody") == 1
    assert f"no user 'nobody' in pool {pool_id}" in capsys.readouterr().err


# --- tokens ------------------------------------------------------------------------------------------------


def test_token_new_prints_a_pool_token_once_and_stores_only_a_pool_user(idp, capsys) -> None:
    client, pool_id = idp
    assert run(pool_id, "token", "new", "deploy", "--publish", "acme-*") == 0
    out, err = capsys.readouterr()
    token = out.strip()
    name, secret = userpool.parse_token(token)
    assert name == "deploy" and len(secret) == 43 and token not in err
    assert "pypi-edge token revoke deploy" in err
    assert groups_of(client, pool_id, "token:deploy") == {"pypi-edge:read", "pypi-edge:publish:acme-*"}
    assert signs_in(client, pool_id, "token:deploy", secret)


def test_token_list_and_revoke(idp, capsys) -> None:
    client, pool_id = idp
    run(pool_id, "token", "new", "deploy", "--publish", "acme-*")
    run(pool_id, "token", "new", "reader")
    run(pool_id, "user", "add", "carol")
    capsys.readouterr()
    assert run(pool_id, "token", "list") == 0
    rows = capsys.readouterr().out.splitlines()[1:]
    assert [r.split()[0] for r in rows] == ["deploy", "reader"]
    assert "publish acme-*" in rows[0] and "  read  " in rows[1]
    assert run(pool_id, "token", "revoke", "deploy") == 0
    assert "revoked token 'deploy'" in capsys.readouterr().err
    assert {u["Username"] for u in client.list_users(UserPoolId=pool_id)["Users"]} == {
        "token:reader",
        "carol",
    }
    assert run(pool_id, "token", "revoke", "deploy") == 1
    assert "no token 'deploy'" in capsys.readouterr().err


@pytest.mark.parametrize("name", ["a.b", "a:b", "x" * 65, "sp ace"])
def test_token_names_are_letters_digits_dash_underscore(idp, capsys, name: str) -> None:
    _, pool_id = idp
    assert run(pool_id, "token", "new", name) == 2
    assert "invalid token name" in capsys.readouterr().err


def test_with_static_token_new_prints_config_lines_even_with_a_pool(idp, capsys) -> None:
    _, pool_id = idp
    assert run(pool_id, "token", "new", "ci", "--static") == 0
    assert "pulumi config set --secret --path users.__token__.ci.sha256" in capsys.readouterr().err


def test_token_new_without_a_pool_is_a_static_token(aws_env, monkeypatch, capsys) -> None:
    monkeypatch.delenv(users.ENV_USER_POOL, raising=False)
    monkeypatch.setenv("PATH", "/nonexistent")
    assert cli.main(["token", "new", "ci"]) == 0
    assert "pulumi config set" in capsys.readouterr().err


def test_token_list_needs_a_pool(aws_env, monkeypatch, capsys) -> None:
    monkeypatch.delenv(users.ENV_USER_POOL, raising=False)
    monkeypatch.setenv("PATH", "/nonexistent")
    assert cli.main(["token", "list"]) == 2
    assert "no user pool: pass --user-pool" in capsys.readouterr().err


# --- finding the pool -------------------------------------------------------------------------------------


def test_the_pool_comes_from_the_environment(idp, monkeypatch, capsys) -> None:
    _, pool_id = idp
    monkeypatch.setenv(users.ENV_USER_POOL, pool_id)
    assert cli.main(["user", "add", "carol"]) == 0


def fake_pulumi(directory: Path, output: str, code: int = 0) -> None:
    script = directory / "pulumi"
    script.write_text(f'#!/bin/sh\n[ "$*" = "stack output userPoolId" ] && echo "{output}"\nexit {code}\n')
    script.chmod(script.stat().st_mode | stat.S_IEXEC)


def test_the_pool_comes_from_the_stack_output(idp, monkeypatch, tmp_path) -> None:
    client, pool_id = idp
    fake_pulumi(tmp_path, pool_id)
    monkeypatch.setenv("PATH", f"{tmp_path}{os.pathsep}/usr/bin{os.pathsep}/bin")
    assert cli.main(["user", "add", "carol"]) == 0
    assert [u["Username"] for u in client.list_users(UserPoolId=pool_id)["Users"]] == ["carol"]


def test_a_stack_without_the_output_means_no_pool(aws_env, monkeypatch, tmp_path, capsys) -> None:
    monkeypatch.delenv(users.ENV_USER_POOL, raising=False)
    fake_pulumi(tmp_path, "", code=255)
    monkeypatch.setenv("PATH", f"{tmp_path}{os.pathsep}/usr/bin{os.pathsep}/bin")
    assert cli.main(["user", "list"]) == 2
    assert "no user pool" in capsys.readouterr().err


def test_a_malformed_pool_id_is_a_usage_error(idp, capsys) -> None:
    assert run("not-a-pool", "user", "list") == 2
    assert "invalid user pool id" in capsys.readouterr().err


def test_a_pool_that_does_not_exist_is_an_aws_error(idp, capsys) -> None:
    assert run("eu-west-1_Missing1", "user", "list") == 3
    assert "no such user pool" in capsys.readouterr().err


def test_no_aws_credentials_is_one_line(idp, monkeypatch, capsys) -> None:
    _, pool_id = idp
    for var in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        monkeypatch.delenv(var)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent")
    monkeypatch.setenv("AWS_CONFIG_FILE", "/nonexistent")
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    assert run(pool_id, "user", "list") == 3
    assert "no AWS credentials found" in capsys.readouterr().err


def test_generated_secrets_have_every_character_class() -> None:
    for _ in range(200):
        assert users.has_every_class(users.generate_password())


# --- the less travelled paths -----------------------------------------------------------------------------


def test_listing_follows_every_page_and_ignores_other_applications_groups(idp, capsys, monkeypatch) -> None:
    client, pool_id = idp
    for i in range(5):
        run(pool_id, "user", "add", f"u{i}", "--publish", f"p{i}")
    client.create_group(UserPoolId=pool_id, GroupName="other-app:admins")
    client.admin_add_user_to_group(UserPoolId=pool_id, Username="u0", GroupName="other-app:admins")
    store = users.Store(client, pool_id)
    real = client.list_users

    def two_at_a_time(**params):
        return real(**params, Limit=2)

    monkeypatch.setattr(client, "list_users", two_at_a_time)
    assert {u["Username"] for u in store.users(tokens=False)} == {f"u{i}" for i in range(5)}
    assert set(store.rights()["u0"]) == {"pypi-edge:publish:p0", "pypi-edge:read"}  # not other-app:admins


def test_an_empty_list_says_none(idp, capsys) -> None:
    _, pool_id = idp
    assert run(pool_id, "token", "list") == 0
    out, err = capsys.readouterr()
    assert out == "" and "(none)" in err


def test_a_password_from_stdin_loses_its_line_break_and_an_empty_one_is_refused(monkeypatch) -> None:
    assert users.read_password(io.StringIO("Pass-word-123\r\n")) == "Pass-word-123"
    with pytest.raises(users.UsersError, match="no password on stdin"):
        users.read_password(io.StringIO("\n"))


def test_an_empty_glob_is_a_usage_error(idp, capsys) -> None:
    _, pool_id = idp
    assert run(pool_id, "user", "add", "carol", "--publish", " ") == 2
    assert "'publish' must be a list" in capsys.readouterr().err


def test_token_revoke_without_a_name_says_what_is_missing(idp, capsys) -> None:
    _, pool_id = idp
    assert run(pool_id, "token", "revoke") == 2
    assert "token revoke needs a NAME" in capsys.readouterr().err


class Refusing:
    """A cognito-idp client whose every call fails the way `error` says."""

    def __init__(self, error: Exception) -> None:
        self.error = error

    def __getattr__(self, name):
        def fail(**kwargs):
            raise self.error

        return fail


def client_error(code: str, operation: str = "ListUsers") -> Exception:
    from botocore.exceptions import ClientError

    return ClientError({"Error": {"Code": code, "Message": "it says no"}}, operation)


@pytest.mark.parametrize(
    ("error", "message"),
    [
        (client_error("AccessDeniedException"), "Cognito refused ListGroups: your AWS identity needs"),
        (client_error("UnrecognizedClientException"), "Cognito refused ListGroups"),
        (
            client_error("InternalErrorException"),
            "Cognito ListGroups failed: InternalErrorException it says no",
        ),
    ],
)
def test_cognito_failures_are_one_line_and_exit_3(monkeypatch, capsys, aws_env, error, message) -> None:
    error.operation_name = "ListGroups"
    monkeypatch.setattr(users, "make_client", lambda args, pool_id: Refusing(error))
    assert cli.main(["user", "list", "--user-pool", "eu-west-1_Ab1"]) == 3
    assert message in capsys.readouterr().err


def test_a_network_failure_is_one_line_and_exit_3(monkeypatch, capsys, aws_env) -> None:
    from botocore.exceptions import EndpointConnectionError

    error = EndpointConnectionError(endpoint_url="http://127.0.0.1:1")
    monkeypatch.setattr(users, "make_client", lambda args, pool_id: Refusing(error))
    assert cli.main(["user", "list", "--user-pool", "eu-west-1_Ab1"]) == 3
    assert "AWS: Could not connect to the endpoint URL" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("call", "error"),
    [
        ("create_group", client_error("LimitExceededException", "CreateGroup")),
        ("admin_create_user", client_error("InvalidParameterException", "AdminCreateUser")),
        ("admin_set_user_password", client_error("InternalErrorException", "AdminSetUserPassword")),
        ("admin_disable_user", client_error("InternalErrorException", "AdminDisableUser")),
    ],
)
def test_an_unexpected_cognito_error_surfaces_and_leaves_no_half_user(idp, monkeypatch, call, error) -> None:
    from botocore.exceptions import ClientError

    client, pool_id = idp
    store = users.Store(client, pool_id)

    def fail(**kwargs):
        raise error

    monkeypatch.setattr(client, call, fail)
    with pytest.raises(ClientError):
        if call == "admin_disable_user":
            store.admin(call, "carol")
        else:
            store.create("carol", "Carol-password-1", [])
    assert client.list_users(UserPoolId=pool_id)["Users"] == []


def test_a_pulumi_that_cannot_run_means_no_stack_output(monkeypatch, tmp_path) -> None:
    fake_pulumi(tmp_path, "x")
    monkeypatch.setenv("PATH", str(tmp_path))

    def broken(*args, **kwargs):
        raise OSError("exec format error")

    assert users.stack_output(run=broken) is None
