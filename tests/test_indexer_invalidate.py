"""CloudFront invalidation after a rebuild: exactly the changed paths, and never a lost rebuild."""

from __future__ import annotations

import json
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError, EndpointConnectionError

import indexer.handler
from indexer import invalidate
from indexer.handler import handler
from tests.conftest import BUCKET
from tests.distributions import make_wheel


@pytest.mark.parametrize(
    ("projects", "root_changed", "expected"),
    [
        (["demo"], False, ["/demo/*"]),
        (["demo"], True, ["/demo/*", "/index.*"]),
        (["zeta", "alpha", "zeta"], False, ["/alpha/*", "/zeta/*"]),
        ([], True, ["/index.*"]),
        ([], False, []),
    ],
)
def test_one_wildcard_path_per_project_and_one_for_the_root(projects, root_changed, expected):
    assert invalidate.paths(projects, root_changed) == expected


class Recorder:
    """A CloudFront client that records create_invalidation calls (or fails with `error`)."""

    def __init__(self, error: Exception | None = None) -> None:
        self.calls: list[dict[str, Any]] = []
        self.error = error

    def create_invalidation(self, **kwargs: Any) -> dict[str, Any]:
        self.calls.append(kwargs)
        if self.error:
            raise self.error
        return {"Invalidation": {"Id": f"I{len(self.calls)}"}}


def test_without_a_distribution_id_nothing_is_sent():
    client = Recorder()
    assert invalidate.invalidate(["/demo/*"], client=client) is None
    assert client.calls == []


def test_no_paths_sends_nothing():
    client = Recorder()
    assert invalidate.invalidate([], distribution_id="E1", client=client) is None
    assert client.calls == []


def test_invalidation_reaches_cloudfront_api(aws_env):
    from moto import mock_aws

    with mock_aws():
        cloudfront = boto3.client("cloudfront", region_name="us-east-1")
        dist_id = cloudfront.create_distribution(
            DistributionConfig={
                "CallerReference": "t",
                "Comment": "",
                "Enabled": True,
                "Origins": {
                    "Quantity": 1,
                    "Items": [
                        {
                            "Id": "o",
                            "DomainName": "b.s3.amazonaws.com",
                            "S3OriginConfig": {"OriginAccessIdentity": ""},
                        }
                    ],
                },
                "DefaultCacheBehavior": {"TargetOriginId": "o", "ViewerProtocolPolicy": "allow-all"},
            }
        )["Distribution"]["Id"]
        invalidation_id = invalidate.invalidate(
            ["/demo/*", "/index.*"], distribution_id=dist_id, client=cloudfront
        )
        got = cloudfront.get_invalidation(DistributionId=dist_id, Id=invalidation_id)["Invalidation"]
    assert got["InvalidationBatch"]["Paths"]["Items"] == ["/demo/*", "/index.*"]


def test_each_call_has_its_own_caller_reference():
    client = Recorder()
    invalidate.invalidate(["/a/*"], distribution_id="E1", client=client)
    invalidate.invalidate(["/a/*"], distribution_id="E1", client=client)
    refs = [c["InvalidationBatch"]["CallerReference"] for c in client.calls]
    assert len(set(refs)) == 2


@pytest.mark.parametrize(
    "error",
    [
        ClientError(
            {"Error": {"Code": "TooManyInvalidationsInProgress", "Message": "slow down"}},
            "CreateInvalidation",
        ),
        ClientError({"Error": {"Code": "AccessDenied", "Message": "no"}}, "CreateInvalidation"),
        EndpointConnectionError(endpoint_url="https://cloudfront.amazonaws.com"),
    ],
)
def test_a_failed_invalidation_is_logged_and_not_raised(error, caplog):
    client = Recorder(error)
    assert invalidate.invalidate(["/demo/*"], distribution_id="E1", client=client) is None
    [warning] = [r for r in caplog.records if r.levelname == "WARNING"]
    assert warning.paths == ["/demo/*"]
    assert warning.distribution_id == "E1"
    assert "invalidation failed" in warning.getMessage()


# --- the handler: one invalidation per invocation, after the pages are written ------------------


@pytest.fixture
def lambda_env(s3: Any, monkeypatch: pytest.MonkeyPatch) -> Recorder:
    client = Recorder()
    monkeypatch.setattr(indexer.handler, "s3_client", lambda: s3)
    monkeypatch.setattr(invalidate, "cloudfront_client", lambda: client)
    monkeypatch.setenv(invalidate.DISTRIBUTION_ENV, "EDIST")
    return client


def s3_event(*keys: str) -> dict[str, Any]:
    return {
        "Records": [
            {"eventSource": "aws:s3", "s3": {"bucket": {"name": BUCKET}, "object": {"key": key}}}
            for key in keys
        ]
    }


def sqs_event(*keys: str) -> dict[str, Any]:
    return {
        "Records": [
            {
                "messageId": f"m{i}",
                "receiptHandle": f"r{i}",
                "body": json.dumps(s3_event(key)),
                "attributes": {},
                "messageAttributes": {},
                "md5OfBody": "",
                "eventSource": "aws:sqs",
                "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:q",
                "awsRegion": "us-east-1",
            }
            for i, key in enumerate(keys)
        ]
    }


