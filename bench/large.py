"""Large indexes: a project with thousands of files, and a root with tens of thousands of projects.

* **Rebuilds** run the real indexer on moto's in-process S3 (`bench.indexing.moto_bucket`), S3
  requests counted exactly: the project page after one more upload to a project of `files`
  files, and the root after a new project appears in an index of N projects (the root is a
  read-modify-write of `index.json`; nothing lists the bucket).
* **Fetches** serve the pages those rebuilds wrote through the real path: the objects, with the
  headers the indexer gave them, copied into a local stack's bucket and read through the
  CloudFront stand-in (edge function, Basic auth) behind the bench's link, which gzips HTML as
  CloudFront does when the client asks (`bench.link`). Bytes are as sent; each fetch opens a new
  connection (a user's first request pays the handshake round trip).
"""

from __future__ import annotations

import http.client
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from bench.indexing import BUCKET, SUMMARY, Cost, measure, moto_bucket
from bench.link import Shape, ShapingProxy
from bench.report import median, timed
from bench.servers import basic, local_stack
from indexer import render
from indexer.build import Indexer
from indexer.model import ProjectEntry, ProjectList
from indexer.store import HTML, JSON, Bucket
from local import aws
from tests.distributions import make_wheel

BIG = "bigproject"
ACCEPT = {"HTML": "text/html", "JSON": "application/vnd.pypi.simple.v1+json"}
PAGE_HEADERS = ("ContentType", "ContentEncoding", "CacheControl")


@dataclass(frozen=True)
class Page:
    label: str  # "project page, 2,000 files" / "root, 10,000 projects"
    uri: str  # what the client asks for
    key_prefix: str  # where its objects live ("" for the root)
    objects: dict[str, tuple[bytes, dict[str, str]]]  # key -> (body, S3 headers), as written


@dataclass(frozen=True)
class Fetch:
    label: str
    format: str  # HTML or JSON
    link: str
    stored_bytes: int  # the object as stored (possibly pre-compressed)
    sent_bytes: int  # the body on the wire
    encoding: str  # Content-Encoding as sent, or "identity"
    seconds: float  # median


@dataclass(frozen=True)
class Large:
    files: int
    roots: tuple[int, ...]
    project_rebuild: Cost  # one upload to the big project
    root_rebuilds: list[tuple[int, Cost]]  # a new project in an index of N projects
    fetches: list[Fetch]


def _objects(s3: Any, keys: Sequence[str]) -> dict[str, tuple[bytes, dict[str, str]]]:
    out = {}
    for key in keys:
        obj = s3.get_object(Bucket=BUCKET, Key=key)
        out[key] = (obj["Body"].read(), {h: obj[h] for h in PAGE_HEADERS if obj.get(h)})
    return out


def big_project(files: int, runs: int) -> tuple[Cost, Page]:
    """A project of `files` wheels (one per version), indexed; then one more upload, rebuilt."""
    with moto_bucket() as s3:
        for i in range(files):
            filename, data, _ = make_wheel(BIG, f"1.0.{i}", summary=SUMMARY)
            s3.put_object(Bucket=BUCKET, Key=f"{BIG}/{filename}", Body=data)
        ix = Indexer(Bucket(s3, BUCKET))
        ix.rebuild(BIG)

        def upload(run: int) -> None:
            filename, data, _ = make_wheel(BIG, f"2.0.{run}", summary=SUMMARY)
            s3.put_object(Bucket=BUCKET, Key=f"{BIG}/{filename}", Body=data)

        cost = measure(s3, runs, upload, lambda: ix.rebuild(BIG))
        label = f"project page, {files + runs:,} files"
        page = Page(
            label, f"/simple/{BIG}/", f"{BIG}/", _objects(s3, [f"{BIG}/index.html", f"{BIG}/index.json"])
        )
    return cost, page


