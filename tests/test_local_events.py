"""The local S3 sends the events AWS sends for every mutation, delete markers included.

Each test drives moto's server through the layer in front of it (local/s3front.py), with the
bucket, queue and notification provisioned exactly as the stack does, and reads what arrived on
the indexer's queue (no worker runs here).  AWS's rules, from the Amazon S3 user guide ("Event
notification types and destinations"): a DELETE without a version id in a versioned bucket
creates a delete marker and sends `ObjectRemoved:DeleteMarkerCreated`; deleting a given version
(an object's or a delete marker's) sends `ObjectRemoved:Delete`; and each event goes once to
each configuration whose event and key filters match.  Before the layer, moto sent nothing for
the first two rows of the table below (issue #24).
"""

from __future__ import annotations

import json
import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote_plus

import pytest

from indexer.handler import s3_targets
from local import aws
from local.s3front import S3Server, is_generated, is_watched
from local.stack import free_port

WHEEL = "alpha/alpha-1.0-py3-none-any.whl"
YANKED = WHEEL + ".yanked"
SDIST = "alpha/alpha-1.0.tar.gz"


@dataclass
class Harness:
    server: S3Server
    s3: Any
    sqs: Any
    bucket: str
    queue_url: str

    def put(self, key: str, body: bytes = b"x") -> str:
        return self.s3.put_object(Bucket=self.bucket, Key=key, Body=body)["VersionId"]

    def records(self) -> list[dict[str, Any]]:
        """Every S3 record on the queue since the last call (s3:TestEvent left out), then deleted."""
        out: list[dict[str, Any]] = []
        while True:
            got = self.sqs.receive_message(QueueUrl=self.queue_url, MaxNumberOfMessages=10)
            if not got.get("Messages"):
                return out
            for message in got["Messages"]:
                body = json.loads(message["Body"])
                out += body.get("Records", [])
                self.sqs.delete_message(QueueUrl=self.queue_url, ReceiptHandle=message["ReceiptHandle"])

    def events(self) -> list[tuple[str, str]]:
        return [(r["eventName"], unquote_plus(r["s3"]["object"]["key"])) for r in self.records()]


@pytest.fixture(scope="module")
def server() -> Iterator[tuple[S3Server, Any, Any]]:
    server = S3Server("127.0.0.1", free_port(), "", aws.REGION).start()
    endpoint = f"http://127.0.0.1:{server.port}"
    yield server, aws.client("s3", endpoint), aws.client("sqs", endpoint)
    server.stop()


@pytest.fixture
def local_s3(server: tuple[S3Server, Any, Any]) -> Harness:
    # A bucket (and queues) of its own per test; the layer watches it, as the stack's watches its one.
    bucket = f"events-{uuid.uuid4().hex[:12]}"
    s3_server, s3, sqs = server
    resources = aws.provision(f"http://127.0.0.1:{s3_server.port}", bucket)
    s3_server.front.bucket = bucket
    s3_server.front.start_watching()
    harness = Harness(s3_server, s3, sqs, bucket, resources.queue_url)
    harness.records()  # the s3:TestEvent the notification configuration sent
    return harness


def test_a_delete_without_version_id_sends_delete_marker_created_with_the_markers_version(local_s3):
    local_s3.put(WHEEL)
    local_s3.records()
    marker = local_s3.s3.delete_object(Bucket=local_s3.bucket, Key=WHEEL)

    [record] = local_s3.records()

    assert marker["DeleteMarker"] is True
    assert record["eventName"] == "ObjectRemoved:DeleteMarkerCreated"
    assert record["s3"]["object"] == {
        "key": WHEEL,
        "versionId": marker["VersionId"],
        "sequencer": record["s3"]["object"]["sequencer"],
    }
    assert record["s3"]["bucket"]["name"] == local_s3.bucket
    assert record["s3"]["configurationId"] == "pypi-edge-indexer-whl"
    assert list(s3_targets({"Records": [record]})) == [(local_s3.bucket, "alpha")]


def test_a_removal_record_has_the_documented_fields_and_no_size_or_etag(local_s3):
    local_s3.put(WHEEL)
    local_s3.records()
    local_s3.s3.delete_object(Bucket=local_s3.bucket, Key=WHEEL)

    [record] = local_s3.records()

    # "Event message structure": these fields; size and eTag are absent from removal events.
    assert set(record) == {
        "eventVersion", "eventSource", "awsRegion", "eventTime", "eventName",
        "userIdentity", "requestParameters", "responseElements", "s3",
    }  # fmt: skip
    assert record["eventSource"] == "aws:s3"
    assert record["eventTime"].endswith("Z") and len(record["eventTime"]) == len("1970-01-01T00:00:00.000Z")
    assert set(record["s3"]) == {"s3SchemaVersion", "configurationId", "bucket", "object"}
    assert set(record["s3"]["object"]) == {"key", "versionId", "sequencer"}
    assert int(record["s3"]["object"]["sequencer"], 16) > 0


def delete(h: Harness, key: str = WHEEL, **version: str) -> Any:
    return h.s3.delete_object(Bucket=h.bucket, Key=key, **version)


