"""Changes to published releases and projects, one piece of code for every caller.

The CLI with AWS credentials (`pypi-edge yank|unyank|status|list --bucket …`) and the upload
function's HTTPS routes for publishers (upload/remote.py, `pypi-edge … --index-url …`) both call
these functions, so a yank is the same `<file>.yanked` marker and a status the same PEP 792 marker
whoever asks.  They act on an `indexer.store.Bucket`, return what they did, print nothing, and
raise `NotFound` (a `publish.PublishError`) with a one-line reason.

* `find_release(bucket, project, version)`: a version's distribution keys, by listing the
  project's folder once (`<project>/`).
* `yank` / `unyank`: write or remove `<file>.yanked` (PEP 592; its text is the reason).
* `set_status`: the PEP 792 marker (`indexer.status`).
* `describe(bucket, project)`: releases, files, yanks, status and upload times from the project's
  JSON page (what the indexer wrote), or the root list.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from packaging.utils import canonicalize_name
from packaging.version import InvalidVersion, Version

from indexer import status as project_status
from indexer.model import YANKED_SUFFIX, BadFilename, is_distribution, parse_filename, yank_reason
from indexer.publish import PublishError
from indexer.status import STATUSES
from indexer.store import METADATA, Bucket

MARKER_CONTENT_TYPE = METADATA  # text/plain; charset=utf-8


class NotFound(PublishError):
    """No such project or version (a 404 over HTTPS, exit 1 in the CLI)."""


class BadValue(PublishError):
    """An argument that cannot be right: a version that is not PEP 440, an unknown status."""


@dataclass(frozen=True)
class Release:
    project: str
    version: Version
    files: list[str]  # keys of the distributions
    others: set[str]  # every other key under the project folder (markers, metadata, pages)

    def marker(self, key: str) -> str:
        return key + YANKED_SUFFIX

    def __str__(self) -> str:
        return f"{self.project} {self.version}"


def parse_version(text: str) -> Version:
    try:
        return Version(text)
    except InvalidVersion as exc:
        raise BadValue(f"{text!r} is not a valid version (PEP 440)") from exc


def find_release(bucket: Bucket, project_arg: str, version_arg: str, where: str) -> Release:
    """A version's distribution files, found by listing `<project>/` and parsing the names.

    `where` names the index in messages ("bucket 'b'", "this index")."""
    project = canonicalize_name(project_arg)
    version = parse_version(version_arg)
    prefix = f"{project}/"
    files: list[str] = []
    others: set[str] = set()
    versions: set[Version] = set()
    for obj in bucket.list(prefix):
        name = obj.key[len(prefix) :]
        if "/" in name:
            continue
        if is_distribution(name):
            try:
                dist = parse_filename(name)
            except BadFilename:
                others.add(obj.key)
                continue
            if dist.project == project:
                versions.add(dist.version)
                if dist.version == version:
                    files.append(obj.key)
                    continue
        others.add(obj.key)
    if not files:
        if versions:
            listed = ", ".join(str(v) for v in sorted(versions, reverse=True))
            raise NotFound(f"{project} has no files for version {version} (it has: {listed})")
        raise NotFound(f"no project {project!r} in {where}")
    return Release(project, version, sorted(files), others)


def yank(bucket: Bucket, release: Release, reason_text: str) -> list[tuple[str, bool]]:
    """Write each file's `.yanked` marker with the reason; (key, changed) per file."""
    reason = yank_reason(reason_text)
    done: list[tuple[str, bool]] = []
    for key in release.files:
        marker = release.marker(key)
        if marker in release.others:
            got = bucket.get_bytes(marker)
            if got is not None and yank_reason(got[0].decode("utf-8", "replace")) == reason:
                done.append((key, False))
                continue
        bucket.put(marker, reason.encode("utf-8"), MARKER_CONTENT_TYPE, bucket.page_cache_control)
        done.append((key, True))
    return done


def unyank(bucket: Bucket, release: Release) -> list[str]:
    """Remove the `.yanked` markers; the keys of the files that were yanked."""
    markers = [release.marker(k) for k in release.files if release.marker(k) in release.others]
    for marker in markers:
        bucket.delete(marker)
    return [m.removesuffix(YANKED_SUFFIX) for m in markers]


