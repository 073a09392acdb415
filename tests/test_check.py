"""`pypi-edge check`: passes against the local stack, and FAILs the right row against a server
that gets one thing wrong (a proxy in front of the same stack that breaks exactly that)."""

from __future__ import annotations

import http.client
import io
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from indexer import check, cli
from tests.distributions import make_sdist, make_wheel
from tests.e2e import FRESHNESS_SECONDS, Stack

pytestmark = pytest.mark.e2e

READER = ("alice", "read:er pass")


@pytest.fixture(scope="module")
def stack(tmp_path_factory) -> Iterator[Stack]:
    st = Stack(
        workdir=tmp_path_factory.mktemp("check-stack"),
        users=dict([READER]),
        bucket="pypi-check",
        extra_args=["--fallback-index-url", "https://upstream.example/simple/"],
    ).start()
    filename, data, _ = make_wheel("checked", "1.0")
    st.put(filename, data)
    sname, sdata = make_sdist("checked", "1.0")
    st.put(sname, sdata)
    # Not st.wait_for: until the page exists the fallback redirects, and urllib would follow it.
    deadline = time.monotonic() + FRESHNESS_SECONDS
    while st.get_no_redirect("/simple/checked/")[0] != 200 or len(st.project_files("checked")) != 2:
        assert time.monotonic() < deadline, "the project was not indexed"
        time.sleep(0.1)
    yield st
    st.stop()


def run_check(monkeypatch, capsys, url: str, *extra: str, password: str = READER[1]) -> tuple[int, str]:
    monkeypatch.setattr("sys.stdin", io.StringIO(password + "\n"))
    code = cli.main(["check", "--index-url", url, "--user", READER[0], "--password-stdin", *extra])
    return code, capsys.readouterr().out


def rows(out: str) -> dict[str, str]:
    """check name -> result, from the printed table."""
    found = {}
    for line in out.splitlines()[2:]:
        if line.endswith((check.PASS, check.FAIL, check.SKIP)):
            name = line.split("  ")[0].strip()
            found[name] = line.rsplit(" ", 1)[1]
    return found


FALLBACK = ["--fallback-index-url", "https://upstream.example/simple/"]


def test_every_check_passes_against_the_local_stack(stack, monkeypatch, capsys):
    code, out = run_check(monkeypatch, capsys, f"{stack.url}/simple/", *FALLBACK)
    assert code == 0, out
    results = rows(out)
    assert check.FAIL not in results.values()
    assert results["TLS"] == check.SKIP  # plain http locally: said, not hidden
    for name in [
        "401 without credentials",
        "401 with a wrong password",
        "security headers (401)",
        "security headers (page)",
        "root page, HTML (PEP 503)",
        "root page, JSON (PEP 691)",
        "project page checked, HTML",
        "project page checked, JSON",
        ".metadata of checked-1.0-py3-none-any.whl",
        "JSON: identity and gzip copies agree",
        "POST to the index: 405 naming /legacy/",
        "a missing project: 307 to https://upstream.example/simple/",
        "upload URL: GET is 405",
        "upload URL: anonymous POST is 401",
    ]:
        assert results.get(name) == check.PASS, (name, out)
    assert out.rstrip().endswith("14 passed, 0 failed, 1 skipped")


def test_without_the_fallback_option_a_redirect_where_a_404_was_expected_fails(stack, monkeypatch, capsys):
    code, out = run_check(monkeypatch, capsys, f"{stack.url}/")
    assert code == check.EXIT_FAILED
    assert rows(out)["a missing project is 404"] == check.FAIL
    assert [r for r, v in rows(out).items() if v == check.FAIL] == ["a missing project is 404"]


def test_a_wrong_password_of_the_checking_user_fails_the_page_checks(stack, monkeypatch, capsys):
    code, out = run_check(monkeypatch, capsys, f"{stack.url}/", *FALLBACK, password="not it")
    assert code == check.EXIT_FAILED
    assert rows(out)["root page, HTML (PEP 503)"] == check.FAIL


def test_anonymous_only_runs_what_needs_no_credentials(stack, capsys):
    code = cli.main(["check", "--index-url", f"{stack.url}/simple/"])
    out = capsys.readouterr().out
    assert code == 0, out
    assert "(anonymous only)" in out
    assert rows(out)["pages, .metadata, gzip"] == check.SKIP


