"""Helpers for the end-to-end tests: a local stack in a subprocess, and real clients against it."""

from __future__ import annotations

import base64
import gzip
import json
import os
import re
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3
from packaging.utils import canonicalize_name

from local.stack import free_port

ROOT = Path(__file__).resolve().parent.parent
VENV_BIN = Path(sys.executable).parent
# How long after an upload a page may take to show it, on the local stack: the worker's
# batch window (0.5 s) plus one rebuild. In AWS add the page cache (indexCacheSeconds).
FRESHNESS_SECONDS = 15
_ACCESS = re.compile(
    r'"(?P<method>[A-Z]+) (?P<path>\S+)" -> (?P<origin>\S+) (?P<status>\d{3}) (?P<bytes>\d+)'
)


def clean_env(**extra: str) -> dict[str, str]:
    """The environment for a client: no index, proxy or config from this machine leaks in."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("PIP_", "UV_", "POETRY_", "AWS_", "PYTHON", "VIRTUAL_ENV"))
    }
    env.update(
        PIP_CONFIG_FILE=os.devnull, PIP_DISABLE_PIP_VERSION_CHECK="1", UV_NO_CONFIG="1", PYTHONUTF8="1"
    )
    env.update(extra)
    return env


def run(
    *args: Any, env: dict[str, str] | None = None, cwd: Path | None = None, timeout: int = 300
) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(a) for a in args],
        env=env or clean_env(),
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


class PortTaken(RuntimeError):
    """The stack's port was taken between picking it and binding it."""


