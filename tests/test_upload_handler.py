"""The upload function (upload/handler.py) against moto: the legacy upload API as twine/uv/poetry speak it."""

from __future__ import annotations

import base64
import hashlib
import io
import json
import logging
from pathlib import Path

import pytest

from edge import credentials
from indexer import publish
from indexer.handler import s3_targets
from tests.conftest import BUCKET
from tests.distributions import make_sdist, make_wheel
from tests.upload_helpers import (
    CREDENTIALS,
    SECRET,
    TOKEN,
    basic,
    encode,
    event,
    fields_for,
    install_config,
    upload_event,
)
from upload import handler as upload

CI = basic("ci", "ci:pw")


class Recorder:
    def __init__(self, fail: bool = False) -> None:
        self.calls: list[tuple[str, str]] = []
        self.timeouts: list[float | None] = []
        self.fail = fail

    def __call__(self, bucket: str, key: str, timeout: float | None = None) -> None:
        self.calls.append((bucket, key))
        self.timeouts.append(timeout)
        if self.fail:
            raise RuntimeError("indexer exploded")


@pytest.fixture
def refresher():
    return Recorder()


@pytest.fixture
def config(s3, refresher):
    yield install_config(s3, refresher)
    upload.configure(None)


def keys(s3) -> list[str]:
    return [o["Key"] for o in s3.list_objects_v2(Bucket=BUCKET).get("Contents", [])]


def wheel(name="acme-widgets", version="1.0", **kw):
    return make_wheel(name, version, **kw)[:2]


def body_of(resp) -> str:
    return resp["body"]


# --- the secret origin header comes first --------------------------------------------------------


@pytest.mark.parametrize("secret", [None, "", "wrong", SECRET + "x"])
def test_without_the_secret_origin_header_everything_is_403(config, s3, secret):
    filename, data = wheel()
    ev = upload_event(filename, data, "acme-widgets", "1.0", auth=CI)
    ev["headers"].pop(upload.ORIGIN_HEADER)
    if secret is not None:
        ev["headers"][upload.ORIGIN_HEADER] = secret
    resp = upload.handler(ev)
    assert resp["statusCode"] == 403
    assert "through the index's CDN" in body_of(resp)
    assert "www-authenticate" not in resp["headers"]
    assert keys(s3) == []


def test_an_unset_origin_secret_refuses_everything(config, s3):
    config.origin_secret = ""
    filename, data = wheel()
    ev = upload_event(filename, data, "acme-widgets", "1.0", auth=CI)
    ev["headers"][upload.ORIGIN_HEADER] = ""
    assert upload.handler(ev)["statusCode"] == 403


def test_the_secret_is_checked_before_the_path(config):
    assert upload.handler(event(b"", None, secret=None, path="/nowhere"))["statusCode"] == 403
    assert upload.handler(event(b"", None, path="/nowhere"))["statusCode"] == 404


@pytest.mark.parametrize("bad", [None, [], "x", {"headers": "no"}, {"headers": {upload.ORIGIN_HEADER: 3}}])
def test_malformed_events_are_403_not_500(config, bad):
    assert upload.handler(bad)["statusCode"] == 403


# --- credentials and rights ----------------------------------------------------------------------


def test_get_is_405_with_allow_post(config):
    resp = upload.handler(event(b"", None, method="GET", auth=CI))
    assert resp["statusCode"] == 405
    assert resp["headers"]["allow"] == "POST"


@pytest.mark.parametrize("auth", [None, basic("ci", "wrong"), basic("nobody", "x"), "Bearer abc"])
def test_missing_or_wrong_credentials_are_401_with_a_basic_challenge(config, s3, auth):
    filename, data = wheel()
    body, ctype = encode(fields_for(filename, data, "acme-widgets", "1.0"))
    resp = upload.handler(event(body, ctype, auth=auth))
    assert resp["statusCode"] == 401
    assert resp["headers"]["www-authenticate"] == 'Basic realm="pypi-edge test", charset="UTF-8"'
    assert keys(s3) == []


