"""The least-privilege IAM policies shipped in docs/iam/ against what the code actually calls.

- `deployer.json`: exactly the actions of `infra/deployer.py` (which tests/test_pulumi_deployer.py
  holds equal to the resource types the program creates), with the Lambda@Edge conditions.
- `cli-admin.json` and `ci-publisher-s3.json`: exactly the actions, on exactly the resources, of
  the AWS calls the CLI makes, recorded with botocore's `before-call` event while the commands run
  against moto (every `pypi-edge` command for the admin; `pypi-edge upload` for CI).  An action the
  CLI starts to call fails here until the policy grants it; one it no longer calls fails too.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import botocore.session
import pytest
from moto import mock_aws

from indexer import cli, publish
from infra import deployer, pool
from tests.conftest import BUCKET
from tests.distributions import make_wheel, write
from tests.test_mirror import TREE, wheel_with_metadata
from tests.upstream import Upstream

IAM = Path(__file__).resolve().parent.parent / "docs" / "iam"
REGION = "eu-west-1"
BUCKET_ARN = "arn:aws:s3:::BUCKET"
OBJECTS_ARN = "arn:aws:s3:::BUCKET/*"
POOL_ARN = "arn:aws:cognito-idp:REGION:ACCOUNT:userpool/USER_POOL_ID"

# S3 API operation -> (IAM action, resource), from the "Permissions" section of each operation in
# the Amazon S3 API Reference: ListObjectsV2 needs s3:ListBucket on the bucket; HeadObject needs
# s3:GetObject; CreateMultipartUpload, UploadPart and CompleteMultipartUpload are authorized by
# s3:PutObject ("Multipart upload and permissions"); AbortMultipartUpload by its own action.  An
# operation missing here fails the test: map it (and grant it) before the CLI may call it.
S3_ACTIONS = {
    "GetObject": ("s3:GetObject", OBJECTS_ARN),
    "HeadObject": ("s3:GetObject", OBJECTS_ARN),
    "PutObject": ("s3:PutObject", OBJECTS_ARN),
    "DeleteObject": ("s3:DeleteObject", OBJECTS_ARN),
    "CreateMultipartUpload": ("s3:PutObject", OBJECTS_ARN),
    "UploadPart": ("s3:PutObject", OBJECTS_ARN),
    "CompleteMultipartUpload": ("s3:PutObject", OBJECTS_ARN),
    "AbortMultipartUpload": ("s3:AbortMultipartUpload", OBJECTS_ARN),
    "ListObjectsV2": ("s3:ListBucket", BUCKET_ARN),
}


def iam_action(service: str, operation: str, params: dict[str, Any]) -> tuple[str, str]:
    if service == "s3":
        assert "VersionId" not in params, f"{operation} of a version needs the *Version action"
        return S3_ACTIONS[operation]
    # Cognito user pools: each API operation is authorized by the action of the same name
    # (Service Authorization Reference, "Actions defined by Amazon Cognito User Pools").
    assert service == "cognito-idp", service
    return f"cognito-idp:{operation}", POOL_ARN


def listed(value: str | list[str]) -> list[str]:
    return value if isinstance(value, list) else [value]


def granted(policy: dict[str, Any]) -> set[tuple[str, str]]:
    out: set[tuple[str, str]] = set()
    for statement in policy["Statement"]:
        assert statement["Effect"] == "Allow"
        out |= {(a, r) for a in listed(statement["Action"]) for r in listed(statement["Resource"])}
    return out


def load(name: str) -> dict[str, Any]:
    policy = json.loads((IAM / name).read_text())
    assert policy["Version"] == "2012-10-17"
    return policy


class Recorder:
    """Every AWS call of every client created while it is on: (service, operation, params)."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.calls: list[tuple[str, str, dict[str, Any]]] = []
        real = botocore.session.Session.create_client

        def create_client(session: Any, service_name: str, *args: Any, **kwargs: Any) -> Any:
            client = real(session, service_name, *args, **kwargs)
            client.meta.events.register("before-call", self._record)
            return client

        monkeypatch.setattr(botocore.session.Session, "create_client", create_client)

    def _record(self, model: Any, params: dict[str, Any], **_: Any) -> None:
        self.calls.append((model.service_model.endpoint_prefix, model.name, params))

    def needed(self) -> set[tuple[str, str]]:
        return {iam_action(s, op, p) for s, op, p in self.calls}


@pytest.fixture
def aws(aws_env, monkeypatch) -> Iterator[str]:
    """A versioned bucket and a user pool in moto; yields the pool id."""
    monkeypatch.setenv("PATH", "/nonexistent")  # no `pulumi stack output` lookups
    with mock_aws():
        s3 = boto3.client("s3", region_name="us-east-1")
        s3.create_bucket(Bucket=BUCKET)
        s3.put_bucket_versioning(Bucket=BUCKET, VersioningConfiguration={"Status": "Enabled"})
        idp = boto3.client("cognito-idp", region_name=REGION)
        yield idp.create_user_pool(**pool.create_pool_request("iam"))["UserPool"]["Id"]


@pytest.fixture(scope="module")
def upstream() -> Iterator[Upstream]:
    index = Upstream()
    for (name, version), deps in TREE.items():
        filename, data, metadata = wheel_with_metadata(name, version, deps)
        index.add(filename, data, name, metadata)
    index.start()
    yield index
    index.stop()


