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
    check --index-url URL [--user U]    smoke-test a deployed index over HTTPS (indexer/check.py)

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
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    HTTPClientError,
    NoCredentialsError,
    PartialCredentialsError,
    SSLError,
)
from packaging.utils import canonicalize_name
from packaging.version import Version

from indexer import check, manage, publish, remote, users
from indexer.model import (
    METADATA_SUFFIX,
    YANKED_SUFFIX,
    BadFilename,
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
# True for every command that prints it (each writes or deletes a key the notification watches),
# in AWS and on the local stack (tests/test_e2e_mutations.py): the batch window is 5 s, one rebuild
# takes about a second, and its CloudFront invalidation follows.  S3 delivers notifications
# "typically ... in seconds but can sometimes take a minute or longer" (Amazon S3 user guide,
# "Amazon S3 Event Notifications"), hence the second sentence.
PAGES_NOTE = (
    "The index pages update within seconds: the bucket's S3 notification runs the indexer, which "
    "invalidates CloudFront's copies (S3 may deliver a notification a minute late now and then)."
)


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


class Spinner:
    """A turning mark and the seconds spent, on one line of stderr, while something says nothing.

    pip resolving a `mirror` can take a minute and prints nothing we show.  Only on a terminal
    (like the progress bars), drawn by a daemon thread, and the line is wiped when done.
    """

    FRAMES = "|/-\\"

    def __init__(self, text: str, *, show: bool = True, stream: Any = None, interval: float = 0.1) -> None:
        self.text = text
        self.stream = stream if stream is not None else sys.stderr
        self.show = show and self.stream.isatty()
        self.interval = interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._spin, name="spinner", daemon=True)
        self._width = 0

    def _spin(self) -> None:
        start = time.monotonic()
        frame = 0
        while True:
            line = f"{self.FRAMES[frame % len(self.FRAMES)]} {self.text} ({time.monotonic() - start:.0f} s)"
            self._width = max(self._width, len(line))
            self.stream.write("\r" + line)
            self.stream.flush()
            frame += 1
            if self._stop.wait(self.interval):
                return

    def __enter__(self) -> Spinner:
        if self.show:
            self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self.show:
            self._stop.set()
            self._thread.join()
            self.stream.write("\r" + " " * self._width + "\r")
            self.stream.flush()


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


# What --endpoint-url must be; the local stack's S3 is `python -m local --s3-port` (9000).
ENDPOINT_HINT = (
    "--endpoint-url must be the S3 API (for the local stack its S3 endpoint, "
    "http://127.0.0.1:9000 unless --s3-port), not the index or upload URL"
)


def _origin(url: str) -> str:
    """scheme://host[:port] of a request URL: botocore's messages name the whole URL, which
    ends in whatever key was being read (`<project>/.project-status`): no use to the user."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}" if parts.scheme and parts.netloc else url


def _connection_error(exc: BotoCoreError, endpoint: str | None) -> CliError:
    """A failure to talk to S3 at all; botocore's message names the whole URL, key included."""
    where = _origin(str(exc.kwargs["endpoint_url"]))
    check = ENDPOINT_HINT if endpoint else "check --region, your network and any proxy (HTTPS_PROXY)"
    if isinstance(exc, SSLError):
        return CliError(f"the TLS connection to {where} failed: {check}, or your CA bundle", EXIT_AWS)
    if isinstance(exc, HTTPClientError):  # a read timeout or a dropped connection, after the retries
        return CliError(f"S3 at {where} stopped answering (the connection failed); try again", EXIT_AWS)
    return CliError(f"could not connect to S3 at {where}: {check}", EXIT_AWS)  # refused, no such host


