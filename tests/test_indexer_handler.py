"""The Lambda entry point: SQS-wrapped and direct S3 events, decoding, partial batch failures."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any
from urllib.parse import unquote

from indexer.handler import handler, s3_targets
from tests import s3_pages
from tests.conftest import BUCKET, RequestCounter
from tests.distributions import make_sdist, make_wheel

EVENTS = Path(__file__).parent / "events"


def event(name: str) -> dict[str, Any]:
    return json.loads((EVENTS / name).read_text())


def put(s3: Any, key: str, body: bytes) -> None:
    s3.put_object(Bucket=BUCKET, Key=key, Body=body)


def projects_in_root(s3: Any) -> list[str]:
    doc = json.loads(s3_pages.read(s3, BUCKET, "index.json"))
    return [p["name"] for p in doc["projects"]]


def test_sqs_batch_rebuilds_each_touched_project_once(lambda_s3):
    for v in ("1.0", "1.1"):
        filename, data, _ = make_wheel("alpha", v)
        put(lambda_s3, f"alpha/{filename}", data)
    filename, data = make_sdist("beta", "2.0")
    put(lambda_s3, f"beta/{filename}", data)
    pages_read: list[str] = []
    lambda_s3.meta.events.register(
        "before-call.s3.GetObject",
        lambda params, **_: pages_read.append(unquote(params["url_path"]).removeprefix(f"/{BUCKET}")),
    )
    result = handler(event("sqs-batch-two-projects.json"), None)
    assert result == {"batchItemFailures": []}
    # A rebuild starts by reading the project's page: alpha once (three records), beta once.
    project_pages = sorted(
        p.split("/")[1] for p in pages_read if p.endswith("/index.json") and p.count("/") == 2
    )
    assert project_pages == ["alpha", "beta"]
    assert projects_in_root(lambda_s3) == ["alpha", "beta"]


def test_s3_test_event_is_ignored(lambda_s3, counter: RequestCounter):
    assert handler(event("sqs-s3-test-event.json"), None) == {"batchItemFailures": []}
    assert counter.total == 0


def test_events_for_the_indexers_own_outputs_are_ignored(lambda_s3, counter: RequestCounter):
    assert handler(event("sqs-own-outputs.json"), None) == {"batchItemFailures": []}
    assert counter.total == 0


def test_direct_s3_event_with_encoded_plus_indexes_the_local_version(lambda_s3):
    filename, data, _ = make_wheel("foo-bar", "1.0+local")
    put(lambda_s3, f"foo-bar/{filename}", data)
    handler(event("s3-direct-local-version.json"), None)
    doc = json.loads(s3_pages.read(lambda_s3, BUCKET, "foo-bar/index.json"))
    assert [f["filename"] for f in doc["files"]] == ["foo_bar-1.0+local-py3-none-any.whl"]


def test_keys_are_decoded_with_unquote_plus(caplog):
    targets = list(s3_targets(event("s3-encoded-keys.json")))
    # "%2B" is a plus, so the local version's project is found.
    assert targets == [(BUCKET, "demo")]
    # "+" is a space and UTF-8 is decoded: neither folder is a valid project name, and the
    # warnings name the keys as they are in the bucket.
    warned = {r.key for r in caplog.records if r.levelname == "WARNING"}
    assert warned == {"my folder/x-1.0.tar.gz", "démo/démo-1.0.tar.gz"}


def test_removed_object_event_rebuilds_the_project(lambda_s3):
    filename, data, _ = make_wheel("alpha", "1.0")
    put(lambda_s3, f"alpha/{filename}", data)
    handler(event("sqs-batch-two-projects.json"), None)
    assert "alpha" in projects_in_root(lambda_s3)
    lambda_s3.delete_object(Bucket=BUCKET, Key=f"alpha/{filename}")
    assert handler(event("sqs-object-removed.json"), None) == {"batchItemFailures": []}
    assert "alpha" not in projects_in_root(lambda_s3)


def test_a_delete_marker_created_record_is_handled_exactly_like_a_delete_record(lambda_s3):
    """A DELETE in a versioned bucket makes S3 send ObjectRemoved:DeleteMarkerCreated, without
    size or eTag (tests/events/sqs-object-removed-delete-marker.json, shaped as S3's "Event message
    structure"); the indexer must rebuild from it exactly as from ObjectRemoved:Delete."""
    names = {}
    for version in ("1.0", "1.1"):
        names[version], data, _ = make_wheel("alpha", version)
        put(lambda_s3, f"alpha/{names[version]}", data)
    calls: list[str] = []
    lambda_s3.meta.events.register("before-call.s3", lambda model, **_: calls.append(model.name))

    def remove_then_handle(fixture: str) -> tuple[list[str], list[str], dict[str, Any]]:
        put(lambda_s3, f"alpha/{names['1.0']}", make_wheel("alpha", "1.0")[1])
        handler(event("sqs-batch-two-projects.json"), None)
        lambda_s3.delete_object(Bucket=BUCKET, Key=f"alpha/{names['1.0']}")  # a delete marker
        calls.clear()
        result = handler(event(fixture), None)
        doc = json.loads(s3_pages.read(lambda_s3, BUCKET, "alpha/index.json"))
        return list(calls), [f["filename"] for f in doc["files"]], result

    by_delete = remove_then_handle("sqs-object-removed.json")
    by_marker = remove_then_handle("sqs-object-removed-delete-marker.json")

    assert by_marker == by_delete
    assert by_marker[1] == [names["1.1"]]
    assert by_marker[2] == {"batchItemFailures": []}
    body = json.loads(event("sqs-object-removed-delete-marker.json")["Records"][0]["body"])
    assert body["Records"][0]["eventName"] == "ObjectRemoved:DeleteMarkerCreated"
    assert list(s3_targets(body)) == [(BUCKET, "alpha")]


def test_bad_records_fail_alone_and_the_rest_of_the_batch_succeeds(lambda_s3):
    filename, data, _ = make_wheel("alpha", "1.0")
    put(lambda_s3, f"alpha/{filename}", data)
    result = handler(event("sqs-batch-with-bad-records.json"), None)
    failed = sorted(f["itemIdentifier"] for f in result["batchItemFailures"])
    assert failed == ["00000002-1111-2222-3333-444444444444", "00000003-1111-2222-3333-444444444444"]
    assert projects_in_root(lambda_s3) == ["alpha"]
