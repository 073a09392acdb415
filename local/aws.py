"""Create the bucket, queues and notification on the local S3/SQS exactly as Pulumi does in AWS.

Everything about the wiring comes from `infra.wiring`, which the Pulumi component uses too.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import boto3

from infra import wiring

REGION = "us-east-1"
# moto accepts any credentials; fixed ones keep real AWS credentials in the environment out of it.
CREDENTIALS = {"aws_access_key_id": "local", "aws_secret_access_key": "local"}


def client(service: str, endpoint: str) -> Any:
    return boto3.client(service, endpoint_url=endpoint, region_name=REGION, **CREDENTIALS)


@dataclass(frozen=True)
class Resources:
    bucket: str
    queue_url: str
    queue_arn: str
    dlq_url: str


def provision(endpoint: str, bucket: str) -> Resources:
    s3 = client("s3", endpoint)
    sqs = client("sqs", endpoint)
    s3.create_bucket(Bucket=bucket)
    # Versioning, as in AWS: an overwrite or delete never loses published bytes.
    s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})

    dlq_url = sqs.create_queue(
        QueueName=f"{bucket}-indexer-dlq",
        Attributes={"MessageRetentionPeriod": str(wiring.DLQ_MESSAGE_RETENTION_SECONDS)},
    )["QueueUrl"]
    dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq_url, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    queue_url = sqs.create_queue(
        QueueName=f"{bucket}-indexer",
        Attributes={
            "VisibilityTimeout": str(wiring.QUEUE_VISIBILITY_TIMEOUT_SECONDS),
            "MessageRetentionPeriod": str(wiring.QUEUE_MESSAGE_RETENTION_SECONDS),
            "RedrivePolicy": json.dumps(wiring.redrive_policy(dlq_arn)),
        },
    )["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    sqs.set_queue_attributes(
        QueueUrl=queue_url,
        Attributes={"Policy": json.dumps(wiring.queue_policy(queue_arn, f"arn:aws:s3:::{bucket}"))},
    )
    s3.put_bucket_notification_configuration(
        Bucket=bucket,
        NotificationConfiguration={"QueueConfigurations": wiring.queue_configurations(queue_arn)},
    )
    return Resources(bucket=bucket, queue_url=queue_url, queue_arn=queue_arn, dlq_url=dlq_url)
