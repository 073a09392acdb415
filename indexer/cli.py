"""The publisher CLI: `python -m indexer <command> --bucket B` (also installed as `pypi-edge`).

    upload DIST...                      wheels and sdists; validated first, never overwritten
    yank PROJECT VERSION [--reason T]   write the `<file>.yanked` markers (PEP 592)
    unyank PROJECT VERSION              remove them
    status PROJECT STATUS [--reason T]  PEP 792: active, archived, deprecated or quarantined
    mirror REQ... --from URL [--deps]   copy vetted packages in from an upstream index
    delete PROJECT VERSION [--yes]      remove a version's files, markers and metadata
    reindex [--project P ...]           rebuild pages directly from the bucket (no queue)
    list [PROJECT]                      what is published, read from the index JSON
    user add|list|remove|disable|enable|passwd   users in the opt-in user pool (indexer/users.py)
    token new|list|revoke NAME          API tokens: in the user pool, or static (`pulumi config set` lines)

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
import glob
import os
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError, PartialCredentialsError
from packaging.utils import canonicalize_name
from packaging.version import InvalidVersion, Version

from indexer import publish, users
from indexer.model import (
    METADATA_SUFFIX,
    YANKED_SUFFIX,
    BadFilename,
    is_distribution,
    parse_filename,
    yank_reason,
)
from indexer.publish import Dist, Uploader, progress_bar
from indexer.status import STATUSES
from indexer.store import (
    METADATA,
    Bucket,
    error_code,
    status_code,
)

PROG = "pypi-edge"
ENV_BUCKET = "PYPI_EDGE_BUCKET"

EXIT_OK = 0
EXIT_CONFLICT = 1  # conflict, validation, nothing to act on, declined
EXIT_USAGE = 2  # bad arguments, missing files, refused to delete without confirmation
EXIT_AWS = 3  # credentials, bucket, permissions, network
EXIT_INTERRUPTED = 130

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


_bar = progress_bar


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


# --- upload ----------------------------------------------------------------------------------


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


def validate(path: Path) -> Dist:
    """The publishing core's checks, as a CLI error (one line, exit code 1) on refusal."""
    try:
        return publish.validate(path)
    except publish.InvalidDistribution as exc:
        raise CliError(str(exc)) from exc


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


def cmd_upload(args: argparse.Namespace, client_factory: Callable[[], Any]) -> int:
    dists = validate_all(expand(args.dists))
    client = client_factory()
    uploader = Uploader(client, args.bucket, force=args.force, progress=not args.no_progress)
    # PEP 792: nothing is sent when any of the projects is archived or quarantined.
    refusals = [r for r in map(uploader.refusal, sorted({d.name.project for d in dists})) if r]
    if refusals:
        raise CliError("; ".join(refusals) + "; nothing was uploaded")
    outcomes: dict[str, list[Dist]] = {"uploaded": [], "replaced": [], "present": [], "conflict": []}
    for dist in dists:
        try:
            outcome = uploader.upload(dist)
        except publish.Busy as exc:
            raise CliError(str(exc)) from exc
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
    reason = yank_reason(args.reason or "")
    bucket = Bucket(client, args.bucket)
    changed = 0
    for key in release.files:
        marker = release.marker(key)
        if marker in release.others:
            got = bucket.get_bytes(marker)
            if got is not None and yank_reason(got[0].decode("utf-8", "replace")) == reason:
                _out(f"already yanked   {key}")
                continue
        bucket.put(marker, reason.encode("utf-8"), MARKER_CONTENT_TYPE, bucket.page_cache_control)
        changed += 1
        _out(f"yanked           {key}")
    why = f" (reason: {reason!r})" if reason else ""
    _out(f"Yanked {release}: {len(release.files)} file(s){why}.")
    if changed:
        _finish(args, client, {release.project})
    return EXIT_OK


# --- PEP 792 project status ------------------------------------------------------------------


def cmd_status(args: argparse.Namespace, client_factory: Callable[[], Any]) -> int:
    from indexer import status as project_status

    project = canonicalize_name(args.project)
    reason = yank_reason(args.reason or "")
    if args.status == "active" and reason:
        raise CliError("a reason goes with archived, deprecated or quarantined, not active", EXIT_USAGE)
    client = client_factory()
    bucket = Bucket(client, args.bucket)
    if not any(is_distribution(o.key[len(project) + 1 :]) for o in bucket.list(f"{project}/")):
        raise CliError(f"no project {project!r} in bucket {args.bucket!r}")
    key = project_status.marker_key(project)
    previous, written = project_status.read(bucket, project)
    if (previous.status, previous.reason) == (args.status, reason):
        _out(f"{project} is already {args.status}; nothing to do.")
        return EXIT_OK
    # "active" is written too rather than the marker deleted: a write is an ObjectCreated event
    # everywhere (moto sends none for a delete marker in a versioned bucket), and bucket
    # versioning keeps the project's status history.
    marker = project_status.next_marker(previous, written, args.status, reason)
    bucket.put(key, project_status.render(marker), project_status.CONTENT_TYPE, bucket.page_cache_control)
    why = f" (reason: {reason!r})" if reason else ""
    _out(f"{project}: {previous.status} -> {args.status}{why}")
    if args.status == "quarantined":
        _out("Its pages will list no files; they stay in the bucket and return when it is set active.")
    elif args.status == "archived":
        _out("New uploads to it are refused; its files stay installable.")
    _finish(args, client, {project})
    return EXIT_OK


# --- mirror ----------------------------------------------------------------------------------


