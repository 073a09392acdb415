"""End to end: users and tokens in the local stack's Cognito (`python -m local --user-store cognito`),
managed with the `pypi-edge` CLI while the stack runs, used by the real pip and twine.

The revocation bound is `--user-cache-seconds` (BOUND here): after `user remove` or `token revoke`
the next requests are refused once the edge's and the upload function's cached answers expire.
"""

from __future__ import annotations

import base64
import http.client
import re
import shlex
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import boto3
import pytest

from local.stack import DEFAULT_USER, DEFAULT_USERS, LocalStack, free_port
from local.userstore import PoolSeed
from tests.distributions import make_wheel, write
from tests.e2e import ROOT, VENV_BIN, Stack, clean_env, fresh_venv, installed, pip, run

pytestmark = pytest.mark.e2e

BOUND = 2  # seconds: --user-cache-seconds
# Refusal is due at most BOUND after the change; the rest is room for one slow request here.
SLACK = 10
ALICE = ("alice", "Alice-password-1")  # seeded into the pool by --user; publishes everything


@pytest.fixture(scope="module")
def stack(tmp_path_factory) -> Iterator[Stack]:
    st = Stack(
        workdir=tmp_path_factory.mktemp("users-stack"),
        users=dict([ALICE]),
        publish={"alice": ["*"]},
        bucket="pypi-users",
        extra_args=["--user-store", "cognito", "--user-cache-seconds", str(BOUND)],
    ).start()
    try:
        yield st
    finally:
        st.stop()


def banner(stack: Stack) -> str:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        text = stack.log_path.read_text()
        if "Ctrl-C stops." in text:
            return text
        time.sleep(0.2)
    raise AssertionError(f"no banner:\n{stack.log_path.read_text()}")


def pool_of(stack: Stack) -> tuple[str, str]:
    text = banner(stack)
    pool_id = re.search(r"export PYPI_EDGE_USER_POOL=(\S+)", text).group(1)
    endpoint = re.search(r"--endpoint-url (\S+)", text).group(1)
    return pool_id, endpoint


def cli_env(stack: Stack) -> dict[str, str]:
    pool_id, _ = pool_of(stack)
    return clean_env(AWS_ACCESS_KEY_ID="local", AWS_SECRET_ACCESS_KEY="local", PYPI_EDGE_USER_POOL=pool_id)


def pypi_edge(stack: Stack, *args: str):
    _, endpoint = pool_of(stack)
    return run(VENV_BIN / "pypi-edge", *args, "--endpoint-url", endpoint, env=cli_env(stack), cwd=ROOT)


def status(stack: Stack, user: str, password: str, path: str = "/simple/") -> int:
    return stack.get(path, user=user, password=password)[0]


