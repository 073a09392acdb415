"""Trusted publishing (upload/oidc.py): the OIDC exchange, every refusal, and minted tokens.

A local issuer (tests/oidc_issuer.py) plays GitHub's and GitLab's: real RSA keys, a real JWKS
and discovery document over HTTP, so signature checks, key caching and refreshes run for real.
The clock is an argument everywhere: `NOW` is fixed, tokens are issued relative to it.
"""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest

from tests.oidc_issuer import Issuer, Seen, github_claims, gitlab_claims, rsa_key
from upload import oidc, publishers
from upload.oidc import KeyCache, MintedTokenError, Refusal, Settings
from upload.publishers import GitHubPublisher, GitLabPublisher

NOW = 1_800_000_000
AUDIENCE = "pypi.example.com"
KEY = b"k" * 32


class Clock:
    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def cache(clock: Clock) -> KeyCache:
    return KeyCache(clock=clock)


RELEASE = GitHubPublisher(repository="acme/tools", workflow="release.yml", environment="pypi")


def settings_for(issuer: Issuer, publishers: dict[str, tuple[Any, ...]] | None = None, **kw: Any) -> Settings:
    return Settings(
        audience=AUDIENCE,
        key=KEY,
        publishers={"acme-tools": (RELEASE,)} if publishers is None else publishers,
        test_issuer=issuer.url,
        **kw,
    )


def mint(settings: Settings, cache: KeyCache, token: object, now: int = NOW) -> oidc.Reply:
    return oidc.mint_token(settings, cache, json.dumps({"token": token}).encode(), now, seen=Seen())


def events(caplog: pytest.LogCaptureFixture, name: str) -> list[Any]:
    return [r for r in caplog.records if getattr(r, "event", None) == name]


def refusal(reply: oidc.Reply) -> tuple[str, str]:
    assert reply.status == 422, reply
    assert reply.body["message"] == "Token request failed"
    (error,) = reply.body["errors"]
    return error["code"], error["description"]


# --- the happy path ------------------------------------------------------------------------------


def test_a_matching_github_token_mints_a_15_minute_token_for_the_project(issuer, cache):
    settings = settings_for(issuer)
    reply = mint(settings, cache, issuer.token(AUDIENCE, now=NOW))
    assert reply.status == 200
    assert reply.body["success"] is True
    assert reply.body["expires"] == NOW + 900
    assert reply.body["token"].startswith("pypi-edge-oidc-")
    grant = oidc.verify_minted(reply.body["token"], KEY, NOW + 1)
    assert grant.projects == ("acme-tools",)
    assert grant.expires == NOW + 900
    assert grant.publisher == "github:acme/tools/.github/workflows/release.yml"


def test_the_minted_token_carries_who_and_which_run_for_the_logs(issuer, cache):
    reply = mint(settings_for(issuer), cache, issuer.token(AUDIENCE, now=NOW))
    claims = oidc.verify_minted(reply.body["token"], KEY, NOW).claims
    assert claims["repository"] == "acme/tools"
    assert claims["run_id"] == "9876543210"
    assert claims["sha"] == "3f786850e387550fdab836ed7e6dc881de23001b"
    assert claims["ref"] == "refs/tags/v1.0.0"
    assert claims["job_workflow_ref"].endswith("release.yml@refs/tags/v1.0.0")
    assert claims["iss"] == issuer.url


def test_the_token_is_scoped_to_exactly_the_projects_whose_publishers_matched(issuer, cache):
    other = GitHubPublisher(repository="acme/other", workflow="release.yml")
    settings = settings_for(
        issuer, {"acme-tools": (RELEASE,), "acme-cli": (other, RELEASE), "acme-web": (other,)}
    )
    grant = oidc.verify_minted(mint(settings, cache, issuer.token(AUDIENCE, now=NOW)).body["token"], KEY, NOW)
    assert grant.projects == ("acme-cli", "acme-tools")
    assert grant.allows("Acme_Tools")
    assert not grant.allows("acme-web")


def test_repository_and_environment_compare_case_insensitively_like_github(issuer, cache):
    issuer.claims = github_claims(
        repository="ACME/Tools",
        environment="PyPI",
        job_workflow_ref="ACME/Tools/.github/workflows/release.yml@refs/tags/v1",
    )
    assert mint(settings_for(issuer), cache, issuer.token(AUDIENCE, now=NOW)).status == 200


