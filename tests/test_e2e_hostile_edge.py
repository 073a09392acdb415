"""Issue #18, items 1, 5, 6, 8 and 9, attacked through the whole local stack.

Every request goes over a socket to the CloudFront stand-in as a stranger, a reader or a publisher
would send it (raw request lines, so paths the stdlib clients would refuse to send get through),
and every refusal is checked for its status, its message, and that the bucket gained nothing,
over every object version and delete marker (tests/bucket_state.py).
"""

from __future__ import annotations

import base64
import gzip
import hashlib
import http.client
import json
import re
import socket
import time
from dataclasses import dataclass

import pytest

from tests.bucket_state import snapshot
from tests.distributions import make_sdist, make_wheel
from tests.e2e import Stack
from tests.upload_helpers import encode, fields_for

pytestmark = pytest.mark.e2e

READER = ("alice", "reader:pw")
PUBLISHER = ("carol", "pub:lish:er")
JSON = "application/vnd.pypi.simple.v1+json"
PAGE_CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data: https:; "
    "connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)
HOSTILE_BODY = b"<!doctype html><script>document.title='pwned'</script>"


@dataclass
class Reply:
    status: int
    headers: http.client.HTTPMessage
    body: bytes

    @property
    def text(self) -> str:
        return self.body.decode("utf-8", "replace")

    def header(self, name: str) -> str | None:
        return self.headers.get(name)


def basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


def send(
    stack: Stack,
    method: str,
    path: str,
    headers: dict[str, str] | None = None,
    body: bytes = b"",
    auth: tuple[str, str] | None = None,
) -> Reply:
    """One request, written byte for byte: the path exactly as given (NUL, backslash, `..`)."""
    lines = [f"{method} {path} HTTP/1.1", f"Host: 127.0.0.1:{stack.port}", "Connection: close"]
    if auth:
        lines.append(f"Authorization: {basic(*auth)}")
    for name, value in (headers or {}).items():
        lines.append(f"{name}: {value}")
    if body or method in ("POST", "PUT"):
        lines.append(f"Content-Length: {len(body)}")
    raw = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1", "replace") + body
    with socket.create_connection(("127.0.0.1", stack.port), timeout=20) as sock:
        sock.sendall(raw)
        response = http.client.HTTPResponse(sock, method=method)
        response.begin()
        data = response.read()
        return Reply(response.status, response.headers, data)


def wheel_form(name: str, version: str) -> tuple[bytes, str]:
    filename, data, _ = make_wheel(name, version)
    return encode(fields_for(filename, data, name, version))


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    st = Stack(
        workdir=tmp_path_factory.mktemp("hostile-edge"),
        users=dict([READER, PUBLISHER]),
        publish={"carol": ["*"]},
        bucket="pypi-hostile-edge",
    ).start()
    filename, data, _ = make_wheel("edge-target", "1.0")
    sdist_name, sdist = make_sdist("edge-target", "1.0")
    put_and_settle(st, [(f"edge-target/{filename}", data), (f"edge-target/{sdist_name}", sdist)], "")
    st.wait_for("edge-target", lambda files: len(files) == 2)
    yield st
    st.stop()


@pytest.fixture(scope="module")
def empty_stack(tmp_path_factory):
    st = Stack(
        workdir=tmp_path_factory.mktemp("hostile-edge-empty"),
        users=dict([READER]),
        bucket="pypi-hostile-empty",
    ).start()
    yield st
    st.stop()


def put_and_settle(stack: Stack, objects: list[tuple[str, bytes]], content_type: str = "text/html") -> None:
    """Write objects straight to the bucket (by default as `text/html`, as an attacker with
    s3:PutObject could), then `settle`."""
    for key, body in objects:
        extra = {"ContentType": content_type} if content_type else {}
        stack.s3.put_object(Bucket=stack.bucket, Key=key, Body=body, **extra)
    settle(stack)


def settle(stack: Stack) -> None:
    """Wait until the indexer has finished reacting to earlier writes: the bucket's versions
    unchanged for 2 s (the worker polls every second, batches for 0.2 s).  A later "gained
    nothing" then sees only what the request under test did."""
    deadline, last, quiet = time.monotonic() + 60, None, 0
    while quiet < 8:
        assert time.monotonic() < deadline, "the indexer did not settle"
        now = snapshot(stack.s3, stack.bucket)
        quiet = quiet + 1 if now == last else 0
        last = now
        time.sleep(0.25)


