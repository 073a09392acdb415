"""The viewer-request function of pypi-edge: HTTP Basic auth, then the URL map of SPEC.md.

CloudFront calls `handler(event, context)` for every viewer request, before its cache.  The
function answers in one of two ways:

* it returns the (modified) request, which CloudFront looks up in its cache and otherwise
  fetches from the S3 origin: ``uri`` rewritten to a canonically percent-encoded bucket key,
  ``querystring`` emptied and the ``authorization`` header removed; or
* it returns a generated response, which CloudFront sends to the viewer as is and never
  caches: ``{"status": "401", "statusDescription": "Unauthorized", "headers": {"www-authenticate":
  [{"key": "WWW-Authenticate", "value": ...}], ...}, "body": "...", "bodyEncoding": "text"}``.
  Header names are CloudFront's lower-case keys with ``[{key, value}]`` lists.  Generated
  responses set none of the headers CloudFront disallows or keeps read-only (`FORBIDDEN_HEADERS`:
  no ``content-length``, ``transfer-encoding``, ``connection``, ``via``, ...); CloudFront
  computes the framing itself.

Public functions (all pure apart from the credentials state):

* `handler(event, context)` -- the Lambda entry point.
* `parse_basic_auth(value) -> (user, password) | None` -- RFC 7617 parsing.
* `verify(value) -> bool` -- checks an ``Authorization`` header value, with the warm cache.
* `route(method, uri, querystring, accept) -> str | dict` -- the URL map: a rewritten URI
  (str) or a generated response (dict).  It assumes the viewer is already authenticated.
* `decode_path(uri) -> str | None` -- the path, or None for a 400 (see below).
* `json_variant(uri, accept_encoding) -> str` -- the stored copy of a JSON page to serve.
* `negotiate(accept) -> "json" | "html" | None` -- PEP 691 content negotiation.
* `configure(raw)` / `reload()` -- (re)load the credentials (see below).

Credentials.  At import the module reads the file named by the environment variable
``PYPI_EDGE_CREDENTIALS`` if it is set (local stack, tests), else ``credentials.json`` next to
this file (the deployed bundle, which has edge/*.py at the zip root and the handler
"handler.handler"; Lambda@Edge has no environment variables).  `reload()` reads
the same place again; `configure(raw_bytes)` installs the bytes of a credentials file directly
(tests), and `configure(None)` removes all credentials.  Both clear the verified-header cache.
A missing, unreadable or invalid file leaves the function with no users: every request gets
401 ("fail closed"), never an exception.

Decisions a reviewer should know:

* The path is checked before anything else (`decode_path`): a path that CloudFront's own
  normalization could read differently (dot segments, ``//``, needless or separator-hiding
  escapes) is a 400 for everyone, so no spelling can reach an exemption or another behaviour.
  Then only the exact paths `guard.EXEMPT_ROUTES` (``/legacy/``, ``/legacy``, three under
  ``/_/oidc/`` and the CLI's six under ``/_/cli/``) go to the upload function without Basic
  auth, after the cross-site check (`guard.cross_site_refusal`, 403) and the size check (413);
  everything else authenticates
  first, so 405/301/404/406 are only ever seen by authenticated viewers and a stranger learns
  nothing about which paths exist.
* Every method reaches this function (all cache behaviours allow CloudFront's full set, so its
  own 403 "not configured to allow the HTTP request method" never answers a user): a method
  other than GET or HEAD is answered here, 405 with the absolute upload URL (`upload_url`), and
  is never forwarded to S3; only the exact upload routes forward other methods, to the upload
  function's behaviours.
* Warm requests skip the slow hash: a bounded (`CACHE_SIZE`) FIFO of SHA-256 digests of
  header values that verified.  Only successes enter it.  An unknown user pays one slow hash
  against a dummy entry, exactly like a known user with a wrong password.
* The incoming URI is percent-decoded exactly once, validated, and re-encoded with
  ``quote(..., safe="/")``, so ``+`` becomes ``%2B`` (S3 would read a literal ``+`` as a
  space) and the key S3 sees is the one validated here (`decode_path` lists the 400s).
* Project names are PEP 508 names; a non-normalized one (PEP 503) is answered with a 301 to the
  normalized name, for project pages *and* for file URLs (``/simple/Foo_Bar/x.whl`` ->
  ``/simple/foo-bar/x.whl``), so every object has one URL and one cache entry.  Redirects keep
  the query string.  Anything that is not the root index, a project page or
  ``<project>/<file>`` is a 404 generated here, as are bookkeeping keys (last segment starting
  with ``.`` or ``_``, and ``*.yanked`` markers); ``*.metadata`` (PEP 658) passes.
* The query string is consumed here (``?format=``, PEP 691) and never forwarded, so S3
  sub-resources such as ``?versionId=`` or ``?acl`` cannot be reached through the CDN.
* Content negotiation happens before the cache (the URI is rewritten to ``index.json`` or
  ``index.html``), so the cache key needs no ``Accept``; the same for the encoding of JSON
  pages (`json_variant`: ``index.json`` is stored gzip-encoded, ``index.identity.json`` plain
  for clients that do not accept gzip).  Browsers and pip still need ``Vary: Accept,
  Accept-Encoding``, which the response headers policy adds (infra/wiring.py).
* Generated responses carry their own strict Content-Security-Policy (`GENERATED_CSP`): only
  the `PAGE_STYLE` block, by its hash.
"""

