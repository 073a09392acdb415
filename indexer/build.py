"""Rebuilding a project's pages, and the root, from the bucket: incremental and race-free.

The algorithm (SPEC "Event flow and consistency"):

1. GET `<p>/index.json` (our previous output, with its ETag), then LIST `<p>/` once.
2. Describe each distribution: reuse hash/metadata from the previous JSON while the object's
   ETag is unchanged; read only new or replaced files (one GET, or a HEAD + ranged GETs of a
   large wheel's tail when S3 holds a full-object SHA-256).
3. Write `<p>/index.html`, then `<p>/index.json` conditionally (If-Match the ETag read in 1,
   or If-None-Match: * when there was none).  On 412 start again at 1.  Every JSON write
   carries a fresh serial, so the ETag never repeats (no ABA).  The HTML is written first: a
   rebuild that loses the JSON race always retries, so the last HTML write is the winner's.
4. Read-modify-write the root `index.json` the same way, only when the project appeared,
   disappeared, or changed its latest version or summary, and never with an entry older (by
   serial) than the one there.

Reading the JSON *before* listing is what makes the conditional write sufficient: a rebuild
whose write succeeds listed the bucket after every earlier successful write was made.
"""

from __future__ import annotations

import hashlib
import random
import tempfile
import time
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from typing import IO

from packaging.utils import InvalidName, canonicalize_name

from indexer import render
from indexer.log import logger
from indexer.metadata import (
    MetadataError,
    RangeFile,
    parse_core_metadata,
    sdist_metadata,
    wheel_metadata,
)
from indexer.model import (
    GENERATED_NAMES,
    METADATA_SUFFIX,
    YANKED_SUFFIX,
    BadFilename,
    DistName,
    File,
    ProjectDetail,
    ProjectEntry,
    ProjectList,
    is_distribution,
    parse_filename,
    sort_files,
)
from indexer.store import HTML, JSON, METADATA, Bucket, ObjectInfo, PreconditionFailed

FULL_READ_BYTES = 8 * 1024 * 1024  # below this, one GET of the whole file is cheapest
SPOOL_BYTES = 32 * 1024 * 1024  # larger streamed files spill to /tmp
MAX_REASON_BYTES = 4096
MAX_ATTEMPTS = 12


class RebuildConflict(Exception):
    """Lost the conditional-write race MAX_ATTEMPTS times in a row; the message is retried."""


@dataclass(frozen=True)
class Rebuilt:
    project: str
    detail: ProjectDetail | None  # None: the project has no distribution left
    root_changed: bool


def project_for_key(key: str) -> str | None:
    """The project whose pages an event for `key` (already URL-decoded) affects, or None.

    None for the indexer's own outputs, keys outside `<project>/<file>`, and non-distributions.
    """
    folder, sep, name = key.partition("/")
    if not sep or not folder or "/" in name or name in GENERATED_NAMES or name.endswith(METADATA_SUFFIX):
        return None
    name = name.removesuffix(YANKED_SUFFIX)
    if not is_distribution(name):
        return None
    try:
        project = canonicalize_name(folder, validate=True)  # PEP 508 names: ASCII letters, digits, -_.
    except InvalidName:
        project = None
    if project != folder:
        logger.warning("key is not under a normalized project folder; not indexed", key=key, expected=project)
        return None
    return project


def _backoff(attempt: int) -> None:
    time.sleep(min(1.0, 0.02 * 2**attempt) * random.uniform(0.5, 1.0))


