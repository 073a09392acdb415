"""Indexer costs on moto's in-process S3 (`mock_aws`): one upload at N projects, and reindex.

Times here are moto's, in this process: they compare algorithms side by side on one machine,
not S3 latencies. Request counts are exact (botocore's before-call hook, `RequestCounter`).
"""

from __future__ import annotations

import hashlib
import os
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import boto3
from moto import mock_aws

from bench import alternatives
from bench.report import median, timed
from indexer import render
from indexer.build import Indexer
from indexer.model import ProjectEntry, ProjectList
from indexer.store import HTML, JSON, Bucket
from tests.conftest import RequestCounter
from tests.distributions import make_wheel, wheel_filename

BUCKET = "pypi-bench"
SERVERLESS_PYPI = "serverless-pypi (re-implemented)"
S3PYPI = "s3pypi --put-root-index (re-implemented)"
SUMMARY = "A test package"
# Variables that could point boto3 somewhere other than moto (the local stack sets some).
_AWAY = (
    "AWS_PROFILE",
    "AWS_SESSION_TOKEN",
    "AWS_ENDPOINT_URL",
    "AWS_ENDPOINT_URL_S3",
    "AWS_ENDPOINT_URL_SQS",
)
_FAKE = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
}


class Counter(RequestCounter):
    """The tests' counter, made exact under the reindex's thread pool."""

    def __init__(self, client: Any) -> None:
        self._lock = threading.Lock()
        super().__init__(client)

    def _count(self, model: Any, **kwargs: Any) -> None:
        with self._lock:
            super()._count(model, **kwargs)


@contextmanager
def moto_bucket(bucket: str = BUCKET) -> Iterator[Any]:
    """A fresh, versioned bucket (as deployed) in an in-process moto, with fake credentials."""
    saved = {k: os.environ.get(k) for k in (*_AWAY, *_FAKE)}
    for k in _AWAY:
        os.environ.pop(k, None)
    os.environ.update(_FAKE)
    try:
        with mock_aws():
            s3 = boto3.client("s3", region_name="us-east-1")
            s3.create_bucket(Bucket=bucket)
            s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
            yield s3
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def project_name(i: int) -> str:
    return f"p{i:05d}"


def populate(s3: Any, projects: int, sample: int) -> None:
    """A bucket of `projects` projects, built cheaply.

    Every project gets a folder holding one tiny object: serverless-pypi and s3pypi list the
    bucket on every upload, so the number of folders must be real. Only `sample` of them hold
    a real wheel indexed by our indexer; the root index.json listing all of them is written
    directly, since our per-upload cost depends on the root's size, not on other folders.
    """
    for i in range(projects):
        name = project_name(i)
        s3.put_object(Bucket=BUCKET, Key=f"{name}/{wheel_filename(name, '1.0')}", Body=b"0")
    bucket = Bucket(s3, BUCKET)
    ix = Indexer(bucket)
    for i in _spread(projects, sample):
        name = project_name(i)
        filename, data, _ = make_wheel(name, "1.0", summary=SUMMARY)
        s3.put_object(Bucket=BUCKET, Key=f"{name}/{filename}", Body=data)
        ix.rebuild(name, update_root=False)
    root = ProjectList(
        tuple(ProjectEntry(project_name(i), "1.0", SUMMARY, 1) for i in range(projects)), serial=1
    )
    bucket.put("index.html", render.root_html(root), HTML, bucket.page_cache_control)
    bucket.put("index.json", render.root_json(root), JSON, bucket.page_cache_control)


