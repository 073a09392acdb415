"""The Lambda bundles (`infra.bundle`): same inputs, same bytes, whatever the machine did."""

from __future__ import annotations

import io
import json
import os
import shutil
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

import pytest
from packaging.utils import canonicalize_name

from edge import credentials
from infra import bundle
from tests import botocore_calls

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


def fake_deps(root: Path) -> Path:
    deps = root / "deps"
    (deps / "dep").mkdir(parents=True)
    (deps / "dep" / "__init__.py").write_bytes(b"VALUE = 1\n" * 1000)
    (deps / "dep-1.0.dist-info").mkdir()
    (deps / "dep-1.0.dist-info" / "METADATA").write_bytes(b"Name: dep\nVersion: 1.0\n")
    return deps


def test_a_bundle_with_other_own_files_copies_the_dependencies_deflated_once(monkeypatch, tmp_path) -> None:
    deps = fake_deps(tmp_path)
    deflated: list[list[str]] = []
    real = bundle.appended_zip
    monkeypatch.setattr(bundle, "appended_zip", lambda b, f: deflated.append([n for n, _ in f]) or real(b, f))
    zips = [
        bundle._write_lambda_zip([(f"credentials-{run}.json", b"{}")], deps, tmp_path / f"{run}.zip", "t")
        for run in range(3)
    ]

    deps_deflated = [names for names in deflated if "dep/__init__.py" in names]
    assert len(deps_deflated) == 1  # the first run; the others copy the cached zip's entries
    for run, built in enumerate(zips):
        with zipfile.ZipFile(built.path) as zf:
            assert zf.testzip() is None
            assert sorted(zf.namelist()) == sorted(
                [f"credentials-{run}.json", "dep/__init__.py", "dep-1.0.dist-info/METADATA"]
            )
    assert not [n for b in zips for n in b.names if n.startswith(".") or "/." in n]  # the cache never ships


def test_the_dependency_zip_follows_the_dependencies_and_never_goes_stale(tmp_path) -> None:
    deps = fake_deps(tmp_path)
    own = [("own.py", b"")]
    first = bundle._write_lambda_zip(own, deps, tmp_path / "a.zip", "t")
    (deps / "dep" / "__init__.py").write_bytes(b"VALUE = 2\n")
    second = bundle._write_lambda_zip(own, deps, tmp_path / "b.zip", "t")
    with zipfile.ZipFile(second.path) as zf:
        assert zf.read("dep/__init__.py") == b"VALUE = 2\n"
    assert first.sha256_hex != second.sha256_hex
    assert bundle._write_lambda_zip(own, deps, tmp_path / "c.zip", "t").sha256_hex == second.sha256_hex


def test_an_own_file_that_shadows_a_dependency_is_refused(tmp_path) -> None:
    deps = fake_deps(tmp_path)
    with pytest.raises(ValueError, match="duplicate"):
        bundle._write_lambda_zip([("dep/__init__.py", b"")], deps, tmp_path / "a.zip", "t")


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
    assert set(a.names) == {*bundle.EDGE_SOURCES, credentials.FILE_NAME}


def test_edge_bundle_changes_with_users_realm_and_stack_only(tmp_path: Path) -> None:
    def digest(users=USERS, realm="pypi-edge", seed="pypi-edge/dev") -> str:
        return bundle.build_edge_bundle(users, realm, seed, out_dir=tmp_path).sha256_hex

    base = digest()
    assert digest() == base
    assert digest(users={**USERS, "bob": "rotated"}) != base
    assert digest(users={**USERS, "carol": "new user"}) != base
    assert digest(realm="Other") != base
    assert digest(seed="pypi-edge/prod") != base


def copy_edge_modules(src: Path) -> None:
    """The real edge modules a bundle holds, but the handler (each test writes its own)."""
    for name in bundle.EDGE_SOURCES:
        if name not in ("__init__.py", "handler.py"):
            (src / "edge" / name).write_bytes((REPO / "edge" / name).read_bytes())


def test_edge_bundle_excludes_stray_files_and_a_local_credentials_file(tmp_path: Path) -> None:
    src = tmp_path / "src"
    (src / "edge").mkdir(parents=True)
    (src / "edge" / "__init__.py").write_text("")
    copy_edge_modules(src)
    (src / "edge" / "handler.py").write_text("def handler(event, context):\n    return event\n")
    (src / "edge" / credentials.FILE_NAME).write_text('{"stale": "local stack file"}')
    (src / "edge" / "notes.txt").write_text("not code")
    (src / "edge" / "debug_scratch.py").write_text("PASSWORD = 'leaked'\n")
    built = bundle.build_edge_bundle(USERS, "r", "s", out_dir=tmp_path / "out", source_root=src)
    with zipfile.ZipFile(built.path) as zf:
        assert sorted(zf.namelist()) == sorted({*bundle.EDGE_SOURCES, "credentials.json"})
        assert b"stale" not in zf.read("credentials.json")


