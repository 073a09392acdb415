"""Function names (issue 25, item 5): the regional functions' explicit names end in a random part
kept in the state, so the same project and stack name deployed twice in one account and region
do not collide; the Lambda@Edge functions keep Pulumi's own unique names."""

from __future__ import annotations

import runpy

import pulumi
import pytest

from infra import common
from tests.pulumi_helpers import REPO, ProgramRun, run_program
from tests.test_pulumi_program import USERS, mocked_default_config  # noqa: F401

T_FUNCTION = "aws:lambda/function:Function"
T_LOG_GROUP = "aws:cloudwatch/logGroup:LogGroup"
T_RANDOM_ID = "random:index/randomId:RandomId"


@pytest.fixture(scope="module")
def run() -> ProgramRun:
    return run_program({"users": USERS, "fallbackIndexUrl": "https://pypi.org/simple/"})


def test_the_regional_functions_and_their_log_groups_end_in_the_stacks_random_part(run: ProgramRun) -> None:
    [names] = run.of_type(T_RANDOM_ID)
    assert names.inputs["byteLength"] == common.UNIQUE_SUFFIX_BYTES
    assert "keepers" not in names.inputs  # nothing replaces it: the names never change on update
    suffix = names.state["hex"]
    for what in ("indexer", "upload"):
        [function] = [
            f for f in run.of_type(T_FUNCTION) if f.inputs.get("name", "").startswith("pypi-edge-dev-" + what)
        ]
        assert function.inputs["name"] == f"pypi-edge-dev-{what}-{suffix}"
        [logs] = [g for g in run.of_type(T_LOG_GROUP) if g.inputs["name"].endswith(function.inputs["name"])]
        assert logs.inputs["name"] == f"/aws/lambda/pypi-edge-dev-{what}-{suffix}"
        assert names.urn in function.dependencies or names.urn in logs.dependencies


def test_the_upload_function_names_the_indexer_with_the_same_random_part(run: ProgramRun) -> None:
    upload = run.one(T_FUNCTION, "-upload-function")
    indexer = run.one(T_FUNCTION, "-indexer")
    assert upload.inputs["environment"]["variables"]["INDEXER_FUNCTION"] == indexer.inputs["name"]
    # ...without waiting for the indexer: the cycle stays broken.
    assert indexer.urn not in upload.dependencies


def test_the_lambda_at_edge_functions_take_no_explicit_name(run: ProgramRun) -> None:
    """Pulumi names them uniquely already; an explicit name could only add a collision, and
    renaming one replaces it, leaving the old function (and its replicas) behind for hours
    (CloudFront developer guide, "Delete Lambda@Edge functions and replicas")."""
    for suffix in ("-edge", "-fallback"):
        assert "name" not in run.one(T_FUNCTION, suffix).inputs, suffix


@pytest.mark.parametrize(
    ("parts", "fits"),
    [
        (("pypi-edge", "dev", "pypi-edge", "indexer"), True),
        (("pypi-edge", "s" * 38, "upload"), True),  # 55 + "-" + 8 = 64
        (("pypi-edge", "s" * 39, "upload"), False),
    ],
)
def test_a_name_with_no_room_for_its_random_part_fails_the_first_preview(parts, fits) -> None:
    if fits:
        name = common.function_name(*parts)
        assert len(name) + 1 + 2 * common.UNIQUE_SUFFIX_BYTES <= common.FUNCTION_NAME_MAX
        common.unique_function_name("01234567", *parts)
    else:
        with pytest.raises(ValueError, match="no room for its 8-character unique part"):
            common.unique_function_name("01234567", *parts)


@pulumi.runtime.test
def test_the_names_resolve_to_the_base_and_the_random_hex(mocked_default_config):  # noqa: F811
    index = runpy.run_path(str(REPO / "__main__.py"), run_name="__main__")["index"]

    def check(values: list[str]) -> None:
        indexer, upload, suffix = values
        assert len(suffix) == 2 * common.UNIQUE_SUFFIX_BYTES
        assert indexer == f"pypi-edge-dev-indexer-{suffix}"
        assert upload == f"pypi-edge-dev-upload-{suffix}"

    # Returned, so the test wrapper awaits it and the assertions run.
    return pulumi.Output.all(
        index.indexer_function.name, index.upload.function.name, index.name_suffix.hex
    ).apply(check)