def cmd_mirror(args: argparse.Namespace, client_factory: Callable[[], Any]) -> int:
    import tempfile

    from indexer import mirror

    if not args.from_url.startswith(("https://", "http://")):
        raise CliError(f"--from must be the upstream's simple index URL, got {args.from_url!r}", EXIT_USAGE)
    try:
        picks = mirror.resolve(
            args.requirements,
            args.from_url,
            deps=args.deps,
            python_version=args.python,
            platforms=args.platform,
        )
        picks = mirror.with_yanks(picks, args.from_url)
    except mirror.MirrorError as exc:
        raise CliError(str(exc)) from exc
    client = client_factory()
    bucket = Bucket(client, args.bucket)
    uploader = Uploader(client, args.bucket, progress=False)
    counts = {"mirrored": 0, "present": 0, "failed": 0}
    changed: set[str] = set()
    with (
        tempfile.TemporaryDirectory(prefix="pypi-edge-mirror-") as tmp,
        progress_bar(len(picks), "mirror", unit=" file", show=not args.no_progress) as bar,
    ):
        for pick in picks:
            target = f"s3://{args.bucket}/{pick.key}"
            try:
                outcome = _mirror_one(pick, uploader, Path(tmp))
            except (mirror.MirrorError, publish.PublishError) as exc:
                counts["failed"] += 1
                _err(f"error: {exc}")
                bar.update(1)
                continue
            if outcome == publish.UPLOADED:
                counts["mirrored"] += 1
                changed.add(pick.project)
                _out(f"mirrored         {target} (sha256 {pick.sha256[:12]}… verified)")
            else:
                counts["present"] += 1
                _out(f"already present  {target}")
            marker = mirror.yank_marker(pick)
            if marker is not None:
                got = bucket.get_bytes(marker[0])
                if got is None or yank_reason(got[0].decode("utf-8", "replace")) != pick.yanked:
                    bucket.put(marker[0], marker[1], MARKER_CONTENT_TYPE, bucket.page_cache_control)
                    changed.add(pick.project)
                    why = f" (reason: {pick.yanked!r})" if pick.yanked else ""
                    _out(f"yanked           {target}, as upstream{why}")
            bar.update(1)
    _out(f"{len(picks)} file(s): " + ", ".join(f"{n} {k}" for k, n in counts.items() if n) + ".")
    if changed:
        _finish(args, client, changed)
    return EXIT_CONFLICT if counts["failed"] else EXIT_OK


def _mirror_one(pick: Any, uploader: Uploader, tmp: Path) -> str:
    """UPLOADED or PRESENT; raises MirrorError / PublishError with a one-line reason."""
    from indexer import mirror

    existing = uploader.existing_sha256(pick.key)
    if existing is not None:
        if existing[0] == pick.sha256:
            return publish.PRESENT  # nothing downloaded, nothing written
        raise mirror.MirrorError(
            f"{pick.filename}: a different file with this name is already published at "
            f"{pick.key} (sha256 {existing[0][:12]}…, upstream {pick.sha256[:12]}…); not replaced"
        )
    path = mirror.download(pick, tmp)
    try:
        outcome = uploader.upload(publish.validate(path))
    finally:
        path.unlink(missing_ok=True)
    if outcome == publish.CONFLICT:  # written by someone else since we looked
        raise mirror.MirrorError(f"{pick.filename}: a different file with this name was published meanwhile")
    return outcome


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

    p = sub.add_parser(
        "status",
        parents=[common, notify],
        help="set a project's status (PEP 792)",
        description="archived and quarantined projects take no new uploads; a quarantined project "
        "offers no files (they come back when it is set active); deprecated is informational.",
    )
    p.add_argument("project")
    p.add_argument("status", choices=STATUSES)
    p.add_argument("--reason", default="", help="free text shown to installers and on the project page")
    p.set_defaults(func=cmd_status)

    p = sub.add_parser(
        "mirror",
        parents=[common, notify],
        help="copy packages (with --deps, their dependencies too) from an upstream index",
        description="Resolve the requirements with pip against --from only, verify every file "
        "against the upstream sha256, and publish it here (never overwriting); upstream yanks "
        "are kept. Re-running is a no-op.",
    )
    p.add_argument(
        "requirements", nargs="+", metavar="REQUIREMENT", help="e.g. 'requests==2.32.3' 'numpy>=2'"
    )
    p.add_argument("--from", dest="from_url", required=True, metavar="URL", help="upstream simple index URL")
    p.add_argument("--deps", action="store_true", help="also mirror the dependencies pip resolves")
    p.add_argument("--python", metavar="X.Y", help="target Python version (wheels only)")
    p.add_argument(
        "--platform",
        action="append",
        default=[],
        metavar="TAG",
        help="target platform tag (repeatable; wheels only)",
    )
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(func=cmd_mirror)

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

    # user and token: the user pool (indexer/users.py), and static tokens.
    users.add_parsers(sub)

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
    if getattr(args, "needs_bucket", True) and not args.bucket:
        parser.print_usage(sys.stderr)
        _err(f"error: no bucket: pass --bucket or set ${ENV_BUCKET}")
        return EXIT_USAGE
    _quiet_indexer_logs()

    def client_factory() -> Any:
        return make_client(args)

    try:
        if getattr(args, "users_command", False):
            return users.run(args.func, args)
        return int(args.func(args, client_factory))
    except users.UsersError as exc:
        _err(f"error: {exc}")
        return exc.code
    except CliError as exc:
        _err(f"error: {exc}")
        return exc.code
    except (ClientError, BotoCoreError) as exc:
        _err(f"error: {aws_error(exc, args.bucket)}")
        return EXIT_AWS
    except KeyboardInterrupt:
        _err("error: interrupted")
        return EXIT_INTERRUPTED
