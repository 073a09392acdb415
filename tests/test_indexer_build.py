"""Rebuilding pages from the bucket (moto): what the pages say, and what it costs in requests."""

from __future__ import annotations

import hashlib
import json
import re
from typing import Any

import pytest
from pypi_simple import IndexPage, ProjectPage

from indexer import assets
from indexer.build import BOOKKEEPING_FOLDERS, FULL_READ_BYTES, Indexer, project_for_key
from indexer.store import IMMUTABLE, Bucket
from tests import s3_pages
from tests.conftest import BUCKET, RequestCounter, put_many
from tests.distributions import make_sdist, make_wheel


def indexer(s3: Any, **kwargs: Any) -> Indexer:
    return Indexer(Bucket(s3, BUCKET), **kwargs)


def put(s3: Any, key: str, body: bytes, **kwargs: Any) -> None:
    s3.put_object(Bucket=BUCKET, Key=key, Body=body, **kwargs)


def get(s3: Any, key: str) -> bytes:
    return s3_pages.read(s3, BUCKET, key)


def keys(s3: Any) -> set[str]:
    return {o["Key"] for o in s3.list_objects_v2(Bucket=BUCKET).get("Contents", [])}


def project_pages(s3: Any, project: str) -> tuple[ProjectPage, ProjectPage]:
    """The project page as an independent client library reads it, from HTML and from JSON."""
    html = ProjectPage.from_html(
        project, get(s3, f"{project}/index.html"), base_url=f"https://i/simple/{project}/"
    )
    js = ProjectPage.from_json_data(
        json.loads(get(s3, f"{project}/index.json")), base_url=f"https://i/simple/{project}/"
    )
    return html, js


def upload_wheel(s3: Any, name: str, version: str, **kwargs: Any) -> tuple[str, bytes, bytes]:
    filename, data, metadata = make_wheel(name, version, **kwargs)
    project = name.lower().replace("_", "-").replace(".", "-")
    put(s3, f"{project}/{filename}", data)
    return filename, data, metadata


# --- what the pages say ------------------------------------------------------------------


def test_wheel_appears_in_html_and_json_with_its_sha256(s3):
    filename, data, _ = upload_wheel(s3, "demo", "1.0")
    indexer(s3).rebuild("demo")
    for page in project_pages(s3, "demo"):
        (pkg,) = page.packages
        assert pkg.filename == filename
        assert pkg.digests == {"sha256": hashlib.sha256(data).hexdigest()}
        assert pkg.url == f"https://i/simple/demo/{filename}"


def test_metadata_file_is_the_wheels_metadata_and_pages_announce_its_hash(s3):
    filename, _, metadata = upload_wheel(s3, "demo", "1.0")
    indexer(s3).rebuild("demo")
    assert get(s3, f"demo/{filename}.metadata") == metadata
    for page in project_pages(s3, "demo"):
        assert page.packages[0].has_metadata
        assert page.packages[0].metadata_digests == {"sha256": hashlib.sha256(metadata).hexdigest()}


def test_metadata_file_is_cached_like_the_wheel_and_the_pages_are_revalidated(s3):
    filename, _, _ = upload_wheel(s3, "demo", "1.0")
    ix = indexer(s3)
    ix.rebuild("demo")
    head = s3.head_object(Bucket=BUCKET, Key=f"demo/{filename}.metadata")
    assert head["CacheControl"] == IMMUTABLE
    for page in ("demo/index.html", "demo/index.json"):
        assert s3.head_object(Bucket=BUCKET, Key=page)["CacheControl"] == ix.bucket.page_cache_control


def test_html_carries_both_pep_658_and_pep_714_attributes_and_json_only_core_metadata(s3):
    _, _, metadata = upload_wheel(s3, "demo", "1.0")
    indexer(s3).rebuild("demo")
    digest = hashlib.sha256(metadata).hexdigest()
    html = get(s3, "demo/index.html").decode()
    assert f'data-core-metadata="sha256={digest}"' in html
    assert f'data-dist-info-metadata="sha256={digest}"' in html
    (entry,) = json.loads(get(s3, "demo/index.json"))["files"]
    assert entry["core-metadata"] == {"sha256": digest}
    assert "dist-info-metadata" not in entry


