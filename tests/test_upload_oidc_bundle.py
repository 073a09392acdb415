"""The JWT library trusted publishing needs installs for the upload Lambda's platform.

upload/oidc.py runs in the regional upload function (Python 3.13, arm64): joserfc is pure Python,
but it needs `cryptography`, whose Rust core must be an aarch64 build for CPython 3.13.  The
bundle's dependency install (`infra.bundle.install_dependencies`, shared with the indexer and
cached under .bundles/deps) must therefore find such wheels for every pin.
"""

from __future__ import annotations

import struct
from pathlib import Path

from infra import bundle

REPO = Path(__file__).resolve().parent.parent
DEPS_CACHE = REPO / ".bundles" / "deps"
EM_AARCH64 = 183  # ELF e_machine of arm64


def elf_machine(path: Path) -> int:
    header = path.read_bytes()[:20]
    assert header[:4] == b"\x7fELF", f"{path} is not an ELF shared object"
    return struct.unpack_from("<H", header, 18)[0]


def test_joserfc_and_an_arm64_cryptography_are_in_the_lambda_dependencies():
    deps = bundle.install_dependencies(REPO / "upload" / "requirements.txt", DEPS_CACHE)  # PyPI once per key
    assert (deps / "joserfc" / "jwt.py").exists()
    (rust,) = (deps / "cryptography" / "hazmat" / "bindings").glob("_rust*.so")
    assert elf_machine(rust) == EM_AARCH64
    (cffi,) = deps.glob("_cffi_backend*.so")
    assert "cpython-313-aarch64" in cffi.name
    assert elf_machine(cffi) == EM_AARCH64
