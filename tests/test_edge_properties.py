"""Property-based: arbitrary requests never crash the handler, never pass without valid
credentials, and only ever reach keys inside the bucket's public namespace."""

from __future__ import annotations

import base64
import copy
import re
from urllib.parse import quote, unquote_to_bytes

from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from edge import guard
from edge import handler as edge
from tests.edge_helpers import (
    BROWSER_ACCEPT,
    GOOD_AUTH,
    PASSWORD,
    PIP_ACCEPT,
    POETRY_ACCEPT,
    USER,
    UV_ACCEPT,
    check_generated_response,
    install_test_credentials,
    make_event,
)

SETTINGS = settings(max_examples=1500, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def weighted(p_first: float, first: st.SearchStrategy, rest: st.SearchStrategy) -> st.SearchStrategy:
    """`first` with probability about `p_first`, else `rest` (one_of would flatten and dilute)."""
    return st.integers(0, 99).flatmap(lambda i: first if i < p_first * 100 else rest)


# Pieces that exercise every rule: traversal, encodings, separators, bookkeeping, unicode.
_PIECES_TABLE = (
    "simple|requests|Requests|zope.interface|Foo__Bar|a|1|index.html|index.json|_state.json|.hidden"
    "|x.whl.yanked|x.whl.metadata|torch-2.3.0+cpu-cp311-none-any.whl|r-1.0.tar.gz|..|.|%2e%2e|%2E."
    "|%2f|%2F|%5c|\\|%00|\x00|%0d%0a|%ff|%c3|%zz|%|%25|%2B|+| |%20|?|#|caf\u00e9|%C3%A9|//|;|~"
)
PIECES = _PIECES_TABLE.split("|")
segment = st.one_of(st.sampled_from(PIECES), st.text(min_size=0, max_size=8))
plausible_uris = st.builds(
    lambda prefix, project, filename: f"{prefix}{project}/{filename}",
    st.sampled_from(["/", "/simple/"]),
    st.sampled_from(["requests", "Requests", "zope.interface", "a", "torch", "_x", "-a"]),
    st.one_of(
        st.just(""),
        st.sampled_from(PIECES),
        st.text(st.characters(codec="utf-8"), max_size=20).map(lambda t: quote(t, safe="+ ~")),
    ),
)
uris = weighted(
    0.4,
    plausible_uris,
    st.one_of(
        st.lists(segment, min_size=0, max_size=5).map(lambda parts: "/" + "/".join(parts)),
        st.lists(st.sampled_from(PIECES), min_size=1, max_size=6).map(lambda parts: "/" + "".join(parts)),
        st.text(max_size=40),
        st.just("/" + "a" * 2000),
        st.sampled_from(sorted(guard.EXEMPT_ROUTES)),  # the upload function's routes
    ),
)
# Weighted towards the interesting part: authenticated GETs of plausible paths.


methods = weighted(
    0.6,
    st.sampled_from(["GET", "GET", "GET", "HEAD"]),
    st.one_of(st.sampled_from(["POST", "PUT", "DELETE", "OPTIONS", "get", ""]), st.text(max_size=6)),
)
accepts = st.one_of(
    st.none(),
    st.sampled_from(
        [PIP_ACCEPT, UV_ACCEPT, POETRY_ACCEPT, BROWSER_ACCEPT, "*/*", "application/json", "*/*;q=0"]
    ),
    st.text(max_size=60),
)
querystrings = weighted(
    0.5,
    st.just(""),
    st.one_of(
        st.sampled_from(
            ["format=application/vnd.pypi.simple.v1+json", "format=text/html", "format=x", "a=1&b=2"]
        ),
        st.text(max_size=30),
    ),
)
bad_authorizations = st.one_of(
    st.none(),
    st.just("basic " + GOOD_AUTH.split(" ", 1)[1] + "x"),
    st.text(max_size=40),
    st.binary(max_size=40).map(lambda b: "Basic " + base64.b64encode(b).decode()),
    st.text(max_size=20).map(lambda pw: "Basic " + base64.b64encode(f"{USER}:{pw}".encode()).decode()),
    st.text(max_size=12).map(lambda u: "Basic " + base64.b64encode(f"{u}:{PASSWORD}".encode()).decode()),
)
good_authorizations = st.sampled_from([GOOD_AUTH, "basic " + GOOD_AUTH.split(" ", 1)[1], "  " + GOOD_AUTH])
authorizations = weighted(0.6, good_authorizations, bad_authorizations)
header_values = st.lists(
    st.fixed_dictionaries({"key": st.text(max_size=10), "value": st.text(max_size=30)}),
    min_size=1,
    max_size=2,
)
extra_headers = weighted(
    0.5,
    st.just({}),
    st.one_of(
        st.dictionaries(
            st.sampled_from(
                ["accept", "x-forwarded-for", "cookie", "range", "origin", "sec-fetch-site", "x"]
            ),
            header_values,
            max_size=3,
        ),
        # a second Authorization header, or a list of odd ones
        st.dictionaries(st.just("authorization"), header_values, max_size=1),
    ),
)


def assert_safe_forward(result: dict) -> None:
    uri = result["uri"]
    assert uri.startswith("/") and not uri.startswith("//")
    assert uri.isascii() and " " not in uri and "+" not in uri
    assert result["querystring"] == ""
    assert "authorization" not in result["headers"]
    key = unquote_to_bytes(uri[1:]).decode("utf-8")  # what S3 looks up
    assert quote(key, safe="/") == uri[1:], "canonically encoded"
    segments = key.split("/")
    if segments[:2] == ["-", "static"]:  # the pages' own scripts and styles
        assert len(segments) == 3 and re.fullmatch(
            r"[A-Za-z0-9][A-Za-z0-9._-]*\.(css|js|svg|png|ico|woff2)", segments[2]
        )
        assert ".." not in segments[2]
        return
    assert 1 <= len(segments) <= 2
    assert all(segments), "no empty segments"
    assert not any(s in (".", "..") or "\\" in s or "\x00" in s for s in segments)
    assert not any(ord(c) < 0x20 or 0x7F <= ord(c) <= 0x9F for c in key)
    # Independent of the implementation's helpers, so a bug there cannot hide here.
    assert segments[-1][:1] not in ("_", ".") and not segments[-1].lower().endswith(".yanked")
    if len(segments) == 1:
        assert key in ("index.html", "index.json", "index.identity.json")
    else:
        assert re.fullmatch(r"[a-z0-9]+(-[a-z0-9]+)*", segments[0]), "projects are normalized names"


def assert_safe_location(location: str) -> None:
    """Same-origin and canonical: never an open redirect ("//host"), never a header injection."""
    path = location.split("?", 1)[0]
    assert path.startswith("/") and not path.startswith("//")
    assert location.isascii() and not any(c in location for c in "\r\n\x00 ")
    decoded = unquote_to_bytes(path).decode("utf-8")
    assert quote(decoded, safe="/") == path
    assert not any(s in (".", "..") for s in decoded.split("/"))
    assert not any(c == "\\" or ord(c) < 0x20 or 0x7F <= ord(c) <= 0x9F for c in decoded)


@SETTINGS
@given(
    method=methods,
    uri=uris,
    querystring=querystrings,
    accept=accepts,
    authorization=authorizations,
    extra=extra_headers,
)
def test_handler_never_raises_and_never_leaks(method, uri, querystring, accept, authorization, extra):
    install_test_credentials()
    request_event = make_event(
        uri,
        method=method,
        querystring=querystring,
        authorization=authorization,
        accept=accept,
        extra_headers=extra,
    )
    sent_headers = request_event["Records"][0]["cf"]["request"]["headers"]
    auth_values = [v["value"] for v in sent_headers.get("authorization", [])]
    valid = len(auth_values) == 1 and edge.parse_basic_auth(auth_values[0]) == (USER, PASSWORD)

    result = edge.handler(copy.deepcopy(request_event), None)
    event(f"outcome: {result.get('status', 'forwarded')}")  # see --hypothesis-show-statistics

    exempt = uri in guard.EXEMPT_ROUTES  # the upload function authenticates those itself
    if "status" in result:
        check_generated_response(result)
        if not valid and not exempt:
            # A stranger learns nothing: the challenge, or 400 for a path no one can name.
            assert result["status"] == "401" or (result["status"] == "400" and edge.decode_path(uri) is None)
        if result["status"] == "401":
            assert result["headers"]["www-authenticate"]
        if result["status"] == "301":
            assert_safe_location(result["headers"]["location"][0]["value"])
        return
    if exempt:
        # One of the upload function's exact routes: forwarded untouched, credentials and all
        # (the function authenticates), and only when no browser sent it.
        assert result["uri"] == uri
        assert "origin" not in result["headers"]
        return
    assert valid, "a request went on without valid credentials"
    assert method in ("GET", "HEAD")
    assert_safe_forward(result)


@SETTINGS
@given(method=methods, uri=uris, querystring=querystrings, accept=accepts)
def test_route_is_total(method, uri, querystring, accept):
    result = edge.route(method, uri, querystring, accept)
    if isinstance(result, dict):
        check_generated_response(result)
        if result["status"] == "301":
            assert_safe_location(result["headers"]["location"][0]["value"])
    else:
        assert_safe_forward({"uri": result, "querystring": "", "headers": {}})


@settings(max_examples=300, deadline=None)
@given(
    event=st.recursive(
        st.none() | st.text(max_size=5) | st.integers(),
        lambda c: st.lists(c) | st.dictionaries(st.text(max_size=8), c),
        max_leaves=10,
    )
)
def test_garbage_events_are_401(event):
    install_test_credentials()
    assert edge.handler(event, None)["status"] == "401"
