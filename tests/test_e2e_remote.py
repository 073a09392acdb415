"""Issue 20: publishers with index credentials only: large files, yank, status and list over HTTPS.

One local stack for this module, with an API token scoped to `acme-*` (the `pypi-edge` CLI and
raw requests to the `/_/cli/*` routes through the CloudFront stand-in), presigned PUTs to the
local S3 (which enforces what S3 enforces, local/s3rules.py), and pip installing the result.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import io
import json
import os
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from indexer.cli import main as cli_main
from local import aws
from tests.bucket_state import gained, snapshot
from tests.distributions import make_wheel, write
from tests.e2e import ROOT, Stack, clean_env
from tests.upload_helpers import presigned_put as put
from upload import remote
from upload.remote import presign_client

TOKEN = "pypi-edge-" + "A" * 43


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Any:
    workdir = tmp_path_factory.mktemp("remote")
    s = Stack(
        workdir=workdir,
        bucket="pypi-remote",
        tokens={"acme": TOKEN},
        publish={"acme": ["acme-*"], "alice": ["*"]},
    ).start()
    # Another project, published by an administrator, that the token may not touch.
    filename, data, _ = make_wheel("other-lib", "1.0")
    s.put(filename, data)
    s.wait_for_file("other-lib", filename)
    yield s
    s.stop()


@dataclass
class Ran:
    returncode: int
    stdout: str
    stderr: str


def cli(stack: Stack, *args: str, token: str = TOKEN) -> Ran:
    """`pypi-edge ARGS --index-url <stack>` in this process (so coverage sees indexer/remote.py),
    with only the token in the environment: no AWS credentials, no bucket."""
    extra = ["--no-progress"] if args[0] == "upload" else []
    out, err = io.StringIO(), io.StringIO()
    saved = {k: os.environ.pop(k) for k in list(os.environ) if k.startswith(("AWS_", "PYPI_EDGE_"))}
    os.environ["PYPI_EDGE_TOKEN"] = token
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            code = cli_main([*args, "--index-url", stack.url + "/", *extra])
    finally:
        os.environ.pop("PYPI_EDGE_TOKEN", None)
        os.environ.update(saved)
    return Ran(code, out.getvalue(), err.getvalue())


def call(stack: Stack, route: str, doc: dict[str, Any], token: str = TOKEN) -> tuple[int, dict[str, Any]]:
    auth = base64.b64encode(f"__token__:{token}".encode()).decode()
    request = urllib.request.Request(
        f"{stack.url}/_/cli/{route}",
        data=json.dumps(doc).encode(),
        method="POST",
        headers={
            "Authorization": f"Basic {auth}",
            "Content-Type": "application/json",
            "Accept": "application/json",
        },
    )
    try:
        with urllib.request.urlopen(request, timeout=60) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def stage_doc(filename: str, data: bytes) -> dict[str, Any]:
    return {"filename": filename, "size": len(data), "sha256": hashlib.sha256(data).hexdigest()}


def listed(stack: Stack, project: str) -> set[str]:
    try:
        return {f["filename"] for f in stack.project_files(project)}
    except urllib.error.HTTPError:
        return set()


def test_a_100_mb_wheel_goes_through_the_cli_with_a_token_and_pip_installs_it(stack, tmp_path):
    filename, data, _ = make_wheel("acme-big", "1.0", payload_bytes=100 * 1024 * 1024)
    path = write(tmp_path, filename, data)

    result = cli(stack, "upload", str(path))

    assert result.returncode == 0, result.stderr
    assert f"uploaded         {stack.url}/acme-big/{filename}" in result.stdout
    assert filename in listed(stack, "acme-big")  # rebuilt before the finish answered
    head = stack.s3.head_object(Bucket=stack.bucket, Key=f"acme-big/{filename}", ChecksumMode="ENABLED")
    assert base64.b64decode(head["ChecksumSHA256"]).hex() == hashlib.sha256(data).hexdigest()
    assert not stack.s3.list_objects_v2(Bucket=stack.bucket, Prefix="_staging/").get("Contents")
    target = tmp_path / "site"
    pip = subprocess.run(
        [sys.executable, "-m", "pip", "install", "--no-deps", "--target", str(target),
         "--index-url", stack.index_url(), "acme-big==1.0"],
        env=clean_env(), capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert pip.returncode == 0, pip.stderr
    assert (target / "acme_big" / "payload.bin").stat().st_size == 100 * 1024 * 1024
    # A re-run sends nothing: the stage answers "present" before any URL.
    again = cli(stack, "upload", str(path))
    assert again.returncode == 0 and "already present" in again.stdout


def test_another_projects_file_is_refused_before_any_url_is_handed_out(stack, tmp_path):
    filename, data, _ = make_wheel("other-lib", "2.0")
    before = snapshot(stack.s3, stack.bucket)

    status, reply = call(stack, "stage", stage_doc(filename, data))
    result = cli(stack, "upload", str(write(tmp_path, filename, data)))

    assert status == 403 and "may not publish to project 'other-lib'" in reply["message"]
    assert "url" not in reply
    assert result.returncode == 1 and "may not publish to project 'other-lib'" in result.stderr
    assert gained(stack.s3, stack.bucket, before) == []


def test_tampered_staged_bytes_are_refused_and_never_listed(stack):
    filename, data, _ = make_wheel("acme-tamper", "1.0")
    status, staged = call(stack, "stage", stage_doc(filename, data))
    assert status == 200
    assert put(staged["url"], staged["headers"], data)[0] == 200
    # Someone with bucket access swaps the staged bytes (a valid wheel of the same name).
    _, other, _ = make_wheel("acme-tamper", "1.0", summary="Evil")
    stack.s3.put_object(Bucket=stack.bucket, Key=staged["key"], Body=other, ChecksumAlgorithm="SHA256")

    status, reply = call(stack, "finish", {"key": staged["key"]})

    assert status == 400 and "not the ones announced" in reply["message"]
    assert "acme-tamper/" + filename not in {
        o["Key"] for o in stack.s3.list_objects_v2(Bucket=stack.bucket).get("Contents", [])
    }
    assert listed(stack, "acme-tamper") == set()


def test_bytes_other_than_the_signed_checksum_are_refused_by_s3(stack):
    filename, data, _ = make_wheel("acme-digest", "1.0")
    _, staged = call(stack, "stage", stage_doc(filename, data))

    status, body = put(staged["url"], staged["headers"], data[:-1] + b"\1")

    assert status == 400 and "BadDigest" in body
    assert call(stack, "finish", {"key": staged["key"]})[0] == 404


def test_a_url_without_its_signed_headers_is_refused_by_s3(stack):
    filename, data, _ = make_wheel("acme-headers", "1.0")
    _, staged = call(stack, "stage", stage_doc(filename, data))

    status, body = put(staged["url"], {"Content-Type": "application/octet-stream"}, data)

    assert status == 403 and "SignatureDoesNotMatch" in body


def test_finish_without_a_put_and_a_second_finish_are_404(stack):
    filename, data, _ = make_wheel("acme-twice", "1.0")
    _, staged = call(stack, "stage", stage_doc(filename, data))
    before = snapshot(stack.s3, stack.bucket, "acme-twice/")
    # While staged, the URL creates its key once: a second PUT is S3's 412.

    assert call(stack, "finish", {"key": staged["key"]})[0] == 404
    assert gained(stack.s3, stack.bucket, before, "acme-twice/") == []
    assert put(staged["url"], staged["headers"], data)[0] == 200
    assert put(staged["url"], staged["headers"], data)[0] == 412
    assert call(stack, "finish", {"key": staged["key"]})[0] == 200
    status, reply = call(stack, "finish", {"key": staged["key"]})

    assert status == 404 and "nothing is staged" in reply["message"]


def test_an_expired_url_is_refused_and_nothing_is_published(stack):
    filename, data, _ = make_wheel("acme-late", "1.0")
    _, staged = call(stack, "stage", stage_doc(filename, data))
    # The function's URL lasts an hour; the same URL, signed by the same (local) credentials for
    # the same key and headers but valid 1 s, stands in for it an hour later.
    params = parse_qs(urlsplit(staged["url"]).query)
    assert params["X-Amz-Expires"] == [str(remote.URL_SECONDS)]
    late = presign_client(
        aws.REGION, f"http://127.0.0.1:{stack.s3_port}", **aws.CREDENTIALS
    ).generate_presigned_url(
        "put_object",
        Params={
            "Bucket": stack.bucket,
            "Key": staged["key"],
            "IfNoneMatch": "*",
            "ChecksumSHA256": staged["headers"]["x-amz-checksum-sha256"],
            "ContentLength": len(data),
            "ContentType": "application/octet-stream",
        },
        ExpiresIn=1,
    )
    time.sleep(2.1)

    status, body = put(late, staged["headers"], data)

    assert status == 403 and "Request has expired" in body
    assert call(stack, "finish", {"key": staged["key"]})[0] == 404
    assert listed(stack, "acme-late") == set()


def test_yank_unyank_status_and_list_with_the_token(stack, tmp_path):
    filename, data, _ = make_wheel("acme-ops", "2.0")
    assert cli(stack, "upload", str(write(tmp_path, filename, data))).returncode == 0

    yank = cli(stack, "yank", "acme-ops", "2.0", "--reason", "broken build")
    assert yank.returncode == 0, yank.stderr
    stack.wait_for("acme-ops", lambda files: files and files[0].get("yanked") == "broken build")
    listing = cli(stack, "list", "acme-ops")
    assert "yanked: broken build" in listing.stdout and filename in listing.stdout

    assert cli(stack, "unyank", "acme-ops", "2.0").returncode == 0
    stack.wait_for("acme-ops", lambda files: files and files[0].get("yanked") is False)

    status = cli(stack, "status", "acme-ops", "deprecated", "--reason", "use acme-new")
    assert status.returncode == 0 and "active -> deprecated" in status.stdout
    stack.wait_for_status("acme-ops", "deprecated")
    projects = cli(stack, "list")
    assert "acme-ops" in projects.stdout and "other-lib" not in projects.stdout  # only its globs
    assert stack.s3.get_object(Bucket=stack.bucket, Key="acme-ops/.project-status")["Body"].read()


@pytest.mark.parametrize(
    ("command", "args"),
    [
        ("yank", ["other-lib", "1.0", "--reason", "x"]),
        ("unyank", ["other-lib", "1.0"]),
        ("status", ["other-lib", "archived"]),
        ("list", ["other-lib"]),
    ],
)
def test_changes_outside_the_tokens_globs_are_refused(stack, command, args):
    before = snapshot(stack.s3, stack.bucket)

    result = cli(stack, command, *args)

    assert result.returncode == 1
    assert "403 'acme' may not publish to project 'other-lib'" in result.stderr
    assert gained(stack.s3, stack.bucket, before) == []


def test_delete_stays_an_administrators_command(stack):
    result = cli(stack, "delete", "acme-ops", "2.0")

    assert result.returncode == 2 and "administrator's command" in result.stderr


def test_cli_help_names_the_index_options():
    out = subprocess.run(
        [sys.executable, "-m", "indexer", "yank", "--help"], cwd=ROOT, capture_output=True, text=True
    ).stdout
    assert "--index-url" in out and "--password-stdin" in out
