"""The deployed bundle: small, standard library only, importable as deployed, quick to import."""

from __future__ import annotations

import io
import json
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from edge import credentials
from infra import bundle
from tests.edge_helpers import make_event

ROOT = Path(__file__).resolve().parent.parent
EDGE = ROOT / "edge"
LIMIT = 1024 * 1024  # Lambda@Edge viewer triggers: 1 MB zipped

# Modules that would add ~10-20 ms to every cold start, or are not in the Lambda runtime.
HEAVY = ("dataclasses", "typing", "inspect", "pathlib", "email", "boto3", "botocore")

PROBE = """
import json, sys
sys.path.insert(0, {path!r})
import {module} as edge
outside = sorted(
    m for m in sys.modules
    if m.partition(".")[0] not in sys.stdlib_module_names and m.partition(".")[0] not in ("edge", "handler",
    "credentials", "guard", "userpool", "__main__")
)
result = edge.handler({event!r}, None)
print(json.dumps({{"outside": outside, "heavy": [m for m in {heavy!r} if m in sys.modules],
                   "uri": result.get("uri"), "status": result.get("status")}}))
"""


def build_bundle(out_dir: Path, users: int = 50) -> bytes:
    """The bundle exactly as the deploy builds it (infra/bundle.py), for `users` users."""
    passwords = {f"user{i:02d}": f"password-{i}" for i in range(users)}
    return bundle.build_edge_bundle(passwords, "r", "s", out_dir=out_dir).path.read_bytes()


def probe(path: Path, module: str, env: dict[str, str]) -> dict:
    event = make_event("/simple/", authorization="Basic " + "dXNlcjAwOnBhc3N3b3JkLTA=")  # user00:password-0
    code = PROBE.format(path=str(path), module=module, event=event, heavy=HEAVY)
    # -I -S: no site-packages, no .pth hooks, no PYTHON* variables: what Lambda offers, no more.
    out = subprocess.run(
        [sys.executable, "-I", "-S", "-c", code],
        env=env,
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    assert out.stderr == ""
    return json.loads(out.stdout)


def test_bundle_is_under_one_megabyte(tmp_path):
    size = len(build_bundle(tmp_path))
    assert size < LIMIT, size


def test_bundle_holds_no_password(tmp_path):
    with zipfile.ZipFile(io.BytesIO(build_bundle(tmp_path))) as zf:
        for name in zf.namelist():
            assert b"password-" not in zf.read(name), name


def test_flat_bundle_imports_only_the_standard_library_and_serves(tmp_path):
    """The zip as Lambda runs it: handler.py at the root, handler "handler.handler"."""
    with zipfile.ZipFile(io.BytesIO(build_bundle(tmp_path / "out"))) as zf:
        zf.extractall(tmp_path / "fn")
    result = probe(tmp_path / "fn", "handler", env={})  # no env var: the bundled credentials.json
    assert result == {"outside": [], "heavy": [], "uri": "/index.html", "status": None}


@pytest.mark.parametrize("module", ["edge.handler"])
def test_package_import_is_standard_library_only(tmp_path, module):
    creds = tmp_path / "creds.json"
    creds.write_bytes(credentials.render_file({"user00": "password-0"}, "r", "s", iterations=10))
    result = probe(ROOT, module, env={"PYPI_EDGE_CREDENTIALS": str(creds)})
    assert result == {"outside": [], "heavy": [], "uri": "/index.html", "status": None}
