"""The one Cognito call (edge/cognito.py): SigV4 as botocore signs, and every answer's meaning.

Against moto's Cognito (server mode, a real HTTP exchange) for what moto implements, and against a
small local HTTP server for what it does not (throttling, a missing permission, a hang, 5xx).
"""

from __future__ import annotations

import base64
import contextlib
import datetime
import http.server
import json
import socket
import threading
import time
from collections.abc import Iterator

import boto3
import botocore.auth
import pytest
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from moto.server import ThreadedMotoServer

from edge import cognito, userpool
from edge.userpool import Settings, Unavailable
from local.stack import free_port

ENV = {
    "AWS_ACCESS_KEY_ID": "AKIDEXAMPLE",
    "AWS_SECRET_ACCESS_KEY": "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
}
NOW = datetime.datetime(2026, 11, 25, 12, 34, 56, tzinfo=datetime.UTC)


# --- Signature Version 4 -----------------------------------------------------------------------------


@pytest.mark.parametrize("session_token", ["", "IQoJb3JpZ2luX2VjEExample//token=="])
@pytest.mark.parametrize("region", ["us-east-1", "ap-southeast-2"])
def test_the_signature_is_the_one_botocore_computes(monkeypatch, session_token: str, region: str) -> None:
    body = json.dumps({"AuthFlow": "ADMIN_USER_PASSWORD_AUTH", "UserPoolId": f"{region}_Ab1"}).encode()
    host = f"cognito-idp.{region}.amazonaws.com"
    headers = {"Content-Type": cognito.CONTENT_TYPE, "X-Amz-Target": cognito.TARGET}
    ours = cognito.sign(
        host=host,
        body=body,
        headers=headers,
        region=region,
        access_key=ENV["AWS_ACCESS_KEY_ID"],
        secret_key=ENV["AWS_SECRET_ACCESS_KEY"],
        session_token=session_token,
        now=NOW,
    )
    monkeypatch.setattr(botocore.auth, "get_current_datetime", lambda: NOW.replace(tzinfo=None))
    request = AWSRequest(method="POST", url=f"https://{host}/", data=body, headers=dict(headers))
    creds = Credentials(ENV["AWS_ACCESS_KEY_ID"], ENV["AWS_SECRET_ACCESS_KEY"], session_token or None)
    botocore.auth.SigV4Auth(creds, "cognito-idp", region).add_auth(request)
    assert ours["Authorization"] == request.headers["Authorization"]
    assert ours["X-Amz-Date"] == request.headers["X-Amz-Date"] == "20261125T123456Z"
    if session_token:
        assert ours["X-Amz-Security-Token"] == session_token
    else:
        assert "X-Amz-Security-Token" not in ours


def test_a_changed_byte_of_the_body_changes_the_signature() -> None:
    args = {
        "host": "h",
        "headers": {},
        "region": "us-east-1",
        "access_key": "a",
        "secret_key": "b",
        "now": NOW,
    }
    assert (
        cognito.sign(body=b"{}", **args)["Authorization"]
        != cognito.sign(body=b"{ }", **args)["Authorization"]
    )


