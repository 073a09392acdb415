"""End to end: the opt-in fallback index, with pip, uv and poetry, against a second local index.

A local stack started with `--fallback-index-url` (the origin-response function of
edge/fallback.py, applied by the CloudFront stand-in) in front of a tiny upstream index
(tests/upstream.py) that plays PyPI.  No internet.
"""

from __future__ import annotations

import json
import sys
import time

import pytest

from tests.distributions import make_wheel
from tests.e2e import (
    FRESHNESS_SECONDS,
    VENV_BIN,
    Stack,
    clean_env,
    fresh_venv,
    installed,
    pip,
    poetry_consumer,
    run,
)
from tests.upstream import Upstream

pytestmark = pytest.mark.e2e

ONLY_UPSTREAM = "edgetest-upstream-only"  # depends on edgetest-updep, also only upstream
SHADOWED = "edgetest-shadow"  # 1.0 here, 9.0 upstream: this index must win, always


@pytest.fixture(scope="module")
def upstream():
    index = Upstream()
    for name, version, deps in (
        (ONLY_UPSTREAM, "2.0", ["edgetest-updep>=1"]),
        ("edgetest-updep", "1.5", []),
        (SHADOWED, "9.0", []),
    ):
        filename, data, _ = make_wheel(name, version, requires_dist=deps)
        index.add(filename, data, name)
    index.start()
    yield index
    index.stop()


@pytest.fixture(scope="module")
def stack(upstream, output_dir):
    stack = Stack(
        workdir=output_dir, bucket="pypi-fallback", extra_args=["--fallback-index-url", upstream.url]
    )
    stack.start()
    try:
        filename, data, _ = make_wheel(SHADOWED, "1.0")
        stack.put(filename, data)
        stack.wait_for_file(SHADOWED, filename)
        yield stack
    finally:
        stack.stop()


def requested_pages(upstream: Upstream) -> set[str]:
    return {path for path, kind in upstream.served if kind in {"json", "html"}}


# --- the redirect ----------------------------------------------------------------------------


@pytest.mark.parametrize("path", [f"/simple/{ONLY_UPSTREAM}/", f"/{ONLY_UPSTREAM}/"])
def test_a_missing_project_page_is_a_short_lived_temporary_redirect(stack, upstream, path):
    for accept in ("application/vnd.pypi.simple.v1+json", "text/html"):
        status, headers, _ = stack.get_no_redirect(path, accept=accept)

        assert status == 307
        assert headers["Location"] == f"{upstream.url}{ONLY_UPSTREAM}/"
        assert headers["Cache-Control"] == "max-age=60"


def test_a_project_published_here_later_stops_being_redirected_at_once(stack, upstream):
    late = "edgetest-late-here"
    assert stack.get_no_redirect(f"/simple/{late}/", accept="application/vnd.pypi.simple.v1+json")[0] == 307
    filename, data, _ = make_wheel(late, "1.0")

    stack.put(filename, data)

    # The redirect was cached (Cache-Control max-age=60), but the indexer's invalidation of
    # /<project>/* drops it with the first page, well before it would expire.
    deadline = time.monotonic() + FRESHNESS_SECONDS
    while stack.get_no_redirect(f"/simple/{late}/", accept="application/vnd.pypi.simple.v1+json")[0] != 200:
        assert time.monotonic() < deadline, "still redirected"
        time.sleep(0.1)


def test_files_and_the_root_are_never_redirected(stack):
    assert (
        stack.get_no_redirect(f"/simple/{ONLY_UPSTREAM}/edgetest_upstream_only-2.0-py3-none-any.whl")[0]
        == 404
    )
    assert stack.get_no_redirect(f"/{ONLY_UPSTREAM}/x.whl.metadata")[0] == 404
    assert stack.get_no_redirect("/simple/")[0] == 200


