"""The upload function: the legacy upload API (twine, uv, poetry) behind a Lambda function URL.

CloudFront sends ``/legacy/`` (its own behaviour, no cache, viewer headers forwarded) to a
regional function URL with ``AuthType NONE``.  Why NONE: CloudFront's Origin Access Control for
Lambda function URLs needs the viewer to send ``x-amz-content-sha256`` with a POST body, which
twine and uv do not ("Restricting access to an AWS Lambda function URL origin", CloudFront
Developer Guide).  So CloudFront adds a secret custom origin header, and this function answers
403 to anything without it before it looks at anything else.

The event is the function URL's payload format 2.0 (Lambda Developer Guide, "Invoking Lambda
function URLs", request and response payloads): lower-cased ``headers`` (repeated headers
joined with commas), ``requestContext.http.method``, ``rawPath``, and a ``body`` that is
base64-encoded when ``isBase64Encoded`` (always, for a multipart body).  The response is
``{"statusCode", "headers", "body"}``; a function URL cannot set a custom reason phrase (there is
no field for it, and CloudFront speaks HTTP/2 to most viewers, which has none), so every message
is in the body: ``text/plain``, or PyPI's JSON error shape (``{"message", "code", "title"}``) when
the client prefers JSON, as uv does (it shows ``code``).

Order, each step answering on its own: secret origin header (403) -> route (404/405) -> Basic
credentials through `edge.credentials` (401 with a challenge) -> any publish right at all (403:
read-only credentials never reach a parser) -> multipart form (400) -> the file *name* (400:
PEP 508 ASCII names) -> publish right on its project (403, before the attestations and the
archive are parsed) -> the other fields, attestations bounded in size and depth (400) -> the
publishing core `indexer.publish` (400 invalid, 200 created, 200 identical, 409 different bytes
or a look-alike of a published file) -> the project's pages rebuilt through the `Refresher`
before answering.  Bad input never raises out of the handler: every failure to parse a field is
a 400; S3 trouble is a 503 (twine retries 5xx); nothing is written unless the whole file
validated, and S3 writes an object whole or not at all.
"""

from __future__ import annotations

import base64
import binascii
import contextvars
import hmac
import io
import json
import logging
import math
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote_plus

from botocore.exceptions import BotoCoreError, ClientError
from multipart import MultipartError, MultipartParser, parse_options_header
from packaging.utils import canonicalize_name
from packaging.version import InvalidVersion, Version

from edge import credentials, guard, userpool
from indexer import publish
from upload import oidc

logger = logging.getLogger("pypi_edge.upload")

ORIGIN_HEADER = "x-pypi-edge-origin-secret"
ENV_ORIGIN_SECRET = "ORIGIN_SECRET"
ENV_BUCKET = "BUCKET"
ENV_INDEXER = "INDEXER_FUNCTION"
ENV_CREDENTIALS = "PYPI_EDGE_CREDENTIALS"
REALM = "pypi-edge"

# The request body never exceeds what a function URL accepts (6 MB of event, base64 inflates the
# body by 4/3; the edge answers 413 before that, see edge.handler.MAX_UPLOAD_BODY_BYTES).  The
# parser's limits are safeguards: the counts a real upload needs, with room to spare.
MAX_PARTS = 2048  # twine/uv send one field per classifier, requirement and project URL
MAX_BODY_BYTES = 8 * 1024 * 1024
# Bounds on the fields this function parses (the rest it never interprets).  A PEP 740
# attestation is a few KB (a Sigstore bundle: certificate, envelope, inclusion proof) and nests
# about 8 levels deep; json.loads recurses once per level and raises RecursionError (not a
# ValueError) near 1,000, so depth is checked before parsing.
MAX_ATTESTATIONS_BYTES = 256 * 1024
MAX_JSON_DEPTH = 32
MAX_SHORT_FIELD_CHARS = 1024  # name, version, digests, filetype: S3 keys are at most 1,024 bytes
SHORT_FIELDS = ("name", "version", "filetype", "pyversion", "sha256_digest", "blake2_256_digest")

# The fields that must appear at most once (repeatable ones: classifiers, requires_dist, ...).
SINGLE_FIELDS = (
    ":action",
    "protocol_version",
    "name",
    "version",
    "filetype",
    "pyversion",
    "sha256_digest",
    "blake2_256_digest",
    "md5_digest",
    "attestations",
)
FILETYPES = {"bdist_wheel": "wheel", "sdist": "sdist"}


