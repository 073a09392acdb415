"""The URL map (SPEC.md) and PEP 691 content negotiation, as pure functions."""

from __future__ import annotations

import pytest

from edge import handler as edge
from edge.handler import decode_path, is_bookkeeping, negotiate, normalize, route
from tests.edge_helpers import BROWSER_ACCEPT, PIP_ACCEPT, POETRY_ACCEPT, UV_ACCEPT, check_generated_response

JSON = "application/vnd.pypi.simple.v1+json"


def status(result):
    assert isinstance(result, dict), result
    check_generated_response(result)
    return result["status"]


def location(result):
    assert status(result) == "301"
    return result["headers"]["location"][0]["value"]


# --- content negotiation ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("accept", "expected"),
    [
        # The installers, verbatim (sources in edge_helpers).
        pytest.param(PIP_ACCEPT, "json", id="pip-26.3"),
        pytest.param(UV_ACCEPT, "json", id="uv-0.13.9"),
        pytest.param(POETRY_ACCEPT, "json", id="poetry-2.5.1"),
        pytest.param(BROWSER_ACCEPT, "html", id="browser"),
        # No Accept is */* (RFC 9110 12.5.1): ties go to HTML, what pre-PEP 691 clients read.
        pytest.param(None, "html", id="absent"),
        pytest.param("", "html", id="empty"),
        pytest.param("*/*", "html", id="curl"),
        pytest.param("text/html", "html", id="text-html"),
        pytest.param("application/vnd.pypi.simple.v1+html", "html", id="v1-html"),
        pytest.param(JSON, "json", id="v1-json"),
        pytest.param("application/vnd.pypi.simple.latest+json", "json", id="latest-json"),
        pytest.param("application/vnd.pypi.simple.latest+html", "html", id="latest-html"),
        pytest.param("APPLICATION/VND.PYPI.SIMPLE.V1+JSON", "json", id="case-insensitive"),
        # q-values decide, not order.
        pytest.param(f"text/html;q=0.5, {JSON};q=0.6", "json", id="higher-q-json"),
        pytest.param(f"{JSON};q=0.5, text/html;q=0.6", "html", id="higher-q-html"),
        pytest.param(f"{JSON}, text/html", "html", id="tie-server-preference"),
        pytest.param(f"{JSON} ; q = 0.9 , text/html;q=0.8", "json", id="whitespace"),
        pytest.param(f"{JSON};q=0, */*", "html", id="json-refused"),
        pytest.param(f"text/html;q=0, {JSON};q=0.001", "json", id="html-refused"),
        # Wildcards: the most specific range sets the q (RFC 9110 12.5.1).
        pytest.param("text/*", "html", id="text-wildcard"),
        pytest.param(f"{JSON};q=0.5, application/*;q=0.1", "json", id="application-wildcard"),
        pytest.param(f"*/*;q=0.9, text/html;q=0.1, {JSON}", "json", id="specific-over-wildcard"),
        pytest.param(f"*/*;q=0.1, {JSON};q=0", "html", id="specific-refusal-beats-wildcard"),
        # application/* also covers application/vnd.pypi.simple.v1+html: a tie, so HTML.
        pytest.param("application/*", "html", id="application-wildcard-tie"),
        pytest.param("text/html, image/gif, image/jpeg, *; q=.2, */*; q=.2", "html", id="java"),
        # 406 per PEP 691: nothing we serve is acceptable.
        pytest.param("application/json", None, id="plain-json"),
        pytest.param("image/png, text/plain", None, id="unrelated"),
        pytest.param("*/*;q=0", None, id="nothing"),
        pytest.param(f"{JSON};q=2", None, id="invalid-q-ignored"),
        pytest.param("garbage", None, id="garbage"),
    ],
)
def test_negotiate(accept, expected):
    assert negotiate(accept) == expected


# --- routes -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("uri", "accept", "expected"),
    [
        ("/", None, "/index.html"),
        ("/", PIP_ACCEPT, "/index.json"),
        ("/simple/", None, "/index.html"),
        ("/simple/", UV_ACCEPT, "/index.json"),
        ("/index.html", PIP_ACCEPT, "/index.html"),
        ("/index.json", None, "/index.json"),
        ("/simple/index.json", None, "/index.json"),
        ("/simple/requests/", None, "/requests/index.html"),
        ("/simple/requests/", POETRY_ACCEPT, "/requests/index.json"),
        ("/requests/", BROWSER_ACCEPT, "/requests/index.html"),
        ("/requests/", PIP_ACCEPT, "/requests/index.json"),
        ("/requests/index.html", PIP_ACCEPT, "/requests/index.html"),
        (
            "/simple/requests/requests-2.31.0-py3-none-any.whl",
            None,
            "/requests/requests-2.31.0-py3-none-any.whl",
        ),
        ("/requests/requests-2.31.0.tar.gz", None, "/requests/requests-2.31.0.tar.gz"),
        ("/a/a-1.0-py3-none-any.whl.metadata", None, "/a/a-1.0-py3-none-any.whl.metadata"),
        ("/simple/simple/", None, "/simple/index.html"),
        ("/2/2-1.0.tar.gz", None, "/2/2-1.0.tar.gz"),
    ],
)
def test_route_rewrites(uri, accept, expected):
    assert route("GET", uri, "", accept) == expected


