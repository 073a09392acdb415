"""The publisher CLI against moto: `cli.main([...])` in-process, real wheels and sdists on disk."""

from __future__ import annotations

import base64
import hashlib
import io
import json
import threading
import zipfile
from pathlib import Path
from typing import Any

import pytest
from botocore.awsrequest import AWSResponse
from botocore.exceptions import (
    ClientError,
    ConnectionClosedError,
    ConnectTimeoutError,
    EndpointConnectionError,
    ReadTimeoutError,
    SSLError,
)
from moto.s3.responses import S3Response

from indexer import cli, publish
from indexer.store import IMMUTABLE
from tests import s3_pages
from tests.bucket_state import index_keys
from tests.conftest import BUCKET
from tests.distributions import core_metadata, make_sdist, make_wheel, make_zip_sdist, write


def run(*argv: str) -> int:
    return cli.main([*argv, "--bucket", BUCKET])


def wheel(tmp_path: Path, name: str = "Hello.World", version: str = "1.0", **kw: Any) -> Path:
    filename, data, _ = make_wheel(name, version, **kw)
    return write(tmp_path, filename, data)


def sdist(tmp_path: Path, name: str = "Hello.World", version: str = "1.0", **kw: Any) -> Path:
    filename, data = make_sdist(name, version, **kw)
    return write(tmp_path, filename, data)


def keys(s3: Any) -> set[str]:
    return index_keys(s3, BUCKET)  # private bookkeeping (identity claims) aside


def body(s3: Any, key: str) -> bytes:
    return s3_pages.read(s3, BUCKET, key)


def versions_of(s3: Any, key: str) -> list[dict[str, Any]]:
    return [
        v for v in s3.list_object_versions(Bucket=BUCKET, Prefix=key).get("Versions", []) if v["Key"] == key
    ]


def published(s3: Any, tmp_path: Path, *dists: Path) -> None:
    assert run("upload", *map(str, dists), "--no-progress") == 0


# --- upload ----------------------------------------------------------------------------------


def test_upload_puts_wheel_under_normalized_project(s3, tmp_path, capsys):
    path = wheel(tmp_path)

    assert run("upload", str(path)) == 0

    assert keys(s3) == {"hello-world/hello_world-1.0-py3-none-any.whl"}
    assert body(s3, "hello-world/hello_world-1.0-py3-none-any.whl") == path.read_bytes()
    out = capsys.readouterr().out
    assert "uploaded" in out and "1 file(s): 1 uploaded." in out
    assert "update within seconds" in out


def test_upload_sets_content_type_cache_control_and_sha256_checksum(s3, tmp_path):
    path = wheel(tmp_path)

    run("upload", str(path))

    head = s3.head_object(
        Bucket=BUCKET, Key="hello-world/hello_world-1.0-py3-none-any.whl", ChecksumMode="ENABLED"
    )
    assert head["ContentType"] == "application/zip"
    assert head["CacheControl"] == IMMUTABLE
    assert head["ChecksumSHA256"] == base64.b64encode(hashlib.sha256(path.read_bytes()).digest()).decode()


def test_upload_sdist_is_application_gzip(s3, tmp_path):
    run("upload", str(sdist(tmp_path)))

    head = s3.head_object(Bucket=BUCKET, Key="hello-world/hello_world-1.0.tar.gz")
    assert head["ContentType"] == "application/gzip"


def test_upload_zip_sdist_is_application_zip(s3, tmp_path):
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("legacy-2.0/PKG-INFO", core_metadata("legacy", "2.0"))
        zf.writestr("legacy-2.0/setup.py", "")
    path = write(tmp_path, "legacy-2.0.zip", buf.getvalue())

    assert run("upload", str(path)) == 0

    assert s3.head_object(Bucket=BUCKET, Key="legacy/legacy-2.0.zip")["ContentType"] == "application/zip"


def test_upload_expands_globs(s3, tmp_path):
    wheel(tmp_path)
    sdist(tmp_path)

    assert run("upload", f"{tmp_path}/*") == 0

    assert keys(s3) == {"hello-world/hello_world-1.0-py3-none-any.whl", "hello-world/hello_world-1.0.tar.gz"}


def test_upload_takes_bucket_from_environment(s3, tmp_path, monkeypatch):
    monkeypatch.setenv("PYPI_EDGE_BUCKET", BUCKET)

    assert cli.main(["upload", str(wheel(tmp_path))]) == 0

    assert keys(s3) == {"hello-world/hello_world-1.0-py3-none-any.whl"}


