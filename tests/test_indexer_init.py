"""The indexer's `init` action (issue #18 item 9), the static assets the pages use (item 5) and the
plain copy of each JSON page (item 8), against moto."""

from __future__ import annotations

import gzip
import json
import re
from typing import Any

import pytest

from edge import handler as edge
from indexer import assets, model, render
from indexer.build import Indexer
from indexer.handler import handler as indexer_handler
from indexer.store import Bucket
from tests.bucket_state import snapshot
from tests.conftest import BUCKET
from tests.distributions import make_wheel


def indexer(s3: Any) -> Indexer:
    return Indexer(Bucket(s3, BUCKET))


def body(s3: Any, key: str) -> bytes:
    return s3.get_object(Bucket=BUCKET, Key=key)["Body"].read()


def keys(s3: Any) -> set[str]:
    return {o["Key"] for o in s3.list_objects_v2(Bucket=BUCKET).get("Contents", [])}


# --- an empty index ------------------------------------------------------------------------------


def test_init_writes_an_empty_root_in_html_and_both_json_copies(s3):
    written = indexer(s3).init()
    assert {"index.html", "index.json", "index.identity.json"} <= set(written)
    assert json.loads(body(s3, "index.identity.json"))["projects"] == []
    assert json.loads(gzip.decompress(body(s3, "index.json")))["projects"] == []
    assert "0 projects" in body(s3, "index.html").decode()


def test_init_writes_the_static_assets_with_their_types_and_a_year_of_cache(s3):
    indexer(s3).init()
    for item in assets.assets().values():
        stored = s3.get_object(Bucket=BUCKET, Key=item.key)
        assert stored["Body"].read() == item.body
        assert stored["ContentType"] == item.content_type
        assert stored["CacheControl"] == "public, max-age=31536000, immutable"


def test_init_twice_writes_nothing_the_second_time(s3):
    indexer(s3).init()
    before = snapshot(s3, BUCKET)
    assert indexer(s3).init() == []
    assert snapshot(s3, BUCKET) == before


def test_init_never_touches_an_existing_root(s3):
    filename, data, _ = make_wheel("demo", "1.0")
    s3.put_object(Bucket=BUCKET, Key=f"demo/{filename}", Body=data)
    indexer(s3).rebuild("demo")
    root = [v for v in snapshot(s3, BUCKET) if v[0].startswith("index.")]
    written = indexer(s3).init()
    assert not any(k.startswith("index.") for k in written)
    assert [v for v in snapshot(s3, BUCKET) if v[0].startswith("index.")] == root
    assert [p["name"] for p in json.loads(body(s3, "index.identity.json"))["projects"]] == ["demo"]


def test_init_leaves_a_foreign_root_page_to_reindex(s3):
    # An s3pypi bucket: its own index.html, none of our JSON.
    s3.put_object(Bucket=BUCKET, Key="index.html", Body=b"<html>s3pypi</html>")
    assert not any(k.startswith("index.") for k in indexer(s3).init())
    assert body(s3, "index.html") == b"<html>s3pypi</html>"
    assert "index.json" not in keys(s3)


def test_the_init_action_of_the_lambda_handler(lambda_s3):
    result = indexer_handler({"action": "init", "bucket": BUCKET}, None)
    assert "index.json" in result["written"]
    assert indexer_handler({"action": "init", "bucket": BUCKET}, None) == {"written": []}


@pytest.mark.parametrize("event", [{"action": "init"}, {"action": "init", "bucket": ""}])
def test_the_init_action_needs_the_bucket(lambda_s3, event):
    with pytest.raises(ValueError, match="bucket"):
        indexer_handler(event, None)


def test_reindex_does_not_take_the_static_folder_for_a_project(s3):
    indexer(s3).init()
    results = indexer(s3).reindex()
    assert [r.project for r in results] == []
    assert json.loads(body(s3, "index.identity.json"))["projects"] == []


# --- the pages use the static assets, nothing inline ------------------------------------------------


