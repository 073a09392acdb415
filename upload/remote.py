"""The `pypi-edge` CLI's HTTPS routes: publishers need only their index credentials (issue 20).

Beside ``/legacy/`` on the upload function, behind the same CloudFront behaviour pattern
(``/_/cli/*``, `infra.wiring.UPLOAD_PATH_PATTERNS`), the same secret origin header, the same
Origin / Sec-Fetch-Site refusal (`edge.guard`, at the edge and in `upload.handler.handler`) and the
same rights model: every route authenticates like ``/legacy/`` (`upload.handler.authenticate`)
and acts only on projects the principal's publish globs name.  Each takes ``POST`` with a small
JSON object and answers JSON (``{"message": …, …}``; refusals in PyPI's error shape, as
``/legacy/`` sends them to a client that prefers JSON).  Every change is logged with the principal.

``/_/cli/stage`` ``{"filename", "size", "sha256"}``
    The right on the file's project is checked, and the PEP 792 status, and whether the file is
    already published (200 ``"outcome": "present"``, identical bytes: nothing to send; 409 other
    bytes), *before* any URL is handed out.  Then a presigned S3 PUT for a fresh staging key
    ``_staging/<128 random bits>-<sha256>-<file>.staged``: private (``_`` is never a project; the
    edge never serves it), in no watched suffix (no S3 event; the indexer never lists it), created
    at most once (``If-None-Match: *`` signed in) with exactly the announced bytes
    (``x-amz-checksum-sha256`` signed in: S3 refuses other bytes), valid `URL_SECONDS`.  A staged
    file nobody finishes is removed by the bucket's lifecycle rule (`infra.wiring.STAGING_PREFIX`).
``/_/cli/finish`` ``{"key", "filename"}``
    Validates the staged object exactly as ``/legacy/`` validates an upload, through the same
    publishing core (`indexer.publish.validate_staged`: name, version, metadata, S3's verified
    SHA-256 against the one in the key, rights, PEP 792, one file per identity), copies it to
    ``<project>/<file>`` with a conditional write, removes the staging object, refreshes the pages
    (bounded, as ``/legacy/``), and answers as ``/legacy/``: 200, identical 200, 409, 400, 403;
    404 when nothing is staged at that key (never PUT, finished already, expired).
``/_/cli/yank``, ``/_/cli/unyank`` ``{"project", "version", "reason"}``; ``/_/cli/status``
``{"project", "status", "reason"}``; ``/_/cli/list`` ``{"project"}`` (optional)
    The same functions as the CLI's AWS mode (`indexer.manage`).  ``list`` without a project names
    the projects the principal may publish; ``delete`` has no route: it stays an administrator's
    command (AWS credentials).

How a presigned PUT gets into a bucket that only CloudFront (OAC) reads: the URL carries a
signature made with the function's own role credentials, and "the credentials used by the
presigned URL are those of the IAM principal who generated the URL" (S3 User Guide, "Download and
upload objects with presigned URLs").  That principal is in the bucket's own account, where an
identity policy alone may allow a request unless a policy denies it ("Policy evaluation logic",
IAM User Guide: same-account access); so the bucket policy needs no statement for it, the OAC
statements (CloudFront's reads) are untouched, and the role's policy (`infra/upload.py`) is what
limits the URL: PutObject on ``_staging/*`` only with ``If-None-Match``.  The bucket policy's
``aws:SecureTransport`` deny applies to the PUT like to any request; the URL is https.  The
checksum: SigV4 presigned URLs may carry ``x-amz-checksum-sha256`` (same page: "presigned URLs
created with AWS Signature Version 4 support" the CRC and SHA checksums, SigV2 only MD5), and
botocore signs it as a header (``X-Amz-SignedHeaders``), so a client must send exactly it.
Expiry: at most 7 days for SigV4 (604,800 s, AWS CLI reference ``s3 presign``); a URL made with
temporary credentials, as a Lambda role's are, "expires when the token expires ... even if the URL
was created with a later expiration time" (AWS re:Post knowledge center,
"presigned-url-s3-bucket-expiration"), so the real validity is the shorter of `URL_SECONDS` and
what the container's credentials have left; the CLI sends the file at once, and S3 checks the
expiry when the request arrives.
"""

from __future__ import annotations

import base64
import json
import logging
import os
import re
import secrets
from collections.abc import Callable
from typing import Any

from packaging.utils import InvalidName, canonicalize_name

from edge import credentials
from indexer import manage, publish
from indexer.store import Bucket
from upload import handler as base

logger = logging.getLogger("pypi_edge.upload.remote")

