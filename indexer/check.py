"""`pypi-edge check --index-url https://host/`: a smoke test of a deployed index, from outside.

It asks the index what pip, uv, poetry, twine and a browser rely on, and prints one row per check
(check, expected, got, result); the exit status is 1 when any row FAILs.  Standard library HTTP
only (`http.client`, one request per check, redirects never followed, so a 301/307 is seen as it
is sent).  What it verifies:

* TLS (https URLs): the certificate verifies for the host name (Python's default context);
* the security headers the response headers policy adds (infra/wiring.py): HSTS, nosniff,
  X-Frame-Options, Content-Security-Policy, on a page and on the 401;
* 401 with a Basic challenge without credentials and with wrong ones (RFC 7235);
* with --user: the root and a project page as HTML (PEP 503) and JSON (PEP 691 content type and
  api-version), a file's `.metadata` (PEP 658, its sha256 as the page states it), and the JSON
  page unencoded for `Accept-Encoding: identity` and gzip-encoded for gzip (the same document);
* a POST to the index URL is 405 naming the upload URL; the upload URL answers GET with 405 and
  an anonymous POST with 401;
* a project the index does not have: 404, or with --fallback-index-url a 307 to the same project
  there.

Checks that need something the index does not offer (no --user, no project yet, no wheel) say
"skip" and do not fail the run.
"""

from __future__ import annotations

import argparse
import base64
import getpass
import gzip
import hashlib
import http.client
import json
import secrets
import ssl
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote, unquote, urljoin, urlsplit

PEP691_JSON = "application/vnd.pypi.simple.v1+json"
HTML_ACCEPT = "text/html"
TIMEOUT_SECONDS = 15.0
EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2

PASS, FAIL, SKIP = "pass", "FAIL", "skip"


@dataclass(frozen=True)
class Row:
    check: str
    expected: str
    got: str
    result: str


@dataclass
class Reply:
    status: int
    headers: dict[str, str]  # lower-case names
    body: bytes
    error: str | None = None  # the connection failed: why

    def header(self, name: str) -> str:
        return self.headers.get(name.lower(), "")

    def said(self) -> str:
        return self.error or f"{self.status}"


@dataclass
class Target:
    """Where to check and with what: the origin (scheme://host[:port]) and the index path."""

    scheme: str
    netloc: str
    simple: str  # "/simple/" or "/"
    user: str | None
    password: str | None
    fallback: str | None = None
    project: str | None = None
    timeout: float = TIMEOUT_SECONDS
    context: ssl.SSLContext | None = field(default=None, repr=False)

    @property
    def origin(self) -> str:
        return f"{self.scheme}://{self.netloc}"


