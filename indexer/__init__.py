"""pypi-edge indexer: static PEP 503/691/658 pages from what is in the bucket."""

from __future__ import annotations

from typing import Any


def reindex(
    bucket: str, *, client: Any = None, projects: list[str] | None = None, progress: Any = None
) -> list:
    """Rebuild every page of `bucket` from its objects alone (see `indexer.build.Indexer.reindex`)."""
    from indexer.build import Indexer
    from indexer.handler import s3_client
    from indexer.store import Bucket

    return Indexer(Bucket(client or s3_client(), bucket)).reindex(projects=projects, progress=progress)