def aws_error(exc: Exception, bucket: str, endpoint: str | None = None) -> CliError:
    """One actionable line for an AWS failure (`endpoint`: --endpoint-url, None for AWS's)."""
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
        # No S3 error document (botocore then puts the HTTP status in Code), and on an operation
        # whose errors S3 does describe (a HEAD's never have a body): not S3 at the other end.
        if endpoint and code == str(status) and op != "HeadObject":
            return CliError(
                f"{_origin(endpoint)} is not S3: it answered {op} with {status} {message}; {ENDPOINT_HINT}",
                EXIT_AWS,
            )
        return CliError(f"S3 {op} failed: {code or status} {message}".rstrip(), EXIT_AWS)
    if isinstance(exc, BotoCoreError) and exc.kwargs.get("endpoint_url"):
        return _connection_error(exc, endpoint)
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
    """Every file checked before any is sent; the same file twice (the same identity, whatever the
    spelling: indexer.model.DistName.identity) must be the same bytes, and is sent once."""
    dists: dict[str, Dist] = {}
    for path in paths:
        dist = validate(path)
        seen = dists.get(dist.name.identity)
        if seen is not None and seen.sha256 != dist.sha256:
            raise CliError(
                f"{seen.path} and {path} are the same file (name, version, build tag and tags; "
                "one sdist per release) with different contents; nothing was uploaded"
            )
        dists.setdefault(dist.name.identity, dist)
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
        spelt = f" (sent as {dist.given})" if dist.given and dist.given != dist.filename else ""
        if outcome == "uploaded":
            _out(f"uploaded         {target} ({_size(dist.size)}){spelt}")
        elif outcome == "replaced":
            _out(f"replaced         {target} (--force; bucket versioning keeps the previous bytes)")
        elif outcome == "present":
            held = f"s3://{args.bucket}/{uploader.held_by(dist).key}"
            _out(f"already present  {held} (identical, sha256 {dist.sha256[:12]}…){spelt}")
        elif uploader.held_by(dist).key == dist.key:
            _err(
                f"error: {dist.shown}: a different file with this name is already published "
                f"at {target}; bump the version, or pass --force to replace it"
            )
        else:
            _err(f"error: {publish.conflict_message(dist, uploader.held_by(dist))}")
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


def find_release(client: Any, bucket: str, project_arg: str, version_arg: str) -> manage.Release:
    """A version's distribution files (`indexer.manage.find_release`), as a CliError when absent."""
    try:
        return manage.find_release(Bucket(client, bucket), project_arg, version_arg, f"bucket {bucket!r}")
    except manage.BadValue as exc:
        raise CliError(str(exc), EXIT_USAGE) from exc
    except manage.NotFound as exc:
        raise CliError(str(exc)) from exc


def cmd_yank(args: argparse.Namespace, client_factory: Callable[[], Any]) -> int:
    client = client_factory()
    release = find_release(client, args.bucket, args.project, args.version)
    done = manage.yank(Bucket(client, args.bucket), release, args.reason or "")
    for key, changed in done:
        _out(f"{'yanked' if changed else 'already yanked':<16} {key}")
    reason = yank_reason(args.reason or "")
    why = f" (reason: {reason!r})" if reason else ""
    _out(f"Yanked {release}: {len(release.files)} file(s){why}.")
    if any(changed for _key, changed in done):
        _finish(args, client, {release.project})
    return EXIT_OK


# --- PEP 792 project status ------------------------------------------------------------------


def cmd_status(args: argparse.Namespace, client_factory: Callable[[], Any]) -> int:
    if args.status == "active" and args.reason:
        raise CliError("a reason goes with archived, deprecated or quarantined, not active", EXIT_USAGE)
    client = client_factory()
    try:
        change = manage.set_status(
            Bucket(client, args.bucket),
            args.project,
            args.status,
            args.reason or "",
            f"bucket {args.bucket!r}",
        )
    except manage.BadValue as exc:
        raise CliError(str(exc), EXIT_USAGE) from exc
    except manage.NotFound as exc:
        raise CliError(str(exc)) from exc
    if change is None:
        _out(f"{canonicalize_name(args.project)} is already {args.status}; nothing to do.")
        return EXIT_OK
    _out(status_lines(change))
    _finish(args, client, {change.project})
    return EXIT_OK


def status_lines(change: manage.StatusChange) -> str:
    """What `status` prints after a change (AWS and HTTPS modes alike)."""
    why = f" (reason: {change.reason!r})" if change.reason else ""
    lines = [f"{change.project}: {change.before} -> {change.after}{why}"]
    if change.after == "quarantined":
        lines.append(
            "Its pages will list no files; they stay in the bucket and return when it is set active."
        )
    elif change.after == "archived":
        lines.append("New uploads to it are refused; its files stay installable.")
    return "\n".join(lines)


