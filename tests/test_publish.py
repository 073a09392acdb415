"""The publishing core (indexer/publish.py): the one validation and conditional write."""

from __future__ import annotations

import base64
import hashlib

import pytest

from indexer import publish
from indexer.store import IMMUTABLE
from tests.conftest import BUCKET
from tests.distributions import make_sdist, make_wheel, write


def test_validate_bytes_accepts_a_wheel_and_keys_it_under_the_normalized_project():
    filename, data, _ = make_wheel("Acme_Tools.Extra", "1.0")
    dist = publish.validate_bytes(filename, data)
    assert dist.key == f"acme-tools-extra/{filename}"
    assert dist.sha256 == hashlib.sha256(data).hexdigest()
    assert (dist.size, dist.data, dist.path) == (len(data), data, None)
    assert dist.content_type == "application/zip"


def test_validate_bytes_accepts_an_sdist():
    filename, data = make_sdist("acme", "2.0")
    dist = publish.validate_bytes(filename, data)
    assert dist.key == f"acme/{filename}"
    assert dist.content_type == "application/gzip"


def test_validate_of_a_file_and_of_its_bytes_agree(tmp_path):
    filename, data, _ = make_wheel("acme", "1.0")
    on_disk = publish.validate(write(tmp_path, filename, data))
    in_memory = publish.validate_bytes(filename, data)
    assert (on_disk.key, on_disk.sha256, on_disk.size) == (in_memory.key, in_memory.sha256, in_memory.size)


@pytest.mark.parametrize(
    ("filename", "data", "reason"),
    [
        ("acme-1.0.txt", b"x", "not a distribution (expected a .whl, .tar.gz or .zip file)"),
        ("acme.whl", b"x", "not a valid distribution file name"),
        ("acme-1.0-py3-none-any.whl", b"not a zip", "not a distribution:"),
        ("acme-1.0.tar.gz", b"\x1f\x8b broken", "not a distribution:"),
        ("../acme-1.0-py3-none-any.whl", b"x", "a file name cannot contain a path"),
    ],
)
def test_validate_bytes_refuses_with_a_one_line_reason(filename, data, reason):
    with pytest.raises(publish.InvalidDistribution) as info:
        publish.validate_bytes(filename, data)
    assert reason in str(info.value)
    assert "\n" not in str(info.value)


def test_validate_bytes_refuses_a_name_mismatch():
    _, data, _ = make_wheel("other", "1.0")
    with pytest.raises(publish.InvalidDistribution, match="name mismatch: the file name says 'acme'"):
        publish.validate_bytes("acme-1.0-py3-none-any.whl", data)


def test_validate_bytes_refuses_a_version_mismatch():
    _, data, _ = make_wheel("acme", "2.0")
    with pytest.raises(publish.InvalidDistribution, match="version mismatch"):
        publish.validate_bytes("acme-1.0-py3-none-any.whl", data)


def test_check_digests_accepts_matching_sha256_and_blake2_in_any_case():
    filename, data, _ = make_wheel("acme", "1.0")
    dist = publish.validate_bytes(filename, data)
    publish.check_digests(
        dist,
        sha256_digest=hashlib.sha256(data).hexdigest().upper(),
        blake2_256_digest=hashlib.blake2b(data, digest_size=32).hexdigest(),
    )


def test_check_digests_refuses_a_wrong_sha256():
    filename, data, _ = make_wheel("acme", "1.0")
    dist = publish.validate_bytes(filename, data)
    with pytest.raises(publish.InvalidDistribution, match="sha256_digest does not match"):
        publish.check_digests(dist, sha256_digest="0" * 64)


def test_check_digests_refuses_a_wrong_blake2():
    filename, data, _ = make_wheel("acme", "1.0")
    dist = publish.validate_bytes(filename, data)
    with pytest.raises(publish.InvalidDistribution, match="blake2_256_digest does not match"):
        publish.check_digests(dist, sha256_digest=dist.sha256, blake2_256_digest="ab" * 32)


def test_uploader_writes_bytes_with_the_checksum_and_immutable_cache(s3, counter):
    filename, data, _ = make_wheel("acme", "1.0")
    dist = publish.validate_bytes(filename, data)
    counter.reset()
    assert publish.Uploader(s3, BUCKET, progress=False).upload(dist) == publish.UPLOADED
    # In memory, small: no HEAD first; one GET of the project's PEP 792 status marker (absent),
    # one LIST of the project's folder (look-alikes), the identity's claim and the file.
    assert counter.calls == {"GetObject": 1, "ListObjectsV2": 1, "PutObject": 2}
    head = s3.head_object(Bucket=BUCKET, Key=dist.key, ChecksumMode="ENABLED")
    assert head["ChecksumSHA256"] == base64.b64encode(hashlib.sha256(data).digest()).decode()
    assert head["CacheControl"] == IMMUTABLE
    assert s3.get_object(Bucket=BUCKET, Key=dist.key)["Body"].read() == data


def test_uploader_identical_bytes_are_present_and_different_bytes_conflict(s3):
    filename, data, _ = make_wheel("acme", "1.0")
    _, other, _ = make_wheel("acme", "1.0", summary="rebuilt")
    uploader = publish.Uploader(s3, BUCKET, progress=False)
    assert uploader.upload(publish.validate_bytes(filename, data)) == publish.UPLOADED
    assert uploader.upload(publish.validate_bytes(filename, data)) == publish.PRESENT
    assert uploader.upload(publish.validate_bytes(filename, other)) == publish.CONFLICT
    assert s3.get_object(Bucket=BUCKET, Key=f"acme/{filename}")["Body"].read() == data


def test_uploader_gives_up_with_busy_when_the_object_keeps_changing(s3, monkeypatch):
    filename, data, _ = make_wheel("acme", "1.0")
    dist = publish.validate_bytes(filename, data)
    uploader = publish.Uploader(s3, BUCKET, progress=False)
    # Every PUT fails its condition, and every look finds nothing there (a deleted-and-recreated
    # object, over and over): after PUT_ATTEMPTS the core says so instead of looping forever.
    from botocore.exceptions import ClientError

    def refuse(**_):
        raise ClientError(
            {"Error": {"Code": "PreconditionFailed"}, "ResponseMetadata": {"HTTPStatusCode": 412}},
            "PutObject",
        )

    monkeypatch.setattr(s3, "put_object", refuse)
    with pytest.raises(publish.Busy, match="keeps changing"):
        uploader.upload(dist)


def test_progress_bar_without_show_needs_no_tqdm():
    with publish.progress_bar(10, "x", show=False) as bar:
        bar.update(4)
        assert bar.n == 4
