"""Every refusal, warning and `except` of the indexer, executed once with its outcome asserted.

The branches the other test files do not reach on their way (coverage names them): lost races
to the end, S3 errors in the middle of a rebuild, markers and pages that change under a rebuild,
and the defensive corners of the archive readers.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import logging
import tarfile
import zipfile
from typing import Any

import pytest
from botocore.exceptions import ClientError

import indexer.build
from indexer.build import Indexer, RebuildConflict
from indexer.log import logger
from indexer.metadata import (
    MAX_METADATA_BYTES,
    CoreMetadata,
    MetadataError,
    RangeFile,
    _CappedReader,
    _read_capped,
    check_agrees,
    sdist_metadata,
)
from indexer.model import DistName, ProjectEntry, ProjectList, parse_filename
from indexer.render import parse_left_out_note, parse_root_json
from indexer.store import Bucket, PreconditionFailed
from tests import s3_pages
from tests.conftest import BUCKET, RequestCounter
from tests.distributions import core_metadata, make_sdist, make_wheel


def put(s3: Any, key: str, body: bytes, **kwargs: Any) -> None:
    s3.put_object(Bucket=BUCKET, Key=key, Body=body, **kwargs)


def get_json(s3: Any, key: str) -> Any:
    return json.loads(s3_pages.read(s3, BUCKET, key))


def wheel(s3: Any, project: str = "demo", version: str = "1.0", **kwargs: Any) -> str:
    filename, data, _ = make_wheel(project, version, **kwargs)
    put(s3, f"{project}/{filename}", data)
    return filename


def s3_error(code: str, status: int, op: str = "PutObject") -> ClientError:
    return ClientError({"Error": {"Code": code}, "ResponseMetadata": {"HTTPStatusCode": status}}, op)


@pytest.fixture
def no_backoff(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(indexer.build, "_backoff", lambda attempt: None)


# --- lost races, to the end ------------------------------------------------------------------


def test_a_project_page_that_loses_every_race_raises_rebuild_conflict(s3, monkeypatch, no_backoff, caplog):
    caplog.set_level(logging.INFO, logger=logger.name)
    wheel(s3)

    def always_lost(self: Bucket, key: str, *args: Any, **kwargs: Any) -> str:
        raise PreconditionFailed(key)

    monkeypatch.setattr(Bucket, "put_page", always_lost)
    with pytest.raises(RebuildConflict, match="demo"):
        Indexer(Bucket(s3, BUCKET)).rebuild("demo")
    retries = [r for r in caplog.records if r.getMessage().startswith("project page changed")]
    assert len(retries) == indexer.build.MAX_ATTEMPTS


def test_a_root_that_loses_every_race_raises_rebuild_conflict(s3, monkeypatch, no_backoff, caplog):
    caplog.set_level(logging.INFO, logger=logger.name)
    wheel(s3)
    real = Bucket.put_page

    def root_always_lost(self: Bucket, key: str, *args: Any, **kwargs: Any) -> str:
        if key == "index.json":
            raise PreconditionFailed(key)
        return real(self, key, *args, **kwargs)

    monkeypatch.setattr(Bucket, "put_page", root_always_lost)
    with pytest.raises(RebuildConflict, match="<root>"):
        Indexer(Bucket(s3, BUCKET)).rebuild("demo")
    assert get_json(s3, "demo/index.json")["files"]  # the project page itself was written
    assert len([r for r in caplog.records if r.getMessage().startswith("root index changed")]) == 12


# --- S3 errors and objects changing under a rebuild -----------------------------------------


def test_a_5xx_storing_metadata_fails_the_rebuild_instead_of_serving_without(s3, monkeypatch):
    wheel(s3)
    real = Bucket.put

    def metadata_unavailable(self: Bucket, key: str, *args: Any, **kwargs: Any) -> str:
        if key.endswith(".metadata"):
            raise s3_error("ServiceUnavailable", 503)
        return real(self, key, *args, **kwargs)

    monkeypatch.setattr(Bucket, "put", metadata_unavailable)
    with pytest.raises(ClientError, match="ServiceUnavailable"):
        Indexer(Bucket(s3, BUCKET)).rebuild("demo")


def test_a_delete_refused_by_s3_fails_the_rebuild(s3, monkeypatch):
    filename = wheel(s3)
    Indexer(Bucket(s3, BUCKET)).rebuild("demo")
    s3.delete_object(Bucket=BUCKET, Key=f"demo/{filename}")

    def refused(**kwargs: Any) -> None:
        raise s3_error("AccessDenied", 403, "DeleteObject")

    monkeypatch.setattr(s3, "delete_object", refused)
    with pytest.raises(ClientError, match="AccessDenied"):
        Indexer(Bucket(s3, BUCKET)).rebuild("demo")


def test_an_unchanged_yank_reason_is_not_read_again(s3, counter: RequestCounter):
    filename = wheel(s3)
    put(s3, f"demo/{filename}.yanked", b"broken build")
    ix = Indexer(Bucket(s3, BUCKET))
    ix.rebuild("demo")
    wheel(s3, version="2.0")
    counter.reset()
    ix.rebuild("demo")
    assert counter.calls["GetObject"] == 3  # project json, the new wheel, root json: no marker
    (first, _) = get_json(s3, "demo/index.json")["files"]
    assert first["yanked"] == "broken build"


def test_a_marker_removed_between_list_and_get_leaves_the_file_unyanked_this_time(s3, monkeypatch):
    filename = wheel(s3)
    put(s3, f"demo/{filename}.yanked", b"oops")
    real = Bucket.get_bytes

    def removed_meanwhile(self: Bucket, key: str, max_bytes: int | None = None) -> Any:
        if key.endswith(".yanked"):
            s3.delete_object(Bucket=BUCKET, Key=key)
        return real(self, key, max_bytes)

    monkeypatch.setattr(Bucket, "get_bytes", removed_meanwhile)
    Indexer(Bucket(s3, BUCKET)).rebuild("demo")
    assert get_json(s3, "demo/index.json")["files"][0]["yanked"] is False


def test_a_long_yank_reason_is_read_with_one_ranged_get_and_cut(s3):
    filename = wheel(s3)
    put(s3, f"demo/{filename}.yanked", b"why " * 5000)
    Indexer(Bucket(s3, BUCKET)).rebuild("demo")
    reason = get_json(s3, "demo/index.json")["files"][0]["yanked"]
    assert reason.startswith("why why") and len(reason) <= indexer.build.MAX_REASON_BYTES


def test_an_unreadable_project_json_is_rebuilt_over_conditionally(s3):
    wheel(s3)
    put(s3, "demo/index.json", b"{not json")
    Indexer(Bucket(s3, BUCKET)).rebuild("demo")
    assert [f["filename"] for f in get_json(s3, "demo/index.json")["files"]] == ["demo-1.0-py3-none-any.whl"]


def test_a_large_sdist_with_an_s3_checksum_is_streamed_only_to_its_pkg_info(s3):
    filename, data = make_sdist("demo", "1.0", summary="From the stream")
    put(s3, f"demo/{filename}", data, ChecksumAlgorithm="SHA256")
    Indexer(Bucket(s3, BUCKET), full_read_bytes=16).rebuild("demo")
    (entry,) = get_json(s3, "demo/index.json")["files"]
    assert entry["hashes"]["sha256"] == hashlib.sha256(data).hexdigest()  # S3's, not computed
    assert entry["_summary"] == "From the stream"


def test_a_large_file_without_a_full_object_checksum_is_downloaded_and_hashed(s3, monkeypatch):
    filename, data, _ = make_wheel("demo", "1.0")
    put(s3, f"demo/{filename}", data, ChecksumAlgorithm="SHA256")
    monkeypatch.setattr(Bucket, "full_object_sha256", lambda self, key: None)  # a multipart upload
    Indexer(Bucket(s3, BUCKET), full_read_bytes=16).rebuild("demo")
    assert get_json(s3, "demo/index.json")["files"][0]["hashes"]["sha256"] == hashlib.sha256(data).hexdigest()


def test_a_multipart_checksum_is_not_a_files_sha256(s3):
    upload = s3.create_multipart_upload(Bucket=BUCKET, Key="demo/big.bin", ChecksumAlgorithm="SHA256")
    part = s3.upload_part(
        Bucket=BUCKET,
        Key="demo/big.bin",
        UploadId=upload["UploadId"],
        PartNumber=1,
        Body=b"x" * 1024,
        ChecksumAlgorithm="SHA256",
    )
    s3.complete_multipart_upload(
        Bucket=BUCKET,
        Key="demo/big.bin",
        UploadId=upload["UploadId"],
        MultipartUpload={
            "Parts": [{"PartNumber": 1, "ETag": part["ETag"], "ChecksumSHA256": part["ChecksumSHA256"]}]
        },
    )
    assert Bucket(s3, BUCKET).full_object_sha256("demo/big.bin") is None


def test_reindex_warns_about_a_folder_that_is_not_a_normalized_name(s3, caplog):
    wheel(s3)
    put(s3, "Foo_Bar/foo_bar-1.0.tar.gz", make_sdist("foo_bar", "1.0")[1])
    results = Indexer(Bucket(s3, BUCKET)).reindex()
    assert [r.project for r in results] == ["demo"]
    (warning,) = [r for r in caplog.records if getattr(r, "folder", None) == "Foo_Bar"]
    assert warning.expected == "foo-bar"


# --- metadata agreement and archive corners ------------------------------------------------


DEMO = DistName(parse_filename("demo-1.0.tar.gz").project, parse_filename("demo-1.0.tar.gz").version, "sdist")


@pytest.mark.parametrize(
    ("name", "version", "refusal"),
    [
        (None, "1.0", "no Name"),
        ("demo", None, "no Version"),
        ("demo", "one", "invalid Version"),
        ("other", "1.0", "Name: other"),
        ("demo", "1.1", "Version: 1.1"),
    ],
)
def test_metadata_that_disagrees_with_the_file_name_is_refused(name, version, refusal):
    with pytest.raises(MetadataError, match=refusal):
        check_agrees(CoreMetadata(b"", name, version, None, None), DEMO)


def test_metadata_that_agrees_after_normalization_is_accepted():
    check_agrees(CoreMetadata(b"", "DEMO", "1.0.0", None, None), DEMO)  # PEP 503 / PEP 440 equal


def test_the_capped_read_refuses_one_byte_more_than_the_cap():
    assert len(_read_capped(io.BytesIO(b"x" * MAX_METADATA_BYTES), "M")) == MAX_METADATA_BYTES
    with pytest.raises(MetadataError, match="larger than"):
        _read_capped(io.BytesIO(b"x" * (MAX_METADATA_BYTES + 1)), "M")


def zip_sdist(members: dict[str, bytes]) -> io.BytesIO:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    buf.seek(0)
    return buf


def test_a_zip_sdist_gives_its_top_level_pkg_info_only():
    pkg_info = core_metadata("demo", "1.0")
    source = zip_sdist({"demo-1.0/sub/PKG-INFO": b"Name: nested", "demo-1.0/PKG-INFO": pkg_info})
    assert sdist_metadata(source, zip_format=True) == pkg_info


@pytest.mark.parametrize(
    ("members", "refusal"),
    [
        ({"demo-1.0/setup.py": b""}, "no PKG-INFO"),
        ({"demo-1.0/PKG-INFO": b"x" * (MAX_METADATA_BYTES + 1)}, "too large"),
    ],
)
def test_a_zip_sdist_without_a_usable_pkg_info_is_refused(members, refusal):
    with pytest.raises(MetadataError, match=refusal):
        sdist_metadata(zip_sdist(members), zip_format=True)


def test_a_tar_sdist_without_pkg_info_is_refused():
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tf:
        info = tarfile.TarInfo("demo-1.0/setup.py")
        tf.addfile(info, io.BytesIO(b""))
        tf.addfile(tarfile.TarInfo("demo-1.0/PKG-INFO/"), None)  # a directory of that name
    buf.seek(0)
    with pytest.raises(MetadataError, match="no PKG-INFO"):
        sdist_metadata(buf)


def test_the_capped_reader_reads_to_its_cap_and_refuses_more():
    reader = _CappedReader(io.BytesIO(b"abc"), cap=3)
    assert reader.read() == b"abc"
    with pytest.raises(MetadataError):
        _CappedReader(io.BytesIO(gzip.compress(b"x" * 10)), cap=3).read()


def test_range_file_fetches_what_its_tail_does_not_cover_and_works_buffered():
    data = bytes(range(256)) * 1024  # 256 KiB
    fetched: list[tuple[int, int]] = []

    def fetch(start: int, end: int) -> bytes:
        fetched.append((start, end))
        return data[start : end + 1]

    rf = RangeFile(len(data), fetch, tail=1024)
    assert fetched == [(len(data) - 1024, len(data) - 1)]
    rf.seek(10)
    assert rf.read(5) == data[10:15]  # not in the tail: one more fetch of at least 64 KiB
    assert fetched[1] == (10, 10 + 64 * 1024 - 1)
    rf.seek(-3, io.SEEK_END)
    assert rf.read() == data[-3:]
    assert rf.read() == b""
    buffered = io.BufferedReader(RangeFile(len(data), fetch), buffer_size=4096)  # readinto, readable
    assert buffered.read(100) == data[:100]


def test_an_empty_range_file_fetches_nothing():
    rf = RangeFile(0, lambda a, b: pytest.fail("fetched"))
    assert rf.read() == b"" and rf.requests == 0


# --- private JSON read back, tolerant of anything -----------------------------------------


@pytest.mark.parametrize(
    "body", [b"not json", b"[]", b'{"etag": "e"}', b'{"etag": 1, "reason": "r"}', b"\xff"]
)
def test_malformed_left_out_notes_are_forgotten(body):
    assert parse_left_out_note("a.whl", body) is None


def test_a_left_out_note_is_read_back():
    from indexer.model import LeftOut
    from indexer.render import left_out_note

    item = LeftOut("a.whl", '"e"', "not a zip: é")
    assert parse_left_out_note("a.whl", left_out_note(item)) == item


def test_a_root_json_with_junk_and_duplicate_entries_keeps_the_newest_valid_ones():
    doc = {
        "meta": "not an object",
        "projects": [
            None,
            {"name": 7},
            {"name": "A", "_serial": 1},
            {"name": "a", "_serial": 5, "_latest": "2"},
        ],
        "_removed": [{"name": "a", "_serial": 3}, {"name": "b", "_serial": "x"}],
    }
    root = parse_root_json(doc)
    assert root.get("a") == ProjectEntry("a", latest="2", serial=5)
    assert root.get("b") == ProjectEntry("b", serial=0, removed=True)
    assert root.get("c") is None and root.serial == 0
    assert ProjectList().get("a") is None


def test_a_file_without_summary_has_no_private_summary_key(s3):
    wheel(s3, summary=None)
    Indexer(Bucket(s3, BUCKET)).rebuild("demo")
    (entry,) = get_json(s3, "demo/index.json")["files"]
    assert "_summary" not in entry


def test_a_file_deleted_between_list_and_get_is_left_out_with_a_warning(s3, monkeypatch, caplog):
    wheel(s3)
    gone = wheel(s3, version="2.0")
    real = Bucket.open_stream

    def deleted_meanwhile(self: Bucket, key: str) -> Any:
        if key.endswith(gone):
            s3.delete_object(Bucket=BUCKET, Key=key)
        return real(self, key)

    monkeypatch.setattr(Bucket, "open_stream", deleted_meanwhile)
    Indexer(Bucket(s3, BUCKET)).rebuild("demo")
    assert [f["filename"] for f in get_json(s3, "demo/index.json")["files"]] == ["demo-1.0-py3-none-any.whl"]
    (warning,) = [r for r in caplog.records if getattr(r, "key", None) == f"demo/{gone}"]
    assert "vanished" in warning.getMessage()


def test_a_rebuild_without_the_root_leaves_the_root_alone(s3):
    wheel(s3)
    rebuilt = Indexer(Bucket(s3, BUCKET)).rebuild("demo", update_root=False)
    assert rebuilt.detail is not None and not rebuilt.root_changed
    assert "Contents" not in s3.list_objects_v2(Bucket=BUCKET, Prefix="index.")


def test_deleting_a_key_that_is_already_gone_is_not_an_error(s3, monkeypatch):
    def not_found(**kwargs: Any) -> None:
        raise s3_error("NoSuchKey", 404, "DeleteObject")

    monkeypatch.setattr(s3, "delete_object", not_found)
    Bucket(s3, BUCKET).delete("demo/index.html", if_match='"etag"')  # nothing raised


def test_the_lambdas_s3_client_retries_in_standard_mode(aws_env):
    import indexer.handler

    indexer.handler.s3_client.cache_clear()
    try:
        client = indexer.handler.s3_client()
        # botocore counts the first attempt too: max_attempts 5 (retries) is 6 in all.
        assert client.meta.config.retries == {"mode": "standard", "total_max_attempts": 6}
        assert indexer.handler.s3_client() is client  # one per container
    finally:
        indexer.handler.s3_client.cache_clear()


def test_the_package_level_reindex_rebuilds_the_bucket(s3):
    import indexer

    wheel(s3)
    (result,) = indexer.reindex(BUCKET, client=s3)
    assert result.project == "demo" and result.error is None
    assert [p["name"] for p in get_json(s3, "index.json")["projects"]] == ["demo"]


def test_python_dash_m_indexer_runs_the_cli(monkeypatch, capsys):
    import runpy

    monkeypatch.setattr("sys.argv", ["pypi-edge", "--help"])
    with pytest.raises(SystemExit) as exited:
        runpy.run_module("indexer", run_name="__main__")
    assert exited.value.code == 0
    assert "reindex" in capsys.readouterr().out
