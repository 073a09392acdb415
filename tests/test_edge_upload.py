"""The edge in front of the upload endpoint: /legacy/ passes to the upload function, oversize is 413 here."""

from __future__ import annotations

import copy

import pytest

from edge import handler as edge
from tests.edge_helpers import (
    GOOD_AUTH,
    call,
    check_generated_response,
    install_test_credentials,
    is_response,
    load_event,
    make_event,
)

LIMIT = edge.MAX_UPLOAD_BODY_BYTES


@pytest.fixture(autouse=True)
def _credentials():
    install_test_credentials()


def upload(length: str | None, *, uri: str = "/legacy/", method: str = "POST", authorization=GOOD_AUTH):
    extra = {"content-length": [{"key": "Content-Length", "value": length}]} if length is not None else {}
    return make_event(uri, method=method, authorization=authorization, extra_headers=extra)


def test_the_upload_limit_is_the_function_url_payload_less_headers_and_base64():
    assert LIMIT == 4_483_104  # docs/publishing.md, "Limit"


def test_a_twine_upload_passes_to_the_origin_untouched():
    event = load_event("twine-upload")
    expected = copy.deepcopy(event["Records"][0]["cf"]["request"])
    assert call(event) == expected  # Authorization kept: the upload function verifies it


def test_an_upload_without_credentials_still_reaches_the_function_which_answers_401():
    result = call(upload("100", authorization=None))
    assert not is_response(result)
    assert "authorization" not in result["headers"]


def test_a_viewer_supplied_origin_secret_is_dropped():
    event = upload("100")
    event["Records"][0]["cf"]["request"]["headers"][edge.ORIGIN_SECRET_HEADER] = [
        {"key": "X-Pypi-Edge-Origin-Secret", "value": "guess"}
    ]
    assert edge.ORIGIN_SECRET_HEADER not in call(event)["headers"]


@pytest.mark.parametrize("length", [str(LIMIT), "0", "1"])
def test_bodies_up_to_the_limit_pass(length):
    assert not is_response(call(upload(length)))


def test_one_byte_over_the_limit_is_413_with_the_way_forward():
    result = call(upload(str(LIMIT + 1)))
    check_generated_response(result)
    assert result["status"] == "413"
    assert f"{LIMIT + 1:,} bytes" in result["body"]
    assert f"at most {LIMIT:,} bytes" in result["body"]
    # Issue 20: the exact command, with this index's host and index credentials, no AWS.
    assert "`pypi-edge upload --index-url https://d111111abcdef8.cloudfront.net/ dist/*`" in result["body"]


@pytest.mark.parametrize("host", [None, "evil.example/<script>", "a" * 300, "caf\u00e9.example"])
def test_the_413_names_a_host_only_when_it_is_a_plain_host_name(host):
    from edge.handler import large_file_command

    assert large_file_command(host) == "pypi-edge upload --index-url https://<this index>/ dist/*"


def test_no_content_length_is_411():
    result = call(upload(None))
    check_generated_response(result)
    assert result["status"] == "411"


@pytest.mark.parametrize("length", ["-1", "12abc", "", "1" * 20, "1, 2"])
def test_a_malformed_content_length_is_400(length):
    result = call(upload(length))
    check_generated_response(result)
    assert result["status"] == "400"


@pytest.mark.parametrize("method", ["GET", "PUT", "DELETE"])
def test_other_methods_on_legacy_are_405_allow_post(method):
    result = call(upload("1", method=method))
    check_generated_response(result)
    assert result["status"] == "405"
    assert result["headers"]["allow"][0]["value"] == "POST"


def test_head_on_legacy_is_405_without_a_body():
    result = call(upload(None, method="HEAD"))
    assert result["status"] == "405"
    assert "body" not in result


def test_oidc_paths_pass_to_the_function_with_the_same_size_check():
    assert not is_response(call(upload(None, uri="/_/oidc/audience", method="GET", authorization=None)))
    assert not is_response(call(upload("500", uri="/_/oidc/mint-token", authorization=None)))
    assert call(upload(str(LIMIT + 1), uri="/_/oidc/mint-token"))["status"] == "413"


def test_legacy_without_a_slash_is_the_upload_endpoint_too():
    # The distribution has a behaviour for the exact path /legacy as well (infra.wiring), as the
    # upload function has a route for it: twine accepts the URL without its slash.
    assert not is_response(call(upload("1", uri="/legacy")))
    result = call(upload(None, uri="/legacy", method="GET"))
    assert result["status"] == "405"
    assert result["headers"]["allow"][0]["value"] == "POST"
