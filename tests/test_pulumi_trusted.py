"""infra/trusted.py under Pulumi mocks: the generated signing key (secret), the audience, and the
validated config file the upload function bundles."""

from __future__ import annotations

import json
from pathlib import Path

import pulumi
import pulumi.runtime
import pulumi.runtime.settings
import pytest
import yaml

from tests.pulumi_helpers import RecordingMocks, RecordingMonitor, Registered
from upload import oidc, publishers

REPO = Path(__file__).resolve().parent.parent
KEY_VALUE = "K" * 64
AUDIENCE_HEX = "0123456789abcdef"


class Mocks(RecordingMocks):
    """The repository's recording mocks, plus the two random resources' computed outputs."""

    def new_resource(self, args):
        rid, state = super().new_resource(args)
        if args.typ == "random:index/randomPassword:RandomPassword":
            state["result"] = KEY_VALUE[: int(args.inputs["length"])]
        elif args.typ == "random:index/randomId:RandomId":
            state["hex"] = AUDIENCE_HEX
        return rid, state


@pytest.fixture
def mocks() -> Mocks:
    pulumi.runtime.settings.ROOT.set(None)
    m = Mocks()
    pulumi.runtime.set_mocks(m, project="pypi-edge", stack="dev", preview=False, monitor=RecordingMonitor(m))
    return m


def of_type(mocks: Mocks, typ: str) -> list[Registered]:
    return [r for r in mocks.registered if r.type == typ]


PUBLISHERS = {
    "Acme_Tools": [
        {"provider": "github", "repository": "acme/tools", "workflow": "release.yml", "environment": "pypi"}
    ]
}


def _component(**kw):
    from infra.trusted import TrustedPublishing, TrustedPublishingArgs

    return TrustedPublishing("pypi-edge-trusted", TrustedPublishingArgs(**kw))


@pulumi.runtime.test
def test_the_signing_key_is_a_generated_64_character_secret_in_the_environment(mocks):
    component = _component(publishers=PUBLISHERS, domain="pypi.example.com")
    env_key = component.environment[publishers.KEY_ENV]
    secret = pulumi.Output.from_input(env_key.is_secret())

    def check(args):
        key, is_secret = args
        (password,) = of_type(mocks, "random:index/randomPassword:RandomPassword")
        assert password.inputs["length"] == 64
        assert password.inputs["special"] is False
        assert key == KEY_VALUE
        assert is_secret is True
        assert oidc.load_settings(publishers.render_config({}, "a"), key).key == KEY_VALUE.encode()

    return pulumi.Output.all(env_key, secret).apply(check)


@pulumi.runtime.test
def test_the_config_file_is_the_validated_normalized_publishers_with_the_domain_as_audience(mocks):
    component = _component(publishers=PUBLISHERS, domain="PyPI.Example.com")

    def check(raw: str):
        doc = json.loads(raw)
        assert doc["audience"] == "pypi.example.com"
        assert list(doc["trustedPublishers"]) == ["acme-tools"]
        assert oidc.load_settings(raw, KEY_VALUE).publishers["acme-tools"][0].environment == "pypi"

    return component.config_file.apply(check)


@pulumi.runtime.test
def test_without_a_domain_the_audience_is_a_generated_deployment_id(mocks):
    component = _component(publishers=PUBLISHERS)

    def check(audience):
        assert audience == f"pypi-edge-{AUDIENCE_HEX}"
        assert len(of_type(mocks, "random:index/randomId:RandomId")) == 1

    return component.config_file.apply(lambda raw: check(json.loads(raw)["audience"]))


@pulumi.runtime.test
def test_an_explicit_audience_wins(mocks):
    component = _component(publishers={}, audience="my-index", domain="pypi.example.com")

    def check(raw):
        assert json.loads(raw)["audience"] == "my-index"
        assert of_type(mocks, "random:index/randomId:RandomId") == []

    return component.config_file.apply(check)


def test_a_typo_in_the_config_fails_the_preview(mocks):
    with pytest.raises(ValueError, match="unknown keys \\['enviroment'\\]"):
        _component(
            publishers={
                "a": [{"provider": "github", "repository": "a/b", "workflow": "r.yml", "enviroment": "x"}]
            }
        )


