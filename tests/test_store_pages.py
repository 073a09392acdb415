"""JSON pages are stored gzip-compressed (`indexer.store.PRECOMPRESSED`) and read back decoded.

CloudFront does not compress application/vnd.pypi.simple.v1+json (it is not on its list of
compressible types), so a page is sent as it is stored: these tests pin what is stored, in bytes.
"""

from __future__ import annotations

import gzip
import hashlib
import json
from datetime import UTC, datetime
from typing import Any

import pytest
from packaging.version import Version

from indexer import render
from indexer.model import File, ProjectDetail
from indexer.store import HTML, JSON, Bucket
from tests.conftest import BUCKET

PAGE = json.dumps({"meta": {"api-version": "1.1"}, "name": "demo", "files": []}).encode()


def stored(s3: Any, key: str) -> dict[str, Any]:
    resp = s3.get_object(Bucket=BUCKET, Key=key)
    return {**resp, "Body": resp["Body"].read()}


def test_a_json_page_is_stored_gzip_compressed_with_its_content_encoding(s3: Any) -> None:
    bucket = Bucket(s3, BUCKET)
    bucket.put_page("demo/index.json", PAGE, JSON)
    obj = stored(s3, "demo/index.json")
    assert obj["ContentEncoding"] == "gzip" and obj["ContentType"] == JSON
    # mtime 0: the same page is the same bytes, whenever and wherever it is written.
    assert obj["Body"] == gzip.compress(PAGE, compresslevel=9, mtime=0)
    assert obj["CacheControl"] == bucket.page_cache_control
    bucket.put("index.json", PAGE, JSON, bucket.page_cache_control)  # unconditional writes too
    assert stored(s3, "index.json")["Body"] == obj["Body"]


def test_an_html_page_is_stored_plain_for_cloudfront_to_compress(s3: Any) -> None:
    Bucket(s3, BUCKET).put("demo/index.html", b"<!DOCTYPE html>", HTML, "public, max-age=60")
    obj = stored(s3, "demo/index.html")
    assert "ContentEncoding" not in obj and obj["Body"] == b"<!DOCTYPE html>"


def test_get_json_reads_a_compressed_page_and_an_older_plain_one(s3: Any) -> None:
    bucket = Bucket(s3, BUCKET)
    etag = bucket.put_page("demo/index.json", PAGE, JSON)
    assert bucket.get_json("demo/index.json") == (json.loads(PAGE), etag)
    # Pages written before compression (or by s3pypi-style tools) have no Content-Encoding.
    plain = s3.put_object(Bucket=BUCKET, Key="old/index.json", Body=PAGE, ContentType=JSON)["ETag"]
    assert bucket.get_json("old/index.json") == (json.loads(PAGE), plain)


@pytest.mark.parametrize(
    "body",
    [
        b"not gzip at all",  # gzip.BadGzipFile (an OSError)
        gzip.compress(PAGE, mtime=0)[:-12],  # truncated: EOFError
        gzip.compress(PAGE * 50, mtime=0)[:10]
        + b"\xff" * 8
        + gzip.compress(PAGE * 50, mtime=0)[18:],  # zlib.error
    ],
    ids=["not-gzip", "truncated", "corrupt-deflate"],
)
def test_a_page_that_does_not_decode_is_unreadable_but_keeps_its_etag(s3: Any, body: bytes) -> None:
    """Like a page that is not JSON: rebuilt from scratch, written conditionally over that ETag."""
    etag = s3.put_object(Bucket=BUCKET, Key="demo/index.json", Body=body, ContentEncoding="gzip")["ETag"]
    bucket = Bucket(s3, BUCKET)
    assert bucket.get_bytes("demo/index.json") == (body, etag)  # as stored
    assert bucket.get_json("demo/index.json") == (None, etag)


def test_a_ranged_read_is_not_decoded(s3: Any) -> None:
    bucket = Bucket(s3, BUCKET)
    bucket.put_page("demo/index.json", PAGE, JSON)
    whole = stored(s3, "demo/index.json")["Body"]
    assert bucket.get_bytes("demo/index.json", max_bytes=10) == (
        whole[:10],
        stored(s3, "demo/index.json")["ETag"],
    )


def big_project(files: int) -> ProjectDetail:
    entries = []
    for i in range(files // 2):
        version = f"1.{i // 10}.{i % 10}"
        for kind, name in (
            ("sdist", f"bigproject-{version}.tar.gz"),
            ("bdist_wheel", f"bigproject-{version}-py3-none-any.whl"),
        ):
            digest = hashlib.sha256(name.encode()).hexdigest()
            entries.append(
                File(
                    filename=name,
                    version=Version(version),
                    kind=kind,
                    sha256=digest,
                    size=100_000 + i,
                    upload_time=datetime(2025, 1, 1, tzinfo=UTC),
                    requires_python=">=3.9",
                    metadata_sha256=None if kind == "sdist" else hashlib.sha256(digest.encode()).hexdigest(),
                    etag=f'"{digest[:32]}"',
                )
            )
    return ProjectDetail(name="bigproject", files=tuple(entries), serial=1)  # type: ignore[arg-type]


def test_a_2000_file_project_page_is_stored_at_under_a_third_of_its_size(s3: Any) -> None:
    """The measurement behind PRECOMPRESSED (docs/cost.md): on a 2,000-file page, what
    CloudFront would send uncompressed against what is stored and sent now."""
    raw = render.project_json(big_project(2000))
    assert len(json.loads(raw)["files"]) == 2000
    Bucket(s3, BUCKET).put_page("bigproject/index.json", raw, JSON)
    head = s3.head_object(Bucket=BUCKET, Key="bigproject/index.json")
    assert head["ContentLength"] == len(gzip.compress(raw, compresslevel=9, mtime=0))
    assert head["ContentLength"] * 3 < len(raw)
    assert gzip.decompress(stored(s3, "bigproject/index.json")["Body"]) == raw
