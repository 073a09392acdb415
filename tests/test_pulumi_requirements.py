"""The requirements files: the root one is the Pulumi program's, as Pulumi's pip toolchain expects.

`pulumi up` in a fresh clone (no `make install`) creates `.venv` and runs `pip install -r
requirements.txt` (pulumi/pulumi sdk/python/toolchain/pip.go: EnsureVenv → InstallDependencies,
only when the virtualenv does not exist yet), so that file must hold everything `__main__.py` and
`infra/` import at deploy time, and nothing the program does not need.
"""

from __future__ import annotations

import ast
import importlib.metadata
import re
import sys
from pathlib import Path

from packaging.utils import canonicalize_name

from infra import bundle

REPO = Path(__file__).resolve().parent.parent
LOCAL_PACKAGES = {p.name for p in REPO.iterdir() if (p / "__init__.py").exists()}


def requirement_names(path: Path) -> dict[str, str]:
    names = {}
    for line in path.read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line and not line.startswith("-"):
            name = re.split(r"[=<>!~\[; ]", line, maxsplit=1)[0]
            names[canonicalize_name(name)] = line
    return names


def imported_modules(path: Path) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.add(node.module)
            found |= {f"{node.module}.{alias.name}" for alias in node.names}
    return found


def deploy_time_distributions() -> set[str]:
    """Distributions imported by __main__.py and, transitively, the repository modules it uses."""
    seen: set[Path] = set()
    todo = [REPO / "__main__.py"]
    third_party: set[str] = set()
    while todo:
        path = todo.pop()
        if path in seen:
            continue
        seen.add(path)
        for module in imported_modules(path):
            top = module.split(".")[0]
            if top in LOCAL_PACKAGES:
                candidate = REPO.joinpath(*module.split("."))
                for local in (candidate.with_suffix(".py"), candidate / "__init__.py"):
                    if local.exists():
                        todo.append(local)
            elif (REPO / "edge" / f"{top}.py").exists():
                continue  # edge/*.py import each other flat as well, for the edge bundle's layout
            elif top not in sys.stdlib_module_names and top != "__future__":
                third_party.add(top)
    providers = importlib.metadata.packages_distributions()
    return {canonicalize_name(dist) for top in third_party for dist in providers[top]}


def test_root_requirements_are_exactly_what_the_pulumi_program_imports() -> None:
    needed = deploy_time_distributions()
    # random: infra/upload.py, infra/trusted.py; packaging: upload/publishers.py via infra/trusted.py
    assert needed == {"pulumi", "pulumi-aws", "pulumi-random", "packaging"}
    assert set(requirement_names(REPO / "requirements.txt")) == needed


def test_root_requirements_pin_the_versions_the_tests_run() -> None:
    for name, line in requirement_names(REPO / "requirements.txt").items():
        assert line == f"{line.split('==')[0]}=={importlib.metadata.version(name)}"


def test_the_indexer_bundle_reads_its_own_requirements_next_to_the_indexer() -> None:
    assert Path("indexer") / "requirements.txt" == bundle.INDEXER_REQUIREMENTS
    indexer = requirement_names(REPO / bundle.INDEXER_REQUIREMENTS)
    assert {"boto3", "botocore", "s3transfer", "jmespath", "jinja2", "packaging"} <= set(indexer)
    assert not {"pulumi", "pulumi-aws"} & set(indexer)


def test_requirements_dev_includes_both_and_pins_each_package_once() -> None:
    dev = (REPO / "requirements-dev.txt").read_text().splitlines()
    assert "-r requirements.txt" in dev and "-r indexer/requirements.txt" in dev
    files = ("requirements.txt", "indexer/requirements.txt", "requirements-dev.txt")
    seen: dict[str, tuple[str, str]] = {}
    for name in files:
        for package, line in requirement_names(REPO / name).items():
            pin = line.split("#", 1)[0].strip()
            if package in seen:
                # Only a package two deployed runtimes both need (packaging: the indexer Lambda
                # and the Pulumi program) is in two runtime files, pinned the same in each.
                where, before = seen[package]
                assert name != "requirements-dev.txt", f"{package} pinned in {where} and {name}"
                assert pin == before, f"{package}: {before} in {where} but {pin} in {name}"
            seen[package] = (name, pin)
    makefile = (REPO / "Makefile").read_text()
    assert re.search(r"^\$\(STAMP\):.*\bindexer/requirements\.txt\b", makefile, re.M)