def test_edge_bundle_over_one_megabyte_is_refused(tmp_path: Path) -> None:
    src = tmp_path / "src"
    (src / "edge").mkdir(parents=True)
    (src / "edge" / "__init__.py").write_text("")
    copy_edge_modules(src)
    (src / "edge" / "handler.py").write_bytes(b"# " + os.urandom(1_200_000).hex().encode() + b"\n")
    with pytest.raises(ValueError, match="1 MB"):
        bundle.build_edge_bundle(USERS, "r", "s", out_dir=tmp_path / "out", source_root=src)


def test_dependency_cache_key_covers_requirements_and_platform() -> None:
    req = (REPO / bundle.INDEXER_REQUIREMENTS).read_bytes()
    assert bundle.dependency_cache_key(req) == bundle.dependency_cache_key(req)
    assert bundle.dependency_cache_key(req) != bundle.dependency_cache_key(req + b"six==1.17.0\n")


def test_cached_dependencies_are_not_reinstalled(monkeypatch: pytest.MonkeyPatch) -> None:
    first = bundle.install_dependencies(REPO / bundle.INDEXER_REQUIREMENTS, DEPS_CACHE)  # PyPI, once per key

    def no_pip(*args, **kwargs):
        raise AssertionError("pip ran although the cache was complete")

    monkeypatch.setattr(subprocess, "run", no_pip)
    assert bundle.install_dependencies(REPO / bundle.INDEXER_REQUIREMENTS, DEPS_CACHE) == first
    assert (first / ".complete").exists()
    assert first.name == bundle.dependency_cache_key((REPO / bundle.INDEXER_REQUIREMENTS).read_bytes())


def test_indexer_bundle_is_reproducible_from_another_checkout(tmp_path: Path) -> None:
    other = tmp_path / "elsewhere"
    other.mkdir()
    copy_tree(REPO / "indexer", other / "indexer", mtime=1_600_000_000, mode=0o600)
    shutil.copy(REPO / bundle.INDEXER_REQUIREMENTS, other / "requirements.txt")
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
sys.path[:0] = [sys.argv[1]]  # /var/task comes first on a Lambda's sys.path
import indexer.handler, jinja2, aws_lambda_powertools, boto3, botocore, s3transfer, jmespath
for mod in (indexer.handler, jinja2, aws_lambda_powertools, boto3, botocore, s3transfer, jmespath):
    assert mod.__file__.startswith(sys.argv[1]), mod.__file__
print("ok")
"""


def unzipped_indexer_bundle(tmp_path: Path) -> Path:
    built = bundle.build_indexer_bundle(out_dir=tmp_path / "out", deps_dir=DEPS_CACHE)
    root = tmp_path / "task"
    with zipfile.ZipFile(built.path) as zf:
        zf.extractall(root)
    return root


def isolated(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    """`python -I`: neither the repository, the working directory nor PYTHONPATH is importable."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env["AWS_DEFAULT_REGION"] = "eu-west-1"
    return subprocess.run([sys.executable, "-I", *args], cwd=cwd, env=env, capture_output=True, text=True)


def test_the_unzipped_indexer_bundle_imports_its_handler_and_its_own_sdk(tmp_path: Path) -> None:
    root = unzipped_indexer_bundle(tmp_path)
    proc = isolated("-c", SMOKE_INDEXER, str(root), cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip().endswith("ok")


def indexer_s3_calls() -> dict[str, list[str]]:
    import botocore.session
    from botocore import xform_name

    model = botocore.session.get_session().get_service_model("s3")
    operations = {xform_name(op) for op in model.operation_names}
    calls = botocore_calls.s3_calls(REPO / "indexer", operations)
    # The scanner sees what matters: the conditional writes and the reads the indexer makes.
    assert {"IfMatch", "IfNoneMatch", "ContentType", "CacheControl"} <= calls["put_object"]
    assert {"IfMatch"} <= calls["delete_object"] and {"Prefix"} <= calls["list_objects_v2"]
    return {op: sorted(params) for op, params in calls.items()}


def botocore_report(botocore_dir: Path, tmp_path: Path) -> dict:
    proc = isolated(
        "-c", botocore_calls.check_script, str(botocore_dir), json.dumps(indexer_s3_calls()), cwd=tmp_path
    )
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout.strip().splitlines()[-1])