# --- against moto's Cognito ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def moto_pool() -> Iterator[tuple[str, Settings, object]]:
    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    endpoint = f"http://127.0.0.1:{port}"
    idp = boto3.client(
        "cognito-idp",
        endpoint_url=endpoint,
        region_name="eu-west-1",
        aws_access_key_id="a",
        aws_secret_access_key="b",
    )
    from infra import pool

    pool_id = idp.create_user_pool(**pool.create_pool_request("t"))["UserPool"]["Id"]
    client_id = idp.create_user_pool_client(**pool.create_client_request(pool_id, "edge"))["UserPoolClient"][
        "ClientId"
    ]
    for name, password, groups in [
        ("carol", "Carol-password-1", ["pypi-edge:read"]),
        ("ci", "Ci-password-1234", ["pypi-edge:read", "pypi-edge:publish:acme-*"]),
        ("off", "Off-password-123", ["pypi-edge:read"]),
    ]:
        idp.admin_create_user(UserPoolId=pool_id, Username=name, MessageAction="SUPPRESS")
        idp.admin_set_user_password(UserPoolId=pool_id, Username=name, Password=password, Permanent=True)
        for group in groups:
            with contextlib.suppress(idp.exceptions.GroupExistsException):
                idp.create_group(UserPoolId=pool_id, GroupName=group)
            idp.admin_add_user_to_group(UserPoolId=pool_id, Username=name, GroupName=group)
    idp.admin_disable_user(UserPoolId=pool_id, Username="off")
    # A user whose password is temporary: Cognito answers with a NEW_PASSWORD_REQUIRED challenge.
    idp.admin_create_user(
        UserPoolId=pool_id, Username="fresh", TemporaryPassword="Fresh-password-1", MessageAction="SUPPRESS"
    )
    yield pool_id, Settings(pool_id, client_id, 60, endpoint), server
    server.stop()


def client_for(settings: Settings, **kwargs) -> cognito.Client:
    return cognito.Client(settings, environ=dict(ENV), **kwargs)


@pytest.mark.parametrize(
    ("user", "password", "groups"),
    [
        ("carol", "Carol-password-1", ["pypi-edge:read"]),
        ("ci", "Ci-password-1234", ["pypi-edge:read", "pypi-edge:publish:acme-*"]),
        ("carol", "wrong", None),
        ("nobody", "Carol-password-1", None),
        ("off", "Off-password-123", None),  # disabled
        ("fresh", "Fresh-password-1", None),  # a challenge Basic auth cannot answer
    ],
)
def test_moto_answers_become_groups_or_a_refusal(moto_pool, user: str, password: str, groups) -> None:
    _, settings, _ = moto_pool
    got = client_for(settings).authenticate(user, password)
    assert (sorted(got) if got is not None else None) == (sorted(groups) if groups is not None else None)


def test_no_credentials_in_the_environment_is_unavailable(moto_pool) -> None:
    _, settings, _ = moto_pool
    with pytest.raises(Unavailable, match="no AWS credentials"):
        cognito.Client(settings, environ={}).authenticate("carol", "Carol-password-1")


# --- what moto does not do: a scripted server --------------------------------------------------------------


class Scripted(http.server.ThreadingHTTPServer):
    """Answers each POST with the next scripted (status, headers, body); records the requests."""

    daemon_threads = True

    def __init__(self, answers: list[tuple[int, dict[str, str], bytes]]) -> None:
        self.answers = list(answers)
        self.requests: list[tuple[dict[str, str], bytes]] = []
        self.connections = 0
        super().__init__(("127.0.0.1", 0), _Handler)
        threading.Thread(target=self.serve_forever, daemon=True).start()

    @property
    def settings(self) -> Settings:
        return Settings("us-east-1_Scripted1", "client1", 60, f"http://127.0.0.1:{self.server_address[1]}")

    def get_request(self):
        self.connections += 1
        return super().get_request()


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        self.server.requests.append((dict(self.headers), body))
        status, headers, answer = self.server.answers.pop(0)
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(answer)))
        self.end_headers()
        self.wfile.write(answer)

    def log_message(self, *args) -> None:
        pass


def error(code: str, status: int = 400, header: bool = True) -> tuple[int, dict[str, str], bytes]:
    headers = {"x-amzn-ErrorType": f"{code}:http://internal.amazon.com/"} if header else {}
    return status, headers, json.dumps({"__type": f"com.amazonaws.cognito#{code}", "message": "m"}).encode()


def id_token(claims: dict) -> str:
    def part(doc: dict) -> str:
        return base64.urlsafe_b64encode(json.dumps(doc).encode()).rstrip(b"=").decode()

    return f"{part({'alg': 'RS256'})}.{part(claims)}.c2ln"


def ok(groups: list[str] | None) -> tuple[int, dict[str, str], bytes]:
    claims = {"cognito:username": "carol"} if groups is None else {"cognito:groups": groups}
    return 200, {}, json.dumps({"AuthenticationResult": {"IdToken": id_token(claims)}}).encode()


