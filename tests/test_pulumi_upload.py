"""The upload endpoint's Pulumi resources (`infra.upload.UploadEndpoint`), run under Pulumi's mocks,
and the pieces of the freshness work that live in the program (invalidation rights, Vary, TTLs)."""

from __future__ import annotations

import runpy
from pathlib import Path
from typing import Any

import pulumi
import pytest

from edge import credentials
from infra import common, upload, wiring
from infra.component import TYPE_TOKEN
from tests.pulumi_helpers import (
    ACCOUNT,
    ORIGIN_SECRET,
    REPO,
    STACK_REGION,
    ProgramRun,
    run_program,
    zip_members,
)
from tests.test_pulumi_program import USERS, as_list, mocked_default_config, statements  # noqa: F401
from upload import BUNDLE_SOURCES

T_FUNCTION = "aws:lambda/function:Function"
T_ROLE_POLICY = "aws:iam/rolePolicy:RolePolicy"
T_DISTRIBUTION = "aws:cloudfront/distribution:Distribution"
SUFFIX = "01234567"  # the mocked RandomId's hex for 4 bytes (tests/pulumi_helpers.py)


@pytest.fixture(scope="module")
def run() -> ProgramRun:
    return run_program({"users": USERS})


def upload_function(r: ProgramRun):
    return r.one(T_FUNCTION, "-upload-function")


def granted(policy_json: str) -> dict[str, set[str]]:
    out: dict[str, set[str]] = {}
    for s in statements(policy_json):
        assert s["Effect"] == "Allow"
        assert "NotAction" not in s and "NotResource" not in s
        for action in as_list(s["Action"]):
            out.setdefault(action, set()).update(as_list(s["Resource"]))
    return out


def test_upload_endpoint_is_a_component_inside_the_private_index(run):
    component = run.one(upload.TYPE_TOKEN)
    assert component.custom is False
    assert component.parent == run.one(TYPE_TOKEN).urn
    mine = [r for r in run.resources if r.parent == component.urn]
    assert {r.type for r in mine} >= {
        T_FUNCTION,
        "aws:lambda/functionUrl:FunctionUrl",
        "aws:iam/role:Role",
        T_ROLE_POLICY,
        "random:index/randomPassword:RandomPassword",
        "aws:cloudwatch/logGroup:LogGroup",
    }
    outputs = run.mocks.registered_outputs[component.urn]
    assert set(outputs) == {"function_name", "function_arn", "function_url", "role_arn"}
    assert outputs["function_name"] == f"pypi-edge-dev-upload-{SUFFIX}"


def test_legacy_and_oidc_behaviours_take_every_method_uncached(run):
    d = run.one(T_DISTRIBUTION).inputs
    behaviours = {
        b["pathPattern"]: b
        for b in d["orderedCacheBehaviors"]
        if b["pathPattern"] not in wiring.FILE_PATH_PATTERNS
    }
    assert set(behaviours) == {"/legacy", "/legacy/*", "/_/oidc/*", "/_/cli/*"}
    edge_arn = run.one(T_FUNCTION, "-edge").state["qualifiedArn"]
    for b in behaviours.values():
        assert b["targetOriginId"] == upload.ORIGIN_ID
        assert sorted(b["allowedMethods"]) == sorted(
            ["GET", "HEAD", "OPTIONS", "PUT", "POST", "PATCH", "DELETE"]
        )
        assert sorted(b["cachedMethods"]) == ["GET", "HEAD"]
        assert b["cachePolicyId"] == "4135ea2d-6df8-44a3-9df3-4b5a84be39ad"  # Managed-CachingDisabled
        assert (
            b["originRequestPolicyId"] == "b689b0a8-53d0-40ab-baf2-68738e2966ac"
        )  # AllViewerExceptHostHeader
        assert b["viewerProtocolPolicy"] == "https-only"  # a redirect would stop twine
        assert b["compress"] is False
        [association] = b["lambdaFunctionAssociations"]
        assert association == {"eventType": "viewer-request", "lambdaArn": edge_arn, "includeBody": False}
    # The default behaviour still serves the bucket, GET and HEAD only.
    assert d["defaultCacheBehavior"]["targetOriginId"] != upload.ORIGIN_ID