@dataclass(frozen=True)
class StatusChange:
    project: str
    before: str
    after: str
    reason: str


def set_status(
    bucket: Bucket, project_arg: str, status: str, reason_text: str, where: str
) -> StatusChange | None:
    """Set a project's PEP 792 status; the change, or None when it already was exactly that."""
    if status not in STATUSES:
        raise BadValue(f"unknown status {status!r}: one of {', '.join(STATUSES)} (PEP 792)")
    project = canonicalize_name(project_arg)
    reason = yank_reason(reason_text or "")
    if status == "active" and reason:
        raise BadValue("a reason goes with archived, deprecated or quarantined, not active")
    if not any(is_distribution(o.key[len(project) + 1 :]) for o in bucket.list(f"{project}/")):
        raise NotFound(f"no project {project!r} in {where}")
    key = project_status.marker_key(project)
    previous, written = project_status.read(bucket, project)
    if (previous.status, previous.reason) == (status, reason):
        return None
    if status == "active":
        # PEP 792: "If no status is explicitly noted, then the project is considered to be in the
        # active state", so the marker goes.  In the versioned bucket that is a delete marker, for
        # which S3 sends s3:ObjectRemoved:DeleteMarkerCreated (the notification subscribes to
        # ObjectRemoved:*; the local stack sends it too, local/s3front.py), and the earlier
        # statuses stay as noncurrent versions.
        bucket.delete(key)
    else:
        marker = project_status.next_marker(previous, written, status, reason)
        bucket.put(key, project_status.render(marker), project_status.CONTENT_TYPE, bucket.page_cache_control)
    return StatusChange(project, previous.status, status, reason)


def describe(bucket: Bucket, project_arg: str | None) -> dict[str, Any] | None:
    """What `list` shows, from the pages the indexer wrote (None: no such page yet).

    Without a project: {"projects": [{"name", "latest", "summary", "status"}]}.  With one:
    {"project", "status", "reason", "versions": [{"version", "files": [{"filename", "size",
    "sha256", "yanked", "upload_time"}]}]}, newest version first.
    """
    if not project_arg:
        root = bucket.get_json("index.json")[0]
        if root is None:
            return None
        # The root's live entries (PEP 691 "projects"; the indexer's private "_" keys carry the
        # latest version, summary and status; removed projects are under "_removed", skipped).
        entries = root.get("projects") if isinstance(root.get("projects"), list) else []
        return {
            "projects": [
                {
                    "name": canonicalize_name(e["name"]),
                    "latest": str(e.get("_latest", "")),
                    "summary": str(e.get("_summary", "")),
                    "status": str(e.get("_status", "")) or "active",
                }
                for e in entries
                if isinstance(e, dict) and isinstance(e.get("name"), str)
            ]
        }
    project = canonicalize_name(project_arg)
    doc = bucket.get_json(f"{project}/index.json")[0]
    if doc is None:
        return None
    status = doc.get("project-status") if isinstance(doc.get("project-status"), dict) else {}
    by_version: dict[Version, list[dict[str, Any]]] = {}
    for f in doc.get("files") or []:
        if not isinstance(f, dict) or not isinstance(f.get("filename"), str):
            continue
        try:
            version = parse_filename(f["filename"]).version
        except BadFilename:
            continue
        yanked = f.get("yanked", False)
        by_version.setdefault(version, []).append(
            {
                "filename": f["filename"],
                "size": f.get("size"),
                "sha256": (f.get("hashes") or {}).get("sha256", ""),
                "yanked": None if yanked is False else (yanked if isinstance(yanked, str) else ""),
                "upload_time": f.get("upload-time"),
            }
        )
    versions = [
        {
            "version": str(v),
            "files": sorted(by_version[v], key=lambda r: (not r["filename"].endswith(".whl"), r["filename"])),
        }
        for v in sorted(by_version, reverse=True)
    ]
    return {
        "project": project,
        "status": status.get("status", "active"),
        "reason": status.get("reason", ""),
        "versions": versions,
    }
