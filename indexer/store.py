"""The S3 boundary: every request the indexer and the CLI make goes through `Bucket`.

Kept thin on purpose: plain boto3 calls, errors turned into the few exceptions callers act on.
"""

from __future__ import annotations

import base64
import contextlib
import gzip
import json
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import IO, Any

from botocore.exceptions import ClientError

PAGE_CACHE_SECONDS_DEFAULT = 60
HTML = "text/html; charset=utf-8"
JSON = "application/vnd.pypi.simple.v1+json"  # PEP 691
METADATA = "text/plain; charset=utf-8"
IMMUTABLE = "public, max-age=31536000, immutable"
# Pages stored gzip-compressed, with `Content-Encoding: gzip`.  CloudFront compresses only the
# content types on its list (CloudFront developer guide, "Serve compressed files" → "File types
# that CloudFront compresses": application/json is there, application/vnd.pypi.simple.v1+json is
# not), and it passes an object that already has a Content-Encoding on as it is ("How CloudFront
# compression works": it "doesn't compress the object again").  Every client we support asks
# for gzip and decodes it: pip and poetry through requests (default `Accept-Encoding: gzip,
# deflate`, decoded by urllib3), uv through reqwest built with its "gzip" feature (astral-sh/uv
# Cargo.toml), browsers always; tests/test_e2e_compression.py installs and browses through such
# pages.  A request without Accept-Encoding allows any coding (RFC 9110, 12.5.3); `curl` needs
# --compressed.  On a 2,000-file project page: 757 KB of JSON sent as 187 KB
# (tests/test_store_pages.py).  HTML stays plain: CloudFront compresses text/html itself for
# viewers that ask (1 KB to 10 MB), to about the same size.  A client that accepts only
# `identity` (curl without --compressed, Python's urllib) is sent a second, unencoded copy
# (`put(..., compress=False)`, indexer.model.IDENTITY_JSON_PAGE), chosen by the edge.
PRECOMPRESSED = frozenset({JSON})
GZIP = "gzip"


def page_cache_control(edge_seconds: int) -> str:
    """Cache-Control of generated pages: clients revalidate on every use (a 304 on the ETag when
    nothing changed), CloudFront keeps the page `edge_seconds` (`s-maxage` wins over `max-age`
    for CloudFront, CloudFront developer guide "Manage how long content stays in the cache"),
    and the indexer invalidates it the moment it changes (indexer/invalidate.py).  So
    `edge_seconds` only bounds staleness when an invalidation is lost."""
    return f"public, max-age=0, must-revalidate, s-maxage={edge_seconds}"


class PreconditionFailed(Exception):
    """A conditional write lost the race (HTTP 412): someone wrote the object since we read it."""


@dataclass(frozen=True)
class ObjectInfo:
    key: str
    size: int
    etag: str
    last_modified: datetime
    has_sha256: bool = False


def error_code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


def status_code(exc: ClientError) -> int:
    return int(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0))


def is_not_found(exc: ClientError) -> bool:
    """The key is missing (a missing *bucket* is also a 404, but never "not found" for a key)."""
    return error_code(exc) != "NoSuchBucket" and (
        error_code(exc) in {"NoSuchKey", "404", "NotFound"} or status_code(exc) == 404
    )


def is_precondition_failed(exc: ClientError) -> bool:
    # 409 ConditionalRequestConflict: a concurrent conditional write was in flight; same remedy.
    return error_code(exc) in {"PreconditionFailed", "ConditionalRequestConflict"} or status_code(exc) in {
        412,
        409,
    }


