"""Core metadata out of distributions, safely, reading as little as possible.

- Wheels: the `*.dist-info/METADATA` member, byte for byte (PEP 658: pip compares the sha256 of
  the `.metadata` file with the one the page announces, and pip >= 22.3 also checks that it
  matches the wheel's METADATA).  Read from a seekable source, so for a large wheel only the
  zip's tail and the one member are fetched (see `RangeFile`).
- Sdists: `PKG-INFO` at the top of the archive (PEP 643), only for the summary and
  Requires-Python shown on the page; never served as `.metadata`.

Every read is capped: a member that claims more than MAX_METADATA_BYTES, or that inflates past
it, is refused (zip bombs), and a broken archive yields None rather than an exception.
"""

from __future__ import annotations

import email.parser
import email.policy
import gzip
import io
import tarfile
import zipfile
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import IO

from packaging.utils import canonicalize_name
from packaging.version import InvalidVersion, Version

from indexer.model import DistName

MAX_METADATA_BYTES = 4 * 1024 * 1024  # PyPI's largest METADATA files are well under 1 MiB
# One ranged GET of the tail covers the central directory and, since .dist-info is written
# last, METADATA of nearly every wheel (a 1,500-file wheel's directory alone is ~150 KiB).
# Only wheels over the indexer's full-read size are read this way: the tail is a small share.
TAIL_BYTES = 512 * 1024
# How far into an sdist's inflated tar stream we look for PKG-INFO (some backends write it
# last); past this the sdist is listed without summary and Requires-Python (tar.gz bombs).
MAX_SDIST_SCAN_BYTES = 64 * 1024 * 1024


class MetadataError(ValueError):
    """The archive has no usable core metadata."""


@dataclass(frozen=True)
class CoreMetadata:
    raw: bytes
    name: str | None
    version: str | None
    summary: str | None
    requires_python: str | None


def parse_core_metadata(raw: bytes) -> CoreMetadata:
    """The few fields the index shows (core metadata spec: an RFC 822-style header block)."""
    # Core metadata is UTF-8 (core metadata spec); BytesParser would decode it as ASCII.
    text = raw.decode("utf-8", "replace")
    msg = email.parser.Parser(policy=email.policy.compat32).parsestr(text, headersonly=True)

    def field(name: str) -> str | None:
        value = msg.get(name)
        if value is None:
            return None
        value = " ".join(str(value).split())  # unfold continuation lines
        return value or None

    return CoreMetadata(
        raw=raw,
        name=field("Name"),
        version=field("Version"),
        summary=field("Summary"),
        requires_python=field("Requires-Python"),
    )


def check_agrees(meta: CoreMetadata, dist: DistName) -> None:
    """Raise MetadataError unless the metadata's Name and Version are the file name's.

    One rule for both sides: the publishing core (`indexer.publish`) refuses such a file, and the
    indexer leaves one written by other means (`aws s3 cp`) out of the pages.  A file whose
    metadata names another project or version would install as something the page does not say.
    """
    what = "METADATA" if dist.kind == "wheel" else "PKG-INFO"
    if not meta.name or not meta.version:
        raise MetadataError(f"its {what} has no Name or no Version")
    if canonicalize_name(meta.name) != dist.project:
        raise MetadataError(
            f"name mismatch: the file name says {dist.project!r}, its {what} says Name: {meta.name}"
        )
    try:
        version = Version(meta.version)
    except InvalidVersion as exc:
        raise MetadataError(f"its {what} has an invalid Version: {meta.version}") from exc
    if version != dist.version:
        raise MetadataError(
            f"version mismatch: the file name says {dist.version}, its {what} says Version: {meta.version}"
        )


def _read_capped(fh: IO[bytes], what: str) -> bytes:
    data = fh.read(MAX_METADATA_BYTES + 1)
    if len(data) > MAX_METADATA_BYTES:
        raise MetadataError(f"{what} is larger than {MAX_METADATA_BYTES} bytes")
    return data


def wheel_metadata(source: IO[bytes], project: str | None = None) -> bytes:
    """The exact bytes of the wheel's `<name>-<version>.dist-info/METADATA`.

    `source` is any seekable binary file: bytes in memory, a spooled temp file, a `RangeFile`.
    """
    try:
        with zipfile.ZipFile(source) as zf:
            candidates = [
                info
                for info in zf.infolist()
                if info.filename.count("/") == 1 and info.filename.endswith(".dist-info/METADATA")
            ]
            if len(candidates) > 1 and project:
                # Several .dist-info dirs (a broken wheel, or a vendored one): take the one
                # whose name matches the project (binary distribution format spec).
                want = project.replace("-", "_").lower()
                matching = [c for c in candidates if c.filename.split("-", 1)[0].lower() == want]
                candidates = matching or candidates
            if len(candidates) != 1:
                raise MetadataError(f"expected one .dist-info/METADATA, found {len(candidates)}")
            info = candidates[0]
            if info.file_size > MAX_METADATA_BYTES or info.compress_size > MAX_METADATA_BYTES:
                raise MetadataError(
                    f"{info.filename} claims {info.file_size} bytes ({info.compress_size} compressed)"
                )
            if isinstance(source, RangeFile):
                # Fetch the local header and the compressed member in one request.
                source.prefetch(
                    info.header_offset, 30 + len(info.orig_filename) * 2 + info.compress_size + 1024
                )
            with zf.open(info) as fh:  # zipfile checks the CRC once the member is fully read
                return _read_capped(fh, info.filename)
    except (
        zipfile.BadZipFile,
        zipfile.LargeZipFile,
        zlib.error,
        EOFError,
        OSError,
        NotImplementedError,
        RuntimeError,  # an encrypted member
        ValueError,
    ) as exc:
        raise MetadataError(f"unreadable wheel: {exc}") from exc


