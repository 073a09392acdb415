"""Project, version and kind from real-world file names; ordering; what counts as latest."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from packaging.version import Version

from indexer.model import BadFilename, File, ProjectDetail, parse_filename, sort_files


@pytest.mark.parametrize(
    ("filename", "project", "version", "kind"),
    [
        ("requests-2.32.3-py3-none-any.whl", "requests", "2.32.3", "wheel"),
        ("numpy-2.1.1-cp311-cp311-manylinux_2_17_x86_64.manylinux2014_x86_64.whl", "numpy", "2.1.1", "wheel"),
        ("zope.interface-7.0.3-cp311-cp311-macosx_11_0_arm64.whl", "zope-interface", "7.0.3", "wheel"),
        ("typing_extensions-4.12.2-py3-none-any.whl", "typing-extensions", "4.12.2", "wheel"),
        ("foo_bar-1.0+local-py3-none-any.whl", "foo-bar", "1.0+local", "wheel"),
        ("pkg-1.0-1-py3-none-any.whl", "pkg", "1.0", "wheel"),  # build tag
        ("requests-2.32.3.tar.gz", "requests", "2.32.3", "sdist"),
        ("zope_interface-7.0.3.tar.gz", "zope-interface", "7.0.3", "sdist"),
        ("Django-1.11.29.tar.gz", "django", "1.11.29", "sdist"),  # pre-PEP 625 capitals
        ("foo-bar-1.0.tar.gz", "foo-bar", "1.0", "sdist"),  # legacy dashes in the name
        ("python-dateutil-2.9.0.post0.tar.gz", "python-dateutil", "2.9.0.post0", "sdist"),
        ("backports.zoneinfo-0.2.1.tar.gz", "backports-zoneinfo", "0.2.1", "sdist"),
        ("pywin32-ctypes-0.2.0.zip", "pywin32-ctypes", "0.2.0", "sdist"),  # legacy .zip sdist
        ("Foo.Bar-2.0rc1.zip", "foo-bar", "2.0rc1", "sdist"),
        ("foo-1.0-beta.tar.gz", "foo", "1.0b0", "sdist"),  # legacy: version with a dash
    ],
)
def test_parse_filename_reads_project_version_and_kind(filename, project, version, kind):
    dist = parse_filename(filename)
    assert (dist.project, dist.version, dist.kind) == (project, Version(version), kind)


@pytest.mark.parametrize(
    "filename",
    [
        "notes.txt",
        "pkg-1.0.tar.bz2",  # not an sdist format PEP 625 or pip accepts
        "pkg-1.0.egg",
        "nover.tar.gz",
        "pkg-notaversion.tar.gz",
        "pkg-1.0.whl",  # too few wheel parts
        "pkg-1.0-py3-none-any-extra.whl",
        "pkg-1.0-py3-none-any.whl.metadata",
    ],
)
def test_parse_filename_rejects_what_is_not_a_distribution(filename):
    with pytest.raises(BadFilename):
        parse_filename(filename)


def _file(filename: str, version: str, *, yanked: str | None = None, summary: str | None = None) -> File:
    return File(
        filename=filename,
        version=Version(version),
        kind="wheel" if filename.endswith(".whl") else "sdist",
        sha256="0" * 64,
        size=1,
        upload_time=datetime(2024, 1, 1, tzinfo=UTC),
        yanked=yanked,
        summary=summary,
    )


def test_files_sort_by_version_not_by_text():
    files = [_file("p-10.0.tar.gz", "10.0"), _file("p-9.0.tar.gz", "9.0"), _file("p-1.0rc1.tar.gz", "1.0rc1")]
    assert [f.filename for f in sort_files(files)] == ["p-1.0rc1.tar.gz", "p-9.0.tar.gz", "p-10.0.tar.gz"]


def test_latest_skips_prereleases_and_fully_yanked_versions():
    detail = ProjectDetail(
        "p",
        sort_files(
            [
                _file("p-1.0.tar.gz", "1.0", summary="one"),
                _file("p-2.0.tar.gz", "2.0", yanked="broken", summary="two"),
                _file("p-3.0a1.tar.gz", "3.0a1", summary="three"),
            ]
        ),
    )
    assert detail.latest == Version("1.0")
    assert detail.summary == "one"


def test_latest_is_a_prerelease_when_only_prereleases_exist():
    detail = ProjectDetail(
        "p", sort_files([_file("p-1.0a1.tar.gz", "1.0a1"), _file("p-1.0a2.tar.gz", "1.0a2")])
    )
    assert detail.latest == Version("1.0a2")


def test_releases_are_newest_first_with_sdist_before_wheels():
    detail = ProjectDetail(
        "p",
        sort_files(
            [
                _file("p-1.0-py3-none-any.whl", "1.0"),
                _file("p-1.0.tar.gz", "1.0"),
                _file("p-2.0.tar.gz", "2.0"),
            ]
        ),
    )
    assert [(str(v), [f.filename for f in fs]) for v, fs in detail.releases()] == [
        ("2.0", ["p-2.0.tar.gz"]),
        ("1.0", ["p-1.0.tar.gz", "p-1.0-py3-none-any.whl"]),
    ]
