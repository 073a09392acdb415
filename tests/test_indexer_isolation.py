"""One bad file never blocks its project: it is left out with a logged reason, the rest is indexed."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any
from urllib.parse import unquote

import pytest
from botocore.exceptions import ResponseStreamingError

import indexer.build
import indexer.handler
from indexer.build import Indexer
from indexer.handler import handler
from indexer.store import Bucket
from tests import s3_pages
from tests.conftest import BUCKET
from tests.distributions import make_wheel
from tests.sqs import failed_ids, s3_body, sqs_event


def put(s3: Any, key: str, body: bytes) -> None:
    s3.put_object(Bucket=BUCKET, Key=key, Body=body)


def page_files(s3: Any, project: str) -> list[str]:
    doc = json.loads(s3_pages.read(s3, BUCKET, f"{project}/index.json"))
    return [f["filename"] for f in doc["files"]]


def deliver(key: str) -> dict[str, Any]:
    return handler(sqs_event(s3_body(key)), None)


def test_a_wheel_whose_metadata_names_another_project_is_left_out_and_never_blocks_it(lambda_s3, caplog):
    # The reproduction of issue 10, through the real handler: kappa 1.0, then a kappa 0.1 whose
    # dist-info is other-0.1.dist-info with "Name: other" (written with `aws s3 cp`), then 2.0.
    for version in ("1.0", "0.1", "2.0"):
        name = "other" if version == "0.1" else "kappa"
        _, data, _ = make_wheel(name, version)
        key = f"kappa/kappa-{version}-py3-none-any.whl"
        put(lambda_s3, key, data)
        assert failed_ids(deliver(key)) == []
    assert page_files(lambda_s3, "kappa") == ["kappa-1.0-py3-none-any.whl", "kappa-2.0-py3-none-any.whl"]
    (warning,) = [r for r in caplog.records if getattr(r, "key", None) == "kappa/kappa-0.1-py3-none-any.whl"]
    assert warning.levelname == "WARNING"
    assert "left out" in warning.getMessage()
    assert "other" in warning.reason
    root = json.loads(s3_pages.read(lambda_s3, BUCKET, "index.json"))
    assert [(p["name"], p["_latest"]) for p in root["projects"]] == [("kappa", "2.0")]


# --- S3 answering with an error, made to order ------------------------------------------------


class _Http:
    def __init__(self, status: int) -> None:
        self.status_code = status
        self.headers: dict[str, str] = {}
        self.content = b""


def s3_error_on(
    client: Any, operation: str, when: Callable[[dict[str, Any]], bool], code: str, status: int
) -> list[dict[str, Any]]:
    """Make S3 answer `operation` with an error whenever `when(params)`; returns the refused calls."""
    refused: list[dict[str, Any]] = []

    def answer(params: dict[str, Any], **_: Any) -> Any:
        if not when(params):
            return None
        refused.append(params)
        error = {"Code": code, "Message": f"injected {code}"}
        return _Http(status), {"Error": error, "ResponseMetadata": {"HTTPStatusCode": status}}

    client.meta.events.register(f"before-call.s3.{operation}", answer)
    return refused


def under(prefix: str) -> Callable[[dict[str, Any]], bool]:
    return lambda params: (
        unquote(params["url_path"]).split("/", 2)[-1].startswith(prefix)
        or params.get("query_string", {}).get("prefix", "").startswith(prefix)
    )


def good_wheel(s3: Any, project: str, version: str) -> str:
    filename, data, _ = make_wheel(project, version)
    put(s3, f"{project}/{filename}", data)
    return filename


# --- per-file isolation ----------------------------------------------------------------------


def test_a_bug_describing_one_file_leaves_only_that_file_out_with_an_error_naming_its_key(
    lambda_s3, monkeypatch, caplog
):
    good = good_wheel(lambda_s3, "demo", "1.0")
    bad = good_wheel(lambda_s3, "demo", "2.0")
    real = indexer.build.parse_core_metadata

    def buggy(raw: bytes) -> Any:
        if b"Version: 2.0" in raw:
            raise TypeError("a bug of ours")
        return real(raw)

    monkeypatch.setattr(indexer.build, "parse_core_metadata", buggy)
    assert failed_ids(deliver(f"demo/{bad}")) == []
    assert page_files(lambda_s3, "demo") == [good]
    (error,) = [r for r in caplog.records if getattr(r, "key", None) == f"demo/{bad}"]
    assert error.levelname == "ERROR"
    assert "left out" in error.getMessage()
    assert "a bug of ours" in error.reason
    assert error.exc_info is not None  # the traceback goes to the log: it is our bug to fix


def test_a_file_left_out_for_a_bug_is_tried_again_on_the_next_rebuild(lambda_s3, monkeypatch):
    good_wheel(lambda_s3, "demo", "1.0")
    bad = good_wheel(lambda_s3, "demo", "2.0")
    real = indexer.build.parse_core_metadata
    monkeypatch.setattr(indexer.build, "parse_core_metadata", lambda raw: 1 / 0)
    deliver(f"demo/{bad}")
    # Nothing describable: no page at all (the project is not listed rather than listed empty).
    assert not lambda_s3.list_objects_v2(Bucket=BUCKET, Prefix="demo/index").get("Contents")
    monkeypatch.setattr(indexer.build, "parse_core_metadata", real)  # the fix is deployed
    deliver(f"demo/{bad}")
    assert len(page_files(lambda_s3, "demo")) == 2


def fetched(client: Any) -> list[str]:
    """Keys of every GetObject/HeadObject from now on."""
    keys: list[str] = []

    def record(params: dict[str, Any], **_: Any) -> None:
        keys.append(unquote(params["url_path"]).removeprefix(f"/{BUCKET}").removeprefix("/"))

    client.meta.events.register("before-call.s3.GetObject", record)
    client.meta.events.register("before-call.s3.HeadObject", record)
    return keys


def test_a_left_out_file_is_not_read_or_logged_again_while_its_bytes_are_unchanged(lambda_s3, caplog):
    good_wheel(lambda_s3, "demo", "1.0")
    put(lambda_s3, "demo/demo-0.5-py3-none-any.whl", b"not a zip")
    deliver("demo/demo-0.5-py3-none-any.whl")
    note = json.loads(s3_pages.read(lambda_s3, BUCKET, "demo/demo-0.5-py3-none-any.whl.left-out"))
    assert note["etag"] == lambda_s3.head_object(Bucket=BUCKET, Key="demo/demo-0.5-py3-none-any.whl")["ETag"]
    assert "File is not a zip file" in note["reason"]
    caplog.clear()
    new = good_wheel(lambda_s3, "demo", "2.0")
    keys = fetched(lambda_s3)
    deliver(f"demo/{new}")
    read = [k for k in keys if k.endswith(".whl")]
    assert read == [f"demo/{new}"]  # the bad file was not fetched again
    assert not [r for r in caplog.records if r.levelname == "WARNING"]
    assert page_files(lambda_s3, "demo") == ["demo-1.0-py3-none-any.whl", new]


def test_a_left_out_file_replaced_by_a_good_one_is_indexed(lambda_s3):
    good_wheel(lambda_s3, "demo", "1.0")
    put(lambda_s3, "demo/demo-2.0-py3-none-any.whl", b"not a zip")
    deliver("demo/demo-2.0-py3-none-any.whl")
    assert page_files(lambda_s3, "demo") == ["demo-1.0-py3-none-any.whl"]
    good_wheel(lambda_s3, "demo", "2.0")  # same name, new bytes, new ETag
    deliver("demo/demo-2.0-py3-none-any.whl")
    assert page_files(lambda_s3, "demo") == ["demo-1.0-py3-none-any.whl", "demo-2.0-py3-none-any.whl"]
    assert "demo/demo-2.0-py3-none-any.whl.left-out" not in keys_of(lambda_s3)  # its note is gone


def keys_of(s3: Any) -> set[str]:
    return {o["Key"] for o in s3.list_objects_v2(Bucket=BUCKET).get("Contents", [])}


def test_why_a_file_is_left_out_is_never_in_the_page_readers_read(lambda_s3):
    # main: index.json carried "_left_out" with the file name and the reason, and every reader
    # (any valid credentials) could read it.
    from edge.handler import route

    good_wheel(lambda_s3, "demo", "1.0")
    put(lambda_s3, "demo/demo-0.5-py3-none-any.whl", b"not a zip")
    deliver("demo/demo-0.5-py3-none-any.whl")
    for page in ("demo/index.json", "demo/index.html"):
        text = s3_pages.read(lambda_s3, BUCKET, page).decode()
        assert "demo-0.5" not in text and "not a zip" not in text
    assert route("GET", "/simple/demo/demo-0.5-py3-none-any.whl.left-out")["status"] == "404"
    assert route("GET", "/demo/demo-0.5-py3-none-any.whl.left-out")["status"] == "404"


def test_a_page_from_before_the_notes_is_rebuilt_without_its_left_out_list(lambda_s3):
    good_wheel(lambda_s3, "demo", "1.0")
    put(lambda_s3, "demo/demo-0.5-py3-none-any.whl", b"not a zip")
    deliver("demo/demo-0.5-py3-none-any.whl")
    doc = json.loads(s3_pages.read(lambda_s3, BUCKET, "demo/index.json"))
    doc["_left_out"] = [{"filename": "demo-0.5-py3-none-any.whl", "_etag": "x", "reason": "old"}]
    lambda_s3.put_object(Bucket=BUCKET, Key="demo/index.json", Body=json.dumps(doc).encode())
    deliver("demo/demo-0.5-py3-none-any.whl")
    assert "_left_out" not in json.loads(s3_pages.read(lambda_s3, BUCKET, "demo/index.json"))
    assert "demo/demo-0.5-py3-none-any.whl.left-out" in keys_of(lambda_s3)


def test_a_project_whose_last_file_goes_loses_its_notes_too(lambda_s3):
    good = good_wheel(lambda_s3, "demo", "1.0")
    put(lambda_s3, "demo/demo-0.5-py3-none-any.whl", b"not a zip")
    deliver("demo/demo-0.5-py3-none-any.whl")
    for key in (f"demo/{good}", "demo/demo-0.5-py3-none-any.whl"):
        lambda_s3.delete_object(Bucket=BUCKET, Key=key)
    deliver(f"demo/{good}")
    assert not [k for k in keys_of(lambda_s3) if k.startswith("demo/")]


@pytest.mark.parametrize(
    ("code", "status"), [("ServiceUnavailable", 503), ("SlowDown", 503), ("InternalError", 500)]
)
def test_a_transient_s3_error_reading_a_file_fails_only_the_records_of_its_project(lambda_s3, code, status):
    a = good_wheel(lambda_s3, "alpha", "1.0")
    b = good_wheel(lambda_s3, "beta", "1.0")
    s3_error_on(
        lambda_s3,
        "GetObject",
        lambda p: p["url_path"].endswith(".whl") and "alpha" in p["url_path"],
        code,
        status,
    )
    result = handler(sqs_event(s3_body(f"alpha/{a}"), s3_body(f"beta/{b}"), s3_body(f"alpha/{a}")), None)
    assert failed_ids(result) == ["m0", "m2"]  # SQS retries them; the file is not left out
    assert page_files(lambda_s3, "beta") == [b]
    assert not lambda_s3.list_objects_v2(Bucket=BUCKET, Prefix="alpha/index").get("Contents")


def test_a_connection_dropped_mid_download_fails_the_record(lambda_s3, monkeypatch):
    a = good_wheel(lambda_s3, "alpha", "1.0")

    def cut(*_: Any, **__: Any) -> Any:
        raise ResponseStreamingError(error="Connection broken: IncompleteRead")

    b = good_wheel(lambda_s3, "beta", "1.0")
    real = indexer.build.Bucket.open_stream
    monkeypatch.setattr(
        indexer.build.Bucket, "open_stream", lambda self, key: cut() if "alpha" in key else real(self, key)
    )
    result = handler(sqs_event(s3_body(f"alpha/{a}"), s3_body(f"beta/{b}")), None)
    assert failed_ids(result) == ["m0"]
    assert page_files(lambda_s3, "beta") == [b]


# --- reindex ---------------------------------------------------------------------------------


def test_reindex_goes_on_past_a_failing_project_reports_it_and_writes_the_root(s3, caplog):
    for project in ("alpha", "broken", "gamma"):
        good_wheel(s3, project, "1.0")
    s3_error_on(s3, "ListObjectsV2", under("broken/"), "AccessDenied", 403)
    results = {r.project: r for r in Indexer(Bucket(s3, BUCKET)).reindex()}
    assert results["broken"].error is not None and "AccessDenied" in results["broken"].error
    assert results["alpha"].error is None and results["gamma"].error is None
    root = json.loads(s3_pages.read(s3, BUCKET, "index.json"))
    assert [p["name"] for p in root["projects"]] == ["alpha", "gamma"]
    assert any(getattr(r, "project", None) == "broken" and r.levelname == "ERROR" for r in caplog.records)


def test_a_failed_project_keeps_its_pages_and_root_entry(s3):
    for project in ("alpha", "broken"):
        good_wheel(s3, project, "1.0")
    Indexer(Bucket(s3, BUCKET)).reindex()
    before = s3_pages.read(s3, BUCKET, "broken/index.json")
    s3_error_on(s3, "ListObjectsV2", under("broken/"), "InternalError", 500)
    good_wheel(s3, "alpha", "2.0")
    Indexer(Bucket(s3, BUCKET)).reindex()
    assert s3_pages.read(s3, BUCKET, "broken/index.json") == before
    root = json.loads(s3_pages.read(s3, BUCKET, "index.json"))
    assert [(p["name"], p["_latest"]) for p in root["projects"]] == [("alpha", "2.0"), ("broken", "1.0")]


def test_cli_reindex_names_the_failed_project_and_exits_1_after_writing_the_root(s3, monkeypatch, capsys):
    from indexer import cli

    for project in ("alpha", "broken"):
        good_wheel(s3, project, "1.0")
    s3_error_on(s3, "ListObjectsV2", under("broken/"), "AccessDenied", 403)
    monkeypatch.setattr(cli, "make_client", lambda args: s3)
    assert cli.main(["reindex", "--bucket", BUCKET, "--no-progress"]) == 1
    out, err = capsys.readouterr()
    assert "Reindexed 1 project(s)" in out
    assert "error: broken: not reindexed" in err and "AccessDenied" in err
    assert "error: 1 project(s) could not be reindexed" in err
    root = json.loads(s3_pages.read(s3, BUCKET, "index.json"))
    assert [p["name"] for p in root["projects"]] == ["alpha"]


def test_cli_reindex_says_which_projects_lost_their_pages(s3, monkeypatch, capsys):
    from indexer import cli

    good_wheel(s3, "alpha", "1.0")
    stale = {"meta": {"api-version": "1.1"}, "projects": [{"name": "alpha"}, {"name": "gone"}]}
    put(s3, "index.json", json.dumps(stale).encode())
    monkeypatch.setattr(cli, "make_client", lambda args: s3)
    assert cli.main(["reindex", "--bucket", BUCKET, "--no-progress"]) == 0
    out = capsys.readouterr().out
    assert "gone: no distributions; its pages were removed" in out
    assert "Reindexed 2 project(s)" in out and "1 with 1 file(s)" in out
