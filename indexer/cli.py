"""The publisher CLI: `python -m indexer <command> --bucket B` (also installed as `pypi-edge`).

    upload DIST...                      wheels and sdists; validated first, never overwritten
    yank PROJECT VERSION [--reason T]   write the `<file>.yanked` markers (PEP 592)
    unyank PROJECT VERSION              remove them
    delete PROJECT VERSION [--yes]      remove a version's files, markers and metadata
    reindex [--project P ...]           rebuild pages directly from the bucket (no queue)
    list [PROJECT]                      what is published, read from the index JSON

Uploads are conditional writes (`If-None-Match: *`), so two publishers racing on one file name
cannot both win and nothing is overwritten silently: an existing identical file (same SHA-256) is
"already present", a different one is a conflict unless `--force` (the bucket's versioning keeps
the old bytes).  Each file carries its SHA-256 (`ChecksumSHA256`): S3 verifies the bytes and keeps
the full-object checksum, which the indexer reuses instead of downloading the file.

Errors a user can act on are one line on stderr (`error: ...`), never a traceback; exit codes are
EXIT_CONFLICT (1), EXIT_USAGE (2) and EXIT_AWS (3).
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import glob
import hashlib
import os
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError, PartialCredentialsError
from packaging.utils import canonicalize_name
from packaging.version import InvalidVersion, Version

from indexer.metadata import MetadataError, parse_core_metadata, sdist_metadata, wheel_metadata
from indexer.model import (
    DIST_SUFFIXES,
    METADATA_SUFFIX,
    YANKED_SUFFIX,
    BadFilename,
    DistName,
    is_distribution,
    parse_filename,
)
from indexer.store import (
    IMMUTABLE,
    METADATA,
    Bucket,
    error_code,
    is_not_found,
    is_precondition_failed,
    status_code,
)

PROG = "pypi-edge"
ENV_BUCKET = "PYPI_EDGE_BUCKET"

EXIT_OK = 0
EXIT_CONFLICT = 1  # conflict, validation, nothing to act on, declined
EXIT_USAGE = 2  # bad arguments, missing files, refused to delete without confirmation
EXIT_AWS = 3  # credentials, bucket, permissions, network
EXIT_INTERRUPTED = 130

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
MARKER_CONTENT_TYPE = METADATA  # text/plain; charset=utf-8
PAGES_NOTE = "The index pages update within seconds (the bucket's S3 notification runs the indexer)."


class CliError(Exception):
    """A problem the user can act on: printed as one `error:` line, mapped to an exit code."""

    def __init__(self, message: str, code: int = EXIT_CONFLICT) -> None:
        super().__init__(message)
        self.code = code


# --- output ----------------------------------------------------------------------------------


def _out(message: str = "") -> None:
    print(message, file=sys.stdout, flush=True)


def _err(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


class _Stderr:
    """sys.stderr as it is at write time (the indexer's logger outlives redirections in tests)."""

    def write(self, text: str) -> int:
        return sys.stderr.write(text)

    def flush(self) -> None:
        sys.stderr.flush()


def _quiet_indexer_logs() -> None:
    # The Lambda logs JSON lines to stdout at INFO; a CLI keeps stdout for its own output.
    from indexer.log import logger

    logger.setLevel(os.environ.get("PYPI_EDGE_LOG_LEVEL", "WARNING"))
    for handler in logger.handlers:
        if hasattr(handler, "setStream"):
            handler.setStream(_Stderr())


def _bar(total: int | None, desc: str, unit: str = "B", *, show: bool = True) -> Any:
    """A tqdm bar on stderr (hidden when stderr is not a terminal), or a no-op."""
    from tqdm import tqdm

    return tqdm(
        total=total,
        desc=desc,
        unit=unit,
        unit_scale=unit == "B",
        unit_divisor=1024,
        file=sys.stderr,
        disable=None if show else True,  # None: only on a TTY
        leave=False,
        dynamic_ncols=True,
    )


# --- AWS -------------------------------------------------------------------------------------


def make_client(args: argparse.Namespace) -> Any:
    import boto3
    from botocore.config import Config

    session = boto3.Session(profile_name=args.profile, region_name=args.region)
    config = Config(
        retries={"max_attempts": 5, "mode": "standard"},
        # A custom endpoint (the local stack, MinIO) has no per-bucket DNS names.
        s3={"addressing_style": "path"} if args.endpoint_url else None,
    )
    return session.client("s3", endpoint_url=args.endpoint_url, config=config)


_ACCESS_HINTS = {
    "InvalidAccessKeyId": "the AWS access key id is not known to S3 (check your credentials or --profile)",
    "SignatureDoesNotMatch": "S3 rejected the request signature: the AWS secret key is wrong",
    "ExpiredToken": "the AWS session token has expired: log in again (e.g. `aws sso login`)",
    "TokenRefreshRequired": "the AWS session token has expired: log in again (e.g. `aws sso login`)",
}


def aws_error(exc: Exception, bucket: str) -> CliError:
    """One actionable line for an AWS failure."""
    if isinstance(exc, NoCredentialsError | PartialCredentialsError):
        return CliError(
            "no AWS credentials found: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, "
            "pass --profile, or run `aws configure` / `aws sso login`",
            EXIT_AWS,
        )
    if isinstance(exc, ClientError):
        code, status, op = error_code(exc), status_code(exc), exc.operation_name
        if code == "NoSuchBucket":
            return CliError(
                f"bucket {bucket!r} does not exist (check --bucket / ${ENV_BUCKET}, and --endpoint-url)",
                EXIT_AWS,
            )
        if code in _ACCESS_HINTS:
            return CliError(_ACCESS_HINTS[code], EXIT_AWS)
        if code in {"AccessDenied", "AllAccessDisabled", "403", "Forbidden"} or status == 403:
            return CliError(
                f"access denied by S3 for {op} on bucket {bucket!r}: your AWS identity needs "
                "s3:ListBucket, s3:GetObject, s3:PutObject (and s3:DeleteObject for unyank/delete)",
                EXIT_AWS,
            )
        message = exc.response.get("Error", {}).get("Message") or status or ""
        return CliError(f"S3 {op} failed: {code or status} {message}".rstrip(), EXIT_AWS)
    if isinstance(exc, BotoCoreError):
        return CliError(f"AWS: {exc}", EXIT_AWS)
    return CliError(str(exc), EXIT_AWS)


def _is_denied(exc: ClientError) -> bool:
    return error_code(exc) in {"AccessDenied", "403", "Forbidden"} or status_code(exc) == 403


# --- upload ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Dist:
    """A local distribution that passed validation."""

    path: Path
    filename: str
    name: DistName
    size: int
    sha256: str  # hex

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


def expand(patterns: list[str]) -> list[Path]:
    """Files named on the command line, globs expanded (for shells that do not)."""
    paths: list[Path] = []
    for pattern in patterns:
        if Path(pattern).is_file():
            paths.append(Path(pattern))
            continue
        if glob.has_magic(pattern):
            matches = sorted(Path(p) for p in glob.glob(pattern) if Path(p).is_file())
            if not matches:
                raise CliError(f"no file matches {pattern!r}", EXIT_USAGE)
            paths.extend(matches)
            continue
        if Path(pattern).is_dir():
            raise CliError(f"{pattern} is a directory (did you mean {pattern.rstrip('/')}/*?)", EXIT_USAGE)
        raise CliError(f"{pattern}: no such file", EXIT_USAGE)
    return paths


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(CHUNK), b""):
            digest.update(chunk)
    return digest.hexdigest()


