"""Many rebuilds of one project racing with uploads and deletes: the pages end up exact."""

from __future__ import annotations

import json
import random
import re
import threading
from typing import Any

from indexer.build import Indexer, RebuildConflict
from indexer.store import Bucket
from infra import wiring
from tests import s3_pages
from tests.conftest import BUCKET
from tests.distributions import make_wheel


def test_racing_rebuilds_with_duplicated_and_reordered_events_end_exact(s3: Any):
    wheels = {v: make_wheel("race", v) for v in [f"1.{i}" for i in range(12)]}
    rng = random.Random(7)
    plan: list[tuple[str, str]] = []  # (action, version) per thread, shuffled: reordered events
    for v in wheels:
        plan.append(("add", v))
    for v in rng.sample(sorted(wheels), 5):
        plan.append(("remove", v))
    rng.shuffle(plan)
    barrier = threading.Barrier(len(plan))
    errors: list[BaseException] = []

    def deliver(ix: Indexer) -> None:
        # A rebuild that loses the conditional-write race MAX_ATTEMPTS times raises, and SQS
        # delivers the message again, up to maxReceiveCount times before the dead-letter queue
        # (on a starved machine, 17 threads racing on one page can take a thread that far).
        for receive in range(1, wiring.MAX_RECEIVE_COUNT + 1):
            try:
                ix.rebuild("race")
                return
            except RebuildConflict:
                if receive == wiring.MAX_RECEIVE_COUNT:
                    raise

    def worker(action: str, version: str, seed: int) -> None:
        local = random.Random(seed)
        ix = Indexer(Bucket(s3, BUCKET))
        filename, data, _ = wheels[version]
        try:
            barrier.wait()
            if action == "add":
                s3.put_object(Bucket=BUCKET, Key=f"race/{filename}", Body=data)
            else:
                s3.delete_object(Bucket=BUCKET, Key=f"race/{filename}")
            # The event, delivered once or twice (SQS is at-least-once).
            for _ in range(local.choice([1, 1, 2])):
                deliver(ix)
        except BaseException as exc:  # reported below, with the thread's context
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(a, v, n)) for n, (a, v) in enumerate(plan)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors

    in_bucket = sorted(
        o["Key"].split("/", 1)[1]
        for o in s3.list_objects_v2(Bucket=BUCKET, Prefix="race/")["Contents"]
        if o["Key"].endswith(".whl")
    )
    page = json.loads(s3_pages.read(s3, BUCKET, "race/index.json"))
    assert sorted(f["filename"] for f in page["files"]) == in_bucket
    html = s3.get_object(Bucket=BUCKET, Key="race/index.html")["Body"].read().decode()
    assert sorted(name for name in in_bucket if f">{name}</a>" in html) == in_bucket
    # the files are the page's only <a href> (other links are <a data-href>, indexer/about.py)
    assert len(re.findall(r"<a\s(?:[^>]*\s)?href=", html)) == len(in_bucket)
    metadata = {o["Key"] for o in s3.list_objects_v2(Bucket=BUCKET, Prefix="race/")["Contents"]}
    assert {f"race/{name}.metadata" for name in in_bucket} <= metadata
    (entry,) = json.loads(s3_pages.read(s3, BUCKET, "index.json"))["projects"]
    assert entry["_latest"] == max(page["versions"], key=lambda v: tuple(int(x) for x in v.split(".")))