def test_the_upload_origin_is_the_function_url_with_the_secret_header(run):
    d = run.one(T_DISTRIBUTION).inputs
    [origin] = [o for o in d["origins"] if o["originId"] == upload.ORIGIN_ID]
    url = run.one("aws:lambda/functionUrl:FunctionUrl").state["functionUrl"]
    assert origin["domainName"] == url.removeprefix("https://").rstrip("/")
    config = origin["customOriginConfig"]
    assert config["originProtocolPolicy"] == "https-only"
    assert config["originSslProtocols"] == ["TLSv1.2"]
    assert config["originReadTimeout"] == upload.ORIGIN_READ_TIMEOUT_SECONDS
    assert origin["customHeaders"] == [{"name": "x-pypi-edge-origin-secret", "value": ORIGIN_SECRET}]
    assert "origins" in run.one(T_DISTRIBUTION).secrets  # the engine stores it encrypted
    assert "originAccessControlId" not in origin


def test_the_secret_is_random_per_stack_and_reaches_the_function(run):
    secret = run.one("random:index/randomPassword:RandomPassword")
    assert secret.inputs["length"] >= 32 and secret.inputs["special"] is False
    env = upload_function(run).inputs["environment"]["variables"]
    assert env["ORIGIN_SECRET"] == ORIGIN_SECRET
    assert "environment" in upload_function(run).secrets


def test_function_url_is_public_auth_type_none_and_buffered(run):
    url = run.one("aws:lambda/functionUrl:FunctionUrl").inputs
    assert url["authorizationType"] == "NONE"
    assert url["invokeMode"] == "BUFFERED"
    assert url["functionName"] == upload_function(run).state["name"]
    perms = {p.inputs["action"]: p.inputs for p in run.of_type("aws:lambda/permission:Permission")}
    assert set(perms) == {"lambda:InvokeFunctionUrl", "lambda:InvokeFunction"}
    assert perms["lambda:InvokeFunctionUrl"]["principal"] == "*"
    assert perms["lambda:InvokeFunctionUrl"]["functionUrlAuthType"] == "NONE"
    assert perms["lambda:InvokeFunction"]["principal"] == "*"
    assert perms["lambda:InvokeFunction"]["invokedViaFunctionUrl"] is True


def test_upload_function(run):
    fn = upload_function(run)
    i = fn.inputs
    assert i["name"] == f"pypi-edge-dev-upload-{SUFFIX}"
    assert i["runtime"] == "python3.13" and i["architectures"] == ["arm64"]
    assert i["handler"] == "upload.handler.handler"
    assert i["timeout"] < upload.ORIGIN_READ_TIMEOUT_SECONDS  # answer before CloudFront gives up
    assert run.provider_region(fn) == STACK_REGION
    indexer = run.one(T_FUNCTION, "-indexer")
    assert i["environment"]["variables"] == {
        "BUCKET": run.one("aws:s3/bucket:Bucket").state["bucket"],
        "PYPI_EDGE_CREDENTIALS": "/var/task/credentials.json",
        "ORIGIN_SECRET": ORIGIN_SECRET,
        "INDEXER_FUNCTION": indexer.state["name"],
        "POWERTOOLS_SERVICE_NAME": "pypi-edge-upload",
    }
    logs = run.one("aws:cloudwatch/logGroup:LogGroup", "-upload-logs")
    assert logs.inputs["name"] == f"/aws/lambda/pypi-edge-dev-upload-{SUFFIX}"
    assert i["loggingConfig"]["logGroup"] == logs.state["name"]


