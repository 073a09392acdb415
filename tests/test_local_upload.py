"""The CloudFront stand-in's upload behaviour, and `python -m local`'s publish rights."""

from __future__ import annotations

import base64
import http.client
import threading

import pytest

from edge import credentials
from edge import handler as edge
from local.__main__ import parse_user, users_config
from local.cdn import CDN, ORIGIN_SECRET_HEADER
from local.stack import DEFAULT_USERS, free_port


class Function:
    def __init__(self, response=None, fail=False):
        self.events = []
        self.response = response or {
            "statusCode": 200,
            "headers": {"content-type": "text/plain"},
            "body": "ok",
        }
        self.fail = fail

    def __call__(self, event, context):
        self.events.append(event)
        if self.fail:
            raise RuntimeError("boom")
        return self.response


@pytest.fixture
def cdn():
    servers = []

    def start(function):
        server = CDN(
            ("127.0.0.1", free_port()), None, "bucket", edge.handler, upload=function, origin_secret="sec"
        )
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()


def post(server, path="/legacy/", body=b"--b\r\n", headers=None, method="POST"):
    conn = http.client.HTTPConnection(*server.server_address, timeout=10)
    conn.request(
        method,
        path,
        body=body,
        headers={"Content-Type": "multipart/form-data; boundary=b", **(headers or {})},
    )
    resp = conn.getresponse()
    return resp.status, dict(resp.getheaders()), resp.read()


def test_an_upload_reaches_the_function_as_a_function_url_event_with_the_secret(cdn):
    function = Function()
    server = cdn(function)
    status, _, body = post(server, body=b"\x00\xffbinary", headers={"Authorization": "Basic eDp5"})
    assert (status, body) == (200, b"ok")
    (event,) = function.events
    assert event["version"] == "2.0"
    assert event["rawPath"] == "/legacy/"
    assert event["requestContext"]["http"]["method"] == "POST"
    assert event["isBase64Encoded"] is True
    assert base64.b64decode(event["body"]) == b"\x00\xffbinary"
    assert event["headers"][ORIGIN_SECRET_HEADER] == "sec"
    assert event["headers"]["authorization"] == "Basic eDp5"  # the function verifies it
    assert event["headers"]["host"].endswith(".lambda-url.us-east-1.on.aws")
    assert all(name == name.lower() for name in event["headers"])


def test_a_viewer_supplied_origin_secret_never_reaches_the_function(cdn):
    function = Function()
    server = cdn(function)
    post(server, headers={"X-Pypi-Edge-Origin-Secret": "attacker"})
    assert function.events[0]["headers"][ORIGIN_SECRET_HEADER] == "sec"


def test_an_oversize_upload_is_413_at_the_edge_and_the_function_never_runs(cdn):
    function = Function()
    server = cdn(function)
    conn = http.client.HTTPConnection(*server.server_address, timeout=10)
    conn.putrequest("POST", "/legacy/")
    conn.putheader("Content-Length", str(edge.MAX_UPLOAD_BODY_BYTES + 1))
    conn.endheaders()
    conn.send(b"x" * (edge.MAX_UPLOAD_BODY_BYTES + 1))
    resp = conn.getresponse()
    assert resp.status == 413
    assert b"pypi-edge upload" in resp.read()
    assert function.events == []


def test_get_on_legacy_is_405_from_the_edge(cdn):
    function = Function()
    status, headers, _ = post(cdn(function), method="GET", body=None)
    assert status == 405
    assert headers["Allow"] == "POST"
    assert function.events == []


def test_a_function_that_raises_is_502(cdn):
    status, _, body = post(cdn(Function(fail=True)))
    assert (status, body) == (502, b"upload function error\n")


def test_a_base64_response_body_is_decoded(cdn):
    response = {
        "statusCode": 409,
        "headers": {},
        "body": base64.b64encode(b"exists").decode(),
        "isBase64Encoded": True,
    }
    status, _, body = post(cdn(Function(response)))
    assert (status, body) == (409, b"exists")


# --- python -m local: the users config ---------------------------------------------------------


def test_by_default_pypi_pypi_may_publish_everything():
    config = users_config(None, None, None)
    assert config == DEFAULT_USERS
    verifier = credentials.Verifier()
    verifier.configure(credentials.render_file(config, "r", "s", iterations=10))
    header = "Basic " + base64.b64encode(b"pypi:pypi").decode()
    assert verifier.verify(header).can_publish("anything")


def test_users_read_unless_given_publish_globs_and_passwords_may_hold_colons():
    config = users_config(
        [parse_user("ci:pw:with:colons"), parse_user("reader:pw")], [("ci", "acme-*"), ("ci", "tools")], None
    )
    assert config == {
        "ci": {"password": "pw:with:colons", "publish": ["acme-*", "tools"]},
        "reader": {"password": "pw", "publish": []},
    }


def test_tokens_are_stored_as_hashes_with_their_rights():
    config = users_config(None, [("deploy", "acme-*")], [("deploy", "pypi-edge-secret")])
    assert config == {
        "__token__": {
            "deploy": {"sha256": credentials.token_digest("pypi-edge-secret"), "publish": ["acme-*"]}
        }
    }


def test_publish_for_nobody_is_an_error():
    with pytest.raises(SystemExit, match="names no --user or --token: ghost"):
        users_config([("ci", "pw")], [("ghost", "*")], None)
    with pytest.raises(SystemExit, match="--publish needs"):
        users_config(None, [("ci", "*")], None)