def parse_index_url(url: str) -> tuple[str, str, str | None, str | None]:
    """(scheme, host[:port], user, password) of an index URL such as ``https://alice:pw@host/simple/``
    or ``https://host/`` (the edge serves the root index at both); ValueError when it is none."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"--index-url must be an http(s) URL of the index, got {url!r}")
    if parts.query or parts.fragment:
        raise ValueError("--index-url takes no query or fragment")
    netloc = parts.netloc.rpartition("@")[2]
    path = parts.path or "/"
    if not path.endswith("/"):
        path += "/"
    if path not in ("/", "/simple/"):
        raise ValueError(f"--index-url must end in / or /simple/ (the index root), got path {path!r}")
    user = unquote(parts.username) if parts.username else None
    password = unquote(parts.password) if parts.password is not None else None
    return parts.scheme, netloc, user, password


def basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode("ascii")


def fetch(
    target: Target, method: str, path: str, headers: dict[str, str] | None = None, body: bytes | None = None
) -> Reply:
    """One request, no redirect followed; a connection or TLS failure is a Reply with `error`."""
    cls = http.client.HTTPSConnection if target.scheme == "https" else http.client.HTTPConnection
    kwargs: dict[str, Any] = {"timeout": target.timeout}
    if target.scheme == "https":
        kwargs["context"] = target.context or ssl.create_default_context()
    conn = cls(target.netloc, **kwargs)
    try:
        conn.request(method, path, body=body, headers={"User-Agent": "pypi-edge-check", **(headers or {})})
        resp = conn.getresponse()
        data = resp.read()
        return Reply(resp.status, {k.lower(): v for k, v in resp.getheaders()}, data)
    except ssl.SSLError as exc:
        return Reply(0, {}, b"", f"TLS failed: {exc.reason or exc}")
    except (OSError, http.client.HTTPException) as exc:
        return Reply(0, {}, b"", f"connection failed: {exc}")
    finally:
        conn.close()


class Checker:
    """Runs the checks in order; each appends one Row.  `rows` is the report."""

    def __init__(self, target: Target) -> None:
        self.t = target
        self.rows: list[Row] = []

    # --- helpers -----------------------------------------------------------------------------

    def row(self, check: str, expected: str, got: str, ok: bool | None) -> bool:
        self.rows.append(Row(check, expected, got, SKIP if ok is None else PASS if ok else FAIL))
        return bool(ok)

    def auth(self) -> dict[str, str]:
        assert self.t.user is not None and self.t.password is not None
        return {"Authorization": basic(self.t.user, self.t.password)}

    def get(
        self, path: str, accept: str | None = None, encoding: str = "identity", auth: bool = True
    ) -> Reply:
        headers = {"Accept-Encoding": encoding}
        if accept:
            headers["Accept"] = accept
        if auth:
            headers.update(self.auth())
        return fetch(self.t, "GET", path, headers)

    def status_row(
        self, check: str, reply: Reply, expected: int, extra: Callable[[Reply], str | None] | None = None
    ) -> bool:
        """A row for `reply` having status `expected` and, if given, `extra` finding nothing wrong
        (it returns what is wrong, or None)."""
        if reply.error or reply.status != expected:
            return self.row(check, str(expected), reply.said(), False)
        problem = extra(reply) if extra else None
        return self.row(check, str(expected), problem or f"{reply.status}", problem is None)

    # --- the checks --------------------------------------------------------------------------

    def run(self) -> list[Row]:
        index = self.t.simple
        anonymous = fetch(self.t, "GET", index, {"Accept-Encoding": "identity"})
        self.check_tls(anonymous)
        self.status_row("401 without credentials", anonymous, 401, _challenge)
        self.check_security_headers("security headers (401)", anonymous)
        wrong_user = self.t.user or f"pypi-edge-check-{secrets.token_hex(4)}"
        wrong = fetch(self.t, "GET", index, {"Authorization": basic(wrong_user, secrets.token_urlsafe(18))})
        self.status_row("401 with a wrong password", wrong, 401, _challenge)
        if self.t.user is None or self.t.password is None:
            for check in ("pages, .metadata, gzip", "POST to the index: 405", "a missing project"):
                self.row(check, "--user", "no credentials given", None)
        else:
            self.check_pages(index)
            self.check_write_to_index(index)
            self.check_missing_project(index)
        self.status_row("upload URL: GET is 405", fetch(self.t, "GET", "/legacy/"), 405)
        post = fetch(self.t, "POST", "/legacy/", {"Content-Type": "multipart/form-data; boundary=x"}, b"")
        self.status_row("upload URL: anonymous POST is 401", post, 401)
        return self.rows

    def check_tls(self, reply: Reply) -> None:
        if self.t.scheme != "https":
            self.row("TLS", "https with a valid certificate", "plain http (not checked)", None)
        elif reply.error:
            self.row("TLS", "certificate valid for the host", reply.error, False)
        else:
            self.row("TLS", "certificate valid for the host", "verified", True)

    def check_security_headers(self, check: str, reply: Reply) -> None:
        if reply.error:
            self.row(check, "HSTS, nosniff, X-Frame-Options, CSP", reply.error, False)
            return
        missing = []
        hsts = reply.header("strict-transport-security")
        if "max-age=" not in hsts or hsts.split("max-age=")[1].split(";")[0].strip() in ("", "0"):
            missing.append("HSTS")
        if reply.header("x-content-type-options").lower() != "nosniff":
            missing.append("nosniff")
        if reply.header("x-frame-options").upper() not in ("DENY", "SAMEORIGIN"):
            missing.append("X-Frame-Options")
        if not reply.header("content-security-policy"):
            missing.append("Content-Security-Policy")
        got = "missing: " + ", ".join(missing) if missing else "all present"
        self.row(check, "HSTS, nosniff, X-Frame-Options, CSP", got, not missing)

    def check_pages(self, index: str) -> None:
        html = self.get(index, HTML_ACCEPT)
        self.status_row("root page, HTML (PEP 503)", html, 200, _html)
        self.check_security_headers("security headers (page)", html)
        root = self.get(index, PEP691_JSON)
        document = _json_document(root)
        self.status_row("root page, JSON (PEP 691)", root, 200, lambda r: _json_problem(r, document))
        projects = [p.get("name", "") for p in (document or {}).get("projects", []) if isinstance(p, dict)]
        project = self.t.project or (sorted(projects)[0] if projects else None)
        if project is None:
            for check in (
                "project page, HTML",
                "project page, JSON",
                ".metadata (PEP 658)",
                "JSON gzip = identity",
            ):
                self.row(check, "a published project", "the index is empty", None)
            return
        page = f"{index}{quote(project, safe='')}/"
        self.status_row(f"project page {project}, HTML", self.get(page, HTML_ACCEPT), 200, _html)
        plain = self.get(page, PEP691_JSON)
        project_doc = _json_document(plain)
        self.status_row(f"project page {project}, JSON", plain, 200, lambda r: _json_problem(r, project_doc))
        self.check_metadata(page, project_doc)
        self.check_gzip(page, plain, project_doc)

    def check_metadata(self, page: str, document: dict | None) -> None:
        files = (document or {}).get("files", [])
        with_metadata = [f for f in files if isinstance(f, dict) and f.get("core-metadata")]
        if not with_metadata:
            self.row(".metadata (PEP 658)", "a wheel's metadata", "no file offers it", None)
            return
        entry = with_metadata[-1]
        url = urljoin(page, entry["url"]).split("#")[0] + ".metadata"
        parts = urlsplit(url)
        if parts.netloc and parts.netloc != self.t.netloc:
            self.row(".metadata (PEP 658)", "on this host", url, False)
            return
        reply = self.get(parts.path)
        expected = entry["core-metadata"].get("sha256") if isinstance(entry["core-metadata"], dict) else None

        def problem(r: Reply) -> str | None:
            digest = hashlib.sha256(r.body).hexdigest()
            if expected and digest != expected:
                return f"sha256 {digest[:12]}… is not the page's {expected[:12]}…"
            if not r.body.startswith(b"Metadata-Version:"):
                return "not core metadata"
            return None

        self.status_row(f".metadata of {entry.get('filename', '?')}", reply, 200, problem)

    def check_gzip(self, page: str, plain: Reply, document: dict | None) -> None:
        check = "JSON: identity and gzip copies agree"
        expected = "plain for identity, gzip for gzip, same document"
        if plain.header("content-encoding") not in ("", "identity"):
            self.row(check, expected, f"identity request got {plain.header('content-encoding')}", False)
            return
        zipped = self.get(page, PEP691_JSON, encoding="gzip")
        if zipped.error or zipped.status != 200:
            self.row(check, expected, f"gzip request: {zipped.said()}", False)
            return
        body = zipped.body
        if zipped.header("content-encoding") == "gzip":
            try:
                body = gzip.decompress(body)
            except (OSError, EOFError) as exc:
                self.row(check, expected, f"gzip body does not decompress: {exc}", False)
                return
        else:
            self.row(check, expected, "gzip request came back unencoded", False)
            return
        try:
            same = json.loads(body) == document
        except ValueError:
            same = False
        self.row(check, expected, "same document" if same else "the two copies differ", same)

    def check_write_to_index(self, index: str) -> None:
        reply = fetch(self.t, "POST", index, {**self.auth(), "Content-Type": "text/plain"}, b"x")
        upload = f"{self.t.origin}/legacy/"

        def names_upload(r: Reply) -> str | None:
            return None if upload.encode() in r.body else f"body does not name {upload}"

        self.status_row("POST to the index: 405 naming /legacy/", reply, 405, names_upload)

    def check_missing_project(self, index: str) -> None:
        name = f"pypi-edge-check-absent-{secrets.token_hex(4)}"
        reply = self.get(f"{index}{name}/", HTML_ACCEPT)
        if self.t.fallback is None:
            self.status_row("a missing project is 404", reply, 404)
            return
        location = f"{self.t.fallback}{name}/"

        def goes_there(r: Reply) -> str | None:
            return (
                None if r.header("location") == location else f"Location {r.header('location') or '(none)'}"
            )

        self.status_row(f"a missing project: 307 to {self.t.fallback}", reply, 307, goes_there)


def _challenge(reply: Reply) -> str | None:
    value = reply.header("www-authenticate")
    return None if value.lower().startswith("basic ") else f"WWW-Authenticate {value or '(none)'}"


def _html(reply: Reply) -> str | None:
    kind = reply.header("content-type")
    if not kind.startswith("text/html"):
        return f"Content-Type {kind or '(none)'}"
    return None if b"<a " in reply.body or b"<html" in reply.body.lower() else "no links"


def _json_document(reply: Reply) -> dict | None:
    if reply.error or reply.status != 200:
        return None
    try:
        document = json.loads(reply.body)
    except ValueError:
        return None
    return document if isinstance(document, dict) else None


def _json_problem(reply: Reply, document: dict | None) -> str | None:
    kind = reply.header("content-type").split(";")[0].strip()
    if kind != PEP691_JSON:
        return f"Content-Type {kind or '(none)'}"
    if document is None:
        return "not a JSON object (or not identity-encoded)"
    if not str((document.get("meta") or {}).get("api-version", "")).startswith("1."):
        return "no meta.api-version 1.x"
    return None


def render(rows: list[Row]) -> str:
    """The report: an aligned table, then one summary line."""
    header = Row("check", "expected", "got", "result")
    widths = [max(len(getattr(r, f)) for r in [header, *rows]) for f in ("check", "expected", "got")]
    lines = []
    for r in [header, *rows]:
        cells = [r.check.ljust(widths[0]), r.expected.ljust(widths[1]), r.got.ljust(widths[2]), r.result]
        lines.append("  ".join(cells).rstrip())
    failed = sum(r.result == FAIL for r in rows)
    skipped = sum(r.result == SKIP for r in rows)
    passed = len(rows) - failed - skipped
    lines.append(f"\n{passed} passed, {failed} failed, {skipped} skipped")
    return "\n".join(lines)


# --- the command -------------------------------------------------------------------------------

DESCRIPTION = (
    "Smoke-test a deployed index from outside, as its users reach it: TLS and security headers, 401 "
    "without and with wrong credentials, the root and a project page in HTML and JSON, a .metadata "
    "file, identity vs gzip JSON, the upload URL (405 to GET, 401 to an anonymous POST, 405 naming it "
    "for a POST to the index) and the missing-project answer. Prints a table; exit status 1 if any "
    "check fails. Run it after every `pulumi up`."
)


def add_parser(sub: Any) -> None:
    p = sub.add_parser(
        "check", help="smoke-test a deployed index over HTTPS (prints a table)", description=DESCRIPTION
    )
    p.add_argument(
        "--index-url",
        required=True,
        metavar="URL",
        help="the index, e.g. https://pypi.example.com/simple/ (stack output indexUrl); "
        "user:password@ in it works too",
    )
    p.add_argument("--user", help="a user who may read (without it only the anonymous checks run)")
    p.add_argument(
        "--password-stdin",
        action="store_true",
        help="read the password from the first line of stdin (else it is asked for on a terminal)",
    )
    p.add_argument(
        "--project", help="the project whose pages and .metadata to check (default: the first listed)"
    )
    p.add_argument(
        "--fallback-index-url",
        metavar="URL",
        help="the stack's fallbackIndexUrl, if set: a missing project must then redirect there (else 404)",
    )
    p.add_argument(
        "--timeout", type=float, default=TIMEOUT_SECONDS, metavar="SECONDS", help="per request (15)"
    )
    p.set_defaults(func=cmd_check, needs_bucket=False)


def cmd_check(args: argparse.Namespace, client_factory: object = None) -> int:
    try:
        scheme, netloc, user, password = parse_index_url(args.index_url)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    user = args.user or user
    if args.password_stdin:
        if user is None:
            print("error: --password-stdin needs --user", file=sys.stderr)
            return EXIT_USAGE
        password = sys.stdin.readline().rstrip("\r\n")
    elif user is not None and password is None:
        if not sys.stdin.isatty():
            print(
                "error: no password: pass --password-stdin (or user:password@ in --index-url)",
                file=sys.stderr,
            )
            return EXIT_USAGE
        password = getpass.getpass(f"password for {user}: ")
    fallback = args.fallback_index_url
    if fallback and not fallback.endswith("/"):
        fallback += "/"
    target = Target(scheme, netloc, "/simple/", user, password, fallback, args.project, args.timeout)
    rows = Checker(target).run()
    print(
        f"pypi-edge check {target.origin}{target.simple}" + (f" as {user}" if user else " (anonymous only)")
    )
    print(render(rows))
    return EXIT_FAILED if any(r.result == FAIL for r in rows) else EXIT_OK
