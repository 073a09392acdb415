"""The upload function imports and answers from exactly the files upload.BUNDLE_SOURCES names."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import upload
from tests.upload_helpers import CREDENTIALS

ROOT = Path(__file__).resolve().parent.parent

PROBE = """
import json, sys
sys.path.insert(0, sys.argv[1])
import upload.handler as h
import upload.remote  # the CLI's routes, imported on their first request
mods = {m: getattr(sys.modules[m], "__file__", None) or "" for m in list(sys.modules)}
local = sorted(m for m, f in mods.items() if f.startswith(sys.argv[1]))
resp = h.handler({"headers": {}, "rawPath": "/legacy/"})
print(json.dumps({"local": local, "heavy": sorted(m for m in mods if m.split(".")[0] in
    ("jinja2", "aws_lambda_powertools", "tqdm")), "status": resp["statusCode"],
    "secret": h.current().origin_secret, "verifies": h.current().verifier.verify(sys.argv[2]) is not None}))
"""


def test_the_bundle_files_are_enough_and_pull_in_no_indexer_runtime(tmp_path):
    for rel in upload.BUNDLE_SOURCES:
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(ROOT / rel, tmp_path / rel)
    (tmp_path / "credentials.json").write_bytes(CREDENTIALS)
    from tests.upload_helpers import basic

    env = {"ORIGIN_SECRET": "s", "BUCKET": "b", "AWS_DEFAULT_REGION": "us-east-1", "PATH": "/usr/bin"}
    out = subprocess.run(
        [sys.executable, "-I", "-c", PROBE, str(tmp_path), basic("ci", "ci:pw")],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        check=True,
    )
    result = json.loads(out.stdout)
    expected = {
        p.removesuffix(".py").removesuffix("/__init__").replace("/", ".") for p in upload.BUNDLE_SOURCES
    }
    # edge/cognito.py ships too, but loads only on a container's first user pool miss.
    assert set(result["local"]) == expected - {"edge.cognito"}
    assert result["heavy"] == []
    assert result["status"] == 403  # no origin header
    assert result["secret"] == "s"
    assert result["verifies"] is True  # credentials.json at the bundle root, read by default
    assert upload.HANDLER == "upload.handler.handler"
