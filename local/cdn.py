"""A CloudFront stand-in: viewer-request function, then the S3 origin or the upload function.

For every request it builds the documented Lambda@Edge viewer-request event, calls
`edge.handler.handler`, and answers either the function's generated response or the origin's:

* the default behaviour: the object at the rewritten URI, read from S3 with a signed request
  (as Origin Access Control does).  The URI becomes a key the way S3 makes it one:
  percent-decoded, and a literal "+" read as a space, so an edge function that forgets to
  encode "+" as %2B fails here as it would in AWS.
* the behaviours ``/legacy``, ``/legacy/*`` and ``/_/oidc/*`` (all methods, no cache): the
  upload function, called in-process with the event a Lambda function URL builds
  (`function_url_event`), the viewer's headers as the edge left them, and the secret origin
  header CloudFront adds.  A viewer-supplied header of that name is never passed on (CloudFront
  overwrites it).

Behaviours are chosen as CloudFront chooses them (`behaviour_for`): on the path *normalized*
(RFC 3986 percent-encoding and dot-segment normalization, repeated slashes collapsed), in the
order of `infra.wiring` (upload patterns, then the file patterns, then the default), while the
edge function and the origin get the *raw* path ("CloudFront normalizes URI paths consistent
with RFC 3986 and then matches the path with the correct cache behavior. Once the cache behavior
is matched, CloudFront sends the raw URI path to the origin", CloudFront Developer Guide, "Cache
behavior settings").  Each behaviour's response headers policy (`infra.wiring.HeadersPolicy`) is
applied to what the origin (or the cache) answers, not to the edge function's own responses
(the guide: CloudFront "modifies the headers in the responses that it serves from the cache and
the ones that it forwards from the origin").

The request path is `_serve` -> `viewer_request` -> `upload_origin` or `s3_origin`, each a
method, so a cache can wrap the origin calls.
"""

from __future__ import annotations

import base64
import contextlib
import copy
import http.server
import logging
import re
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC
from email.utils import format_datetime
from typing import Any
from urllib.parse import parse_qsl, unquote, unquote_plus

from botocore.exceptions import ClientError

from infra import wiring
from local import edge_rules

log = logging.getLogger("local.cdn")

CHUNK = 256 * 1024
NOT_FOUND_BODY = b"404 Not Found\n"  # S3's answer for a missing key, as far as a viewer cares
# Response headers S3 sends that CloudFront passes on to the viewer.
_PASSED = (
    "ETag",
    "Content-Type",
    "Cache-Control",
    "Content-Range",
    "Content-Encoding",
    "Content-Disposition",
)


@dataclass(frozen=True)
class Access:
    """One line of the access log: what the viewer asked, what the origin was asked, the result."""

    method: str
    path: str
    origin_uri: str | None
    status: int
    bytes_sent: int
    cache: str | None = None  # X-Cache state (Hit, Miss, RefreshHit, Error) when the cache answered


# The methods each behaviour allows, as the distribution configures them (infra/distribution.py):
# CloudFront answers a method outside a behaviour's set with its own 403 before any function runs.
# Today every behaviour allows all seven (wiring.VIEWER_METHODS explains why), so every method
# reaches the viewer-request function; methods no behaviour allows (TRACE, PROPFIND) still get 403.
UPLOAD_METHODS = wiring.VIEWER_METHODS
# The header CloudFront uses to tell a function or origin the viewer's protocol.  The distribution
# only ever serves HTTPS to the function (it redirects HTTP first), which the edge assumes; this
# stand-in serves plain HTTP and says so, so the edge's answers name an URL that works here.
FORWARDED_PROTO_HEADER = "CloudFront-Forwarded-Proto"


@dataclass(frozen=True)
class Behaviour:
    name: str  # "upload", "files" or "default"
    methods: tuple[str, ...]
    policy: wiring.HeadersPolicy


