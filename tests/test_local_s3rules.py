"""The local S3 refuses what S3 refuses and moto accepts (local/s3rules.py, issue 20).

Each case failed against bare moto 5.x in server mode (checked by hand before the layer existed:
every PUT below was answered 200, and the tampered body was stored with the wrong checksum)."""

from __future__ import annotations

import base64
import hashlib
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from botocore.exceptions import ClientError

from local import aws, s3rules
from local.s3front import S3Server
from local.stack import free_port
from tests.upload_helpers import presigned_put as put
from upload.remote import presign_client

BUCKET = "pypi-s3rules"
DATA = b"hello world" * 100
SHA = base64.b64encode(hashlib.sha256(DATA).digest()).decode()
HEADERS = {"If-None-Match": "*", "x-amz-checksum-sha256": SHA, "Content-Type": "application/octet-stream"}


@pytest.fixture(scope="module")
def server() -> Any:
    srv = S3Server("127.0.0.1", free_port(), BUCKET, aws.REGION).start()
    endpoint = f"http://127.0.0.1:{srv.port}"
    s3 = aws.client("s3", endpoint)
    s3.create_bucket(Bucket=BUCKET)
    s3.put_bucket_versioning(Bucket=BUCKET, VersioningConfiguration={"Status": "Enabled"})
    srv.front.start_watching()
    yield s3, presign_client(aws.REGION, endpoint, **aws.CREDENTIALS)
    srv.stop()


def url(presigner: Any, key: str, seconds: int = 60) -> str:
    params = {"Bucket": BUCKET, "Key": key, "IfNoneMatch": "*", "ChecksumSHA256": SHA,
              "ContentLength": len(DATA), "ContentType": "application/octet-stream"}  # fmt: skip
    return presigner.generate_presigned_url("put_object", Params=params, ExpiresIn=seconds)


def test_a_presigned_put_as_signed_creates_the_object_once_with_its_checksum(server):
    s3, presigner = server
    target = url(presigner, "ok")
    assert put(target, HEADERS, DATA)[0] == 200
    assert put(target, HEADERS, DATA)[0] == 412
    assert s3.head_object(Bucket=BUCKET, Key="ok", ChecksumMode="ENABLED")["ChecksumSHA256"] == SHA


@pytest.mark.parametrize(
    ("how", "code"),
    [
        ("without the signed headers", "SignatureDoesNotMatch"),
        ("with another signature", "SignatureDoesNotMatch"),
        ("with another checksum header", "SignatureDoesNotMatch"),
        ("with other bytes", "BadDigest"),
        ("after its expiry", "Request has expired"),
        ("signed with SigV2", "SigV2"),
    ],
)
def test_requests_s3_refuses_are_refused(server, how, code):
    s3, presigner = server
    key, headers, body = f"no-{how.replace(' ', '-')}", dict(HEADERS), DATA
    target = url(presigner, key, 1 if how == "after its expiry" else 60)
    if how == "without the signed headers":
        headers = {"Content-Type": "application/octet-stream"}
    elif how == "with another signature":
        target = target.replace("X-Amz-Signature=", "X-Amz-Signature=0")
    elif how == "with another checksum header":
        headers["x-amz-checksum-sha256"] = base64.b64encode(hashlib.sha256(b"x").digest()).decode()
    elif how == "with other bytes":
        body = DATA[:-1] + b"!"
    elif how == "after its expiry":
        time.sleep(2.1)
    elif how == "signed with SigV2":
        target = s3.generate_presigned_url("put_object", Params={"Bucket": BUCKET, "Key": key}, ExpiresIn=60)

    status, text = put(target, headers, body)

    assert status in (400, 403) and code in text
    with pytest.raises(ClientError):
        s3.head_object(Bucket=BUCKET, Key=key)


def test_copy_with_if_none_match_onto_an_object_is_412(server):
    s3, _ = server
    s3.put_object(Bucket=BUCKET, Key="src", Body=b"a")
    s3.copy_object(Bucket=BUCKET, Key="dst", CopySource={"Bucket": BUCKET, "Key": "src"}, IfNoneMatch="*")
    with pytest.raises(ClientError) as err:
        s3.copy_object(Bucket=BUCKET, Key="dst", CopySource={"Bucket": BUCKET, "Key": "src"}, IfNoneMatch="*")
    assert err.value.response["Error"]["Code"] == "PreconditionFailed"


def test_expiry_is_checked_when_the_request_arrives():
    environ = {
        "REQUEST_METHOD": "PUT",
        "RAW_URI": "/b/k?X-Amz-Algorithm=AWS4-HMAC-SHA256"
        "&X-Amz-Credential=local%2F20260101%2Fus-east-1%2Fs3%2Faws4_request&X-Amz-Date=20260101T000000Z&X-Amz-Expires=60&X-Amz-SignedHeaders=host&X-Amz-Signature=0",
    }
    signed = datetime(2026, 1, 1, tzinfo=UTC)
    with pytest.raises(s3rules.Refusal) as late:
        s3rules.check_presigned(environ, {"local": "local"}, now=signed + timedelta(seconds=61))
    assert late.value.message == "Request has expired"
    with pytest.raises(s3rules.Refusal) as in_time:
        s3rules.check_presigned(environ, {"local": "local"}, now=signed + timedelta(seconds=59))
    assert in_time.value.code == "SignatureDoesNotMatch"
