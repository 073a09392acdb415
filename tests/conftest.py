"""Shared fixtures: a moto bucket, an S3 request counter, and distributions on disk."""

from __future__ import annotations

import collections
import functools
import json
import types
from collections.abc import Iterable, Iterator
from typing import Any

import boto3
import botocore.session
import pytest
from joserfc import jwk
from moto import mock_aws
from moto.cognitoidp import models as moto_cognito

BUCKET = "pypi-test"

# One botocore data loader for the whole test process.  `mock_aws()` gives each test a new default
# boto3 session, and each new session a new loader that parses the service models' JSON again
# (S3's alone is megabytes): half of a moto test's time was `json.loads` (profiled:
# tests/test_publish_identity.py, 12 of 24 s in creating 66 clients).  Within one session botocore
# shares its loader between all clients; sharing it across sessions is the same, and moto patches
# sessions through their event hooks, never through the loader.
botocore.session.create_loader = functools.cache(botocore.session.create_loader)


# moto's Cognito imports its one static signing key (cognitoidp/resources/jwks-private.json, n/e/d
# without the primes) in every CreateUserPool and recovers the RSA primes each time: 150 ms a pool,
# a third of tests/test_cli_users.py (profiled).  Imported once per distinct key instead, in moto's
# module only: our own code (upload/oidc.py) keeps the real `joserfc.jwk`.
@functools.cache
def _moto_rsa_key(frozen: str) -> jwk.RSAKey:
    return jwk.RSAKey.import_key(json.loads(frozen))


moto_cognito.jwk = types.SimpleNamespace(
    RSAKey=types.SimpleNamespace(import_key=lambda data: _moto_rsa_key(json.dumps(data, sort_keys=True)))
)

# The Pulumi program writes its bundles to the checkout's `.bundles/`, one zip name per stack,
# as a deployment does; two test files running a stack of the same name with other settings at
# once on two workers would overwrite each other's zip between a program run and the test that
# reads it.  So every file that runs the program goes to one xdist worker, one after another
# (they are a minute of work together; the dependency zips are shared, `infra.bundle`).
SHARED_BUNDLES = "tests/test_pulumi_"


def pytest_xdist_make_scheduler(config: pytest.Config, log: Any) -> Any:
    """`--dist loadfile` (pyproject.toml), but with the Pulumi program's files as one unit."""
    if config.getoption("dist") != "loadfile":
        return None
    from xdist.scheduler import LoadFileScheduling

    class Scheduling(LoadFileScheduling):
        def _split_scope(self, nodeid: str) -> str:
            scope = super()._split_scope(nodeid)
            return SHARED_BUNDLES if scope.startswith(SHARED_BUNDLES) else scope

    return Scheduling(config, log)


@pytest.fixture
def aws_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """Fake credentials and no endpoint overrides, so nothing can reach a real AWS account."""
    for var in (
        "AWS_PROFILE",
        "AWS_SESSION_TOKEN",
        "AWS_ENDPOINT_URL",
        "AWS_ENDPOINT_URL_S3",
        "AWS_ENDPOINT_URL_SQS",
        "AWS_ENDPOINT_URL_CLOUDFRONT",
        "PYPI_EDGE_DISTRIBUTION_ID",  # no CloudFront invalidations unless a test asks for them
    ):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")


class RequestCounter:
    """Counts S3 API calls by operation, via botocore's before-call event (exact, not sampled)."""

    def __init__(self, client: Any) -> None:
        self.calls: collections.Counter[str] = collections.Counter()
        client.meta.events.register("before-call.s3", self._count)

    def _count(self, model: Any, **_: Any) -> None:
        self.calls[model.name] += 1

    @property
    def total(self) -> int:
        return sum(self.calls.values())

    def reset(self) -> None:
        self.calls.clear()


@pytest.fixture
def s3(aws_env: None) -> Iterator[Any]:
    with mock_aws():
        client = boto3.client("s3", region_name="us-east-1")
        client.create_bucket(Bucket=BUCKET)
        client.put_bucket_versioning(Bucket=BUCKET, VersioningConfiguration={"Status": "Enabled"})
        yield client


def put_many(bucket: str, objects: Iterable[tuple[str, bytes]]) -> None:
    """Objects straight into the mock_aws bucket through moto's S3 backend, for a test that needs
    thousands of them to be there (not to be written through boto3: each PutObject costs a signed
    request moto parses, about 4 ms, which made one test spend minutes filling its bucket)."""
    from moto.core import DEFAULT_ACCOUNT_ID
    from moto.s3.models import s3_backends

    backend = s3_backends[DEFAULT_ACCOUNT_ID]["aws"]
    for key, body in objects:
        backend.put_object(bucket, key, body)


@pytest.fixture
def counter(s3: Any) -> RequestCounter:
    return RequestCounter(s3)


@pytest.fixture
def lambda_s3(s3: Any, monkeypatch: pytest.MonkeyPatch) -> Any:
    """The moto bucket's client, as the indexer Lambda handler's S3 client."""
    import indexer.handler

    monkeypatch.setattr(indexer.handler, "s3_client", lambda: s3)
    return s3


# --- end-to-end: one local stack per session, with a published set of real packages ---------

OUTPUT = __import__("pathlib").Path(__file__).resolve().parent.parent / "test-output"

# Names chosen to exist nowhere else (poetry and --extra-index-url also ask PyPI), with ".",
# "_" and capitals; a local version; a dependency; a Requires-Python only a future Python meets.
E2E_PACKAGES = [
    ("EdgeTest_Hello.World", "1.0+local", {"requires_dist": ["edgetest-dep>=1.1"], "summary": "Says hello"}),
    ("edgetest_dep", "1.0", {}),
    ("edgetest_dep", "1.2", {"summary": "The dependency"}),
    ("edgetest-modern", "1.0", {}),
    ("edgetest-modern", "2.0", {"requires_python": ">=3.99"}),
    ("edgetest-yanky", "1.0", {}),
    ("edgetest-yanky", "2.0", {}),
]


@pytest.fixture(scope="session")
def output_dir(worker_id: str) -> Any:
    """test-output/, or test-output/<worker>/ under pytest-xdist: each worker starts its own
    session stack, whose log (read back by the access-log tests) must not be another's."""
    out = OUTPUT if worker_id == "master" else OUTPUT / worker_id
    out.mkdir(parents=True, exist_ok=True)
    return out


@pytest.fixture(scope="session")
def e2e(output_dir: Any) -> Iterator[Any]:
    from tests.distributions import make_sdist, make_wheel
    from tests.e2e import Stack

    stack = Stack(workdir=output_dir).start()
    try:
        expected: dict[str, set[str]] = {}
        for name, version, kwargs in E2E_PACKAGES:
            filename, data, _ = make_wheel(name, version, **kwargs)
            sdist_name, sdist = make_sdist(name, version, **kwargs)
            for fn, body in ((filename, data), (sdist_name, sdist)):
                key = stack.put(fn, body)
                expected.setdefault(key.split("/")[0], set()).add(fn)
        for project, files in expected.items():
            stack.wait_for(project, lambda got, files=files: files <= {f["filename"] for f in got})
        yield stack
    finally:
        stack.stop()


@pytest.fixture
def issuer() -> Iterator[Any]:
    """A local OIDC issuer (tests/oidc_issuer.py) on a free loopback port: GitHub's and GitLab's stand-in."""
    from tests.oidc_issuer import Issuer

    server = Issuer()
    yield server
    server.close()
