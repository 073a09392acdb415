"""`PrivateIndex`: the whole pypi-edge deployment as one Pulumi component.

    bucket (stack region, private, versioned) ──S3 event──▶ SQS (+ DLQ) ──▶ indexer Lambda (arm64)
        ▲ OAC (sigv4, always)
    CloudFront ── viewer-request ──▶ Lambda@Edge (us-east-1, Basic auth + URL rewriting)

One AWS provider: the stack's own (`aws:` config: region, credentials, profile, assumed roles,
endpoints, default tags).  What must live in us-east-1 says so with pulumi-aws 7's per-resource
`region` argument (`region=EDGE_REGION`); IAM and CloudFront are global.  To attach another
function to the distribution (an origin-response function, say): create it with
`lambda_at_edge(...)` (us-east-1, published, kept on delete) and add its `qualified_arn` to a
behaviour's `lambda_function_associations`.  A regional function (an upload endpoint behind a
function URL) is an ordinary `aws.lambda_.Function` and takes no `region`.

Import it from another program:

    from infra.component import PrivateIndex, PrivateIndexArgs
    index = PrivateIndex("pypi", PrivateIndexArgs(users=cfg.require_secret_object("users")))

Lambda@Edge logging: the edge function runs in CloudFront's regional edge caches, and each
region writes its own log group named `/aws/lambda/us-east-1.<function name>` (in the region
that served the request, not in us-east-1).  Those groups are created by Lambda on first use,
so this component cannot set their retention up front; its role may write only to them.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pulumi
import pulumi_aws as aws

from edge import credentials
from infra import bundle, wiring
from infra import fallback as fallback_redirect
from infra.upload import UploadEndpoint, UploadEndpointArgs, allow_invalidations, function_name

TYPE_TOKEN = "pypi-edge:index:PrivateIndex"

# Runtimes.  Lambda@Edge supports Python 3.13 (CloudFront developer guide, "Restrictions on
# Lambda@Edge" → Supported runtimes: Python 3.13 … 3.7) and only x86_64.  The indexer uses the
# same Python on arm64 (Lambda runtimes page: python3.13 on Amazon Linux 2023, deprecation
# 2029-06-30); its dependency layer is built for exactly that platform (infra.bundle).
EDGE_RUNTIME = "python3.13"
EDGE_ARCHITECTURE = "x86_64"
EDGE_MEMORY_MB = 128  # viewer triggers: 128 MB maximum
EDGE_TIMEOUT_SECONDS = 5  # viewer triggers: 5 s maximum
EDGE_HANDLER = "handler.handler"
# CloudFront developer guide, "Restrictions on Lambda@Edge" → Lambda Region: "The Lambda
# function must be in the US East (N. Virginia) Region."  pulumi-aws 7 sets the region per
# resource (Function.region: "Region where this resource will be managed. Defaults to the Region
# set in the provider configuration."), so the stack's provider, with every `aws:` setting it
# reads, creates it there: no second provider that would need those settings copied (and would
# miss some: access keys, web-identity roles, shared config files, custom endpoints).
EDGE_REGION = "us-east-1"
INDEXER_RUNTIME = f"python{bundle.INDEXER_PYTHON_VERSION}"
INDEXER_ARCHITECTURE = "arm64"
INDEXER_MEMORY_MB = 512
INDEXER_HANDLER = "indexer.handler.handler"
INDEXER_SERVICE_NAME = "pypi-edge-indexer"

# CloudFront.
ONE_YEAR_SECONDS = 365 * 24 * 3600
ALLOWED_METHODS = list(wiring.VIEWER_METHODS)
# A 403/404 may be a page the indexer is writing right now: do not let CloudFront keep it.
ERROR_CACHING_SECONDS = wiring.ERROR_CACHING_SECONDS  # shared with the local stand-in's cache
HSTS_SECONDS = 2 * ONE_YEAR_SECONDS
ORIGIN_ID = "packages"

PRICE_CLASSES = ("PriceClass_100", "PriceClass_200", "PriceClass_All")
# The values CloudWatch Logs accepts for retentionInDays.
LOG_RETENTION_DAYS = frozenset(
    {1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653}
)


def example_user(users: Mapping[str, Any]) -> str:
    """The user name shown in the `pipInstall` output: the first person, never `__token__`.

    API tokens live under the `__token__` key of the same config (edge/credentials.py); with
    only tokens configured, `__token__` is what a client would send as user name.
    """
    people = sorted(name for name in users if name != credentials.TOKEN_USER)
    return quote(people[0] if people else credentials.TOKEN_USER, safe="")


@dataclass
class PrivateIndexArgs:
    """Everything a stack can configure; defaults match the `config:` block of Pulumi.yaml."""

    users: pulumi.Input[Mapping[str, Any]]
    """user → password (keep it a secret Output).  Only salted PBKDF2 hashes leave this program."""
    realm: str = "pypi-edge"
    """The Basic-auth realm shown by browsers and pip."""
    domain: str | None = None
    """Optional custom host name (e.g. pypi.example.com); needs `certificate_arn`."""
    certificate_arn: str | None = None
    """ACM certificate for `domain`, in us-east-1 (a CloudFront requirement)."""
    price_class: str = "PriceClass_100"
    index_cache_seconds: int = 60
    """Cache-Control s-maxage the indexer writes on index pages (CloudFront's time; clients
    revalidate), and the CDN default TTL; changed pages are invalidated at once."""
    retain_bucket_on_delete: bool = True
    """Keep the bucket (and its versioning, encryption, public-access block) on `pulumi destroy`."""
    log_retention_days: int = 30
    noncurrent_version_expiry_days: int = 90
    """Days an overwritten or deleted object version is kept before S3 expires it."""
    credentials_seed: str | None = None
    """Salt seed for the credential hashes; default "<project>/<stack>" (stable per stack)."""
    source_root: Path = bundle.REPO_ROOT
    """Where edge/ and indexer/ (with indexer/requirements.txt) live."""
    bundle_dir: Path | None = None
    """Where bundles are written; default <source_root>/.bundles."""
    fallback_index_url: str | None = None
    """Opt-in: projects this index does not have are redirected there (infra.fallback)."""
    fallback_cache_seconds: int = 60
    """How long a fallback redirect may be reused by CloudFront and clients."""

    def validate(self) -> None:
        if bool(self.domain) != bool(self.certificate_arn):
            raise ValueError("domain and certificateArn go together: set both or neither")
        if self.certificate_arn and ":us-east-1:" not in self.certificate_arn:
            raise ValueError(
                "certificateArn must be an ACM certificate in us-east-1 (CloudFront requires it)"
            )
        if self.price_class not in PRICE_CLASSES:
            raise ValueError(f"priceClass must be one of {', '.join(PRICE_CLASSES)}")
        if not 0 <= self.index_cache_seconds <= ONE_YEAR_SECONDS:
            raise ValueError("indexCacheSeconds must be between 0 and one year")
        if self.log_retention_days not in LOG_RETENTION_DAYS:
            raise ValueError(f"logRetentionDays must be one of {sorted(LOG_RETENTION_DAYS)}")
        if self.noncurrent_version_expiry_days < 1:
            raise ValueError("noncurrentVersionExpiryDays must be at least 1")
        if not self.realm or '"' in self.realm:
            raise ValueError("realm must be non-empty and contain no double quote")
        if self.fallback_index_url:
            from edge.fallback import validate_url

            self.fallback_index_url = validate_url(self.fallback_index_url)
        if not 0 <= self.fallback_cache_seconds <= ONE_YEAR_SECONDS:
            raise ValueError("fallbackCacheSeconds must be between 0 and one year")


def _policy(*statements: Mapping[str, Any]) -> pulumi.Output[str]:
    return pulumi.Output.json_dumps({"Version": "2012-10-17", "Statement": list(statements)})


def _assume_role_policy(*services: str) -> str:
    return json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {"Effect": "Allow", "Principal": {"Service": list(services)}, "Action": "sts:AssumeRole"}
            ],
        }
    )


def _archive_path(path: Path) -> str:
    """The bundle path relative to the working directory (the project directory under the CLI),
    so the state does not depend on where the repository is checked out."""
    try:
        return os.path.relpath(path)
    except ValueError:  # another drive (Windows)
        return str(path)


def _joined(*parts: str) -> str:
    """Parts joined by "-", characters outside [A-Za-z0-9._-] replaced, repeats dropped
    (the component is usually named after the project)."""
    return "-".join(re.sub(r"[^A-Za-z0-9._-]", "_", p) for p in dict.fromkeys(parts))


def lambda_at_edge(
    resource_name: str,
    *,
    description: str,
    role_arn: pulumi.Input[str],
    code: pulumi.Input[pulumi.Archive],
    source_code_hash: pulumi.Input[str],
    opts: pulumi.ResourceOptions,
    handler: str = EDGE_HANDLER,
    memory_size: int = EDGE_MEMORY_MB,
    timeout: int = EDGE_TIMEOUT_SECONDS,
) -> aws.lambda_.Function:
    """A Lambda@Edge function: every such function of this stack is created here, the same way.

    The defaults are a viewer trigger's limits; an origin trigger may pass more (30 s; CloudFront
    developer guide, "Quotas on Lambda@Edge").  Associate `function.qualified_arn` with a cache
    behaviour; the role must trust lambda.amazonaws.com and edgelambda.amazonaws.com.
    """
    return aws.lambda_.Function(
        resource_name,
        description=description,
        runtime=EDGE_RUNTIME,
        architectures=[EDGE_ARCHITECTURE],
        handler=handler,
        role=role_arn,
        code=code,
        source_code_hash=source_code_hash,
        memory_size=memory_size,
        timeout=timeout,
        publish=True,  # CloudFront needs a numbered version
        region=EDGE_REGION,
        # Left in place on delete (destroy, or a replacement during an update): CloudFront keeps
        # replicas of a Lambda@Edge function for hours after the distribution lets go of it, and
        # until then DeleteFunction fails ("because it is a replicated function"; CloudFront
        # developer guide, "Delete Lambda@Edge functions and replicas").  The provider would
        # retry that for its whole delete timeout and then fail the destroy; with skip_destroy it
        # only forgets the function (terraform-provider-aws, lambda function
        # resourceFunctionDelete: returns before DeleteFunction when skip_destroy is set).  The
        # README's tear-down says how to delete it once the replicas are gone.
        skip_destroy=True,
        opts=opts,
    )


def notification_queues(queue_arn: pulumi.Input[str]) -> list[aws.s3.BucketNotificationQueueArgs]:
    """`infra.wiring.queue_configurations` (boto3 shape) mapped onto the Pulumi resource's args."""
    placeholder = "<queue-arn>"
    queues = []
    for conf in wiring.queue_configurations(placeholder):
        assert conf["QueueArn"] == placeholder
        rules = {
            r["Name"].lower(): r["Value"]
            for r in conf.get("Filter", {}).get("Key", {}).get("FilterRules", [])
        }
        queues.append(
            aws.s3.BucketNotificationQueueArgs(
                id=conf["Id"],
                queue_arn=queue_arn,
                events=list(conf["Events"]),
                filter_prefix=rules.get("prefix"),
                filter_suffix=rules.get("suffix"),
            )
        )
    return queues


