"""End to end: publishing with the real twine, uv and poetry through the local stack's /legacy/, then
installing the new version immediately with pip and uv (no waiting: pages are fresh when the upload returns).

Every refusal is checked with the status and the message a user sees.
"""

from __future__ import annotations

import hashlib
import json
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from tests.distributions import make_sdist, make_wheel, write
from tests.e2e import VENV_BIN, Stack, clean_env, fresh_venv, installed, pip, run
from tests.upload_helpers import basic, encode, fields_for

pytestmark = pytest.mark.e2e

TOKEN = "pypi-edge-e2eTokenForTestsOnly0000000000000000000"
READER = ("alice", "reader:pass")
PUBLISHER = ("carol", "pub:lish:er")


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    workdir = tmp_path_factory.mktemp("publish-stack")
    st = Stack(
        workdir=workdir,
        users=dict([READER, PUBLISHER]),
        publish={"carol": ["pub-*"], "ci": ["pubtok-*"]},
        tokens={"ci": TOKEN},
        bucket="pypi-publish",
    ).start()
    yield st
    st.stop()


@pytest.fixture
def venv(tmp_path):
    return fresh_venv(tmp_path / "venv")


def dist(tmp_path: Path, name: str, version: str, *, sdist: bool = True, **kw) -> tuple[Path, list[str]]:
    """A dist/ folder with a wheel (and an sdist) of name==version."""
    folder = tmp_path / f"dist-{name}-{version}-{len(kw)}"
    folder.mkdir()
    filename, data, _ = make_wheel(name, version, **kw)
    write(folder, filename, data)
    names = [filename]
    if sdist:
        sname, sdata = make_sdist(name, version, **kw)
        write(folder, sname, sdata)
        names.append(sname)
    return folder, names


def twine(stack: Stack, user: str, password: str, *paths: Path, verbose: bool = False, extra=()):
    args = ["upload", "--repository-url", f"{stack.url}/legacy/", "-u", user, "-p", password]
    args += ["--non-interactive", "--disable-progress-bar", *extra]
    if verbose:
        args.append("--verbose")
    return run(VENV_BIN / "twine", *args, *paths, env=clean_env(TWINE_NON_INTERACTIVE="1"))


def uv_publish(stack: Stack, *paths: Path, check: str | None = None, **auth: str):
    args = ["publish", "--publish-url", f"{stack.url}/legacy/"]
    if check:
        args += ["--check-url", check]
    if "token" in auth:
        args += ["--token", auth["token"]]
    else:
        args += ["--username", auth["username"], "--password", auth["password"]]
    return run(VENV_BIN / "uv", *args, *paths)


def out(result) -> str:
    return " ".join((result.stdout + result.stderr).split())  # rich wraps lines; compare on words


# --- publishing, then installing at once ------------------------------------------------------


def test_twine_uploads_a_wheel_and_sdist_and_pip_installs_it_at_once(stack, tmp_path, venv):
    folder, names = dist(tmp_path, "pub-twine", "1.0")
    result = twine(stack, *PUBLISHER, *(folder / n for n in names))
    assert result.returncode == 0, out(result)
    # No wait: the upload function rebuilt the project's pages before it answered.
    assert {f["filename"] for f in stack.project_files("pub-twine")} == set(names)
    installed_now = pip(venv, "install", "--index-url", stack.index_url("alice"), "pub-twine==1.0")
    assert installed_now.returncode == 0, out(installed_now)
    assert installed(venv)["pub-twine"] == "1.0"


def test_twine_re_upload_of_identical_files_succeeds(stack, tmp_path):
    folder, names = dist(tmp_path, "pub-rerun", "1.0")
    paths = [folder / n for n in names]
    assert twine(stack, *PUBLISHER, *paths).returncode == 0
    again = twine(stack, *PUBLISHER, *paths)
    assert again.returncode == 0, out(again)  # a re-run CI job passes: identical bytes answer 200


def test_current_twine_refuses_skip_existing_for_this_index(stack, tmp_path):
    # twine >= 6.2 allows --skip-existing only for PyPI and TestPyPI (pypa/twine#1253); re-runs
    # rely on the 200 above instead.
    folder, names = dist(tmp_path, "pub-skip", "1.0", sdist=False)
    result = twine(stack, *PUBLISHER, folder / names[0], extra=["--skip-existing"])
    assert result.returncode == 1
    assert "does not have support for the following features: --skip-existing" in out(result)