def test_a_ref_glob_and_pinned_ids_accept_the_right_run(issuer, cache):
    pinned = GitHubPublisher(
        repository="acme/tools",
        workflow="release.yml",
        ref="refs/tags/v*",
        repository_owner_id="7",
        repository_id="101",
    )
    assert (
        mint(
            settings_for(issuer, {"acme-tools": (pinned,)}),
            cache,
            issuer.token(AUDIENCE, now=NOW),
        ).status
        == 200
    )


def test_a_token_within_the_leeway_after_exp_is_still_accepted(issuer, cache):
    token = issuer.token(AUDIENCE, now=NOW - 330, lifetime=300)  # expired 30 s ago, leeway 60 s
    assert mint(settings_for(issuer), cache, token).status == 200


def test_an_audience_list_containing_ours_is_accepted(issuer, cache):
    token = issuer.token(["sigstore", AUDIENCE], now=NOW)
    assert mint(settings_for(issuer), cache, token).status == 200


def test_a_gitlab_pipeline_mints_a_token(issuer, cache):
    host = issuer.url.removeprefix("http://")
    publisher = GitLabPublisher(project="acme/lib", environment="pypi", ref="refs/tags/*", issuer=issuer.url)
    issuer.claims = gitlab_claims(host=host)
    settings = Settings(audience=AUDIENCE, key=KEY, publishers={"acme-lib": (publisher,)})
    reply = mint(settings, cache, issuer.token(AUDIENCE, now=NOW))
    assert reply.status == 200, reply.body
    grant = oidc.verify_minted(reply.body["token"], KEY, NOW)
    assert grant.projects == ("acme-lib",)
    assert grant.publisher == "gitlab:acme/lib//.gitlab-ci.yml"
    assert grant.claims["pipeline_id"] == "1234"
    assert grant.claims["ref_path"] == "refs/tags/v2.0.0"


def test_a_test_issuer_stands_in_for_gitlab_com_too(issuer, cache):
    publisher = GitLabPublisher(project="acme/lib", environment="pypi")  # issuer: https://gitlab.com
    issuer.claims = gitlab_claims()  # ci_config_ref_uri on gitlab.com, as GitLab writes it
    settings = Settings(
        audience=AUDIENCE, key=KEY, publishers={"acme-lib": (publisher,)}, test_issuer=issuer.url
    )
    assert settings.issuers == {issuer.url}
    assert mint(settings, cache, issuer.token(AUDIENCE, now=NOW)).status == 200


# --- refusals: which claim did not match ---------------------------------------------------------


def test_wrong_repository_is_refused_without_revealing_the_config(issuer, cache):
    issuer.claims = github_claims(
        repository="evil/tools", job_workflow_ref="evil/tools/.github/workflows/release.yml@refs/heads/main"
    )
    code, description = refusal(mint(settings_for(issuer), cache, issuer.token(AUDIENCE, now=NOW)))
    assert code == "invalid-publisher"
    assert "no trusted publisher is configured for 'evil/tools'" in description
    assert "acme" not in description


def test_wrong_workflow_names_the_workflow_claim(issuer, cache):
    issuer.claims = github_claims(job_workflow_ref="acme/tools/.github/workflows/ci.yml@refs/heads/main")
    code, description = refusal(mint(settings_for(issuer), cache, issuer.token(AUDIENCE, now=NOW)))
    assert code == "invalid-publisher"
    assert "acme-tools: workflow 'acme/tools/.github/workflows/ci.yml@refs/heads/main'" in description
    assert ".github/workflows/release.yml" in description


def test_a_workflow_of_another_repository_with_the_same_file_name_is_refused(issuer, cache):
    # A reusable workflow from elsewhere: job_workflow_ref names the other repository.
    issuer.claims = github_claims(job_workflow_ref="evil/x/.github/workflows/release.yml@refs/heads/main")
    code, description = refusal(mint(settings_for(issuer), cache, issuer.token(AUDIENCE, now=NOW)))
    assert code == "invalid-publisher"
    assert "workflow 'evil/x/.github/workflows/release.yml@refs/heads/main'" in description