STAGING_PREFIX = "_staging/"  # infra.wiring.STAGING_PREFIX (a test holds them equal)
# How long a stage's PUT URL is valid (see the module docstring: at most 7 days for SigV4, and
# never longer than the role's temporary credentials).  The CLI starts the PUT right after the
# stage; an hour covers a slow start, and the lifecycle rule removes what is never finished.
URL_SECONDS = 3600
# One PUT and one CopyObject take at most 5 GB ("Uploading objects": "upload a single object up
# to 5 GB" in one PUT; "Copying objects": "copy of your object up to 5 GB in a single atomic
# action"), and only a single PUT keeps a full-object SHA-256 that pip's hash can be checked
# against without reading the file again (indexer/publish.py MULTIPART_THRESHOLD).
MAX_STAGED_BYTES = 5 * 1024**3
MAX_BODY_BYTES = 16 * 1024
STAGED_KEY = re.compile(r"_staging/[0-9a-f]{32}-(?P<sha256>[0-9a-f]{64})-(?P<filename>[^/]+)\.staged")
SHA256_HEX = re.compile(r"[0-9a-f]{64}")
STAGED_CONTENT_TYPE = "application/octet-stream"


def reply(code: int, message: str, **extra: Any) -> dict:
    """A JSON answer for the CLI: always a "message", plus what the route returns."""
    body = json.dumps({"message": " ".join(message.split()), **extra})
    headers = {
        "cache-control": "no-store",
        "x-content-type-options": "nosniff",
        "content-type": "application/json",
    }
    return {"statusCode": code, "headers": headers, "body": body, "isBase64Encoded": False}


def read_json(req: base.Request) -> dict[str, Any]:
    """The request's JSON object (at most `MAX_BODY_BYTES`), or BadRequest."""
    body = req.body()
    if len(body) > MAX_BODY_BYTES:
        raise base.BadRequest(f"the request body is larger than {MAX_BODY_BYTES} bytes")
    try:
        doc = json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError):
        raise base.BadRequest("the request body is not a JSON object") from None
    if not isinstance(doc, dict):
        raise base.BadRequest("the request body is not a JSON object")
    return doc


def text(doc: dict[str, Any], name: str, *, required: bool = True, limit: int = 1024) -> str:
    value = doc.get(name, None if required else "")
    if not isinstance(value, str) or (required and not value.strip()):
        raise base.BadRequest(f"field {name!r} must be a non-empty string")
    if len(value) > limit or not value.isprintable():
        raise base.BadRequest(f"field {name!r} is longer than {limit} characters or has control characters")
    return value


def project_name(doc: dict[str, Any]) -> str:
    raw = text(doc, "project", limit=200)
    try:
        return canonicalize_name(raw, validate=True)  # a PEP 508 name, or InvalidName
    except InvalidName:
        raise base.BadRequest(f"{publish.shown(raw)!r} is not a valid project name (PEP 508)") from None


def forbidden(req: base.Request, principal: credentials.Principal, project: str) -> dict | None:
    """403 unless the principal's publish globs cover `project` (logged)."""
    if principal.can_publish(project):
        return None
    logger.info("refused: no publish right", extra={"principal": principal.name, "project": project})
    return base.respond(403, f"{principal.name!r} may not publish to project {project!r}", req.accept)


def presign_client(region: str | None = None, endpoint_url: str | None = None, **keys: str) -> Any:
    """An S3 client whose presigned URLs use Signature Version 4 and name the bucket's regional
    endpoint, virtual-hosted, https: a SigV4 signature is scoped to a region, and the global
    endpoint would redirect a request for a bucket elsewhere, which a presigned PUT cannot follow
    ("Virtual hosting of buckets" and "Regional and zonal endpoints", S3 User Guide); buckets
    made since June 2020 refuse SigV2 ("Signature Version 2 turned off", S3 User Guide).  The
    local stack passes its S3 endpoint (path-style) and credentials."""
    import boto3
    from botocore.config import Config as BotoConfig

    region = region or os.environ.get("AWS_REGION") or "us-east-1"
    style = "path" if endpoint_url else "virtual"
    return boto3.client(
        "s3",
        region_name=region,
        endpoint_url=endpoint_url or f"https://s3.{region}.amazonaws.com",
        config=BotoConfig(signature_version="s3v4", s3={"addressing_style": style}),
        **keys,
    )


# --- the routes --------------------------------------------------------------------------------