def validate(path: Path) -> Dist:
    """Check that `path` is a distribution whose metadata agrees with its file name."""
    filename = path.name
    if not filename.endswith(DIST_SUFFIXES):
        raise CliError(f"{path}: not a distribution (expected a .whl, .tar.gz or .zip file)")
    try:
        name = parse_filename(filename)
    except BadFilename as exc:
        raise CliError(f"{path}: not a valid distribution file name ({exc})") from exc
    what = "METADATA" if name.kind == "wheel" else "PKG-INFO"
    try:
        with path.open("rb") as fh:
            if name.kind == "wheel":
                raw = wheel_metadata(fh, name.project)
            else:
                raw = sdist_metadata(fh, zip_format=filename.endswith(".zip"))
    except MetadataError as exc:
        raise CliError(f"{path}: not a distribution: {exc}") from exc
    meta = parse_core_metadata(raw)
    if not meta.name or not meta.version:
        raise CliError(f"{path}: its {what} has no Name or no Version")
    if canonicalize_name(meta.name) != name.project:
        raise CliError(
            f"{path}: name mismatch: the file name says {name.project!r}, its {what} says Name: {meta.name}"
        )
    try:
        meta_version = Version(meta.version)
    except InvalidVersion as exc:
        raise CliError(f"{path}: its {what} has an invalid Version: {meta.version}") from exc
    if meta_version != name.version:
        raise CliError(
            f"{path}: version mismatch: the file name says {name.version}, "
            f"its {what} says Version: {meta.version}"
        )
    return Dist(path, filename, name, path.stat().st_size, _sha256(path))