MARKER = "ObjectRemoved:DeleteMarkerCreated"
REMOVED = "ObjectRemoved:Delete"
MUTATIONS = {
    # what: (act on a key with two versions [v0, v1] and a .yanked marker, the events expected)
    "delete, no version id": (lambda h, v: delete(h), [(MARKER, WHEEL)]),
    "DeleteObjects, no version id": (
        lambda h, v: h.s3.delete_objects(
            Bucket=h.bucket, Delete={"Objects": [{"Key": WHEEL}, {"Key": YANKED}]}
        ),
        [(MARKER, WHEEL), (MARKER, YANKED)],
    ),
    "delete a noncurrent version": (lambda h, v: delete(h, VersionId=v[0]), [(REMOVED, WHEEL)]),
    "delete the current version, an older one remains": (
        lambda h, v: delete(h, VersionId=v[1]),
        [(REMOVED, WHEEL)],
    ),
    "delete every version, one by one": (
        lambda h, v: [delete(h, VersionId=i) for i in v],
        [(REMOVED, WHEEL), (REMOVED, WHEEL)],
    ),
    "put": (lambda h, v: h.put(WHEEL), [("ObjectCreated:Put", WHEEL)]),
    "copy": (
        lambda h, v: h.s3.copy_object(
            Bucket=h.bucket, Key=SDIST, CopySource={"Bucket": h.bucket, "Key": WHEEL}
        ),
        [("ObjectCreated:Copy", SDIST)],
    ),
    "delete a page (not watched)": (lambda h, v: delete(h, "alpha/index.html"), []),
    "delete a missing key": (lambda h, v: delete(h, "alpha/missing-1.0.tar.gz"), []),
}


@pytest.mark.parametrize("what", MUTATIONS)
def test_each_mutation_sends_exactly_the_events_aws_sends(local_s3, what):
    act, expected = MUTATIONS[what]
    versions = [local_s3.put(WHEEL, b"one"), local_s3.put(WHEEL, b"two")]
    local_s3.put(YANKED, b"")
    local_s3.put("alpha/index.html", b"<html>")
    local_s3.records()

    act(local_s3, versions)

    assert sorted(local_s3.events()) == sorted(expected)


def test_deleting_the_delete_marker_brings_the_file_back_and_sends_delete(local_s3):
    local_s3.put(WHEEL)
    marker = local_s3.s3.delete_object(Bucket=local_s3.bucket, Key=WHEEL)["VersionId"]
    local_s3.records()

    local_s3.s3.delete_object(Bucket=local_s3.bucket, Key=WHEEL, VersionId=marker)

    [record] = local_s3.records()
    assert (record["eventName"], record["s3"]["object"]["versionId"]) == ("ObjectRemoved:Delete", marker)
    assert local_s3.s3.head_object(Bucket=local_s3.bucket, Key=WHEEL)["ContentLength"] == 1


def test_keys_in_records_are_url_encoded_with_plus_for_space(local_s3):
    key = "demo/demo-1.0+local-py3-none-any.whl"
    local_s3.put(key)
    local_s3.records()
    local_s3.s3.delete_object(Bucket=local_s3.bucket, Key=key)

    [record] = local_s3.records()

    assert record["s3"]["object"]["key"] == "demo/demo-1.0%2Blocal-py3-none-any.whl"
    assert list(s3_targets({"Records": [record]})) == [(local_s3.bucket, "demo")]


def test_concurrent_deletes_each_send_one_event(local_s3):
    keys = [f"alpha/alpha-1.{n}-py3-none-any.whl" for n in range(12)]
    for key in keys:
        local_s3.put(key)
    local_s3.records()
    clients = [aws.client("s3", f"http://127.0.0.1:{local_s3.server.port}") for _ in keys]
    threads = [
        threading.Thread(target=c.delete_object, kwargs={"Bucket": local_s3.bucket, "Key": k})
        for c, k in zip(clients, keys, strict=True)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()

    assert sorted(local_s3.events()) == sorted(("ObjectRemoved:DeleteMarkerCreated", k) for k in keys)


def test_sqs_requests_do_not_make_the_layer_look_at_the_bucket(local_s3, monkeypatch):
    looked: list[str] = []
    monkeypatch.setattr(local_s3.server.front, "sync", lambda *a: looked.append("sync"))
    local_s3.sqs.send_message(QueueUrl=local_s3.queue_url, MessageBody="{}")
    local_s3.sqs.receive_message(QueueUrl=local_s3.queue_url)
    local_s3.s3.list_objects_v2(Bucket=local_s3.bucket)
    assert looked == []
    local_s3.put(WHEEL)
    assert looked == ["sync"]


@pytest.mark.parametrize(
    ("key", "generated", "watched"),
    [
        ("index.html", True, False),
        ("index.json", True, False),
        ("alpha/index.json", True, False),
        ("alpha/alpha-1.0-py3-none-any.whl.metadata", True, False),
        ("alpha/alpha-1.0-py3-none-any.whl", False, True),
        ("alpha/alpha-1.0.tar.gz", False, True),
        ("alpha/alpha-1.0.zip", False, True),
        ("alpha/alpha-1.0.tar.gz.yanked", False, True),
        ("alpha/.project-status", False, True),
        ("alpha-1.0.tar.gz", False, False),  # no folder: the indexer lists no page for it
        ("alpha/notes.txt", False, False),
    ],
)
def test_which_keys_are_generated_and_which_the_indexer_watches(key, generated, watched):
    assert (is_generated(key), is_watched(key)) == (generated, watched)
