"""Hostile distributions, built cheaply in memory: bombs, lying archives, broken and odd files.

A "1 GiB" bomb is never inflated here: a raw deflate stream of zeros ends each 1 MiB chunk with a
full flush, which resets the compressor, so every chunk compresses to the same ~1 KiB and the
stream is that block repeated 1,024 times (about 1 MB on disk).
"""

from __future__ import annotations

import struct
import tarfile
import zlib
from functools import cache

from tests.distributions import make_sdist, make_wheel

MIB = 1024 * 1024
GIB = 1024 * MIB


@cache
def _zero_chunk() -> bytes:
    co = zlib.compressobj(9, zlib.DEFLATED, -15)
    return co.compress(b"\0" * MIB) + co.flush(zlib.Z_FULL_FLUSH)


def deflated_zeros(n_mib: int, prefix: bytes = b"") -> bytes:
    """A raw deflate stream of `prefix` then `n_mib` MiB of zeros, built without inflating it."""
    co = zlib.compressobj(9, zlib.DEFLATED, -15)
    head = co.compress(prefix) + co.flush(zlib.Z_FULL_FLUSH) if prefix else b""
    return head + _zero_chunk() * n_mib + zlib.compressobj(9, zlib.DEFLATED, -15).flush()


def raw_zip(members: list[tuple[str, bytes, int, int]], *, crc: int = 0) -> bytes:
    """A zip of (name, deflated data, declared compressed size, declared size): sizes may lie."""
    out, central = b"", b""
    for name, data, csize, usize in members:
        encoded = name.encode()
        offset = len(out)
        out += struct.pack("<IHHHHHIIIHH", 0x04034B50, 20, 0, 8, 0, 0, crc, csize, usize, len(encoded), 0)
        out += encoded + data
        central += struct.pack(
            "<IHHHHHHIIIHHHHHII",
            0x02014B50,
            20,
            20,
            0,
            8,
            0,
            0,
            crc,
            csize,
            usize,
            len(encoded),
            0,
            0,
            0,
            0,
            0,
            offset,
        )
        central += encoded
    eocd = struct.pack("<IHHHHIIH", 0x06054B50, 0, 0, len(members), len(members), len(central), len(out), 0)
    return out + central + eocd


def zip_bomb_wheel(dist_info: str) -> bytes:
    """METADATA honestly declared as 1 GiB (inflates to it, ~1 MB on disk)."""
    data = deflated_zeros(1024)
    return raw_zip([(f"{dist_info}/METADATA", data, len(data), GIB)])


def lying_small_wheel(dist_info: str) -> bytes:
    """METADATA declared as 300 bytes that inflates to 1 GiB."""
    data = deflated_zeros(1024)
    return raw_zip([(f"{dist_info}/METADATA", data, len(data), 300)])


def lying_big_compressed_wheel(dist_info: str) -> bytes:
    """METADATA whose declared compressed size runs far past the end of the file."""
    data = zlib.compress(b"Metadata-Version: 2.1\nName: demo\nVersion: 1.0\n")[2:-4]
    return raw_zip([(f"{dist_info}/METADATA", data, 3 * GIB, 50)])


def big_metadata_wheel(name: str, version: str) -> bytes:
    """A real wheel whose METADATA is 10 MB (a huge description), honestly declared."""
    return make_wheel(name, version, description="x" * (10 * 1000 * 1000))[1]


def targz_bomb(top: str) -> bytes:
    """An sdist whose first member is 1 GiB of zeros (PKG-INFO, if any, would come after)."""
    info = tarfile.TarInfo(f"{top}/big.bin")
    info.size = GIB
    body = deflated_zeros(1024, prefix=info.tobuf(format=tarfile.USTAR_FORMAT))
    header = b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\xff"
    return header + body + struct.pack("<II", 0, 0)  # CRC and size are never reached


def big_pkg_info_sdist(name: str, version: str) -> bytes:
    import io

    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tf:
        data = b"Metadata-Version: 2.1\nName: demo\nVersion: 1.0\n" + b"x" * (10 * 1000 * 1000)
        info = tarfile.TarInfo(f"{name}-{version}/PKG-INFO")
        info.size = len(data)
        tf.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def truncated(data: bytes) -> bytes:
    return data[: len(data) // 2]


def good_sdist(name: str, version: str) -> bytes:
    return make_sdist(name, version)[1]