# --- responses ---------------------------------------------------------------------------------

_TITLES = {
    200: "OK",
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not Found",
    405: "Method Not Allowed",
    409: "Conflict",
    413: "Payload Too Large",
    429: "Too Many Requests",
    503: "Service Unavailable",
}


def respond(status: int, message: str, accept: str = "", headers: dict[str, str] | None = None) -> dict:
    """A function URL response; JSON (PyPI's error shape) when the client prefers it, else text."""
    message = " ".join(message.split())  # one line, whatever went in
    out = {"cache-control": "no-store", "x-content-type-options": "nosniff", **(headers or {})}
    if _prefers_json(accept):
        out["content-type"] = "application/json"
        body = json.dumps({"message": message, "code": f"{status} {message}", "title": _TITLES[status]})
    else:
        out["content-type"] = "text/plain; charset=utf-8"
        body = f"{status} {message}\n"
    return {"statusCode": status, "headers": out, "body": body, "isBase64Encoded": False}


def _prefers_json(accept: str) -> bool:
    # uv: "application/json;q=0.9, text/plain;q=0.8, text/html;q=0.7"; twine and poetry send
    # requests' default "*/*".  A full negotiation is not needed for two offers.
    return "application/json" in accept.lower()


# --- the request -------------------------------------------------------------------------------


class BadRequest(Exception):
    """400 with this one-line reason."""


@dataclass
class Form:
    fields: dict[str, list[str]] = field(default_factory=dict)
    filename: str = ""
    content: bytes = b""

    def one(self, name: str) -> str | None:
        values = self.fields.get(name)
        return values[0] if values else None


def parse_form(headers: dict[str, str], body: bytes) -> Form:
    """The legacy upload form (`multipart` parser, RFC 7578), or BadRequest."""
    ctype, options = parse_options_header(headers.get("content-type", ""))
    if ctype.lower() != "multipart/form-data" or not options.get("boundary"):
        raise BadRequest("expected a multipart/form-data body with a boundary (the legacy upload API)")
    form = Form()
    try:
        parser = MultipartParser(
            io.BytesIO(body),
            options["boundary"],
            content_length=len(body),
            part_limit=MAX_PARTS,
            spool_limit=MAX_BODY_BYTES,  # everything in memory: no temporary files in the function
            memory_limit=MAX_BODY_BYTES,
        )
        for part in parser:
            if part.name == "content":
                if form.filename:
                    raise BadRequest("more than one 'content' file in one request")
                if not part.filename:
                    raise BadRequest("the 'content' part has no filename")
                form.filename, form.content = part.filename, part.raw
            elif part.filename:
                raise BadRequest(f"unexpected file in field {part.name[:100]!r}")
            else:
                # UTF-8 whatever charset a part declares: twine, uv and poetry send UTF-8, and a
                # declared charset Python does not know would raise LookupError.
                form.fields.setdefault(part.name, []).append(part.raw.decode("utf-8"))
    except BadRequest:
        raise
    except MultipartError as exc:
        raise BadRequest(f"malformed multipart body: {exc}") from None
    except UnicodeDecodeError:
        raise BadRequest("a form field is not valid UTF-8") from None
    except Exception as exc:  # the parser is third-party code and the input a stranger's: a 400
        logger.warning("multipart parser failed", extra={"error": repr(exc)[:200]})
        raise BadRequest("malformed multipart body") from None
    for name in SINGLE_FIELDS:
        if len(form.fields.get(name, ())) > 1:
            raise BadRequest(f"field {name!r} given more than once")
    for name in SHORT_FIELDS:
        if len(form.one(name) or "") > MAX_SHORT_FIELD_CHARS:
            raise BadRequest(f"field {name!r} is longer than {MAX_SHORT_FIELD_CHARS} characters")
    return form


def json_depth(text: str) -> int:
    """How deeply the arrays and objects of a JSON text nest (strings skipped), without parsing it."""
    depth = deepest = 0
    in_string = escaped = False
    for char in text:
        if in_string:
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == '"':
                in_string = False
        elif char == '"':
            in_string = True
        elif char in "[{":
            depth += 1
            deepest = max(deepest, depth)
        elif char in "]}":
            depth = max(0, depth - 1)
    return deepest


