"""`python -m local --data-dir DIR`: the bucket is written through to DIR and comes back as it was.

These tests run the local S3 (moto behind local/s3front.py) on a data dir, stop it, start another
on the same dir, and compare what S3 answers.  The end-to-end restart and crash tests, with pip,
are in tests/test_e2e_restart.py.
"""

from __future__ import annotations

import base64
import hashlib
import json
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from local import aws
from local.datadir import FORMAT, MARKER_NAME, DataDir, DataDirError
from local.s3front import S3Server, restore
from local.stack import free_port

WHEEL = "alpha/alpha-1.0-py3-none-any.whl"


@contextmanager
def local_s3(data_dir: Path, bucket: str) -> Iterator[Any]:
    """The stack's S3 start sequence (local/stack.py): server, provision, restore, watch."""
    data = DataDir(data_dir).open()
    store = data.bucket(bucket)
    server = S3Server("127.0.0.1", free_port(), bucket, aws.REGION, store).start()
    try:
        endpoint = f"http://127.0.0.1:{server.port}"
        aws.provision(endpoint, bucket)
        restore(bucket, store, aws.REGION)
        server.front.start_watching()
        yield aws.client("s3", endpoint)
    finally:
        server.stop()
        data.close()


@pytest.fixture
def bucket() -> str:
    return f"kept-{uuid.uuid4().hex[:12]}"


def versions(s3: Any, bucket: str) -> list[tuple[Any, ...]]:
    got = s3.list_object_versions(Bucket=bucket)
    rows = [
        (v["Key"], v["VersionId"], v["IsLatest"], v["LastModified"], v["ETag"], v["Size"])
        for v in got.get("Versions", [])
    ]
    for m in got.get("DeleteMarkers", []):
        rows.append((m["Key"], m["VersionId"], m["IsLatest"], m["LastModified"], "marker", 0))
    return sorted(rows)


def describe(s3: Any, bucket: str, key: str) -> dict[str, Any]:
    head = s3.head_object(Bucket=bucket, Key=key, ChecksumMode="ENABLED")
    body = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
    fields = ("ContentType", "CacheControl", "ContentEncoding", "Metadata", "ChecksumSHA256", "ETag")
    fields += ("VersionId",)
    return {f: head.get(f) for f in fields} | {"LastModified": head["LastModified"], "body": body}


def test_every_version_marker_and_object_attribute_comes_back_after_a_restart(tmp_path, bucket):
    data = b"wheel bytes " * 1000
    sha = base64.b64encode(hashlib.sha256(data).digest()).decode()
    with local_s3(tmp_path / "data", bucket) as s3:
        s3.put_object(Bucket=bucket, Key=WHEEL, Body=b"first")
        s3.delete_object(Bucket=bucket, Key=WHEEL)  # a delete marker between two versions
        s3.put_object(
            Bucket=bucket,
            Key=WHEEL,
            Body=data,
            ContentType="application/octet-stream",
            CacheControl="public, max-age=31536000, immutable",
            Metadata={"sha256": "abc"},
            ChecksumAlgorithm="SHA256",  # as the CLI sends it (indexer/publish.py)
            ChecksumSHA256=sha,
        )
        s3.put_object(Bucket=bucket, Key=WHEEL + ".yanked", Body=b"broken", ContentType="text/plain")
        s3.delete_object(Bucket=bucket, Key=WHEEL + ".yanked")
        s3.put_object(Bucket=bucket, Key="beta/beta 1.0.tar.gz", Body=b"sdist")  # a space in the key
        before = versions(s3, bucket)
        described = describe(s3, bucket, WHEEL)

    with local_s3(tmp_path / "data", bucket) as s3:
        assert versions(s3, bucket) == before
        assert describe(s3, bucket, WHEEL) == described
        assert described["ChecksumSHA256"] == sha
        assert s3.get_object(Bucket=bucket, Key="beta/beta 1.0.tar.gz")["Body"].read() == b"sdist"
        # The noncurrent bytes are still there: the CLI's delete says so.
        [first] = [v[1] for v in before if v[0] == WHEEL and v[5] == len(b"first")]
        assert s3.get_object(Bucket=bucket, Key=WHEEL, VersionId=first)["Body"].read() == b"first"


