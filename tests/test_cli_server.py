"""`python -m indexer` as a separate process over real HTTP, against a moto server (the local stack's S3)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto.server import ThreadedMotoServer

from indexer import cli, publish
from tests.distributions import make_sdist, make_wheel, write

BUCKET = "pypi-cli"
ROOT = Path(__file__).resolve().parent.parent
CREDENTIALS = {"aws_access_key_id": "local", "aws_secret_access_key": "local"}


@pytest.fixture(scope="module")
def endpoint() -> Iterator[str]:
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    url = f"http://{host}:{port}"
    s3 = boto3.client("s3", endpoint_url=url, region_name="us-east-1", **CREDENTIALS)
    s3.create_bucket(Bucket=BUCKET)
    s3.put_bucket_versioning(Bucket=BUCKET, VersioningConfiguration={"Status": "Enabled"})
    yield url
    server.stop()


@pytest.fixture
def s3(endpoint: str) -> Any:
    return boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1", **CREDENTIALS)


def python_m_indexer(
    *argv: str, endpoint: str, cwd: Path, bucket: str = BUCKET
) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "PYPI_EDGE_"))}
    env.update(
        AWS_ACCESS_KEY_ID="local",
        AWS_SECRET_ACCESS_KEY="local",
        AWS_DEFAULT_REGION="us-east-1",
        PYTHONPATH=str(ROOT),
    )
    return subprocess.run(
        [sys.executable, "-m", "indexer", *argv, "--bucket", bucket, "--endpoint-url", endpoint],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_python_m_indexer_uploads_dist_glob_to_a_moto_server(endpoint, s3, tmp_path):
    dist = tmp_path / "dist"
    dist.mkdir()
    # One file above PROGRESS_MIN_BYTES, so its body goes through the progress reader.
    big_name, big, _ = make_wheel("served", "1.0", payload_bytes=publish.PROGRESS_MIN_BYTES + 1)
    write(dist, big_name, big)
    write(dist, *make_sdist("served", "1.0"))

    done = python_m_indexer("upload", "dist/*", endpoint=endpoint, cwd=tmp_path)

    assert done.returncode == 0, done.stderr
    assert "2 file(s): 2 uploaded." in done.stdout
    assert s3.get_object(Bucket=BUCKET, Key=f"served/{big_name}")["Body"].read() == big
    head = s3.head_object(Bucket=BUCKET, Key=f"served/{big_name}", ChecksumMode="ENABLED")
    assert head["ContentType"] == "application/zip" and head["ChecksumSHA256"]

    again = python_m_indexer("upload", "dist/*", endpoint=endpoint, cwd=tmp_path)

    assert again.returncode == 0, again.stderr
    assert "2 file(s): 2 present." in again.stdout


def test_python_m_indexer_reindex_then_list_over_http(endpoint, s3, tmp_path):
    write(tmp_path, *make_wheel("listed", "0.3")[:2])
    assert python_m_indexer("upload", "*.whl", endpoint=endpoint, cwd=tmp_path).returncode == 0

    reindexed = python_m_indexer("reindex", "--project", "listed", endpoint=endpoint, cwd=tmp_path)
    listed = python_m_indexer("list", "listed", endpoint=endpoint, cwd=tmp_path)

    assert reindexed.returncode == 0, reindexed.stderr
    assert listed.returncode == 0, listed.stderr
    lines = listed.stdout.splitlines()
    assert lines[:2] == ["listed: 1 version(s)", "  0.3"]
    assert lines[2].split()[0] == "listed-0.3-py3-none-any.whl"


def test_python_m_indexer_reports_a_missing_bucket_in_one_line(endpoint, tmp_path):
    done = python_m_indexer("list", endpoint=endpoint, cwd=tmp_path, bucket="absent")

    assert done.returncode == cli.EXIT_AWS
    assert done.stderr.startswith("error: bucket 'absent' does not exist")
    assert done.stderr.count("\n") == 1


# --- the upload progress bar over real HTTP ----------------------------------------------------


class RecordingBar:
    """A progress bar that keeps every position it was moved to."""

    def __init__(self, total: int | None, *_: Any, **__: Any) -> None:
        self.total = total
        self.n = 0
        self.positions: list[int] = []

    def update(self, n: int) -> None:
        self.n += n
        self.positions.append(self.n)

    def __enter__(self) -> RecordingBar:
        return self

    def __exit__(self, *exc: object) -> None:
        return None


@pytest.mark.parametrize(
    "multipart", [pytest.param(False, id="single PUT"), pytest.param(True, id="three parts")]
)
def test_upload_progress_only_moves_forward_with_the_bytes_sent(
    endpoint, s3, tmp_path, monkeypatch, multipart
):
    # Over plain HTTP botocore hashes each body for the SigV4 signature, then rewinds it and sends
    # it: counting those reads took the bar to the end and back (0 % -> 65 % -> 37 %).
    if multipart:
        monkeypatch.setattr(publish, "MULTIPART_THRESHOLD", 8 * 1024**2)
        monkeypatch.setattr(publish, "PART_SIZE", 5 * 1024**2)  # S3's (and moto's) smallest part
    bars: list[RecordingBar] = []
    monkeypatch.setattr(
        publish, "progress_bar", lambda *a, **kw: bars.append(RecordingBar(*a, **kw)) or bars[-1]
    )
    for var, value in CREDENTIALS.items():
        monkeypatch.setenv(var.upper(), value)
    name, data, _ = make_wheel(f"progress-{multipart}", "1.0", payload_bytes=11 * 1024**2)
    path = write(tmp_path, name, data)
    at_send: list[tuple[str, int]] = []

    real_client = cli.make_client

    def make_client(args: Any) -> Any:
        client = real_client(args)
        # Where the bar stands as each request body starts on the wire (after signing).
        client.meta.events.register(
            "before-send.s3",
            lambda request, **_: at_send.append((request.method, bars[-1].n)) if bars else None,
        )
        return client

    monkeypatch.setattr(cli, "make_client", make_client)

    code = cli.main(
        ["upload", str(path), "--bucket", BUCKET, "--endpoint-url", endpoint, "--region", "us-east-1"]
    )

    assert code == 0
    (bar,) = bars
    assert bar.total == len(data) and bar.n == len(data)
    assert bar.positions == sorted(bar.positions), "the bar moved backwards"
    part_starts = list(range(0, len(data), publish.PART_SIZE)) if multipart else [0]
    assert [n for method, n in at_send if method == "PUT"] == part_starts  # nothing counted before sending


# --- --endpoint-url pointing somewhere that is not S3 ----------------------------------------


class NotS3(BaseHTTPRequestHandler):
    """Answers every request as the index does without credentials (the CloudFront stand-in)."""

    status = 401

    def _answer(self) -> None:
        self.send_response(self.status)
        self.send_header("WWW-Authenticate", 'Basic realm="pypi-edge"')
        self.send_header("Content-Length", "0")
        self.end_headers()

    do_GET = do_HEAD = do_PUT = do_POST = _answer

    def log_message(self, *args: Any) -> None:
        pass


class NotAllowed(NotS3):
    status = 405  # the upload URL, to anything but its POST


@pytest.fixture(params=[NotS3, NotAllowed], ids=["index URL (401)", "upload URL (405)"])
def not_s3(request: pytest.FixtureRequest) -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), request.param)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


COMMANDS = [pytest.param(["upload", "DIST"], id="upload"), pytest.param(["list"], id="list")]


def _run_against(argv: list[str], endpoint: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> int:
    for var, value in CREDENTIALS.items():
        monkeypatch.setenv(var.upper(), value)
    monkeypatch.setattr(cli, "make_client", _without_retries(cli.make_client))
    dist = str(write(tmp_path, *make_wheel("hello", "1.0")[:2]))
    argv = [dist if a == "DIST" else a for a in argv]
    return cli.main([*argv, "--bucket", BUCKET, "--endpoint-url", endpoint, "--region", "us-east-1"])


def _without_retries(make_client: Any) -> Any:
    # botocore retries a refused connection with backoff (seconds); the first failure is the answer.
    def make(args: Any) -> Any:
        client = make_client(args)
        client.meta.events.unregister("needs-retry.s3", unique_id="retry-config-s3")
        return client

    return make


@pytest.mark.parametrize("argv", COMMANDS)
def test_an_endpoint_that_is_not_s3_is_named_without_the_key_that_was_read(
    argv, not_s3, tmp_path, monkeypatch, capsys
):
    assert _run_against(argv, not_s3 + "/simple/", tmp_path, monkeypatch) == cli.EXIT_AWS

    err = capsys.readouterr().err
    assert err.startswith(f"error: {not_s3} is not S3: it answered ") and err.count("\n") == 1
    assert cli.ENDPOINT_HINT in err
    assert ".project-status" not in err and "index.json" not in err and BUCKET not in err


@pytest.mark.parametrize("argv", COMMANDS)
def test_an_endpoint_nobody_listens_on_is_named_without_the_key_that_was_read(
    argv, tmp_path, monkeypatch, capsys
):
    with socket.socket() as bound:  # bound, not listening: connections are refused, the port stays ours
        bound.bind(("127.0.0.1", 0))
        closed = f"http://127.0.0.1:{bound.getsockname()[1]}"

        assert _run_against(argv, closed, tmp_path, monkeypatch) == cli.EXIT_AWS

    err = capsys.readouterr().err
    assert err == f"error: could not connect to S3 at {closed}: {cli.ENDPOINT_HINT}\n"
