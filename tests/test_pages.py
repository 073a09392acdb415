"""The pages people read, as the indexer writes them: what clients still see, what people now see,
the assets and the 404 page, the public URL, and what the root weighs."""

from __future__ import annotations

import gzip
import json
import logging
import re
from typing import Any

import pytest
from pip._internal.index.collector import IndexContent, parse_links
from pypi_simple import IndexPage, ProjectPage

from indexer import assets, render
from indexer.build import PUBLIC_URL_ENV, Indexer
from indexer.model import ProjectEntry, ProjectList
from indexer.status import ProjectStatus
from indexer.status import render as status_marker
from indexer.store import Bucket
from tests import s3_pages
from tests.conftest import BUCKET, RequestCounter
from tests.distributions import make_sdist, make_wheel

README = """# Demo

A [link](https://example.com/docs), [another](https://example.com/x-1.0-py3-none-any.whl),
an ![image](https://example.com/badge.svg) and [a section](#demo).

<a href="https://evil.example/evil-1.0.tar.gz">evil-1.0.tar.gz</a>
"""
FIELDS = [
    "License-Expression: MIT",
    "Project-URL: Source, https://github.com/x/demo",
    "Project-URL: Docs, https://demo.example/docs",
]


def indexer(s3: Any, **kwargs: Any) -> Indexer:
    return Indexer(Bucket(s3, BUCKET), **kwargs)


def put(s3: Any, key: str, body: bytes) -> None:
    s3.put_object(Bucket=BUCKET, Key=key, Body=body)


def get(s3: Any, key: str) -> bytes:
    return s3_pages.read(s3, BUCKET, key)


def keys(s3: Any) -> set[str]:
    return {o["Key"] for o in s3.list_objects_v2(Bucket=BUCKET).get("Contents", [])}


def upload(s3: Any, name: str, version: str, **kwargs: Any) -> str:
    filename, data, _ = make_wheel(name, version, **kwargs)
    put(s3, f"{name}/{filename}", data)
    return filename


@pytest.fixture
def demo(s3: Any) -> Any:
    """A project with a README full of links, a yanked release, Requires-Python, an sdist."""
    upload(s3, "demo", "1.0", requires_python=">=3.8", description=README, fields=FIELDS)
    old = upload(s3, "demo", "0.9", description=README)
    put(s3, f"demo/{old}.yanked", b"broken <b>build</b>\n")
    fn, sdist = make_sdist("demo", "1.0", description=README, fields=FIELDS)
    put(s3, f"demo/{fn}", sdist)
    ix = indexer(s3, public_url="https://pypi.example.com")
    ix.init()
    ix.rebuild("demo")
    return s3


# --- what pip, uv, poetry and pypi-simple read: the files, and only the files -------------------


def pip_links(body: bytes, content_type: str) -> list[tuple[Any, ...]]:
    page = IndexContent(body, content_type, "utf-8", "https://i/simple/demo/", cache_link_parsing=False)
    return [
        (
            link.url_without_fragment,
            link.requires_python,
            link.yanked_reason,
            link.metadata_file_data,
            link.hash,
        )
        for link in parse_links(page)
    ]


def test_pip_reads_the_same_files_from_the_html_as_from_the_json(demo):
    html = pip_links(get(demo, "demo/index.html"), "text/html")
    js = pip_links(get(demo, "demo/index.json"), "application/vnd.pypi.simple.v1+json")
    assert len(html) == 3
    assert sorted(html, key=str) == sorted(js, key=str)


def test_pypi_simple_reads_the_same_packages_from_the_html_as_from_the_json(demo):
    base = "https://i/simple/demo/"
    html = ProjectPage.from_html("demo", get(demo, "demo/index.html"), base_url=base)
    js = ProjectPage.from_json_data(json.loads(get(demo, "demo/index.json")), base_url=base)

    def seen(page: ProjectPage) -> list[tuple[Any, ...]]:
        return sorted(
            (
                p.filename,
                p.url,
                p.digests,
                p.requires_python,
                p.yanked_reason,
                bool(p.has_metadata),
                p.metadata_digests,
            )
            for p in page.packages
        )

    assert len(html.packages) == 3
    assert seen(html) == seen(js)
    assert html.repository_version == js.repository_version == render.API_VERSION


