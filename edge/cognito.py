"""One Cognito call, AdminInitiateAuth with ADMIN_USER_PASSWORD_AUTH, signed with the standard library.

Imported by `edge.userpool.PoolVerifier` on a container's first pool check only: static users
and cached credentials never load it (nor http.client and ssl).

Why not boto3?  The edge bundle must stay under Lambda@Edge's 1 MB (viewer triggers) and
botocore alone is tens of MB, so the SDK could only come from the Lambda runtime, which does
include Boto3 ("Building Lambda functions with Python": "your code runs in an environment that
includes the SDK for Python (Boto3)", https://docs.aws.amazon.com/lambda/latest/dg/lambda-python.html)
but at a version AWS does not promise and advises not to rely on (indexer/requirements.txt
quotes it).  Importing it costs what a 128 MB viewer function can least afford: measured here
(`bench/users.py`), boto3 plus one client take 4-8x the time and 4x the resident memory (37 MB of
the function's 128 MB) of http.client + ssl.
The request is one JSON POST, so it is signed here with Signature Version 4 ("Create a signed AWS
API request", IAM user guide, https://docs.aws.amazon.com/IAM/latest/UserGuide/create-signed-request.html);
tests/test_edge_cognito.py checks every signature against botocore's own signer.

The flow: "ADMIN_USER_PASSWORD_AUTH will take in USERNAME and PASSWORD and return the next
challenge or tokens" (AdminInitiateAuth, Amazon Cognito API reference,
https://docs.aws.amazon.com/cognito-user-identity-pools/latest/APIReference/API_AdminInitiateAuth.html).
It needs IAM credentials allowed `cognito-idp:AdminInitiateAuth` on the pool, and an app client
with ALLOW_ADMIN_USER_PASSWORD_AUTH and no secret (else a SECRET_HASH would be required).
Lambda hands the function its execution role's credentials in the reserved variables
AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY and AWS_SESSION_TOKEN ("Defined runtime environment
variables", Lambda developer guide); Lambda@Edge forbids configuring environment variables, not
these.  On success the ID token's `cognito:groups` claim carries the user's groups, so one call
both authenticates and authorizes.  The token arrived over TLS in the answer to our signed
request, so its payload is read without checking its signature, and the token is discarded.

Quotas and latency.  AdminInitiateAuth belongs to the UserAuthentication category, whose request
rate quota is "enforced for each AWS account across all user pools in an account and Region"
("Quotas in Amazon Cognito", https://docs.aws.amazon.com/cognito/latest/developerguide/quotas.html;
the current figure is in Service Quotas); throttling answers TooManyRequestsException, a 503 here.
The pool lives in one region and the function runs in the regional edge cache nearest the viewer,
so a miss costs the round trips between the two (one on the kept-alive connection, three or four
for a container's first: TCP, TLS, request) plus Cognito's time, which AWS does not publish; AWS
Network Manager's Infrastructure Performance reports the median inter-region round trip
(https://docs.aws.amazon.com/network-manager/latest/infrastructure-performance/how-nmip-works.html).

What Cognito's answers mean here: tokens -> the groups; NotAuthorizedException (wrong password,
disabled user, "Password attempts exceeded" during Cognito's own lockout), UserNotFoundException,
PasswordResetRequiredException, UserNotConfirmedException, or any challenge (a new password or MFA
is required, which Basic auth cannot answer) -> refused; anything else (throttling, a missing
permission, a deleted pool, 5xx, a timeout, no network) -> `Unavailable`: a 503, never a pass.
"""

from __future__ import annotations

import base64
import datetime
import hashlib
import hmac
import http.client
import json
import os
import socket
import ssl
import sys
import time
from urllib.parse import urlsplit

try:
    from edge.userpool import Settings, Unavailable
except ImportError:  # the deployed edge bundle
    from userpool import Settings, Unavailable  # type: ignore[no-redef]

