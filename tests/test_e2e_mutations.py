"""End to end (issue #24): every change to the bucket reaches the pages people and pip read.

For each CLI command that changes a project (`upload`, `yank`, `unyank`, `delete` of a version
with one file and of one with two, `status`) and for a real S3 client (s3cmd: `put` and `rm` of a
distribution and of a `.yanked` marker), the project page served through the CloudFront stand-in
and its cache, in HTML and in JSON, shows the change within the bound the CLI prints ("within
seconds": `FRESHNESS_SECONDS`), and pip agrees.  Each page is read once before the change, so a
cached copy that the indexer failed to invalidate would show.

Before local/s3front.py, `delete`, `unyank`, `status … active` and `s3cmd rm` never reached the
pages: moto sent no event for the delete markers they create (the page kept a deleted file and a
lifted yank; the tests below timed out on the old page).
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest
from pypi_simple import ProjectPage

from indexer.cli import PAGES_NOTE
from tests.distributions import make_sdist, make_wheel
from tests.e2e import FRESHNESS_SECONDS, VENV_BIN, clean_env, fresh_venv, pip, run
from tests.test_e2e_clients import cli

pytestmark = pytest.mark.e2e

JSON = "application/vnd.pypi.simple.v1+json"


def served(e2e, project: str) -> tuple[dict[str, str | None], ...]:
    """{filename: yank reason or None} from the HTML page, and from the JSON page.

    While a rebuild runs they may differ for a moment (it writes the HTML, then the JSON)."""
    pages = []
    for accept in ("text/html", JSON):
        status, _, body = e2e.get(f"/simple/{project}/", accept=accept)
        if status == 404:
            pages.append({})
            continue
        assert status == 200, (status, body)
        url = e2e.url + f"/simple/{project}/"
        if accept == JSON:
            page = ProjectPage.from_json_data(json.loads(body), url)
        else:
            page = ProjectPage.from_html(project, body.decode(), url)
        pages.append({p.filename: (p.yanked_reason or "") if p.is_yanked else None for p in page.packages})
    return tuple(pages)


def until(e2e, project: str, expected: dict[str, str | None]) -> float:
    """Seconds until both pages show `expected`; fails after the bound the CLI prints."""
    start = time.monotonic()
    while True:
        got = served(e2e, project)
        if got == (expected, expected):
            return time.monotonic() - start
        if time.monotonic() - start > FRESHNESS_SECONDS:
            raise AssertionError(f"{project} after {FRESHNESS_SECONDS}s: {got}, expected {expected}")
        time.sleep(0.1)


def publish(e2e, project: str, *files: tuple[str, bytes]) -> dict[str, str | None]:
    for filename, data in files:
        e2e.s3.put_object(Bucket=e2e.bucket, Key=f"{project}/{filename}", Body=data)
    expected = {filename: None for filename, _ in files}
    until(e2e, project, expected)
    return expected


def resolve(e2e, venv: Path, requirement: str) -> str | None:
    """The version pip picks for `requirement` from this index (resolving only), or None."""
    result = pip(venv, "install", "--dry-run", "--index-url", e2e.index_url(), requirement)
    if result.returncode != 0:
        assert "No matching distribution found" in result.stderr, result.stderr
        return None
    [line] = [x for x in result.stdout.splitlines() if x.startswith("Would install")]
    return line.rsplit("-", 1)[1]


def s3cmd(e2e, tmp_path: Path, *args: Any) -> None:
    config = tmp_path / "s3cfg"
    endpoint = f"127.0.0.1:{e2e.s3_port}"
    config.write_text(
        "[default]\naccess_key = local\nsecret_key = local\nuse_https = False\n"
        f"host_base = {endpoint}\nhost_bucket = {endpoint}\nbucket_location = us-east-1\n"
    )
    result = run(VENV_BIN / "s3cmd", "--config", config, *args, env=clean_env(HOME=str(tmp_path)))
    assert result.returncode == 0, result.stdout + result.stderr


def changed_by_cli(e2e, *args: Any) -> None:
    result = cli(e2e, *args)
    assert result.returncode == 0, result.stdout + result.stderr
    assert PAGES_NOTE in result.stdout  # the bound the tests hold the pages to


@pytest.fixture
def venv(tmp_path):
    return fresh_venv(tmp_path / "venv")


def wheel(project: str, version: str) -> tuple[str, bytes]:
    filename, data, _ = make_wheel(project, version)
    return filename, data


def test_cli_upload_is_served_and_installed(e2e, venv, tmp_path):
    filename, data = wheel("edgetest-mut-upload", "1.0")
    (tmp_path / filename).write_bytes(data)
    assert served(e2e, "edgetest-mut-upload") == ({}, {})

    changed_by_cli(e2e, "upload", "--no-progress", tmp_path / filename)

    until(e2e, "edgetest-mut-upload", {filename: None})
    result = pip(venv, "install", "--index-url", e2e.index_url(), "edgetest-mut-upload")
    assert result.returncode == 0, result.stderr


def test_cli_yank_then_unyank_reach_the_pages_and_pip(e2e, venv):
    one, two = wheel("edgetest-mut-yank", "1.0"), wheel("edgetest-mut-yank", "2.0")
    files = publish(e2e, "edgetest-mut-yank", one, two)

    changed_by_cli(e2e, "yank", "edgetest-mut-yank", "2.0", "--reason", "broken")

    until(e2e, "edgetest-mut-yank", files | {two[0]: "broken"})
    assert resolve(e2e, venv, "edgetest-mut-yank") == "1.0"  # PEP 592: skipped unless pinned
    assert resolve(e2e, venv, "edgetest-mut-yank==2.0") == "2.0"

    changed_by_cli(e2e, "unyank", "edgetest-mut-yank", "2.0")

    until(e2e, "edgetest-mut-yank", files)
    assert resolve(e2e, venv, "edgetest-mut-yank") == "2.0"


def test_cli_delete_of_a_version_with_one_file(e2e, venv):
    one, two = wheel("edgetest-mut-del1", "1.0"), wheel("edgetest-mut-del1", "2.0")
    publish(e2e, "edgetest-mut-del1", one, two)

    changed_by_cli(e2e, "delete", "edgetest-mut-del1", "2.0", "--yes")

    until(e2e, "edgetest-mut-del1", {one[0]: None})
    assert resolve(e2e, venv, "edgetest-mut-del1==2.0") is None
    assert resolve(e2e, venv, "edgetest-mut-del1") == "1.0"


def test_cli_delete_of_a_whole_version_and_of_the_last_one(e2e, venv):
    one = wheel("edgetest-mut-delall", "1.0")
    sdist = make_sdist("edgetest-mut-delall", "1.0")
    publish(e2e, "edgetest-mut-delall", one, sdist)

    changed_by_cli(e2e, "delete", "edgetest-mut-delall", "1.0", "--yes")

    until(e2e, "edgetest-mut-delall", {})  # no file left: the page is gone (404), as on PyPI
    assert resolve(e2e, venv, "edgetest-mut-delall") is None
    root = json.loads(e2e.get("/simple/", accept=JSON)[2])
    assert "edgetest-mut-delall" not in {p["name"] for p in root["projects"]}


def test_cli_status_quarantined_then_active_reach_the_pages_and_pip(e2e, venv):
    one = wheel("edgetest-mut-status", "1.0")
    files = publish(e2e, "edgetest-mut-status", one)

    changed_by_cli(e2e, "status", "edgetest-mut-status", "quarantined", "--reason", "malware")

    until(e2e, "edgetest-mut-status", {})  # PEP 792: a quarantined project offers no file
    assert resolve(e2e, venv, "edgetest-mut-status") is None

    changed_by_cli(e2e, "status", "edgetest-mut-status", "active")  # removes the marker

    until(e2e, "edgetest-mut-status", files)
    assert resolve(e2e, venv, "edgetest-mut-status") == "1.0"


def test_s3cmd_put_and_rm_of_a_distribution(e2e, venv, tmp_path):
    one, two = wheel("edgetest-mut-s3", "1.0"), wheel("edgetest-mut-s3", "2.0")
    files = publish(e2e, "edgetest-mut-s3", one)
    (tmp_path / two[0]).write_bytes(two[1])

    s3cmd(e2e, tmp_path, "put", tmp_path / two[0], f"s3://{e2e.bucket}/edgetest-mut-s3/{two[0]}")

    until(e2e, "edgetest-mut-s3", files | {two[0]: None})
    assert resolve(e2e, venv, "edgetest-mut-s3") == "2.0"

    s3cmd(e2e, tmp_path, "rm", f"s3://{e2e.bucket}/edgetest-mut-s3/{two[0]}")

    until(e2e, "edgetest-mut-s3", files)
    assert resolve(e2e, venv, "edgetest-mut-s3==2.0") is None


def test_s3cmd_put_and_rm_of_a_yank_marker(e2e, venv, tmp_path):
    one, two = wheel("edgetest-mut-s3yank", "1.0"), wheel("edgetest-mut-s3yank", "2.0")
    files = publish(e2e, "edgetest-mut-s3yank", one, two)
    (tmp_path / "reason").write_text("do not use")
    marker = f"s3://{e2e.bucket}/edgetest-mut-s3yank/{two[0]}.yanked"

    s3cmd(e2e, tmp_path, "put", tmp_path / "reason", marker)

    until(e2e, "edgetest-mut-s3yank", files | {two[0]: "do not use"})
    assert resolve(e2e, venv, "edgetest-mut-s3yank") == "1.0"

    s3cmd(e2e, tmp_path, "rm", marker)

    until(e2e, "edgetest-mut-s3yank", files)
    assert resolve(e2e, venv, "edgetest-mut-s3yank") == "2.0"
