"""`python -m local`'s trusted-publishing options (the end-to-end test runs them for real)."""

from __future__ import annotations

import argparse
import json

import pytest

from local.__main__ import main, trusted_line, trusted_publishers

CONFIG = {"acme-tools": [{"provider": "github", "repository": "acme/tools", "workflow": "release.yml"}]}


def test_the_option_takes_the_same_json_as_pulumi_config():
    assert trusted_publishers(json.dumps(CONFIG)) == CONFIG


@pytest.mark.parametrize(
    ("value", "message"),
    [("{not json", "Expecting property name"), ('{"a": [{"provider": "svn"}]}', "'github' or 'gitlab'")],
)
def test_a_bad_value_is_a_usage_error_that_says_why(value, message):
    with pytest.raises(argparse.ArgumentTypeError, match=message):
        trusted_publishers(value)


def test_main_refuses_a_bad_value_before_starting_anything(capsys):
    with pytest.raises(SystemExit) as exited:
        main(["--trusted-publishers", '{"a": [{"provider": "github"}]}'])
    assert exited.value.code == 2
    assert "'repository' must be 'owner/name'" in capsys.readouterr().err


def test_the_banner_names_the_projects_the_audience_and_the_issuer():
    args = argparse.Namespace(
        trusted_publishers=CONFIG, oidc_audience="aud", trust_test_issuer="http://127.0.0.1:1234"
    )
    assert trusted_line(args) == "  trusted    acme-tools: audience aud, tokens from http://127.0.0.1:1234\n"
    args.trust_test_issuer = None
    assert "tokens from GitHub's and GitLab's issuers" in trusted_line(args)
    args.trusted_publishers = {}
    assert trusted_line(args) == ""