UPLOAD = Behaviour("upload", UPLOAD_METHODS, wiring.PAGES_POLICY)
FILES = Behaviour("files", wiring.VIEWER_METHODS, wiring.FILES_POLICY)  # the same set as the default
DEFAULT = Behaviour("default", wiring.VIEWER_METHODS, wiring.PAGES_POLICY)
BEHAVIOURS = [(p, UPLOAD) for p in wiring.UPLOAD_PATH_PATTERNS] + [
    (p, FILES) for p in wiring.FILE_PATH_PATTERNS
]

_ESCAPE = re.compile(r"%[0-9A-Fa-f]{2}")
_UNRESERVED = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~")


def remove_dot_segments(path: str) -> str:
    """RFC 3986 section 5.2.4."""
    out: list[str] = []
    segments = path.split("/")
    for i, segment in enumerate(segments):
        last = i == len(segments) - 1
        if segment == ".":
            if last:
                out.append("")
        elif segment == "..":
            if len(out) > 1:
                out.pop()
            if last:
                out.append("")
        else:
            out.append(segment)
    return "/".join(out) if out and out[0] == "" else "/" + "/".join(out)


def normalize_path(raw: str) -> str:
    """The path CloudFront matches behaviours on: escapes upper-cased and unreserved ones decoded
    (RFC 3986 section 6.2.2.1-2), repeated slashes collapsed, dot segments removed (6.2.2.3)."""

    def escape(m: re.Match[str]) -> str:
        char = unquote(m.group(0))
        return char if char in _UNRESERVED else m.group(0).upper()

    path = _ESCAPE.sub(escape, raw)
    path = re.sub("/{2,}", "/", path)
    return remove_dot_segments(path)


def behaviour_for(raw_path: str, *, upload: bool = True) -> Behaviour:
    """The behaviour CloudFront applies to a request for `raw_path` (without the query)."""
    path = normalize_path(raw_path)
    for pattern, behaviour in BEHAVIOURS:
        if (upload or behaviour is not UPLOAD) and wiring.path_pattern_matches(pattern, path):
            return behaviour
    return DEFAULT


def apply_policy(headers: dict[str, str], policy: wiring.HeadersPolicy) -> dict[str, str]:
    """A response's headers after a response headers policy: each policy header is added, and
    replaces the origin's header of the same name only where the policy says override."""
    out = dict(headers)
    for name, value, override in policy.headers():
        existing = next((k for k in out if k.lower() == name.lower()), None)
        if existing is not None:
            if not override:
                continue
            del out[existing]
        out[name] = value
    return out


ORIGIN_SECRET_HEADER = "x-pypi-edge-origin-secret"
FUNCTION_URL_HOST = "localupload0000000000000000000000.lambda-url.us-east-1.on.aws"


def viewer_request_event(method: str, raw_path: str, headers: list[tuple[str, str]], client_ip: str) -> dict:
    # Split by hand: urlsplit would read "//host/x" as a network location, not a path.
    path, _, query = raw_path.partition("?")
    cf_headers: dict[str, list[dict[str, str]]] = {}
    for name, value in headers:
        cf_headers.setdefault(name.lower(), []).append({"key": name, "value": value})
    return {
        "Records": [
            {
                "cf": {
                    "config": {
                        "distributionDomainName": "local.cloudfront.net",
                        "distributionId": "LOCAL",
                        "eventType": "viewer-request",
                        "requestId": uuid.uuid4().hex,
                    },
                    "request": {
                        "clientIp": client_ip,
                        "headers": cf_headers,
                        "method": method,
                        "querystring": query,
                        "uri": path or "/",
                    },
                }
            }
        ]
    }


# The headers S3 sends with an error document: x-amz-request-id and x-amz-id-2 ("returned by all
# operations") and Content-Type: application/xml (S3 user guide, "The REST error response"), the
# body framed chunked rather than with a Content-Length, which is what makes a function that
# replaces the whole header map fail CloudFront's validation (Transfer-Encoding is read-only for
# origin-response; local.edge_rules).  moto's server frames the same error with a Content-Length,
# so the stand-in hands the function S3's framing, not moto's.
S3_ERROR_HEADERS = (
    ("x-amz-request-id", "LOCAL0REQUEST0ID"),
    ("x-amz-id-2", "local/id-2"),
    ("Content-Type", "application/xml"),
    ("Transfer-Encoding", "chunked"),
    ("Server", "AmazonS3"),
)


