"""The CloudFront stand-in's edge cache, and the CloudFront API call that empties it.

It follows the deployed cache policy (`infra.wiring`: the same TTL rules and numbers the Pulumi
component gives the policy), so a test can show what a viewer sees between an upload and the
moment the page is fresh:

- The cache key is what the policy puts in it: the URI *after* the viewer-request function
  rewrote it (the function runs before the cache lookup), plus the normalized Accept-Encoding
  (the policy enables gzip and brotli, which adds it), and no header, cookie or query string.
- An object is kept for `wiring.edge_ttl(its Cache-Control)`: pages `s-maxage`, distributions a
  year, errors `wiring.ERROR_CACHING_SECONDS`.  An expired object with an ETag is revalidated
  with the origin (a conditional GET; a 304 refreshes it), as CloudFront does.
- A viewer's `If-None-Match` that matches the cached ETag gets a 304 from the cache.
- `InvalidationAPI` answers the CloudFront API's CreateInvalidation (REST-XML, 2020-05-31) on
  its own port; the indexer's unchanged boto3 call reaches it through
  AWS_ENDPOINT_URL_CLOUDFRONT.  Paths follow CloudFront's rules: exact, or a prefix ending in
  `*`; every encoding variant of a matching URI goes.

Deliberate differences: Range requests and HEAD misses go to the origin uncached, objects over
`max_object_bytes` are streamed without being kept (memory), invalidations complete at once
(CloudFront's take a while to reach every edge location), and there is one edge location.
"""

from __future__ import annotations

import http.server
import threading
import time
import uuid
import xml.etree.ElementTree as ET
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from xml.sax.saxutils import escape

from botocore.exceptions import ClientError

from infra import wiring
from local.cdn import CHUNK, apply_policy, error_page, key_for_uri, origin_headers

CLOUDFRONT_API_VERSION = "2020-05-31"
_NS = f"http://cloudfront.amazonaws.com/doc/{CLOUDFRONT_API_VERSION}/"


@dataclass(frozen=True)
class CachePolicy:
    """The numbers of the deployed cache policy (infra/component.py builds it from the same)."""

    default_ttl: int
    min_ttl: int = wiring.CACHE_MIN_TTL_SECONDS
    max_ttl: int = wiring.CACHE_MAX_TTL_SECONDS
    error_ttls: Mapping[int, int] = field(default_factory=lambda: dict(wiring.ERROR_CACHING_SECONDS))
    max_object_bytes: int = 16 * 1024 * 1024  # a local memory bound, not a CloudFront one

    def ttl(self, cache_control: str | None) -> int:
        return wiring.edge_ttl(cache_control, self.default_ttl, min_ttl=self.min_ttl, max_ttl=self.max_ttl)


@dataclass
class Entry:
    status: int
    headers: dict[str, str]
    body: bytes
    expires: float
    stored: float

    @property
    def etag(self) -> str | None:
        return self.headers.get("ETag")


def accept_encoding_key(value: str | None) -> str:
    """CloudFront's normalized Accept-Encoding in the cache key (gzip and brotli enabled)."""
    codings = {part.split(";", 1)[0].strip().lower() for part in (value or "").split(",")}
    return ",".join(c for c in ("br", "gzip") if c in codings)


def path_matches(path: str, uri: str) -> bool:
    """CloudFront invalidation path semantics: exact, or a prefix when the path ends in `*`."""
    return uri.startswith(path[:-1]) if path.endswith("*") else uri == path