def test_a_reader_gets_403_naming_the_project(config, s3):
    filename, data = wheel()
    resp = upload.handler(
        upload_event(filename, data, "acme-widgets", "1.0", auth=basic("reader", "reader-pw"))
    )
    assert resp["statusCode"] == 403
    assert body_of(resp) == "403 'reader' may not publish to project 'acme-widgets'\n"
    assert keys(s3) == []


def test_a_publisher_outside_its_globs_gets_403(config, s3):
    filename, data = wheel("tools", "1.0")
    resp = upload.handler(upload_event(filename, data, "tools", "1.0", auth=CI))
    assert resp["statusCode"] == 403
    assert keys(s3) == []


def test_a_token_publishes_inside_its_scope_and_not_outside(config, s3):
    auth = basic("__token__", TOKEN)
    filename, data = wheel("tools", "1.0")
    assert upload.handler(upload_event(filename, data, "tools", "1.0", auth=auth))["statusCode"] == 200
    other, other_data = wheel()
    resp = upload.handler(upload_event(other, other_data, "acme-widgets", "1.0", auth=auth))
    assert resp["statusCode"] == 403
    assert "'deploy' may not publish to project 'acme-widgets'" in body_of(resp)
    assert keys(s3) == [f"tools/{filename}"]


def test_a_minted_token_is_accepted_through_the_minted_verifier(config, s3):
    seen = []

    def minted(token):
        seen.append(token)
        return credentials.Principal("github:acme/widgets", "minted", ("acme-widgets",))

    config.minted = minted
    token = credentials.MINTED_PREFIX + "abc"
    filename, data = wheel()
    resp = upload.handler(upload_event(filename, data, "acme-widgets", "1.0", auth=basic("__token__", token)))
    assert resp["statusCode"] == 200
    assert seen == [token]


# --- publishing ------------------------------------------------------------------------------------


def test_a_valid_upload_is_published_with_its_checksum_and_the_pages_refreshed(config, s3, refresher):
    filename, data = wheel()
    resp = upload.handler(upload_event(filename, data, "Acme_Widgets", "1.0", auth=CI))
    assert resp["statusCode"] == 200
    assert body_of(resp) == f"200 published acme-widgets/{filename}\n"
    head = s3.head_object(Bucket=BUCKET, Key=f"acme-widgets/{filename}", ChecksumMode="ENABLED")
    assert base64.b64decode(head["ChecksumSHA256"]) == hashlib.sha256(data).digest()
    assert refresher.calls == [(BUCKET, f"acme-widgets/{filename}")]


def test_an_sdist_is_published(config, s3):
    filename, data = make_sdist("acme-widgets", "2.0")
    resp = upload.handler(upload_event(filename, data, "acme-widgets", "2.0", auth=CI))
    assert resp["statusCode"] == 200
    assert keys(s3) == [f"acme-widgets/{filename}"]


def test_an_identical_re_upload_is_200_and_refreshes_nothing(config, s3, refresher):
    filename, data = wheel()
    assert upload.handler(upload_event(filename, data, "acme-widgets", "1.0", auth=CI))["statusCode"] == 200
    resp = upload.handler(upload_event(filename, data, "acme-widgets", "1.0", auth=CI))
    assert resp["statusCode"] == 200
    assert "already published with identical contents" in body_of(resp)
    assert len(refresher.calls) == 1


def test_different_bytes_under_a_published_name_are_409_file_already_exists(config, s3):
    filename, data = wheel()
    _, other = wheel(summary="rebuilt")
    assert upload.handler(upload_event(filename, data, "acme-widgets", "1.0", auth=CI))["statusCode"] == 200
    resp = upload.handler(upload_event(filename, other, "acme-widgets", "1.0", auth=CI))
    assert resp["statusCode"] == 409
    assert body_of(resp).startswith("409 File already exists: ")
    assert s3.get_object(Bucket=BUCKET, Key=f"acme-widgets/{filename}")["Body"].read() == data


