"""PEP 792 project status markers: `pypi-edge status`, the pages, and the index semantics."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from pypi_simple import ProjectPage

from indexer import cli, status
from indexer.build import Indexer, project_for_key
from indexer.store import Bucket
from tests import s3_pages
from tests.bucket_state import index_keys
from tests.conftest import BUCKET, RequestCounter
from tests.distributions import make_sdist, make_wheel, write

MARKER = "hello-world/.project-status"
REASON = 'malware found <script>alert("x")</script> & worse '


def run(*argv: str) -> int:
    return cli.main([*argv, "--bucket", BUCKET])


def rebuild(s3: Any, project: str = "hello-world") -> None:
    Indexer(Bucket(s3, BUCKET)).rebuild(project)


def page(s3: Any, key: str) -> bytes:
    return s3_pages.read(s3, BUCKET, key)  # JSON pages are stored gzip-compressed


def project_json(s3: Any) -> dict[str, Any]:
    return json.loads(page(s3, "hello-world/index.json"))


def project_html(s3: Any) -> str:
    return page(s3, "hello-world/index.html").decode()


def keys(s3: Any) -> set[str]:
    return index_keys(s3, BUCKET)  # private bookkeeping (identity claims) aside


@pytest.fixture
def published(s3, tmp_path):
    paths = [
        write(tmp_path, *make_wheel("Hello.World", "1.0")[:2]),
        write(tmp_path, *make_sdist("Hello.World", "1.0")),
    ]
    assert run("upload", *map(str, paths), "--no-progress") == 0
    rebuild(s3)
    return s3


def new_wheel(tmp_path, version: str = "2.0") -> str:
    return str(write(tmp_path, *make_wheel("Hello.World", version)[:2]))


# --- the command -----------------------------------------------------------------------------


def test_status_writes_a_marker_the_edge_never_serves(published):
    assert run("status", "Hello_World", "archived", "--reason", "moved to hello2") == 0

    assert json.loads(page(published, MARKER)) == {"status": "archived", "reason": "moved to hello2"}
    from edge.handler import route

    assert route("GET", "/simple/hello-world/.project-status")["status"] == "404"
    assert route("GET", "/hello-world/.project-status")["status"] == "404"


def test_the_marker_name_can_never_be_a_distribution_or_a_page():
    assert not status.STATUS_NAME.endswith((".whl", ".tar.gz", ".zip", ".metadata", ".yanked"))
    assert status.STATUS_NAME not in {"index.html", "index.json"}
    assert project_for_key(MARKER) == "hello-world"


def test_status_active_removes_the_marker_and_versioning_keeps_the_old_one(published):
    run("status", "hello-world", "deprecated")

    assert run("status", "hello-world", "active") == 0

    assert MARKER not in keys(published)  # PEP 792: no status noted means active
    got = published.list_object_versions(Bucket=BUCKET, Prefix=MARKER)
    assert [m["IsLatest"] for m in got["DeleteMarkers"]] == [True]
    assert [v["IsLatest"] for v in got["Versions"]] == [False]
    rebuild(published)
    assert project_json(published)["project-status"] == {"status": "active"}


def test_active_without_a_marker_is_already_active(published, capsys):
    assert run("status", "hello-world", "active") == 0

    assert "hello-world is already active" in capsys.readouterr().out
    assert MARKER not in keys(published)


def test_setting_the_same_status_again_changes_nothing(published, capsys):
    run("status", "hello-world", "archived", "--reason", "done")
    etag = published.head_object(Bucket=BUCKET, Key=MARKER)["ETag"]
    capsys.readouterr()

    assert run("status", "hello-world", "archived", "--reason", "done\n") == 0

    assert "already archived" in capsys.readouterr().out
    assert published.head_object(Bucket=BUCKET, Key=MARKER)["ETag"] == etag


def test_active_with_a_reason_is_a_usage_error(published, capsys):
    assert run("status", "hello-world", "active", "--reason", "why") == cli.EXIT_USAGE

    assert "not active" in capsys.readouterr().err


def test_status_of_an_unknown_project_is_refused(s3, capsys):
    assert run("status", "nothing", "archived") == cli.EXIT_CONFLICT

    assert capsys.readouterr().err == f"error: no project 'nothing' in bucket '{BUCKET}'\n"
    assert keys(s3) == set()


def test_an_unknown_status_is_a_usage_error(published):
    assert run("status", "hello-world", "haunted") == cli.EXIT_USAGE


def test_staying_closed_keeps_the_moment_uploads_stopped(published):
    run("status", "hello-world", "archived")
    written = published.head_object(Bucket=BUCKET, Key=MARKER)["LastModified"]

    run("status", "hello-world", "quarantined", "--reason", "malware")

    assert json.loads(page(published, MARKER)) == {
        "status": "quarantined",
        "reason": "malware",
        "since": written.isoformat(),
    }


# --- the pages -------------------------------------------------------------------------------


@pytest.mark.parametrize("value", ["archived", "deprecated", "quarantined"])
def test_pages_carry_the_status_and_reason_in_both_formats(published, value):
    run("status", "hello-world", value, "--reason", REASON)
    rebuild(published)

    doc = project_json(published)
    assert doc["meta"]["api-version"] == "1.4"
    assert doc["project-status"] == {"status": value, "reason": REASON}
    parsed = ProjectPage.from_html("hello-world", project_html(published))
    assert (parsed.repository_version, parsed.status, parsed.status_reason) == ("1.4", value, REASON)
    assert "<script>" not in project_html(published)


def test_an_active_project_says_so_in_json_and_omits_the_meta_in_html(published):
    assert project_json(published)["project-status"] == {"status": "active"}
    assert "pypi:project-status" not in project_html(published)


def test_root_shows_the_status_to_people(published):
    run("status", "hello-world", "deprecated", "--reason", "use hello2")
    rebuild(published)

    root = json.loads(page(published, "index.json"))
    assert root["projects"][0]["_status"] == "deprecated"
    assert 'class="badge status-deprecated">deprecated</span>' in page(published, "index.html").decode()
    assert "This project is <strong>deprecated</strong>: use hello2" in project_html(published)


def test_quarantine_offers_no_file_and_keeps_the_versions(published):
    run("status", "hello-world", "quarantined", "--reason", "malware")
    rebuild(published)

    doc = project_json(published)
    assert doc["files"] == []
    assert doc["versions"] == ["1.0"]
    assert ProjectPage.from_html("hello-world", project_html(published)).packages == []
    assert "hello_world-1.0" not in project_html(published)
    # Still listed for people, with its status.
    root = json.loads(page(published, "index.json"))
    assert (root["projects"][0]["_latest"], root["projects"][0]["_status"]) == ("1.0", "quarantined")


def test_a_quarantined_project_comes_back_intact_without_reading_its_files(
    published, counter: RequestCounter
):
    before = project_json(published)["files"]
    run("status", "hello-world", "quarantined")
    rebuild(published)
    run("status", "hello-world", "active")
    counter.reset()

    rebuild(published)

    # The project json, the root json and the latest .metadata (README): no file, and no marker
    # (`active` removed it).
    assert counter.calls["GetObject"] == 3
    after = project_json(published)
    assert [(f["filename"], f["hashes"], f["core-metadata"]) for f in after["files"]] == [
        (f["filename"], f["hashes"], f["core-metadata"]) for f in before
    ]
    assert after["project-status"] == {"status": "active"}


def test_an_unchanged_marker_is_not_read_again(published, counter: RequestCounter):
    run("status", "hello-world", "archived")
    rebuild(published)
    counter.reset()

    rebuild(published)

    # Project json, root json and the latest .metadata (README), as without a marker.
    assert counter.calls["GetObject"] == 3


def test_an_unreadable_marker_quarantines_with_a_warning(published, caplog):
    published.put_object(Bucket=BUCKET, Key=MARKER, Body=b"{not json")

    rebuild(published)

    assert project_json(published)["project-status"]["status"] == "quarantined"
    assert project_json(published)["files"] == []
    (record,) = [r for r in caplog.records if "unreadable project status marker" in r.getMessage()]
    assert (record.levelname, record.key) == ("WARNING", MARKER)


@pytest.mark.parametrize("body", [b"\xff\xfe", b'{"status": "haunted"}', b"[]"])
def test_any_unreadable_marker_reads_as_quarantined(body):
    assert status.parse(body) == status.ProjectStatus("quarantined", status.UNREADABLE)


# --- uploads ---------------------------------------------------------------------------------


@pytest.mark.parametrize("value", ["archived", "quarantined"])
def test_the_cli_refuses_uploads_to_a_closed_project(published, tmp_path, capsys, value):
    run("status", "hello-world", value, "--reason", "frozen")
    before = keys(published)
    capsys.readouterr()

    assert run("upload", new_wheel(tmp_path), "--no-progress") == cli.EXIT_CONFLICT

    err = capsys.readouterr().err
    assert err == (
        f"error: hello-world is {value} (frozen): PEP 792 forbids new uploads to it "
        "(`pypi-edge status hello-world active` re-opens it); nothing was uploaded\n"
    )
    assert keys(published) == before


@pytest.mark.parametrize("value", ["active", "deprecated"])
def test_open_projects_take_uploads(published, tmp_path, value):
    run("status", "hello-world", value)

    assert run("upload", new_wheel(tmp_path), "--no-progress") == 0


def test_a_file_written_straight_into_an_archived_project_is_left_out_with_a_reason(published, caplog):
    run("status", "hello-world", "archived")
    since = published.head_object(Bucket=BUCKET, Key=MARKER)["LastModified"]
    while datetime.now(UTC) < since + timedelta(seconds=1):  # S3 times have whole seconds
        time.sleep(0.05)
    filename, data, _ = make_wheel("Hello.World", "2.0")
    published.put_object(Bucket=BUCKET, Key=f"hello-world/{filename}", Body=data)

    rebuild(published)

    assert "2.0" not in project_json(published)["versions"]
    (record,) = [r for r in caplog.records if "stopped accepting uploads" in r.getMessage()]
    assert (record.levelname, record.key, record.status) == ("WARNING", f"hello-world/{filename}", "archived")
    assert f"hello-world/{filename}.metadata" not in keys(published)  # not even read


def test_files_older_than_the_archival_stay_listed(published):
    published.put_object(
        Bucket=BUCKET, Key=MARKER, Body=b'{"status": "archived", "since": "2999-01-01T00:00:00+00:00"}'
    )

    rebuild(published)

    assert len(project_json(published)["files"]) == 2


def test_the_publishing_core_refuses_a_closed_project_on_every_path(published):
    # The upload endpoint and mirroring call Uploader.upload directly, without the CLI's pre-check.
    from indexer.publish import ProjectClosed, Uploader, validate_bytes

    run("status", "hello-world", "quarantined", "--reason", "malware")
    dist = validate_bytes(*make_wheel("Hello.World", "3.0")[:2])

    with pytest.raises(ProjectClosed, match="hello-world is quarantined \\(malware\\)"):
        Uploader(published, BUCKET).upload(dist)

    assert f"hello-world/{dist.filename}" not in keys(published)


def test_an_unreadable_since_falls_back_to_when_the_marker_was_written(published):
    published.put_object(Bucket=BUCKET, Key=MARKER, Body=b'{"status": "archived", "since": "not a time"}')
    written = published.head_object(Bucket=BUCKET, Key=MARKER)["LastModified"]

    rebuild(published)

    assert project_json(published)["_status"]["since"] == written.isoformat()
    assert len(project_json(published)["files"]) == 2  # both were there before


def test_a_marker_removed_between_list_and_get_reads_as_active(published, monkeypatch):
    run("status", "hello-world", "quarantined")
    real = Bucket.get_bytes

    def vanished(self, key, max_bytes=None):
        return None if key == MARKER else real(self, key, max_bytes)

    monkeypatch.setattr(Bucket, "get_bytes", vanished)

    rebuild(published)

    assert project_json(published)["project-status"] == {"status": "active"}
    assert len(project_json(published)["files"]) == 2
