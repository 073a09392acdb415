"""Issue #18 in the Pulumi program: files are served by behaviours whose response headers policy
keeps a browser from rendering them, pages get the strict CSP, the exact /legacy path reaches the
upload function, and the indexer's `init` action runs on every deploy of new indexer code."""

from __future__ import annotations

import json

import pytest

from infra import distribution, wiring
from tests.pulumi_helpers import ProgramRun, run_program

T_DISTRIBUTION = "aws:cloudfront/distribution:Distribution"
T_POLICY = "aws:cloudfront/responseHeadersPolicy:ResponseHeadersPolicy"
T_FUNCTION = "aws:lambda/function:Function"
T_INVOCATION = "aws:lambda/invocation:Invocation"
USERS = {"alice": "correct horse battery staple"}


@pytest.fixture(scope="module")
def run() -> ProgramRun:
    return run_program({"users": USERS})


def behaviours(run: ProgramRun) -> list[dict]:
    return run.one(T_DISTRIBUTION).inputs["orderedCacheBehaviors"]


def test_every_file_suffix_has_a_behaviour_with_the_files_policy(run):
    files_policy = run.one(T_POLICY, "-file-headers")
    cache_policy = run.one("aws:cloudfront/cachePolicy:CachePolicy")
    edge = run.one(T_FUNCTION, "-edge").state["qualifiedArn"]
    by_pattern = {b["pathPattern"]: b for b in behaviours(run)}
    default = run.one(T_DISTRIBUTION).inputs["defaultCacheBehavior"]
    for pattern in ("*.whl", "*.tar.gz", "*.zip", "*.metadata"):
        b = by_pattern[pattern]
        assert b["responseHeadersPolicyId"] == f"{files_policy.name}-id"
        assert b["targetOriginId"] == default["targetOriginId"] == distribution.ORIGIN_ID
        assert b["cachePolicyId"] == default["cachePolicyId"] == f"{cache_policy.name}-id"
        assert sorted(b["allowedMethods"]) == sorted(default["allowedMethods"])  # all seven: the edge answers
        assert sorted(b["cachedMethods"]) == ["GET", "HEAD"]
        assert b["compress"] is False
        assert b["viewerProtocolPolicy"] == "redirect-to-https"
        assert b["lambdaFunctionAssociations"] == [
            {"eventType": "viewer-request", "lambdaArn": edge, "includeBody": False}
        ]


def test_the_upload_behaviours_come_first(run):
    # CloudFront takes the first matching behaviour: /legacy/x.whl is the upload function's.
    patterns = [b["pathPattern"] for b in behaviours(run)]
    assert patterns == [*wiring.UPLOAD_PATH_PATTERNS, *wiring.FILE_PATH_PATTERNS]
    assert patterns[:4] == ["/legacy", "/legacy/*", "/_/oidc/*", "/_/cli/*"]


def test_files_are_served_as_downloads_whatever_the_bucket_says(run):
    policy = run.one(T_POLICY, "-file-headers").inputs
    custom = {i["header"]: (i["value"], i["override"]) for i in policy["customHeadersConfig"]["items"]}
    assert custom == {
        "Content-Type": ("application/octet-stream", True),
        "Content-Disposition": ("attachment", True),
    }
    security = policy["securityHeadersConfig"]
    assert security["contentSecurityPolicy"] == {
        "contentSecurityPolicy": "default-src 'none'; sandbox",
        "override": True,
    }
    assert security["contentTypeOptions"]["override"] is True
    assert security["frameOptions"] == {"frameOption": "DENY", "override": True}


def test_pages_get_the_strict_policy_unless_the_edge_generated_its_own(run):
    policy = run.one(T_POLICY, "edge-headers").inputs
    assert policy["securityHeadersConfig"]["contentSecurityPolicy"] == {
        "contentSecurityPolicy": (
            "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data: https:; "
            "connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
        ),
        "override": False,
    }
    # CloudFront's limit on the header's value ("Understand response headers policies").
    assert len(wiring.PAGE_CSP) <= 1783 and len(wiring.FILE_CSP) <= 1783
    d = run.one(T_DISTRIBUTION).inputs
    upload_behaviours = [b for b in behaviours(run) if b["pathPattern"] in wiring.UPLOAD_PATH_PATTERNS]
    for b in [d["defaultCacheBehavior"], *upload_behaviours]:
        assert b["responseHeadersPolicyId"] == "pypi-edge-headers-id"


def test_both_policies_carry_the_same_security_headers(run):
    pages = run.one(T_POLICY, "edge-headers").inputs["securityHeadersConfig"]
    files = run.one(T_POLICY, "-file-headers").inputs["securityHeadersConfig"]
    for header in ("strictTransportSecurity", "contentTypeOptions", "frameOptions", "referrerPolicy"):
        assert pages[header] == files[header]
    assert pages["strictTransportSecurity"]["accessControlMaxAgeSec"] == wiring.HSTS_SECONDS


def test_the_indexer_init_action_runs_with_each_new_indexer_code(run):
    invocation = run.one(T_INVOCATION, "-indexer-init").inputs
    indexer = run.one(T_FUNCTION, "-indexer")
    bucket = run.one("aws:s3/bucket:Bucket")
    assert invocation["functionName"] == indexer.state["name"]
    assert json.loads(invocation["input"]) == {"action": "init", "bucket": bucket.state["bucket"]}
    assert invocation["triggers"] == {"indexer_code_sha256": indexer.inputs["sourceCodeHash"]}
    assert "lifecycleScope" not in invocation  # CREATE_ONLY: never invoked on destroy
    assert indexer.urn in run.one(T_INVOCATION, "-indexer-init").dependencies
