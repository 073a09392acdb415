"""The pages' own scripts and styles: the files in indexer/static/, served at ``/-/static/<name>``.

The pages carry a strict Content-Security-Policy (``script-src 'self'; style-src 'self'``, no
inline code; infra/wiring.py), so what they need lives here as files.  Each is stored in the
bucket under ``-/static/<stem>.<hash>.<ext>``: named by its content, so it never changes and
is cached for a year, and pages written by an older indexer keep the assets they name (nothing
ever deletes one).  "-" cannot start a PEP 508 name, so no project folder is ever called that;
the viewer-request function serves ``/-/static/<name>`` and nothing else from it.

``-/static/404.html`` is the page CloudFront shows for a missing object (its custom error
response, `infra.wiring.ERROR_PAGES`; rendered from templates/404.html); CloudFront fetches it
without running the viewer-request function, and the local stand-in does the same.  Its name is
fixed, so it is not immutable, and `init` rewrites it when it differs.

Who writes them: the indexer's ``init`` action (`indexer.build.Indexer.init`), which the Pulumi
program invokes on every deploy that changes the indexer's code and the local stack runs at
start; each is a conditional PUT (``If-None-Match: *``), so an existing asset is never rewritten.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from functools import cache
from pathlib import Path

STATIC_DIR = Path(__file__).parent / "static"
FOLDER = "-"  # the bucket's folder for things that are not projects
KEY_PREFIX = f"{FOLDER}/static/"
URL_PREFIX = "/" + KEY_PREFIX
NOT_FOUND_KEY = KEY_PREFIX + "404.html"
# The suffixes the viewer-request function serves under /-/static/ (edge/handler.py, _STATIC_NAME).
CONTENT_TYPES = {
    ".css": "text/css; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",  # RFC 9239
    ".svg": "image/svg+xml",
    ".png": "image/png",
    ".ico": "image/x-icon",
    ".woff2": "font/woff2",
}


@dataclass(frozen=True)
class Asset:
    name: str  # the file's name in indexer/static/
    filename: str  # <stem>.<first 16 hex digits of its SHA-256>.<ext>
    body: bytes
    content_type: str

    @property
    def key(self) -> str:
        return KEY_PREFIX + self.filename

    @property
    def url(self) -> str:
        return URL_PREFIX + self.filename


def asset(path: Path) -> Asset:
    body = path.read_bytes()
    stem, suffix = path.name.split(".", 1)[0], path.suffix
    digest = hashlib.sha256(body).hexdigest()[:16]
    return Asset(path.name, f"{stem}.{digest}{suffix}", body, CONTENT_TYPES[suffix])


@cache
def assets() -> dict[str, Asset]:
    """Every file in indexer/static/, by its name there."""
    return {p.name: asset(p) for p in sorted(STATIC_DIR.iterdir()) if p.suffix in CONTENT_TYPES}


def url(name: str) -> str:
    """The URL a page uses for the static file `name` (KeyError for a file that does not exist)."""
    return assets()[name].url


def css_url() -> str:
    return url("pypi-edge.css")


def js_url() -> str:
    return url("pypi-edge.js")