def origin_response_event(method: str, uri: str, status: int) -> dict:
    """The documented Lambda@Edge origin-response event for S3's error answer `status` to `uri`."""
    event = viewer_request_event(method, uri, [], "127.0.0.1")
    cf = event["Records"][0]["cf"]
    cf["config"]["eventType"] = "origin-response"
    reason = {403: "Forbidden", 404: "Not Found"}.get(status, "")
    headers = edge_rules.cf_headers(S3_ERROR_HEADERS)
    cf["response"] = {"headers": headers, "status": str(status), "statusDescription": reason}
    return event


# Content types whose body a function URL passes as text; every other body arrives base64-encoded
# (Lambda Developer Guide, "Invoking Lambda function URLs": isBase64Encoded).
_TEXT_TYPES = ("text/", "application/json", "application/xml", "application/javascript")


def function_url_event(
    method: str, raw_path: str, headers: list[tuple[str, str]], body: bytes, client_ip: str
) -> dict:
    """The event a Lambda function URL hands its function: payload format version 2.0.

    Header names lower-cased, repeated headers joined with ",", cookies split out, the body
    base64-encoded unless it is text (Lambda Developer Guide, "Invoking Lambda function URLs",
    "Request payload format").
    """
    path, _, query = raw_path.partition("?")
    joined: dict[str, str] = {}
    cookies: list[str] = []
    for name, value in headers:
        lname = name.lower()
        if lname == "cookie":
            cookies.extend(c.strip() for c in value.split(";") if c.strip())
            continue
        joined[lname] = f"{joined[lname]},{value}" if lname in joined else value
    url_id = "localupload0000000000000000000000"
    now = time.time()
    event: dict[str, Any] = {
        "version": "2.0",
        "routeKey": "$default",
        "rawPath": path or "/",
        "rawQueryString": query,
        "headers": joined,
        "requestContext": {
            "accountId": "anonymous",
            "apiId": url_id,
            "domainName": f"{url_id}.lambda-url.us-east-1.on.aws",
            "domainPrefix": url_id,
            "http": {
                "method": method,
                "path": path or "/",
                "protocol": "HTTP/1.1",
                "sourceIp": client_ip,
                "userAgent": joined.get("user-agent", ""),
            },
            "requestId": str(uuid.uuid4()),
            "routeKey": "$default",
            "stage": "$default",
            "time": time.strftime("%d/%b/%Y:%H:%M:%S +0000", time.gmtime(now)),
            "timeEpoch": int(now * 1000),
        },
        "isBase64Encoded": False,
    }
    if cookies:
        event["cookies"] = cookies
    if query:
        event["queryStringParameters"] = dict(parse_qsl(query, keep_blank_values=True))
    if body:
        if joined.get("content-type", "").lower().startswith(_TEXT_TYPES):
            event["body"] = body.decode("utf-8", "replace")
        else:
            event["body"] = base64.b64encode(body).decode("ascii")
            event["isBase64Encoded"] = True
    return event


def key_for_uri(uri: str) -> str:
    """How S3 turns a request path into a key (see module docstring)."""
    return unquote_plus(uri[1:] if uri.startswith("/") else uri)


def error_page(s3: Any, bucket: str, status: int) -> tuple[dict[str, str], bytes]:
    """What CloudFront sends for S3's error `status`: its custom error page (`wiring.ERROR_PAGES`,
    read straight from the origin, no viewer-request function), or S3's plain answer."""
    page = wiring.ERROR_PAGES.get(status)
    if page is not None:
        try:
            resp = s3.get_object(Bucket=bucket, Key=key_for_uri(page))
        except ClientError:
            pass  # not written yet: CloudFront passes the origin's error on
        else:
            return {"Content-Type": resp.get("ContentType", "text/html; charset=utf-8")}, resp["Body"].read()
    return {"Content-Type": "text/plain; charset=utf-8"}, NOT_FOUND_BODY if status == 404 else b""


