"""SQS events around S3 notifications, shaped like the recorded fixtures in tests/events/."""

from __future__ import annotations

import copy
import json
from functools import cache
from pathlib import Path
from typing import Any
from urllib.parse import quote_plus

from tests.conftest import BUCKET

EVENTS = Path(__file__).parent / "events"


@cache
def _template() -> dict[str, Any]:
    # One real record of a recorded batch: every field Lambda and S3 send, with ours replaced.
    return json.loads((EVENTS / "sqs-batch-two-projects.json").read_text())["Records"][0]


def s3_body(key: str, *, removed: bool = False, bucket: str = BUCKET) -> str:
    """The body S3 sends to SQS for one object: the key URL-encoded with "+" for space."""
    notification = json.loads(_template()["body"])
    record = notification["Records"][0]
    record["eventName"] = "ObjectRemoved:Delete" if removed else "ObjectCreated:Put"
    record["s3"]["bucket"]["name"] = bucket
    record["s3"]["object"]["key"] = quote_plus(key, safe="/")
    return json.dumps(notification)


def sqs_event(*bodies: str) -> dict[str, Any]:
    """A batch of SQS records with the given bodies; message ids are "m0", "m1", ..."""
    records = []
    for n, body in enumerate(bodies):
        record = copy.deepcopy(_template())
        record["messageId"] = f"m{n}"
        record["body"] = body
        records.append(record)
    return {"Records": records}


def failed_ids(result: dict[str, Any]) -> list[str]:
    return sorted(f["itemIdentifier"] for f in result["batchItemFailures"])
