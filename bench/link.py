"""A network link for the bench: a shaping reverse proxy on loopback in front of each index.

Every server the bench compares sits behind one `ShapingProxy`, so each pays the same network:

* **delay**: one round trip (`Shape.rtt`) added before each request is forwarded, and one more
  when a client opens a connection (the TCP handshake; plain HTTP here, so no TLS round trips);
* **bandwidth**: response bodies leave through one shared `Link` of `Shape.bits_per_second`
  (request bodies through a second one, upstream), which serialises them as a real access link
  does: concurrent downloads share the rate instead of each getting it.

The proxy is a correct HTTP/1.1 intermediary for what clients send to an index: persistent
(keep-alive) connections on both sides, bodies streamed chunk by chunk in both directions
(Content-Length or chunked), HEAD answered with the length a GET would have, and Range requests
passed through (206 / Content-Range come from the server). It also counts what it saw: requests,
connections, body bytes, and — exactly, independent of timing — the delays and throttling it
applied (`Tally`). The unit tests assert those counts; nothing here asserts a time.

With `cloudfront_compression=True` it also does what CloudFront does for a cache behaviour with
`Compress: true` (docs.aws.amazon.com/AmazonCloudFront/latest/DeveloperGuide/ServingCompressedFiles.html):
gzip a 200 answer to a GET whose `Accept-Encoding` includes gzip, when the origin did not encode
it, its Content-Type is one CloudFront compresses, and it is 1,000 to 10,000,000 bytes long.
`application/vnd.pypi.simple.v1+json` is not on CloudFront's list, so JSON pages pass as stored.
"""

from __future__ import annotations

import gzip
import http.client
import socket
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

CHUNK = 64 * 1024
HOP_BY_HOP = frozenset(
    {"connection", "keep-alive", "proxy-authenticate", "proxy-authorization", "te", "trailer"}
    | {"transfer-encoding", "upgrade", "proxy-connection"}
)
# CloudFront's compressible types (the page above, "File types that CloudFront compresses"),
# those an index serves; the size window is from the same page ("Conditions for compression").
COMPRESSIBLE = frozenset(
    {"text/html", "text/plain", "text/css", "text/xml", "application/json", "application/xml"}
    | {"application/javascript", "text/javascript", "application/xhtml+xml"}
)
COMPRESS_MIN, COMPRESS_MAX = 1_000, 10_000_000
GZIP_LEVEL = 6  # zlib's default; CloudFront does not document its level


@dataclass(frozen=True)
class Shape:
    """What the link adds: a round trip per request (and per new connection), and a rate cap."""

    name: str
    rtt: float = 0.0  # seconds
    bits_per_second: float | None = None  # None: no cap

    def transfer_seconds(self, n_bytes: int) -> float:
        return 0.0 if not self.bits_per_second else n_bytes * 8 / self.bits_per_second


LOOPBACK = Shape("loopback")
WAN = Shape("30 ms RTT, 100 Mbit/s", rtt=0.030, bits_per_second=100e6)


@dataclass(frozen=True)
class Scenario:
    """Where the client sits, as a model: its link to a single-server index (`server`), its link
    to CloudFront's nearest edge location (`edge`), and the round trip that edge location adds
    for every request it must pass to the origin region (`origin_rtt`: a cache miss, or the
    revalidation of a page whose TTL ran out). The bench applies `origin_rtt` in the CloudFront
    stand-in (`bench.servers.Origin`); the links by the shaping proxy. `stale_pages`: also measure
    a warm edge cache whose pages are past their TTL (wheels and metadata still cached)."""

    name: str
    server: Shape
    edge: Shape
    origin_rtt: float = 0.0
    stale_pages: bool = False


# Everyone 30 ms away, the edge location in the origin's region: the comparison the bench made
# before issue 23, where the single servers are as close as CloudFront is.
SAME = Scenario("same RTT: every index 30 ms, 100 Mbit/s", server=WAN, edge=WAN)
# The client on another continent from the single server; CloudFront's edge location near it,
# and a miss crossing the same distance again (15 + 105 = the far server's 120 ms). The sources
# and assumptions are in the bench's notes (`bench.__main__.notes`).
FAR_SERVER = Shape("120 ms RTT, 100 Mbit/s", rtt=0.120, bits_per_second=100e6)
NEAR_EDGE = Shape("15 ms RTT, 100 Mbit/s", rtt=0.015, bits_per_second=100e6)
FAR = Scenario(
    "far client: server 120 ms away; edge 15 ms away, +105 ms to the origin per miss",
    server=FAR_SERVER,
    edge=NEAR_EDGE,
    origin_rtt=0.105,
    stale_pages=True,
)


