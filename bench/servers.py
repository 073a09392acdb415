"""The indexes the bench compares, each serving the same files behind its own shaping proxy.

* **pypi-edge**: the local stack (moto S3 + SQS, the indexer worker, the CloudFront stand-in
  running the real edge function with Basic auth); files published by S3 PUTs (immutable, as
  the publishing core stores them) and indexed by the worker. Its proxy also compresses as
  CloudFront does (`bench.link`), since CloudFront is what users reach.
* **pypiserver 2.4.2**: `pypiserver run -a . -P . --disable-fallback` on a directory holding the
  files (no auth, no fallback to PyPI, its default server).
* **devpi-server 6.20.3**: `devpi-init --no-root-pypi` (no PyPI mirror), `devpi-server --host
  127.0.0.1 --port P` with its defaults (waitress, files served by devpi itself, no nginx), one
  index `root/bench` created by devpi-client 7.3.0 with `bases=` (inherits nothing), files
  uploaded with `devpi upload --from-dir`. Its simple pages are served as released: PEP 503 HTML
  and PEP 691 JSON, no PEP 658 metadata (devpi/devpi#1018 is open).

Traffic (requests, body bytes) is counted by each server's proxy, the same way for all.

pypi-edge alone has an edge cache (the stand-in's, `local.cache`): the bench sets its state
before each run (`EdgeState`: cold after an invalidation of `/*`, pages past their TTL, or warm)
and counts the requests the stand-in sends to its origin (`Origin`), each delayed by the
scenario's edge-to-origin round trip.
"""

from __future__ import annotations

import base64
import dataclasses
import gzip
import json
import logging
import os
import subprocess
import tempfile
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.link import LOOPBACK, Scenario, ShapingProxy, Tally, through
from indexer.handler import s3_client
from indexer.store import IMMUTABLE, PAGE_CACHE_SECONDS_DEFAULT
from local import aws
from local.stack import LocalStack, free_port
from tests.e2e import VENV_BIN, clean_env, run

USER, PASSWORD = "bench", "bench-password"
OURS = "pypi-edge"
PYPISERVER = "pypiserver 2.4.2"
DEVPI = "devpi-server 6.20.3"
PEERS = (PYPISERVER, DEVPI)
CONFIG = {
    OURS: "local stack (moto S3 + the CloudFront stand-in running the edge function, Basic auth); "
    "files published by S3 PUTs (Cache-Control immutable, as the publishing core stores them) and "
    "indexed by the indexer worker; CloudFront's gzip applied by the bench's proxy",
    PYPISERVER: "`pypiserver run -a . -P . --disable-fallback` on a directory of the files "
    "(no auth, no PyPI fallback, default server)",
    DEVPI: "`devpi-init --no-root-pypi`, `devpi-server --host 127.0.0.1` defaults (waitress, serving "
    "its own files); index `root/bench` with `bases=` created and filled by devpi-client 7.3.0 "
    "(`devpi index -c`, `devpi upload --from-dir`); PEP 691 JSON and HTML as released, no PEP 658 "
    "metadata",
}


class Origin:
    """The S3 client of the CloudFront stand-in, wrapped: every call it makes is one request from
    the edge location to the origin (a miss, or the revalidation of an expired page). Each is
    counted and waits `rtt` first, the round trip from the edge location to the origin region.

    The stand-in reads S3 only through its `s3` attribute (`local.cdn.CDN.s3`, used by the cache
    and by uncached requests alike), so wrapping that one object is the whole hook; nothing in
    `local/` changes.
    """

    def __init__(self, s3: Any, rtt: float = 0.0, sleep: Callable[[float], None] = time.sleep) -> None:
        self.s3, self.rtt, self.sleep = s3, rtt, sleep
        self.lock = threading.Lock()
        self.requests = 0

    def _trip(self) -> None:
        with self.lock:
            self.requests += 1
        if self.rtt > 0:
            self.sleep(self.rtt)

    def get_object(self, **kwargs: Any) -> Any:
        self._trip()
        return self.s3.get_object(**kwargs)

    def head_object(self, **kwargs: Any) -> Any:
        self._trip()
        return self.s3.head_object(**kwargs)

    def reset(self) -> int:
        """Start counting afresh; returns the requests counted so far."""
        with self.lock:
            n, self.requests = self.requests, 0
        return n


COLD, STALE, WARM = "cold", "stale", "warm"
# Pages carry s-maxage = the indexer's page TTL (indexer.store); files and metadata a year.
STALE_AFTER = PAGE_CACHE_SECONDS_DEFAULT + 1
# The stand-in streams objects over 16 MiB uncached: "a local memory bound, not a CloudFront one"
# (local.cache.CachePolicy). Raised for the bench, whose large wheel CloudFront would cache.
BENCH_MAX_OBJECT_BYTES = 1 << 30