@pytest.mark.parametrize(
    ("uri", "expected"),
    [
        # "+" in a local version: S3 reads a literal "+" as a space, so it must be %2B.
        ("/t/t-2.3.0+cpu-cp311-none-any.whl", "/t/t-2.3.0%2Bcpu-cp311-none-any.whl"),
        ("/t/t-2.3.0%2Bcpu-cp311-none-any.whl", "/t/t-2.3.0%2Bcpu-cp311-none-any.whl"),
        ("/t/t-2.3.0%2bcpu.whl", "/t/t-2.3.0%2Bcpu.whl"),
        ("/t/a%20b.whl", "/t/a%20b.whl"),
        ("/t/caf%C3%A9.tar.gz", "/t/caf%C3%A9.tar.gz"),
        ("/t/x~y_z.whl", "/t/x~y_z.whl"),
        ("/t/a'b(c)!.whl", "/t/a%27b%28c%29%21.whl"),
        ("/t/a%3Fb%23c.whl", "/t/a%3Fb%23c.whl"),
    ],
)
def test_route_canonical_percent_encoding(uri, expected):
    assert route("GET", uri) == expected


@pytest.mark.parametrize(
    ("uri", "querystring", "expected"),
    [
        ("/simple", "", "/simple/"),
        ("/simple", "a=1", "/simple/?a=1"),
        ("/simple/requests", "", "/simple/requests/"),
        ("/simple/Requests", "", "/simple/requests/"),
        ("/simple/Zope.Interface/", "", "/simple/zope-interface/"),
        ("/simple/zope_interface/", "format=text/html", "/simple/zope-interface/?format=text/html"),
        ("/simple/Foo--Bar/", "", "/simple/foo-bar/"),
        ("/Foo_Bar/", "", "/foo-bar/"),
        # A file under a non-normalized project: 301 to the one canonical URL, same root.
        ("/simple/Foo_Bar/Foo_Bar-1.0.tar.gz", "", "/simple/foo-bar/Foo_Bar-1.0.tar.gz"),
        ("/Torch/torch-2.3.0+cpu.whl", "", "/torch/torch-2.3.0%2Bcpu.whl"),
    ],
)
def test_route_redirects(uri, querystring, expected):
    assert location(route("GET", uri, querystring)) == expected


@pytest.mark.parametrize(
    "uri",
    [
        "/a/../b",
        "/a/..",
        "/../a/b",
        "/a/./b",
        "/a/%2e%2e/b",
        "/a/%2E%2E",
        "/a/.%2e/b",
        "/a/%2e/b",
        "/a%2f..%2fb/c",
        "/a/b\\c",
        "/a/b%5cc",
        "/a/b%5Cc",
        "/a/b%00c",
        "/a/b\x00c",
        "/a/b%0d%0aX-Injected: 1",
        "/a/b%7f",
        "/a/b%c2%85",  # C1 control (NEL)
        "/a/b\tc",
        "/a/b%ff",  # not UTF-8
        "/a/b%c3",  # truncated UTF-8
        "/a/b%ed%a0%80",  # a UTF-8-encoded surrogate
        "/a/b%zz",  # malformed escape
        "/a/b%2",
        "/a/b%",
        "/simple//",  # empty segments: CloudFront's normalization would drop them
        "//a/b",
        "/a//b",
        "/t/%61bc.whl",  # needless escapes: CloudFront's normalization would decode them
        "/simple/%72equests/",
        "/a/b%252e",  # an encoded percent: double encoding
        "/a/caf\u00e9.whl",  # raw non-ASCII: a request target is ASCII (RFC 3986)
        "a/b",
        "",
        "/a/" + "x" * 1100,
    ],
)
def test_route_bad_request(uri):
    assert status(route("GET", uri)) == "400"


@pytest.mark.parametrize(
    "uri",
    [
        "/p/evil.html",
        "/simple/p/evil.svg",
        "/p/p-1.0.tar.bz2",
        "/p/p-1.0.egg",
        "/p/README",
        "/p/p-1.0-py3-none-any.whl.asc",
    ],
)
def test_objects_an_index_does_not_serve_are_404(uri):
    # A publisher could put an .html or .svg next to the wheels; a browser would render it on
    # this origin, where it holds the Basic credentials. Only distributions, PEP 658 metadata
    # and the pages are reachable.
    assert status(route("GET", uri)) == "404"


@pytest.mark.parametrize(
    ("uri", "rewritten"),
    [
        ("/simple/p/p-1.0.zip", "/p/p-1.0.zip"),
        ("/p/p-1.0.tar.gz", "/p/p-1.0.tar.gz"),
        ("/p/p-1.0-py3-none-any.whl.metadata", "/p/p-1.0-py3-none-any.whl.metadata"),
        ("/p/index.json", "/p/index.json"),
        ("/simple/p/index.html", "/p/index.html"),
    ],
)
def test_distributions_metadata_and_pages_are_served(uri, rewritten):
    assert route("GET", uri) == rewritten