@pytest.fixture
def scripted() -> Iterator[type[Scripted]]:
    made: list[Scripted] = []

    def make(answers):
        server = Scripted(answers)
        made.append(server)
        return server

    yield make
    for server in made:
        server.shutdown()
        server.server_close()


def test_the_request_is_admin_initiate_auth_signed_for_the_pools_region(scripted) -> None:
    server = scripted([ok(["pypi-edge:read"])])
    client = cognito.Client(server.settings, environ={**ENV, "AWS_SESSION_TOKEN": "tok"})
    assert client.authenticate("carol", "pw") == ["pypi-edge:read"]
    [(headers, body)] = server.requests
    assert json.loads(body) == {
        "AuthFlow": "ADMIN_USER_PASSWORD_AUTH",
        "AuthParameters": {"USERNAME": "carol", "PASSWORD": "pw"},
        "ClientId": "client1",
        "UserPoolId": "us-east-1_Scripted1",
    }
    assert headers["X-Amz-Target"] == "AWSCognitoIdentityProviderService.AdminInitiateAuth"
    assert headers["Content-Type"] == "application/x-amz-json-1.1"
    assert headers["X-Amz-Security-Token"] == "tok"
    assert "/us-east-1/cognito-idp/aws4_request" in headers["Authorization"]
    assert (
        "SignedHeaders=content-type;host;x-amz-date;x-amz-security-token;x-amz-target"
        in headers["Authorization"]
    )


def test_an_id_token_without_groups_is_a_member_of_nothing(scripted) -> None:
    server = scripted([ok(None)])
    assert client_for(server.settings).authenticate("carol", "pw") == []


@pytest.mark.parametrize(
    "answer",
    [
        error("NotAuthorizedException"),
        error("UserNotFoundException", header=False),  # the body's __type alone
        error("PasswordResetRequiredException"),
        error("UserNotConfirmedException"),
        (200, {}, json.dumps({"ChallengeName": "SOFTWARE_TOKEN_MFA", "Session": "s"}).encode()),
    ],
)
def test_refusals_are_none(scripted, answer) -> None:
    assert client_for(scripted([answer]).settings).authenticate("carol", "pw") is None


@pytest.mark.parametrize(
    "answer",
    [
        error("TooManyRequestsException"),  # throttled: Cognito's UserAuthentication quota
        error("LimitExceededException"),
        error("AccessDeniedException"),  # the role may not call it on this pool
        error("ResourceNotFoundException"),  # the pool is gone
        error("InvalidParameterException"),  # e.g. the flow is not enabled on the client
        error("UnrecognizedClientException"),
        error("InternalErrorException", 500),
        (503, {}, b"<html>Service Unavailable</html>"),
        (200, {}, b"not json"),
        (200, {}, json.dumps({"AuthenticationResult": {"IdToken": "nope"}}).encode()),
        (
            200,
            {},
            json.dumps({"AuthenticationResult": {"IdToken": id_token({"cognito:groups": "x"})}}).encode(),
        ),
        (200, {}, json.dumps(["list"]).encode()),
    ],
)
def test_anything_else_is_unavailable_never_a_pass(scripted, answer, capsys) -> None:
    with pytest.raises(Unavailable):
        client_for(scripted([answer]).settings).authenticate("carol", "pw")
    assert "pw" not in capsys.readouterr().err  # the log line never carries the password


def test_a_refused_connection_is_unavailable() -> None:
    port = free_port()
    settings = Settings("us-east-1_Nobody1", "client1", 60, f"http://127.0.0.1:{port}")
    with pytest.raises(Unavailable, match="unreachable"):
        client_for(settings).authenticate("carol", "pw")