from __future__ import annotations

import base64
import hashlib
import os
import re
import string
import sys
from functools import lru_cache
from urllib.parse import quote, unquote, unquote_to_bytes

try:
    from edge import credentials as _credentials
    from edge import guard
    from edge import userpool as _userpool
except ImportError:
    # The deployed bundle has edge/*.py at the zip root (Lambda handler "handler.handler").
    import credentials as _credentials  # type: ignore[no-redef]
    import guard  # type: ignore[no-redef]
    import userpool as _userpool  # type: ignore[no-redef]

ENV_VAR = "PYPI_EDGE_CREDENTIALS"
DEFAULT_REALM = "pypi-edge"
# The longest request path accepted, in bytes as received (percent-encoded).  S3 keys are at
# most 1024 bytes, and a key is never longer than the URI that names it.
MAX_URI_BYTES = 1024
MAX_QUERY_BYTES = 1024
MAX_AUTHORIZATION_BYTES = _credentials.MAX_AUTHORIZATION_BYTES

# The upload endpoint (SPEC.md): its own CloudFront behaviours, origin = the upload function's URL.
# Only the exact paths `guard.EXEMPT_ROUTES` skip Basic auth here; every other path under these
# prefixes is a 404 (behind Basic auth), so nothing else ever reaches the upload origin.
UPLOAD_PREFIXES = ("/legacy/", "/_/")
ORIGIN_SECRET_HEADER = "x-pypi-edge-origin-secret"  # set by CloudFront for the upload origin only
# The largest upload request body (multipart form, as Content-Length counts it) the function URL
# can take.  A function URL passes the request to Lambda as a synchronous Invoke, whose payload
# (the whole JSON event) is at most 6 MB (Lambda Developer Guide, "Lambda quotas": invocation
# payload 6 MB; "Invoking Lambda function URLs": a binary body arrives base64-encoded).  Counted
# as 6,000,000 bytes, not 6 MiB, to stay on the safe side; minus room for the rest of the event:
# the forwarded headers (CloudFront caps all request headers at 20,480 bytes, "Quotas on
# headers", CloudFront Developer Guide) and 2,048 bytes for requestContext and the JSON keys.
# Base64 turns 3 bytes into 4.  (6,000,000 - 20,480 - 2,048) * 3 // 4 = 4,483,104 bytes.
MAX_UPLOAD_BODY_BYTES = (6_000_000 - 20_480 - 2_048) * 3 // 4
CACHE_SIZE = _credentials.CACHE_SIZE

# Headers a Lambda@Edge function must not add to a generated viewer-request response:
# CloudFront's disallowed headers and the read-only ones for viewer-request events (CloudFront
# Developer Guide, "Restrictions on all edge functions" / "Restrictions on Lambda@Edge").
# Adding one makes CloudFront answer 502.  The tests check every generated response against it.
FORBIDDEN_HEADERS = frozenset(
    {
        "connection",
        "expect",
        "keep-alive",
        "proxy-authenticate",
        "proxy-authorization",
        "proxy-connection",
        "trailer",
        "upgrade",
        "x-accel-buffering",
        "x-accel-charset",
        "x-accel-limit-rate",
        "x-accel-redirect",
        "x-cache",
        "x-forwarded-proto",
        "x-real-ip",
        # read-only for viewer-request events
        "content-length",
        "host",
        "transfer-encoding",
        "via",
    }
)
FORBIDDEN_HEADER_PREFIXES = ("x-amz-cf-", "x-amzn-", "x-edge-")

Response = dict  # a CloudFront generated response: {"status", "statusDescription", "headers", ...}

# --------------------------------------------------------------------------------------------
# Credentials state: one Verifier (edge.credentials), its caches exposed for the tests.

_verifier = _credentials.Verifier(CACHE_SIZE)
_cache = _verifier.cache  # digests of header values that verified
_rejected = _verifier.rejected  # digests of well-formed header values that did not
_realm = DEFAULT_REALM
_www_authenticate = ""


def configure(raw: bytes | str | None) -> None:
    """Install the credentials file `raw` (the output of `credentials.render_file`).

    ``None`` removes every user, so all requests get 401.  Invalid content raises
    `ValueError` and also leaves the function with no users (fail closed).  Clears the caches.
    """
    global _realm, _www_authenticate
    _realm = DEFAULT_REALM
    try:
        _verifier.configure(raw)
    finally:
        _realm = _verifier.realm or DEFAULT_REALM
        _www_authenticate = _credentials.challenge(_realm)