def test_uri_length_limit_is_inclusive():
    ok = "/a/" + "x" * (edge.MAX_URI_BYTES - 3 - len(".whl")) + ".whl"
    assert len(ok) == edge.MAX_URI_BYTES
    assert route("GET", ok) == ok
    assert status(route("GET", ok + "x")) == "400"


@pytest.mark.parametrize(
    "querystring",
    ["a=\x00", "a=b\r\nc", "a b", "x=" + "y" * 1100, "q=caf\u00e9"],
)
def test_route_bad_query_string(querystring):
    assert status(route("GET", "/simple/", querystring)) == "400"


@pytest.mark.parametrize(
    "uri",
    [
        "/requests/_state.json",
        "/requests/.index.json.lock",
        "/requests/requests-2.31.0.tar.gz.yanked",
        "/requests/requests-2.31.0.tar.gz.YANKED",
        "/simple/requests/_private",
        "/_internal/",
        "/.well-known/",
        "/_internal/state.json",
        "/favicon.ico",
        "/requests",  # only /simple/<name> redirects; the root has no bare names
        "/simple/-bad-/",
        "/simple/bad-",
        "/simple/a b/",
        "/a/b/c",
        "/simple/a/b/c",
        "/a/b/",
    ],
)
def test_route_not_found(uri):
    assert status(route("GET", uri)) == "404"


@pytest.mark.parametrize("method", ["POST", "PUT", "DELETE", "PATCH", "OPTIONS", "get", "TRACE", ""])
def test_route_method_not_allowed(method):
    result = route(method, "/simple/")
    assert status(result) == "405"
    assert result["headers"]["allow"] == [{"key": "Allow", "value": "GET, HEAD"}]


def test_method_is_checked_before_the_path():
    assert status(route("POST", "/a/%00")) == "405"


@pytest.mark.parametrize(
    ("querystring", "accept", "expected"),
    [
        ("format=application/vnd.pypi.simple.v1+json", BROWSER_ACCEPT, "/r/index.json"),
        ("format=application%2Fvnd.pypi.simple.v1%2Bjson", None, "/r/index.json"),
        ("format=application/vnd.pypi.simple.v1+html", PIP_ACCEPT, "/r/index.html"),
        ("format=text/html", PIP_ACCEPT, "/r/index.html"),
        ("x=1&format=application/vnd.pypi.simple.latest+json", None, "/r/index.json"),
        ("informat=application/vnd.pypi.simple.v1+json", None, "/r/index.html"),
        ("format=", PIP_ACCEPT, "/r/index.json"),  # an empty format is "no preference"
    ],
)
def test_route_format_parameter(querystring, accept, expected):
    assert route("GET", "/simple/r/", querystring, accept) == expected


def test_route_format_parameter_unsupported_is_406():
    assert status(route("GET", "/simple/r/", "format=application/json", PIP_ACCEPT)) == "406"


def test_route_406_for_project_page():
    assert status(route("GET", "/simple/r/", "", "application/json")) == "406"


def test_route_files_ignore_accept():
    assert route("GET", "/r/r-1.0.tar.gz", "", "application/json") == "/r/r-1.0.tar.gz"


# --- helpers ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("requests", "requests"),
        ("Django", "django"),
        ("zope.interface", "zope-interface"),
        ("Foo__Bar", "foo-bar"),
        ("a-_.-b", "a-b"),
        ("ruamel.yaml.clib", "ruamel-yaml-clib"),
    ],
)
def test_normalize_pep503(name, expected):
    assert normalize(name) == expected


@pytest.mark.parametrize(
    ("filename", "expected"),
    [
        ("requests-2.31.0.tar.gz", False),
        ("requests-2.31.0-py3-none-any.whl.metadata", False),
        ("index.html", False),
        ("index.json", False),
        ("_state.json", True),
        (".lock", True),
        ("requests-2.31.0.tar.gz.yanked", True),
        ("x.Yanked", True),
        ("yanked", False),
    ],
)
def test_is_bookkeeping(filename, expected):
    assert is_bookkeeping(filename) is expected


@pytest.mark.parametrize(
    ("uri", "expected"),
    [
        ("/", "/"),
        ("/a/b+c", "/a/b+c"),
        ("/a/b%2Bc", "/a/b+c"),
        ("/a%2Fb", None),  # an encoded slash would be a separator in the S3 key
        ("/t/%61bc.whl", None),  # a needless escape: CloudFront's normalization would decode it
        ("/a//b", None),
        ("/a/%E2%9C%93", "/a/\u2713"),
        ("/a/..b", "/a/..b"),  # not a dot-segment
        ("/a/b..", "/a/b.."),
        ("/a/%2e%2e", None),
        ("/a/%5C", None),
    ],
)
def test_decode_path(uri, expected):
    assert decode_path(uri) == expected