class PrivateIndex(pulumi.ComponentResource):
    """A private Python package index: S3 + CloudFront + Lambda@Edge + an S3→SQS→Lambda indexer."""

    bucket: aws.s3.Bucket
    distribution: aws.cloudfront.Distribution
    edge_function: aws.lambda_.Function
    indexer_function: aws.lambda_.Function
    queue: aws.sqs.Queue
    dead_letter_queue: aws.sqs.Queue
    host: pulumi.Output[str]
    index_url: pulumi.Output[str]
    pip_install: pulumi.Output[str]

    def __init__(self, name: str, args: PrivateIndexArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__(TYPE_TOKEN, name, None, opts)
        args.validate()
        project, stack = pulumi.get_project(), pulumi.get_stack()
        seed = args.credentials_seed or f"{project}/{stack}"
        bundle_dir = args.bundle_dir or args.source_root / ".bundles"
        child = pulumi.ResourceOptions(parent=self)

        identity = aws.get_caller_identity_output(opts=pulumi.InvokeOptions(parent=self))
        account_id = identity.account_id
        partition = identity.arn.apply(lambda arn: arn.split(":")[1])

        # --- the bucket, in the stack's region -----------------------------------------------
        # Retained by default: `pulumi destroy` leaves the packages (and the settings that keep
        # them private and versioned) in place.  Deleting BucketVersioning would suspend it.
        retain = args.retain_bucket_on_delete
        kept = pulumi.ResourceOptions(parent=self, retain_on_delete=retain)
        self.bucket = aws.s3.Bucket(f"{name}-bucket", force_destroy=not retain, opts=kept)
        bucket_id = self.bucket.id
        ownership = aws.s3.BucketOwnershipControls(
            f"{name}-ownership",
            bucket=bucket_id,
            rule=aws.s3.BucketOwnershipControlsRuleArgs(object_ownership="BucketOwnerEnforced"),
            opts=kept,
        )
        public_access = aws.s3.BucketPublicAccessBlock(
            f"{name}-public-access",
            bucket=bucket_id,
            block_public_acls=True,
            block_public_policy=True,
            ignore_public_acls=True,
            restrict_public_buckets=True,
            opts=kept,
        )
        aws.s3.BucketServerSideEncryptionConfiguration(
            f"{name}-encryption",
            bucket=bucket_id,
            rules=[
                aws.s3.BucketServerSideEncryptionConfigurationRuleArgs(
                    # SSE-S3, deliberately: CloudFront's OAC reads it without a KMS key policy,
                    # and there is no per-request KMS charge.  No `bucket_key_enabled`: an S3
                    # Bucket Key only reduces KMS calls for SSE-KMS (S3 API reference,
                    # ServerSideEncryptionRule, BucketKeyEnabled: "Specifies whether Amazon S3
                    # should use an S3 Bucket Key with server-side encryption using KMS (SSE-KMS)
                    # for new objects in the bucket"), so with AES256 it only misled readers.
                    apply_server_side_encryption_by_default=aws.s3.BucketServerSideEncryptionConfigurationRuleApplyServerSideEncryptionByDefaultArgs(
                        sse_algorithm="AES256"
                    ),
                )
            ],
            opts=kept,
        )
        versioning = aws.s3.BucketVersioning(
            f"{name}-versioning",
            bucket=bucket_id,
            versioning_configuration=aws.s3.BucketVersioningVersioningConfigurationArgs(status="Enabled"),
            opts=kept,
        )
        aws.s3.BucketLifecycleConfiguration(
            f"{name}-lifecycle",
            bucket=bucket_id,
            rules=[
                aws.s3.BucketLifecycleConfigurationRuleArgs(
                    id="expire-noncurrent-versions",
                    status="Enabled",
                    filter=aws.s3.BucketLifecycleConfigurationRuleFilterArgs(prefix=""),
                    noncurrent_version_expiration=aws.s3.BucketLifecycleConfigurationRuleNoncurrentVersionExpirationArgs(
                        noncurrent_days=args.noncurrent_version_expiry_days
                    ),
                    expiration=aws.s3.BucketLifecycleConfigurationRuleExpirationArgs(
                        expired_object_delete_marker=True
                    ),
                    abort_incomplete_multipart_upload=aws.s3.BucketLifecycleConfigurationRuleAbortIncompleteMultipartUploadArgs(
                        days_after_initiation=7
                    ),
                )
            ],
            opts=pulumi.ResourceOptions(parent=self, retain_on_delete=retain, depends_on=[versioning]),
        )

        # --- the S3 → SQS → indexer wiring (infra.wiring, shared with the local stack) -------
        self.dead_letter_queue = aws.sqs.Queue(
            f"{name}-dlq",
            message_retention_seconds=wiring.DLQ_MESSAGE_RETENTION_SECONDS,
            sqs_managed_sse_enabled=True,
            opts=child,
        )
        self.queue = aws.sqs.Queue(
            f"{name}-events",
            visibility_timeout_seconds=wiring.QUEUE_VISIBILITY_TIMEOUT_SECONDS,
            message_retention_seconds=wiring.QUEUE_MESSAGE_RETENTION_SECONDS,
            receive_wait_time_seconds=20,
            sqs_managed_sse_enabled=True,
            redrive_policy=pulumi.Output.json_dumps(self.dead_letter_queue.arn.apply(wiring.redrive_policy)),
            opts=child,
        )
        queue_policy = aws.sqs.QueuePolicy(
            f"{name}-events-policy",
            queue_url=self.queue.url,
            policy=pulumi.Output.json_dumps(
                pulumi.Output.all(self.queue.arn, self.bucket.arn, account_id).apply(
                    lambda a: wiring.queue_policy(a[0], a[1], a[2])
                )
            ),
            opts=child,
        )
        aws.s3.BucketNotification(
            f"{name}-notification",
            bucket=bucket_id,
            queues=notification_queues(self.queue.arn),
            # S3 checks that it may send to the queue when the notification is saved.
            opts=pulumi.ResourceOptions(parent=self, depends_on=[queue_policy]),
        )

        # --- the indexer Lambda --------------------------------------------------------------
        # A dependency cycle to break: distribution → upload origin (function URL) → upload
        # function → the indexer it invokes → the distribution id the indexer invalidates.
        # (1) The indexer gets an explicit, predictable name, and the upload function receives
        # that plain string (INDEXER_FUNCTION, and its IAM ARN), not the indexer's Output, so the
        # upload function does not depend on the indexer resource.  (2) The indexer's
        # PYPI_EDGE_DISTRIBUTION_ID is a deferred Output, resolved once the distribution exists
        # below: the indexer is created after the distribution, nothing waits on the indexer.
        indexer_name = function_name(project, stack, name, "indexer")
        distribution_id, resolve_distribution_id = pulumi.deferred_output()
        indexer_logs = aws.cloudwatch.LogGroup(
            f"{name}-indexer-logs",
            name=f"/aws/lambda/{indexer_name}",
            retention_in_days=args.log_retention_days,
            opts=child,
        )
        indexer_role = aws.iam.Role(
            f"{name}-indexer-role",
            assume_role_policy=_assume_role_policy("lambda.amazonaws.com"),
            description="pypi-edge indexer: reads the bucket, writes index pages",
            opts=child,
        )
        indexer_policy = aws.iam.RolePolicy(
            f"{name}-indexer-policy",
            role=indexer_role.id,
            policy=_policy(
                {
                    "Sid": "ReadObjects",
                    "Effect": "Allow",
                    "Action": "s3:GetObject",
                    "Resource": pulumi.Output.concat(self.bucket.arn, "/*"),
                },
                {
                    # Only what the indexer generates: it parses untrusted archives, so even a
                    # compromised indexer cannot replace a distribution or a yank marker.
                    "Sid": "WriteGeneratedPages",
                    "Effect": "Allow",
                    "Action": ["s3:PutObject", "s3:DeleteObject"],
                    "Resource": [
                        pulumi.Output.concat(self.bucket.arn, "/", key) for key in wiring.GENERATED_KEYS
                    ],
                },
                {
                    "Sid": "ListProjects",
                    "Effect": "Allow",
                    "Action": "s3:ListBucket",
                    "Resource": self.bucket.arn,
                },
                {
                    "Sid": "ConsumeEvents",
                    "Effect": "Allow",
                    "Action": ["sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:GetQueueAttributes"],
                    "Resource": self.queue.arn,
                },
                {
                    "Sid": "WriteLogs",
                    "Effect": "Allow",
                    "Action": ["logs:CreateLogStream", "logs:PutLogEvents"],
                    "Resource": pulumi.Output.concat(indexer_logs.arn, ":*"),
                },
            ),
            opts=child,
        )
        indexer_bundle = bundle.build_indexer_bundle(out_dir=bundle_dir, source_root=args.source_root)
        self.indexer_function = aws.lambda_.Function(
            f"{name}-indexer",
            name=indexer_name,
            description="pypi-edge indexer: S3 events in, static PEP 503/691/658 pages out",
            runtime=INDEXER_RUNTIME,
            architectures=[INDEXER_ARCHITECTURE],
            handler=INDEXER_HANDLER,
            role=indexer_role.arn,
            code=pulumi.FileArchive(_archive_path(indexer_bundle.path)),
            source_code_hash=indexer_bundle.sha256_b64,
            memory_size=INDEXER_MEMORY_MB,
            timeout=wiring.INDEXER_TIMEOUT_SECONDS,
            environment=aws.lambda_.FunctionEnvironmentArgs(
                variables={
                    "PYPI_EDGE_BUCKET": self.bucket.bucket,
                    "PYPI_EDGE_INDEX_CACHE_SECONDS": str(args.index_cache_seconds),
                    "PYPI_EDGE_DISTRIBUTION_ID": distribution_id,  # indexer/invalidate.py
                    "POWERTOOLS_SERVICE_NAME": INDEXER_SERVICE_NAME,
                }
            ),
            logging_config=aws.lambda_.FunctionLoggingConfigArgs(
                log_format="Text", log_group=indexer_logs.name
            ),
            opts=pulumi.ResourceOptions(parent=self, depends_on=[indexer_policy]),
        )
        aws.lambda_.EventSourceMapping(
            f"{name}-indexer-events",
            event_source_arn=self.queue.arn,
            function_name=self.indexer_function.arn,
            batch_size=wiring.BATCH_SIZE,
            maximum_batching_window_in_seconds=wiring.BATCH_WINDOW_SECONDS,
            function_response_types=["ReportBatchItemFailures"],
            # Lambda checks the role can read the queue when the mapping is created.
            opts=pulumi.ResourceOptions(parent=self, depends_on=[indexer_policy]),
        )

        # --- the viewer-request function, in us-east-1 whatever the stack's region ----------
        # IAM is global: the role and its policy need no region.
        edge_role = aws.iam.Role(
            f"{name}-edge-role",
            assume_role_policy=_assume_role_policy("lambda.amazonaws.com", "edgelambda.amazonaws.com"),
            description="pypi-edge viewer-request function (Lambda@Edge)",
            opts=child,
        )
        realm = args.realm
        edge_zip_name = f"{_joined('edge', stack, name)}.zip"

        def build_edge(users: Mapping[str, Any]) -> bundle.Bundle:
            return bundle.build_edge_bundle(
                dict(users), realm, seed, out_dir=bundle_dir, name=edge_zip_name, source_root=args.source_root
            )

        # The bundle holds salted hashes only, never a password: it is not secret, and an
        # unsecret archive keeps the Lambda code diffable (and plain in the state).
        edge_bundle = pulumi.Output.unsecret(pulumi.Output.from_input(args.users).apply(build_edge))
        self.edge_function = lambda_at_edge(
            f"{name}-edge",
            description="pypi-edge viewer-request: Basic auth, URL rewriting (Lambda@Edge)",
            role_arn=edge_role.arn,
            code=edge_bundle.apply(lambda b: pulumi.FileArchive(_archive_path(b.path))),
            source_code_hash=edge_bundle.apply(lambda b: b.sha256_b64),
            opts=child,
        )
        # Logs: Lambda@Edge writes to /aws/lambda/us-east-1.<name> in whichever region ran it.
        edge_log_groups = pulumi.Output.all(partition, account_id, self.edge_function.name).apply(
            lambda a: [
                f"arn:{a[0]}:logs:*:{a[1]}:log-group:/aws/lambda/us-east-1.{a[2]}",
                f"arn:{a[0]}:logs:*:{a[1]}:log-group:/aws/lambda/us-east-1.{a[2]}:*",
                f"arn:{a[0]}:logs:{EDGE_REGION}:{a[1]}:log-group:/aws/lambda/{a[2]}",
                f"arn:{a[0]}:logs:{EDGE_REGION}:{a[1]}:log-group:/aws/lambda/{a[2]}:*",
            ]
        )
        aws.iam.RolePolicy(
            f"{name}-edge-logs",
            role=edge_role.id,
            policy=_policy(
                {
                    "Sid": "WriteEdgeLogs",
                    "Effect": "Allow",
                    "Action": ["logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents"],
                    "Resource": edge_log_groups,
                }
            ),
            opts=child,
        )

        self.fallback = None
        if args.fallback_index_url:
            self.fallback = fallback_redirect.FallbackRedirect(
                f"{name}-fallback",
                fallback_redirect.FallbackRedirectArgs(
                    url=args.fallback_index_url,
                    cache_seconds=args.fallback_cache_seconds,
                    bundle_dir=bundle_dir,
                    bundle_name=f"{_joined('fallback', stack, name)}.zip",
                    source_root=args.source_root,
                ),
                child,
            )

        # --- CloudFront --------------------------------------------------------------------
        oac = aws.cloudfront.OriginAccessControl(
            f"{name}-oac",
            description="pypi-edge: CloudFront signs every request to the bucket",
            origin_access_control_origin_type="s3",
            signing_behavior="always",  # also replaces any viewer Authorization header
            signing_protocol="sigv4",
            opts=child,
        )
        # The viewer-request function has already rewritten /simple/<p>/ to /<p>/index.html or
        # index.json (by Accept) when the cache is consulted, so the key is the URI alone: no
        # headers (in particular never Authorization), cookies or query strings.
        cache_policy = aws.cloudfront.CachePolicy(
            f"{name}-cache",
            comment="pypi-edge: honour the objects' Cache-Control; key = URI",
            # The numbers the local stand-in's cache uses too (infra.wiring, with the TTL rules).
            min_ttl=wiring.CACHE_MIN_TTL_SECONDS,
            default_ttl=args.index_cache_seconds,
            max_ttl=wiring.CACHE_MAX_TTL_SECONDS,
            parameters_in_cache_key_and_forwarded_to_origin=aws.cloudfront.CachePolicyParametersInCacheKeyAndForwardedToOriginArgs(
                cookies_config=aws.cloudfront.CachePolicyParametersInCacheKeyAndForwardedToOriginCookiesConfigArgs(
                    cookie_behavior="none"
                ),
                headers_config=aws.cloudfront.CachePolicyParametersInCacheKeyAndForwardedToOriginHeadersConfigArgs(
                    header_behavior="none"
                ),
                query_strings_config=aws.cloudfront.CachePolicyParametersInCacheKeyAndForwardedToOriginQueryStringsConfigArgs(
                    query_string_behavior="none"
                ),
                enable_accept_encoding_brotli=True,
                enable_accept_encoding_gzip=True,
            ),
            opts=child,
        )
        headers_policy = aws.cloudfront.ResponseHeadersPolicy(
            f"{name}-headers",
            comment="pypi-edge: security headers",
            security_headers_config=aws.cloudfront.ResponseHeadersPolicySecurityHeadersConfigArgs(
                strict_transport_security=aws.cloudfront.ResponseHeadersPolicySecurityHeadersConfigStrictTransportSecurityArgs(
                    access_control_max_age_sec=HSTS_SECONDS,
                    include_subdomains=True,
                    preload=False,
                    override=True,
                ),
                content_type_options=aws.cloudfront.ResponseHeadersPolicySecurityHeadersConfigContentTypeOptionsArgs(
                    override=True
                ),
                frame_options=aws.cloudfront.ResponseHeadersPolicySecurityHeadersConfigFrameOptionsArgs(
                    frame_option="DENY", override=True
                ),
                referrer_policy=aws.cloudfront.ResponseHeadersPolicySecurityHeadersConfigReferrerPolicyArgs(
                    referrer_policy="no-referrer", override=True
                ),
            ),
            # Vary: Accept (infra.wiring.RESPONSE_HEADERS says why).
            custom_headers_config=aws.cloudfront.ResponseHeadersPolicyCustomHeadersConfigArgs(
                items=[
                    aws.cloudfront.ResponseHeadersPolicyCustomHeadersConfigItemArgs(
                        header=header, value=value, override=True
                    )
                    for header, value in wiring.RESPONSE_HEADERS.items()
                ]
            ),
            opts=child,
        )
        self.upload = UploadEndpoint(
            f"{name}-upload",
            UploadEndpointArgs(
                bucket_name=self.bucket.bucket,
                bucket_arn=self.bucket.arn,
                users=args.users,
                realm=realm,
                credentials_seed=seed,
                indexer_function_name=indexer_name,
                edge_function_arn=self.edge_function.qualified_arn,
                function_name=function_name(project, stack, name, "upload"),
                response_headers_policy_id=headers_policy.id,
                log_retention_days=args.log_retention_days,
                source_root=args.source_root,
                bundle_dir=bundle_dir,
            ),
            opts=child,
        )
        if args.domain:
            certificate = aws.cloudfront.DistributionViewerCertificateArgs(
                acm_certificate_arn=args.certificate_arn,
                ssl_support_method="sni-only",
                minimum_protocol_version="TLSv1.2_2021",
            )
        else:
            certificate = aws.cloudfront.DistributionViewerCertificateArgs(
                cloudfront_default_certificate=True
            )
        self.distribution = aws.cloudfront.Distribution(
            f"{name}-cdn",
            comment=f"pypi-edge {project}/{stack}",
            enabled=True,
            http_version="http2and3",
            is_ipv6_enabled=True,
            price_class=args.price_class,
            aliases=[args.domain] if args.domain else None,
            origins=[
                aws.cloudfront.DistributionOriginArgs(
                    origin_id=ORIGIN_ID,
                    domain_name=self.bucket.bucket_regional_domain_name,
                    origin_access_control_id=oac.id,
                ),
                self.upload.origin,
            ],
            ordered_cache_behaviors=self.upload.cache_behaviors,
            default_cache_behavior=aws.cloudfront.DistributionDefaultCacheBehaviorArgs(
                target_origin_id=ORIGIN_ID,
                viewer_protocol_policy="redirect-to-https",
                allowed_methods=ALLOWED_METHODS,
                cached_methods=ALLOWED_METHODS,
                compress=True,
                cache_policy_id=cache_policy.id,
                response_headers_policy_id=headers_policy.id,
                lambda_function_associations=[
                    aws.cloudfront.DistributionDefaultCacheBehaviorLambdaFunctionAssociationArgs(
                        event_type="viewer-request",
                        lambda_arn=self.edge_function.qualified_arn,
                        include_body=False,
                    ),
                    *fallback_redirect.associations(self.fallback),
                ],
            ),
            custom_error_responses=[
                aws.cloudfront.DistributionCustomErrorResponseArgs(error_code=code, error_caching_min_ttl=ttl)
                for code, ttl in ERROR_CACHING_SECONDS.items()
            ],
            restrictions=aws.cloudfront.DistributionRestrictionsArgs(
                geo_restriction=aws.cloudfront.DistributionRestrictionsGeoRestrictionArgs(
                    restriction_type="none"
                )
            ),
            viewer_certificate=certificate,
            opts=child,
        )

        resolve_distribution_id(self.distribution.id)
        allow_invalidations(name, indexer_role, self.distribution, child)

        # --- who may read the bucket: this distribution, over TLS -----------------------------
        objects = pulumi.Output.concat(self.bucket.arn, "/*")
        from_this_distribution = {"StringEquals": {"AWS:SourceArn": self.distribution.arn}}
        aws.s3.BucketPolicy(
            f"{name}-bucket-policy",
            bucket=bucket_id,
            policy=_policy(
                {
                    "Sid": "DenyInsecureTransport",
                    "Effect": "Deny",
                    "Principal": "*",
                    "Action": "s3:*",
                    "Resource": [self.bucket.arn, objects],
                    "Condition": {"Bool": {"aws:SecureTransport": "false"}},
                },
                {
                    "Sid": "AllowCloudFrontReadObjects",
                    "Effect": "Allow",
                    "Principal": {"Service": "cloudfront.amazonaws.com"},
                    "Action": "s3:GetObject",
                    "Resource": objects,
                    "Condition": from_this_distribution,
                },
                {
                    # With ListBucket a missing key is a 404, not a 403 (uv's first-index
                    # strategy moves on only after a 404).
                    "Sid": "AllowCloudFrontListBucket",
                    "Effect": "Allow",
                    "Principal": {"Service": "cloudfront.amazonaws.com"},
                    "Action": "s3:ListBucket",
                    "Resource": self.bucket.arn,
                    "Condition": from_this_distribution,
                },
            ),
            opts=pulumi.ResourceOptions(parent=self, depends_on=[public_access, ownership]),
        )

        # --- outputs -------------------------------------------------------------------------
        self.host = pulumi.Output.from_input(args.domain) if args.domain else self.distribution.domain_name
        self.index_url = pulumi.Output.concat("https://", self.host, "/simple/")
        # The first user name (not secret once alone; the password never leaves the config).
        first_user = pulumi.Output.unsecret(pulumi.Output.from_input(args.users).apply(example_user))
        self.pip_install = pulumi.Output.concat(
            "pip install --extra-index-url https://", first_user, "@", self.host, "/simple/ <package>"
        )
        self.bucket_name = self.bucket.bucket
        self.distribution_id = self.distribution.id
        self.edge_function_version_arn = self.edge_function.qualified_arn
        self.edge_function_name = self.edge_function.name
        self.register_outputs(
            {
                "bucket_name": self.bucket_name,
                "distribution_id": self.distribution_id,
                "distribution_domain_name": self.distribution.domain_name,
                "host": self.host,
                "index_url": self.index_url,
                "pip_install": self.pip_install,
                "edge_function_version_arn": self.edge_function_version_arn,
                "edge_function_name": self.edge_function_name,
                "indexer_function_name": self.indexer_function.name,
                "upload_function_name": self.upload.function.name,
                "queue_url": self.queue.url,
                "dead_letter_queue_url": self.dead_letter_queue.url,
            }
        )
