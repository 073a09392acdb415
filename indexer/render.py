"""PEP 503 HTML and PEP 691 JSON from the model, and the JSON read back into the model.

Pure functions only.  The JSON is both what clients read and the indexer's own memory: files'
ETags, summaries and yank-marker ETags ride along under "_" keys, which PEP 691 reserves for
private use, so the next rebuild reuses hashes and metadata instead of reading files again.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cache
from typing import Any
from urllib.parse import quote, urlsplit

import jinja2
from packaging.utils import canonicalize_name
from packaging.version import InvalidVersion, Version

from indexer import assets
from indexer.about import About
from indexer.model import File, LeftOut, ProjectDetail, ProjectEntry, ProjectList

# PEP 700 (versions, size, upload-time) is API version 1.1; PEP 792 (project status markers)
# defines 1.4, which every page declares (PEP 629 puts it in the HTML too).
API_VERSION = "1.4"
_TIME_FORMAT = "%Y-%m-%dT%H:%M:%S.%fZ"  # PEP 700: ISO 8601, UTC, "Z"


def isotime(value: datetime) -> str:
    return value.astimezone(UTC).strftime(_TIME_FORMAT)


def parse_isotime(value: str) -> datetime:
    return datetime.strptime(value, _TIME_FORMAT).replace(tzinfo=UTC)


def urlquote(filename: str) -> str:
    # PEP 503: hrefs are URLs, so "+" of a local version and any space are percent-encoded.
    return quote(filename, safe="")


def filesize(n: int) -> str:
    size = float(n)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if size < 1024 or unit == "GiB":
            return f"{int(size)} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    raise AssertionError("unreachable")


@cache
def _env() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("indexer", "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.filters.update(urlquote=urlquote, isotime=isotime, filesize=filesize)
    return env


@dataclass(frozen=True)
class Site:
    """The index's public address, as the pages show it in copy-ready commands (never a password).

    `url` is "" when the indexer was not told it (`PYPI_EDGE_PUBLIC_URL`): the commands then
    read https://<index-host>/..., which the page's script replaces with the page's own origin.
    """

    url: str = ""

    @classmethod
    def parse(cls, value: str | None) -> Site:
        """From the environment variable: an http(s) origin, any path, user or query dropped."""
        try:
            parts = urlsplit((value or "").strip())
            hostname, port = parts.hostname, parts.port
        except ValueError:
            return cls()
        if parts.scheme not in ("https", "http") or not hostname:
            return cls()
        host = f"[{hostname}]" if ":" in hostname else hostname
        return cls(f"{parts.scheme}://{host}{f':{port}' if port else ''}")

    @property
    def host(self) -> str:
        return urlsplit(self.url).netloc

    @property
    def index_url(self) -> str:
        return f"{self.url or 'https://<index-host>'}/simple/"

    @property
    def upload_url(self) -> str:
        return f"{self.url or 'https://<index-host>'}/legacy/"


def _render(template: str, site: Site, **context: Any) -> bytes:
    page = (
        _env()
        .get_template(template)
        .render(
            site=site,
            api_version=API_VERSION,
            css_url=assets.css_url(),
            js_url=assets.js_url(),
            **context,
        )
    )
    return page.encode("utf-8")


# --- project pages -------------------------------------------------------------------------


def project_html(detail: ProjectDetail, about: About | None = None, site: Site = Site()) -> bytes:
    """The PEP 503 page, which is also the project's home for people (templates/project.html).

    `about` is the latest release's core metadata (None: not read, or quarantined).  The page's
    only `<a href>` elements are the files, exactly as before the human parts were added.
    """
    latest = detail.latest
    summary = detail.summary or (about.summary if about else "")
    return _render(
        "project.html",
        site,
        project=detail,
        latest=str(latest) if latest else "",
        about=about,
        summary=summary,
    )


def not_found_html(site: Site = Site()) -> bytes:
    """The page CloudFront shows for a missing object (`-/static/404.html`, indexer/assets.py)."""
    return _render("404.html", site)


def _yanked_json(f: File) -> bool | str:
    # PEP 691: false, true, or the reason as a non-empty string.
    if f.yanked is None:
        return False
    return f.yanked or True


def _file_json(f: File) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "filename": f.filename,
        "url": urlquote(f.filename),
        "hashes": {"sha256": f.sha256},
    }
    if f.requires_python:
        entry["requires-python"] = f.requires_python
    # PEP 714: JSON carries only "core-metadata" (never "dist-info-metadata").
    entry["core-metadata"] = {"sha256": f.metadata_sha256} if f.metadata_sha256 else False
    entry["yanked"] = _yanked_json(f)
    entry["size"] = f.size
    entry["upload-time"] = isotime(f.upload_time)
    entry["_etag"] = f.etag
    if f.summary:
        entry["_summary"] = f.summary
    if f.yanked_etag:
        entry["_yanked_etag"] = f.yanked_etag
    if f.metadata_etag:
        entry["_metadata_etag"] = f.metadata_etag
    return entry


def project_json(detail: ProjectDetail, *, status_memory: dict[str, str] | None = None) -> bytes:
    root = detail.root_entry()
    # PEP 792 (JSON index): a top-level "project-status" object with "status" and an optional
    # free-text "reason" -- the shape of the PEP's example, PyPI's pages and uv's parser.
    project_status: dict[str, str] = {"status": detail.status}
    if detail.status_reason:
        project_status["reason"] = detail.status_reason
    doc: dict[str, Any] = {
        "meta": {"api-version": API_VERSION},
        "name": detail.name,
        "project-status": project_status,
        "versions": [str(v) for v in detail.versions],
        "files": [_file_json(f) for f in detail.files],
        "_serial": detail.serial,
        "_root": {"latest": root.latest, "summary": root.summary, "status": root.status},
    }
    if detail.held:
        # Private memory (PEP 691 "_" keys) of files the page does not offer, so a project that
        # comes back from quarantine is rebuilt without reading its files again.
        doc["_held"] = [_file_json(f) for f in detail.held]
    if status_memory:
        doc["_status"] = status_memory  # the marker's ETag and "since": read only when it changes
    # Files left out (and why) are not in the page: readers read it (indexer.model.LEFT_OUT_SUFFIX).
    return (json.dumps(doc, ensure_ascii=False, separators=(",", ":")) + "\n").encode("utf-8")


def parse_project_json(doc: Any) -> tuple[dict[str, File], int]:
    """Files of a page we wrote before, by filename, and its serial; tolerant of foreign JSON.

    Anything unreadable is simply forgotten: the rebuild then reads that file again.
    """
    if not isinstance(doc, dict):
        return {}, 0
    known: dict[str, File] = {}
    files = [item for key in ("files", "_held") if isinstance(doc.get(key), list) for item in doc[key]]
    for item in files:
        try:
            yanked = item.get("yanked", False)
            meta = item.get("core-metadata") or item.get("dist-info-metadata")
            known[item["filename"]] = File(
                filename=item["filename"],
                version=Version("0"),  # recomputed from the name by the caller
                kind="",
                sha256=item["hashes"]["sha256"],
                size=int(item["size"]),
                upload_time=parse_isotime(item["upload-time"]),
                requires_python=item.get("requires-python"),
                metadata_sha256=meta.get("sha256") if isinstance(meta, dict) else None,
                yanked=None if yanked is False else ("" if yanked is True else str(yanked)),
                summary=item.get("_summary"),
                etag=item.get("_etag", ""),
                yanked_etag=item.get("_yanked_etag", ""),
                metadata_etag=item.get("_metadata_etag", ""),
            )
        except (AttributeError, KeyError, TypeError, ValueError, InvalidVersion):
            continue
    serial = doc.get("_serial", 0)
    return known, serial if isinstance(serial, int) else 0


def left_out_note(item: LeftOut) -> bytes:
    """The body of `<file>.left-out`: the file's ETag when it was left out, and why."""
    return json.dumps({"etag": item.etag, "reason": item.reason}, ensure_ascii=False).encode("utf-8")