def test_twine_different_bytes_under_a_published_name_is_409_file_already_exists(stack, tmp_path):
    folder, names = dist(tmp_path, "pub-conflict", "1.0", sdist=False)
    assert twine(stack, *PUBLISHER, folder / names[0]).returncode == 0
    other, _ = dist(tmp_path, "pub-conflict", "1.0", sdist=False, summary="rebuilt differently")
    result = twine(stack, *PUBLISHER, other / names[0], verbose=True)
    assert result.returncode == 1
    assert "HTTPError: 409 Conflict" in out(result)
    assert f"409 File already exists: {names[0]} is published with different contents" in out(result)


def test_uv_publishes_with_a_password_and_check_url_then_uv_installs_at_once(stack, tmp_path):
    folder, names = dist(tmp_path, "pub-uv", "1.0")
    # Credentials in the check URL: without them uv's first request gets 401 and it skips the check.
    check = stack.index_url("carol")
    result = uv_publish(
        stack, *(folder / n for n in names), check=check, username="carol", password=PUBLISHER[1]
    )
    assert result.returncode == 0, out(result)
    target = tmp_path / "uvenv"
    assert run(VENV_BIN / "uv", "venv", target).returncode == 0
    got = run(
        VENV_BIN / "uv", "pip", "install", "--python", target / "bin" / "python", "--index-url",
        stack.index_url("alice"), "pub-uv==1.0", env=clean_env(UV_CACHE_DIR=str(tmp_path / "uv-cache")),
    )  # fmt: skip
    assert got.returncode == 0, out(got)
    # And a re-run with --check-url sees the identical files and skips them without uploading.
    again = uv_publish(
        stack, *(folder / n for n in names), check=check, username="carol", password=PUBLISHER[1]
    )
    assert again.returncode == 0, out(again)
    assert f"File {names[0]} already exists, skipping" in out(again)


def test_uv_publishes_with_a_token_inside_its_scope(stack, tmp_path):
    folder, names = dist(tmp_path, "pubtok-uv", "1.0")
    result = uv_publish(stack, *(folder / n for n in names), token=TOKEN)
    assert result.returncode == 0, out(result)
    assert {f["filename"] for f in stack.project_files("pubtok-uv")} == set(names)


def test_poetry_publishes_to_a_named_repository(stack, tmp_path, venv):
    project = tmp_path / "proj"
    project.mkdir()
    (project / "pyproject.toml").write_text(
        '[project]\nname = "pub-poetry"\nversion = "1.0"\nrequires-python = ">=3.11"\n\n'
        '[tool.poetry]\npackages = [{include = "pub_poetry"}]\n'
    )
    folder, names = dist(tmp_path, "pub-poetry", "1.0")
    (project / "dist").mkdir()
    for n in names:
        (project / "dist" / n).write_bytes((folder / n).read_bytes())
    env = clean_env(
        POETRY_REPOSITORIES_PRIVATE_URL=f"{stack.url}/legacy/",
        POETRY_HTTP_BASIC_PRIVATE_USERNAME=PUBLISHER[0],
        POETRY_HTTP_BASIC_PRIVATE_PASSWORD=PUBLISHER[1],
        POETRY_CACHE_DIR=str(tmp_path / "poetry-cache"),
        POETRY_CONFIG_DIR=str(tmp_path / "poetry-config"),
        PYTHON_KEYRING_BACKEND="keyring.backends.null.Keyring",
    )
    result = run(VENV_BIN / "poetry", "publish", "-r", "private", "--no-interaction", cwd=project, env=env)
    assert result.returncode == 0, out(result)
    installed_now = pip(venv, "install", "--index-url", stack.index_url("alice"), "pub-poetry==1.0")
    assert installed_now.returncode == 0, out(installed_now)


# --- refusals, as the user sees them ------------------------------------------------------------


def test_wrong_password_is_401(stack, tmp_path):
    folder, names = dist(tmp_path, "pub-wrongpw", "1.0", sdist=False)
    result = twine(stack, "carol", "wrong", folder / names[0])
    assert result.returncode == 1
    assert "HTTPError: 401 Unauthorized" in out(result)


def test_a_reader_is_403_saying_it_may_only_read(stack, tmp_path):
    # Read-only credentials are refused before the body is parsed (issue 18), so the answer
    # cannot name the project: it says what the credentials may do.
    folder, names = dist(tmp_path, "pub-reader", "1.0", sdist=False)
    result = twine(stack, *READER, folder / names[0], verbose=True)
    assert result.returncode == 1
    assert "HTTPError: 403 Forbidden" in out(result)
    assert "403 'alice' may read this index but not publish to it" in out(result)


