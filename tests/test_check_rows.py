"""`pypi-edge check`'s rows, one answer at a time: a fake `fetch` plays the index, so each row's
verdict on an unusual answer (an empty index, a foreign .metadata URL, a broken gzip body) shows."""

from __future__ import annotations

import gzip
import json

import pytest

from indexer import check

JSON = check.PEP691_JSON
SECURE = {
    "strict-transport-security": "max-age=63072000; includeSubDomains",
    "x-content-type-options": "nosniff",
    "x-frame-options": "DENY",
    "content-security-policy": "default-src 'none'",
}


def target(**kw) -> check.Target:
    return check.Target("https", "h.example", "/simple/", "alice", "pw", **kw)


def reply(status=200, body=b"", **headers) -> check.Reply:
    return check.Reply(status, {k.replace("_", "-"): v for k, v in headers.items()}, body)


def page(document: dict) -> check.Reply:
    return check.Reply(200, {**SECURE, "content-type": JSON}, json.dumps(document).encode())


ROOT = {"meta": {"api-version": "1.1"}, "projects": []}


def run_with(monkeypatch, answers, t=None) -> dict[str, check.Row]:
    """Run every check against `answers(method, path, headers) -> Reply`."""
    monkeypatch.setattr(
        check, "fetch", lambda _t, method, path, headers=None, body=None: answers(method, path, headers or {})
    )
    return {row.check: row for row in check.Checker(t or target()).run()}


def healthy(method, path, headers):
    if "Authorization" not in headers or headers["Authorization"] != check.basic("alice", "pw"):
        if path == "/legacy/" and method == "GET":
            return reply(405)
        return check.Reply(401, {**SECURE, "www-authenticate": 'Basic realm="x"'}, b"")
    if method == "POST":
        return reply(405, b"405 ...: upload to https://h.example/legacy/\n")
    if path == "/simple/":
        if headers.get("Accept") == JSON:
            return page(ROOT)
        return check.Reply(200, {**SECURE, "content-type": "text/html"}, b"<html></html>")
    return reply(404)


def test_an_empty_index_skips_the_project_rows_and_fails_nothing(monkeypatch):
    rows = run_with(monkeypatch, healthy)
    assert rows["project page, HTML"].result == check.SKIP
    assert rows["TLS"].result == check.PASS and rows["TLS"].got == "verified"
    assert check.FAIL not in {r.result for r in rows.values()}, rows


def test_a_connection_that_fails_tls_is_a_tls_failure(monkeypatch):
    rows = run_with(
        monkeypatch, lambda m, p, h: check.Reply(0, {}, b"", "TLS failed: CERTIFICATE_VERIFY_FAILED")
    )
    assert rows["TLS"].result == check.FAIL and "CERTIFICATE_VERIFY_FAILED" in rows["TLS"].got
    assert rows["security headers (401)"].result == check.FAIL


def with_project(files: list[dict], answer_file=None):
    document = {"meta": {"api-version": "1.1"}, "name": "p", "files": files}

    def answers(method, path, headers):
        if path == "/simple/" and headers.get("Accept") == JSON and "Authorization" in headers:
            return page({**ROOT, "projects": [{"name": "p"}]})
        if path == "/simple/p/" and headers.get("Accept") == JSON:
            if headers.get("Accept-Encoding") == "gzip":
                return check.Reply(
                    200,
                    {"content-type": JSON, "content-encoding": "gzip"},
                    gzip.compress(json.dumps(document).encode()),
                )
            return page(document)
        if answer_file and path.startswith(("/simple/p/", "/p/")):
            return answer_file(path)
        return healthy(method, path, headers)

    return answers


def test_no_file_with_metadata_skips_that_row(monkeypatch):
    rows = run_with(monkeypatch, with_project([{"filename": "p-1.0.tar.gz", "url": "p-1.0.tar.gz"}]))
    assert rows[".metadata (PEP 658)"].result == check.SKIP


def test_metadata_on_another_host_fails(monkeypatch):
    files = [
        {
            "filename": "p-1.0-py3-none-any.whl",
            "url": "https://elsewhere.example/p.whl",
            "core-metadata": True,
        }
    ]
    rows = run_with(monkeypatch, with_project(files))
    assert rows[".metadata (PEP 658)"].result == check.FAIL


def test_metadata_that_is_not_core_metadata_fails(monkeypatch):
    files = [{"filename": "p-1.0-py3-none-any.whl", "url": "p-1.0-py3-none-any.whl", "core-metadata": True}]
    rows = run_with(monkeypatch, with_project(files, lambda path: reply(200, b"<html>not metadata")))
    assert rows[".metadata of p-1.0-py3-none-any.whl"].got == "not core metadata"