def sdist_metadata(source: IO[bytes], *, zip_format: bool = False) -> bytes:
    """`PKG-INFO` from the top directory of an sdist: a seekable .zip, or a .tar.gz stream."""
    try:
        if zip_format:
            with zipfile.ZipFile(source) as zf:
                for info in zf.infolist():
                    if info.filename.count("/") == 1 and info.filename.endswith("/PKG-INFO"):
                        if info.file_size > MAX_METADATA_BYTES:
                            raise MetadataError("PKG-INFO too large")
                        with zf.open(info) as fh:
                            return _read_capped(fh, "PKG-INFO")
            raise MetadataError("no PKG-INFO in the sdist")
        # Stream mode ("r|gz"): members are read in order and nothing is seeked, so a large
        # sdist is never held in memory; PKG-INFO is normally one of the first members.
        capped = _CappedReader(gzip.GzipFile(fileobj=source, mode="rb"), MAX_SDIST_SCAN_BYTES)
        with tarfile.open(fileobj=capped, mode="r|") as tf:
            for member in tf:
                if member.isfile() and member.name.count("/") == 1 and member.name.endswith("/PKG-INFO"):
                    if member.size > MAX_METADATA_BYTES:
                        raise MetadataError("PKG-INFO too large")
                    fh = tf.extractfile(member)
                    assert fh is not None  # a regular file (isfile above) always has a reader
                    return _read_capped(fh, "PKG-INFO")
        raise MetadataError("no PKG-INFO in the sdist")
    except (
        tarfile.TarError,
        zipfile.BadZipFile,
        zlib.error,
        EOFError,
        OSError,
        RuntimeError,
        ValueError,
    ) as exc:
        raise MetadataError(f"unreadable sdist: {exc}") from exc


class _Reader(io.RawIOBase):
    """A read-only raw stream whose subclasses implement `read`; `readinto` follows from it."""

    def readable(self) -> bool:
        return True

    def readinto(self, b: bytearray | memoryview) -> int:  # type: ignore[override]
        data = self.read(len(b))
        b[: len(data)] = data
        return len(data)


class _CappedReader(_Reader):
    """A read-only stream that refuses to yield more than `cap` bytes."""

    def __init__(self, inner: IO[bytes], cap: int) -> None:
        super().__init__()
        self._inner = inner
        self._left = cap

    def read(self, n: int = -1) -> bytes:
        if n is None or n < 0:
            n = self._left + 1
        data = self._inner.read(min(n, self._left + 1))
        self._left -= len(data)
        if self._left < 0:
            raise MetadataError("PKG-INFO not found in the first bytes of the sdist")
        return data


class RangeFile(_Reader):
    """A read-only, seekable view of a remote object, fetched by byte ranges on demand.

    `fetch(start, end_inclusive)` returns those bytes (an S3 ranged GET).  Fetched spans are
    kept, so zipfile's many small reads of the central directory cost one request.
    """

    def __init__(self, size: int, fetch: Callable[[int, int], bytes], tail: int = TAIL_BYTES) -> None:
        super().__init__()
        self.size = size
        self._fetch = fetch
        self._pos = 0
        self._spans: list[tuple[int, bytes]] = []
        self.requests = 0
        if size:
            self.prefetch(max(0, size - tail), tail)

    def prefetch(self, start: int, length: int) -> None:
        end = min(self.size, start + length)
        if start >= end or self._covered(start, end) is not None:
            return
        self.requests += 1
        self._spans.append((start, self._fetch(start, end - 1)))

    def _covered(self, start: int, end: int) -> bytes | None:
        for s, data in self._spans:
            if s <= start and end <= s + len(data):
                return data[start - s : end - s]
        return None

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._pos

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self._pos, io.SEEK_END: self.size}[whence]
        self._pos = max(0, base + offset)
        return self._pos

    def read(self, n: int = -1) -> bytes:
        end = self.size if n is None or n < 0 else min(self.size, self._pos + n)
        if self._pos >= end:
            return b""
        data = self._covered(self._pos, end)
        if data is None:
            # Not fetched yet: fetch at least 64 KiB so a header read brings its data along.
            self.prefetch(self._pos, max(end - self._pos, 64 * 1024))
            data = self._covered(self._pos, end)
            assert data is not None
        self._pos += len(data)
        return data
