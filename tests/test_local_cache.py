"""The CloudFront stand-in's cache: the deployed cache policy, 304s, invalidations, and no stale
page after an upload."""

from __future__ import annotations

import base64
import gzip
import http.client
import json
import time
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError

from indexer import invalidate
from indexer.store import IMMUTABLE, page_cache_control
from infra import wiring
from local.cache import CachePolicy, accept_encoding_key, path_matches
from local.stack import LocalStack, free_port, password_of
from tests.distributions import make_wheel

JSON = "application/vnd.pypi.simple.v1+json"

# --- the TTL rules (CloudFront developer guide, "Manage how long content stays in the cache") ---


@pytest.mark.parametrize(
    ("cache_control", "min_ttl", "expected"),
    [
        (page_cache_control(60), 0, 60),  # s-maxage wins over max-age=0 for CloudFront
        (page_cache_control(600), 0, 600),
        (IMMUTABLE, 0, wiring.CACHE_MAX_TTL_SECONDS),  # max-age, capped by Maximum TTL
        ("max-age=999999999", 0, wiring.CACHE_MAX_TTL_SECONDS),
        ("s-maxage=10, max-age=500", 0, 10),
        (None, 0, 42),  # no directive: Default TTL
        ("no-cache", 0, 0),  # Minimum TTL 0: CloudFront respects no-cache
        ("private, max-age=60", 0, 0),
        ("no-store", 30, 30),  # Minimum TTL > 0: cached for the minimum anyway
        ("max-age=5", 30, 30),
    ],
)
def test_edge_ttl_follows_cloudfronts_expiration_table(cache_control, min_ttl, expected):
    assert wiring.edge_ttl(cache_control, 42, min_ttl=min_ttl) == expected


def test_pages_tell_clients_to_revalidate_and_cloudfront_to_keep_them():
    directives = {d.strip() for d in page_cache_control(60).split(",")}
    assert {"max-age=0", "must-revalidate", "s-maxage=60"} <= directives


@pytest.mark.parametrize(
    ("header", "key"),
    [(None, ""), ("gzip, deflate", "gzip"), ("br;q=1.0, gzip;q=0.8, *;q=0.1", "br,gzip"), ("identity", "")],
)
def test_accept_encoding_is_normalized_into_the_cache_key(header, key):
    assert accept_encoding_key(header) == key


@pytest.mark.parametrize(
    ("path", "uri", "matches"),
    [
        ("/demo/*", "/demo/index.html", True),
        ("/demo/*", "/demo/demo-1.0-py3-none-any.whl.metadata", True),
        ("/demo/*", "/demo-two/index.html", False),
        ("/index.*", "/index.json", True),
        ("/index.*", "/indexer/index.html", False),
        ("/demo/index.html", "/demo/index.html", True),
        ("/demo/index.html", "/demo/index.json", False),
    ],
)
def test_invalidation_paths_match_like_cloudfront(path, uri, matches):
    assert path_matches(path, uri) is matches


# --- through the local stack -----------------------------------------------------------------


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture(scope="module")
def stack() -> Iterator[LocalStack]:
    s = LocalStack(port=free_port(), s3_port=free_port(), bucket="pypi-cache", batch_window=0.1)
    s.start()
    try:
        yield s
    finally:
        s.stop()


@pytest.fixture
def clock(stack: LocalStack) -> Iterator[Clock]:
    clock = Clock()
    stack.cache.clock = clock
    yield clock
    stack.cache.clock = time.monotonic


def get(stack: LocalStack, path: str, **headers: str) -> tuple[int, dict[str, str], bytes]:
    user, spec = next(iter(stack.users.items()))
    token = base64.b64encode(f"{user}:{password_of(spec)}".encode()).decode()
    conn = http.client.HTTPConnection(stack.host, stack.port, timeout=10)
    try:
        conn.request("GET", path, headers={"Authorization": f"Basic {token}", **headers})
        resp = conn.getresponse()
        return resp.status, dict(resp.getheaders()), resp.read()
    finally:
        conn.close()


def s3(stack: LocalStack) -> Any:
    return boto3.client(
        "s3",
        endpoint_url=stack.s3_endpoint,
        region_name="us-east-1",
        aws_access_key_id="local",
        aws_secret_access_key="local",
    )


def publish(stack: LocalStack, project: str, version: str) -> str:
    filename, data, _ = make_wheel(project, version)
    s3(stack).put_object(Bucket=stack.bucket, Key=f"{project}/{filename}", Body=data)
    return filename


def decoded(headers: dict[str, str], body: bytes) -> bytes:
    return gzip.decompress(body) if headers.get("Content-Encoding") == "gzip" else body


def files(stack: LocalStack, project: str) -> set[str]:
    status, headers, body = get(stack, f"/simple/{project}/", Accept=JSON)
    return {f["filename"] for f in json.loads(decoded(headers, body))["files"]} if status == 200 else set()


