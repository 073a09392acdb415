"""The publishing core: one place that decides whether a file may be published, and writes it.

Used by the CLI (`pypi-edge upload`, files on disk, any size), the upload endpoint (`upload/`,
bytes in memory from a twine/uv/poetry POST) and anything later that publishes (mirroring).
No caller validates a distribution or writes one to the bucket any other way.

* `validate(path)` / `validate_bytes(filename, data)` -> `Dist`, or `InvalidDistribution` with a
  one-line reason: a wheel or sdist whose file name parses (`packaging`), whose METADATA /
  PKG-INFO exists and whose Name and Version agree with the file name.  The project folder is
  the PEP 503 normalized name (`Dist.key`).
* `check_digests(dist, sha256_digest=..., blake2_256_digest=...)`: the digests a client sent
  (the legacy upload API's form fields) match the bytes.
* Names: a file is stored under the spelling the specifications give it
  (`indexer.model.canonical_filename`: "ACME.X-1.0.zip" -> "acme_x-1.0.zip"), so `Dist.filename`
  may differ from the name it came with (`Dist.given`).  Project names must be PEP 508 names in
  ASCII (`indexer.model.parse_filename`).
* `Uploader(client, bucket).upload(dist)` -> "uploaded" | "present" | "conflict" | "replaced":
  a conditional write (`If-None-Match: *`, or `If-Match: <etag>` for `--force`), so two
  publishers racing on one file name cannot both win and nothing is overwritten silently; an
  existing identical file (same SHA-256) is "already present", a different one a conflict.
  "The same file" means the same *identity* (`DistName.identity`: normalized name, version as
  PEP 440 compares it, build tag, tags or "sdist"), whatever the spelling: see "One file per
  identity" below.
  Each PUT carries the SHA-256 (`ChecksumSHA256`): S3 verifies the bytes and keeps the
  full-object checksum, which the indexer reuses instead of downloading the file.  S3 writes an
  object whole or not at all, so a failed upload leaves nothing half-written.

One file per identity.  `acme_x-1.0-py3-none-any.whl`, `ACME.X-1.0-py3-none-any.whl` and
`acme_x-1.0.0-py3-none-any.whl` are one file to an installer; so are any two sdists of a release.
Before writing, the core (1) lists the project's folder once and compares identities, which
catches files of any spelling already there (written before this rule, or with `aws s3 cp`);
then (2) *claims* the identity: a conditional PUT (`If-None-Match: *`) of `_claims/<project>~<hash
of the identity>`, whose body names the file and its SHA-256.  S3 lets exactly one conditional
create of a key succeed, so of two concurrent uploads of look-alikes (different keys, which a
conditional write on the file's key alone would not serialize) one gets the claim and the other
a 412, reads the claim, and answers "already present" (same bytes) or "conflict" without writing.
A distribution's key is only ever written by the holder of its identity's claim naming that key
and those bytes, so the core cannot write two files of one identity.  A claim is permanent, like
PyPI's rule that a file name is never reused: after a delete, the same bytes may come back, other
bytes may not (`--force`, an administrator's tool, replaces a file at its own key and its claim).
Claims live under `_claims/`, which the edge never serves (not a project name) and the indexer
never reads (no watched suffix).  An identity that may not list the bucket or write claims (an
IAM user limited to `*.whl` keys) still gets the conditional write on the key, without the
look-alike guards.

Docs: conditional writes, https://docs.aws.amazon.com/AmazonS3/latest/userguide/conditional-writes.html
(412 when the condition fails; 409 ConditionalRequestConflict when a concurrent conditional
write to the same key is in flight: retry); checksums,
https://docs.aws.amazon.com/AmazonS3/latest/userguide/checking-object-integrity.html.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import io
import json
import logging
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from botocore.exceptions import ClientError

from indexer.metadata import (
    MetadataError,
    check_agrees,
    parse_core_metadata,
    sdist_metadata,
    wheel_metadata,
)
from indexer.model import (
    DIST_SUFFIXES,
    BadFilename,
    DistName,
    canonical_filename,
    is_distribution,
    parse_filename,
)
from indexer.store import (
    IMMUTABLE,
    Bucket,
    error_code,
    head_sha256,
    is_not_found,
    is_precondition_failed,
    status_code,
)

logger = logging.getLogger("pypi_edge.publish")

# A single PUT keeps a *full-object* SHA-256 in S3; a multipart upload only gets a composite one
# (a hash of the parts' hashes, "…-N"), which pip's sha256 cannot use.  With a full-object
# checksum the indexer reads a wheel with one HEAD and a few ranged GETs of the zip's tail; without
# it, it must download and hash the whole file in the Lambda.  So a file goes as one PUT up to
# S3's single-PUT limit, 5 GiB, which covers every real wheel (even CUDA builds of torch, ~2.5 GB);
# only larger files go multipart.  The cost of a single PUT is that a dropped connection resends
# the whole file (botocore retries it, the body being a seekable file).
MULTIPART_THRESHOLD = 5 * 1024**3
PART_SIZE = 64 * 1024**2  # 10,000 parts x 64 MiB = 640 GiB, far past any distribution
PROGRESS_MIN_BYTES = 8 * 1024**2  # files smaller than this go up without a progress bar
HEAD_FIRST_BYTES = 8 * 1024**2  # larger files are looked for before they are sent
CHUNK = 1024 * 1024
PUT_ATTEMPTS = 5

CONTENT_TYPES = {".whl": "application/zip", ".zip": "application/zip", ".tar.gz": "application/gzip"}

UPLOADED, PRESENT, CONFLICT, REPLACED = "uploaded", "present", "conflict", "replaced"

# One small object per distribution identity (see "One file per identity" above).  Not a
# project name (PEP 508 names start with a letter or digit), so the edge never serves it, and
# one "/" deep, the `<prefix>/<name>` shape the upload role may write (infra/upload.py).
CLAIMS_PREFIX = "_claims/"
MAX_CLAIM_BYTES = 4096


def claim_key(name: DistName) -> str:
    digest = hashlib.sha256(name.identity.encode("utf-8")).hexdigest()[:40]
    return f"{CLAIMS_PREFIX}{name.project}~{digest}"


class PublishError(Exception):
    """A refusal with a one-line reason a user can act on (the CLI prints it, the endpoint sends it)."""


class InvalidDistribution(PublishError):
    """Not a distribution, or one whose metadata, name, version or digests do not agree."""


class ProjectClosed(PublishError):
    """PEP 792: the project is archived or quarantined, so it takes no new distributions."""


class Busy(PublishError):
    """The object kept changing while we tried to write it (several concurrent writers)."""


@dataclass(frozen=True)
class Dist:
    """A distribution that passed validation, backed by a file on disk or by bytes in memory."""

    filename: str  # the spelling it is stored under (`canonical_filename`)
    name: DistName
    size: int
    sha256: str  # hex
    path: Path | None = None
    data: bytes | None = None
    given: str = ""  # the file name it came with, when that is another spelling
    staged: Staged | None = None  # bytes already in the bucket, at a staging key (`validate_staged`)

    @property
    def shown(self) -> str:
        """How messages name it: as the publisher spelt it, and as it is stored when that differs."""
        if self.given and self.given != self.filename:
            return f"{self.given} (stored as {self.filename})"
        return self.filename

    @property
    def key(self) -> str:
        return f"{self.name.project}/{self.filename}"

    @property
    def checksum(self) -> str:
        """The SHA-256 as S3 wants it (base64)."""
        return base64.b64encode(bytes.fromhex(self.sha256)).decode()

    @property
    def content_type(self) -> str:
        return next(ct for suffix, ct in CONTENT_TYPES.items() if self.filename.endswith(suffix))

    def open(self) -> IO[bytes]:
        if self.data is not None:
            return io.BytesIO(self.data)
        assert self.path is not None
        return self.path.open("rb")


@dataclass(frozen=True)
class Staged:
    """A file a publisher PUT to a staging key with a presigned URL (upload/remote.py): the core
    publishes it with a server-side copy of exactly that object version (its ETag)."""

    key: str
    etag: str


class NotStaged(PublishError):
    """Nothing (any more) at the staging key: never PUT, already finished, or expired."""


def validate_staged(client: Any, bucket: str, key: str, filename: str, sha256: str) -> Dist:
    """The same checks for a file already in the bucket at a staging `key`, read by ranges.

    The bytes are those whose SHA-256 S3 verified when they arrived: the presigned PUT carried
    `x-amz-checksum-sha256` (signed in), S3 refuses a body that does not match it and keeps the
    full-object checksum ("Checking object integrity in Amazon S3", S3 User Guide), so comparing
    that checksum with `sha256` (hex) proves the staged bytes are the ones announced without
    reading them all.  A staged object without a full-object SHA-256, or with another one
    (replaced by someone else), is refused.  The archive is read through `RangeFile` (the zip's
    tail and METADATA; an sdist's first members), each range pinned to the ETag seen here.
    """
    from indexer.metadata import RangeFile

    label = shown(filename)
    try:
        head = client.head_object(Bucket=bucket, Key=key, ChecksumMode="ENABLED")
    except ClientError as exc:
        if is_not_found(exc):
            raise NotStaged(
                f"{label}: nothing is staged for it (never sent, already finished, or expired)"
            ) from exc
        raise
    if head_sha256(head) != sha256:
        raise InvalidDistribution(
            f"{label}: the staged bytes are not the ones announced (sha256 {sha256}); nothing was published"
        )
    etag = head["ETag"]

    def fetch(start: int, end: int) -> bytes:
        resp = client.get_object(Bucket=bucket, Key=key, Range=f"bytes={start}-{end}", IfMatch=etag)
        return resp["Body"].read()

    size = int(head["ContentLength"])
    try:
        name, canonical = _check(label, filename, RangeFile(size, fetch))
    except ClientError as exc:
        if is_precondition_failed(exc) or is_not_found(exc):
            raise InvalidDistribution(f"{label}: the staged file changed while it was checked") from exc
        raise
    return Dist(canonical, name, size, sha256, given=filename, staged=Staged(key, etag))


def _sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(CHUNK), b""):
            digest.update(chunk)
    return digest.hexdigest()


def check_filename(label: str, filename: str) -> tuple[DistName, str]:
    """(what the name says, the spelling to store it under), or InvalidDistribution.

    Only the name: the upload endpoint calls this first, to check the publish right on the
    project before it parses anything else a stranger sent (attestations, the archive).
    """
    if not filename.endswith(DIST_SUFFIXES):
        raise InvalidDistribution(f"{label}: not a distribution (expected a .whl, .tar.gz or .zip file)")
    try:
        name = parse_filename(filename)
        return name, canonical_filename(filename, name)
    except BadFilename as exc:
        raise InvalidDistribution(f"{label}: not a valid distribution file name ({exc})") from exc


def _check(label: str, filename: str, fh: IO[bytes]) -> tuple[DistName, str]:
    """The rules every published file meets; `label` prefixes each reason (a path or a file name)."""
    name, canonical = check_filename(label, filename)
    try:
        if name.kind == "wheel":
            raw = wheel_metadata(fh, name.project)
        else:
            raw = sdist_metadata(fh, zip_format=filename.endswith(".zip"))
    except MetadataError as exc:
        raise InvalidDistribution(f"{label}: not a distribution: {exc}") from exc
    try:
        check_agrees(parse_core_metadata(raw), name)  # the indexer applies the same rule
    except MetadataError as exc:
        raise InvalidDistribution(f"{label}: {exc}") from exc
    return name, canonical


def validate(path: Path) -> Dist:
    """Check that the file at `path` is a distribution whose metadata agrees with its file name."""
    with path.open("rb") as fh:
        name, canonical = _check(str(path), path.name, fh)
    return Dist(canonical, name, path.stat().st_size, _sha256_file(path), path=path, given=path.name)


def shown(filename: str) -> str:
    """A file name as a one-line message may quote it (control and non-ASCII characters escaped)."""
    return filename if filename.isascii() and filename.isprintable() else ascii(filename)[1:-1]


def validate_bytes(filename: str, data: bytes) -> Dist:
    """The same checks for a file held in memory (the upload endpoint)."""
    if "/" in filename or "\\" in filename:
        raise InvalidDistribution(f"{shown(filename)}: a file name cannot contain a path")
    name, canonical = _check(shown(filename), filename, io.BytesIO(data))
    return Dist(canonical, name, len(data), hashlib.sha256(data).hexdigest(), data=data, given=filename)


def check_digests(
    dist: Dist, *, sha256_digest: str | None = None, blake2_256_digest: str | None = None
) -> None:
    """The client's digests (hex, as twine/uv send them) must match the bytes that arrived."""
    if sha256_digest is not None and sha256_digest.strip().lower() != dist.sha256:
        raise InvalidDistribution(
            f"{dist.filename}: sha256_digest does not match the uploaded bytes (sha256 {dist.sha256})"
        )
    if blake2_256_digest is not None:
        with dist.open() as fh:
            blake2 = hashlib.blake2b(digest_size=32)
            for chunk in iter(lambda: fh.read(CHUNK), b""):
                blake2.update(chunk)
        if blake2_256_digest.strip().lower() != blake2.hexdigest():
            raise InvalidDistribution(f"{dist.filename}: blake2_256_digest does not match the uploaded bytes")


# --- progress ------------------------------------------------------------------------------


class _NoBar:
    n = 0

    def update(self, n: int) -> None:
        self.n += n

    def __enter__(self) -> _NoBar:
        return self

    def __exit__(self, *exc: object) -> None:
        return None


def progress_bar(total: int | None, desc: str, unit: str = "B", *, show: bool = True) -> Any:
    """A tqdm bar on stderr (hidden when stderr is not a terminal), or a no-op without tqdm.

    tqdm is imported only when a bar may show, so the upload function never loads it.
    """
    if not show:
        return _NoBar()
    from tqdm import tqdm

    return tqdm(
        total=total,
        desc=desc,
        unit=unit,
        unit_scale=unit == "B",
        unit_divisor=1024,
        file=sys.stderr,
        disable=None,  # only on a TTY
        leave=False,
        dynamic_ncols=True,
    )


class _ProgressReader:
    """A file body for botocore that moves a progress bar as it is sent, and only forwards.

    botocore reads a body more than once.  Over plain HTTP (the local stack, MinIO) SigV4 hashes
    the whole payload before the request goes out and seeks back (botocore.auth,
    S3SigV4Auth._should_sha256_sign_payload); a retry rewinds the body and sends it again.
    Counting every read made a large upload's bar run to the end while signing, then drop back
    (0 % → 65 % → 37 %).  So reads count only while the request is on the wire: `transferring`
    is switched off before the signer and on after it by the client's `request-created` handlers
    (`watch_transfers`, the way s3transfer's TransferManager does it), and the bar never moves
    back: after a rewind it waits until the resend passes the furthest point reached.
    """

    def __init__(self, fh: IO[bytes], bar: Any, base: int = 0) -> None:
        self._fh = fh
        self._bar = bar
        self._base = base  # where this body starts within the bar (multipart parts)
        self._start = fh.tell()
        self.transferring = False

    def read(self, size: int = -1) -> bytes:
        data = self._fh.read(size)
        if self.transferring:
            done = self._base + self._fh.tell() - self._start
            if done > self._bar.n:
                self._bar.update(done - self._bar.n)
        return data

    def seek(self, offset: int, whence: int = os.SEEK_SET) -> int:
        if whence == os.SEEK_SET:
            offset += self._start
        return self._fh.seek(offset, whence) - self._start

    def tell(self) -> int:
        return self._fh.tell() - self._start

    def seekable(self) -> bool:
        return True


def _not_transferring(request: Any, **_: Any) -> None:
    if isinstance(request.body, _ProgressReader):
        request.body.transferring = False


def _transferring(request: Any, **_: Any) -> None:
    if isinstance(request.body, _ProgressReader):
        request.body.transferring = True


def watch_transfers(client: Any) -> None:
    """Around the signer (a `request-created` handler too), mark our bodies as not being sent.

    Idempotent (unique ids), so every Uploader of a shared client may call it.
    """
    events = client.meta.events
    events.register_first("request-created.s3", _not_transferring, unique_id="pypi-edge-not-transferring")
    events.register_last("request-created.s3", _transferring, unique_id="pypi-edge-transferring")


class _Part:
    """One slice of a file, as a seekable stream (a multipart upload's part body)."""

    def __init__(self, path: Path, offset: int, length: int) -> None:
        self._fh = path.open("rb")
        self._offset = offset
        self._length = length
        self._fh.seek(offset)

    def read(self, size: int = -1) -> bytes:
        left = self._offset + self._length - self._fh.tell()
        return self._fh.read(left if size is None or size < 0 else min(size, left))

    def seek(self, offset: int, whence: int = os.SEEK_SET) -> int:
        base = {os.SEEK_SET: 0, os.SEEK_CUR: self.tell(), os.SEEK_END: self._length}[whence]
        self._fh.seek(self._offset + max(0, min(self._length, base + offset)))
        return self.tell()

    def tell(self) -> int:
        return self._fh.tell() - self._offset

    def seekable(self) -> bool:
        return True

    def close(self) -> None:
        self._fh.close()


# --- the conditional write -------------------------------------------------------------------


def _full_object_checksum(head: dict[str, Any]) -> bool:
    """Whether a HEAD's ChecksumSHA256 is the SHA-256 of the whole object.

    A multipart upload's is composite: S3 marks it with "-N" and ChecksumType COMPOSITE; its
    ETag ("md5-N") says so too, which also catches stores that omit both (moto).
    """
    value = head.get("ChecksumSHA256")
    return bool(
        value
        and "-" not in value
        and "-" not in head.get("ETag", "")
        and head.get("ChecksumType", "FULL_OBJECT") == "FULL_OBJECT"
    )


def is_denied(exc: ClientError) -> bool:
    return error_code(exc) in {"AccessDenied", "403", "Forbidden"} or status_code(exc) == 403


@dataclass(frozen=True)
class Holder:
    """The file that holds a distribution's identity when that is not the distribution itself."""

    key: str
    published: bool = True  # False: only a claim names it (an upload in flight, interrupted, or deleted)


def conflict_message(dist: Dist, holder: Holder) -> str:
    """Why `dist` is refused as a conflict: one line, the same on every path (PyPI's "File already
    exists" opening, which twine, uv and poetry recognise)."""
    if holder.key == dist.key:
        return (
            f"File already exists: {dist.shown} is published with different contents; "
            "a published file never changes, so bump the version"
        )
    other = holder.key.rpartition("/")[2]
    same = "the same file (name, version, build tag and tags, once normalized; one sdist per release)"
    if holder.published:
        return (
            f"File already exists: {dist.shown} is {same} as the published {other}, with different "
            "contents; a published file never changes, so bump the version"
        )
    return (
        f"File already exists: {dist.shown} is {same} as {other}, which an earlier upload claimed "
        f"and did not complete (or which was deleted); upload that exact file as {other}, or bump the version"
    )


def present_message(dist: Dist, holder: Holder) -> str:
    if holder.key == dist.key:
        return f"{dist.shown} is already published with identical contents"
    return f"{dist.shown} is already published as {holder.key.rpartition('/')[2]} with identical contents"


@dataclass(frozen=True)
class _Claim:
    filename: str
    sha256: str
    etag: str


class Uploader:
    def __init__(self, client: Any, bucket: str, *, force: bool = False, progress: bool = True) -> None:
        self.client = client
        self.bucket = bucket
        self.force = force
        self.progress = progress
        self._refusals: dict[str, str | None] = {}
        # project -> identity -> keys of the distributions in its folder (one listing per project)
        self._listings: dict[str, dict[str, list[str]] | None] = {}
        self.holders: dict[str, Holder] = {}  # dist.key -> the other file, for PRESENT / CONFLICT
        if progress:
            watch_transfers(client)

    def refusal(self, project: str) -> str | None:
        """Why `project` takes no uploads now (PEP 792 status), or None; read once per Uploader."""
        if project not in self._refusals:
            from indexer.status import upload_refusal

            try:
                self._refusals[project] = upload_refusal(Bucket(self.client, self.bucket), project)
            except ClientError as exc:
                if not is_denied(exc):
                    raise
                # An identity that may only PutObject cannot read the marker; the indexer still
                # leaves files written after the project closed off its pages (indexer.status).
                self._refusals[project] = None
        return self._refusals[project]

    def upload(self, dist: Dist) -> str:
        """Send one file; returns UPLOADED, PRESENT, REPLACED or CONFLICT.

        Raises ProjectClosed for an archived or quarantined project (every publishing path
        comes through here, so this is the one place that rule lives).  For PRESENT and
        CONFLICT caused by another spelling of the same file, `holders[dist.key]` names it.
        """
        refused = self.refusal(dist.name.project)
        if refused:
            raise ProjectClosed(refused)
        holder = self.holder(dist)
        if holder is not None:
            return self._compare(dist, holder)
        listing = self._listing(dist.name.project)
        if_match: str | None = None  # None: only if absent; an ETag: only over exactly that object
        here = listing is not None and dist.key in listing.get(dist.name.identity, ())
        if here or (listing is None and dist.size >= HEAD_FIRST_BYTES):
            # The key is taken (or, unlisted, a large file may be): compare before sending, which
            # also spares re-sending a large file that is already there (a re-run CI job).
            try:
                verdict, if_match = self._verdict(dist)
            except ClientError as exc:
                if not is_denied(exc):
                    raise
                verdict = "absent"  # an identity that may only PutObject: let the PUT decide
            if verdict in {PRESENT, CONFLICT}:
                return verdict
        claimed = self._claim(dist)
        if claimed is not None:
            return claimed
        for attempt in range(PUT_ATTEMPTS):
            try:
                self._send(dist, if_match)
                if listing is not None:
                    listing.setdefault(dist.name.identity, []).append(dist.key)
                return REPLACED if if_match else UPLOADED
            except ClientError as exc:
                if not is_precondition_failed(exc):
                    raise
                if error_code(exc) == "ConditionalRequestConflict" or status_code(exc) == 409:
                    time.sleep(0.2 * 2**attempt)  # another conditional write to this key is in flight
                    continue
            verdict, if_match = self._verdict(dist)  # 412: something is there now
            if verdict in {PRESENT, CONFLICT}:
                return verdict
        raise Busy(f"{dist.filename}: the object keeps changing while we upload it; try again")

    # --- one file per identity ---------------------------------------------------------------

    def _listing(self, project: str) -> dict[str, list[str]] | None:
        """identity -> keys of the distributions in `project`'s folder, listed once per Uploader
        (S3 lists are strongly consistent); None for an identity that may not list the bucket."""
        if project not in self._listings:
            found: dict[str, list[str]] | None = {}
            prefix = f"{project}/"
            try:
                for obj in Bucket(self.client, self.bucket).list(prefix):
                    name = obj.key[len(prefix) :]
                    if "/" in name or not is_distribution(name):
                        continue
                    with contextlib.suppress(BadFilename):
                        found.setdefault(parse_filename(name).identity, []).append(obj.key)  # type: ignore[union-attr]
            except ClientError as exc:
                if not is_denied(exc):
                    raise
                found = None
            self._listings[project] = found
        return self._listings[project]

    def find(self, filename: str) -> str | None:
        """The key that holds `filename`'s identity in the bucket (its own spelling first), or
        None; raises InvalidDistribution for a name the core would refuse.  For the mirror, which
        knows upstream's file name and sha256 before it downloads anything."""
        name, canonical = check_filename(shown(filename), filename)
        own = f"{name.project}/{canonical}"
        listing = self._listing(name.project)
        if listing is None:
            return own  # cannot list: the caller looks at the key itself
        keys = listing.get(name.identity, [])
        return own if own in keys else min(keys, default=None)

    def held_by(self, dist: Dist) -> Holder:
        """After PRESENT or CONFLICT: the file that holds `dist`'s identity (its own key, or another)."""
        return self.holders.get(dist.key, Holder(dist.key))

    def holder(self, dist: Dist) -> Holder | None:
        """A file of another spelling that holds `dist`'s identity in the bucket, if any."""
        listing = self._listing(dist.name.project) or {}
        others = sorted(k for k in listing.get(dist.name.identity, ()) if k != dist.key)
        return Holder(others[0]) if others else None

    def _compare(self, dist: Dist, holder: Holder) -> str:
        """PRESENT when the holder has dist's bytes, else CONFLICT (never written over: it is
        another key, and `--force` replaces only a file under its own name)."""
        self.holders[dist.key] = holder
        existing = None
        if holder.published:
            try:
                existing = self.existing_sha256(holder.key)
            except ClientError as exc:
                # A HEAD of a missing key is a 403, not a 404, for an identity that may not list
                # the whole bucket (S3 API reference, HeadObject, "Permissions").
                if not is_denied(exc):
                    raise
        if existing is None:
            self.holders[dist.key] = Holder(holder.key, published=False)
        return PRESENT if existing is not None and existing[0] == dist.sha256 else CONFLICT

    def _claim(self, dist: Dist) -> str | None:
        """Take the identity's claim; None when `dist` holds it now, else PRESENT / CONFLICT."""
        key = claim_key(dist.name)
        body = json.dumps(
            {"filename": dist.filename, "sha256": dist.sha256, "identity": dist.name.identity},
            sort_keys=True,
        ).encode()
        condition: dict[str, str] = {"IfNoneMatch": "*"}
        for attempt in range(PUT_ATTEMPTS):
            try:
                self.client.put_object(
                    Bucket=self.bucket, Key=key, Body=body, ContentType="application/json", **condition
                )
                return None
            except ClientError as exc:
                if is_denied(exc):
                    logger.warning("may not write %s: publishing without the identity claim", key)
                    return None
                if not is_precondition_failed(exc):
                    raise
                if error_code(exc) == "ConditionalRequestConflict" or status_code(exc) == 409:
                    time.sleep(0.2 * 2**attempt)  # the other writer's claim is in flight
                    continue
            claim = self._read_claim(key)
            if claim is None:
                condition = {"IfNoneMatch": "*"}  # removed meanwhile: claim it afresh
                continue
            if (claim.filename, claim.sha256) == (dist.filename, dist.sha256):
                return None  # ours: a retry, or an identical upload racing us (the file's PUT decides)
            if self.force and claim.filename == dist.filename:
                condition = {"IfMatch": claim.etag}  # --force replaces the file and its claim
                continue
            return self._compare(dist, Holder(f"{dist.name.project}/{claim.filename}"))
        raise Busy(f"{dist.filename}: its claim keeps changing while we upload it; try again")

    def _read_claim(self, key: str) -> _Claim | None:
        try:
            resp = self.client.get_object(Bucket=self.bucket, Key=key)
        except ClientError as exc:
            if is_not_found(exc):
                return None
            raise
        try:
            doc = json.loads(resp["Body"].read(MAX_CLAIM_BYTES))
            return _Claim(str(doc["filename"]), str(doc["sha256"]), resp["ETag"])
        except (ValueError, KeyError, TypeError):
            # Not ours (written by hand?): it still holds the identity; name it in the refusal.
            return _Claim(key, "", resp["ETag"])

    def _verdict(self, dist: Dist) -> tuple[str, str | None]:
        """("absent" | PRESENT | CONFLICT | "replace", the ETag to replace) for dist's key."""
        existing = self.existing_sha256(dist.key)
        if existing is None:
            return "absent", None
        sha256, etag = existing
        if sha256 == dist.sha256:
            return PRESENT, None
        if self.force:
            return "replace", etag
        return CONFLICT, None

    def existing_sha256(self, key: str) -> tuple[str, str] | None:
        """(sha256 hex, ETag) of the object now at key, or None when there is none."""
        try:
            head = self.client.head_object(Bucket=self.bucket, Key=key, ChecksumMode="ENABLED")
        except ClientError as exc:
            if is_not_found(exc):
                return None
            raise
        if _full_object_checksum(head):
            return base64.b64decode(head["ChecksumSHA256"]).hex(), head["ETag"]
        # Uploaded without a SHA-256 (aws s3 cp, s3pypi) or in parts: read it and hash it.
        try:
            resp = self.client.get_object(Bucket=self.bucket, Key=key, IfMatch=head["ETag"])
        except ClientError as exc:
            if is_not_found(exc) or is_precondition_failed(exc):
                return None  # changed meanwhile; the caller tries its write again
            raise
        digest = hashlib.sha256()
        size = int(resp.get("ContentLength", 0))
        show = self.progress and size >= PROGRESS_MIN_BYTES
        with progress_bar(size, f"checking {key}", show=show) as bar:
            for chunk in iter(lambda: resp["Body"].read(CHUNK), b""):
                digest.update(chunk)
                bar.update(len(chunk))
        return digest.hexdigest(), resp["ETag"]

    def _send(self, dist: Dist, if_match: str | None) -> None:
        condition = {"IfMatch": if_match} if if_match else {"IfNoneMatch": "*"}
        if dist.staged is not None:
            self._copy_staged(dist, dist.staged, condition)
            return
        show = self.progress and dist.size >= PROGRESS_MIN_BYTES
        with progress_bar(dist.size, dist.filename, show=show) as bar:
            if dist.size > MULTIPART_THRESHOLD and dist.path is not None:
                self._send_multipart(dist, dist.path, condition, bar)
                return
            with dist.open() as fh:
                self.client.put_object(
                    Bucket=self.bucket,
                    Key=dist.key,
                    Body=_ProgressReader(fh, bar),
                    ContentLength=dist.size,
                    ContentType=dist.content_type,
                    CacheControl=IMMUTABLE,
                    ChecksumAlgorithm="SHA256",
                    ChecksumSHA256=dist.checksum,
                    **condition,
                )

    def _copy_staged(self, dist: Dist, staged: Staged, condition: dict[str, str]) -> None:
        """A server-side copy of exactly the validated version of the staged object (its ETag,
        `x-amz-copy-source-if-match`), conditional on the destination like a PUT (CopyObject takes
        `If-None-Match: *`, S3 API reference "CopyObject"; 412 if the key exists).  S3 computes
        the copy's own full-object SHA-256 (`x-amz-checksum-algorithm`).  One CopyObject copies
        up to 5 GB ("Copying objects", S3 User Guide), which is why staging stops at 5 GiB."""
        self.client.copy_object(
            Bucket=self.bucket,
            Key=dist.key,
            CopySource={"Bucket": self.bucket, "Key": staged.key},
            CopySourceIfMatch=staged.etag,
            MetadataDirective="REPLACE",
            ContentType=dist.content_type,
            CacheControl=IMMUTABLE,
            ChecksumAlgorithm="SHA256",
            **condition,
        )

    def _send_multipart(self, dist: Dist, path: Path, condition: dict[str, str], bar: Any) -> None:
        upload_id = self.client.create_multipart_upload(
            Bucket=self.bucket,
            Key=dist.key,
            ContentType=dist.content_type,
            CacheControl=IMMUTABLE,
            ChecksumAlgorithm="SHA256",
        )["UploadId"]
        try:
            parts = []
            for number, offset in enumerate(range(0, dist.size, PART_SIZE), start=1):
                length = min(PART_SIZE, dist.size - offset)
                part = _Part(path, offset, length)
                try:
                    digest = hashlib.sha256()
                    for chunk in iter(lambda p=part: p.read(CHUNK), b""):
                        digest.update(chunk)
                    part.seek(0)
                    checksum = base64.b64encode(digest.digest()).decode()
                    resp = self.client.upload_part(
                        Bucket=self.bucket,
                        Key=dist.key,
                        UploadId=upload_id,
                        PartNumber=number,
                        Body=_ProgressReader(part, bar, base=offset),  # type: ignore[arg-type]
                        ContentLength=length,
                        ChecksumAlgorithm="SHA256",
                        ChecksumSHA256=checksum,
                    )
                finally:
                    part.close()
                parts.append({"PartNumber": number, "ETag": resp["ETag"], "ChecksumSHA256": checksum})
            self.client.complete_multipart_upload(
                Bucket=self.bucket,
                Key=dist.key,
                UploadId=upload_id,
                MultipartUpload={"Parts": parts},
                **condition,
            )
        except BaseException:
            # If this fails too, the bucket's lifecycle rule for incomplete uploads cleans up.
            with contextlib.suppress(Exception):
                self.client.abort_multipart_upload(Bucket=self.bucket, Key=dist.key, UploadId=upload_id)
            raise
