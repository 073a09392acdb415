"""Hostile publishing through the whole local stack (issue 18, items 2, 3, 4 and 7).

`python -m local` as a user starts it, with trusted publishing on and a local OIDC issuer; every
request goes over HTTP through the CloudFront stand-in, the viewer-request function and the
upload function, as twine, uv or a stranger's script would send it.  One table: each row is a
request, the status and the words of the answer, and then the proof that the bucket gained
nothing, over every object version and delete marker (tests/bucket_state.py).

What succeeds (the files the look-alikes imitate, one token exchange) happens first, in the
fixture; the stack is then left to settle (the indexer worker's pages), so that any object a
refusal wrote would show.
"""

from __future__ import annotations

import base64
import json
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from tests.bucket_state import gained, snapshot
from tests.distributions import archive_named, make_sdist, make_wheel, make_zip_sdist
from tests.e2e import Stack
from tests.oidc_issuer import Issuer, github_claims
from tests.upload_helpers import encode, fields_for

pytestmark = pytest.mark.e2e

AUDIENCE = "pypi-edge-hostile"
PUBLISHERS = {
    "acme-tools": [
        {"provider": "github", "repository": "acme/tools", "workflow": "release.yml", "environment": "pypi"}
    ]
}
USERS = {"reader": "reader-pw", "ci": "ci-pw", "admin": "admin-pw"}
WHEEL = make_wheel("acme-widgets", "1.0")
SDIST = make_sdist("acme-widgets", "1.0")
DEEP = "[" * 100_000 + "]" * 100_000


@dataclass
class Hostile:
    stack: Stack
    issuer: Issuer
    minted: str  # an upload token minted for acme-tools
    used_id_token: str  # an ID token already exchanged once

    def post(self, path: str, body: bytes, ctype: str, user: str | None = "ci") -> tuple[int, str]:
        return send(self.stack.url + path, body, ctype, (user, USERS[user]) if user else None)

    def upload(self, filename: str, data: bytes, name: str, version: str, user: str = "ci", **fields: Any):
        return self.post("/legacy/", *encode(fields_for(filename, data, name, version, **fields)), user=user)

    def mint(self, token: str) -> tuple[int, str]:
        return self.post(
            "/_/oidc/mint-token", json.dumps({"token": token}).encode(), "application/json", None
        )


def send(url: str, body: bytes, ctype: str, credentials: tuple[str, str] | None) -> tuple[int, str]:
    """One POST as a client sends it (no Origin, no Sec-Fetch-Site): (status, body)."""
    request = urllib.request.Request(url, data=body, method="POST")
    request.add_header("Content-Type", ctype)
    if credentials is not None:
        basic = base64.b64encode(":".join(credentials).encode()).decode()
        request.add_header("Authorization", f"Basic {basic}")
    try:
        with urllib.request.urlopen(request, timeout=30) as resp:
            return resp.status, resp.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


def settle(stack: Stack, quiet_seconds: float = 1.5, timeout: float = 30) -> None:
    """Wait until the bucket stops changing (the indexer worker's rebuilds after the uploads)."""
    deadline = time.monotonic() + timeout
    last, since = snapshot(stack.s3, stack.bucket), time.monotonic()
    while time.monotonic() < deadline:
        time.sleep(0.3)
        now = snapshot(stack.s3, stack.bucket)
        if now != last:
            last, since = now, time.monotonic()
        elif time.monotonic() - since >= quiet_seconds:
            return
    raise AssertionError("the bucket kept changing")


