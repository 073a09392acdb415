"""The upload function's `/_/cli/*` routes (upload/remote.py, issue 20), against a moto bucket.

The presigned PUT itself is S3's (and the local stack's, tests/test_e2e_remote.py); here the
staged object is written as S3 stores what that PUT sends: its bytes with their SHA-256.
"""

from __future__ import annotations

import base64
import hashlib
import json
from urllib.parse import parse_qs, urlsplit

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from edge import guard
from tests import test_upload_handler as handler_tests
from tests.bucket_state import gained, snapshot
from tests.conftest import BUCKET
from tests.distributions import make_wheel
from tests.upload_helpers import basic, event
from upload import handler as upload
from upload import remote

CI = basic("ci", "ci:pw")  # may publish acme-*
READER = basic("reader", "reader-pw")
FILENAME, WHEEL, _ = make_wheel("acme-widgets", "1.0")
# The upload function on a moto bucket with a recording refresher: the handler tests' fixtures.
config = handler_tests.config
refresher = handler_tests.refresher
SHA = hashlib.sha256(WHEEL).hexdigest()


def send(route: str, doc, *, auth: str | None = CI, method: str = "POST") -> tuple[int, dict]:
    body = doc if isinstance(doc, bytes) else json.dumps(doc).encode()
    resp = upload.handler(
        event(
            body,
            "application/json",
            auth=auth,
            method=method,
            path=f"/_/cli/{route}",
            accept="application/json",
        )
    )
    return resp["statusCode"], json.loads(resp["body"])


def stage(filename: str = FILENAME, data: bytes = WHEEL) -> tuple[int, dict]:
    return send(
        "stage", {"filename": filename, "size": len(data), "sha256": hashlib.sha256(data).hexdigest()}
    )


def staged_put(s3, key: str, data: bytes) -> None:
    """What S3 keeps after the presigned PUT: the bytes, with the SHA-256 the URL signed in."""
    checksum = base64.b64encode(hashlib.sha256(data).digest()).decode()
    s3.put_object(Bucket=BUCKET, Key=key, Body=data, ChecksumAlgorithm="SHA256", ChecksumSHA256=checksum)


def test_the_routes_are_the_guards(config):
    assert set(remote.ROUTES) == set(guard.CLI_ROUTES)
    assert all(upload.ROUTES[route] is upload.cli_route for route in guard.CLI_ROUTES)


def test_stage_hands_out_a_create_only_checksummed_short_lived_put_and_writes_nothing(config, s3):
    before = snapshot(s3, BUCKET)

    status, doc = stage()

    assert status == 200 and doc["outcome"] == "stage"
    assert remote.STAGED_KEY.fullmatch(doc["key"]) and doc["key"].endswith(f"-{SHA}-{FILENAME}.staged")
    query = parse_qs(urlsplit(doc["url"]).query)
    signed = query["X-Amz-SignedHeaders"][0].split(";")
    assert {"if-none-match", "x-amz-checksum-sha256", "content-type", "content-length"} <= set(signed)
    assert query["X-Amz-Expires"] == [str(remote.URL_SECONDS)] and query["X-Amz-Algorithm"] == [
        "AWS4-HMAC-SHA256"
    ]
    assert doc["headers"] == {
        "If-None-Match": "*",
        "x-amz-checksum-sha256": base64.b64encode(bytes.fromhex(SHA)).decode(),
        "Content-Type": "application/octet-stream",
    }
    assert gained(s3, BUCKET, before) == []


def test_the_presigned_url_names_the_regional_endpoint_virtual_hosted():
    url = remote.presign_client(
        "eu-west-1", aws_access_key_id="a", aws_secret_access_key="b"
    ).generate_presigned_url("put_object", Params={"Bucket": "idx", "Key": "_staging/k"}, ExpiresIn=60)
    assert url.startswith("https://idx.s3.eu-west-1.amazonaws.com/_staging/k?")