@dataclass
class Stack:
    """`python -m local` started as a user would, on free ports, with its log in a file."""

    workdir: Path
    users: dict[str, str] = field(
        default_factory=lambda: {"alice": "correct:horse:battery", "bob": "hunter2"}
    )
    bucket: str = "pypi-e2e"
    publish: dict[str, list[str]] = field(default_factory=dict)  # user or token name -> globs
    tokens: dict[str, str] = field(default_factory=dict)  # token name -> token
    extra_args: list[str] = field(default_factory=list)  # more `python -m local` options

    def start(self, attempts: int = 3) -> Stack:
        """Start on free ports.  A port free when picked can be taken before the stack binds it
        (by another pytest-xdist worker, say); the stack then exits saying so, and we pick again."""
        for _ in range(attempts - 1):
            try:
                return self._start()
            except PortTaken:
                self._log.close()
        return self._start()

    def _start(self) -> Stack:
        self.port, self.s3_port = free_port(), free_port()
        self.log_path = self.workdir / f"local-stack{'-' + self.bucket if self.extra_args else ''}.log"
        self._log = self.log_path.open("w")
        cmd = [
            sys.executable,
            "-m",
            "local",
            "--port",
            str(self.port),
            "--s3-port",
            str(self.s3_port),
            "--bucket",
            self.bucket,
            "--batch-window",
            "0.2",
        ]
        for user, password in self.users.items():
            cmd += ["--user", f"{user}:{password}"]
        for name, token in self.tokens.items():
            cmd += ["--token", f"{name}={token}"]
        for name, globs in self.publish.items():
            cmd += [arg for glob in globs for arg in ("--publish", f"{name}={glob}")]
        cmd += self.extra_args
        self.proc = subprocess.Popen(
            cmd, cwd=ROOT, stdout=self._log, stderr=subprocess.STDOUT, env=clean_env()
        )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                log = self.log_path.read_text()
                if "is already in use" in log:  # local.stack.PortInUse, printed by python -m local
                    raise PortTaken(log)
                raise RuntimeError(f"local stack exited:\n{log}")
            try:
                urllib.request.urlopen(self.url + "/", timeout=1)
            except urllib.error.HTTPError as exc:
                if exc.code == 401:
                    break
            except OSError:
                pass
            time.sleep(0.2)
        else:
            raise RuntimeError("local stack did not come up")
        self.s3 = boto3.client(
            "s3",
            endpoint_url=f"http://127.0.0.1:{self.s3_port}",
            region_name="us-east-1",
            aws_access_key_id="local",
            aws_secret_access_key="local",
        )
        return self

    def stop(self) -> None:
        self.proc.terminate()
        try:
            # A clean stop joins the worker and the servers (up to 5 s each); on two cores shared
            # with the rest of the suite, 15 s was seen to run out.  A stack that has not exited
            # after a minute is a defect, and the TimeoutExpired says so.
            self.proc.wait(timeout=60)
        finally:
            self._log.close()

    def kill(self) -> None:
        """SIGKILL: no handler runs, nothing is flushed or closed by the stack (a crash)."""
        self.proc.kill()
        try:
            self.proc.wait(timeout=15)
        finally:
            self._log.close()

    def banner(self, timeout: float = 30) -> str:
        """The log up to the end of the banner (printed just after the servers are up)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            text = self.log_path.read_text()
            if "Ctrl-C stops." in text:
                return text
            time.sleep(0.1)
        raise AssertionError(f"no banner after {timeout}s:\n{self.log_path.read_text()}")

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def index_url(self, user: str = "alice", password: str | None = None) -> str:
        password = self.users[user] if password is None else password
        from urllib.parse import quote

        return f"http://{quote(user, safe='')}:{quote(password, safe='')}@127.0.0.1:{self.port}/simple/"

    # --- publishing and waiting ----------------------------------------------------------

    def put(self, filename: str, data: bytes, project: str | None = None) -> str:
        project = project or str(canonicalize_name(re.split(r"-\d", filename, maxsplit=1)[0]))
        key = f"{project}/{filename}"
        self.s3.put_object(Bucket=self.bucket, Key=key, Body=data)
        return key

    def get(
        self,
        path: str,
        *,
        user: str | None = "alice",
        password: str | None = None,
        accept: str | None = None,
        raw: bool = False,
        accept_encoding: str | None = None,
    ):
        """(status, headers, body); the body gzip-decoded like a client's unless `raw`, which
        returns the bytes on the wire.  urllib sends `Accept-Encoding: identity` unless
        `accept_encoding` says otherwise (JSON pages are then the unencoded copy)."""
        req = urllib.request.Request(self.url + path)
        if accept_encoding:
            req.add_header("Accept-Encoding", accept_encoding)
        if user is not None:
            password = self.users[user] if password is None else password
            token = base64.b64encode(f"{user}:{password}".encode()).decode()
            req.add_header("Authorization", f"Basic {token}")
        if accept:
            req.add_header("Accept", accept)
        try:
            with urllib.request.urlopen(req, timeout=10) as resp:
                status, headers, body = resp.status, dict(resp.headers), resp.read()
        except urllib.error.HTTPError as exc:
            status, headers, body = exc.code, dict(exc.headers), exc.read()
        if not raw and headers.get("Content-Encoding") == "gzip":
            body = gzip.decompress(body)
        return status, headers, body

    def get_no_redirect(self, path: str, *, user: str | None = "alice", accept: str | None = None):
        """(status, headers, body) of one request, redirects not followed."""
        import http.client

        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        headers = {"Accept": accept} if accept else {}
        if user is not None:
            token = base64.b64encode(f"{user}:{self.users[user]}".encode()).decode()
            headers["Authorization"] = f"Basic {token}"
        try:
            conn.request("GET", path, headers=headers)
            resp = conn.getresponse()
            body = resp.read()
            if resp.headers.get("Content-Encoding") == "gzip":
                body = gzip.decompress(body)
            return resp.status, dict(resp.headers), body
        finally:
            conn.close()

    def project_files(self, project: str) -> list[dict[str, Any]]:
        status, _, body = self.get(f"/simple/{project}/", accept="application/vnd.pypi.simple.v1+json")
        return json.loads(body)["files"] if status == 200 else []

    def wait_for(self, project: str, predicate, timeout: float = FRESHNESS_SECONDS) -> float:
        """Seconds until predicate(files of project) holds; raises after `timeout`."""
        start = time.monotonic()
        while time.monotonic() - start < timeout:
            if predicate(self.project_files(project)):
                return time.monotonic() - start
            time.sleep(0.1)
        raise AssertionError(f"{project}: not as expected after {timeout}s: {self.project_files(project)}")

    def wait_for_status(self, project: str, status: str, timeout: float = FRESHNESS_SECONDS) -> float:
        """Seconds until the project's JSON page shows the PEP 792 status; raises after `timeout`."""
        start = time.monotonic()
        while time.monotonic() - start < timeout:
            code, _, body = self.get(f"/simple/{project}/", accept="application/vnd.pypi.simple.v1+json")
            if code == 200 and json.loads(body).get("project-status", {}).get("status") == status:
                return time.monotonic() - start
            time.sleep(0.1)
        raise AssertionError(f"{project}: status not {status} after {timeout}s")

    def wait_for_file(self, project: str, filename: str, timeout: float = FRESHNESS_SECONDS) -> float:
        return self.wait_for(project, lambda files: filename in {f["filename"] for f in files}, timeout)

    # --- the access log ------------------------------------------------------------------

    def log_mark(self) -> int:
        self._log.flush()
        return self.log_path.stat().st_size

    def access_since(self, mark: int) -> list[dict[str, str]]:
        time.sleep(0.2)  # let the server flush its last line
        with self.log_path.open() as fh:
            fh.seek(mark)
            return [m.groupdict() for m in map(_ACCESS.search, fh.read().splitlines()) if m]