class Unchanged:
    """`with Unchanged(stack):` fails if the bucket gained, lost or replaced any object version."""

    def __init__(self, stack: Stack) -> None:
        self.stack = stack

    def __enter__(self) -> Unchanged:
        self.before = snapshot(self.stack.s3, self.stack.bucket)
        return self

    def __exit__(self, *exc: object) -> None:
        if exc[0] is None:
            assert snapshot(self.stack.s3, self.stack.bucket) == self.before


# --- item 1: cross-site publishing ------------------------------------------------------------------

BROWSER_HEADERS = [
    pytest.param({"Origin": "https://evil.example", "Sec-Fetch-Site": "cross-site"}, id="form-from-evil"),
    pytest.param({"Origin": "https://evil.example"}, id="origin"),
    pytest.param({"Sec-Fetch-Site": "cross-site"}, id="fetch-site"),
    pytest.param({"Origin": "null", "Sec-Fetch-Site": "cross-site"}, id="sandboxed-iframe"),
    pytest.param({"Origin": "http://127.0.0.1", "Sec-Fetch-Site": "same-site"}, id="same-site"),
    pytest.param({"Sec-Fetch-Site": "same-origin"}, id="same-origin"),
    pytest.param({"Origin": "x" * 6000}, id="huge-origin"),
]


@pytest.mark.parametrize("headers", BROWSER_HEADERS)
@pytest.mark.parametrize("path", ["/legacy/", "/legacy"])
def test_a_browser_upload_is_403_and_writes_nothing(stack, path, headers):
    body, ctype = wheel_form("edge-csrf", "1.0")
    with Unchanged(stack):
        reply = send(stack, "POST", path, {"Content-Type": ctype, **headers}, body, auth=PUBLISHER)
    assert reply.status == 403
    assert reply.text.startswith("403 Cross-site request refused")
    assert reply.text.count("\n") == 1


@pytest.mark.parametrize("headers", BROWSER_HEADERS)
@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("POST", "/_/oidc/mint-token"),
        ("POST", "/_/oidc/burn-token"),
        ("GET", "/_/oidc/audience"),
        ("POST", "/_/cli/stage"),  # issue 20: the CLI's routes
        ("POST", "/_/cli/finish"),
        ("POST", "/_/cli/yank"),
    ],
)
def test_a_browser_token_request_is_403(stack, method, path, headers):
    with Unchanged(stack):
        reply = send(stack, method, path, {"Content-Type": "application/json", **headers}, b'{"token": "x"}')
    assert reply.status == 403
    assert reply.text.startswith("403 Cross-site request refused")


def test_the_same_upload_from_a_client_is_published(stack):
    body, ctype = wheel_form("edge-client", "1.0")
    reply = send(stack, "POST", "/legacy/", {"Content-Type": ctype}, body, auth=PUBLISHER)
    assert reply.status == 200, reply.text
    reply = send(
        stack, "POST", "/legacy/", {"Content-Type": ctype, "Sec-Fetch-Site": "none"}, body, auth=PUBLISHER
    )
    assert reply.status == 200, reply.text  # typed into the address bar: not a page of another site
    settle(stack)  # the file's S3 event rebuilds its pages once more, after the answer


# --- item 6: path spellings -------------------------------------------------------------------------

SPELLINGS = [
    "/_/oidc/../edge-target/index.html",
    "/_/oidc/%2e%2e/edge-target/index.html",
    "/_/oidc/%2E%2e/edge-target/index.html",
    "/_/oidc/.%2E/edge-target/index.html",
    "/_/oidc/%252e%252e/edge-target/index.html",
    "/legacy/../edge-target/index.html",
    "/legacy/%2e%2e/edge-target/",
    "/legacy/;/../edge-target/",
    "/legacy/.",
    "//legacy/",
    "/legacy//",
    "//edge-target/index.html",
    "/_/oidc//audience",
    "/_/oidc%2Faudience",
    "/_/oidc%2faudience",
    "/_/oidc%5Caudience",
    "/_/oidc\\audience",
    "/_/oidc/audience%00",
    "/_/oidc/audience\x00",
    "/%6cegacy/",
    "/_/oidc/%61udience",
    "/simple/edge%2Dtarget/",
    "/simple/edge-target/edge_target-1.0-py3-none-any%2Ewhl",
    "/simple/edge-target/%2e%2e/%2e%2e/index.json",
    "/edge-target/.project-status/..",
    "/_/oidc/" + "a" * 1100,
    # issue 20: the CLI's routes
    "/_/cli/../edge-target/index.html",
    "/_/cli/%2e%2e/edge-target/index.html",
    "/_/cli//stage",
    "/_/cli%2Fstage",
    "/_/cli/%73tage",
    "/_/cli/stage%00",
]


