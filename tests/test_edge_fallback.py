"""The origin-response function (edge/fallback.py): which S3 answers become a fallback redirect."""

from __future__ import annotations

import ast
import copy
import json
from pathlib import Path

import pytest

from edge import fallback
from edge.handler import FORBIDDEN_HEADER_PREFIXES
from local import edge_rules

UPSTREAM = "https://pypi.org/simple/"


@pytest.fixture
def on():
    fallback.configure(fallback.render_file(UPSTREAM, 60))
    yield
    fallback.configure(None)


def origin_response(uri: str, status: str, method: str = "GET", headers: dict | None = None) -> dict:
    return {
        "Records": [
            {
                "cf": {
                    "config": {"eventType": "origin-response"},
                    "request": {"method": method, "uri": uri, "querystring": "", "headers": {}},
                    "response": {
                        "status": status,
                        "statusDescription": "Not Found",
                        "headers": headers or {},
                    },
                }
            }
        ]
    }


@pytest.mark.parametrize(
    "uri", ["/requests/index.json", "/requests/index.html", "/zope-interface/index.json"]
)
@pytest.mark.parametrize("status", ["403", "404"])
def test_a_missing_project_page_redirects_to_the_same_project_upstream(on, uri, status):
    result = fallback.handler(origin_response(uri, status))

    project = uri.split("/")[1]
    assert result["status"] == "307"
    assert result["headers"]["location"] == [{"key": "Location", "value": f"{UPSTREAM}{project}/"}]
    assert result["headers"]["cache-control"] == [{"key": "Cache-Control", "value": "max-age=60"}]


@pytest.mark.parametrize(
    "uri",
    [
        "/requests/requests-2.32.3-py3-none-any.whl",  # files never
        "/requests/requests-2.32.3-py3-none-any.whl.metadata",
        "/index.json",  # the root list
        "/index.html",
        "/Requests/index.json",  # not a normalized name (the viewer-request function 301s those)
        "/a/b/index.json",
    ],
)
def test_nothing_but_a_project_page_is_redirected(on, uri):
    response = origin_response(uri, "404")

    assert fallback.handler(response) is response["Records"][0]["cf"]["response"]


@pytest.mark.parametrize("status", ["200", "304", "206", "500", "503"])
def test_a_page_this_index_has_or_an_origin_failure_passes_through(on, status):
    response = origin_response("/requests/index.json", status)

    assert fallback.handler(response)["status"] == status


def test_with_the_fallback_off_a_missing_project_stays_a_404():
    fallback.configure(None)
    response = origin_response("/requests/index.json", "404")

    assert fallback.handler(response)["status"] == "404"


def test_the_redirect_sets_no_header_cloudfront_refuses(on):
    result = fallback.handler(origin_response("/requests/index.json", "404"))

    # Read-only for origin-response events (Developer Guide, "Restrictions on Lambda@Edge").
    read_only = {"transfer-encoding", "via", "content-length", "connection"}
    assert not set(result["headers"]) & read_only
    assert not any(h.startswith(FORBIDDEN_HEADER_PREFIXES) for h in result["headers"])
    assert all(v[0]["key"].lower() == k for k, v in result["headers"].items())


# What S3 sends with a NoSuchKey document, as CloudFront hands it over, plus a Via from a proxy on
# the way: the two headers that are read-only for origin-response events.
S3_404_HEADERS = edge_rules.cf_headers(
    [
        ("x-amz-request-id", "0A1B2C3D4E5F6789"),
        ("x-amz-id-2", "abc/def="),
        ("Content-Type", "application/xml"),
        ("Transfer-Encoding", "chunked"),
        ("Via", "1.1 proxy.example (squid)"),
        ("Date", "Wed, 25 Nov 2026 10:00:00 GMT"),
        ("Server", "AmazonS3"),
    ]
)


def test_the_redirect_is_the_origin_response_changed_in_place_so_cloudfront_accepts_it(on):
    """Transfer-Encoding and Via are read-only for origin-response events: a result that deletes or
    changes them is a 502 (Developer Guide, "Restrictions on all edge functions")."""
    event = origin_response("/requests/index.json", "404", headers=copy.deepcopy(S3_404_HEADERS))
    given = event["Records"][0]["cf"]["response"]

    result = fallback.handler(event)

    assert result is given
    assert result["status"] == "307"
    assert result["headers"]["transfer-encoding"] == S3_404_HEADERS["transfer-encoding"]
    assert result["headers"]["via"] == S3_404_HEADERS["via"]
    assert result["headers"]["x-amz-request-id"] == S3_404_HEADERS["x-amz-request-id"]
    assert result["headers"]["content-type"][0]["value"] == "text/plain; charset=utf-8"  # the new body's
    assert edge_rules.violations("origin-response", S3_404_HEADERS, result["headers"]) == []