def test_wrong_environment_names_the_environment_claim(issuer, cache):
    issuer.claims = github_claims(environment="staging")
    code, description = refusal(mint(settings_for(issuer), cache, issuer.token(AUDIENCE, now=NOW)))
    assert code == "invalid-publisher"
    assert "environment 'staging' is not 'pypi'" in description


def test_missing_environment_is_refused_when_one_is_configured(issuer, cache):
    issuer.claims = github_claims(environment=None)
    _, description = refusal(mint(settings_for(issuer), cache, issuer.token(AUDIENCE, now=NOW)))
    assert "environment absent is not 'pypi'" in description


def test_wrong_ref_names_the_ref_claim(issuer, cache):
    publisher = GitHubPublisher(repository="acme/tools", workflow="release.yml", ref="refs/tags/v*")
    issuer.claims = github_claims(ref="refs/heads/feature")
    _, description = refusal(
        mint(
            settings_for(issuer, {"acme-tools": (publisher,)}),
            cache,
            issuer.token(AUDIENCE, now=NOW),
        )
    )
    assert "ref 'refs/heads/feature' does not match 'refs/tags/v*'" in description


@pytest.mark.parametrize("claim", ["repository_owner_id", "repository_id"])
def test_a_re_created_repository_is_refused_by_its_immutable_id(issuer, cache, claim):
    publisher = GitHubPublisher(
        repository="acme/tools", workflow="release.yml", repository_owner_id="7", repository_id="101"
    )
    issuer.claims = github_claims(**{claim: "999999"})
    _, description = refusal(
        mint(
            settings_for(issuer, {"acme-tools": (publisher,)}),
            cache,
            issuer.token(AUDIENCE, now=NOW),
        )
    )
    assert f"{claim} '999999' is not the pinned id" in description
    assert "'7'" not in description and "'101'" not in description


@pytest.mark.parametrize(
    ("claims", "expected"),
    [
        ({"project_path": "evil/lib"}, "no trusted publisher is configured for 'evil/lib'"),
        ({"ref_path": "refs/heads/main"}, "ref_path 'refs/heads/main' does not match 'refs/tags/*'"),
        ({"environment": "Pypi"}, "environment 'Pypi' is not 'pypi'"),
        ({"namespace_id": "666"}, "namespace_id '666' is not the pinned id"),
        ({"ci_config_ref_uri": "HOST/acme/lib//other.yml@refs/tags/v2.0.0"}, "CI config"),
    ],
)
def test_gitlab_refusals_name_the_claim(issuer, cache, claims, expected):
    host = issuer.url.removeprefix("http://")
    if "ci_config_ref_uri" in claims:
        claims = {"ci_config_ref_uri": claims["ci_config_ref_uri"].replace("HOST", host)}
    publisher = GitLabPublisher(
        project="acme/lib", environment="pypi", ref="refs/tags/*", namespace_id="50", issuer=issuer.url
    )
    issuer.claims = gitlab_claims(host=host, **claims)
    settings = Settings(audience=AUDIENCE, key=KEY, publishers={"acme-lib": (publisher,)})
    code, description = refusal(mint(settings, cache, issuer.token(AUDIENCE, now=NOW)))
    assert code == "invalid-publisher"
    assert expected in description


def test_an_expired_jwt_is_refused(issuer, cache):
    token = issuer.token(AUDIENCE, now=NOW - 1000, lifetime=300)
    code, description = refusal(mint(settings_for(issuer), cache, token))
    assert code == "invalid-token"
    assert f"the token expired at {NOW - 700}" in description


def test_a_jwt_from_the_future_is_refused(issuer, cache):
    token = issuer.token(AUDIENCE, now=NOW + 600)
    _, description = refusal(mint(settings_for(issuer), cache, token))
    assert "not valid yet" in description


@pytest.mark.parametrize("drop", ["exp", "iat", "aud", "jti"])
def test_a_jwt_without_a_required_claim_is_refused(issuer, cache, drop):
    claims = {"iss": issuer.url, "aud": AUDIENCE, "iat": NOW, "exp": NOW + 300, "jti": "j", **github_claims()}
    del claims[drop]
    token = oidc_sign(issuer, claims)
    _, description = refusal(mint(settings_for(issuer), cache, token))
    assert f"the token has no '{drop}' claim" in description