def validate_all(paths: list[Path]) -> list[Dist]:
    """Every file checked before any is sent; the same file name twice must be the same bytes."""
    dists: dict[str, Dist] = {}
    for path in paths:
        dist = validate(path)
        seen = dists.get(dist.filename)
        if seen is not None and seen.sha256 != dist.sha256:
            raise CliError(f"{seen.path} and {path} have the same file name but different contents")
        dists.setdefault(dist.filename, dist)
    return list(dists.values())


class _ProgressReader:
    """A file body for botocore that moves a progress bar as it is read (and rewound on retry)."""

    def __init__(self, fh: IO[bytes], bar: Any, base: int = 0) -> None:
        self._fh = fh
        self._bar = bar
        self._base = base  # where this body starts within the bar (multipart parts)
        self._start = fh.tell()

    def read(self, size: int = -1) -> bytes:
        data = self._fh.read(size)
        done = self._base + self._fh.tell() - self._start
        if done != self._bar.n:
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


class Uploader:
    def __init__(self, client: Any, bucket: str, *, force: bool = False, progress: bool = True) -> None:
        self.client = client
        self.bucket = bucket
        self.force = force
        self.progress = progress

    def upload(self, dist: Dist) -> str:
        """Send one file; returns "uploaded", "present", "replaced" or "conflict"."""
        if_match: str | None = None  # None: only if absent; an ETag: only over exactly that object
        if dist.size >= HEAD_FIRST_BYTES:
            # Not for safety (the conditional PUT is what decides) but to spare re-sending a large
            # file that is already there, e.g. when a CI job is re-run.
            try:
                verdict, if_match = self._verdict(dist)
            except ClientError as exc:
                if not _is_denied(exc):
                    raise
                verdict = "absent"  # an identity that may only PutObject: let the PUT decide
            if verdict in {"present", "conflict"}:
                return verdict
        for attempt in range(PUT_ATTEMPTS):
            try:
                self._send(dist, if_match)
                return "replaced" if if_match else "uploaded"
            except ClientError as exc:
                if not is_precondition_failed(exc):
                    raise
                if error_code(exc) == "ConditionalRequestConflict" or status_code(exc) == 409:
                    time.sleep(0.2 * 2**attempt)  # another conditional write to this key is in flight
                    continue
            verdict, if_match = self._verdict(dist)  # 412: something is there now
            if verdict in {"present", "conflict"}:
                return verdict
        raise CliError(f"{dist.filename}: the object keeps changing while we upload it; try again")

    def _verdict(self, dist: Dist) -> tuple[str, str | None]:
        """("absent" | "present" | "conflict" | "replace", the ETag to replace) for dist's key."""
        existing = self.existing_sha256(dist.key)
        if existing is None:
            return "absent", None
        sha256, etag = existing
        if sha256 == dist.sha256:
            return "present", None
        if self.force:
            return "replace", etag
        return "conflict", None

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
        with _bar(size, f"checking {key}", show=self.progress and size >= PROGRESS_MIN_BYTES) as bar:
            for chunk in iter(lambda: resp["Body"].read(CHUNK), b""):
                digest.update(chunk)
                bar.update(len(chunk))
        return digest.hexdigest(), resp["ETag"]

    def _send(self, dist: Dist, if_match: str | None) -> None:
        condition = {"IfMatch": if_match} if if_match else {"IfNoneMatch": "*"}
        show = self.progress and dist.size >= PROGRESS_MIN_BYTES
        with _bar(dist.size, dist.filename, show=show) as bar:
            if dist.size > MULTIPART_THRESHOLD:
                self._send_multipart(dist, condition, bar)
                return
            with dist.path.open("rb") as fh:
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

    def _send_multipart(self, dist: Dist, condition: dict[str, str], bar: Any) -> None:
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
                part = _Part(dist.path, offset, length)
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


