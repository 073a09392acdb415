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
# The PEP 792 status marker's name in a project folder (indexer/status.py, STATUS_NAME: the indexer
# bundle does not ship infra/, so a test holds the two equal).
STATUS_MARKER = ".project-status"
WATCHED_SUFFIXES: tuple[str, ...] = (".whl", ".tar.gz", ".zip", ".yanked", STATUS_MARKER)

# Keys the indexer writes and deletes (IAM resource patterns, relative to the bucket): the root
# and project pages and PEP 658 metadata.  Distributions and .yanked markers are not among them.
GENERATED_KEYS: tuple[str, ...] = (
    "index.html",
    "index.json",
    "*/index.html",
    "*/index.json",
    "*.metadata",
    "-/static/*",  # the pages' CSS, JS and 404 page (indexer/assets.py)
)

# Keys of distribution files (IAM resource patterns): what the upload function may write.
DISTRIBUTION_KEYS: tuple[str, ...] = ("*.whl", "*.tar.gz", "*.zip")

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


# --- the CloudFront cache (shared by the cache policy and the local stand-in, local/cache.py) ---
#
# How CloudFront combines an object's Cache-Control with the cache policy (CloudFront developer
# guide, "Manage how long content stays in the cache (expiration)", table for Minimum TTL = 0):
#   - `s-maxage` present: CloudFront keeps the object for min(s-maxage, Maximum TTL); browsers
#     follow `max-age`;
#   - only `max-age`: min(max-age, Maximum TTL);
#   - `no-cache`, `no-store` or `private` (and Minimum TTL 0): CloudFront respects them, i.e. does
#     not keep the object;
#   - neither: Default TTL.
# With a Minimum TTL above 0 CloudFront caches for at least that long *even with no-cache*
# (CachePolicyConfig, API reference), which is why the minimum stays 0: the pages say
# `max-age=0, must-revalidate, s-maxage=N` (clients revalidate every time, a cheap 304 on the
# ETag; CloudFront keeps them N seconds) and the indexer invalidates them when they change.
CACHE_MIN_TTL_SECONDS = 0
CACHE_MAX_TTL_SECONDS = 365 * 24 * 3600  # distributions say max-age=1 year, immutable

# Response headers the distribution's response headers policy adds to every response of the
# default behaviour (the local stand-in adds the same).  `Vary: Accept`: /simple/<p>/ is HTML or
# PEP 691 JSON by the request's Accept header, so a browser's or pip's HTTP cache must key on it.
# CloudFront's own cache needs no Vary: the viewer-request function has already rewritten the URI
# to index.html or index.json when the cache is consulted, so the cache key differs.  S3 object
# metadata cannot carry a Vary header (only Cache-Control, Content-Type, Content-Encoding,
# Content-Disposition, Content-Language, Expires and x-amz-meta-*), so the policy adds it;
# CloudFront's guide names Vary among the response headers a policy manages ("Add or remove HTTP
# headers in CloudFront responses with a policy").
RESPONSE_HEADERS: dict[str, str] = {"Vary": "Accept"}

# How long CloudFront keeps an error from the origin (custom error responses' ErrorCachingMinTTL).
# A 403/404 may be a page the indexer is writing right now: do not let CloudFront keep it long.
ERROR_CACHING_SECONDS: dict[int, int] = {403: 5, 404: 5, 500: 0, 502: 0, 503: 0, 504: 0}

# The page CloudFront shows, keeping the status, when S3 answers 404 (a missing project page or
# file): a custom error response's ResponsePagePath, written by the indexer (indexer/assets.py).
# CloudFront fetches it without running the viewer-request function ("CloudFront events that
# can trigger a Lambda@Edge function": viewer request does not execute "when fetching a custom
# error page"), and falls back to the origin's own 404 while the object does not exist yet
# ("Generate custom error responses").  An origin-response function that turned the 404 into a
# redirect (the fallback index) is not an error any more, so no page is put over it.  The local
# stand-in does the same (local/cdn.py, local/cache.py).
ERROR_PAGES: dict[int, str] = {404: "/-/static/404.html"}


def _directives(cache_control: str | None) -> dict[str, str | None]:
    out: dict[str, str | None] = {}
    for part in (cache_control or "").split(","):
        name, sep, value = part.strip().partition("=")
        if name:
            out[name.lower()] = value.strip().strip('"') if sep else None
    return out


def _seconds(value: str | None) -> int | None:
    return int(value) if value is not None and value.isdigit() else None


def edge_ttl(
    cache_control: str | None,
    default_ttl: int,
    *,
    min_ttl: int = CACHE_MIN_TTL_SECONDS,
    max_ttl: int = CACHE_MAX_TTL_SECONDS,
) -> int:
    """Seconds CloudFront keeps an object with this Cache-Control under a cache policy.

    The expiration table cited above (Expires is not used by this project and is ignored).
    0 means "not cached".
    """
    d = _directives(cache_control)
    if {"no-cache", "no-store", "private"} & d.keys():
        return min_ttl
    s_maxage, max_age = _seconds(d.get("s-maxage")), _seconds(d.get("max-age"))
    origin = s_maxage if s_maxage is not None else max_age
    if origin is None:
        return max(min_ttl, default_ttl)
    return min(max_ttl, max(min_ttl, origin))