def wait_for(stack: LocalStack, project: str, filename: str, timeout: float = 15) -> None:
    deadline = time.monotonic() + timeout
    while filename not in files(stack, project):
        assert time.monotonic() < deadline, f"{filename} never appeared"
        time.sleep(0.05)


def hits_logged(stack: LocalStack, path: str) -> int:
    return sum(1 for a in stack.cdn.accesses() if a.path == path and a.cache == "Hit")


def test_a_page_is_served_from_the_cache_the_second_time(stack):
    wait_for(stack, "hits", publish(stack, "hits", "1.0"))
    _, first, _ = get(stack, "/simple/hits/", Accept=JSON)
    hits_before = hits_logged(stack, "/simple/hits/")
    status, second, _ = get(stack, "/simple/hits/", Accept=JSON)
    assert status == 200
    assert second["X-Cache"] == "Hit from cloudfront"
    assert second["ETag"] == first["ETag"]
    assert hits_logged(stack, "/simple/hits/") == hits_before + 1  # the access log agrees


def test_the_access_log_holds_a_request_whose_response_the_viewer_already_read(stack, monkeypatch):
    """A line is logged after the last byte is written: the viewer can read its whole response
    first. `accesses()` waits for the line (CI once saw the previous request's line instead)."""
    record = stack.cdn.record

    def slow_record(access):
        time.sleep(0.3)  # the server thread descheduled between the last write and the log line
        record(access)

    monkeypatch.setattr(stack.cdn, "record", slow_record)
    status, _, _ = get(stack, "/simple/?slow-log", Accept=JSON)
    assert status == 200
    assert stack.cdn.accesses()[-1].path == "/simple/?slow-log"


def test_reading_the_access_log_while_a_request_never_finishes_says_so(stack):
    answering = stack.cdn.answering()  # a request being answered, as in do_GET
    with answering, pytest.raises(TimeoutError, match=r"1 request\(s\) still being answered after 0.05 s"):
        stack.cdn.accesses(timeout=0.05)
    assert stack.cdn.accesses(timeout=0.05) == stack.cdn.access_log  # answered: the log is whole


def test_html_and_json_are_separate_cache_entries_because_the_edge_rewrote_the_uri(stack):
    wait_for(stack, "negotiated", publish(stack, "negotiated", "1.0"))
    for _ in range(2):  # the second round comes from the cache
        _, html, _ = get(stack, "/simple/negotiated/", Accept="text/html")
        _, js, _ = get(stack, "/simple/negotiated/", Accept=JSON)
        assert html["Content-Type"].startswith("text/html")
        assert js["Content-Type"] == JSON
    assert html["X-Cache"] == js["X-Cache"] == "Hit from cloudfront"


def test_negotiated_pages_say_vary_accept_and_accept_encoding(stack):
    # By Accept: HTML or JSON; by Accept-Encoding: the gzip or the plain JSON copy (issue #25).
    wait_for(stack, "varied", publish(stack, "varied", "1.0"))
    _, headers, _ = get(stack, "/simple/varied/", Accept=JSON)
    assert headers["Vary"] == "Accept, Accept-Encoding"
    assert headers["Cache-Control"] == page_cache_control(60)


def test_if_none_match_gets_a_304_from_the_cache(stack):
    wait_for(stack, "conditional", publish(stack, "conditional", "1.0"))
    _, headers, _ = get(stack, "/simple/conditional/", Accept=JSON)
    status, again, body = get(
        stack, "/simple/conditional/", Accept=JSON, **{"If-None-Match": headers["ETag"]}
    )
    assert (status, body, again["ETag"]) == (304, b"", headers["ETag"])
    assert again["X-Cache"] == "Hit from cloudfront"
    status, _, body = get(stack, "/simple/conditional/", Accept=JSON, **{"If-None-Match": '"other"'})
    assert status == 200 and body


def test_without_an_invalidation_the_cache_keeps_the_old_page_until_its_ttl(stack, clock):
    """The control experiment: the cache really holds pages, so the invalidation is what helps."""
    wait_for(stack, "control", publish(stack, "control", "1.0"))
    _, _, before = get(stack, "/control/index.html")
    s3(stack).put_object(
        Bucket=stack.bucket,
        Key="control/index.html",
        Body=b"changed behind the cache's back",
        ContentType="text/html; charset=utf-8",
        CacheControl=page_cache_control(60),
    )
    clock.now += 59
    assert get(stack, "/control/index.html")[2] == before
    clock.now += 2  # past s-maxage: revalidated with the origin, whose ETag moved
    status, headers, body = get(stack, "/control/index.html")
    assert (status, body, headers["X-Cache"]) == (
        200,
        b"changed behind the cache's back",
        "Miss from cloudfront",
    )


def test_an_expired_unchanged_page_is_revalidated_with_the_origin(stack, clock):
    wait_for(stack, "revalidated", publish(stack, "revalidated", "1.0"))
    _, _, body = get(stack, "/revalidated/index.html")
    clock.now += 61
    _, headers, again = get(stack, "/revalidated/index.html")
    assert (again, headers["X-Cache"]) == (body, "RefreshHit from cloudfront")
    assert get(stack, "/revalidated/index.html")[1]["X-Cache"] == "Hit from cloudfront"