def cmd_mirror(args: argparse.Namespace, client_factory: Callable[[], Any]) -> int:
    import tempfile

    from indexer import mirror

    if not args.from_url.startswith(("https://", "http://")):
        raise CliError(f"--from must be the upstream's simple index URL, got {args.from_url!r}", EXIT_USAGE)
    what = " ".join(args.requirements) + (" and dependencies" if args.deps else "")
    upstream = urlsplit(args.from_url).hostname  # the URL itself may carry a password
    try:
        with Spinner(f"resolving {what} with pip from {upstream}", show=not args.no_progress):
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
            try:
                outcome, key = _mirror_one(pick, uploader, Path(tmp))
            except (mirror.MirrorError, publish.PublishError) as exc:
                counts["failed"] += 1
                _err(f"error: {exc}")
                bar.update(1)
                continue
            target = f"s3://{args.bucket}/{key}"
            if outcome == publish.UPLOADED:
                counts["mirrored"] += 1
                changed.add(pick.project)
                _out(f"mirrored         {target} (sha256 {pick.sha256[:12]}… verified)")
            else:
                counts["present"] += 1
                _out(f"already present  {target}")
            marker = mirror.yank_marker(pick, key)
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


def _mirror_one(pick: Any, uploader: Uploader, tmp: Path) -> tuple[str, str]:
    """(UPLOADED or PRESENT, the key that holds the file); raises MirrorError / PublishError with
    a one-line reason.  Upstream's spelling may differ from ours (`Django-4.2-py3-none-any.whl`
    is stored as `django-4.2-py3-none-any.whl`): the core finds the file by its identity."""
    from indexer import mirror

    key = uploader.find(pick.filename)
    existing = uploader.existing_sha256(key) if key else None
    if existing is not None:
        if existing[0] == pick.sha256:
            return publish.PRESENT, key  # nothing downloaded, nothing written
        raise mirror.MirrorError(
            f"{pick.filename}: a different file is already published as {key} (sha256 "
            f"{existing[0][:12]}…, upstream {pick.sha256[:12]}…); not replaced"
        )
    path = mirror.download(pick, tmp)
    try:
        dist = publish.validate(path)
        outcome = uploader.upload(dist)
    finally:
        path.unlink(missing_ok=True)
    if outcome == publish.CONFLICT:  # written by someone else since we looked
        message = publish.conflict_message(dist, uploader.held_by(dist))
        raise mirror.MirrorError(f"{pick.filename}: a different file was published meanwhile: {message}")
    return outcome, uploader.held_by(dist).key


def cmd_unyank(args: argparse.Namespace, client_factory: Callable[[], Any]) -> int:
    client = client_factory()
    release = find_release(client, args.bucket, args.project, args.version)
    keys = manage.unyank(Bucket(client, args.bucket), release)
    if not keys:
        _out(f"{release} is not yanked; nothing to do.")
        return EXIT_OK
    for key in keys:
        _out(f"unyanked         {key}")
    _out(f"Unyanked {release}: {len(keys)} file(s).")
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


PROJECT_HELP = "the project's name, in any spelling (normalized as PEP 503)"


def _release_arguments(p: argparse.ArgumentParser, what: str) -> None:
    p.add_argument("project", help=PROJECT_HELP)
    p.add_argument("version", help=f"the version {what}, e.g. 1.2.0 (PEP 440: 1.2 and 1.2.0 are the same)")


def version_line() -> str:
    """`pypi-edge --version`: this package's version and the botocore it runs with (conditional
    writes need botocore >= 1.40.61, see pyproject.toml)."""
    from importlib import metadata

    try:
        own = metadata.version("pypi-edge")
    except metadata.PackageNotFoundError:  # run from a checkout (`python -m indexer`), not installed
        import tomllib

        pyproject = Path(__file__).resolve().parent.parent / "pyproject.toml"
        own = tomllib.loads(pyproject.read_text())["project"]["version"] if pyproject.is_file() else "unknown"
    import botocore

    python = ".".join(map(str, sys.version_info[:3]))
    return f"{PROG} {own} (botocore {botocore.__version__}, Python {python})"


