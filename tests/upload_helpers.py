"""Helpers for the upload function's tests: legacy-upload forms and function URL events."""

from __future__ import annotations

import base64
import hashlib
from typing import Any

from urllib3.filepost import encode_multipart_formdata

from edge import credentials
from local.cdn import function_url_event
from upload import handler as upload

SECRET = "origin-secret-for-tests"
ITER = 1000
TOKEN = "pypi-edge-" + "T" * 43
USERS: dict[str, Any] = {
    "reader": "reader-pw",
    "ci": {"password": "ci:pw", "publish": ["acme-*"]},
    "admin": {"password": "admin-pw", "publish": ["*"]},
    "__token__": {"deploy": {"sha256": credentials.token_digest(TOKEN), "publish": ["tools"]}},
}
CREDENTIALS = credentials.render_file(USERS, "pypi-edge test", "seed", iterations=ITER)


def basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


def fields_for(filename: str, data: bytes, name: str, version: str, /, **extra: Any) -> list[tuple[str, Any]]:
    """The form twine 7 sends for one file (twine/repository.py, Repository._upload)."""
    fields: list[tuple[str, Any]] = [
        ("name", name),
        ("version", version),
        ("filetype", "bdist_wheel" if filename.endswith(".whl") else "sdist"),
        ("pyversion", "py3" if filename.endswith(".whl") else "source"),
        ("metadata_version", "2.1"),
        ("summary", "A test package"),
        ("sha256_digest", hashlib.sha256(data).hexdigest()),
        ("blake2_256_digest", hashlib.blake2b(data, digest_size=32).hexdigest()),
        (":action", "file_upload"),
        ("protocol_version", "1"),
    ]
    overrides = {k: v for k, v in extra.items()}
    fields = [(k, overrides.pop(k)) if k in overrides else (k, v) for k, v in fields]
    fields = [(k, v) for k, v in fields if v is not None]
    fields += [(k, v) for k, v in overrides.items() if v is not None]
    fields.append(("content", (filename, data, "application/octet-stream")))
    return fields


def encode(fields: list[tuple[str, Any]]) -> tuple[bytes, str]:
    return encode_multipart_formdata(fields)


def event(
    body: bytes,
    content_type: str | None,
    *,
    auth: str | None = None,
    secret: str | None = SECRET,
    method: str = "POST",
    path: str = "/legacy/",
    accept: str | None = None,
) -> dict:
    headers = [("Host", "pypi.example.com"), ("User-Agent", "twine/7.0.0")]
    if content_type:
        headers.append(("Content-Type", content_type))
    if auth:
        headers.append(("Authorization", auth))
    if secret is not None:
        headers.append((upload.ORIGIN_HEADER, secret))
    if accept:
        headers.append(("Accept", accept))
    return function_url_event(method, path, headers, body, "203.0.113.7")


def upload_event(
    filename: str,
    data: bytes,
    name: str,
    version: str,
    *,
    auth: str,
    accept: str | None = None,
    overrides: dict[str, Any] | None = None,
    **kw: Any,
) -> dict:
    body, ctype = encode(fields_for(filename, data, name, version, **{**kw, **(overrides or {})}))
    return event(body, ctype, auth=auth, accept=accept)


def install_config(s3: Any, refresher: Any = None) -> upload.Config:
    """The upload function configured for a moto bucket, with the test users; undo with configure(None)."""
    from tests.conftest import BUCKET

    verifier = credentials.Verifier()
    verifier.configure(CREDENTIALS)
    config = upload.Config(bucket=BUCKET, origin_secret=SECRET, s3=s3, refresher=refresher, verifier=verifier)
    upload.configure(config)
    return config


def trust(
    config: upload.Config, publishers_config: dict[str, Any], *, audience: str, key: str, issuer: str
) -> None:
    """Switch trusted publishing on in an installed config, trusting the local test `issuer`."""
    from upload import oidc, publishers

    config.trusted = oidc.Settings(
        audience=audience,
        key=key.encode(),
        publishers=publishers.parse_publishers(publishers_config),
        test_issuer=issuer,
    )
    config.minted = oidc.minted_verifier(config.trusted)


def presigned_put(url: str, headers: dict[str, str], data: bytes) -> tuple[int, str]:
    """PUT `data` to a presigned S3 URL as the CLI does (urllib): (status, body text)."""
    import urllib.error
    import urllib.request

    request = urllib.request.Request(url, data=data, method="PUT", headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=60) as resp:
            return resp.status, resp.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()
