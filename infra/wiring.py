"""The S3 → SQS → indexer wiring, described once.

The Pulumi component (`infra.component`) and the local stack (`local`) both build the bucket
notification, the queue, the dead-letter queue and the batching from these values, so what
runs on this machine is what runs in AWS.  No Pulumi import here: the local stack uses it too.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

# What the indexer reacts to.  Generated outputs (index.html, index.json, *.metadata) end in
# none of these suffixes, so the indexer's own writes never come back to it as events.
NOTIFICATION_EVENTS: tuple[str, ...] = ("s3:ObjectCreated:*", "s3:ObjectRemoved:*")
# The PEP 792 status marker's name in a project folder (indexer/status.py, STATUS_NAME: the indexer
# bundle does not ship infra/, so a test holds the two equal).
STATUS_MARKER = ".project-status"
YANKED_SUFFIX = ".yanked"  # indexer/model.py YANKED_SUFFIX (a test holds them equal)
WATCHED_SUFFIXES: tuple[str, ...] = (".whl", ".tar.gz", ".zip", YANKED_SUFFIX, STATUS_MARKER)

# Keys the indexer writes and deletes (IAM resource patterns, relative to the bucket): the root
# and project pages (HTML, JSON gzip-encoded and unencoded), PEP 658 metadata, its private notes
# on files it left out (indexer/model.py LEFT_OUT_SUFFIX), and the pages' static assets.
# Distributions and .yanked markers are not among them.
GENERATED_KEYS: tuple[str, ...] = (
    "index.html",
    "index.json",
    "index.identity.json",
    "*/index.html",
    "*/index.json",
    "*/index.identity.json",
    "*.metadata",
    "*.left-out",
    "-/static/*",  # the pages' scripts, styles and 404 page (indexer/assets.py)
)

# Keys of distribution files (IAM resource patterns): what the upload function may write, as
# `<project>/<file>` (the upload role's policy also denies anything deeper).
DISTRIBUTION_KEYS: tuple[str, ...] = ("*/*.whl", "*/*.tar.gz", "*/*.zip")
# Private bookkeeping the upload function writes, one "/" deep, under prefixes that are no
# project name (so the edge never serves them) and end in no watched suffix (so no event):
# the publishing core's identity claims (indexer/publish.py CLAIMS_PREFIX) and trusted
# publishing's replay markers (upload/oidc.py JTI_PREFIX; tests hold the values equal, since
# infra/ does not import the function's code).
CLAIMS_PREFIX = "_claims/"
JTI_PREFIX = "_oidc-jti/"
# Files a publisher sends straight to S3 with a presigned PUT (upload/remote.py STAGING_PREFIX; a
# test holds them equal): `_staging/<random>-<sha256>-<file>.staged`, one "/" deep, in no watched
# suffix (no S3 event) and never a project (the edge never serves it).  The upload function copies
# a validated one to `<project>/<file>` and removes it; a lifecycle rule removes the rest.
STAGING_PREFIX = "_staging/"
STAGING_RETENTION_DAYS = 1
# Replay markers expire after this many days (a lifecycle rule); upload/oidc.py refuses ID tokens
# that stay valid longer than that.
JTI_RETENTION_DAYS = 1

# The methods every behaviour allows.  CloudFront offers three fixed sets, GET+HEAD, GET+HEAD+OPTIONS,
# or all seven ("AllowedMethods", CloudFront API Reference: "Valid values are 2 ..., 3 ... and 7"),
# and answers a method outside the set with its own 403 before any function runs ("This
# distribution is not configured to allow the HTTP request method"), which tells a user nothing.
# So all seven: every method reaches the viewer-request function, which answers every method but
# GET and HEAD itself (405 naming the upload URL, edge/handler.py) and never forwards one to S3
# (`ORIGIN_METHODS`).  The same API page warns that with the third choice "you may need to
# restrict access to your Amazon S3 bucket ... so users can't perform operations that you don't
# want them to": the bucket policy grants CloudFront s3:GetObject and s3:ListBucket only
# (infra/distribution.py), so even a PUT or DELETE that CloudFront signed for the bucket (OAC)
# would be refused by S3.  The local stand-in (local/cdn.py) allows the same sets per behaviour.
VIEWER_METHODS: tuple[str, ...] = ("GET", "HEAD", "OPTIONS", "PUT", "POST", "PATCH", "DELETE")
# What CloudFront caches (GET and HEAD only: "CachedMethods", CloudFront API Reference).
CACHED_METHODS: tuple[str, ...] = ("GET", "HEAD")
# The only methods the viewer-request function forwards to the bucket; with any other it answers.
ORIGIN_METHODS: tuple[str, ...] = ("GET", "HEAD")

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

# --- cache behaviours and response headers policies ----------------------------------------------
#
# The Pulumi program builds the distribution's behaviours and response headers policies from
# these values, and the local stand-in (local/cdn.py) picks a behaviour and applies its policy the
# same way, so what a browser receives locally is what it receives from CloudFront.
#
# Behaviours, in CloudFront's order (the first pattern that matches wins, then the default).
# Path patterns are case-sensitive globs where `*` is any run of characters, `/` included, and `?`
# one character; they are matched against the *normalized* path ("Cache behavior settings", Path
# pattern and Path normalization, CloudFront Developer Guide).
UPLOAD_PATH_PATTERNS: tuple[str, ...] = ("/legacy", "/legacy/*", "/_/oidc/*", "/_/cli/*")
FILE_PATH_PATTERNS: tuple[str, ...] = ("*.whl", "*.tar.gz", "*.zip", "*.metadata")

# The pages (index.html of the root and of each project, the JSON pages) and everything else the
# default behaviour serves.  No inline script or style: the pages load theirs from /-/static/
# (indexer/assets.py).
PAGE_CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data: https:; "
    "connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)
# Distribution files and PEP 658 metadata: never something a browser renders, whatever
# Content-Type the bucket holds (anyone with s3:PutObject can set any): a sandbox with nothing
# allowed, even if a browser were to render one.
FILE_CSP = "default-src 'none'; sandbox"
FILE_CONTENT_TYPE = "application/octet-stream"
HSTS_SECONDS = 2 * 365 * 24 * 3600


@dataclass(frozen=True)
class HeadersPolicy:
    """One response headers policy: the security headers (always, with override), a
    Content-Security-Policy, and custom headers (each with override)."""

    name: str
    content_security_policy: str
    csp_override: bool
    custom: tuple[tuple[str, str], ...]

    def headers(self) -> list[tuple[str, str, bool]]:
        """(header, value, override) as CloudFront adds them to a response (the stand-in's view)."""
        return [
            ("Strict-Transport-Security", f"max-age={HSTS_SECONDS}; includeSubDomains", True),
            ("X-Content-Type-Options", "nosniff", True),
            ("X-Frame-Options", "DENY", True),
            ("Referrer-Policy", "no-referrer", True),
            ("Content-Security-Policy", self.content_security_policy, self.csp_override),
            *((name, value, True) for name, value in self.custom),
        ]


# The default behaviour and the upload behaviours.  The CSP is added only where a response has
# none (override off): the viewer-request function's generated answers carry their own, stricter
# one (edge/handler.py, GENERATED_CSP), and S3 objects cannot carry the header at all (object
# metadata is limited to Cache-Control, Content-Type, Content-Encoding, Content-Disposition,
# Content-Language, Expires and x-amz-meta-*).  `Vary: Accept, Accept-Encoding`: /simple/<p>/ is
# HTML or PEP 691 JSON by Accept, and gzip or plain by Accept-Encoding (edge/handler.py,
# json_variant), so a browser's or pip's HTTP cache must key on both; set with override because
# CloudFront's own compression adds `Vary: Accept-Encoding`, which the value must keep (issue #25).
# CloudFront's cache needs no Vary: the viewer-request function rewrites the URI (the cache key)
# by Accept, and for JSON by Accept-Encoding, before the cache is consulted, and the cache policy
# puts the normalized Accept-Encoding in the key for what CloudFront compresses itself.
# CloudFront's guide names Vary among the headers a policy manages ("Add or remove HTTP headers in
# CloudFront responses with a policy").
PAGES_POLICY = HeadersPolicy(
    name="pages",
    content_security_policy=PAGE_CSP,
    csp_override=False,
    custom=(("Vary", "Accept, Accept-Encoding"),),
)
# The file behaviours.  Each header overrides what S3 sends: a custom header with "Origin
# override" replaces the origin's header of that name ("Understand response headers policies",
# Custom headers: "CloudFront adds the custom header in the policy to the response ... It ignores
# the header that it received from the origin"); Content-Type is not among the headers a policy
# may not touch (the same page, "Headers that you can't remove").  `attachment`: a browser saves
# the file; pip, uv and poetry ignore Content-Disposition and read the bytes, which are unchanged
# (their hashes still match the pages).
FILES_POLICY = HeadersPolicy(
    name="files",
    content_security_policy=FILE_CSP,
    csp_override=True,
    custom=(("Content-Type", FILE_CONTENT_TYPE), ("Content-Disposition", "attachment")),
)


def path_pattern_matches(pattern: str, path: str) -> bool:
    """CloudFront's path pattern semantics: `*` any characters, `?` one, case-sensitive, the
    leading `/` optional ("Cache behavior settings", Path pattern)."""
    expression = "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern.lstrip("/"))
    return re.fullmatch(expression, path.lstrip("/"), flags=re.DOTALL) is not None


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