@pytest.fixture(scope="module")
def hostile(tmp_path_factory) -> Iterator[Hostile]:
    issuer = Issuer()
    stack = Stack(
        workdir=tmp_path_factory.mktemp("hostile-publish"),
        users=USERS,
        bucket="pypi-hostile",
        publish={"ci": ["acme-*"], "admin": ["*"]},
        extra_args=["--trusted-publishers", json.dumps(PUBLISHERS), "--trust-test-issuer", issuer.url,
                    "--oidc-audience", AUDIENCE],
    ).start()  # fmt: skip
    try:
        h = Hostile(stack, issuer, "", issuer.token(AUDIENCE))
        assert h.upload(*WHEEL[:2], "acme-widgets", "1.0")[0] == 200
        assert h.upload(*SDIST, "acme-widgets", "1.0")[0] == 200
        status, body = h.mint(h.used_id_token)
        assert status == 200, body
        h.minted = json.loads(body)["token"]
        settle(stack)
        yield h
    finally:
        stack.stop()
        issuer.close()


def zip_sdist(version: str) -> bytes:
    return make_zip_sdist("acme-widgets", version, summary="zip")[1]


def part(name: str, value: bytes, headers: str = "") -> bytes:
    return (
        f'--xyz\r\nContent-Disposition: form-data; name="{name}"\r\n{headers}\r\n'.encode() + value + b"\r\n"
    )


def respelt(token: str) -> str:
    """The minted token with its signature's last character spelt another way (same bytes)."""
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    value = alphabet.index(token[-1])
    return token[:-1] + alphabet[value ^ 1]  # 43 characters: the 2 lowest bits are unused


Request = Callable[[Hostile], tuple[int, str]]


def up(filename: str, data: bytes, name: str, version: str, user: str = "ci", **fields: Any) -> Request:
    return lambda h: h.upload(filename, data, name, version, user=user, **fields)


def invalid(filename: str) -> Request:
    """The form names the project as the file does (main published these)."""
    raw = filename.split("-1.0")[0]
    return up(filename, archive_named(filename), raw, "1.0", user="admin")


def other_wheel(version: str) -> bytes:
    return make_wheel("acme-widgets", version, summary="other bytes")[1]


def other_sdist(version: str) -> bytes:
    return make_sdist("acme-widgets", version, summary="other bytes")[1]


UNKNOWN_CHARSET = part("name", b"x", "Content-Type: text/plain; charset=nope\r\n") + b"--xyz--\r\n"
FORM = "multipart/form-data; boundary=xyz"

