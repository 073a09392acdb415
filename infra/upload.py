"""`UploadEndpoint`: the HTTPS upload endpoint (`POST /legacy/`, trusted publishing under `/_/oidc/`).

    twine / uv / poetry ──▶ CloudFront behaviours /legacy/* and /_/oidc/* (all methods, no cache)
        │ viewer-request: the edge function (credentials, 413 before any byte moves on)
        ▼ + x-pypi-edge-origin-secret (a per-stack random value CloudFront adds)
    Lambda function URL (AuthType NONE) ──▶ upload function (regional, arm64)
        │ checks the secret, then Basic credentials (edge/credentials.py, the same hashes)
        ├──▶ S3: conditional, checksummed PutObject of the distribution (indexer/publish.py)
        └──▶ lambda:Invoke the indexer synchronously, so the pages are fresh when it answers
             (bounded by the time the invocation has left: upload/handler.py, "refreshing the pages")

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
# The paths this endpoint answers (the exact /legacy too: the function has a route for it);
# everything else stays on the bucket's behaviours.  The local stand-in uses the same patterns.
PATH_PATTERNS = wiring.UPLOAD_PATH_PATTERNS
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
    credentials_seed: pulumi.Input[str]
    """The salt seed (`PrivateIndex`: random per deployment, from the stack's state)."""
    indexer_function_name: pulumi.Input[str]
    """The indexer's name, chosen up front, never the indexer's own Output (`infra.indexer` says why)."""
    function_name: pulumi.Input[str]
    """Explicit, so the log group can be made before the function (`common.unique_function_name`)."""
    bundle_name: str
    """The zip's file name under `bundle_dir` (one per stack: its salts differ)."""
    log_retention_days: int = 30
    source_root: Path = bundle.REPO_ROOT
    bundle_dir: Path | None = None
    trusted_publishing_config: pulumi.Input[str] | None = None
    """`infra.trusted.TrustedPublishing.config_file`, bundled as upload/trusted-publishing.json;
    None: trusted publishing is off (no file, so /_/oidc/ answers "not enabled")."""
    trusted_publishing_environment: Mapping[str, pulumi.Input[str]] = field(default_factory=dict)
    """`TrustedPublishing.environment`: the signing key of minted tokens (a secret)."""
    user_pool_file: pulumi.Input[str] | None = None
    """`UserStore.config_file`, bundled as userpool.json beside credentials.json; None: no pool."""
    user_pool_arn: pulumi.Input[str] | None = None
    """`UserStore.pool_arn`: the function may call AdminInitiateAuth on it (as the edge)."""


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

        logs = common.function_log_group(f"{name}-logs", args.function_name, args.log_retention_days, child)
        self.role = common.function_role(
            f"{name}-role",
            "pypi-edge upload function: creates distributions and their claims, nothing else",
            child,
        )
        indexer_arn = caller.arn("lambda", pulumi.Output.concat("function:", args.indexer_function_name))
        distributions = [pulumi.Output.concat(args.bucket_arn, "/", key) for key in wiring.DISTRIBUTION_KEYS]
        claims = pulumi.Output.concat(args.bucket_arn, "/", wiring.CLAIMS_PREFIX, "*")
        replay_markers = pulumi.Output.concat(args.bucket_arn, "/", wiring.JTI_PREFIX, "*")
        staged = pulumi.Output.concat(args.bucket_arn, "/", wiring.STAGING_PREFIX, "*")
        # The markers publishers change over HTTPS (upload/remote.py, indexer/manage.py): PEP 592
        # yanks and the PEP 792 status, both small texts whose every version the bucket keeps.
        markers = [
            pulumi.Output.concat(args.bucket_arn, "/*/*", wiring.YANKED_SUFFIX),
            pulumi.Output.concat(args.bucket_arn, "/*/", wiring.STATUS_MARKER),
        ]
        pages = [pulumi.Output.concat(args.bucket_arn, "/", key) for key in ("index.json", "*/index.json")]
        policy = aws.iam.RolePolicy(
            f"{name}-policy",
            role=self.role.id,
            policy=common.policy(
                {
                    # Distribution files, the publishing core's identity claims and trusted
                    # publishing's replay markers: never a page, a .metadata, a .yanked marker or a
                    # status marker (the indexer and the CLI own those).  Every write the function
                    # makes is a create-only conditional PUT (`If-None-Match: *`: indexer/publish.py
                    # Uploader, upload/oidc.py S3TokenLog; it never sends If-Match, which only the
                    # CLI's --force uses), so the condition key s3:if-none-match must be present
                    # ("Enforce conditional writes on Amazon S3 buckets", S3 User Guide: the
                    # condition keys s3:if-none-match and s3:if-match, Example 1, `"Null":
                    # {"s3:if-none-match": "false"}`).  A bug or a stolen role can then create
                    # objects but never overwrite one.  No multipart upload: the function sends one
                    # PUT of at most ~4.5 MB, so s3:ObjectCreationOperation need not exempt parts.
                    "Sid": "CreateOnlyWithIfNoneMatch",
                    "Effect": "Allow",
                    "Action": "s3:PutObject",
                    # Staged files too: a presigned PUT acts with this role's permissions ("Sharing
                    # objects with presigned URLs", S3 User Guide), and the one the function signs
                    # carries `If-None-Match: *`, so the URL can only create its staging key.  The
                    # copy to `<project>/<file>` is a CopyObject with `If-None-Match: *`, which
                    # needs s3:PutObject here and s3:GetObject on the source.
                    "Resource": [*distributions, claims, replay_markers, staged],
                    "Condition": {"Null": {"s3:if-none-match": "false"}},
                },
                {
                    # Yank, unyank and the PEP 792 status, for publishers with index credentials
                    # (upload/remote.py checks their publish globs first).  A yank reason may be
                    # changed, so these are plain PUTs and DELETEs (delete markers: the bucket's
                    # versioning keeps every earlier text), on these two marker shapes only.
                    "Sid": "ChangeYankAndStatusMarkers",
                    "Effect": "Allow",
                    "Action": ["s3:PutObject", "s3:DeleteObject"],
                    "Resource": markers,
                },
                {
                    # A finished, refused or published staged file is removed.
                    "Sid": "RemoveStagedFiles",
                    "Effect": "Allow",
                    "Action": "s3:DeleteObject",
                    "Resource": staged,
                },
                {
                    # Keys are `<project>/<file>` or `<private prefix>/<name>`, never deeper and
                    # never starting with "/": in a resource ARN "*" matches any characters,
                    # "/" included ("IAM JSON policy elements: Resource", IAM User Guide), so the
                    # Allow above would also match "a/b/c.whl"; an explicit Deny wins over any
                    # Allow ("Policy evaluation logic", IAM User Guide).
                    "Sid": "OnlyProjectSlashFileKeys",
                    "Effect": "Deny",
                    "Action": "s3:PutObject",
                    "Resource": [
                        pulumi.Output.concat(args.bucket_arn, "/*/*/*"),
                        pulumi.Output.concat(args.bucket_arn, "//*"),
                    ],
                },
                {
                    # The conflict check reads what holds the name (HEAD with ChecksumMode, or a
                    # GET to hash it), and a claim that another upload holds.  HeadObject has no
                    # action of its own: it needs s3:GetObject (S3 API reference, HeadObject,
                    # "Permissions").
                    "Sid": "ReadDistributionsAndClaimsForConflictCheck",
                    "Effect": "Allow",
                    "Action": "s3:GetObject",
                    "Resource": [*distributions, claims],
                },
                {
                    # The staged file's checksum and metadata (HEAD, ranged GETs), the copy's
                    # source, the yank markers' reasons, and the pages `list` reads (what any
                    # reader may read through CloudFront).
                    "Sid": "ReadStagedFilesMarkersAndPages",
                    "Effect": "Allow",
                    "Action": "s3:GetObject",
                    "Resource": [staged, markers[0], *pages],
                },
                {
                    # One file per identity: the core lists the project's folder (`<project>/`)
                    # once per upload to find other spellings of the same file.  Only listings of
                    # a prefix ending in "/" (the s3:prefix condition key of ListBucket, "Amazon S3
                    # condition key examples", S3 User Guide); a listing without a prefix has no
                    # s3:prefix, so StringLike does not match and it is refused.
                    "Sid": "ListOneProjectFolder",
                    "Effect": "Allow",
                    "Action": "s3:ListBucket",
                    "Resource": args.bucket_arn,
                    "Condition": {"StringLike": {"s3:prefix": "?*/"}},
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
                # With a user pool: the uploader's credentials are checked as the edge checks them.
                *([common.user_pool_statement(args.user_pool_arn)] if args.user_pool_arn is not None else []),
            ),
            opts=child,
        )

        bundle_dir = args.bundle_dir or args.source_root / ".bundles"
        zip_name = args.bundle_name

        def build(inputs: list[Any]) -> bundle.Bundle:
            from edge import credentials, userpool

            users, trusted_config, seed, pool_file = inputs
            extra = [bundle_entry(trusted_config)] if trusted_config else []
            if pool_file is not None:
                extra.append((userpool.FILE_NAME, pool_file.encode("utf-8")))  # beside credentials.json
            return bundle.build_upload_bundle(
                credentials.render_file(dict(users), args.realm, seed, allow_empty=pool_file is not None),
                out_dir=bundle_dir,
                name=zip_name,
                source_root=args.source_root,
                extra_files=extra,
            )

        # Hashes only (as in the edge bundle), the publishers' config and the pool's ids (no
        # secret in them): not secret, and diffable in the state.
        upload_bundle = pulumi.Output.unsecret(
            pulumi.Output.all(
                args.users, args.trusted_publishing_config, args.credentials_seed, args.user_pool_file
            ).apply(build)
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
