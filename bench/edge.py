"""Timings of the viewer-request function (`edge.handler`), in microseconds.

`edge_timings()` measures, in this interpreter, with the deployed iteration count:

* ``warm_authorized_us`` -- a request whose credentials are in the verified-header cache
  (pip asking for a project page, and a wheel download), median and p90 per request;
* ``unauthorized_us`` -- a request without credentials (the 401 challenge);
* ``cold_verification_us`` -- one first-time verification (the slow PBKDF2 hash);
* ``import_us`` -- ``import edge.handler`` in a fresh interpreter (``-I -S``: no site-packages),
  including reading a credentials file; most of it is the standard library (re, json, hashlib).
* ``import_marginal_us`` -- the same after importing what the Lambda Python runtime client has
  already loaded before it imports a handler (json, logging, http.client -> urllib.parse, re):
  the function's own share of a cold start.

Nothing here asserts: the figures go into `make bench`'s table and docs/performance.md.
"""

from __future__ import annotations

import base64
import contextlib
import copy
import io
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PIP_ACCEPT = (
    "application/vnd.pypi.simple.v1+json, application/vnd.pypi.simple.v1+html; q=0.1, text/html; q=0.01"
)


def _event(uri: str, authorization: str | None, accept: str | None = PIP_ACCEPT) -> dict:
    headers = {"host": [{"key": "Host", "value": "d111111abcdef8.cloudfront.net"}]}
    if accept:
        headers["accept"] = [{"key": "Accept", "value": accept}]
        # pip 26.3's (requests') value: it picks the gzip-stored JSON page (edge.handler.json_variant).
        headers["accept-encoding"] = [{"key": "Accept-Encoding", "value": "gzip, deflate"}]
    if authorization:
        headers["authorization"] = [{"key": "Authorization", "value": authorization}]
    request = {
        "clientIp": "203.0.113.178",
        "headers": headers,
        "method": "GET",
        "querystring": "",
        "uri": uri,
    }
    config = {
        "distributionDomainName": "d111111abcdef8.cloudfront.net",
        "distributionId": "EDFDVBD6EXAMPLE",
        "eventType": "viewer-request",
        "requestId": "bench",
    }
    return {"Records": [{"cf": {"config": config, "request": request}}]}


def _per_call_us(handler: Callable[[dict, object], dict], event: dict, n: int) -> dict[str, float]:
    """Median and p90 of `n` calls, each on its own copy of the event (the handler mutates it)."""
    events = [copy.deepcopy(event) for _ in range(n)]
    samples = []
    clock = time.perf_counter_ns
    for e in events:
        start = clock()
        handler(e, None)
        samples.append(clock() - start)
    samples.sort()
    return {"median": samples[n // 2] / 1000, "p90": samples[int(n * 0.9)] / 1000}


# Imported by the runtime interface client (awslambdaric bootstrap + runtime client) first.
RUNTIME_PRELOADS = "json, logging, traceback, http.client, urllib.parse"


def _import_us(credentials_file: str, runs: int, preload: str = "") -> float:
    code = (
        (f"import {preload}; " if preload else "") + "import time; t = time.perf_counter(); import sys; "
        f"sys.path.insert(0, {str(ROOT)!r}); import edge.handler; "
        "print((time.perf_counter() - t) * 1e6)"
    )
    env = {"PYPI_EDGE_CREDENTIALS": credentials_file, "PATH": os.environ.get("PATH", "")}
    samples = [
        float(
            subprocess.run(
                [sys.executable, "-I", "-S", "-c", code], env=env, capture_output=True, text=True, check=True
            ).stdout
        )
        for _ in range(runs)
    ]
    return statistics.median(samples)


def edge_timings(n: int = 20_000, cold_runs: int = 7, import_runs: int = 9) -> dict:
    """Measure the edge function; see the module docstring for the keys."""
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    with contextlib.redirect_stderr(io.StringIO()):  # "no credentials" notice of a dev checkout
        from edge import credentials
        from edge import handler as edge

    raw = credentials.render_file({"alice": "correct horse:battery"}, "bench", "bench-seed")
    good = "Basic " + base64.b64encode(b"alice:correct horse:battery").decode("ascii")
    edge.configure(raw)
    try:
        assert edge.handler(_event("/simple/requests/", good), None)["uri"] == "/requests/index.json"
        warm_page = _per_call_us(edge.handler, _event("/simple/requests/", good), n)
        warm_file = _per_call_us(
            edge.handler, _event("/simple/torch/torch-2.3.0+cpu-cp311-cp311-linux_x86_64.whl", good), n
        )
        unauthorized = _per_call_us(edge.handler, _event("/simple/requests/", None), n // 4)
        cold = []
        for _ in range(cold_runs):
            edge.configure(raw)  # empties the cache
            start = time.perf_counter_ns()
            assert edge.verify(good)
            cold.append((time.perf_counter_ns() - start) / 1000)
        with tempfile.TemporaryDirectory() as tmp:
            path = os.path.join(tmp, credentials.FILE_NAME)
            with open(path, "wb") as f:
                f.write(raw)
            import_us = _import_us(path, import_runs)
            import_marginal_us = _import_us(path, import_runs, RUNTIME_PRELOADS)
    finally:
        with contextlib.redirect_stderr(io.StringIO()):
            edge.reload()  # back to whatever this process had configured
    return {
        "warm_authorized_us": warm_page["median"],
        "warm_authorized_p90_us": warm_page["p90"],
        "warm_authorized_file_us": warm_file["median"],
        "unauthorized_us": unauthorized["median"],
        "unauthorized_p90_us": unauthorized["p90"],
        "cold_verification_us": statistics.median(cold),
        "import_us": import_us,
        "import_marginal_us": import_marginal_us,
        "iterations": credentials.ITERATIONS,
        "python": sys.version.split()[0],
    }


if __name__ == "__main__":  # python -m bench.edge
    for key, value in edge_timings().items():
        print(f"{key:28} {value:,.1f}" if isinstance(value, float) else f"{key:28} {value}")
