"""Faithful re-implementations of how two other S3-backed indexes maintain their pages.

Re-implemented here, not imported: neither is a dependency of this project, and the bench
only needs their S3 request pattern and the work they do per request, run side by side with
ours on the same moto bucket. Each function makes the same S3 calls, in the same order and
with the same paginators, as the source it cites; only logging and HTTP framing are left out.

serverless-pypi — github.com/amancevice/terraform-aws-serverless-pypi, `python/index.py`
(commit 1b6df0150c33a30c5acae967864149064cf99e62; the same algorithm as the older top-level
`index.py`) and `main.tf`:
  * `reindex_bucket` is a Lambda that S3 invokes directly (aws_s3_bucket_notification,
    events ObjectCreated:* and ObjectRemoved:*, filter_suffix ".tar.gz") for every upload.
    It paginates `list_objects` (v1; see below) over the whole bucket with Delimiter="/", turns every
    CommonPrefix into an anchor with `string.Template`, and PUTs `index.html`. No read of the
    old page, no condition: a list of the whole bucket and a rewrite of the root per upload.
  * Project pages are not stored: `get_package_index(name)`, behind API Gateway, paginates
    `list_objects(Prefix=f"{name}/")` on every request and presigns every key (a local
    computation, no request); `get_index` GETs `index.html`.

s3pypi — github.com/gorilla-co/s3pypi, `s3pypi/core.py` (`upload_packages`) and
`s3pypi/storage.py` (`S3Storage.locked_index`, `list_directories`, `put_index`), the 2.x
version with DynamoDB locks. It runs in the publisher's CLI, not in a Lambda. Per upload of a
project's files: under a DynamoDB lock, GET `<project>/index.html`, PUT each distribution,
PUT the page back; with `--put-root-index`, under a second lock, GET the root `index.html`,
list the whole bucket with `list_objects_v2` Delimiter="/", PUT the root. We use its
`--index.html` key layout (`<project>/index.html`), the one our SPEC's bucket layout shares.
The four DynamoDB lock calls (put/delete item, twice) are not S3 requests and not counted.

One substitution: serverless-pypi paginates `list_objects` (v1). S3 pages v1 and v2 alike (at
most 1 000 keys plus common prefixes per response), but moto 5.2.5 truncates only the keys of
a v1 response and returns every CommonPrefix in one page, which would under-count its LISTs
here; so we page with `list_objects_v2`, which moto pages as S3 pages both.
"""

from __future__ import annotations

import html
import re
from string import Template
from typing import Any

# serverless-pypi's page template and anchor, whitespace-collapsed as its MiniTemplate does.
_SP_ANCHOR = Template('<a href="$href">$name</a><br>')
_SP_INDEX = Template(
    '<!DOCTYPE html><html><head><meta name="pypi:repository-version" content="1.0">'
    "<title>$title</title></head><body><h1>$title</h1>$anchors</body></html>"
)


def serverless_pypi_reindex(s3: Any, bucket: str) -> None:
    """serverless-pypi's `reindex_bucket`: runs once per uploaded (or removed) sdist."""
    pages = s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Delimiter="/")
    packages = (p["Prefix"].strip("/") for page in pages for p in page.get("CommonPrefixes", []))
    anchors = "".join(_SP_ANCHOR.safe_substitute(href=p, name=p) for p in packages)
    body = _SP_INDEX.safe_substitute(title="Simple index", anchors=anchors)
    s3.put_object(Bucket=bucket, Key="index.html", Body=body.encode())


def serverless_pypi_project_page(s3: Any, bucket: str, name: str) -> str:
    """serverless-pypi's `get_package_index`: runs on every request for a project page."""
    pages = s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=f"{name}/")
    keys = [obj["Key"] for page in pages for obj in page.get("Contents") or []]
    hrefs = [
        s3.generate_presigned_url(
            "get_object", ExpiresIn=900, HttpMethod="GET", Params={"Bucket": bucket, "Key": key}
        )
        for key in keys
    ]
    anchors = "".join(
        _SP_ANCHOR.safe_substitute(href=href, name=key.rsplit("/", 1)[-1])
        for href, key in zip(hrefs, keys, strict=True)
    )
    return _SP_INDEX.safe_substitute(title=f"Links for {name}", anchors=anchors)


# s3pypi's Index: a PEP 503 page of anchors, parsed back from the HTML it wrote before.
_S3PYPI_LINK = re.compile(r'<a href="([^"#]+)(?:#([^"]*))?">')


def _s3pypi_parse(body: bytes | None) -> dict[str, str | None]:
    if body is None:
        return {}
    return {html.unescape(href): frag for href, frag in _S3PYPI_LINK.findall(body.decode())}


def _s3pypi_html(filenames: dict[str, str | None]) -> bytes:
    links = "".join(
        f'<a href="{html.escape(name)}{"#" + frag if frag else ""}">{html.escape(name.rstrip("/"))}</a><br>\n'
        for name, frag in sorted(filenames.items())
    )
    return f"<!DOCTYPE html><html><body>\n{links}</body></html>\n".encode()


def _s3pypi_get(s3: Any, bucket: str, key: str) -> bytes | None:
    try:
        return s3.get_object(Bucket=bucket, Key=key)["Body"].read()
    except s3.exceptions.NoSuchKey:
        return None


def _s3pypi_put(s3: Any, bucket: str, key: str, body: bytes) -> None:
    s3.put_object(
        Bucket=bucket,
        Key=key,
        Body=body,
        ContentType="text/html",
        CacheControl="public, must-revalidate, proxy-revalidate, max-age=0",
    )


def s3pypi_index_upload(s3: Any, bucket: str, project: str, filename: str, sha256: str) -> None:
    """s3pypi's `upload_packages` with `--put-root-index`, minus the distribution's own PUT.

    The caller has uploaded `<project>/<filename>` already (as every index's publisher does);
    this is the index maintenance s3pypi does around it.
    """
    page_key = f"{project}/index.html"
    page = _s3pypi_parse(_s3pypi_get(s3, bucket, page_key))
    page[filename] = f"sha256={sha256}"
    _s3pypi_put(s3, bucket, page_key, _s3pypi_html(page))

    # locked_index reads the root page; upload_packages then replaces its list whole.
    _s3pypi_parse(_s3pypi_get(s3, bucket, "index.html"))
    pages = s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Delimiter="/", Prefix="")
    root: dict[str, str | None] = dict.fromkeys(p["Prefix"] for p in pages.search("CommonPrefixes") if p)
    _s3pypi_put(s3, bucket, "index.html", _s3pypi_html(root))
