"""`python -m local --data-dir DIR`: what the local stack keeps across restarts, and how.

moto keeps everything in memory and has nothing to persist it with that fits here: its recorder
(`MOTO_ENABLE_RECORDING`) appends every request to one file and replays them all over HTTP at
start (so every upload's events run the indexer again, new version ids, new LastModified times,
and a log that only grows, pages rewritten on every upload included), and pickling its backends
(suggested in getmoto/moto#1069) is a snapshot: whatever was acknowledged after the last one is
lost on a crash.  So the local S3 front (local/s3front.py) writes each change through to this
folder before it answers the request, and the stack loads it back into moto at start.

Layout (one folder per kind of state, so the Cognito user store can live beside the bucket):

    DIR/pypi-edge-data.json            {"format": 1}: this folder is ours (nothing else is written over)
    DIR/.lock                          flock()ed while a stack uses DIR (released by the kernel on exit)
    DIR/s3/<bucket>/objects/<h2>/<h>/  one folder per key (h = sha256 of the key)
        versions.json                  the key and its versions, oldest first: version id, delete
                                       marker or not, LastModified, ETag, metadata, checksum
        <version id>.data              each version's bytes, exactly as uploaded
    DIR/s3/<bucket>/pending/<h>.json   a change to a key the indexer watches whose rebuild has not
                                       run yet (see `BucketStore.mark`)

What is kept: every version and delete marker of every key (the CLI's `delete` says the bytes
remain as noncurrent versions, and they do), except for the pages and `.metadata` files the
indexer generates, where only the current version matters (they are rebuilt from the rest).
Object tags and ACLs are not kept (nothing here uses them).

Durability: a version's bytes are written to a temporary file, fsync()ed and renamed into place
before the key's `versions.json` names them (the same way), and both before the S3 request is
answered; so an acknowledged upload survives the process being killed (and a power cut), and a
crash between the two writes leaves an unnamed data file that the next start deletes.
"""

from __future__ import annotations

import errno
import fcntl
import hashlib
import json
import os
import shutil
import threading
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

FORMAT = 1
MARKER_NAME = "pypi-edge-data.json"
VERSIONS_NAME = "versions.json"
DATA_SUFFIX = ".data"


class DataDirError(RuntimeError):
    """The folder cannot be used as a data dir: not ours, or in use by another stack."""


@dataclass(frozen=True)
class Version:
    """One version of a key as S3 shows it (a delete marker has no bytes, ETag or metadata)."""

    version_id: str
    last_modified: str  # ISO 8601, UTC, as moto keeps it (naive, microseconds)
    delete_marker: bool = False
    etag: str = ""  # without quotes
    size: int = 0
    metadata: dict[str, str] = field(default_factory=dict)  # Content-Type, Cache-Control, x-amz-meta-*
    storage_class: str = "STANDARD"
    checksum: dict[str, Any] = field(default_factory=dict)  # algorithm, value, type, parts


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()


