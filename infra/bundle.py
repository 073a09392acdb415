"""Deterministic Lambda bundles for the Pulumi program.

A no-op `pulumi up` must publish no new Lambda version, so the same inputs must give the same
zip, byte for byte: entries sorted, fixed timestamps and permissions, no caches, no paths of
the machine that built it.  Both bundles are written under `.bundles/` (gitignored) and handed
to Pulumi as a `FileArchive`, with `source_code_hash` = the zip's base64 SHA-256.

- The edge bundle is every `edge/*.py` plus the generated `credentials.json` (hashes only,
  see `edge.credentials`) and, with a user pool, `userpool.json` (ids only, `edge.userpool`).
  Lambda@Edge viewer triggers allow 1 MB.
- The indexer bundle is `indexer/**` plus the pinned `indexer/requirements.txt` (boto3 and
  botocore included: see that file) installed for the Lambda platform (Python 3.13, arm64).
  The dependency install is cached under `.bundles/deps/<key>/`, key = sha256 of the
  requirements file and the target platform, so only the first build needs PyPI.

No Pulumi import here: the functions take and return plain values and are tested directly.
"""

from __future__ import annotations

import base64
import hashlib
import io
import os
import shutil
import subprocess
import sys
import tempfile
import zipfile
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_BUNDLE_DIR = REPO_ROOT / ".bundles"

# Lambda@Edge quota for viewer-request/response functions: 1 MB zipped.
EDGE_MAX_BYTES = 1024 * 1024
# Lambda quotas ("Lambda quotas" → Deployment package (.zip file archive) size): 50 MB zipped
# for a direct upload, 250 MB unzipped.  The indexer (boto3 and botocore included) is about
# 19 MB zipped and 29 MB unzipped.
LAMBDA_MAX_BYTES = 50 * 1024 * 1024
LAMBDA_MAX_UNZIPPED_BYTES = 250 * 1024 * 1024

# The indexer's platform: keep in step with the Function's runtime and architectures.
INDEXER_PYTHON_VERSION = "3.13"
INDEXER_PLATFORM = "manylinux2014_aarch64"
INDEXER_IMPLEMENTATION = "cp"
# The indexer's runtime dependencies, next to the indexer (the root requirements.txt is the
# Pulumi program's own, as Pulumi's pip toolchain expects).
INDEXER_REQUIREMENTS = Path("indexer") / "requirements.txt"

# 1980-01-01 is the earliest date a zip entry can carry.
_FIXED_DATE_TIME = (1980, 1, 1, 0, 0, 0)
_FILE_MODE = 0o100644  # regular file, rw-r--r--
_SKIP_DIRS = {"__pycache__", ".pytest_cache", ".mypy_cache", ".ruff_cache"}
_SKIP_SUFFIXES = (".pyc", ".pyo")


@dataclass(frozen=True)
class Bundle:
    """A zip written to disk, with the hashes Pulumi and Lambda need."""

    path: Path
    sha256_b64: str  # base64 SHA-256 of the zip: Lambda's CodeSha256 format
    sha256_hex: str
    size: int
    names: tuple[str, ...]


def deterministic_zip(files: Iterable[tuple[str, bytes]]) -> bytes:
    """A zip of (archive name, content) pairs that depends only on those pairs."""
    return appended_zip(b"", files)


def appended_zip(base: bytes, files: Iterable[tuple[str, bytes]]) -> bytes:
    """`base` (a zip made here, or b"") with `files` appended, sorted by name: the result depends
    only on `base` and those pairs, and `base`'s entries are copied, never deflated again."""
    entries = sorted(files)
    buf = io.BytesIO(base)
    with zipfile.ZipFile(buf, "a" if base else "w") as zf:
        names = [*zf.namelist(), *(name for name, _ in entries)]
        if len(set(names)) != len(names):
            raise ValueError("duplicate archive names in bundle")
        for name, data in entries:
            info = zipfile.ZipInfo(name, date_time=_FIXED_DATE_TIME)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.create_system = 3  # unix, so external_attr is read as a mode everywhere
            info.external_attr = _FILE_MODE << 16
            zf.writestr(info, data, compress_type=zipfile.ZIP_DEFLATED, compresslevel=9)
    return buf.getvalue()


def _wanted(rel: Path) -> bool:
    parts = rel.parts
    if any(p in _SKIP_DIRS or p.startswith(".") for p in parts):
        return False
    return not rel.name.endswith(_SKIP_SUFFIXES)


def tree_files(root: Path, prefix: str = "", exclude: Iterable[str] = ()) -> list[tuple[str, bytes]]:
    """Every wanted file under `root` as (prefix + posix relative path, bytes)."""
    excluded = set(exclude)
    out: list[tuple[str, bytes]] = []
    for path in sorted(root.rglob("*")):
        if not path.is_file():
            continue
        rel = path.relative_to(root)
        if not _wanted(rel) or rel.as_posix() in excluded:
            continue
        out.append((prefix + rel.as_posix(), path.read_bytes()))
    return out


