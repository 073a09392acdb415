"""The index in PEP 691 terms: frozen dataclasses and the pure functions that build them.

Nothing here does I/O.  `indexer.build` feeds it the bucket listing and what it read; the
renderers in `indexer.render` turn it into PEP 503 HTML and PEP 691 JSON.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime

from packaging.utils import (
    InvalidName,
    InvalidSdistFilename,
    InvalidWheelFilename,
    NormalizedName,
    canonicalize_name,
    canonicalize_version,
    parse_sdist_filename,
    parse_wheel_filename,
)
from packaging.version import InvalidVersion, Version

# Keys the indexer itself writes: never distributions, never a reason to rebuild.  Each JSON page
# is stored twice: `index.json` gzip-encoded (what pip, uv, poetry and browsers get) and
# `index.identity.json` unencoded, for clients that do not accept gzip (the viewer-request
# function picks one by Accept-Encoding; edge/handler.py, json_variant, holds the same names).
JSON_PAGE = "index.json"
IDENTITY_JSON_PAGE = "index.identity.json"
GENERATED_NAMES = frozenset({"index.html", JSON_PAGE, IDENTITY_JSON_PAGE})
METADATA_SUFFIX = ".metadata"  # PEP 658
YANKED_SUFFIX = ".yanked"  # our marker for PEP 592 yanks; its text is the reason
# The indexer's private note that a distribution is left off the pages, and why (JSON: the file's
# ETag and the reason).  Beside the file, so the one listing of a rebuild finds it; never served
# (the edge serves only distributions, .metadata and the pages) and never an event (no watched
# suffix).  It used to be `_left_out` inside index.json, which every reader could read.
LEFT_OUT_SUFFIX = ".left-out"
SDIST_SUFFIXES = (".tar.gz", ".zip")
DIST_SUFFIXES = (".whl", *SDIST_SUFFIXES)

# A legacy sdist name ("foo-bar-1.0.tar.gz") has no unambiguous split in general; the version
# is the first dash-separated part that starts with a digit and parses (what pip does too).
_LEGACY_SPLIT = re.compile(r"-(?=\d)")


def yank_reason(text: str) -> str:
    """A yank reason as written (PEP 592: free text), minus the one newline `echo` adds.

    Nothing else is touched: PyPI's reasons keep their inner and trailing spaces
    ("Yanked due to conflicts with CVE-2024-35195 mitigation "), and pages escape the text
    where they render it (HTML autoescape; JSON strings as is).
    """
    return text[:-1] if text.endswith("\n") else text


class BadFilename(ValueError):
    """The key does not name a distribution we can place in the index."""


# The rule for project names, as a refusal says it (PEP 508 names; core metadata "Name").
NAME_RULE = (
    "a project name is a PEP 508 name in ASCII: letters, digits, and '.', '_' or '-' only between them"
)


@dataclass(frozen=True)
class DistName:
    """What a distribution's file name says about it."""

    project: NormalizedName
    version: Version
    kind: str  # "wheel" or "sdist"
    build: tuple[int, str] | tuple[()] = ()  # a wheel's build tag, parsed (binary distribution format)
    tags: tuple[str, ...] = ()  # a wheel's tags, compressed sets expanded, sorted

    @property
    def identity(self) -> str:
        """What makes two files the same file, whatever their spelling.

        Normalized name; the version as PEP 440 compares it (`canonicalize_version`: 1.0 ==
        1.0.0, 0!1.0 == 1.0, local labels lower-cased); the build tag; the set of tags (a wheel)
        or "sdist" (one sdist per release, .tar.gz or .zip).  Two files with one identity would
        offer an installer the same thing twice, with different bytes.
        """
        version = canonicalize_version(self.version)
        if self.kind != "wheel":
            return f"{self.project} {version} sdist"
        build = f"{self.build[0]}{self.build[1]}" if self.build else "-"
        return f"{self.project} {version} {build} {'.'.join(self.tags)}"


def is_distribution(filename: str) -> bool:
    return filename.endswith(DIST_SUFFIXES)


def _check_name(raw: str, filename: str) -> None:
    """PEP 508 names, in ASCII.  `canonicalize_name(validate=True)` matches its pattern with
    re.IGNORECASE, under which some non-ASCII letters match ASCII ones (U+212A KELVIN SIGN is
    "k", U+017F LONG S is "s"), so ASCII is checked on its own."""
    try:
        if not raw.isascii():
            raise InvalidName(raw)
        canonicalize_name(raw, validate=True)
    except InvalidName:
        raise BadFilename(f"{filename}: {raw!r} is not a valid project name ({NAME_RULE})") from None


