"""Chaos: concurrent handlers, an at-least-once queue, kills and 5xx answers; the pages end exact.

Several handler threads take SQS batches from a simulated queue while a publisher uploads good
and hostile files, yanks, unyanks and deletes.  The queue delivers late, twice and out of order;
the S3 client of the handlers is killed between requests (a Lambda timing out: the whole batch
comes back), answers 5xx without applying the request, or applies it and loses the answer (with or
without botocore's retry then running it again).  When every message has finally succeeded, each
project's pages must be exactly what the bucket holds: no file lost, no ghost, the right hashes,
yanks and reasons, and the root's latest version and summary.

moto's conditional writes are not atomic under concurrent requests (S3's are), so every request
goes through one lock: the threads interleave *between* S3 requests, as real Lambdas do, and the
races left are the ones AWS can produce.  Every random choice comes from seeded generators; the
thread interleaving is not fixed, and the end state must not depend on it.
"""

from __future__ import annotations

import collections
import contextlib
import hashlib
import json
import random
import re
import threading
import time
from typing import Any

import boto3
import pytest
from aws_lambda_powertools.utilities.batch.exceptions import BatchProcessingError
from botocore.exceptions import ClientError

import indexer.build
import indexer.handler
from indexer.handler import handler
from tests import hostile, s3_pages
from tests.conftest import BUCKET
from tests.distributions import make_sdist, make_wheel
from tests.sqs import s3_body, sqs_event

SEED = int(__import__("os").environ.get("CHAOS_SEED", "20261125"))
PROJECTS = ("alpha", "beta", "gamma", "delta")
CONSUMERS = 4
STEPS = 30
KILL, UNAVAILABLE, LOST, LOST_THEN_RETRIED = 0.01, 0.015, 0.015, 0.01
WRITES = {"PutObject", "DeleteObject"}


class Killed(BaseException):
    """The Lambda died between two S3 requests (timeout, OOM): nothing in the batch is acknowledged."""


def server_error(op: str) -> ClientError:
    error = {"Code": "InternalError", "Message": "We encountered an internal error. Please try again."}
    return ClientError({"Error": error, "ResponseMetadata": {"HTTPStatusCode": 500}}, op)


KILLED, UNAVAILABLE_5XX = "kill", "5xx"
APPLIED_LOST, APPLIED_LOST_RETRIED = "applied, answer lost", "applied, answer lost, retried"
FAULT_KINDS = (KILLED, UNAVAILABLE_5XX, APPLIED_LOST, APPLIED_LOST_RETRIED)


class SerializedS3:
    """Every request of every client through one lock; faults for the clients that ask for them."""

    def __init__(self, seed: int) -> None:
        self.lock = threading.Lock()
        self.rng = random.Random(seed)
        self.faults: collections.Counter[str] = collections.Counter()
        self.chaos = True
        # Each kind of fault is injected at least once, whatever the interleaving: the first
        # eligible faulty requests take these, then the seeded dice decide.
        self.owed = list(FAULT_KINDS)

    def _fault(self, op: str) -> str | None:
        for kind in self.owed:
            if kind in (KILLED, UNAVAILABLE_5XX) or op in WRITES:
                self.owed.remove(kind)
                return kind
        roll = self.rng.random()
        if roll < KILL:
            return KILLED
        if roll < KILL + UNAVAILABLE:
            return UNAVAILABLE_5XX
        if op in WRITES and roll < KILL + UNAVAILABLE + LOST:
            return APPLIED_LOST
        if op in WRITES and roll < KILL + UNAVAILABLE + LOST + LOST_THEN_RETRIED:
            return APPLIED_LOST_RETRIED
        return None

    def attach(self, client: Any, *, faulty: bool) -> Any:
        send = client._make_api_call

        def call(op: str, params: dict[str, Any]) -> Any:
            with self.lock:
                kind = self._fault(op) if faulty and self.chaos else None
                if kind is not None:
                    self.faults[kind] += 1
                if kind == KILLED:
                    raise Killed(op)
                if kind == UNAVAILABLE_5XX:
                    raise server_error(op)
                # botocore turns a bytes Body into a stream inside the params it is given, and a
                # real retry rewinds it: each send gets its own copy of the params.
                if kind == APPLIED_LOST:
                    send(op, dict(params))
                    raise server_error(op)
                if kind == APPLIED_LOST_RETRIED:
                    # The answer was lost and botocore sent the request again: the caller sees the
                    # second answer (a conditional PUT now fails with 412, its write already done).
                    with contextlib.suppress(ClientError):
                        send(op, dict(params))
                return send(op, params)

        client._make_api_call = call
        return client