class Link:
    """One direction of a shared link: each chunk occupies it for len × 8 / rate seconds.

    The schedule (`busy_until`) is shared by every connection, so two concurrent downloads
    each get half the rate. `clock` and `sleep` are injectable: the unit tests run the link on
    a fake clock and read exactly how long it made senders wait.
    """

    def __init__(
        self,
        bits_per_second: float | None,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.bits_per_second = bits_per_second
        self.clock, self.sleep = clock, sleep
        self.lock = threading.Lock()
        self.busy_until = 0.0
        self.bytes = 0  # bytes that went through the cap
        self.scheduled = 0.0  # seconds of transmission scheduled: bytes × 8 / rate, exactly

    def send(self, n: int) -> None:
        """Block until `n` bytes would have left the link."""
        if not self.bits_per_second or n <= 0:
            return
        duration = n * 8 / self.bits_per_second
        with self.lock:
            now = self.clock()
            self.busy_until = max(now, self.busy_until) + duration
            until = self.busy_until
            self.bytes += n
            self.scheduled += duration
        wait = until - now
        if wait > 0:
            self.sleep(wait)


@dataclass
class Tally:
    """What the proxy saw and did: counts, none of which depends on how fast anything ran, and
    the per-request server times (`server_seconds`), which the bench reports and never asserts."""

    connections: int = 0  # client connections accepted (each delayed by one RTT when rtt > 0)
    requests: int = 0
    delayed_requests: int = 0  # requests held back by one RTT
    delayed_connections: int = 0
    body_bytes_down: int = 0  # response bodies sent to clients (after compression)
    body_bytes_up: int = 0  # request bodies forwarded to the server
    client_hangups: int = 0  # connections the client reset or abandoned (normal with keep-alive)
    compressed_responses: int = 0
    bytes_before_compression: int = 0  # of the compressed responses
    statuses: dict[int, int] = field(default_factory=dict)
    rtt: float = 0.0  # the shape's, to turn the counts into the delay applied
    # The one measured time (not a count): per answered request, from the proxy forwarding it to
    # the server's response headers arriving, so the link's own delays are not in it. One sample
    # per answered request; what the bench reports as "server time", next to the wall time.
    server_seconds: list[float] = field(default_factory=list)

    @property
    def delay_seconds(self) -> float:
        """The delay the proxy applied, from the counts (not measured)."""
        return self.rtt * (self.delayed_requests + self.delayed_connections)


class ShapingProxy(ThreadingHTTPServer):
    """A reverse proxy on 127.0.0.1 in front of `upstream` (host, port), shaped by `shape`."""

    daemon_threads = True
    block_on_close = False

    def __init__(
        self,
        upstream: tuple[str, int],
        shape: Shape = LOOPBACK,
        *,
        cloudfront_compression: bool = False,
        port: int = 0,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        super().__init__(("127.0.0.1", port), _Handler)
        self.upstream = upstream
        self.cloudfront_compression = cloudfront_compression
        self.clock, self.sleep = clock, sleep
        self.lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self.set_shape(shape)

    def set_shape(self, shape: Shape) -> None:
        """Shape the next connections and requests (between runs, not during one)."""
        self.shape = shape
        self.down = Link(shape.bits_per_second, self.clock, self.sleep)
        self.up = Link(shape.bits_per_second, self.clock, self.sleep)
        self.reset()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"

    def start(self) -> ShapingProxy:
        self._thread = threading.Thread(target=self.serve_forever, name="bench-link", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self.shutdown()
        self.server_close()

    def __enter__(self) -> ShapingProxy:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client hanging up on an idle keep-alive connection is normal: counted, not printed."""
        if isinstance(sys.exc_info()[1], ConnectionError):
            self.count(client_hangups=1)
            return
        super().handle_error(request, client_address)

    def reset(self) -> Tally:
        """Start counting afresh; returns what was counted so far."""
        with self.lock:
            old, self.tally = getattr(self, "tally", None), Tally(rtt=self.shape.rtt)
        return old or Tally(rtt=self.shape.rtt)

    def count(self, **deltas: int) -> None:
        with self.lock:
            for name, delta in deltas.items():
                setattr(self.tally, name, getattr(self.tally, name) + delta)

    def count_status(self, status: int, server_seconds: float) -> None:
        with self.lock:
            self.tally.statuses[status] = self.tally.statuses.get(status, 0) + 1
            self.tally.server_seconds.append(server_seconds)

    def delay(self, what: str) -> None:
        if self.shape.rtt > 0:
            self.count(**{what: 1})
            self.sleep(self.shape.rtt)


class _Handler(BaseHTTPRequestHandler):
    server: ShapingProxy
    protocol_version = "HTTP/1.1"

    def setup(self) -> None:
        super().setup()
        self.upstream: http.client.HTTPConnection | None = None
        self.server.count(connections=1)
        self.server.delay("delayed_connections")  # the TCP handshake

    def finish(self) -> None:
        try:
            super().finish()
        finally:
            if self.upstream is not None:
                self.upstream.close()

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_GET(self) -> None:
        self.server.count(requests=1)
        self.server.delay("delayed_requests")
        start = time.perf_counter()  # the real clock: a measurement, never part of the link's schedule
        try:
            resp = self._forward()
        except (OSError, http.client.HTTPException):
            self.close_connection = True
            self._plain(502, b"bad gateway\n")
            return
        self.server.count_status(resp.status, time.perf_counter() - start)
        try:
            self._relay(resp)
        finally:
            resp.close()
            if resp.will_close and self.upstream is not None:
                self.upstream.close()
                self.upstream = None

    do_HEAD = do_POST = do_PUT = do_DELETE = do_PATCH = do_OPTIONS = do_GET

    # --- towards the server ---------------------------------------------------------------------

    def _connection(self) -> http.client.HTTPConnection:
        if self.upstream is None:
            self.upstream = http.client.HTTPConnection(*self.server.upstream, timeout=300)
        return self.upstream

    def _forward(self) -> http.client.HTTPResponse:
        """Send the request upstream on this connection's persistent upstream connection,
        reconnecting once if the server had closed it while idle."""
        body = self._request_body()
        for attempt in (1, 2):
            conn = self._connection()
            try:
                conn.putrequest(self.command, self.path, skip_host=True, skip_accept_encoding=True)
                for name, value in self.headers.items():
                    if name.lower() not in HOP_BY_HOP:
                        conn.putheader(name, value)
                chunked = body is not None and "content-length" not in (k.lower() for k in self.headers)
                if chunked:
                    conn.putheader("Transfer-Encoding", "chunked")
                conn.endheaders()
                if body is not None:
                    self._send_body(conn, body, chunked)
                return conn.getresponse()
            except (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError):
                conn.close()
                self.upstream = None
                if attempt == 2 or (body is not None and not isinstance(body, bytes)):
                    raise
        raise AssertionError("unreachable")  # pragma: no cover

    def _request_body(self) -> bytes | Iterator[bytes] | None:
        """The request body: small bodies read whole (so a retry can resend them), large ones
        streamed; a chunked body is read chunk by chunk."""
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            return self._read_chunked()
        length = int(self.headers.get("Content-Length") or 0)
        if not length:
            return None
        if length <= CHUNK:
            return self.rfile.read(length)
        return self._read_length(length)

    def _read_length(self, length: int) -> Iterator[bytes]:
        while length:
            data = self.rfile.read(min(CHUNK, length))
            if not data:
                raise ConnectionResetError("client closed mid-body")
            length -= len(data)
            yield data

    def _read_chunked(self) -> Iterator[bytes]:
        while True:
            size = int(self.rfile.readline().split(b";", 1)[0].strip() or b"0", 16)
            if size == 0:
                while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                    pass  # trailers, dropped
                return
            data = self.rfile.read(size)
            self.rfile.readline()  # the CRLF after the chunk
            yield data

    def _send_body(
        self, conn: http.client.HTTPConnection, body: bytes | Iterator[bytes], chunked: bool
    ) -> None:
        for data in [body] if isinstance(body, bytes) else body:
            self.server.up.send(len(data))
            self.server.count(body_bytes_up=len(data))
            conn.send(b"%x\r\n%s\r\n" % (len(data), data) if chunked else data)
        if chunked:
            conn.send(b"0\r\n\r\n")

    # --- towards the client ---------------------------------------------------------------------

    def _relay(self, resp: http.client.HTTPResponse) -> None:
        headers = [(k, v) for k, v in resp.getheaders() if k.lower() not in HOP_BY_HOP]
        if self._compressible(resp):
            body = resp.read()
            if COMPRESS_MIN <= len(body) <= COMPRESS_MAX:
                packed = gzip.compress(body, GZIP_LEVEL, mtime=0)
                self.server.count(compressed_responses=1, bytes_before_compression=len(body))
                # CloudFront turns a strong ETag weak when it compresses (same page, "ETag header
                # conversion").
                headers = [
                    (k, "W/" + v if k.lower() == "etag" and not v.startswith("W/") else v)
                    for k, v in headers
                    if k.lower() != "content-length"
                ]
                headers += [("Content-Encoding", "gzip"), ("Vary", "Accept-Encoding")]
                body = packed
            self._head(resp, headers, len(body))
            self._write(body)
            return
        length = resp.getheader("Content-Length")
        if self.command == "HEAD" or resp.status in (204, 304) or 100 <= resp.status < 200:
            self._head(resp, headers, None)  # HEAD keeps the server's Content-Length
            return
        if length is None:
            # Unknown length (the server streamed chunked): stream chunked to the client too.
            self.send_response_only(resp.status, resp.reason)
            for k, v in headers:
                self.send_header(k, v)
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            for data in iter(lambda: resp.read1(CHUNK), b""):
                self._write(b"%x\r\n" % len(data), count=False)
                self._write(data)
                self._write(b"\r\n", count=False)
            self._write(b"0\r\n\r\n", count=False)
            return
        self._head(resp, headers, None)
        for data in iter(lambda: resp.read1(CHUNK), b""):
            self._write(data)

    def _compressible(self, resp: http.client.HTTPResponse) -> bool:
        if not self.server.cloudfront_compression or self.command != "GET" or resp.status != 200:
            return False
        if resp.getheader("Content-Encoding") or "gzip" not in self.headers.get("Accept-Encoding", ""):
            return False
        content_type = (resp.getheader("Content-Type") or "").split(";", 1)[0].strip().lower()
        return content_type in COMPRESSIBLE

    def _head(
        self, resp: http.client.HTTPResponse, headers: list[tuple[str, str]], length: int | None
    ) -> None:
        self.send_response_only(resp.status, resp.reason)
        for k, v in headers:
            if length is None or k.lower() != "content-length":
                self.send_header(k, v)
        if length is not None:
            self.send_header("Content-Length", str(length))
        if resp.will_close:
            self.send_header("Connection", "close")
            self.close_connection = True
        self.end_headers()

    def _write(self, data: bytes, count: bool = True) -> None:
        if count:
            self.server.down.send(len(data))
            self.server.count(body_bytes_down=len(data))
        self.wfile.write(data)

    def _plain(self, status: int, body: bytes) -> None:
        self.send_response_only(status)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(body)


def shaped(upstream_url: str, shape: Shape, **kwargs: Any) -> ShapingProxy:
    """A started proxy in front of `http://host:port` (the path of the URL is the client's)."""
    hostport = upstream_url.split("://", 1)[1].split("/", 1)[0].rsplit("@", 1)[-1]
    host, port = hostport.rsplit(":", 1)
    return ShapingProxy((host, int(port)), shape, **kwargs).start()


def through(url: str, proxy: ShapingProxy) -> str:
    """`url` (maybe with user:password@) rewritten to go through `proxy`."""
    scheme, rest = url.split("://", 1)
    hostport, _, path = rest.partition("/")
    userinfo = hostport.rsplit("@", 1)[0] + "@" if "@" in hostport else ""
    return f"{scheme}://{userinfo}127.0.0.1:{proxy.server_address[1]}/{path}"


def reachable(port: int, host: str = "127.0.0.1") -> bool:
    try:
        with socket.create_connection((host, port), timeout=1):
            return True
    except OSError:
        return False