def parse_filename(filename: str) -> DistName:
    """Project, version and kind from a wheel or sdist file name (PEP 427, PEP 625).

    The project name must be a valid PEP 508 name in ASCII, and the whole file name printable
    ASCII (every part of a distribution's name is).  Raises BadFilename otherwise; the indexer
    leaves that file out, the publishing core refuses it.
    """
    if not (filename.isascii() and filename.isprintable()):
        shown = ascii(filename)[1:-1]
        raise BadFilename(f"{shown}: a distribution file name is printable ASCII ({NAME_RULE})")
    try:
        if filename.endswith(".whl"):
            _check_name(filename.split("-", 1)[0], filename)
            name, version, build, tags = parse_wheel_filename(filename)
            return DistName(name, version, "wheel", build, tuple(sorted(map(str, tags))))
        if filename.endswith(SDIST_SUFFIXES):
            try:
                name, version = parse_sdist_filename(filename)
                raw = filename.removesuffix(".tar.gz").removesuffix(".zip").rpartition("-")[0]
            except InvalidSdistFilename:
                raw, version = _parse_legacy_sdist(filename)
                name = canonicalize_name(raw)
            _check_name(raw, filename)
            return DistName(name, version, "sdist")
    except (InvalidWheelFilename, InvalidSdistFilename, InvalidVersion) as exc:
        raise BadFilename(f"{filename}: {exc}") from exc
    raise BadFilename(f"{filename}: not a wheel or an sdist")


# Platform compatibility tags: each part of a (compressed) tag set is letters, digits and "_"
# (https://packaging.python.org/en/latest/specifications/platform-compatibility-tags/).
_TAG_PART = re.compile(r"[a-z0-9_]+(?:\.[a-z0-9_]+)*")
_BUILD_TAG = re.compile(r"[0-9]+[A-Za-z0-9_]*")


def canonical_filename(filename: str, name: DistName | None = None) -> str:
    """The spelling the specifications give this distribution's file name.

    Wheels, binary distribution format ("Escaping and Unicode",
    https://packaging.python.org/en/latest/specifications/binary-distribution-format/): the
    name normalized with runs of "-_." as one "_", lower case; the version normalized (PEP 440,
    `str(Version)`: "1.0RC1" -> "1.0rc1", "1.0-1" -> "1.0.post1"); the tags as given, lower case.
    Sdists, PEP 625 (source distribution format, "Source distribution file name",
    https://packaging.python.org/en/latest/specifications/source-distribution-format/):
    "{name}-{version}.tar.gz" with the same name and version rules.  A legacy ".zip" sdist
    keeps its suffix (renaming an archive cannot change its format) and gets the same name and
    version.  So "ACME.X-1.0.zip" is stored as "acme_x-1.0.zip" and "ACME_X-1.0-py3-none-any.whl"
    as "acme_x-1.0-py3-none-any.whl".  Raises BadFilename for tags or build tags that are not
    letters, digits and "_".
    """
    name = name or parse_filename(filename)
    stem = name.project.replace("-", "_") + "-" + str(name.version)
    if name.kind == "sdist":
        return stem + (".zip" if filename.endswith(".zip") else ".tar.gz")
    parts = filename[: -len(".whl")].split("-")
    tags = "-".join(parts[-3:]).lower()
    if not all(_TAG_PART.fullmatch(part.lower()) for part in parts[-3:]):
        raise BadFilename(f"{filename}: wheel tags are letters, digits and '_' (platform compatibility tags)")
    if name.build:
        if len(parts) != 6 or not _BUILD_TAG.fullmatch(parts[2]):
            raise BadFilename(f"{filename}: a build tag is a number, then letters, digits or '_'")
        stem += f"-{name.build[0]}{name.build[1]}"
    return f"{stem}-{tags}.whl"


def _parse_legacy_sdist(filename: str) -> tuple[str, Version]:
    """(the name as written, version): parse_sdist_filename splits on the last dash, so
    "foo-bar-1.0.tar.gz" works but "foo-1.0-py3.zip"-style names it rejects need a second try."""
    stem = filename.removesuffix(".tar.gz").removesuffix(".zip")
    for match in _LEGACY_SPLIT.finditer(stem):
        name, version = stem[: match.start()], stem[match.end() :]
        try:
            canonicalize_name(name, validate=True)
            return name, Version(version)
        except (InvalidVersion, ValueError):
            continue
    raise InvalidSdistFilename(f"cannot split {filename!r} into name and version")


