"""`pypi-edge mirror`: copy vetted distributions from an upstream index into this one.

For teams that want this index to be their only index.  Three steps, each done by the tool made
for it:

1. Resolve.  pip's resolver picks the files (`pip install --dry-run --ignore-installed
   --report`, pip >= 22.2; with `--python-version` / `--platform` and `--only-binary=:all:` for
   another target), against the upstream index only: the user's pip configuration and PIP_*
   variables are left out, so no other index can slip in.  The report names each chosen file,
   its URL and the sha256 the upstream page published.
2. Verify.  Each file is downloaded and its sha256 compared with the upstream one before
   anything is published; a mismatch publishes nothing of that file.
3. Publish through the publishing core (`indexer.publish`: validation, conditional write,
   immutable, PEP 792 refusals), as every other path does.  Upstream yanks are kept: a yanked
   file gets its `.yanked` marker with the upstream reason as written.

A file already in the bucket with the upstream sha256 is not downloaded again ("already
present"), so re-running a mirror is a no-op that writes nothing.
"""

from __future__ import annotations

import base64
import hashlib
import html.parser
import json
import os
import subprocess
import sys
import tempfile
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from packaging.utils import canonicalize_name

from indexer.model import YANKED_SUFFIX, yank_reason

JSON_ACCEPT = (
    "application/vnd.pypi.simple.v1+json, application/vnd.pypi.simple.v1+html;q=0.2, text/html;q=0.01"
)
CHUNK = 1024 * 1024
TIMEOUT_SECONDS = 60


class MirrorError(Exception):
    """A one-line reason the mirror cannot go on (resolution, upstream, verification)."""


@dataclass(frozen=True)
class Pick:
    """One file the resolver chose: where upstream serves it and the sha256 it published."""

    project: str
    version: str
    filename: str
    url: str
    sha256: str
    yanked: str | None = None  # None: not yanked upstream; "" yanked without a reason

    @property
    def key(self) -> str:
        return f"{self.project}/{self.filename}"


# --- 1. resolve ------------------------------------------------------------------------------


def pip_command(
    requirements: list[str],
    index_url: str,
    report: Path,
    *,
    deps: bool,
    python_version: str | None,
    platforms: list[str],
) -> list[str]:
    cmd = [
        sys.executable, "-m", "pip", "install", "--dry-run", "--ignore-installed", "--quiet",
        "--disable-pip-version-check", "--no-input", "--report", str(report), "--index-url", index_url,
    ]  # fmt: skip
    if not deps:
        cmd.append("--no-deps")
    if python_version:
        cmd += ["--python-version", python_version]
    for platform in platforms:
        cmd += ["--platform", platform]
    if python_version or platforms:
        # pip: another target's platform or Python cannot run an sdist's build; wheels only.
        cmd.append("--only-binary=:all:")
    return [*cmd, "--", *requirements]


def _pip_env() -> dict[str, str]:
    # Only the upstream index: no pip.conf, no PIP_EXTRA_INDEX_URL, no --find-links from the
    # environment (dependency confusion starts with a second index).
    env = {k: v for k, v in os.environ.items() if not k.startswith("PIP_")}
    env.update(PIP_CONFIG_FILE=os.devnull, PIP_DISABLE_PIP_VERSION_CHECK="1", PYTHONUTF8="1")
    return env


def resolve(
    requirements: list[str],
    index_url: str,
    *,
    deps: bool,
    python_version: str | None = None,
    platforms: list[str] | None = None,
) -> list[Pick]:
    """The files pip's resolver picks for `requirements` from `index_url` (only from there)."""
    with tempfile.TemporaryDirectory(prefix="pypi-edge-mirror-") as tmp:
        report = Path(tmp) / "report.json"
        cmd = pip_command(
            requirements,
            index_url,
            report,
            deps=deps,
            python_version=python_version,
            platforms=platforms or [],
        )
        proc = subprocess.run(cmd, capture_output=True, text=True, env=_pip_env(), check=False)
        if proc.returncode != 0 or not report.exists():
            raise MirrorError(f"pip could not resolve {' '.join(requirements)}: {_last_error(proc.stderr)}")
        doc = json.loads(report.read_text())
    return picks_from_report(doc)


def _last_error(stderr: str) -> str:
    lines = [line.strip() for line in stderr.splitlines() if line.strip()]
    errors = [line.removeprefix("ERROR: ") for line in lines if line.startswith("ERROR:")]
    return (errors or lines or ["no output"])[-1]