def test_requires_python_is_escaped_in_html_and_plain_in_json(s3):
    upload_wheel(s3, "demo", "1.0", requires_python=">=3.8,<4")
    indexer(s3).rebuild("demo")
    assert 'data-requires-python="&gt;=3.8,&lt;4"' in get(s3, "demo/index.html").decode()
    html, js = project_pages(s3, "demo")
    assert html.packages[0].requires_python == js.packages[0].requires_python == ">=3.8,<4"


def test_local_version_plus_is_percent_encoded_in_links(s3):
    filename, _, _ = upload_wheel(s3, "demo", "1.0+local")
    indexer(s3).rebuild("demo")
    quoted = filename.replace("+", "%2B")
    assert f'href="{quoted}#sha256=' in get(s3, "demo/index.html").decode()
    assert json.loads(get(s3, "demo/index.json"))["files"][0]["url"] == quoted


def test_json_has_pep_700_versions_size_and_upload_time(s3):
    _, data, _ = upload_wheel(s3, "demo", "1.0")
    fn2, sdist = make_sdist("demo", "2.0")
    put(s3, f"demo/{fn2}", sdist)
    indexer(s3).rebuild("demo")
    doc = json.loads(get(s3, "demo/index.json"))
    assert doc["meta"]["api-version"] == "1.4"
    assert doc["versions"] == ["1.0", "2.0"]
    assert [f["size"] for f in doc["files"]] == [len(data), len(sdist)]
    assert all(f["upload-time"].endswith("Z") for f in doc["files"])


def test_html_declares_repository_version_and_uv_size_and_upload_time(s3):
    _, data, _ = upload_wheel(s3, "demo", "1.0")
    indexer(s3).rebuild("demo")
    html = get(s3, "demo/index.html").decode()
    assert '<meta name="pypi:repository-version" content="1.4">' in html
    assert f'data-size="{len(data)}"' in html
    assert "data-upload-time=" in html


def test_project_page_has_no_anchor_but_its_files(s3):
    upload_wheel(s3, "demo", "1.0")
    upload_wheel(s3, "demo", "2.0")
    indexer(s3).rebuild("demo")
    html = get(s3, "demo/index.html").decode()
    # Other links (the list, METADATA, README) are <a data-href>: pip reads only <a href>.
    assert len(re.findall(r"<a\s(?:[^>]*\s)?href=", html)) == 2


def test_root_lists_projects_with_relative_links_and_nothing_else(s3):
    upload_wheel(s3, "alpha", "1.0")
    upload_wheel(s3, "beta", "1.0")
    ix = indexer(s3)
    ix.rebuild("alpha")
    ix.rebuild("beta")
    root = IndexPage.from_html(get(s3, "index.html"))
    assert root.projects == ["alpha", "beta"]
    assert 'href="alpha/"' in get(s3, "index.html").decode()
    assert [p["name"] for p in json.loads(get(s3, "index.json"))["projects"]] == ["alpha", "beta"]
    assert get(s3, "index.html").decode().count("<a ") == 2


def test_pages_have_content_type_and_short_cache_control(s3):
    upload_wheel(s3, "demo", "1.0")
    Indexer(Bucket(s3, BUCKET, page_cache_seconds=30)).rebuild("demo")
    for key, ctype in [
        ("demo/index.html", "text/html; charset=utf-8"),
        ("demo/index.json", "application/vnd.pypi.simple.v1+json"),
        ("index.html", "text/html; charset=utf-8"),
        ("index.json", "application/vnd.pypi.simple.v1+json"),
    ]:
        head = s3.head_object(Bucket=BUCKET, Key=key)
        assert (head["ContentType"], head["CacheControl"]) == (
            ctype,
            "public, max-age=0, must-revalidate, s-maxage=30",
        )