@pytest.mark.parametrize("status", ["archived", "quarantined"])
def test_an_archived_or_quarantined_project_refuses_the_upload_with_400(config, s3, status):
    # PEP 792 "MUST NOT allow uploads"; 400 with the reason, as PyPI answers refusals.
    s3.put_object(Bucket=BUCKET, Key="acme-widgets/.project-status", Body=json.dumps({"status": status}))
    filename, data = wheel()

    resp = upload.handler(upload_event(filename, data, "acme-widgets", "1.0", auth=CI))

    assert resp["statusCode"] == 400
    assert f"acme-widgets is {status}: PEP 792 forbids new uploads to it" in body_of(resp)
    assert keys(s3) == ["acme-widgets/.project-status"]


def test_json_errors_follow_pypis_shape_for_uv(config, s3):
    # uv sends this Accept and shows the JSON body's "code" (uv-publish, extract_error_message).
    filename, data = wheel()
    _, other = wheel(summary="rebuilt")
    upload.handler(upload_event(filename, data, "acme-widgets", "1.0", auth=CI))
    uv_accept = "application/json;q=0.9, text/plain;q=0.8, text/html;q=0.7"
    resp = upload.handler(upload_event(filename, other, "acme-widgets", "1.0", auth=CI, accept=uv_accept))
    assert resp["headers"]["content-type"] == "application/json"
    doc = json.loads(body_of(resp))
    assert doc["title"] == "Conflict"
    assert doc["code"].startswith("409 File already exists: ")


def test_a_failed_refresh_still_answers_200_and_is_logged(config, s3, caplog):
    config.refresher = Recorder(fail=True)
    filename, data = wheel()
    with caplog.at_level(logging.INFO, logger="pypi_edge.upload"):
        resp = upload.handler(upload_event(filename, data, "acme-widgets", "1.0", auth=CI))
    assert resp["statusCode"] == 200
    assert keys(s3) == [f"acme-widgets/{filename}"]
    failed = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert [r.getMessage() for r in failed] == ["page refresh failed; the S3 event will index it"]
    assert failed[0].key == f"acme-widgets/{filename}"
    assert "indexer exploded" in caplog.text


def test_each_upload_is_logged_with_who_what_and_the_outcome(config, s3, caplog):
    filename, data = wheel()
    with caplog.at_level(logging.INFO, logger="pypi_edge.upload"):
        upload.handler(upload_event(filename, data, "acme-widgets", "1.0", auth=CI))
    (record,) = [r for r in caplog.records if r.getMessage() == "upload"]
    assert (record.principal, record.key, record.outcome) == ("ci", f"acme-widgets/{filename}", "uploaded")


def test_a_refusal_is_logged(config, caplog):
    filename, data = wheel()
    with caplog.at_level(logging.INFO, logger="pypi_edge.upload"):
        upload.handler(upload_event(filename, data, "acme-widgets", "1.0", auth=basic("reader", "reader-pw")))
    (record,) = [r for r in caplog.records if r.getMessage() == "refused: no publish right"]
    assert (record.principal, record.project) == ("reader", "acme-widgets")


def test_without_a_refresher_the_upload_still_succeeds(config, s3):
    config.refresher = None
    filename, data = wheel()
    assert upload.handler(upload_event(filename, data, "acme-widgets", "1.0", auth=CI))["statusCode"] == 200


def test_storage_trouble_is_503_and_logged_never_500(config, s3, caplog):
    config.bucket = "no-such-bucket"
    filename, data = wheel()
    resp = upload.handler(upload_event(filename, data, "acme-widgets", "1.0", auth=CI))
    assert resp["statusCode"] == 503
    assert resp["headers"]["retry-after"] == "1"
    assert "S3 or Lambda call failed" in caplog.text


def test_a_key_that_keeps_changing_is_503(config, monkeypatch):
    def busy(self, dist):
        raise publish.Busy("x: the object keeps changing while we upload it; try again")

    monkeypatch.setattr(publish.Uploader, "upload", busy)
    filename, data = wheel()
    resp = upload.handler(upload_event(filename, data, "acme-widgets", "1.0", auth=CI))
    assert resp["statusCode"] == 503
    assert "keeps changing" in body_of(resp)