def stage(req: base.Request, principal: credentials.Principal, doc: dict[str, Any]) -> dict:
    config = req.config
    filename = text(doc, "filename")
    sha256 = text(doc, "sha256", limit=64).lower()
    size = doc.get("size")
    if not SHA256_HEX.fullmatch(sha256):
        raise base.BadRequest("field 'sha256' must be the file's SHA-256 in hex")
    if not isinstance(size, int) or isinstance(size, bool) or size < 1:
        raise base.BadRequest("field 'size' must be the file's size in bytes")
    if "/" in filename or "\\" in filename:
        raise base.BadRequest(f"{publish.shown(filename)}: a file name cannot contain a path")
    try:
        name, canonical = publish.check_filename(publish.shown(filename), filename)
    except publish.InvalidDistribution as exc:
        raise base.BadRequest(str(exc)) from None
    if refused := forbidden(req, principal, name.project):
        return refused
    if size > MAX_STAGED_BYTES:
        return base.respond(
            413, f"{canonical} is {size:,} bytes; one file may be at most {MAX_STAGED_BYTES:,}", req.accept
        )
    uploader = publish.Uploader(config.s3, config.bucket, progress=False)
    if closed := uploader.refusal(name.project):  # PEP 792: before any byte is sent
        return base.respond(400, closed, req.accept)
    held = uploader.find(filename)
    existing = uploader.existing_sha256(held) if held is not None else None
    if existing is not None:
        shown = f"{filename} (stored as {canonical})" if filename != canonical else canonical
        if existing[0] == sha256:
            return reply(200, f"{shown}: identical file already published as {held}", outcome=publish.PRESENT)
        return base.respond(409, f"File already exists: {held} holds {shown} with other bytes", req.accept)
    key = f"{STAGING_PREFIX}{secrets.token_hex(16)}-{sha256}-{canonical}.staged"
    checksum = base64.b64encode(bytes.fromhex(sha256)).decode()
    if config.presigner is None:
        config.presigner = presign_client()  # once per container
    url = config.presigner.generate_presigned_url(
        "put_object",
        Params={
            "Bucket": config.bucket,
            "Key": key,
            "IfNoneMatch": "*",
            "ChecksumSHA256": checksum,
            "ContentLength": size,
            "ContentType": STAGED_CONTENT_TYPE,
        },
        ExpiresIn=URL_SECONDS,
    )
    headers = {"If-None-Match": "*", "x-amz-checksum-sha256": checksum, "Content-Type": STAGED_CONTENT_TYPE}
    logger.info("staged", extra={"principal": principal.name, "key": key, "size": size})
    return reply(200, f"send {canonical} to the URL", outcome="stage", url=url, key=key, headers=headers)


def finish(req: base.Request, principal: credentials.Principal, doc: dict[str, Any]) -> dict:
    config = req.config
    key = text(doc, "key")
    match = STAGED_KEY.fullmatch(key)
    if match is None:
        raise base.BadRequest("field 'key' is not a staging key this index handed out")
    filename = text(doc, "filename", required=False) or match["filename"]
    try:
        name, canonical = publish.check_filename(publish.shown(filename), filename)
    except publish.InvalidDistribution as exc:
        raise base.BadRequest(str(exc)) from None
    if canonical != match["filename"]:
        raise base.BadRequest(f"{publish.shown(filename)} is not the file staged at that key")
    if refused := forbidden(req, principal, name.project):
        return refused
    bucket = Bucket(config.s3, config.bucket)
    try:
        dist = publish.validate_staged(config.s3, config.bucket, key, filename, match["sha256"])
    except publish.NotStaged as exc:
        return base.respond(404, str(exc), req.accept)
    except publish.InvalidDistribution as exc:
        bucket.delete(key)
        logger.info("refused staged file", extra={"principal": principal.name, "key": key, "error": str(exc)})
        return base.respond(400, str(exc), req.accept)
    uploader = publish.Uploader(config.s3, config.bucket, progress=False)
    try:
        outcome = uploader.upload(dist)
    except publish.Busy as exc:
        return base.respond(503, str(exc), req.accept, {"retry-after": "1"})
    except publish.ProjectClosed as exc:
        bucket.delete(key)
        return base.respond(400, str(exc), req.accept)
    bucket.delete(key)  # published, present or a conflict: the staged copy has served
    logger.info(
        "upload",
        extra={
            "principal": principal.name,
            "key": dist.key,
            "sha256": dist.sha256,
            "outcome": outcome,
            "via": key,
        },
    )
    if outcome == publish.CONFLICT:
        return base.respond(409, publish.conflict_message(dist, uploader.held_by(dist)), req.accept)
    if outcome == publish.PRESENT:
        return reply(200, publish.present_message(dist, uploader.held_by(dist)), outcome=outcome)
    fresh = base.refresh(config, dist.key)
    suffix = "" if fresh else f"; {base.INDEXING_CONTINUES}"
    return reply(200, f"published {dist.key}{suffix}", outcome=outcome, key=dist.key, size=dist.size)