class Queue:
    """An SQS queue as the indexer sees it: at-least-once, unordered, sometimes late."""

    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)
        self.lock = threading.Lock()
        self.ready: list[str] = []
        self.late: list[str] = []
        self.in_flight = 0
        self.sent = 0
        self.deliveries = 0
        self.redeliveries = 0

    def send(self, body: str) -> None:
        with self.lock:
            self.sent += 1
            (self.late if self.rng.random() < 0.15 else self.ready).append(body)

    def release_late(self) -> None:
        with self.lock:
            self.ready += self.late
            self.late.clear()

    def receive(self) -> list[str]:
        with self.lock:
            self.rng.shuffle(self.ready)
            batch = [self.ready.pop() for _ in range(min(len(self.ready), self.rng.randint(1, 5)))]
            # At-least-once: now and then a message is delivered again, maybe to another handler
            # while this one still works on it.
            self.ready += [body for body in batch if self.rng.random() < 0.2]
            self.in_flight += bool(batch)
            self.deliveries += len(batch)
            return batch

    def done(self, retry: list[str]) -> None:
        with self.lock:
            self.ready += retry
            self.redeliveries += len(retry)
            self.in_flight -= 1

    def drained(self) -> bool:
        with self.lock:
            return not self.ready and not self.late and not self.in_flight


class Publisher:
    """Changes the bucket the ways people do, sending S3's event for each change."""

    def __init__(self, client: Any, queue: Queue, seed: int) -> None:
        self.s3 = client
        self.queue = queue
        self.rng = random.Random(seed)
        self.versions: dict[str, int] = dict.fromkeys(PROJECTS, 0)
        self.good: set[str] = set()  # keys of the valid distributions written (maybe deleted since)
        self.hostile = 0

    def put(self, key: str, body: bytes, *, good: bool) -> None:
        self.s3.put_object(Bucket=BUCKET, Key=key, Body=body)
        (self.good.add if good else self.good.discard)(key)
        self.queue.send(s3_body(key))

    def delete(self, key: str) -> None:
        self.s3.delete_object(Bucket=BUCKET, Key=key)
        self.queue.send(s3_body(key, removed=True))

    def dists(self, project: str) -> list[str]:
        found = self.s3.list_objects_v2(Bucket=BUCKET, Prefix=f"{project}/").get("Contents", [])
        return [o["Key"] for o in found if o["Key"].endswith((".whl", ".tar.gz"))]

    def step(self) -> None:
        project = self.rng.choice(PROJECTS)
        action = self.rng.choices(["release", "hostile", "yank", "unyank", "delete"], [5, 2, 2, 1, 2])[0]
        existing = self.dists(project)
        if action == "release" or not existing:
            self.versions[project] += 1
            version = f"1.{self.versions[project]}"
            summary = f"{project} {version} <b>&</b>"
            filename, data, _ = make_wheel(project, version, summary=summary)
            self.put(f"{project}/{filename}", data, good=True)
            if self.rng.random() < 0.5:
                filename, data = make_sdist(project, version, summary=summary)
                self.put(f"{project}/{filename}", data, good=True)
        elif action == "hostile":
            self.hostile += 1
            version = f"0.{self.hostile}"
            kind = self.rng.choice(["bomb", "mismatch", "corrupt", "truncated"])
            data = {
                "bomb": lambda: hostile.zip_bomb_wheel(f"{project}-{version}.dist-info"),
                "mismatch": lambda: make_wheel("intruder", version)[1],
                "corrupt": lambda: b"PK\x03\x04" + bytes(self.rng.randbytes(200)),
                "truncated": lambda: hostile.truncated(make_wheel(project, version)[1]),
            }[kind]()
            self.put(f"{project}/{project}-{version}-py3-none-any.whl", data, good=False)
        elif action == "yank":
            key = self.rng.choice(existing)
            reason = self.rng.choice(["", "broken <script>x</script>", "use 2.x   instead"])
            self.put(key + ".yanked", reason.encode(), good=False)
        elif action == "unyank":
            markers = [k + ".yanked" for k in existing]
            self.delete(self.rng.choice(markers))  # a marker that may not exist: S3 still sends an event
        else:
            self.delete(self.rng.choice(existing))


def consume(queue: Queue, seed: int, stop: threading.Event, errors: list[BaseException]) -> None:
    rng = random.Random(seed)
    while not stop.is_set():
        batch = queue.receive()
        if not batch:
            time.sleep(0.002)
            continue
        retry = batch
        try:
            result = handler(sqs_event(*batch), None)
            retry = [batch[int(f["itemIdentifier"][1:])] for f in result["batchItemFailures"]]
        except Killed:
            pass  # nothing acknowledged: the whole batch becomes visible again
        except BatchProcessingError:
            pass  # every record failed: the invocation fails and the whole batch comes back
        except BaseException as exc:  # anything else is a defect, reported by the test
            errors.append(exc)
        finally:
            queue.done(retry)
        time.sleep(rng.random() * 0.002)


