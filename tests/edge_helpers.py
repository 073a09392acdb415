"""Shared helpers for the edge tests: test credentials, event builders, response checks."""

from __future__ import annotations

import base64
import copy
import json
from pathlib import Path
from typing import Any

from edge import handler as edge
from edge.credentials import render_file

EVENTS = Path(__file__).parent / "events"

USER = "alice"
# Colons and a space on purpose: RFC 7617 splits on the first colon only.
PASSWORD = "correct horse:battery:staple"
OTHER_USER = "bob"
OTHER_PASSWORD = "hunter2"
REALM = "pypi-edge test"
# Low on purpose: tests and the property test run thousands of checks.  Deployments use
# credentials.ITERATIONS.
TEST_ITERATIONS = 1000
TEST_CREDENTIALS = render_file(
    {USER: PASSWORD, OTHER_USER: OTHER_PASSWORD}, REALM, "test-seed", iterations=TEST_ITERATIONS
)

# The Accept headers real clients send for index pages, verbatim.
# pip 26.3, src/pip/_internal/index/collector.py, _get_simple_response():
#   ", ".join(["application/vnd.pypi.simple.v1+json",
#              "application/vnd.pypi.simple.v1+html; q=0.1", "text/html; q=0.01"])
PIP_ACCEPT = (
    "application/vnd.pypi.simple.v1+json, application/vnd.pypi.simple.v1+html; q=0.1, text/html; q=0.01"
)
# uv 0.13.9, crates/uv-client/src/registry_client.rs, MediaType::pypi() (used for every index
# that is not a pyx index; the string is also in the installed uv binary):
UV_ACCEPT = "application/vnd.pypi.simple.v1+json, application/vnd.pypi.simple.v1+html;q=0.2, text/html;q=0.01"
# poetry 2.5.1, src/poetry/repositories/http_repository.py,
# HTTPRepository._get_prefer_json_header() (legacy repositories: the root and project pages):
POETRY_ACCEPT = "application/vnd.pypi.simple.v1+json, */*;q=0.1"
# Chromium/Firefox navigation request:
BROWSER_ACCEPT = "text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,image/webp,*/*;q=0.8"


def basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode("ascii")


GOOD_AUTH = basic(USER, PASSWORD)


def install_test_credentials() -> None:
    edge.configure(TEST_CREDENTIALS)


def make_event(
    uri: str = "/simple/",
    *,
    method: str = "GET",
    querystring: str = "",
    authorization: str | None = GOOD_AUTH,
    accept: str | None = None,
    extra_headers: dict[str, list[dict[str, str]]] | None = None,
) -> dict[str, Any]:
    """A viewer-request event in the documented Lambda@Edge shape."""
    headers: dict[str, list[dict[str, str]]] = {
        "host": [{"key": "Host", "value": "d111111abcdef8.cloudfront.net"}],
        "user-agent": [{"key": "User-Agent", "value": "test"}],
    }
    if accept is not None:
        headers["accept"] = [{"key": "Accept", "value": accept}]
    if authorization is not None:
        headers["authorization"] = [{"key": "Authorization", "value": authorization}]
    headers.update(extra_headers or {})
    return {
        "Records": [
            {
                "cf": {
                    "config": {
                        "distributionDomainName": "d111111abcdef8.cloudfront.net",
                        "distributionId": "EDFDVBD6EXAMPLE",
                        "eventType": "viewer-request",
                        "requestId": "4TyzHTaYWb1GX1qTfsHhEqV6HUDd_BzoBZnwfnvQc_1oF26ClkoUSEQ==",
                    },
                    "request": {
                        "clientIp": "203.0.113.178",
                        "headers": headers,
                        "method": method,
                        "querystring": querystring,
                        "uri": uri,
                    },
                }
            }
        ]
    }


def load_event(name: str) -> dict[str, Any]:
    """tests/events/viewer-request-<name>.json"""
    return json.loads((EVENTS / f"viewer-request-{name}.json").read_text())


def call(event: dict[str, Any]) -> dict[str, Any]:
    return edge.handler(copy.deepcopy(event), None)


def is_response(result: dict[str, Any]) -> bool:
    """A generated response (has a status) rather than a forwarded request (has a uri)."""
    return "status" in result


def header(result: dict[str, Any], name: str) -> str | None:
    values = result["headers"].get(name)
    return values[0]["value"] if values else None


def check_generated_response(response: dict[str, Any]) -> None:
    """The shape CloudFront accepts for a generated response, and no header it would reject."""
    assert isinstance(response["status"], str) and response["status"].isdigit()
    assert isinstance(response["statusDescription"], str)
    for name, values in response["headers"].items():
        assert name == name.lower()
        assert name not in edge.FORBIDDEN_HEADERS, name
        assert not name.startswith(edge.FORBIDDEN_HEADER_PREFIXES), name
        assert values and all(v["key"].lower() == name and isinstance(v["value"], str) for v in values)
    if "body" in response:
        assert response["bodyEncoding"] == "text"
        # Lambda@Edge limit for a generated viewer-request response body: 40 KB.
        assert len(response["body"].encode()) < 40_000