class EdgeState:
    """The stand-in's CloudFront cache as the bench drives it: emptied (`COLD`: the first install
    after a publish), its clock moved past the pages' TTL (`STALE`: pages are revalidated with the
    origin, files and metadata still cached), or left as the previous run filled it (`WARM`)."""

    def __init__(self, stack: LocalStack) -> None:
        self.cache = stack.cache
        self.origin = Origin(stack.cdn.s3)
        stack.cdn.s3 = self.origin
        self.offset = 0.0
        self.cache.clock = lambda: time.monotonic() + self.offset
        self.cache.policy = dataclasses.replace(self.cache.policy, max_object_bytes=BENCH_MAX_OBJECT_BYTES)

    def prepare(self, state: str) -> None:
        if state == COLD:
            self.cache.invalidate(["/*"])  # CloudFront's wildcard: every cached object
        elif state == STALE:
            self.offset += STALE_AFTER
        elif state != WARM:
            raise ValueError(f"unknown edge cache state {state!r}")


@dataclass
class Served:
    """An index under test, reached through its proxy."""

    name: str
    proxy: ShapingProxy
    index_url: str  # through the proxy, with credentials when the index needs them
    edge: EdgeState | None = None  # pypi-edge's CloudFront stand-in; None for a single server

    def shape(self, scenario: Scenario) -> None:
        """The client's link to this index in `scenario` (and, for us, the edge's to the origin)."""
        if self.edge is None:
            self.proxy.set_shape(scenario.server)
        else:
            self.proxy.set_shape(scenario.edge)
            self.edge.origin.rtt = scenario.origin_rtt

    def states(self, scenario: Scenario) -> tuple[str, ...]:
        """The cache states to measure, in order (each run leaves the cache the next one needs)."""
        if self.edge is None:
            return ("",)
        return (COLD, STALE, WARM) if scenario.stale_pages else (COLD, WARM)

    def reset(self, state: str = "") -> None:
        if self.edge is not None:
            self.edge.prepare(state)
            self.edge.origin.reset()
        self.proxy.reset()

    def traffic(self) -> Tally:
        return self.proxy.reset()

    def origin_requests(self) -> int:
        return self.edge.origin.reset() if self.edge is not None else 0


def project_of(filename: str) -> str:
    return filename.split("-", 1)[0].replace("_", "-").replace(".", "-").lower()


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
def local_stack(batch_window: float = 0.2, users: dict | None = None) -> Iterator[LocalStack]:
    with quiet_and_contained():
        stack = LocalStack(
            port=free_port(),
            s3_port=free_port(),
            bucket="pypi-bench",
            users=users or {USER: PASSWORD},
            batch_window=batch_window,
        ).start()
        # The indexer keeps one S3 client per process (indexer.handler.s3_client, cached), made
        # from the endpoint variables the first time it is needed; the bench starts several
        # stacks in turn. Made again now that this stack's variables are set (a previous stack's
        # worker still finishing can only ever get this one).
        s3_client.cache_clear()
        s3_client()
        try:
            yield stack
        finally:
            stack.stop()


def basic(user: str = USER, password: str = PASSWORD) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


def project_files(url: str, project: str, authorization: str | None = None) -> set[str]:
    """Filenames on a project's PEP 691 page at `url` (an index URL ending in /), or none."""
    req = urllib.request.Request(f"{url}{project}/")
    req.add_header("Accept", "application/vnd.pypi.simple.v1+json")
    if authorization:
        req.add_header("Authorization", authorization)
    try:
        with urllib.request.urlopen(req, timeout=5) as resp:
            body = resp.read()
            if resp.headers.get("Content-Encoding") == "gzip":  # our JSON pages are stored gzipped
                body = gzip.decompress(body)
            return {f["filename"] for f in json.loads(body)["files"]}
    except (urllib.error.HTTPError, OSError):
        return set()


# Indexing 30 wheels took 11 s at a load average of 8, and more than 120 s once at 15 (the bench
# stopped there): a wait, not a failure.
INDEXING_TIMEOUT = 900


def wait(ready: Callable[[], bool], what: str, timeout: float = 120, step: float = 0.2) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if ready():
            return
        time.sleep(step)
    raise RuntimeError(f"{what}: not ready after {timeout}s")


@contextmanager
def ours(wheels: list[tuple[str, bytes]]) -> Iterator[Served]:
    """The local stack with the files published by S3 PUTs and indexed by its worker."""
    with local_stack() as stack:
        s3 = aws.client("s3", stack.s3_endpoint)
        for filename, data in wheels:
            # Immutable, as `pypi-edge upload` and /legacy/ store distributions (indexer/publish.py);
            # without it CloudFront would keep a wheel only the cache policy's default TTL.
            key = f"{project_of(filename)}/{filename}"
            s3.put_object(Bucket=stack.bucket, Key=key, Body=data, CacheControl=IMMUTABLE)
        direct = f"{stack.url}/simple/"
        wait(
            lambda: all(
                filename in project_files(direct, project_of(filename), basic()) for filename, _ in wheels
            ),
            "local stack indexing",
            timeout=INDEXING_TIMEOUT,
        )
        with ShapingProxy((stack.host, stack.port), LOOPBACK, cloudfront_compression=True) as proxy:
            yield Served(OURS, proxy, through(stack.index_url(), proxy), EdgeState(stack))