def s3_cli(*argv: str) -> int:
    return cli.main([*argv, "--bucket", BUCKET])


def dist_in(folder: Path, name: str, version: str, **kw: Any) -> Path:
    folder.mkdir(exist_ok=True)
    return write(folder, *make_wheel(name, version, **kw)[:2])


def publisher_session(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """What a CI job's `pypi-edge upload dist/*` can meet: new files, identical and conflicting
    re-uploads, a large file looked for first, a file sent in parts, and a part upload that fails."""
    first = dist_in(tmp_path / "a", "acme-tools", "1.0")
    other = dist_in(tmp_path / "b", "acme-tools", "1.0", summary="other bytes")
    assert s3_cli("upload", str(first), "--no-progress") == cli.EXIT_OK
    assert s3_cli("upload", str(first), "--no-progress") == cli.EXIT_OK  # already present
    assert s3_cli("upload", str(other), "--no-progress") == cli.EXIT_CONFLICT
    monkeypatch.setattr(publish, "HEAD_FIRST_BYTES", 0)
    monkeypatch.setattr(publish, "MULTIPART_THRESHOLD", 6 * 1024**2)
    monkeypatch.setattr(publish, "PART_SIZE", 5 * 1024**2)
    big = dist_in(tmp_path / "c", "acme-big", "1.0", payload_bytes=7 * 1024**2)
    assert s3_cli("upload", str(big), "--no-progress") == cli.EXIT_OK
    failing = dist_in(tmp_path / "d", "acme-big", "2.0", payload_bytes=7 * 1024**2)

    def refuse_parts(model: Any, **_: Any) -> None:
        if model.name == "UploadPart":
            raise OSError("connection reset")

    real = cli.make_client

    def make_client(args: Any) -> Any:
        client = real(args)
        client.meta.events.register("before-call.s3.UploadPart", refuse_parts)
        return client

    with monkeypatch.context() as m:
        m.setattr(cli, "make_client", make_client)
        with pytest.raises(OSError):
            s3_cli("upload", str(failing), "--no-progress")


def test_the_ci_publishers_policy_grants_exactly_what_pypi_edge_upload_calls(aws, tmp_path, monkeypatch):
    recorder = Recorder(monkeypatch)
    publisher_session(tmp_path, monkeypatch)
    assert granted(load("ci-publisher-s3.json")) == recorder.needed()


def test_the_cli_admins_policy_grants_exactly_what_every_command_calls(
    aws, upstream, tmp_path, monkeypatch, capsys
):
    pool_id = aws
    recorder = Recorder(monkeypatch)
    publisher_session(tmp_path, monkeypatch)
    wheel = tmp_path / "a" / make_wheel("acme-tools", "1.0")[0]
    other = tmp_path / "b" / wheel.name
    for argv in (
        ("upload", str(other), "--force", "--reindex", "--no-progress"),
        ("list",),
        ("list", "acme-tools"),
        ("yank", "acme-tools", "1.0", "--reason", "broken"),
        ("unyank", "acme-tools", "1.0"),
        ("status", "acme-tools", "archived", "--reason", "done"),
        ("status", "acme-tools", "active"),
        ("reindex", "--no-progress"),
        ("reindex", "--project", "acme-tools", "--no-progress"),
        ("mirror", "mtop", "--deps", "--from", upstream.url, "--no-progress"),
        ("delete", "acme-tools", "1.0", "--yes"),
    ):
        assert s3_cli(*argv) == cli.EXIT_OK, argv
    for argv in (
        ("user", "add", "carol"),
        ("user", "add", "ci", "--publish", "acme-*"),
        ("user", "list"),
        ("user", "passwd", "carol"),
        ("user", "disable", "carol"),
        ("user", "enable", "carol"),
        ("user", "remove", "carol"),
        ("token", "new", "deploy", "--publish", "acme-*"),
        ("token", "list"),
        ("token", "revoke", "deploy"),
    ):
        assert cli.main([*argv, "--user-pool", pool_id]) == cli.EXIT_OK, argv
    capsys.readouterr()
    assert granted(load("cli-admin.json")) == recorder.needed()


def test_the_ci_publisher_may_neither_delete_nor_touch_users():
    actions = {a for a, _ in granted(load("ci-publisher-s3.json"))}
    assert not {a for a in actions if a.startswith("cognito-idp:") or "Delete" in a}


def test_the_deployers_policy_is_exactly_the_programs_actions():
    policy = load("deployer.json")
    actions = [a for a, _ in granted(policy)]
    assert sorted(actions) == deployer.all_actions()
    assert len({s["Sid"] for s in policy["Statement"]}) == len(policy["Statement"])
    by_action = {a: s for s in policy["Statement"] for a in listed(s["Action"])}
    # CloudFront developer guide, "Set up IAM permissions and roles for Lambda@Edge": the two
    # service-linked roles, and roles passed to Lambda only.
    linked = by_action["iam:CreateServiceLinkedRole"]["Condition"]["StringEquals"]["iam:AWSServiceName"]
    assert sorted(linked) == sorted(deployer.SERVICE_LINKED_ROLE_SERVICES)
    passed = by_action["iam:PassRole"]["Condition"]["StringEquals"]["iam:PassedToService"]
    assert sorted(passed) == sorted(deployer.PASS_ROLE_TO)