# --- 400: every invalid upload, one line, nothing written ------------------------------------------


def _corrupt():
    filename, data = wheel()
    return filename, data[: len(data) // 2]


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"name": "other-name"}, "name mismatch: the form says 'other-name', the file is 'acme-widgets'"),
        ({"version": "2.0"}, "version mismatch: the form says '2.0', the file is 1.0"),
        ({"version": "not a version"}, "invalid version 'not a version' (PEP 440)"),
        ({"sha256_digest": "0" * 64}, "sha256_digest does not match the uploaded bytes"),
        ({"blake2_256_digest": "0" * 64}, "blake2_256_digest does not match the uploaded bytes"),
        ({"sha256_digest": None, "blake2_256_digest": None}, "missing sha256_digest (or blake2_256_digest)"),
        ({":action": "submit"}, "unsupported :action 'submit': only file_upload is supported"),
        ({"protocol_version": "2"}, "unsupported protocol_version: expected 1"),
        ({"name": None}, "missing field 'name'"),
        ({"version": " "}, "missing field 'version'"),
        ({"filetype": "sdist"}, "filetype 'sdist' does not match the file"),
        ({"attestations": "[not json"}, "attestations is not valid JSON"),
        ({"attestations": '{"a": 1}'}, "attestations must be a JSON array of attestation objects (PEP 740)"),
    ],
)
def test_invalid_fields_are_400_with_a_one_line_reason(config, s3, change, reason):
    filename, data = wheel()
    resp = upload.handler(upload_event(filename, data, "acme-widgets", "1.0", auth=CI, overrides=change))
    assert resp["statusCode"] == 400, resp
    assert reason in body_of(resp)
    assert body_of(resp).count("\n") == 1
    assert keys(s3) == []


def test_valid_attestations_are_accepted(config, s3):
    filename, data = wheel()
    att = json.dumps([{"version": 1, "verification_material": {}, "envelope": {}}])
    resp = upload.handler(upload_event(filename, data, "acme-widgets", "1.0", auth=CI, attestations=att))
    assert resp["statusCode"] == 200


@pytest.mark.parametrize(
    ("filename", "data", "reason"),
    [
        ("acme_widgets-1.0-py3-none-any.whl", b"PK\x03\x04 not really", "not a distribution:"),
        ("acme_widgets-1.0.exe", b"MZ", "not a valid distribution file name"),
        ("acme_widgets.whl", b"x", "not a valid distribution file name"),
    ],
)
def test_a_file_that_is_not_a_distribution_is_400(config, s3, filename, data, reason):
    resp = upload.handler(upload_event(filename, data, "acme-widgets", "1.0", auth=CI))
    assert resp["statusCode"] == 400
    assert reason in body_of(resp)
    assert keys(s3) == []


def test_a_truncated_archive_is_400(config, s3):
    filename, data = _corrupt()
    resp = upload.handler(upload_event(filename, data, "acme-widgets", "1.0", auth=CI))
    assert resp["statusCode"] == 400
    assert "not a distribution" in body_of(resp)
    assert keys(s3) == []


def test_metadata_that_disagrees_with_the_file_name_is_400(config, s3):
    _, data = wheel("acme-other", "1.0")
    filename = "acme_widgets-1.0-py3-none-any.whl"
    resp = upload.handler(upload_event(filename, data, "acme-widgets", "1.0", auth=CI))
    assert resp["statusCode"] == 400
    assert "name mismatch: the file name says 'acme-widgets', its METADATA says Name: acme-other" in body_of(
        resp
    )


@pytest.mark.parametrize(
    ("body", "ctype", "reason"),
    [
        (b"a=b", "application/x-www-form-urlencoded", "expected a multipart/form-data body"),
        (b"--x\r\n", "multipart/form-data", "expected a multipart/form-data body with a boundary"),
        (b"garbage", "multipart/form-data; boundary=xyz", "malformed multipart body"),
        (b"", "multipart/form-data; boundary=xyz", "malformed multipart body"),
    ],
)
def test_malformed_bodies_are_400(config, body, ctype, reason):
    resp = upload.handler(event(body, ctype, auth=CI))
    assert resp["statusCode"] == 400
    assert reason in body_of(resp)