def configure_pool(raw: bytes | str | None, authenticate: _userpool.Authenticate | None = None) -> None:
    """Install the user pool file `raw` (`userpool.render_file`'s output); None: no pool.

    Invalid content raises `ValueError` and leaves a pool that answers every check with 503
    (`userpool.Broken`): static users keep working, nobody else passes.  `authenticate` replaces
    the Cognito call (tests, the benchmark).
    """
    _verifier.pool = None
    if raw is None:
        return
    try:
        _verifier.pool = _userpool.PoolVerifier(_userpool.load(raw), authenticate)
    except ValueError as exc:
        _verifier.pool = _userpool.Broken(str(exc))
        raise


def credentials_path() -> str:
    """Where `reload` reads from: ``$PYPI_EDGE_CREDENTIALS``, else the bundled file."""
    return os.environ.get(ENV_VAR) or os.path.join(os.path.dirname(__file__), _credentials.FILE_NAME)


def reload() -> bool:
    """Read the credentials from `credentials_path()`; never raises.

    Returns whether users were loaded.  On any problem the function fails closed (no users)
    and says why on stderr (CloudWatch Logs, in Lambda).
    """
    path = credentials_path()
    try:
        with open(path, "rb") as f:
            configure(f.read())
    except (OSError, ValueError) as exc:
        configure(None)
        print(f"pypi-edge: no usable credentials at {path} ({exc}); every request gets 401", file=sys.stderr)
    pool_path = _userpool.path_next_to(__file__)
    try:
        configure_pool(_userpool.read_file(pool_path))
    except (OSError, ValueError) as exc:
        if not isinstance(_verifier.pool, _userpool.Broken):
            _verifier.pool = _userpool.Broken(str(exc))
        print(f"pypi-edge: unusable user pool file {pool_path} ({exc}); pool users get 503", file=sys.stderr)
    return bool(_verifier.users or _verifier.tokens or _verifier.pool)


# --------------------------------------------------------------------------------------------
# Authentication (RFC 7617)


parse_basic_auth = _credentials.parse_basic_auth


def verify(value: str | None) -> bool:
    """Whether `value` (an ``Authorization`` header value) proves a reader (every principal reads).

    `credentials.Verifier.verify`: warm path one SHA-256 and a dict lookup; cold path one slow
    hash, also for unknown users.  Minted trusted-publishing tokens only publish, so they are
    refused here (no minted verifier is passed).  With a user pool, names the static file does
    not know go to `userpool.PoolVerifier`, which may raise `userpool.Unavailable` (503) or
    `userpool.RateLimited` (429).
    """
    return _verifier.verify(value) is not None


# --------------------------------------------------------------------------------------------
# Generated responses

_HTML = "text/html; charset=utf-8"
_TEXT = "text/plain; charset=utf-8"  # upload clients (twine --verbose, uv) print the body as is

# The one inline thing the generated pages (401, 404, ...) have: their style, the index pages'
# colours, dark mode included, in as few bytes as will do (each 401 carries it).  Restyle them by
# changing this constant only; the policy below follows it.
PAGE_STYLE = (
    "body{margin:12vh auto;max-width:36em;padding:0 20px;font:16px/1.55 system-ui,sans-serif;"
    "color:#1b2230;background:#f6f7f9}a{color:#1f52bd}h1{font-size:26px}"
    "@media(prefers-color-scheme:dark){body{color:#e3e7ee;background:#0f131a}a{color:#8db1ff}}"
)


def generated_csp(style: str) -> str:
    """The Content-Security-Policy of a generated response whose only inline content is `style`.

    Nothing may load; only that `<style>` block applies, named by its SHA-256 (CSP Level 3,
    "hash-source": base64 of the digest of the element's text); no base, form or framing.
    """
    digest = base64.b64encode(hashlib.sha256(style.encode("utf-8")).digest()).decode("ascii")
    return (
        f"default-src 'none'; style-src 'sha256-{digest}'; img-src data:; base-uri 'none'; "
        "form-action 'none'; frame-ancestors 'none'"
    )


GENERATED_CSP = generated_csp(PAGE_STYLE)
# The response headers policy adds these to what the cache and the origins answer, not to a
# function's generated responses (local/cdn.py cites the guide), so the 401 a browser sees first
# would go without them: the same values as infra.wiring's policy (a test holds them equal).
HSTS = "max-age=63072000; includeSubDomains"


def _response(
    status: int, description: str, headers: dict[str, str], body: str = "", content_type: str = _HTML
) -> Response:
    """A CloudFront generated response; never caches (generated at viewer-request anyway).

    It carries its own Content-Security-Policy: the distribution's response headers policy adds
    the pages' policy only where a response has none (`infra.wiring`, override off).
    """
    all_headers = {
        "Cache-Control": "no-store",
        "X-Content-Type-Options": "nosniff",
        "Content-Security-Policy": GENERATED_CSP,
        "Strict-Transport-Security": HSTS,
        "X-Frame-Options": "DENY",
        **headers,
    }
    if body:
        all_headers["Content-Type"] = content_type
    response: Response = {
        "status": str(status),
        "statusDescription": description,
        "headers": {name.lower(): [{"key": name, "value": value}] for name, value in all_headers.items()},
    }
    if body:
        response["body"] = body
        response["bodyEncoding"] = "text"
    return response