def test_upload_role_writes_distributions_and_invokes_the_indexer_only(run):
    role = run.one("aws:iam/role:Role", "-upload-role")
    [trust] = statements(role.inputs["assumeRolePolicy"])
    assert trust["Principal"] == {"Service": ["lambda.amazonaws.com"]}
    policy = run.one(T_ROLE_POLICY, "-upload-policy")
    assert policy.inputs["role"] == role.state["name"]
    bucket = run.one("aws:s3/bucket:Bucket").state["arn"]
    logs = run.one("aws:cloudwatch/logGroup:LogGroup", "-upload-logs").state["arn"]
    indexer = run.one(T_FUNCTION, "-indexer").state["name"]
    distributions = {f"{bucket}/*/*.whl", f"{bucket}/*/*.tar.gz", f"{bucket}/*/*.zip"}
    claims, markers = f"{bucket}/_claims/*", f"{bucket}/_oidc-jti/*"
    staged = f"{bucket}/_staging/*"
    yanks, status = f"{bucket}/*/*.yanked", f"{bucket}/*/.project-status"
    allowed = [s for s in statements(policy.inputs["policy"]) if s["Effect"] == "Allow"]
    granted_: dict[str, set[str]] = {}
    for s in allowed:
        for action in as_list(s["Action"]):
            granted_.setdefault(action, set()).update(as_list(s["Resource"]))
    assert granted_ == {
        # Distributions, identity claims, replay markers and staged files: created, never
        # overwritten (below); yank and status markers: changed by publishers over HTTPS.
        "s3:PutObject": distributions | {claims, markers, staged, yanks, status},
        # Only staged files (finished) and yank and status markers (unyank, active) go.
        "s3:DeleteObject": {staged, yanks, status},
        # Distributions and claims for the conflict check; the PEP 792 marker so closed projects
        # are refused; staged files, yank reasons and the JSON pages (`list`); one project folder
        # listed to find other spellings of a file.
        "s3:GetObject": distributions
        | {claims, status, staged, yanks, f"{bucket}/index.json", f"{bucket}/*/index.json"},
        "s3:ListBucket": {bucket},
        "lambda:InvokeFunction": {f"arn:aws:lambda:{STACK_REGION}:{ACCOUNT}:function:{indexer}"},
        "logs:CreateLogStream": {f"{logs}:*"},
        "logs:PutLogEvents": {f"{logs}:*"},
    }
    # No page, metadata, marker or listing is writable by the endpoint strangers can reach.
    for generated in wiring.GENERATED_KEYS:
        assert not any(r.endswith(generated) for r in distributions)


def upload_statements(run) -> dict[str, dict[str, Any]]:
    return {s["Sid"]: s for s in statements(run.one(T_ROLE_POLICY, "-upload-policy").inputs["policy"])}


def test_every_write_of_the_upload_role_must_be_a_conditional_create(run):
    # Issue 18: the role could PutObject any *.whl key without a condition.  Now S3 refuses a
    # PutObject of this role without If-None-Match (the s3:if-none-match condition key; the
    # function never sends If-Match), so even a bug or a stolen role cannot overwrite an object.
    # Issue 20: except the yank and status markers, which publishers change (their versions kept).
    puts = [s for s in upload_statements(run).values() if "s3:PutObject" in as_list(s["Action"])
            and s["Effect"] == "Allow"]  # fmt: skip
    conditional = [s for s in puts if s.get("Condition")]
    [create] = conditional
    assert create["Condition"] == {"Null": {"s3:if-none-match": "false"}}
    [markers] = [s for s in puts if not s.get("Condition")]
    assert all(r.endswith(("/*/*.yanked", "/*/.project-status")) for r in as_list(markers["Resource"]))