def test_bad_base64_is_400(config):
    ev = event(b"x" * 10, "multipart/form-data; boundary=xyz", auth=CI)
    ev["body"] = "!!!not base64!!!"
    resp = upload.handler(ev)
    assert resp["statusCode"] == 400
    assert body_of(resp) == "400 the request body is not valid base64\n"


def test_a_body_of_the_wrong_type_is_400(config):
    ev = event(b"x", "multipart/form-data; boundary=xyz", auth=CI)
    ev["body"] = 12
    assert upload.handler(ev)["statusCode"] == 400


def test_two_files_in_one_request_are_400(config, s3):
    filename, data = wheel()
    fields = fields_for(filename, data, "acme-widgets", "1.0")
    fields.append(fields[-1])
    resp = upload.handler(event(*encode(fields), auth=CI))
    assert resp["statusCode"] == 400
    assert "more than one 'content' file" in body_of(resp)


def test_a_field_given_twice_is_400(config):
    filename, data = wheel()
    fields = fields_for(filename, data, "acme-widgets", "1.0")
    fields.insert(0, ("name", "acme-widgets"))
    resp = upload.handler(event(*encode(fields), auth=CI))
    assert "field 'name' given more than once" in body_of(resp)


def test_content_without_a_filename_is_400(config):
    filename, data = wheel()
    fields = [*fields_for(filename, data, "acme-widgets", "1.0")[:-1], ("content", "just text")]
    assert "the 'content' part has no filename" in body_of(upload.handler(event(*encode(fields), auth=CI)))


def test_no_content_is_400(config):
    filename, data = wheel()
    fields = fields_for(filename, data, "acme-widgets", "1.0")[:-1]
    assert "no file: the 'content' field is missing" in body_of(
        upload.handler(event(*encode(fields), auth=CI))
    )


def test_a_file_in_another_field_is_400(config):
    filename, data = wheel()
    fields = fields_for(filename, data, "acme-widgets", "1.0")
    fields.insert(0, ("summary", ("x.txt", b"x", "text/plain")))
    assert "unexpected file in field 'summary'" in body_of(upload.handler(event(*encode(fields), auth=CI)))


def test_a_field_that_is_not_utf8_is_400(config):
    filename, data = wheel()
    body, ctype = encode(fields_for(filename, data, "acme-widgets", "1.0", summary="MARKER"))
    body = body.replace(b"MARKER", b"\xff\xfe")
    resp = upload.handler(event(body, ctype, auth=CI))
    assert resp["statusCode"] == 400


def test_too_many_parts_is_400(config):
    fields = [("classifiers", "x")] * (upload.MAX_PARTS + 1)
    resp = upload.handler(event(*encode(fields), auth=CI))
    assert resp["statusCode"] == 400
    assert "malformed multipart body" in body_of(resp)


# --- refreshing through the indexer function ------------------------------------------------------


class FakeLambda:
    def __init__(self, error: str | None = None) -> None:
        self.calls = []
        self.error = error

    def invoke(self, **kwargs):
        self.calls.append(kwargs)
        resp = {"StatusCode": 200, "Payload": io.BytesIO(b'{"errorMessage": "boom"}')}
        if self.error:
            resp["FunctionError"] = self.error
        return resp


def test_the_lambda_refresher_invokes_the_indexer_synchronously_with_a_direct_s3_event():
    client = FakeLambda()
    upload.LambdaRefresher("pypi-indexer", client)("bkt", "a-b/a_b-1.0+local.tar.gz")
    (call,) = client.calls
    assert call["FunctionName"] == "pypi-indexer"
    assert call["InvocationType"] == "RequestResponse"
    payload = json.loads(call["Payload"])
    assert payload["Records"][0]["eventSource"] == "aws:s3"
    # The indexer reads it back to the same bucket and project (keys URL-encoded as S3 sends them).
    assert list(s3_targets(payload)) == [("bkt", "a-b")]