def test_a_project_this_index_has_is_served_here(stack):
    status, _, body = stack.get_no_redirect(
        f"/simple/{SHADOWED}/", accept="application/vnd.pypi.simple.v1+json"
    )

    assert status == 200
    assert [f["filename"] for f in json.loads(body)["files"]] == [make_wheel(SHADOWED, "1.0")[0]]


def test_without_credentials_nothing_is_revealed(stack):
    assert stack.get_no_redirect(f"/simple/{ONLY_UPSTREAM}/", user=None)[0] == 401


def test_with_the_fallback_off_a_missing_project_stays_a_404(e2e):
    assert e2e.get_no_redirect(f"/simple/{ONLY_UPSTREAM}/")[0] == 404


# --- the clients -----------------------------------------------------------------------------


def test_pip_installs_from_the_fallback_and_never_asks_it_for_a_project_here(stack, upstream, tmp_path):
    venv = fresh_venv(tmp_path / "venv")
    upstream.served.clear()
    upstream.authorizations.clear()

    result = pip(venv, "install", "--index-url", stack.index_url(), ONLY_UPSTREAM, SHADOWED)

    assert result.returncode == 0, result.stdout + result.stderr
    got = installed(venv)
    assert (got[ONLY_UPSTREAM], got["edgetest-updep"], got[SHADOWED]) == ("2.0", "1.5", "1.0")
    assert (f"/simple/{ONLY_UPSTREAM}/", "json") in upstream.served  # pip's Accept reached upstream
    assert f"/simple/{SHADOWED}/" not in requested_pages(upstream)
    assert upstream.authorizations == []  # this index's credentials never went upstream


def test_uv_installs_from_the_fallback_and_never_asks_it_for_a_project_here(stack, upstream, tmp_path):
    env = clean_env(UV_NO_CACHE="1", UV_PYTHON_DOWNLOADS="never")
    uv = VENV_BIN / "uv"
    assert run(uv, "venv", "--python", sys.executable, tmp_path / "uvenv", env=env).returncode == 0
    python = tmp_path / "uvenv" / "bin" / "python"
    upstream.served.clear()
    upstream.authorizations.clear()

    result = run(
        uv, "pip", "install", "--python", python, "--index-url", stack.index_url(),
        ONLY_UPSTREAM, SHADOWED, env=env,
    )  # fmt: skip

    assert result.returncode == 0, result.stdout + result.stderr
    listing = run(uv, "pip", "list", "--python", python, "--format", "json", env=env)
    got = {p["name"]: p["version"] for p in json.loads(listing.stdout)}
    assert (got[ONLY_UPSTREAM], got["edgetest-updep"], got[SHADOWED]) == ("2.0", "1.5", "1.0")
    assert (f"/simple/{ONLY_UPSTREAM}/", "json") in upstream.served
    assert f"/simple/{SHADOWED}/" not in requested_pages(upstream)
    assert upstream.authorizations == []


def test_poetry_locks_and_installs_from_the_fallback_through_a_single_source(stack, upstream, tmp_path):
    # A primary source: poetry asks no other index (in particular not PyPI).
    project, env = poetry_consumer(stack, tmp_path, [ONLY_UPSTREAM, SHADOWED], user="bob", priority="primary")
    poetry = VENV_BIN / "poetry"
    upstream.served.clear()
    upstream.authorizations.clear()

    lock = run(poetry, "lock", cwd=project, env=env)
    assert lock.returncode == 0, lock.stdout + lock.stderr
    install = run(poetry, "install", "--no-root", cwd=project, env=env)
    assert install.returncode == 0, install.stdout + install.stderr

    out = run(
        project / ".venv" / "bin" / "python", "-c",
        "import edgetest_upstream_only as a, edgetest_shadow as b; print(a.__version__, b.__version__)",
    )  # fmt: skip
    assert out.stdout.split() == ["2.0", "1.0"]
    assert f"/simple/{ONLY_UPSTREAM}/" in requested_pages(upstream)
    assert f"/simple/{SHADOWED}/" not in requested_pages(upstream)
    assert upstream.authorizations == []