def upload_status(stack: Stack, user: str, password: str) -> int:
    """The upload function's verdict on credentials alone: 401 refused, 400 (an empty form) accepted."""
    token = base64.b64encode(f"{user}:{password}".encode()).decode()
    request = urllib.request.Request(
        f"{stack.url}/legacy/", data=b"", method="POST", headers={"Authorization": f"Basic {token}"}
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as resp:
            return resp.status
    except urllib.error.HTTPError as exc:
        return exc.code


def seconds_until(predicate, limit: float) -> float:
    start = time.monotonic()
    while time.monotonic() - start < limit:
        if predicate():
            return time.monotonic() - start
        time.sleep(0.1)
    raise AssertionError(f"not within {limit} s")


def publish(stack: Stack, name: str) -> str:
    filename, data, _ = make_wheel(name, "1.0")
    stack.put(filename, data)
    stack.wait_for_file(name, filename)
    return filename


def twine(stack: Stack, user: str, password: str, path: Path):
    args = ["upload", "--repository-url", f"{stack.url}/legacy/", "-u", user, "-p", password]
    return run(VENV_BIN / "twine", *args, "--non-interactive", "--disable-progress-bar", path)


def words(result) -> str:
    return " ".join((result.stdout + result.stderr).split())


# --- the banner ---------------------------------------------------------------------------------------------


def test_the_banners_commands_work_against_the_running_stack(stack) -> None:
    text = banner(stack)
    cli = str(VENV_BIN.absolute() / "pypi-edge")  # absolute: the banner works from any directory
    lines = [line.strip() for line in text.splitlines() if line.strip().startswith((cli, "export"))]
    exports = " && ".join(line for line in lines if line.startswith("export"))
    commands = [line for line in lines if line.startswith(cli)]
    assert [shlex.split(c, comments=True)[1:3] for c in commands] == [
        ["user", "add"],
        ["user", "list"],
        ["token", "new"],
        ["user", "remove"],
        ["upload", "--bucket"],
    ]
    results = {}
    for command in commands[:4]:
        done = run("bash", "-c", f"{exports} && {command}", cwd="/", env=clean_env())
        assert done.returncode == 0, words(done)
        results[shlex.split(command, comments=True)[2]] = done
    password = results["add"].stdout.strip()
    assert len(password) == 24
    assert "carol" in results["list"].stdout and "alice" in results["list"].stdout
    assert results["new"].stdout.startswith("pypi-edge-pool-deploy.")


# --- users ------------------------------------------------------------------------------------------------


def test_a_user_added_with_the_cli_installs_with_pip_and_is_refused_within_the_bound_after_remove(
    stack, tmp_path
) -> None:
    publish(stack, "edgeusers-hello")
    added = pypi_edge(stack, "user", "add", "dave")
    assert added.returncode == 0, words(added)
    password = added.stdout.strip()
    venv = fresh_venv(tmp_path / "venv")
    index = stack.index_url("dave", password)
    result = pip(venv, "install", "--index-url", index, "edgeusers-hello")
    assert result.returncode == 0, words(result)
    assert installed(venv)["edgeusers-hello"] == "1.0"
    # A wrong password is a 401, to pip as to anyone.
    assert status(stack, "dave", password + "x") == 401
    wrong = pip(
        fresh_venv(tmp_path / "v2"),
        "install",
        "--index-url",
        stack.index_url("dave", "wrong"),
        "edgeusers-hello",
    )
    assert wrong.returncode != 0 and "401" in words(wrong)

    assert status(stack, "dave", password) != 401  # cached at the edge now
    removed = pypi_edge(stack, "user", "remove", "dave")
    assert removed.returncode == 0, words(removed)
    waited = seconds_until(lambda: status(stack, "dave", password) == 401, BOUND + SLACK)
    print(f"user remove -> 401 after {waited:.2f} s (bound {BOUND} s)")
    again = pip(fresh_venv(tmp_path / "v3"), "install", "--index-url", index, "edgeusers-hello")
    assert again.returncode != 0 and "401" in words(again)


def test_a_disabled_user_is_refused_and_enabled_again_reads(stack) -> None:
    added = pypi_edge(stack, "user", "add", "erin")
    password = added.stdout.strip()
    assert status(stack, "erin", password) != 401
    assert pypi_edge(stack, "user", "disable", "erin").returncode == 0
    seconds_until(lambda: status(stack, "erin", password) == 401, BOUND + SLACK)
    assert pypi_edge(stack, "user", "enable", "erin").returncode == 0
    # A refusal is kept a few seconds (userpool.NEGATIVE_SECONDS), then the pool is asked again.
    seconds_until(lambda: status(stack, "erin", password) != 401, BOUND + SLACK)


# --- tokens -----------------------------------------------------------------------------------------------


def test_a_token_publishes_acme_x_not_other_and_is_refused_within_the_bound_after_revoke(
    stack, tmp_path
) -> None:
    made = pypi_edge(stack, "token", "new", "release", "--publish", "acme-*")
    assert made.returncode == 0, words(made)
    token = made.stdout.strip()
    folder = tmp_path / "dist"
    folder.mkdir()
    ok_file = write(folder, *make_wheel("acme-x", "1.0")[:2])
    other_file = write(folder, *make_wheel("other", "1.0")[:2])

    published = twine(stack, "__token__", token, ok_file)
    assert published.returncode == 0, words(published)
    assert {f["filename"] for f in stack.project_files("acme-x")} == {ok_file.name}
    refused = twine(stack, "__token__", token, other_file)
    assert refused.returncode != 0 and "403" in words(refused)
    assert stack.project_files("other") == []

    assert upload_status(stack, "__token__", token) == 400  # accepted (and cached) by the upload function
    assert pypi_edge(stack, "token", "revoke", "release").returncode == 0
    waited = seconds_until(lambda: upload_status(stack, "__token__", token) == 401, BOUND + SLACK)
    print(f"token revoke -> 401 after {waited:.2f} s (bound {BOUND} s)")
    later = write(folder, *make_wheel("acme-y", "1.0")[:2])
    again = twine(stack, "__token__", token, later)
    assert again.returncode != 0 and "401" in words(again)


# --- the pool unreachable ---------------------------------------------------------------------------------


def test_with_cognito_stopped_a_cached_user_still_reads_and_an_unknown_one_gets_503(tmp_path) -> None:
    """In process, so the test can stop moto's Cognito while S3 and the edge keep running."""
    stack = LocalStack(
        port=free_port(),
        s3_port=free_port(),
        bucket="pypi-pool-down",
        batch_window=0.1,
        user_store="cognito",
        pool_seed=PoolSeed(users={"carol": ("Carol-password-1", [])}),
        user_cache_seconds=300,
    )
    stack.start()
    try:
        filename, data, _ = make_wheel("edgedown-hello", "1.0")
        s3 = boto3.client(
            "s3",
            endpoint_url=stack.s3_endpoint,
            region_name="us-east-1",
            aws_access_key_id="local",
            aws_secret_access_key="local",
        )
        s3.put_object(Bucket=stack.bucket, Key=f"edgedown-hello/{filename}", Body=data)

        def get(
            user: str, password: str, path: str = "/simple/edgedown-hello/"
        ) -> tuple[int, dict[str, str]]:
            token = base64.b64encode(f"{user}:{password}".encode()).decode()
            conn = http.client.HTTPConnection(stack.host, stack.port, timeout=10)
            try:
                conn.request("GET", path, headers={"Authorization": f"Basic {token}"})
                resp = conn.getresponse()
                resp.read()
                return resp.status, dict(resp.getheaders())
            finally:
                conn.close()

        seconds_until(lambda: get("carol", "Carol-password-1")[0] == 200, 30)  # carol is now cached
        stack.cognito.stop()

        assert get("carol", "Carol-password-1")[0] == 200
        venv = fresh_venv(tmp_path / "venv")
        index = f"http://carol:Carol-password-1@{stack.host}:{stack.port}/simple/"
        result = pip(venv, "install", "--index-url", index, "edgedown-hello")
        assert result.returncode == 0, words(result)

        code, headers = get("dave", "Dave-password-1")
        assert code == 503 and headers["Retry-After"] == "5"
        assert get(*DEFAULT_USER)[0] == 200  # the static (break-glass) user
        assert set(stack.users) == set(DEFAULT_USERS)
    finally:
        stack.stop()
