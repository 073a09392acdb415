"""Rules for the write routes, shared by the viewer-request function and the upload function.

Standard library only, no imports: the edge bundle ships it at its zip root (`infra.bundle`
EDGE_SOURCES) and the upload bundle as ``edge/guard.py`` (`upload.BUNDLE_SOURCES`).

* `EXEMPT_ROUTES`: the only request paths that skip Basic auth at the edge, compared exactly
  (the upload function authenticates them itself; `upload.handler.ROUTES` has the same keys):
  the legacy upload API, trusted publishing's token exchange, and the `pypi-edge` CLI's HTTPS
  routes (`CLI_ROUTES`, upload/remote.py: hand-off of large files to S3, yank, status, list),
  which, like ``/legacy/``, take POST only.
* `cross_site_refusal`: no web page may publish, mint or burn a token through a visitor's
  browser.  Browsers add ``Origin`` to every cross-origin request and to every POST (Fetch
  standard, "append a request `Origin` header"), and ``Sec-Fetch-Site`` to every request (Fetch
  Metadata Request Headers), whatever the page's script does: both are forbidden request headers
  a page cannot set or remove.  twine, uv and poetry send neither.  So a write route refuses a
  request that carries ``Origin`` (any value, even ``null`` or empty) or a ``Sec-Fetch-Site``
  other than ``none`` (``none`` is a navigation the user started: typed, bookmarked).  Cookies
  are not involved (there are none); what a browser would reuse is cached Basic credentials.
"""

from __future__ import annotations

UPLOAD_ROUTES = ("/legacy/", "/legacy")
OIDC_ROUTES = ("/_/oidc/audience", "/_/oidc/mint-token", "/_/oidc/burn-token")
# The CLI's routes (upload/remote.py): one namespace, never a project name ("_" cannot start one).
CLI_PREFIX = "/_/cli/"
CLI_ROUTES = tuple(CLI_PREFIX + name for name in ("stage", "finish", "yank", "unyank", "status", "list"))
POST_ROUTES = frozenset(UPLOAD_ROUTES + CLI_ROUTES)
EXEMPT_ROUTES = frozenset(UPLOAD_ROUTES + OIDC_ROUTES + CLI_ROUTES)

CROSS_SITE_MESSAGE = (
    "Cross-site request refused: a web page cannot publish or exchange tokens here (the request "
    "carried Origin or Sec-Fetch-Site); publish with twine, uv, poetry or pypi-edge"
)


def cross_site_refusal(origin: str | None, fetch_site: str | None) -> str | None:
    """The one-line reason to refuse a write request with these header values, or None.

    ``None`` means the header is absent; a list-valued header arrives joined with ", ".
    """
    if origin is not None:
        return CROSS_SITE_MESSAGE
    if fetch_site is not None and fetch_site.strip().lower() != "none":
        return CROSS_SITE_MESSAGE
    return None