def test_children_are_parented_to_the_component_which_registers_its_outputs(mocks):
    @pulumi.runtime.test
    def program():
        return _component(publishers=PUBLISHERS).config_file

    program()  # returns once every registration, and register_outputs, has been processed
    (parent,) = of_type(mocks, "pypi-edge:index:TrustedPublishing")
    children = [r for r in mocks.registered if r.type.startswith("random:")]
    assert {r.type for r in children} == {
        "random:index/randomPassword:RandomPassword",
        "random:index/randomId:RandomId",
    }
    assert all(r.parent == parent.urn for r in children)
    assert set(mocks.registered_outputs[parent.urn]) == {"audience", "configFile", "signingKey"}


def test_the_bundle_entry_sits_next_to_the_oidc_module():
    from infra.trusted import bundle_entry

    assert bundle_entry('{"a":1}') == ("upload/trusted-publishing.json", b'{"a":1}')


def test_pulumi_yaml_declares_the_trusted_publishing_settings_once():
    config = yaml.safe_load((REPO / "Pulumi.yaml").read_text())["config"]
    assert "trustedPublishers" in config and "secret" not in config["trustedPublishers"]
    assert config["trustedPublishingAudience"] == {
        "type": "string",
        "default": "",
        "description": config["trustedPublishingAudience"]["description"],
    }


# --- the whole program (__main__.py) with and without trustedPublishers --------------------------

PROGRAM_PUBLISHERS = {
    "acme-tools": [{"provider": "github", "repository": "acme/tools", "workflow": "release.yml"}],
}


@pytest.fixture(scope="module")
def with_publishers():
    from tests.pulumi_helpers import run_program
    from tests.test_pulumi_program import USERS

    return run_program({"users": USERS, "trustedPublishers": PROGRAM_PUBLISHERS})


@pytest.fixture(scope="module")
def without_publishers():
    from tests.pulumi_helpers import run_program
    from tests.test_pulumi_program import USERS

    return run_program({"users": USERS})


def functions(run) -> dict[str, Registered]:
    return {r.name: r for r in run.of_type("aws:lambda/function:Function")}


def upload_fn(run) -> Registered:
    return run.one("aws:lambda/function:Function", "-upload-function")


def bundled(run) -> dict[str, bytes]:
    from tests.pulumi_helpers import zip_members

    return zip_members(REPO / Path(upload_fn(run).inputs["code"].path))


def test_the_program_bundles_the_validated_config_with_the_upload_function(with_publishers):
    doc = json.loads(bundled(with_publishers)["upload/trusted-publishing.json"])
    assert doc == {
        "audience": f"pypi-edge-{AUDIENCE_HEX}",
        "trustedPublishers": {
            "acme-tools": [{"provider": "github", "repository": "acme/tools", "workflow": "release.yml"}]
        },
    }
    assert with_publishers.outputs["trustedPublishingAudience"] == f"pypi-edge-{AUDIENCE_HEX}"


def test_only_the_upload_function_gets_the_signing_key_and_as_a_secret(with_publishers):
    fn = upload_fn(with_publishers)
    assert publishers.KEY_ENV in fn.inputs["environment"]["variables"]
    assert "environment" in fn.secrets
    for name, other in functions(with_publishers).items():
        if other is not fn:
            assert publishers.KEY_ENV not in json.dumps(other.inputs.get("environment") or {}), name


def test_the_trusted_publishing_component_sits_inside_the_private_index(with_publishers):
    from infra.component import TYPE_TOKEN

    index = with_publishers.one(TYPE_TOKEN)
    trusted = with_publishers.one("pypi-edge:index:TrustedPublishing")
    assert trusted.parent == index.urn


def test_without_publishers_there_is_no_key_no_file_and_no_audience(without_publishers):
    assert without_publishers.of_type("pypi-edge:index:TrustedPublishing") == []
    assert "upload/trusted-publishing.json" not in bundled(without_publishers)
    assert publishers.KEY_ENV not in upload_fn(without_publishers).inputs["environment"]["variables"]
    assert "trustedPublishingAudience" not in without_publishers.outputs