@pytest.mark.parametrize("path", SPELLINGS)
@pytest.mark.parametrize("method", ["GET", "POST"])
def test_a_path_read_two_ways_is_400_for_a_stranger(stack, path, method):
    with Unchanged(stack):
        reply = send(
            stack, method, path, {"Content-Type": "application/json"}, b"{}" if method == "POST" else b""
        )
    assert reply.status == 400, (reply.status, reply.text)
    assert "Malformed request path" in reply.text


@pytest.mark.parametrize("path", SPELLINGS[:12])
def test_a_publisher_cannot_publish_through_another_spelling(stack, path):
    body, ctype = wheel_form("edge-spelling", "1.0")
    with Unchanged(stack):
        reply = send(stack, "POST", path, {"Content-Type": ctype}, body, auth=PUBLISHER)
    assert reply.status in (400, 403), (reply.status, reply.text)


@pytest.mark.parametrize(
    "path",
    [
        "/LEGACY/",
        "/Legacy",
        "/legacy;/",
        "/legacy./",
        "/_/oidc/audience/",
        "/_/oidc/audience;x",
        "/_/cli/stage/",
        "/_/CLI/stage",
        "/_/cli/stage;x",
        "/_/cli/delete",
    ],
)
def test_a_clean_but_different_spelling_is_not_exempt_from_basic_auth(stack, path):
    with Unchanged(stack):
        reply = send(stack, "GET", path)
    assert reply.status == 401
    assert reply.header("WWW-Authenticate").startswith('Basic realm="')
    reader = send(stack, "GET", path, auth=READER)
    assert reader.status in (301, 404)


def test_the_stranger_cannot_read_a_page_through_the_token_routes(stack):
    # The reproduction: /_/oidc/../<project>/index.html without credentials.
    reply = send(stack, "GET", "/_/oidc/../edge-target/index.html")
    assert reply.status == 400
    assert b"edge_target" not in reply.body


@pytest.mark.parametrize(
    ("path", "headers", "status", "message"),
    [
        pytest.param(
            "/simple/" + "a" * 1100 + "/", {}, 400, "Malformed request path", id="uri-over-1024-bytes"
        ),
        pytest.param("/simple/?" + "a=1&" * 300, {}, 400, "Malformed request", id="query-over-1024-bytes"),
        pytest.param(
            "/simple/",
            {"Authorization": "Basic " + "A" * 5000},
            401,
            "user name",
            id="authorization-over-limit",
        ),
    ],
)
def test_sizes(stack, path, headers, status, message):
    with Unchanged(stack):
        reply = send(stack, "GET", path, headers, auth=None if "Authorization" in headers else READER)
    assert reply.status == status, (reply.status, reply.text)
    assert message in reply.text


def test_an_upload_over_the_limit_is_413_from_its_length_alone(stack):
    with Unchanged(stack):
        reply = send_declared_length(stack, "/legacy/", 10**8)
    assert reply.status == 413
    assert reply.text.startswith("413 This upload is 100,000,000 bytes")


def send_declared_length(stack: Stack, path: str, length: int) -> Reply:
    """A POST that declares a huge body and sends none: the edge must answer from the header alone."""
    raw = (
        f"POST {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\nAuthorization: {basic(*PUBLISHER)}\r\n"
        f"Content-Type: multipart/form-data; boundary=x\r\nContent-Length: {length}\r\n\r\n"
    ).encode()
    with socket.create_connection(("127.0.0.1", stack.port), timeout=20) as sock:
        sock.sendall(raw)
        sock.shutdown(socket.SHUT_WR)
        response = http.client.HTTPResponse(sock, method="POST")
        response.begin()
        return Reply(response.status, response.headers, response.read())