def parse_attestations(text: str) -> list[dict]:
    """PEP 740 attestations: a JSON array of objects, bounded in size and depth, or BadRequest."""
    if len(text) > MAX_ATTESTATIONS_BYTES:
        raise BadRequest(f"attestations larger than {MAX_ATTESTATIONS_BYTES} bytes")
    if json_depth(text) > MAX_JSON_DEPTH:
        raise BadRequest(f"attestations nest deeper than {MAX_JSON_DEPTH} levels")
    try:
        parsed = json.loads(text)
    except (ValueError, RecursionError):
        raise BadRequest("attestations is not valid JSON") from None
    if not isinstance(parsed, list) or not all(isinstance(a, dict) for a in parsed):
        raise BadRequest("attestations must be a JSON array of attestation objects (PEP 740)")
    return parsed


def check_form(form: Form) -> None:
    """The protocol fields (PyPI's upload API docs, and what twine/uv/poetry send)."""
    action = form.one(":action")
    if action != "file_upload":
        raise BadRequest(f"unsupported :action {action!r}: only file_upload is supported")
    if form.one("protocol_version") != "1":
        raise BadRequest("unsupported protocol_version: expected 1")
    for name in ("name", "version"):
        if not (form.one(name) or "").strip():
            raise BadRequest(f"missing field {name!r}")
    if not form.one("sha256_digest") and not form.one("blake2_256_digest"):
        raise BadRequest("missing sha256_digest (or blake2_256_digest)")
    attestations = form.one("attestations")
    if attestations is not None:
        parse_attestations(attestations)


def check_fields_match(form: Form, dist: publish.Dist) -> None:
    """The form's name, version and filetype agree with the (validated) file."""
    name, version = form.one("name") or "", form.one("version") or ""
    if canonicalize_name(name) != dist.name.project:
        raise BadRequest(f"name mismatch: the form says {name!r}, the file is {dist.name.project!r}")
    try:
        if Version(version) != dist.name.version:
            raise BadRequest(f"version mismatch: the form says {version!r}, the file is {dist.name.version}")
    except InvalidVersion:
        raise BadRequest(f"invalid version {version!r} (PEP 440)") from None
    filetype = form.one("filetype")
    if filetype is not None and FILETYPES.get(filetype) != dist.name.kind:
        raise BadRequest(f"filetype {filetype!r} does not match the file {dist.filename!r}")


# --- refreshing the pages ----------------------------------------------------------------------
#
# The upload function may run for 30 s (infra/upload.py) and the indexer up to 120 s, so a rebuild
# can outlast the upload.  Had the function waited for it, Lambda would kill the upload after its
# file was stored and CloudFront would answer a 5xx: twine would report a failure for a published
# file.  So the wait is bounded by the time this invocation has left, less a margin to answer in
# (`budget`), and when it runs out the upload answers 200 with "indexing continues": the indexer
# invocation keeps running in Lambda after its caller stops waiting, and the file's own S3 event
# indexes it anyway, within seconds.

Refresher = Callable[[str, str, float | None], None]
"""(bucket, key, timeout in seconds or None) -> None; raises when the rebuild failed or timed out."""

# What the invocation keeps for itself after the refresh: the response, the log line, returning.
REFRESH_MARGIN_SECONDS = 3.0
# Below this there is no point in starting a rebuild.
REFRESH_MIN_SECONDS = 0.25
CONNECT_TIMEOUT_SECONDS = 1.0
INDEXING_CONTINUES = "indexing continues: the project's pages show it within a minute"

# The deadline of the invocation being handled (time.monotonic()), set by `begin` from the Lambda
# context; None: no bound (the local stack, tests without a context).  A context variable, so
# concurrent requests in the local stack's threads each keep their own.
_deadline: contextvars.ContextVar[float | None] = contextvars.ContextVar("refresh_deadline", default=None)
_clock = time.monotonic  # a seam for tests: the budget is arithmetic on this clock


def begin(context: object) -> None:
    """Note when this invocation ends: `context.get_remaining_time_in_millis()` ("Returns the number
    of milliseconds left before the execution times out", Lambda developer guide, "Using the Lambda
    context object to retrieve Python function information")."""
    remaining = getattr(context, "get_remaining_time_in_millis", None)
    _deadline.set(_clock() + remaining() / 1000 if callable(remaining) else None)


def budget() -> float | None:
    """Seconds the refresh may take in this invocation (None: unbounded)."""
    deadline = _deadline.get()
    return None if deadline is None else deadline - _clock() - REFRESH_MARGIN_SECONDS


