"""`Indexer`: the Lambda that turns bucket events into static index pages.

    SQS queue ──batches (ReportBatchItemFailures)──▶ indexer Lambda (stack region, arm64)
        ├──▶ S3: GetObject, ListBucket; Put/Delete only the pages and .metadata it generates
        └──▶ CloudFront: CreateInvalidation on this distribution, for the pages it changed

Each deploy of new indexer code also invokes it once with `{"action": "init"}` (`init_invocation`):
the pages' static assets, and an empty root index in a bucket that has none.

It is created last: it invalidates the distribution, so it takes the distribution's id and ARN.
The upload function invokes it by name, and that name is chosen up front (`function_name`, a plain
value), so nothing before the distribution has to wait for this function: that is what keeps
distribution → upload origin → upload function → indexer → distribution from being a cycle.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pulumi
import pulumi_aws as aws

from infra import bundle, common, wiring

TYPE_TOKEN = "pypi-edge:index:Indexer"

# The same Python as the edge on arm64 (Lambda runtimes page: python3.13 on Amazon Linux 2023,
# deprecation 2029-06-30); its dependency layer is built for exactly that platform (infra.bundle).
RUNTIME = f"python{bundle.INDEXER_PYTHON_VERSION}"
ARCHITECTURE = "arm64"
MEMORY_MB = 512
HANDLER = "indexer.handler.handler"
SERVICE_NAME = "pypi-edge-indexer"


@dataclass
class IndexerArgs:
    function_name: pulumi.Input[str]
    """Chosen by the caller, so the upload function can name it before it exists."""
    bucket_name: pulumi.Input[str]
    bucket_arn: pulumi.Input[str]
    queue_arn: pulumi.Input[str]
    distribution_id: pulumi.Input[str]
    distribution_arn: pulumi.Input[str]
    public_url: pulumi.Input[str] = ""
    """https://<domain or CloudFront name>: the pages show it in their install commands."""
    index_cache_seconds: int = 60
    log_retention_days: int = 30
    source_root: Path = bundle.REPO_ROOT
    bundle_dir: Path | None = None


class Indexer(pulumi.ComponentResource):
    function: aws.lambda_.Function
    role: aws.iam.Role

    def __init__(self, name: str, args: IndexerArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__(TYPE_TOKEN, name, None, opts)
        moved = common.moved_from(opts)
        child = pulumi.ResourceOptions(parent=self, aliases=moved)
        bundle_dir = args.bundle_dir or args.source_root / ".bundles"

        logs = common.function_log_group(
            f"{name}-indexer-logs", args.function_name, args.log_retention_days, child
        )
        self.role = common.function_role(
            f"{name}-indexer-role", "pypi-edge indexer: reads the bucket, writes index pages", child
        )
        policy = aws.iam.RolePolicy(
            f"{name}-indexer-policy",
            role=self.role.id,
            policy=common.policy(
                {
                    "Sid": "ReadObjects",
                    "Effect": "Allow",
                    "Action": "s3:GetObject",
                    "Resource": pulumi.Output.concat(args.bucket_arn, "/*"),
                },
                {
                    # Only what the indexer generates: it parses untrusted archives, so even a
                    # compromised indexer cannot replace a distribution or a yank marker.
                    "Sid": "WriteGeneratedPages",
                    "Effect": "Allow",
                    "Action": ["s3:PutObject", "s3:DeleteObject"],
                    "Resource": [
                        pulumi.Output.concat(args.bucket_arn, "/", key) for key in wiring.GENERATED_KEYS
                    ],
                },
                {
                    "Sid": "ListProjects",
                    "Effect": "Allow",
                    "Action": "s3:ListBucket",
                    "Resource": args.bucket_arn,
                },
                {
                    "Sid": "ConsumeEvents",
                    "Effect": "Allow",
                    "Action": ["sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:GetQueueAttributes"],
                    "Resource": args.queue_arn,
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
        # This distribution's cache, and no other distribution's (CreateInvalidation is authorized
        # per distribution ARN; CloudFront API permissions reference).
        aws.iam.RolePolicy(
            f"{name}-indexer-invalidate",
            role=self.role.id,
            policy=common.policy(
                {
                    "Sid": "InvalidateChangedPages",
                    "Effect": "Allow",
                    "Action": "cloudfront:CreateInvalidation",
                    "Resource": args.distribution_arn,
                }
            ),
            opts=child,
        )
        built = bundle.build_indexer_bundle(out_dir=bundle_dir, source_root=args.source_root)
        self.function = aws.lambda_.Function(
            f"{name}-indexer",
            name=args.function_name,
            description="pypi-edge indexer: S3 events in, static PEP 503/691/658 pages out",
            runtime=RUNTIME,
            architectures=[ARCHITECTURE],
            handler=HANDLER,
            role=self.role.arn,
            code=pulumi.FileArchive(common.archive_path(built.path)),
            source_code_hash=built.sha256_b64,
            memory_size=MEMORY_MB,
            timeout=wiring.INDEXER_TIMEOUT_SECONDS,
            environment=aws.lambda_.FunctionEnvironmentArgs(
                variables={
                    "PYPI_EDGE_BUCKET": args.bucket_name,
                    "PYPI_EDGE_INDEX_CACHE_SECONDS": str(args.index_cache_seconds),
                    "PYPI_EDGE_DISTRIBUTION_ID": args.distribution_id,  # indexer/invalidate.py
                    "PYPI_EDGE_PUBLIC_URL": args.public_url,  # indexer/build.py: the pages' commands
                    "POWERTOOLS_SERVICE_NAME": SERVICE_NAME,
                }
            ),
            logging_config=aws.lambda_.FunctionLoggingConfigArgs(log_format="Text", log_group=logs.name),
            opts=pulumi.ResourceOptions(parent=self, aliases=moved, depends_on=[policy]),
        )
        aws.lambda_.EventSourceMapping(
            f"{name}-indexer-events",
            event_source_arn=args.queue_arn,
            function_name=self.function.arn,
            batch_size=wiring.BATCH_SIZE,
            maximum_batching_window_in_seconds=wiring.BATCH_WINDOW_SECONDS,
            function_response_types=["ReportBatchItemFailures"],
            # Lambda checks the role can read the queue when the mapping is created.
            opts=pulumi.ResourceOptions(parent=self, aliases=moved, depends_on=[policy]),
        )
        self.init_invocation = init_invocation(name, self.function, args.bucket_name, built.sha256_b64, child)
        self.register_outputs({"function_name": self.function.name, "role_arn": self.role.arn})


def init_invocation(
    name: str,
    function: aws.lambda_.Function,
    bucket_name: pulumi.Input[str],
    code_sha256: str,
    opts: pulumi.ResourceOptions,
) -> aws.lambda_.Invocation:
    """Run the indexer's `init` action (indexer/handler.py) once per deploy of new indexer code:
    it writes the pages' static assets the new code's pages name, and an empty root index if the
    bucket has none (so `/simple/` answers 200 with an empty list from the first `pulumi up`).
    Both are conditional writes: an existing root is never touched.

    `aws.lambda_.Invocation` invokes the function when the resource is created or replaced, and
    replaces it when its `triggers` change (lifecycle scope CREATE_ONLY, the default: nothing is
    invoked on destroy).  The trigger is the bundle's hash, which covers indexer/static/.  A
    failed invocation fails the deploy, which then says why.
    """
    return aws.lambda_.Invocation(
        f"{name}-indexer-init",
        function_name=function.name,
        input=pulumi.Output.json_dumps({"action": "init", "bucket": bucket_name}),
        triggers={"indexer_code_sha256": code_sha256},
        opts=opts,
    )