def parse_left_out_note(filename: str, body: bytes) -> LeftOut | None:
    """A note we wrote before, or None for anything unreadable (the file is then read again)."""
    try:
        doc = json.loads(body)
    except ValueError:
        return None
    if not isinstance(doc, dict) or not all(isinstance(doc.get(k), str) for k in ("etag", "reason")):
        return None
    return LeftOut(filename, doc["etag"], doc["reason"])


def project_root_entry(doc: Any) -> ProjectEntry | None:
    """The root entry the project's page stood for when it was written (None: no page)."""
    if not isinstance(doc, dict):
        return None
    root = doc.get("_root") if isinstance(doc.get("_root"), dict) else {}
    name = doc.get("name")
    if not isinstance(name, str):
        return None
    return ProjectEntry(
        name=name,
        latest=str(root.get("latest", "")),
        summary=str(root.get("summary", "")),
        status=str(root.get("status", "")),
    )


def page_status(doc: Any) -> tuple[str, str, dict[str, str]] | None:
    """(status, reason, marker memory) a page we wrote was built from; None when it had no marker."""
    if not isinstance(doc, dict) or not isinstance(doc.get("_status"), dict):
        return None
    ps = doc.get("project-status") if isinstance(doc.get("project-status"), dict) else {}
    return str(ps.get("status", "active")), str(ps.get("reason", "")), doc["_status"]


# --- the root ------------------------------------------------------------------------------


def root_html(projects: ProjectList, site: Site = Site()) -> bytes:
    """The project list: one anchor per project and nothing else (no READMEs: it must stay light)."""
    return _render("root.html", site, projects=projects.live)


def root_json(projects: ProjectList) -> bytes:
    doc: dict[str, Any] = {
        "meta": {"api-version": API_VERSION, "_last-serial": projects.serial},
        "projects": [
            {"name": p.name, "_latest": p.latest, "_summary": p.summary, "_serial": p.serial}
            | ({"_status": p.status} if p.status else {})
            for p in projects.live
        ],
        # Tombstones (private, PEP 691 "_" keys): so a slow rebuild cannot bring a project back.
        "_removed": [{"name": p.name, "_serial": p.serial} for p in projects.projects if p.removed],
    }
    return (json.dumps(doc, ensure_ascii=False, separators=(",", ":")) + "\n").encode("utf-8")


def parse_root_json(doc: Any) -> ProjectList:
    if not isinstance(doc, dict):
        return ProjectList()
    entries: dict[str, ProjectEntry] = {}
    for key, removed in (("projects", False), ("_removed", True)):
        items = doc.get(key)
        for item in items if isinstance(items, list) else []:
            if not isinstance(item, dict) or not isinstance(item.get("name"), str):
                continue
            serial = item.get("_serial", 0)
            entry = ProjectEntry(
                name=canonicalize_name(item["name"]),
                latest=str(item.get("_latest", "")),
                summary=str(item.get("_summary", "")),
                serial=serial if isinstance(serial, int) else 0,
                removed=removed,
                status=str(item.get("_status", "")),
            )
            if entry.name not in entries or entries[entry.name].serial < entry.serial:
                entries[entry.name] = entry
    meta = doc.get("meta") if isinstance(doc.get("meta"), dict) else {}
    serial = meta.get("_last-serial", 0)
    return ProjectList(
        tuple(sorted(entries.values(), key=lambda p: p.name)), serial if isinstance(serial, int) else 0
    )