def s3_event(bucket: str, key: str, size: int) -> dict:
    """The direct S3 notification the indexer accepts (keys URL-encoded, "+" for space, as S3 sends)."""
    return {
        "Records": [
            {
                "eventSource": "aws:s3",
                "eventName": "ObjectCreated:Put",
                "s3": {
                    "bucket": {"name": bucket},
                    "object": {"key": quote_plus(key, safe="/"), "size": size},
                },
            }
        ]
    }


class LambdaRefresher:
    """Invokes the indexer function synchronously (RequestResponse) with a direct S3 event.

    Bounded: the client waits at most `timeout` seconds in all (connect + read) and never retries
    (botocore `Config`: connect_timeout and read_timeout default to 60 s, and the default retry mode
    would repeat a timed-out call; `retries={"total_max_attempts": 1}` is the initial request only,
    boto3 guide "Retries").  A timeout raises botocore's ReadTimeoutError (or ConnectTimeoutError).
    Clients are kept per timeout, rounded down to a quarter second (a new client costs ~15 ms).
    """

    def __init__(self, function_name: str, client: Any = None) -> None:
        self.function_name = function_name
        self._client = client  # a fixed client (tests); None: made per timeout
        self._clients: dict[float | None, Any] = {}

    def client(self, timeout: float | None) -> Any:
        if self._client is not None:
            return self._client
        key = None if timeout is None else max(math.floor(timeout * 4) / 4, REFRESH_MIN_SECONDS)
        if key not in self._clients:
            import boto3
            from botocore.config import Config as BotoConfig

            limits: dict[str, Any] = {"retries": {"total_max_attempts": 1}}
            if key is not None:
                connect = min(CONNECT_TIMEOUT_SECONDS, key / 4)
                limits.update(connect_timeout=connect, read_timeout=key - connect)
            self._clients[key] = boto3.client("lambda", config=BotoConfig(**limits))
        return self._clients[key]

    def __call__(self, bucket: str, key: str, timeout: float | None = None) -> None:
        resp = self.client(timeout).invoke(
            FunctionName=self.function_name,
            InvocationType="RequestResponse",
            Payload=json.dumps(s3_event(bucket, key, 0)).encode(),
        )
        if resp.get("FunctionError"):
            detail = resp["Payload"].read()[:500].decode("utf-8", "replace")
            raise RuntimeError(f"indexer {self.function_name} failed: {resp['FunctionError']}: {detail}")


# --- configuration (module state, set once per container) --------------------------------------


@dataclass
class Config:
    bucket: str = ""
    origin_secret: str = ""
    s3: Any = None
    refresher: Refresher | None = None
    minted: credentials.MintedVerifier | None = None  # trusted publishing (upload/oidc.py) plugs in here
    trusted: oidc.Settings | None = None  # trusted publishing: None (or no publishers) = off
    oidc_keys: oidc.KeyCache = field(default_factory=oidc.KeyCache)  # the issuers' JWKS, per container
    verifier: credentials.Verifier = field(default_factory=credentials.Verifier)
    presigner: Any = None  # an S3 client for presigned URLs (upload/remote.py); None: `s3`


_config: Config | None = None


def configure(config: Config | None) -> None:
    """Install a configuration (tests, the local stack); None: read the environment on next use."""
    global _config
    _config = config


def credentials_path() -> str:
    """``$PYPI_EDGE_CREDENTIALS``, else ``credentials.json`` at the bundle root (next to upload/)."""
    here = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    return os.environ.get(ENV_CREDENTIALS) or os.path.join(here, credentials.FILE_NAME)


def from_environment() -> Config:
    """The deployed configuration: env vars and the bundled credentials file (fail closed)."""
    config = Config(
        bucket=os.environ.get(ENV_BUCKET, ""), origin_secret=os.environ.get(ENV_ORIGIN_SECRET, "")
    )
    path = credentials_path()
    try:
        with open(path, "rb") as f:
            config.verifier.configure(f.read())
    except (OSError, ValueError) as exc:
        logger.error("no usable credentials at %s (%s): every upload gets 401", path, exc)
    # The opt-in user pool: the same file and the same verifier as the edge (edge/userpool.py).
    pool_path = os.environ.get(userpool.ENV_VAR) or os.path.join(os.path.dirname(path), userpool.FILE_NAME)
    try:
        raw = userpool.read_file(pool_path)
        if raw is not None:
            config.verifier.pool = userpool.PoolVerifier(userpool.load(raw))
    except (OSError, ValueError) as exc:
        config.verifier.pool = userpool.Broken(str(exc))
        logger.error("unusable user pool file %s (%s): pool users get 503", pool_path, exc)
    if os.environ.get(ENV_INDEXER):
        config.refresher = LambdaRefresher(os.environ[ENV_INDEXER])
    try:
        config.trusted = oidc.settings_from_environment()
    except (OSError, ValueError) as exc:
        logger.error("trusted publishing config unusable (%s): trusted publishing is off", exc)
    config.minted = oidc.minted_verifier(config.trusted)
    return config


