"""What S3 enforces and moto (5.x, server mode) does not, for the requests the local stack's users
send: closed here, in front of moto (`local.s3front.S3Front` calls `refusal` first).

Checked against moto by hand (issue 20) and pinned by tests/test_local_s3rules.py: moto accepts a
presigned URL after its expiry, with a wrong signature, and without the headers it signed; it
stores a PUT body whose ``x-amz-checksum-sha256`` does not match it (and then reports that wrong
checksum as the object's); and it ignores ``If-None-Match`` on CopyObject.  What S3 does instead:

* Presigned URLs (query-string SigV4): "Authenticating Requests: Using Query Parameters" (S3 API
  reference): the signature covers the method, path, query and every header named in
  ``X-Amz-SignedHeaders``; a mismatch is ``403 SignatureDoesNotMatch``, a request after
  ``X-Amz-Date`` + ``X-Amz-Expires`` is ``403 AccessDenied`` "Request has expired".
* ``x-amz-checksum-sha256``: S3 computes the checksum of what it received and answers
  ``400 BadDigest`` when it differs ("Checking object integrity in Amazon S3", S3 User Guide).
* CopyObject with ``If-None-Match: *``: ``412 PreconditionFailed`` when the destination key has a
  current object (S3 API reference, CopyObject, ``If-None-Match``).

The checksum is computed while the body is spooled to a temporary file (never all in memory),
which is handed on to moto as the request body.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import tempfile
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qsl, quote

CHUNK = 1024 * 1024
SPOOL_BYTES = 8 * 1024 * 1024


class Refusal(Exception):
    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message

    def response(self, start_response: Any) -> list[bytes]:
        body = (
            '<?xml version="1.0" encoding="UTF-8"?>\n'
            f"<Error><Code>{self.code}</Code><Message>{self.message}</Message></Error>"
        ).encode()
        reasons = {400: "Bad Request", 403: "Forbidden", 412: "Precondition Failed"}
        start_response(
            f"{self.status} {reasons[self.status]}",
            [("Content-Type", "application/xml"), ("Content-Length", str(len(body)))],
        )
        return [body]


def _sign_key(secret: str, date: str, region: str, service: str) -> bytes:
    key = f"AWS4{secret}".encode()
    for part in (date, region, service, "aws4_request"):
        key = hmac.new(key, part.encode(), hashlib.sha256).digest()
    return key


def check_presigned(environ: dict[str, Any], secrets: dict[str, str], now: datetime | None = None) -> None:
    """Refuse a query-string-signed request that S3 would refuse (expired, or not as signed)."""
    raw_uri = environ.get("RAW_URI") or environ.get("REQUEST_URI") or environ.get("PATH_INFO", "")
    path, _, query = raw_uri.partition("?")
    params = parse_qsl(query, keep_blank_values=True)
    given = dict(params)
    if "Signature" in given and "AWSAccessKeyId" in given:
        # Signature Version 2 is turned off for buckets created after June 24, 2020 ("Signature
        # Version 2 turned off (deprecated) for Amazon S3", S3 User Guide): every bucket Pulumi
        # makes refuses it, so the local one does too (presigners must ask for "s3v4").
        raise Refusal(403, "AccessDenied", "SigV2 authorization is not supported; use Signature Version 4")
    if "X-Amz-Signature" not in given:
        return
    try:
        credential = given["X-Amz-Credential"].split("/")
        access_key, date, region, service = credential[0], credential[1], credential[2], credential[3]
        signed_at = datetime.strptime(given["X-Amz-Date"], "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)
        expires = int(given["X-Amz-Expires"])
        signed_headers = given["X-Amz-SignedHeaders"].split(";")
    except (KeyError, IndexError, ValueError):
        raise Refusal(403, "AuthorizationQueryParametersError", "Malformed presigned URL") from None
    if (now or datetime.now(UTC)) > signed_at + timedelta(seconds=expires):
        raise Refusal(403, "AccessDenied", "Request has expired")
    secret = secrets.get(access_key)
    if secret is None:
        raise Refusal(403, "InvalidAccessKeyId", "The AWS Access Key Id you provided does not exist")

    def header(name: str) -> str:
        if name == "content-type":
            return environ.get("CONTENT_TYPE", "")
        if name == "content-length":
            return environ.get("CONTENT_LENGTH", "")
        return environ.get("HTTP_" + name.upper().replace("-", "_"), "")

    query_part = "&".join(
        f"{quote(k, safe='-_.~')}={quote(v, safe='-_.~')}"
        for k, v in sorted((k, v) for k, v in params if k != "X-Amz-Signature")
    )
    canonical = "\n".join(
        [
            environ.get("REQUEST_METHOD", ""),
            path,
            query_part,
            "".join(f"{h}:{' '.join(header(h).split())}\n" for h in signed_headers),
            ";".join(signed_headers),
            "UNSIGNED-PAYLOAD",
        ]
    )
    scope = f"{date}/{region}/{service}/aws4_request"
    to_sign = "\n".join(
        ["AWS4-HMAC-SHA256", given["X-Amz-Date"], scope, hashlib.sha256(canonical.encode()).hexdigest()]
    )
    expected = hmac.new(
        _sign_key(secret, date, region, service), to_sign.encode(), hashlib.sha256
    ).hexdigest()
    if not hmac.compare_digest(expected, given["X-Amz-Signature"]):
        raise Refusal(
            403,
            "SignatureDoesNotMatch",
            "The request signature we calculated does not match the signature you provided",
        )


def check_checksum(environ: dict[str, Any]) -> None:
    """A PUT body with ``x-amz-checksum-sha256`` must hash to it (BadDigest); the body is spooled
    and handed on, with the header moto needs to keep the checksum as S3 does."""
    claimed = environ.get("HTTP_X_AMZ_CHECKSUM_SHA256")
    if environ.get("REQUEST_METHOD") != "PUT" or not claimed or "HTTP_X_AMZ_COPY_SOURCE" in environ:
        return
    if "aws-chunked" in environ.get("HTTP_CONTENT_ENCODING", "") or environ.get(
        "HTTP_X_AMZ_CONTENT_SHA256", ""
    ).startswith("STREAMING-"):
        return  # a trailer-signed upload (SDKs); moto decodes and checks those itself
    length = int(environ.get("CONTENT_LENGTH") or 0)
    source = environ["wsgi.input"]
    spool = tempfile.SpooledTemporaryFile(max_size=SPOOL_BYTES)  # noqa: SIM115 (moto reads it; closed with the request)
    digest = hashlib.sha256()
    left = length
    while left > 0:
        chunk = source.read(min(CHUNK, left))
        if not chunk:
            break
        digest.update(chunk)
        spool.write(chunk)
        left -= len(chunk)
    spool.seek(0)
    environ["wsgi.input"] = spool
    if base64.b64encode(digest.digest()).decode() != claimed.strip():
        raise Refusal(400, "BadDigest", "The SHA256 you specified did not match the calculated checksum.")
    environ.setdefault("HTTP_X_AMZ_SDK_CHECKSUM_ALGORITHM", "SHA256")


def check_copy_condition(environ: dict[str, Any], exists: Any) -> None:
    """CopyObject with ``If-None-Match: *`` onto a key that has a current object: 412."""
    if environ.get("REQUEST_METHOD") != "PUT" or "HTTP_X_AMZ_COPY_SOURCE" not in environ:
        return
    if environ.get("HTTP_IF_NONE_MATCH", "").strip() == "*" and exists(environ.get("PATH_INFO", "")):
        raise Refusal(
            412, "PreconditionFailed", "At least one of the pre-conditions you specified did not hold"
        )
