"""Real, installable distributions built in memory for tests and benchmarks.

Wheels follow the binary distribution format (PEP 427 + RECORD with hashes) so pip and uv
install them; sdists are PEP 625 `.tar.gz` with a PKG-INFO, as `python -m build` makes them.
"""

from __future__ import annotations

import base64
import gzip
import hashlib
import io
import random
import tarfile
import time
import zipfile
from collections.abc import Sequence
from pathlib import Path

from packaging.utils import canonicalize_name


def _dist_name(name: str) -> str:
    # Binary distribution format: the name part of a file name is normalized with "_".
    return canonicalize_name(name).replace("-", "_")


def core_metadata(
    name: str,
    version: str,
    *,
    summary: str | None = None,
    requires_python: str | None = None,
    requires_dist: Sequence[str] = (),
    description: str = "",
    description_content_type: str | None = "text/markdown",
    fields: Sequence[str] = (),
) -> bytes:
    """Core metadata; `fields` are more header lines as written ("License-Expression: MIT")."""
    lines = ["Metadata-Version: 2.1", f"Name: {name}", f"Version: {version}"]
    if summary is not None:
        lines.append(f"Summary: {summary}")
    if requires_python:
        lines.append(f"Requires-Python: {requires_python}")
    lines += [f"Requires-Dist: {req}" for req in requires_dist]
    lines += list(fields)
    if description and description_content_type:
        lines.append(f"Description-Content-Type: {description_content_type}")
    text = "\n".join(lines) + "\n"
    if description:
        text += "\n" + description
    return text.encode("utf-8")


def wheel_filename(name: str, version: str, tag: str = "py3-none-any") -> str:
    return f"{_dist_name(name)}-{version}-{tag}.whl"


def sdist_filename(name: str, version: str) -> str:
    return f"{_dist_name(name)}-{version}.tar.gz"


def make_wheel(
    name: str,
    version: str,
    *,
    summary: str | None = "A test package",
    requires_python: str | None = None,
    requires_dist: Sequence[str] = (),
    payload_bytes: int = 0,
    description: str = "",
    description_content_type: str | None = "text/markdown",
    fields: Sequence[str] = (),
    tag: str = "py3-none-any",
) -> tuple[str, bytes, bytes]:
    """(filename, wheel bytes, the exact METADATA bytes inside it).

    The wheel holds one importable module `<dist_name>` whose `__version__` is `version`, and,
    when asked, `payload_bytes` of incompressible data before the .dist-info (so METADATA sits
    in the zip's tail, as in real wheels).
    """
    mod = _dist_name(name)
    dist_info = f"{mod}-{version}.dist-info"
    metadata = core_metadata(
        name,
        version,
        summary=summary,
        requires_python=requires_python,
        requires_dist=requires_dist,
        description=description,
        description_content_type=description_content_type,
        fields=fields,
    )
    files: list[tuple[str, bytes]] = [(f"{mod}/__init__.py", f'__version__ = "{version}"\n'.encode())]
    if payload_bytes:
        files.append((f"{mod}/payload.bin", _noise(payload_bytes, seed=f"{name}{version}")))
    files += [
        (f"{dist_info}/METADATA", metadata),
        (
            f"{dist_info}/WHEEL",
            f"Wheel-Version: 1.0\nGenerator: pypi-edge-tests\nRoot-Is-Purelib: true\nTag: {tag}\n".encode(),
        ),
    ]
    record_lines = []
    for path, data in files:
        digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
        record_lines.append(f"{path},sha256={digest},{len(data)}")
    record_lines.append(f"{dist_info}/RECORD,,")
    files.append((f"{dist_info}/RECORD", ("\n".join(record_lines) + "\n").encode()))

    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for path, data in files:
            info = zipfile.ZipInfo(path, date_time=(2024, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_STORED if path.endswith(".bin") else zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            zf.writestr(info, data)
    return wheel_filename(name, version, tag), buf.getvalue(), metadata


def make_sdist(
    name: str,
    version: str,
    *,
    summary: str | None = "A test package",
    requires_python: str | None = None,
    requires_dist: Sequence[str] = (),
    description: str = "",
    description_content_type: str | None = "text/markdown",
    fields: Sequence[str] = (),
) -> tuple[str, bytes]:
    """(filename, .tar.gz bytes): a setuptools-buildable sdist with PKG-INFO first."""
    mod = _dist_name(name)
    top = f"{mod}-{version}"
    pkg_info = core_metadata(
        name,
        version,
        summary=summary,
        requires_python=requires_python,
        requires_dist=requires_dist,
        description=description,
        description_content_type=description_content_type,
        fields=fields,
    )
    deps = ", ".join(repr(d) for d in requires_dist)
    pyproject = (
        '[build-system]\nrequires = ["setuptools>=61"]\nbuild-backend = "setuptools.build_meta"\n\n'
        f'[project]\nname = "{name}"\nversion = "{version}"\ndependencies = [{deps}]\n'
        + (f'requires-python = "{requires_python}"\n' if requires_python else "")
    ).encode()
    members = [
        (f"{top}/PKG-INFO", pkg_info),
        (f"{top}/pyproject.toml", pyproject),
        (f"{top}/{mod}/__init__.py", f'__version__ = "{version}"\n'.encode()),
    ]
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tf:
        for path, data in members:
            info = tarfile.TarInfo(path)
            info.size = len(data)
            info.mtime = int(time.mktime((2024, 1, 1, 0, 0, 0, 0, 1, 0)))
            info.mode = 0o644
            tf.addfile(info, io.BytesIO(data))
    # Same arguments, same bytes: tarfile's "w:gz" stamps the gzip header with the current time,
    # so two calls a second apart made "identical" sdists that differ (a flaky 409 for a 200).
    return sdist_filename(name, version), gzip.compress(buf.getvalue(), mtime=0)


def make_zip_sdist(name: str, version: str, *, summary: str | None = "A test package") -> tuple[str, bytes]:
    """(filename, .zip bytes): a legacy zip sdist with PKG-INFO, as old setuptools made on Windows."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr(f"{_dist_name(name)}-{version}/PKG-INFO", core_metadata(name, version, summary=summary))
    return f"{_dist_name(name)}-{version}.zip", buf.getvalue()


def archive_named(filename: str) -> bytes:
    """A real wheel or .tar.gz sdist whose metadata agrees with `filename`, however odd its name
    (so that a refusal can only come from the name rule)."""
    if filename.endswith(".whl"):
        raw, version = filename.split("-")[:2]
        return make_wheel(raw, version)[1]
    raw, _, version = filename.removesuffix(".tar.gz").rpartition("-")
    return make_sdist(raw, version)[1]


def write(directory: Path, filename: str, data: bytes) -> Path:
    path = directory / filename
    path.write_bytes(data)
    return path


def _noise(n: int, seed: str) -> bytes:
    # Incompressible but reproducible: the same package always has the same sha256.
    return random.Random(seed).randbytes(n)