class EdgeCache:
    def __init__(self, policy: CachePolicy, clock: Callable[[], float] = time.monotonic) -> None:
        self.policy = policy
        self.clock = clock
        self._entries: dict[tuple[str, str], Entry] = {}
        self._lock = threading.Lock()
        self.invalidations: list[list[str]] = []

    def get(self, key: tuple[str, str]) -> Entry | None:
        with self._lock:
            return self._entries.get(key)

    def put(self, key: tuple[str, str], entry: Entry) -> None:
        with self._lock:
            self._entries[key] = entry

    def invalidate(self, paths: list[str]) -> int:
        with self._lock:
            gone = [k for k in self._entries if any(path_matches(p, k[0]) for p in paths)]
            for k in gone:
                del self._entries[k]
            self.invalidations.append(list(paths))
        return len(gone)

    def __len__(self) -> int:
        return len(self._entries)

    # --- serving, called by local.cdn for every request the viewer-request function let through --

    def serve(self, handler: Any, uri: str) -> bool:
        """Answer the request from the cache (filling it from the origin); False = not cacheable."""
        if handler.command not in ("GET", "HEAD") or handler.headers.get("Range"):
            return False
        key = (uri, accept_encoding_key(handler.headers.get("Accept-Encoding")))
        now = self.clock()
        entry = self.get(key)
        state = "Hit"
        if entry is None or entry.expires <= now:
            if entry is None and handler.command == "HEAD":
                return False  # CloudFront forwards a HEAD miss; nothing to keep
            refreshed = self._from_origin(handler, uri, key, entry, now)
            if refreshed is None:
                return True  # streamed uncached
            entry, state = refreshed
        self._answer(handler, uri, entry, state, now)
        return True

    def _from_origin(
        self, handler: Any, uri: str, key: tuple[str, str], stale: Entry | None, now: float
    ) -> tuple[Entry, str] | None:
        args: dict[str, Any] = {"Bucket": handler.server.bucket, "Key": key_for_uri(uri)}
        if stale is not None and stale.etag:
            args["IfNoneMatch"] = stale.etag
        try:
            resp = handler.server.s3.get_object(**args)
        except ClientError as exc:
            status = int(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 500))
            if status == 304 and stale is not None:
                stale.expires = now + self.policy.ttl(stale.headers.get("Cache-Control"))
                return stale, "RefreshHit"
            answer = handler.origin_response_answer(uri, status) if status in (403, 404) else None
            if answer is not None:
                # The origin-response function replaced S3's answer (the fallback redirect):
                # CloudFront caches what the function returns, by its Cache-Control.
                # CloudFront's own 502 for a result that failed validation (local.edge_rules) is an
                # error, kept only as long as error caching says.
                entry = Entry(answer[0], answer[1], answer[2], now, now)
                if answer[0] >= 500:
                    ttl = self.policy.error_ttls.get(answer[0], 0)
                else:
                    ttl = self.policy.ttl(answer[1].get("Cache-Control"))
                if ttl:
                    entry.expires = now + ttl
                    self.put(key, entry)
                return entry, "Miss"
            # S3 says 403 for a missing key when the reader may not list; the distribution may
            # list, so a missing object is a 404 (what local.cdn answers uncached, too).
            status = 404 if status in (403, 404) else 502
            headers, body = error_page(handler.server.s3, handler.server.bucket, status)
            entry = Entry(status, headers, body, now, now)
            ttl = self.policy.error_ttls.get(status, 0)
            if ttl:
                entry.expires = now + ttl
                self.put(key, entry)
            return entry, "Error"
        headers = origin_headers(resp)
        if resp["ContentLength"] > self.policy.max_object_bytes:
            self._stream(handler, uri, resp, headers)
            return None
        body = resp["Body"].read()
        ttl = self.policy.ttl(headers.get("Cache-Control"))
        entry = Entry(200, headers, body, now + ttl, now)
        if ttl > 0:
            self.put(key, entry)
        return entry, "Miss"

    def _answer(self, handler: Any, uri: str, entry: Entry, state: str, now: float) -> None:
        status, body = entry.status, entry.body
        headers = dict(entry.headers)
        inm = handler.headers.get("If-None-Match")
        if status == 200 and inm and entry.etag and entry.etag in {t.strip() for t in inm.split(",")}:
            status, body = 304, b""
            headers = {k: v for k, v in headers.items() if k in ("ETag", "Cache-Control", "Last-Modified")}
        headers = apply_policy(headers, handler.behaviour.policy)
        headers["X-Cache"] = f"{state} from cloudfront"
        headers["Age"] = str(int(now - entry.stored))
        headers["Content-Length"] = str(len(entry.body) if status != 304 else 0)
        handler.send_response(status)
        for name, value in headers.items():
            handler.send_header(name, value)
        handler.end_headers()
        sent = 0
        if handler.command != "HEAD" and body:
            handler.wfile.write(body)
            sent = len(body)
        handler._log(uri, status, sent, cache=state)

    def _stream(self, handler: Any, uri: str, resp: dict[str, Any], headers: dict[str, str]) -> None:
        handler.send_response(200)
        headers = {**apply_policy(headers, handler.behaviour.policy), "X-Cache": "Miss from cloudfront"}
        for name, value in headers.items():
            handler.send_header(name, value)
        handler.end_headers()
        sent = 0
        for chunk in iter(lambda: resp["Body"].read(CHUNK), b""):
            handler.wfile.write(chunk)
            sent += len(chunk)
        handler._log(uri, 200, sent, cache="Miss")


