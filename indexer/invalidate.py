"""Tell CloudFront to drop the pages a rebuild changed, so a new upload is visible at once.

Pages say `max-age=0, must-revalidate, s-maxage=N` (indexer/store.py): clients revalidate on
every use, CloudFront keeps them N seconds.  After a batch of rebuilds the indexer sends ONE
CreateInvalidation with:

- `/<project>/*` for every rebuilt project.  The viewer-request function rewrites
  `/simple/<p>/` (and `/<p>/`) to `/<p>/index.html` or `/<p>/index.json` *before* CloudFront
  looks in its cache (CloudFront developer guide, "CloudFront events that can trigger a
  Lambda@Edge function": viewer request runs "before it checks to see whether the requested
  object is in the CloudFront cache"; "Choose the event to trigger the function": a function
  that changes the cache key, e.g. rewrites the URL, belongs on viewer request), so the cache
  key is the rewritten URI and every cached copy of the project's pages, metadata, and cached
  404s of files that now exist lives under `/<p>/`.  (The guide's "What you need to know when
  invalidating paths" suggests invalidating both URIs when a function rewrites; the viewer URI
  `/simple/<p>/` is never a cache key here, so that would only double the paths billed.)
  A path ending in `*` counts as one path for billing however many objects it matches
  ("Paying for file invalidation": the first 1,000 paths a month are free, then $0.005 each).
- `/index.*` (index.html and index.json, one wildcard path) when the root index changed.
  No project folder can start with "index." (a normalized name has no dot).

The distribution id comes from `PYPI_EDGE_DISTRIBUTION_ID`; without it (the CLI, tests, a stack
without CloudFront) nothing is sent.  The local stack points the same boto3 call at its
CloudFront stand-in with `AWS_ENDPOINT_URL_CLOUDFRONT`.

An invalidation that fails is logged and dropped, never raised: the pages are written already
and correct, and CloudFront serves the new ones after at most N seconds anyway.  Raising would
make SQS redeliver the batch and rebuild everything again for a cache problem.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterable
from functools import cache
from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from indexer.log import logger

DISTRIBUTION_ENV = "PYPI_EDGE_DISTRIBUTION_ID"
ROOT_PATH = "/index.*"


def paths(projects: Iterable[str], root_changed: bool) -> list[str]:
    """The invalidation paths for these rebuilt projects: one wildcard each, plus the root."""
    out = [f"/{project}/*" for project in sorted(set(projects))]
    if root_changed:
        out.append(ROOT_PATH)
    return out


def cloudfront_client() -> Any:
    # The local stack points this at its CloudFront stand-in with AWS_ENDPOINT_URL_CLOUDFRONT
    # (boto3 reads it as it reads AWS_ENDPOINT_URL_S3); one client per endpoint, so a test that
    # starts a second stack on other ports is not sent to the first one.
    return _client(os.environ.get("AWS_ENDPOINT_URL_CLOUDFRONT"))


@cache
def _client(endpoint: str | None) -> Any:
    # CloudFront's API is global, signed for us-east-1.
    return boto3.client(
        "cloudfront",
        region_name="us-east-1",
        endpoint_url=endpoint,
        config=Config(retries={"max_attempts": 5, "mode": "standard"}),
    )


def invalidate(
    items: list[str], *, distribution_id: str | None = None, client: Any | None = None
) -> str | None:
    """Send one invalidation for `items`; the invalidation id, or None if none was sent."""
    distribution_id = distribution_id if distribution_id is not None else os.environ.get(DISTRIBUTION_ENV)
    if not items or not distribution_id:
        return None
    try:
        resp = (client or cloudfront_client()).create_invalidation(
            DistributionId=distribution_id,
            InvalidationBatch={
                "Paths": {"Quantity": len(items), "Items": items},
                # Unique per call: the same reference with the same paths would be a no-op replay.
                "CallerReference": uuid.uuid4().hex,
            },
        )
    except (ClientError, BotoCoreError) as exc:
        logger.warning(
            "CloudFront invalidation failed; pages are written and go fresh when their s-maxage ends",
            distribution_id=distribution_id,
            paths=items,
            error=str(exc),
        )
        return None
    invalidation_id = str(resp["Invalidation"]["Id"])
    logger.info("invalidated", distribution_id=distribution_id, paths=items, invalidation_id=invalidation_id)
    return invalidation_id