def oidc_sign(issuer: Issuer, claims: dict[str, Any], **header: Any) -> str:
    from joserfc import jwt

    return jwt.encode({"alg": "RS256", "kid": issuer.signing.kid, **header}, claims, issuer.signing)


def test_a_token_for_pypi_is_refused_here(issuer, cache):
    code, description = refusal(mint(settings_for(issuer), cache, issuer.token("pypi", now=NOW)))
    assert code == "invalid-token"
    assert "audience 'pypi' is not this index's audience 'pypi.example.com'" in description


def test_a_huge_foreign_issuer_is_shown_truncated(issuer, cache):
    token = issuer.token(AUDIENCE, now=NOW, issuer="https://" + "x" * 5000)
    _, description = refusal(mint(settings_for(issuer), cache, token))
    assert len(description) < 400


def test_a_foreign_issuer_is_refused_before_any_key_is_fetched(issuer, cache):
    token = issuer.token(AUDIENCE, now=NOW, issuer="https://evil.example.com")
    code, description = refusal(mint(settings_for(issuer), cache, token))
    assert code == "invalid-token"
    assert "issuer 'https://evil.example.com' is not trusted" in description
    assert sum(issuer.requests.values()) == 0


def test_the_real_github_issuer_is_not_trusted_when_a_test_issuer_replaces_it(issuer, cache):
    token = issuer.token(AUDIENCE, now=NOW, issuer=publishers.GITHUB_ISSUER)
    _, description = refusal(mint(settings_for(issuer), cache, token))
    assert "is not trusted" in description


def test_a_bad_signature_is_refused(issuer, cache):
    forger = rsa_key("forger")  # a different key that claims the issuer's kid
    token = issuer.token(AUDIENCE, now=NOW, key=forger, kid="key-1")
    code, description = refusal(mint(settings_for(issuer), cache, token))
    assert code == "invalid-token"
    assert f"bad signature: the token was not signed by {issuer.url}" in description


def test_a_tampered_jwt_payload_is_refused(issuer, cache):
    header, _payload, signature = issuer.token(AUDIENCE, now=NOW).split(".")
    evil = github_claims(repository="acme/tools")
    evil.update(iss=issuer.url, aud=AUDIENCE, iat=NOW, exp=NOW + 10**6)
    payload = base64.urlsafe_b64encode(json.dumps(evil).encode()).rstrip(b"=").decode()
    _, description = refusal(mint(settings_for(issuer), cache, f"{header}.{payload}.{signature}"))
    assert "bad signature" in description


@pytest.mark.parametrize("alg", ["none", "HS256", "RS512"])
def test_algorithms_other_than_rs256_are_refused(issuer, cache, alg):
    header = base64.urlsafe_b64encode(json.dumps({"alg": alg, "kid": "key-1"}).encode()).rstrip(b"=")
    _, payload, signature = issuer.token(AUDIENCE, now=NOW).split(".")
    _, description = refusal(mint(settings_for(issuer), cache, f"{header.decode()}.{payload}.{signature}"))
    assert f"unsupported signing algorithm '{alg}'" in description


def test_a_token_without_kid_is_refused(issuer, cache):
    token = issuer.token(AUDIENCE, now=NOW, kid="")
    _, description = refusal(mint(settings_for(issuer), cache, token))
    assert "no key id" in description


# --- the issuer's keys: cache, refresh, rate limit -----------------------------------------------


def test_keys_are_fetched_once_and_cached(issuer, cache):
    settings = settings_for(issuer)
    for _ in range(3):
        assert mint(settings, cache, issuer.token(AUDIENCE, now=NOW)).status == 200
    assert issuer.requests["/.well-known/openid-configuration"] == 1
    assert issuer.requests["/jwks"] == 1


def test_a_rotated_key_is_picked_up_by_refreshing_on_its_unknown_kid(issuer, cache, clock):
    settings = settings_for(issuer)
    assert mint(settings, cache, issuer.token(AUDIENCE, now=NOW)).status == 200
    clock.t += 61
    issuer.rotate("key-2")
    assert mint(settings, cache, issuer.token(AUDIENCE, now=NOW)).status == 200
    assert issuer.requests["/jwks"] == 2