def write_atomic(data: bytes, path: Path) -> None:
    """Write `data` to `path` unless it already holds exactly that, never leaving a partial file:
    two builds at once (two `pulumi preview`s, parallel test workers) may read while we write."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if not path.exists() or path.read_bytes() != data:
        fd, tmp = tempfile.mkstemp(prefix=path.name + ".", suffix=".tmp", dir=path.parent)
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)
            os.chmod(tmp, 0o644)  # mkstemp makes it 0600
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise


def write_bundle(data: bytes, path: Path) -> Bundle:
    """Write `data` to `path` atomically (unchanged files are left alone) and describe it."""
    write_atomic(data, path)
    digest = hashlib.sha256(data).digest()
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        names = tuple(zf.namelist())
    return Bundle(
        path=path,
        sha256_b64=base64.b64encode(digest).decode("ascii"),
        sha256_hex=digest.hex(),
        size=len(data),
        names=names,
    )


# --- edge ---------------------------------------------------------------------------------

# userpool.py and cognito.py: the opt-in user pool (cognito.py is imported on a first pool miss only).
EDGE_SOURCES = ("__init__.py", "credentials.py", "guard.py", "handler.py", "userpool.py", "cognito.py")


def edge_files(
    users: Mapping[str, str],
    realm: str,
    seed: str,
    source_root: Path = REPO_ROOT,
    user_pool_file: bytes | None = None,
) -> list[tuple[str, bytes]]:
    """The edge function's files: `edge/*.py` at the zip root, plus the credentials file, and the
    user pool's file when there is a pool (then the static users may be none)."""
    from edge import credentials, userpool  # the one writer of each format

    # An explicit list: a scratch file in edge/ must never ship to every edge location.
    files = [(name, (source_root / "edge" / name).read_bytes()) for name in EDGE_SOURCES]
    static = credentials.render_file(users, realm, seed, allow_empty=user_pool_file is not None)
    files.append((credentials.FILE_NAME, static))
    if user_pool_file is not None:
        files.append((userpool.FILE_NAME, user_pool_file))
    return files


def build_edge_bundle(
    users: Mapping[str, str],
    realm: str,
    seed: str,
    out_dir: Path = DEFAULT_BUNDLE_DIR,
    name: str = "edge.zip",
    source_root: Path = REPO_ROOT,
    user_pool_file: bytes | None = None,
) -> Bundle:
    data = deterministic_zip(edge_files(users, realm, seed, source_root, user_pool_file))
    if len(data) >= EDGE_MAX_BYTES:
        raise ValueError(f"edge bundle is {len(data)} bytes; Lambda@Edge viewer triggers allow 1 MB")
    return write_bundle(data, out_dir / name)


# --- indexer ------------------------------------------------------------------------------


def dependency_cache_key(requirements: bytes) -> str:
    platform = f"{INDEXER_IMPLEMENTATION}{INDEXER_PYTHON_VERSION}-{INDEXER_PLATFORM}"
    return hashlib.sha256(requirements + b"\0" + platform.encode()).hexdigest()[:24]


def install_dependencies(requirements: Path, cache_dir: Path, python: str = sys.executable) -> Path:
    """Install the pinned requirements for the Lambda platform once; return the directory.

    The directory is content-addressed by `dependency_cache_key`, built in a temporary
    sibling and renamed into place when complete, so an interrupted build is never reused.
    """
    key = dependency_cache_key(requirements.read_bytes())
    target = cache_dir / key
    if (target / ".complete").exists():
        return target
    cache_dir.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f"{key}.", suffix=".tmp", dir=cache_dir))
    try:
        cmd = [
            python,
            "-m",
            "pip",
            "install",
            "--quiet",
            "--disable-pip-version-check",
            "--no-input",
            "--no-compile",  # no .pyc: Lambda compiles on first import, and .pyc are not reproducible
            "--platform",
            INDEXER_PLATFORM,
            "--implementation",
            INDEXER_IMPLEMENTATION,
            "--python-version",
            INDEXER_PYTHON_VERSION,
            "--only-binary=:all:",
            "--target",
            str(tmp),
            "-r",
            str(requirements),
        ]
        proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
        if proc.returncode != 0:
            raise RuntimeError(
                f"installing {requirements} for {INDEXER_PLATFORM} failed:\n{proc.stdout}\n{proc.stderr}"
            )
        (tmp / ".complete").write_text(
            f"{key} {INDEXER_IMPLEMENTATION}{INDEXER_PYTHON_VERSION} {INDEXER_PLATFORM}\n"
        )
        if target.exists():  # a concurrent build won the race; keep its result
            shutil.rmtree(tmp, ignore_errors=True)
        else:
            os.replace(tmp, target)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return target


