"""End to end: the local stack and real clients (pip, uv, poetry) installing what was uploaded."""

from __future__ import annotations

import json
import sys

import pytest

from tests.distributions import make_sdist, make_wheel
from tests.e2e import FRESHNESS_SECONDS, VENV_BIN, clean_env, fresh_venv, installed, pip, poetry_consumer, run

pytestmark = pytest.mark.e2e


@pytest.fixture
def venv(tmp_path):
    return fresh_venv(tmp_path / "venv")


def test_pip_installs_a_local_version_and_resolves_its_dependency(e2e, venv):
    result = pip(venv, "install", "--index-url", e2e.index_url(), "EdgeTest_Hello.World")
    assert result.returncode == 0, result.stdout + result.stderr
    got = installed(venv)
    assert got["edgetest-hello-world"] == "1.0+local"
    assert got["edgetest-dep"] == "1.2"
    # The module inside the wheel really is importable.
    imported = run(venv, "-c", "import edgetest_hello_world as m; print(m.__version__)")
    assert imported.stdout.strip() == "1.0+local"


def test_pip_works_with_extra_index_url(e2e, venv):
    result = pip(venv, "install", "--extra-index-url", e2e.index_url(user="bob"), "edgetest-dep==1.0")
    assert result.returncode == 0, result.stdout + result.stderr
    assert installed(venv)["edgetest-dep"] == "1.0"


def test_pip_download_fetches_pep_658_metadata(e2e, venv, tmp_path):
    mark = e2e.log_mark()
    result = pip(
        venv,
        "download",
        "--no-deps",
        "-d",
        tmp_path / "dl",
        "--index-url",
        e2e.index_url(),
        "edgetest-dep==1.2",
    )
    assert result.returncode == 0, result.stdout + result.stderr
    paths = [(a["path"], a["status"]) for a in e2e.access_since(mark)]
    assert ("/simple/edgetest-dep/edgetest_dep-1.2-py3-none-any.whl.metadata", "200") in paths
    assert ("/simple/edgetest-dep/edgetest_dep-1.2-py3-none-any.whl", "200") in paths


def test_pip_dry_run_resolves_from_metadata_alone(e2e, venv):
    mark = e2e.log_mark()
    result = pip(venv, "install", "--dry-run", "--index-url", e2e.index_url(), "EdgeTest_Hello.World")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "edgetest-dep-1.2" in result.stdout.replace("_", "-").lower()
    fetched = [a["path"] for a in e2e.access_since(mark)]
    assert any(p.endswith(".whl.metadata") for p in fetched)
    assert not any(p.endswith((".whl", ".tar.gz")) for p in fetched), fetched


def test_pip_skips_a_version_whose_requires_python_excludes_it(e2e, venv):
    result = pip(venv, "install", "--index-url", e2e.index_url(), "edgetest-modern")
    assert result.returncode == 0, result.stdout + result.stderr
    assert installed(venv)["edgetest-modern"] == "1.0"


def test_pip_without_credentials_fails_and_the_edge_said_401(e2e, venv):
    mark = e2e.log_mark()
    result = pip(venv, "install", "-vv", "--index-url", e2e.url + "/simple/", "edgetest-dep")
    assert result.returncode != 0
    # Interactive pip would prompt for a user; with --no-input it says so at -vv.
    assert "401 Client Error: Unauthorized" in result.stdout + result.stderr
    assert {a["status"] for a in e2e.access_since(mark)} == {"401"}


def test_pip_with_a_wrong_password_fails_with_401(e2e, venv):
    result = pip(venv, "install", "--index-url", e2e.index_url(password="wrong"), "edgetest-dep")
    assert result.returncode != 0
    assert "401 Error, Credentials not correct" in result.stdout + result.stderr


def test_http_without_credentials_gets_a_basic_challenge_on_any_path(e2e):
    for path in ("/", "/simple/", "/simple/edgetest-dep/", "/simple/no-such-project/", "/edgetest-dep/x.whl"):
        status, headers, _ = e2e.get(path, user=None)
        assert status == 401
        assert headers["WWW-Authenticate"].startswith("Basic realm=")


