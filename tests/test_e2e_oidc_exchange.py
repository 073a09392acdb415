"""The real `uv publish --trusted-publishing always` against upload/oidc.py's endpoints.

What runs: uv (the pinned release) in GitHub Actions mode (GITHUB_ACTIONS=true, the ID-token
request URL and bearer token pointing at the local issuer's stand-in) and in GitLab CI mode
(GITLAB_CI=true and `<AUDIENCE>_ID_TOKEN`), over TLS (uv talks https to /_/oidc/ whatever the
publish URL's scheme) to a small server that dispatches `/_/oidc/*` to `oidc.handle` and accepts
`/legacy/` uploads only with a minted token whose grant covers the file's project.

This pins the protocol as uv speaks it: the audience request, the token request (query
`audience=`, `Authorization: bearer …`), the mint request, Basic `__token__` with the minted
token, and the burn request afterwards.  The same exchange through the whole local stack, with
the real upload function and pip installing the result, is tests/test_e2e_trusted_publishing.py.
"""

from __future__ import annotations

import base64
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from tests.e2e import VENV_BIN, clean_env, run, said
from tests.oidc_issuer import REQUEST_TOKEN, Issuer, Seen, github_claims, gitlab_claims
from tests.tls import TLSProxy, make_ca_and_leaf
from upload import oidc, publishers

pytestmark = pytest.mark.e2e

AUDIENCE = "pypi-edge-e2e"
KEY = b"e2e-signing-key-" * 3


@dataclass
class Index:
    settings: oidc.Settings
    cache: oidc.KeyCache = field(default_factory=oidc.KeyCache)
    requests: list[tuple[str, str, str]] = field(default_factory=list)  # method, path, auth user
    uploads: dict[str, bytes] = field(default_factory=dict)
    seen: Seen = field(default_factory=Seen)  # replay protection (the upload function: S3TokenLog)


class _Handler(BaseHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass

    def _answer(self, status: int, body: bytes, content_type: str = "application/json") -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _serve(self) -> None:
        index: Index = self.server.index  # type: ignore[attr-defined]
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        auth = self.headers.get("Authorization", "")
        user, _, password = (
            base64.b64decode(auth[6:]).decode().partition(":") if auth.startswith("Basic ") else ("", "", "")
        )
        index.requests.append((self.command, self.path, user))
        if self.path.startswith("/_/oidc/"):
            reply = oidc.handle(
                self.command,
                self.path,
                body,
                settings=index.settings,
                cache=index.cache,
                now=int(time.time()),
                seen=index.seen,
            )
            self._answer(reply.status, reply.encoded())
            return
        try:
            grant = oidc.verify_minted(password, index.settings.key, time.time())
        except oidc.MintedTokenError as exc:
            self._answer(401, str(exc).encode(), "text/plain")
            return
        # Just enough of the multipart form to find the file: the real parser is the upload function's.
        name = body.split(b'name="name"\r\n\r\n', 1)[1].split(b"\r\n", 1)[0].decode()
        if not grant.allows(name):
            self._answer(403, b"not your project", "text/plain")
            return
        index.uploads[name] = body
        self._answer(200, b"OK", "text/plain")

    do_GET = do_POST = _serve


@pytest.fixture(scope="module")
def tls(tmp_path_factory) -> tuple[Path, Path, Path]:
    return make_ca_and_leaf(tmp_path_factory.mktemp("tls"))


@pytest.fixture
def index(issuer, tls) -> Iterator[tuple[Index, str]]:
    _ca, leaf, key = tls
    trusted = {
        "acme-tools": (
            publishers.GitHubPublisher(repository="acme/tools", workflow="release.yml", environment="pypi"),
        ),
        "acme-lib": (publishers.GitLabPublisher(project="acme/lib", environment="pypi"),),
    }
    state = Index(oidc.Settings(audience=AUDIENCE, key=KEY, publishers=trusted, test_issuer=issuer.url))
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    server.index = state  # type: ignore[attr-defined]
    threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True).start()
    proxy = TLSProxy(server.server_address[1], leaf, key)
    yield state, f"https://127.0.0.1:{proxy.port}/legacy/"
    proxy.close()
    server.shutdown()
    server.server_close()


