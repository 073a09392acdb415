"""Issue #18 item 5: the responses the edge generates carry a strict Content-Security-Policy.

Their only inline content is the `<style>` block `edge.handler.PAGE_STYLE`; the policy allows
exactly that block by its SHA-256 (CSP Level 3, "hash-source"), computed at import, so restyling
the pages means changing the constant and nothing else.
"""

from __future__ import annotations

import base64
import hashlib
import re

import pytest

from edge import handler as edge
from tests.edge_helpers import GOOD_AUTH, call, check_generated_response, install_test_credentials, make_event


@pytest.fixture(autouse=True)
def _credentials():
    install_test_credentials()


def csp(result) -> str:
    return result["headers"]["content-security-policy"][0]["value"]


def style_hash(body: str) -> str:
    (style,) = re.findall(r"<style>(.*?)</style>", body, flags=re.DOTALL)
    return "sha256-" + base64.b64encode(hashlib.sha256(style.encode()).digest()).decode()


GENERATED = [
    pytest.param(make_event("/simple/", authorization=None), "401", id="401"),
    pytest.param(make_event("/nothing/here/at/all"), "404", id="404"),
    pytest.param(make_event("/a/../b"), "400", id="400"),
    pytest.param(make_event("/simple/", method="DELETE"), "405", id="405"),
    pytest.param(make_event("/simple/", accept="image/png"), "406", id="406"),
    pytest.param(make_event("/simple"), "301", id="301"),
    pytest.param(
        make_event("/legacy/", method="POST", extra_headers={"origin": [{"key": "Origin", "value": "x"}]}),
        "403",
        id="403-cross-site",
    ),
    pytest.param(make_event("/legacy/", method="POST"), "411", id="411"),
    pytest.param(
        make_event(
            "/legacy/",
            method="POST",
            extra_headers={"content-length": [{"key": "Content-Length", "value": str(10**9)}]},
        ),
        "413",
        id="413",
    ),
]


@pytest.mark.parametrize(("event", "status"), GENERATED)
def test_every_generated_response_has_the_strict_policy(event, status):
    result = call(event)
    check_generated_response(result)
    assert result["status"] == status
    policy = csp(result)
    assert policy == edge.GENERATED_CSP
    directives = dict(d.strip().split(" ", 1) for d in policy.split(";"))
    assert directives["default-src"] == "'none'"
    assert directives["base-uri"] == "'none'"
    assert directives["form-action"] == "'none'"
    assert directives["frame-ancestors"] == "'none'"
    assert "script-src" not in directives  # falls back to default-src 'none'
    assert result["headers"]["x-content-type-options"][0]["value"] == "nosniff"


@pytest.mark.parametrize("status", ["401", "404", "400"])
def test_the_page_style_is_allowed_by_its_hash_and_nothing_else_inline(status):
    event = {
        "401": make_event("/simple/", authorization=None),
        "404": make_event("/nothing/here/at/all", authorization=GOOD_AUTH),
        "400": make_event("/a/%2e%2e/b"),
    }[status]
    result = call(event)
    body = result["body"]
    assert f"'{style_hash(body)}'" in csp(result)
    assert "<script" not in body and " style=" not in body


def test_the_hash_follows_the_constant():
    changed = "body{color:red}"
    policy = edge.generated_csp(changed)
    expected = base64.b64encode(hashlib.sha256(changed.encode()).digest()).decode()
    assert f"style-src 'sha256-{expected}'" in policy
    assert edge.generated_csp(edge.PAGE_STYLE) == edge.GENERATED_CSP


@pytest.mark.parametrize(("event", "status"), GENERATED)
def test_every_generated_response_carries_hsts_and_frame_options_itself(event, status):
    """The response headers policy does not touch a function's generated responses, so the 401 a
    browser meets first would lack them; `pypi-edge check` found it (issue 22)."""
    from infra import wiring

    headers = {name: value for name, value, _ in wiring.PAGES_POLICY.headers()}
    result = call(event)
    assert result["headers"]["strict-transport-security"][0]["value"] == headers["Strict-Transport-Security"]
    assert result["headers"]["x-frame-options"][0]["value"] == headers["X-Frame-Options"] == "DENY"