def _dependency_files(deps: Path) -> list[tuple[str, bytes]]:
    files = []
    for name, data in tree_files(deps):
        top = name.split("/", 1)[0]
        if top == "bin":  # console scripts carry the installing interpreter's path in their shebang
            continue
        if ".dist-info/" in name and name.rsplit("/", 1)[-1] in {"RECORD", "INSTALLER", "REQUESTED"}:
            continue  # install bookkeeping: not needed at run time, and RECORD varies with the installer
        files.append((name, data))
    return files


# What `_dependencies_zip` writes depends on: the entries, and how `appended_zip` stores them.
_ZIP_FORMAT = b"deflate-9 1980-01-01 0644 unix\n"


def _dependencies_zip(deps: Path) -> tuple[bytes, int]:
    """The dependencies as a zip (and their unzipped size), deflated once.  Deflating ~30 MB takes
    seconds, and every program run with other users or another trusted-publishing config makes a
    new upload zip around the same dependencies (so does every parallel test worker).  The zip is
    kept in the dependency directory under a name made of its inputs' digest, so it can never be
    stale, and a dot name, so it never ships (`_wanted`)."""
    files = _dependency_files(deps)
    digest = hashlib.sha256(_ZIP_FORMAT)
    for name, data in sorted(files):
        digest.update(name.encode() + b"\0" + hashlib.sha256(data).digest())
    unzipped = sum(len(data) for _, data in files)
    cached = deps / f".zip-{digest.hexdigest()[:32]}"
    try:
        return cached.read_bytes(), unzipped
    except FileNotFoundError:
        data = deterministic_zip(files)
        write_atomic(data, cached)
        return data, unzipped


def build_indexer_bundle(
    out_dir: Path = DEFAULT_BUNDLE_DIR,
    name: str = "indexer.zip",
    source_root: Path = REPO_ROOT,
    requirements: Path | None = None,
    deps_dir: Path | None = None,
) -> Bundle:
    deps = install_dependencies(
        requirements or source_root / INDEXER_REQUIREMENTS, deps_dir or out_dir / "deps"
    )
    # `indexer/**` as the `indexer` package at the zip root, with the dependencies beside it.
    own = tree_files(source_root / "indexer", prefix="indexer/")
    return _write_lambda_zip(own, deps, out_dir / name, "indexer")


def _write_lambda_zip(own: list[tuple[str, bytes]], deps: Path, path: Path, what: str) -> Bundle:
    """A regional Lambda's zip: the dependencies' zip with our own files appended, within
    Lambda's deployment package quotas."""
    base, unzipped = _dependencies_zip(deps)
    unzipped += sum(len(body) for _, body in own)
    if unzipped >= LAMBDA_MAX_UNZIPPED_BYTES:
        raise ValueError(f"{what} bundle unzips to {unzipped} bytes; Lambda allows 250 MB unzipped")
    data = appended_zip(base, own)
    if len(data) >= LAMBDA_MAX_BYTES:
        raise ValueError(f"{what} bundle is {len(data)} bytes; a direct Lambda upload allows 50 MB")
    return write_bundle(data, path)


# --- the upload function ------------------------------------------------------------------


def upload_files(
    credentials_json: bytes,
    source_root: Path = REPO_ROOT,
    extra: Iterable[tuple[str, bytes]] = (),
) -> list[tuple[str, bytes]]:
    """The files `upload.BUNDLE_SOURCES` names (upload/, edge/credentials.py and the publishing
    core in indexer/, at their repository paths), the same credentials file the edge bundle
    carries (salted hashes only) at the zip root, `extra` generated files (trusted publishing's
    config, `infra.trusted.bundle_entry`); the dependencies go beside them (`_write_lambda_zip`)."""
    from edge import credentials  # the one writer of the format
    from upload import BUNDLE_SOURCES  # the upload function's own list of what it imports

    files = [(name, (source_root / name).read_bytes()) for name in BUNDLE_SOURCES]
    files.append((credentials.FILE_NAME, credentials_json))
    return files + list(extra)


def upload_requirements(source_root: Path = REPO_ROOT) -> bytes:
    """The indexer's pinned runtime (the publishing core's packaging, and boto3 with the
    conditional writes) followed by the upload function's own pins (upload/requirements.txt)."""
    return b"\n".join(
        (source_root / req).read_bytes()
        for req in (INDEXER_REQUIREMENTS, Path("upload") / "requirements.txt")
    )


def build_upload_bundle(
    credentials_json: bytes,
    out_dir: Path = DEFAULT_BUNDLE_DIR,
    name: str = "upload.zip",
    source_root: Path = REPO_ROOT,
    deps_dir: Path | None = None,
    extra_files: Iterable[tuple[str, bytes]] = (),
) -> Bundle:
    requirements = out_dir / "upload-requirements.txt"
    write_atomic(upload_requirements(source_root), requirements)
    deps = install_dependencies(requirements, deps_dir or out_dir / "deps")
    files = upload_files(credentials_json, source_root, extra_files)
    return _write_lambda_zip(files, deps, out_dir / name, "upload")