@pytest.fixture(scope="module")
def wheels(tmp_path_factory) -> dict[str, Path]:
    from tests.distributions import make_wheel

    out = tmp_path_factory.mktemp("dist")
    paths = {}
    for project in ("acme-tools", "acme-lib", "numpy-fork"):
        filename, data, _ = make_wheel(project, "1.0.0")
        (out / filename).write_bytes(data)
        paths[project] = out / filename
    return paths


def uv_publish(url: str, wheel: Path, ca: Path, **env: str):
    return run(
        VENV_BIN / "uv",
        "publish",
        "--trusted-publishing",
        "always",
        "--publish-url",
        url,
        wheel,
        env=clean_env(SSL_CERT_FILE=str(ca), **env),
        timeout=120,
    )


def github_env(issuer: Issuer) -> dict[str, str]:
    return {
        "GITHUB_ACTIONS": "true",
        "ACTIONS_ID_TOKEN_REQUEST_URL": f"{issuer.url}/token",
        "ACTIONS_ID_TOKEN_REQUEST_TOKEN": REQUEST_TOKEN,
    }


def test_uv_on_github_actions_exchanges_its_id_token_and_publishes(index, issuer, tls, wheels):
    state, url = index
    proc = uv_publish(url, wheels["acme-tools"], tls[0], **github_env(issuer))
    assert proc.returncode == 0, proc.stderr
    assert "acme-tools" in state.uploads
    assert issuer.token_audiences == [AUDIENCE]  # uv asked GitHub for our audience, from our endpoint
    assert [(m, p, u) for m, p, u in state.requests] == [
        ("GET", "/_/oidc/audience", ""),
        ("POST", "/_/oidc/mint-token", ""),
        ("POST", "/legacy/", "__token__"),
        ("POST", "/_/oidc/burn-token", ""),
    ]
    # GitHub masks the token in the job log because uv asks it to.
    assert "::add-mask::pypi-edge-oidc-" in proc.stdout


def test_uv_on_gitlab_ci_reads_the_id_token_variable_named_after_the_audience(index, issuer, tls, wheels):
    state, url = index
    token = issuer.token(AUDIENCE, gitlab_claims())
    proc = uv_publish(url, wheels["acme-lib"], tls[0], GITLAB_CI="true", PYPI_EDGE_E2E_ID_TOKEN=token)
    assert proc.returncode == 0, proc.stderr
    assert "acme-lib" in state.uploads


def test_uv_prints_which_claim_did_not_match(index, issuer, tls, wheels):
    state, url = index
    issuer.claims = github_claims(environment="staging")
    proc = uv_publish(url, wheels["acme-tools"], tls[0], **github_env(issuer))
    assert proc.returncode != 0
    assert "environment 'staging' is not 'pypi'" in said(proc)
    assert "invalid-publisher" in said(proc)
    assert state.uploads == {}


def test_a_minted_token_does_not_publish_another_project(index, issuer, tls, wheels):
    state, url = index
    proc = uv_publish(url, wheels["numpy-fork"], tls[0], **github_env(issuer))
    assert proc.returncode != 0
    assert "403" in proc.stderr
    assert state.uploads == {}


def test_the_mint_endpoint_answers_the_uv_error_shape_for_a_foreign_audience(index, issuer, tls, wheels):
    state, url = index
    token = issuer.token("pypi", gitlab_claims())
    proc = uv_publish(url, wheels["acme-lib"], tls[0], GITLAB_CI="true", PYPI_EDGE_E2E_ID_TOKEN=token)
    assert proc.returncode != 0
    assert "audience 'pypi' is not this index's audience 'pypi-edge-e2e'" in said(proc)
    assert "Token request failed" in said(proc)
    assert [p for _, p, _ in state.requests] == ["/_/oidc/audience", "/_/oidc/mint-token"]