def expected_state(s3: Any, good: set[str]) -> dict[str, dict[str, Any]]:
    """What the pages must say, from the bucket alone (and which files were valid when written)."""
    objects = {o["Key"] for o in s3.list_objects_v2(Bucket=BUCKET).get("Contents", [])}
    expected: dict[str, dict[str, Any]] = {}
    for key in sorted(objects):
        if key not in good:
            continue
        project, filename = key.split("/")
        data = s3_pages.read(s3, BUCKET, key)
        yanked: bool | str = False
        if key + ".yanked" in objects:
            text = s3_pages.read(s3, BUCKET, key + ".yanked").decode()
            # The reason as written, less the one newline `echo` adds (issue 14); empty still yanks.
            yanked = text.removesuffix("\n") or True
        expected.setdefault(project, {})[filename] = {
            "sha256": hashlib.sha256(data).hexdigest(),
            "yanked": yanked,
        }
    return expected


def version_of(filename: str) -> tuple[int, ...]:
    return tuple(int(x) for x in filename.split("-")[1].removesuffix(".tar.gz").split("."))


@pytest.fixture
def chaos(aws_env: None, monkeypatch: pytest.MonkeyPatch) -> Any:
    from moto import mock_aws

    with mock_aws():
        serial = SerializedS3(SEED)
        admin = serial.attach(boto3.client("s3", region_name="us-east-1"), faulty=False)
        admin.create_bucket(Bucket=BUCKET)
        admin.put_bucket_versioning(Bucket=BUCKET, VersioningConfiguration={"Status": "Enabled"})
        lambda_client = serial.attach(boto3.client("s3", region_name="us-east-1"), faulty=True)
        monkeypatch.setattr(indexer.handler, "s3_client", lambda: lambda_client)
        # Lost races retry at once: the lock already spaces the requests out.
        monkeypatch.setattr(indexer.build, "_backoff", lambda attempt: time.sleep(0.001))
        yield serial, admin


def test_concurrent_handlers_under_kills_5xx_and_redelivery_leave_pages_equal_to_the_bucket(chaos):
    serial, s3 = chaos
    queue = Queue(SEED + 1)
    publisher = Publisher(s3, queue, SEED + 2)
    stop = threading.Event()
    errors: list[BaseException] = []
    consumers = [
        threading.Thread(target=consume, args=(queue, SEED + 10 + n, stop, errors), daemon=True)
        for n in range(CONSUMERS)
    ]
    for t in consumers:
        t.start()
    try:
        for _ in range(STEPS):
            publisher.step()
            time.sleep(publisher.rng.random() * 0.004)
        queue.release_late()  # the stragglers arrive after everything else
        deadline = time.monotonic() + 60  # a bound, not a timing assertion: it ends in seconds
        while not queue.drained() and time.monotonic() < deadline:
            time.sleep(0.01)
    finally:
        stop.set()
        for t in consumers:
            t.join()
    assert not errors
    assert queue.drained()
    # The storm really happened: every kind of fault at least once (SerializedS3.owed), the rest
    # seeded but dependent on the interleaving.
    storm = (dict(serial.faults), queue.sent, queue.deliveries, queue.redeliveries)
    assert all(serial.faults[kind] for kind in FAULT_KINDS), storm
    assert queue.redeliveries > 0 and queue.deliveries > queue.sent
    assert publisher.hostile > 0

    serial.chaos = False
    expected = expected_state(s3, publisher.good)
    root = json.loads(s3_pages.read(s3, BUCKET, "index.json"))
    root_html = s3_pages.read(s3, BUCKET, "index.html").decode()
    assert sorted(p["name"] for p in root["projects"]) == sorted(expected)
    keys = {o["Key"] for o in s3.list_objects_v2(Bucket=BUCKET).get("Contents", [])}
    for project in PROJECTS:
        if project not in expected:
            assert not {k for k in keys if k.startswith(f"{project}/index.")}, project
            assert f'href="{project}/"' not in root_html
            continue
        page = json.loads(s3_pages.read(s3, BUCKET, f"{project}/index.json"))
        html = s3_pages.read(s3, BUCKET, f"{project}/index.html").decode()
        got = {f["filename"]: {"sha256": f["hashes"]["sha256"], "yanked": f["yanked"]} for f in page["files"]}
        assert got == expected[project], project  # 0 lost, 0 ghost, hashes and yanks
        assert sorted(n for n in expected[project] if f">{n}</a>" in html) == sorted(expected[project])
        # the files are the page's only <a href> (other links are <a data-href>, indexer/about.py)
        assert len(re.findall(r"<a\s(?:[^>]*\s)?href=", html)) == len(expected[project])
        wheels = {f"{project}/{n}.metadata" for n in expected[project] if n.endswith(".whl")}
        assert {k for k in keys if k.startswith(f"{project}/") and k.endswith(".metadata")} == wheels
        live = [n for n, f in expected[project].items() if f["yanked"] is False] or list(expected[project])
        latest = ".".join(map(str, max(version_of(n) for n in live)))
        (entry,) = [p for p in root["projects"] if p["name"] == project]
        assert (entry["_latest"], entry["_summary"]) == (latest, f"{project} {latest} <b>&</b>")
        assert f'href="{project}/"' in root_html and "&lt;b&gt;&amp;&lt;/b&gt;" in root_html