SERVICE = "cognito-idp"
TARGET = "AWSCognitoIdentityProviderService.AdminInitiateAuth"
CONTENT_TYPE = "application/x-amz-json-1.1"
AUTH_FLOW = "ADMIN_USER_PASSWORD_AUTH"
# The whole call (connect, TLS, request, answer) must fit in a viewer-request function's 5 s
# ("Quotas on Lambda@Edge", CloudFront developer guide) with room for the rest of the request.
TIMEOUT_SECONDS = 3.0
MAX_RESPONSE_BYTES = 64 * 1024
REFUSALS = frozenset(
    {
        "NotAuthorizedException",
        "UserNotFoundException",
        "PasswordResetRequiredException",
        "UserNotConfirmedException",
    }
)


# --- Signature Version 4 ------------------------------------------------------------------------


def _hmac(key: bytes, text: str) -> bytes:
    return hmac.new(key, text.encode("utf-8"), hashlib.sha256).digest()


def sign(
    *,
    host: str,
    body: bytes,
    headers: dict[str, str],
    region: str,
    access_key: str,
    secret_key: str,
    session_token: str = "",
    now: datetime.datetime,
    service: str = SERVICE,
) -> dict[str, str]:
    """`headers` plus Host, X-Amz-Date, X-Amz-Security-Token and Authorization for a POST to "/".

    Every header passed is signed (names lower-cased and sorted, values trimmed), the payload by
    its SHA-256; the signing key is derived from the date, region and service (SigV4).
    """
    amz_date = now.strftime("%Y%m%dT%H%M%SZ")
    date = amz_date[:8]
    out = {**headers, "Host": host, "X-Amz-Date": amz_date}
    if session_token:
        out["X-Amz-Security-Token"] = session_token
    canonical = sorted((name.lower(), " ".join(value.split())) for name, value in out.items())
    signed_headers = ";".join(name for name, _ in canonical)
    canonical_request = "\n".join(
        (
            "POST",
            "/",
            "",  # no query string
            "".join(f"{name}:{value}\n" for name, value in canonical),
            signed_headers,
            hashlib.sha256(body).hexdigest(),
        )
    )
    scope = f"{date}/{region}/{service}/aws4_request"
    string_to_sign = "\n".join(
        ("AWS4-HMAC-SHA256", amz_date, scope, hashlib.sha256(canonical_request.encode("utf-8")).hexdigest())
    )
    key = ("AWS4" + secret_key).encode("utf-8")
    for part in (date, region, service, "aws4_request"):
        key = _hmac(key, part)
    signature = hmac.new(key, string_to_sign.encode("utf-8"), hashlib.sha256).hexdigest()
    out["Authorization"] = (
        f"AWS4-HMAC-SHA256 Credential={access_key}/{scope}, "
        f"SignedHeaders={signed_headers}, Signature={signature}"
    )
    return out


# --- the call -----------------------------------------------------------------------------------


def groups_from_id_token(token: object) -> list[str]:
    """The `cognito:groups` claim of an ID token (a JWT; only its payload is read)."""
    if not isinstance(token, str) or token.count(".") != 2:
        raise ValueError("no ID token in Cognito's answer")
    payload = token.split(".")[1]
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    groups = claims.get("cognito:groups", []) if isinstance(claims, dict) else None
    if not isinstance(groups, list) or not all(isinstance(g, str) for g in groups):
        raise ValueError("the ID token's cognito:groups claim is not a list of names")
    return groups


def error_type(status: int, headers: http.client.HTTPMessage, body: bytes) -> str:
    """The AWS JSON protocol's error code: x-amzn-ErrorType, else the body's __type (after '#')."""
    code = headers.get("x-amzn-ErrorType", "") or ""
    if not code:
        try:
            doc = json.loads(body)
            code = str(doc.get("__type") or doc.get("code") or "") if isinstance(doc, dict) else ""
        except ValueError:
            code = ""
    return code.split(":", 1)[0].rsplit("#", 1)[-1] or f"HTTP {status}"