def _page(title: str, text: str) -> str:
    return (
        f'<!doctype html><html lang="en"><meta charset="utf-8"><meta name="viewport" '
        f'content="width=device-width,initial-scale=1"><title>{title}</title><style>{PAGE_STYLE}</style>'
        f'<main><h1>{title}</h1><p>{text}</p><p><a href="/">Back to the package list</a></p></main>\n'
    )


def unauthorized() -> Response:
    """401 with the Basic challenge (RFC 7235 section 3.1; RFC 7617 section 2)."""
    return _response(
        401,
        "Unauthorized",
        {"WWW-Authenticate": _www_authenticate},
        _page("401 Unauthorized", "This package index needs a user name and password: reload to sign in."),
    )


def _unavailable() -> Response:
    """503: the user pool cannot answer, so credentials it would have to check cannot pass."""
    return _response(
        503,
        "Service Unavailable",
        {"Retry-After": str(_userpool.RETRY_AFTER_SECONDS)},
        _page("503 Service Unavailable", "The user store cannot be reached; try again in a few seconds."),
    )


def _rate_limited(retry_after: int) -> Response:
    """429 (RFC 6585 section 4): too many refused attempts for this user name in this location."""
    return _response(
        429,
        "Too Many Requests",
        {"Retry-After": str(retry_after)},
        _page("429 Too Many Requests", f"Too many failed sign-ins for this user; wait {retry_after} s."),
    )


def _bad_request() -> Response:
    return _response(
        400,
        "Bad Request",
        {},
        _page(
            "400 Bad Request",
            "Malformed request path: dot segments, empty segments (//), backslashes, control "
            "characters, encoded / \\ or %, and needlessly percent-encoded letters, digits or -._~ "
            "are refused.",
        ),
    )


def _forbidden(reason: str) -> Response:
    return _response(403, "Forbidden", {}, f"403 {reason}\n", _TEXT)


def _not_found() -> Response:
    return _response(404, "Not Found", {}, _page("404 Not Found", "No such project or file."))


def _method_not_allowed(upload: str = "/legacy/") -> Response:
    """405 for a write anywhere but the upload routes, saying where uploads go (`upload_url`).

    The common slip is ``twine upload --repository-url https://host/simple/``: one plain-text
    line that twine (--verbose), uv and poetry print as is.  RFC 9110 section 15.5.6: a 405
    lists the allowed methods.
    """
    return _response(
        405,
        "Method Not Allowed",
        {"Allow": "GET, HEAD"},
        f"405 This URL only serves GET and HEAD: upload to {upload}\n",
        _TEXT,
    )


# A Host value safe to repeat in a response: a DNS name or an IP literal, with an optional port.
_HOST = re.compile(
    r"(?:[A-Za-z0-9](?:[A-Za-z0-9.-]{0,251}[A-Za-z0-9])?|\[[0-9A-Fa-f:.]{2,45}\])(?::[0-9]{1,5})?"
)


def upload_url(host: str | None, forwarded_proto: str | None, distribution_domain: str | None) -> str:
    """The absolute upload URL for a viewer of this host: ``https://<host>/legacy/``.

    `host` is the viewer's Host header: CloudFront routes a request to this distribution by it
    (the distribution's own domain or one of its aliases), so it names the index as the viewer
    knows it, custom domain included.  Anything that is not a plain host name falls back to the
    distribution's domain (the event's ``config.distributionDomainName``).  The scheme is HTTPS:
    every behaviour redirects HTTP to HTTPS (or is https-only) before the function runs.  Only
    the local stand-in, which speaks plain HTTP, says so with ``CloudFront-Forwarded-Proto:
    http``, the header CloudFront uses for the viewer's protocol (local/cdn.py).
    """
    if host and _HOST.fullmatch(host):
        scheme = "http" if forwarded_proto == "http" else "https"
        return f"{scheme}://{host}/legacy/"
    if distribution_domain and _HOST.fullmatch(distribution_domain):
        return f"https://{distribution_domain}/legacy/"
    return "/legacy/"


def large_file_command(host: str | None) -> str:
    """The exact command that publishes a large file with index credentials (upload/remote.py)."""
    # The viewer's Host header, echoed only when it is a plain host name (as in `upload_url`).
    if not host or not _HOST.fullmatch(host):
        host = "<this index>"
    return f"pypi-edge upload --index-url https://{host}/ dist/*"