def test_the_bundled_botocore_accepts_every_s3_parameter_the_indexer_passes(tmp_path: Path) -> None:
    root = unzipped_indexer_bundle(tmp_path)
    report = botocore_report(root, tmp_path)
    assert report["file"].startswith(str(root)), "botocore must come from the bundle, not the runtime"
    assert report["unknown"] == {}


def pyproject_floor(name: str) -> str:
    import tomllib

    deps = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["dependencies"]
    (spec,) = [d for d in deps if d.startswith(name + ">=")]
    return spec.split(">=", 1)[1]


def test_the_cli_floor_botocore_accepts_every_s3_parameter_the_code_passes(tmp_path: Path) -> None:
    """pyproject's `botocore>=` floor, downloaded once into the bundle cache, checked the same way."""
    floor = pyproject_floor("botocore")
    assert pyproject_floor("boto3") == floor  # boto3 1.x requires the botocore of its own version
    target = REPO / ".bundles" / "floor" / f"botocore-{floor}"
    if not (target / ".complete").exists():
        wheels = tmp_path / "wheels"
        subprocess.run(
            [sys.executable, "-m", "pip", "download", "--quiet", "--disable-pip-version-check",
             "--no-deps", "--only-binary=:all:", f"botocore=={floor}", "-d", str(wheels)],
            check=True,
        )  # fmt: skip
        (wheel,) = wheels.glob("botocore-*.whl")
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(dir=target.parent))  # complete before it takes the cache's name
        with zipfile.ZipFile(wheel) as zf:
            zf.extractall(tmp)
        (tmp / ".complete").write_text(floor)
        if target.exists():  # a concurrent run won
            shutil.rmtree(tmp)
        else:
            os.replace(tmp, target)
    report = botocore_report(target, tmp_path)
    assert report["version"] == floor and report["file"].startswith(str(target))
    assert report["unknown"] == {}


def test_every_bundled_distribution_is_pinned_in_the_indexer_requirements() -> None:
    deps = bundle.install_dependencies(REPO / bundle.INDEXER_REQUIREMENTS, DEPS_CACHE)
    stems = [p.name.removesuffix(".dist-info").rsplit("-", 1) for p in deps.glob("*.dist-info")]
    installed = {f"{canonicalize_name(name)}=={version}" for name, version in stems}
    lines = (REPO / bundle.INDEXER_REQUIREMENTS).read_text().splitlines()
    pins = [line.split("==") for line in lines if line and not line.startswith("#")]
    pinned = {f"{canonicalize_name(name)}=={version.strip()}" for name, version in pins}
    assert installed == pinned


def test_the_call_scanner_resolves_kwargs_per_function_and_refuses_what_it_cannot_read(
    tmp_path: Path,
) -> None:
    (tmp_path / "a.py").write_text(
        "def read(c):\n"
        "    kwargs = {'Bucket': 'b'}\n"
        "    kwargs['Range'] = 'bytes=0-1'\n"
        "    return c.get_object(**kwargs)\n"
        "def write(c, etag):\n"
        "    kwargs = {'Bucket': 'b', 'Body': b''}\n"
        "    kwargs.update(IfMatch=etag)\n"
        "    cond = {'IfNoneMatch': '*'} if etag is None else {'IfMatch': etag}\n"
        "    c.put_object(**kwargs, **cond)\n"
        "    p = c.get_paginator('list_objects_v2')\n"
        "    p.paginate(Prefix='x/')\n"
    )
    ops = {"get_object", "put_object", "list_objects_v2"}
    assert botocore_calls.s3_calls(tmp_path, ops) == {
        "get_object": {"Bucket", "Range"},
        "put_object": {"Bucket", "Body", "IfMatch", "IfNoneMatch"},
        "list_objects_v2": {"Prefix"},
    }
    (tmp_path / "b.py").write_text("def f(c, extra):\n    c.get_object(**extra)\n")
    with pytest.raises(botocore_calls.Unresolved, match=r"b.py:2: .*\*\*extra"):
        botocore_calls.s3_calls(tmp_path, ops)


@pytest.mark.parametrize(
    ("limit", "message"),
    [("LAMBDA_MAX_UNZIPPED_BYTES", "250 MB unzipped"), ("LAMBDA_MAX_BYTES", "50 MB")],
)
def test_an_indexer_bundle_over_a_lambda_size_quota_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, limit: str, message: str
) -> None:
    monkeypatch.setattr(bundle, limit, 1024)
    with pytest.raises(ValueError, match=message):
        bundle.build_indexer_bundle(out_dir=tmp_path, deps_dir=DEPS_CACHE)
    assert not (tmp_path / "indexer.zip").exists()