def test_pages_name_their_script_and_style_by_url_and_carry_none_inline(s3):
    filename, data, _ = make_wheel("demo", "1.0")
    s3.put_object(Bucket=BUCKET, Key=f"demo/{filename}", Body=data)
    indexer(s3).rebuild("demo")
    root, project = body(s3, "index.html").decode(), body(s3, "demo/index.html").decode()
    for page in (root, project):
        assert "<style" not in page and "<script>" not in page and " style=" not in page
        assert re.search(r" on[a-z]+=", page) is None  # no inline event handlers
        assert f'<link rel="stylesheet" href="{assets.url("pypi-edge.css")}">' in page
        assert f'<script src="{assets.url("pypi-edge.js")}" defer></script>' in page


def test_asset_names_follow_their_content(tmp_path):
    (tmp_path / "a.css").write_text("body{}")
    (tmp_path / "b.css").write_text("body{color:red}")
    one, two = assets.asset(tmp_path / "a.css"), assets.asset(tmp_path / "b.css")
    assert re.fullmatch(r"a\.[0-9a-f]{16}\.css", one.filename)
    assert one.filename.split(".")[1] != two.filename.split(".")[1]
    assert one.url == "/-/static/" + one.filename and one.key == "-/static/" + one.filename


def test_every_asset_is_a_name_the_edge_serves():
    for item in assets.assets().values():
        assert edge.route("GET", item.url) == item.url
    served = set(re.findall(r"\b(css|js|svg|png|ico|woff2)\b", edge._STATIC_NAME.pattern))
    assert {suffix.lstrip(".") for suffix in assets.CONTENT_TYPES} == served


def test_the_pages_reference_only_existing_assets(s3):
    filename, data, _ = make_wheel("demo", "1.0")
    s3.put_object(Bucket=BUCKET, Key=f"demo/{filename}", Body=data)
    indexer(s3).rebuild("demo")
    pages = [body(s3, "index.html"), body(s3, "demo/index.html"), render.not_found_html()]
    named = {m for page in pages for m in re.findall(r'"(/-/static/[^"]*)"', page.decode())}
    assert named == {a.url for a in assets.assets().values()}
    with pytest.raises(KeyError):
        assets.url("missing.css")


# --- the plain copy of each JSON page -----------------------------------------------------------------


def test_the_plain_json_copy_says_what_the_gzip_one_says(s3):
    filename, data, _ = make_wheel("demo", "1.0")
    s3.put_object(Bucket=BUCKET, Key=f"demo/{filename}", Body=data)
    indexer(s3).rebuild("demo")
    for prefix in ("", "demo/"):
        plain = s3.get_object(Bucket=BUCKET, Key=f"{prefix}index.identity.json")
        packed = s3.get_object(Bucket=BUCKET, Key=f"{prefix}index.json")
        assert "ContentEncoding" not in plain and packed["ContentEncoding"] == "gzip"
        assert plain["ContentType"] == packed["ContentType"] == "application/vnd.pypi.simple.v1+json"
        assert plain["CacheControl"] == packed["CacheControl"]
        assert plain["Body"].read() == gzip.decompress(packed["Body"].read())


def test_the_plain_copy_goes_with_the_project(s3):
    filename, data, _ = make_wheel("demo", "1.0")
    s3.put_object(Bucket=BUCKET, Key=f"demo/{filename}", Body=data)
    indexer(s3).rebuild("demo")
    s3.delete_object(Bucket=BUCKET, Key=f"demo/{filename}")
    indexer(s3).rebuild("demo")
    assert not {k for k in keys(s3) if k.startswith("demo/")}


def test_the_edge_and_the_indexer_name_the_pages_alike():
    assert edge.JSON_PAGE == model.JSON_PAGE
    assert edge.IDENTITY_JSON_PAGE == model.IDENTITY_JSON_PAGE
    assert edge.STATIC_PREFIX == assets.URL_PREFIX


def test_init_stops_on_an_s3_error_rather_than_guess_the_root_is_missing(s3):
    from botocore.exceptions import ClientError

    class Refusing:
        """The bucket's client, except that HEAD of the root page is refused."""

        def __getattr__(self, name: str) -> Any:
            return getattr(s3, name)

        def head_object(self, **kwargs: Any) -> Any:
            error = {
                "Error": {"Code": "403", "Message": "Forbidden"},
                "ResponseMetadata": {"HTTPStatusCode": 403},
            }
            raise ClientError(error, "HeadObject")

    with pytest.raises(ClientError):
        Indexer(Bucket(Refusing(), BUCKET)).init()
    assert "index.json" not in keys(s3)
