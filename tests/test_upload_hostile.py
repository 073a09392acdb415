"""Hostile requests to the upload function (issue 18, items 2-4), one table per rule.

Every refusal is a 4xx with a one-line reason, and the bucket gains nothing, over every object
version (tests/bucket_state.py).  Failures seen on main before the fix are noted per test.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.bucket_state import gained, snapshot
from tests.conftest import BUCKET
from tests.distributions import archive_named, make_sdist, make_wheel
from tests.upload_helpers import basic, encode, event, fields_for, install_config, upload_event
from upload import handler as upload

CI = basic("ci", "ci:pw")  # may publish acme-*
ADMIN = basic("admin", "admin-pw")  # may publish *
READER = basic("reader", "reader-pw")
WHEEL = make_wheel("acme-widgets", "1.0")
DEEP = "[" * 100_000 + "]" * 100_000


@pytest.fixture
def config(s3):
    yield install_config(s3, None)
    upload.configure(None)


def send(filename: str, data: bytes, name: str, version: str, *, auth: str = CI, **fields: Any) -> dict:
    return upload.handler(upload_event(filename, data, name, version, auth=auth, **fields))


def refused(s3, resp: dict, status: int, reason: str) -> None:
    assert resp["statusCode"] == status, resp
    assert reason in resp["body"], resp["body"]
    assert resp["body"].count("\n") == 1  # one line


# --- item 4: any field that does not parse is a 400, bounded, never a 5xx ----------------------------


ATTESTATIONS = [
    # (attestations field, reason).  main: the first raised RecursionError out of the handler (a 502).
    (DEEP, "nest deeper than 32 levels"),
    ("[" * 33 + "]" * 33, "nest deeper than 32 levels"),
    ('[{"a": ' * 40 + "1" + "}]" * 40, "nest deeper than 32 levels"),
    ("[" + '{"x": "' + "y" * (300 * 1024) + '"}]', "attestations larger than 262144 bytes"),
    ("[1, 2", "attestations is not valid JSON"),
    ('{"not": "a list"}', "must be a JSON array of attestation objects"),
    ("[1]", "must be a JSON array of attestation objects"),
    ("NaN" * 5, "attestations is not valid JSON"),
]


@pytest.mark.parametrize(("attestations", "reason"), ATTESTATIONS, ids=range(len(ATTESTATIONS)))
def test_bad_attestations_are_400_and_write_nothing(config, s3, attestations, reason):
    before = snapshot(s3, BUCKET)
    resp = send(*WHEEL[:2], "acme-widgets", "1.0", attestations=attestations)
    refused(s3, resp, 400, reason)
    assert gained(s3, BUCKET, before) == []


def test_attestations_as_deep_as_a_real_sigstore_bundle_are_accepted(config, s3):
    entry = {
        "inclusionProof": {"checkpoint": {"envelope": "x"}, "hashes": ["a"]},
        "kindVersion": {"kind": "d"},
    }
    material = {"certificate": "MII", "transparency_entries": [entry]}
    bundle = {
        "version": 1,
        "verification_material": material,
        "envelope": {"statement": "e", "signature": "M"},
    }
    resp = send(*WHEEL[:2], "acme-widgets", "1.0", attestations=json.dumps([bundle]))
    assert resp["statusCode"] == 200, resp


@pytest.mark.parametrize(
    ("text", "depth"),
    [
        ("", 0),
        ("1", 0),
        ("[]", 1),
        ("[[{}]]", 3),
        ('["[[[[", "\\"[["]', 1),
        ('{"a": "\\\\"}', 1),
        ("]]][", 1),
        ("]]]]" + "[" * 40, 40),
    ],
)
def test_json_depth_skips_strings_and_escapes(text, depth):
    assert upload.json_depth(text) == depth


def part(name: str, value: bytes, headers: str = "") -> bytes:
    return (
        f'--xyz\r\nContent-Disposition: form-data; name="{name}"\r\n{headers}\r\n'.encode() + value + b"\r\n"
    )


def raw_form(*parts: bytes) -> dict:
    return event(b"".join(parts) + b"--xyz--\r\n", "multipart/form-data; boundary=xyz", auth=CI)


@pytest.mark.parametrize(
    ("parts", "reason"),
    [
        # main: LookupError out of the handler for a charset Python does not know.
        ([part("name", b"acme", "Content-Type: text/plain; charset=nope\r\n")], "no file"),
        ([part("name", b"\xff\xfe", "Content-Type: text/plain; charset=latin-1\r\n")], "not valid UTF-8"),
        ([part("name", b"x" * 2000)], "field 'name' is longer than 1024 characters"),
        ([part("version", b"1" * 5000)], "field 'version' is longer than 1024 characters"),
        ([part("sha256_digest", b"a" * 5000)], "field 'sha256_digest' is longer than 1024 characters"),
        ([part("x" * 5000, b"v")], "malformed multipart body"),
        ([part("name", b"v", "Content-Type: application/x-nope; charset=utf-7\r\n")], "no file"),
    ],
)
def test_form_fields_that_do_not_parse_are_400(config, s3, parts, reason):
    before = snapshot(s3, BUCKET)
    refused(s3, upload.handler(raw_form(*parts)), 400, reason)
    assert gained(s3, BUCKET, before) == []


def test_a_parser_failure_of_any_kind_is_a_400_and_logged(config, monkeypatch, caplog):
    def explode(*args: Any, **kw: Any) -> Any:
        raise OverflowError("the parser's own bug")

    monkeypatch.setattr(upload, "MultipartParser", explode)
    resp = upload.handler(raw_form(part("name", b"acme")))
    assert (resp["statusCode"], resp["body"]) == (400, "400 malformed multipart body\n")
    assert any("OverflowError" in getattr(r, "error", "") for r in caplog.records)


# --- item 4: the publish right before any parser ------------------------------------------------------


def test_read_only_credentials_never_reach_the_form_parser(config, monkeypatch):
    # main: a reader's malformed body was a 400 (parsed first), deep attestations a RecursionError.
    def never(*args: Any, **kw: Any) -> Any:
        raise AssertionError("the form was parsed for read-only credentials")

    monkeypatch.setattr(upload, "parse_form", never)
    deep = encode(fields_for(*WHEEL[:2], "acme-widgets", "1.0", attestations=DEEP))
    for body, ctype in [(b"garbage", "multipart/form-data; boundary=xyz"), deep]:
        resp = upload.handler(event(body, ctype, auth=READER))
        assert resp["statusCode"] == 403
        assert "may read this index but not publish to it" in resp["body"]


@pytest.mark.parametrize(
    ("filename", "data"),
    [
        (WHEEL[0].replace("acme_widgets", "other"), WHEEL[1]),
        ("other-1.0-py3-none-any.whl", b"PK\x03\x04 a bomb, never opened"),
        ("other-1.0.tar.gz", b"\x1f\x8b never gunzipped"),
    ],
)
def test_a_publisher_without_the_right_gets_403_before_attestations_or_the_archive_are_parsed(
    config, s3, monkeypatch, filename, data
):
    # main: deep attestations raised RecursionError before the right was checked.
    def never(*args: Any, **kw: Any) -> Any:
        raise AssertionError("parsed before the publish right was checked")

    monkeypatch.setattr(upload, "parse_attestations", never)
    monkeypatch.setattr(upload.publish, "validate_bytes", never)
    before = snapshot(s3, BUCKET)
    resp = send(filename, data, "other", "1.0", attestations=DEEP)
    refused(s3, resp, 403, "'ci' may not publish to project 'other'")
    assert gained(s3, BUCKET, before) == []


# --- item 3: project names --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("filename", "reason"),
    [
        # main: each of these was answered "200 published" and written to the bucket.
        (
            "acme--1.0.tar.gz",
            "'acme-' is not a valid project name (a project name is a PEP 508 name in ASCII",
        ),
        ("acme-<script>x-1.0.tar.gz", "is not a valid project name"),
        ("acme-n\x01x-1.0.tar.gz", "acme-n\\x01x-1.0.tar.gz: not a valid distribution file name"),
        ("acme_\u1e8b-1.0-py3-none-any.whl", "a distribution file name is printable ASCII"),
        ("acme_\u212a-1.0-py3-none-any.whl", "acme_\\u212a-1.0-py3-none-any.whl: not a valid distribution"),
        ("acme_-1.0-py3-none-any.whl", "'acme_' is not a valid project name"),
    ],
)
def test_invalid_project_names_are_400_naming_the_rule_and_write_nothing(config, s3, filename, reason):
    before = snapshot(s3, BUCKET)
    resp = send(filename, archive_named(filename), filename.split("-")[0], "1.0", auth=ADMIN)
    refused(s3, resp, 400, reason)
    assert resp["body"].isascii()
    assert gained(s3, BUCKET, before) == []


# --- item 2: look-alikes ------------------------------------------------------------------------------


def test_a_look_alike_is_409_naming_the_published_file_and_identical_bytes_are_200(config, s3):
    assert send(*WHEEL[:2], "acme-widgets", "1.0")["statusCode"] == 200
    before = snapshot(s3, BUCKET)
    other = make_wheel("acme-widgets", "1.0.0", summary="other bytes")[1]
    resp = send("ACME.Widgets-1.0.0-py3-none-any.whl", other, "acme-widgets", "1.0.0")
    refused(s3, resp, 409, "File already exists: ACME.Widgets-1.0.0-py3-none-any.whl (stored as ")
    assert "as the published acme_widgets-1.0-py3-none-any.whl" in resp["body"]
    resp = send("ACME.Widgets-1.0-py3-none-any.whl", WHEEL[1], "acme-widgets", "1.0")
    assert resp["statusCode"] == 200
    assert "already published" in resp["body"]
    assert gained(s3, BUCKET, before) == []


def test_a_second_sdist_of_a_release_is_409(config, s3):
    assert send(*make_sdist("acme-widgets", "1.0"), "acme-widgets", "1.0")["statusCode"] == 200
    before = snapshot(s3, BUCKET)
    _, other = make_sdist("acme-widgets", "1.0.0", summary="second sdist")
    resp = send("acme-widgets-1.0.0.tar.gz", other, "acme-widgets", "1.0.0")
    refused(s3, resp, 409, "one sdist per release")
    assert gained(s3, BUCKET, before) == []


def test_a_legacy_spelling_is_published_under_the_specs_spelling(config, s3):
    _, data = make_sdist("acme-widgets", "1.0")
    resp = send("ACME.Widgets-1.0.tar.gz", data, "ACME.Widgets", "1.0")
    assert resp["statusCode"] == 200
    assert resp["body"].startswith("200 published acme-widgets/acme_widgets-1.0.tar.gz")