def test_the_redirect_drops_the_content_length_of_the_error_document_it_replaces(on):
    headers = edge_rules.cf_headers([("Content-Type", "application/xml"), ("Content-Length", "243")])
    result = fallback.handler(origin_response("/requests/index.json", "404", headers=headers))

    assert "content-length" not in result["headers"]  # not read-only here: removing it is allowed
    assert edge_rules.violations("origin-response", {}, result["headers"]) == []


@pytest.mark.parametrize(
    "url, expected",
    [
        ("https://pypi.org/simple", "https://pypi.org/simple/"),
        ("https://pypi.org/simple/", "https://pypi.org/simple/"),
        ("http://127.0.0.1:8081/simple//", "http://127.0.0.1:8081/simple/"),
    ],
)
def test_the_url_gets_one_trailing_slash(url, expected):
    assert fallback.validate_url(url) == expected


@pytest.mark.parametrize(
    "url",
    [
        "pypi.org/simple/",
        "ftp://pypi.org/simple/",
        "https://user:secret@pypi.org/simple/",
        "https://x/?a=1",
        "",
    ],
)
def test_a_url_that_is_not_plain_http_is_refused(url):
    with pytest.raises(ValueError, match="fallbackIndexUrl"):
        fallback.validate_url(url)


def test_cache_seconds_are_configurable_and_never_negative():
    fallback.configure(json.dumps({"fallbackIndexUrl": UPSTREAM, "cacheSeconds": 5}))
    assert fallback.handler(origin_response("/x/index.json", "404"))["headers"]["cache-control"][0][
        "value"
    ] == ("max-age=5")
    with pytest.raises(ValueError, match="cacheSeconds"):
        fallback.configure(json.dumps({"fallbackIndexUrl": UPSTREAM, "cacheSeconds": -1}))
    fallback.configure(None)


def test_reload_reads_the_file_named_by_the_variable(tmp_path, monkeypatch):
    path = tmp_path / "fallback.json"
    path.write_bytes(fallback.render_file(UPSTREAM))
    monkeypatch.setenv(fallback.ENV_VAR, str(path))

    assert fallback.reload() is True
    assert fallback.location("/six/index.json", "404") == f"{UPSTREAM}six/"
    fallback.configure(None)


def test_reload_without_a_file_is_off_and_quiet(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv(fallback.ENV_VAR, str(tmp_path / "absent.json"))

    assert fallback.reload() is False
    assert capsys.readouterr().err == ""


@pytest.mark.parametrize("body", [b"{not json", b'{"fallbackIndexUrl": "ftp://x/"}', b"[]"])
def test_an_unusable_file_turns_the_fallback_off_and_says_why(tmp_path, monkeypatch, capsys, body):
    path = tmp_path / "fallback.json"
    path.write_bytes(body)
    monkeypatch.setenv(fallback.ENV_VAR, str(path))

    assert fallback.reload() is False
    assert fallback.location("/six/index.json", "404") is None
    assert f"unusable fallback configuration at {path}" in capsys.readouterr().err


def test_render_file_without_a_url_is_off():
    fallback.configure(fallback.render_file(None))

    assert fallback.location("/six/index.json", "404") is None


def test_the_function_uses_the_standard_library_only():
    tree = ast.parse(Path(fallback.__file__).read_text())
    imported = {
        (node.module if isinstance(node, ast.ImportFrom) else alias.name).partition(".")[0]
        for node in ast.walk(tree)
        if isinstance(node, ast.Import | ast.ImportFrom)
        for alias in node.names
    }
    assert imported <= set(__import__("sys").stdlib_module_names) | {"__future__"}


def test_the_local_stack_refuses_an_unusable_fallback_url(capsys):
    from local.__main__ import main

    with pytest.raises(SystemExit) as exc:
        main(["--fallback-index-url", "https://user:pw@pypi.org/simple/"])

    assert exc.value.code == 2
    assert "fallbackIndexUrl must be an http(s) URL without credentials" in capsys.readouterr().err