def said(proc: subprocess.CompletedProcess) -> str:
    """A client's stderr with its line wrapping undone: uv wraps its error report to the
    terminal's width, 80 columns for a process with no terminal (a pytest-xdist worker, CI), so a
    server's message can arrive split across lines at any space."""
    return " ".join(proc.stderr.split())


def fresh_venv(path: Path) -> Path:
    """A new, empty virtualenv; returns its python. Install into it with `pip(...)`."""
    result = run(sys.executable, "-m", "venv", "--without-pip", path)
    assert result.returncode == 0, result.stderr
    return path / "bin" / "python"


def pip(python: Path, *args: Any) -> subprocess.CompletedProcess:
    """The pinned, current pip (requirements-dev.txt) acting on the environment of `python`.

    The interpreter's bundled pip is years older (23.2 here); users run a current one.
    """
    command, *rest = args
    return run(VENV_BIN / "pip", "--python", python, command, *rest, "--no-cache-dir", "--no-input")


def installed(python: Path) -> dict[str, str]:
    result = run(VENV_BIN / "pip", "--python", python, "list", "--format", "json")
    return {
        p["name"].lower().replace("_", "-").replace(".", "-"): p["version"] for p in json.loads(result.stdout)
    }


def poetry_consumer(stack: Stack, tmp_path: Path, dependency: str | list[str], *, user: str, priority: str):
    """A package-less poetry project depending on `dependency` (one or several) from the stack's
    index (source "edge" with `priority`), and the environment that gives poetry `user`'s credentials."""
    project = tmp_path / "consumer"
    project.mkdir()
    deps = ", ".join(json.dumps(d) for d in ([dependency] if isinstance(dependency, str) else dependency))
    (project / "pyproject.toml").write_text(
        f"""[project]
name = "consumer"
version = "0.1.0"
requires-python = ">=3.11"
dependencies = [{deps}]

[tool.poetry]
package-mode = false

[[tool.poetry.source]]
name = "edge"
url = "{stack.url}/simple/"
priority = "{priority}"
"""
    )
    env = clean_env(
        POETRY_HTTP_BASIC_EDGE_USERNAME=user,
        POETRY_HTTP_BASIC_EDGE_PASSWORD=stack.users[user],
        POETRY_CACHE_DIR=str(tmp_path / "poetry-cache"),
        POETRY_CONFIG_DIR=str(tmp_path / "poetry-config"),
        POETRY_VIRTUALENVS_IN_PROJECT="true",
        PYTHON_KEYRING_BACKEND="keyring.backends.null.Keyring",
    )
    return project, env
