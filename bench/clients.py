"""Locking and installing package trees with real clients, through every index, in every scenario.

Three trees, each served by every index in `bench.servers`:

* **synthetic**: `packages` wheels `edgebench-NN` forming a DAG (`dependencies`), each with an
  incompressible payload, one version each; resolving `edgebench-00` visits all of them;
* **large wheel**: the same tree with its last package's wheel `big` bytes (built here), where
  PEP 658 metadata decides whether resolving downloads it;
* **real**: requests and Jinja2 with their dependencies, the wheels pip picks for this Python,
  downloaded once from PyPI into `REAL_CACHE` (the bench may use the registry; tests never do).

Tasks (`TASKS`, `RESOLVE_TASKS`) run from empty client caches in fresh environments:
`uv pip compile`, `poetry lock` and `pip install --dry-run` (resolving), `pip install` and
`uv pip install` (installing). Every run checks its result (the packages resolved or installed),
so a client that silently failed cannot look fast.

Each `Case` runs a tree's tasks in each of its scenarios (`bench.link.Scenario`); pypi-edge runs
once per state of its edge cache (`bench.servers.Served.states`: cold, then stale pages, then
warm, each run leaving the cache as the next state needs it), a single server once.
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

from bench.link import Scenario
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


def synthetic_tree(packages: int, payload_bytes: int, big: int = 0) -> Tree:
    """The DAG's wheels, version 1.0 each; with `big`, the last package (a leaf) carries `big`
    bytes of payload instead (a locally built large wheel, as ML and native packages are)."""
    wheels = []
    for i in range(packages):
        requires = [f"{PREFIX}-{j:02d}>=1.0" for j in dependencies(i, packages)]
        payload = big if big and i == packages - 1 else payload_bytes
        filename, data, _ = make_wheel(
            f"{PREFIX}-{i:02d}", "1.0", requires_dist=requires, payload_bytes=payload
        )
        wheels.append((filename, data))
    name = f"{packages} synthetic packages"
    if big:
        name += f", one wheel of {big / 2**20:,.0f} MiB"
    return Tree(name, wheels, (f"{PREFIX}-00",))


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


def pip_dry_run(index_url: str, work: Path, tree: Tree) -> Run:
    """`pip install --dry-run --no-cache-dir` (pip 26.3): resolve as an install would, install
    nothing; the JSON report says what it would have installed."""
    python = fresh_venv(work / "venv")
    report = work / "report.json"

    def go() -> None:
        result = pip(python, "install", "--dry-run", "--quiet", "--report", report, "--index-url", index_url,
                     *tree.roots)  # fmt: skip
        _check(result, "pip install --dry-run")
        got = {
            str(canonicalize_name(item["metadata"]["name"]))
            for item in json.loads(report.read_text())["install"]
        }
        _expect(got, tree, "pip install --dry-run")

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


UV_COMPILE = Task("uv pip compile", "lock", uv_compile)
POETRY_LOCK = Task("poetry lock", "lock", poetry_lock)
PIP_DRY_RUN = Task("pip install --dry-run", "lock", pip_dry_run)
TASKS = (UV_COMPILE, POETRY_LOCK, Task("pip install", "install", pip_install),
         Task("uv pip install", "install", uv_install))  # fmt: skip
# What PEP 658 metadata is for: resolving without downloading the wheels.
RESOLVE_TASKS = (PIP_DRY_RUN, UV_COMPILE, POETRY_LOCK)


# --- the matrix --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Case:
    """A tree, the tasks run on it, and the scenarios they run in."""

    tree: Tree
    tasks: tuple[Task, ...]
    scenarios: tuple[Scenario, ...]


@dataclass(frozen=True)
class Measurement:
    task: str
    tree: str
    server: str
    scenario: str
    state: str  # pypi-edge's edge cache before the run (cold, stale, warm); "" for a single server
    requests: int  # exact, identical on every run
    bytes_sent: int  # response bodies as sent, after compression; exact
    origin_requests: int  # requests the CloudFront stand-in sent to S3 (ours only); exact
    seconds: float  # wall time, median
    server_median: float  # per request: proxy forwarded it -> response headers back; median of runs
    server_total: float  # the same summed over the run's requests; median of runs
    varied: bool = False  # a peer's traffic differed between runs (medians shown)


@dataclass(frozen=True)
class Work:
    cases: list[Case]
    servers: list[str]
    runs: int
    measurements: list[Measurement]

    @property
    def trees(self) -> list[Tree]:
        return [c.tree for c in self.cases]

    @property
    def scenarios(self) -> list[Scenario]:
        seen: dict[str, Scenario] = {}
        for c in self.cases:
            for scenario in c.scenarios:
                seen.setdefault(scenario.name, scenario)
        return list(seen.values())

    def get(self, task: str, tree: str, server: str, scenario: str, state: str | None = None) -> Measurement:
        """One measurement; for pypi-edge `state` picks the edge cache state (default: warm)."""
        if state is None:
            state = "warm" if server == OURS else ""
        return next(
            m
            for m in self.measurements
            if (m.task, m.tree, m.server, m.scenario, m.state) == (task, tree, server, scenario, state)
        )

    def states(self, task: str, tree: str, server: str, scenario: str) -> list[Measurement]:
        """Every measurement of one index for a task, tree and scenario, in the order run."""
        return [
            m
            for m in self.measurements
            if (m.task, m.tree, m.server, m.scenario) == (task, tree, server, scenario)
        ]


Sample = tuple[float, int, int, int, list[float]]  # seconds, requests, bytes, origin requests, server times


def work(cases: Sequence[Case], runs: int, log=print) -> Work:
    """Every case's tasks × indexes × scenarios (× our edge cache states), `runs` times, the
    indexes interleaved run by run (the same machine state for each)."""
    measurements: list[Measurement] = []
    names: list[str] = []
    with tempfile.TemporaryDirectory(prefix="pypi-edge-bench-work-") as tmp:
        for t, case in enumerate(cases):
            tree = case.tree
            with serving(tree.wheels) as servers:
                names = [s.name for s in servers]
                for c, scenario in enumerate(case.scenarios):
                    for server in servers:
                        server.shape(scenario)
                    for task in case.tasks:
                        log(f"{task.name}: {tree.name}, {scenario.name}")
                        samples: dict[tuple[str, str], list[Sample]] = {}
                        for r in range(runs):
                            for k, server in enumerate(servers):
                                for state in server.states(scenario):
                                    folder = Path(tmp) / f"{t}-{c}-{task.name}-{k}-{state}-{r}".replace(
                                        " ", "_"
                                    )
                                    folder.mkdir()
                                    sample = _one(task, server, state, folder, tree)
                                    samples.setdefault((server.name, state), []).append(sample)
                        for (name, state), got in samples.items():
                            measurements.append(_summarize(task, tree, name, scenario, state, got))
    return Work(list(cases), names, runs, measurements)


def _one(task: Task, server: Served, state: str, folder: Path, tree: Tree) -> Sample:
    go = task.prepare(server.index_url, folder, tree)
    server.reset(state)
    elapsed = timed(go)
    tally = server.traffic()
    return elapsed, tally.requests, tally.body_bytes_down, server.origin_requests(), tally.server_seconds


def _summarize(
    task: Task, tree: Tree, server: str, scenario: Scenario, state: str, samples: list[Sample]
) -> Measurement:
    counts = {(n, b, o) for _, n, b, o, _ in samples}
    if len(counts) != 1 and server == OURS:
        raise AssertionError(
            f"{task.name} via {server} ({scenario.name}, {state}): traffic varied between runs: {counts}"
        )
    # A peer's traffic may vary (poetry against devpi did: same requests, a few percent of bytes
    # apart, as downloads it abandoned were cut at different points): the median, flagged.
    return Measurement(
        task.name,
        tree.name,
        server,
        scenario.name,
        state,
        requests=int(median([n for _, n, _, _, _ in samples])),
        bytes_sent=int(median([b for _, _, b, _, _ in samples])),
        origin_requests=int(median([o for _, _, _, o, _ in samples])),
        seconds=median([s for s, _, _, _, _ in samples]),
        server_median=median([median(times) if times else 0.0 for *_, times in samples]),
        server_total=median([sum(times) for *_, times in samples]),
        varied=len(counts) > 1,
    )


if __name__ == "__main__":  # a quick look: python -m bench.clients
    from bench.link import LOOPBACK

    here = Scenario("loopback", LOOPBACK, LOOPBACK)
    w = work([Case(synthetic_tree(4, 64 * 1024), TASKS, (here,))], 1)
    for m in w.measurements:
        print(m, file=sys.stderr)
    assert OURS in w.servers
