"""Trusted publishing through the whole local stack, with the real uv and pip.

`python -m local --trusted-publishers … --trust-test-issuer <local issuer>` is the index; uv runs
as it would in GitHub Actions (GITHUB_ACTIONS=true, ACTIONS_ID_TOKEN_REQUEST_URL/TOKEN pointing at
the issuer's token endpoint) or GitLab CI (GITLAB_CI=true and `<AUDIENCE>_ID_TOKEN`).  uv talks
https to `/_/oidc/` whatever the publish URL says, so a TLS front (tests/tls.py) sits before the
CloudFront stand-in and uv trusts its CA through SSL_CERT_FILE; everything behind it is the
local stack's own path: viewer-request function → upload function → upload/oidc.py → the
publishing core.  Then pip installs what was published, at once.
"""

from __future__ import annotations

import base64
import json
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.distributions import make_wheel
from tests.e2e import VENV_BIN, Stack, clean_env, fresh_venv, installed, pip, run, said
from tests.oidc_issuer import REQUEST_TOKEN, Issuer, github_claims, gitlab_claims
from tests.tls import TLSProxy, make_ca_and_leaf

pytestmark = pytest.mark.e2e

AUDIENCE = "pypi-edge-e2e"
READER = ("alice", "reader:pass")
PUBLISHERS = {
    "acme-tools": [
        {
            "provider": "github",
            "repository": "acme/tools",
            "workflow": "release.yml",
            "environment": "pypi",
            "repository_owner_id": "7",
        }
    ],
    "acme-lib": [{"provider": "gitlab", "project": "acme/lib", "environment": "pypi", "ref": "refs/tags/v*"}],
}


@dataclass
class Index:
    stack: Stack
    issuer: Issuer
    ca: Path
    https: str  # the TLS front's origin, https://127.0.0.1:PORT

    @property
    def legacy(self) -> str:
        return f"{self.https}/legacy/"


@pytest.fixture(scope="module")
def index(tmp_path_factory) -> Iterator[Index]:
    workdir = tmp_path_factory.mktemp("trusted-stack")
    issuer = Issuer()
    ca, leaf, key = make_ca_and_leaf(workdir)
    stack = Stack(
        workdir=workdir,
        users=dict([READER]),
        bucket="pypi-trusted",
        extra_args=[
            "--trusted-publishers",
            json.dumps(PUBLISHERS),
            "--trust-test-issuer",
            issuer.url,
            "--oidc-audience",
            AUDIENCE,
        ],
    ).start()
    proxy = TLSProxy(stack.port, leaf, key)
    try:
        yield Index(stack, issuer, ca, f"https://127.0.0.1:{proxy.port}")
    finally:
        proxy.close()
        stack.stop()
        issuer.close()


@pytest.fixture(autouse=True)
def github_run(index: Index) -> None:
    index.issuer.claims = github_claims()  # each test starts from a matching release run


def wheel(tmp_path: Path, project: str, version: str) -> Path:
    filename, data, _ = make_wheel(project, version)
    path = tmp_path / filename
    path.write_bytes(data)
    return path


def uv_publish(index: Index, path: Path, *, gitlab_token: str | None = None, token: str | None = None):
    args = ["publish", "--publish-url", index.legacy]
    env = {"SSL_CERT_FILE": str(index.ca)}
    if token is not None:
        args += ["--token", token]
    elif gitlab_token is not None:
        args += ["--trusted-publishing", "always"]
        env.update(GITLAB_CI="true", PYPI_EDGE_E2E_ID_TOKEN=gitlab_token)
    else:
        args += ["--trusted-publishing", "always"]
        env.update(
            GITHUB_ACTIONS="true",
            ACTIONS_ID_TOKEN_REQUEST_URL=f"{index.issuer.url}/token",
            ACTIONS_ID_TOKEN_REQUEST_TOKEN=REQUEST_TOKEN,
        )
    return run(VENV_BIN / "uv", *args, path, env=clean_env(**env), timeout=120)