def test_upload_identical_file_again_is_already_present(s3, tmp_path, capsys):
    path = wheel(tmp_path)
    run("upload", str(path))
    capsys.readouterr()

    assert run("upload", str(path)) == 0

    out = capsys.readouterr().out
    assert "already present" in out and "1 present" in out
    assert len(versions_of(s3, "hello-world/hello_world-1.0-py3-none-any.whl")) == 1


def test_upload_identical_file_uploaded_without_checksum_is_already_present(s3, tmp_path, capsys):
    # As `aws s3 cp` or s3pypi would have put it: no SHA-256, so the CLI downloads and hashes it.
    path = wheel(tmp_path)
    s3.put_object(Bucket=BUCKET, Key=f"hello-world/{path.name}", Body=path.read_bytes())

    assert run("upload", str(path)) == 0

    assert "already present" in capsys.readouterr().out


def test_upload_different_file_with_same_name_is_a_conflict(s3, tmp_path, capsys):
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    first, second = wheel(tmp_path / "a", summary="first"), wheel(tmp_path / "b", summary="second")
    run("upload", str(first))
    capsys.readouterr()

    assert run("upload", str(second)) == cli.EXIT_CONFLICT

    err = capsys.readouterr().err
    assert err.startswith("error: hello_world-1.0-py3-none-any.whl: a different file with this name")
    assert "--force" in err and "Traceback" not in err
    assert body(s3, f"hello-world/{first.name}") == first.read_bytes()


def test_upload_of_a_look_alike_under_another_spelling_is_a_conflict_naming_the_published_file(
    s3, tmp_path, capsys
):
    (tmp_path / "a").mkdir()
    first = sdist(tmp_path / "a", summary="first")
    run("upload", str(first), "--no-progress")
    capsys.readouterr()
    _, data = make_sdist("Hello.World", "1.0.0", summary="second")
    second = write(tmp_path, "Hello.World-1.0.0.tar.gz", data)

    assert run("upload", str(second), "--no-progress", "--force") == cli.EXIT_CONFLICT

    err = capsys.readouterr().err
    assert err.startswith(
        "error: File already exists: Hello.World-1.0.0.tar.gz (stored as hello_world-1.0.0.tar.gz) is "
        "the same file (name, version, build tag and tags, once normalized; one sdist per release) as "
        "the published hello_world-1.0.tar.gz"
    )
    assert keys(s3) == {f"hello-world/{first.name}"}


def test_upload_of_two_spellings_of_one_file_with_different_bytes_sends_nothing(s3, tmp_path, capsys):
    first = sdist(tmp_path)
    (tmp_path / "b").mkdir()
    second = write(tmp_path / "b", "Hello.World-1.0.zip", make_zip_sdist("Hello.World", "1.0")[1])

    assert run("upload", str(first), str(second)) == cli.EXIT_CONFLICT

    assert "are the same file (name, version, build tag and tags; one sdist per release)" in (
        capsys.readouterr().err
    )
    assert s3.list_objects_v2(Bucket=BUCKET).get("KeyCount") == 0


def test_upload_stores_a_legacy_spelling_under_the_specs_spelling(s3, tmp_path, capsys):
    _, data = make_sdist("Hello.World", "1.0")
    path = write(tmp_path, "Hello.World-1.0.tar.gz", data)

    assert run("upload", str(path), "--no-progress") == 0

    assert keys(s3) == {"hello-world/hello_world-1.0.tar.gz"}
    assert "(sent as Hello.World-1.0.tar.gz)" in capsys.readouterr().out


def test_upload_refuses_an_invalid_project_name_before_sending_anything(s3, tmp_path, capsys):
    _, data = make_sdist("acme-", "1.0")
    path = write(tmp_path, "acme--1.0.tar.gz", data)

    assert run("upload", str(path)) == cli.EXIT_CONFLICT

    assert "'acme-' is not a valid project name (a project name is a PEP 508 name in ASCII" in (
        capsys.readouterr().err
    )
    assert s3.list_objects_v2(Bucket=BUCKET).get("KeyCount") == 0


