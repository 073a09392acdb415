"""Interleavings that once left pages wrong: each test runs a second rebuild at the exact moment
a first one is between two S3 calls (a hooked Bucket), then checks the pages against the bucket.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable
from typing import Any

import pytest

from indexer.build import Indexer
from indexer.store import Bucket
from tests import s3_pages
from tests.conftest import BUCKET
from tests.distributions import make_wheel


class HookedBucket(Bucket):
    """A Bucket that runs a callback once, just before a matching call."""

    def __init__(self, client: Any) -> None:
        super().__init__(client, BUCKET)
        self.hooks: list[tuple[str, Callable[[str], bool], Callable[[], None]]] = []

    def before(self, method: str, key: Callable[[str], bool], callback: Callable[[], None]) -> None:
        self.hooks.append((method, key, callback))

    def _fire(self, method: str, key: str) -> None:
        for hook in list(self.hooks):
            if hook[0] == method and hook[1](key):
                self.hooks.remove(hook)
                hook[2]()

    def list(self, prefix: str):
        self._fire("list", prefix)
        return super().list(prefix)

    def get_bytes(self, key: str, max_bytes: int | None = None):
        self._fire("get", key)
        return super().get_bytes(key, max_bytes)

    def put(self, key: str, *args: Any, **kwargs: Any) -> str:
        self._fire("put", key)
        return super().put(key, *args, **kwargs)

    def delete(self, key: str, **kwargs: Any) -> None:
        self._fire("delete", key)
        super().delete(key, **kwargs)


@pytest.fixture
def s3x(s3: Any) -> Any:
    return s3


def wheel(s3: Any, version: str, **kwargs: Any) -> str:
    filename, data, _ = make_wheel("p", version, **kwargs)
    s3.put_object(Bucket=BUCKET, Key=f"p/{filename}", Body=data)
    return filename


def rebuild(s3: Any) -> None:
    Indexer(Bucket(s3, BUCKET)).rebuild("p")


def doc(s3: Any, key: str) -> Any:
    try:
        return json.loads(s3_pages.read(s3, BUCKET, key))
    except s3.exceptions.NoSuchKey:
        return None


def keys(s3: Any) -> set[str]:
    return {o["Key"] for o in s3.list_objects_v2(Bucket=BUCKET, Prefix="p/").get("Contents", [])}


def test_first_page_write_after_the_files_were_deleted_is_undone(s3):
    first = wheel(s3, "1.0")
    slow = HookedBucket(s3)

    def deleted_and_indexed_meanwhile() -> None:
        s3.delete_object(Bucket=BUCKET, Key=f"p/{first}")
        rebuild(s3)  # finds nothing: there is no page to remove yet

    slow.before("put", lambda k: k.endswith(".metadata"), deleted_and_indexed_meanwhile)
    Indexer(slow).rebuild("p")
    assert keys(s3) == set()
    assert doc(s3, "index.json")["projects"] == []


def test_a_slow_rebuild_cannot_put_an_older_latest_version_in_the_root(s3):
    wheel(s3, "1.0")
    rebuild(s3)
    second = wheel(s3, "2.0")
    slow = HookedBucket(s3)

    def deleted_and_indexed_meanwhile() -> None:
        s3.delete_object(Bucket=BUCKET, Key=f"p/{second}")
        rebuild(s3)

    slow.before("get", lambda k: k == "index.json", deleted_and_indexed_meanwhile)
    Indexer(slow).rebuild("p")  # its page lost; its root update comes last
    assert doc(s3, "p/index.json")["versions"] == ["1.0"]
    assert doc(s3, "index.json")["projects"][0]["_latest"] == "1.0"


def test_a_slow_rebuild_cannot_bring_a_removed_project_back_to_the_root(s3):
    first = wheel(s3, "1.0")
    rebuild(s3)
    second = wheel(s3, "2.0")
    slow = HookedBucket(s3)

    def project_removed_meanwhile() -> None:
        s3.delete_object(Bucket=BUCKET, Key=f"p/{first}")
        s3.delete_object(Bucket=BUCKET, Key=f"p/{second}")
        rebuild(s3)

    slow.before("get", lambda k: k == "index.json", project_removed_meanwhile)
    Indexer(slow).rebuild("p")
    assert keys(s3) == set()
    assert doc(s3, "index.json")["projects"] == []


def test_removing_pages_does_not_break_a_project_recreated_meanwhile(s3):
    first = wheel(s3, "1.0")
    rebuild(s3)
    s3.delete_object(Bucket=BUCKET, Key=f"p/{first}")
    slow = HookedBucket(s3)

    def republished_meanwhile() -> None:
        wheel(s3, "1.0")
        rebuild(s3)

    slow.before("delete", lambda k: k == "p/index.json", republished_meanwhile)
    Indexer(slow).rebuild("p")
    page = doc(s3, "p/index.json")
    assert [f["filename"] for f in page["files"]] == [first]
    assert {f"p/{first}", f"p/{first}.metadata", "p/index.html", "p/index.json"} <= keys(s3)
    assert [p["name"] for p in doc(s3, "index.json")["projects"]] == ["p"]


def test_root_html_agrees_with_root_json_after_a_lost_race(s3):
    wheel(s3, "1.0")
    rebuild(s3)
    wheel(s3, "2.0")
    slow = HookedBucket(s3)
    slow.before("put", lambda k: k == "index.html", lambda: (wheel(s3, "2.1"), rebuild(s3)))
    Indexer(slow).rebuild("p")
    latest = doc(s3, "index.json")["projects"][0]["_latest"]
    html = s3.get_object(Bucket=BUCKET, Key="index.html")["Body"].read().decode()
    assert latest == "2.1"
    assert re.findall(r'<a href="p/">p</a></span><span class="v">([^<]*)</span>', html) == ["2.1"]


def test_a_page_deleted_under_an_if_match_write_is_a_lost_race_not_an_error(s3):
    first = wheel(s3, "1.0")
    rebuild(s3)
    s3.put_object(Bucket=BUCKET, Key=f"p/{first}.yanked", Body=b"broken")
    slow = HookedBucket(s3)

    def removed_meanwhile() -> None:
        s3.delete_object(Bucket=BUCKET, Key=f"p/{first}")
        s3.delete_object(Bucket=BUCKET, Key=f"p/{first}.yanked")
        rebuild(s3)

    slow.before("put", lambda k: k == "p/index.html", removed_meanwhile)
    Indexer(slow).rebuild("p")  # must not raise
    assert keys(s3) == set()


def test_metadata_of_a_replaced_wheel_matches_the_page(s3):
    filename, v1, _ = make_wheel("p", "1.0", summary="first build")
    s3.put_object(Bucket=BUCKET, Key=f"p/{filename}", Body=v1)
    slow = HookedBucket(s3)

    def replaced_meanwhile() -> None:  # upload --force, indexed before the slow rebuild writes
        _, v2, _ = make_wheel("p", "1.0", summary="second build")
        s3.put_object(Bucket=BUCKET, Key=f"p/{filename}", Body=v2)
        rebuild(s3)

    slow.before("put", lambda k: k.endswith(".metadata"), replaced_meanwhile)
    Indexer(slow).rebuild("p")
    (entry,) = doc(s3, "p/index.json")["files"]
    served = s3.get_object(Bucket=BUCKET, Key=f"p/{filename}.metadata")["Body"].read()
    assert hashlib.sha256(served).hexdigest() == entry["core-metadata"]["sha256"]
    assert b"second build" in served


def test_reindex_keeps_what_events_indexed_while_it_ran(s3):
    wheel(s3, "1.0")
    rebuild(s3)
    slow = HookedBucket(s3)
    late: dict[str, str] = {}

    def indexed_meanwhile() -> None:
        late["p"] = wheel(s3, "2.0")
        rebuild(s3)
        filename, data, _ = make_wheel("q", "1.0")
        s3.put_object(Bucket=BUCKET, Key=f"q/{filename}", Body=data)
        Indexer(Bucket(s3, BUCKET)).rebuild("q")

    slow.before("get", lambda k: k == "index.json", indexed_meanwhile)  # after its whole-bucket LIST
    Indexer(slow).reindex()
    assert late["p"] in [f["filename"] for f in doc(s3, "p/index.json")["files"]]
    root = {p["name"]: p["_latest"] for p in doc(s3, "index.json")["projects"]}
    assert root == {"p": "2.0", "q": "1.0"}


def test_removing_a_page_with_no_json_does_not_delete_the_html_of_a_project_created_meanwhile(s3):
    # An s3pypi bucket (or a first write killed between its HTML and its JSON) has an HTML page
    # and no JSON.  A rebuild that finds no distribution deletes that HTML without a condition to
    # lose; if the project's first file was indexed after it listed, it must notice and rebuild.
    s3.put_object(Bucket=BUCKET, Key="p/index.html", Body=b"<html>s3pypi</html>")
    slow = HookedBucket(s3)
    late: dict[str, str] = {}

    def published_meanwhile() -> None:
        late["p"] = wheel(s3, "1.0")
        rebuild(s3)

    slow.before("delete", lambda k: k == "p/index.html", published_meanwhile)
    Indexer(slow).rebuild("p")
    html = s3.get_object(Bucket=BUCKET, Key="p/index.html")["Body"].read().decode()
    assert f">{late['p']}</a>" in html
    assert [f["filename"] for f in doc(s3, "p/index.json")["files"]] == [late["p"]]