def test_user_text_is_html_escaped(s3):
    upload_wheel(s3, "demo", "1.0", summary="<script>alert(1)</script>")
    indexer(s3).rebuild("demo")
    assert "<script>alert" not in get(s3, "demo/index.html").decode()
    assert "&lt;script&gt;" in get(s3, "index.html").decode()


def test_legacy_sdist_name_is_indexed_under_its_project(s3):
    _, sdist = make_sdist("foo-bar", "1.0")
    put(s3, "foo-bar/foo-bar-1.0.tar.gz", sdist)
    indexer(s3).rebuild("foo-bar")
    for page in project_pages(s3, "foo-bar"):
        assert [(p.filename, p.project, p.version) for p in page.packages] == [
            ("foo-bar-1.0.tar.gz", "foo-bar", "1.0")
        ]


def test_sdist_summary_and_requires_python_come_from_pkg_info(s3):
    fn, sdist = make_sdist("demo", "1.0", summary="From PKG-INFO", requires_python=">=3.10")
    put(s3, f"demo/{fn}", sdist)
    indexer(s3).rebuild("demo")
    doc = json.loads(get(s3, "demo/index.json"))
    assert doc["files"][0]["requires-python"] == ">=3.10"
    assert doc["files"][0]["core-metadata"] is False  # PEP 658 is for wheels only here
    assert json.loads(get(s3, "index.json"))["projects"][0]["_summary"] == "From PKG-INFO"


def warnings_by_key(caplog: pytest.LogCaptureFixture) -> dict[str, str]:
    """Structured warnings (Powertools puts extra keys on the record) by the key they name."""
    return {r.key: r.getMessage() for r in caplog.records if r.levelname == "WARNING" and hasattr(r, "key")}


def test_unparsable_file_is_left_out_with_a_warning_naming_the_key(s3, caplog):
    upload_wheel(s3, "demo", "1.0")
    put(s3, "demo/demo-notaversion.tar.gz", b"junk")
    indexer(s3).rebuild("demo")
    assert [p.filename for p in project_pages(s3, "demo")[1].packages] == ["demo-1.0-py3-none-any.whl"]
    assert "not a valid distribution" in warnings_by_key(caplog)["demo/demo-notaversion.tar.gz"]


def test_file_under_another_projects_folder_is_left_out_with_a_warning(s3, caplog):
    upload_wheel(s3, "demo", "1.0")
    filename, data, _ = make_wheel("other", "1.0")
    put(s3, f"demo/{filename}", data)
    indexer(s3).rebuild("demo")
    assert [p.project for p in project_pages(s3, "demo")[1].packages] == ["demo"]
    assert "another project" in warnings_by_key(caplog)[f"demo/{filename}"]


def test_unreadable_wheel_is_left_out_with_a_warning_naming_the_key(s3, caplog):
    # No installer can use a wheel without its METADATA, and `upload` refuses one: the page
    # lists only what a client can install.
    upload_wheel(s3, "demo", "2.0")
    put(s3, "demo/demo-1.0-py3-none-any.whl", b"not a zip at all")
    indexer(s3).rebuild("demo")
    assert [p.filename for p in project_pages(s3, "demo")[1].packages] == ["demo-2.0-py3-none-any.whl"]
    assert "left out" in warnings_by_key(caplog)["demo/demo-1.0-py3-none-any.whl"]
    assert "demo/demo-1.0-py3-none-any.whl.metadata" not in keys(s3)


# --- yanks and deletes ---------------------------------------------------------------------


def test_yank_marker_makes_the_file_yanked_with_its_text_as_reason(s3):
    filename, _, _ = upload_wheel(s3, "demo", "1.0")
    put(s3, f"demo/{filename}.yanked", b"security issue: CVE-2024-0001")
    indexer(s3).rebuild("demo")
    for page in project_pages(s3, "demo"):
        assert page.packages[0].is_yanked
        assert page.packages[0].yanked_reason == "security issue: CVE-2024-0001"


