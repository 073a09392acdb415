"""End to end: `pypi-edge mirror` copies a dependency tree from a second local index into the
local stack, and pip and uv then install it with this index as their only index."""

from __future__ import annotations

import json
import sys

import pytest

from tests.distributions import make_wheel
from tests.e2e import VENV_BIN, clean_env, fresh_venv, installed, pip, run
from tests.test_e2e_clients import cli
from tests.upstream import Upstream

pytestmark = pytest.mark.e2e

TREE = {  # edgetest-mtop -> edgetest-mmid -> edgetest-mleaf
    ("edgetest-mtop", "1.0"): ["edgetest-mmid>=1"],
    ("edgetest-mmid", "1.0"): ["edgetest-mleaf"],
    ("edgetest-mmid", "1.4"): ["edgetest-mleaf"],
    ("edgetest-mleaf", "3.0"): [],
}


@pytest.fixture(scope="module")
def upstream():
    index = Upstream()
    for (name, version), deps in TREE.items():
        filename, data, metadata = make_wheel(name, version, requires_dist=deps)
        index.add(filename, data, name, metadata)
    index.start()
    yield index
    index.stop()


@pytest.fixture(scope="module")
def mirrored(e2e, upstream):
    result = cli(e2e, "mirror", "edgetest-mtop", "--deps", "--from", upstream.url, "--no-progress")
    assert result.returncode == 0, result.stdout + result.stderr
    for name, version in (("edgetest-mtop", "1.0"), ("edgetest-mmid", "1.4"), ("edgetest-mleaf", "3.0")):
        e2e.wait_for_file(name, make_wheel(name, version)[0])
    return result


def test_the_mirror_reports_each_verified_file(mirrored):
    assert mirrored.stdout.count("sha256") == 3 and "3 file(s): 3 mirrored." in mirrored.stdout
    assert "edgetest-mmid/edgetest_mmid-1.0" not in mirrored.stdout  # only what the resolver chose


def test_pip_installs_the_mirrored_tree_with_this_index_only(e2e, mirrored, upstream, tmp_path):
    venv = fresh_venv(tmp_path / "venv")
    upstream.served.clear()

    result = pip(venv, "install", "--index-url", e2e.index_url(), "edgetest-mtop")

    assert result.returncode == 0, result.stdout + result.stderr
    got = installed(venv)
    assert (got["edgetest-mtop"], got["edgetest-mmid"], got["edgetest-mleaf"]) == ("1.0", "1.4", "3.0")
    assert upstream.served == []  # the upstream was not needed


def test_uv_installs_the_mirrored_tree_with_this_index_only(e2e, mirrored, upstream, tmp_path):
    env = clean_env(UV_NO_CACHE="1", UV_PYTHON_DOWNLOADS="never")
    uv = VENV_BIN / "uv"
    assert run(uv, "venv", "--python", sys.executable, tmp_path / "uvenv", env=env).returncode == 0
    python = tmp_path / "uvenv" / "bin" / "python"
    upstream.served.clear()

    result = run(
        uv, "pip", "install", "--python", python, "--index-url", e2e.index_url(), "edgetest-mtop", env=env
    )

    assert result.returncode == 0, result.stdout + result.stderr
    listing = run(uv, "pip", "list", "--python", python, "--format", "json", env=env)
    got = {p["name"]: p["version"] for p in json.loads(listing.stdout)}
    assert (got["edgetest-mtop"], got["edgetest-mmid"], got["edgetest-mleaf"]) == ("1.0", "1.4", "3.0")
    assert upstream.served == []


def test_mirroring_again_changes_nothing(e2e, mirrored, upstream):
    mark = e2e.log_mark()

    again = cli(e2e, "mirror", "edgetest-mtop", "--deps", "--from", upstream.url, "--no-progress")

    assert again.returncode == 0, again.stdout + again.stderr
    assert again.stdout.count("already present") == 3
    assert "update within seconds" not in again.stdout  # nothing written, so nothing to rebuild
    assert e2e.access_since(mark) == []