def test_upload_force_replaces_and_versioning_keeps_the_old_bytes(s3, tmp_path, capsys):
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    first, second = wheel(tmp_path / "a", summary="first"), wheel(tmp_path / "b", summary="second")
    run("upload", str(first))

    assert run("upload", str(second), "--force") == 0

    key = f"hello-world/{first.name}"
    assert body(s3, key) == second.read_bytes()
    old = [v for v in versions_of(s3, key) if not v["IsLatest"]]
    assert len(old) == 1
    assert s3.get_object(Bucket=BUCKET, Key=key, VersionId=old[0]["VersionId"])["Body"].read() == (
        first.read_bytes()
    )
    assert "replaced" in capsys.readouterr().out


def test_upload_race_of_two_different_files_has_exactly_one_winner(s3, tmp_path, monkeypatch, capsys):
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    paths = [wheel(tmp_path / "a", summary="from a"), wheel(tmp_path / "b", summary="from b")]
    # Both claims of the file's identity are in flight at once (the barrier), then S3 applies
    # them one at a time, as S3 does; moto's own check-then-write is not atomic, so the lock
    # stands in for S3's.  The loser reads the winner's claim and never sends its file.
    both_in_flight = threading.Barrier(2, timeout=10)
    s3_serializes = threading.Lock()
    original = S3Response.put_object

    def concurrent_put(self: S3Response) -> Any:
        if self.headers.get("If-None-Match") == "*" and self.parse_key_name().startswith(
            publish.CLAIMS_PREFIX
        ):
            both_in_flight.wait()
        with s3_serializes:
            return original(self)

    monkeypatch.setattr(S3Response, "put_object", concurrent_put)
    codes: dict[int, int] = {}

    def upload(i: int) -> None:
        codes[i] = run("upload", str(paths[i]), "--no-progress")

    threads = [threading.Thread(target=upload, args=(i,)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()

    assert sorted(codes.values()) == [0, cli.EXIT_CONFLICT]
    winner = paths[min(codes, key=lambda i: codes[i])]
    key = f"hello-world/{winner.name}"
    assert body(s3, key) == winner.read_bytes()
    assert len(versions_of(s3, key)) == 1
    assert "a different file with this name is already published" in capsys.readouterr().err


def test_upload_above_multipart_threshold_goes_in_parts(s3, tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(publish, "MULTIPART_THRESHOLD", 8 * 1024**2)
    monkeypatch.setattr(publish, "PART_SIZE", 5 * 1024**2)
    path = wheel(tmp_path, payload_bytes=11 * 1024**2)
    calls = _counting(monkeypatch)

    assert run("upload", str(path)) == 0
    assert calls.count("UploadPart") == 3 and "CompleteMultipartUpload" in calls
    assert body(s3, f"hello-world/{path.name}") == path.read_bytes()
    # Conditional too: the same file again is recognised (composite checksum: by its bytes).
    assert run("upload", str(path)) == 0
    assert "already present" in capsys.readouterr().out


def _counting(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The S3 operations the CLI's client calls, in order."""
    calls: list[str] = []
    real_client = cli.make_client

    def make_client(args: Any) -> Any:
        client = real_client(args)
        client.meta.events.register("before-call.s3", lambda model, **_: calls.append(model.name))
        return client

    monkeypatch.setattr(cli, "make_client", make_client)
    return calls


def test_upload_of_a_large_file_already_there_does_not_send_it_again(s3, tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(publish, "HEAD_FIRST_BYTES", 0)
    path = wheel(tmp_path)
    run("upload", str(path))
    calls = _counting(monkeypatch)

    assert run("upload", str(path)) == 0

    # The project's PEP 792 status marker, its folder (look-alikes of the file), then the file.
    assert calls == ["GetObject", "ListObjectsV2", "HeadObject"]
    assert "already present" in capsys.readouterr().out


def test_upload_with_put_only_permission_still_uploads_a_large_file(s3, tmp_path, monkeypatch):
    monkeypatch.setattr(publish, "HEAD_FIRST_BYTES", 0)
    monkeypatch.setattr(cli, "make_client", _deny("HeadObject", code="403"))
    path = wheel(tmp_path)

    assert run("upload", str(path)) == 0

    assert keys(s3) == {f"hello-world/{path.name}"}


def test_progress_reader_counts_only_reads_on_the_wire_and_never_moves_back():
    from tqdm import tqdm

    bar = tqdm(total=10, file=io.StringIO(), disable=False)
    reader = publish._ProgressReader(io.BytesIO(b"0123456789"), bar)
    assert reader.read() == b"0123456789" and bar.n == 0  # the signer hashing the payload
    reader.seek(0)
    reader.transferring = True
    reader.read(4)
    assert bar.n == 4
    reader.seek(0)  # botocore rewinds the body to retry
    reader.read(3)
    assert bar.n == 4
    assert reader.read() == b"3456789" and bar.n == 10


def test_part_reads_only_its_slice(tmp_path):
    path = write(tmp_path, "f", b"0123456789")
    part = publish._Part(path, 3, 4)
    assert part.read() == b"3456"
    part.seek(1)
    assert (part.tell(), part.read(2), part.read()) == (1, b"45", b"6")
    assert part.seek(0, io.SEEK_END) == 4
    part.close()


def test_upload_validates_every_file_before_sending_any(s3, tmp_path, capsys):
    good = wheel(tmp_path)
    bad = write(tmp_path, "broken-1.0-py3-none-any.whl", b"not a zip")

    assert run("upload", str(good), str(bad)) == cli.EXIT_CONFLICT

    assert keys(s3) == set()
    assert "broken-1.0-py3-none-any.whl: not a distribution" in capsys.readouterr().err


def test_upload_refuses_a_file_that_is_not_a_distribution(s3, tmp_path, capsys):
    path = write(tmp_path, "notes.txt", b"hello")

    assert run("upload", str(path)) == cli.EXIT_CONFLICT

    err = capsys.readouterr().err
    assert err == f"error: {path}: not a distribution (expected a .whl, .tar.gz or .zip file)\n"


def test_upload_refuses_an_unparsable_file_name(s3, tmp_path, capsys):
    _, data, _ = make_wheel("hello", "1.0")
    path = write(tmp_path, "hello.whl", data)

    assert run("upload", str(path)) == cli.EXIT_CONFLICT

    assert "not a valid distribution file name" in capsys.readouterr().err


def test_upload_refuses_a_name_mismatch(s3, tmp_path, capsys):
    _, data, _ = make_wheel("hello", "1.0")
    path = write(tmp_path, "other-1.0-py3-none-any.whl", data)

    assert run("upload", str(path)) == cli.EXIT_CONFLICT

    err = capsys.readouterr().err
    assert "name mismatch: the file name says 'other', its METADATA says Name: hello" in err
    assert keys(s3) == set()


def test_upload_refuses_a_version_mismatch(s3, tmp_path, capsys):
    _, data = make_sdist("hello", "1.0")
    path = write(tmp_path, "hello-2.0.tar.gz", data)

    assert run("upload", str(path)) == cli.EXIT_CONFLICT

    assert (
        "version mismatch: the file name says 2.0, its PKG-INFO says Version: 1.0" in capsys.readouterr().err
    )


def test_upload_accepts_equivalent_versions(s3, tmp_path):
    # packaging Version comparison: "1.0.0" in METADATA is the same version as "1.0" in the name.
    _, data, _ = make_wheel("hello", "1.0.0")
    path = write(tmp_path, "hello-1.0-py3-none-any.whl", data)

    assert run("upload", str(path)) == 0


def test_upload_of_a_missing_file_is_a_usage_error(s3, tmp_path, capsys):
    assert run("upload", str(tmp_path / "nope-1.0.tar.gz")) == cli.EXIT_USAGE

    assert capsys.readouterr().err.endswith("nope-1.0.tar.gz: no such file\n")


def test_upload_of_a_glob_matching_nothing_is_a_usage_error(s3, tmp_path, capsys):
    assert run("upload", f"{tmp_path}/*.whl") == cli.EXIT_USAGE

    assert "no file matches" in capsys.readouterr().err


# --- yank / unyank ---------------------------------------------------------------------------


@pytest.fixture
def two_versions(s3, tmp_path):
    published(s3, tmp_path, wheel(tmp_path), sdist(tmp_path), wheel(tmp_path, version="2.0"))
    return s3


def test_yank_writes_a_marker_with_the_reason_for_every_file_of_the_version(two_versions, capsys):
    assert run("yank", "Hello.World", "1.0", "--reason", "broken  build") == 0

    s3 = two_versions
    markers = {k for k in keys(s3) if k.endswith(".yanked")}
    assert markers == {
        "hello-world/hello_world-1.0-py3-none-any.whl.yanked",
        "hello-world/hello_world-1.0.tar.gz.yanked",
    }
    assert body(s3, "hello-world/hello_world-1.0.tar.gz.yanked") == b"broken  build"
    assert "update within seconds" in capsys.readouterr().out


# A real reason from PyPI (requests 2.32.0), trailing space included.
PYPI_REASON = "Yanked due to conflicts with CVE-2024-35195 mitigation "


def test_yank_keeps_a_real_pypi_reason_byte_for_byte(two_versions):
    assert run("yank", "hello-world", "1.0", "--reason", PYPI_REASON) == 0

    assert body(two_versions, "hello-world/hello_world-1.0.tar.gz.yanked") == PYPI_REASON.encode()


def test_yank_strips_only_the_one_newline_echo_adds(two_versions):
    assert run("yank", "hello-world", "1.0", "--reason", " two\nlines \n\n") == 0

    assert body(two_versions, "hello-world/hello_world-1.0.tar.gz.yanked") == b" two\nlines \n"


def test_yank_again_with_the_same_reason_is_already_yanked(two_versions, capsys):
    run("yank", "hello-world", "1.0", "--reason", PYPI_REASON)
    capsys.readouterr()

    assert run("yank", "hello-world", "1.0", "--reason", PYPI_REASON + "\n") == 0

    out = capsys.readouterr().out
    assert out.count("already yanked") == 2
    assert "update within seconds" not in out


def test_yank_with_another_reason_rewrites_the_markers(two_versions, capsys):
    run("yank", "hello-world", "1.0", "--reason", PYPI_REASON)

    assert run("yank", "hello-world", "1.0", "--reason", PYPI_REASON.strip()) == 0

    assert "already yanked" not in capsys.readouterr().out
    assert body(two_versions, "hello-world/hello_world-1.0.tar.gz.yanked") == PYPI_REASON.strip().encode()


def test_yank_without_a_reason_writes_an_empty_marker(two_versions):
    assert run("yank", "hello-world", "2.0") == 0

    assert body(two_versions, "hello-world/hello_world-2.0-py3-none-any.whl.yanked") == b""


def test_yank_of_a_version_without_files_is_refused(two_versions, capsys):
    assert run("yank", "hello-world", "3.0") == cli.EXIT_CONFLICT

    assert capsys.readouterr().err == "error: hello-world has no files for version 3.0 (it has: 2.0, 1.0)\n"
    assert not any(k.endswith(".yanked") for k in keys(two_versions))


def test_yank_of_an_unknown_project_is_refused(s3, capsys):
    assert run("yank", "nothing", "1.0") == cli.EXIT_CONFLICT

    assert capsys.readouterr().err == f"error: no project 'nothing' in bucket '{BUCKET}'\n"


def test_yank_of_an_invalid_version_is_a_usage_error(two_versions, capsys):
    assert run("yank", "hello-world", "not a version") == cli.EXIT_USAGE

    assert "is not a valid version" in capsys.readouterr().err


def test_unyank_removes_the_markers(two_versions):
    run("yank", "hello-world", "1.0", "--reason", "oops")

    assert run("unyank", "hello-world", "1.0") == 0

    assert not any(k.endswith(".yanked") for k in keys(two_versions))


def test_unyank_of_a_version_that_is_not_yanked_changes_nothing(two_versions, capsys):
    before = keys(two_versions)

    assert run("unyank", "hello-world", "1.0") == 0

    assert "is not yanked" in capsys.readouterr().out
    assert keys(two_versions) == before


# --- delete ----------------------------------------------------------------------------------


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_delete_with_yes_removes_files_markers_and_metadata_of_that_version_only(two_versions):
    s3 = two_versions
    run("yank", "hello-world", "1.0")
    s3.put_object(Bucket=BUCKET, Key="hello-world/hello_world-1.0-py3-none-any.whl.metadata", Body=b"x")

    assert run("delete", "hello-world", "1.0", "--yes") == 0

    assert keys(s3) == {"hello-world/hello_world-2.0-py3-none-any.whl"}


def test_delete_without_yes_and_no_terminal_is_refused(two_versions, monkeypatch, capsys):
    monkeypatch.setattr("sys.stdin", io.StringIO("y\n"))

    assert run("delete", "hello-world", "1.0") == cli.EXIT_USAGE

    assert "refusing to delete without confirmation" in capsys.readouterr().err
    assert len(keys(two_versions)) == 3


def test_delete_asks_and_deletes_when_the_answer_is_yes(two_versions, monkeypatch, capsys):
    monkeypatch.setattr("sys.stdin", _Terminal("y\n"))

    assert run("delete", "hello-world", "1.0") == 0

    assert "Delete hello-world 1.0? [y/N]" in capsys.readouterr().err
    assert keys(two_versions) == {"hello-world/hello_world-2.0-py3-none-any.whl"}


def test_delete_asks_and_keeps_the_files_when_the_answer_is_no(two_versions, monkeypatch):
    monkeypatch.setattr("sys.stdin", _Terminal("n\n"))

    assert run("delete", "hello-world", "1.0") == cli.EXIT_CONFLICT

    assert len(keys(two_versions)) == 3


def test_delete_of_a_version_that_does_not_exist_is_refused(two_versions, capsys):
    assert run("delete", "hello-world", "9.9", "--yes") == cli.EXIT_CONFLICT

    assert "has no files for version 9.9" in capsys.readouterr().err
    assert len(keys(two_versions)) == 3


def test_delete_keeps_the_bytes_as_noncurrent_versions(two_versions):
    key = "hello-world/hello_world-2.0-py3-none-any.whl"

    assert run("delete", "hello-world", "2.0", "--yes") == 0

    assert key not in keys(two_versions)  # gone from the index's view...
    assert len(versions_of(two_versions, key)) == 1  # ...but its bytes are a noncurrent version


# --- reindex / list --------------------------------------------------------------------------


def test_reindex_builds_pages_for_files_copied_in_by_hand(s3, tmp_path, capsys):
    for path in (wheel(tmp_path), wheel(tmp_path, "other", "0.1")):
        s3.put_object(
            Bucket=BUCKET, Key=f"{cli.validate(path).name.project}/{path.name}", Body=path.read_bytes()
        )

    assert run("reindex") == 0

    root = json.loads(body(s3, "index.json"))
    assert [p["name"] for p in root["projects"]] == ["hello-world", "other"]
    assert "hello-world/index.html" in keys(s3)
    assert "Reindexed 2 project(s)" in capsys.readouterr().out


def test_reindex_of_named_projects_rebuilds_only_those(s3, tmp_path):
    for path in (wheel(tmp_path), wheel(tmp_path, "other", "0.1")):
        s3.put_object(
            Bucket=BUCKET, Key=f"{cli.validate(path).name.project}/{path.name}", Body=path.read_bytes()
        )

    assert run("reindex", "--project", "Hello_World") == 0

    assert "hello-world/index.json" in keys(s3)
    assert "other/index.json" not in keys(s3)


def test_list_shows_projects_with_their_latest_version(s3, tmp_path, capsys):
    published(s3, tmp_path, wheel(tmp_path), wheel(tmp_path, version="2.0"), wheel(tmp_path, "other", "0.1"))
    run("reindex")
    capsys.readouterr()

    assert run("list") == 0

    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split() == ["PROJECT", "LATEST", "SUMMARY"]
    assert lines[1].split() == ["hello-world", "2.0", "A", "test", "package"]
    assert lines[2].split()[:2] == ["other", "0.1"]
    assert lines[-1] == "2 project(s)."


def test_list_of_a_project_shows_versions_files_sizes_and_yanks(s3, tmp_path, capsys):
    whl = wheel(tmp_path)
    published(s3, tmp_path, whl, sdist(tmp_path), wheel(tmp_path, version="2.0"))
    run("yank", "hello-world", "1.0", "--reason", "bad")
    run("reindex")
    capsys.readouterr()

    assert run("list", "Hello.World") == 0

    out = capsys.readouterr().out.splitlines()
    assert out[0] == "hello-world: 2 version(s)"
    assert out[1].strip() == "2.0"
    assert out[3].strip() == "1.0  yanked: bad"
    assert out[4].split()[0] == whl.name  # wheels first, then the sdist
    assert out[4].split()[1:] == cli._size(whl.stat().st_size).split()
    assert out[5].split()[0] == "hello_world-1.0.tar.gz"


def test_list_of_an_unknown_project_is_refused(s3, capsys):
    assert run("list", "nothing") == cli.EXIT_CONFLICT

    assert capsys.readouterr().err == f"error: no project 'nothing' in the index of bucket '{BUCKET}'\n"


def test_list_before_any_index_says_so(s3, capsys):
    assert run("list") == 0

    assert "No index in" in capsys.readouterr().out


# --- errors a user can act on ----------------------------------------------------------------


def test_missing_credentials_is_an_aws_error(tmp_path, monkeypatch, capsys):
    for var in (
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
        "AWS_SESSION_TOKEN",
        "AWS_PROFILE",
        "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
        "AWS_CONTAINER_CREDENTIALS_FULL_URI",
        "AWS_WEB_IDENTITY_TOKEN_FILE",
    ):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-credentials"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")

    code = run(
        "upload", str(wheel(tmp_path)), "--endpoint-url", "http://127.0.0.1:9", "--region", "us-east-1"
    )

    assert code == cli.EXIT_AWS
    err = capsys.readouterr().err
    assert err.startswith("error: no AWS credentials found") and err.count("\n") == 1


def test_unknown_profile_is_an_aws_error(aws_env, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-config"))

    assert run("list", "--profile", "nobody") == cli.EXIT_AWS

    assert capsys.readouterr().err == "error: AWS: The config profile (nobody) could not be found\n"


def test_upload_to_a_bucket_that_does_not_exist_is_an_aws_error(s3, tmp_path, capsys):
    code = cli.main(["upload", str(wheel(tmp_path)), "--bucket", "no-such-bucket"])

    assert code == cli.EXIT_AWS
    assert capsys.readouterr().err.startswith("error: bucket 'no-such-bucket' does not exist")


def test_list_of_a_bucket_that_does_not_exist_is_an_aws_error(s3, capsys):
    assert cli.main(["list", "--bucket", "no-such-bucket"]) == cli.EXIT_AWS

    assert capsys.readouterr().err.startswith("error: bucket 'no-such-bucket' does not exist")


def _deny(operation: str, code: str = "AccessDenied", status: int = 403) -> Any:
    """make_client, but S3 answers `operation` with a 403, as it does without the IAM permission."""
    real_client = cli.make_client

    def make_client(args: Any) -> Any:
        client = real_client(args)

        def forbidden(**_: Any) -> Any:
            return AWSResponse(f"https://s3.amazonaws.com/{BUCKET}", status, {}, None), {
                "Error": {"Code": code, "Message": "Access Denied"},
                "ResponseMetadata": {"HTTPStatusCode": status},
            }

        client.meta.events.register(f"before-call.s3.{operation}", forbidden)
        return client

    return make_client


def test_upload_by_an_identity_that_cannot_read_still_uploads(s3, tmp_path, monkeypatch):
    # The PEP 792 status marker cannot be read; the indexer is the backstop for closed projects.
    monkeypatch.setattr(cli, "make_client", _deny("GetObject"))
    path = wheel(tmp_path)

    assert run("upload", str(path), "--no-progress") == 0

    assert keys(s3) == {f"hello-world/{path.name}"}


def test_upload_when_the_status_marker_cannot_be_read_for_another_reason_is_an_aws_error(
    s3, tmp_path, monkeypatch, capsys
):
    monkeypatch.setattr(cli, "make_client", _deny("GetObject", code="InternalError", status=500))

    assert run("upload", str(wheel(tmp_path)), "--no-progress") == cli.EXIT_AWS

    assert "error: S3 GetObject failed: InternalError" in capsys.readouterr().err
    assert keys(s3) == set()


def test_upload_without_put_permission_is_an_aws_error(s3, tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(cli, "make_client", _deny("PutObject"))

    assert run("upload", str(wheel(tmp_path))) == cli.EXIT_AWS

    err = capsys.readouterr().err
    assert err.startswith(f"error: access denied by S3 for PutObject on bucket '{BUCKET}'")
    assert err.count("\n") == 1


def test_head_forbidden_is_an_access_error(s3, tmp_path, monkeypatch, capsys):
    path = wheel(tmp_path)
    run("upload", str(path))
    monkeypatch.setattr(cli, "make_client", _deny("HeadObject", code="403"))

    assert run("upload", str(path)) == cli.EXIT_AWS

    assert "access denied by S3 for HeadObject" in capsys.readouterr().err


def test_invalid_access_key_is_an_aws_error(s3, tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(cli, "make_client", _deny("ListObjectsV2", code="InvalidAccessKeyId"))

    assert run("yank", "hello", "1.0") == cli.EXIT_AWS

    assert capsys.readouterr().err.startswith("error: the AWS access key id is not known to S3")


def test_no_bucket_is_a_usage_error(aws_env, monkeypatch, capsys, tmp_path):
    monkeypatch.delenv("PYPI_EDGE_BUCKET", raising=False)
    monkeypatch.delenv("PYPI_EDGE_INDEX_URL", raising=False)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path))
    monkeypatch.chdir(tmp_path)

    assert cli.main(["list"]) == cli.EXIT_USAGE

    assert "error: no index: pass --index-url (index credentials) or --bucket" in capsys.readouterr().err


def test_unknown_command_is_a_usage_error(capsys):
    assert cli.main(["publish"]) == cli.EXIT_USAGE


def test_aws_error_keeps_unknown_s3_errors_to_one_line():
    exc = ClientError({"Error": {"Code": "SlowDown", "Message": "Reduce your request rate."}}, "PutObject")

    assert str(cli.aws_error(exc, BUCKET)) == "S3 PutObject failed: SlowDown Reduce your request rate."


AWS_URL = f"https://{BUCKET}.s3.us-east-1.amazonaws.com/hello/.project-status"
LOCAL_URL = f"http://127.0.0.1:9000/{BUCKET}/hello/.project-status"


@pytest.mark.parametrize(
    ("exc", "endpoint", "expected"),
    [
        pytest.param(
            EndpointConnectionError(endpoint_url=AWS_URL),
            None,
            f"could not connect to S3 at https://{BUCKET}.s3.us-east-1.amazonaws.com: "
            "check --region, your network and any proxy (HTTPS_PROXY)",
            id="AWS unreachable",
        ),
        pytest.param(
            ConnectTimeoutError(endpoint_url=LOCAL_URL),
            "http://127.0.0.1:9000",
            f"could not connect to S3 at http://127.0.0.1:9000: {cli.ENDPOINT_HINT}",
            id="connect timeout",
        ),
        pytest.param(
            SSLError(endpoint_url=LOCAL_URL.replace("http:", "https:"), error="CERTIFICATE_VERIFY_FAILED"),
            "https://127.0.0.1:9000",
            f"the TLS connection to https://127.0.0.1:9000 failed: {cli.ENDPOINT_HINT}, or your CA bundle",
            id="TLS",
        ),
        pytest.param(
            ReadTimeoutError(endpoint_url=AWS_URL, error="read timed out"),
            None,
            f"S3 at https://{BUCKET}.s3.us-east-1.amazonaws.com stopped answering (the connection failed); "
            "try again",
            id="read timeout",
        ),
        pytest.param(
            ConnectionClosedError(endpoint_url=LOCAL_URL),
            "http://127.0.0.1:9000",
            "S3 at http://127.0.0.1:9000 stopped answering (the connection failed); try again",
            id="connection closed",
        ),
    ],
)
def test_aws_error_names_the_endpoint_not_the_key_it_was_reading(exc, endpoint, expected):
    message = str(cli.aws_error(exc, BUCKET, endpoint))

    assert message == expected
    assert ".project-status" not in message


def test_aws_error_of_a_head_without_a_body_is_still_s3s():
    # S3 answers a HEAD without an error document, so botocore's code is the status there too.
    exc = ClientError({"Error": {"Code": "400", "Message": "Bad Request"}}, "HeadObject")
    exc.response["ResponseMetadata"] = {"HTTPStatusCode": 400}

    assert str(cli.aws_error(exc, BUCKET, "http://127.0.0.1:9000")) == "S3 HeadObject failed: 400 Bad Request"


def test_client_follows_region_and_endpoint_options(aws_env):
    args = cli.build_parser().parse_args(
        ["list", "--bucket", BUCKET, "--region", "eu-west-1", "--endpoint-url", "http://127.0.0.1:9000"]
    )
    client = cli.make_client(args)
    assert client.meta.region_name == "eu-west-1"
    assert client.meta.endpoint_url == "http://127.0.0.1:9000"


def test_upload_with_reindex_flag_rebuilds_the_pages_at_once(s3, tmp_path, capsys):
    assert run("upload", str(wheel(tmp_path)), "--reindex") == 0

    assert {"index.json", "hello-world/index.json", "hello-world/index.html"} <= keys(s3)
    assert "Rebuilt the pages of hello-world." in capsys.readouterr().out