def test_the_upload_role_writes_only_project_slash_file_keys(run):
    bucket = run.one("aws:s3/bucket:Bucket").state["arn"]
    deny = upload_statements(run)["OnlyProjectSlashFileKeys"]
    assert deny["Effect"] == "Deny" and deny["Action"] == "s3:PutObject"
    assert set(as_list(deny["Resource"])) == {f"{bucket}/*/*/*", f"{bucket}//*"}
    # The keys the function writes all have the allowed shape (one "/", not at the start).
    from indexer.publish import CLAIMS_PREFIX
    from upload.oidc import JTI_PREFIX, S3TokenLog

    assert (CLAIMS_PREFIX, JTI_PREFIX) == (wiring.CLAIMS_PREFIX, wiring.JTI_PREFIX)
    from indexer.model import YANKED_SUFFIX
    from upload.remote import STAGED_KEY, STAGING_PREFIX

    assert (STAGING_PREFIX, YANKED_SUFFIX) == (wiring.STAGING_PREFIX, wiring.YANKED_SUFFIX)
    staged = f"{STAGING_PREFIX}{'0' * 32}-{'a' * 64}-acme-1.0-py3-none-any.whl.staged"
    assert STAGED_KEY.fullmatch(staged) and not staged.endswith(wiring.WATCHED_SUFFIXES)
    for key in (
        "acme/acme-1.0-py3-none-any.whl",
        CLAIMS_PREFIX + "acme~ab12",
        S3TokenLog.key("https://i", "j"),
        staged,
    ):
        assert key.count("/") == 1 and not key.startswith("/")


def test_the_upload_role_lists_only_one_project_folder_at_a_time(run):
    listing = upload_statements(run)["ListOneProjectFolder"]
    assert listing["Condition"] == {"StringLike": {"s3:prefix": "?*/"}}


def test_replay_markers_expire_after_a_day_and_no_accepted_token_outlives_them(run):
    from upload import oidc

    lifecycle = run.one("aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration")
    [rule] = [r for r in lifecycle.inputs["rules"] if r["id"] == "expire-oidc-replay-markers"]
    assert rule["status"] == "Enabled"
    assert rule["filter"] == {"prefix": oidc.JTI_PREFIX}
    assert rule["expiration"] == {"days": oidc.JTI_RETENTION_DAYS}
    assert rule["noncurrentVersionExpiration"] == {"noncurrentDays": 1}
    assert wiring.JTI_RETENTION_DAYS == oidc.JTI_RETENTION_DAYS
    # S3 expires a marker no sooner than `days` x 24 h after it was written.
    assert rule["expiration"]["days"] * 86400 > oidc.MAX_ID_TOKEN_REMAINING_SECONDS + oidc.LEEWAY_SECONDS


def test_staged_uploads_expire_after_a_day(run):
    lifecycle = run.one("aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration")
    [rule] = [r for r in lifecycle.inputs["rules"] if r["id"] == "expire-staged-uploads"]
    assert rule["status"] == "Enabled"
    assert rule["filter"] == {"prefix": wiring.STAGING_PREFIX}
    assert rule["expiration"] == {"days": wiring.STAGING_RETENTION_DAYS}
    assert rule["noncurrentVersionExpiration"] == {"noncurrentDays": 1}
    # A presigned URL outlives neither the rule nor its hour (upload/remote.py).
    from upload.remote import URL_SECONDS

    assert URL_SECONDS < wiring.STAGING_RETENTION_DAYS * 86400


def test_indexer_may_invalidate_this_distribution_only(run):
    policy = run.one(T_ROLE_POLICY, "-indexer-invalidate")
    assert policy.inputs["role"] == run.one("aws:iam/role:Role", "-indexer-role").state["name"]
    distribution = run.one(T_DISTRIBUTION)
    assert granted(policy.inputs["policy"]) == {"cloudfront:CreateInvalidation": {distribution.state["arn"]}}
    env = run.one(T_FUNCTION, "-indexer").inputs["environment"]["variables"]
    assert env["PYPI_EDGE_DISTRIBUTION_ID"] == distribution.state.get("id", "E2MOCKDISTRIB")


def test_the_dependency_cycle_is_broken_by_the_indexers_predictable_name(run):
    indexer = run.one(T_FUNCTION, "-indexer")
    assert indexer.inputs["name"] == f"pypi-edge-dev-indexer-{SUFFIX}"
    # The upload side names the indexer by that string, so nothing of it waits for the indexer...
    up = [r for r in run.resources if r.parent == run.one(upload.TYPE_TOKEN).urn]
    assert all(indexer.urn not in r.dependencies for r in up)
    # ...and the indexer waits for the distribution, whose id it carries.
    assert run.one(T_DISTRIBUTION).urn in indexer.dependencies


