"""Trusted publishing inside the upload function (upload/handler.py + upload/oidc.py), against moto.

The function URL events are the ones CloudFront hands over (tests/upload_helpers.py); the OIDC
tokens come from the local issuer; the minted token then goes through the same Basic-auth path
as every other upload credential (`edge.credentials.Verifier` → `Config.minted`).
"""

from __future__ import annotations

import base64
import json
import time

import pytest

from tests.bucket_state import index_keys
from tests.conftest import BUCKET
from tests.distributions import make_wheel
from tests.oidc_issuer import github_claims
from tests.upload_helpers import SECRET, basic, event, install_config, trust, upload_event
from upload import handler as upload
from upload import oidc, publishers

AUDIENCE = "pypi.example.com"
KEY = "k" * 40
PUBLISHERS = {
    "acme-tools": [
        {"provider": "github", "repository": "acme/tools", "workflow": "release.yml", "environment": "pypi"}
    ]
}


@pytest.fixture
def config(s3, issuer):
    cfg = install_config(s3)
    trust(cfg, PUBLISHERS, audience=AUDIENCE, key=KEY, issuer=issuer.url)
    yield cfg
    upload.configure(None)


def json_event(path: str, doc: object | None = None, *, method: str = "POST") -> dict:
    body = b"" if doc is None else json.dumps(doc).encode()
    return event(body, "application/json" if doc is not None else None, method=method, path=path)


def mint(issuer, **claims) -> dict:
    issuer.claims = github_claims(**claims)
    resp = upload.handler(json_event("/_/oidc/mint-token", {"token": issuer.token(AUDIENCE)}))
    return resp


def keys(s3) -> list[str]:
    return sorted(index_keys(s3, BUCKET))  # private bookkeeping (identity claims) aside


def publish(token: str, project: str = "acme-tools", version: str = "1.0"):
    filename, data, _ = make_wheel(project, version)
    return upload.handler(upload_event(filename, data, project, version, auth=basic("__token__", token)))


def test_the_audience_is_served_through_the_function_url(config):
    resp = upload.handler(json_event("/_/oidc/audience", method="GET"))
    assert resp["statusCode"] == 200
    assert resp["headers"]["content-type"] == "application/json"
    assert resp["headers"]["cache-control"] == "no-store"
    assert json.loads(resp["body"]) == {"audience": AUDIENCE}


def test_the_oidc_routes_need_the_secret_origin_header_too(config):
    ev = json_event("/_/oidc/audience", method="GET")
    ev["headers"].pop(upload.ORIGIN_HEADER)
    assert upload.handler(ev)["statusCode"] == 403


def test_a_minted_token_publishes_its_project(config, issuer, s3):
    resp = mint(issuer)
    assert resp["statusCode"] == 200, resp
    token = json.loads(resp["body"])["token"]
    assert publish(token)["statusCode"] == 200
    assert keys(s3) == ["acme-tools/acme_tools-1.0-py3-none-any.whl"]


def test_a_minted_token_is_403_for_another_project(config, issuer, s3):
    token = json.loads(mint(issuer)["body"])["token"]
    resp = publish(token, project="numpy-fork")
    assert resp["statusCode"] == 403
    assert "may not publish to project 'numpy-fork'" in resp["body"]
    assert "github:acme/tools/.github/workflows/release.yml (token " in resp["body"]
    assert keys(s3) == []


def test_an_expired_minted_token_is_401(config, issuer, s3, monkeypatch):
    token = json.loads(mint(issuer)["body"])["token"]
    later = time.time() + oidc.TOKEN_LIFETIME_SECONDS + 1
    config.minted = oidc.minted_verifier(config.trusted, clock=lambda: later)
    resp = publish(token)
    assert resp["statusCode"] == 401
    assert "www-authenticate" in resp["headers"]
    assert keys(s3) == []


def test_a_tampered_minted_token_is_401(config, issuer, s3):
    token = json.loads(mint(issuer)["body"])["token"]
    payload, signature = token.removeprefix(oidc.TOKEN_PREFIX).split(".")
    body = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    body["projects"] = ["numpy-fork"]
    forged = base64.urlsafe_b64encode(json.dumps(body).encode()).rstrip(b"=").decode()
    assert publish(f"{oidc.TOKEN_PREFIX}{forged}.{signature}", project="numpy-fork")["statusCode"] == 401
    assert keys(s3) == []


def test_a_refused_mint_is_422_with_pypis_error_shape(config, issuer):
    resp = mint(issuer, environment="staging")
    assert resp["statusCode"] == 422
    assert json.loads(resp["body"])["errors"][0]["description"].endswith(
        "environment 'staging' is not 'pypi')"
    )


def test_a_body_that_is_not_base64_is_400(config):
    ev = json_event("/_/oidc/mint-token", {"token": "x"})
    ev["isBase64Encoded"] = True
    ev["body"] = "%%% not base64 %%%"
    resp = upload.handler(ev)
    assert resp["statusCode"] == 400
    assert "not valid base64" in resp["body"]


def test_an_unknown_oidc_path_is_404(config):
    assert upload.handler(json_event("/_/oidc/github/mint-token", {"token": "x"}))["statusCode"] == 404


def test_the_deployed_function_reads_the_bundled_config_and_the_key(tmp_path, monkeypatch):
    path = tmp_path / publishers.CONFIG_FILE
    path.write_bytes(publishers.render_config(PUBLISHERS, AUDIENCE))
    monkeypatch.setenv(oidc.CONFIG_ENV, str(path))
    monkeypatch.setenv(publishers.KEY_ENV, KEY)
    cfg = upload.from_environment()
    assert cfg.trusted is not None and cfg.trusted.audience == AUDIENCE
    assert list(cfg.trusted.publishers) == ["acme-tools"]
    assert cfg.minted is not None


def test_without_a_config_file_trusted_publishing_is_off(tmp_path, monkeypatch):
    monkeypatch.setenv(oidc.CONFIG_ENV, str(tmp_path / "absent.json"))
    cfg = upload.from_environment()
    assert cfg.trusted is None and cfg.minted is None
    upload.configure(cfg)
    try:
        cfg.origin_secret = SECRET
        resp = upload.handler(json_event("/_/oidc/audience", method="GET"))
        assert resp["statusCode"] == 403
        assert json.loads(resp["body"]) == {"message": "Trusted publishing functionality not enabled"}
    finally:
        upload.configure(None)


def test_a_config_without_its_key_turns_trusted_publishing_off_and_says_why(tmp_path, monkeypatch, caplog):
    path = tmp_path / publishers.CONFIG_FILE
    path.write_bytes(publishers.render_config(PUBLISHERS, AUDIENCE))
    monkeypatch.setenv(oidc.CONFIG_ENV, str(path))
    monkeypatch.delenv(publishers.KEY_ENV, raising=False)
    cfg = upload.from_environment()
    assert cfg.trusted is None and cfg.minted is None
    (record,) = [r for r in caplog.records if "trusted publishing config unusable" in r.getMessage()]
    assert record.levelname == "ERROR"
    assert publishers.KEY_ENV in record.getMessage()
