"""Fuzzing the upload endpoint: whatever arrives, the answer is a 4xx (never a 500) and nothing is written."""

from __future__ import annotations

import base64
import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.conftest import BUCKET
from tests.distributions import make_wheel
from tests.upload_helpers import basic, encode, event, fields_for, install_config
from upload import handler as upload

CI = basic("ci", "ci:pw")
READER = basic("reader", "reader-pw")
ADMIN = basic("admin", "admin-pw")
FILENAME, WHEEL, _ = make_wheel("acme-widgets", "1.0")
FIELD_NAMES = [name for name, _ in fields_for(FILENAME, WHEEL, "acme-widgets", "1.0")] + [
    "attestations",
    "md5_digest",
    "classifiers",
    "requires_dist",
    "",
]
FUZZ = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


@pytest.fixture
def config(s3):
    yield install_config(s3, None)
    upload.configure(None)


def assert_refused_and_nothing_written(resp, s3) -> None:
    assert 400 <= resp["statusCode"] < 500, resp
    assert "Contents" not in s3.list_objects_v2(Bucket=BUCKET)


def assert_never_5xx_and_nothing_written_unless_200(resp, s3) -> None:
    assert resp["statusCode"] < 500, resp
    if resp["statusCode"] != 200:
        assert "Contents" not in s3.list_objects_v2(Bucket=BUCKET), resp
    else:  # start the next example from an empty bucket (claims included)
        for obj in s3.list_objects_v2(Bucket=BUCKET).get("Contents", []):
            s3.delete_object(Bucket=BUCKET, Key=obj["Key"])


