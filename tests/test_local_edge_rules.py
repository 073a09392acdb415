"""CloudFront's validation of edge function results (`local.edge_rules`), and the stand-in
(`local.cdn`) answering 502 for every result that would fail it, as CloudFront does."""

from __future__ import annotations

import copy
import http.client
import threading
from collections.abc import Callable, Iterator
from typing import Any

import boto3
import pytest
from moto import mock_aws

from edge import fallback
from edge import handler as edge
from local import edge_rules
from local.cdn import CDN
from local.stack import free_port

H = edge_rules.cf_headers
VIEWER = H([("Host", "d111.cloudfront.net"), ("User-Agent", "pip/26.2"), ("Accept", "*/*")])
S3_404 = H([("Content-Type", "application/xml"), ("Transfer-Encoding", "chunked"), ("Via", "1.1 x")])


@pytest.mark.parametrize(
    ("event_type", "before", "after", "expected"),
    [
        # origin-response: Transfer-Encoding and Via are read-only
        ("origin-response", S3_404, S3_404, []),
        ("origin-response", S3_404, H([("Location", "https://x/")]), [
            "deletes read-only header transfer-encoding", "deletes read-only header via",
        ]),
        ("origin-response", S3_404, {**S3_404, "via": [{"key": "Via", "value": "2 y"}]}, [
            "changes read-only header via",
        ]),
        ("origin-response", {}, H([("Via", "1.1 me")]), ["adds read-only header via"]),
        ("origin-response", S3_404, {**S3_404, **H([("Content-Type", "text/plain")])}, []),
        ("origin-response", S3_404, {k: v for k, v in S3_404.items() if k != "content-type"}, []),
        # disallowed: never added, whatever the event
        ("origin-response", {}, H([("X-Cache", "Hit")]), ["adds disallowed header x-cache"]),
        ("origin-response", {}, H([("X-Amz-Cf-Id", "abc")]), ["adds disallowed header x-amz-cf-id"]),
        ("origin-response", {}, H([("X-Edge-Origin-Shield", "1")]), [
            "adds disallowed header x-edge-origin-shield",
        ]),
        ("viewer-request", {}, H([("Connection", "close")]), ["adds disallowed header connection"]),
        ("viewer-request", {}, H([("X-Amzn-Trace-Id", "Root=1")]), []),  # not on the list
        # viewer-request, a generated response: starts from no header at all
        ("viewer-request", {}, H([("WWW-Authenticate", 'Basic realm="x"')]), []),
        ("viewer-request", {}, H([("Content-Length", "12")]), ["adds read-only header content-length"]),
        ("viewer-request", {}, H([("Transfer-Encoding", "chunked")]), [
            "adds read-only header transfer-encoding",
        ]),
        # viewer-request, a forwarded request: Host may not change or go
        ("viewer-request", VIEWER, {k: v for k, v in VIEWER.items() if k != "host"}, [
            "deletes read-only header host",
        ]),
        ("viewer-request", VIEWER, {**VIEWER, **H([("Host", "other.example")])}, [
            "changes read-only header host",
        ]),
        ("viewer-request", VIEWER, {k: v for k, v in VIEWER.items() if k != "accept"}, []),
    ],
)  # fmt: skip
def test_cloudfront_refuses_results_that_touch_read_only_or_add_disallowed_headers(
    event_type: str, before: dict, after: dict, expected: list[str]
) -> None:
    assert edge_rules.violations(event_type, before, after) == expected


def test_the_edge_functions_list_covers_every_header_cloudfront_refuses_in_a_generated_response():
    """edge/handler.py keeps its own list (its bundle is standard library only, no local/)."""
    for name in edge_rules.DISALLOWED | edge_rules.READ_ONLY["viewer-request"]:
        assert name in edge.FORBIDDEN_HEADERS or name.startswith(edge.FORBIDDEN_HEADER_PREFIXES), name
    assert set(edge_rules.DISALLOWED_PREFIXES) <= set(edge.FORBIDDEN_HEADER_PREFIXES)


def test_disallowed_headers_are_never_shown_to_a_function():
    shown = edge_rules.exposed(H([("Connection", "keep-alive"), ("X-Amz-Cf-Id", "a"), ("Accept", "*/*")]))
    assert list(shown) == ["accept"]


# --- the stand-in answers 502 for every function result that fails validation ------------------


def forward(event: dict, context: Any) -> dict:
    return event["Records"][0]["cf"]["request"]


def respond(*headers: tuple[str, str]) -> Callable[[dict, Any], dict]:
    def function(event: dict, context: Any) -> dict:
        return {"status": "403", "statusDescription": "Forbidden", "headers": H(headers), "body": "no\n"}

    return function


def without_host(event: dict, context: Any) -> dict:
    request = event["Records"][0]["cf"]["request"]
    del request["headers"]["host"]
    return request


def fresh_redirect(event: dict, context: Any) -> dict:
    """The fallback before issue 25: a new response holding only its own headers."""
    uri = event["Records"][0]["cf"]["request"]["uri"]
    return {
        "status": "307",
        "statusDescription": "Temporary Redirect",
        "headers": H([("Location", f"https://pypi.org/simple{uri}"), ("Cache-Control", "max-age=60")]),
    }


