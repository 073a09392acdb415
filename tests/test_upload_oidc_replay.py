"""Trusted publishing, issue 18 item 7: replayed ID tokens, token spellings, leaked keys, what a
refusal says and logs.

Through the upload function against moto (the replay marker is a real conditional PUT), and
through `upload.oidc` directly where only the exchange matters.  Failures seen on main before
the fix are noted per test.
"""

from __future__ import annotations

import base64
import json
import logging
import time

import pytest

from edge.handler import route
from tests.bucket_state import gained, snapshot
from tests.conftest import BUCKET
from tests.distributions import make_wheel
from tests.oidc_issuer import Seen, github_claims
from tests.upload_helpers import basic, event, install_config, trust, upload_event
from upload import handler as upload
from upload import oidc

AUDIENCE = "pypi.example.com"
KEY = "k" * 40
RELEASE = {"provider": "github", "repository": "acme/tools", "workflow": "release.yml", "environment": "pypi"}
PUBLISHERS = {"acme-tools": [RELEASE], "acme-cli": [RELEASE]}


@pytest.fixture
def config(s3, issuer):
    cfg = install_config(s3)
    trust(cfg, PUBLISHERS, audience=AUDIENCE, key=KEY, issuer=issuer.url)
    yield cfg
    upload.configure(None)


def exchange(token: str) -> dict:
    body = json.dumps({"token": token}).encode()
    return upload.handler(event(body, "application/json", path="/_/oidc/mint-token"))


def description(resp: dict) -> tuple[int, str, str]:
    doc = json.loads(resp["body"])
    (error,) = doc["errors"]
    return resp["statusCode"], error["code"], error["description"]


def publish(token: str, project: str = "acme-tools"):
    filename, data, _ = make_wheel(project, "1.0")
    return upload.handler(upload_event(filename, data, project, "1.0", auth=basic("__token__", token)))


# --- one exchange per ID token ----------------------------------------------------------------------


def test_an_id_token_is_exchanged_once(config, issuer, s3):
    # main: the second exchange was answered 200 with a second upload token.
    token = issuer.token(AUDIENCE)
    assert exchange(token)["statusCode"] == 200
    before = snapshot(s3, BUCKET)
    status, code, text = description(exchange(token))
    assert (status, code) == (422, "invalid-reuse-token")
    assert "already exchanged" in text and "request a new one" in text
    assert gained(s3, BUCKET, before) == []


def test_the_exchange_records_a_marker_under_a_private_prefix_the_edge_never_serves(config, issuer, s3):
    token = issuer.token(AUDIENCE)
    before = snapshot(s3, BUCKET)
    assert exchange(token)["statusCode"] == 200
    ((key, _, _),) = gained(s3, BUCKET, before)
    jti = json.loads(base64.urlsafe_b64decode(token.split(".")[1] + "==="))["jti"]
    assert key == oidc.S3TokenLog.key(issuer.url, jti)
    assert key.startswith("_oidc-jti/") and key.count("/") == 1
    assert json.loads(s3.get_object(Bucket=BUCKET, Key=key)["Body"].read())["exp"] > time.time()
    assert route("GET", "/" + key)["status"] == "404"


def test_a_refused_exchange_records_nothing_so_the_token_stays_usable(config, issuer, s3):
    issuer.claims = github_claims(environment="staging")
    token = issuer.token(AUDIENCE)
    before = snapshot(s3, BUCKET)
    assert description(exchange(token))[1] == "invalid-publisher"
    assert gained(s3, BUCKET, before) == []


def test_two_different_tokens_of_one_run_each_exchange_once(config, issuer):
    assert exchange(issuer.token(AUDIENCE))["statusCode"] == 200
    assert exchange(issuer.token(AUDIENCE))["statusCode"] == 200


def test_the_same_jti_from_another_issuer_is_another_token():
    seen = Seen()
    log = oidc.S3TokenLog(None, "b")
    assert log.key("https://a", "j") != log.key("https://b", "j")
    assert seen.first_use("https://a", "j", 0) and seen.first_use("https://b", "j", 0)
    assert not seen.first_use("https://a", "j", 0)