@pytest.mark.parametrize(
    ("auth", "status"),
    [(None, 401), (basic("ci", "wrong"), 401), (READER, 403), (basic("admin", "admin-pw"), 200)],
)
def test_stage_needs_a_publish_right(config, auth, status):
    assert send("stage", {"filename": FILENAME, "size": len(WHEEL), "sha256": SHA}, auth=auth)[0] == status


def test_another_projects_file_gets_no_url(config):
    filename, data, _ = make_wheel("other", "1.0")
    status, doc = stage(filename, data)
    assert status == 403 and "may not publish to project 'other'" in doc["message"] and "url" not in doc


def test_a_file_over_5_gib_is_413_before_any_url(config):
    status, doc = send("stage", {"filename": FILENAME, "size": 5 * 1024**3 + 1, "sha256": SHA})
    assert status == 413 and "url" not in doc


def test_get_is_405(config):
    assert send("list", {}, method="GET")[0] == 405


def test_finish_publishes_the_staged_file_through_the_core(config, s3, refresher):
    _, doc = stage()
    staged_put(s3, doc["key"], WHEEL)

    status, done = send("finish", {"key": doc["key"], "filename": FILENAME})

    assert status == 200 and done["outcome"] == "uploaded" and done["key"] == f"acme-widgets/{FILENAME}"
    head = s3.head_object(Bucket=BUCKET, Key=done["key"], ChecksumMode="ENABLED")
    assert base64.b64decode(head["ChecksumSHA256"]).hex() == SHA
    assert head["ContentType"] == "application/zip" and "immutable" in head["CacheControl"]
    assert "Contents" not in s3.list_objects_v2(Bucket=BUCKET, Prefix="_staging/")
    assert [key for _bucket, key in refresher.calls] == [done["key"]]
    # The same file again: identical, nothing sent.
    assert stage() == (200, {"message": stage()[1]["message"], "outcome": "present"})


def test_finish_of_other_bytes_under_a_published_name_is_409(config, s3):
    _, doc = stage()
    staged_put(s3, doc["key"], WHEEL)
    send("finish", {"key": doc["key"]})
    _, other, _ = make_wheel("acme-widgets", "1.0", summary="other bytes")

    assert stage(FILENAME, other)[0] == 409


@pytest.mark.parametrize("how", ["no checksum", "other bytes"])
def test_finish_refuses_staged_bytes_that_are_not_the_announced_ones(config, s3, how):
    _, doc = stage()
    _, other, _ = make_wheel("acme-widgets", "1.0", summary="swapped")
    if how == "no checksum":
        s3.put_object(Bucket=BUCKET, Key=doc["key"], Body=WHEEL)
    else:
        staged_put(s3, doc["key"], other)

    status, done = send("finish", {"key": doc["key"]})

    assert status == 400 and "not the ones announced" in done["message"]
    assert [o["Key"] for o in s3.list_objects_v2(Bucket=BUCKET).get("Contents", [])] == []


def test_finish_of_a_staged_file_that_is_not_a_distribution_is_400_and_removes_it(config, s3):
    data = b"not a zip"
    _, doc = stage(FILENAME, data)
    staged_put(s3, doc["key"], data)

    status, done = send("finish", {"key": doc["key"]})

    assert status == 400 and "not a distribution" in done["message"]
    assert "Contents" not in s3.list_objects_v2(Bucket=BUCKET)


def test_finish_checks_the_right_on_the_staged_files_project(config, s3):
    key = f"_staging/{'0' * 32}-{SHA}-other-1.0-py3-none-any.whl.staged"
    assert send("finish", {"key": key})[0] == 403


def test_finish_without_a_put_is_404(config):
    _, doc = stage()
    status, done = send("finish", {"key": doc["key"]})
    assert status == 404 and "nothing is staged" in done["message"]


