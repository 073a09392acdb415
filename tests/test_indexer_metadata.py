"""Core metadata: byte-exact from wheels, read by ranges, capped against zip bombs."""

from __future__ import annotations

import io
import zipfile

import pytest

from indexer.metadata import (
    MAX_METADATA_BYTES,
    MetadataError,
    RangeFile,
    parse_core_metadata,
    sdist_metadata,
    wheel_metadata,
)
from tests.distributions import make_sdist, make_wheel


def test_wheel_metadata_is_byte_for_byte_the_wheels_member():
    _, wheel, metadata = make_wheel("Foo.Bar", "1.0", description="Ünïcode description\n\n    indented\n")
    assert wheel_metadata(io.BytesIO(wheel), "foo-bar") == metadata


def test_large_wheel_is_read_with_two_ranged_requests_not_downloaded():
    _, wheel, metadata = make_wheel("big", "1.0", payload_bytes=20 * 1024 * 1024)
    fetched: list[tuple[int, int]] = []

    def fetch(start: int, end: int) -> bytes:
        fetched.append((start, end))
        return wheel[start : end + 1]

    source = RangeFile(len(wheel), fetch)
    assert wheel_metadata(source, "big") == metadata
    assert len(fetched) == 1  # the tail holds the central directory and METADATA
    assert sum(end - start + 1 for start, end in fetched) <= 512 * 1024


def test_range_file_serves_reads_inside_a_fetched_span_without_new_requests():
    data = bytes(range(256)) * 1024
    source = RangeFile(len(data), lambda a, b: data[a : b + 1], tail=4096)
    source.seek(-100, io.SEEK_END)
    assert source.read(50) == data[-100:-50]
    assert source.requests == 1


def test_wheel_without_dist_info_metadata_is_refused():
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("pkg/__init__.py", "")
    with pytest.raises(MetadataError):
        wheel_metadata(io.BytesIO(buf.getvalue()), "pkg")


def test_corrupt_wheel_is_refused_not_raised():
    with pytest.raises(MetadataError):
        wheel_metadata(io.BytesIO(b"PK\x03\x04 definitely not a zip"), "pkg")


def test_metadata_that_inflates_past_the_cap_is_refused():
    # A zip bomb: tiny compressed, huge inflated.
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("bomb-1.0.dist-info/METADATA", b"\0" * (MAX_METADATA_BYTES + 10))
    assert len(buf.getvalue()) < 100_000
    with pytest.raises(MetadataError):
        wheel_metadata(io.BytesIO(buf.getvalue()), "bomb")


def test_metadata_whose_header_lies_about_its_size_is_refused():
    # zipfile reads no more than the declared size, so the lie cannot inflate past the cap;
    # the truncated member then fails its CRC check, and the wheel is refused, not raised.
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("liar-1.0.dist-info/METADATA", b"Name: liar\n" + b"x" * (MAX_METADATA_BYTES + 10))
    raw = bytearray(buf.getvalue())
    # Rewrite the central directory's uncompressed size to 100 bytes.
    cd = raw.rfind(b"PK\x01\x02")
    raw[cd + 24 : cd + 28] = (100).to_bytes(4, "little")
    with pytest.raises(MetadataError):
        wheel_metadata(io.BytesIO(bytes(raw)), "liar")


def test_wheel_with_two_dist_infos_uses_the_projects_own():
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("vendored-2.0.dist-info/METADATA", b"Name: vendored\nVersion: 2.0\n")
        zf.writestr("mine-1.0.dist-info/METADATA", b"Name: mine\nVersion: 1.0\n")
    assert wheel_metadata(io.BytesIO(buf.getvalue()), "mine") == b"Name: mine\nVersion: 1.0\n"


def test_sdist_pkg_info_is_read_from_a_tar_gz_stream():
    _, sdist = make_sdist("foo", "1.0", summary="Foo!", requires_python=">=3.9")
    meta = parse_core_metadata(sdist_metadata(io.BytesIO(sdist)))
    assert (meta.name, meta.version, meta.summary, meta.requires_python) == ("foo", "1.0", "Foo!", ">=3.9")


def test_sdist_pkg_info_is_read_from_a_zip():
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("foo-1.0/PKG-INFO", b"Metadata-Version: 1.0\nName: foo\nVersion: 1.0\n")
    assert b"Name: foo" in sdist_metadata(io.BytesIO(buf.getvalue()), zip_format=True)


def test_core_metadata_fields_are_unfolded():
    meta = parse_core_metadata(
        b"Metadata-Version: 2.1\nName: x\nVersion: 1\nSummary: a long\n  folded line\n"
    )
    assert meta.summary == "a long folded line"


def test_utf8_summary_is_decoded_as_utf8():
    raw = "Metadata-Version: 2.1\nName: x\nVersion: 1\nSummary: Café – naïve ✓ 日本\n".encode()
    assert parse_core_metadata(raw).summary == "Café – naïve ✓ 日本"


def test_sdist_whose_pkg_info_is_past_the_scan_cap_is_refused_quickly(monkeypatch):
    import gzip
    import tarfile

    import indexer.metadata

    monkeypatch.setattr(indexer.metadata, "MAX_SDIST_SCAN_BYTES", 1024 * 1024)
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tf:
        bomb = tarfile.TarInfo("bomb-1.0/zeros.bin")
        bomb.size = 8 * 1024 * 1024
        tf.addfile(bomb, io.BytesIO(b"\0" * bomb.size))
        info = tarfile.TarInfo("bomb-1.0/PKG-INFO")  # last, as some backends write it
        info.size = 5
        tf.addfile(info, io.BytesIO(b"Name:"))
    packed = gzip.compress(buf.getvalue())
    assert len(packed) < 100_000
    with pytest.raises(MetadataError):
        sdist_metadata(io.BytesIO(packed))


def test_wheel_with_a_corrupt_deflate_stream_is_refused_not_raised():
    _, wheel, _ = make_wheel("x", "1.0")
    raw = bytearray(wheel)
    start = raw.find(b"Metadata-Version")  # stored uncompressed? then corrupt the deflated one
    member = raw.find(b"x-1.0.dist-info/METADATA") + len("x-1.0.dist-info/METADATA")
    raw[member : member + 8] = b"\xff" * 8  # the first bytes of the compressed METADATA
    assert start == -1  # METADATA is deflated in these wheels
    with pytest.raises(MetadataError):
        wheel_metadata(io.BytesIO(bytes(raw)), "x")