# --- item 5: files are never rendered; pages and generated answers carry a CSP -----------------------

FILES = [
    ("edge-html", "edge_html-1.0-py3-none-any.whl"),
    ("edge-html", "edge_html-1.0.tar.gz"),
    ("edge-html", "edge_html-1.0.zip"),
    # Alone in its folder: the indexer deletes a .metadata whose distribution is gone.
    ("edge-meta", "edge_meta-1.0-py3-none-any.whl.metadata"),
]
MARKERS = [
    "edge_markers-1.0-py3-none-any.whl.yanked",
    ".project-status",
    "_left_out",
    "index.identity.json",
    "evil.html",
    "evil.svg",
]


@pytest.fixture(scope="module")
def html_files(stack):
    put_and_settle(stack, [(f"{project}/{name}", HOSTILE_BODY) for project, name in FILES])
    return FILES


@pytest.fixture(scope="module")
def markers(stack):
    put_and_settle(stack, [(f"edge-markers/{name}", HOSTILE_BODY) for name in MARKERS])
    return MARKERS


@pytest.mark.parametrize(("project", "name"), FILES)
@pytest.mark.parametrize("root", ["/simple/", "/"])
@pytest.mark.parametrize("method", ["GET", "HEAD"])
def test_a_file_is_a_download_whatever_content_type_the_bucket_holds(
    stack, html_files, project, name, root, method
):
    for attempt in ("miss", "hit"):
        reply = send(stack, method, f"{root}{project}/{name}", auth=READER)
        assert reply.status == 200, (attempt, reply.status)
        assert reply.header("Content-Type") == "application/octet-stream", attempt
        assert reply.header("Content-Disposition") == "attachment", attempt
        assert "sandbox" in reply.header("Content-Security-Policy"), attempt
        assert reply.header("X-Content-Type-Options") == "nosniff", attempt
        if method == "GET":
            assert reply.body == HOSTILE_BODY  # the bytes are untouched: hashes still match


def test_a_range_request_for_a_file_is_a_download_too(stack, html_files):
    reply = send(
        stack, "GET", "/simple/edge-html/edge_html-1.0-py3-none-any.whl", {"Range": "bytes=0-9"}, auth=READER
    )
    assert reply.status == 206
    assert reply.header("Content-Type") == "application/octet-stream"
    assert reply.header("Content-Disposition") == "attachment"


def test_a_real_wheel_keeps_its_bytes_and_installs_by_hash(stack):
    files = stack.project_files("edge-target")
    wheel = next(f for f in files if f["filename"].endswith(".whl"))
    reply = send(stack, "GET", f"/simple/edge-target/{wheel['url']}", auth=READER)
    assert hashlib.sha256(reply.body).hexdigest() == wheel["hashes"]["sha256"]


@pytest.mark.parametrize(
    ("path", "accept"),
    [
        ("/", "text/html"),
        ("/simple/", "text/html"),
        ("/simple/", JSON),
        ("/simple/edge-target/", "text/html"),
        ("/simple/edge-target/", JSON),
        ("/edge-target/", "text/html"),
    ],
)
def test_pages_carry_the_page_policy_and_vary_on_accept_and_encoding(stack, path, accept):
    reply = send(stack, "GET", path, {"Accept": accept, "Accept-Encoding": "gzip"}, auth=READER)
    assert reply.status == 200
    assert reply.header("Content-Security-Policy") == PAGE_CSP
    assert reply.header("X-Content-Type-Options") == "nosniff"
    assert reply.header("Vary") == "Accept, Accept-Encoding"


def test_the_pages_own_scripts_and_styles_are_static_assets_the_policy_allows(stack):
    page = send(stack, "GET", "/simple/", {"Accept": "text/html"}, auth=READER).text
    assert "<script>" not in page and "<style>" not in page  # nothing inline for the CSP to block
    assets = re.findall(r'(?:src|href)="(/-/static/[^"]+)"', page)
    assert {a.rsplit(".", 1)[-1] for a in assets} == {"css", "js"}
    for asset in assets:
        reply = send(stack, "GET", asset, auth=READER)
        assert reply.status == 200, asset
        kind = asset.rsplit(".", 1)[-1]
        assert reply.header("Content-Type").startswith({"css": "text/css", "js": "text/javascript"}[kind])
        assert "immutable" in reply.header("Cache-Control")