def test_a_concurrent_exchange_in_flight_counts_as_a_use(s3):
    # S3 answers 409 ConditionalRequestConflict while another conditional write of the key is
    # in flight: one of the two exchanges must lose.
    from botocore.exceptions import ClientError

    def busy(**_):
        raise ClientError(
            {"Error": {"Code": "ConditionalRequestConflict"}, "ResponseMetadata": {"HTTPStatusCode": 409}},
            "Put",
        )

    s3.put_object = busy
    assert oidc.S3TokenLog(s3, BUCKET).first_use("https://i", "j", 1) is False


def test_storage_trouble_while_recording_is_a_503_not_a_second_token(config, issuer, monkeypatch):
    from botocore.exceptions import ClientError

    def down(**_):
        raise ClientError(
            {"Error": {"Code": "InternalError"}, "ResponseMetadata": {"HTTPStatusCode": 500}}, "Put"
        )

    monkeypatch.setattr(config.s3, "put_object", down)
    resp = exchange(issuer.token(AUDIENCE))
    assert resp["statusCode"] == 503


@pytest.mark.parametrize(
    ("claims", "reason"),
    [
        ({"jti": "x" * 300}, "invalid 'jti' claim: a string of 1 to 256 characters"),
        ({"jti": ""}, "invalid 'jti' claim"),
        ({"jti": 7}, "invalid 'jti' claim"),
    ],
)
def test_a_token_whose_jti_cannot_be_recorded_is_refused(config, issuer, s3, claims, reason):
    issuer.claims = github_claims(**claims)
    before = snapshot(s3, BUCKET)
    assert reason in description(exchange(issuer.token(AUDIENCE)))[2]
    assert gained(s3, BUCKET, before) == []


def test_a_token_that_would_outlive_its_replay_marker_is_refused(config, issuer, s3):
    # The marker expires after a day (S3 lifecycle, at least 24 h); a token valid for longer than
    # 12 h could be replayed after it, so it is not accepted.
    before = snapshot(s3, BUCKET)
    _, code, text = description(exchange(issuer.token(AUDIENCE, lifetime=13 * 3600)))
    assert code == "invalid-token" and "stays valid for more than 12 hours" in text
    assert gained(s3, BUCKET, before) == []
    assert oidc.MAX_ID_TOKEN_REMAINING_SECONDS + oidc.LEEWAY_SECONDS < oidc.JTI_RETENTION_DAYS * 86400


# --- a minted token has one spelling --------------------------------------------------------------


def _respell_last(part: str) -> list[str]:
    """Other characters that decode to the same bytes in the last position (unused low bits)."""
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    unused = {2: 4, 3: 2}.get(len(part) % 4, 0)  # 4 bits unused after 2 chars, 2 after 3
    value = alphabet.index(part[-1])
    base = value >> unused << unused
    return [part[:-1] + alphabet[base + low] for low in range(1 << unused) if base + low != value]


def test_a_minted_token_spelt_another_way_is_refused(config, issuer):
    # main: every re-spelling of the signature's last character verified.
    token = json.loads(exchange(issuer.token(AUDIENCE))["body"])["token"]
    head, _, signature = token.rpartition(".")
    payload = head.removeprefix(oidc.TOKEN_PREFIX)
    respellings = [f"{head}.{s}" for s in _respell_last(signature)]
    if len(payload) % 4:
        respellings += [f"{oidc.TOKEN_PREFIX}{p}.{signature}" for p in _respell_last(payload)]
    assert len(respellings) >= 3
    assert oidc.verify_minted(token, KEY.encode(), time.time()).projects  # the real one verifies
    for other in respellings:
        with pytest.raises(oidc.MintedTokenError, match="not canonical base64url"):
            oidc.verify_minted(other, KEY.encode(), time.time())
        assert publish(other)["statusCode"] == 401


@pytest.mark.parametrize("payload", ["A", "AAAAA", "abcde"])
def test_a_minted_token_of_an_impossible_base64_length_is_refused(payload):
    with pytest.raises(oidc.MintedTokenError):
        oidc.verify_minted(f"{oidc.TOKEN_PREFIX}{payload}.{'A' * 43}", KEY.encode(), time.time())


# --- a leaked signing key cannot publish what has no publisher ---------------------------------------


