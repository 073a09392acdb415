"""A write to any URL but the upload routes: 405 naming the upload URL, never the bucket.

Every cache behaviour allows all seven methods (infra.wiring, VIEWER_METHODS), so every method
reaches the viewer-request function; it must answer each one but GET and HEAD itself, with the
absolute upload URL, and forward nothing to S3.  Hostile table: methods, paths, spellings, Host
values and bodies, on the handler and through the CloudFront stand-in.
"""

from __future__ import annotations

import http.client
import threading

import pytest

from edge import guard
from edge import handler as edge
from infra import wiring
from local.cdn import CDN, FORWARDED_PROTO_HEADER, behaviour_for
from local.stack import free_port
from tests.edge_helpers import (
    GOOD_AUTH,
    basic,
    call,
    check_generated_response,
    header,
    install_test_credentials,
    is_response,
    make_event,
)

WRITES = ["POST", "PUT", "PATCH", "DELETE", "OPTIONS"]
# Where people point twine/uv/poetry by mistake, and every kind of path the edge serves.
PATHS = [
    "/",
    "/simple/",
    "/simple",
    "/simple/pkg/",
    "/simple/Pkg_Name/",
    "/pkg/",
    "/pkg/pkg-1.0-py3-none-any.whl",
    "/pkg/pkg-1.0.tar.gz",
    "/pkg/pkg-1.0-py3-none-any.whl.metadata",
    "/index.html",
    "/index.json",
    "/-/static/pypi-edge.css",
    "/pkg/.project-status",
    "/pkg/pkg-1.0.tar.gz.yanked",
    "/_claims/x",
    "/legacy/extra",  # under the upload prefix, not an exact upload route
    "/_/oidc/other",
    "/_/",
    "/upload/",
    "/LEGACY/",
    "/simple/legacy/",
]


@pytest.fixture(autouse=True)
def _credentials():
    install_test_credentials()
    yield
    install_test_credentials()


def host(value: str) -> dict:
    return {"host": [{"key": "Host", "value": value}]}


def body(result: dict) -> str:
    return result.get("body", "")


@pytest.mark.parametrize("method", WRITES)
@pytest.mark.parametrize("path", PATHS)
def test_a_write_anywhere_but_the_upload_routes_is_405_naming_the_upload_url(method, path):
    result = call(make_event(path, method=method))
    assert is_response(result), "forwarded to S3"
    check_generated_response(result)
    assert result["status"] == "405"
    assert header(result, "allow") == "GET, HEAD"
    assert header(result, "content-type") == "text/plain; charset=utf-8"
    assert body(result) == (
        "405 This URL only serves GET and HEAD: upload to https://d111111abcdef8.cloudfront.net/legacy/\n"
    )
    assert body(result).count("\n") == 1


@pytest.mark.parametrize("method", WRITES)
@pytest.mark.parametrize(
    "path", ["/legacy//", "/simple/../legacy/", "/legacy/%2e", "/%6Cegacy/", "/legacy%2F", "/legacy/\\"]
)
def test_a_spelling_of_the_upload_route_is_400_before_anything_else(method, path):
    result = call(make_event(path, method=method))
    assert result["status"] == "400"


@pytest.mark.parametrize("method", ["post", "Get", "TRACE", "CONNECT", "PROPFIND", "", "GET "])
def test_any_other_method_spelling_is_405_too(method):
    result = call(make_event("/simple/", method=method))
    assert result["status"] == "405"
    assert "upload to https://" in body(result)


def test_the_custom_domain_the_viewer_used_is_the_one_named():
    result = call(make_event("/simple/", method="POST", extra_headers=host("pypi.example.com")))
    assert body(result).endswith("upload to https://pypi.example.com/legacy/\n")


@pytest.mark.parametrize(
    "value",
    [
        "evil.example/<script>",
        'a"b',
        "a b",
        "host\r\nX-Injected: 1",
        "-leading.example",
        "a" * 300,
        "",
        "user@host",
        "host:99999999",
    ],
)
def test_a_host_that_is_not_a_plain_name_is_never_repeated(value):
    result = call(make_event("/simple/", method="POST", extra_headers=host(value)))
    assert result["status"] == "405"
    assert body(result).endswith("upload to https://d111111abcdef8.cloudfront.net/legacy/\n")


@pytest.mark.parametrize("value", ["127.0.0.1:8080", "[::1]:8080", "pypi.internal:443", "localhost"])
def test_host_names_with_ports_and_ip_literals_are_named(value):
    result = call(make_event("/simple/", method="POST", extra_headers=host(value)))
    assert body(result).endswith(f"upload to https://{value}/legacy/\n")


def test_the_stand_ins_plain_http_is_named_with_its_scheme():
    headers = {**host("127.0.0.1:8080"), "cloudfront-forwarded-proto": [{"key": "x", "value": "http"}]}
    result = call(make_event("/simple/", method="POST", extra_headers=headers))
    assert body(result).endswith("upload to http://127.0.0.1:8080/legacy/\n")


def test_without_credentials_a_write_is_401_like_every_other_request():
    result = call(make_event("/simple/", method="POST", authorization=None))
    assert result["status"] == "401"
    wrong = call(make_event("/simple/", method="PUT", authorization=basic("alice", "wrong")))
    assert wrong["status"] == "401"