PYPI_REASON = "Yanked due to conflicts with CVE-2024-35195 mitigation "  # requests 2.32.0, as on PyPI


def test_yank_reason_is_kept_as_written_in_both_formats(s3):
    filename, _, _ = upload_wheel(s3, "demo", "1.0")
    put(s3, f"demo/{filename}.yanked", PYPI_REASON.encode() + b"\n")  # `echo reason | aws s3 cp - ...`
    indexer(s3).rebuild("demo")
    assert json.loads(get(s3, "demo/index.json"))["files"][0]["yanked"] == PYPI_REASON
    for page in project_pages(s3, "demo"):
        assert page.packages[0].yanked_reason == PYPI_REASON


def test_yank_reason_keeps_inner_whitespace_and_is_escaped_in_html(s3):
    reason = 'use  2.0 <script>alert("x")</script> & "quotes"\n\tsecond line'
    filename, _, _ = upload_wheel(s3, "demo", "1.0")
    put(s3, f"demo/{filename}.yanked", reason.encode())
    indexer(s3).rebuild("demo")
    html = get(s3, "demo/index.html").decode()
    assert "<script>" not in html
    assert "&lt;script&gt;alert(&#34;x&#34;)" in html
    assert json.loads(get(s3, "demo/index.json"))["files"][0]["yanked"] == reason
    for page in project_pages(s3, "demo"):
        assert page.packages[0].yanked_reason == reason


def test_empty_yank_marker_still_yanks(s3):
    filename, _, _ = upload_wheel(s3, "demo", "1.0")
    put(s3, f"demo/{filename}.yanked", b"")
    indexer(s3).rebuild("demo")
    assert 'data-yanked=""' in get(s3, "demo/index.html").decode()
    assert json.loads(get(s3, "demo/index.json"))["files"][0]["yanked"] is True


def test_removing_the_marker_unyanks(s3):
    filename, _, _ = upload_wheel(s3, "demo", "1.0")
    put(s3, f"demo/{filename}.yanked", b"oops")
    ix = indexer(s3)
    ix.rebuild("demo")
    s3.delete_object(Bucket=BUCKET, Key=f"demo/{filename}.yanked")
    ix.rebuild("demo")
    assert json.loads(get(s3, "demo/index.json"))["files"][0]["yanked"] is False


def test_deleted_file_disappears_with_its_metadata(s3):
    old, _, _ = upload_wheel(s3, "demo", "1.0")
    upload_wheel(s3, "demo", "2.0")
    ix = indexer(s3)
    ix.rebuild("demo")
    s3.delete_object(Bucket=BUCKET, Key=f"demo/{old}")
    ix.rebuild("demo")
    assert [p.version for p in project_pages(s3, "demo")[1].packages] == ["2.0"]
    assert f"demo/{old}.metadata" not in keys(s3)


def test_project_whose_last_distribution_is_deleted_disappears(s3):
    filename, _, _ = upload_wheel(s3, "demo", "1.0")
    upload_wheel(s3, "keep", "1.0")
    ix = indexer(s3)
    ix.rebuild("demo")
    ix.rebuild("keep")
    s3.delete_object(Bucket=BUCKET, Key=f"demo/{filename}")
    result = ix.rebuild("demo")
    assert result.detail is None and result.root_changed
    assert not {k for k in keys(s3) if k.startswith("demo/")}
    assert [p["name"] for p in json.loads(get(s3, "index.json"))["projects"]] == ["keep"]


# --- what it costs --------------------------------------------------------------------------


def test_rebuild_reuses_hashes_of_unchanged_files(s3, counter: RequestCounter):
    for v in ("1.0", "1.1", "1.2"):
        upload_wheel(s3, "demo", v)
    ix = indexer(s3)
    ix.rebuild("demo")
    counter.reset()
    ix.rebuild("demo")
    # Only our own JSON (project, root) is read again, and the latest wheel's .metadata for the
    # page's README and side panel; no distribution is.
    assert counter.calls["GetObject"] == 3
    assert counter.calls["PutObject"] == 3  # html, plain json, json; the root is unchanged


