"""The edge's part in the pages: the /-/static/ route, and the look and CSP of what it generates."""

from __future__ import annotations

import base64
import hashlib

import pytest

from edge import handler as edge
from edge.handler import route
from tests.edge_helpers import check_generated_response


@pytest.mark.parametrize(
    "uri",
    [
        "/-/static/pypi-edge.0123456789ab.css",
        "/-/static/pypi-edge.0123456789ab.js",
    ],
)
def test_static_assets_are_served_from_their_own_key(uri):
    assert route("GET", uri) == uri


@pytest.mark.parametrize(
    "uri",
    [
        "/-/static/",
        # CloudFront reads the 404 page from the origin itself (custom error response, no
        # viewer-request function); a viewer has no use for it, and no HTML is served from here.
        "/-/static/404.html",
        "/-/static/.hidden",
        "/-/static/_private",
        "/-/static/a/b.css",
        "/-/static/a%2Fb.css",
        "/-/static/x%20y.css",
        "/-/static/x+y.css",
        "/-/static/%00.css",
        "/-/",
        "/-/other/x.css",
        "/-/static",
        "/simple/-/static/x.css",
        "/-/static/" + "a" * 1100,
    ],
)
def test_anything_else_under_the_static_folder_is_refused(uri):
    result = route("GET", uri)
    assert isinstance(result, dict), result
    check_generated_response(result)
    assert result["status"] in ("400", "404")


def test_static_assets_are_read_only():
    assert route("POST", "/-/static/x.css")["status"] == "405"


def test_the_page_style_is_allowed_by_its_hash_and_nothing_else_is():
    digest = base64.b64encode(hashlib.sha256(edge.PAGE_STYLE.encode()).digest()).decode()
    assert f"style-src 'sha256-{digest}'" in edge.GENERATED_CSP
    assert "default-src 'none'" in edge.GENERATED_CSP and "script-src" not in edge.GENERATED_CSP


@pytest.mark.parametrize(
    "response",
    [
        edge.unauthorized(),
        route("GET", "/a/b/c"),
        route("GET", "/%2e%2e/"),
        route("GET", "/simple/", accept="application/x-nothing-we-serve"),
    ],
    ids=["401", "404", "400", "406"],
)
def test_generated_pages_are_styled_link_back_and_carry_their_csp(response):
    check_generated_response(response)
    body = response["body"]
    assert response["headers"]["content-security-policy"][0]["value"] == edge.GENERATED_CSP
    assert f"<style>{edge.PAGE_STYLE}</style>" in body and '<a href="/">Back to the package list</a>' in body
    assert '<html lang="en">' in body and "<main>" in body
    assert "<script" not in body and " style=" not in body
    if response["status"] == "401":
        assert len(body.encode()) < 600  # every 401 carries it (the 400 explains more)


def test_text_answers_to_upload_clients_carry_the_generated_csp_which_runs_nothing():
    response = edge.upload_request({"uri": "/legacy/", "method": "GET", "headers": {}, "querystring": ""})
    assert response["headers"]["content-type"][0]["value"].startswith("text/plain")
    assert response["headers"]["content-security-policy"][0]["value"] == edge.GENERATED_CSP