CASES: dict[str, tuple[Request, int, str]] = {
    # --- item 2: look-alikes of the published acme_widgets-1.0 files (different bytes) ---------
    "wheel, name in capitals": (
        up("ACME_WIDGETS-1.0-py3-none-any.whl", other_wheel("1.0"), "acme-widgets", "1.0"),
        409,
        "File already exists: ACME_WIDGETS-1.0-py3-none-any.whl (stored as acme_widgets-1.0-py3-none-any",
    ),
    "wheel, '.' for '_'": (
        up("acme.widgets-1.0-py3-none-any.whl", other_wheel("1.0"), "acme-widgets", "1.0"),
        409,
        "File already exists",
    ),
    "wheel, version 1.0.0 for 1.0": (
        up("acme_widgets-1.0.0-py3-none-any.whl", other_wheel("1.0.0"), "acme-widgets", "1.0.0"),
        409,
        "as the published acme_widgets-1.0-py3-none-any.whl",
    ),
    "sdist, pre-PEP 625 spelling": (
        up("acme-widgets-1.0.tar.gz", other_sdist("1.0"), "acme-widgets", "1.0"),
        409,
        "File already exists",
    ),
    "sdist, a second one as .zip": (
        up("ACME.Widgets-1.0.zip", zip_sdist("1.0"), "acme-widgets", "1.0"),
        409,
        "one sdist per release",
    ),
    "sdist, a second one as 1.0.0": (
        up("acme_widgets-1.0.0.tar.gz", other_sdist("1.0.0"), "acme-widgets", "1.0.0"),
        409,
        "as the published acme_widgets-1.0.tar.gz",
    ),
    "wheel, identical bytes under another spelling": (
        up("ACME.Widgets-1.0-py3-none-any.whl", WHEEL[1], "acme-widgets", "1.0"),
        200,
        "(stored as acme_widgets-1.0-py3-none-any.whl) is already published with identical contents",
    ),
    # --- item 3: project names -----------------------------------------------------------------
    "name ending in '-'": (
        invalid("acme--1.0.tar.gz"),
        400,
        "'acme-' is not a valid project name (a project name is a PEP 508 name in ASCII",
    ),
    "name with markup": (invalid("acme-<script>x-1.0.tar.gz"), 400, "is not a valid project name"),
    "name with a control character": (
        invalid("acme-n\x01x-1.0.tar.gz"),
        400,
        "not a valid distribution file name",
    ),
    "name with a non-ASCII letter": (
        invalid("acme_\u1e8b-1.0-py3-none-any.whl"),
        400,
        "printable ASCII",
    ),
    "name with the Kelvin sign (lower-cases into 'k')": (
        invalid("acme_\u212a-1.0-py3-none-any.whl"),
        400,
        "printable ASCII",
    ),
    # --- item 4: fields that do not parse, and rights before parsers ---------------------------
    "attestations nested 100,000 deep": (
        up(*WHEEL[:2], "acme-widgets", "1.0", attestations=DEEP),
        400,
        "nest deeper than 32 levels",
    ),
    "a reader's deeply nested form": (
        up(*WHEEL[:2], "acme-widgets", "1.0", user="reader", attestations=DEEP),
        403,
        "'reader' may read this index but not publish to it",
    ),
    "a reader's garbage body": (
        lambda h: h.post("/legacy/", b"garbage", FORM, "reader"),
        403,
        "may read this index but not publish",
    ),
    "another project's file with deep attestations": (
        up("other-1.0-py3-none-any.whl", b"PK never opened", "other", "1.0", attestations=DEEP),
        403,
        "'ci' may not publish to project 'other'",
    ),
    "a part in a charset Python does not know": (
        lambda h: h.post("/legacy/", UNKNOWN_CHARSET, FORM),
        400,
        "no file",
    ),
    "a version field of 5,000 characters": (
        up(*WHEEL[:2], "acme-widgets", "1" * 5000),
        400,
        "field 'version' is longer than 1024",
    ),
    # --- item 7: trusted publishing ----------------------------------------------------------
    "an ID token exchanged a second time": (lambda h: h.mint(h.used_id_token), 422, "invalid-reuse-token"),
    "an untrusted issuer": (
        lambda h: h.mint(h.issuer.token(AUDIENCE, issuer="https://evil.example")),
        422,
        "issuer 'https://evil.example' is not trusted by this index\"",
    ),
    "an ID token valid for 13 hours": (
        lambda h: h.mint(h.issuer.token(AUDIENCE, lifetime=13 * 3600)),
        422,
        "stays valid for more than 12 hours",
    ),
    "an ID token without a matching publisher": (
        lambda h: h.mint(h.issuer.token(AUDIENCE, github_claims(environment="staging"))),
        422,
        "invalid-publisher",
    ),
    "a minted token spelt another way": (
        lambda h: _with_token(h, respelt(h.minted), "acme-tools"),
        401,
        "invalid or missing credentials",
    ),
    "a minted token for a project it was not minted for": (
        lambda h: _with_token(h, h.minted, "acme-widgets"),
        403,
        "may not publish to project 'acme-widgets'",
    ),
}


def _with_token(h: Hostile, token: str, project: str) -> tuple[int, str]:
    filename, data, _ = make_wheel(project, "1.0")
    return send(
        h.stack.url + "/legacy/", *encode(fields_for(filename, data, project, "1.0")), ("__token__", token)
    )


@pytest.mark.parametrize("case", list(CASES))
def test_a_hostile_publish_is_answered_and_writes_nothing(hostile, case):
    request, status, words = CASES[case]
    before = snapshot(hostile.stack.s3, hostile.stack.bucket)
    got, body = request(hostile)
    assert (got, words in body) == (status, True), body
    assert gained(hostile.stack.s3, hostile.stack.bucket, before) == []
