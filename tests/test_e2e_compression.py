"""JSON pages travel gzip-compressed (stored so by the indexer, passed on as S3 and CloudFront
pass a Content-Encoding), and every client we support asks for and reads them; a client that
does not accept gzip gets the unencoded copy (tests/test_e2e_hostile_edge.py)."""

from __future__ import annotations

import gzip
import json
import sys

import pytest

from tests.e2e import VENV_BIN, clean_env, fresh_venv, pip, poetry_consumer, run

pytestmark = pytest.mark.e2e

JSON = "application/vnd.pypi.simple.v1+json"


def test_a_json_page_is_sent_as_stored_gzip_bytes_and_the_html_page_plain(e2e):
    status, headers, wire = e2e.get("/simple/edgetest-dep/", accept=JSON, raw=True, accept_encoding="gzip")
    assert status == 200 and headers["Content-Type"] == JSON
    assert headers["Content-Encoding"] == "gzip"
    stored = e2e.s3.get_object(Bucket=e2e.bucket, Key="edgetest-dep/index.json")
    assert stored["ContentEncoding"] == "gzip"
    assert wire == stored["Body"].read()  # exactly the stored bytes, not recompressed or decoded
    assert int(headers["Content-Length"]) == len(wire)
    assert {f["filename"] for f in json.loads(gzip.decompress(wire))["files"]} >= {
        "edgetest_dep-1.2-py3-none-any.whl"
    }
    status, headers, html = e2e.get(
        "/simple/edgetest-dep/", accept="text/html", raw=True, accept_encoding="gzip"
    )
    assert status == 200 and "Content-Encoding" not in headers  # CloudFront compresses HTML itself
    assert b"edgetest_dep-1.2-py3-none-any.whl" in html


def json_pages_served(e2e, mark: int) -> set[str]:
    return {a["origin"] for a in e2e.access_since(mark) if a["origin"].endswith("/index.json")}


def test_pip_reads_the_compressed_json_page(e2e, tmp_path):
    venv = fresh_venv(tmp_path / "venv")
    mark = e2e.log_mark()
    result = pip(venv, "install", "--index-url", e2e.index_url(), "edgetest-dep==1.2")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "/edgetest-dep/index.json" in json_pages_served(e2e, mark)


def test_uv_reads_the_compressed_json_page(e2e, tmp_path):
    uv = VENV_BIN / "uv"
    env = clean_env(UV_NO_CACHE="1", UV_PYTHON_DOWNLOADS="never")
    assert run(uv, "venv", "--python", sys.executable, tmp_path / "uvenv", env=env).returncode == 0
    mark = e2e.log_mark()
    result = run(
        uv, "pip", "install", "--python", tmp_path / "uvenv" / "bin" / "python",
        "--index-url", e2e.index_url(), "edgetest-dep==1.2", env=env,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    assert "/edgetest-dep/index.json" in json_pages_served(e2e, mark)


def test_poetry_reads_the_compressed_json_page(e2e, tmp_path):
    project, env = poetry_consumer(e2e, tmp_path, "edgetest-dep==1.2", user="alice", priority="primary")
    mark = e2e.log_mark()
    lock = run(VENV_BIN / "poetry", "lock", cwd=project, env=env)
    assert lock.returncode == 0, lock.stdout + lock.stderr
    assert "/edgetest-dep/index.json" in json_pages_served(e2e, mark)


def test_the_browser_shows_the_decoded_json_page(e2e):
    from playwright.sync_api import sync_playwright

    from tests.test_e2e_browser import ARGS, CHROMIUM

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=ARGS)
        try:
            context = browser.new_context(
                http_credentials={"username": "alice", "password": e2e.users["alice"]}
            )
            response = context.new_page().goto(
                f"{e2e.url}/simple/edgetest-dep/?format=application/vnd.pypi.simple.v1+json"
            )
            assert response is not None and response.status == 200
            assert response.headers["content-encoding"] == "gzip"
            assert json.loads(response.body())["name"] == "edgetest-dep"  # decoded by chromium
        finally:
            browser.close()