def pip_installs(index: Index, tmp_path: Path, requirement: str) -> dict[str, str]:
    python = fresh_venv(tmp_path / "venv")
    result = pip(python, "install", "--index-url", index.stack.index_url(*READER), requirement)
    assert result.returncode == 0, result.stderr
    return installed(python)


def stack_log(index: Index) -> str:
    index.stack.log_mark()  # flushes
    return index.stack.log_path.read_text()


def test_uv_on_github_actions_publishes_with_no_secret_and_pip_installs_it_at_once(index, tmp_path):
    proc = uv_publish(index, wheel(tmp_path, "acme-tools", "1.0.0"))
    assert proc.returncode == 0, proc.stderr
    assert index.issuer.token_audiences[-1] == AUDIENCE
    assert pip_installs(index, tmp_path, "acme-tools==1.0.0")["acme-tools"] == "1.0.0"
    log = stack_log(index)
    assert "trusted publishing token minted" in log
    assert '"run_id": "9876543210"' in log


def test_uv_on_gitlab_ci_publishes_with_its_id_token_variable(index, tmp_path):
    token = index.issuer.token(AUDIENCE, gitlab_claims())
    proc = uv_publish(index, wheel(tmp_path, "acme-lib", "2.0.0"), gitlab_token=token)
    assert proc.returncode == 0, proc.stderr
    assert pip_installs(index, tmp_path, "acme-lib==2.0.0")["acme-lib"] == "2.0.0"


def test_a_workflow_in_the_wrong_environment_is_refused_and_uv_says_which_claim(index, tmp_path):
    index.issuer.claims = github_claims(environment="staging")
    proc = uv_publish(index, wheel(tmp_path, "acme-tools", "1.1.0"))
    assert proc.returncode != 0
    assert "environment 'staging' is not 'pypi'" in said(proc)
    published = {f["filename"] for f in index.stack.project_files("acme-tools")}
    assert "acme_tools-1.1.0-py3-none-any.whl" not in published


def test_a_re_created_repository_is_refused(index, tmp_path):
    index.issuer.claims = github_claims(repository_owner_id="666")
    proc = uv_publish(index, wheel(tmp_path, "acme-tools", "1.2.0"))
    assert proc.returncode != 0
    assert "repository_owner_id '666' is not the pinned id" in said(proc)


def test_the_minted_token_cannot_publish_another_project(index, tmp_path):
    proc = uv_publish(index, wheel(tmp_path, "someone-else", "1.0.0"))
    assert proc.returncode != 0
    assert "403" in proc.stderr
    assert "may not publish to project 'someone-else'" in said(proc)


def mint_directly(index: Index) -> str:
    """What uv does, by hand: the audience is public, the mint request carries the ID token."""
    body = json.dumps({"token": index.issuer.token(AUDIENCE)}).encode()
    request = urllib.request.Request(index.stack.url + "/_/oidc/mint-token", data=body, method="POST")
    with urllib.request.urlopen(request, timeout=10) as resp:
        return json.loads(resp.read())["token"]


def test_a_tampered_minted_token_is_refused_with_401(index, tmp_path):
    token = mint_directly(index)
    payload, signature = token.removeprefix("pypi-edge-oidc-").split(".")
    body = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    body["projects"].append("someone-else")
    forged = base64.urlsafe_b64encode(json.dumps(body).encode()).rstrip(b"=").decode()
    proc = uv_publish(
        index, wheel(tmp_path, "someone-else", "1.0.1"), token=f"pypi-edge-oidc-{forged}.{signature}"
    )
    assert proc.returncode != 0
    assert "401" in proc.stderr


def test_a_minted_token_does_not_read_the_index(index):
    token = mint_directly(index)
    status, _, _ = index.stack.get("/simple/", user="__token__", password=token)
    assert status == 401