def build_parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    aws = common.add_argument_group("bucket and AWS")
    aws.add_argument(
        "--bucket",
        help=f"the index's S3 bucket (default: ${ENV_BUCKET}); administrators, and raw buckets",
    )
    aws.add_argument("--endpoint-url", help="S3 endpoint, e.g. http://127.0.0.1:9000 for the local stack")
    aws.add_argument("--profile", help="AWS profile (default: the usual AWS credential chain)")
    aws.add_argument("--region", help="AWS region of the bucket")
    remote.add_arguments(common)

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
    parser.add_argument("--version", action="version", version=version_line())
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

    p = sub.add_parser(
        "yank",
        parents=[common, notify],
        help="yank a version (PEP 592)",
        description="Mark every file of a version as yanked (PEP 592) by writing a <file>.yanked marker "
        "beside it. Installers skip a yanked version unless a requirement pins it exactly (==); its "
        "files stay in the bucket. Undo with `unyank`.",
    )
    _release_arguments(p, "to yank")
    p.add_argument("--reason", default="", help="why; shown by pip when it installs a yanked version")
    p.set_defaults(func=cmd_yank)

    p = sub.add_parser(
        "status",
        parents=[common, notify],
        help="set a project's status (PEP 792)",
        description="archived and quarantined projects take no new uploads; a quarantined project "
        "offers no files (they come back when it is set active); deprecated is informational.",
    )
    p.add_argument("project", help=PROJECT_HELP)
    p.add_argument(
        "status", choices=STATUSES, metavar="STATUS", help="the new status: " + ", ".join(STATUSES)
    )
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

    p = sub.add_parser(
        "unyank",
        parents=[common, notify],
        help="undo a yank",
        description="Remove the .yanked markers of every file of a version, so installers choose it again.",
    )
    _release_arguments(p, "to unyank")
    p.set_defaults(func=cmd_unyank)

    p = sub.add_parser(
        "delete",
        parents=[common, notify],
        help="delete a version's files",
        description="Delete every file of a version, with its .yanked markers and .metadata files, after "
        "asking (--yes to skip the question). With bucket versioning the bytes remain as noncurrent "
        "versions. Prefer `yank`: a deleted file breaks every lock file that names it.",
    )
    _release_arguments(p, "to delete")
    p.add_argument("--yes", "-y", action="store_true", help="do not ask for confirmation")
    p.set_defaults(func=cmd_delete)

    p = sub.add_parser(
        "reindex",
        parents=[common],
        help="rebuild the pages from the bucket's objects (no queue)",
        description="Rebuild the project pages, their JSON and .metadata files and the root page from "
        "the distributions in the bucket, directly (not through the queue): for files copied in "
        "without the notification, or after changing the pages' settings.",
    )
    p.add_argument(
        "--project", action="append", default=[], metavar="P", help="only this project (repeatable)"
    )
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(func=cmd_reindex)

    # user and token: the user pool (indexer/users.py), and static tokens.
    users.add_parsers(sub)

    p = sub.add_parser(
        "list",
        parents=[common],
        help="list projects, or one project's versions and files",
        description="Without PROJECT: every project with its latest version and summary. With PROJECT: "
        "its versions, newest first, with each file's size and yanks. Read from the index's JSON "
        "pages (what installers see), not by listing the bucket.",
    )
    p.add_argument("project", nargs="?", help="a project name (any spelling; PEP 503 normalized)")
    p.set_defaults(func=cmd_list)

    # check: HTTP only, no bucket (indexer/check.py).
    check.add_parser(sub)
    return parser


def run_remote(args: argparse.Namespace) -> int:
    """A command over HTTPS with index credentials (indexer/remote.py)."""
    try:
        dists = validate_all(expand(args.dists)) if args.command == "upload" else []
        index = remote.connect(args)
        if args.command == "upload":
            return remote.upload(args, index, _out, dists)
        return {
            "yank": remote.yank,
            "unyank": remote.unyank,
            "status": remote.status,
            "list": remote.listing,
        }[args.command](args, index, _out)
    except CliError as exc:
        _err(f"error: {exc}")
        return exc.code
    except remote.RemoteError as exc:
        _err(f"error: {exc}")
        return exc.code
    except KeyboardInterrupt:
        _err("error: interrupted")
        return EXIT_INTERRUPTED


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # --help, or a usage error argparse already printed
        return exc.code if isinstance(exc.code, int) else EXIT_USAGE
    if getattr(args, "needs_bucket", True):
        try:
            if remote.mode(args) == "https":
                return run_remote(args)
        except remote.RemoteError as exc:
            _err(f"error: {exc}")
            return exc.code
        if not args.bucket:
            parser.print_usage(sys.stderr)
            _err(
                f"error: no index: pass --index-url (index credentials) or --bucket (AWS credentials), "
                f"or set ${remote.ENV_INDEX_URL} or ${ENV_BUCKET}"
            )
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
        _err(f"error: {aws_error(exc, args.bucket, args.endpoint_url)}")
        return EXIT_AWS
    except KeyboardInterrupt:
        _err("error: interrupted")
        return EXIT_INTERRUPTED
