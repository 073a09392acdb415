"""The origin-response function of pypi-edge: a missing project page goes to the fallback index.

Opt-in (`fallbackIndexUrl`, off by default).  CloudFront runs this function when the S3 origin
answers a cache miss, before it caches the answer ("Origin response: the function executes after
CloudFront receives a response from the origin and before it caches the object in the response",
CloudFront Developer Guide, "CloudFront events that can trigger a Lambda@Edge function").  The
viewer-request function has already rewritten ``/simple/<project>/`` and ``/<project>/`` to
``/<project>/index.html`` or ``/<project>/index.json``; when S3 says that object does not exist
(404, or 403 for a reader that may not list), this function replaces the answer with a redirect
to ``<fallback>/<project>/`` ("Change the status ... to redirect the user to another website when
an origin returns an error status code (4xx or 5xx)", Developer Guide, "Update HTTP responses in
origin response triggers").  So the "does it exist" answer is S3's own, for one GET the cache
was going to make anyway: no per-request LIST, and the pages stay static.

* Only project pages are redirected, never files (``<project>/<file>`` stays a 404: a
  distribution comes from where its page lives), and never the root list.
* A project this index has is never redirected: its page exists, S3 answers 200 and this
  function passes the response through untouched.
* 307 Temporary Redirect, with ``Cache-Control: max-age=<cacheSeconds>`` (default 60): CloudFront
  and clients may reuse it for that long, and no longer.  A permanent redirect (301/308) is
  cached by clients without a bound (pip's vendored CacheControl stores 301/308 and answers
  them later "ignoring date and etag information", controller.py), so a project
  published here later would keep being fetched from the fallback on those machines: the
  dependency confusion the fallback must never cause.  307 rather than 302: the same for GET,
  and HEAD stays HEAD by definition (RFC 9110 section 15.4.8).
* The redirect carries no query string and no format: clients send their ``Accept`` header
  again to the new location, so pip, uv and poetry negotiate PEP 691 JSON or PEP 503 HTML with
  the fallback index itself.

Configuration.  Lambda@Edge functions cannot have environment variables (Developer Guide,
"Restrictions on Lambda@Edge": "Environment variables aren't supported"), so, like the
credentials of the viewer-request function, the configuration is a file: ``fallback.json`` next
to this module in the deployed bundle, or the file named by ``$PYPI_EDGE_FALLBACK`` (local
stack, tests).  ``{"fallbackIndexUrl": "https://pypi.org/simple/", "cacheSeconds": 60}``; a
missing file or an empty URL turns the function into a pass-through.  Standard library only.
"""

from __future__ import annotations

import json
import os
import re
import sys

ENV_VAR = "PYPI_EDGE_FALLBACK"
FILE_NAME = "fallback.json"
DEFAULT_CACHE_SECONDS = 60
# The keys the viewer-request function rewrites project pages to (PEP 503 normalized names).
_PROJECT_PAGE = re.compile(r"/([a-z0-9]+(?:-[a-z0-9]+)*)/index\.(?:html|json)")
_MISSING = frozenset({"403", "404"})

_url = ""  # the fallback index, ending in "/"; "" = off
_cache_control = f"max-age={DEFAULT_CACHE_SECONDS}"


def render_file(url: str | None, cache_seconds: int = DEFAULT_CACHE_SECONDS) -> bytes:
    """The configuration file the deploy bundles and the local stack writes (one writer)."""
    return (
        json.dumps({"fallbackIndexUrl": validate_url(url) if url else "", "cacheSeconds": cache_seconds})
        + "\n"
    ).encode()


def validate_url(url: str) -> str:
    """The fallback index URL with one trailing slash; ValueError for anything but http(s)://host/...

    Credentials in the URL are refused: the redirect would hand them to every viewer.
    """
    if not re.fullmatch(r"https?://[^/@\s?#]+(/[^\s?#]*)?", url or ""):
        raise ValueError(f"fallbackIndexUrl must be an http(s) URL without credentials or query, got {url!r}")
    return url.rstrip("/") + "/"


def configure(raw: bytes | str | None) -> None:
    """Install a configuration file's bytes; None (or an empty URL) turns the fallback off."""
    global _url, _cache_control
    _url, _cache_control = "", f"max-age={DEFAULT_CACHE_SECONDS}"
    if raw is None:
        return
    doc = json.loads(raw)
    url = doc.get("fallbackIndexUrl") or ""
    seconds = int(doc.get("cacheSeconds", DEFAULT_CACHE_SECONDS))
    if seconds < 0:
        raise ValueError("cacheSeconds must not be negative")
    _url = validate_url(url) if url else ""
    _cache_control = f"max-age={seconds}"


def reload() -> bool:
    """Read the configuration from ``$PYPI_EDGE_FALLBACK`` or the bundled file; never raises.

    Returns whether the fallback is on.  An unreadable or invalid file leaves it off (a missing
    project stays a 404, exactly as without the feature) and says why on stderr.
    """
    path = os.environ.get(ENV_VAR) or os.path.join(os.path.dirname(__file__), FILE_NAME)
    try:
        with open(path, "rb") as f:
            configure(f.read())
    except FileNotFoundError:
        configure(None)
    except (OSError, ValueError, TypeError, AttributeError) as exc:
        configure(None)
        print(f"pypi-edge: unusable fallback configuration at {path} ({exc}); fallback off", file=sys.stderr)
    return bool(_url)


def location(uri: str, status: str) -> str | None:
    """Where a response with `status` for origin `uri` is redirected, or None to pass it through."""
    if not _url or status not in _MISSING:
        return None
    match = _PROJECT_PAGE.fullmatch(uri)
    return f"{_url}{match.group(1)}/" if match else None


def handler(event: dict, context: object = None) -> dict:
    """Lambda@Edge origin-response entry point: the origin's response, or that response made a redirect.

    The redirect is the origin's response changed in place, never a new one: every header the
    function does not set is kept.  Transfer-Encoding and Via are read-only for origin-response
    events ("functions can read them but can't add, modify, or delete them", Developer Guide,
    "Restrictions on all edge functions"), and S3 sends its error documents chunked, so a fresh
    header map would delete Transfer-Encoding and CloudFront would answer 502 instead of the
    redirect.  AWS's own origin-response examples change ``response["status"]`` and the headers
    they need and return the same object (Developer Guide, "Update HTTP responses in origin
    response triggers").  The body is replaced ("You can generate a static content body by
    setting it to the desired value", ibid.), so the Content-Length that described S3's error
    document goes (deleting it is allowed: it is not read-only here).
    """
    cf = event["Records"][0]["cf"]
    response = cf["response"]
    target = location(cf["request"]["uri"], str(response.get("status", "")))
    if target is None:
        return response
    headers = response.setdefault("headers", {})
    headers.pop("content-length", None)
    headers["location"] = [{"key": "Location", "value": target}]
    headers["cache-control"] = [{"key": "Cache-Control", "value": _cache_control}]
    headers["content-type"] = [{"key": "Content-Type", "value": "text/plain; charset=utf-8"}]
    response["status"] = "307"
    response["statusDescription"] = "Temporary Redirect"
    response["body"] = f"Not on this index; see {target}\n"
    response["bodyEncoding"] = "text"
    return response


reload()
