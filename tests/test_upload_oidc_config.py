"""Trusted publishing config (`trustedPublishers`): parsing, the bundled file, the key; and a fuzz
of the mint endpoint, which strangers can reach (never an exception, always PyPI's error shape)."""

from __future__ import annotations

import base64
import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.oidc_issuer import Seen
from upload import oidc, publishers
from upload.oidc import KeyCache
from upload.publishers import GitHubPublisher, GitLabPublisher

KEY = "k" * 40


def test_the_issue_example_parses_to_one_github_publisher():
    parsed = publishers.parse_publishers(
        {
            "acme-tools": [
                {
                    "provider": "github",
                    "repository": "acme/tools",
                    "workflow": "release.yml",
                    "environment": "pypi",
                }
            ]
        }
    )
    assert parsed == {
        "acme-tools": (GitHubPublisher(repository="acme/tools", workflow="release.yml", environment="pypi"),)
    }


def test_project_names_are_normalized_and_a_single_object_is_a_list_of_one():
    parsed = publishers.parse_publishers(
        {"Acme_Tools": {"provider": "github", "repository": "a/b", "workflow": "r.yaml"}}
    )
    assert list(parsed) == ["acme-tools"]


def test_a_gitlab_publisher_defaults_to_gitlab_com_and_gitlab_ci_yml():
    (publisher,) = publishers.parse_publishers({"lib": [{"provider": "gitlab", "project": "acme/sub/lib"}]})[
        "lib"
    ]
    assert publisher == GitLabPublisher(
        project="acme/sub/lib", workflow=".gitlab-ci.yml", issuer=publishers.GITLAB_ISSUER
    )


def test_a_self_hosted_gitlab_over_https_is_an_issuer():
    (publisher,) = publishers.parse_publishers(
        {"lib": [{"provider": "gitlab", "project": "acme/lib", "issuer": "https://gitlab.example.com/"}]}
    )["lib"]
    assert publisher.issuer == "https://gitlab.example.com"


def test_numeric_ids_are_kept_as_the_strings_the_claims_carry():
    (publisher,) = publishers.parse_publishers(
        {"t": [{"provider": "github", "repository": "a/b", "workflow": "r.yml", "repository_owner_id": 7}]}
    )["t"]
    assert publisher.repository_owner_id == "7"


@pytest.mark.parametrize(
    ("config", "message"),
    [
        ([], "must be an object"),
        ({"bad name!": [{}]}, "not a valid project name"),
        ({"acme-\u212a": [{}]}, "not a valid project name"),  # KELVIN SIGN, which folds into "k"
        ({"a": []}, "non-empty list"),
        ({"a": ["x"]}, "must be an object"),
        ({"a": [{"provider": "bitbucket"}]}, "'github' or 'gitlab'"),
        (
            {"a": [{"provider": "github", "repository": "a/b", "workflow": "r.yml", "enviroment": "pypi"}]},
            "unknown keys ['enviroment']",
        ),
        ({"a": [{"provider": "github", "repository": "ab", "workflow": "r.yml"}]}, "'owner/name'"),
        ({"a": [{"provider": "github", "repository": "a/b"}]}, "workflow file name"),
        (
            {"a": [{"provider": "github", "repository": "a/b", "workflow": ".github/workflows/r.yml"}]},
            "workflow",
        ),
        (
            {"a": [{"provider": "github", "repository": "a/b", "workflow": "r.yml", "environment": ""}]},
            "non-empty",
        ),
        (
            {"a": [{"provider": "github", "repository": "a/b", "workflow": "r.yml", "issuer": "https://x"}]},
            "unknown",
        ),
        ({"a": [{"provider": "gitlab", "project": "lib"}]}, "project path"),
        ({"a": [{"provider": "gitlab", "project": "a/lib", "issuer": "http://127.0.0.1:8000"}]}, "https URL"),
        ({"a": [{"provider": "gitlab", "project": "a/lib", "issuer": "https://x/?q=1"}]}, "https URL"),
        (
            {
                "Acme.Tools": [{"provider": "github", "repository": "a/b", "workflow": "r.yml"}],
                "acme-tools": [{"provider": "github", "repository": "a/b", "workflow": "r.yml"}],
            },
            "listed twice",
        ),
    ],
)
def test_invalid_config_is_refused_with_where_and_why(config, message):
    with pytest.raises(ValueError) as caught:
        publishers.parse_publishers(config)
    assert message in str(caught.value)


def test_no_config_means_no_publishers():
    assert publishers.parse_publishers(None) == {}


def test_the_rendered_file_is_normalized_deterministic_and_loads_back():
    config = {
        "B": [{"provider": "gitlab", "project": "acme/b", "environment": "pypi"}],
        "a": [{"provider": "github", "repository": "acme/a", "workflow": "release.yml", "repository_id": 5}],
    }
    raw = publishers.render_config(config, "pypi.example.com")
    assert raw == publishers.render_config(dict(reversed(config.items())), "pypi.example.com")
    assert json.loads(raw) == {
        "audience": "pypi.example.com",
        "trustedPublishers": {
            "a": [
                {
                    "provider": "github",
                    "repository": "acme/a",
                    "repository_id": "5",
                    "workflow": "release.yml",
                }
            ],
            "b": [
                {
                    "provider": "gitlab",
                    "project": "acme/b",
                    "environment": "pypi",
                    "workflow": ".gitlab-ci.yml",
                }
            ],
        },
    }
    loaded = oidc.load_settings(raw, KEY)
    assert loaded.publishers == publishers.parse_publishers(config)
    assert loaded.key == KEY.encode()
    assert loaded.issuers == {publishers.GITHUB_ISSUER, publishers.GITLAB_ISSUER}