def test_function_names_stay_within_lambdas_limit():
    assert common.function_name("pypi-edge", "dev", "pypi-edge", "indexer") == "pypi-edge-dev-indexer"
    assert common.function_name("a b", "c/d") == "a-b-c-d"
    with pytest.raises(ValueError, match="64"):
        common.function_name("pypi-edge", "s" * 60, "upload")


def test_upload_bundle_has_the_shared_code_and_hashes_only(run):
    i = upload_function(run).inputs
    path = Path(i["code"].path)
    assert not path.is_absolute() and path.parts[0] == ".bundles"
    names = zip_members(REPO / path)
    own = {n for n in names if n.split("/", 1)[0] in {"upload", "edge", "indexer"}}
    assert own == set(BUNDLE_SOURCES)  # exactly what the upload function says it imports
    for name in BUNDLE_SOURCES:
        assert names[name] == (REPO / name).read_bytes()
    assert "upload/handler.py" in names and "indexer/publish.py" in names
    for top in ("packaging/", "multipart", "boto3/"):  # pinned: the core's, the parser, the SDK
        assert any(n.startswith(top) for n in names), top
    edge_zip = zip_members(REPO / Path(run.one(T_FUNCTION, "-edge").inputs["code"].path))
    # The same hashes as the edge function: one credentials model, one rendering.
    assert names["credentials.json"] == edge_zip[credentials.FILE_NAME]
    blob = b"".join(names.values())
    assert not [p for p in USERS.values() if p.encode() in blob]


def test_negotiated_pages_get_vary_accept_and_accept_encoding_from_the_response_headers_policy(run):
    # Override, so CloudFront's own "Vary: Accept-Encoding" on compressed HTML is not lost but
    # replaced by a value that keeps it (issue #25 item 3).
    policy = run.one("aws:cloudfront/responseHeadersPolicy:ResponseHeadersPolicy", "edge-headers")
    items = policy.inputs["customHeadersConfig"]["items"]
    assert items == [{"header": "Vary", "value": "Accept, Accept-Encoding", "override": True}]


def test_cache_policy_ttls_are_the_shared_numbers(run):
    p = run.one("aws:cloudfront/cachePolicy:CachePolicy").inputs
    assert (p["minTtl"], p["maxTtl"]) == (wiring.CACHE_MIN_TTL_SECONDS, wiring.CACHE_MAX_TTL_SECONDS)
    # 404 also shows the indexer's page, with the status unchanged (wiring.ERROR_PAGES).
    assert run.one(T_DISTRIBUTION).inputs["customErrorResponses"] == [
        {"errorCode": code, "errorCachingMinTtl": ttl}
        | (
            {"responseCode": code, "responsePagePath": wiring.ERROR_PAGES[code]}
            if code in wiring.ERROR_PAGES
            else {}
        )
        for code, ttl in wiring.ERROR_CACHING_SECONDS.items()
    ]


@pulumi.runtime.test
def test_the_origin_secret_stays_secret_in_the_program(mocked_default_config, monkeypatch):  # noqa: F811
    environments: list[Any] = []
    real = upload.aws.lambda_.Function

    def recording(resource_name: str, *args: Any, **kwargs: Any) -> Any:
        if resource_name.endswith("-upload-function"):
            environments.append(kwargs["environment"].variables)
        return real(resource_name, *args, **kwargs)

    monkeypatch.setattr(upload.aws.lambda_, "Function", recording)
    index = runpy.run_path(str(REPO / "__main__.py"), run_name="__main__")["index"]
    header = index.upload.origin.custom_headers[0]

    async def check() -> None:
        [env] = environments
        assert await env["ORIGIN_SECRET"].is_secret()
        assert await pulumi.Output.from_input(header.value).is_secret()
        assert not await pulumi.Output.from_input(env["INDEXER_FUNCTION"]).is_secret()

    # Returned, so the test wrapper awaits it and the assertions run.
    return pulumi.Output.from_input(check())


def test_the_status_marker_the_role_may_read_is_the_one_the_indexer_writes():
    from indexer.status import STATUS_NAME

    assert wiring.STATUS_MARKER == STATUS_NAME