def test_an_unknown_kid_refreshes_then_refuses_and_refreshes_at_most_once_a_minute(issuer, cache, clock):
    settings = settings_for(issuer)
    assert mint(settings, cache, issuer.token(AUDIENCE, now=NOW)).status == 200
    clock.t += 61
    for _ in range(5):
        code, description = refusal(mint(settings, cache, issuer.token(AUDIENCE, now=NOW, kid="made-up")))
        assert code == "invalid-token"
        assert "key id 'made-up'" in description
    assert issuer.requests["/jwks"] == 2  # the first fetch and one refresh, not five
    clock.t += 61
    refusal(mint(settings, cache, issuer.token(AUDIENCE, now=NOW, kid="made-up")))
    assert issuer.requests["/jwks"] == 3


def test_keys_older_than_an_hour_are_re_read(issuer, cache, clock):
    settings = settings_for(issuer)
    mint(settings, cache, issuer.token(AUDIENCE, now=NOW))
    clock.t += 3600
    mint(settings, cache, issuer.token(AUDIENCE, now=NOW))
    assert issuer.requests["/jwks"] == 2


def test_an_unreachable_issuer_is_a_503_with_the_error_shape_and_a_warning(issuer, clock, caplog):
    settings = settings_for(issuer)
    issuer.close()
    cache = KeyCache(clock=clock)
    reply = mint(settings, cache, issuer.token(AUDIENCE, now=NOW))
    assert reply.status == 503
    assert reply.body["errors"][0]["code"] == "issuer-unavailable"
    warned = events(caplog, "OIDC issuer keys unavailable")
    assert [w.issuer for w in warned] == [issuer.url]


def test_cached_keys_keep_working_while_the_issuer_is_down(issuer, cache, clock, caplog):
    settings = settings_for(issuer)
    assert mint(settings, cache, issuer.token(AUDIENCE, now=NOW)).status == 200
    token = issuer.token(AUDIENCE, now=NOW)
    issuer.close()
    clock.t += 3600  # the keys are due for a re-read, which fails
    assert mint(settings, cache, token).status == 200
    assert events(caplog, "OIDC issuer keys unavailable")


@pytest.mark.parametrize(
    "documents",
    [
        {"discovery": {"issuer": "https://someone-else", "jwks_uri": "JWKS"}},
        {"discovery": {"issuer": "ISSUER", "jwks_uri": "https://elsewhere/jwks"}},
        {"discovery": ["not", "an", "object"]},
        {"discovery": {"issuer": "ISSUER", "jwks_uri": "JWKS"}, "jwks": {"keys": "nope"}},
    ],
)
def test_a_bad_discovery_document_or_jwks_is_issuer_unavailable(documents, clock, caplog):
    issuer_url = "http://127.0.0.1:9"

    def fetch(url: str) -> Any:
        doc = documents["discovery"] if url.endswith("openid-configuration") else documents.get("jwks", {})
        return json.loads(json.dumps(doc).replace("ISSUER", issuer_url).replace("JWKS", f"{issuer_url}/jwks"))

    cache = KeyCache(fetch=fetch, clock=clock)
    with pytest.raises(Refusal) as caught:
        cache.keys_for(issuer_url, "key-1")
    assert caught.value.code in {"issuer-unavailable", "invalid-token"}
    assert caught.value.status in {503, 422}


# --- the request body (fuzzed below) -------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        (b"", 422, "invalid-payload"),
        (b"not json", 422, "invalid-payload"),
        (b'{"token": 1}', 422, "invalid-payload"),
        (b'{"token": "x", "extra": 1}', 422, "invalid-payload"),
        (b'["token"]', 422, "invalid-payload"),
        (b"\xff\xfe", 422, "invalid-payload"),
        (b"[" * 100_000, 413, "invalid-payload"),
        (b'{"token": "' + b"a" * 20_000 + b'"}', 413, "invalid-payload"),
        (b'{"token": "a.b.c"}', 422, "invalid-token"),
        (b'{"token": "\xc3\xa9.\xc3\xa9.\xc3\xa9"}', 422, "invalid-token"),
        (b'{"token": ""}', 422, "invalid-token"),
    ],
)
def test_malformed_requests_get_the_error_shape(issuer, cache, body, status, code):
    reply = oidc.mint_token(settings_for(issuer), cache, body, NOW, seen=Seen())
    assert reply.status == status
    assert reply.body["errors"][0]["code"] == code