def _spread(total: int, k: int) -> range:
    return range(0, total, max(1, total // max(1, k)))


@dataclass(frozen=True)
class Cost:
    """S3 requests of one operation (exact, identical on every run) and its median time."""

    requests: int
    seconds: float
    calls: dict[str, int]


def measure(s3: Any, runs: int, prepare: Callable[[int], None], operation: Callable[[], object]) -> Cost:
    """Run `prepare(run)` (not counted), then `operation()` (counted and timed), `runs` times."""
    counter = Counter(s3)
    times, totals = [], set()
    calls: dict[str, int] = {}
    for run in range(runs):
        prepare(run)
        counter.reset()
        times.append(timed(operation))
        totals.add(counter.total)
        calls = dict(counter.calls)
    if len(totals) != 1:
        raise AssertionError(f"request count varied between runs: {sorted(totals)}")
    s3.meta.events.unregister("before-call.s3", counter._count)
    return Cost(totals.pop(), median(times), calls)


@dataclass(frozen=True)
class UploadCosts:
    projects: int
    ours: Cost  # the indexer's rebuild of the uploaded project (what one S3 event triggers)
    serverless_pypi: Cost  # its reindex_bucket Lambda, run per sdist upload
    s3pypi: Cost  # its CLI's index maintenance around one upload, with --put-root-index
    ours_page: Cost  # serving a project page: one GET of the stored page (on a CDN miss)
    serverless_pypi_page: Cost  # serving a project page: list the prefix, presign, render

    @property
    def others(self) -> list[tuple[str, Cost]]:
        return [(SERVERLESS_PYPI, self.serverless_pypi), (S3PYPI, self.s3pypi)]


def upload_costs(projects: int, *, sample: int = 200, runs: int = 5) -> UploadCosts:
    with moto_bucket() as s3:
        populate(s3, projects, sample)
        ix = Indexer(Bucket(s3, BUCKET))
        put = _uploader(s3)
        put("demo", "1.0")
        ix.rebuild("demo")

        # A new latest version each run: the root is rewritten every time (the costlier case).
        ours = measure(s3, runs, lambda r: put("demo", f"1.{r + 1}"), lambda: ix.rebuild("demo"))
        sp = measure(
            s3,
            runs,
            lambda r: put("demo-sp", f"1.{r}", sdist=True),  # only .tar.gz triggers it
            lambda: alternatives.serverless_pypi_reindex(s3, BUCKET),
        )
        uploaded: list[tuple[str, str]] = []

        def s3pypi_upload(run: int) -> None:
            uploaded[:] = [put("demo-s3pypi", f"1.{run}")]

        s3p = measure(
            s3,
            runs,
            s3pypi_upload,
            lambda: alternatives.s3pypi_index_upload(s3, BUCKET, "demo-s3pypi", *uploaded[0]),
        )
        page_runs = max(runs, 20)
        ours_page = measure(
            s3,
            page_runs,
            lambda r: None,
            lambda: s3.get_object(Bucket=BUCKET, Key="demo/index.html")["Body"].read(),
        )
        sp_page = measure(
            s3,
            page_runs,
            lambda r: None,
            lambda: alternatives.serverless_pypi_project_page(s3, BUCKET, "demo-sp"),
        )
    return UploadCosts(projects, ours, sp, s3p, ours_page, sp_page)


def _uploader(s3: Any) -> Callable[..., tuple[str, str]]:
    """put(project, version, sdist=False) -> (filename, sha256): a publisher's one PUT."""

    def put(project: str, version: str, *, sdist: bool = False) -> tuple[str, str]:
        filename, data, _ = make_wheel(project, version, summary=SUMMARY)
        if sdist:
            filename = filename.split("-py3-")[0] + ".tar.gz"  # its content is never read
        s3.put_object(Bucket=BUCKET, Key=f"{project}/{filename}", Body=data)
        return filename, hashlib.sha256(data).hexdigest()

    return put


@dataclass(frozen=True)
class ReindexCosts:
    files: int
    projects: int
    first: Cost  # no pages yet: every distribution is read
    again: Cost  # pages present: hashes and metadata reused, no distribution read


def reindex_costs(files: int = 2000, *, versions: int = 5, runs: int = 3) -> ReindexCosts:
    """`Indexer.reindex` over `files` small wheels (`versions` per project), on fresh buckets."""
    projects = files // versions
    wheels = [
        make_wheel(f"rx{p:04d}", f"1.{v}", summary=SUMMARY)[:2]
        for p in range(projects)
        for v in range(versions)
    ]
    first: list[Cost] = []
    again: list[Cost] = []
    for _ in range(runs):
        with moto_bucket() as s3:
            for filename, data in wheels:
                s3.put_object(Bucket=BUCKET, Key=f"{filename.split('-')[0]}/{filename}", Body=data)
            ix = Indexer(Bucket(s3, BUCKET))
            first.append(measure(s3, 1, lambda r: None, ix.reindex))
            again.append(measure(s3, 1, lambda r: None, ix.reindex))
    return ReindexCosts(len(wheels), projects, _merge(first), _merge(again))


def _merge(costs: list[Cost]) -> Cost:
    """One Cost from single runs on fresh buckets: the median time, the (identical) counts."""
    counts = {c.requests for c in costs}
    if len(counts) != 1:
        raise AssertionError(f"request count varied between runs: {sorted(counts)}")
    return Cost(counts.pop(), median([c.seconds for c in costs]), costs[-1].calls)
