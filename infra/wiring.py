"""The S3 → SQS → indexer wiring, described once.

The Pulumi component (`infra.component`) and the local stack (`local`) both build the bucket
notification, the queue, the dead-letter queue and the batching from these values, so what
runs on this machine is what runs in AWS.  No Pulumi import here: the local stack uses it too.
"""

from __future__ import annotations

from typing import Any

# What the indexer reacts to.  Generated outputs (index.html, index.json, *.metadata) end in
# none of these suffixes, so the indexer's own writes never come back to it as events.
NOTIFICATION_EVENTS: tuple[str, ...] = ("s3:ObjectCreated:*", "s3:ObjectRemoved:*")
# ".project-status" is the PEP 792 status marker (indexer/status.py).
WATCHED_SUFFIXES: tuple[str, ...] = (".whl", ".tar.gz", ".zip", ".yanked", ".project-status")

# Keys the indexer writes and deletes (IAM resource patterns, relative to the bucket): the root
# and project pages and PEP 658 metadata.  Distributions and .yanked markers are not among them.
GENERATED_KEYS: tuple[str, ...] = ("index.html", "index.json", "*/index.html", "*/index.json", "*.metadata")

# Methods CloudFront lets through to the viewer-request function; any other gets CloudFront's
# own 403 (the local stack's CloudFront stand-in does the same).
VIEWER_METHODS: tuple[str, ...] = ("GET", "HEAD")

# Queue behaviour.  The visibility timeout must exceed the indexer's timeout (AWS requires
# at least the function timeout for an event source mapping; 6x is their recommendation).
INDEXER_TIMEOUT_SECONDS = 120
QUEUE_VISIBILITY_TIMEOUT_SECONDS = 6 * INDEXER_TIMEOUT_SECONDS
QUEUE_MESSAGE_RETENTION_SECONDS = 4 * 24 * 3600
DLQ_MESSAGE_RETENTION_SECONDS = 14 * 24 * 3600  # the SQS maximum: time to notice and redrive
MAX_RECEIVE_COUNT = 5
# Batching: a burst of uploads (a CI job publishing 20 wheels) becomes one rebuild per project.
BATCH_SIZE = 100
BATCH_WINDOW_SECONDS = 5


def redrive_policy(dlq_arn: str) -> dict[str, Any]:
    return {"deadLetterTargetArn": dlq_arn, "maxReceiveCount": MAX_RECEIVE_COUNT}


def queue_policy(queue_arn: str, bucket_arn: str, bucket_owner: str | None = None) -> dict[str, Any]:
    """Only this bucket (in this account, when known) may send to the queue."""
    condition: dict[str, Any] = {"ArnEquals": {"aws:SourceArn": bucket_arn}}
    if bucket_owner:
        condition["StringEquals"] = {"aws:SourceAccount": bucket_owner}
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "AllowBucketNotifications",
                "Effect": "Allow",
                "Principal": {"Service": "s3.amazonaws.com"},
                "Action": "sqs:SendMessage",
                "Resource": queue_arn,
                "Condition": condition,
            }
        ],
    }


def queue_configurations(queue_arn: str) -> list[dict[str, Any]]:
    """One S3 queue configuration per watched suffix (S3 filters take a single suffix each).

    Returned in the boto3 `put_bucket_notification_configuration` shape; the Pulumi component
    maps the same list onto `aws.s3.BucketNotificationQueueArgs`.
    """
    return [
        {
            "Id": f"pypi-edge-indexer{suffix.replace('.', '-')}",
            "QueueArn": queue_arn,
            "Events": list(NOTIFICATION_EVENTS),
            "Filter": {"Key": {"FilterRules": [{"Name": "suffix", "Value": suffix}]}},
        }
        for suffix in WATCHED_SUFFIXES
    ]