def test_a_pool_that_never_answers_is_unavailable_within_the_budget() -> None:
    listener = socket.create_server(("127.0.0.1", 0))  # accepts (the backlog), never answers
    try:
        settings = Settings(
            "us-east-1_Silent1", "client1", 60, f"http://127.0.0.1:{listener.getsockname()[1]}"
        )
        client = client_for(settings, timeout=0.3)
        start = time.monotonic()
        with pytest.raises(Unavailable):
            client.authenticate("carol", "pw")
        # Bounded by the budget, not by any default socket timeout (a count, not a speed goal).
        assert time.monotonic() - start < 5
    finally:
        listener.close()


def test_one_kept_alive_connection_serves_a_containers_calls(scripted) -> None:
    server = scripted([ok(["pypi-edge:read"]), error("NotAuthorizedException"), ok([])])
    client = client_for(server.settings)
    assert client.authenticate("carol", "pw") == ["pypi-edge:read"]
    assert client.authenticate("carol", "wrong") is None
    assert client.authenticate("dave", "pw") == []
    assert server.connections == 1  # one TCP (and, in AWS, TLS) handshake per container


def test_a_connection_the_pool_closed_while_idle_is_retried_once(scripted) -> None:
    server = scripted([ok(["pypi-edge:read"]), ok(["pypi-edge:read"])])
    client = client_for(server.settings)
    assert client.authenticate("carol", "pw") == ["pypi-edge:read"]
    client._conn.sock.close()  # as if the server had dropped the kept-alive connection
    client._conn.sock = socket.socket()  # a fresh, unconnected socket: sending fails at once
    assert client.authenticate("carol", "pw") == ["pypi-edge:read"]
    assert server.connections == 2


def test_the_region_and_host_come_from_the_pool_id() -> None:
    settings = userpool.load(userpool.render_file("ap-southeast-2_Ab1", "client1"))
    client = cognito.Client(settings, environ={})
    assert client._host == "cognito-idp.ap-southeast-2.amazonaws.com" and client._https


def test_a_pool_verifier_without_an_injected_call_uses_this_client(scripted, monkeypatch) -> None:
    server = scripted([ok(["pypi-edge:read"])])
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "a")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "b")
    verifier = userpool.PoolVerifier(server.settings)
    value = "Basic " + base64.b64encode(b"carol:pw").decode()
    assert verifier.verify(value, "carol", "pw") == userpool.credentials.Principal("carol", "user", ())
    assert verifier.calls == 1 and len(server.requests) == 1
    verifier.clear()
    assert verifier.positive == {} and "cache_seconds=60" in repr(verifier.settings)


def test_a_server_that_hangs_up_at_once_is_unavailable() -> None:
    listener = socket.create_server(("127.0.0.1", 0))

    def hang_up() -> None:
        conn, _ = listener.accept()
        conn.close()

    threading.Thread(target=hang_up, daemon=True).start()
    try:
        settings = Settings("us-east-1_Rude1", "client1", 60, f"http://127.0.0.1:{listener.getsockname()[1]}")
        with pytest.raises(Unavailable, match="unreachable"):
            client_for(settings).authenticate("carol", "pw")
    finally:
        listener.close()


def test_a_retry_that_fails_too_is_unavailable(scripted) -> None:
    server = scripted([ok(["pypi-edge:read"])])
    client = client_for(server.settings)
    assert client.authenticate("carol", "pw") == ["pypi-edge:read"]
    server.shutdown()
    server.server_close()  # the pool is gone...
    client._conn.sock.close()
    client._conn.sock = socket.socket()  # ...and the kept-alive connection with it
    with pytest.raises(Unavailable, match="unreachable"):
        client.authenticate("carol", "pw")
    assert client._conn is None


def test_no_time_left_is_unavailable(scripted) -> None:
    server = scripted([])
    with pytest.raises(Unavailable):
        client_for(server.settings, timeout=0).authenticate("carol", "pw")
    assert server.requests == []


def test_an_https_endpoint_that_refuses_is_unavailable() -> None:
    settings = Settings("us-east-1_Tls1", "client1", 60, f"https://127.0.0.1:{free_port()}/")
    with pytest.raises(Unavailable):
        client_for(settings).authenticate("carol", "pw")
