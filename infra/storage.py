"""`Storage`: the private bucket and the S3 → SQS event wiring the indexer consumes.

    bucket (stack region, private, versioned, SSE-S3) ──S3 event──▶ SQS queue ──▶ dead-letter queue

The notification, the queues and their batching are `infra.wiring`'s description, which the local
stack builds too, so what runs on a laptop is what runs in AWS.  Who may *read* the bucket (the
distribution, over TLS) is the bucket policy, made by `infra.distribution` once the distribution
exists; it must be applied after `access_settings`.
"""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from infra import common, wiring

TYPE_TOKEN = "pypi-edge:index:Storage"
ABORT_INCOMPLETE_UPLOADS_DAYS = 7


def expire_prefix(rule_id: str, prefix: str, days: int) -> aws.s3.BucketLifecycleConfigurationRuleArgs:
    """A lifecycle rule that removes what is under a private prefix `days` after it was written,
    and its noncurrent versions (the delete marker's predecessor) a day later."""
    return aws.s3.BucketLifecycleConfigurationRuleArgs(
        id=rule_id,
        status="Enabled",
        filter=aws.s3.BucketLifecycleConfigurationRuleFilterArgs(prefix=prefix),
        expiration=aws.s3.BucketLifecycleConfigurationRuleExpirationArgs(days=days),
        noncurrent_version_expiration=aws.s3.BucketLifecycleConfigurationRuleNoncurrentVersionExpirationArgs(
            noncurrent_days=1
        ),
    )


@dataclass
class StorageArgs:
    retain_on_delete: bool = True
    """Keep the bucket (and its versioning, encryption, public-access block) on `pulumi destroy`."""
    noncurrent_version_expiry_days: int = 90
    """Days an overwritten or deleted object version is kept before S3 expires it."""


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


class Storage(pulumi.ComponentResource):
    """The packages' bucket, its event queue and dead-letter queue, in the stack's region."""

    bucket: aws.s3.Bucket
    queue: aws.sqs.Queue
    dead_letter_queue: aws.sqs.Queue
    access_settings: list[pulumi.Resource]
    """Ownership controls and the public-access block: a bucket policy waits for them."""

    def __init__(self, name: str, args: StorageArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__(TYPE_TOKEN, name, None, opts)
        moved = common.moved_from(opts)
        child = pulumi.ResourceOptions(parent=self, aliases=moved)
        account_id = common.caller(self).account_id

        # Retained by default: `pulumi destroy` leaves the packages (and the settings that keep
        # them private and versioned) in place.  Deleting BucketVersioning would suspend it.
        retain = args.retain_on_delete
        kept = pulumi.ResourceOptions(parent=self, aliases=moved, retain_on_delete=retain)
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
        self.access_settings = [public_access, ownership]
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
                        days_after_initiation=ABORT_INCOMPLETE_UPLOADS_DAYS
                    ),
                ),
                # Trusted publishing's replay markers (upload/oidc.py S3TokenLog): one per ID token
                # exchanged, needed only while that token could still be presented.  S3 computes
                # an expiration "by adding the number of days specified in the rule to the object
                # creation time and rounding the resulting time to the next day midnight UTC"
                # ("Lifecycle configuration elements", S3 User Guide), so a marker lives at least
                # JTI_RETENTION_DAYS x 24 h, longer than any token upload/oidc.py accepts.  Its
                # noncurrent version goes a day later; where this rule and the one above overlap,
                # "the shorter expiration policy is honored" ("How Amazon S3 handles conflicts in
                # lifecycle configurations", S3 User Guide).
                expire_prefix("expire-oidc-replay-markers", wiring.JTI_PREFIX, wiring.JTI_RETENTION_DAYS),
                # Staged uploads (upload/remote.py) that were never finished: removed a day after
                # they were written (rounded up to the next midnight UTC, as above), their
                # noncurrent versions (a finished one's delete marker) a day later.  A URL is
                # valid for an hour, so no transfer in flight is cut short.
                expire_prefix("expire-staged-uploads", wiring.STAGING_PREFIX, wiring.STAGING_RETENTION_DAYS),
            ],
            opts=pulumi.ResourceOptions(
                parent=self, aliases=moved, retain_on_delete=retain, depends_on=[versioning]
            ),
        )

        # --- the S3 → SQS wiring (infra.wiring, shared with the local stack) ------------------
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
            opts=pulumi.ResourceOptions(parent=self, aliases=moved, depends_on=[queue_policy]),
        )

        self.register_outputs(
            {
                "bucket_name": self.bucket.bucket,
                "bucket_arn": self.bucket.arn,
                "queue_url": self.queue.url,
                "dead_letter_queue_url": self.dead_letter_queue.url,
            }
        )
