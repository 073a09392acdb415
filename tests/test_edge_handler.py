"""The viewer-request handler end to end, on CloudFront event fixtures (tests/events/)."""

from __future__ import annotations

import pytest

from edge import handler as edge
from tests.edge_helpers import (
    BROWSER_ACCEPT,
    GOOD_AUTH,
    REALM,
    call,
    check_generated_response,
    header,
    install_test_credentials,
    is_response,
    load_event,
    make_event,
)


@pytest.fixture(autouse=True)
def _credentials():
    install_test_credentials()
    yield
    install_test_credentials()


def forwarded(result):
    assert not is_response(result), result
    assert "authorization" not in result["headers"]
    assert result["querystring"] == ""
    return result["uri"]


@pytest.mark.parametrize("client", ["pip", "uv", "poetry"])
def test_installers_get_the_json_project_page(client):
    assert forwarded(call(load_event(f"{client}-project-page"))) == "/requests/index.json"


def test_browser_gets_the_html_root_index():
    assert forwarded(call(load_event("browser-root"))) == "/index.html"


def test_forwarded_request_keeps_the_other_headers_and_fields():
    event = load_event("pip-project-page")
    result = call(event)
    original = event["Records"][0]["cf"]["request"]
    assert result["headers"]["host"] == original["headers"]["host"]
    assert result["headers"]["accept"] == original["headers"]["accept"]
    assert result["clientIp"] == original["clientIp"]
    assert result["method"] == "GET"


@pytest.mark.parametrize("name", ["no-authorization", "wrong-password", "unknown-user"])
def test_missing_or_wrong_credentials_get_the_basic_challenge(name):
    result = call(load_event(name))
    check_generated_response(result)
    assert result["status"] == "401"
    assert header(result, "www-authenticate") == f'Basic realm="{REALM}", charset="UTF-8"'
    assert header(result, "cache-control") == "no-store"
    assert header(result, "content-type") == "text/html; charset=utf-8"
    assert result["body"].startswith("<!doctype html>")


def test_challenge_is_the_same_whatever_the_path_or_method():
    """Unauthenticated viewers learn nothing: 405/301/404 paths all look alike.  (A path no one
    can name, such as a dot segment, is a 400 for everyone before authentication: that says
    nothing about what exists; tests/test_edge_paths.py.)"""
    bodies = set()
    for uri, method in [
        ("/simple/requests/", "GET"),
        ("/simple/requests/", "DELETE"),
        ("/simple/Requests", "GET"),
        ("/requests/_state.json", "GET"),
        ("/does-not-exist/", "GET"),
    ]:
        result = call(make_event(uri, method=method, authorization=None))
        assert result["status"] == "401"
        bodies.add(repr(sorted(result.items())))
    assert len(bodies) == 1


def test_head_challenge_has_no_body():
    result = call(make_event("/simple/", method="HEAD", authorization=None))
    assert result["status"] == "401" and "body" not in result
    assert header(result, "www-authenticate")


def test_wheel_with_local_version_is_percent_encoded_for_s3():
    assert (
        forwarded(call(load_event("wheel-local-version")))
        == "/torch/torch-2.3.0%2Bcpu-cp311-cp311-linux_x86_64.whl"
    )


def test_pep658_metadata_passes_through():
    assert (
        forwarded(call(load_event("metadata-pep658")))
        == "/torch/torch-2.3.0%2Bcpu-cp311-cp311-linux_x86_64.whl.metadata"
    )


def test_yanked_marker_is_hidden():
    result = call(load_event("yanked-marker"))
    check_generated_response(result)
    assert result["status"] == "404"


def test_post_is_405_with_allow():
    result = call(load_event("post"))
    check_generated_response(result)
    assert result["status"] == "405"
    assert header(result, "allow") == "GET, HEAD"
    assert result["body"].endswith("upload to https://d111111abcdef8.cloudfront.net/legacy/\n")


def test_not_normalized_project_redirects_keeping_the_query():
    result = call(load_event("not-normalized"))
    check_generated_response(result)
    assert result["status"] == "301"
    assert header(result, "location") == "/simple/zope-interface/?format=text/html"


def test_missing_trailing_slash_redirects():
    result = call(load_event("no-trailing-slash"))
    assert result["status"] == "301"
    assert header(result, "location") == "/simple/requests/"


def test_encoded_traversal_is_400():
    result = call(load_event("encoded-traversal"))
    check_generated_response(result)
    assert result["status"] == "400"


def test_format_parameter_overrides_the_browser_accept():
    assert forwarded(call(load_event("format-json"))) == "/requests/index.json"


def test_unacceptable_accept_is_406():
    result = call(make_event("/simple/requests/", accept="application/json"))
    check_generated_response(result)
    assert result["status"] == "406"


def test_head_forwards_like_get():
    result = call(make_event("/simple/requests/", method="HEAD", accept=BROWSER_ACCEPT))
    assert forwarded(result) == "/requests/index.html"
    assert result["method"] == "HEAD"


def test_head_generated_response_has_no_body():
    result = call(make_event("/requests/_private", method="HEAD"))
    assert result["status"] == "404" and "body" not in result and "bodyEncoding" not in result


def test_two_authorization_headers_are_refused():
    event = make_event("/simple/")
    event["Records"][0]["cf"]["request"]["headers"]["authorization"].append(
        {"key": "Authorization", "value": GOOD_AUTH}
    )
    assert call(event)["status"] == "401"


def test_lowercase_scheme_is_accepted():
    assert forwarded(call(make_event("/", authorization="basic " + GOOD_AUTH.split(" ", 1)[1])))


@pytest.mark.parametrize(
    "event",
    [
        {},
        {"Records": []},
        {"Records": [{"cf": {}}]},
        {"Records": [{"cf": {"request": {"uri": "/"}}}]},
        None,
    ],
)
def test_malformed_event_is_401_not_an_exception(event):
    assert edge.handler(event, None)["status"] == "401"


def test_authenticated_request_with_malformed_fields_is_400():
    event = make_event("/simple/")
    event["Records"][0]["cf"]["request"]["uri"] = None
    assert call(event)["status"] == "400"


def test_no_credentials_fails_closed():
    edge.configure(None)
    result = call(load_event("pip-project-page"))
    assert result["status"] == "401"
    assert header(result, "www-authenticate") == 'Basic realm="pypi-edge", charset="UTF-8"'


def test_every_generated_response_respects_cloudfront_header_rules():
    for event in [
        make_event("/", authorization=None),
        make_event("/", method="PUT"),
        make_event("/a/%00"),
        make_event("/simple"),
        make_event("/a/_b"),
        make_event("/a/", accept="image/png"),
    ]:
        check_generated_response(call(event))