@contextmanager
def pypiserver(wheels: list[tuple[str, bytes]]) -> Iterator[Served]:
    """pypiserver on a directory holding the same files."""
    with tempfile.TemporaryDirectory(prefix="pypi-edge-bench-pypiserver-") as tmp:
        for filename, data in wheels:
            (Path(tmp) / filename).write_bytes(data)
        port = free_port()
        cmd = [VENV_BIN / "python", "-m", "pypiserver", "run", "-i", "127.0.0.1", "-p", str(port)]
        cmd += ["-a", ".", "-P", ".", "--disable-fallback", "--log-stream", "none", tmp]
        ready = f"http://127.0.0.1:{port}/simple/"
        with _process(cmd, "pypiserver", ready), ShapingProxy(("127.0.0.1", port), LOOPBACK) as proxy:
            yield Served(PYPISERVER, proxy, f"{proxy.url}/simple/")


DEVPI_ROOT_PASSWORD = "bench-root"


@contextmanager
def devpi(wheels: list[tuple[str, bytes]]) -> Iterator[Served]:
    """devpi-server with one index, root/bench, holding the same files (see the module doc)."""
    with tempfile.TemporaryDirectory(prefix="pypi-edge-bench-devpi-") as tmp:
        serverdir, clientdir, files = Path(tmp, "server"), Path(tmp, "client"), Path(tmp, "files")
        files.mkdir()
        for filename, data in wheels:
            (files / filename).write_bytes(data)
        env = clean_env(DEVPI_CLIENTDIR=str(clientdir))
        _check(run(VENV_BIN / "devpi-init", "--serverdir", serverdir, "--no-root-pypi",
                   "--root-passwd", DEVPI_ROOT_PASSWORD, env=env), "devpi-init")  # fmt: skip
        port = free_port()
        url = f"http://127.0.0.1:{port}"
        cmd = [
            VENV_BIN / "devpi-server",
            "--serverdir",
            serverdir,
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
        ]
        with _process(cmd, "devpi-server", f"{url}/+api", env=env):
            devpi_client = VENV_BIN / "devpi"
            for args in (
                ("use", url),
                ("login", "root", "--password", DEVPI_ROOT_PASSWORD),
                ("index", "-c", "root/bench", "bases="),
                ("use", "root/bench"),
                ("upload", "--from-dir", files),
            ):
                _check(run(devpi_client, *args, env=env), f"devpi {args[0]}")
            direct = f"{url}/root/bench/+simple/"
            wait(
                lambda: all(
                    filename in project_files(direct, project_of(filename)) for filename, _ in wheels
                ),
                "devpi indexing",
                timeout=INDEXING_TIMEOUT,
            )
            with ShapingProxy(("127.0.0.1", port), LOOPBACK) as proxy:
                yield Served(DEVPI, proxy, f"{proxy.url}/root/bench/+simple/")


def _check(result: subprocess.CompletedProcess, what: str) -> None:
    if result.returncode != 0:
        raise RuntimeError(f"{what} failed:\n{result.stdout}\n{result.stderr}")


@contextmanager
def _process(
    cmd: list, what: str, ready_url: str, env: dict[str, str] | None = None
) -> Iterator[subprocess.Popen]:
    proc = subprocess.Popen(
        [str(c) for c in cmd], env=env or clean_env(), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    try:
        wait(lambda: _up(ready_url, proc, what), f"{what} start")
        yield proc
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def _up(url: str, proc: subprocess.Popen, what: str) -> bool:
    if proc.poll() is not None:
        raise RuntimeError(f"{what} exited: {proc.stderr.read().decode() if proc.stderr else ''}")
    try:
        with urllib.request.urlopen(url, timeout=2):
            return True
    except OSError:
        return False


SERVERS: dict[str, Callable[[list[tuple[str, bytes]]], ...]] = {
    OURS: ours,
    PYPISERVER: pypiserver,
    DEVPI: devpi,
}


@contextmanager
def serving(
    wheels: list[tuple[str, bytes]], names: tuple[str, ...] = (OURS, *PEERS)
) -> Iterator[list[Served]]:
    """Every index in `names`, each serving `wheels`, started side by side."""
    with ExitStack() as stack:
        yield [stack.enter_context(SERVERS[name](wheels)) for name in names]
