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

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from infra import bundle

REPO = Path(__file__).resolve().parent.parent
LOCAL_PACKAGES = {p.name for p in REPO.iterdir() if (p / "__init__.py").exists()}
# Modules a Lambda bundle holds at its root and imports as such (edge/handler.py: `import credentials`).
FLAT = {p.stem for package in LOCAL_PACKAGES for p in (REPO / package).glob("*.py")}


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


def imported_distributions(*entry_points: Path) -> set[str]:
    """Distributions imported by the entry points and, transitively, the repository modules they use."""
    seen: set[Path] = set()
    todo = list(entry_points)
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
    third_party -= FLAT - set(providers)
    return {canonicalize_name(dist) for top in third_party for dist in providers[top]}


def deploy_time_distributions() -> set[str]:
    return imported_distributions(REPO / "__main__.py")


def with_dependencies(wanted: dict[str, set[str]]) -> set[str]:
    """The distributions (name -> extras wanted) and everything they require on this Python."""
    done: set[str] = set()
    todo = [(canonicalize_name(name), extras) for name, extras in wanted.items()]
    while todo:
        name, extras = todo.pop()
        if name in done:
            continue
        done.add(name)
        for line in importlib.metadata.requires(name) or []:
            req = Requirement(line)
            if req.marker is None or any(req.marker.evaluate({"extra": e}) for e in extras | {""}):
                todo.append((canonicalize_name(req.name), set(req.extras)))
    return done


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


def includes(path: Path) -> list[str]:
    return [line.split()[1] for line in path.read_text().splitlines() if line.startswith("-r ")]


def test_serving_and_development_requirements_include_the_runtimes_and_pin_each_package_once() -> None:
    # make serve: the indexer's and the upload function's runtimes, plus the local stack and CLI;
    # make test: all of that, plus the Pulumi program's and the toolchains.
    assert includes(REPO / "requirements-serve.txt") == [
        "indexer/requirements.txt",
        "upload/requirements.txt",
    ]
    assert includes(REPO / "requirements-dev.txt") == ["requirements-serve.txt", "requirements.txt"]
    files = (
        "requirements.txt",
        "indexer/requirements.txt",
        "upload/requirements.txt",
        "requirements-serve.txt",
        "requirements-dev.txt",
    )
    runtimes = {"requirements.txt", "indexer/requirements.txt", "upload/requirements.txt"}
    seen: dict[str, tuple[str, str]] = {}
    for name in files:
        for package, line in requirement_names(REPO / name).items():
            pin = line.split("#", 1)[0].strip()
            if package in seen:
                # Only a package two deployed runtimes both need (packaging: the indexer Lambda
                # and the Pulumi program) is in two runtime files, pinned the same in each.
                where, before = seen[package]
                assert name in runtimes, f"{package} pinned in {where} and {name}"
                assert pin == before, f"{package}: {before} in {where} but {pin} in {name}"
            seen[package] = (name, pin)


def test_each_install_stamp_depends_on_every_file_it_installs() -> None:
    makefile = (REPO / "Makefile").read_text()
    serve = re.search(r"^SERVE_REQUIREMENTS := (.*)$", makefile, re.M)
    assert serve is not None
    assert set(serve.group(1).split()) == {
        "requirements-serve.txt",
        *includes(REPO / "requirements-serve.txt"),
        "pyproject.toml",
    }
    assert re.search(r"^\$\(SERVE_STAMP\): \$\(SERVE_REQUIREMENTS\)$", makefile, re.M)
    full = re.search(r"^\$\(STAMP\): \$\(SERVE_REQUIREMENTS\) (.*)$", makefile, re.M)
    assert full is not None
    beyond_serving = set(includes(REPO / "requirements-dev.txt")) - {"requirements-serve.txt"}
    assert set(full.group(1).split()) == {"requirements-dev.txt", *beyond_serving}


def test_serving_requirements_are_exactly_what_the_local_stack_and_the_cli_need() -> None:
    imported = imported_distributions(REPO / "local" / "__main__.py", REPO / "indexer" / "__main__.py")
    # keyring: indexer/remote.py asks it for credentials only when it is installed, as twine does.
    assert "keyring" in imported
    imported.discard("keyring")
    assert {"moto", "boto3", "jinja2", "aws-lambda-powertools", "multipart", "joserfc", "tqdm"} <= imported
    assert not {"pulumi", "pytest", "playwright"} & imported
    # moto.server (ThreadedMotoServer) runs a Flask app with flask-cors: moto's `server` extra,
    # without the other AWS services' dependencies it also lists; S3 needs its `s3` extra.
    wanted: dict[str, set[str]] = {name: set() for name in imported | {"flask", "flask-cors"}}
    wanted["moto"] = {"s3"}
    wanted["readme-renderer"] = {"md"}  # Markdown READMEs (indexer/about.py): comrak
    needed = with_dependencies(wanted)
    pinned = {
        package
        for name in ("requirements-serve.txt", *includes(REPO / "requirements-serve.txt"))
        for package in requirement_names(REPO / name)
    }
    # pip (mirror resolves with it), setuptools (the CLI's editable install) and uv (which installs
    # the rest, Makefile: venv_install) are installed too.
    assert pinned - {"pip", "setuptools", "uv"} == needed