def current() -> Config:
    global _config
    if _config is None:
        _config = from_environment()
    if _config.s3 is None:
        import boto3

        _config.s3 = boto3.client("s3")
    return _config


# --- routes ------------------------------------------------------------------------------------


@dataclass
class Request:
    method: str
    path: str
    headers: dict[str, str]
    event: dict
    config: Config

    @property
    def accept(self) -> str:
        return self.headers.get("accept", "")

    def body(self) -> bytes:
        raw = self.event.get("body") or ""
        if not isinstance(raw, str):
            raise BadRequest("malformed request body")
        if self.event.get("isBase64Encoded"):
            try:
                return base64.b64decode(raw, validate=True)
            except (binascii.Error, ValueError):
                raise BadRequest("the request body is not valid base64") from None
        return raw.encode("utf-8", "surrogateescape")


def authenticate(req: Request) -> credentials.Principal | dict:
    """The request's principal (Basic credentials, an API token or a minted token), or the
    response that refuses it: 401 with a challenge, 429, or 503 when the user pool is unreachable."""
    config = req.config
    try:
        principal = config.verifier.verify(req.headers.get("authorization"), minted=config.minted)
    except userpool.Unavailable:
        return respond(
            503,
            "the user store cannot be reached; try again in a few seconds",
            req.accept,
            {"retry-after": str(userpool.RETRY_AFTER_SECONDS)},
        )
    except userpool.RateLimited as exc:
        return respond(
            429,
            f"too many failed sign-ins for this user; wait {exc.retry_after} s",
            req.accept,
            {"retry-after": str(exc.retry_after)},
        )
    if principal is None:
        return respond(
            401,
            "invalid or missing credentials: use your index user and password, or __token__ and a token",
            req.accept,
            {"www-authenticate": credentials.challenge(config.verifier.realm or REALM)},
        )
    return principal


def file_upload(req: Request) -> dict:
    """POST /legacy/: one distribution per request, as twine, uv and poetry send them."""
    config = req.config
    if req.method != "POST":
        return respond(405, "the upload endpoint takes POST", req.accept, {"allow": "POST"})
    principal = authenticate(req)
    if isinstance(principal, dict):
        return principal
    if not principal.publish:
        # Read-only credentials: refused before any byte of the body is parsed.
        logger.info("refused: read-only credentials", extra={"principal": principal.name})
        return respond(403, f"{principal.name!r} may read this index but not publish to it", req.accept)
    try:
        form = parse_form(req.headers, req.body())
        if not form.filename:
            raise BadRequest("no file: the 'content' field is missing")
        # The publish right, as early as the file name allows: before the attestations, the other
        # fields and the archive are parsed.
        try:
            name, _stored = publish.check_filename(publish.shown(form.filename), form.filename)
        except publish.InvalidDistribution as exc:
            raise BadRequest(str(exc)) from None
        project = name.project
        if not principal.can_publish(project):
            logger.info("refused: no publish right", extra={"principal": principal.name, "project": project})
            return respond(403, f"{principal.name!r} may not publish to project {project!r}", req.accept)
        check_form(form)
        try:
            dist = publish.validate_bytes(form.filename, form.content)
            publish.check_digests(
                dist,
                sha256_digest=form.one("sha256_digest"),
                blake2_256_digest=form.one("blake2_256_digest"),
            )
        except publish.InvalidDistribution as exc:
            raise BadRequest(str(exc)) from None
        check_fields_match(form, dist)
    except BadRequest as exc:
        return respond(400, str(exc), req.accept)
    try:
        uploader = publish.Uploader(config.s3, config.bucket, progress=False)
        outcome = uploader.upload(dist)
    except publish.Busy as exc:
        return respond(503, str(exc), req.accept, {"retry-after": "1"})
    except publish.ProjectClosed as exc:  # PEP 792: archived or quarantined
        logger.info("refused: project closed", extra={"principal": principal.name, "project": project})
        return respond(400, str(exc), req.accept)
    extra = {"principal": principal.name, "key": dist.key, "sha256": dist.sha256, "outcome": outcome}
    logger.info("upload", extra=extra)
    if outcome == publish.CONFLICT:
        # twine (--skip-existing, older releases), uv and poetry all read 409 as "exists".
        return respond(409, publish.conflict_message(dist, uploader.held_by(dist)), req.accept)
    if outcome == publish.PRESENT:
        return respond(200, publish.present_message(dist, uploader.held_by(dist)), req.accept)
    if not refresh(config, dist.key):
        return respond(200, f"published {dist.key}; {INDEXING_CONTINUES}", req.accept)
    return respond(200, f"published {dist.key}", req.accept)


