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


class NotAnS3Event(ValueError):
    """An SQS message that is not an S3 event notification (someone else wrote to the queue)."""


def _field(value: Any, *path: str) -> Any:
    """value[path[0]][path[1]]..., or None where a step is missing or not an object."""
    for step in path:
        if not isinstance(value, dict):
            return None
        value = value.get(step)
    return value


def s3_targets(notification: Any) -> Iterator[tuple[str, str]]:
    """(bucket, project) for every record of an S3 event notification that affects the index.

    `s3:TestEvent` (sent once when the notification is configured) has no Records.  Object keys
    arrive URL-encoded with "+" for space, so they are decoded with unquote_plus.  A record
    without a bucket or key is logged and skipped; a message that is no notification at all
    raises NotAnS3Event.
    """
    if _field(notification, "Event") == "s3:TestEvent":
        return
    records = _field(notification, "Records")
    if not isinstance(records, list):
        raise NotAnS3Event("no Records list")
    for record in records:
        bucket = _field(record, "s3", "bucket", "name")
        raw_key = _field(record, "s3", "object", "key")
        if not isinstance(bucket, str) or not bucket or not isinstance(raw_key, str):
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


# A direct invocation {"action": "init", "bucket": <name>}: the Pulumi program sends it on every
# deploy that changes this function's code (aws.lambda_.Invocation), the local stack at start.
INIT_ACTION = "init"


def init(event: dict[str, Any]) -> dict[str, Any]:
    """Static assets and, when the bucket has no root index, an empty one (`Indexer.init`)."""
    bucket = event.get("bucket")
    if not isinstance(bucket, str) or not bucket:
        raise ValueError('the init action needs {"bucket": "<bucket name>"}')
    written = make_indexer(bucket).init()
    logger.info("initialized", bucket=bucket, written=written)
    return {"written": written}


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    if event.get("action") == INIT_ACTION:
        return init(event)
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
        try:
            targets = list(s3_targets(json.loads(record.body)))
        except (ValueError, TypeError) as exc:  # not JSON (or not UTF-8), or not a notification
            # Retrying cannot help; the message fails, so after the queue's tries it waits in
            # the dead-letter queue for a person, and the rest of the batch goes on.
            logger.error(
                "SQS message is not an S3 event notification",
                message_id=record.message_id,
                body=str(record.raw_event.get("body"))[:1000],
                reason=str(exc),
            )
            raise NotAnS3Event(record.message_id) from exc
        for bucket, project in targets:
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