def forged(projects: list[object]) -> str:
    """A token signed with the deployment's own key (a leaked key), naming any projects."""
    now = int(time.time())
    body = {
        "v": 1,
        "jti": "f",
        "iat": now,
        "exp": now + 600,
        "projects": projects,
        "publisher": "x",
        "claims": {},
    }
    payload = oidc._b64(json.dumps(body).encode())
    return f"{oidc.TOKEN_PREFIX}{payload}.{oidc._b64(oidc._signature(KEY.encode(), payload))}"


@pytest.mark.parametrize(
    ("projects", "target"),
    [
        (["*"], "numpy"),  # main: 200, published to any project
        (["*"], "acme-tools"),  # a glob is no project name, even one that would match
        (["numpy"], "numpy"),  # no trusted publisher for numpy
        (["acme-*"], "acme-web"),
    ],
)
def test_a_forged_token_publishes_only_projects_that_have_a_trusted_publisher(config, s3, projects, target):
    before = snapshot(s3, BUCKET)
    resp = publish(forged(projects), target)
    assert resp["statusCode"] == 403, resp
    assert "not publish" in resp["body"]  # a token left with no project is read-only
    assert gained(s3, BUCKET, before) == []


def test_a_token_keeps_the_projects_that_still_have_a_publisher_and_logs_the_rest(config, s3, caplog):
    token = forged(["acme-tools", "numpy", "*"])
    with caplog.at_level(logging.INFO, logger="pypi_edge.upload.oidc"):
        assert publish(token, "acme-tools")["statusCode"] == 200
    (record,) = [r for r in caplog.records if getattr(r, "event", "") == "trusted publishing token used"]
    assert (record.projects, record.dropped, record.levelname) == (["acme-tools"], ["numpy", "*"], "WARNING")


def test_removing_a_projects_publishers_disables_its_outstanding_tokens(config, issuer, s3):
    token = json.loads(exchange(issuer.token(AUDIENCE))["body"])["token"]
    trust(config, {"acme-cli": [RELEASE]}, audience=AUDIENCE, key=KEY, issuer=config.trusted.test_issuer)
    assert publish(token, "acme-tools")["statusCode"] == 403
    assert publish(token, "acme-cli")["statusCode"] == 200


# --- what a refusal tells a stranger, and what it logs -----------------------------------------------


def test_an_untrusted_issuer_is_refused_without_naming_the_trusted_ones(config, issuer):
    # main: "... is not trusted by this index (trusted: http://127.0.0.1:…)".
    _, code, text = description(exchange(issuer.token(AUDIENCE, issuer="https://evil.example")))
    assert code == "invalid-token"
    assert text == "issuer 'https://evil.example' is not trusted by this index"
    assert issuer.url not in text


def test_a_refusal_quotes_and_logs_a_bounded_amount_of_an_unverified_token(config, issuer, caplog):
    # main: the 5,000-character kid and alg were quoted whole in the answer and the log.
    claims = {name: "c" * 2000 for name in (*oidc.LOGGED_CLAIMS, "other", "more")}
    huge = oidc_sign(issuer, {**claims, "iss": issuer.url, "aud": AUDIENCE}, kid="k" * 2000, alg="RS256")
    with caplog.at_level(logging.INFO, logger="pypi_edge.upload.oidc"):
        for token in (huge, oidc_sign(issuer, claims, kid="k" * 2000, alg="A" * 2000)):
            _, _, text = description(exchange(token))
            assert len(text) <= 300, text
    refusals = [r for r in caplog.records if getattr(r, "event", "") == "trusted publishing token refused"]
    assert len(refusals) == 2
    for record in refusals:
        assert len(record.getMessage()) <= 2000
        assert len(record.claims) <= len(oidc.LOGGED_CLAIMS)
        assert all(len(v) <= oidc.MAX_UNVERIFIED_CHARS for v in record.claims.values())


def oidc_sign(issuer, claims: dict, *, kid: str, alg: str) -> str:
    """A JWT with any header (the signature need not verify: refusals come first)."""
    header = oidc._b64(json.dumps({"alg": alg, "kid": kid}).encode())
    body = oidc._b64(json.dumps(claims).encode())
    return f"{header}.{body}.{oidc._b64(b'sig')}"
