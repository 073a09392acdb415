"""Rebuilding a project's pages, and the root, from the bucket: incremental and race-free.

The algorithm (SPEC "Event flow and consistency"):

1. GET `<p>/index.json` (our previous output, with its ETag), then LIST `<p>/` once, and take
   a serial (monotonic, from the clock at listing time).
2. Describe each distribution: reuse hash/metadata from the previous JSON while the object's
   ETag (and its .metadata's ETag) is unchanged; read only new or replaced files (one GET, or a
   HEAD + one ranged GET of a large wheel's tail when S3 holds a full-object SHA-256).
3. Write `<p>/index.html`, then `<p>/index.json` conditionally (If-Match the ETag read in 1,
   or If-None-Match: * when there was none).  On 412 (or 404: deleted meanwhile) start again
   at 1.  Every JSON write carries a fresh serial, so its ETag never repeats.  The HTML is
   written first: a rebuild that loses the JSON race always retries, so the last HTML write is
   the winner's.
4. A first write (If-None-Match) is checked against a second LIST: "no page" cannot tell
   "never was one" from "removed after we listed" (ABA through absence), so if the bucket moved
   on, go back to 1, now over a page with an ETag.
5. No distribution left: delete the HTML and metadata, then the JSON conditionally (last, so a
   concurrent writer makes the delete fail and the rebuild run again).
6. Read-modify-write the root `index.json` the same way, only when the project appeared,
   disappeared, or changed its latest version or summary (compared with the root, and with the
   project's own previous page), and never over an entry with a newer serial.  Removed projects
   stay as private tombstones, so a slow rebuild cannot bring them back.

Reading the JSON *before* listing is what makes the conditional write sufficient: a rebuild
whose write succeeds listed the bucket after every earlier successful write was made.
tests/test_indexer_races.py stops a rebuild between two of these steps, runs another, and
checks the pages against the bucket, for each interleaving that once went wrong.
"""

from __future__ import annotations

import hashlib
import os
import random
import tempfile
import time
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from datetime import datetime
from typing import IO

from botocore.exceptions import BotoCoreError, ClientError
from packaging.utils import InvalidName, canonicalize_name

from indexer import assets, render
from indexer import status as project_status
from indexer.about import About, parse_about
from indexer.log import logger
from indexer.metadata import (
    MetadataError,
    RangeFile,
    check_agrees,
    parse_core_metadata,
    sdist_metadata,
    wheel_metadata,
)
from indexer.model import (
    DIST_SUFFIXES,
    GENERATED_NAMES,
    IDENTITY_JSON_PAGE,
    JSON_PAGE,
    LEFT_OUT_SUFFIX,
    METADATA_SUFFIX,
    YANKED_SUFFIX,
    BadFilename,
    DistName,
    File,
    LeftOut,
    ProjectDetail,
    ProjectEntry,
    ProjectList,
    is_distribution,
    parse_filename,
    sort_files,
    yank_reason,
)
from indexer.store import (
    HTML,
    IMMUTABLE,
    JSON,
    METADATA,
    Bucket,
    ObjectInfo,
    PreconditionFailed,
    is_not_found,
    status_code,
)

NOTE = "application/json"  # `<file>.left-out` (plain JSON, not a PEP 691 page)
FULL_READ_BYTES = 8 * 1024 * 1024  # below this, one GET of the whole file is cheapest
SPOOL_BYTES = 32 * 1024 * 1024  # larger streamed files spill to /tmp
MAX_REASON_BYTES = 4096
MAX_ATTEMPTS = 12
# The index's public URL, shown in the pages' install commands: set on the indexer Lambda by the
# Pulumi program (the custom domain, else the CloudFront name), and by the local stack.
PUBLIC_URL_ENV = "PYPI_EDGE_PUBLIC_URL"


class RebuildConflict(Exception):
    """Lost the conditional-write race MAX_ATTEMPTS times in a row; the message is retried."""


# What fails a rebuild (and so the SQS record, which is retried): S3 answering with an error,
# the network (botocore's errors, including a body cut off mid-stream), and lost races.  Any
# other exception while describing one distribution leaves that file out instead.
TRANSIENT = (ClientError, BotoCoreError, PreconditionFailed, RebuildConflict)