text = st.text(max_size=40)
values = st.one_of(text, st.binary(max_size=40).map(lambda b: b.decode("latin-1")))
field = st.tuples(st.sampled_from(FIELD_NAMES), values)
file_part = st.tuples(
    st.just("content"),
    st.tuples(
        st.one_of(st.just(FILENAME), st.just("acme_widgets-1.0.tar.gz"), text),
        st.one_of(st.binary(max_size=200), st.just(WHEEL[: len(WHEEL) // 2]), st.just(WHEEL + b"x")),
        st.just("application/octet-stream"),
    ),
)


@FUZZ
@given(parts=st.lists(st.one_of(field, file_part), max_size=30))
def test_random_forms_are_refused_without_a_write(config, s3, parts):
    resp = upload.handler(event(*encode(parts), auth=CI))
    assert_refused_and_nothing_written(resp, s3)


@FUZZ
@given(drop=st.sets(st.sampled_from(FIELD_NAMES[:10]), min_size=1), junk=st.lists(field, max_size=5))
def test_a_real_upload_missing_fields_or_with_junk_values_never_500s(config, s3, drop, junk):
    fields = [(k, v) for k, v in fields_for(FILENAME, WHEEL, "acme-widgets", "1.0") if k not in drop]
    # Dropping only optional fields (filetype, pyversion, summary, ...) may leave a valid upload.
    resp = upload.handler(event(*encode(fields + junk), auth=CI))
    assert resp["statusCode"] in (200, 400), resp
    assert_never_5xx_and_nothing_written_unless_200(resp, s3)


# JSON that nests, in every shape a parser may recurse on (issue 18: "[" * 100,000 was a 502).
OPENERS = ["[", '{"a":', '[{"a":[', '["']
nested = st.builds(
    lambda opener, n, tail: opener * n + tail,
    st.sampled_from(OPENERS),
    st.integers(0, 5000),
    st.sampled_from(["", "]", "1"]),
)
json_values = st.recursive(
    st.none() | st.integers() | text, lambda c: st.lists(c) | st.dictionaries(text, c)
).map(json.dumps)
charset = st.one_of(st.sampled_from(["utf-8", "latin-1", "utf-7", "nope", "utf-16", "", "\x00"]), text)


def _raw_part(name: str, value: bytes, ctype: str, cs: str) -> bytes:
    head = f'--xyz\r\nContent-Disposition: form-data; name="{name}"\r\n'
    head += f"Content-Type: {ctype}; charset={cs}\r\n\r\n"
    return head.encode("utf-8", "surrogateescape") + value + b"\r\n"


raw_part = st.builds(
    _raw_part,
    st.sampled_from(FIELD_NAMES),
    st.one_of(st.binary(max_size=60), nested.map(str.encode)),
    st.sampled_from(["text/plain", "application/json", "application/octet-stream", "x/y"]),
    charset,
)


@FUZZ
@given(parts=st.lists(raw_part, max_size=12), auth=st.sampled_from([CI, READER, ADMIN, None]))
def test_raw_parts_with_any_headers_and_charsets_never_5xx(config, s3, parts, auth):
    body = b"".join(parts) + b"--xyz--\r\n"
    resp = upload.handler(event(body, "multipart/form-data; boundary=xyz", auth=auth))
    assert_refused_and_nothing_written(resp, s3)


@FUZZ
@given(
    attestations=st.one_of(nested, text, json_values),
    auth=st.sampled_from([CI, READER, ADMIN]),
    name=st.sampled_from(["acme-widgets", "other"]),
)
def test_any_attestations_from_anyone_never_5xx(config, s3, attestations, auth, name):
    filename, data, _ = make_wheel(name, "1.0")
    form = fields_for(filename, data, name, "1.0", attestations=attestations)
    resp = upload.handler(event(*encode(form), auth=auth))
    assert_never_5xx_and_nothing_written_unless_200(resp, s3)


@FUZZ
@given(
    filename=st.one_of(
        text.map(lambda t: t + ".whl"),
        st.builds(lambda a, b: f"{a}-{b}.tar.gz", text, text),
        st.builds(lambda a: f"acme_{a}-1.0-py3-none-any.whl", st.text(min_size=1, max_size=3)),
    ),
    auth=st.sampled_from([CI, ADMIN]),
)
def test_any_file_name_is_answered_without_a_5xx(config, s3, filename, auth):
    resp = upload.handler(event(*encode(fields_for(filename, WHEEL, "acme-widgets", "1.0")), auth=auth))
    assert_never_5xx_and_nothing_written_unless_200(resp, s3)


@FUZZ
@given(body=st.binary(max_size=400), boundary=st.text(min_size=0, max_size=20), ctype=text)
def test_malformed_bodies_and_content_types_are_400(config, s3, body, boundary, ctype):
    for content_type in (f"multipart/form-data; boundary={boundary}", ctype):
        resp = upload.handler(event(body, content_type, auth=CI))
        assert_refused_and_nothing_written(resp, s3)


@FUZZ
@given(raw=st.text(max_size=200), flag=st.one_of(st.booleans(), st.none(), st.integers(), text))
def test_bad_base64_and_odd_event_fields_are_400(config, s3, raw, flag):
    ev = event(b"x", "multipart/form-data; boundary=xyz", auth=CI)
    ev["body"], ev["isBase64Encoded"] = raw, flag
    assert_refused_and_nothing_written(upload.handler(ev), s3)


@FUZZ
@given(
    headers=st.dictionaries(
        st.one_of(st.sampled_from(["authorization", "content-type", "accept", upload.ORIGIN_HEADER]), text),
        st.one_of(text, st.integers(), st.none()),
        max_size=8,
    ),
    method=st.one_of(st.sampled_from(["POST", "GET", "PUT", ""]), text, st.integers()),
    path=st.one_of(st.sampled_from(["/legacy/", "/legacy", "/"]), text, st.none()),
)
def test_odd_headers_methods_and_paths_never_500(config, s3, headers, method, path):
    ev = event(b"", None, auth=CI)
    ev["headers"].update(headers)
    ev["requestContext"]["http"]["method"] = method
    ev["rawPath"] = path
    assert_refused_and_nothing_written(upload.handler(ev), s3)


def test_a_huge_field_count_is_400(config, s3):
    fields = fields_for(FILENAME, WHEEL, "acme-widgets", "1.0") + [("classifiers", "x")] * 50_000
    resp = upload.handler(event(*encode(fields), auth=CI))
    assert resp["statusCode"] == 400
    assert_refused_and_nothing_written(resp, s3)


def test_a_base64_body_of_only_padding_is_400(config, s3):
    ev = event(b"x", "multipart/form-data; boundary=xyz", auth=CI)
    ev["body"] = base64.b64encode(b"").decode() + "===="
    assert_refused_and_nothing_written(upload.handler(ev), s3)
