"""Issue #18 item 1: no web page may publish or mint tokens through a signed-in browser.

A browser adds `Origin` to every cross-origin request and to every POST, and `Sec-Fetch-Site` to
every request (Fetch standard, "append a request `Origin` header" and Fetch Metadata); twine, uv
and poetry send neither (checked with the real clients in tests/test_e2e_publish.py, which stay
green).  So the upload routes refuse a request that carries either, at the edge before anything
reaches the function, and in the upload function again (defence in depth).
"""

from __future__ import annotations

import json

import pytest

from edge import guard
from tests.bucket_state import snapshot
from tests.conftest import BUCKET
from tests.distributions import make_wheel
from tests.edge_helpers import call, check_generated_response, install_test_credentials, make_event
from tests.upload_helpers import basic, encode, event, fields_for, install_config
from upload import handler as upload

ROUTES = [
    "/legacy/",
    "/legacy",
    "/_/oidc/mint-token",
    "/_/oidc/burn-token",
    "/_/oidc/audience",
    *guard.CLI_ROUTES,  # issue 20: the CLI's HTTPS routes
]

# What real browsers send (Chromium 1xx / Firefox), for a form post from another site, a fetch()
# from another site, a same-site or same-origin page, and a page served from a file.
HOSTILE = [
    pytest.param({"origin": "https://evil.example", "sec-fetch-site": "cross-site"}, id="cross-site-form"),
    pytest.param({"origin": "https://evil.example"}, id="origin-only"),
    pytest.param({"sec-fetch-site": "cross-site"}, id="fetch-site-only"),
    pytest.param({"origin": "https://docs.example.com", "sec-fetch-site": "same-site"}, id="same-site"),
    pytest.param({"origin": "https://pypi.example.com", "sec-fetch-site": "same-origin"}, id="same-origin"),
    pytest.param({"origin": "null", "sec-fetch-site": "cross-site"}, id="origin-null-sandboxed"),
    pytest.param({"origin": ""}, id="origin-empty"),
    pytest.param({"sec-fetch-site": "CROSS-SITE"}, id="fetch-site-upper-case"),
    pytest.param({"sec-fetch-site": "none, cross-site"}, id="fetch-site-list"),
    pytest.param({"sec-fetch-site": ""}, id="fetch-site-empty"),
    pytest.param({"origin": "x" * 8000}, id="origin-huge"),
]
# A request with neither header, or a user-typed navigation (`Sec-Fetch-Site: none`).
ALLOWED = [
    pytest.param({}, id="twine-uv-poetry"),
    pytest.param({"sec-fetch-site": "none"}, id="typed-into-the-address-bar"),
    pytest.param({"sec-fetch-site": " None "}, id="none-any-case"),
]


def cf_headers(headers: dict[str, str]) -> dict[str, list[dict[str, str]]]:
    return {name: [{"key": name.title(), "value": value}] for name, value in headers.items()}


def upload_event(uri: str, headers: dict[str, str]):
    extra = {"content-length": [{"key": "Content-Length", "value": "100"}], **cf_headers(headers)}
    method = "GET" if uri == "/_/oidc/audience" else "POST"
    return make_event(uri, method=method, authorization=basic("alice", "whatever"), extra_headers=extra)


@pytest.fixture(autouse=True)
def _credentials():
    install_test_credentials()


# --- the edge -----------------------------------------------------------------------------------


@pytest.mark.parametrize("headers", HOSTILE)
@pytest.mark.parametrize("uri", ROUTES)
def test_the_edge_refuses_a_browser_request_to_an_upload_route(uri, headers):
    result = call(upload_event(uri, headers))
    assert result.get("status") == "403", result
    check_generated_response(result)
    assert result["body"].startswith("403 Cross-site request refused")
    assert "\n" not in result["body"].rstrip("\n")  # one line


@pytest.mark.parametrize("headers", ALLOWED)
@pytest.mark.parametrize("uri", ROUTES)
def test_the_edge_passes_a_client_request_to_an_upload_route(uri, headers):
    result = call(upload_event(uri, headers))
    assert "status" not in result, result  # forwarded to the upload function
    assert result["uri"] == uri


def test_the_edge_refuses_before_checking_the_size():
    ev = upload_event("/legacy/", {"origin": "https://evil.example"})
    ev["Records"][0]["cf"]["request"]["headers"]["content-length"] = [
        {"key": "Content-Length", "value": str(10**12)}
    ]
    assert call(ev)["status"] == "403"


def test_a_cross_site_read_of_a_page_is_not_refused():
    # Reading is not a state change, and a page from another site cannot read the answer (no
    # CORS headers are ever sent); the rule is for the write routes only.
    ev = make_event("/simple/", extra_headers=cf_headers({"origin": "https://evil.example"}))
    assert call(ev)["uri"] == "/index.html"


# --- the rule, one module for both functions ------------------------------------------------------


@pytest.mark.parametrize(
    ("origin", "fetch_site", "refused"),
    [
        (None, None, False),
        (None, "none", False),
        (None, "NONE", False),
        ("https://evil.example", None, True),
        ("", None, True),
        (None, "same-origin", True),
        (None, "same-site", True),
        (None, "cross-site", True),
        (None, "", True),
    ],
)
def test_cross_site_refusal(origin, fetch_site, refused):
    from edge import guard

    message = guard.cross_site_refusal(origin, fetch_site)
    assert (message is not None) == refused
    if refused:
        assert message.startswith("Cross-site request refused") and "\n" not in message


def test_the_exempt_routes_are_exactly_the_upload_functions_routes():
    from edge import guard

    assert set(upload.ROUTES) == guard.EXEMPT_ROUTES


# --- the upload function, defence in depth --------------------------------------------------------


@pytest.fixture
def configured(s3):
    yield install_config(s3)
    upload.configure(None)


@pytest.mark.parametrize("headers", HOSTILE)
def test_the_upload_function_refuses_a_browser_request_before_reading_the_form(configured, s3, headers):
    filename, data, _ = make_wheel("acme-web", "1.0")
    body, ctype = encode(fields_for(filename, data, "acme-web", "1.0"))
    ev = event(body, ctype, auth=basic("admin", "admin-pw"))
    ev["headers"].update(headers)
    before = snapshot(s3, BUCKET)
    resp = upload.handler(ev)
    assert resp["statusCode"] == 403
    assert resp["body"].startswith("403 Cross-site request refused")
    assert snapshot(s3, BUCKET) == before


def test_the_upload_function_publishes_the_same_request_without_those_headers(configured, s3):
    filename, data, _ = make_wheel("acme-web", "1.0")
    body, ctype = encode(fields_for(filename, data, "acme-web", "1.0"))
    resp = upload.handler(event(body, ctype, auth=basic("admin", "admin-pw")))
    assert resp["statusCode"] == 200, resp["body"]


def test_the_upload_function_answers_uv_in_json(configured):
    ev = event(b"", None, accept="application/json")
    ev["headers"]["origin"] = "https://evil.example"
    resp = upload.handler(ev)
    assert resp["statusCode"] == 403
    assert json.loads(resp["body"])["message"].startswith("Cross-site request refused")


def test_the_upload_function_checks_the_origin_secret_first(configured):
    ev = event(b"", None, secret="wrong")
    ev["headers"]["origin"] = "https://evil.example"
    resp = upload.handler(ev)
    assert resp["statusCode"] == 403
    assert "come through the index's CDN" in resp["body"]
