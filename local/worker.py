"""The indexer worker: what Lambda's SQS event source mapping does, on this machine.

Long-polls the queue, gathers a batch (size and window from `infra.wiring`, the window
shortened locally), hands `indexer.handler.handler` the genuine SQS event, and deletes only the
messages the handler did not report in `batchItemFailures`; the others become visible again
after the visibility timeout and, after `maxReceiveCount` tries, move to the dead-letter queue.
"""

from __future__ import annotations

import hashlib
import json
import logging
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote_plus

from infra import wiring

log = logging.getLogger("local.worker")


@dataclass
class LambdaContext:
    """The attributes of Lambda's context object that Powertools reads."""

    function_name: str = "pypi-edge-indexer-local"
    function_version: str = "$LATEST"
    invoked_function_arn: str = "arn:aws:lambda:us-east-1:123456789012:function:pypi-edge-indexer-local"
    memory_limit_in_mb: int = 512
    aws_request_id: str = ""
    log_group_name: str = "/aws/lambda/pypi-edge-indexer-local"
    log_stream_name: str = "local"

    def get_remaining_time_in_millis(self) -> int:
        return wiring.INDEXER_TIMEOUT_SECONDS * 1000


def sqs_event(messages: list[dict[str, Any]], queue_arn: str, region: str) -> dict[str, Any]:
    """The event Lambda builds from received SQS messages (documented SQS event shape)."""
    return {
        "Records": [
            {
                "messageId": m["MessageId"],
                "receiptHandle": m["ReceiptHandle"],
                "body": m["Body"],
                "attributes": m.get("Attributes", {}),
                "messageAttributes": m.get("MessageAttributes", {}),
                "md5OfBody": m.get("MD5OfBody") or hashlib.md5(m["Body"].encode()).hexdigest(),
                "eventSource": "aws:sqs",
                "eventSourceARN": queue_arn,
                "awsRegion": region,
            }
            for m in messages
        ]
    }


def event_keys(body: str) -> list[str]:
    """The (decoded) object keys an SQS message body from S3 names; none for anything else."""
    try:
        records = json.loads(body).get("Records")
        return [unquote_plus(r["s3"]["object"]["key"]) for r in records]
    except (ValueError, TypeError, AttributeError, KeyError):
        return []


class Worker(threading.Thread):
    def __init__(
        self,
        sqs: Any,
        queue_url: str,
        queue_arn: str,
        *,
        batch_window: float,
        region: str,
        handler: Callable[[dict[str, Any], Any], dict[str, Any]] | None = None,
        on_batch: Callable[[list[dict[str, Any]], set[str], int], None] | None = None,
    ) -> None:
        super().__init__(name="indexer-worker", daemon=True)
        if handler is None:
            from indexer.handler import handler  # imported late: after the endpoint variables are set
        self.handler = handler
        # Called after each batch with its messages, the ids that failed, and time.time_ns() from
        # just before the handler ran (so every rebuild in it listed the bucket after that).
        self.on_batch = on_batch
        self.sqs = sqs
        self.queue_url = queue_url
        self.queue_arn = queue_arn
        self.batch_window = batch_window
        self.region = region
        self.stopping = threading.Event()
        self.batches = 0
        self.idle = threading.Event()  # set while the queue looked empty on the last poll

    def run(self) -> None:
        while not self.stopping.is_set():
            try:
                self.poll_once()
            except Exception:
                if self.stopping.is_set():
                    break
                log.exception("indexer worker error")
                time.sleep(1)

    def poll_once(self) -> int:
        """Receive one batch, run the handler on it, delete what succeeded; returns the batch size."""
        messages = self._gather()
        if not messages:
            self.idle.set()
            return 0
        self.idle.clear()
        event = sqs_event(messages, self.queue_arn, self.region)
        started_ns = time.time_ns()
        result = self.handler(event, LambdaContext(aws_request_id=str(uuid.uuid4())))
        failed = {f["itemIdentifier"] for f in (result or {}).get("batchItemFailures", [])}
        if self.on_batch is not None:
            self.on_batch(messages, failed, started_ns)
        done = [m for m in messages if m["MessageId"] not in failed]
        for i in range(0, len(done), 10):  # DeleteMessageBatch takes at most 10 entries
            entries = [
                {"Id": str(n), "ReceiptHandle": m["ReceiptHandle"]} for n, m in enumerate(done[i : i + 10])
            ]
            self.sqs.delete_message_batch(QueueUrl=self.queue_url, Entries=entries)
        self.batches += 1
        if failed:
            log.warning("indexer reported %d failed record(s); SQS will retry them", len(failed))
        return len(messages)

    def _gather(self) -> list[dict[str, Any]]:
        """Up to BATCH_SIZE messages: wait for the first, then gather for the batch window."""
        messages = self._receive(wait=1)
        if not messages:
            return []
        deadline = time.monotonic() + self.batch_window
        while len(messages) < wiring.BATCH_SIZE and time.monotonic() < deadline:
            more = self._receive(wait=0)
            if more:
                messages += more
            else:
                time.sleep(0.05)
        return messages

    def _receive(self, wait: int) -> list[dict[str, Any]]:
        resp = self.sqs.receive_message(
            QueueUrl=self.queue_url,
            MaxNumberOfMessages=10,
            WaitTimeSeconds=wait,
            AttributeNames=["All"],
            MessageAttributeNames=["All"],
        )
        return resp.get("Messages", [])

    def stop(self) -> None:
        self.stopping.set()
