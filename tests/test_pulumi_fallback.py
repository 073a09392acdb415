"""The opt-in fallback index in the Pulumi program (mocked): config → origin-response function."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pulumi
import pulumi.runtime.settings
import pytest

from edge import fallback
from infra import fallback as infra_fallback
from infra.component import TYPE_TOKEN, PrivateIndexArgs
from tests.pulumi_helpers import (
    ACCOUNT,
    REPO,
    ProgramRun,
    RecordingMocks,
    RecordingMonitor,
    run_program,
    zip_members,
)

T_FUNCTION = "aws:lambda/function:Function"
T_DISTRIBUTION = "aws:cloudfront/distribution:Distribution"
T_ROLE = "aws:iam/role:Role"
T_ROLE_POLICY = "aws:iam/rolePolicy:RolePolicy"
USERS = {"alice": "correct horse battery staple"}


@pytest.fixture(scope="module")
def on() -> ProgramRun:
    return run_program(
        {"users": USERS, "fallbackIndexUrl": "https://pypi.org/simple", "fallbackCacheSeconds": 30}
    )


@pytest.fixture(scope="module")
def off() -> ProgramRun:
    return run_program({"users": USERS})


def test_off_by_default_no_function_and_only_the_viewer_request_association(off: ProgramRun) -> None:
    assert off.of_type(infra_fallback.TYPE_TOKEN) == []
    assert [f.name for f in off.of_type(T_FUNCTION) if f.name.endswith("-fallback")] == []
    [assoc] = off.one(T_DISTRIBUTION).inputs["defaultCacheBehavior"]["lambdaFunctionAssociations"]
    assert assoc["eventType"] == "viewer-request"


def test_on_the_distribution_runs_the_published_fallback_version_on_origin_response(on: ProgramRun) -> None:
    fn = on.one(T_FUNCTION, "-fallback")
    viewer, origin = on.one(T_DISTRIBUTION).inputs["defaultCacheBehavior"]["lambdaFunctionAssociations"]
    assert viewer["eventType"] == "viewer-request"
    assert origin == {
        "eventType": "origin-response",
        "lambdaArn": fn.state["qualifiedArn"],
        "includeBody": False,
    }
    assert origin["lambdaArn"].rsplit(":", 1)[-1].isdigit()  # a numbered version, never $LATEST


def test_the_function_is_a_small_edge_function_in_us_east_1(on: ProgramRun) -> None:
    fn = on.one(T_FUNCTION, "-fallback")
    assert fn.inputs["region"] == "us-east-1" and on.region(fn) == "us-east-1"
    assert fn.inputs["skipDestroy"] is True  # made by lambda_at_edge, like the viewer function
    assert fn.inputs["handler"] == "fallback.handler"
    assert fn.inputs["runtime"] == "python3.13" and fn.inputs["architectures"] == ["x86_64"]
    assert fn.inputs["publish"] is True
    assert fn.inputs["memorySize"] == 128 and fn.inputs["timeout"] == 5
    assert "environment" not in fn.inputs  # Lambda@Edge has no environment variables
    component = on.one(infra_fallback.TYPE_TOKEN)
    assert fn.parent == component.urn
    assert component.parent == on.one(TYPE_TOKEN).urn
    for r in (on.one(T_ROLE, "-fallback-role"), on.one(T_ROLE_POLICY, "-fallback-logs")):
        assert r.parent == component.urn and "region" not in r.inputs  # IAM is global


def test_the_configuration_is_a_file_in_its_own_bundle(on: ProgramRun) -> None:
    fn = on.one(T_FUNCTION, "-fallback")
    members = zip_members(REPO / fn.inputs["code"].path)
    assert set(members) == {"fallback.py", fallback.FILE_NAME}
    assert json.loads(members[fallback.FILE_NAME]) == {
        "fallbackIndexUrl": "https://pypi.org/simple/",
        "cacheSeconds": 30,
    }
    assert members["fallback.py"] == (REPO / "edge" / "fallback.py").read_bytes()


def test_the_role_may_only_write_its_own_edge_logs(on: ProgramRun) -> None:
    policy = json.loads(on.one(T_ROLE_POLICY, "-fallback-logs").inputs["policy"])
    [statement] = policy["Statement"]
    assert statement["Action"] == ["logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents"]
    name = on.one(T_FUNCTION, "-fallback").state["name"]
    assert all(
        f"/aws/lambda/us-east-1.{name}" in r or f"/aws/lambda/{name}" in r for r in statement["Resource"]
    )
    # This account, never any account: ARNs built like every other one of the program.
    for arn in statement["Resource"]:
        _, partition, service, _, account, _ = arn.split(":", 5)
        assert (partition, service, account) == ("aws", "logs", ACCOUNT), arn


def test_the_log_policy_follows_the_partition_of_the_deploying_account() -> None:
    """GovCloud and China are other partitions: a hard-coded `arn:aws:` would grant nothing there."""
    run = run_program(
        {"users": USERS, "fallbackIndexUrl": "https://pypi.org/simple/"}, partition="aws-us-gov"
    )
    for suffix in ("-fallback-logs", "-edge-logs"):
        [statement] = json.loads(run.one(T_ROLE_POLICY, suffix).inputs["policy"])["Statement"]
        assert all(arn.startswith("arn:aws-us-gov:logs:") for arn in statement["Resource"]), suffix


@pulumi.runtime.test
def test_the_component_alone_builds_its_log_arns_from_the_caller(tmp_path: Path):
    mocks = RecordingMocks(partition="aws-cn")
    pulumi.runtime.settings.ROOT.set(None)
    pulumi.runtime.set_mocks(
        mocks, project="pypi-edge", stack="dev", preview=False, monitor=RecordingMonitor(mocks)
    )
    component = infra_fallback.FallbackRedirect(
        "fb",
        infra_fallback.FallbackRedirectArgs(
            url="https://pypi.org/simple/", cache_seconds=60, bundle_dir=tmp_path, bundle_name="fb.zip"
        ),
        pulumi.ResourceOptions(),
    )

    def check(values: list[Any]) -> None:
        policy, name = values
        [statement] = json.loads(policy)["Statement"]
        assert statement["Resource"] == [
            f"arn:aws-cn:logs:*:{ACCOUNT}:log-group:/aws/lambda/us-east-1.{name}",
            f"arn:aws-cn:logs:*:{ACCOUNT}:log-group:/aws/lambda/us-east-1.{name}:*",
            f"arn:aws-cn:logs:us-east-1:{ACCOUNT}:log-group:/aws/lambda/{name}",
            f"arn:aws-cn:logs:us-east-1:{ACCOUNT}:log-group:/aws/lambda/{name}:*",
        ]

    # Returned, so the test wrapper awaits it and the assertions run.
    return pulumi.Output.all(component.log_policy.policy, component.function.name).apply(check)


def test_switching_the_fallback_leaves_the_viewer_request_function_alone(
    on: ProgramRun, off: ProgramRun
) -> None:
    assert (
        on.one(T_FUNCTION, "-edge").inputs["sourceCodeHash"]
        == off.one(T_FUNCTION, "-edge").inputs["sourceCodeHash"]
    )


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"fallback_index_url": "pypi.org/simple"}, "fallbackIndexUrl"),
        ({"fallback_index_url": "https://u:p@pypi.org/simple/"}, "fallbackIndexUrl"),
        ({"fallback_cache_seconds": -1}, "fallbackCacheSeconds"),
    ],
)
def test_invalid_fallback_settings_are_refused(change, message) -> None:
    with pytest.raises(ValueError, match=message):
        PrivateIndexArgs(users={"a": "b"}, **change).validate()
