"""The upload function with a user pool: the same verifier as the edge, rights from the pool's groups."""

from __future__ import annotations

import pytest

from edge import userpool
from tests.bucket_state import gained, snapshot
from tests.conftest import BUCKET
from tests.distributions import make_wheel
from tests.test_edge_userpool import CLIENT_ID, POOL_ID, FakePool
from tests.upload_helpers import CREDENTIALS, basic, install_config, upload_event
from upload import handler as upload

TOKEN = userpool.make_token("deploy", "Deploy-secret-123")
GROUPS = {
    ("carol", "Carol-password-1"): ["pypi-edge:read"],
    ("token:deploy", "Deploy-secret-123"): ["pypi-edge:read", "pypi-edge:publish:acme-*"],
}


@pytest.fixture
def pool():
    return FakePool(GROUPS)


@pytest.fixture
def config(s3, pool):
    cfg = install_config(s3)
    cfg.verifier.pool = userpool.PoolVerifier(userpool.Settings(POOL_ID, CLIENT_ID), pool)
    yield cfg
    upload.configure(None)


def wheel(name: str):
    filename, data, _ = make_wheel(name, "1.0")
    return filename, data


def post(name: str, auth: str) -> dict:
    filename, data = wheel(name)
    return upload.handler(upload_event(filename, data, name, "1.0", auth=auth))


def test_a_pool_token_publishes_inside_its_globs_only(config, s3) -> None:
    auth = basic("__token__", TOKEN)
    assert post("acme-x", auth)["statusCode"] == 200
    before = snapshot(s3, BUCKET)
    refused = post("other", auth)
    assert refused["statusCode"] == 403 and "'deploy' may not publish to project 'other'" in refused["body"]
    assert gained(s3, BUCKET, before) == []


def test_a_pool_reader_may_not_publish(config, s3) -> None:
    before = snapshot(s3, BUCKET)
    assert post("acme-x", basic("carol", "Carol-password-1"))["statusCode"] == 403
    assert gained(s3, BUCKET, before) == []


def test_an_unknown_pool_token_is_401_with_the_challenge(config, s3) -> None:
    resp = post("acme-x", basic("__token__", userpool.make_token("deploy", "wrong")))
    assert resp["statusCode"] == 401 and resp["headers"]["www-authenticate"].startswith("Basic realm=")


def test_the_pool_unreachable_is_503_with_retry_after_and_nothing_written(config, s3, pool) -> None:
    pool.down = True
    before = snapshot(s3, BUCKET)
    resp = post("acme-x", basic("__token__", TOKEN))
    assert resp["statusCode"] == 503
    assert resp["headers"]["retry-after"] == str(userpool.RETRY_AFTER_SECONDS)
    assert gained(s3, BUCKET, before) == []
    # Static publishers keep working.
    assert post("acme-y", basic("ci", "ci:pw"))["statusCode"] == 200


def test_guessing_a_token_name_ends_in_429(config, s3) -> None:
    for i in range(userpool.MAX_FAILURES):
        assert (
            post("acme-x", basic("__token__", userpool.make_token("deploy", f"guess{i}")))["statusCode"]
            == 401
        )
    resp = post("acme-x", basic("__token__", TOKEN))
    assert resp["statusCode"] == 429 and int(resp["headers"]["retry-after"]) > 0


def test_from_environment_loads_the_pool_file_beside_the_credentials(tmp_path, monkeypatch) -> None:
    (tmp_path / "credentials.json").write_bytes(CREDENTIALS)
    (tmp_path / userpool.FILE_NAME).write_bytes(userpool.render_file(POOL_ID, CLIENT_ID, 30))
    monkeypatch.setenv("PYPI_EDGE_CREDENTIALS", str(tmp_path / "credentials.json"))
    monkeypatch.delenv(userpool.ENV_VAR, raising=False)
    monkeypatch.delenv("INDEXER_FUNCTION", raising=False)
    cfg = upload.from_environment()
    assert cfg.verifier.pool.settings.pool_id == POOL_ID and cfg.verifier.pool.cache_seconds == 30


def test_from_environment_with_a_broken_pool_file_answers_503_for_pool_users(
    tmp_path, monkeypatch, caplog
) -> None:
    (tmp_path / "credentials.json").write_bytes(CREDENTIALS)
    (tmp_path / userpool.FILE_NAME).write_text("{}")
    monkeypatch.setenv("PYPI_EDGE_CREDENTIALS", str(tmp_path / "credentials.json"))
    monkeypatch.delenv(userpool.ENV_VAR, raising=False)
    monkeypatch.delenv("INDEXER_FUNCTION", raising=False)
    cfg = upload.from_environment()
    assert isinstance(cfg.verifier.pool, userpool.Broken)
    assert "unusable user pool file" in caplog.text


def test_without_a_pool_file_there_is_no_pool(tmp_path, monkeypatch) -> None:
    (tmp_path / "credentials.json").write_bytes(CREDENTIALS)
    monkeypatch.setenv("PYPI_EDGE_CREDENTIALS", str(tmp_path / "credentials.json"))
    monkeypatch.delenv(userpool.ENV_VAR, raising=False)
    monkeypatch.delenv("INDEXER_FUNCTION", raising=False)
    assert upload.from_environment().verifier.pool is None