# --- a broken server: the same stack behind a proxy that breaks one thing ------------------------

Mutation = Callable[[str, str, int, dict[str, str], bytes], tuple[int, dict[str, str], bytes]]


def proxy(stack: Stack, mutate: Mutation, tls: Any = None) -> ThreadingHTTPServer:
    class Handler(BaseHTTPRequestHandler):
        def _forward(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else None
            conn = http.client.HTTPConnection("127.0.0.1", stack.port, timeout=10)
            headers = dict(self.headers.items())  # Host too: the index names the host it was asked as
            conn.request(self.command, self.path, body=body, headers=headers)
            resp = conn.getresponse()
            data = resp.read()
            status, out, data = mutate(
                self.command, self.path, resp.status, {k: v for k, v in resp.getheaders()}, data
            )
            self.send_response(status)
            for name, value in out.items():
                if name.lower() not in ("content-length", "transfer-encoding", "connection"):
                    self.send_header(name, value)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(data)

        do_GET = do_POST = do_HEAD = _forward

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    if tls is not None:  # an ssl.SSLContext: terminate TLS here, before serving
        server.socket = tls.wrap_socket(server.socket, server_side=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def without(header: str) -> Mutation:
    def mutate(method, path, status, headers, body):
        return status, {k: v for k, v in headers.items() if k.lower() != header.lower()}, body

    return mutate


def open_index(method, path, status, headers, body):
    """Answers 200 where the index said 401: an index that forgot to ask for credentials."""
    if status == 401:
        return 200, {"Content-Type": "text/html"}, b"<html><a href='x/'>x</a></html>"
    return status, headers, body


def corrupt_metadata(method, path, status, headers, body):
    return status, headers, (body + b"tampered" if path.endswith(".metadata") else body)


def plain_gzip(method, path, status, headers, body):
    """Serves the gzip-encoded JSON page to a client that asked for identity."""
    import gzip

    if "application/vnd.pypi.simple.v1+json" in headers.get("Content-Type", "") and path.endswith(
        "/checked/"
    ):
        return status, {**headers, "Content-Encoding": "gzip"}, gzip.compress(body)
    return status, headers, body


def html_for_json(method, path, status, headers, body):
    if "json" in headers.get("Content-Type", ""):
        return status, {**headers, "Content-Type": "text/html; charset=utf-8"}, body
    return status, headers, body


def legacy_accepts_get(method, path, status, headers, body):
    return (200, headers, b"ok") if path == "/legacy/" and method == "GET" else (status, headers, body)


HEADER_ROWS = {"security headers (401)", "security headers (page)"}
CHALLENGE_ROWS = {"401 without credentials", "401 with a wrong password"}
OPEN_ROWS = CHALLENGE_ROWS | {"upload URL: anonymous POST is 401", "security headers (401)"}
PROJECT_JSON = "project page checked, JSON"
GZIP_ROW = "JSON: identity and gzip copies agree"


@pytest.mark.parametrize(
    ("mutate", "failed"),
    [
        pytest.param(without("X-Frame-Options"), HEADER_ROWS, id="no-xfo"),
        pytest.param(without("Strict-Transport-Security"), HEADER_ROWS, id="no-hsts"),
        pytest.param(without("WWW-Authenticate"), CHALLENGE_ROWS, id="no-challenge"),
        pytest.param(open_index, OPEN_ROWS, id="200-without-credentials"),
        pytest.param(corrupt_metadata, {".metadata of checked-1.0-py3-none-any.whl"}, id="metadata-hash"),
        pytest.param(plain_gzip, {PROJECT_JSON, GZIP_ROW}, id="gzip-for-identity"),
        pytest.param(html_for_json, {"root page, JSON (PEP 691)", PROJECT_JSON}, id="json-content-type"),
        pytest.param(legacy_accepts_get, {"upload URL: GET is 405"}, id="legacy-get-200"),
    ],
)
def test_a_broken_server_fails_exactly_the_rows_it_breaks(stack, monkeypatch, capsys, mutate, failed):
    server = proxy(stack, mutate)
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/simple/"
        code, out = run_check(monkeypatch, capsys, url, *FALLBACK)
    finally:
        server.shutdown()
        server.server_close()
    assert code == check.EXIT_FAILED
    got = {name for name, result in rows(out).items() if result == check.FAIL}
    assert got == failed, out


def test_nothing_listening_fails_every_row_that_needs_an_answer(monkeypatch, capsys):
    import socket

    with socket.socket() as bound:  # bound, not listening: connections are refused
        bound.bind(("127.0.0.1", 0))
        code, out = run_check(monkeypatch, capsys, f"http://127.0.0.1:{bound.getsockname()[1]}/")
    assert code == check.EXIT_FAILED
    assert "connection failed" in out
    assert rows(out)["401 without credentials"] == check.FAIL


@pytest.mark.parametrize(
    "url",
    [
        "ftp://host/",
        "https:///simple/",
        "https://host/simple/?x=1",
        "https://host/simple/pkg/",
        "host/simple/",
    ],
)
def test_an_index_url_that_is_not_an_index_root_is_a_usage_error(url, capsys):
    assert cli.main(["check", "--index-url", url]) == check.EXIT_USAGE
    assert capsys.readouterr().err.startswith("error: ")


def test_credentials_in_the_url_are_used(monkeypatch):
    assert check.parse_index_url("https://a%40b:p%3Aw@h.example:8443/simple") == (
        "https",
        "h.example:8443",
        "a@b",
        "p:w",
    )


def test_password_stdin_needs_a_user(capsys):
    assert cli.main(["check", "--index-url", "https://h.example/", "--password-stdin"]) == check.EXIT_USAGE
    assert "needs --user" in capsys.readouterr().err


def test_a_user_without_a_password_and_no_terminal_is_a_usage_error(monkeypatch, capsys):
    monkeypatch.setattr("sys.stdin", io.StringIO(""))
    assert cli.main(["check", "--index-url", "https://h.example/", "--user", "a"]) == check.EXIT_USAGE
    assert "--password-stdin" in capsys.readouterr().err


# --- TLS -----------------------------------------------------------------------------------------


def self_signed(tmp_path) -> tuple[str, str]:
    """A certificate for 127.0.0.1 signed by itself: (cert file, key file)."""
    import datetime
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "pypi-edge check test")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), False
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_file, key_file = tmp_path / "cert.pem", tmp_path / "key.pem"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    return str(cert_file), str(key_file)


