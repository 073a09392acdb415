"""The Lambda bundles (`infra.bundle`): same inputs, same bytes, whatever the machine did."""

from __future__ import annotations

import io
import json
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from edge import credentials
from infra import bundle

REPO = Path(__file__).resolve().parent.parent
USERS = {"alice": "correct horse battery staple", "bob": "hunter2-but-longer"}
DEPS_CACHE = REPO / ".bundles" / "deps"


def copy_tree(src: Path, dst: Path, mtime: int, mode: int) -> None:
    shutil.copytree(src, dst, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    for p in dst.rglob("*"):
        if p.is_file():
            os.chmod(p, mode)
            os.utime(p, (mtime, mtime))


def test_zip_depends_only_on_names_and_contents() -> None:
    files = [("b.py", b"print(2)\n"), ("a/x.html", b"<p>"), ("a.py", b"print(1)\n")]
    one = bundle.deterministic_zip(files)
    assert one == bundle.deterministic_zip(list(reversed(files)))
    with zipfile.ZipFile(io.BytesIO(one)) as zf:
        infos = zf.infolist()
    assert [i.filename for i in infos] == sorted(name for name, _ in files)
    for info in infos:
        assert info.date_time == (1980, 1, 1, 0, 0, 0)
        assert info.external_attr >> 16 == 0o100644
        assert info.create_system == 3
        assert info.compress_type == zipfile.ZIP_DEFLATED
    with pytest.raises(ValueError, match="duplicate"):
        bundle.deterministic_zip([("a", b"1"), ("a", b"2")])


def test_edge_bundle_ignores_mtimes_permissions_and_checkout_location(tmp_path: Path) -> None:
    other = tmp_path / "elsewhere"
    other.mkdir()
    copy_tree(REPO / "edge", other / "edge", mtime=1_700_000_000, mode=0o755)
    a = bundle.build_edge_bundle(USERS, "pypi-edge", "pypi-edge/dev", out_dir=tmp_path / "a")
    b = bundle.build_edge_bundle(
        USERS, "pypi-edge", "pypi-edge/dev", out_dir=tmp_path / "b", source_root=other
    )
    assert a.path.read_bytes() == b.path.read_bytes()
    assert a.sha256_b64 == b.sha256_b64 and a.size < bundle.EDGE_MAX_BYTES
    assert set(a.names) == {"__init__.py", "credentials.py", "handler.py", credentials.FILE_NAME}


def test_edge_bundle_changes_with_users_realm_and_stack_only(tmp_path: Path) -> None:
    def digest(users=USERS, realm="pypi-edge", seed="pypi-edge/dev") -> str:
        return bundle.build_edge_bundle(users, realm, seed, out_dir=tmp_path).sha256_hex

    base = digest()
    assert digest() == base
    assert digest(users={**USERS, "bob": "rotated"}) != base
    assert digest(users={**USERS, "carol": "new user"}) != base
    assert digest(realm="Other") != base
    assert digest(seed="pypi-edge/prod") != base


def test_edge_bundle_excludes_stray_files_and_a_local_credentials_file(tmp_path: Path) -> None:
    src = tmp_path / "src"
    (src / "edge").mkdir(parents=True)
    (src / "edge" / "__init__.py").write_text("")
    (src / "edge" / "credentials.py").write_bytes((REPO / "edge" / "credentials.py").read_bytes())
    (src / "edge" / "handler.py").write_text("def handler(event, context):\n    return event\n")
    (src / "edge" / credentials.FILE_NAME).write_text('{"stale": "local stack file"}')
    (src / "edge" / "notes.txt").write_text("not code")
    (src / "edge" / "debug_scratch.py").write_text("PASSWORD = 'leaked'\n")
    built = bundle.build_edge_bundle(USERS, "r", "s", out_dir=tmp_path / "out", source_root=src)
    with zipfile.ZipFile(built.path) as zf:
        assert sorted(zf.namelist()) == ["__init__.py", "credentials.json", "credentials.py", "handler.py"]
        assert b"stale" not in zf.read("credentials.json")


def test_edge_bundle_over_one_megabyte_is_refused(tmp_path: Path) -> None:
    src = tmp_path / "src"
    (src / "edge").mkdir(parents=True)
    (src / "edge" / "__init__.py").write_text("")
    (src / "edge" / "credentials.py").write_bytes((REPO / "edge" / "credentials.py").read_bytes())
    (src / "edge" / "handler.py").write_bytes(b"# " + os.urandom(1_200_000).hex().encode() + b"\n")
    with pytest.raises(ValueError, match="1 MB"):
        bundle.build_edge_bundle(USERS, "r", "s", out_dir=tmp_path / "out", source_root=src)


def test_dependency_cache_key_covers_requirements_and_platform() -> None:
    req = (REPO / "requirements.txt").read_bytes()
    assert bundle.dependency_cache_key(req) == bundle.dependency_cache_key(req)
    assert bundle.dependency_cache_key(req) != bundle.dependency_cache_key(req + b"six==1.17.0\n")


def test_cached_dependencies_are_not_reinstalled(monkeypatch: pytest.MonkeyPatch) -> None:
    first = bundle.install_dependencies(REPO / "requirements.txt", DEPS_CACHE)  # PyPI, once per key

    def no_pip(*args, **kwargs):
        raise AssertionError("pip ran although the cache was complete")

    monkeypatch.setattr(subprocess, "run", no_pip)
    assert bundle.install_dependencies(REPO / "requirements.txt", DEPS_CACHE) == first
    assert (first / ".complete").exists()
    assert first.name == bundle.dependency_cache_key((REPO / "requirements.txt").read_bytes())


def test_indexer_bundle_is_reproducible_from_another_checkout(tmp_path: Path) -> None:
    other = tmp_path / "elsewhere"
    other.mkdir()
    copy_tree(REPO / "indexer", other / "indexer", mtime=1_600_000_000, mode=0o600)
    shutil.copy(REPO / "requirements.txt", other / "requirements.txt")
    (other / "indexer" / "__pycache__").mkdir(exist_ok=True)
    (other / "indexer" / "__pycache__" / "junk.cpython-311.pyc").write_bytes(b"\0junk")
    a = bundle.build_indexer_bundle(out_dir=tmp_path / "a", deps_dir=DEPS_CACHE)
    b = bundle.build_indexer_bundle(out_dir=tmp_path / "b", source_root=other, deps_dir=DEPS_CACHE)
    assert a.path.read_bytes() == b.path.read_bytes()
    assert not [n for n in b.names if "__pycache__" in n or n.endswith(".pyc")]
    assert a.size < bundle.LAMBDA_MAX_BYTES


SMOKE_EDGE = r"""
import base64, json, sys
sys.path[:0] = [sys.argv[1]]
import handler
event = json.load(open(sys.argv[2]))
out = {}
for label, secret in (("good", sys.argv[3]), ("bad", sys.argv[3] + "x")):
    token = base64.b64encode(f"alice:{secret}".encode()).decode()
    event["Records"][0]["cf"]["request"]["headers"]["authorization"] = [
        {"key": "Authorization", "value": f"Basic {token}"}
    ]
    out[label] = handler.handler(json.loads(json.dumps(event)), None)
out["file"] = handler.__file__
print(json.dumps(out))
"""


def test_the_unzipped_edge_bundle_runs_flat_and_authenticates(tmp_path: Path) -> None:
    """The bundle as Lambda sees it: files at the root, no `edge` package, no environment."""
    built = bundle.build_edge_bundle(USERS, "pypi-edge", "pypi-edge/dev", out_dir=tmp_path / "out")
    root = tmp_path / "task"
    with zipfile.ZipFile(built.path) as zf:
        zf.extractall(root)
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYPI_EDGE")}
    env.pop("PYTHONPATH", None)
    proc = subprocess.run(
        [
            sys.executable,
            "-I",  # isolated: neither the repository nor the working directory is importable
            "-c",
            SMOKE_EDGE,
            str(root),
            str(REPO / "tests" / "events" / "viewer-request-pip-project-page.json"),
            USERS["alice"],
        ],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    assert Path(out["file"]).parent == root
    assert out["good"].get("status") is None  # the request goes on to the cache / origin
    assert out["good"]["uri"] == "/requests/index.json"
    assert "authorization" not in out["good"]["headers"]
    assert out["bad"]["status"] == "401"


SMOKE_INDEXER = r"""
import sys
site = sys.path[:]
sys.path[:] = [sys.argv[1]] + site  # the bundle first; boto3 comes from the runtime (here: the venv)
import indexer.handler, jinja2, aws_lambda_powertools
for mod in (indexer.handler, jinja2, aws_lambda_powertools):
    assert mod.__file__.startswith(sys.argv[1]), mod.__file__
print("ok")
"""


def test_the_unzipped_indexer_bundle_imports_its_handler(tmp_path: Path) -> None:
    built = bundle.build_indexer_bundle(out_dir=tmp_path / "out", deps_dir=DEPS_CACHE)
    root = tmp_path / "task"
    with zipfile.ZipFile(built.path) as zf:
        zf.extractall(root)
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env["AWS_DEFAULT_REGION"] = "eu-west-1"
    proc = subprocess.run(
        [sys.executable, "-c", SMOKE_INDEXER, str(root)],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip().endswith("ok")