def _too_large(length: int, host: str | None) -> Response:
    return _response(
        413,
        "Payload Too Large",
        {},
        f"413 This upload is {length:,} bytes; the upload endpoint takes at most "
        f"{MAX_UPLOAD_BODY_BYTES:,} bytes per request (file plus form fields). Publish large files "
        f"with `{large_file_command(host)}` (your index user and password, or __token__ and a "
        "token; the file goes straight to S3, up to 5 GiB).\n",
        _TEXT,
    )


def _length_required() -> Response:
    return _response(
        411, "Length Required", {}, "411 Uploads must send Content-Length (twine, uv and poetry do).\n", _TEXT
    )


def _upload_bad_request() -> Response:
    return _response(400, "Bad Request", {}, "400 Malformed Content-Length.\n", _TEXT)


def _upload_method_not_allowed() -> Response:
    return _response(
        405,
        "Method Not Allowed",
        {"Allow": "POST"},
        "405 The upload endpoint takes POST (twine upload, uv publish, poetry publish).\n",
        _TEXT,
    )


def upload_request(request: dict) -> dict:
    """The exact upload routes (`guard.EXEMPT_ROUTES`): refuse a browser's request, check the
    size, then forward to the upload function untouched.

    A request carrying ``Origin`` or a ``Sec-Fetch-Site`` other than ``none`` comes from a web
    page, never from twine, uv or poetry: 403 before anything else (`guard.cross_site_refusal`;
    the upload function applies the same rule again).

    The request keeps its ``Authorization`` header: the upload function verifies it with the
    same credentials model (and the same file) as this function.  Why not 401 here as well?
    The function must check anyway (a function URL with AuthType NONE trusts nothing but its
    secret origin header), short-lived trusted-publishing tokens can only be verified there
    (their key is not in this bundle, and Lambda@Edge has no environment), and
    ``POST /_/oidc/mint-token`` carries an OIDC token instead of Basic credentials.  Checking
    here too would make every cold upload pay the slow hash twice for no gain in safety.  What
    the edge does instead is refuse a too-large body before one byte reaches the function:
    it sees ``Content-Length`` (CloudFront does not pass the body to viewer-request functions
    unless asked), and answers 413 with the way forward.
    """
    headers = request["headers"]
    # CloudFront overwrites a viewer-supplied custom origin header (CloudFront Developer Guide,
    # "Adding custom headers to origin requests"); dropping it here as well costs nothing.
    headers.pop(ORIGIN_SECRET_HEADER, None)
    refusal = guard.cross_site_refusal(_header(headers, "origin"), _header(headers, "sec-fetch-site"))
    if refusal is not None:
        return _forbidden(refusal)
    method = request["method"]
    if request["uri"] in guard.POST_ROUTES and method != "POST":
        return _upload_method_not_allowed()
    if method in ("POST", "PUT", "PATCH"):
        length = _header(headers, "content-length")
        if length is None:
            return _length_required()
        if not length.isdigit() or len(length) > 15:
            return _upload_bad_request()
        if int(length) > MAX_UPLOAD_BODY_BYTES:
            return _too_large(int(length), _header(headers, "host"))
    return request


def _not_acceptable() -> Response:
    return _response(
        406,
        "Not Acceptable",
        {},
        _page(
            "406 Not Acceptable",
            "Available: application/vnd.pypi.simple.v1+json, application/vnd.pypi.simple.v1+html,"
            " text/html (PEP 691).",
        ),
    )


def _redirect(path: str, querystring: str) -> Response:
    # The path is already canonical and percent-encoded; the query string is kept verbatim.
    location = f"{path}?{querystring}" if querystring else path
    return _response(301, "Moved Permanently", {"Location": location})


# --------------------------------------------------------------------------------------------
# Content negotiation (PEP 691, RFC 9110 section 12.5.1)

# What each index flavour can be served as.  `latest` aliases are PEP 691's.
_OFFERS: tuple[tuple[str, tuple[str, ...]], ...] = (
    # Server preference on ties: HTML first.  Clients that send no Accept or only */* (curl,
    # old pip/poetry) predate PEP 691 and understand only PEP 503 HTML; browsers list text/html.
    ("html", ("text/html", "application/vnd.pypi.simple.v1+html", "application/vnd.pypi.simple.latest+html")),
    ("json", ("application/vnd.pypi.simple.v1+json", "application/vnd.pypi.simple.latest+json")),
)
_QVALUE = re.compile(r"\s*[qQ]\s*=\s*([0-9.]{1,5})\s*")


def _parse_accept(accept: str) -> list[tuple[str, str, float]]:
    """``[(type, subtype, q)]`` from an Accept value; unparsable elements are skipped."""
    ranges = []
    for element in accept.split(","):
        media_range, *params = element.split(";")
        media_range = media_range.strip().lower()
        if not media_range:
            continue
        if media_range == "*":  # not RFC 9110, but sent by some old Java clients
            media_range = "*/*"
        type_, slash, subtype = media_range.partition("/")
        if not slash or not type_ or not subtype or (type_ == "*" and subtype != "*"):
            continue
        q = 1.0
        for param in params:
            m = _QVALUE.fullmatch(param)
            if m:
                try:
                    q = float(m.group(1))
                except ValueError:
                    q = -1.0
                break
        if 0.0 <= q <= 1.0:
            ranges.append((type_, subtype, q))
    return ranges


