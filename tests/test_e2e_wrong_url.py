"""End to end: the upload URL as people type it.  `/legacy` without its slash publishes like
`/legacy/` with twine, uv and poetry; the index URL given as the upload URL (the common slip) is a
405 that names the upload URL, as each client shows it."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.distributions import make_sdist, make_wheel, write
from tests.e2e import VENV_BIN, Stack, clean_env, run
from tests.test_e2e_publish import out

pytestmark = pytest.mark.e2e

PUBLISHER = ("carol", "pub:lish:er")


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    st = Stack(
        workdir=tmp_path_factory.mktemp("wrong-url-stack"),
        users=dict([PUBLISHER, ("alice", "reader:pass")]),
        publish={"carol": ["url-*"]},
        bucket="pypi-wrong-url",
    ).start()
    yield st
    st.stop()


def dist(tmp_path: Path, name: str) -> list[Path]:
    folder = tmp_path / f"dist-{name}"
    folder.mkdir()
    filename, data, _ = make_wheel(name, "1.0")
    sname, sdata = make_sdist(name, "1.0")
    return [write(folder, filename, data), write(folder, sname, sdata)]


def twine(url: str, *paths: Path):
    return run(
        VENV_BIN / "twine", "upload", "--repository-url", url, "-u", PUBLISHER[0], "-p", PUBLISHER[1],
        "--non-interactive", "--disable-progress-bar", "--verbose", *paths,
        env=clean_env(TWINE_NON_INTERACTIVE="1"),
    )  # fmt: skip


def uv(url: str, *paths: Path):
    return run(
        VENV_BIN / "uv", "publish", "--publish-url", url, "--username", PUBLISHER[0],
        "--password", PUBLISHER[1], *paths,
    )  # fmt: skip


def poetry(url: str, tmp_path: Path, name: str):
    project = tmp_path / "proj"
    (project / "dist").mkdir(parents=True)
    (project / "pyproject.toml").write_text(
        f'[project]\nname = "{name}"\nversion = "1.0"\nrequires-python = ">=3.11"\n'
    )
    for path in dist(tmp_path, name):
        (project / "dist" / path.name).write_bytes(path.read_bytes())
    env = clean_env(
        POETRY_REPOSITORIES_PRIVATE_URL=url,
        POETRY_HTTP_BASIC_PRIVATE_USERNAME=PUBLISHER[0],
        POETRY_HTTP_BASIC_PRIVATE_PASSWORD=PUBLISHER[1],
        POETRY_CACHE_DIR=str(tmp_path / "poetry-cache"),
        POETRY_CONFIG_DIR=str(tmp_path / "poetry-config"),
        PYTHON_KEYRING_BACKEND="keyring.backends.null.Keyring",
    )
    return run(VENV_BIN / "poetry", "publish", "-r", "private", "--no-interaction", cwd=project, env=env)


@pytest.mark.parametrize("client", ["twine", "uv", "poetry"])
def test_legacy_without_the_trailing_slash_publishes(stack, tmp_path, client):
    name = f"url-{client}"
    url = f"{stack.url}/legacy"
    if client == "poetry":
        result = poetry(url, tmp_path, name)
        names = {p.name for p in (tmp_path / "proj" / "dist").iterdir()}
    else:
        paths = dist(tmp_path, name)
        result = (twine if client == "twine" else uv)(url, *paths)
        names = {p.name for p in paths}
    assert result.returncode == 0, out(result)
    assert {f["filename"] for f in stack.project_files(name)} == names


@pytest.mark.parametrize("client", ["twine", "uv"])
@pytest.mark.parametrize("path", ["/simple/", "/", "/simple/url-slip/"])
def test_the_index_url_given_as_upload_url_is_405_naming_the_upload_url(stack, tmp_path, client, path):
    paths = dist(tmp_path, "url-slip")
    result = (twine if client == "twine" else uv)(stack.url + path, *paths)
    assert result.returncode != 0
    said = out(result)
    assert "405" in said
    assert f"upload to {stack.url}/legacy/" in said
    assert stack.project_files("url-slip") == []