def test_the_root_names_the_projects_and_nothing_else(demo):
    upload(demo, "other", "1.0")
    indexer(demo).rebuild("other")
    assert IndexPage.from_html(get(demo, "index.html")).projects == ["demo", "other"]


# --- what people read ---------------------------------------------------------------------------


def test_the_project_page_shows_the_readme_and_the_side_panel(demo):
    html = get(demo, "demo/index.html").decode()
    assert re.search(r"<h2[^>]*>Demo</h2>", html)
    assert '<a rel="nofollow" data-href="https://example.com/docs">link</a>' in html
    assert "<dt>License</dt><dd>MIT</dd>" in html
    assert '<a data-href="https://github.com/x/demo">Source</a>' in html
    assert "Yanked: broken &lt;b&gt;build&lt;/b&gt;" in html  # the reason, as written, escaped
    assert "<title>demo 1.0 · pypi.example.com</title>" in html


def test_a_new_release_is_described_from_the_file_just_read(s3, counter: RequestCounter):
    upload(s3, "demo", "1.0", description="# One")
    ix = indexer(s3)
    ix.rebuild("demo")
    upload(s3, "demo", "2.0", description="# Two")
    counter.reset()
    ix.rebuild("demo")
    assert counter.calls["GetObject"] == 3  # project json, the new wheel, root json: nothing more
    assert "<h2" in get(s3, "demo/index.html").decode().split(">Two</h2>")[0]


def test_an_older_upload_keeps_the_latest_release_readme(s3, counter: RequestCounter):
    upload(s3, "demo", "2.0", description="# Two")
    ix = indexer(s3)
    ix.rebuild("demo")
    upload(s3, "demo", "1.0", description="# One")
    counter.reset()
    ix.rebuild("demo")
    # Project json, the 1.0 wheel, 2.0's .metadata (its README), root json.
    assert counter.calls["GetObject"] == 4
    html = get(s3, "demo/index.html").decode()
    assert ">Two</h2>" in html and ">One</h2>" not in html


def test_a_release_with_only_an_sdist_is_described_from_its_pkg_info(s3):
    fn, sdist = make_sdist("demo", "1.0", description="# From the sdist", fields=FIELDS)
    put(s3, f"demo/{fn}", sdist)
    ix = indexer(s3)
    ix.rebuild("demo")
    put(s3, f"demo/{fn}.yanked", b"")  # a rebuild that reads no file: PKG-INFO is read again
    ix.rebuild("demo")
    html = get(s3, "demo/index.html").decode()
    assert ">From the sdist</h2>" in html
    assert "<dt>License</dt><dd>MIT</dd>" in html


@pytest.mark.parametrize("sdist_name", ["demo-1.0.zip"])
def test_a_zip_sdist_is_described_from_its_pkg_info(s3, sdist_name):
    import io
    import zipfile

    from tests.distributions import core_metadata

    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("demo-1.0/PKG-INFO", core_metadata("demo", "1.0", description="# Zipped"))
    put(s3, f"demo/{sdist_name}", buf.getvalue())
    ix = indexer(s3)
    ix.rebuild("demo")
    put(s3, f"demo/{sdist_name}.yanked", b"")
    ix.rebuild("demo")
    assert ">Zipped</h2>" in get(s3, "demo/index.html").decode()


def test_a_quarantined_project_shows_nothing_of_its_publishers_text(demo):
    put(demo, "demo/.project-status", status_marker(ProjectStatus("quarantined", "malware report")))
    indexer(demo).rebuild("demo")
    html = get(demo, "demo/index.html").decode()
    assert "readme" not in html and 'data-href="https://github.com' not in html
    assert "Nothing from a quarantined project" in html


def test_unreadable_latest_metadata_costs_the_readme_not_the_page(s3, caplog):
    filename = upload(s3, "demo", "1.0", description="# Fine")
    ix = indexer(s3)
    ix.rebuild("demo")
    put(s3, f"demo/{filename}.yanked", b"")
    s3.delete_object(Bucket=BUCKET, Key=f"demo/{filename}.metadata")
    with caplog.at_level(logging.WARNING):
        ix.rebuild("demo")  # the .metadata is gone: the wheel is read again, the page is whole
    assert ">Fine</h2>" in get(s3, "demo/index.html").decode()