def refresh(config: Config, key: str) -> bool:
    """Rebuild the project's pages before answering, so the next `pip install` sees the file;
    whether they were rebuilt.

    A failure or a timeout here does not fail the upload: the file is in the bucket, and its S3
    event runs the indexer anyway (idempotently), within seconds.  The wait is bounded by
    `budget()` (see "refreshing the pages" above).
    """
    if config.refresher is None:
        return False
    timeout = budget()
    if timeout is not None and timeout < REFRESH_MIN_SECONDS:
        logger.warning("no time left to refresh the pages; the S3 event will index it", extra={"key": key})
        return False
    try:
        config.refresher(config.bucket, key, timeout)
    except Exception:
        logger.exception("page refresh failed; the S3 event will index it", extra={"key": key})
        return False
    return True


def trusted_publishing(req: Request) -> dict:
    """/_/oidc/audience, /_/oidc/mint-token, /_/oidc/burn-token: PyPI's token exchange (upload/oidc.py)."""
    try:
        body = req.body()
    except BadRequest as exc:
        return respond(400, str(exc), req.accept)
    reply = oidc.handle(
        req.method,
        req.path,
        body,
        settings=req.config.trusted,
        cache=req.config.oidc_keys,
        now=int(time.time()),
        seen=oidc.S3TokenLog(req.config.s3, req.config.bucket),
    )
    headers = {name.lower(): value for name, value in reply.headers.items()}
    return {
        "statusCode": reply.status,
        "headers": headers,
        "body": reply.encoded().decode(),
        "isBase64Encoded": False,
    }


def cli_route(req: Request) -> dict:
    """The `pypi-edge` CLI's HTTPS routes (upload/remote.py, imported here on first use: it
    imports this module's helpers)."""
    from upload import remote

    return remote.route(req)


# The dispatch table: rawPath -> route; each route checks its own method.
ROUTES: dict[str, Callable[[Request], dict]] = {
    "/legacy/": file_upload,
    "/legacy": file_upload,
    **dict.fromkeys(oidc.PATHS, trusted_publishing),
    **dict.fromkeys(guard.CLI_ROUTES, cli_route),
}


def handler(event: dict, context: object = None) -> dict:
    """Function URL entry point (payload format 2.0)."""
    raw_headers = event.get("headers") if isinstance(event, dict) else None
    # Function URLs send lower-cased string headers; anything else is dropped, never trusted.
    headers = {
        k.lower(): v
        for k, v in (raw_headers.items() if isinstance(raw_headers, dict) else ())
        if isinstance(k, str) and isinstance(v, str)
    }
    accept = headers.get("accept", "")
    begin(context)  # the refresh's time limit
    try:
        config = current()
        supplied = headers.get(ORIGIN_HEADER)
        # Constant time; an unset secret fails closed.  Nothing else is looked at before this.
        if not (
            config.origin_secret
            and isinstance(supplied, str)
            and hmac.compare_digest(supplied.encode(), config.origin_secret.encode())
        ):
            return respond(403, "forbidden: requests must come through the index's CDN", accept)
        if refusal := guard.cross_site_refusal(headers.get("origin"), headers.get("sec-fetch-site")):
            return respond(
                403, refusal, accept
            )  # a web page's request (edge/guard.py; the edge refuses it first)
        http = (event.get("requestContext") or {}).get("http") or {}
        path = event.get("rawPath") or http.get("path") or "/"
        route = ROUTES.get(path)
        if route is None:
            return respond(404, "no such endpoint: upload to /legacy/", accept)
        request = Request(str(http.get("method", "")).upper(), path, headers, event, config)
        return route(request)
    except (ClientError, BotoCoreError):
        logger.exception("S3 or Lambda call failed")
        return respond(503, "storage is unavailable; try again", accept, {"retry-after": "1"})
