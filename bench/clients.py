"""pip and uv resolving one package tree through the local stack and through pypiserver.

The same wheels are served by both: our local stack (moto S3 + the CloudFront stand-in running
the real edge function, pages written by the real indexer) and pypiserver 2.4.2 (a directory on
disk, auth disabled, fallback to PyPI disabled). Bytes are response-body bytes as sent: our CDN
stand-in logs them per request; pypiserver is measured by a counting reverse proxy in front of
it, so neither figure depends on a server's own logging.
"""

from __future__ import annotations

import base64
import gzip
import http.client
import json
import logging
import os
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from bench.report import median, timed
from local import aws
from local.stack import LocalStack, free_port
from tests.distributions import make_wheel
from tests.e2e import VENV_BIN, clean_env, fresh_venv, pip, run

PREFIX = "edgebench"  # a name that exists on no public index
USER, PASSWORD = "bench", "bench-password"
HOP_BY_HOP = frozenset(
    {"connection", "keep-alive", "proxy-authenticate", "proxy-authorization", "te", "trailer"}
    | {"transfer-encoding", "upgrade", "content-length"}
)


# --- the package tree --------------------------------------------------------------------------


def dependencies(i: int, packages: int) -> list[int]:
    """A DAG over 0..packages-1 rooted at 0: two children each (a binary heap) plus a cross edge.

    Edges only go from lower to higher numbers, so there is no cycle, and every package is
    reachable from package 0, so resolving package 0 visits them all; the cross edges give
    packages several dependents, as in real trees.
    """
    return sorted({j for j in (2 * i + 1, 2 * i + 2, i + 3) if j < packages})


def tree(packages: int, payload_bytes: int) -> list[tuple[str, bytes]]:
    """(filename, wheel bytes) for the whole tree, version 1.0 each."""
    wheels = []
    for i in range(packages):
        requires = [f"{PREFIX}-{j:02d}>=1.0" for j in dependencies(i, packages)]
        filename, data, _ = make_wheel(
            f"{PREFIX}-{i:02d}", "1.0", requires_dist=requires, payload_bytes=payload_bytes
        )
        wheels.append((filename, data))
    return wheels


def project_of(filename: str) -> str:
    return filename.split("-", 1)[0].replace("_", "-")


# --- the servers -------------------------------------------------------------------------------


@dataclass
class Traffic:
    requests: int = 0
    bytes_sent: int = 0


class Server:
    """An index under test: its URL for clients, and the traffic it served since `reset()`."""

    name: str
    index_url: str

    def reset(self) -> None:
        raise NotImplementedError

    def traffic(self) -> Traffic:
        raise NotImplementedError


class Ours(Server):
    name = "pypi-edge (local stack)"

    def __init__(self, stack: LocalStack) -> None:
        self.stack = stack
        self.index_url = stack.index_url()

    def reset(self) -> None:
        self.stack.cdn.access_log.clear()

    def traffic(self) -> Traffic:
        log = list(self.stack.cdn.access_log)
        return Traffic(len(log), sum(a.bytes_sent for a in log))


class CountingProxy(ThreadingHTTPServer):
    """A reverse proxy that forwards GET/HEAD to `upstream` and counts response-body bytes."""

    daemon_threads = True

    def __init__(self, address: tuple[str, int], upstream: tuple[str, int]) -> None:
        super().__init__(address, _ProxyHandler)
        self.upstream = upstream
        self.lock = threading.Lock()
        self.counted = Traffic()

    def record(self, body_bytes: int) -> None:
        with self.lock:
            self.counted.requests += 1
            self.counted.bytes_sent += body_bytes


class _ProxyHandler(BaseHTTPRequestHandler):
    server: CountingProxy
    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:
        upstream = http.client.HTTPConnection(*self.server.upstream, timeout=120)
        headers = {k: v for k, v in self.headers.items() if k.lower() not in HOP_BY_HOP}
        upstream.request(self.command, self.path, headers=headers)  # Host passes through
        resp = upstream.getresponse()
        body = resp.read()
        upstream.close()
        self.send_response_only(resp.status, resp.reason)
        for name, value in resp.getheaders():
            if name.lower() not in HOP_BY_HOP:
                self.send_header(name, value)
        # A HEAD answer carries the length the GET would have (uv reads it before ranged GETs).
        length = resp.getheader("Content-Length", "0") if self.command == "HEAD" else str(len(body))
        self.send_header("Content-Length", length)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)
        self.server.record(len(body))

    do_HEAD = do_GET

    def log_message(self, format: str, *args: Any) -> None:
        pass


