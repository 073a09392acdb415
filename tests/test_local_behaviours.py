"""The CloudFront stand-in picks behaviours as CloudFront does, and applies their response headers
policies: the pieces of local/cdn.py that make "what runs here is what runs in AWS" true."""

from __future__ import annotations

import pytest

from infra import wiring
from local.cdn import DEFAULT, FILES, UPLOAD, apply_policy, behaviour_for, normalize_path, remove_dot_segments


@pytest.mark.parametrize(
    ("raw", "normalized"),
    [
        ("/simple/requests/", "/simple/requests/"),
        # RFC 3986 6.2.2.2: unreserved characters are decoded, other escapes upper-cased.
        ("/%6cegacy/", "/legacy/"),
        ("/_/oidc/%61udience", "/_/oidc/audience"),
        ("/a/b%2ewhl", "/a/b.whl"),
        ("/a/b%2bc", "/a/b%2Bc"),
        ("/a%2fb", "/a%2Fb"),  # "/" is reserved: stays encoded
        ("/a%5cb", "/a%5Cb"),
        ("/a/%25", "/a/%25"),
        # 6.2.2.3: dot segments, also once decoded; and repeated slashes collapsed
        ("/_/oidc/../p/index.html", "/_/p/index.html"),
        ("/_/oidc/%2e%2e/p/index.html", "/_/p/index.html"),
        ("/_/oidc/../../p/index.html", "/p/index.html"),
        ("/legacy/./", "/legacy/"),
        ("/legacy/.", "/legacy/"),
        ("/a/b/..", "/a/"),
        ("/../a", "/a"),
        ("//legacy/", "/legacy/"),
        ("/legacy//x", "/legacy/x"),
        ("/", "/"),
    ],
)
def test_normalize_path(raw, normalized):
    assert normalize_path(raw) == normalized


@pytest.mark.parametrize(
    ("path", "expected"),
    [("/a/b/c/./../../g", "/a/g"), ("/mid/content=5/../6", "/mid/6"), ("/a/..", "/"), ("/.", "/")],
)
def test_remove_dot_segments_as_rfc_3986_5_2_4(path, expected):
    assert remove_dot_segments(path) == expected


@pytest.mark.parametrize(
    ("raw", "behaviour"),
    [
        ("/legacy/", UPLOAD),
        ("/legacy", UPLOAD),
        ("/legacy/x", UPLOAD),
        ("/_/oidc/audience", UPLOAD),
        ("/_/oidc/mint-token", UPLOAD),
        ("//legacy/", UPLOAD),  # CloudFront routes the normalized path to the upload function
        ("/%6cegacy/", UPLOAD),
        ("/legacy/x.whl", UPLOAD),  # the first matching pattern wins
        ("/LEGACY/", DEFAULT),  # path patterns are case-sensitive
        ("/legacyx", DEFAULT),
        ("/_/oidc", DEFAULT),
        ("/_/oidc/../p/index.html", DEFAULT),
        ("/simple/p/p-1.0-py3-none-any.whl", FILES),
        ("/p/p-1.0.tar.gz", FILES),
        ("/p/p-1.0.zip", FILES),
        ("/p/p-1.0-py3-none-any.whl.metadata", FILES),
        ("/p/p-1.0-py3-none-any%2Ewhl", FILES),
        ("/p/p-1.0.WHL", DEFAULT),
        ("/p/p-1.0.whl.yanked", DEFAULT),
        ("/simple/p/", DEFAULT),
        ("/-/static/pypi-edge.0123456789abcdef.css", DEFAULT),
    ],
)
def test_behaviour_for(raw, behaviour):
    assert behaviour_for(raw) is behaviour


def test_without_an_upload_function_the_upload_paths_are_the_default_behaviour():
    assert behaviour_for("/legacy/", upload=False) is DEFAULT
    assert behaviour_for("/legacy/x.whl", upload=False) is FILES


@pytest.mark.parametrize(
    ("pattern", "path", "matches"),
    [
        ("*.whl", "/a/b.whl", True),
        ("/*.whl", "/a/b.whl", True),
        ("*.whl", "/a/b.whl/", False),
        ("/legacy/*", "/legacy/", True),
        ("/legacy/*", "/legacy", False),
        ("/legacy", "/legacy", True),
        ("/legacy", "/legacy/", False),
        ("/a?c", "/abc", True),
        ("/a.c", "/abc", False),  # "." is literal
        ("*.tar.gz", "/p/p-1.0.tar.gz", True),
        ("*.tar.gz", "/p/p-1.0.tar.gzip", False),
    ],
)
def test_path_patterns(pattern, path, matches):
    assert wiring.path_pattern_matches(pattern, path) is matches


def test_the_files_policy_overrides_what_the_bucket_says():
    out = apply_policy(
        {"Content-Type": "text/html", "content-disposition": "inline", "ETag": '"x"'}, wiring.FILES_POLICY
    )
    assert out["Content-Type"] == "application/octet-stream"
    assert out["Content-Disposition"] == "attachment"
    assert "content-disposition" not in out
    assert out["Content-Security-Policy"] == "default-src 'none'; sandbox"
    assert out["X-Content-Type-Options"] == "nosniff"
    assert out["ETag"] == '"x"'


def test_the_pages_policy_keeps_a_csp_the_response_has_and_adds_one_otherwise():
    kept = apply_policy({"Content-Security-Policy": "default-src 'none'"}, wiring.PAGES_POLICY)
    assert kept["Content-Security-Policy"] == "default-src 'none'"
    added = apply_policy({"Content-Type": "text/html"}, wiring.PAGES_POLICY)
    assert added["Content-Security-Policy"] == wiring.PAGE_CSP
    assert added["Vary"] == "Accept, Accept-Encoding"


def test_the_pages_policy_replaces_a_vary_the_origin_sent():
    assert apply_policy({"Vary": "Accept-Encoding"}, wiring.PAGES_POLICY)["Vary"] == "Accept, Accept-Encoding"