def _release(
    req: base.Request, principal: credentials.Principal, doc: dict[str, Any]
) -> manage.Release | dict:
    project = project_name(doc)
    if refused := forbidden(req, principal, project):
        return refused
    version = text(doc, "version", limit=200)
    bucket = Bucket(req.config.s3, req.config.bucket)
    try:
        return manage.find_release(bucket, project, version, "this index")
    except manage.NotFound as exc:
        return base.respond(404, str(exc), req.accept)


def yank(req: base.Request, principal: credentials.Principal, doc: dict[str, Any]) -> dict:
    release = _release(req, principal, doc)
    if isinstance(release, dict):
        return release
    reason = text(doc, "reason", required=False, limit=1024)
    done = manage.yank(Bucket(req.config.s3, req.config.bucket), release, reason)
    changed = [key for key, change in done if change]
    logger.info("yank", extra={"principal": principal.name, "release": str(release), "files": changed})
    if changed:
        base.refresh(req.config, release.marker(changed[0]))
    return reply(200, f"yanked {release}", files=[[key, change] for key, change in done])


def unyank(req: base.Request, principal: credentials.Principal, doc: dict[str, Any]) -> dict:
    release = _release(req, principal, doc)
    if isinstance(release, dict):
        return release
    keys = manage.unyank(Bucket(req.config.s3, req.config.bucket), release)
    logger.info("unyank", extra={"principal": principal.name, "release": str(release), "files": keys})
    if keys:
        base.refresh(req.config, release.marker(keys[0]))
    return reply(200, f"unyanked {release}" if keys else f"{release} is not yanked", files=keys)


def status(req: base.Request, principal: credentials.Principal, doc: dict[str, Any]) -> dict:
    project = project_name(doc)
    if refused := forbidden(req, principal, project):
        return refused
    wanted = text(doc, "status", limit=20)
    reason = text(doc, "reason", required=False, limit=1024)
    try:
        change = manage.set_status(
            Bucket(req.config.s3, req.config.bucket), project, wanted, reason, "this index"
        )
    except manage.NotFound as exc:
        return base.respond(404, str(exc), req.accept)
    if change is None:
        return reply(200, f"{project} is already {wanted}; nothing to do", changed=False)
    logger.info("status", extra={"principal": principal.name, "project": project, "status": wanted})
    base.refresh(req.config, f"{project}/{manage.project_status.STATUS_NAME}")
    return reply(
        200,
        f"{project}: {change.before} -> {change.after}",
        changed=True,
        before=change.before,
        after=change.after,
    )


def listing(req: base.Request, principal: credentials.Principal, doc: dict[str, Any]) -> dict:
    bucket = Bucket(req.config.s3, req.config.bucket)
    if doc.get("project") in (None, ""):
        found = manage.describe(bucket, None) or {"projects": []}
        mine = [p for p in found["projects"] if principal.can_publish(p["name"])]
        return reply(200, f"{len(mine)} project(s) you may publish", projects=mine)
    project = project_name(doc)
    if refused := forbidden(req, principal, project):
        return refused
    found = manage.describe(bucket, project)
    if found is None:
        return base.respond(404, f"no project {project!r} in this index", req.accept)
    return reply(200, f"{project}: {len(found['versions'])} version(s)", **found)


ROUTES: dict[str, Callable[[base.Request, credentials.Principal, dict[str, Any]], dict]] = {
    "/_/cli/stage": stage,
    "/_/cli/finish": finish,
    "/_/cli/yank": yank,
    "/_/cli/unyank": unyank,
    "/_/cli/status": status,
    "/_/cli/list": listing,
}


def route(req: base.Request) -> dict:
    """One of `ROUTES` (the keys are `edge.guard.CLI_ROUTES`): POST, credentials with a publish
    right, a JSON object, then the route; any field that does not parse is a 400."""
    if req.method != "POST":
        return base.respond(405, "the CLI's routes take POST", req.accept, {"allow": "POST"})
    principal = base.authenticate(req)
    if isinstance(principal, dict):
        return principal
    if not principal.publish:
        logger.info("refused: read-only credentials", extra={"principal": principal.name})
        return base.respond(403, f"{principal.name!r} may read this index but not publish to it", req.accept)
    try:
        doc = read_json(req)
        return ROUTES[req.path](req, principal, doc)
    except base.BadRequest as exc:
        return base.respond(400, str(exc), req.accept)
    except (manage.BadValue, publish.InvalidDistribution) as exc:
        return base.respond(400, str(exc), req.accept)
