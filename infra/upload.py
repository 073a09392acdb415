"""`UploadEndpoint`: the HTTPS upload endpoint (`POST /legacy/`, trusted publishing under `/_/oidc/`).

    twine / uv / poetry ──▶ CloudFront behaviours /legacy/* and /_/oidc/* (all methods, no cache)
        │ viewer-request: the edge function (credentials, 413 before any byte moves on)
        ▼ + x-pypi-edge-origin-secret (a per-stack random value CloudFront adds)
    Lambda function URL (AuthType NONE) ──▶ upload function (regional, arm64)
        │ checks the secret, then Basic credentials (edge/credentials.py, the same hashes)
        ├──▶ S3: conditional, checksummed PutObject of the distribution (indexer/publish.py)
        └──▶ lambda:Invoke the indexer synchronously, so the pages are fresh when it answers

Why AuthType NONE and a secret header, not Origin Access Control: with OAC on a Lambda
function URL, "if you use PUT or POST methods ... your users must include the payload hash value
in the x-amz-content-sha256 header when sending the request to CloudFront. Lambda doesn't support
unsigned payloads" (CloudFront developer guide, "Restrict access to an AWS Lambda function URL
origin").  twine and uv send no such header, so OAC would refuse every upload.  CloudFront adds the
secret as an origin custom header; a viewer cannot forge it, because when a viewer request already
carries a header of that name CloudFront overwrites its value ("Add custom headers to origin
requests").  The function compares it first and answers 403 to anything that bypassed CloudFront.

The distribution itself is built by `infra.component.PrivateIndex`; this component hands it
`origin` and `cache_behaviors`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pulumi
import pulumi_aws as aws
import pulumi_random as random

import upload as upload_contract  # upload/__init__.py: handler, bundle files, environment
from infra import bundle, wiring

TYPE_TOKEN = "pypi-edge:index:UploadEndpoint"

ORIGIN_ID = "upload"
ORIGIN_SECRET_HEADER = "x-pypi-edge-origin-secret"
ORIGIN_SECRET_LENGTH = 48
# The paths this endpoint answers; everything else stays on the bucket behaviour.
PATH_PATTERNS = ("/legacy/*", "/_/oidc/*")
# CloudFront's method sets are fixed: GET+HEAD, +OPTIONS, or all seven.  POST needs all seven;
# the edge function and the upload function refuse what they do not serve.
ALL_METHODS = ["GET", "HEAD", "OPTIONS", "PUT", "POST", "PATCH", "DELETE"]
CACHED_METHODS = ["GET", "HEAD"]
# Managed policies, by their fixed IDs (CloudFront developer guide, "Use managed cache policies":
# CachingDisabled, min/default/max TTL 0, nothing in the key; "Use managed origin request
# policies": AllViewerExceptHostHeader, every viewer header but Host, so the function URL sees its
# own host name, plus all query strings and cookies).
CACHING_DISABLED_POLICY_ID = "4135ea2d-6df8-44a3-9df3-4b5a84be39ad"
ALL_VIEWER_EXCEPT_HOST_HEADER_POLICY_ID = "b689b0a8-53d0-40ab-baf2-68738e2966ac"
# CloudFront waits 30 s for an origin by default; 60 s is the most without a quota increase
# (developer guide, "Response timeout").  The function must answer first, so its timeout is less.
ORIGIN_READ_TIMEOUT_SECONDS = 60
# upload/__init__.py: the synchronous indexer call dominates (30 s); a request holds the body, its
# base64 form and the parsed file at once (~3 x 6 MB), so 512 MB is ample (and buys CPU for hashes).
UPLOAD_TIMEOUT_SECONDS = 30
UPLOAD_MEMORY_MB = 512
UPLOAD_RUNTIME = f"python{bundle.INDEXER_PYTHON_VERSION}"
UPLOAD_ARCHITECTURE = "arm64"  # the same platform the shared dependency layer is built for
UPLOAD_HANDLER = upload_contract.HANDLER
UPLOAD_SERVICE_NAME = "pypi-edge-upload"
# Lambda unpacks the zip into LAMBDA_TASK_ROOT, /var/task (Lambda developer guide, "Defined
# runtime environment variables"); the credentials file sits at the zip root.
CREDENTIALS_PATH = "/var/task/credentials.json"
FUNCTION_NAME_MAX = 64  # Lambda function names: 1-64 characters


def function_name(*parts: str) -> str:
    """A predictable Lambda function name (letters, digits, - and _; at most 64 characters)."""
    cleaned = "-".join(
        dict.fromkeys("".join(c if c.isalnum() or c in "-_" else "-" for c in p) for p in parts)
    )
    if len(cleaned) > FUNCTION_NAME_MAX:
        raise ValueError(
            f"function name {cleaned!r} is over {FUNCTION_NAME_MAX} characters; use a shorter stack name"
        )
    return cleaned


def _policy(*statements: Mapping[str, Any]) -> pulumi.Output[str]:
    return pulumi.Output.json_dumps({"Version": "2012-10-17", "Statement": list(statements)})


@dataclass
class UploadEndpointArgs:
    bucket_name: pulumi.Input[str]
    bucket_arn: pulumi.Input[str]
    users: pulumi.Input[Mapping[str, Any]]
    """The `users` config (secret); only its salted hashes reach the bundle, as for the edge."""
    realm: str
    credentials_seed: str
    indexer_function_name: str
    """The indexer's *predictable* name (a plain string, not its Output): see `PrivateIndex`."""
    edge_function_arn: pulumi.Input[str]
    """The viewer-request function's version ARN: it answers 401 and the oversize 413 here too."""
    function_name: str
    response_headers_policy_id: pulumi.Input[str] | None = None
    log_retention_days: int = 30
    source_root: Path = bundle.REPO_ROOT
    bundle_dir: Path | None = None