def cmd_upload(args: argparse.Namespace, client_factory: Callable[[], Any]) -> int:
    dists = validate_all(expand(args.dists))
    client = client_factory()
    uploader = Uploader(client, args.bucket, force=args.force, progress=not args.no_progress)
    outcomes: dict[str, list[Dist]] = {"uploaded": [], "replaced": [], "present": [], "conflict": []}
    for dist in dists:
        outcome = uploader.upload(dist)
        outcomes[outcome].append(dist)
        target = f"s3://{args.bucket}/{dist.key}"
        if outcome == "uploaded":
            _out(f"uploaded         {target} ({_size(dist.size)})")
        elif outcome == "replaced":
            _out(f"replaced         {target} (--force; bucket versioning keeps the previous bytes)")
        elif outcome == "present":
            _out(f"already present  {target} (identical, sha256 {dist.sha256[:12]}…)")
        else:
            _err(
                f"error: {dist.filename}: a different file with this name is already published "
                f"at {target}; bump the version, or pass --force to replace it"
            )
    counts = ", ".join(f"{len(v)} {k}" for k, v in outcomes.items() if v)
    _out(f"{len(dists)} file(s): {counts}.")
    sent = outcomes["uploaded"] + outcomes["replaced"]
    if sent:
        _finish(args, client, {d.name.project for d in sent})
    return EXIT_CONFLICT if outcomes["conflict"] else EXIT_OK


def _size(n: int) -> str:
    from indexer.render import filesize

    return filesize(n)


def _finish(args: argparse.Namespace, client: Any, projects: set[str]) -> None:
    """After a change: rebuild now when asked, else say when the pages will show it."""
    if getattr(args, "reindex", False):
        from indexer.build import Indexer

        for project in sorted(projects):
            Indexer(Bucket(client, args.bucket)).rebuild(project)
        _out(f"Rebuilt the pages of {', '.join(sorted(projects))}.")
    else:
        _out(PAGES_NOTE)


# --- yank, unyank, delete --------------------------------------------------------------------


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


def _parse_version(text: str) -> Version:
    try:
        return Version(text)
    except InvalidVersion as exc:
        raise CliError(f"{text!r} is not a valid version (PEP 440)", EXIT_USAGE) from exc


def find_release(client: Any, bucket: str, project_arg: str, version_arg: str) -> Release:
    """A version's distribution files, found by listing `<project>/` and parsing the names."""
    project = canonicalize_name(project_arg)
    version = _parse_version(version_arg)
    prefix = f"{project}/"
    files: list[str] = []
    others: set[str] = set()
    versions: set[Version] = set()
    for obj in Bucket(client, bucket).list(prefix):
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
            raise CliError(f"{project} has no files for version {version} (it has: {listed})")
        raise CliError(f"no project {project!r} in bucket {bucket!r}")
    return Release(project, version, sorted(files), others)


def cmd_yank(args: argparse.Namespace, client_factory: Callable[[], Any]) -> int:
    client = client_factory()
    release = find_release(client, args.bucket, args.project, args.version)
    reason = " ".join((args.reason or "").split())
    bucket = Bucket(client, args.bucket)
    changed = 0
    for key in release.files:
        marker = release.marker(key)
        if marker in release.others:
            got = bucket.get_bytes(marker)
            if got is not None and got[0].decode("utf-8", "replace").strip() == reason:
                _out(f"already yanked   {key}")
                continue
        bucket.put(marker, reason.encode("utf-8"), MARKER_CONTENT_TYPE, bucket.page_cache_control)
        changed += 1
        _out(f"yanked           {key}")
    why = f" (reason: {reason})" if reason else ""
    _out(f"Yanked {release}: {len(release.files)} file(s){why}.")
    if changed:
        _finish(args, client, {release.project})
    return EXIT_OK


def cmd_unyank(args: argparse.Namespace, client_factory: Callable[[], Any]) -> int:
    client = client_factory()
    release = find_release(client, args.bucket, args.project, args.version)
    bucket = Bucket(client, args.bucket)
    markers = [release.marker(k) for k in release.files if release.marker(k) in release.others]
    if not markers:
        _out(f"{release} is not yanked; nothing to do.")
        return EXIT_OK
    for marker in markers:
        bucket.delete(marker)
        _out(f"unyanked         {marker.removesuffix(YANKED_SUFFIX)}")
    _out(f"Unyanked {release}: {len(markers)} file(s).")
    _finish(args, client, {release.project})
    return EXIT_OK