class Client:
    """AdminInitiateAuth against one pool, over one kept-alive connection per container."""

    def __init__(
        self,
        settings: Settings,
        *,
        timeout: float = TIMEOUT_SECONDS,
        environ: dict[str, str] | None = None,
        clock=time.monotonic,
    ) -> None:
        self.settings = settings
        self.timeout = timeout
        self._environ = os.environ if environ is None else environ
        self._clock = clock
        url = urlsplit(settings.endpoint)
        self._https = url.scheme == "https"
        self._host = url.hostname or ""
        self._port = url.port
        self._host_header = url.netloc
        self._conn: http.client.HTTPConnection | None = None
        self._context = ssl.create_default_context() if self._https else None

    def authenticate(self, username: str, password: str) -> list[str] | None:
        """The user's groups when Cognito accepts the password; None when it refuses."""
        body = json.dumps(
            {
                "AuthFlow": AUTH_FLOW,
                "AuthParameters": {"USERNAME": username, "PASSWORD": password},
                "ClientId": self.settings.client_id,
                "UserPoolId": self.settings.pool_id,
            },
            separators=(",", ":"),
        ).encode("utf-8")
        status, headers, answer = self._post(body)
        if status == 200:
            try:
                doc = json.loads(answer)
                if doc.get("ChallengeName"):
                    return None  # NEW_PASSWORD_REQUIRED, an MFA step...: Basic auth cannot answer
                return groups_from_id_token((doc.get("AuthenticationResult") or {}).get("IdToken"))
            except (ValueError, AttributeError) as exc:
                _log(f"unreadable AdminInitiateAuth answer ({exc})")
                raise Unavailable("unreadable answer from the user pool") from None
        code = error_type(status, headers, answer)
        if status == 400 and code in REFUSALS:
            return None
        _log(f"AdminInitiateAuth failed: {code} (HTTP {status})")
        raise Unavailable(f"the user pool answered {code}")

    def _post(self, body: bytes) -> tuple[int, http.client.HTTPMessage, bytes]:
        access_key = self._environ.get("AWS_ACCESS_KEY_ID", "")
        secret_key = self._environ.get("AWS_SECRET_ACCESS_KEY", "")
        if not access_key or not secret_key:
            _log("no AWS credentials in the environment (the function's role)")
            raise Unavailable("no AWS credentials")
        headers = sign(
            host=self._host_header,
            body=body,
            headers={"Content-Type": CONTENT_TYPE, "X-Amz-Target": TARGET},
            region=self.settings.region,
            access_key=access_key,
            secret_key=secret_key,
            session_token=self._environ.get("AWS_SESSION_TOKEN", ""),
            now=datetime.datetime.now(datetime.UTC),
        )
        deadline = self._clock() + self.timeout
        reused = self._conn is not None
        try:
            return self._exchange(body, headers, deadline)
        except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError) as exc:
            self.close()
            if not reused:
                _log(f"user pool unreachable: {exc!r}")
                raise Unavailable("the user pool is unreachable") from None
            # A kept-alive connection the server had closed while the container slept: once more.
            try:
                return self._exchange(body, headers, deadline)
            except (OSError, http.client.HTTPException) as retry_exc:
                self.close()
                _log(f"user pool unreachable: {retry_exc!r}")
                raise Unavailable("the user pool is unreachable") from None
        except (OSError, http.client.HTTPException) as exc:  # timeouts, refused, TLS, DNS
            self.close()
            _log(f"user pool unreachable: {exc!r}")
            raise Unavailable("the user pool is unreachable") from None

    def _exchange(
        self, body: bytes, headers: dict[str, str], deadline: float
    ) -> tuple[int, http.client.HTTPMessage, bytes]:
        remaining = deadline - self._clock()
        if remaining <= 0:
            raise TimeoutError("no time left for the user pool")
        if self._conn is None:
            if self._https:
                self._conn = http.client.HTTPSConnection(
                    self._host, self._port, timeout=remaining, context=self._context
                )
            else:
                self._conn = http.client.HTTPConnection(self._host, self._port, timeout=remaining)
            self._conn.connect()
            self._conn.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self._conn.sock.settimeout(max(0.001, deadline - self._clock()))
        self._conn.request("POST", "/", body=body, headers=headers)
        response = self._conn.getresponse()
        answer = response.read(MAX_RESPONSE_BYTES + 1)
        if len(answer) > MAX_RESPONSE_BYTES or response.will_close:
            self.close()
        return response.status, response.headers, answer[:MAX_RESPONSE_BYTES]

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None


def _log(message: str) -> None:
    # Lambda sends stderr to CloudWatch Logs (the edge function's log group in the serving region).
    print(f"pypi-edge: {message}", file=sys.stderr)