def test_an_empty_audience_is_refused():
    with pytest.raises(ValueError, match="audience"):
        publishers.render_config({}, " ")


@pytest.mark.parametrize(
    ("raw", "key", "message"),
    [
        (b'{"audience": "a", "trustedPublishers": {}}', "short", "at least 32"),
        (b'{"audience": "a", "trustedPublishers": {}}', None, "at least 32"),
        (b'{"audience": "a"}', KEY, "must be an object with"),
        (b'{"audience": "", "trustedPublishers": {}}', KEY, "non-empty string"),
    ],
)
def test_loading_fails_closed(raw, key, message):
    with pytest.raises(ValueError, match=message):
        oidc.load_settings(raw, key)


def test_the_deployed_config_cannot_trust_a_test_issuer():
    # The only ways to name an issuer in the file are GitLab's https `issuer`; GitHub's is fixed.
    raw = publishers.render_config(
        {"a": [{"provider": "github", "repository": "a/b", "workflow": "r.yml"}]}, "aud"
    )
    assert oidc.load_settings(raw, KEY).issuers == {publishers.GITHUB_ISSUER}
    tampered = json.loads(raw)
    tampered["test_issuer"] = "http://127.0.0.1:1"
    with pytest.raises(ValueError):
        oidc.load_settings(json.dumps(tampered), KEY)


def test_settings_come_from_the_bundled_file_and_the_environment(tmp_path, monkeypatch):
    assert oidc.settings_from_environment(tmp_path) is None
    (tmp_path / publishers.CONFIG_FILE).write_bytes(publishers.render_config({}, "aud"))
    monkeypatch.setenv(publishers.KEY_ENV, KEY)
    loaded = oidc.settings_from_environment(tmp_path)
    assert loaded is not None and loaded.audience == "aud" and loaded.publishers == {}
    monkeypatch.delenv(publishers.KEY_ENV)
    with pytest.raises(ValueError, match=publishers.KEY_ENV):
        oidc.settings_from_environment(tmp_path)


@pytest.mark.parametrize(
    ("domain", "expected"), [("PyPI.Example.com", "pypi.example.com"), ("", "pypi-edge-0123abcd")]
)
def test_the_default_audience_is_the_domain_or_a_deployment_id_never_pypi(domain, expected):
    assert publishers.default_audience(domain, "pypi-edge-0123abcd") == expected


# --- fuzz: the mint endpoint never raises -------------------------------------------------------

SETTINGS = oidc.Settings(
    audience="aud",
    key=KEY.encode(),
    publishers={"a": (GitHubPublisher(repository="a/b", workflow="r.yml"),)},
    test_issuer="http://127.0.0.1:9",  # nothing listens: a fetch would fail fast, never hang
)


def _no_fetch(url: str):
    raise AssertionError(f"fetched {url}: a garbage token must be refused before any fetch")


def _b64(doc: object) -> str:
    return base64.urlsafe_b64encode(json.dumps(doc).encode()).rstrip(b"=").decode()


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=20,
)


def _check(reply: oidc.Reply) -> None:
    assert reply.status in {413, 422, 503}
    assert reply.body["message"] == "Token request failed"
    assert reply.body["errors"][0]["code"] in {"invalid-payload", "invalid-token", "issuer-unavailable"}
    json.loads(reply.encoded())


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=300))
def test_fuzz_arbitrary_bytes(body):
    _check(oidc.mint_token(SETTINGS, KeyCache(fetch=_no_fetch), body, 1_800_000_000, seen=Seen()))


@settings(max_examples=300, deadline=None)
@given(json_values)
def test_fuzz_arbitrary_json(doc):
    _check(
        oidc.mint_token(
            SETTINGS, KeyCache(fetch=_no_fetch), json.dumps(doc).encode(), 1_800_000_000, seen=Seen()
        )
    )


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=200))
def test_fuzz_arbitrary_token_strings(token):
    body = json.dumps({"token": token}).encode()
    _check(oidc.mint_token(SETTINGS, KeyCache(fetch=_no_fetch), body, 1_800_000_000, seen=Seen()))


@settings(max_examples=300, deadline=None)
@given(json_values, json_values, st.text(alphabet="ABCDEFabcdef0123456789-_", max_size=50))
def test_fuzz_jwt_shaped_tokens_with_arbitrary_header_and_claims(header, claims, signature):
    # Untrusted issuers never reach the network; a header/claims pair naming the trusted issuer
    # would (and fails fast here: nothing listens on port 9), so `_no_fetch` is not used.
    token = f"{_b64(header)}.{_b64(claims)}.{signature}"
    reply = oidc.mint_token(
        SETTINGS, KeyCache(), json.dumps({"token": token}).encode(), 1_800_000_000, seen=Seen()
    )
    _check(reply)


def test_a_huge_body_is_refused_without_parsing():
    body = b'{"token": "' + b"A" * (10 * 1024 * 1024) + b'"}'
    reply = oidc.mint_token(SETTINGS, KeyCache(fetch=_no_fetch), body, 1_800_000_000, seen=Seen())
    assert reply.status == 413


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=300))
def test_fuzz_verify_minted_refuses_forgeries_with_minted_token_error(token):
    with pytest.raises(oidc.MintedTokenError):
        oidc.verify_minted(oidc.TOKEN_PREFIX + token, KEY.encode(), 1_800_000_000)