def test_a_deeply_nested_body_under_the_size_limit_is_invalid_payload_not_a_crash(issuer, cache):
    reply = oidc.mint_token(settings_for(issuer), cache, b"[" * 10_000 + b"]" * 10_000, NOW, seen=Seen())
    assert reply.status == 413 or reply.body["errors"][0]["code"] == "invalid-payload"


def test_a_payload_that_is_not_an_object_is_refused(issuer, cache):
    from joserfc import jws

    token = jws.serialize_compact({"alg": "RS256", "kid": "key-1"}, b"[1, 2]", issuer.signing)
    _, description = refusal(mint(settings_for(issuer), cache, token))
    assert "payload is not a JSON object" in description


# --- minted tokens -------------------------------------------------------------------------------


@pytest.fixture
def minted(issuer, cache) -> str:
    return mint(settings_for(issuer), cache, issuer.token(AUDIENCE, now=NOW)).body["token"]


def test_a_minted_token_is_refused_after_it_expires(minted):
    assert oidc.verify_minted(minted, KEY, NOW + 899).projects == ("acme-tools",)
    with pytest.raises(MintedTokenError, match=f"expired at {NOW + 900}"):
        oidc.verify_minted(minted, KEY, NOW + 900)


def test_a_minted_token_does_not_allow_another_project(minted):
    grant = oidc.verify_minted(minted, KEY, NOW)
    assert grant.allows("acme-tools")
    assert not grant.allows("acme-tools-extra")


def _reencode(token: str, change: dict[str, Any], sign_with: bytes | None = None) -> str:
    payload, _, signature = token.removeprefix(oidc.TOKEN_PREFIX).partition(".")
    body = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    body.update(change)
    new = base64.urlsafe_b64encode(json.dumps(body).encode()).rstrip(b"=").decode()
    if sign_with is not None:
        signature = base64.urlsafe_b64encode(oidc._signature(sign_with, new)).rstrip(b"=").decode()
    return f"{oidc.TOKEN_PREFIX}{new}.{signature}"


def test_a_minted_token_with_widened_projects_is_refused(minted):
    with pytest.raises(MintedTokenError, match="signature does not verify"):
        oidc.verify_minted(_reencode(minted, {"projects": ["acme-tools", "numpy"]}), KEY, NOW)


def test_a_minted_token_with_a_later_expiry_is_refused(minted):
    with pytest.raises(MintedTokenError, match="signature does not verify"):
        oidc.verify_minted(_reencode(minted, {"exp": NOW + 10**9}), KEY, NOW + 1000)


def test_a_minted_token_from_another_deployment_is_refused(minted):
    with pytest.raises(MintedTokenError, match="signature does not verify"):
        oidc.verify_minted(minted, b"another deployment's key.........", NOW)


def test_a_minted_token_of_another_version_is_refused(minted):
    with pytest.raises(MintedTokenError, match="version 2"):
        oidc.verify_minted(_reencode(minted, {"v": 2}, sign_with=KEY), KEY, NOW)


@pytest.mark.parametrize(
    "mangle",
    [
        lambda t: t.removeprefix(oidc.TOKEN_PREFIX),  # not ours at all
        lambda t: t.replace(".", ""),  # no signature part
        lambda t: t + "!!",  # signature is not base64url
        lambda t: t[:-3],  # truncated signature
        lambda t: t[:20] + "é" + t[21:],  # non-ASCII
        lambda t: t + "A" * 3000,  # longer than any minted token
        lambda t: (
            t[: len(oidc.TOKEN_PREFIX) + 5] + "x" + t[len(oidc.TOKEN_PREFIX) + 6 :]
        ),  # one bit of payload
    ],
)
def test_a_mangled_minted_token_is_refused(minted, mangle):
    with pytest.raises(MintedTokenError):
        oidc.verify_minted(mangle(minted), KEY, NOW)


@pytest.mark.parametrize("body", [b"not json", b"[]", b'{"projects": "x"}', b'{"v": 1}'])
def test_a_signed_but_malformed_payload_is_refused(body):
    payload = base64.urlsafe_b64encode(body).rstrip(b"=").decode()
    signature = base64.urlsafe_b64encode(oidc._signature(KEY, payload)).rstrip(b"=").decode()
    with pytest.raises(MintedTokenError, match="malformed"):
        oidc.verify_minted(f"{oidc.TOKEN_PREFIX}{payload}.{signature}", KEY, NOW)