def big_root(projects: int, runs: int) -> tuple[Cost, Page]:
    """A root listing `projects` projects; then a new project appears (the root is rewritten)."""
    with moto_bucket() as s3:
        bucket = Bucket(s3, BUCKET)
        root = ProjectList(
            tuple(ProjectEntry(f"p{i:05d}", "1.0", SUMMARY, 1) for i in range(projects)), serial=1
        )
        bucket.put("index.html", render.root_html(root), HTML, bucket.page_cache_control)
        bucket.put("index.json", render.root_json(root), JSON, bucket.page_cache_control)
        ix = Indexer(bucket)

        def upload(run: int) -> None:
            filename, data, _ = make_wheel(f"newproject{run}", "1.0", summary=SUMMARY)
            s3.put_object(Bucket=BUCKET, Key=f"newproject{run}/{filename}", Body=data)

        names = iter(range(runs))
        cost = measure(s3, runs, upload, lambda: ix.rebuild(f"newproject{next(names)}"))
        page = Page(
            f"root, {projects + runs:,} projects", "/simple/", "", _objects(s3, ["index.html", "index.json"])
        )
    return cost, page


def fetch_times(pages: Sequence[Page], links: Sequence[Shape], runs: int) -> list[Fetch]:
    """Each page, HTML and JSON, fetched with `Accept-Encoding: gzip` through each link."""
    fetches = []
    with local_stack() as stack:
        s3 = aws.client("s3", stack.s3_endpoint)
        with ShapingProxy((stack.host, stack.port), cloudfront_compression=True) as proxy:
            for page in pages:  # one at a time: the roots share their keys
                for key, (body, headers) in page.objects.items():
                    s3.put_object(Bucket=stack.bucket, Key=key, Body=body, **headers)
                cache = getattr(stack, "cache", None)  # the CloudFront stand-in's cache, if any
                if cache is not None:
                    cache.invalidate(["/*"])  # as the indexer does after writing pages
                for link in links:
                    proxy.set_shape(link)
                    for fmt, accept in ACCEPT.items():
                        stored = len(page.objects[f"{page.key_prefix}index.{fmt.lower()}"][0])
                        fetches.append(_fetch(proxy, page, fmt, accept, stored, link, runs))
    return fetches


def _fetch(
    proxy: ShapingProxy, page: Page, fmt: str, accept: str, stored: int, link: Shape, runs: int
) -> Fetch:
    times, seen = [], set()
    for _ in range(runs):
        proxy.reset()
        got: list[str] = []
        times.append(timed(lambda got=got: got.append(_get(proxy, page.uri, accept))))
        seen.add((proxy.reset().body_bytes_down, got[0]))
    if len(seen) != 1:
        raise AssertionError(f"{page.label} {fmt}: bytes varied between fetches: {seen}")
    sent, encoding_sent = seen.pop()
    return Fetch(page.label, fmt, link.name, stored, sent, encoding_sent, median(times))


def _get(proxy: ShapingProxy, uri: str, accept: str) -> str:
    conn = http.client.HTTPConnection("127.0.0.1", proxy.server_address[1], timeout=60)
    try:
        conn.request(
            "GET", uri, headers={"Accept": accept, "Accept-Encoding": "gzip", "Authorization": basic()}
        )
        resp = conn.getresponse()
        resp.read()
        if resp.status != 200:
            raise RuntimeError(f"GET {uri}: {resp.status}")
        return resp.getheader("Content-Encoding") or "identity"
    finally:
        conn.close()


def large(files: int, roots: Sequence[int], links: Sequence[Shape], runs: int, fetch_runs: int) -> Large:
    project_cost, project_page = big_project(files, runs)
    root_costs, pages = [], [project_page]
    for n in roots:
        cost, page = big_root(n, runs)
        root_costs.append((n, cost))
        pages.append(page)
    return Large(files, tuple(roots), project_cost, root_costs, fetch_times(pages, links, fetch_runs))
