"""The pages' stylesheet and script, and the 404 page: static objects under `-/static/`.

The pages run under a Content-Security-Policy without inline script or style, so their CSS and
JavaScript are files of their own, served by the edge at ``/-/static/<name>`` (``-`` cannot
begin a PEP 508 name, so no project folder can clash).  Their names carry a hash of their
content: a page always loads the asset it was written with, each asset caches for a year, and
an old page still finds its old asset after an upgrade (assets are never deleted).

`-/static/404.html` is the page CloudFront shows for a missing object (its custom error
response, `infra.wiring.ERROR_PAGES`); it fetches the page without running the viewer-request
function, and the local stand-in does the same.  Its name is fixed, so it is not immutable.

The indexer writes these objects when the root index does not yet name this `VERSION`
(`indexer.build.Indexer.update_root`), so the steady state costs no request.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from functools import cache
from importlib import resources

STATIC_FOLDER = "-"
STATIC_PREFIX = "-/static/"
NOT_FOUND_KEY = STATIC_PREFIX + "404.html"
IMMUTABLE = "public, max-age=31536000, immutable"
_SOURCES = {"pypi-edge.css": "text/css; charset=utf-8", "pypi-edge.js": "text/javascript; charset=utf-8"}


@dataclass(frozen=True)
class Asset:
    key: str  # bucket key, "-/static/<stem>.<hash>.<ext>"
    body: bytes
    content_type: str

    @property
    def url(self) -> str:
        return "/" + self.key  # pages link assets from the site root (the index always is one)


@cache
def assets() -> dict[str, Asset]:
    """The content-hashed assets, by source name ("pypi-edge.css", "pypi-edge.js")."""
    out = {}
    for name, content_type in _SOURCES.items():
        body = resources.files("indexer").joinpath("static", name).read_bytes()
        stem, _, ext = name.rpartition(".")
        digest = hashlib.sha256(body).hexdigest()[:12]
        out[name] = Asset(f"{STATIC_PREFIX}{stem}.{digest}.{ext}", body, content_type)
    return out


def css_url() -> str:
    return assets()["pypi-edge.css"].url


def js_url() -> str:
    return assets()["pypi-edge.js"].url


def version(*pages: bytes) -> str:
    """What the root index remembers having written: the asset names and the given pages' hash."""
    digest = hashlib.sha256(b"".join(pages)).hexdigest()[:12]
    return ",".join(sorted(a.key for a in assets().values())) + f",404:{digest}"