def test_generated_pages_and_metadata_keep_only_their_current_version(tmp_path, bucket):
    with local_s3(tmp_path / "data", bucket) as s3:
        for n in range(3):
            s3.put_object(Bucket=bucket, Key="alpha/index.json", Body=f"page {n}".encode())
            s3.put_object(Bucket=bucket, Key=WHEEL + ".metadata", Body=f"meta {n}".encode())
        s3.delete_object(Bucket=bucket, Key=WHEEL + ".metadata")  # removed: nothing to keep

    with local_s3(tmp_path / "data", bucket) as s3:
        got = s3.list_object_versions(Bucket=bucket)
        assert [(v["Key"], v["IsLatest"]) for v in got["Versions"]] == [("alpha/index.json", True)]
        assert "DeleteMarkers" not in got
        assert s3.get_object(Bucket=bucket, Key="alpha/index.json")["Body"].read() == b"page 2"


def test_a_permanently_deleted_version_is_gone_after_a_restart(tmp_path, bucket):
    with local_s3(tmp_path / "data", bucket) as s3:
        old = s3.put_object(Bucket=bucket, Key=WHEEL, Body=b"old")["VersionId"]
        s3.put_object(Bucket=bucket, Key=WHEEL, Body=b"new")
        s3.delete_object(Bucket=bucket, Key=WHEEL, VersionId=old)
        gone = s3.put_object(Bucket=bucket, Key="alpha/alpha-2.0.tar.gz", Body=b"x")["VersionId"]
        s3.delete_object(Bucket=bucket, Key="alpha/alpha-2.0.tar.gz", VersionId=gone)

    with local_s3(tmp_path / "data", bucket) as s3:
        assert [(k, latest) for k, _, latest, *_ in versions(s3, bucket)] == [(WHEEL, True)]
    assert len(list((tmp_path / "data").rglob("*.data"))) == 1  # no bytes left behind


def test_a_data_file_without_its_manifest_is_dropped_at_start(tmp_path, bucket):
    with local_s3(tmp_path / "data", bucket) as s3:
        s3.put_object(Bucket=bucket, Key=WHEEL, Body=b"kept")
    [folder] = [p.parent for p in (tmp_path / "data").rglob("versions.json")]
    (folder / "crashed-before-its-manifest.data").write_bytes(b"half")
    (folder / ".versions.json.tmp").write_bytes(b"{")

    with local_s3(tmp_path / "data", bucket) as s3:
        assert s3.get_object(Bucket=bucket, Key=WHEEL)["Body"].read() == b"kept"
    left = sorted(p.name for p in folder.iterdir())
    assert left == sorted([f"{_only_version(folder)}.data", "versions.json"])


def _only_version(folder: Path) -> str:
    [version] = json.loads((folder / "versions.json").read_text())["versions"]
    return version["version_id"]


def test_a_data_dir_is_claimed_with_a_format_marker(tmp_path):
    DataDir(tmp_path / "new").open().close()
    assert json.loads((tmp_path / "new" / MARKER_NAME).read_text()) == {"format": FORMAT}


def test_a_folder_that_is_not_a_data_dir_is_refused_and_left_alone(tmp_path):
    (tmp_path / "home").mkdir()
    (tmp_path / "home" / "notes.txt").write_text("mine")
    with pytest.raises(DataDirError, match="not a pypi-edge data dir"):
        DataDir(tmp_path / "home").open()
    assert [p.name for p in (tmp_path / "home").iterdir()] == ["notes.txt"]


def test_a_data_dir_of_another_format_is_refused(tmp_path):
    (tmp_path / "d").mkdir()
    (tmp_path / "d" / MARKER_NAME).write_text(json.dumps({"format": FORMAT + 1}))
    with pytest.raises(DataDirError, match="format"):
        DataDir(tmp_path / "d").open()


def test_a_data_dir_in_use_by_another_stack_is_refused(tmp_path):
    first = DataDir(tmp_path / "d").open()
    try:
        with pytest.raises(DataDirError, match="in use by another local stack"):
            DataDir(tmp_path / "d").open()
    finally:
        first.close()
    DataDir(tmp_path / "d").open().close()  # free again once the first one closed


