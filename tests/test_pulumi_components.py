"""The program's parts (`infra/*.py`): one component per part, no import cycle, and the split into
components moved every resource without replacing it."""

from __future__ import annotations

import ast
import json
import re
from pathlib import Path

import pulumi
import pytest

from infra import common
from infra.component import TYPE_TOKEN
from infra.distribution import EdgeDistribution, EdgeDistributionArgs
from tests.pulumi_helpers import REPO, ProgramRun, run_program

BEFORE_SPLIT = json.loads((Path(__file__).parent / "pulumi_urns_before_split.json").read_text())
PARTS = {
    "pypi-edge:index:Storage",
    "pypi-edge:index:UploadEndpoint",
    "pypi-edge:index:FallbackRedirect",
    "pypi-edge:index:EdgeDistribution",
    "pypi-edge:index:Indexer",
    "pypi-edge:index:TrustedPublishing",
    "pypi-edge:index:CredentialSalts",
}


@pytest.fixture(scope="module")
def run() -> ProgramRun:
    """Every optional part switched on, as in the snapshot taken before the split."""
    return run_program(BEFORE_SPLIT["config"], stack=BEFORE_SPLIT["stack"])


def infra_imports() -> dict[str, set[str]]:
    """infra module → the infra modules it imports (at the top or inside a function)."""
    graph: dict[str, set[str]] = {}
    for path in sorted((REPO / "infra").glob("*.py")):
        found: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module == "infra":
                found |= {alias.name for alias in node.names}
            elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith("infra."):
                found.add(node.module.split(".")[1])
            elif isinstance(node, ast.Import):
                found |= {a.name.split(".")[1] for a in node.names if a.name.startswith("infra.")}
        graph[path.stem] = found
    return graph


def test_the_infra_modules_import_each_other_without_a_cycle() -> None:
    graph = infra_imports()
    done: set[str] = set()

    def visit(module: str, path: tuple[str, ...]) -> None:
        assert module not in path, " → ".join((*path, module))
        if module not in done:
            for imported in graph.get(module, ()):
                visit(imported, (*path, module))
            done.add(module)

    for module in graph:
        visit(module, ())
    # Only the composition imports the parts; nothing imports the composition.
    assert not [m for m, imported in graph.items() if "component" in imported]
    assert {"storage", "upload", "fallback", "distribution", "indexer", "trusted", "salts", "users"} <= graph[
        "component"
    ]
    # common imports only the settings modules below it (no Pulumi resources in them).
    assert graph["common"] <= {"bundle", "wiring", "pool"}


def test_the_private_index_is_made_of_one_component_per_part(run: ProgramRun) -> None:
    index = run.one(TYPE_TOKEN)
    parts = [r for r in run.resources if r.parent == index.urn and not r.custom]
    assert {r.type for r in parts} == PARTS
    # The index's own: the random part of the function names the parts share.
    assert [r.type for r in run.resources if r.parent == index.urn and r.custom] == [
        "random:index/randomId:RandomId"
    ]


def test_every_component_has_a_package_type_token_and_registers_its_outputs(run: ProgramRun) -> None:
    components = [r for r in run.resources if not r.custom]
    assert len(components) == len(PARTS) + 1
    for component in components:
        assert re.fullmatch(r"pypi-edge:index:[A-Z][A-Za-z]+", component.type), component.type
        assert run.mocks.registered_outputs.get(component.urn), f"{component.type} registered no outputs"


def test_every_resource_of_before_the_split_keeps_its_urn_or_an_alias_to_it(run: ProgramRun) -> None:
    """A resource whose URN changes without an alias is deleted and created anew by `pulumi up`:
    a new bucket, a new distribution.  The parts are named after the index and the resources keep
    their names, so only the parent differs, and `common.moved_from` aliases it."""
    now = {run.engine_urn(r): r for r in run.resources}
    aliased = {urn: r for r in run.resources for urn in run.alias_urns(r)}
    for urn in BEFORE_SPLIT["urns"]:
        assert urn in now or urn in aliased, urn
        kept = now.get(urn) or aliased[urn]
        assert urn.endswith(f"${kept.type}::{kept.name}") or urn.endswith(f"::{kept.type}::{kept.name}")
    # The aliases point at resources that exist no more, never at another resource of today.
    assert not set(aliased) & set(now)
    # And they were needed: the parts' resources did move.
    assert set(aliased) - set(now)


@pytest.mark.parametrize("opts", [None, pulumi.ResourceOptions()])
def test_a_part_made_outside_a_private_index_has_nothing_to_move_from(opts) -> None:
    assert common.moved_from(opts) == []


def test_a_distribution_without_an_upload_endpoint_has_only_its_default_behaviour() -> None:
    bucket = {"bucket_id": "b", "bucket_arn": "a", "bucket_regional_domain_name": "d"}
    args = EdgeDistributionArgs(users={}, realm="r", credentials_seed="s", edge_bundle_name="e.zip", **bucket)
    assert EdgeDistribution._upload_behaviours(args, "arn:edge:1", "policy-id") == []
