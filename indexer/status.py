"""PEP 792 project status markers: the marker object, and what each status means for the index.

A project's status lives in one object in its folder, `<project>/.project-status` (SPEC's
`<project>/<status marker>`), a small JSON document ``{"status": ..., "reason": ..., "since": ...}``
written by `pypi-edge status`.  The key cannot collide with a distribution (those end in
.whl/.tar.gz/.zip and start with a letter or digit), is never a page the indexer writes, and the
edge never serves it (a name starting with "." is bookkeeping, and only distributions, their
.metadata and the pages are served: edge/handler.py `is_bookkeeping`).  No marker means
``active`` (PEP 792: "If no status is explicitly noted, then the project is considered to be in
the active state").

Index semantics (PEP 792 "Project status markers"):

* ``active``, ``deprecated``: uploads allowed, files offered.
* ``archived``: "MUST NOT allow uploads of new distributions"; existing ones are still offered.
* ``quarantined``: no uploads, and "MUST NOT offer any distributions of the project for
  download": the pages list no file (the files stay in the bucket and come back when the
  project is set active again).

Publishing paths that go through the CLI ask `refusal()` first; a distribution written straight
into the bucket after the project stopped accepting uploads (``since``) is left out of the pages
by the indexer, with a logged reason.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime

from indexer.store import Bucket

STATUS_NAME = ".project-status"
STATUSES = ("active", "archived", "deprecated", "quarantined")
REFUSE_UPLOADS = frozenset({"archived", "quarantined"})  # PEP 792: "MUST NOT allow uploads"
CONTENT_TYPE = "application/json"
MAX_MARKER_BYTES = 16 * 1024
UNREADABLE = "unreadable status marker"


@dataclass(frozen=True)
class ProjectStatus:
    status: str = "active"
    reason: str = ""
    # When the project stopped accepting uploads (ISO 8601, S3's clock): distributions written
    # later are left out of the pages.  None: from the marker's own LastModified.
    since: str | None = None

    @property
    def refuses_uploads(self) -> bool:
        return self.status in REFUSE_UPLOADS

    @property
    def offers_files(self) -> bool:
        return self.status != "quarantined"

    def since_time(self, marker_last_modified: datetime | None) -> datetime | None:
        if self.since:
            try:
                return datetime.fromisoformat(self.since)
            except ValueError:
                pass
        return marker_last_modified


ACTIVE = ProjectStatus()


def marker_key(project: str) -> str:
    return f"{project}/{STATUS_NAME}"


def parse(body: bytes) -> ProjectStatus:
    """The status a marker holds; anything unreadable is ``quarantined`` (fail closed).

    A marker is only ever written by an administrator who meant to restrict the project, so a
    damaged one must not silently re-open it to uploads and downloads.
    """
    try:
        doc = json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        return ProjectStatus("quarantined", UNREADABLE)
    if not isinstance(doc, dict) or doc.get("status") not in STATUSES:
        return ProjectStatus("quarantined", UNREADABLE)
    reason = doc.get("reason")
    since = doc.get("since")
    return ProjectStatus(
        doc["status"],
        reason if isinstance(reason, str) else "",
        since if isinstance(since, str) else None,
    )


def render(status: ProjectStatus) -> bytes:
    doc: dict[str, str] = {"status": status.status}
    if status.reason:
        doc["reason"] = status.reason
    if status.since:
        doc["since"] = status.since
    return (json.dumps(doc, ensure_ascii=False) + "\n").encode("utf-8")


def refusal(project: str, status: ProjectStatus) -> str | None:
    """Why an upload to `project` is refused, or None when it is allowed."""
    if not status.refuses_uploads:
        return None
    why = f" ({status.reason})" if status.reason else ""
    return (
        f"{project} is {status.status}{why}: PEP 792 forbids new uploads to it "
        f"(`pypi-edge status {project} active` re-opens it)"
    )


def read(bucket: Bucket, project: str) -> tuple[ProjectStatus, datetime | None]:
    """The project's status and when its marker was written (None: no marker, so active)."""
    got = bucket.get_dated(marker_key(project), MAX_MARKER_BYTES)
    if got is None:
        return ACTIVE, None
    return parse(got[0]), got[1]


def upload_refusal(bucket: Bucket, project: str) -> str | None:
    """Why a new upload to `project` must be refused (PEP 792), or None: every publishing path asks."""
    return refusal(project, read(bucket, project)[0])


def next_marker(previous: ProjectStatus, written: datetime | None, status: str, reason: str) -> ProjectStatus:
    """The marker to write when `status` is set over `previous` (written at `written`).

    While a project keeps refusing uploads (archived -> quarantined, or a new reason), the
    moment it started refusing is kept; otherwise the new marker's own LastModified (S3's
    clock, like the distributions' times it is compared with) marks it.
    """
    since = None
    if status in REFUSE_UPLOADS and previous.refuses_uploads and written is not None:
        since = previous.since or written.isoformat()
    return ProjectStatus(status, reason, since)