def _confirm(question: str) -> bool:
    stdin = sys.stdin
    if stdin is None or not stdin.isatty():
        raise CliError(
            "refusing to delete without confirmation: stdin is not a terminal; pass --yes", EXIT_USAGE
        )
    print(f"{question} [y/N] ", end="", file=sys.stderr, flush=True)
    answer = stdin.readline()
    return answer.strip().lower() in {"y", "yes"}


def cmd_delete(args: argparse.Namespace, client_factory: Callable[[], Any]) -> int:
    client = client_factory()
    release = find_release(client, args.bucket, args.project, args.version)
    extra = [
        key + suffix
        for key in release.files
        for suffix in (YANKED_SUFFIX, METADATA_SUFFIX)
        if key + suffix in release.others
    ]
    names = "\n".join(f"  {k}" for k in release.files)
    if not args.yes:
        _err(f"This deletes {len(release.files)} file(s) of {release} from s3://{args.bucket}:\n{names}")
        if not _confirm(f"Delete {release}?"):
            _err("error: not deleted")
            return EXIT_CONFLICT
    bucket = Bucket(client, args.bucket)
    # Distributions first: each removal makes the indexer drop the file and its .metadata.
    for key in [*release.files, *extra]:
        bucket.delete(key)
        _out(f"deleted          {key}")
    _out(
        f"Deleted {release}: {len(release.files)} file(s) "
        "(with bucket versioning, the bytes remain as noncurrent versions)."
    )
    _finish(args, client, {release.project})
    return EXIT_OK


# --- reindex, list ---------------------------------------------------------------------------


def cmd_reindex(args: argparse.Namespace, client_factory: Callable[[], Any]) -> int:
    from indexer.build import Indexer

    client = client_factory()
    projects = [canonicalize_name(p) for p in args.project] if args.project else None
    with _bar(
        len(projects) if projects else None, "reindex", unit=" project", show=not args.no_progress
    ) as bar:
        results = Indexer(Bucket(client, args.bucket)).reindex(projects=projects, progress=bar.update)
    failed = [r for r in results if r.error is not None]
    done = [r for r in results if r.error is None]
    live = [r for r in done if r.detail is not None]
    for r in done:
        if r.detail is None:
            _out(f"{r.project}: no distributions; its pages were removed")
    files = sum(len(r.detail.files) for r in live if r.detail)
    _out(f"Reindexed {len(done)} project(s) in s3://{args.bucket}: {len(live)} with {files} file(s).")
    # The others went on and the root was written; the ones that failed are named, and the
    # exit code says the run was incomplete (run it again, or with --project, once fixed).
    for r in failed:
        _err(f"error: {r.project}: not reindexed, its pages are unchanged: {r.error}")
    if failed:
        _err(f"error: {len(failed)} project(s) could not be reindexed")
        return EXIT_CONFLICT
    return EXIT_OK


def _release_rows(doc: dict[str, Any]) -> Iterator[tuple[Version, list[dict[str, Any]]]]:
    from indexer.render import parse_project_json

    known, _serial = parse_project_json(doc)
    by_version: dict[Version, list[dict[str, Any]]] = {}
    for filename, f in known.items():
        try:
            version = parse_filename(filename).version
        except BadFilename:
            continue
        by_version.setdefault(version, []).append(
            {"filename": filename, "size": f.size, "yanked": f.yanked, "sha256": f.sha256}
        )
    for version in sorted(by_version, reverse=True):
        yield (
            version,
            sorted(by_version[version], key=lambda r: (not r["filename"].endswith(".whl"), r["filename"])),
        )


def cmd_list(args: argparse.Namespace, client_factory: Callable[[], Any]) -> int:
    from indexer.render import parse_root_json

    client = client_factory()
    if not args.project:
        doc = Bucket(client, args.bucket).get_json("index.json")[0]
        if doc is None:
            _out(
                f"No index in s3://{args.bucket} yet: nothing published, or files were copied in "
                f"without the indexer (run `{PROG} reindex`)."
            )
            return EXIT_OK
        projects = parse_root_json(doc).live
        width = max([len(p.name) for p in projects] + [7])
        _out(f"{'PROJECT':<{width}}  {'LATEST':<12}  SUMMARY")
        for p in projects:
            _out(f"{p.name:<{width}}  {p.latest:<12}  {p.summary}".rstrip())
        _out(f"{len(projects)} project(s).")
        return EXIT_OK
    project = canonicalize_name(args.project)
    doc = Bucket(client, args.bucket).get_json(f"{project}/index.json")[0]
    if doc is None:
        raise CliError(f"no project {project!r} in the index of bucket {args.bucket!r}")
    rows = list(_release_rows(doc))
    _out(f"{project}: {len(rows)} version(s)")
    for version, files in rows:
        yanked = [f["yanked"] for f in files if f["yanked"] is not None]
        state = ""
        if yanked and len(yanked) == len(files):
            state = f"  yanked: {yanked[0]}" if yanked[0] else "  yanked"
        _out(f"  {version}{state}")
        width = max(len(f["filename"]) for f in files)
        for f in files:
            note = ""
            if f["yanked"] is not None and not state:
                note = f"  yanked: {f['yanked']}" if f["yanked"] else "  yanked"
            _out(f"    {f['filename']:<{width}}  {_size(f['size']):>10}{note}")
    return EXIT_OK


