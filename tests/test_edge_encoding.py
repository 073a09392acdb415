"""Issue #18 item 8: a client that does not accept gzip gets the JSON page unencoded.

JSON pages are stored twice by the indexer: `index.json` gzip-encoded (what pip, uv, poetry and
browsers get) and `index.identity.json` plain.  CloudFront cannot make the second from the first:
it never decodes, and it compresses only the types on its list, where
`application/vnd.pypi.simple.v1+json` is not (CloudFront Developer Guide, "Serve compressed
files").  So the viewer-request function picks the stored variant by `Accept-Encoding`, before
the cache: the rewritten URI is the cache key, so each variant has its own cache entry.
"""

from __future__ import annotations

import pytest

from tests.edge_helpers import PIP_ACCEPT, call, install_test_credentials, load_event, make_event

JSON = "application/vnd.pypi.simple.v1+json"


@pytest.fixture(autouse=True)
def _credentials():
    install_test_credentials()


def forwarded(uri: str, accept_encoding: str | None, *, accept: str = JSON) -> str:
    extra = {}
    if accept_encoding is not None:
        extra["accept-encoding"] = [{"key": "Accept-Encoding", "value": accept_encoding}]
    return call(make_event(uri, accept=accept, extra_headers=extra))["uri"]


@pytest.mark.parametrize(
    ("accept_encoding", "variant"),
    [
        # pip and poetry (requests' default), uv (reqwest with gzip and brotli), browsers.
        pytest.param("gzip, deflate", "index.json", id="pip-26.3-and-requests"),
        pytest.param("gzip, deflate, zstd", "index.json", id="uv-0.13.9"),
        pytest.param("gzip, deflate, br, zstd", "index.json", id="chromium"),
        pytest.param("br,gzip", "index.json", id="cloudfront-normalized"),
        pytest.param("GZIP", "index.json", id="upper-case"),
        pytest.param("gzip;q=0.5, identity;q=1", "index.json", id="gzip-with-q"),
        pytest.param("x-gzip", "index.json", id="x-gzip"),
        pytest.param("gzip;level=9", "index.json", id="other-parameter"),
        pytest.param("identity, " + "x-custom;q=0.5, " * 30 + "gzip", "index.json", id="long-list"),
        # Python's urllib (http.client sends "identity"), curl without --compressed (no header).
        pytest.param("identity", "index.identity.json", id="urllib"),
        pytest.param(None, "index.identity.json", id="curl"),
        pytest.param("", "index.identity.json", id="empty"),
        pytest.param("gzip;q=0", "index.identity.json", id="gzip-refused"),
        pytest.param("gzip; q=0.000", "index.identity.json", id="gzip-refused-spaced"),
        pytest.param("gzip;q=0..5", "index.identity.json", id="gzip-unreadable-q"),
        pytest.param("identity, " + "x-custom;q=0.5, " * 30, "index.identity.json", id="long-list-without"),
        pytest.param("br", "index.identity.json", id="brotli-only"),
        pytest.param("deflate", "index.identity.json", id="deflate-only"),
        pytest.param("*", "index.identity.json", id="star"),
        pytest.param("gzipx, xgzip", "index.identity.json", id="look-alikes"),
    ],
)
def test_the_json_variant_follows_accept_encoding(accept_encoding, variant):
    assert forwarded("/simple/requests/", accept_encoding) == f"/requests/{variant}"
    assert forwarded("/simple/", accept_encoding) == f"/{variant}"
    assert forwarded("/requests/index.json", accept_encoding) == f"/requests/{variant}"
    assert forwarded("/index.json", accept_encoding) == f"/{variant}"


@pytest.mark.parametrize("accept_encoding", ["identity", None, "gzip"])
def test_html_pages_and_files_are_one_object(accept_encoding):
    # CloudFront compresses text/html itself for clients that ask; files are never re-encoded.
    assert forwarded("/simple/requests/", accept_encoding, accept="text/html") == "/requests/index.html"
    assert forwarded("/requests/requests-1.0.tar.gz", accept_encoding) == "/requests/requests-1.0.tar.gz"
    assert forwarded("/requests/r-1.0-py3-none-any.whl.metadata", accept_encoding).endswith(".metadata")


def test_the_plain_variant_is_not_a_url_of_its_own():
    result = call(make_event("/requests/index.identity.json"))
    assert result["status"] == "404"


def test_pips_real_request_gets_the_gzip_variant():
    event = load_event("pip-project-page")
    assert event["Records"][0]["cf"]["request"]["headers"]["accept-encoding"][0]["value"] == "gzip, deflate"
    assert call(event)["uri"] == "/requests/index.json"


def test_urllib_gets_the_plain_variant():
    assert forwarded("/simple/requests/", "identity", accept=PIP_ACCEPT) == "/requests/index.identity.json"
