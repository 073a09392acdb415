"""The indexer Lambda: S3 events (via SQS, or direct) in, static pages out.

Each SQS record holds one S3 event notification; a batch may name the same project many times
(a CI job uploading twenty wheels).  Every project touched in the batch is rebuilt once, the
first time a record names it; the records that named a project whose rebuild failed are
reported in `batchItemFailures` (Powertools' BatchProcessor), so SQS retries only those and,
after `MAX_RECEIVE_COUNT` tries, moves them to the dead-letter queue.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterator
from functools import cache
from typing import Any
from urllib.parse import unquote_plus

import boto3
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from botocore.config import Config

from indexer import invalidate
from indexer.build import Indexer, Rebuilt, project_for_key
from indexer.log import logger
from indexer.store import PAGE_CACHE_SECONDS_DEFAULT, Bucket


@cache
def s3_client() -> Any:
    # Endpoint overrides (the local stack, moto) come from AWS_ENDPOINT_URL_S3, read by boto3.
    return boto3.client("s3", config=Config(retries={"max_attempts": 5, "mode": "standard"}))


def make_indexer(bucket_name: str) -> Indexer:
    seconds = int(os.environ.get("PYPI_EDGE_INDEX_CACHE_SECONDS", PAGE_CACHE_SECONDS_DEFAULT))
    return Indexer(Bucket(s3_client(), bucket_name, page_cache_seconds=seconds))


def s3_targets(notification: dict[str, Any]) -> Iterator[tuple[str, str]]:
    """(bucket, project) for every record of an S3 event notification that affects the index.

    `s3:TestEvent` (sent once when the notification is configured) has no Records.  Object keys
    arrive URL-encoded with "+" for space, so they are decoded with unquote_plus.
    """
    if notification.get("Event") == "s3:TestEvent":
        return
    for record in notification.get("Records", []):
        s3 = record.get("s3") or {}
        bucket = (s3.get("bucket") or {}).get("name")
        raw_key = (s3.get("object") or {}).get("key")
        if not bucket or raw_key is None:
            logger.warning("S3 record without bucket or key; ignored", record=record)
            continue
        project = project_for_key(unquote_plus(raw_key))
        if project is not None:
            yield bucket, project


class _OncePerProject:
    """Rebuild each (bucket, project) once per invocation; later records share the outcome."""

    def __init__(self, factory: Callable[[str], Indexer]) -> None:
        self._factory = factory
        self._done: dict[tuple[str, str], Rebuilt | BaseException] = {}

    def __call__(self, bucket: str, project: str) -> Rebuilt:
        key = (bucket, project)
        if key not in self._done:
            try:
                self._done[key] = self._factory(bucket).rebuild(project)
                logger.info(
                    "rebuilt", bucket=bucket, project=project, root_changed=self._done[key].root_changed
                )
            except Exception as exc:
                logger.exception("rebuild failed", bucket=bucket, project=project)
                self._done[key] = exc
        outcome = self._done[key]
        if isinstance(outcome, BaseException):
            raise outcome
        return outcome

    def invalidate(self) -> None:
        """One CloudFront invalidation for every page this invocation rewrote (indexer/invalidate.py)."""
        rebuilt = [r for r in self._done.values() if isinstance(r, Rebuilt)]
        invalidate.invalidate(
            invalidate.paths((r.project for r in rebuilt), any(r.root_changed for r in rebuilt))
        )


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    rebuild = _OncePerProject(make_indexer)
    records = event.get("Records") or []
    if records and records[0].get("eventSource") == "aws:s3":
        # Invoked directly by S3 (no queue): all or nothing, Lambda's async retry does the rest.
        try:
            for bucket, project in s3_targets(event):
                rebuild(bucket, project)
        finally:
            rebuild.invalidate()  # also the projects rebuilt before one failed
        return {"batchItemFailures": []}

    def record_handler(record: SQSRecord) -> None:
        for bucket, project in s3_targets(json.loads(record.body)):
            rebuild(bucket, project)

    try:
        return process_partial_response(
            event=event,
            record_handler=record_handler,
            processor=BatchProcessor(EventType.SQS),
            context=context,
        )
    finally:
        rebuild.invalidate()