class PyPIServer(Server):
    name = "pypiserver 2.4.2"

    def __init__(self, proxy: CountingProxy) -> None:
        self.proxy = proxy
        self.index_url = f"http://127.0.0.1:{proxy.server_address[1]}/simple/"

    def reset(self) -> None:
        with self.proxy.lock:
            self.proxy.counted = Traffic()

    def traffic(self) -> Traffic:
        with self.proxy.lock:
            return Traffic(self.proxy.counted.requests, self.proxy.counted.bytes_sent)


@contextmanager
def quiet_and_contained() -> Iterator[None]:
    """No access log from moto's server and no indexer INFO lines while the stack runs (the
    bench prints one table), and the process environment the stack sets restored after it (the
    bench also runs inside the test session)."""
    from indexer.log import logger

    werkzeug = logging.getLogger("werkzeug")
    levels = werkzeug.level, logger.log_level
    environ = dict(os.environ)
    werkzeug.setLevel(logging.ERROR)
    logger.setLevel("WARNING")
    try:
        yield
    finally:
        werkzeug.setLevel(levels[0])
        logger.setLevel(levels[1])
        os.environ.clear()
        os.environ.update(environ)


@contextmanager
def local_stack(wheels: list[tuple[str, bytes]]) -> Iterator[Ours]:
    """The local stack with the tree published by S3 PUTs and indexed by its worker."""
    with quiet_and_contained():
        stack = LocalStack(
            port=free_port(),
            s3_port=free_port(),
            bucket="pypi-bench",
            users={USER: PASSWORD},
            batch_window=0.2,
        ).start()
        try:
            yield _published(stack, wheels)
        finally:
            stack.stop()


def _published(stack: LocalStack, wheels: list[tuple[str, bytes]]) -> Ours:
    s3 = aws.client("s3", stack.s3_endpoint)
    for filename, data in wheels:
        s3.put_object(Bucket=stack.bucket, Key=f"{project_of(filename)}/{filename}", Body=data)
    server = Ours(stack)
    _wait(lambda: all(_listed(server, filename) for filename, _ in wheels), "local stack indexing")
    return server


def _listed(server: Ours, filename: str) -> bool:
    req = urllib.request.Request(f"{server.stack.url}/simple/{project_of(filename)}/")
    req.add_header("Accept", "application/vnd.pypi.simple.v1+json")
    req.add_header("Authorization", "Basic " + _basic(USER, PASSWORD))
    try:
        with urllib.request.urlopen(req, timeout=5) as resp:
            body = resp.read()
            if resp.headers.get("Content-Encoding") == "gzip":  # JSON pages are stored gzip-compressed
                body = gzip.decompress(body)
            return filename in {f["filename"] for f in json.loads(body)["files"]}
    except urllib.error.HTTPError:
        return False


def _basic(user: str, password: str) -> str:
    return base64.b64encode(f"{user}:{password}".encode()).decode()