def test_a_404_is_kept_for_the_error_caching_ttl_then_asked_again(stack, clock):
    status, headers, _ = get(stack, "/nothing-here/index.html")
    assert (status, headers["X-Cache"]) == (404, "Error from cloudfront")
    assert get(stack, "/nothing-here/index.html")[1]["X-Cache"] == "Hit from cloudfront"
    clock.now += wiring.ERROR_CACHING_SECONDS[404] + 1
    assert get(stack, "/nothing-here/index.html")[1]["X-Cache"] == "Error from cloudfront"


def test_range_requests_go_to_the_origin(stack):
    filename = publish(stack, "ranged", "1.0")
    wait_for(stack, "ranged", filename)
    status, headers, body = get(stack, f"/ranged/{filename}", Range="bytes=0-3")
    assert (status, body) == (206, b"PK\x03\x04")
    assert "X-Cache" not in headers


def test_distributions_are_cached_for_a_year_and_unlabelled_objects_for_the_default_ttl(stack, clock):
    filename, data, _ = make_wheel("yearly", "1.0")
    # as `pypi-edge upload` writes it
    s3(stack).put_object(Bucket=stack.bucket, Key=f"yearly/{filename}", Body=data, CacheControl=IMMUTABLE)
    bare = publish(stack, "yearly", "1.1")  # as `aws s3 cp` without --cache-control writes it
    wait_for(stack, "yearly", bare)
    get(stack, f"/yearly/{filename}")
    get(stack, f"/yearly/{bare}")
    clock.now += 364 * 24 * 3600
    assert get(stack, f"/yearly/{filename}")[1]["X-Cache"] == "Hit from cloudfront"
    assert get(stack, f"/yearly/{bare}")[1]["X-Cache"] == "RefreshHit from cloudfront"


def test_no_stale_page_outlives_an_upload(stack):
    """From the moment the indexer's invalidation lands, every response shows the new file."""
    wait_for(stack, "fresh", publish(stack, "fresh", "1.0"))
    assert get(stack, "/simple/fresh/", Accept=JSON)[1]["X-Cache"] == "Hit from cloudfront"
    before = len(stack.cache.invalidations)
    new = publish(stack, "fresh", "2.0")
    uploaded = time.monotonic()
    deadline = uploaded + 15
    while True:
        invalidated = any("/fresh/*" in paths for paths in stack.cache.invalidations[before:])
        seen = files(stack, "fresh")
        if invalidated:
            assert new in seen, "a page older than the invalidation was served"
            break
        assert time.monotonic() < deadline, "no invalidation arrived"
    # the root listed the new version too (its entry moved), and was invalidated with it
    assert "/index.*" in stack.cache.invalidations[-1]
    _, headers, body = get(stack, "/simple/", Accept=JSON)
    root = json.loads(decoded(headers, body))
    assert "fresh" in {p["name"] for p in root["projects"]}


def test_a_wrong_distribution_id_is_refused_and_only_logged(stack, caplog):
    assert invalidate.invalidate(["/x/*"], distribution_id="EWRONG") is None
    assert any("invalidation failed" in r.getMessage() for r in caplog.records)
    cloudfront = invalidate.cloudfront_client()
    with pytest.raises(ClientError) as err:
        cloudfront.create_invalidation(
            DistributionId="EWRONG",
            InvalidationBatch={"Paths": {"Quantity": 1, "Items": ["/x/*"]}, "CallerReference": "r"},
        )
    assert err.value.response["Error"]["Code"] == "NoSuchDistribution"


@pytest.mark.parametrize(
    ("path", "body", "status"),
    [
        ("/2020-05-31/distribution/LOCAL/invalidation", b"<not xml", 400),
        ("/2020-05-31/distribution/LOCAL/invalidation", b"<InvalidationBatch/>", 400),
        ("/2020-05-31/distribution/LOCAL/other", b"", 404),
    ],
)
def test_the_invalidation_api_refuses_bad_requests(stack, path, body, status):
    host, port = stack.cloudfront_api.server_address[:2]
    conn = http.client.HTTPConnection(host, port, timeout=5)
    conn.request("POST", path, body=body)
    resp = conn.getresponse()
    assert resp.status == status
    assert b"<Code>" in resp.read()
    conn.close()


def test_a_large_object_is_streamed_without_being_kept(stack, monkeypatch):
    filename = publish(stack, "bulky", "1.0")
    wait_for(stack, "bulky", filename)
    monkeypatch.setattr(stack.cache, "policy", CachePolicy(default_ttl=60, max_object_bytes=10))
    entries = len(stack.cache)
    status, headers, body = get(stack, f"/bulky/{filename}")
    assert (status, headers["X-Cache"], body[:2]) == (200, "Miss from cloudfront", b"PK")
    assert len(body) == int(headers["Content-Length"])
    assert len(stack.cache) == entries