def test_a_token_outside_its_scope_is_403(stack, tmp_path):
    folder, names = dist(tmp_path, "pub-outside", "1.0", sdist=False)
    result = uv_publish(stack, folder / names[0], token=TOKEN)
    assert result.returncode == 2
    assert "403 Forbidden. Server says: 403 'ci' may not publish to project 'pub-outside'" in out(result)


def test_uv_sees_409_for_different_bytes(stack, tmp_path):
    folder, names = dist(tmp_path, "pub-uvconflict", "1.0", sdist=False)
    assert uv_publish(stack, folder / names[0], username="carol", password=PUBLISHER[1]).returncode == 0
    other, _ = dist(tmp_path, "pub-uvconflict", "1.0", sdist=False, summary="other bytes")
    result = uv_publish(stack, other / names[0], username="carol", password=PUBLISHER[1])
    assert result.returncode == 2  # uv 0.13 reports 409 as an error (older uv skipped it)
    assert "409 Conflict. Server says: 409 File already exists" in out(result)


def test_a_file_over_the_limit_is_413_from_the_edge_pointing_to_pypi_edge_upload(stack, tmp_path):
    folder, names = dist(tmp_path, "pub-big", "1.0", sdist=False, payload_bytes=4_600_000)
    result = uv_publish(stack, folder / names[0], username="carol", password=PUBLISHER[1])
    assert result.returncode == 2
    assert "413 Payload Too Large" in out(result)
    # Issue 20: the exact command, for this index, with index credentials (no AWS).
    assert (
        f"Publish large files with `pypi-edge upload --index-url https://127.0.0.1:{stack.port}/ dist/*`"
        in out(result)
    )
    assert stack.project_files("pub-big") == []


def _raw_post(stack: Stack, fields) -> tuple[int, str]:
    """What a hand-written client sees: the clients themselves never send these."""
    body, ctype = encode(fields)
    req = urllib.request.Request(f"{stack.url}/legacy/", data=body, method="POST")
    req.add_header("Content-Type", ctype)
    req.add_header("Authorization", basic(*PUBLISHER))
    try:
        with urllib.request.urlopen(req, timeout=30) as resp:
            return resp.status, resp.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


def test_a_name_mismatch_is_400(stack, tmp_path):
    _, data, _ = make_wheel("pub-other", "1.0")
    filename = "pub_mismatch-1.0-py3-none-any.whl"
    folder = tmp_path / "mm"
    folder.mkdir()
    write(folder, filename, data)
    result = twine(stack, *PUBLISHER, folder / filename, verbose=True)
    assert result.returncode == 1
    assert "HTTPError: 400 Bad Request" in out(result)
    assert "name mismatch" in out(result)


def test_a_corrupt_archive_is_400(stack):
    filename, data, _ = make_wheel("pub-corrupt", "1.0")
    broken = data[: len(data) // 2]
    status, text = _raw_post(stack, fields_for(filename, broken, "pub-corrupt", "1.0"))
    assert status == 400
    assert text.startswith(f"400 {filename}: not a distribution")


def test_a_digest_mismatch_is_400(stack):
    filename, data, _ = make_wheel("pub-digest", "1.0")
    fields = fields_for(
        filename, data, "pub-digest", "1.0", sha256_digest=hashlib.sha256(b"other").hexdigest()
    )
    status, text = _raw_post(stack, fields)
    assert status == 400
    assert "sha256_digest does not match the uploaded bytes" in text
    assert stack.project_files("pub-digest") == []


def test_the_banner_commands_of_make_serve_work_as_printed(tmp_path):
    st = Stack(workdir=tmp_path, users={}, bucket="pypi-banner").start()  # no --user: pypi:pypi
    try:
        deadline = time.monotonic() + 10
        while "Ctrl-C stops." not in st.log_path.read_text() and time.monotonic() < deadline:
            time.sleep(0.1)
        banner = st.log_path.read_text()
        line = next(ln.strip() for ln in banner.splitlines() if ln.strip().startswith("twine upload"))
        folder, names = dist(tmp_path, "banner-pkg", "1.0")
        assert line.endswith("dist/*")
        result = run("bash", "-c", f"{VENV_BIN}/{line.removesuffix('dist/*')} {folder}/*")
        assert result.returncode == 0, out(result)
        index = json.loads(st.get("/simple/banner-pkg/", user="pypi", password="pypi",
                                  accept="application/vnd.pypi.simple.v1+json")[2])  # fmt: skip
        assert {f["filename"] for f in index["files"]} == set(names)
    finally:
        st.stop()