# The bucket's folders that are not projects: the pages' static assets (indexer/assets.py), the
# publishing core's claims (indexer/publish.py CLAIMS_PREFIX) and the staged uploads of
# `pypi-edge upload --index-url` (upload/remote.py STAGING_PREFIX; tests hold them equal).  None
# is a project name: a normalized name starts with a letter or a digit (PEP 508 "Names").
BOOKKEEPING_FOLDERS = frozenset({assets.FOLDER, "_claims", "_staging"})


@dataclass(frozen=True)
class Rebuilt:
    project: str
    detail: ProjectDetail | None  # None: the project has no distribution left (or `error`)
    root_changed: bool
    error: str | None = None  # reindex only: why this project could not be rebuilt


def project_for_key(key: str) -> str | None:
    """The project whose pages an event for `key` (already URL-decoded) affects, or None.

    None for the indexer's own outputs, keys outside `<project>/<file>`, and non-distributions.
    """
    folder, sep, name = key.partition("/") if "/" in key else ("", "", key)
    if name in GENERATED_NAMES or name.endswith(METADATA_SUFFIX):
        return None
    if not is_distribution(name.removesuffix(YANKED_SUFFIX)) and name != project_status.STATUS_NAME:
        return None
    if not sep or not folder or "/" in name:
        # At the bucket's top, or nested ("a/b/x.whl", "p/../x.whl"): no project page lists it.
        logger.warning("distribution is not directly under a project folder; not indexed", key=key)
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
    def __init__(
        self, bucket: Bucket, *, full_read_bytes: int = FULL_READ_BYTES, public_url: str | None = None
    ) -> None:
        self.bucket = bucket
        self.full_read_bytes = full_read_bytes
        self.site = render.Site.parse(os.environ.get(PUBLIC_URL_ENV) if public_url is None else public_url)

    # --- one project ---------------------------------------------------------------------

    def rebuild(self, project: str, *, update_root: bool = True) -> Rebuilt:
        outcome = self._rebuild_until_written(project)
        changed = False
        if update_root:
            changed = self.update_root({project: outcome.root_change()})
        return Rebuilt(project, outcome.detail, changed)

    def _rebuild_until_written(self, project: str) -> _Outcome:
        """`_rebuild_once`, from the start again each time a conditional write loses."""
        for attempt in range(MAX_ATTEMPTS):
            try:
                return self._rebuild_once(project)
            except PreconditionFailed:
                logger.info(
                    "project page changed while rebuilding; retrying", project=project, attempt=attempt
                )
                _backoff(attempt)
        raise RebuildConflict(project)

    def _rebuild_once(self, project: str) -> _Outcome:
        prefix = f"{project}/"
        prev_doc, prev_etag = self.bucket.get_json(prefix + "index.json")
        known, prev_serial = render.parse_project_json(prev_doc)
        objects = {o.key: o for o in self.bucket.list(prefix)}
        # The serial is taken when the bucket was listed, so it orders rebuilds by what they saw
        # (a slow rebuild that listed first never outranks one that listed later).
        serial = _serial(prev_serial)
        previous_entry = render.project_root_entry(prev_doc)
        status, status_memory = self._project_status(
            objects.get(prefix + project_status.STATUS_NAME), prev_doc
        )
        since = datetime.fromisoformat(status_memory["since"]) if "since" in status_memory else None

        files: list[File] = []
        left_out: list[LeftOut] = []
        noted: dict[str, LeftOut | None] = {}  # what each `<file>.left-out` note said
        fresh: dict[str, bytes] = {}  # core metadata of the files read in this rebuild, by filename
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
            if since is not None and obj.last_modified > since:
                # PEP 792: an archived or quarantined project takes no new distributions; one
                # written straight into the bucket (not through the CLI) stays off the pages.
                logger.warning(
                    "distribution written after the project stopped accepting uploads; left out",
                    key=key,
                    status=status.status,
                    since=status_memory["since"],
                )
                continue
            seen = noted[name] = self._left_out_note(objects.get(key + LEFT_OUT_SUFFIX), name)
            if seen is not None and seen.etag == obj.etag:
                left_out.append(seen)  # the same bytes as when it was left out: not read again
                continue
            try:
                described = self._describe(
                    obj,
                    dist,
                    known.get(name),
                    marker=objects.get(key + YANKED_SUFFIX),
                    metadata=objects.get(key + METADATA_SUFFIX),
                    fresh=fresh,
                )
            except TRANSIENT:
                raise  # S3 or the network, or a lost race: the record fails and SQS retries it
            except MetadataError as exc:
                # About the file's bytes, so remembered by ETag: not read or logged again.
                logger.warning("distribution has no usable core metadata; left out", key=key, reason=str(exc))
                left_out.append(LeftOut(name, obj.etag, str(exc)))
                continue
            except Exception as exc:
                # Anything else that goes wrong while describing one file (a hostile archive
                # tripping a library, a bug of ours) is that file's problem, never its project's.
                logger.exception("could not describe the distribution; left out", key=key, reason=repr(exc))
                continue
            if described is not None:
                files.append(described)

        if not files:
            self._remove_pages(project, prev_etag, objects)
            return _Outcome(project, None, serial, previous_entry)
        offered, held = (files, []) if status.offers_files else ([], files)
        detail = ProjectDetail(
            canonicalize_name(project),
            sort_files(offered),
            serial,
            status=status.status,
            status_reason=status.reason,
            held=sort_files(held),
            left_out=tuple(sorted(left_out, key=_by_name)),
        )
        page = render.project_json(detail, status_memory=status_memory)
        self._put_views(
            prefix, render.project_html(detail, self._about(detail, fresh, objects), self.site), page
        )
        self.bucket.put_page(prefix + JSON_PAGE, page, JSON, etag=prev_etag)
        if prev_etag is None and _distributions(self.bucket.list(prefix)) != _distributions(objects.values()):
            # If-None-Match cannot tell "there never was a page" from "there was one, and it was
            # removed after we listed" (ABA).  A first write is therefore checked against a fresh
            # listing; if the bucket moved on, rebuild again, now over a page with an ETag.
            raise PreconditionFailed(prefix + "index.json")
        # Only the winner of the JSON write cleans up metadata of files that are gone, and keeps
        # the notes of files left out in step with what it left out.
        live = {prefix + f.filename + METADATA_SUFFIX for f in files}
        for key in objects:
            if key.endswith(METADATA_SUFFIX) and key not in live:
                self.bucket.delete(key)
        self._write_left_out_notes(prefix, left_out, noted, objects)
        return _Outcome(project, detail, serial, previous_entry)

    def _left_out_note(self, note: ObjectInfo | None, filename: str) -> LeftOut | None:
        """What `<file>.left-out` says (one GET, only for a file that was left out)."""
        if note is None:
            return None
        got = self.bucket.get_bytes(note.key, max_bytes=MAX_REASON_BYTES * 2)
        return render.parse_left_out_note(filename, got[0]) if got is not None else None

    def _write_left_out_notes(
        self,
        prefix: str,
        left_out: list[LeftOut],
        noted: dict[str, LeftOut | None],
        objects: dict[str, ObjectInfo],
    ) -> None:
        """A note for each file left out (written only when it says something new); none for
        the others, so a file that is listed again, or gone, loses its note."""
        wanted = {prefix + x.filename + LEFT_OUT_SUFFIX: x for x in left_out}
        for key, item in wanted.items():
            if noted.get(item.filename) != item:
                self.bucket.put(key, render.left_out_note(item), NOTE, self.bucket.page_cache_control)
        for key in objects:
            if key.endswith(LEFT_OUT_SUFFIX) and key not in wanted:
                self.bucket.delete(key)

    def _about(
        self, detail: ProjectDetail, fresh: dict[str, bytes], objects: dict[str, ObjectInfo]
    ) -> About | None:
        """The latest release's core metadata, for the page's README and side panel.

        Free when this rebuild read a file of that release (an upload of a new version);
        otherwise one GET of a wheel's `.metadata` (PEP 658, the METADATA bytes), or, for a
        release with only an sdist, its PKG-INFO read from the archive's start.  A quarantined
        project shows nothing of its publisher's text.  Unreadable metadata: a page without.
        """
        latest = detail.latest
        if detail.status == "quarantined" or latest is None:
            return None
        candidates = sorted(
            (f for f in detail.files if f.version == latest),
            key=lambda f: (f.filename not in fresh, f.kind != "wheel", f.filename),
        )
        for f in candidates:
            key = f"{detail.name}/{f.filename}"
            try:
                raw = fresh.get(f.filename) or self._stored_metadata(key, f, objects.get(key))
            except MetadataError as exc:
                logger.warning(
                    "latest release's metadata unreadable; page without README", key=key, error=str(exc)
                )
            except ClientError as exc:
                if not is_not_found(exc):
                    raise
                continue
            if raw is None:
                continue
            try:
                return parse_about(raw)
            except Exception:
                # Publisher text that trips a renderer costs the README, never the page.
                logger.exception("could not render the latest release's metadata; page without", key=key)
                return None
        return None

    def _stored_metadata(self, key: str, f: File, obj: ObjectInfo | None) -> bytes | None:
        if f.metadata_sha256:
            got = self.bucket.get_bytes(key + METADATA_SUFFIX)
            return got[0] if got is not None else None
        if f.kind != "sdist" or obj is None:
            return None
        dist = parse_filename(f.filename)
        if key.endswith(".zip"):
            return _core_metadata(
                RangeFile(obj.size, lambda a, b: self.bucket.get_range(key, a, b)), dist, key
            )
        with self.bucket.open_stream(key) as stream:  # stops at PKG-INFO
            return _core_metadata(stream, dist, key)

    def _project_status(
        self, marker: ObjectInfo | None, prev_doc: dict | None
    ) -> tuple[project_status.ProjectStatus, dict[str, str]]:
        """The project's PEP 792 status, and what the page remembers of its marker.

        The marker is read only when its ETag differs from the one the previous page was built
        from, so a project without a marker (or with an unchanged one) costs no extra request.
        """
        if marker is None:
            return project_status.ACTIVE, {}
        previous = render.page_status(prev_doc)
        if previous is not None and previous[2].get("etag") == marker.etag:
            status, reason, memory = previous
            return project_status.ProjectStatus(status, reason, memory.get("since")), memory
        got = self.bucket.get_bytes(marker.key, max_bytes=project_status.MAX_MARKER_BYTES)
        if got is None:  # removed between LIST and GET: its removal event rebuilds again
            return project_status.ACTIVE, {}
        body, etag = got
        status = project_status.parse(body)
        if status.reason == project_status.UNREADABLE:
            logger.warning("unreadable project status marker; the project is quarantined", key=marker.key)
        memory = {"etag": etag}
        since = status.since_time(marker.last_modified) if status.refuses_uploads else None
        if since is not None:
            memory["since"] = since.isoformat()
        return status, memory

    def _remove_pages(self, project: str, prev_etag: str | None, objects: dict[str, ObjectInfo]) -> None:
        """No distribution left: remove the pages and metadata, the JSON last and conditionally.

        If someone writes the JSON meanwhile, the conditional delete fails and the rebuild runs
        again, rewriting whatever was deleted here; if someone re-creates the project after,
        their write comes after these deletes.
        """
        prefix = f"{project}/"
        deleted = False
        for key in objects:
            if key in (prefix + "index.html", prefix + IDENTITY_JSON_PAGE) or key.endswith(
                (METADATA_SUFFIX, LEFT_OUT_SUFFIX)
            ):
                self.bucket.delete(key)
                deleted = True
        if prev_etag:
            self.bucket.delete(prefix + "index.json", if_match=prev_etag)
        elif deleted and _distributions(self.bucket.list(prefix)) != _distributions(objects.values()):
            # No JSON, so no condition to lose: these deletes may have hit the pages of a first
            # file indexed after we listed (an s3pypi HTML page, a first write killed before its
            # JSON).  As for a first write (step 4), a moved bucket means: rebuild again.
            raise PreconditionFailed(prefix + "index.html")

    def _describe(
        self,
        obj: ObjectInfo,
        dist: DistName,
        known: File | None,
        *,
        marker: ObjectInfo | None,
        metadata: ObjectInfo | None,
        fresh: dict[str, bytes] | None = None,
    ) -> File | None:
        yanked, yanked_etag = self._yank_state(marker, known)
        if known is not None and known.etag == obj.etag and _metadata_intact(known, metadata, dist):
            return replace(
                known, version=dist.version, kind=dist.kind, yanked=yanked, yanked_etag=yanked_etag
            )
        try:
            sha256, raw = self._read(obj, dist)
        except ClientError as exc:
            if not is_not_found(exc):
                raise  # throttling, 5xx, access: fail the record so SQS retries it
            logger.warning("distribution vanished while indexing; left out", key=obj.key)
            return None
        meta = parse_core_metadata(raw)
        check_agrees(meta, dist)  # the rule `upload` enforces; `aws s3 cp` enforces nothing
        if fresh is not None:
            fresh[obj.key.rsplit("/", 1)[1]] = raw
        metadata_sha256, metadata_etag = None, ""
        if dist.kind == "wheel":
            try:
                # As immutable as the wheel it is read from (indexer/publish.py stores files with
                # IMMUTABLE): pip's HTTP cache and CloudFront keep it instead of revalidating it
                # on every resolve as they must a page.  The page carries its hash (PEP 658), and
                # a rebuild invalidates the project's folder at the edge (indexer/invalidate.py).
                metadata_etag = self.bucket.put(obj.key + METADATA_SUFFIX, raw, METADATA, IMMUTABLE)
                metadata_sha256 = hashlib.sha256(raw).hexdigest()
            except ClientError as exc:
                if status_code(exc) != 400:  # KeyTooLong and friends: serve the wheel without it
                    raise
                logger.warning("cannot store PEP 658 metadata; served without", key=obj.key, error=str(exc))
        return File(
            filename=obj.key.rsplit("/", 1)[1],
            version=dist.version,
            kind=dist.kind,
            sha256=sha256,
            size=obj.size,
            upload_time=obj.last_modified,
            requires_python=meta.requires_python,
            metadata_sha256=metadata_sha256,
            yanked=yanked,
            summary=meta.summary,
            etag=obj.etag,
            yanked_etag=yanked_etag,
            metadata_etag=metadata_etag,
        )

    def _yank_state(self, marker: ObjectInfo | None, known: File | None) -> tuple[str | None, str]:
        if marker is None:
            return None, ""
        if known is not None and known.yanked_etag == marker.etag and known.yanked is not None:
            return known.yanked, marker.etag
        # A ranged GET only when needed: S3 answers 416 to a range over an empty object.
        got = self.bucket.get_bytes(
            marker.key, max_bytes=MAX_REASON_BYTES if marker.size > MAX_REASON_BYTES else None
        )
        if got is None:  # removed between LIST and GET: treat as not yanked this time
            return None, ""
        body, etag = got
        # PEP 592: the reason is free text, kept as written; an empty marker still yanks.
        reason = yank_reason(body.decode("utf-8", "replace"))
        return reason, etag

    def _read(self, obj: ObjectInfo, dist: DistName) -> tuple[str, bytes]:
        """(sha256 hex, core metadata bytes), reading as little as the file allows.

        Raises MetadataError when the archive has no usable core metadata.
        """
        if obj.size > self.full_read_bytes and obj.has_sha256:
            sha256 = self.bucket.full_object_sha256(obj.key)
            if sha256 is not None:
                if dist.kind == "wheel":
                    source: IO[bytes] = RangeFile(obj.size, lambda a, b: self.bucket.get_range(obj.key, a, b))
                    return sha256, _core_metadata(source, dist, obj.key)
                with self.bucket.open_stream(obj.key) as stream:  # stops at PKG-INFO
                    return sha256, _core_metadata(stream, dist, obj.key)
        with tempfile.SpooledTemporaryFile(max_size=SPOOL_BYTES) as spool:
            digest = hashlib.sha256()
            stream = self.bucket.open_stream(obj.key)
            for chunk in iter(lambda: stream.read(1024 * 1024), b""):
                digest.update(chunk)
                spool.write(chunk)
            spool.seek(0)
            return digest.hexdigest(), _core_metadata(spool, dist, obj.key)

    # --- the root ------------------------------------------------------------------------

    def update_root(self, changes: dict[str, RootChange], *, rewrite: bool = False) -> bool:
        """Apply per-project changes to the root index; True if it was written.

        A change is applied only over an entry with an older serial, so a slow rebuild never
        undoes a newer one; removed projects stay as private tombstones for the same reason.
        An entry equal to what the root shows is skipped, unless the project's own previous
        page showed something else (`RootChange.moved`): then an older rebuild's root update
        may still be in flight, and writing our serial is what makes it lose.
        """
        lost_race = False
        for attempt in range(MAX_ATTEMPTS):
            doc, etag = self.bucket.get_json("index.json")
            current = render.parse_root_json(doc)
            updated = current
            for name, change in changes.items():
                existing = current.get(name)
                if existing is not None and existing.serial >= change.serial:
                    continue  # a newer (or this) rebuild already put its view there
                if change.entry is None:
                    if existing is None or existing.removed:
                        continue
                    updated = updated.with_entry(ProjectEntry(name, serial=change.serial, removed=True))
                elif not change.moved and change.entry.same_listing(existing):
                    continue
                else:
                    updated = updated.with_entry(change.entry)
            if updated is current and not rewrite and not lost_race and doc is not None:
                return False
            if updated is not current or doc is None:
                updated = ProjectList(updated.projects, _serial(current.serial))
            try:
                # HTML (and the plain JSON) first, JSON conditional: a writer that loses the JSON
                # race retries and, even with nothing left to change, rewrites the HTML and the
                # plain JSON from the JSON it lost to.
                page = render.root_json(updated)
                self._put_views("", render.root_html(updated, self.site), page)
                if updated is not current or doc is None:
                    self.bucket.put_page(JSON_PAGE, page, JSON, etag=etag)
                return True
            except PreconditionFailed:
                lost_race = True
                logger.info("root index changed while updating; retrying", attempt=attempt)
                _backoff(attempt)
        raise RebuildConflict("<root>")

    def _put_views(self, prefix: str, html: bytes, page: bytes) -> None:
        """A page's HTML and its JSON unencoded (`IDENTITY_JSON_PAGE`, for clients that do not
        accept gzip): derived views, written before the conditional JSON write that commits."""
        self.bucket.put(prefix + "index.html", html, HTML, self.bucket.page_cache_control)
        self.bucket.put(
            prefix + IDENTITY_JSON_PAGE, page, JSON, self.bucket.page_cache_control, compress=False
        )

    # --- a new or upgraded deployment ----------------------------------------------------------

    def init(self) -> list[str]:
        """What a deployment needs before its first upload; returns the keys written.

        * The pages' static assets (indexer.assets), each only if absent (``If-None-Match: *``):
          content-addressed names, so an existing one is already right.
        * The 404 page CloudFront shows for a missing object (`assets.NOT_FOUND_KEY`), written
          when it differs from this indexer's: its name is fixed, so an upgrade rewrites it.
        * An empty root index when the bucket has none, so ``/simple/`` is a 200 with an empty
          list from the start.  An existing root is never touched, nor a foreign one (an
          s3pypi or serverless-pypi ``index.html`` without our JSON: `reindex` replaces it).
        """
        written = []
        for item in assets.assets().values():
            try:
                self.bucket.put(item.key, item.body, item.content_type, IMMUTABLE, if_none_match=True)
            except PreconditionFailed:
                continue
            written.append(item.key)
        not_found = render.not_found_html(self.site)
        got = self.bucket.get_bytes(assets.NOT_FOUND_KEY, max_bytes=len(not_found) + 1)
        if got is None or got[0] != not_found:
            self.bucket.put(assets.NOT_FOUND_KEY, not_found, HTML, self.bucket.page_cache_control)
            written.append(assets.NOT_FOUND_KEY)
        _, etag = self.bucket.get_json(JSON_PAGE)
        if etag is None and not self.bucket.exists("index.html") and self.update_root({}):
            written += ["index.html", IDENTITY_JSON_PAGE, JSON_PAGE]
        return written

    # --- everything ----------------------------------------------------------------------

    def reindex(
        self,
        *,
        projects: Iterable[str] | None = None,
        workers: int = 8,
        progress: Callable[[int], None] | None = None,
    ) -> list[Rebuilt]:
        """Rebuild pages from the objects alone (recovery, migration from s3pypi/serverless-pypi).

        One LIST of the whole bucket finds the project folders (the root's own entries are
        rebuilt too, so a project with no folder left drops out); each project is then rebuilt
        exactly as an event would (its JSON read before its own LIST), in parallel, and the root
        written once with every project's serial.
        """
        names: set[str] = set()
        if projects is None:
            folders = {obj.key.partition("/")[0] for obj in self.bucket.list("") if "/" in obj.key}
            for folder in sorted(folders):
                if folder in BOOKKEEPING_FOLDERS:
                    continue  # not a project, and nothing to warn about
                if canonicalize_name(folder) == folder:
                    names.add(folder)
                else:
                    logger.warning(
                        "folder is not a normalized project name; its files are not indexed",
                        folder=folder,
                        expected=canonicalize_name(folder),
                    )
            doc, _ = self.bucket.get_json("index.json")
            names |= {p.name for p in render.parse_root_json(doc).projects if not p.removed}
        else:
            names = {canonicalize_name(name) for name in projects}

        def one(project: str) -> tuple[Rebuilt, RootChange | None]:
            try:
                outcome = self._rebuild_until_written(project)
            except Exception as exc:
                # One project that cannot be rebuilt (S3 refusing its prefix, a lost race after
                # every retry, a bug) must not stop the others, nor the root: it keeps its pages
                # and its root entry as they were, and the caller reports it.
                logger.exception("reindex: project not rebuilt; its pages are unchanged", project=project)
                return Rebuilt(project, None, False, error=f"{type(exc).__name__}: {exc}"), None
            finally:
                if progress:
                    progress(1)
            return Rebuilt(project, outcome.detail, False), outcome.root_change()

        with ThreadPoolExecutor(max_workers=workers) as pool:
            done = list(pool.map(one, sorted(names)))
        changes = {r.project: change for r, change in done if change is not None}
        self.update_root(changes, rewrite=projects is None)
        return [r for r, _ in done]


