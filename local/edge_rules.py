"""What CloudFront checks in an edge function's result before it uses it, for the local stand-in.

CloudFront developer guide, "Restrictions on all edge functions" → HTTP headers
(https://docs.aws.amazon.com/AmazonCloudFront/latest/DeveloperGuide/edge-function-restrictions-all.html):

* Disallowed headers "are not exposed to edge functions, and functions can't add them.  If your
  function adds one of these headers, it fails CloudFront validation, and CloudFront returns HTTP
  status code 502 (Bad Gateway) to the viewer."
* Read-only headers, per event type: "functions can read them but can't add, modify, or delete
  them"; a result that does fails the same validation ("The Lambda function result failed
  validation: The function tried to add, delete, or change a read-only header", the 502 page
  CloudFront serves; seen in the wild on origin-response as "the function tried to delete
  read-only header, headerName : Transfer-Encoding", CodeGenieApp/serverless-express#369).

`violations(event_type, before, after)` compares the headers a function was given with the ones
it returned; `local.cdn` answers 502 (`rejected_response`) for any result with a violation, for
every function it runs: the viewer-request function (a forwarded request is compared with the
viewer's request, a generated response with no headers at all) and the origin-response function
(compared with the origin's response).  So a function that would fail in CloudFront fails here.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

Headers = Mapping[str, list[dict[str, str]]]  # Lambda@Edge shape: lower-case name → [{key, value}]

# "Disallowed headers" (the page above), lower-case.
DISALLOWED = frozenset(
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
        "x-amzn-auth",
        "x-amzn-cf-billing",
        "x-amzn-cf-id",
        "x-amzn-cf-xff",
        "x-amzn-errortype",
        "x-amzn-fle-profile",
        "x-amzn-header-count",
        "x-amzn-header-order",
        "x-amzn-lambda-integration-tag",
        "x-amzn-requestid",
        "x-cache",
        "x-forwarded-proto",
        "x-real-ip",
    }
)
DISALLOWED_PREFIXES = ("x-amz-cf-", "x-edge-")  # "X-Amz-Cf-*", "X-Edge-*"

# "Read-only headers", per event type (the page above).
READ_ONLY: dict[str, frozenset[str]] = {
    "viewer-request": frozenset({"content-length", "host", "transfer-encoding", "via"}),
    "origin-request": frozenset(
        {
            "accept-encoding",
            "content-length",
            "if-modified-since",
            "if-none-match",
            "if-range",
            "if-unmodified-since",
            "transfer-encoding",
            "via",
        }
    ),
    "origin-response": frozenset({"transfer-encoding", "via"}),
    "viewer-response": frozenset(
        {"content-encoding", "content-length", "transfer-encoding", "warning", "via"}
    ),
}

REJECTED_BODY = (
    b"502 ERROR\nThe Lambda function result failed validation: "
    b"The function tried to add, delete, or change a read-only header.\n"
)


def cf_headers(pairs: Iterable[tuple[str, str]]) -> dict[str, list[dict[str, str]]]:
    """(name, value) pairs in the Lambda@Edge shape."""
    out: dict[str, list[dict[str, str]]] = {}
    for name, value in pairs:
        out.setdefault(name.lower(), []).append({"key": name, "value": value})
    return out


def disallowed(name: str) -> bool:
    name = name.lower()
    return name in DISALLOWED or name.startswith(DISALLOWED_PREFIXES)


def exposed(headers: Headers) -> dict[str, list[dict[str, str]]]:
    """The headers CloudFront hands a function: every one but the disallowed."""
    return {name: list(values) for name, values in headers.items() if not disallowed(name)}


def _values(values: Any) -> list[str] | None:
    return None if values is None else [v.get("value") for v in values]


def violations(event_type: str, before: Headers, after: Headers) -> list[str]:
    """Why CloudFront would refuse a result whose headers are `after`, for a function that was
    given `before` ({} for a generated response): one line per header, empty when it is valid."""
    found = [f"adds disallowed header {name}" for name in after if disallowed(name)]
    for name in sorted(READ_ONLY[event_type]):
        was, now = _values(before.get(name)), _values(after.get(name))
        if was == now:
            continue
        verb = "adds" if was is None else "deletes" if now is None else "changes"
        found.append(f"{verb} read-only header {name}")
    return found


def rejected_response() -> tuple[int, dict[str, str], bytes]:
    """CloudFront's answer to a result that failed validation: 502, and the function's result
    is not used."""
    return 502, {"Content-Type": "text/plain; charset=utf-8"}, REJECTED_BODY