def test_new_upload_reads_only_the_new_file(s3, counter: RequestCounter):
    for v in ("1.0", "1.1"):
        upload_wheel(s3, "demo", v)
    ix = indexer(s3)
    ix.rebuild("demo")
    upload_wheel(s3, "demo", "1.2")
    counter.reset()
    ix.rebuild("demo")
    assert counter.calls["GetObject"] == 3  # project json, the new wheel, root json


def test_changed_object_is_read_again(s3, counter: RequestCounter):
    filename, _, _ = upload_wheel(s3, "demo", "1.0")
    ix = indexer(s3)
    ix.rebuild("demo")
    _, other, _ = make_wheel("demo", "1.0", summary="replaced")
    put(s3, f"demo/{filename}", other)
    ix.rebuild("demo")
    assert (
        json.loads(get(s3, "demo/index.json"))["files"][0]["hashes"]["sha256"]
        == hashlib.sha256(other).hexdigest()
    )


def test_large_wheel_with_s3_checksum_is_not_downloaded(s3, counter: RequestCounter):
    filename, data, metadata = make_wheel("big", "1.0", payload_bytes=FULL_READ_BYTES + 1024)
    put(s3, f"big/{filename}", data, ChecksumAlgorithm="SHA256")
    counter.reset()
    ranges: list[str] = []
    s3.meta.events.register(
        "before-call.s3.GetObject", lambda params, **_: ranges.append(params["headers"].get("Range", ""))
    )
    indexer(s3).rebuild("big")
    assert (
        json.loads(get(s3, "big/index.json"))["files"][0]["hashes"]["sha256"]
        == hashlib.sha256(data).hexdigest()
    )
    assert get(s3, f"big/{filename}.metadata") == metadata
    assert counter.calls["HeadObject"] == 1
    ours = ranges[:-2]  # the last two GETs are this test's own
    assert len([r for r in ours if not r]) == 2  # project json and root json only
    assert 1 <= len([r for r in ours if r]) <= 2  # the wheel: its tail, at most one more range


def test_large_file_without_checksum_is_streamed_once(s3, counter: RequestCounter):
    filename, data, metadata = make_wheel("big", "1.0", payload_bytes=FULL_READ_BYTES + 1024)
    put(s3, f"big/{filename}", data)
    counter.reset()
    indexer(s3).rebuild("big")
    assert counter.calls["GetObject"] == 3  # project json, the wheel once, root json
    assert get(s3, f"big/{filename}.metadata") == metadata


@pytest.mark.parametrize("projects", [10, 2000])
def test_one_upload_costs_the_same_requests_whatever_the_bucket_size(s3, counter: RequestCounter, projects):
    ix = indexer(s3)
    # N projects in the bucket: a distribution in each folder and an entry in the root index
    # (written directly: indexing them one by one would only make the test slow).
    _, tiny, _ = make_wheel("p", "1.0")
    put_many(BUCKET, ((f"p{i:05d}/p{i:05d}-1.0-py3-none-any.whl", tiny) for i in range(projects)))
    # All there; at 2 000, over two LIST pages, so listing the whole bucket would show in the count.
    assert sum(1 for _ in Bucket(s3, BUCKET).list("")) == projects
    root = {"meta": {"api-version": "1.1"}, "projects": [{"name": f"p{i:05d}"} for i in range(projects)]}
    put(s3, "index.json", json.dumps(root).encode())
    upload_wheel(s3, "demo", "1.0")
    ix.rebuild("demo")
    upload_wheel(s3, "demo", "1.1")
    counter.reset()
    ix.rebuild("demo")
    # LIST, GET project json, GET wheel, PUT .metadata, PUT html, PUT plain json, PUT json, GET root,
    # PUT root x3 (html, plain json, json).
    assert counter.total == 11
    assert counter.calls["ListObjectsV2"] == 1
    assert len(json.loads(get(s3, "index.json"))["projects"]) == projects + 1