def origin_headers(resp: dict[str, Any]) -> dict[str, str]:
    """The headers of an S3 GetObject/HeadObject response that reach the viewer."""
    headers = {name: resp[k] for name, k in ((h, h.replace("-", "")) for h in _PASSED) if resp.get(k)}
    headers["Content-Length"] = str(resp["ContentLength"])
    headers["Accept-Ranges"] = "bytes"
    headers["Last-Modified"] = format_datetime(resp["LastModified"].astimezone(UTC), usegmt=True)
    return headers


class CDN(http.server.ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True  # TIME_WAIT reuse only; Linux still refuses a second listener

    def __init__(
        self,
        address: tuple[str, int],
        s3: Any,
        bucket: str,
        edge: Callable[[dict, Any], dict],
        upload: Callable[[dict, Any], dict] | None = None,
        origin_secret: str = "",
        cache: Any = None,
        origin_response: Callable[[dict, Any], dict] | None = None,
    ) -> None:
        super().__init__(address, _Handler)
        self.s3 = s3
        self.bucket = bucket
        self.edge = edge
        self.upload = upload
        self.origin_secret = origin_secret
        self.cache = cache  # local.cache.EdgeCache: CloudFront's cache, per the deployed cache policy
        # The origin-response function (edge/fallback.py), when the fallback index is on.
        self.origin_response = origin_response
        self.access_log: list[Access] = []
        self._lock = threading.Condition()
        self._in_flight = 0  # requests being answered: their line is not in the log yet

    def record(self, access: Access) -> None:
        with self._lock:
            self.access_log.append(access)

    def accesses(self, timeout: float = 10) -> list[Access]:
        """The access log once every request already received has been answered and logged.

        A request is logged after its last byte is written (the byte count is known only then),
        so a viewer can hold its whole response before its line exists; reading `access_log`
        right after a response raced with that (a test saw the previous request's "Miss").
        """
        with self._lock:
            if not self._lock.wait_for(lambda: self._in_flight == 0, timeout):
                raise TimeoutError(f"{self._in_flight} request(s) still being answered after {timeout} s")
            return list(self.access_log)

    @contextlib.contextmanager
    def answering(self) -> Iterator[None]:
        with self._lock:
            self._in_flight += 1
        try:
            yield
        finally:
            with self._lock:
                self._in_flight -= 1
                self._lock.notify_all()

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A viewer hanging up (pip interrupted, a keep-alive connection reset) is its business,
        as it is CloudFront's: not a traceback in the `make serve` terminal.  Anything else is."""
        if isinstance(sys.exc_info()[1], ConnectionError):
            return
        super().handle_error(request, client_address)


class _Handler(http.server.BaseHTTPRequestHandler):
    server: CDN
    protocol_version = "HTTP/1.1"
    server_version = "pypi-edge-local-cdn"

    def do_GET(self) -> None:
        with self.server.answering():
            self._serve()

    do_HEAD = do_POST = do_PUT = do_DELETE = do_PATCH = do_OPTIONS = do_GET

    def log_message(self, format: str, *args: Any) -> None:
        pass  # replaced by the access log written in _serve

    def parse_request(self) -> bool:
        ok = super().parse_request()
        if ok:
            # http.server reduces a leading "//" to "/" (a guard for file servers); CloudFront
            # hands the edge function the path exactly as the viewer sent it.
            self.path = self.requestline.split()[1]
        return ok

    def _serve(self) -> None:
        length = self.headers.get("Content-Length", "0")
        if not length.isdigit() or "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            self.close_connection = True
            self._send(400, {"Content-Type": "text/plain"}, b"bad request framing\n")
            self._log(None, 400, 0)
            return
        body = self.rfile.read(int(length)) if int(length) else b""  # read whole: the connection stays usable
        self.behaviour = behaviour_for(self.path.partition("?")[0], upload=self.server.upload is not None)
        to_upload = self.behaviour is UPLOAD
        if self.command not in self.behaviour.methods:
            # CloudFront refuses methods the behaviour does not allow before any function runs.
            body = b"This distribution is not configured to allow the HTTP request method.\n"
            self._send(403, {"Content-Type": "text/plain"}, body)
            self._log(None, 403, 0)
            return
        request = self.viewer_request()
        if request is None:
            return
        if to_upload:
            self.upload_origin(request, body)
        else:
            self.s3_origin(request["uri"])

    def viewer_request(self) -> dict | None:
        """Run the viewer-request function: the request to forward, or None once it answered."""
        # CloudFront overwrites a custom origin header the viewer sent; it never reaches an origin.
        # Disallowed headers are never shown to a function (local.edge_rules).
        headers = [
            (k, v)
            for k, v in self.headers.items()
            if k.lower() not in (ORIGIN_SECRET_HEADER, FORWARDED_PROTO_HEADER.lower())
            and not edge_rules.disallowed(k)
        ]
        headers.append((FORWARDED_PROTO_HEADER, "http"))
        event = viewer_request_event(self.command, self.path, headers, self.client_address[0])
        given = copy.deepcopy(event["Records"][0]["cf"]["request"]["headers"])
        try:
            result = self.server.edge(event, None)
        except Exception:
            log.exception("viewer-request function raised")
            # CloudFront answers 502/503 when the function fails; never the origin.
            self._send(503, {"Content-Type": "text/plain"}, b"viewer-request function error\n")
            self._log(None, 503, 0)
            return None
        # A generated response starts from no headers; a forwarded request from the viewer's.
        problems = edge_rules.violations(
            "viewer-request", {} if "status" in result else given, result.get("headers", {})
        )
        if problems:
            log.error("viewer-request result failed CloudFront's validation: %s", "; ".join(problems))
            status, out, data = edge_rules.rejected_response()
            self._send(status, out, data)
            self._log(None, status, len(data))
            return None
        if "status" in result:
            body = result.get("body", "") or ""
            data = base64.b64decode(body) if result.get("bodyEncoding") == "base64" else body.encode("utf-8")
            headers = {h["key"]: h["value"] for values in result.get("headers", {}).values() for h in values}
            status = int(result["status"])
            self._send(status, headers, data)
            self._log(None, status, len(data))
            return None
        return result

    def upload_origin(self, request: dict, body: bytes) -> None:
        """The upload function behind its function URL, called as CloudFront's origin request."""
        headers = [(h["key"], h["value"]) for values in request["headers"].values() for h in values]
        headers = [(k, v) for k, v in headers if k.lower() not in ("host", ORIGIN_SECRET_HEADER)]
        headers += [("Host", FUNCTION_URL_HOST), (ORIGIN_SECRET_HEADER, self.server.origin_secret)]
        query = request.get("querystring") or ""
        target = request["uri"] + (f"?{query}" if query else "")
        event = function_url_event(request["method"], target, headers, body, self.client_address[0])
        try:
            resp = self.server.upload(event, None)  # type: ignore[misc]
            status = int(resp["statusCode"])
            data = resp.get("body") or ""
            data = base64.b64decode(data) if resp.get("isBase64Encoded") else data.encode("utf-8")
            out = {str(k): str(v) for k, v in (resp.get("headers") or {}).items()}
        except Exception:
            # A function error: the function URL answers 502, and so does CloudFront.
            log.exception("upload function raised")
            status, out, data = 502, {"Content-Type": "text/plain"}, b"upload function error\n"
        self._send(status, apply_policy(out, self.behaviour.policy), data)
        self._log(request["uri"], status, len(data))

    def s3_origin(self, uri: str) -> None:
        if self.command not in wiring.ORIGIN_METHODS:
            # What S3 answers a request CloudFront signed (OAC) for any other method: the bucket
            # policy grants CloudFront s3:GetObject and s3:ListBucket only (infra/distribution.py).
            # The edge never forwards one; if it ever did, this is what the viewer would get.
            log.error("viewer-request function forwarded %s %s to S3; S3 refuses it", self.command, uri)
            body = b"<Error><Code>AccessDenied</Code><Message>Access Denied</Message></Error>"
            self._send(403, apply_policy({"Content-Type": "application/xml"}, self.behaviour.policy), body)
            self._log(uri, 403, len(body))
            return
        if self.server.cache is not None and self.server.cache.serve(self, uri):
            return
        key = key_for_uri(uri)
        args: dict[str, Any] = {"Bucket": self.server.bucket, "Key": key}
        if self.headers.get("Range") and self.command == "GET":
            args["Range"] = self.headers["Range"]
        if self.headers.get("If-None-Match"):
            args["IfNoneMatch"] = self.headers["If-None-Match"]
        try:
            if self.command == "HEAD":
                resp = self.server.s3.head_object(**args)
            else:
                resp = self.server.s3.get_object(**args)
        except ClientError as exc:
            status = int(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 500))
            policy = self.behaviour.policy
            if status == 304:
                self._send(304, apply_policy({"ETag": args.get("IfNoneMatch", "")}, policy), b"")
            elif status == 416:
                self._send(
                    416, apply_policy({"Content-Type": "text/plain"}, policy), b"range not satisfiable\n"
                )
            elif status in (403, 404) and self._origin_response_replaced(uri, status):
                return  # the origin-response function answered (the fallback redirect), logged
            else:
                # S3 says 403 for a missing key when the reader may not list; we let the
                # distribution list, so a missing object is a plain 404 (uv moves on).
                status = 404 if status in (403, 404) else 502
                headers, body = error_page(self.server.s3, self.server.bucket, status)
                self._send(status, apply_policy(headers, policy), body)
            self._log(uri, status, 0)
            return
        headers = apply_policy(origin_headers(resp), self.behaviour.policy)
        status = 206 if "ContentRange" in resp else 200
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        self.end_headers()
        sent = 0
        if self.command != "HEAD":
            body = resp["Body"]
            for chunk in iter(lambda: body.read(CHUNK), b""):
                self.wfile.write(chunk)
                sent += len(chunk)
        self._log(uri, status, sent)

    def origin_response_answer(self, uri: str, status: int) -> tuple[int, dict[str, str], bytes] | None:
        """Run the origin-response function on S3's error, as CloudFront does: its answer
        (status, headers, body) when it replaced the response, else None.

        Only S3's "no such key" answers are handed to it (here and in local.cache): the one
        function there is (edge/fallback.py) passes every other response through unchanged.
        """
        if self.server.origin_response is None:
            return None
        event = origin_response_event(self.command, uri, status)
        given = copy.deepcopy(event["Records"][0]["cf"]["response"]["headers"])
        result = self.server.origin_response(event, None)
        problems = edge_rules.violations("origin-response", given, result.get("headers", {}))
        if problems:
            log.error("origin-response result failed CloudFront's validation: %s", "; ".join(problems))
            return edge_rules.rejected_response()
        if str(result.get("status")) == str(status):
            return None
        body = result.get("body", "") or ""
        data = base64.b64decode(body) if result.get("bodyEncoding") == "base64" else body.encode("utf-8")
        # CloudFront frames the body it sends the viewer itself (as _send does here).
        headers = {
            h["key"]: h["value"]
            for name, values in result.get("headers", {}).items()
            if name != "transfer-encoding"
            for h in values
        }
        return int(result["status"]), headers, data

    def _origin_response_replaced(self, uri: str, status: int) -> bool:
        answer = self.origin_response_answer(uri, status)
        if answer is None:
            return False
        self._send(answer[0], apply_policy(answer[1], self.behaviour.policy), answer[2])
        self._log(uri, answer[0], len(answer[2]))
        return True

    def _send(self, status: int, headers: dict[str, str], body: bytes) -> None:
        self.send_response(status)
        for name, value in headers.items():
            if name.lower() != "content-length":
                self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _log(self, origin_uri: str | None, status: int, sent: int, cache: str | None = None) -> None:
        self.server.record(Access(self.command, self.path, origin_uri, status, sent, cache))
        log.info(
            '%s "%s %s" -> %s %d %d',
            self.client_address[0],
            self.command,
            self.path,
            origin_uri or "(edge)",
            status,
            sent,
        )
