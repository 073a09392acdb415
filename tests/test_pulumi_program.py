"""The Pulumi program (`__main__.py` + `infra.component`), run for real under Pulumi's mocks.

Each configuration is run once per module (`run_program` resets Pulumi's global state first);
the tests then assert on the registered resources, their inputs and options, the bundles on
disk and the stack outputs.
"""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import json
import runpy
import zipfile
from pathlib import Path
from typing import Any

import pulumi
import pulumi.runtime.settings
import pytest
import yaml

from edge import credentials
from infra import wiring
from infra.component import TYPE_TOKEN, PrivateIndexArgs, example_user
from tests.pulumi_helpers import (
    ACCOUNT,
    DISTRIBUTION_DOMAIN,
    REPO,
    STACK_REGION,
    ProgramRun,
    RecordingMocks,
    RecordingMonitor,
    config_for,
    run_program,
    zip_members,
)

USERS = {"alice": "correct horse battery staple", "bob": "hunter2-but-longer"}
DOMAIN_USERS = {"carol": "s3cr3t-pa55w0rd"}
ALL_PASSWORDS = [*USERS.values(), *DOMAIN_USERS.values()]
CERT = "arn:aws:acm:us-east-1:123456789012:certificate/11111111-2222-3333-4444-555555555555"
DOMAIN_CONFIG = {
    "users": DOMAIN_USERS,
    "realm": "Example Corp packages",
    "domain": "pypi.example.com",
    "certificateArn": CERT,
    "priceClass": "PriceClass_All",
    "indexCacheSeconds": 120,
    "retainBucketOnDelete": False,
    "logRetentionDays": 14,
    "noncurrentVersionExpiryDays": 30,
}

T_BUCKET = "aws:s3/bucket:Bucket"
T_FUNCTION = "aws:lambda/function:Function"
T_DISTRIBUTION = "aws:cloudfront/distribution:Distribution"
T_ROLE = "aws:iam/role:Role"
T_ROLE_POLICY = "aws:iam/rolePolicy:RolePolicy"
T_QUEUE = "aws:sqs/queue:Queue"


@pytest.fixture(scope="module")
def runs() -> tuple[ProgramRun, ProgramRun]:
    """The default configuration (only the required secret `users` set), run twice in a row,
    as a first `pulumi up` and a no-op one would run it."""
    return run_program({"users": USERS}), run_program({"users": USERS})


@pytest.fixture(scope="module")
def run(runs: tuple[ProgramRun, ProgramRun]) -> ProgramRun:
    return runs[0]


@pytest.fixture(scope="module")
def rerun(runs: tuple[ProgramRun, ProgramRun]) -> ProgramRun:
    return runs[1]


@pytest.fixture(scope="module")
def custom() -> ProgramRun:
    """Every setting changed: custom domain, no bucket retention, other TTLs and retention."""
    return run_program(DOMAIN_CONFIG, stack="prod")


def edge_function(r: ProgramRun):
    return r.one(T_FUNCTION, "-edge")


def indexer_function(r: ProgramRun):
    return r.one(T_FUNCTION, "-indexer")


def statements(policy_json: str) -> list[dict[str, Any]]:
    doc = json.loads(policy_json)
    assert doc["Version"] == "2012-10-17"
    return doc["Statement"]


def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


# --- Pulumi.yaml -------------------------------------------------------------------------


def test_project_file_declares_runtime_and_every_setting_once() -> None:
    project = yaml.safe_load((REPO / "Pulumi.yaml").read_text())
    assert project["name"] == "pypi-edge"
    assert project["runtime"] == {"name": "python", "options": {"toolchain": "pip", "virtualenv": ".venv"}}
    config = project["config"]
    assert set(config) == {
        "users",
        "realm",
        "domain",
        "certificateArn",
        "priceClass",
        "indexCacheSeconds",
        "retainBucketOnDelete",
        "logRetentionDays",
        "noncurrentVersionExpiryDays",
        "fallbackIndexUrl",
        "fallbackCacheSeconds",
        "trustedPublishers",  # infra/trusted.py (TrustedPublishingArgs; tests/test_pulumi_trusted.py)
        "trustedPublishingAudience",
        "userPool",  # infra/users.py (UserStoreArgs; tests/test_pulumi_users.py)
        "userCacheSeconds",
    }
    for key, decl in config.items():
        assert decl.get("description"), key
    # users: a required secret (no default, so `pulumi up` refuses to run without it).
    assert config["users"]["secret"] is True and "default" not in config["users"]
    # Everything else: typed, with a default equal to the component's own default.
    fields = {f.name: f.default for f in dataclasses.fields(PrivateIndexArgs)}
    snake = {
        "realm": "realm",
        "domain": "domain",
        "certificateArn": "certificate_arn",
        "priceClass": "price_class",
        "indexCacheSeconds": "index_cache_seconds",
        "retainBucketOnDelete": "retain_bucket_on_delete",
        "logRetentionDays": "log_retention_days",
        "noncurrentVersionExpiryDays": "noncurrent_version_expiry_days",
        "fallbackIndexUrl": "fallback_index_url",
        "fallbackCacheSeconds": "fallback_cache_seconds",
        "userPool": "user_pool",
        "userCacheSeconds": "user_cache_seconds",
    }
    python_type = {"string": str, "integer": int, "boolean": bool}
    for key, field_name in snake.items():
        decl = config[key]
        assert "default" in decl, key
        assert isinstance(decl["default"], python_type[decl["type"]]), key
        assert (decl["default"] or None) == fields[field_name], key
    assert config["retainBucketOnDelete"]["default"] is True


