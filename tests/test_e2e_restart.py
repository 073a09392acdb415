"""End to end (issue #22, item 2): `python -m local --data-dir DIR` keeps the index across restarts.

Publish, stop, start: pip installs without publishing again, and no page is rebuilt (the pages
were kept; their ETags are unchanged).  Kill the stack (SIGKILL) right after S3 acknowledged an
upload that the indexer had not run on yet: the next start keeps the file, rebuilds that one
project (it was pending, local/datadir.py), and pip installs it.  A second stack on a data dir
in use is refused.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from tests.distributions import make_sdist, make_wheel
from tests.e2e import Stack, fresh_venv, installed, pip
from tests.test_e2e_clients import cli

pytestmark = pytest.mark.e2e

BUCKET = "pypi-restart"
JSON = "application/vnd.pypi.simple.v1+json"


def stack(tmp_path: Path, *args: str) -> Stack:
    return Stack(workdir=tmp_path, bucket=BUCKET, extra_args=["--data-dir", str(tmp_path / "data"), *args])


def pending(tmp_path: Path) -> list[Path]:
    return sorted((tmp_path / "data" / "s3" / BUCKET / "pending").glob("*.json"))


def wait_until_indexed(tmp_path: Path, timeout: float = 15) -> None:
    """Until the worker has settled every change (nothing would be rebuilt at the next start)."""
    deadline = time.monotonic() + timeout
    while pending(tmp_path):
        assert time.monotonic() < deadline, [p.read_text() for p in pending(tmp_path)]
        time.sleep(0.1)


def etags(e2e: Stack, project: str) -> dict[str, str]:
    """The stored pages' versions, read from S3: whether a page was rebuilt, whatever the
    CloudFront stand-in's cache of the first stack may still have held."""
    out = {}
    for key in ("index.html", "index.json", "index.identity.json"):
        head = e2e.s3.head_object(Bucket=BUCKET, Key=f"{project}/{key}")
        out[key] = f"{head['ETag']} {head.get('VersionId')}"
    return out


def test_a_restarted_stack_serves_what_was_published_and_rebuilds_no_page(tmp_path):
    first = stack(tmp_path).start()
    try:
        paths = []
        for version in ("1.0", "2.0"):
            filename, data, _ = make_wheel("edgetest-kept", version)
            paths.append(tmp_path / filename)
            paths[-1].write_bytes(data)
        sdist_name, sdist = make_sdist("edgetest-kept", "2.0")
        (tmp_path / sdist_name).write_bytes(sdist)
        assert cli(first, "upload", "--no-progress", *paths, tmp_path / sdist_name).returncode == 0
        assert cli(first, "yank", "edgetest-kept", "2.0", "--reason", "broken").returncode == 0
        first.wait_for("edgetest-kept", lambda got: [f["yanked"] for f in got] == [False, "broken", "broken"])
        wait_until_indexed(tmp_path)
        before = etags(first, "edgetest-kept")
        other = stack(tmp_path)  # one stack per data dir
        other.workdir = tmp_path / "other"
        other.workdir.mkdir()
        with pytest.raises(RuntimeError, match="in use by another local stack"):
            other.start()
    finally:
        first.stop()

    second = stack(tmp_path).start()
    try:
        banner = second.banner()
        assert f"{tmp_path / 'data'} (kept across restarts;" in banner
        assert "rebuilt the pages" not in banner
        assert etags(second, "edgetest-kept") == before  # the same pages, not rebuilt ones
        for accept in ("text/html", JSON):  # and the stack serves them
            assert second.get("/simple/edgetest-kept/", accept=accept)[0] == 200
        venv = fresh_venv(tmp_path / "venv")
        result = pip(venv, "install", "--index-url", second.index_url(), "edgetest-kept")
        assert result.returncode == 0, result.stderr
        assert installed(venv)["edgetest-kept"] == "1.0"  # 2.0 is still yanked
    finally:
        second.stop()


def test_an_upload_acknowledged_before_a_sigkill_is_kept_and_indexed_at_the_next_start(tmp_path):
    filename, data, _ = make_wheel("edgetest-crash", "1.0")
    # A long batch window: the worker holds the upload's event when the stack is killed.
    first = stack(tmp_path, "--batch-window", "120").start()
    try:
        version = first.s3.put_object(Bucket=BUCKET, Key=f"edgetest-crash/{filename}", Body=data)["VersionId"]
    finally:
        first.kill()
    assert len(pending(tmp_path)) == 1

    second = stack(tmp_path).start()
    try:
        assert "rebuilt the pages of edgetest-crash, changed before the last stop" in second.banner()
        assert [f["filename"] for f in second.project_files("edgetest-crash")] == [filename]
        got = second.s3.get_object(Bucket=BUCKET, Key=f"edgetest-crash/{filename}")
        assert (got["Body"].read(), got["VersionId"]) == (data, version)
        assert pending(tmp_path) == []
        venv = fresh_venv(tmp_path / "venv")
        result = pip(venv, "install", "--index-url", second.index_url(), "edgetest-crash")
        assert result.returncode == 0, result.stderr
    finally:
        second.stop()


def test_ephemeral_wins_over_a_data_dir_and_writes_nothing(tmp_path):
    e2e = stack(tmp_path, "--ephemeral").start()
    try:
        assert "data       in memory: everything is lost at exit" in e2e.banner()
    finally:
        e2e.stop()
    assert not (tmp_path / "data").exists()