def _quality(media_type: str, ranges: list[tuple[str, str, float]]) -> float:
    """The q of the most specific range matching `media_type` (RFC 9110 section 12.5.1)."""
    type_, _, subtype = media_type.partition("/")
    best_specificity, best_q = 0, 0.0
    for r_type, r_subtype, q in ranges:
        if r_type == type_ and r_subtype == subtype:
            specificity = 3
        elif r_type == type_ and r_subtype == "*":
            specificity = 2
        elif r_type == "*" and r_subtype == "*":
            specificity = 1
        else:
            continue
        if specificity > best_specificity or (specificity == best_specificity and q > best_q):
            best_specificity, best_q = specificity, q
    return best_q


def _negotiate(accept: str) -> str | None:
    ranges = _parse_accept(accept)
    best, best_q = None, 0.0
    for flavour, media_types in _OFFERS:
        q = max(_quality(media_type, ranges) for media_type in media_types)
        if q > best_q:  # strictly greater: ties keep the earlier (preferred) flavour
            best, best_q = flavour, q
    return best


_negotiate_cached = lru_cache(maxsize=256)(_negotiate)


def negotiate(accept: str | None) -> str | None:
    """``"json"``, ``"html"``, or None when the client accepts neither (then PEP 691: 406).

    The highest q wins; ties go to HTML.  No (or an empty) Accept means ``*/*`` (RFC 9110
    section 12.5.1), so HTML.  Clients send a handful of fixed strings, hence the small cache.
    """
    if not accept or not accept.strip():
        return "html"
    if len(accept) > 1024:
        return _negotiate(accept)
    return _negotiate_cached(accept)


def _format_param(querystring: str) -> str | None:
    """The value of PEP 691's ``?format=`` parameter, percent-decoded, if present.

    Decoded with `unquote`, not `unquote_plus`: PEP 691 writes the parameter with a literal
    ``+`` (``?format=application/vnd.pypi.simple.v1+json``).
    """
    for pair in querystring.split("&"):
        name, eq, value = pair.partition("=")
        if eq and name == "format":
            return unquote(value)
    return None


# --------------------------------------------------------------------------------------------
# The URL map (SPEC.md)

_BAD_PERCENT = re.compile(r"%(?![0-9A-Fa-f]{2})")
_ESCAPE = re.compile(r"%([0-9A-Fa-f]{2})")
# Escapes refused in a path (uppercase hex).  RFC 3986 normalization (section 6.2.2.2), which
# CloudFront applies before it picks a cache behaviour, decodes percent-encoded unreserved
# characters (letters, digits, "-._~"): refusing them means the path CloudFront routes and the
# path read here are the same string.  "%2F" and "%5C" hide a separator, "%25" a second escape
# (double encoding).  No client encodes any of them in a package URL.
_REFUSED_ESCAPES = frozenset(f"{ord(c):02X}" for c in string.ascii_letters + string.digits + "-._~/\\%")
# C0 controls (NUL included), DEL, C1 controls, backslash.
_FORBIDDEN_CHARS = re.compile(r"[\x00-\x1f\x7f-\x9f\\]")
_QUERY_FORBIDDEN = re.compile(r"[\x00-\x20\x7f]")
# A valid (PEP 508) project name that is already PEP 503 normalized: the fast path.
_NORMALIZED_NAME = re.compile(r"[a-z0-9]+(?:-[a-z0-9]+)*")
# PEP 508 names: ^([A-Z0-9]|[A-Z0-9][A-Z0-9._-]*[A-Z0-9])$ case-insensitively.
_VALID_NAME = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9._-]*[A-Za-z0-9])?")
_SEPARATORS = re.compile(r"[-_.]+")
# The pages, and the second, unencoded copy of each JSON page (see `json_variant`).  The indexer
# writes them under these names (indexer.model; a test holds the two equal).
JSON_PAGE = "index.json"
IDENTITY_JSON_PAGE = "index.identity.json"
_ROOT_FILES = frozenset({"index.html", JSON_PAGE})
_SERVED_SUFFIXES = (".whl", ".tar.gz", ".zip", ".metadata")
_ALLOWED_METHODS = frozenset({"GET", "HEAD"})
# The pages' own scripts and styles (indexer/static/, written to the bucket under "-/static/" by
# the indexer).  "-" cannot start a PEP 508 name, so no project folder is ever called that.
STATIC_PREFIX = "/-/static/"
_STATIC_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]*(?:\.[A-Za-z0-9_-]+)*\.(?:css|js|svg|png|ico|woff2)")


def normalize(name: str) -> str:
    """PEP 503 normalization."""
    return _SEPARATORS.sub("-", name).lower()