# --- the CloudFront API's CreateInvalidation, for the indexer's boto3 client ------------------


class InvalidationAPI(http.server.ThreadingHTTPServer):
    """POST /2020-05-31/distribution/<id>/invalidation, answered like CloudFront (201 + XML)."""

    daemon_threads = True

    def __init__(self, address: tuple[str, int], cache: EdgeCache, distribution_id: str) -> None:
        super().__init__(address, _InvalidationHandler)
        self.cache = cache
        self.distribution_id = distribution_id

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        return f"http://{host}:{port}"


class _InvalidationHandler(http.server.BaseHTTPRequestHandler):
    server: InvalidationAPI
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        parts = self.path.split("?", 1)[0].strip("/").split("/")
        if (
            len(parts) != 4
            or parts[0] != CLOUDFRONT_API_VERSION
            or parts[1:4:2] != ["distribution", "invalidation"]
        ):
            return self._error(404, "Sender", "InvalidURI", "not a CreateInvalidation request")
        if parts[2] != self.server.distribution_id:
            return self._error(
                404, "Sender", "NoSuchDistribution", "The specified distribution does not exist."
            )
        try:
            batch = ET.fromstring(body)
            paths = [p.text or "" for p in batch.iter(f"{{{_NS}}}Path")]
            reference = batch.findtext(f"{{{_NS}}}CallerReference") or ""
        except ET.ParseError:
            return self._error(400, "Sender", "MalformedXML", "The XML document is not well-formed.")
        if not paths or any(not p.startswith("/") for p in paths):
            return self._error(400, "Sender", "InvalidArgument", "Each path must begin with /.")
        self.server.cache.invalidate(paths)
        inv_id = "I" + uuid.uuid4().hex[:13].upper()
        items = "".join(f"<Path>{escape(p)}</Path>" for p in paths)
        created = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z")
        xml = (
            f'<?xml version="1.0" encoding="UTF-8"?>\n<Invalidation xmlns="{_NS}"><Id>{inv_id}</Id>'
            f"<Status>Completed</Status><CreateTime>{created}</CreateTime><InvalidationBatch>"
            f"<Paths><Quantity>{len(paths)}</Quantity><Items>{items}</Items></Paths>"
            f"<CallerReference>{escape(reference)}</CallerReference></InvalidationBatch></Invalidation>"
        ).encode()
        location = f"{self.server.url}/{CLOUDFRONT_API_VERSION}/distribution/{parts[2]}/invalidation/{inv_id}"
        self._reply(201, xml, {"Location": location})

    def _error(self, status: int, kind: str, code: str, message: str) -> None:
        xml = (
            f'<?xml version="1.0"?>\n<ErrorResponse xmlns="{_NS}"><Error><Type>{kind}</Type>'
            f"<Code>{code}</Code><Message>{escape(message)}</Message></Error>"
            f"<RequestId>{uuid.uuid4()}</RequestId></ErrorResponse>"
        ).encode()
        self._reply(status, xml, {})

    def _reply(self, status: int, body: bytes, headers: dict[str, str]) -> None:
        self.send_response(status)
        self.send_header("Content-Type", "text/xml")
        self.send_header("x-amz-request-id", str(uuid.uuid4()))
        for name, value in headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