def test_root_is_not_rewritten_when_latest_and_summary_are_unchanged(s3, counter: RequestCounter):
    upload_wheel(s3, "demo", "2.0")
    ix = indexer(s3)
    ix.rebuild("demo")
    upload_wheel(s3, "demo", "1.5")  # an older version: latest stays 2.0
    counter.reset()
    result = ix.rebuild("demo")
    assert not result.root_changed
    assert counter.calls["PutObject"] == 4  # .metadata, html, plain json, json


def test_root_is_rewritten_when_a_new_latest_version_appears(s3):
    upload_wheel(s3, "demo", "1.0")
    ix = indexer(s3)
    ix.rebuild("demo")
    upload_wheel(s3, "demo", "2.0")
    assert ix.rebuild("demo").root_changed
    assert json.loads(get(s3, "index.json"))["projects"][0]["_latest"] == "2.0"


# --- which events matter ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("key", "project"),
    [
        ("demo/demo-1.0-py3-none-any.whl", "demo"),
        ("demo/demo-1.0.tar.gz", "demo"),
        ("demo/demo-1.0.zip", "demo"),
        ("demo/demo-1.0-py3-none-any.whl.yanked", "demo"),
        ("foo-bar/foo_bar-1.0+local-py3-none-any.whl", "foo-bar"),
        ("demo/index.html", None),  # our own output
        ("demo/index.json", None),
        ("demo/demo-1.0-py3-none-any.whl.metadata", None),
        ("index.html", None),
        ("demo-1.0-py3-none-any.whl", None),  # not in a project folder
        ("demo/sub/demo-1.0-py3-none-any.whl", None),
        ("demo/README.txt", None),
        ("Foo_Bar/foo_bar-1.0.tar.gz", None),  # not a normalized folder: warned, not indexed
    ],
)
def test_project_for_key(key, project):
    assert project_for_key(key) == project


# --- reindex ---------------------------------------------------------------------------------


def test_reindex_rebuilds_an_s3pypi_style_bucket_from_objects_alone(s3):
    # s3pypi writes <project>/<file> and its own index.html pages; no JSON, no .metadata.
    a, _, _ = upload_wheel(s3, "alpha", "1.0")
    fn, sdist = make_sdist("beta", "2.0")
    put(s3, f"beta/{fn}", sdist)
    put(s3, "alpha/index.html", b"<html><a href='old'>old</a></html>")
    put(s3, "index.html", b"<html>old root</html>")
    results = indexer(s3).reindex()
    assert sorted(r.project for r in results) == ["alpha", "beta"]
    assert IndexPage.from_html(get(s3, "index.html")).projects == ["alpha", "beta"]
    assert [p.filename for p in project_pages(s3, "alpha")[0].packages] == [a]
    assert f"alpha/{a}.metadata" in keys(s3)


def test_reindex_passes_over_the_bookkeeping_folders_without_a_warning(s3, caplog):
    from indexer import publish
    from upload import remote

    assert {f"{f}/" for f in BOOKKEEPING_FOLDERS} == {
        f"{assets.FOLDER}/",
        publish.CLAIMS_PREFIX,
        remote.STAGING_PREFIX,
    }
    upload_wheel(s3, "alpha", "1.0")
    put(s3, "_claims/alpha/0123abcd", b"{}")
    put(s3, "_staging/0123-abcd-alpha-2.0-py3-none-any.whl.staged", b"PK")
    put(s3, "Not_Normalized/not_normalized-1.0.tar.gz", b"junk")
    results = indexer(s3).reindex()
    assert [r.project for r in results] == ["alpha"]
    warned = [r for r in caplog.records if r.levelname == "WARNING"]
    assert [getattr(r, "folder", None) for r in warned] == ["Not_Normalized"]


def test_reindex_drops_projects_that_no_longer_have_files(s3):
    upload_wheel(s3, "alpha", "1.0")
    stale = {"meta": {"api-version": "1.1"}, "projects": [{"name": "alpha"}, {"name": "gone"}]}
    put(s3, "index.json", json.dumps(stale).encode())
    indexer(s3).reindex()
    assert [p["name"] for p in json.loads(get(s3, "index.json"))["projects"]] == ["alpha"]