# --- the command line ------------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    aws = common.add_argument_group("bucket and AWS")
    aws.add_argument(
        "--bucket",
        default=os.environ.get(ENV_BUCKET),
        help=f"the index's S3 bucket (default: ${ENV_BUCKET})",
    )
    aws.add_argument("--endpoint-url", help="S3 endpoint, e.g. http://127.0.0.1:9000 for the local stack")
    aws.add_argument("--profile", help="AWS profile (default: the usual AWS credential chain)")
    aws.add_argument("--region", help="AWS region of the bucket")

    notify = argparse.ArgumentParser(add_help=False)
    notify.add_argument(
        "--reindex",
        action="store_true",
        help="also rebuild the project's pages now (for a bucket without the indexer's notification)",
    )

    parser = argparse.ArgumentParser(
        prog=PROG,
        description="Publish to and manage a pypi-edge package index.",
        epilog=f"Exit codes: 0 ok, {EXIT_CONFLICT} conflict/validation, {EXIT_USAGE} usage, "
        f"{EXIT_AWS} AWS (credentials, bucket, permissions).",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser(
        "upload",
        parents=[common, notify],
        help="upload wheels and sdists (never overwrites)",
        description="Validate every file, then upload each to <project>/<filename>. An identical "
        "file already there is fine; a different one is a conflict unless --force.",
    )
    p.add_argument("dists", nargs="+", metavar="DIST", help="wheel or sdist files (globs are expanded)")
    p.add_argument(
        "--force",
        action="store_true",
        help="replace a different file with the same name (bucket versioning keeps the old bytes)",
    )
    p.add_argument("--no-progress", action="store_true", help="no progress bars")
    p.set_defaults(func=cmd_upload)

    p = sub.add_parser("yank", parents=[common, notify], help="yank a version (PEP 592)")
    p.add_argument("project")
    p.add_argument("version")
    p.add_argument("--reason", default="", help="why; shown by pip when it installs a yanked version")
    p.set_defaults(func=cmd_yank)

    p = sub.add_parser("unyank", parents=[common, notify], help="undo a yank")
    p.add_argument("project")
    p.add_argument("version")
    p.set_defaults(func=cmd_unyank)

    p = sub.add_parser("delete", parents=[common, notify], help="delete a version's files")
    p.add_argument("project")
    p.add_argument("version")
    p.add_argument("--yes", "-y", action="store_true", help="do not ask for confirmation")
    p.set_defaults(func=cmd_delete)

    p = sub.add_parser(
        "reindex", parents=[common], help="rebuild the pages from the bucket's objects (no queue)"
    )
    p.add_argument(
        "--project", action="append", default=[], metavar="P", help="only this project (repeatable)"
    )
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(func=cmd_reindex)

    p = sub.add_parser("list", parents=[common], help="list projects, or one project's versions and files")
    p.add_argument("project", nargs="?")
    p.set_defaults(func=cmd_list)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # --help, or a usage error argparse already printed
        return exc.code if isinstance(exc.code, int) else EXIT_USAGE
    if not args.bucket:
        parser.print_usage(sys.stderr)
        _err(f"error: no bucket: pass --bucket or set ${ENV_BUCKET}")
        return EXIT_USAGE
    _quiet_indexer_logs()

    def client_factory() -> Any:
        return make_client(args)

    try:
        return int(args.func(args, client_factory))
    except CliError as exc:
        _err(f"error: {exc}")
        return exc.code
    except (ClientError, BotoCoreError) as exc:
        _err(f"error: {aws_error(exc, args.bucket)}")
        return EXIT_AWS
    except KeyboardInterrupt:
        _err("error: interrupted")
        return EXIT_INTERRUPTED