class Indexer:
    def __init__(self, bucket: Bucket, *, full_read_bytes: int = FULL_READ_BYTES) -> None:
        self.bucket = bucket
        self.full_read_bytes = full_read_bytes

    # --- one project ---------------------------------------------------------------------

    def rebuild(self, project: str, *, update_root: bool = True) -> Rebuilt:
        for attempt in range(MAX_ATTEMPTS):
            try:
                detail = self._rebuild_once(project)
                break
            except PreconditionFailed:
                logger.info(
                    "project page changed while rebuilding; retrying", project=project, attempt=attempt
                )
                _backoff(attempt)
        else:
            raise RebuildConflict(project)
        changed = False
        if update_root:
            entry = detail.root_entry() if detail else None
            changed = self.update_root({project: (entry, detail.serial if detail else _serial(0))})
        return Rebuilt(project, detail, changed)

    def _rebuild_once(
        self, project: str, listing: Iterable[ObjectInfo] | None = None
    ) -> ProjectDetail | None:
        prefix = f"{project}/"
        prev_doc, prev_etag = self.bucket.get_json(prefix + "index.json")
        known, prev_serial = render.parse_project_json(prev_doc)
        objects = {o.key: o for o in (listing if listing is not None else self.bucket.list(prefix))}

        files: list[File] = []
        for key, obj in objects.items():
            name = key[len(prefix) :]
            if "/" in name or not is_distribution(name):
                continue
            try:
                dist = parse_filename(name)
            except BadFilename as exc:
                logger.warning("not a valid distribution file name; left out", key=key, error=str(exc))
                continue
            if dist.project != project:
                logger.warning(
                    "distribution is under another project's folder; left out",
                    key=key,
                    belongs_to=dist.project,
                )
                continue
            described = self._describe(
                obj,
                dist,
                known.get(name),
                marker=objects.get(key + YANKED_SUFFIX),
                has_metadata=key + METADATA_SUFFIX in objects,
            )
            if described is not None:
                files.append(described)

        serial = _serial(prev_serial)
        if not files:
            self._remove_pages(project, prev_etag, objects)
            return None
        detail = ProjectDetail(canonicalize_name(project), sort_files(files), serial)
        self.bucket.put(
            prefix + "index.html", render.project_html(detail), HTML, self.bucket.page_cache_control
        )
        self.bucket.put_page(prefix + "index.json", render.project_json(detail), JSON, etag=prev_etag)
        # Only the winner of the JSON write cleans up metadata of files that are gone.
        live = {prefix + f.filename + METADATA_SUFFIX for f in files}
        for key in objects:
            if key.endswith(METADATA_SUFFIX) and key not in live:
                self.bucket.delete(key)
        return detail

    def _remove_pages(self, project: str, prev_etag: str | None, objects: dict[str, ObjectInfo]) -> None:
        prefix = f"{project}/"
        if prev_etag:
            # Conditional: a concurrent rebuild that saw a new upload must not lose its page.
            self.bucket.delete(prefix + "index.json", if_match=prev_etag)
        for key in objects:
            if key == prefix + "index.html" or key.endswith(METADATA_SUFFIX):
                self.bucket.delete(key)

    def _describe(
        self,
        obj: ObjectInfo,
        dist: DistName,
        known: File | None,
        *,
        marker: ObjectInfo | None,
        has_metadata: bool,
    ) -> File | None:
        yanked, yanked_etag = self._yank_state(marker, known)
        if (
            known is not None
            and known.etag == obj.etag
            and (known.metadata_sha256 is None or has_metadata or dist.kind != "wheel")
        ):
            return replace(
                known, version=dist.version, kind=dist.kind, yanked=yanked, yanked_etag=yanked_etag
            )
        try:
            sha256, raw = self._read(obj, dist)
        except Exception as exc:  # a file we cannot read is left out, never fails the batch
            logger.warning("cannot read distribution; left out", key=obj.key, error=repr(exc))
            return None
        meta = parse_core_metadata(raw) if raw is not None else None
        metadata_sha256 = None
        if raw is not None and dist.kind == "wheel":
            self.bucket.put(obj.key + METADATA_SUFFIX, raw, METADATA, self.bucket.page_cache_control)
            metadata_sha256 = hashlib.sha256(raw).hexdigest()
        if meta is not None and meta.name and canonicalize_name(meta.name) != dist.project:
            logger.warning("metadata Name does not match the file name", key=obj.key, name=meta.name)
        return File(
            filename=obj.key.rsplit("/", 1)[1],
            version=dist.version,
            kind=dist.kind,
            sha256=sha256,
            size=obj.size,
            upload_time=obj.last_modified,
            requires_python=meta.requires_python if meta else None,
            metadata_sha256=metadata_sha256,
            yanked=yanked,
            summary=meta.summary if meta else None,
            etag=obj.etag,
            yanked_etag=yanked_etag,
        )

    def _yank_state(self, marker: ObjectInfo | None, known: File | None) -> tuple[str | None, str]:
        if marker is None:
            return None, ""
        if known is not None and known.yanked_etag == marker.etag and known.yanked is not None:
            return known.yanked, marker.etag
        got = self.bucket.get_bytes(marker.key)
        if got is None:  # removed between LIST and GET: treat as not yanked this time
            return None, ""
        body, etag = got
        # PEP 592: the reason is free text; an empty marker still yanks.
        reason = " ".join(body[:MAX_REASON_BYTES].decode("utf-8", "replace").split())
        return reason, etag

    def _read(self, obj: ObjectInfo, dist: DistName) -> tuple[str, bytes | None]:
        """(sha256 hex, core metadata bytes or None), reading as little as the file allows."""
        if obj.size > self.full_read_bytes and obj.has_sha256:
            sha256 = self.bucket.full_object_sha256(obj.key)
            if sha256 is not None:
                if dist.kind == "wheel":
                    source: IO[bytes] = RangeFile(obj.size, lambda a, b: self.bucket.get_range(obj.key, a, b))
                    return sha256, _metadata_or_none(source, dist, obj.key)
                with self.bucket.open_stream(obj.key) as stream:  # stops at PKG-INFO
                    return sha256, _metadata_or_none(stream, dist, obj.key)
        with tempfile.SpooledTemporaryFile(max_size=SPOOL_BYTES) as spool:
            digest = hashlib.sha256()
            stream = self.bucket.open_stream(obj.key)
            for chunk in iter(lambda: stream.read(1024 * 1024), b""):
                digest.update(chunk)
                spool.write(chunk)
            spool.seek(0)
            return digest.hexdigest(), _metadata_or_none(spool, dist, obj.key)

    # --- the root ------------------------------------------------------------------------

    def update_root(
        self, changes: dict[str, tuple[ProjectEntry | None, int]], *, rewrite: bool = False
    ) -> bool:
        """Apply {project: (entry or None to remove, serial)} to the root; True if written."""
        for attempt in range(MAX_ATTEMPTS):
            doc, etag = self.bucket.get_json("index.json")
            current = render.parse_root_json(doc)
            updated = current
            for name, (entry, serial) in changes.items():
                existing = current.get(name)
                if existing is not None and existing.serial > serial:
                    continue  # a newer rebuild already put its view of this project there
                if entry is None and existing is None:
                    continue
                if entry is not None and entry.same_listing(existing):
                    continue
                updated = updated.with_entry(entry, name)
            if updated is current and not rewrite and doc is not None:
                return False
            updated = ProjectList(updated.projects, _serial(current.serial))
            try:
                self.bucket.put("index.html", render.root_html(updated), HTML, self.bucket.page_cache_control)
                self.bucket.put_page("index.json", render.root_json(updated), JSON, etag=etag)
                return True
            except PreconditionFailed:
                logger.info("root index changed while updating; retrying", attempt=attempt)
                _backoff(attempt)
        raise RebuildConflict("<root>")

    # --- everything ----------------------------------------------------------------------

    def reindex(
        self,
        *,
        projects: Iterable[str] | None = None,
        workers: int = 8,
        progress: Callable[[int], None] | None = None,
    ) -> list[Rebuilt]:
        """Rebuild pages from the objects alone (recovery, migration from s3pypi/serverless-pypi).

        One LIST of the whole bucket (or of each named project), then every project rebuilt in
        parallel, then the root written once.
        """
        by_project: dict[str, list[ObjectInfo]] = {}
        if projects is None:
            for obj in self.bucket.list(""):
                folder, sep, _ = obj.key.partition("/")
                if sep and folder:
                    by_project.setdefault(folder, []).append(obj)
        else:
            for name in projects:
                project = canonicalize_name(name)
                by_project[project] = list(self.bucket.list(f"{project}/"))
        for folder in [f for f in by_project if canonicalize_name(f) != f]:
            objs = by_project.pop(folder)
            if any(is_distribution(o.key.rsplit("/", 1)[1]) for o in objs):
                logger.warning(
                    "folder is not a normalized project name; its files are not indexed",
                    folder=folder,
                    expected=canonicalize_name(folder),
                )

        def one(project: str) -> Rebuilt:
            listing: list[ObjectInfo] | None = by_project[project]
            for attempt in range(MAX_ATTEMPTS):
                try:
                    detail = self._rebuild_once(project, listing)
                    break
                except PreconditionFailed:
                    listing = None  # someone else wrote: list again
                    _backoff(attempt)
            else:
                raise RebuildConflict(project)
            if progress:
                progress(1)
            return Rebuilt(project, detail, False)

        with ThreadPoolExecutor(max_workers=workers) as pool:
            results = list(pool.map(one, sorted(by_project)))
        changes = {r.project: (r.detail.root_entry() if r.detail else None, _serial(0)) for r in results}
        if projects is None:
            # A full reindex is authoritative: projects with no folder left drop out of the root.
            doc, _ = self.bucket.get_json("index.json")
            for stale in render.parse_root_json(doc).projects:
                changes.setdefault(stale.name, (None, _serial(0)))
        self.update_root(changes, rewrite=projects is None)
        return results


def _serial(previous: int) -> int:
    """Monotonic across rebuilds and across a project's deletion and re-creation."""
    return max(previous + 1, time.time_ns() // 1000)


def _metadata_or_none(source: IO[bytes], dist: DistName, key: str) -> bytes | None:
    try:
        if dist.kind == "wheel":
            return wheel_metadata(source, dist.project)
        return sdist_metadata(source, zip_format=key.endswith(".zip"))
    except MetadataError as exc:
        logger.warning("no usable core metadata", key=key, error=str(exc))
        return None
