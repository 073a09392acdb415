"""Reading objects the way a client receives them: JSON pages are stored gzip-compressed
(`indexer.store.PRECOMPRESSED`), and pip/uv/poetry decode the `Content-Encoding` they carry."""

from __future__ import annotations

import gzip
from typing import Any


def decoded(resp: dict[str, Any]) -> bytes:
    body = resp["Body"].read()
    return gzip.decompress(body) if resp.get("ContentEncoding") == "gzip" else body


def read(s3: Any, bucket: str, key: str) -> bytes:
    return decoded(s3.get_object(Bucket=bucket, Key=key))