def test_the_lambda_refresher_raises_when_the_indexer_failed():
    with pytest.raises(RuntimeError, match=r"indexer pypi-indexer failed: Unhandled: .*boom"):
        upload.LambdaRefresher("pypi-indexer", FakeLambda("Unhandled"))("bkt", "a/a-1.0.tar.gz")


# --- the deployed configuration -----------------------------------------------------------------


def test_from_environment_reads_the_env_and_the_credentials_file(tmp_path, monkeypatch):
    path = tmp_path / "credentials.json"
    path.write_bytes(CREDENTIALS)
    monkeypatch.setenv("PYPI_EDGE_CREDENTIALS", str(path))
    monkeypatch.setenv("BUCKET", "the-bucket")
    monkeypatch.setenv("ORIGIN_SECRET", "s")
    monkeypatch.setenv("INDEXER_FUNCTION", "the-indexer")
    cfg = upload.from_environment()
    assert (cfg.bucket, cfg.origin_secret) == ("the-bucket", "s")
    assert isinstance(cfg.refresher, upload.LambdaRefresher)
    assert cfg.refresher.function_name == "the-indexer"
    assert cfg.verifier.verify(CI) is not None


def test_from_environment_without_credentials_fails_closed_and_says_why(tmp_path, monkeypatch, caplog):
    monkeypatch.setenv("PYPI_EDGE_CREDENTIALS", str(tmp_path / "missing.json"))
    monkeypatch.delenv("INDEXER_FUNCTION", raising=False)
    cfg = upload.from_environment()
    assert cfg.verifier.verify(CI) is None
    assert cfg.refresher is None
    assert "no usable credentials at" in caplog.text


def test_the_bundled_credentials_file_sits_at_the_bundle_root(monkeypatch):
    monkeypatch.delenv("PYPI_EDGE_CREDENTIALS", raising=False)
    assert upload.credentials_path().endswith("/credentials.json")
    assert "/upload/" not in upload.credentials_path()


def test_current_builds_the_config_once_from_the_environment(monkeypatch, aws_env):
    upload.configure(None)
    monkeypatch.setenv("ORIGIN_SECRET", "env-secret")
    try:
        cfg = upload.current()
        assert cfg is upload.current()
        assert cfg.origin_secret == "env-secret"
        assert cfg.s3 is not None
    finally:
        upload.configure(None)


def test_the_lambda_refresher_makes_its_client_on_first_use(aws_env, monkeypatch):
    made = []
    monkeypatch.setattr("boto3.client", lambda service, **kw: made.append(service) or FakeLambda())
    refresher = upload.LambdaRefresher("pypi-indexer")
    refresher("bkt", "a/a-1.0.tar.gz")
    refresher("bkt", "a/a-1.0.tar.gz")
    assert made == ["lambda"]


# --- a real twine 7 request, as a function URL hands it over -------------------------------------

EVENTS = Path(__file__).parent / "events"


def test_a_real_twine_request_is_published(config, s3, refresher):
    # tests/events/function-url-twine-upload.json: twine 7.0.0's request bytes (captured), wrapped
    # the way CloudFront forwards it and the function URL presents it (payload format 2.0).
    ev = json.loads((EVENTS / "function-url-twine-upload.json").read_text())
    resp = upload.handler(ev)
    assert resp["statusCode"] == 200, resp
    assert keys(s3) == ["acme-widgets/acme_widgets-1.0-py3-none-any.whl"]
    assert refresher.calls == [(BUCKET, "acme-widgets/acme_widgets-1.0-py3-none-any.whl")]


def test_the_local_event_builder_makes_the_fixtures_shape():
    fixture = json.loads((EVENTS / "function-url-twine-upload.json").read_text())
    built = event(b"x", "application/octet-stream", auth=CI)
    assert set(built) == set(fixture)
    assert set(built["requestContext"]) == set(fixture["requestContext"])
    assert set(built["requestContext"]["http"]) == set(fixture["requestContext"]["http"])