class Bucket:
    def __init__(self, client: Any, name: str, page_cache_seconds: int = PAGE_CACHE_SECONDS_DEFAULT) -> None:
        self.client = client
        self.name = name
        self.page_cache_control = page_cache_control(page_cache_seconds)

    # --- reading -------------------------------------------------------------------------

    def list(self, prefix: str) -> Iterator[ObjectInfo]:
        paginator = self.client.get_paginator("list_objects_v2")
        for page in paginator.paginate(Bucket=self.name, Prefix=prefix):
            for obj in page.get("Contents", []):
                yield ObjectInfo(
                    key=obj["Key"],
                    size=int(obj["Size"]),
                    etag=obj["ETag"],
                    last_modified=obj["LastModified"],
                    has_sha256="SHA256" in obj.get("ChecksumAlgorithm", []),
                )

    def get_bytes(self, key: str, max_bytes: int | None = None) -> tuple[bytes, str] | None:
        """(body, etag), or None when the key does not exist; at most `max_bytes` of the body.

        A whole object stored with `Content-Encoding: gzip` (a JSON page) comes back decoded,
        as an HTTP client receives it; one that does not decode comes back as stored, and the
        JSON reader below then finds it unreadable like any other broken page.
        """
        kwargs: dict[str, Any] = {"Bucket": self.name, "Key": key}
        if max_bytes is not None:
            kwargs["Range"] = f"bytes=0-{max_bytes - 1}"
        try:
            resp = self.client.get_object(**kwargs)
        except ClientError as exc:
            if is_not_found(exc):
                return None
            raise
        body = resp["Body"].read()
        if max_bytes is None and resp.get("ContentEncoding") == GZIP:
            with contextlib.suppress(OSError, EOFError, zlib.error):
                body = gzip.decompress(body)
        return body, resp["ETag"]

    def exists(self, key: str) -> bool:
        try:
            self.client.head_object(Bucket=self.name, Key=key)
        except ClientError as exc:
            if is_not_found(exc):
                return False
            raise
        return True

    def get_dated(self, key: str, max_bytes: int) -> tuple[bytes, datetime] | None:
        """(at most `max_bytes` of the body, LastModified), or None when the key does not exist."""
        try:
            resp = self.client.get_object(Bucket=self.name, Key=key)
        except ClientError as exc:
            if is_not_found(exc):
                return None
            raise
        return resp["Body"].read(max_bytes), resp["LastModified"]

    def get_json(self, key: str) -> tuple[dict[str, Any] | None, str | None]:
        got = self.get_bytes(key)
        if got is None:
            return None, None
        body, etag = got
        try:
            doc = json.loads(body)
        except ValueError:
            return None, etag  # unreadable: rebuilt from scratch, but still written conditionally
        return (doc if isinstance(doc, dict) else None), etag

    def open_stream(self, key: str) -> IO[bytes]:
        return self.client.get_object(Bucket=self.name, Key=key)["Body"]

    def get_range(self, key: str, start: int, end: int) -> bytes:
        resp = self.client.get_object(Bucket=self.name, Key=key, Range=f"bytes={start}-{end}")
        return resp["Body"].read()

    def full_object_sha256(self, key: str) -> str | None:
        """The object's SHA-256 as hex when S3 holds a full-object one (not a multipart composite)."""
        return head_sha256(self.client.head_object(Bucket=self.name, Key=key, ChecksumMode="ENABLED"))

    # --- writing -------------------------------------------------------------------------

    def put(
        self,
        key: str,
        body: bytes,
        content_type: str,
        cache_control: str,
        *,
        if_match: str | None = None,
        if_none_match: bool = False,
        compress: bool | None = None,
    ) -> str:
        """Write an object, conditionally when asked; returns the new ETag.

        JSON pages are stored gzip-compressed (see PRECOMPRESSED) unless `compress` is False;
        mtime 0 keeps the same page the same bytes."""
        kwargs: dict[str, Any] = {
            "Bucket": self.name,
            "Key": key,
            "Body": body,
            "ContentType": content_type,
            "CacheControl": cache_control,
        }
        if compress is None:
            compress = content_type in PRECOMPRESSED
        if compress:
            kwargs["Body"] = gzip.compress(body, compresslevel=9, mtime=0)
            kwargs["ContentEncoding"] = GZIP
        if if_match:
            kwargs["IfMatch"] = if_match
        elif if_none_match:
            kwargs["IfNoneMatch"] = "*"
        try:
            return self.client.put_object(**kwargs)["ETag"]
        except ClientError as exc:
            # If-Match on a key that was deleted since we read it answers 404, not 412: the
            # same lost race.
            if is_precondition_failed(exc) or (if_match and is_not_found(exc)):
                raise PreconditionFailed(key) from exc
            raise

    def put_page(self, key: str, body: bytes, content_type: str, *, etag: str | None = None) -> str:
        """An index page, written only over the version we read (or only if there was none)."""
        return self.put(
            key, body, content_type, self.page_cache_control, if_match=etag, if_none_match=etag is None
        )

    def delete(self, key: str, *, if_match: str | None = None) -> None:
        kwargs: dict[str, Any] = {"Bucket": self.name, "Key": key}
        if if_match:
            kwargs["IfMatch"] = if_match
        try:
            self.client.delete_object(**kwargs)
        except ClientError as exc:
            if is_precondition_failed(exc):
                raise PreconditionFailed(key) from exc
            if not is_not_found(exc):
                raise


def head_sha256(resp: dict[str, Any]) -> str | None:
    """From a HEAD with ChecksumMode: the SHA-256 as hex when S3 holds a full-object one."""
    value = resp.get("ChecksumSHA256")
    # A multipart upload's SHA-256 is a composite (a hash of part hashes), not the file's;
    # S3 says so in ChecksumType, and its ETag ends in "-<parts>" (all moto tells us).
    composite = "-" in value if value else True
    if composite or "-" in resp.get("ETag", "") or resp.get("ChecksumType", "FULL_OBJECT") != "FULL_OBJECT":
        return None
    return base64.b64decode(value).hex()