# --- the component -----------------------------------------------------------------------


def test_everything_is_inside_the_private_index_component(run: ProgramRun) -> None:
    component = run.one(TYPE_TOKEN)
    assert component.custom is False
    by_urn = {r.urn: r for r in run.resources}
    children = [r for r in run.resources if r is not component]
    assert children
    for r in children:
        parent = r.parent
        while parent in by_urn and parent != component.urn:
            parent = by_urn[parent].parent
        assert parent == component.urn, r.name
    # Its parts are components of their own, one level down (tests/test_pulumi_components.py).
    parts = {r.type for r in children if r.parent == component.urn}
    assert "pypi-edge:index:UploadEndpoint" in parts
    # Its own resources: only the random part of the function names the parts share.
    assert [r.type for r in children if r.parent == component.urn and r.custom] == [
        "random:index/randomId:RandomId"
    ]
    outputs = run.mocks.registered_outputs[component.urn]
    assert {"bucket_name", "distribution_id", "index_url", "pip_install", "edge_function_version_arn"} <= set(
        outputs
    )
    assert outputs["index_url"] == f"https://{DISTRIBUTION_DOMAIN}/simple/"


def test_only_current_pulumi_aws_v7_resource_types(run: ProgramRun) -> None:
    types = {r.type for r in run.resources}
    assert not [t for t in types if t.rsplit(":", 1)[-1].endswith("V2")]
    assert "aws:cloudfront/originAccessIdentity:OriginAccessIdentity" not in types
    for t in (
        "aws:s3/bucketVersioning:BucketVersioning",
        "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration",
        "aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration",
        "aws:s3/bucketOwnershipControls:BucketOwnershipControls",
        "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock",
        "aws:s3/bucketPolicy:BucketPolicy",
        "aws:s3/bucketNotification:BucketNotification",
    ):
        assert t in types, t


# --- the bucket --------------------------------------------------------------------------


BUCKET_SETTINGS = (
    "aws:s3/bucketOwnershipControls:BucketOwnershipControls",
    "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock",
    "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration",
    "aws:s3/bucketVersioning:BucketVersioning",
    "aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration",
)


def test_bucket_is_private_encrypted_versioned_in_the_stack_region(run: ProgramRun) -> None:
    bucket = run.one(T_BUCKET)
    assert bucket.provider == "" and run.provider_region(bucket) == STACK_REGION
    name = bucket.state["bucket"]
    by_type = {t: run.one(t) for t in BUCKET_SETTINGS}
    for r in by_type.values():
        assert r.inputs["bucket"] == name
        assert r.provider == ""
    ownership, pab, sse, versioning, lifecycle = by_type.values()
    assert ownership.inputs["rule"] == {"objectOwnership": "BucketOwnerEnforced"}
    assert {k: pab.inputs[k] for k in pab.inputs if k != "bucket"} == {
        "blockPublicAcls": True,
        "blockPublicPolicy": True,
        "ignorePublicAcls": True,
        "restrictPublicBuckets": True,
    }
    [rule] = sse.inputs["rules"]
    assert rule["applyServerSideEncryptionByDefault"] == {"sseAlgorithm": "AES256"}  # SSE-S3, no KMS key
    assert "bucketKeyEnabled" not in rule  # a Bucket Key applies to SSE-KMS only
    assert versioning.inputs["versioningConfiguration"] == {"status": "Enabled"}
    lc, markers, staged = lifecycle.inputs["rules"]
    assert lc["status"] == "Enabled"
    assert lc["filter"] == {"prefix": ""}  # the whole bucket
    assert lc["noncurrentVersionExpiration"]["noncurrentDays"] == 90
    assert versioning.urn in lifecycle.dependencies
    # Trusted publishing's replay markers expire after a day (tests/test_pulumi_upload.py).
    assert markers["id"] == "expire-oidc-replay-markers" and markers["filter"] == {"prefix": "_oidc-jti/"}
    # Staged uploads nobody finished (issue 20) too.
    assert staged["id"] == "expire-staged-uploads" and staged["filter"] == {"prefix": "_staging/"}


def test_bucket_and_its_protections_survive_destroy_by_default(run: ProgramRun) -> None:
    bucket = run.one(T_BUCKET)
    assert bucket.retain_on_delete is True
    assert bucket.inputs.get("forceDestroy") is False
    for t in BUCKET_SETTINGS:
        assert run.one(t).retain_on_delete is True, t


def test_bucket_deletion_when_configured(custom: ProgramRun) -> None:
    bucket = custom.one(T_BUCKET)
    assert bucket.retain_on_delete is False
    assert bucket.inputs["forceDestroy"] is True
    lifecycle = custom.one("aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration")
    assert lifecycle.inputs["rules"][0]["noncurrentVersionExpiration"]["noncurrentDays"] == 30