def test_a_readme_the_renderer_chokes_on_costs_only_the_readme(s3, monkeypatch, caplog):
    import indexer.build as build

    def boom(raw: bytes) -> None:
        raise RecursionError("deeply nested markup")

    monkeypatch.setattr(build, "parse_about", boom)
    upload(s3, "demo", "1.0", description="# x")
    indexer(s3).rebuild("demo")
    html = get(s3, "demo/index.html").decode()
    assert "demo-1.0-py3-none-any.whl" in html and "No core metadata could be read" in html
    assert "could not render" in caplog.text


# --- the public URL in the commands, never a password ---------------------------------------------


@pytest.mark.parametrize(
    ("value", "shown"),
    [
        ("https://pypi.example.com", "https://pypi.example.com/simple/"),
        ("https://pypi.example.com/", "https://pypi.example.com/simple/"),
        ("https://d111111abcdef8.cloudfront.net", "https://d111111abcdef8.cloudfront.net/simple/"),
        ("http://127.0.0.1:8080", "http://127.0.0.1:8080/simple/"),
        ("https://alice:s3cret@pypi.example.com/x?y=1", "https://pypi.example.com/simple/"),
        ("ftp://pypi.example.com", "https://<index-host>/simple/"),
        ("not a url", "https://<index-host>/simple/"),
        ("https://[::1]:99999", "https://<index-host>/simple/"),
        ("", "https://<index-host>/simple/"),
    ],
)
def test_the_public_url_is_an_origin_and_nothing_else(value, shown):
    assert render.Site.parse(value).index_url == shown


def test_the_pages_take_the_public_url_from_the_environment(s3, monkeypatch):
    monkeypatch.setenv(PUBLIC_URL_ENV, "https://alice:s3cret@pypi.example.com")
    upload(s3, "demo", "1.0")
    indexer(s3).rebuild("demo")
    for key in ("demo/index.html", "index.html"):
        html = get(s3, key).decode()
        assert "pip install --index-url https://pypi.example.com/simple/" in html
        assert "https://pypi.example.com/legacy/" in html
        assert "s3cret" not in html and "alice" not in html


def test_without_a_public_url_the_script_fills_in_the_page_origin(s3, monkeypatch):
    monkeypatch.delenv(PUBLIC_URL_ENV, raising=False)
    upload(s3, "demo", "1.0")
    indexer(s3).rebuild("demo")
    html = get(s3, "demo/index.html").decode()
    assert (
        '<pre id="cmd-pip" data-origin>pip install --index-url https://&lt;index-host&gt;/simple/ demo'
        in html
    )


# --- assets and the 404 page ----------------------------------------------------------------------


def static_keys(s3: Any) -> set[str]:
    return {k for k in keys(s3) if k.startswith(assets.KEY_PREFIX)}


def test_init_writes_the_assets_and_the_404_page_and_a_rebuild_writes_neither(s3, counter: RequestCounter):
    ix = indexer(s3)
    ix.init()
    assert static_keys(s3) == {a.key for a in assets.assets().values()} | {assets.NOT_FOUND_KEY}
    upload(s3, "demo", "1.0")
    counter.reset()
    ix.rebuild("demo")
    # .metadata; the project's html, plain json, json; the root's html, plain json, json: no asset.
    assert counter.calls["PutObject"] == 7


def test_assets_are_content_hashed_typed_and_immutable(s3):
    indexer(s3).init()
    upload(s3, "demo", "1.0")
    indexer(s3).rebuild("demo")
    for asset in assets.assets().values():
        assert re.fullmatch(r"-/static/pypi-edge\.[0-9a-f]{16}\.(css|js)", asset.key)
        head = s3.head_object(Bucket=BUCKET, Key=asset.key)
        assert head["ContentType"] == asset.content_type
        assert head["CacheControl"] == "public, max-age=31536000, immutable"
    page = get(s3, "demo/index.html").decode()
    assert f'href="{assets.css_url()}"' in page and f'src="{assets.js_url()}"' in page


