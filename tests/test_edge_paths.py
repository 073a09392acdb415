"""Issue #18 item 6: every spelling of a path, decided before any routing or exemption.

CloudFront normalizes a path before it picks a cache behaviour ("CloudFront normalizes URI paths
consistent with RFC 3986 and then matches the path with the correct cache behavior. Once the cache
behavior is matched, CloudFront sends the raw URI path to the origin", CloudFront Developer Guide,
"Cache behavior settings", Path normalization).  The edge sees the raw path.  So the edge refuses
(400) every path whose normalized form could differ from what it reads: dot segments, empty
segments (`//`), encoded `/`, `\\` or `%`, backslashes, control characters, and percent-encoded
characters that never need encoding (letters, digits, `-._~`, which RFC 3986 normalization
decodes).  What is left is read the same by CloudFront and the edge; and only the exact upload
routes skip Basic auth.
"""

from __future__ import annotations

import pytest

from edge import guard
from tests.edge_helpers import GOOD_AUTH, call, check_generated_response, install_test_credentials, make_event


@pytest.fixture(autouse=True)
def _credentials():
    install_test_credentials()


def answer(uri: str, *, method: str = "GET", authorization: str | None = None) -> str:
    """The status of a generated response, or "forward" when the request goes on to an origin."""
    extra = {"content-length": [{"key": "Content-Length", "value": "10"}]} if method == "POST" else {}
    result = call(make_event(uri, method=method, authorization=authorization, extra_headers=extra))
    if "status" not in result:
        return "forward"
    check_generated_response(result)
    return result["status"]


# Spellings that reach, or try to reach, something else than they name: 400 for everyone, with or
# without credentials, whatever the method.
REFUSED = [
    # dot segments, literal and encoded in every case
    "/_/oidc/../requests/index.html",
    "/_/oidc/%2e%2e/requests/index.html",
    "/_/oidc/%2E%2E/requests/index.html",
    "/_/oidc/%2e%2E/requests/index.html",
    "/_/oidc/.%2e/requests/index.html",
    "/_/oidc/%2e./requests/index.html",
    "/_/oidc/./audience",
    "/_/oidc/%2e/audience",
    "/_/oidc/audience/..",
    "/_/oidc/audience/.",
    "/legacy/../requests/index.html",
    "/legacy/./",
    "/legacy/.",
    "/legacy/..",
    "/legacy/;/../requests/",
    "/simple/../_/oidc/audience",
    "/simple/%2e%2e/legacy/",
    "/simple/requests/%2e%2e/%2e%2e/_state.json",
    "/..",
    "/.",
    # empty segments
    "//legacy/",
    "/legacy//",
    "//_/oidc/audience",
    "/_/oidc//audience",
    "/_//oidc/audience",
    "/simple//requests/",
    "//",
    # encoded slash, backslash, percent (double encoding), NUL and other controls
    "/_/oidc%2Faudience",
    "/_/oidc%2faudience",
    "/_%2Foidc/audience",
    "/legacy%2F",
    "/_/oidc%5Caudience",
    "/_/oidc%5caudience",
    "/_/oidc\\audience",
    "/legacy\\",
    "/_/oidc/%252e%252e/requests/index.html",
    "/_/oidc/%25%32%65%25%32%65/requests/index.html",
    "/simple/requests/%2500",
    "/_/oidc/audience%00",
    "/_/oidc/audience\x00",
    "/legacy/%0d%0a",
    "/_/oidc/audience%09",
    # percent-encoded characters that never need it: RFC 3986 normalization decodes them, so
    # CloudFront would route /%6cegacy/ as /legacy/ while the function reads it as written
    "/%6cegacy/",
    "/%6Cegacy/",
    "/legac%79",
    "/_/oidc/%61udience",
    "/_/oidc/mint%2Dtoken",
    "/%5F/oidc/audience",
    "/simple/%72equests/",
    "/simple/requests/requests-1.0-py3-none-any%2Ewhl",
    "/%7Euser/",
    # malformed escapes, non-ASCII, over-long
    "/_/oidc/%ZZ",
    "/legacy/%",
    "/legacy/\u00e9",
    "/_/oidc/" + "a" * 1100,
    "/legacy/" + "%41" * 10,
    "legacy/",
    "",
]