@pytest.mark.parametrize(
    ("path", "auth", "status"),
    [("/simple/", None, 401), ("/no/such/thing/here", READER, 404), ("/a/%2e%2e/b", None, 400)],
)
def test_generated_answers_carry_the_strict_policy(stack, path, auth, status):
    reply = send(stack, "GET", path, auth=auth)
    assert reply.status == status
    policy = reply.header("Content-Security-Policy")
    assert policy.startswith("default-src 'none'; style-src 'sha256-")
    assert "frame-ancestors 'none'" in policy


@pytest.mark.parametrize("name", MARKERS)
def test_markers_and_other_objects_are_never_served(stack, markers, name):
    for root in ("/", "/simple/"):
        with Unchanged(stack):
            reply = send(stack, "GET", f"{root}edge-markers/{name}", auth=READER)
        assert reply.status == 404
        assert HOSTILE_BODY not in reply.body


# --- item 8: identity encoding ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("accept_encoding", "encoded"),
    [
        (None, False),  # curl without --compressed
        ("identity", False),  # Python's urllib
        ("gzip;q=0", False),
        ("br", False),
        ("gzip, deflate", True),  # pip, poetry
        ("gzip, deflate, zstd", True),  # uv
        ("gzip, deflate, br, zstd", True),  # Chromium
    ],
)
@pytest.mark.parametrize("path", ["/simple/", "/simple/edge-target/"])
def test_json_pages_follow_accept_encoding(stack, path, accept_encoding, encoded):
    headers = {"Accept": JSON}
    if accept_encoding is not None:
        headers["Accept-Encoding"] = accept_encoding
    for _ in ("miss", "hit"):
        reply = send(stack, "GET", path, headers, auth=READER)
        assert reply.status == 200
        assert reply.header("Content-Type") == JSON
        assert reply.header("Vary") == "Accept, Accept-Encoding"
        if encoded:
            assert reply.header("Content-Encoding") == "gzip"
            doc = json.loads(gzip.decompress(reply.body))
        else:
            assert reply.header("Content-Encoding") is None
            doc = json.loads(reply.body)
        assert doc["meta"]["api-version"]


def test_both_variants_say_the_same(stack):
    plain = send(stack, "GET", "/simple/edge-target/", {"Accept": JSON}, auth=READER).body
    packed = send(
        stack, "GET", "/simple/edge-target/", {"Accept": JSON, "Accept-Encoding": "gzip"}, auth=READER
    ).body
    assert json.loads(plain) == json.loads(gzip.decompress(packed))


def test_urllib_reads_a_json_page_without_decoding(stack):
    import urllib.request

    req = urllib.request.Request(stack.url + "/simple/edge-target/", headers={"Accept": JSON})
    req.add_header("Authorization", basic(*READER))
    with urllib.request.urlopen(req, timeout=10) as resp:
        assert json.loads(resp.read())["name"] == "edge-target"


# --- item 9: an empty index --------------------------------------------------------------------------


def test_an_empty_index_lists_no_projects_in_html(empty_stack):
    reply = send(empty_stack, "GET", "/simple/", {"Accept": "text/html"}, auth=READER)
    assert reply.status == 200
    assert "0 projects" in reply.text
    assert reply.header("Content-Security-Policy") == PAGE_CSP


@pytest.mark.parametrize("accept_encoding", [None, "gzip"])
def test_an_empty_index_lists_no_projects_in_json(empty_stack, accept_encoding):
    headers = {"Accept": JSON, **({"Accept-Encoding": accept_encoding} if accept_encoding else {})}
    reply = send(empty_stack, "GET", "/simple/", headers, auth=READER)
    assert reply.status == 200
    body = gzip.decompress(reply.body) if accept_encoding else reply.body
    assert json.loads(body)["projects"] == []


def test_an_empty_index_still_needs_credentials(empty_stack):
    assert send(empty_stack, "GET", "/simple/").status == 401