def test_bucket_policy_denies_plain_http_and_admits_only_this_distribution(run: ProgramRun) -> None:
    bucket = run.one(T_BUCKET)
    arn = bucket.state["arn"]
    dist_arn = run.one(T_DISTRIBUTION).state["arn"]
    policy = run.one("aws:s3/bucketPolicy:BucketPolicy")
    assert policy.inputs["bucket"] == bucket.state["bucket"]
    stmts = statements(policy.inputs["policy"])
    deny = [s for s in stmts if s["Effect"] == "Deny"]
    assert len(deny) == 1
    [d] = deny
    assert d["Principal"] == "*" and d["Action"] == "s3:*"
    assert sorted(as_list(d["Resource"])) == sorted([arn, f"{arn}/*"])
    assert d["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
    allows = [s for s in stmts if s["Effect"] == "Allow"]
    granted = {}
    for s in allows:
        assert s["Principal"] == {"Service": "cloudfront.amazonaws.com"}
        assert s["Condition"] == {"StringEquals": {"AWS:SourceArn": dist_arn}}
        for action in as_list(s["Action"]):
            granted.setdefault(action, set()).update(as_list(s["Resource"]))
    assert granted == {"s3:GetObject": {f"{arn}/*"}, "s3:ListBucket": {arn}}
    # Created after the public-access block, which it must not trip.
    assert run.one("aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock").urn in policy.dependencies


# --- the edge function -------------------------------------------------------------------


def test_edge_function_lives_in_us_east_1_whatever_the_stack_region(run: ProgramRun) -> None:
    fn = edge_function(run)
    assert fn.inputs["region"] == "us-east-1" and run.region(fn) == "us-east-1"
    assert fn.state["qualifiedArn"].startswith("arn:aws:lambda:us-east-1:")
    # Only the edge function: the bucket, queues and indexer stay in the stack's region.
    for r in run.resources:
        if r.custom and r.urn != fn.urn:
            assert "region" not in r.inputs, r.name
    assert run.region(run.one(T_BUCKET)) == STACK_REGION == run.region(indexer_function(run))


@pytest.mark.parametrize(
    "account_settings",
    [
        {"aws:profile": "deploy", "aws:sharedConfigFiles": ["/ci/aws-config"]},
        {"aws:accessKey": "AKIAMOCK", "aws:secretKey": "mock-secret"},
        {
            "aws:assumeRoleWithWebIdentity": {
                "roleArn": "arn:aws:iam::123456789012:role/ci",
                "webIdentityTokenFile": "/ci/token",
            },
            "aws:endpoints": [{"lambda": "https://lambda.internal.example"}],
        },
    ],
    ids=["profile", "access-keys", "web-identity-and-endpoints"],
)
def test_one_provider_the_stacks_so_every_account_setting_reaches_the_edge_function(account_settings):
    """No explicit provider: the default one reads every `aws:` key, whatever the stack uses."""
    r = run_program({"users": USERS, **account_settings})
    assert not [x for x in r.resources if x.type.startswith("pulumi:providers:")]
    assert all(x.provider == "" for x in r.resources if x.custom)
    assert r.region(edge_function(r)) == "us-east-1"


def test_every_regional_resource_type_can_be_placed_by_region(run: ProgramRun) -> None:
    """What a new us-east-1 resource would rely on: pulumi-aws 7 gives every regional resource a
    `region` argument; IAM and CloudFront are global and have none (so they need none)."""
    import importlib
    import inspect

    import pulumi_aws

    global_services = {"iam", "cloudfront"}
    for typ in sorted({r.type for r in run.resources if r.custom and r.type.startswith("aws:")}):
        _, module, name = typ.split(":")
        service = module.split("/")[0]
        cls_name = name[0].upper() + name[1:]
        package = importlib.import_module(
            f"pulumi_aws.{'lambda_' if service == 'lambda' else service}", pulumi_aws.__name__
        )
        params = inspect.signature(getattr(package, cls_name)._internal_init).parameters
        assert ("region" in params) == (service not in global_services), typ


def test_edge_function_is_left_for_cloudfront_to_release_on_destroy_or_replacement(run: ProgramRun) -> None:
    """Replicas outlive the distribution by hours; deleting the function before fails."""
    fn = edge_function(run)
    assert fn.inputs["skipDestroy"] is True
    assert fn.retain_on_delete is False  # the provider's own option, not a second mechanism
    # Everything else is deleted normally (the bucket is governed by retainBucketOnDelete).
    for r in run.resources:
        if r.custom and r.type != T_FUNCTION:
            assert "skipDestroy" not in r.inputs, r.name
    assert run.outputs["edgeFunctionName"] == fn.state["name"]


def test_edge_function_fits_viewer_trigger_limits(run: ProgramRun) -> None:
    fn = edge_function(run).inputs
    assert fn["runtime"] == "python3.13"  # Lambda@Edge supports Python 3.13 (CloudFront guide)
    assert fn["architectures"] == ["x86_64"]  # Lambda@Edge does not run arm64
    assert fn["handler"] == "handler.handler"
    assert fn["memorySize"] == 128
    assert 1 <= fn["timeout"] <= 5
    assert fn["publish"] is True
    assert "environment" not in fn  # Lambda@Edge refuses environment variables


def test_edge_role_is_assumable_by_lambda_and_edgelambda(run: ProgramRun) -> None:
    role = run.one(T_ROLE, "-edge-role")
    [s] = statements(role.inputs["assumeRolePolicy"])
    assert s["Effect"] == "Allow" and s["Action"] == "sts:AssumeRole"
    assert sorted(as_list(s["Principal"]["Service"])) == ["edgelambda.amazonaws.com", "lambda.amazonaws.com"]
    logs = run.one(T_ROLE_POLICY, "-edge-logs")
    assert logs.inputs["role"] == role.state["name"]
    fn_name = edge_function(run).state["name"]
    for st in statements(logs.inputs["policy"]):
        assert set(as_list(st["Action"])) <= {
            "logs:CreateLogGroup",
            "logs:CreateLogStream",
            "logs:PutLogEvents",
        }
        for resource in as_list(st["Resource"]):
            assert resource != "*"
            assert (
                f":log-group:/aws/lambda/us-east-1.{fn_name}" in resource
                or resource.endswith(f":log-group:/aws/lambda/{fn_name}")
                or resource.endswith(f":log-group:/aws/lambda/{fn_name}:*")
            )


def test_distribution_runs_the_published_version_on_viewer_request(run: ProgramRun) -> None:
    fn = edge_function(run)
    behaviour = run.one(T_DISTRIBUTION).inputs["defaultCacheBehavior"]
    [assoc] = behaviour["lambdaFunctionAssociations"]
    assert assoc["eventType"] == "viewer-request"
    assert assoc["includeBody"] is False
    assert assoc["lambdaArn"] == fn.state["qualifiedArn"]
    assert assoc["lambdaArn"].rsplit(":", 1)[-1].isdigit()  # a numbered version, never $LATEST
    assert fn.urn in run.one(T_DISTRIBUTION).dependencies


def test_edge_bundle_holds_the_edge_code_and_hashes_only(run: ProgramRun) -> None:
    fn = edge_function(run).inputs
    path = Path(fn["code"].path)
    assert not path.is_absolute() and path.parts[0] == ".bundles"  # gitignored, checkout-independent
    data = (REPO / path).read_bytes()
    assert len(data) < 1024 * 1024
    assert fn["sourceCodeHash"] == base64.b64encode(hashlib.sha256(data).digest()).decode()
    members = zip_members(REPO / path)
    # fallback.py ships in its own bundle (infra.fallback), only when the fallback is on.
    expected = {p.name for p in (REPO / "edge").glob("*.py")} - {"fallback.py"} | {credentials.FILE_NAME}
    assert set(members) == expected
    realm, users = credentials.load(members[credentials.FILE_NAME])
    assert realm == "pypi-edge"
    assert set(users) == set(USERS)
    for user, password in USERS.items():
        assert credentials.check(users[user], password)
        assert not credentials.check(users[user], password + "x")
    for member in members.values():
        for password in ALL_PASSWORDS:
            assert password.encode() not in member


def test_edge_bundle_contains_the_handler(run: ProgramRun) -> None:
    assert "handler.py" in zip_members(REPO / edge_function(run).inputs["code"].path)


def test_edge_bundle_is_byte_identical_on_a_no_op_up(run: ProgramRun, rerun: ProgramRun) -> None:
    first, second = edge_function(run).inputs, edge_function(rerun).inputs
    assert first["sourceCodeHash"] == second["sourceCodeHash"]
    assert first["code"].path == second["code"].path
    assert indexer_function(run).inputs["sourceCodeHash"] == indexer_function(rerun).inputs["sourceCodeHash"]


def test_edge_bundle_of_another_stack_has_other_salts(run: ProgramRun, custom: ProgramRun) -> None:
    # Issue 18: the salts come from a random seed per deployment (infra/salts.py), not from the
    # project, stack and user names; tests/test_pulumi_salts.py shows two stacks with the same
    # names and users get different salts.
    assert edge_function(custom).inputs["code"].path != edge_function(run).inputs["code"].path
    members = zip_members(REPO / edge_function(custom).inputs["code"].path)
    realm, users = credentials.load(members[credentials.FILE_NAME])
    assert realm == DOMAIN_CONFIG["realm"] and set(users) == {"carol"}
    seed = custom.one("random:index/randomBytes:RandomBytes").state["base64"]
    assert users["carol"].salt == credentials.derive_salt(seed, "carol")


def test_no_password_anywhere(run: ProgramRun, custom: ProgramRun) -> None:
    for r in (run, custom):
        blob = json.dumps(
            [(x.type, x.name, x.inputs, x.state) for x in r.resources]
            + [r.outputs, r.mocks.registered_outputs],
            default=lambda o: getattr(o, "path", repr(o)),
        )
        for password in ALL_PASSWORDS:
            assert password not in blob
        for fn in r.of_type(T_FUNCTION):
            for name, member in zip_members(REPO / fn.inputs["code"].path).items():
                for password in ALL_PASSWORDS:
                    assert password.encode() not in member, name
    for bundle_zip in (REPO / ".bundles").glob("*.zip"):
        raw = bundle_zip.read_bytes()
        with zipfile.ZipFile(bundle_zip) as zf:
            contents = [zf.read(n) for n in zf.namelist()]
        for password in ALL_PASSWORDS:
            assert password.encode() not in raw
            assert all(password.encode() not in c for c in contents)


# --- CloudFront --------------------------------------------------------------------------


ALL_SEVEN_METHODS = ["DELETE", "GET", "HEAD", "OPTIONS", "PATCH", "POST", "PUT"]


def test_distribution_serves_over_https_http3_ipv6_and_caches_get_and_head(run: ProgramRun) -> None:
    d = run.one(T_DISTRIBUTION).inputs
    assert d["enabled"] is True
    assert d["httpVersion"] == "http2and3"
    assert d["isIpv6Enabled"] is True
    assert d["priceClass"] == "PriceClass_100"
    b = d["defaultCacheBehavior"]
    assert b["viewerProtocolPolicy"] == "redirect-to-https"
    # Every method reaches the viewer-request function (which answers all but GET/HEAD itself).
    assert sorted(b["allowedMethods"]) == ALL_SEVEN_METHODS
    assert sorted(b["cachedMethods"]) == ["GET", "HEAD"]
    assert b["compress"] is True
    assert "forwardedValues" not in b  # the legacy cache settings are not used
    assert "originRequestPolicyId" not in b  # nothing beyond the cache key reaches S3
    assert not d.get("aliases")
    assert d["viewerCertificate"] == {"cloudfrontDefaultCertificate": True}


def test_every_bucket_behaviour_lets_all_methods_reach_the_viewer_request_function_only(
    run: ProgramRun,
) -> None:
    """Writes to the bucket through CloudFront are impossible: each behaviour whose origin is the
    bucket runs the viewer-request function (it answers every method but GET and HEAD itself, as
    tests/test_edge_wrong_method.py shows), and the bucket policy grants CloudFront only reads
    (test_bucket_policy_denies_plain_http_and_admits_only_this_distribution)."""
    d = run.one(T_DISTRIBUTION).inputs
    edge_arn = edge_function(run).state["qualifiedArn"]
    bucket_origin = d["defaultCacheBehavior"]["targetOriginId"]
    behaviours = [d["defaultCacheBehavior"], *d["orderedCacheBehaviors"]]
    to_bucket = [b for b in behaviours if b["targetOriginId"] == bucket_origin]
    assert len(to_bucket) == 1 + len(wiring.FILE_PATH_PATTERNS)
    for b in to_bucket:
        assert sorted(b["allowedMethods"]) == ALL_SEVEN_METHODS
        assert sorted(b["cachedMethods"]) == ["GET", "HEAD"]
        viewer = [a for a in b["lambdaFunctionAssociations"] if a["eventType"] == "viewer-request"]
        assert [a["lambdaArn"] for a in viewer] == [edge_arn]
        assert viewer[0]["includeBody"] is False  # a refused write's body never reaches a function
    assert set(wiring.ORIGIN_METHODS) == {"GET", "HEAD"}


def test_origin_is_the_bucket_through_origin_access_control(run: ProgramRun) -> None:
    d = run.one(T_DISTRIBUTION).inputs
    [origin] = [o for o in d["origins"] if o["originId"] == d["defaultCacheBehavior"]["targetOriginId"]]
    bucket = run.one(T_BUCKET)
    assert origin["domainName"] == bucket.state["bucketRegionalDomainName"]
    assert d["defaultCacheBehavior"]["targetOriginId"] == origin["originId"]
    oac = run.one("aws:cloudfront/originAccessControl:OriginAccessControl")
    assert origin["originAccessControlId"] == oac.state.get("id", f"{oac.name}-id")
    assert oac.inputs["originAccessControlOriginType"] == "s3"
    assert oac.inputs["signingBehavior"] == "always"
    assert oac.inputs["signingProtocol"] == "sigv4"
    assert not origin.get("s3OriginConfig", {}).get("originAccessIdentity")


def test_cache_policy_honours_cache_control_and_keys_on_the_uri_only(run: ProgramRun) -> None:
    policy = run.one("aws:cloudfront/cachePolicy:CachePolicy")
    p = policy.inputs
    assert p["minTtl"] == 0
    assert p["defaultTtl"] == 60
    assert p["maxTtl"] == 365 * 24 * 3600
    key = p["parametersInCacheKeyAndForwardedToOrigin"]
    assert key["headersConfig"] == {"headerBehavior": "none"}  # so never Authorization
    assert key["cookiesConfig"] == {"cookieBehavior": "none"}
    assert key["queryStringsConfig"] == {"queryStringBehavior": "none"}
    assert key["enableAcceptEncodingGzip"] is True and key["enableAcceptEncodingBrotli"] is True
    assert "authorization" not in json.dumps(p).lower()
    behaviour = run.one(T_DISTRIBUTION).inputs["defaultCacheBehavior"]
    assert behaviour["cachePolicyId"] == f"{policy.name}-id"
    assert not run.of_type("aws:cloudfront/originRequestPolicy:OriginRequestPolicy")


def test_cache_policy_default_ttl_follows_index_cache_seconds(custom: ProgramRun) -> None:
    assert custom.one("aws:cloudfront/cachePolicy:CachePolicy").inputs["defaultTtl"] == 120
    env = indexer_function(custom).inputs["environment"]["variables"]
    assert env["PYPI_EDGE_INDEX_CACHE_SECONDS"] == "120"


def test_security_headers(run: ProgramRun) -> None:
    policy = run.one("aws:cloudfront/responseHeadersPolicy:ResponseHeadersPolicy", "edge-headers")
    h = policy.inputs["securityHeadersConfig"]
    assert h["strictTransportSecurity"]["accessControlMaxAgeSec"] >= 365 * 24 * 3600
    assert h["strictTransportSecurity"]["override"] is True
    assert h["contentTypeOptions"]["override"] is True
    assert h["frameOptions"]["frameOption"] == "DENY"
    assert h["referrerPolicy"]["referrerPolicy"] in {"no-referrer", "strict-origin-when-cross-origin"}
    behaviour = run.one(T_DISTRIBUTION).inputs["defaultCacheBehavior"]
    assert behaviour["responseHeadersPolicyId"] == f"{policy.name}-id"


def test_errors_are_not_cached_for_long(run: ProgramRun) -> None:
    errors = {e["errorCode"]: e for e in run.one(T_DISTRIBUTION).inputs["customErrorResponses"]}
    assert {403, 404} <= set(errors)
    for code, e in errors.items():
        assert e["errorCachingMinTtl"] <= 10, code
        if code == 404:  # S3's 404 keeps its status and gets the indexer's styled page
            assert (e["responseCode"], e["responsePagePath"]) == (404, "/-/static/404.html")
        else:
            assert "responsePagePath" not in e and "responseCode" not in e  # passed through as is


def test_the_404_page_is_where_the_indexer_writes_it_and_the_indexer_may_write_it(run: ProgramRun) -> None:
    from indexer import assets

    assert wiring.ERROR_PAGES[404] == "/" + assets.NOT_FOUND_KEY
    bucket_arn = run.one(T_BUCKET).state["arn"]
    policy = run.one(T_ROLE_POLICY, "-indexer-policy")
    writes = [s for s in statements(policy.inputs["policy"]) if "s3:PutObject" in as_list(s["Action"])]
    assert f"{bucket_arn}/{assets.KEY_PREFIX}*" in as_list(writes[0]["Resource"])


def test_the_indexer_knows_the_public_url_cloudfront_name_or_domain(
    run: ProgramRun, custom: ProgramRun
) -> None:
    url = indexer_function(run).inputs["environment"]["variables"]["PYPI_EDGE_PUBLIC_URL"]
    assert url == "https://" + run.one(T_DISTRIBUTION).state["domainName"]
    assert run.outputs["indexUrl"] == url + "/simple/"
    custom_url = indexer_function(custom).inputs["environment"]["variables"]["PYPI_EDGE_PUBLIC_URL"]
    assert custom_url == "https://pypi.example.com"


def test_custom_domain_uses_the_acm_certificate_with_modern_tls(custom: ProgramRun) -> None:
    d = custom.one(T_DISTRIBUTION).inputs
    assert d["aliases"] == ["pypi.example.com"]
    assert d["viewerCertificate"] == {
        "acmCertificateArn": CERT,
        "sslSupportMethod": "sni-only",
        "minimumProtocolVersion": "TLSv1.2_2021",
    }
    assert d["priceClass"] == "PriceClass_All"
    assert custom.outputs["indexUrl"] == "https://pypi.example.com/simple/"
    assert custom.outputs["pipInstall"] == (
        "pip install --index-url https://carol@pypi.example.com/simple/ <package>"
    )


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"domain": "pypi.example.com", "certificate_arn": None}, "go together"),
        ({"certificate_arn": CERT}, "go together"),
        ({"domain": "x.example.com", "certificate_arn": CERT.replace("us-east-1", "eu-west-1")}, "us-east-1"),
        ({"price_class": "PriceClass_Cheap"}, "priceClass"),
        ({"log_retention_days": 42}, "logRetentionDays"),
        ({"noncurrent_version_expiry_days": 0}, "noncurrentVersionExpiryDays"),
    ],
)
def test_invalid_settings_are_refused(change: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        PrivateIndexArgs(users={"a": "b"}, **change).validate()


# --- the indexer -------------------------------------------------------------------------


def test_queue_and_dead_letter_queue_follow_the_shared_wiring(run: ProgramRun) -> None:
    dlq = run.one(T_QUEUE, "-dlq")
    queue = run.one(T_QUEUE, "-events")
    assert dlq.inputs["messageRetentionSeconds"] == wiring.DLQ_MESSAGE_RETENTION_SECONDS
    q = queue.inputs
    assert q["visibilityTimeoutSeconds"] == wiring.QUEUE_VISIBILITY_TIMEOUT_SECONDS
    assert q["visibilityTimeoutSeconds"] >= wiring.INDEXER_TIMEOUT_SECONDS
    assert q["messageRetentionSeconds"] == wiring.QUEUE_MESSAGE_RETENTION_SECONDS
    assert json.loads(q["redrivePolicy"]) == wiring.redrive_policy(dlq.state["arn"])


def test_only_this_bucket_may_send_to_the_queue(run: ProgramRun) -> None:
    queue = run.one(T_QUEUE, "-events")
    bucket = run.one(T_BUCKET)
    policy = run.one("aws:sqs/queuePolicy:QueuePolicy")
    assert policy.inputs["queueUrl"] == queue.state["url"]
    assert json.loads(policy.inputs["policy"]) == wiring.queue_policy(
        queue.state["arn"], bucket.state["arn"], ACCOUNT
    )


def test_bucket_notification_is_the_shared_wiring_after_the_queue_policy(run: ProgramRun) -> None:
    queue_arn = run.one(T_QUEUE, "-events").state["arn"]
    notification = run.one("aws:s3/bucketNotification:BucketNotification")
    assert notification.inputs["bucket"] == run.one(T_BUCKET).state["bucket"]
    expected = [
        {
            "id": c["Id"],
            "queueArn": c["QueueArn"],
            "events": c["Events"],
            "filterSuffix": c["Filter"]["Key"]["FilterRules"][0]["Value"],
        }
        for c in wiring.queue_configurations(queue_arn)
    ]
    assert notification.inputs["queues"] == expected
    suffixes = {q["filterSuffix"] for q in notification.inputs["queues"]}
    assert {".whl", ".tar.gz", ".yanked", ".project-status"} <= suffixes
    assert run.one("aws:sqs/queuePolicy:QueuePolicy").urn in notification.dependencies


def test_indexer_function(run: ProgramRun) -> None:
    fn = indexer_function(run)
    i = fn.inputs
    assert i["runtime"] == "python3.13"
    assert i["architectures"] == ["arm64"]
    assert i["handler"] == "indexer.handler.handler"
    assert i["timeout"] == wiring.INDEXER_TIMEOUT_SECONDS
    assert run.provider_region(fn) == STACK_REGION
    env = i["environment"]["variables"]
    assert env == {
        "PYPI_EDGE_BUCKET": run.one(T_BUCKET).state["bucket"],
        "PYPI_EDGE_INDEX_CACHE_SECONDS": "60",
        "PYPI_EDGE_DISTRIBUTION_ID": run.one(T_DISTRIBUTION).state.get("id", "E2MOCKDISTRIB"),
        "PYPI_EDGE_PUBLIC_URL": "https://" + run.one(T_DISTRIBUTION).state["domainName"],
        "POWERTOOLS_SERVICE_NAME": "pypi-edge-indexer",
    }
    logs = run.one("aws:cloudwatch/logGroup:LogGroup", "-indexer-logs")
    assert logs.inputs["retentionInDays"] == 30
    assert i["loggingConfig"]["logGroup"] == logs.state["name"]


def test_indexer_log_retention_is_configurable(custom: ProgramRun) -> None:
    logs = custom.one("aws:cloudwatch/logGroup:LogGroup", "-indexer-logs")
    assert logs.inputs["retentionInDays"] == 14


def test_event_source_mapping_batches_and_reports_partial_failures(run: ProgramRun) -> None:
    esm = run.one("aws:lambda/eventSourceMapping:EventSourceMapping")
    e = esm.inputs
    assert e["eventSourceArn"] == run.one(T_QUEUE, "-events").state["arn"]
    assert e["functionName"] == indexer_function(run).state["arn"]
    assert e["batchSize"] == wiring.BATCH_SIZE
    assert e["maximumBatchingWindowInSeconds"] == wiring.BATCH_WINDOW_SECONDS
    assert e["functionResponseTypes"] == ["ReportBatchItemFailures"]
    assert run.one(T_ROLE_POLICY, "-indexer-policy").urn in esm.dependencies


def test_indexer_role_is_least_privilege(run: ProgramRun) -> None:
    role = run.one(T_ROLE, "-indexer-role")
    [trust] = statements(role.inputs["assumeRolePolicy"])
    assert trust["Principal"] == {"Service": ["lambda.amazonaws.com"]}
    policy = run.one(T_ROLE_POLICY, "-indexer-policy")
    assert policy.inputs["role"] == role.state["name"]
    bucket_arn = run.one(T_BUCKET).state["arn"]
    queue_arn = run.one(T_QUEUE, "-events").state["arn"]
    log_arn = run.one("aws:cloudwatch/logGroup:LogGroup", "-indexer-logs").state["arn"]
    granted: dict[str, set[str]] = {}
    for s in statements(policy.inputs["policy"]):
        assert s["Effect"] == "Allow"
        assert "NotAction" not in s and "NotResource" not in s
        for action in as_list(s["Action"]):
            assert "*" not in action
            granted.setdefault(action, set()).update(as_list(s["Resource"]))
    for resources in granted.values():
        assert "*" not in resources
    generated = {
        f"{bucket_arn}/index.html",
        f"{bucket_arn}/index.json",
        f"{bucket_arn}/index.identity.json",
        f"{bucket_arn}/*/index.html",
        f"{bucket_arn}/*/index.json",
        f"{bucket_arn}/*/index.identity.json",
        f"{bucket_arn}/*.metadata",
        f"{bucket_arn}/*.left-out",  # its private notes on files it left out (never served)
        f"{bucket_arn}/-/static/*",
    }
    assert granted == {
        "s3:GetObject": {f"{bucket_arn}/*"},
        "s3:PutObject": generated,
        "s3:DeleteObject": generated,
        "s3:ListBucket": {bucket_arn},
        "sqs:ReceiveMessage": {queue_arn},
        "sqs:DeleteMessage": {queue_arn},
        "sqs:GetQueueAttributes": {queue_arn},
        "logs:CreateLogStream": {f"{log_arn}:*"},
        "logs:PutLogEvents": {f"{log_arn}:*"},
    }


def test_indexer_bundle(run: ProgramRun) -> None:
    i = indexer_function(run).inputs
    path = Path(i["code"].path)
    assert not path.is_absolute() and path.parts[0] == ".bundles"
    data = (REPO / path).read_bytes()
    assert i["sourceCodeHash"] == base64.b64encode(hashlib.sha256(data).digest()).decode()
    assert len(data) < 50 * 1024 * 1024
    names = set(zip_members(REPO / path))
    assert "indexer/handler.py" in names
    own = {
        "indexer/" + p.relative_to(REPO / "indexer").as_posix()
        for p in (REPO / "indexer").rglob("*")
        if p.is_file() and "__pycache__" not in p.parts and p.suffix != ".pyc"
    }
    assert own <= names
    assert any(n.startswith("indexer/templates/") and n.endswith(".html") for n in names)
    # The pinned runtime dependencies, for CPython 3.13 on arm64 Linux.
    # boto3/botocore included: the runtime's SDK may be older than the conditional writes need.
    tops = (
        "aws_lambda_powertools/",
        "jinja2/",
        "markupsafe/",
        "packaging/",
        "jmespath/",
        "boto3/",
        "botocore/",
    )
    for top in tops:
        assert any(n.startswith(top) for n in names), top
    assert any(n.startswith("markupsafe/") and n.endswith("cpython-313-aarch64-linux-gnu.so") for n in names)
    assert not [n for n in names if "__pycache__" in n or n.endswith(".pyc")]
    assert not [n for n in names if n.endswith(".dist-info/RECORD") or n.startswith("bin/")]


# --- outputs -----------------------------------------------------------------------------


def test_stack_outputs(run: ProgramRun) -> None:
    o = run.outputs
    assert o["indexUrl"] == f"https://{DISTRIBUTION_DOMAIN}/simple/"
    assert o["bucketName"] == run.one(T_BUCKET).state["bucket"]
    assert o["distributionId"] == run.one(T_DISTRIBUTION).state.get("id", "E2MOCKDISTRIB")
    # The first user, never a password.
    assert o["pipInstall"] == f"pip install --index-url https://alice@{DISTRIBUTION_DOMAIN}/simple/ <package>"
    assert o["edgeFunctionVersionArn"] == edge_function(run).state["qualifiedArn"]


def test_client_outputs_name_the_upload_url_and_paste_ready_pip_and_uv_config(run: ProgramRun) -> None:
    o = run.outputs
    assert o["uploadUrl"] == f"https://{DISTRIBUTION_DOMAIN}/legacy/"
    assert o["pipConf"] == f"[global]\nindex-url = https://alice@{DISTRIBUTION_DOMAIN}/simple/\n"
    assert o["uvToml"] == (
        f'[[index]]\nname = "private"\nurl = "https://{DISTRIBUTION_DOMAIN}/simple/"\ndefault = true\n'
    )
    # Neither --extra-index-url nor a password anywhere in what `pulumi stack output` shows.
    shown = json.dumps(o)
    assert "extra-index-url" not in shown
    assert all(password not in shown for password in ALL_PASSWORDS)


def test_client_outputs_follow_the_custom_domain(custom: ProgramRun) -> None:
    assert custom.outputs["uploadUrl"] == "https://pypi.example.com/legacy/"
    assert "https://carol@pypi.example.com/simple/" in custom.outputs["pipConf"]
    assert 'url = "https://pypi.example.com/simple/"' in custom.outputs["uvToml"]


# --- @pulumi.runtime.test: Outputs of the component, awaited by the test itself ------------


@pytest.fixture
def mocked_default_config():
    mocks = RecordingMocks()
    pulumi.runtime.settings.ROOT.set(None)
    pulumi.runtime.set_all_config(
        config_for({"aws:region": STACK_REGION, "users": USERS}), secret_keys=["pypi-edge:users"]
    )
    pulumi.runtime.set_mocks(
        mocks, project="pypi-edge", stack="dev", preview=False, monitor=RecordingMonitor(mocks)
    )
    return mocks


@pulumi.runtime.test
def test_component_outputs_resolve(mocked_default_config):
    index = runpy.run_path(str(REPO / "__main__.py"), run_name="__main__")["index"]

    def check(values):
        url, pip, bucket_name, qualified_arn = values
        assert url == f"https://{DISTRIBUTION_DOMAIN}/simple/"
        assert pip.startswith("pip install --index-url https://alice@")
        assert all(p not in pip for p in USERS.values())
        assert bucket_name.startswith("pypi-edge-bucket-")
        assert qualified_arn.startswith("arn:aws:lambda:us-east-1:")

    # Returned: without the return the assertions above would never run.
    return pulumi.Output.all(
        index.index_url, index.pip_install, index.bucket_name, index.edge_function.qualified_arn
    ).apply(check)


@pulumi.runtime.test
def test_client_outputs_resolve_without_secrets(mocked_default_config):
    index = runpy.run_path(str(REPO / "__main__.py"), run_name="__main__")["index"]
    outputs = [index.upload_url, index.pip_conf, index.uv_toml]

    async def secrets():
        return [await o.is_secret() for o in outputs]

    def check(values):
        upload, pip_conf, uv_toml, secret_flags = values
        assert upload == f"https://{DISTRIBUTION_DOMAIN}/legacy/"
        assert pip_conf.startswith("[global]\nindex-url = https://alice@")
        assert "default = true" in uv_toml
        assert all(p not in pip_conf + uv_toml for p in USERS.values())
        assert secret_flags == [False, False, False]

    return pulumi.Output.all(*outputs, pulumi.Output.from_input(secrets())).apply(check)


@pulumi.runtime.test
def test_users_stay_secret_in_the_program(mocked_default_config, monkeypatch):
    import infra.component

    given: list[PrivateIndexArgs] = []

    class Recording(infra.component.PrivateIndex):
        def __init__(self, name: str, args: PrivateIndexArgs, opts: Any = None) -> None:
            given.append(args)
            super().__init__(name, args, opts)

    monkeypatch.setattr(infra.component, "PrivateIndex", Recording)
    index = runpy.run_path(str(REPO / "__main__.py"), run_name="__main__")["index"]
    (args,) = given

    async def check():
        # What __main__.py hands the component, not a fresh read of the config here.
        assert isinstance(args.users, pulumi.Output) and await args.users.is_secret()
        assert not await index.pip_install.is_secret()  # holds a user name only
        assert not await index.edge_function.source_code_hash.is_secret()

    return pulumi.Output.from_input(check())


def test_a_wrong_assertion_inside_a_runtime_test_fails(mocked_default_config) -> None:
    """Guard for the pattern above: an assertion in an applied callback must fail the test."""

    @pulumi.runtime.test
    def wrong():
        index = runpy.run_path(str(REPO / "__main__.py"), run_name="__main__")["index"]
        return index.index_url.apply(lambda url: _assert_equal(url, "https://wrong.example/simple/"))

    with pytest.raises(AssertionError):
        wrong()


def _assert_equal(actual: Any, expected: Any) -> None:
    assert actual == expected


@pytest.mark.parametrize(
    ("users", "shown"),
    [
        ({"bob": "pw", "alice": {"password": "pw", "publish": ["*"]}}, "alice"),
        # "__token__" sorts before every lower-case name: it must still never be the example.
        ({"__token__": {"ci": {"sha256": "0" * 64, "publish": []}}, "zoe": "pw"}, "zoe"),
        ({"__token__": {"ci": {"sha256": "0" * 64, "publish": []}}}, "__token__"),
        ({"dev@example.com": "pw"}, "dev%40example.com"),
        ({}, "USER"),  # everyone is in the user pool
    ],
)
def test_pip_install_output_names_a_person_not_the_token_entry(users: dict, shown: str) -> None:
    assert example_user(users) == shown