@pytest.fixture
def tls_front(stack, tmp_path):
    """The stack behind a TLS-terminating proxy with a self-signed certificate."""
    import ssl

    cert, key = self_signed(tmp_path)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    server = proxy(stack, lambda method, path, status, headers, body: (status, headers, body), context)
    yield f"https://127.0.0.1:{server.server_address[1]}/simple/", cert
    server.shutdown()
    server.server_close()


def test_a_certificate_that_does_not_verify_fails_tls(tls_front, monkeypatch, capsys):
    url, _ = tls_front
    monkeypatch.delenv("SSL_CERT_FILE", raising=False)
    code, out = run_check(monkeypatch, capsys, url, *FALLBACK)
    assert code == check.EXIT_FAILED
    assert rows(out)["TLS"] == check.FAIL
    assert "certificate verify failed" in out.replace(
        "CERTIFICATE_VERIFY_FAILED", "certificate verify failed"
    )


def test_a_trusted_certificate_passes_tls_and_the_checks_run_over_https(tls_front, monkeypatch, capsys):
    url, cert = tls_front
    monkeypatch.setenv("SSL_CERT_FILE", cert)  # OpenSSL's default verify paths honour it
    code, out = run_check(monkeypatch, capsys, url, *FALLBACK)
    results = rows(out)
    assert results["TLS"] == check.PASS
    assert results["root page, JSON (PEP 691)"] == check.PASS
    # The stand-in behind this proxy still serves plain HTTP and names http:// in its 405; in AWS
    # the edge names https:// (tests/test_edge_wrong_method.py).  Nothing else fails.
    assert {name for name, result in results.items() if result == check.FAIL} == {
        "POST to the index: 405 naming /legacy/"
    }
    assert code == check.EXIT_FAILED