def decode_path(uri: str) -> str | None:
    """The URI path percent-decoded once and validated, or None for a 400.

    CloudFront matches cache behaviours on a normalized path but hands this function, and the
    origin, the raw one ("CloudFront normalizes URI paths consistent with RFC 3986 and then
    matches the path with the correct cache behavior. Once the cache behavior is matched,
    CloudFront sends the raw URI path to the origin", CloudFront Developer Guide, "Cache
    behavior settings", Path normalization).  So every path that normalization would change is
    refused: dot segments (also percent-encoded), empty segments (``//``), and the escapes in
    `_REFUSED_ESCAPES`.  What passes reads the same to CloudFront, to this function and, once
    re-encoded by `route`, to S3.  Also refused: over-long paths (`MAX_URI_BYTES`, 1024 bytes
    as received, S3's key length limit too), non-ASCII or malformed escapes, invalid UTF-8, NUL
    and other control characters, and backslashes.
    """
    if len(uri) > MAX_URI_BYTES or not uri.startswith("/") or not uri.isascii() or "//" in uri:
        return None  # RFC 3986: a request target is ASCII; non-ASCII arrives percent-encoded
    path = uri
    if "%" in uri:
        if _BAD_PERCENT.search(uri):
            return None
        for escape in _ESCAPE.findall(uri):
            if escape.upper() in _REFUSED_ESCAPES:
                return None
        try:
            path = unquote_to_bytes(uri).decode("utf-8")
        except UnicodeDecodeError:
            return None
    if _FORBIDDEN_CHARS.search(path):
        return None
    if "/." in path:
        for segment in path.split("/"):
            if segment == "." or segment == "..":  # RFC 3986 section 5.2.4 dot-segments
                return None
    return path


def is_bookkeeping(filename: str) -> bool:
    """Keys viewers must not see: dot/underscore files and PEP 592 ``.yanked`` markers."""
    return filename[:1] in ("_", ".") or filename.lower().endswith(".yanked")


def _index(directory: str, querystring: str, accept: str | None) -> str | Response:
    if querystring and "format=" in querystring:
        forced = _format_param(querystring)
        if forced:
            accept = forced  # PEP 691: the URL parameter takes precedence over Accept
    flavour = negotiate(accept)
    if flavour == "json":
        return f"/{directory}{JSON_PAGE}"
    if flavour == "html":
        return f"/{directory}index.html"
    return _not_acceptable()


def route(method: str, uri: str, querystring: str = "", accept: str | None = None) -> str | Response:
    """Map an authenticated request to a bucket URI (str) or a generated response (dict).

    `uri` and `querystring` as CloudFront passes them (percent-encoded, no ``?``); `accept` is
    the ``Accept`` header value or None.
    """
    if method not in _ALLOWED_METHODS:
        return _method_not_allowed()
    path = decode_path(uri)
    if path is None:
        return _bad_request()
    return _route_path(path, querystring, accept)


def _route_path(path: str, querystring: str, accept: str | None) -> str | Response:
    """`route` for a path `decode_path` already accepted."""
    if querystring and (
        len(querystring) > MAX_QUERY_BYTES
        or not querystring.isascii()
        or _QUERY_FORBIDDEN.search(querystring)
    ):
        return _bad_request()
    if path == "/":
        return _index("", querystring, accept)
    if path.startswith(STATIC_PREFIX):
        name = path[len(STATIC_PREFIX) :]
        return STATIC_PREFIX + name if _STATIC_NAME.fullmatch(name) else _not_found()
    if path.startswith(UPLOAD_PREFIXES):
        return _not_found()  # the upload behaviours' paths other than the exact routes
    segments = path[1:].split("/")
    if segments[0] == "simple":
        prefix = "/simple/"
        del segments[0]
        if not segments:  # "/simple"
            return _redirect(prefix, querystring)
        if segments == [""]:  # "/simple/"
            return _index("", querystring, accept)
    else:
        prefix = "/"
    if len(segments) == 1:
        name = segments[0]
        if name in _ROOT_FILES:
            return "/" + name
        if prefix == "/" or not _VALID_NAME.fullmatch(name):
            return _not_found()
        return _redirect(f"{prefix}{normalize(name)}/", querystring)  # "/simple/<name>"
    if len(segments) != 2:
        return _not_found()
    project, filename = segments
    if not _NORMALIZED_NAME.fullmatch(project):
        if not _VALID_NAME.fullmatch(project):
            return _not_found()
        return _redirect(quote(f"{prefix}{normalize(project)}/{filename}", safe="/"), querystring)
    if not filename:
        return _index(project + "/", querystring, accept)
    if is_bookkeeping(filename) or not (filename.endswith(_SERVED_SUFFIXES) or filename in _ROOT_FILES):
        # Only what an index serves: distributions, their PEP 658 metadata, the pages.  Any
        # other object a publisher put in a project folder (an .html or .svg a browser would
        # render on this origin, where it holds the Basic credentials) stays unreachable.
        return _not_found()
    # Canonical encoding for S3: "+" -> %2B, " " -> %20 (quote leaves A-Z a-z 0-9 _.-~ alone).
    return f"/{project}/{quote(filename, safe='')}"