def test_a_publisher_for_too_many_projects_cannot_mint_an_oversized_token(issuer, cache):
    settings = settings_for(issuer, {f"acme-project-number-{i}": (RELEASE,) for i in range(200)})
    code, description = refusal(mint(settings, cache, issuer.token(AUDIENCE, now=NOW)))
    assert code == "invalid-publisher"
    assert "matches 200 projects" in description


# --- logging: every mint, refusal and use, with the claims ---------------------------------------


def test_a_mint_is_logged_with_the_claims_of_the_run(issuer, cache, caplog):
    mint(settings_for(issuer), cache, issuer.token(AUDIENCE, now=NOW))
    (record,) = events(caplog, "trusted publishing token minted")
    assert record.projects == ["acme-tools"]
    assert record.publishers == ["github:acme/tools/.github/workflows/release.yml"]
    assert record.claims["run_id"] == "9876543210"
    assert record.claims["sha"] == "3f786850e387550fdab836ed7e6dc881de23001b"
    assert record.claims["actor"] == "alice"
    assert record.expires == NOW + 900
    # The text of the line carries the same fields, for a function that logs plain text.
    assert record.getMessage().startswith("trusted publishing token minted {")
    assert json.loads(record.getMessage().split(" ", 4)[4])["claims"]["run_id"] == "9876543210"


def test_a_refusal_is_logged_as_a_warning_with_the_unverified_claims(issuer, cache, caplog):
    issuer.claims = github_claims(environment="staging")
    mint(settings_for(issuer), cache, issuer.token(AUDIENCE, now=NOW))
    (record,) = events(caplog, "trusted publishing token refused")
    assert record.levelname == "WARNING"
    assert record.code == "invalid-publisher"
    assert record.claims["repository"] == "acme/tools"
    assert record.claims["run_id"] == "9876543210"


def test_a_refusal_of_garbage_logs_no_claims(issuer, cache, caplog):
    oidc.mint_token(settings_for(issuer), cache, b"garbage", NOW, seen=Seen())
    (record,) = events(caplog, "trusted publishing token refused")
    assert record.claims == {}


def test_the_upload_check_turns_a_minted_token_into_a_principal_for_its_projects(minted, caplog):
    verify = oidc.minted_verifier(settings_for_key(), clock=lambda: NOW + 10)
    principal = verify(minted)
    assert principal.kind == "minted"
    assert principal.can_publish("Acme_Tools")
    assert not principal.can_publish("acme-tools-extra")
    grant = oidc.verify_minted(minted, KEY, NOW)
    assert principal.name == f"github:acme/tools/.github/workflows/release.yml (token {grant.token_id})"
    (record,) = events(caplog, "trusted publishing token used")
    assert record.token_id == grant.token_id
    assert record.claims["run_id"] == "9876543210"
    assert record.projects == ["acme-tools"]


@pytest.mark.parametrize("later", [900, 10_000])
def test_the_upload_check_refuses_an_expired_minted_token_and_logs_why(minted, caplog, later):
    verify = oidc.minted_verifier(settings_for_key(), clock=lambda: NOW + later)
    assert verify(minted) is None
    (record,) = events(caplog, "trusted publishing token refused")
    assert record.levelname == "WARNING"
    assert record.reason == f"minted token expired at {NOW + 900}"


def test_the_upload_check_refuses_a_tampered_minted_token(minted, caplog):
    verify = oidc.minted_verifier(settings_for_key(), clock=lambda: NOW)
    assert verify(_reencode(minted, {"projects": ["numpy"]})) is None
    (record,) = events(caplog, "trusted publishing token refused")
    assert "signature does not verify" in record.reason


@pytest.mark.parametrize("settings", [None, Settings(audience=AUDIENCE, key=KEY, publishers={})])
def test_without_publishers_there_is_no_upload_check(settings):
    assert oidc.minted_verifier(settings) is None


def settings_for_key() -> Settings:
    return Settings(audience=AUDIENCE, key=KEY, publishers={"acme-tools": (RELEASE,)})


