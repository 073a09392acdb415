"""Locking and installing package trees with real clients, through every index and every link.

Two trees, each served by every index in `bench.servers`:

* **synthetic**: `packages` wheels `edgebench-NN` forming a DAG (`dependencies`), each with an
  incompressible payload, one version each; resolving `edgebench-00` visits all of them;
* **real**: requests and Jinja2 with their dependencies, the wheels pip picks for this Python,
  downloaded once from PyPI into `REAL_CACHE` (the bench may use the registry; tests never do).

Tasks (`TASKS`) run from empty caches in fresh environments: `uv pip compile` and `poetry lock`
(locking), `pip install` and `uv pip install` (installing). Every run checks its result (the
packages resolved or installed), so a client that silently failed cannot look fast.
"""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from packaging.utils import canonicalize_name, parse_sdist_filename, parse_wheel_filename

from bench.link import Shape
from bench.report import median, timed
from bench.servers import OURS, Served, serving
from tests.distributions import make_wheel
from tests.e2e import VENV_BIN, clean_env, fresh_venv, installed, pip, run

PREFIX = "edgebench"  # a name that exists on no public index
REAL_REQUIREMENTS = ("requests==2.34.2", "Jinja2==3.1.6")  # the versions this repository pins
REAL_CACHE = Path.home() / ".cache" / "pypi-edge-bench"


# --- the trees ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Tree:
    name: str
    wheels: list[tuple[str, bytes]]
    roots: tuple[str, ...]  # what the user asks for

    @property
    def projects(self) -> set[str]:
        return {project_name(filename) for filename, _ in self.wheels}

    @property
    def wheel_bytes(self) -> int:
        return sum(len(data) for _, data in self.wheels)


def project_name(filename: str) -> str:
    if filename.endswith(".whl"):
        return str(parse_wheel_filename(filename)[0])
    return str(parse_sdist_filename(filename)[0])


def dependencies(i: int, packages: int) -> list[int]:
    """A DAG over 0..packages-1 rooted at 0: two children each (a binary heap) plus a cross edge.

    Edges only go from lower to higher numbers, so there is no cycle, and every package is
    reachable from package 0, so resolving package 0 visits them all; the cross edges give
    packages several dependents, as in real trees.
    """
    return sorted({j for j in (2 * i + 1, 2 * i + 2, i + 3) if j < packages})


def synthetic_tree(packages: int, payload_bytes: int) -> Tree:
    """The DAG's wheels, version 1.0 each."""
    wheels = []
    for i in range(packages):
        requires = [f"{PREFIX}-{j:02d}>=1.0" for j in dependencies(i, packages)]
        filename, data, _ = make_wheel(
            f"{PREFIX}-{i:02d}", "1.0", requires_dist=requires, payload_bytes=payload_bytes
        )
        wheels.append((filename, data))
    return Tree(f"{packages} synthetic packages", wheels, (f"{PREFIX}-00",))


Download = Callable[[Sequence[str], Path], None]


def pip_download(requirements: Sequence[str], into: Path) -> None:
    """`pip download` from PyPI itself (no local configuration), wheels only, for this Python."""
    result = run(
        VENV_BIN / "pip", "download", "--quiet", "--only-binary", ":all:", "--index-url",
        "https://pypi.org/simple/", "--dest", into, *requirements,
    )  # fmt: skip
    if result.returncode != 0:
        raise RuntimeError(f"pip download failed:\n{result.stdout}\n{result.stderr}")


def real_tree(
    requirements: Sequence[str] = REAL_REQUIREMENTS,
    cache: Path = REAL_CACHE,
    download: Download = pip_download,
) -> Tree:
    """Real distributions of `requirements` and their dependencies, downloaded once: a folder
    per requirement set under `cache`, reused when complete."""
    key = hashlib.sha256("\n".join(sorted(requirements)).encode()).hexdigest()[:12]
    folder = cache / f"tree-{key}"
    done = folder / "COMPLETE"
    if not done.exists():
        folder.mkdir(parents=True, exist_ok=True)
        download(requirements, folder)
        done.write_text("\n".join(requirements) + "\n")
    wheels = [(p.name, p.read_bytes()) for p in sorted(folder.iterdir()) if p.name.endswith(".whl")]
    if not wheels:
        raise RuntimeError(f"no wheels in {folder}")
    roots = tuple(str(canonicalize_name(r.split("==")[0])) + r[len(r.split("==")[0]) :] for r in requirements)
    return Tree(f"real: {' + '.join(r.split('==')[0] for r in requirements)} and dependencies", wheels, roots)