@dataclass(frozen=True)
class RootChange:
    """What one rebuild has to say to the root index."""

    entry: ProjectEntry | None  # None: the project has no distribution left
    serial: int
    moved: bool  # the project's previous page showed a different root entry


@dataclass(frozen=True)
class _Outcome:
    project: str
    detail: ProjectDetail | None
    serial: int
    previous_entry: ProjectEntry | None

    def root_change(self) -> RootChange:
        entry = self.detail.root_entry() if self.detail else None
        if entry is None:
            moved = self.previous_entry is not None
        else:
            moved = self.previous_entry is not None and not entry.same_listing(self.previous_entry)
        return RootChange(entry, self.serial, moved)


def _distributions(objects: Iterable[ObjectInfo]) -> set[tuple[str, str]]:
    """What a project page is made of: distributions and yank markers, with their ETags."""
    return {(o.key, o.etag) for o in objects if o.key.endswith((*DIST_SUFFIXES, YANKED_SUFFIX))}


def _metadata_intact(known: File, metadata: ObjectInfo | None, dist: DistName) -> bool:
    """Whether the .metadata the page announces is the one in the bucket (never for sdists)."""
    if dist.kind != "wheel" or known.metadata_sha256 is None:
        return True
    if metadata is None:
        return False
    # A rebuild that lost the race may have written an older file's metadata after ours.
    return not known.metadata_etag or metadata.etag == known.metadata_etag


def _by_name(left_out: LeftOut) -> str:
    return left_out.filename


def _serial(previous: int) -> int:
    """Monotonic across rebuilds and across a project's deletion and re-creation."""
    return max(previous + 1, time.time_ns() // 1000)


def _core_metadata(source: IO[bytes], dist: DistName, key: str) -> bytes:
    if dist.kind == "wheel":
        return wheel_metadata(source, dist.project)
    return sdist_metadata(source, zip_format=key.endswith(".zip"))
