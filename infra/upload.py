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

The distribution is built by `infra.distribution.EdgeDistribution`; this component hands it `origin`
(the function URL, with the secret header) and `path_patterns`, and the distribution routes those
paths here through the same viewer-request function.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pulumi
import pulumi_aws as aws
import pulumi_random as random

import upload as upload_contract  # upload/__init__.py: handler, bundle files, environment
from infra import bundle, common, wiring
from infra.trusted import bundle_entry

TYPE_TOKEN = "pypi-edge:index:UploadEndpoint"

ORIGIN_ID = "upload"
ORIGIN_SECRET_HEADER = "x-pypi-edge-origin-secret"
ORIGIN_SECRET_LENGTH = 48
# The paths this endpoint answers; everything else stays on the bucket behaviour.
PATH_PATTERNS = ("/legacy/*", "/_/oidc/*")
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


@dataclass
class UploadEndpointArgs:
    bucket_name: pulumi.Input[str]
    bucket_arn: pulumi.Input[str]
    users: pulumi.Input[Mapping[str, Any]]
    """The `users` config (secret); only its salted hashes reach the bundle, as for the edge."""
    realm: str
    credentials_seed: str
    indexer_function_name: pulumi.Input[str]
    """The indexer's name, chosen up front, never the indexer's own Output (`infra.indexer` says why)."""
    function_name: str
    log_retention_days: int = 30
    source_root: Path = bundle.REPO_ROOT
    bundle_dir: Path | None = None
    trusted_publishing_config: pulumi.Input[str] | None = None
    """`infra.trusted.TrustedPublishing.config_file`, bundled as upload/trusted-publishing.json;
    None: trusted publishing is off (no file, so /_/oidc/ answers "not enabled")."""
    trusted_publishing_environment: Mapping[str, pulumi.Input[str]] = field(default_factory=dict)
    """`TrustedPublishing.environment`: the signing key of minted tokens (a secret)."""


class UploadEndpoint(pulumi.ComponentResource):
    function: aws.lambda_.Function
    function_url: aws.lambda_.FunctionUrl
    role: aws.iam.Role
    origin_secret: random.RandomPassword
    origin: aws.cloudfront.DistributionOriginArgs
    path_patterns: tuple[str, ...] = PATH_PATTERNS

    def __init__(
        self, name: str, args: UploadEndpointArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__(TYPE_TOKEN, name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        caller = common.caller(self)

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
            assume_role_policy=common.assume_role_policy("lambda.amazonaws.com"),
            description="pypi-edge upload function: writes distributions, nothing else",
            opts=child,
        )
        indexer_arn = caller.arn("lambda", pulumi.Output.concat("function:", args.indexer_function_name))
        distributions = [pulumi.Output.concat(args.bucket_arn, "/", key) for key in wiring.DISTRIBUTION_KEYS]
        policy = aws.iam.RolePolicy(
            f"{name}-policy",
            role=self.role.id,
            policy=common.policy(
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

        def build(inputs: list[Any]) -> bundle.Bundle:
            from edge import credentials

            users, trusted_config = inputs
            return bundle.build_upload_bundle(
                credentials.render_file(dict(users), args.realm, args.credentials_seed),
                out_dir=bundle_dir,
                name=zip_name,
                source_root=args.source_root,
                extra_files=[bundle_entry(trusted_config)] if trusted_config else [],
            )

        # Hashes only (as in the edge bundle), and the publishers' config (no secret in it): not
        # secret, and diffable in the state.
        upload_bundle = pulumi.Output.unsecret(
            pulumi.Output.all(args.users, args.trusted_publishing_config).apply(build)
        )
        self.function = aws.lambda_.Function(
            f"{name}-function",
            name=args.function_name,
            description="pypi-edge upload endpoint: the legacy upload API of twine, uv and poetry",
            runtime=UPLOAD_RUNTIME,
            architectures=[UPLOAD_ARCHITECTURE],
            handler=UPLOAD_HANDLER,
            role=self.role.arn,
            code=upload_bundle.apply(lambda b: pulumi.FileArchive(common.archive_path(b.path))),
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
                    **args.trusted_publishing_environment,
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
        self.url = self.function_url.function_url
        self.register_outputs(
            {
                "function_name": self.function.name,
                "function_arn": self.function.arn,
                "function_url": self.function_url.function_url,
                "role_arn": self.role.arn,
            }
        )