def test_head_is_served_never_refused():
    result = call(make_event("/simple/", method="HEAD"))
    assert not is_response(result) and result["uri"] == "/index.html"


@pytest.mark.parametrize("method", [*WRITES, "GET", "HEAD"])
@pytest.mark.parametrize("path", sorted(guard.EXEMPT_ROUTES))
def test_only_the_exact_upload_routes_are_forwarded_with_another_method(method, path):
    result = call(
        make_event(path, method=method, extra_headers={"content-length": [{"key": "x", "value": "10"}]})
    )
    if path in guard.POST_ROUTES and method != "POST":  # /legacy/ and the CLI routes take POST only
        assert result["status"] == "405" and header(result, "allow") == "POST"
    elif is_response(result):  # GET /_/oidc/audience is a route; others refused by the function
        pytest.fail(f"{method} {path}: {result['status']}")
    else:
        assert result["uri"] == path
        assert behaviour_for(path).name == "upload"  # never the bucket's behaviour


def test_nothing_but_get_and_head_is_ever_forwarded_to_a_bucket_behaviour():
    """The property S3's safety rests on, over the whole table (paths x every method)."""
    for path in PATHS + sorted(guard.EXEMPT_ROUTES):
        for method in [*wiring.VIEWER_METHODS, "TRACE"]:
            result = call(
                make_event(
                    path, method=method, extra_headers={"content-length": [{"key": "x", "value": "1"}]}
                )
            )
            if not is_response(result) and behaviour_for(path).name != "upload":
                assert method in wiring.ORIGIN_METHODS, (method, path)


@pytest.mark.parametrize(
    "uri",
    [
        "/simple/pkg/.project-status",
        "/pkg/.project-status",
        "/_claims/pkg",
        "/pkg/x.whl.yanked",
        "/no/such/thing",
    ],
)
def test_a_404_never_names_the_key_that_was_asked_for(uri):
    result = call(make_event(uri))
    assert result["status"] == "404"
    assert "project-status" not in body(result) and "_claims" not in body(result)
    assert uri not in body(result) and "yanked" not in body(result)


# --- through the CloudFront stand-in ----------------------------------------------------------


@pytest.fixture(scope="module")
def cdn():
    """The stand-in with the real edge, no upload function and an S3 client that must never be
    called: a forwarded write would raise (and the stand-in answers S3's AccessDenied first)."""
    server = CDN(("127.0.0.1", free_port()), _NoS3(), "bucket", edge.handler, upload=None)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


class _NoS3:
    def __getattr__(self, name):
        raise AssertionError(f"S3 was called: {name}")


def send(server, method, path, body=b"", headers=None):
    conn = http.client.HTTPConnection(*server.server_address, timeout=10)
    conn.request(method, path, body=body, headers={"Authorization": GOOD_AUTH, **(headers or {})})
    resp = conn.getresponse()
    return resp.status, dict(resp.getheaders()), resp.read().decode()


BODIES = [
    pytest.param(b"", {}, id="empty"),
    pytest.param(
        b'--b\r\nContent-Disposition: form-data; name=":action"\r\n\r\nfile_upload\r\n--b--\r\n',
        {"Content-Type": "multipart/form-data; boundary=b"},
        id="twine-form",
    ),
    pytest.param(b"\x00\xff" * 50_000, {"Content-Type": "application/octet-stream"}, id="100k-binary"),
    pytest.param(
        b'{"a": 1}', {"Content-Type": "application/json", "Origin": "https://evil.example"}, id="cross-site"
    ),
]


@pytest.mark.parametrize(("data", "headers"), BODIES)
@pytest.mark.parametrize("method", ["POST", "PUT", "PATCH", "DELETE"])
@pytest.mark.parametrize("path", ["/simple/", "/simple/pkg/", "/pkg/pkg-1.0.tar.gz", "/", "/index.json"])
def test_the_stand_in_lets_every_method_reach_the_function_which_answers_405(
    cdn, method, path, data, headers
):
    status, got, text = send(cdn, method, path, data, headers)
    port = cdn.server_address[1]
    assert status == 405, text
    assert text == f"405 This URL only serves GET and HEAD: upload to http://127.0.0.1:{port}/legacy/\n"
    assert got["Allow"] == "GET, HEAD"
    assert "not configured to allow" not in text


def test_the_stand_in_still_refuses_methods_outside_cloudfronts_set(cdn):
    for method in ["TRACE", "PROPFIND"]:
        status, _, _ = send(cdn, method, "/simple/")
        assert status in (403, 501), method  # CloudFront: 403; http.server has no handler: 501


def test_a_viewer_cannot_choose_the_scheme_the_stand_in_reports(cdn):
    status, _, text = send(cdn, "POST", "/simple/", b"x", {FORWARDED_PROTO_HEADER: "https"})
    assert status == 405 and "upload to http://" in text


def test_a_write_the_edge_would_forward_is_refused_as_s3_would(monkeypatch, cdn):
    """Belt and braces: were the edge to forward a write, the stand-in answers S3's AccessDenied
    (the bucket policy grants CloudFront reads only) and never calls S3."""
    monkeypatch.setattr(cdn, "edge", lambda event, context: event["Records"][0]["cf"]["request"])
    status, _, text = send(cdn, "DELETE", "/pkg/pkg-1.0.tar.gz")
    assert status == 403 and "AccessDenied" in text