def test_yank_unyank_status_and_list(config, s3, refresher):
    _, doc = stage()
    staged_put(s3, doc["key"], WHEEL)
    send("finish", {"key": doc["key"]})
    key = f"acme-widgets/{FILENAME}"

    assert send("yank", {"project": "ACME.Widgets", "version": "1.0.0", "reason": "broken"})[0] == 200
    assert s3.get_object(Bucket=BUCKET, Key=key + ".yanked")["Body"].read() == b"broken"
    assert send("yank", {"project": "acme-widgets", "version": "1.0", "reason": "broken"})[1]["files"] == [
        [key, False]
    ]
    assert send("unyank", {"project": "acme-widgets", "version": "1.0"})[1]["files"] == [key]
    status, done = send("status", {"project": "acme-widgets", "status": "archived", "reason": "old"})
    assert (status, done["before"], done["after"]) == (200, "active", "archived")
    assert (
        send("status", {"project": "acme-widgets", "status": "archived", "reason": "old"})[1]["changed"]
        is False
    )
    assert refresher.calls[-1][1] == "acme-widgets/.project-status"
    # archived: no new staging (PEP 792), before any URL
    _, newer, _ = make_wheel("acme-widgets", "2.0")
    assert stage(make_wheel("acme-widgets", "2.0")[0], newer)[0] == 400
    assert send("list", {"project": "acme-widgets"})[0] == 404  # no page yet: the indexer did not run
    assert send("list", {})[1]["projects"] == []


@pytest.mark.parametrize(
    ("route", "doc", "status"),
    [
        ("yank", {"project": "other", "version": "1.0"}, 403),
        ("unyank", {"project": "other", "version": "1.0"}, 403),
        ("status", {"project": "other", "status": "archived"}, 403),
        ("list", {"project": "other"}, 403),
        ("yank", {"project": "acme-nothing", "version": "1.0"}, 404),
        ("status", {"project": "acme-nothing", "status": "archived"}, 404),
        ("yank", {"project": "acme-x", "version": "not a version"}, 400),
        ("status", {"project": "acme-x", "status": "gone"}, 400),
        ("status", {"project": "acme-x", "status": "active", "reason": "why"}, 400),
        ("yank", {"project": "acme_ẋ", "version": "1"}, 400),
        ("finish", {"key": "acme/acme-1.0-py3-none-any.whl"}, 400),
        (
            "finish",
            {
                "key": f"_staging/{'0' * 32}-{SHA}-acme-1.0-py3-none-any.whl.staged",
                "filename": "acme-2.0-py3-none-any.whl",
            },
            400,
        ),
        ("stage", {"filename": "acme/../x-1.0.tar.gz", "size": 1, "sha256": SHA}, 400),
        ("stage", {"filename": FILENAME, "size": True, "sha256": SHA}, 400),
        ("stage", {"filename": FILENAME, "size": 1, "sha256": "x" * 64}, 400),
        ("stage", [1, 2], 400),
        ("stage", b"\xff\xfe", 400),
        ("stage", b"[" * 100_000, 400),
    ],
)
def test_refusals_are_named_4xx_and_write_nothing(config, s3, route, doc, status):
    before = snapshot(s3, BUCKET)
    got, reply = send(route, doc)
    assert got == status and reply["message"]
    assert gained(s3, BUCKET, before) == []


json_values = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(), st.text(max_size=30), st.just(FILENAME), st.just(SHA)),
    lambda inner: st.one_of(
        st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=10), inner, max_size=4)
    ),
    max_leaves=10,
)
docs = st.dictionaries(
    st.sampled_from(["filename", "size", "sha256", "key", "project", "version", "status", "reason", "x"]),
    json_values,
    max_size=6,
)


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    route=st.sampled_from(sorted(remote.ROUTES)),
    doc=st.one_of(docs, json_values),
    auth=st.sampled_from([CI, READER, None]),
)
def test_fuzzed_requests_never_5xx_and_publish_nothing(config, s3, route, doc, auth):
    before = snapshot(s3, BUCKET)
    resp = upload.handler(
        event(json.dumps(doc).encode(), "application/json", auth=auth, path=route, accept="application/json")
    )
    assert resp["statusCode"] < 500, resp
    assert gained(s3, BUCKET, before) == []