@contextmanager
def pypiserver(wheels: list[tuple[str, bytes]]) -> Iterator[PyPIServer]:
    """pypiserver on a directory holding the same wheels, behind the counting proxy."""
    with tempfile.TemporaryDirectory(prefix="pypi-edge-bench-pypiserver-") as tmp:
        for filename, data in wheels:
            (Path(tmp) / filename).write_bytes(data)
        port = free_port()
        cmd = [sys.executable, "-m", "pypiserver", "run", "-i", "127.0.0.1", "-p", str(port)]
        cmd += ["-a", ".", "-P", ".", "--disable-fallback", "--log-stream", "none", tmp]
        proc = subprocess.Popen(cmd, env=clean_env(), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        proxy = CountingProxy(("127.0.0.1", free_port()), ("127.0.0.1", port))
        thread = threading.Thread(target=proxy.serve_forever, name="bench-proxy", daemon=True)
        thread.start()
        try:
            _wait(lambda: _up(port, proc), "pypiserver start")
            yield PyPIServer(proxy)
        finally:
            proxy.shutdown()
            proxy.server_close()
            proc.terminate()
            proc.wait(timeout=15)


def _up(port: int, proc: subprocess.Popen) -> bool:
    if proc.poll() is not None:
        raise RuntimeError(f"pypiserver exited: {proc.stderr.read().decode() if proc.stderr else ''}")
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/simple/", timeout=2):
            return True
    except OSError:
        return False


def _wait(ready: Callable[[], bool], what: str, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if ready():
            return
        time.sleep(0.2)
    raise RuntimeError(f"{what}: not ready after {timeout}s")


# --- the clients -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Resolution:
    client: str
    server: str
    requests: int  # exact
    bytes_sent: int  # exact
    seconds: float  # median
    resolved: int  # packages in the result (checked against the tree)


def pip_resolve(index_url: str, work: Path, packages: int) -> Callable[[], None]:
    """`pip install --dry-run --ignore-installed --report` into a fresh venv, no cache."""
    python = fresh_venv(work / "venv")
    report = work / "pip-report.json"

    def resolve() -> None:
        result = pip(
            python,
            "install",
            "--dry-run",
            "--ignore-installed",
            "--quiet",
            "--report",
            report,
            "--index-url",
            index_url,
            f"{PREFIX}-00",
        )
        if result.returncode != 0:
            raise RuntimeError(f"pip failed:\n{result.stdout}\n{result.stderr}")
        got = len(json.loads(report.read_text())["install"])
        if got != packages:
            raise RuntimeError(f"pip resolved {got} packages, expected {packages}")

    return resolve


def uv_resolve(index_url: str, work: Path, packages: int) -> Callable[[], None]:
    """`uv pip compile --no-cache` of the root package, for the fresh venv's Python."""
    python = fresh_venv(work / "venv")
    requirements = work / "requirements.in"
    requirements.write_text(f"{PREFIX}-00\n")

    def resolve() -> None:
        result = run(
            VENV_BIN / "uv",
            "pip",
            "compile",
            "--no-cache",
            "--quiet",
            "--python",
            python,
            "--index-url",
            index_url,
            requirements,
            env=clean_env(UV_NO_PROGRESS="1"),
        )
        if result.returncode != 0:
            raise RuntimeError(f"uv failed:\n{result.stdout}\n{result.stderr}")
        got = sum(1 for line in result.stdout.splitlines() if line.startswith(f"{PREFIX}-"))
        if got != packages:
            raise RuntimeError(f"uv resolved {got} packages, expected {packages}:\n{result.stdout}")

    return resolve


CLIENTS: dict[str, Callable[[str, Path, int], Callable[[], None]]] = {"pip": pip_resolve, "uv": uv_resolve}


@dataclass(frozen=True)
class ClientBench:
    packages: int
    wheel_bytes: int  # the whole tree: what an install downloads once it has resolved
    resolutions: list[Resolution]

    def get(self, client: str, server: str) -> Resolution:
        return next(r for r in self.resolutions if r.client == client and r.server == server)


def resolutions(packages: int = 30, payload_bytes: int = 2 * 2**20, runs: int = 3) -> ClientBench:
    """Every client against both servers, interleaved run by run (same machine state for both)."""
    wheels = tree(packages, payload_bytes)
    results: list[Resolution] = []
    with local_stack(wheels) as ours, pypiserver(wheels) as theirs, tempfile.TemporaryDirectory() as tmp:
        for client, make in CLIENTS.items():
            samples: dict[str, list[tuple[float, Traffic]]] = {ours.name: [], theirs.name: []}
            for r in range(runs):
                for k, server in enumerate((ours, theirs)):
                    work = Path(tmp) / f"{client}-{k}-{r}"
                    work.mkdir()
                    resolve = make(server.index_url, work, packages)
                    server.reset()
                    elapsed = timed(resolve)
                    samples[server.name].append((elapsed, server.traffic()))
            for server_name, got in samples.items():
                results.append(_summarize(client, server_name, got, packages))
    return ClientBench(packages, sum(len(data) for _, data in wheels), results)


def _summarize(client: str, server: str, samples: list[tuple[float, Traffic]], packages: int) -> Resolution:
    # Requests and bytes are the same on every run of a client against a server; say so if not.
    counts = {(t.requests, t.bytes_sent) for _, t in samples}
    if len(counts) != 1:
        raise AssertionError(f"{client} via {server}: traffic varied between runs: {sorted(counts)}")
    requests, sent = counts.pop()
    return Resolution(client, server, requests, sent, median([s for s, _ in samples]), packages)
