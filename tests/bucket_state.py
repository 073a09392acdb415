"""What a bucket holds, across every object version and delete marker.

A refusal must write nothing.  Comparing the latest keys is not enough in a versioned bucket: an
overwrite or a delete adds a version and leaves the key list unchanged.  `snapshot` returns every
version and delete marker, so ``assert snapshot(s3, bucket) == before`` proves that a request
added, replaced and removed nothing.
"""

from __future__ import annotations

from typing import Any

Version = tuple[str, str, bool]  # (key, version id, is a delete marker)


def snapshot(s3: Any, bucket: str, prefix: str = "") -> frozenset[Version]:
    """Every object version and delete marker under `prefix`."""
    found: set[Version] = set()
    for page in s3.get_paginator("list_object_versions").paginate(Bucket=bucket, Prefix=prefix):
        for version in page.get("Versions", []):
            found.add((version["Key"], version["VersionId"], False))
        for marker in page.get("DeleteMarkers", []):
            found.add((marker["Key"], marker["VersionId"], True))
    return frozenset(found)


def gained(s3: Any, bucket: str, before: frozenset[Version], prefix: str = "") -> list[Version]:
    """The versions and markers present now that were not in `before`, sorted (empty = nothing written)."""
    return sorted(snapshot(s3, bucket, prefix) - before)


def index_keys(s3: Any, bucket: str) -> set[str]:
    """The keys of the index itself: everything but private bookkeeping (`_claims/`, `_oidc-jti/`:
    a first segment starting with "_", which is no project name and which the edge never serves)."""
    found: set[str] = set()
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket):
        found.update(o["Key"] for o in page.get("Contents", []) if not o["Key"].startswith("_"))
    return found