def picks_from_report(doc: dict[str, Any]) -> list[Pick]:
    """The chosen files of a pip installation report (https://pip.pypa.io/en/stable/reference/installation-report/)."""
    picks = []
    for item in doc.get("install", []):
        info = item.get("download_info") or {}
        url = info.get("url", "")
        sha256 = ((info.get("archive_info") or {}).get("hashes") or {}).get("sha256")
        if not sha256:
            raise MirrorError(
                f"upstream published no sha256 for {url}: refusing to mirror an unverifiable file"
            )
        metadata = item.get("metadata") or {}
        filename = urllib.parse.unquote(urllib.parse.urlsplit(url).path.rsplit("/", 1)[-1])
        picks.append(
            Pick(
                str(canonicalize_name(metadata.get("name", ""))),
                metadata.get("version", ""),
                filename,
                url,
                sha256,
            )
        )
    return sorted(picks, key=lambda p: p.key)


# --- upstream pages (for yanks) --------------------------------------------------------------


def _open(url: str, accept: str | None = None) -> Any:
    """GET `url`; credentials in it (https://user:token@host/...) become a Basic header."""
    parts = urllib.parse.urlsplit(url)
    request = urllib.request.Request(_without_credentials(url))
    if parts.username is not None:
        token = f"{urllib.parse.unquote(parts.username)}:{urllib.parse.unquote(parts.password or '')}"
        request.add_header("Authorization", "Basic " + base64.b64encode(token.encode()).decode())
    if accept:
        request.add_header("Accept", accept)
    try:
        return urllib.request.urlopen(request, timeout=TIMEOUT_SECONDS)
    except (urllib.error.URLError, OSError) as exc:
        raise MirrorError(f"cannot fetch {_without_credentials(url)}: {exc}") from exc


def _without_credentials(url: str) -> str:
    parts = urllib.parse.urlsplit(url)
    host = parts.netloc.rpartition("@")[2]
    return urllib.parse.urlunsplit(parts._replace(netloc=host))


class _Anchors(html.parser.HTMLParser):
    """PEP 503 anchors: file name -> data-yanked (None when absent)."""

    def __init__(self) -> None:
        super().__init__()
        self.yanked: dict[str, str | None] = {}

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag != "a":
            return
        attributes = dict(attrs)
        href = attributes.get("href") or ""
        filename = urllib.parse.unquote(urllib.parse.urlsplit(href).path.rsplit("/", 1)[-1])
        reason = attributes.get("data-yanked")
        self.yanked[filename] = None if "data-yanked" not in attributes else (reason or "")


def upstream_yanks(index_url: str, project: str) -> dict[str, str | None]:
    """file name -> yank reason ("" without one) or None, from the upstream project page."""
    with _open(f"{index_url.rstrip('/')}/{project}/", JSON_ACCEPT) as resp:
        body = resp.read()
        content_type = resp.headers.get("Content-Type", "")
    if "json" in content_type:
        yanked: dict[str, str | None] = {}
        for f in json.loads(body).get("files", []):
            value = f.get("yanked", False)
            yanked[f["filename"]] = (
                None if value is False else ("" if value is True else yank_reason(str(value)))
            )
        return yanked
    parser = _Anchors()
    parser.feed(body.decode("utf-8", "replace"))
    return {name: None if reason is None else yank_reason(reason) for name, reason in parser.yanked.items()}


def with_yanks(picks: list[Pick], index_url: str) -> list[Pick]:
    pages: dict[str, dict[str, str | None]] = {}
    out = []
    for pick in picks:
        if pick.project not in pages:
            pages[pick.project] = upstream_yanks(index_url, pick.project)
        out.append(Pick(**{**pick.__dict__, "yanked": pages[pick.project].get(pick.filename)}))
    return out


# --- 2. verify -------------------------------------------------------------------------------


def download(pick: Pick, directory: Path) -> Path:
    """The file, written under `directory`, after its sha256 matched the upstream one."""
    path = directory / pick.filename
    digest = hashlib.sha256()
    with _open(pick.url) as resp, path.open("wb") as out:
        for chunk in iter(lambda: resp.read(CHUNK), b""):
            digest.update(chunk)
            out.write(chunk)
    if digest.hexdigest() != pick.sha256:
        path.unlink()
        raise MirrorError(
            f"{pick.filename}: sha256 {digest.hexdigest()} does not match the upstream index's "
            f"{pick.sha256}; not published"
        )
    return path


def yank_marker(pick: Pick, key: str | None = None) -> tuple[str, bytes] | None:
    """The `.yanked` marker that keeps an upstream yank, or None for a file upstream did not yank.

    `key`: where the file is stored, when that is another spelling than upstream's (the
    publishing core stores files under the spelling the specifications give).
    """
    if pick.yanked is None:
        return None
    return (key or pick.key) + YANKED_SUFFIX, pick.yanked.encode("utf-8")