def _write_atomically(path: Path, data: bytes | Iterable[bytes]) -> None:
    """Write, fsync and rename into place: readers see the old file or the whole new one."""
    tmp = path.with_name(f".{path.name}.tmp")
    with tmp.open("wb") as fh:
        if isinstance(data, bytes):
            fh.write(data)
        else:
            for chunk in data:
                fh.write(chunk)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class DataDir:
    """The folder itself: claimed (format marker), locked while in use, one sub-store per bucket."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path).resolve()
        self._lock_fd: int | None = None

    def open(self) -> DataDir:
        marker = self.path / MARKER_NAME
        if self.path.exists() and any(self.path.iterdir()) and not marker.exists():
            raise DataDirError(
                f"{self.path} is not empty and is not a pypi-edge data dir ({MARKER_NAME} is missing); "
                "pass an empty or new folder"
            )
        self.path.mkdir(parents=True, exist_ok=True)
        if not marker.exists():  # claimed first: a folder holding only a .lock would be refused
            _write_atomically(marker, (json.dumps({"format": FORMAT}) + "\n").encode())
        fd = os.open(self.path / ".lock", os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            os.close(fd)
            if exc.errno in (errno.EWOULDBLOCK, errno.EAGAIN):
                raise DataDirError(f"{self.path} is in use by another local stack") from exc
            raise
        self._lock_fd = fd
        found = json.loads(marker.read_text()).get("format")
        if found != FORMAT:
            self.close()
            raise DataDirError(f"{self.path} holds data format {found!r}; this version reads {FORMAT}")
        return self

    def close(self) -> None:
        if self._lock_fd is not None:
            os.close(self._lock_fd)  # releases the flock
            self._lock_fd = None

    def bucket(self, name: str) -> BucketStore:
        return BucketStore(self.path / "s3" / name)


@dataclass(frozen=True)
class Pending:
    folder: str  # the first path segment of the key (the project folder)
    key: str  # the last watched key changed in it
    ns: int  # time.time_ns() after the change was made


class BucketStore:
    """One bucket's objects, and its pending rebuilds, under DIR/s3/<bucket>/."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.objects = root / "objects"
        self.pending_dir = root / "pending"
        self.objects.mkdir(parents=True, exist_ok=True)
        self.pending_dir.mkdir(parents=True, exist_ok=True)
        # mark() (the S3 front's threads) and settle() (the worker) read-modify-write one file.
        self._pending_lock = threading.Lock()

    def _key_dir(self, key: str) -> Path:
        h = _digest(key)
        return self.objects / h[:2] / h

    # --- objects -----------------------------------------------------------------------------

    def load(self) -> Iterator[tuple[str, list[Version], Path]]:
        """(key, versions oldest first, its folder) for every key kept; drops unnamed data files."""
        for manifest in sorted(self.objects.glob(f"*/*/{VERSIONS_NAME}")):
            doc = json.loads(manifest.read_text(encoding="utf-8"))
            versions = [Version(**v) for v in doc["versions"]]
            named = {v.version_id + DATA_SUFFIX for v in versions if not v.delete_marker}
            for leftover in manifest.parent.iterdir():
                # A crash between a data file and its manifest (or a temporary file) leaves these.
                if leftover.name != VERSIONS_NAME and leftover.name not in named:
                    leftover.unlink()
            yield doc["key"], versions, manifest.parent

    @staticmethod
    def data_path(folder: Path, version: Version) -> Path:
        return folder / (version.version_id + DATA_SUFFIX)

    def write(self, key: str, versions: list[tuple[Version, Iterable[bytes] | None]]) -> None:
        """Make the kept state of `key` exactly `versions` (oldest first).

        Each new version's bytes come as an iterable of chunks (None for delete markers and for
        versions already kept).  An empty list removes the key.
        """
        folder = self._key_dir(key)
        if not versions:
            if folder.exists():
                shutil.rmtree(folder)
            return
        new_folder = not folder.exists()
        folder.mkdir(parents=True, exist_ok=True)
        if new_folder:
            _fsync_dir(folder.parent)
        for version, chunks in versions:
            path = self.data_path(folder, version)
            if chunks is not None and not version.delete_marker and not path.exists():
                _write_atomically(path, chunks)
        doc = {"key": key, "versions": [asdict(v) for v, _ in versions]}
        _write_atomically(folder / VERSIONS_NAME, json.dumps(doc, ensure_ascii=False).encode("utf-8"))
        kept = {v.version_id + DATA_SUFFIX for v, _ in versions if not v.delete_marker}
        for old in folder.glob(f"*{DATA_SUFFIX}"):
            if old.name not in kept:
                old.unlink()

    # --- pending rebuilds ----------------------------------------------------------------------

    def mark(self, folder: str, key: str, ns: int) -> None:
        """Remember that `key` in `folder` changed at `ns` and its project has not been rebuilt since."""
        doc = asdict(Pending(folder, key, ns))
        with self._pending_lock:
            _write_atomically(self.pending_dir / f"{_digest(folder)}.json", json.dumps(doc).encode("utf-8"))

    def settle(self, folders: Iterable[str], before_ns: int) -> None:
        """A rebuild of these folders started at `before_ns`: it saw every change marked before."""
        with self._pending_lock:
            for folder in folders:
                path = self.pending_dir / f"{_digest(folder)}.json"
                try:
                    pending = Pending(**json.loads(path.read_text(encoding="utf-8")))
                except FileNotFoundError:
                    continue
                if pending.ns < before_ns:
                    path.unlink()

    def pending(self) -> list[Pending]:
        out = []
        for path in sorted(self.pending_dir.glob("*.json")):
            try:
                out.append(Pending(**json.loads(path.read_text(encoding="utf-8"))))
            except (ValueError, TypeError):  # a torn write cannot happen (rename), a hand edit can
                path.unlink()
        return out