class UploadEndpoint(pulumi.ComponentResource):
    function: aws.lambda_.Function
    function_url: aws.lambda_.FunctionUrl
    role: aws.iam.Role
    origin_secret: random.RandomPassword
    origin: aws.cloudfront.DistributionOriginArgs
    cache_behaviors: list[aws.cloudfront.DistributionOrderedCacheBehaviorArgs]

    def __init__(
        self, name: str, args: UploadEndpointArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__(TYPE_TOKEN, name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        invoke = pulumi.InvokeOptions(parent=self)
        identity = aws.get_caller_identity_output(opts=invoke)
        region = aws.get_region_output(opts=invoke).region
        partition = identity.arn.apply(lambda arn: arn.split(":")[1])

        # Random per stack, kept in the state.  RandomPassword marks `result` secret; wrapping it
        # again makes that explicit where it is used (the function's environment, the origin).
        self.origin_secret = random.RandomPassword(
            f"{name}-origin-secret", length=ORIGIN_SECRET_LENGTH, special=False, opts=child
        )
        secret = pulumi.Output.secret(self.origin_secret.result)

        logs = aws.cloudwatch.LogGroup(
            f"{name}-logs",
            name=f"/aws/lambda/{args.function_name}",
            retention_in_days=args.log_retention_days,
            opts=child,
        )
        self.role = aws.iam.Role(
            f"{name}-role",
            assume_role_policy=pulumi.Output.json_dumps(
                {
                    "Version": "2012-10-17",
                    "Statement": [
                        {
                            "Effect": "Allow",
                            "Principal": {"Service": ["lambda.amazonaws.com"]},
                            "Action": "sts:AssumeRole",
                        }
                    ],
                }
            ),
            description="pypi-edge upload function: writes distributions, nothing else",
            opts=child,
        )
        indexer_arn = pulumi.Output.concat(
            "arn:",
            partition,
            ":lambda:",
            region,
            ":",
            identity.account_id,
            ":function:",
            args.indexer_function_name,
        )
        distributions = [pulumi.Output.concat(args.bucket_arn, "/", key) for key in wiring.DISTRIBUTION_KEYS]
        policy = aws.iam.RolePolicy(
            f"{name}-policy",
            role=self.role.id,
            policy=_policy(
                {
                    # Distribution files only: never a page, a .metadata, a .yanked marker or a
                    # status marker (the indexer and the CLI own those).
                    "Sid": "PublishDistributions",
                    "Effect": "Allow",
                    "Action": "s3:PutObject",
                    "Resource": distributions,
                },
                {
                    # The conflict check reads what holds the name (HEAD with ChecksumMode, or a
                    # GET to hash it).  HeadObject has no action of its own: it needs s3:GetObject
                    # (S3 API reference, HeadObject, "Permissions").
                    "Sid": "ReadDistributionsForConflictCheck",
                    "Effect": "Allow",
                    "Action": "s3:GetObject",
                    "Resource": distributions,
                },
                {
                    # PEP 792: the publishing core reads `<project>/.project-status` and refuses
                    # archived and quarantined projects before it writes (indexer/publish.py,
                    # Uploader.refusal).  Without this read it would fall back on the indexer
                    # leaving such a file off the pages, after the upload had answered 200.
                    "Sid": "ReadProjectStatus",
                    "Effect": "Allow",
                    "Action": "s3:GetObject",
                    "Resource": pulumi.Output.concat(args.bucket_arn, "/*/", wiring.STATUS_MARKER),
                },
                {
                    # Rebuild the project's pages before answering, so pip and uv see the file at
                    # once (Lambda Invoke, RequestResponse).
                    "Sid": "RefreshPages",
                    "Effect": "Allow",
                    "Action": "lambda:InvokeFunction",
                    "Resource": indexer_arn,
                },
                {
                    "Sid": "WriteLogs",
                    "Effect": "Allow",
                    "Action": ["logs:CreateLogStream", "logs:PutLogEvents"],
                    "Resource": pulumi.Output.concat(logs.arn, ":*"),
                },
            ),
            opts=child,
        )

        bundle_dir = args.bundle_dir or args.source_root / ".bundles"
        zip_name = f"{args.function_name}.zip"

        def build(users: Mapping[str, Any]) -> bundle.Bundle:
            from edge import credentials

            return bundle.build_upload_bundle(
                credentials.render_file(dict(users), args.realm, args.credentials_seed),
                out_dir=bundle_dir,
                name=zip_name,
                source_root=args.source_root,
            )

        # Hashes only (as in the edge bundle): not secret, and diffable in the state.
        upload_bundle = pulumi.Output.unsecret(pulumi.Output.from_input(args.users).apply(build))
        self.function = aws.lambda_.Function(
            f"{name}-function",
            name=args.function_name,
            description="pypi-edge upload endpoint: the legacy upload API of twine, uv and poetry",
            runtime=UPLOAD_RUNTIME,
            architectures=[UPLOAD_ARCHITECTURE],
            handler=UPLOAD_HANDLER,
            role=self.role.arn,
            code=upload_bundle.apply(lambda b: pulumi.FileArchive(_archive_path(b.path))),
            source_code_hash=upload_bundle.apply(lambda b: b.sha256_b64),
            memory_size=UPLOAD_MEMORY_MB,
            timeout=UPLOAD_TIMEOUT_SECONDS,
            environment=aws.lambda_.FunctionEnvironmentArgs(
                variables={
                    "BUCKET": args.bucket_name,
                    "PYPI_EDGE_CREDENTIALS": CREDENTIALS_PATH,
                    "ORIGIN_SECRET": secret,
                    "INDEXER_FUNCTION": args.indexer_function_name,
                    "POWERTOOLS_SERVICE_NAME": UPLOAD_SERVICE_NAME,
                }
            ),
            logging_config=aws.lambda_.FunctionLoggingConfigArgs(log_format="Text", log_group=logs.name),
            opts=pulumi.ResourceOptions(parent=self, depends_on=[policy]),
        )
        # Buffered: a function URL takes at most 6 MB of request payload (Lambda quotas,
        # "Invocation payload (request and response)": 6 MB synchronous); a binary body arrives
        # base64-encoded in the payload 2.0 event, so the largest file is about 4.5 MB, and the
        # edge function answers 413 above it before any byte reaches this URL.
        self.function_url = aws.lambda_.FunctionUrl(
            f"{name}-url",
            function_name=self.function.name,
            authorization_type="NONE",
            invoke_mode="BUFFERED",
            opts=child,
        )
        # AuthType NONE still needs a resource-based policy granting public access; since October
        # 2025 new function URLs need both lambda:InvokeFunctionUrl and lambda:InvokeFunction
        # (Lambda developer guide, "Control access to Lambda function URLs").  The second is
        # limited to invocations through the URL.
        public: dict[str, tuple[str, dict[str, Any]]] = {
            "url-public": ("lambda:InvokeFunctionUrl", {"function_url_auth_type": "NONE"}),
            "url-invoke": ("lambda:InvokeFunction", {"invoked_via_function_url": True}),
        }
        for suffix, (action, condition) in public.items():
            aws.lambda_.Permission(
                f"{name}-{suffix}",
                function=self.function.name,
                action=action,
                principal="*",
                opts=child,
                **condition,
            )

        url_host = self.function_url.function_url.apply(lambda url: url.split("://", 1)[-1].split("/", 1)[0])
        self.origin = aws.cloudfront.DistributionOriginArgs(
            origin_id=ORIGIN_ID,
            domain_name=url_host,
            custom_origin_config=aws.cloudfront.DistributionOriginCustomOriginConfigArgs(
                http_port=80,
                https_port=443,
                origin_protocol_policy="https-only",
                origin_ssl_protocols=["TLSv1.2"],
                origin_read_timeout=ORIGIN_READ_TIMEOUT_SECONDS,
            ),
            custom_headers=[
                aws.cloudfront.DistributionOriginCustomHeaderArgs(name=ORIGIN_SECRET_HEADER, value=secret)
            ],
        )
        self.cache_behaviors = [
            aws.cloudfront.DistributionOrderedCacheBehaviorArgs(
                path_pattern=pattern,
                target_origin_id=ORIGIN_ID,
                # https-only, not redirect-to-https: twine aborts on any redirect.
                viewer_protocol_policy="https-only",
                allowed_methods=ALL_METHODS,
                cached_methods=CACHED_METHODS,
                compress=False,
                cache_policy_id=CACHING_DISABLED_POLICY_ID,
                origin_request_policy_id=ALL_VIEWER_EXCEPT_HOST_HEADER_POLICY_ID,
                response_headers_policy_id=args.response_headers_policy_id,
                lambda_function_associations=[
                    aws.cloudfront.DistributionOrderedCacheBehaviorLambdaFunctionAssociationArgs(
                        event_type="viewer-request",
                        lambda_arn=args.edge_function_arn,
                        include_body=False,  # it needs Content-Length, never the body
                    )
                ],
            )
            for pattern in PATH_PATTERNS
        ]
        self.url = self.function_url.function_url
        self.register_outputs(
            {
                "function_name": self.function.name,
                "function_arn": self.function.arn,
                "function_url": self.function_url.function_url,
                "role_arn": self.role.arn,
            }
        )


def allow_invalidations(
    name: str, role: aws.iam.Role, distribution: aws.cloudfront.Distribution, opts: pulumi.ResourceOptions
) -> aws.iam.RolePolicy:
    """Let the indexer invalidate this distribution's cache, and no other distribution's
    (CreateInvalidation is authorized per distribution ARN; CloudFront API permissions reference)."""
    return aws.iam.RolePolicy(
        f"{name}-indexer-invalidate",
        role=role.id,
        policy=_policy(
            {
                "Sid": "InvalidateChangedPages",
                "Effect": "Allow",
                "Action": "cloudfront:CreateInvalidation",
                "Resource": distribution.arn,
            }
        ),
        opts=opts,
    )


def _archive_path(path: Path) -> str:
    from infra.component import _archive_path as relative  # one rule for every bundle path

    return relative(path)