def test_second_reindex_reads_no_distribution(s3, counter: RequestCounter):
    for name in ("a", "b", "c"):
        upload_wheel(s3, name, "1.0")
    ix = indexer(s3)
    ix.reindex()
    counter.reset()
    ix.reindex()
    # Each project's json and its latest .metadata (the README); the root json twice.
    assert counter.calls["GetObject"] == 3 + 3 + 2
    # One LIST finds the folders; each project then lists its own, after reading its JSON.
    assert counter.calls["ListObjectsV2"] == 1 + 3


def test_a_transient_s3_error_fails_the_rebuild_so_sqs_retries(s3, monkeypatch):
    from botocore.exceptions import ClientError

    upload_wheel(s3, "demo", "1.0")
    bucket = Bucket(s3, BUCKET)

    def slow_down(key: str):
        raise ClientError(
            {"Error": {"Code": "SlowDown", "Message": "Please reduce your request rate."}}, "GetObject"
        )

    monkeypatch.setattr(bucket, "open_stream", slow_down)
    with pytest.raises(ClientError):
        Indexer(bucket).rebuild("demo")
    assert "demo/index.json" not in keys(s3)  # nothing half-written is left as if complete


def test_metadata_that_cannot_be_stored_leaves_the_wheel_listed_without_it(s3, monkeypatch, caplog):
    from botocore.exceptions import ClientError

    filename, _, _ = upload_wheel(s3, "demo", "1.0")
    bucket = Bucket(s3, BUCKET)
    real_put = bucket.put

    def put(key: str, *args, **kwargs):
        if key.endswith(".metadata"):  # as S3 answers a key over 1,024 bytes
            error = {"Error": {"Code": "KeyTooLongError"}, "ResponseMetadata": {"HTTPStatusCode": 400}}
            raise ClientError(error, "PutObject")
        return real_put(key, *args, **kwargs)

    monkeypatch.setattr(bucket, "put", put)
    Indexer(bucket).rebuild("demo")
    (entry,) = json.loads(get(s3, "demo/index.json"))["files"]
    assert entry["filename"] == filename and entry["core-metadata"] is False
    assert "cannot store" in warnings_by_key(caplog)[f"demo/{filename}"]


def test_foreign_json_in_place_of_our_page_is_rebuilt_not_fatal(s3):
    upload_wheel(s3, "demo", "1.0")
    put(s3, "demo/index.json", json.dumps({"files": ["x", {"filename": 3}], "meta": "x"}).encode())
    put(s3, "index.json", json.dumps({"projects": "nope", "meta": "x"}).encode())
    indexer(s3).rebuild("demo")
    assert [f["filename"] for f in json.loads(get(s3, "demo/index.json"))["files"]] == [
        "demo-1.0-py3-none-any.whl"
    ]
    assert [p["name"] for p in json.loads(get(s3, "index.json"))["projects"]] == ["demo"]


def test_the_first_upload_of_a_new_project_costs_twelve_requests(s3, counter: RequestCounter):
    upload_wheel(s3, "fresh", "1.0")
    counter.reset()
    indexer(s3).rebuild("fresh")
    # As an upload to an existing project, plus the LIST that checks a first write (no ABA).
    assert counter.total == 12
    assert counter.calls["ListObjectsV2"] == 2


def test_a_large_wheel_new_version_costs_at_most_twelve_requests(s3, counter: RequestCounter):
    upload_wheel(s3, "big", "1.0")
    indexer(s3).rebuild("big")
    filename, data, _ = make_wheel("big", "2.0", payload_bytes=FULL_READ_BYTES + 1024)
    put(s3, f"big/{filename}", data, ChecksumAlgorithm="SHA256")
    counter.reset()
    indexer(s3).rebuild("big")
    assert counter.total == 12  # HEAD for the checksum and one ranged GET instead of one GET
    assert counter.calls["HeadObject"] == 1