@pytest.mark.parametrize(
    ("gzip_reply", "said"),
    [
        (check.Reply(200, {"content-encoding": "gzip"}, b"not gzip"), "gzip body does not decompress"),
        (check.Reply(200, {}, b"{}"), "gzip request came back unencoded"),
        (check.Reply(503, {}, b""), "gzip request: 503"),
        (check.Reply(200, {"content-encoding": "gzip"}, gzip.compress(b"{}")), "the two copies differ"),
        (check.Reply(200, {"content-encoding": "gzip"}, gzip.compress(b"not json")), "the two copies differ"),
    ],
)
def test_gzip_copy_problems(monkeypatch, gzip_reply, said):
    base = with_project([])

    def answers(method, path, headers):
        if path == "/simple/p/" and headers.get("Accept-Encoding") == "gzip":
            return gzip_reply
        return base(method, path, headers)

    rows = run_with(monkeypatch, answers)
    assert rows["JSON: identity and gzip copies agree"].result == check.FAIL
    assert rows["JSON: identity and gzip copies agree"].got.startswith(said)


def test_json_that_is_not_pep_691_fails_its_row(monkeypatch):
    def answers(method, path, headers):
        if path == "/simple/" and headers.get("Accept") == JSON and "Authorization" in headers:
            return check.Reply(200, {"content-type": JSON}, b"[1, 2]")
        return healthy(method, path, headers)

    assert run_with(monkeypatch, answers)["root page, JSON (PEP 691)"].got.startswith("not a JSON object")

    def old_api(method, path, headers):
        if path == "/simple/" and headers.get("Accept") == JSON and "Authorization" in headers:
            return page({"meta": {"api-version": "2.0"}, "projects": []})
        return healthy(method, path, headers)

    assert run_with(monkeypatch, old_api)["root page, JSON (PEP 691)"].got == "no meta.api-version 1.x"


def test_html_without_links_or_the_html_type_fails(monkeypatch):
    def answers(method, path, headers):
        if path == "/simple/" and headers.get("Accept") == "text/html" and "Authorization" in headers:
            return check.Reply(200, {**SECURE, "content-type": "text/plain"}, b"")
        return healthy(method, path, headers)

    assert run_with(monkeypatch, answers)["root page, HTML (PEP 503)"].got == "Content-Type text/plain"
    assert check._html(check.Reply(200, {"content-type": "text/html"}, b"plain words")) == "no links"


def test_a_405_that_does_not_name_the_upload_url_fails(monkeypatch):
    def answers(method, path, headers):
        if method == "POST" and path == "/simple/":
            return reply(405, b"405 Method Not Allowed")
        return healthy(method, path, headers)

    row = run_with(monkeypatch, answers)["POST to the index: 405 naming /legacy/"]
    assert row.result == check.FAIL and "does not name https://h.example/legacy/" in row.got


def test_a_fallback_redirect_elsewhere_fails(monkeypatch):
    def answers(method, path, headers):
        if "absent" in path:
            return reply(307, location="https://evil.example/")
        return healthy(method, path, headers)

    rows = run_with(monkeypatch, answers, target(fallback="https://pypi.org/simple/"))
    assert rows["a missing project: 307 to https://pypi.org/simple/"].got == "Location https://evil.example/"


def test_the_table_is_aligned_and_summed():
    text = check.render([check.Row("a", "1", "1", check.PASS), check.Row("longer", "2", "3", check.FAIL)])
    lines = text.splitlines()
    assert lines[0].split() == ["check", "expected", "got", "result"]
    assert lines[1].index("1") == lines[2].index("2")
    assert lines[-1] == "1 passed, 1 failed, 0 skipped"


def test_on_a_terminal_the_password_is_asked_for(monkeypatch, capsys):
    class Terminal:
        def isatty(self):
            return True

    asked = []
    monkeypatch.setattr("sys.stdin", Terminal())
    monkeypatch.setattr(check.getpass, "getpass", lambda prompt: asked.append(prompt) or "pw")
    monkeypatch.setattr(
        check, "fetch", lambda _t, method, path, headers=None, body=None: healthy(method, path, headers or {})
    )
    code = check.cmd_check(
        check.argparse.Namespace(
            index_url="https://h.example/simple/", user="alice", password_stdin=False, project=None,
            fallback_index_url="https://pypi.org/simple", timeout=5.0,
        )
    )  # fmt: skip
    assert asked == ["password for alice: "]
    out = capsys.readouterr().out
    assert "a missing project: 307 to https://pypi.org/simple/" in out  # the slash is added
    assert code == check.EXIT_FAILED  # healthy() answers 404 where the fallback should redirect