def test_an_upgrade_writes_the_new_assets_and_404_page_and_keeps_the_old_assets(s3):
    put(s3, "-/static/pypi-edge.0000000000000000.css", b"/* an older release's */")
    put(s3, assets.NOT_FOUND_KEY, b"<p>an older release's 404 page</p>")
    written = indexer(s3).init()
    assert assets.assets()["pypi-edge.css"].key in written and assets.NOT_FOUND_KEY in written
    assert "-/static/pypi-edge.0000000000000000.css" in keys(s3)  # old pages still find theirs
    assert get(s3, assets.NOT_FOUND_KEY) == render.not_found_html(render.Site())


def test_the_404_page_links_back_to_the_list_with_absolute_urls(s3):
    indexer(s3, public_url="https://pypi.example.com").init()
    page = get(s3, assets.NOT_FOUND_KEY).decode()
    assert '<a href="/">Back to the package list</a>' in page
    assert f'href="{assets.css_url()}"' in page
    assert "<title>Not found · pypi.example.com</title>" in page


@pytest.mark.parametrize("page", ["demo/index.html", "index.html", assets.NOT_FOUND_KEY])
def test_pages_carry_no_inline_script_or_style(demo, page):
    html = get(demo, page).decode()
    assert not re.search(r"<script(?![^>]*\ssrc=)", html)
    assert "<style" not in html and " style=" not in html
    assert not re.search(r"\son[a-z]+=", html)


# --- weight ---------------------------------------------------------------------------------------


def synthetic_root(n: int) -> ProjectList:
    """n projects named, versioned and summarized like a real index's (deterministic)."""
    words = ["data", "client", "core", "utils", "async", "tools", "http", "cli", "auth", "db"]
    return ProjectList(
        tuple(
            ProjectEntry(
                name=f"{words[i % 10]}-{words[(i // 10) % 10]}-{i}",
                latest=f"{i % 7}.{i % 13}.{i % 5}",
                summary=f"The {words[(i // 100) % 10]} library for {words[i % 10]}"
                f" and {words[(i // 7) % 10]} work",
            )
            for i in range(n)
        )
    )


def bench_root(n: int) -> ProjectList:
    """The root bench/large.py measures (p00000..., one summary): 408 KiB gzipped at 50,000 before."""
    return ProjectList(tuple(ProjectEntry(f"p{i:05d}", "1.0", "A test package", 1) for i in range(n)))


# Stated in docs/browsing.md ("Weight"): the root's weight gzipped (level 6, as a CDN sends
# it) for 10,000 and 50,000 projects.  The root carries no README and must stay this light; the
# old template gave 83 / 407 KiB (bench data) and 177 / 878 KiB (synthetic) for the same lists.
@pytest.mark.parametrize(
    ("make", "projects", "max_kib"),
    [
        (bench_root, 10_000, 56),
        (bench_root, 50_000, 270),
        (synthetic_root, 10_000, 155),
        (synthetic_root, 50_000, 760),
    ],
)
def test_the_root_stays_light(make, projects, max_kib):
    html = render.root_html(make(projects), render.Site("https://pypi.example.com"))
    gz = len(gzip.compress(html, 6))
    print(f"{make.__name__} at {projects}: {len(html) / 1024:.0f} KiB, {gz / 1024:.0f} KiB gzipped")
    assert gz <= max_kib * 1024


def test_the_stand_in_shows_the_404_page_once_the_indexer_wrote_it(s3):
    from local.cdn import NOT_FOUND_BODY, error_page

    assert error_page(s3, BUCKET, 404) == ({"Content-Type": "text/plain; charset=utf-8"}, NOT_FOUND_BODY)
    indexer(s3).init()
    headers, body = error_page(s3, BUCKET, 404)
    assert headers == {"Content-Type": "text/html; charset=utf-8"}
    assert body == get(s3, assets.NOT_FOUND_KEY)
    assert error_page(s3, BUCKET, 502) == ({"Content-Type": "text/plain; charset=utf-8"}, b"")
