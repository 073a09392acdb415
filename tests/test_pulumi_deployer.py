"""The deployer's permissions (infra/deployer.py, issue 25 item 6): one entry per resource type the
program creates, the Lambda@Edge ones AWS documents, and docs/iam.md listing exactly the same (the
policy document itself, docs/iam/deployer.json, is checked in tests/test_docs_iam.py)."""

from __future__ import annotations

import re

import pytest

from infra import deployer
from tests.pulumi_helpers import REPO, ProgramRun, run_program

CERT = "arn:aws:acm:us-east-1:123456789012:certificate/11111111-2222-3333-4444-555555555555"
EVERYTHING_ON = {
    "users": {"alice": "correct horse battery staple"},
    "domain": "pypi.example.com",
    "certificateArn": CERT,
    "retainBucketOnDelete": False,
    "fallbackIndexUrl": "https://pypi.org/simple/",
    "trustedPublishers": {"acme": [{"provider": "github", "repository": "acme/tools", "workflow": "r.yml"}]},
    "userPool": "create",
}
ACTION = re.compile(r"`((?:cloudfront|cognito-idp|iam|lambda|logs|s3|sqs):[A-Za-z*]+)`")


@pytest.fixture(scope="module")
def run() -> ProgramRun:
    return run_program(EVERYTHING_ON)


def test_every_aws_resource_type_the_program_creates_has_its_actions_and_no_other_is_listed(run):
    created = {r.type for r in run.resources if r.custom}
    aws_types = {t for t in created if t.split(":", 1)[0] not in deployer.STATE_ONLY_PACKAGES}
    assert aws_types == set(deployer.ACTIONS)
    assert created - aws_types == {
        "random:index/randomBytes:RandomBytes",  # the password salts' seed (infra/salts.py)
        "random:index/randomId:RandomId",
        "random:index/randomPassword:RandomPassword",
    }


def test_associating_lambda_at_edge_functions_needs_what_cloudfronts_guide_lists():
    """CloudFront developer guide, "Set up IAM permissions and roles for Lambda@Edge"."""
    distribution = set(deployer.ACTIONS["aws:cloudfront/distribution:Distribution"])
    assert {
        "lambda:GetFunction",
        "lambda:EnableReplication*",
        "lambda:DisableReplication*",
        "iam:CreateServiceLinkedRole",
        "cloudfront:CreateDistribution",
        "cloudfront:UpdateDistribution",
    } <= distribution
    assert "iam:PassRole" in deployer.ACTIONS["aws:lambda/function:Function"]


def test_the_iam_page_lists_exactly_the_deployers_actions():
    page = (REPO / "docs" / "iam.md").read_text()
    section = page.split("\n## Deployer\n", 1)[1].split("\n## ", 1)[0]
    assert set(ACTION.findall(section)) == set(deployer.all_actions())
    for service in (*deployer.SERVICE_LINKED_ROLE_SERVICES, *deployer.PASS_ROLE_TO):
        assert f"`{service}`" in section, service


def test_every_action_is_written_as_iam_spells_it():
    for action in deployer.all_actions():
        service, name = action.split(":")
        assert re.fullmatch(r"[a-z0-9]+(?:-[a-z0-9]+)?", service), action
        assert re.fullmatch(r"[A-Z][A-Za-z]*\*?", name), action