def test_a_pending_folder_is_settled_only_by_a_rebuild_that_started_after_its_change(tmp_path):
    store = DataDir(tmp_path / "d").open().bucket("b")
    store.mark("alpha", WHEEL, 100)
    store.mark("beta", "beta/beta-1.0.tar.gz", 300)

    store.settle(["alpha", "beta"], 200)  # a rebuild that listed the bucket at 200

    assert [(p.folder, p.key) for p in store.pending()] == [("beta", "beta/beta-1.0.tar.gz")]
    store.settle(["beta"], 300)  # not strictly after the change: it may not have seen it
    assert [p.folder for p in store.pending()] == ["beta"]
    store.settle(["beta"], 301)
    assert store.pending() == []


def test_a_batch_settles_the_folders_it_rebuilt_and_keeps_those_that_failed(tmp_path):
    from local.stack import LocalStack
    from tests.sqs import s3_body

    stack = LocalStack()
    stack.store = DataDir(tmp_path / "d").open().bucket("b")
    for folder in ("alpha", "beta", "gamma"):
        stack.store.mark(folder, f"{folder}/{folder}-1.0.tar.gz", 100)
    messages = [
        {"MessageId": "ok", "Body": s3_body("alpha/alpha-1.0.tar.gz")},
        {"MessageId": "failed", "Body": s3_body("beta/beta-1.0.tar.gz", removed=True)},
        {"MessageId": "also-beta", "Body": s3_body("beta/beta-1.0.tar.gz.yanked")},
        {"MessageId": "not-s3", "Body": "{}"},
    ]

    stack._settle(messages, {"failed"}, 200)

    assert sorted(p.folder for p in stack.store.pending()) == ["beta", "gamma"]


def test_a_version_deleted_while_it_is_being_kept_is_left_to_the_next_sync(tmp_path, bucket):
    from local.s3front import bucket_model

    data = DataDir(tmp_path / "data").open()
    server = S3Server("127.0.0.1", free_port(), bucket, aws.REGION, data.bucket(bucket)).start()
    try:
        s3 = aws.client("s3", f"http://127.0.0.1:{server.port}")
        s3.create_bucket(Bucket=bucket)
        s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
        server.front.start_watching()
        key = "alpha/alpha-2.0.tar.gz"
        doomed = bucket_model(bucket).keys  # moto's key -> [versions]
        # A version the layer has not kept yet, whose bytes moto disposed of (as a permanent
        # delete racing with the sync does) before the layer read them.
        from moto.core import DEFAULT_ACCOUNT_ID
        from moto.s3.models import s3_backends

        s3_backends[DEFAULT_ACCOUNT_ID]["aws"].put_object(bucket, WHEEL, b"kept")  # not seen yet
        dict.__getitem__(doomed, WHEEL)[-1].dispose()

        server.front.sync()  # no error, no manifest naming bytes it does not have

        assert WHEEL not in server.front._seen
        assert list((tmp_path / "data").rglob("versions.json")) == []
        dict.pop(doomed, WHEEL)  # the delete completes; its own sync comes next
        s3.put_object(Bucket=bucket, Key=key, Body=b"x")
        assert [json.loads(p.read_text())["key"] for p in (tmp_path / "data").rglob("versions.json")] == [key]
    finally:
        server.stop()
        data.close()


def test_a_multipart_upload_by_the_cli_comes_back_with_its_etag_and_checksum(tmp_path, bucket, monkeypatch):
    from indexer import publish
    from tests.distributions import make_wheel, write

    monkeypatch.setattr(publish, "MULTIPART_THRESHOLD", 1024 * 1024)
    monkeypatch.setattr(publish, "PART_SIZE", 5 * 1024 * 1024)  # S3's smallest part but the last
    dist = publish.validate(write(tmp_path, *make_wheel("alpha", "1.0", payload_bytes=6 * 1024 * 1024)[:2]))
    with local_s3(tmp_path / "data", bucket) as s3:
        assert publish.Uploader(s3, bucket, progress=False).upload(dist) == publish.UPLOADED
        before = describe(s3, bucket, dist.key)
        assert before["ETag"].endswith('-2"')  # two parts

    with local_s3(tmp_path / "data", bucket) as s3:
        assert describe(s3, bucket, dist.key) == before
        assert publish.Uploader(s3, bucket, progress=False).upload(dist) == publish.PRESENT
