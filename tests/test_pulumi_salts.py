"""Password salts come from a random seed per deployment (issue 18, item 10; infra/salts.py).

On main the seed was "<project>/<stack>", so two deployments that kept the default names (every
`pulumi new` of this repository is `pypi-edge`/`dev`) gave the same user the same salt, and one
precomputed table attacked both.  Now a `RandomBytes` resource draws it once and the state keeps
it: every run of one stack builds the same bundles, and the salts say nothing about the names.
"""

from __future__ import annotations

import runpy

import pulumi
import pytest

from edge import credentials
from infra import salts
from tests.pulumi_helpers import REPO, ProgramRun, run_program, zip_members
from tests.test_pulumi_program import USERS, mocked_default_config  # noqa: F401

T_FUNCTION = "aws:lambda/function:Function"
T_BYTES = "random:index/randomBytes:RandomBytes"


@pytest.fixture(scope="module")
def run() -> ProgramRun:
    return run_program({"users": USERS})


def bundled_users(run: ProgramRun, suffix: str) -> dict[str, credentials.Entry]:
    members = zip_members(REPO / run.one(T_FUNCTION, suffix).inputs["code"].path)
    return credentials.load(members[credentials.FILE_NAME])[1]


def test_the_seed_is_random_bytes_kept_in_the_state_inside_its_own_component(run):
    seed = run.one(T_BYTES)
    assert seed.inputs["length"] == salts.SEED_BYTES == 32
    assert "keepers" not in seed.inputs  # nothing may redraw it: a redraw changes every salt
    assert run.one(salts.TYPE_TOKEN).urn == seed.parent


@pytest.mark.parametrize("function", ["-edge", "-upload-function"])
def test_both_bundles_salt_every_password_with_the_deployments_seed(run, function):
    seed = run.one(T_BYTES).state["base64"]
    for user, entry in bundled_users(run, function).items():
        assert entry.salt == credentials.derive_salt(seed, user)
        # main: derive_salt("pypi-edge/dev", user), the same in every deployment named so.
        assert entry.salt != credentials.derive_salt("pypi-edge/dev", user)


@pulumi.runtime.test
def test_an_explicit_seed_wins_and_then_no_random_seed_is_made(mocked_default_config):  # noqa: F811
    from infra.component import PrivateIndex, PrivateIndexArgs

    index = PrivateIndex("pinned", PrivateIndexArgs(users=USERS, credentials_seed="a fixed seed"))
    assert index.salts is None
    assert not [r for r in mocked_default_config.registered if r.type == T_BYTES]

    def check(code: pulumi.FileArchive) -> None:
        users = credentials.load(zip_members(REPO / code.path)[credentials.FILE_NAME])[1]
        assert all(e.salt == credentials.derive_salt("a fixed seed", u) for u, e in users.items())

    return index.edge_function.code.apply(check)


@pulumi.runtime.test
def test_the_seed_stays_secret_in_the_program(mocked_default_config):  # noqa: F811
    index = runpy.run_path(str(REPO / "__main__.py"), run_name="__main__")["index"]

    async def check() -> None:
        assert index.salts is not None
        assert await index.salts.seed.is_secret()
        assert not await index.edge_function.source_code_hash.is_secret()  # the bundle: hashes only

    return pulumi.Output.from_input(check())
