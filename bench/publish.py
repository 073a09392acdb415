"""Publish-to-install latency on the local stack: the freshness bound users live with.

For each way to publish, a new version of a small wheel is published, and from the moment the
publishing command returns two clocks run: one polls the project's JSON page every 20 ms (the
first moment the file is listed), the other runs a fresh `pip install --no-cache-dir
<project>==<version>` in a loop until one succeeds (its end is the moment a user's install would
have worked). Ways to publish:

* `pypi-edge upload` (the CLI, S3 PUT with `If-None-Match`, then the S3 event);
* a raw S3 PUT, as `aws s3 cp` makes it (one PutObject; the event path);
* `twine upload` and `uv publish` to `/legacy/`, measured only when the local stack's `/legacy/`
  answers an upload request (the upload endpoint has landed) and the client is installed; the
  row says why otherwise. Nothing is estimated.

The local stack's worker batches S3 events for `batch_window` seconds (0.5 s in `make serve`)
like the deployed SQS event source's batching window; in AWS add CloudFront's page TTL unless
the page is invalidated.
"""

from __future__ import annotations

import http.client
import importlib.util
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.report import median
from bench.servers import PASSWORD, USER, basic, local_stack, project_files
from edge import credentials
from local import aws
from local.stack import LocalStack
from tests.distributions import make_wheel
from tests.e2e import VENV_BIN, clean_env, fresh_venv, pip, run

CLI, RAW, TWINE, UV = "pypi-edge upload", "raw S3 PUT (aws s3 cp)", "twine upload", "uv publish"
METHODS = (CLI, RAW, TWINE, UV)
LEGACY = "/legacy/"
NOT_MERGED = "not measured: upload endpoint not merged"
POLL = 0.02


@dataclass(frozen=True)
class Latency:
    method: str
    runs: int
    listed: float | None  # median seconds from return to the page listing the file
    installed: float | None  # median seconds from return to a successful fresh pip install
    why_not: str = ""  # when not measured


def legacy_status(stack: LocalStack) -> int:
    """The status of an empty, authenticated POST to /legacy/: 403/404/405 while no upload
    endpoint exists (CloudFront refuses the method; the edge has no route), anything else once
    it does (an endpoint refuses an empty form with 400)."""
    conn = http.client.HTTPConnection(stack.host, stack.port, timeout=10)
    try:
        conn.request("POST", LEGACY, body=b"", headers={"Authorization": basic(), "Content-Length": "0"})
        return conn.getresponse().status
    finally:
        conn.close()


def legacy_available(stack: LocalStack) -> bool:
    return legacy_status(stack) not in (403, 404, 405, 501)


def publisher_users() -> dict[str, Any]:
    """The bench user with publish rights where the credentials model knows them (the upload
    endpoint's model: {"password", "publish"}), else a plain reader/password entry."""
    spec = {"password": PASSWORD, "publish": ["*"]}
    try:
        credentials.render_file({USER: spec}, "bench", seed="bench", iterations=1)
    except (TypeError, ValueError, AttributeError, KeyError):
        return {USER: PASSWORD}
    return {USER: spec}


def why_not(method: str, stack: LocalStack) -> str:
    """Why a method cannot be measured here, or "" when it can."""
    if method in (CLI, RAW):
        return ""
    if not legacy_available(stack):
        return NOT_MERGED
    if method == TWINE and importlib.util.find_spec("twine") is None:
        return "not measured: twine is not installed"
    if method == UV and not (VENV_BIN / "uv").exists():
        return "not measured: uv is not installed"
    return ""


Publish = Callable[[Path], None]


def publisher(method: str, stack: LocalStack) -> Publish:
    s3 = aws.client("s3", stack.s3_endpoint)
    env = clean_env(
        AWS_ACCESS_KEY_ID=aws.CREDENTIALS["aws_access_key_id"],
        AWS_SECRET_ACCESS_KEY=aws.CREDENTIALS["aws_secret_access_key"],
        AWS_DEFAULT_REGION=aws.REGION,
    )
    upload_url = f"{stack.url}{LEGACY}"

    def check(result: Any, what: str) -> None:
        if result.returncode != 0:
            raise RuntimeError(f"{what} failed:\n{result.stdout}\n{result.stderr}")

    def cli(path: Path) -> None:
        check(
            run(VENV_BIN / "pypi-edge", "upload", "--bucket", stack.bucket, "--endpoint-url",
                stack.s3_endpoint, "--no-progress", path, env=env),
            CLI,
        )  # fmt: skip

    def raw(path: Path) -> None:
        project = path.name.split("-", 1)[0].replace("_", "-")
        s3.put_object(Bucket=stack.bucket, Key=f"{project}/{path.name}", Body=path.read_bytes())

    def twine(path: Path) -> None:
        check(
            run(VENV_BIN / "python", "-m", "twine", "upload", "--non-interactive", "--disable-progress-bar",
                "--repository-url", upload_url, "-u", USER, "-p", PASSWORD, path),
            TWINE,
        )  # fmt: skip

    def uv(path: Path) -> None:
        check(
            run(VENV_BIN / "uv", "publish", "--publish-url", upload_url, "--username", USER,
                "--password", PASSWORD, path, env=clean_env(UV_NO_PROGRESS="1")),
            UV,
        )  # fmt: skip

    return {CLI: cli, RAW: raw, TWINE: twine, UV: uv}[method]


def wait_listed(stack: LocalStack, project: str, filename: str, since: float, out: list[float]) -> None:
    deadline = since + 60
    while time.perf_counter() < deadline:
        if filename in project_files(f"{stack.url}/simple/", project, basic()):
            out.append(time.perf_counter() - since)
            return
        time.sleep(POLL)


def wait_installable(stack: LocalStack, work: Path, project: str, version: str, since: float) -> float:
    """Seconds from `since` to the end of the first fresh pip install that succeeds."""
    deadline = since + 120
    attempt = 0
    while time.perf_counter() < deadline:
        attempt += 1
        python = fresh_venv(work / f"venv-{attempt}")
        result = pip(python, "install", "--quiet", "--index-url", stack.index_url(USER, PASSWORD),
                     f"{project}=={version}")  # fmt: skip
        if result.returncode == 0:
            return time.perf_counter() - since
    raise RuntimeError(f"{project}=={version} not installable after 120 s")


def latencies(work: Path, runs: int = 3, methods: tuple[str, ...] = METHODS) -> list[Latency]:
    results = []
    # The local stack as `make serve` runs it (0.5 s batch window), with a publishing user.
    with local_stack(batch_window=0.5, users=publisher_users()) as stack:
        for method in methods:
            reason = why_not(method, stack)
            if reason:
                results.append(Latency(method, 0, None, None, reason))
                continue
            publish = publisher(method, stack)
            project = "edgepub-" + method.split()[0].lower().replace("-", "")
            listed, installed = [], []
            for r in range(runs):
                version = f"1.{r}"
                filename, data, _ = make_wheel(project, version)
                folder = work / f"{project}-{r}"
                folder.mkdir(parents=True)
                path = folder / filename
                path.write_bytes(data)
                publish(path)
                since = time.perf_counter()
                seen: list[float] = []
                poller = threading.Thread(target=wait_listed, args=(stack, project, filename, since, seen))
                poller.start()
                installed.append(wait_installable(stack, folder, project, version, since))
                poller.join()
                if not seen:
                    raise RuntimeError(f"{filename} installed but never listed")
                listed.append(seen[0])
            results.append(Latency(method, runs, median(listed), median(installed)))
    return results