@pytest.mark.parametrize("uri", REFUSED)
@pytest.mark.parametrize("authorization", [None, GOOD_AUTH], ids=["stranger", "reader"])
@pytest.mark.parametrize("method", ["GET", "POST"])
def test_a_path_that_could_be_read_two_ways_is_400_before_any_exemption(uri, authorization, method):
    assert answer(uri, method=method, authorization=authorization) == "400"


def test_the_400_says_what_is_wrong_in_one_line():
    result = call(make_event("/_/oidc/../requests/index.html", authorization=None))
    assert "Malformed request path" in result["body"]


# Exactly these paths skip Basic auth (the upload function authenticates them itself).
EXEMPT = [
    ("/legacy/", "POST"),
    ("/legacy", "POST"),
    ("/_/oidc/audience", "GET"),
    ("/_/oidc/mint-token", "POST"),
    ("/_/oidc/burn-token", "POST"),
    *((f"/_/cli/{name}", "POST") for name in ("stage", "finish", "yank", "unyank", "status", "list")),
]


def test_the_table_names_every_exempt_route_the_guard_has():
    assert {uri for uri, _ in EXEMPT} == guard.EXEMPT_ROUTES


@pytest.mark.parametrize(("uri", "method"), EXEMPT)
def test_the_exact_upload_routes_go_to_the_upload_function_without_basic_auth(uri, method):
    assert answer(uri, method=method) == "forward"


# Clean spellings that are not one of the five: a stranger gets 401 like anywhere else; a reader
# gets 404 (nothing under the upload behaviours is ever forwarded, so none can reach an origin).
NOT_EXEMPT = [
    "/LEGACY/",
    "/Legacy",
    "/legacy/x",
    "/legacy/requests-1.0-py3-none-any.whl",
    "/legacy/index.html",
    "/legacy/requests/index.json",
    "/legacy;/",
    "/legacy./",
    "/legacy/;",
    "/_/oidc/audience/",
    "/_/oidc/audience;x",
    "/_/oidc/audience.",
    "/_/oidc/audience%20",
    "/_/oidc/AUDIENCE",
    "/_/OIDC/audience",
    "/_/oidc/",
    "/_/oidc",
    "/_/oidc/other",
    "/_/",
    "/_",
    "/_/oidc/mint-token/x",
]


@pytest.mark.parametrize("uri", NOT_EXEMPT)
def test_another_spelling_of_an_upload_route_needs_credentials(uri):
    assert answer(uri) == "401"
    assert answer(uri, method="POST") == "401"


@pytest.mark.parametrize("uri", NOT_EXEMPT)
def test_a_reader_never_reaches_an_origin_through_another_spelling(uri):
    assert answer(uri, authorization=GOOD_AUTH) in ("404", "301")


@pytest.mark.parametrize(
    ("uri", "expected"),
    [
        # What clients send is unaffected: canonical paths, %2B of local versions, %20, UTF-8.
        ("/simple/requests/", "/requests/index.html"),
        (
            "/requests/requests-2.0%2Blocal-py3-none-any.whl",
            "/requests/requests-2.0%2Blocal-py3-none-any.whl",
        ),
        (
            "/requests/requests-2.0%2blocal-py3-none-any.whl",
            "/requests/requests-2.0%2Blocal-py3-none-any.whl",
        ),
        ("/requests/requests-2.0+local-py3-none-any.whl", "/requests/requests-2.0%2Blocal-py3-none-any.whl"),
        ("/requests/a%20b.whl", "/requests/a%20b.whl"),
        ("/requests/caf%C3%A9.tar.gz", "/requests/caf%C3%A9.tar.gz"),
        ("/requests/a%27b%21.whl", "/requests/a%27b%21.whl"),
        ("/requests/a..b.whl", "/requests/a..b.whl"),
    ],
)
def test_canonical_paths_are_read_as_before(uri, expected):
    assert call(make_event(uri))["uri"] == expected