# --- the endpoints -------------------------------------------------------------------------------


def test_audience_endpoint_answers_the_configured_audience(issuer, cache):
    reply = oidc.handle(
        "GET", "/_/oidc/audience", b"", settings=settings_for(issuer), cache=cache, now=NOW, seen=Seen()
    )
    assert (reply.status, reply.body) == (200, {"audience": AUDIENCE})
    assert reply.headers["Content-Type"] == "application/json"
    assert json.loads(reply.encoded()) == {"audience": AUDIENCE}


@pytest.mark.parametrize("settings", [None, Settings(audience=AUDIENCE, key=KEY, publishers={})])
def test_without_trusted_publishers_the_endpoints_say_not_enabled(cache, settings):
    reply = oidc.handle("GET", "/_/oidc/audience", b"", settings=settings, cache=cache, now=NOW, seen=Seen())
    assert (reply.status, reply.body) == (403, {"message": "Trusted publishing functionality not enabled"})
    reply = oidc.handle(
        "POST", "/_/oidc/mint-token", b'{"token": "x"}', settings=settings, cache=cache, now=NOW, seen=Seen()
    )
    assert refusal(reply) == ("not-enabled", "trusted publishing is not configured on this index")


@pytest.mark.parametrize(
    ("method", "path", "status"),
    [
        ("POST", "/_/oidc/audience", 405),
        ("HEAD", "/_/oidc/audience", 200),
        ("GET", "/_/oidc/mint-token", 405),
        ("PUT", "/_/oidc/burn-token", 405),
    ],
)
def test_endpoints_answer_only_their_method(issuer, cache, method, path, status):
    reply = oidc.handle(method, path, b"", settings=settings_for(issuer), cache=cache, now=NOW, seen=Seen())
    assert reply.status == status
    if status == 405:
        assert reply.headers["Allow"] in {"GET", "POST"}


def test_other_paths_under_oidc_are_404(cache):
    reply = oidc.handle(
        "GET", "/_/oidc/github/mint-token", b"", settings=None, cache=cache, now=NOW, seen=Seen()
    )
    assert (reply.status, reply.body) == (404, {"message": "no such endpoint: /_/oidc/github/mint-token"})


def test_burn_token_is_accepted_and_logged_with_the_token_id(issuer, cache, minted, caplog):
    body = json.dumps({"token": minted}).encode()
    reply = oidc.handle(
        "POST", "/_/oidc/burn-token", body, settings=settings_for(issuer), cache=cache, now=NOW, seen=Seen()
    )
    assert reply.status == 202
    (record,) = events(caplog, "trusted publishing burn requested")
    assert record.token_id == oidc.verify_minted(minted, KEY, NOW).token_id


def test_burn_token_with_garbage_is_still_202_and_logs_no_token(issuer, cache, caplog):
    reply = oidc.handle(
        "POST", "/_/oidc/burn-token", b"{{", settings=settings_for(issuer), cache=cache, now=NOW, seen=Seen()
    )
    assert reply.status == 202
    (record,) = events(caplog, "trusted publishing burn requested")
    assert record.token_id is None


def test_a_signed_token_with_an_unsupported_critical_header_is_refused(issuer, cache):
    # RFC 7515 §4.1.11: a "crit" extension the recipient does not understand makes the JWS
    # invalid even with a good signature; joserfc raises it, and the refusal says so.
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import padding

    def b64(doc: object) -> str:
        return base64.urlsafe_b64encode(json.dumps(doc).encode()).rstrip(b"=").decode()

    claims = {"iss": issuer.url, "aud": AUDIENCE, "iat": NOW, "exp": NOW + 300, **github_claims()}
    signing_input = f"{b64({'alg': 'RS256', 'kid': 'key-1', 'crit': ['zzz'], 'zzz': 1})}.{b64(claims)}"
    signature = issuer.signing.private_key.sign(signing_input.encode(), padding.PKCS1v15(), hashes.SHA256())
    token = f"{signing_input}.{base64.urlsafe_b64encode(signature).rstrip(b'=').decode()}"
    code, description = refusal(mint(settings_for(issuer), cache, token))
    assert code == "invalid-token"
    assert description.startswith("invalid token: ")
    assert "zzz" in description