def test_uv_installs_with_credentials_in_the_url(e2e, tmp_path):
    uv = VENV_BIN / "uv"
    env = clean_env(UV_NO_CACHE="1", UV_PYTHON_DOWNLOADS="never")
    assert run(uv, "venv", "--python", sys.executable, tmp_path / "uvenv", env=env).returncode == 0
    result = run(
        uv, "pip", "install", "--python", tmp_path / "uvenv" / "bin" / "python",
        "--index-url", e2e.index_url(), "EdgeTest_Hello.World", env=env,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    listing = run(
        uv, "pip", "list", "--python", tmp_path / "uvenv" / "bin" / "python", "--format", "json", env=env
    )
    got = {p["name"]: p["version"] for p in json.loads(listing.stdout)}
    assert got["edgetest-hello-world"] == "1.0+local"
    assert got["edgetest-dep"] == "1.2"


def test_poetry_resolves_and_installs_from_a_supplemental_source(e2e, tmp_path):
    project, env = poetry_consumer(e2e, tmp_path, "EdgeTest_Hello.World", user="bob", priority="supplemental")
    poetry = VENV_BIN / "poetry"
    lock = run(poetry, "lock", cwd=project, env=env)
    assert lock.returncode == 0, lock.stdout + lock.stderr
    locked = (project / "poetry.lock").read_text()
    assert (
        'name = "edgetest-hello-world"' in locked.lower() or 'name = "edgetest_hello.world"' in locked.lower()
    )
    assert 'version = "1.0+local"' in locked
    assert f'url = "{e2e.url}/simple"' in locked
    install = run(poetry, "install", "--no-root", cwd=project, env=env)
    assert install.returncode == 0, install.stdout + install.stderr
    out = run(
        project / ".venv" / "bin" / "python", "-c", "import edgetest_dep; print(edgetest_dep.__version__)"
    )
    assert out.stdout.strip() == "1.2"


def test_yanked_version_is_skipped_unless_pinned(e2e, venv):
    files = [f["filename"] for f in e2e.project_files("edgetest-yanky") if "-2.0" in f["filename"]]
    for filename in files:
        e2e.s3.put_object(Bucket=e2e.bucket, Key=f"edgetest-yanky/{filename}.yanked", Body=b"broken build")
    e2e.wait_for("edgetest-yanky", lambda got: all(f["yanked"] for f in got if f["filename"] in files))

    result = pip(venv, "install", "--index-url", e2e.index_url(), "edgetest-yanky")
    assert result.returncode == 0, result.stdout + result.stderr
    assert installed(venv)["edgetest-yanky"] == "1.0"
    pinned = pip(venv, "install", "--index-url", e2e.index_url(), "edgetest-yanky==2.0")
    assert pinned.returncode == 0, pinned.stdout + pinned.stderr
    assert installed(venv)["edgetest-yanky"] == "2.0"
    assert "broken build" in pinned.stdout + pinned.stderr  # PEP 592: pip shows the reason


def test_a_file_uploaded_after_an_install_is_installable_within_the_freshness_bound(e2e, venv):
    filename, data, _ = make_wheel("edgetest-late", "1.0")
    assert pip(venv, "install", "--index-url", e2e.index_url(), "edgetest-dep").returncode == 0
    e2e.put(filename, data)
    seconds = e2e.wait_for_file("edgetest-late", filename, timeout=FRESHNESS_SECONDS)
    print(f"visible after {seconds:.2f}s")
    result = pip(venv, "install", "--index-url", e2e.index_url(), "edgetest-late")
    assert result.returncode == 0, result.stdout + result.stderr
    assert installed(venv)["edgetest-late"] == "1.0"


def test_range_requests_are_served_as_s3_serves_them(e2e):
    files = e2e.project_files("edgetest-dep")
    wheel = next(f for f in files if f["filename"].endswith(".whl"))
    status, headers, body = e2e.get(f"/simple/edgetest-dep/{wheel['url']}")
    assert status == 200 and headers["Accept-Ranges"] == "bytes" and headers["ETag"]
    import urllib.request

    req = urllib.request.Request(e2e.url + f"/edgetest-dep/{wheel['url']}", headers={"Range": "bytes=-22"})
    req.add_header("Authorization", "Basic " + __import__("base64").b64encode(b"bob:hunter2").decode())
    with urllib.request.urlopen(req) as resp:
        assert resp.status == 206
        assert resp.headers["Content-Range"] == f"bytes {len(body) - 22}-{len(body) - 1}/{len(body)}"
        assert resp.read() == body[-22:]


def cli(e2e, *args):
    env = clean_env(AWS_ACCESS_KEY_ID="local", AWS_SECRET_ACCESS_KEY="local", AWS_DEFAULT_REGION="us-east-1")
    return run(
        VENV_BIN / "pypi-edge", *args, "--bucket", e2e.bucket, "--endpoint-url", f"http://127.0.0.1:{e2e.s3_port}",
        env=env,
    )  # fmt: skip


def test_cli_upload_then_pip_install(e2e, venv, tmp_path):
    filename, data, _ = make_wheel("EdgeTest.CLI_Made", "3.1", requires_dist=["edgetest-dep==1.0"])
    sdist_name, sdist = make_sdist("EdgeTest.CLI_Made", "3.1")
    (tmp_path / filename).write_bytes(data)
    (tmp_path / sdist_name).write_bytes(sdist)
    result = cli(e2e, "upload", "--no-progress", tmp_path / filename, tmp_path / sdist_name)
    assert result.returncode == 0, result.stdout + result.stderr
    e2e.wait_for("edgetest-cli-made", lambda got: {filename, sdist_name} <= {f["filename"] for f in got})
    installed_ok = pip(venv, "install", "--index-url", e2e.index_url(), "edgetest.cli-made")
    assert installed_ok.returncode == 0, installed_ok.stdout + installed_ok.stderr
    assert installed(venv)["edgetest-cli-made"] == "3.1"
    assert installed(venv)["edgetest-dep"] == "1.0"
    again = cli(e2e, "upload", "--no-progress", tmp_path / filename)
    assert again.returncode == 0 and "already present" in again.stdout + again.stderr


def test_cli_yank_makes_pip_skip_the_version(e2e, venv, tmp_path):
    for version in ("1.0", "1.1"):
        filename, data, _ = make_wheel("edgetest-cliyank", version)
        (tmp_path / filename).write_bytes(data)
        assert cli(e2e, "upload", "--no-progress", tmp_path / filename).returncode == 0
    e2e.wait_for("edgetest-cliyank", lambda got: len(got) == 2)
    result = cli(e2e, "yank", "edgetest-cliyank", "1.1", "--reason", "do not use")
    assert result.returncode == 0, result.stdout + result.stderr
    e2e.wait_for("edgetest-cliyank", lambda got: [f["yanked"] for f in got] == [False, "do not use"])
    assert pip(venv, "install", "--index-url", e2e.index_url(), "edgetest-cliyank").returncode == 0
    assert installed(venv)["edgetest-cliyank"] == "1.0"


def test_uv_moves_on_to_pypi_for_projects_this_index_does_not_have(e2e, tmp_path):
    # SPEC: a missing project is a 404, so uv's first-index strategy asks the next index.
    uv = VENV_BIN / "uv"
    env = clean_env(UV_NO_CACHE="1", UV_PYTHON_DOWNLOADS="never")
    assert run(uv, "venv", "--python", sys.executable, tmp_path / "uvenv", env=env).returncode == 0
    python = tmp_path / "uvenv" / "bin" / "python"
    mark = e2e.log_mark()
    result = run(
        uv, "pip", "install", "--python", python, "--extra-index-url", e2e.index_url(),
        "edgetest-dep==1.2", "six==1.17.0", env=env,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    listing = run(uv, "pip", "list", "--python", python, "--format", "json", env=env)
    got = {p["name"]: p["version"] for p in json.loads(listing.stdout)}
    assert got["edgetest-dep"] == "1.2" and got["six"] == "1.17.0"
    assert ("/simple/six/", "404") in [(a["path"], a["status"]) for a in e2e.access_since(mark)]
