"""A local OpenID Connect issuer, standing in for GitHub Actions and GitLab CI in tests.

One HTTP server on a free loopback port serves what a CI provider's issuer serves:
- `/.well-known/openid-configuration` (OIDC Discovery 1.0) naming the issuer and `jwks_uri`;
- `/jwks` with the public RSA keys;
- `/token?audience=…` with `Authorization: bearer <request token>`: GitHub's ID-token request
  endpoint, as `ACTIONS_ID_TOKEN_REQUEST_URL` / `ACTIONS_ID_TOKEN_REQUEST_TOKEN` point at it,
  answering `{"value": "<JWT>"}` (the shape uv's ambient-id crate reads).

The index trusts it only because a test builds `Settings(test_issuer=issuer.url)` (or a
self-hosted `GitLabPublisher(issuer=...)`) in Python: the deployed config cannot name an
http issuer.
"""

from __future__ import annotations

import collections
import json
import secrets
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from joserfc import jwt
from joserfc.jwk import KeySet, RSAKey

REQUEST_TOKEN = "actions-request-token-for-tests"

_KEYS: dict[str, RSAKey] = {}


def rsa_key(kid: str) -> RSAKey:
    """A 2048-bit RSA key with `kid`, one per kid for the whole run (generation is slow)."""
    if kid not in _KEYS:
        _KEYS[kid] = RSAKey.generate_key(2048, {"kid": kid}, private=True)
    return _KEYS[kid]


def github_claims(**overrides: Any) -> dict[str, Any]:
    """The claims GitHub puts in an Actions ID token (values of a tag push in acme/tools)."""
    claims = {
        "sub": "repo:acme/tools:environment:pypi",
        "repository": "acme/tools",
        "repository_id": "101",
        "repository_owner": "acme",
        "repository_owner_id": "7",
        "job_workflow_ref": "acme/tools/.github/workflows/release.yml@refs/tags/v1.0.0",
        "workflow_ref": "acme/tools/.github/workflows/release.yml@refs/tags/v1.0.0",
        "environment": "pypi",
        "ref": "refs/tags/v1.0.0",
        "ref_type": "tag",
        "sha": "3f786850e387550fdab836ed7e6dc881de23001b",
        "run_id": "9876543210",
        "run_attempt": "1",
        "actor": "alice",
        "event_name": "push",
    }
    claims.update(overrides)
    return {k: v for k, v in claims.items() if v is not None}


def gitlab_claims(host: str = "gitlab.com", **overrides: Any) -> dict[str, Any]:
    """The claims GitLab puts in a CI ID token (a tag pipeline of acme/lib)."""
    claims = {
        "sub": "project_path:acme/lib:ref_type:tag:ref:v2.0.0",
        "project_path": "acme/lib",
        "project_id": "501",
        "namespace_path": "acme",
        "namespace_id": "50",
        "ci_config_ref_uri": f"{host}/acme/lib//.gitlab-ci.yml@refs/tags/v2.0.0",
        "environment": "pypi",
        "ref": "v2.0.0",
        "ref_path": "refs/tags/v2.0.0",
        "ref_type": "tag",
        "sha": "a94a8fe5ccb19ba61c4c0873d391e987982fbbd3",
        "pipeline_id": "1234",
        "job_id": "5678",
        "user_login": "bob",
    }
    claims.update(overrides)
    return {k: v for k, v in claims.items() if v is not None}


class Issuer:
    """The issuer's state: its keys, which one signs, the claims its token endpoint hands out."""

    def __init__(self) -> None:
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        self.server.issuer = self  # type: ignore[attr-defined]
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.keys: list[RSAKey] = [rsa_key("key-1")]
        self.signing = self.keys[0]
        self.claims: dict[str, Any] = github_claims()  # what /token puts in the JWT
        self.requests: collections.Counter[str] = collections.Counter()
        self.token_audiences: list[str] = []
        self.lock = threading.Lock()
        self._thread = threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True)
        self._thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    # -- keys --------------------------------------------------------------------------------
    def rotate(self, kid: str) -> RSAKey:
        """Publish a new key and sign with it from now on (the old one stays published)."""
        key = rsa_key(kid)
        self.keys.append(key)
        self.signing = key
        return key

    def jwks(self) -> dict[str, Any]:
        return KeySet(self.keys).as_dict(private=False)

    # -- tokens ------------------------------------------------------------------------------
    def token(
        self,
        audience: str | list[str],
        claims: dict[str, Any] | None = None,
        *,
        now: int | None = None,
        lifetime: int = 300,
        key: RSAKey | None = None,
        kid: str | None = None,
        issuer: str | None = None,
        alg: str = "RS256",
    ) -> str:
        """A JWT as the provider would issue it; every part can be overridden to test refusals."""
        now = int(time.time()) if now is None else now
        body = {
            "iss": issuer or self.url,
            "aud": audience,
            "iat": now,
            "nbf": now,
            "exp": now + lifetime,
            "jti": secrets.token_hex(8),
            **(self.claims if claims is None else claims),
        }
        key = key or self.signing
        header = {"alg": alg, "kid": kid if kid is not None else key.kid}
        return jwt.encode(header, body, key, algorithms=[alg])


class _Handler(BaseHTTPRequestHandler):
    server_version = "oidc-issuer-stand-in"

    def log_message(self, format: str, *args: Any) -> None:  # quiet test output
        pass

    def _json(self, status: int, doc: Any) -> None:
        data = json.dumps(doc).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self) -> None:
        issuer: Issuer = self.server.issuer  # type: ignore[attr-defined]
        url = urllib.parse.urlsplit(self.path)
        with issuer.lock:
            issuer.requests[url.path] += 1
        if url.path == "/.well-known/openid-configuration":
            self._json(
                200,
                {
                    "issuer": issuer.url,
                    "jwks_uri": f"{issuer.url}/jwks",
                    "id_token_signing_alg_values_supported": ["RS256"],
                    "response_types_supported": ["id_token"],
                    "subject_types_supported": ["public", "pairwise"],
                },
            )
        elif url.path == "/jwks":
            self._json(200, issuer.jwks())
        elif url.path == "/token":
            # GitHub's ID-token endpoint: bearer ACTIONS_ID_TOKEN_REQUEST_TOKEN, ?audience=.
            if self.headers.get("Authorization", "").lower() != f"bearer {REQUEST_TOKEN}":
                self._json(401, {"message": "Bad credentials"})
                return
            audience = urllib.parse.parse_qs(url.query).get("audience", [""])[0]
            with issuer.lock:
                issuer.token_audiences.append(audience)
            self._json(200, {"count": 1, "value": issuer.token(audience)})
        else:
            self._json(404, {"message": "Not Found"})


class Seen:
    """An in-memory `upload.oidc.TokenLog` for tests that call the exchange directly (the upload
    function uses `S3TokenLog`, whose own tests run against moto)."""

    def __init__(self) -> None:
        self.used: set[tuple[str, str]] = set()

    def first_use(self, issuer: str, jti: str, expires: int) -> bool:
        if (issuer, jti) in self.used:
            return False
        self.used.add((issuer, jti))
        return True