# --- the tasks ---------------------------------------------------------------------------------

Run = Callable[[], None]


def _credentials(url: str) -> tuple[str, str | None, str | None]:
    """(url without credentials, user, password)."""
    scheme, rest = url.split("://", 1)
    if "@" not in rest.split("/", 1)[0]:
        return url, None, None
    userinfo, hostpath = rest.split("@", 1)
    user, _, password = userinfo.partition(":")
    return f"{scheme}://{hostpath}", user, password


def _check(result: subprocess.CompletedProcess, what: str) -> None:
    if result.returncode != 0:
        raise RuntimeError(f"{what} failed:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}")


def _expect(got: set[str], tree: Tree, what: str) -> None:
    if got != tree.projects:
        raise RuntimeError(f"{what}: got {sorted(got)}, expected {sorted(tree.projects)}")


def uv_compile(index_url: str, work: Path, tree: Tree) -> Run:
    """`uv pip compile --no-cache` of the roots, for a fresh venv's Python."""
    python = fresh_venv(work / "venv")
    requirements = work / "requirements.in"
    requirements.write_text("\n".join(tree.roots) + "\n")

    def go() -> None:
        result = run(
            VENV_BIN / "uv", "pip", "compile", "--no-cache", "--quiet", "--python", python,
            "--index-url", index_url, requirements, env=clean_env(UV_NO_PROGRESS="1"),
        )  # fmt: skip
        _check(result, "uv pip compile")
        lines = [line for line in result.stdout.splitlines() if line and not line.startswith(("#", " "))]
        _expect({str(canonicalize_name(line.split("==")[0])) for line in lines}, tree, "uv pip compile")

    return go


def poetry_lock(index_url: str, work: Path, tree: Tree) -> Run:
    """`poetry lock` with the index as the only (primary) source, from an empty cache."""
    url, user, password = _credentials(index_url)
    project = work / "consumer"
    project.mkdir()
    deps = ", ".join(json.dumps(r) for r in tree.roots)
    (project / "pyproject.toml").write_text(
        f"""[project]
name = "consumer"
version = "0.1.0"
requires-python = ">=3.11,<4"
dependencies = [{deps}]

[tool.poetry]
package-mode = false

[[tool.poetry.source]]
name = "bench"
url = "{url}"
priority = "primary"
"""
    )
    env = clean_env(
        POETRY_CACHE_DIR=str(work / "poetry-cache"),
        POETRY_CONFIG_DIR=str(work / "poetry-config"),
        PYTHON_KEYRING_BACKEND="keyring.backends.null.Keyring",
    )
    if user:
        env.update(POETRY_HTTP_BASIC_BENCH_USERNAME=user, POETRY_HTTP_BASIC_BENCH_PASSWORD=password or "")

    def go() -> None:
        _check(run(VENV_BIN / "poetry", "lock", "--no-interaction", cwd=project, env=env), "poetry lock")
        locked = (project / "poetry.lock").read_text()
        names = {
            str(canonicalize_name(line.split('"')[1]))
            for line in locked.splitlines()
            if line.startswith("name = ")
        }
        _expect(names, tree, "poetry lock")

    return go


def pip_install(index_url: str, work: Path, tree: Tree) -> Run:
    """`pip install --no-cache-dir` (pip 26.3) of the roots into a fresh venv."""
    python = fresh_venv(work / "venv")

    def go() -> None:
        _check(pip(python, "install", "--quiet", "--index-url", index_url, *tree.roots), "pip install")
        _expect(set(installed(python)), tree, "pip install")

    return go


