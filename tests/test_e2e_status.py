"""End to end: PEP 792 status markers set with the CLI, read by uv and pip through the local stack.

uv parses the markers (astral-sh/uv#17311, in the pinned uv) but prints no warning for archived or
deprecated projects yet (astral-sh/uv#15254 is open); pip does not read them yet (pypa/pip#14046
is open).  What a user sees is therefore the index semantics: archived and deprecated projects
install, a quarantined one offers nothing to install, and it installs again once set active.
"""

from __future__ import annotations

import json
import sys

import pytest

from tests.distributions import make_wheel
from tests.e2e import VENV_BIN, clean_env, fresh_venv, installed, pip, run
from tests.test_e2e_clients import cli

pytestmark = pytest.mark.e2e

UV_ENV = clean_env(UV_NO_CACHE="1", UV_PYTHON_DOWNLOADS="never")


def publish_with_status(e2e, tmp_path, name: str, status: str, reason: str) -> str:
    filename, data, _ = make_wheel(name, "1.0")
    (tmp_path / filename).write_bytes(data)
    assert cli(e2e, "upload", "--no-progress", tmp_path / filename).returncode == 0
    e2e.wait_for_file(name, filename)
    set_status(e2e, name, status, reason)
    return filename


def set_status(e2e, name: str, status: str, reason: str = "") -> None:
    result = cli(e2e, "status", name, status, *(["--reason", reason] if reason else []))
    assert result.returncode == 0, result.stdout + result.stderr
    e2e.wait_for_status(name, status)


def uv_install(e2e, tmp_path, name: str):
    venv = tmp_path / "uvenv"
    if not venv.exists():
        assert run(VENV_BIN / "uv", "venv", "--python", sys.executable, venv, env=UV_ENV).returncode == 0
    return run(
        VENV_BIN / "uv", "pip", "install", "--python", venv / "bin" / "python",
        "--index-url", e2e.index_url(), name, env=UV_ENV,
    )  # fmt: skip


@pytest.mark.parametrize("status", ["archived", "deprecated"])
def test_uv_reads_the_marked_json_page_and_installs_an_archived_or_deprecated_project(e2e, tmp_path, status):
    name = f"edgetest-status-{status}"
    publish_with_status(e2e, tmp_path, name, status, f"{status}: use edgetest-dep")
    mark = e2e.log_mark()

    result = uv_install(e2e, tmp_path, name)

    assert result.returncode == 0, result.stdout + result.stderr
    # uv negotiated the PEP 691 JSON page, the one that carries the project-status object.
    assert (f"/simple/{name}/", f"/{name}/index.json", "200") in [
        (a["path"], a["origin"], a["status"]) for a in e2e.access_since(mark)
    ]
    page = json.loads(e2e.get(f"/simple/{name}/", accept="application/vnd.pypi.simple.v1+json")[2])
    assert page["project-status"] == {"status": status, "reason": f"{status}: use edgetest-dep"}


def test_a_quarantined_project_installs_with_neither_uv_nor_pip_and_comes_back_when_active(e2e, tmp_path):
    name = "edgetest-status-quarantined"
    filename = publish_with_status(e2e, tmp_path, name, "quarantined", "malware in 1.0")

    by_uv = uv_install(e2e, tmp_path, name)
    assert by_uv.returncode != 0
    assert f"there are no versions of {name}" in by_uv.stderr
    venv = fresh_venv(tmp_path / "venv")
    by_pip = pip(venv, "install", "--index-url", e2e.index_url(), name)
    assert by_pip.returncode != 0
    assert f"No matching distribution found for {name}" in by_pip.stderr
    # The HTML page says why, for people and for HTML-only clients.
    html = e2e.get(f"/simple/{name}/", accept="text/html")[2].decode()
    assert '<meta name="pypi:project-status" content="quarantined">' in html
    assert '<meta name="pypi:project-status-reason" content="malware in 1.0">' in html
    assert filename not in html

    set_status(e2e, name, "active")

    again = uv_install(e2e, tmp_path, name)
    assert again.returncode == 0, again.stdout + again.stderr
    assert pip(venv, "install", "--index-url", e2e.index_url(), name).returncode == 0
    assert installed(venv)[name] == "1.0"


def test_the_cli_refuses_an_upload_to_an_archived_project(e2e, tmp_path):
    name = "edgetest-status-frozen"
    publish_with_status(e2e, tmp_path, name, "archived", "")
    filename, data, _ = make_wheel(name, "2.0")
    (tmp_path / filename).write_bytes(data)

    result = cli(e2e, "upload", "--no-progress", tmp_path / filename)

    assert result.returncode == 1
    assert result.stderr.startswith(f"error: {name} is archived: PEP 792 forbids new uploads to it")
    assert [f["filename"] for f in e2e.project_files(name)] == [
        f"{name.replace('-', '_')}-1.0-py3-none-any.whl"
    ]