@dataclass(frozen=True)
class File:
    """One distribution as PEP 691 describes it, plus what a person wants to see."""

    filename: str
    version: Version
    kind: str
    sha256: str
    size: int
    upload_time: datetime
    requires_python: str | None = None
    metadata_sha256: str | None = None  # PEP 658: sha256 of <filename>.metadata, when served
    yanked: str | None = None  # PEP 592: None = not yanked; "" = yanked without a reason
    summary: str | None = None
    # Bookkeeping for the next rebuild (PEP 691 reserves "_" keys for private use).
    etag: str = ""
    yanked_etag: str = ""
    metadata_etag: str = ""  # of the .metadata object this rebuild wrote (or reused)


@dataclass(frozen=True)
class LeftOut:
    """A distribution the page does not list, and why (private bookkeeping, never rendered).

    Remembered by ETag, in a `<file>.left-out` note, so the next rebuild neither reads the file
    again nor logs it again.
    """

    filename: str
    etag: str
    reason: str


@dataclass(frozen=True)
class ProjectDetail:
    """A project page: PEP 691's project detail, with PEP 700's versions and PEP 792's status."""

    name: NormalizedName
    files: tuple[File, ...]  # the files the page offers
    serial: int = 0
    status: str = "active"  # PEP 792
    status_reason: str = ""
    # Files in the bucket the page does not offer (a quarantined project's, or written after
    # the project stopped accepting uploads); kept in the page's private memory.
    held: tuple[File, ...] = ()
    left_out: tuple[LeftOut, ...] = ()  # distributions that could not be described, and why

    @property
    def versions(self) -> tuple[Version, ...]:
        # A quarantined project still lists its versions, as PEP 792's example page does.
        shown = self.files + self.held if self.status == "quarantined" else self.files
        return tuple(sorted({f.version for f in shown}))

    @property
    def _described(self) -> tuple[File, ...]:
        # What the project is known for: its offered files, or a quarantined project's held ones.
        return self.files or (self.held if self.status == "quarantined" else ())

    @property
    def latest(self) -> Version | None:
        """Newest version that is not a pre-release and not fully yanked; else the newest."""
        files = self._described
        live = [f.version for f in files if f.yanked is None]
        final = [v for v in live if not v.is_prerelease]
        pool = final or live or [f.version for f in files]
        return max(pool) if pool else None

    @property
    def summary(self) -> str | None:
        latest = self.latest
        for f in self._described:
            if f.version == latest and f.summary:
                return f.summary
        return None

    def releases(self) -> list[tuple[Version, list[File]]]:
        """Versions newest first, each with its files (sdist first, then wheels by name)."""
        by_version: dict[Version, list[File]] = {}
        for f in self.files:
            by_version.setdefault(f.version, []).append(f)
        return [
            (v, sorted(by_version[v], key=lambda f: (f.kind != "sdist", f.filename)))
            for v in sorted(by_version, reverse=True)
        ]

    def root_entry(self) -> ProjectEntry:
        latest = self.latest
        return ProjectEntry(
            name=self.name,
            latest=str(latest) if latest is not None else "",
            summary=self.summary or "",
            serial=self.serial,
            status="" if self.status == "active" else self.status,
        )


def sort_files(files: list[File]) -> tuple[File, ...]:
    """Oldest version first, as PyPI lists them; ties by file name for a stable page."""
    return tuple(sorted(files, key=lambda f: (f.version, f.filename)))


@dataclass(frozen=True)
class ProjectEntry:
    """A project in the root list: what the root page shows, and the serial that orders updates.

    A removed project stays as a tombstone (private, never rendered), so that a slower rebuild
    that still saw its files cannot bring it back.
    """

    name: str
    latest: str = ""
    summary: str = ""
    serial: int = 0
    removed: bool = False
    status: str = ""  # PEP 792 status when not active (shown to people on the root page)

    def same_listing(self, other: ProjectEntry | None) -> bool:
        return (
            other is not None
            and not other.removed
            and not self.removed
            and (self.name, self.latest, self.summary, self.status)
            == (other.name, other.latest, other.summary, other.status)
        )


@dataclass(frozen=True)
class ProjectList:
    """The root index: PEP 691's project list (plus tombstones of removed projects)."""

    projects: tuple[ProjectEntry, ...] = field(default_factory=tuple)
    serial: int = 0

    @property
    def live(self) -> tuple[ProjectEntry, ...]:
        return tuple(p for p in self.projects if not p.removed)

    def get(self, name: str) -> ProjectEntry | None:
        for p in self.projects:
            if p.name == name:
                return p
        return None

    def with_entry(self, entry: ProjectEntry) -> ProjectList:
        """This list with the entry of the same name replaced by `entry`."""
        rest = [p for p in self.projects if p.name != entry.name]
        rest.append(entry)
        return ProjectList(tuple(sorted(rest, key=lambda p: p.name)), self.serial)