# --------------------------------------------------------------------------------------------
# Identity encoding: which stored copy of a JSON page a client gets

_GZIP_CODINGS = frozenset({"gzip", "x-gzip"})  # RFC 9110 section 8.4.1.3: x-gzip is gzip


def _accepts_gzip(accept_encoding: str) -> bool:
    for element in accept_encoding.split(","):
        coding, *params = element.split(";")
        if coding.strip().lower() not in _GZIP_CODINGS:
            continue
        for param in params:
            m = _QVALUE.fullmatch(param)
            if m:
                try:
                    return float(m.group(1)) > 0
                except ValueError:
                    return False
        return True
    return False


_accepts_gzip_cached = lru_cache(maxsize=64)(_accepts_gzip)


def accepts_gzip(accept_encoding: str | None) -> bool:
    """Whether the client named gzip in Accept-Encoding with a q above 0 (RFC 9110 12.5.3).

    No header, ``identity``, ``*``, ``br`` alone: no.  CloudFront itself compresses only for a
    request that names gzip or br ("Serve compressed files": a request without Accept-Encoding
    is served uncompressed), so "names gzip" is the same line it draws.
    """
    if not accept_encoding:
        return False
    if len(accept_encoding) > 256:
        return _accepts_gzip(accept_encoding)
    return _accepts_gzip_cached(accept_encoding)


def json_variant(uri: str, accept_encoding: str | None) -> str:
    """The stored copy of a JSON page for this client: ``index.json`` (gzip) or the plain copy.

    JSON pages are stored gzip-encoded (indexer/store.py), and CloudFront neither decodes nor
    compresses `application/vnd.pypi.simple.v1+json` (not on its list of compressed types,
    "Serve compressed files"), so a client that does not accept gzip (curl without
    --compressed, Python's urllib) is given the unencoded copy the indexer writes beside it.
    The choice changes the URI, which is the cache key: each copy has its own cache entry.
    """
    if uri.endswith("/" + JSON_PAGE) and not accepts_gzip(accept_encoding):
        return uri[: -len(JSON_PAGE)] + IDENTITY_JSON_PAGE
    return uri


# --------------------------------------------------------------------------------------------
# The entry point


def _header(headers: dict, name: str) -> str | None:
    values = headers.get(name)
    if not values:
        return None
    if len(values) == 1:
        return values[0]["value"]
    return ", ".join(v["value"] for v in values)  # RFC 9110 section 5.3: a list-based field


def handler(event: dict, context: object = None) -> dict:
    """Lambda@Edge viewer-request entry point: the request to forward, or a response.

    Order: the path (400, before anything else, so no spelling can reach an exemption), the
    exact upload routes (no Basic auth here: `upload_request`), Basic auth (401), the URL map.
    """
    request: dict = {}
    authenticated = False
    try:
        request = event["Records"][0]["cf"]["request"]
        uri = request["uri"]
        path = decode_path(uri) if uri.__class__ is str else None
        if path is None:
            result = _bad_request()
        elif uri in guard.EXEMPT_ROUTES:
            authenticated = True  # the upload function authenticates (see upload_request)
            result = upload_request(request)
            if result is request:
                return request
        else:
            headers = request["headers"]
            authorization = headers.get("authorization")
            # Exactly one Authorization header; several would be ambiguous (RFC 9110 section 5.3).
            try:
                authenticated = (
                    bool(authorization) and len(authorization) == 1 and verify(authorization[0]["value"])
                )
                result = None if authenticated else unauthorized()
            except _userpool.Unavailable:
                result = _unavailable()
            except _userpool.RateLimited as exc:
                result = _rate_limited(exc.retry_after)
            if result is None:
                if request["method"] not in _ALLOWED_METHODS:
                    # Never forwarded: the S3 behaviours allow every method only so that this
                    # answer (where to upload) reaches the viewer (infra/distribution.py).
                    config = event["Records"][0]["cf"].get("config") or {}
                    where = upload_url(
                        _header(headers, "host"),
                        _header(headers, "cloudfront-forwarded-proto"),
                        config.get("distributionDomainName"),
                    )
                    result = _method_not_allowed(where)
                else:
                    result = _route_path(path, request.get("querystring") or "", _header(headers, "accept"))
                if result.__class__ is str:
                    del headers["authorization"]  # the origin (S3 via OAC) must never see the password
                    request["uri"] = json_variant(result, _header(headers, "accept-encoding"))
                    request["querystring"] = ""
                    return request
    except Exception:  # a malformed event: fail closed, never a 500
        result = _bad_request() if authenticated else unauthorized()
    if request.__class__ is dict and request.get("method") == "HEAD":
        # A HEAD response carries no content (RFC 9110 section 9.3.2).
        result.pop("body", None)
        result.pop("bodyEncoding", None)
    return result


reload()