def drops_transfer_encoding(event: dict, context: Any) -> dict:
    response = event["Records"][0]["cf"]["response"]
    response["headers"].pop("transfer-encoding", None)
    return response


@pytest.fixture
def serve(aws_env: None) -> Iterator[Callable[..., CDN]]:
    servers: list[CDN] = []
    with mock_aws():
        s3 = boto3.client("s3", region_name="us-east-1")
        s3.create_bucket(Bucket="bucket")

        def start(viewer_request=forward, origin_response=None) -> CDN:
            server = CDN(
                ("127.0.0.1", free_port()), s3, "bucket", viewer_request, origin_response=origin_response
            )
            threading.Thread(target=server.serve_forever, daemon=True).start()
            servers.append(server)
            return server

        yield start
        for server in servers:
            server.shutdown()
            server.server_close()


def get(server: CDN, path: str, headers: dict[str, str] | None = None) -> tuple[int, dict[str, str], bytes]:
    conn = http.client.HTTPConnection(*server.server_address, timeout=10)
    conn.request("GET", path, headers=headers or {})
    resp = conn.getresponse()
    return resp.status, dict(resp.getheaders()), resp.read()


@pytest.mark.parametrize(
    "viewer_request",
    [
        respond(("Content-Length", "3")),
        respond(("Via", "1.1 me")),
        respond(("X-Cache", "Miss")),
        without_host,
    ],
    ids=["generated-content-length", "generated-via", "generated-x-cache", "forwarded-without-host"],
)
def test_a_viewer_request_result_that_fails_validation_is_a_502(serve, viewer_request):
    status, _, body = get(serve(viewer_request=viewer_request), "/requests/index.json")
    assert (status, body) == (502, edge_rules.REJECTED_BODY)


@pytest.mark.parametrize("origin_response", [fresh_redirect, drops_transfer_encoding])
def test_an_origin_response_result_that_fails_validation_is_a_502(serve, origin_response):
    status, headers, body = get(serve(origin_response=origin_response), "/requests/index.json")
    assert (status, body) == (502, edge_rules.REJECTED_BODY)
    assert "Location" not in headers


def test_the_fallback_redirect_passes_validation_in_the_stand_in(serve):
    fallback.configure(fallback.render_file("https://pypi.org/simple/", 60))
    try:
        status, headers, _ = get(serve(origin_response=fallback.handler), "/requests/index.json")
    finally:
        fallback.configure(None)
    assert status == 307
    assert headers["Location"] == "https://pypi.org/simple/requests/"


def test_the_origin_response_event_carries_s3s_error_headers(serve):
    seen: list[dict] = []

    def record(event: dict, context: Any) -> dict:
        seen.append(copy.deepcopy(event["Records"][0]["cf"]["response"]))
        return event["Records"][0]["cf"]["response"]

    status, _, _ = get(serve(origin_response=record), "/nothing/index.json")
    assert status == 404
    [response] = seen
    assert response["status"] == "404"
    assert response["headers"]["transfer-encoding"] == [{"key": "Transfer-Encoding", "value": "chunked"}]
    assert response["headers"]["content-type"][0]["value"] == "application/xml"


def test_hop_by_hop_headers_from_the_viewer_do_not_make_a_forwarded_request_invalid(serve):
    """Connection and friends are disallowed: CloudFront never shows them to the function, so a
    function that forwards the request it was given stays valid."""
    status, _, _ = get(serve(), "/requests/index.json", headers={"Connection": "keep-alive", "Expect": ""})
    assert status == 404  # S3's answer: the request went through


def test_a_rejected_origin_response_result_is_not_kept_in_the_edge_cache(aws_env):
    from local.cache import CachePolicy, EdgeCache

    with mock_aws():
        s3 = boto3.client("s3", region_name="us-east-1")
        s3.create_bucket(Bucket="bucket")
        cache = EdgeCache(CachePolicy(default_ttl=60))
        server = CDN(
            ("127.0.0.1", free_port()), s3, "bucket", forward, cache=cache, origin_response=fresh_redirect
        )
        threading.Thread(target=server.serve_forever, daemon=True).start()
        try:
            assert get(server, "/requests/index.json")[0] == 502
            assert len(cache) == 0  # ERROR_CACHING_SECONDS[502] == 0
        finally:
            server.shutdown()
            server.server_close()


@pytest.mark.parametrize("error", [ConnectionResetError(104, "reset"), BrokenPipeError(32, "pipe")])
def test_a_viewer_hanging_up_prints_no_traceback(serve, capfd, error):
    server = serve()
    try:
        raise error
    except ConnectionError:
        server.handle_error(None, ("127.0.0.1", 40000))
    assert capfd.readouterr().err == ""


def test_any_other_error_in_a_request_still_prints_its_traceback(serve, capfd):
    server = serve()
    try:
        raise ValueError("a defect")
    except ValueError:
        server.handle_error(None, ("127.0.0.1", 40000))
    assert "ValueError: a defect" in capfd.readouterr().err
