"""Rules AWS enforces (or strongly recommends) at deploy time, checked on what the program registers.

Mocks cannot reject a configuration the way AWS would, so each rule a first `pulumi up` could trip
over is asserted here on the real values, with the documentation that states it.
"""

from __future__ import annotations

import json
from itertools import permutations

import pytest

from tests.pulumi_helpers import STACK_REGION, ProgramRun, run_program

USERS = {"alice": "correct horse battery staple"}
T_FUNCTION = "aws:lambda/function:Function"
T_QUEUE = "aws:sqs/queue:Queue"


@pytest.fixture(scope="module")
def run() -> ProgramRun:
    return run_program({"users": USERS})


def function(run: ProgramRun, suffix: str):
    return run.one(T_FUNCTION, suffix)


def test_queue_visibility_timeout_is_at_least_six_times_the_indexer_timeout(run: ProgramRun) -> None:
    """Lambda developer guide, "Creating and configuring an Amazon SQS event source mapping": set
    the queue's visibility timeout to at least six times the function's timeout; a function
    timeout above the visibility timeout makes CreateEventSourceMapping fail."""
    timeout = function(run, "-indexer").inputs["timeout"]
    assert run.one(T_QUEUE, "-events").inputs["visibilityTimeoutSeconds"] >= 6 * timeout


def test_a_batch_of_more_than_ten_messages_has_a_batching_window(run: ProgramRun) -> None:
    """Lambda API reference, CreateEventSourceMapping: with a BatchSize above 10 for SQS,
    MaximumBatchingWindowInSeconds must be at least 1; BatchSize at most 10,000, the window at
    most 300 seconds."""
    esm = run.one("aws:lambda/eventSourceMapping:EventSourceMapping").inputs
    assert 1 <= esm["batchSize"] <= 10_000 and 0 <= esm["maximumBatchingWindowInSeconds"] <= 300
    if esm["batchSize"] > 10:
        assert esm["maximumBatchingWindowInSeconds"] >= 1


def test_the_dead_letter_queue_keeps_messages_longer_than_the_queue(run: ProgramRun) -> None:
    """SQS developer guide, "Using dead-letter queues": a message's expiry counts from its original
    enqueue time, so the dead-letter queue's retention must exceed the source queue's, or
    redriven messages expire on arrival.  14 days is the SQS maximum."""
    dlq = run.one(T_QUEUE, "-dlq").inputs
    queue = run.one(T_QUEUE, "-events").inputs
    assert dlq["messageRetentionSeconds"] > queue["messageRetentionSeconds"]
    assert dlq["messageRetentionSeconds"] <= 14 * 24 * 3600
    assert json.loads(queue["redrivePolicy"])["maxReceiveCount"] >= 1
    assert queue["receiveWaitTimeSeconds"] <= 20  # ReceiveMessageWaitTimeSeconds: 0 to 20


def test_bucket_queues_and_indexer_share_the_stacks_region(run: ProgramRun) -> None:
    """S3 user guide, event notifications: the destination queue must be in the bucket's Region;
    SQS developer guide, "Configuring an Amazon SQS queue to trigger an AWS Lambda function": the
    queue and the function must be in the same Region; a dead-letter queue must be in the same
    account and Region as its source queue."""
    regional = [
        run.one("aws:s3/bucket:Bucket"),
        run.one(T_QUEUE, "-events"),
        run.one(T_QUEUE, "-dlq"),
        function(run, "-indexer"),
        run.one("aws:s3/bucketNotification:BucketNotification"),
        run.one("aws:lambda/eventSourceMapping:EventSourceMapping"),
    ]
    assert {run.region(r) for r in regional} == {STACK_REGION}


def test_notification_suffix_filters_never_overlap(run: ProgramRun) -> None:
    """S3 user guide, "Configuring event notifications using object key name filtering": two
    configurations for the same event type may not have overlapping suffixes (one a suffix of
    the other); S3 refuses the whole notification configuration."""
    queues = run.one("aws:s3/bucketNotification:BucketNotification").inputs["queues"]
    for a, b in permutations(queues, 2):
        if set(a["events"]) & set(b["events"]):
            assert not a["filterSuffix"].endswith(b["filterSuffix"]), (a, b)
    assert all(len([r for r in ("filterPrefix", "filterSuffix") if q.get(r)]) == 1 for q in queues)


def test_the_edge_function_uses_no_lambda_feature_lambda_at_edge_refuses(run: ProgramRun) -> None:
    """CloudFront developer guide, "Restrictions on Lambda@Edge" → Lambda features: no runtime
    management other than Auto, no VPC, no environment variables, no layers, no provisioned
    concurrency, no container images; x86_64 only.  Viewer triggers: 128 MB, 5 s ("Quotas on
    Lambda@Edge")."""
    fn = function(run, "-edge").inputs
    for refused in ("vpcConfig", "environment", "layers", "imageUri", "runtimeManagementConfig"):
        assert refused not in fn, refused
    assert fn.get("packageType", "Zip") == "Zip"
    assert fn["architectures"] == ["x86_64"]
    assert fn["memorySize"] <= 128 and fn["timeout"] <= 5
    assert not run.of_type("aws:lambda/provisionedConcurrencyConfig:ProvisionedConcurrencyConfig")