def upload(s3: Any, project: str, version: str) -> str:
    filename, data, _ = make_wheel(project, version)
    s3.put_object(Bucket=BUCKET, Key=f"{project}/{filename}", Body=data)
    return f"{project}/{filename}"


def sent_paths(client: Recorder) -> list[list[str]]:
    return [c["InvalidationBatch"]["Paths"]["Items"] for c in client.calls]


def test_a_batch_sends_one_invalidation_for_its_projects_and_the_root(s3, lambda_env):
    keys = [upload(s3, "alpha", "1.0"), upload(s3, "alpha", "1.1"), upload(s3, "beta", "2.0")]
    assert handler(sqs_event(*keys), None) == {"batchItemFailures": []}
    assert sent_paths(lambda_env) == [["/alpha/*", "/beta/*", "/index.*"]]
    assert lambda_env.calls[0]["DistributionId"] == "EDIST"


def test_an_unchanged_root_is_not_invalidated(s3, lambda_env):
    key = upload(s3, "alpha", "1.0")
    handler(s3_event(key), None)
    handler(s3_event(key), None)  # the same file again: the root entry did not move
    assert sent_paths(lambda_env) == [["/alpha/*", "/index.*"], ["/alpha/*"]]


def test_pages_are_written_before_the_invalidation_is_sent(s3, lambda_env):
    key = upload(s3, "alpha", "1.0")
    seen: list[bool] = []

    def check(**kwargs: Any) -> dict[str, Any]:
        s3.head_object(Bucket=BUCKET, Key="alpha/index.json")  # raises if not there yet
        seen.append(True)
        return {"Invalidation": {"Id": "I"}}

    lambda_env.create_invalidation = check  # type: ignore[method-assign]
    handler(s3_event(key), None)
    assert seen == [True]


def test_a_failed_rebuild_still_invalidates_the_projects_rebuilt_before_it(s3, lambda_env, monkeypatch):
    good = upload(s3, "alpha", "1.0")
    bad = upload(s3, "beta", "1.0")
    real = indexer.handler.make_indexer

    def failing(bucket: str) -> Any:
        idx = real(bucket)
        rebuild = idx.rebuild

        def maybe(project: str, **kw: Any) -> Any:
            if project == "beta":
                raise RuntimeError("boom")
            return rebuild(project, **kw)

        idx.rebuild = maybe  # type: ignore[method-assign]
        return idx

    monkeypatch.setattr(indexer.handler, "make_indexer", failing)
    with pytest.raises(RuntimeError):
        handler(s3_event(good, bad), None)
    assert sent_paths(lambda_env) == [["/alpha/*", "/index.*"]]
    # SQS: beta's record fails alone, alpha's page is invalidated.
    result = handler(sqs_event(good, bad), None)
    assert [f["itemIdentifier"] for f in result["batchItemFailures"]] == ["m1"]
    assert sent_paths(lambda_env)[-1] == ["/alpha/*"]


def test_an_invalidation_error_does_not_fail_the_rebuild(s3, lambda_env, caplog):
    lambda_env.error = ClientError({"Error": {"Code": "Throttling", "Message": "x"}}, "CreateInvalidation")
    key = upload(s3, "alpha", "1.0")
    assert handler(sqs_event(key), None) == {"batchItemFailures": []}
    assert s3.head_object(Bucket=BUCKET, Key="alpha/index.json")["ContentType"]
    assert any("invalidation failed" in r.getMessage() for r in caplog.records if r.levelname == "WARNING")


def test_nothing_rebuilt_nothing_invalidated(s3, lambda_env):
    handler(s3_event("alpha/index.html"), None)  # the indexer's own output
    assert lambda_env.calls == []


# --- the count behind the cost model (bench/cost.py invalidation_paths) ------------------------


def release_files(s3: Any, project: str, version: str) -> list[str]:
    from tests.distributions import make_sdist

    wheel = upload(s3, project, version)
    sdist_name, data = make_sdist(project, version)
    s3.put_object(Bucket=BUCKET, Key=f"{project}/{sdist_name}", Body=data)
    return [wheel, f"{project}/{sdist_name}"]


def count(client: Recorder) -> int:
    return sum(len(p) for p in sent_paths(client))


def test_a_release_through_s3_costs_two_paths(s3, lambda_env):
    from bench import cost

    handler(sqs_event(*release_files(s3, "alpha", "1.0")), None)  # one indexer batch
    assert (
        count(lambda_env)
        == 2
        == cost.invalidation_paths(cost.Load(uploads=2, files_per_release=2), via_endpoint=False)
    )


def test_a_release_through_the_endpoint_costs_a_path_per_file_and_two_more(s3, lambda_env):
    from bench import cost

    keys = release_files(s3, "alpha", "1.0")
    for key in keys:  # the upload function refreshes the pages before each upload returns
        handler(s3_event(key), None)
    handler(sqs_event(*keys), None)  # then the S3 events arrive as one batch
    assert (
        count(lambda_env)
        == 4
        == cost.invalidation_paths(cost.Load(uploads=2, files_per_release=2), via_endpoint=True)
    )


def test_invalidations_within_the_free_paths_cost_nothing():
    from bench import cost

    assert cost.invalidation_dollars(1000) == 0
    assert cost.invalidation_dollars(1200) == pytest.approx(200 * 0.005)
    typical = cost.Load()
    assert cost.invalidation_paths(typical, via_endpoint=True) <= cost.FREE_INVALIDATION_PATHS
