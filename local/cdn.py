"""A CloudFront stand-in: viewer-request function, then the S3 origin, over plain HTTP.

For every request it builds the documented Lambda@Edge viewer-request event, calls
`edge.handler.handler`, and answers either the function's generated response or the object at
the rewritten URI, read from S3 with a signed request (as Origin Access Control does).  The URI
becomes a key the way S3 makes it one: percent-decoded, and a literal "+" read as a space, so an
edge function that forgets to encode "+" as %2B fails here as it would in AWS.
"""

from __future__ import annotations

import base64
import http.server
import logging
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC
from email.utils import format_datetime
from typing import Any
from urllib.parse import unquote_plus

from botocore.exceptions import ClientError

from infra import wiring

log = logging.getLogger("local.cdn")

CHUNK = 256 * 1024
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


def origin_response_event(method: str, uri: str, status: int) -> dict:
    """The documented Lambda@Edge origin-response event for S3's answer `status` to `uri`."""
    event = viewer_request_event(method, uri, [], "127.0.0.1")
    cf = event["Records"][0]["cf"]
    cf["config"]["eventType"] = "origin-response"
    reason = {403: "Forbidden", 404: "Not Found"}.get(status, "")
    cf["response"] = {"headers": {}, "status": str(status), "statusDescription": reason}
    return event


def key_for_uri(uri: str) -> str:
    """How S3 turns a request path into a key (see module docstring)."""
    return unquote_plus(uri[1:] if uri.startswith("/") else uri)


class CDN(http.server.ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True  # TIME_WAIT reuse only; Linux still refuses a second listener

    def __init__(
        self,
        address: tuple[str, int],
        s3: Any,
        bucket: str,
        edge: Callable[[dict, Any], dict],
        origin_response: Callable[[dict, Any], dict] | None = None,
    ) -> None:
        super().__init__(address, _Handler)
        self.s3 = s3
        self.bucket = bucket
        self.edge = edge
        # The origin-response function (edge/fallback.py), when the fallback index is on.
        self.origin_response = origin_response
        self.access_log: list[Access] = []
        self._lock = threading.Lock()

    def record(self, access: Access) -> None:
        with self._lock:
            self.access_log.append(access)


class _Handler(http.server.BaseHTTPRequestHandler):
    server: CDN
    protocol_version = "HTTP/1.1"
    server_version = "pypi-edge-local-cdn"

    def do_GET(self) -> None:
        self._serve()

    do_HEAD = do_POST = do_PUT = do_DELETE = do_PATCH = do_OPTIONS = do_GET

    def log_message(self, format: str, *args: Any) -> None:
        pass  # replaced by the access log written in _serve

    def _serve(self) -> None:
        length = self.headers.get("Content-Length", "0")
        if not length.isdigit() or "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            self.close_connection = True
            self._send(400, {"Content-Type": "text/plain"}, b"bad request framing\n")
            self._log(None, 400, 0)
            return
        if int(length):
            self.rfile.read(int(length))  # drained, so the connection stays usable
        if self.command not in wiring.VIEWER_METHODS:
            # CloudFront refuses methods the behaviour does not allow before any function runs.
            body = b"This distribution is not configured to allow the HTTP request method.\n"
            self._send(403, {"Content-Type": "text/plain"}, body)
            self._log(None, 403, 0)
            return
        event = viewer_request_event(
            self.command, self.path, list(self.headers.items()), self.client_address[0]
        )
        try:
            result = self.server.edge(event, None)
        except Exception:
            log.exception("viewer-request function raised")
            # CloudFront answers 502/503 when the function fails; never the origin.
            self._send(503, {"Content-Type": "text/plain"}, b"viewer-request function error\n")
            self._log(None, 503, 0)
            return
        if "status" in result:
            body = result.get("body", "") or ""
            data = base64.b64decode(body) if result.get("bodyEncoding") == "base64" else body.encode("utf-8")
            headers = {h["key"]: h["value"] for values in result.get("headers", {}).values() for h in values}
            status = int(result["status"])
            self._send(status, headers, data)
            self._log(None, status, len(data))
            return
        self._origin(result["uri"])

    def _origin(self, uri: str) -> None:
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
            if status == 304:
                self._send(304, {"ETag": args.get("IfNoneMatch", "")}, b"")
            elif status == 416:
                self._send(416, {"Content-Type": "text/plain"}, b"range not satisfiable\n")
            elif status in (403, 404) and self._origin_response_replaced(uri, status):
                return  # the origin-response function answered (the fallback redirect), logged
            else:
                # S3 says 403 for a missing key when the reader may not list; we let the
                # distribution list, so a missing object is a plain 404 (uv moves on).
                status = 404 if status in (403, 404) else 502
                self._send(status, {"Content-Type": "text/plain; charset=utf-8"}, b"404 Not Found\n")
            self._log(uri, status, 0)
            return
        headers = {name: resp[k] for name, k in ((h, h.replace("-", "")) for h in _PASSED) if resp.get(k)}
        headers["Content-Length"] = str(resp["ContentLength"])
        headers["Accept-Ranges"] = "bytes"
        headers["Last-Modified"] = format_datetime(resp["LastModified"].astimezone(UTC), usegmt=True)
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

    def _origin_response_replaced(self, uri: str, status: int) -> bool:
        """Run the origin-response function on S3's error, as CloudFront does; True if it answered.

        Only S3's "no such key" answers are handed to it here: the one function there is
        (edge/fallback.py) passes every other response through unchanged.
        """
        if self.server.origin_response is None:
            return False
        event = origin_response_event(self.command, uri, status)
        result = self.server.origin_response(event, None)
        if str(result.get("status")) == str(status):
            return False
        body = result.get("body", "") or ""
        data = base64.b64decode(body) if result.get("bodyEncoding") == "base64" else body.encode("utf-8")
        headers = {h["key"]: h["value"] for values in result.get("headers", {}).values() for h in values}
        self._send(int(result["status"]), headers, data)
        self._log(uri, int(result["status"]), len(data))
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

    def _log(self, origin_uri: str | None, status: int, sent: int) -> None:
        self.server.record(Access(self.command, self.path, origin_uri, status, sent))
        log.info(
            '%s "%s %s" -> %s %d %d',
            self.client_address[0],
            self.command,
            self.path,
            origin_uri or "(edge)",
            status,
            sent,
        )