def uv_install(index_url: str, work: Path, tree: Tree) -> Run:
    """`uv pip install --no-cache` of the roots into a fresh venv."""
    python = fresh_venv(work / "venv")

    def go() -> None:
        result = run(
            VENV_BIN / "uv", "pip", "install", "--no-cache", "--quiet", "--python", python,
            "--index-url", index_url, *tree.roots, env=clean_env(UV_NO_PROGRESS="1"),
        )  # fmt: skip
        _check(result, "uv pip install")
        _expect(set(installed(python)), tree, "uv pip install")

    return go


@dataclass(frozen=True)
class Task:
    name: str
    kind: str  # "lock" or "install"
    prepare: Callable[[str, Path, Tree], Run]  # not timed: makes the venv, the project


TASKS = (
    Task("uv pip compile", "lock", uv_compile),
    Task("poetry lock", "lock", poetry_lock),
    Task("pip install", "install", pip_install),
    Task("uv pip install", "install", uv_install),
)


# --- the matrix --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Measurement:
    task: str
    tree: str
    server: str
    link: str
    requests: int  # exact, identical on every run
    bytes_sent: int  # response bodies as sent, after compression; exact
    seconds: float  # median
    varied: bool = False  # a peer's traffic differed between runs (medians shown)


@dataclass(frozen=True)
class Work:
    trees: list[Tree]
    links: list[Shape]
    servers: list[str]
    runs: int
    measurements: list[Measurement]

    def get(self, task: str, tree: str, server: str, link: str) -> Measurement:
        return next(
            m for m in self.measurements if (m.task, m.tree, m.server, m.link) == (task, tree, server, link)
        )


def work(
    trees: list[Tree], links: Sequence[Shape], runs: int, tasks: Sequence[Task] = TASKS, log=print
) -> Work:
    """Every task × tree × index × link, `runs` times, the indexes interleaved run by run (the
    same machine state for each)."""
    measurements: list[Measurement] = []
    names: list[str] = []
    with tempfile.TemporaryDirectory(prefix="pypi-edge-bench-work-") as tmp:
        for t, tree in enumerate(trees):
            with serving(tree.wheels) as servers:
                names = [s.name for s in servers]
                for link in links:
                    for server in servers:
                        server.shape(link)
                    for task in tasks:
                        log(f"{task.name}: {tree.name}, {link.name}")
                        samples: dict[str, list[tuple[float, int, int]]] = {s.name: [] for s in servers}
                        for r in range(runs):
                            for k, server in enumerate(servers):
                                folder = Path(tmp) / f"{t}-{link.name[:2]}-{task.name}-{k}-{r}".replace(
                                    " ", "_"
                                )
                                folder.mkdir()
                                samples[server.name].append(_one(task, server, folder, tree))
                        for server in servers:
                            measurements.append(
                                _summarize(task, tree, server.name, link, samples[server.name])
                            )
    return Work(trees, list(links), names, runs, measurements)


def _one(task: Task, server: Served, folder: Path, tree: Tree) -> tuple[float, int, int]:
    go = task.prepare(server.index_url, folder, tree)
    server.reset()
    elapsed = timed(go)
    tally = server.traffic()
    return elapsed, tally.requests, tally.body_bytes_down


def _summarize(
    task: Task, tree: Tree, server: str, link: Shape, samples: list[tuple[float, int, int]]
) -> Measurement:
    counts = {(n, b) for _, n, b in samples}
    if len(counts) != 1 and server == OURS:
        raise AssertionError(f"{task.name} via {server} ({link.name}): traffic varied between runs: {counts}")
    # A peer's traffic may vary (poetry against devpi did: same requests, a few percent of bytes
    # apart, as downloads it abandoned were cut at different points): the median, flagged.
    requests = int(median([n for _, n, _ in samples]))
    sent = int(median([b for _, _, b in samples]))
    seconds = median([s for s, _, _ in samples])
    return Measurement(task.name, tree.name, server, link.name, requests, sent, seconds, len(counts) > 1)


if __name__ == "__main__":  # a quick look: python -m bench.clients
    from bench.link import LOOPBACK

    w = work([synthetic_tree(4, 64 * 1024)], [LOOPBACK], 1)
    for m in w.measurements:
        print(m, file=sys.stderr)
    assert OURS in w.servers
