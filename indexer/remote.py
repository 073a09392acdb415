"""The CLI over HTTPS: publishers need only their index credentials (issue 20).

`pypi-edge upload|yank|unyank|status|list --index-url https://host/` talks to the index's
``/_/cli/*`` routes (upload/remote.py) with the same credentials twine uses, instead of S3 with
AWS credentials.  Upload: every file is validated here first (the publishing core), then
``stage`` checks the right and hands out a presigned S3 PUT, the file goes straight to S3 with
its SHA-256 (progress bar), and ``finish`` validates it on the index's side, publishes it and
rebuilds the pages.  ``delete``, ``mirror`` and ``reindex`` stay administrators' commands (AWS
credentials).

Where the index is (first found): ``--index-url``; ``--bucket`` (then AWS mode);
``$PYPI_EDGE_INDEX_URL``; ``$PYPI_EDGE_BUCKET`` (AWS mode); ``index-url`` under
``[tool.pypi-edge]`` in ./pyproject.toml, or in ``$XDG_CONFIG_HOME/pypi-edge/config.toml``
(default ``~/.config``).  Any URL of the index will do (``https://host/``, ``…/simple/``,
``…/legacy/``): its origin is used.

Credentials (first found, as twine finds them): ``--user`` with ``--password-stdin``; user and
password in the URL; ``$PYPI_EDGE_TOKEN`` (user ``__token__``); ``--user`` or
``$PYPI_EDGE_USER`` with ``$PYPI_EDGE_PASSWORD``; `keyring` for the host, if the package is
installed (``keyring.get_credential(url, user)``, as twine asks it); ``~/.netrc`` (or
``$NETRC``) for the host.
"""

from __future__ import annotations

import argparse
import base64
import json
import netrc
import os
import sys
import tomllib
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

ENV_INDEX_URL = "PYPI_EDGE_INDEX_URL"
ENV_TOKEN = "PYPI_EDGE_TOKEN"
ENV_USER = "PYPI_EDGE_USER"
ENV_PASSWORD = "PYPI_EDGE_PASSWORD"
ENV_BUCKET = "PYPI_EDGE_BUCKET"
COMMANDS = ("upload", "yank", "unyank", "status", "list")
ADMIN_COMMANDS = ("delete", "mirror", "reindex")
TIMEOUT_SECONDS = 120  # a finish copies and rebuilds before answering (upload function: 30 s)


class RemoteError(Exception):
    """One line for the user; `code` is the exit status (1 refused/conflict, 2 usage, 3 transport)."""

    def __init__(self, message: str, code: int = 1) -> None:
        super().__init__(message)
        self.code = code


def add_arguments(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("index over HTTPS (publishers: index credentials, no AWS)")
    group.add_argument(
        "--index-url",
        help=f"the index, e.g. https://pypi.example.com/ (default: ${ENV_INDEX_URL}, or index-url "
        "under [tool.pypi-edge] in pyproject.toml or ~/.config/pypi-edge/config.toml)",
    )
    group.add_argument(
        "--user", "-u", help=f"index user name, or __token__ (default: ${ENV_USER}, keyring, .netrc)"
    )
    group.add_argument(
        "--password-stdin",
        action="store_true",
        help=f"read the password or token from stdin (else ${ENV_TOKEN}, ${ENV_PASSWORD}, keyring, .netrc)",
    )


# --- where and who -----------------------------------------------------------------------------


def configured_index_url(cwd: Path | None = None) -> str | None:
    """``index-url`` from ./pyproject.toml's [tool.pypi-edge], else from the user's config file."""
    config_home = Path(os.environ.get("XDG_CONFIG_HOME") or Path.home() / ".config")
    for path, table in (
        ((cwd or Path.cwd()) / "pyproject.toml", ("tool", "pypi-edge")),
        (config_home / "pypi-edge" / "config.toml", ()),
    ):
        try:
            doc: Any = tomllib.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        for name in table:
            doc = doc.get(name) if isinstance(doc, dict) else None
        if isinstance(doc, dict) and isinstance(doc.get("index-url"), str):
            return doc["index-url"]
    return None


def mode(args: argparse.Namespace) -> str:
    """ "https" or "aws" for this command line (precedence in the module docstring); sets
    `args.index_url` or `args.bucket` accordingly."""
    command = getattr(args, "command", None)
    if command in ADMIN_COMMANDS and args.index_url:
        raise RemoteError(
            f"`{command}` is an administrator's command: it needs AWS credentials and --bucket, "
            "not --index-url (publishers may yank, unyank and set a status instead)",
            2,
        )
    if command not in COMMANDS:
        args.bucket = args.bucket or os.environ.get(ENV_BUCKET)
        return "aws"
    if args.index_url:
        return "https"
    if args.bucket:
        return "aws"
    if os.environ.get(ENV_INDEX_URL):
        args.index_url = os.environ[ENV_INDEX_URL]
        return "https"
    if os.environ.get(ENV_BUCKET):
        args.bucket = os.environ[ENV_BUCKET]
        return "aws"
    args.index_url = configured_index_url()
    return "https" if args.index_url else "aws"


@dataclass(frozen=True)
class Index:
    origin: str  # scheme://host[:port]
    authorization: str

    def url(self, path: str) -> str:
        return self.origin + path


def _origin(url: str) -> tuple[str, str | None, str | None]:
    parts = urlsplit(url.strip())
    if parts.scheme not in ("https", "http") or not parts.hostname:
        raise RemoteError(f"--index-url must be an https:// URL of the index, not {url!r}", 2)
    host = parts.hostname if ":" not in parts.hostname else f"[{parts.hostname}]"
    origin = f"{parts.scheme}://{host}" + (f":{parts.port}" if parts.port else "")
    return origin, parts.username, parts.password


def find_credentials(origin: str, user: str | None, password: str | None) -> tuple[str, str]:
    """(user, password) as the module docstring orders the sources, or RemoteError."""
    if user and password is not None:
        return user, password
    token = os.environ.get(ENV_TOKEN)
    if token and user in (None, "__token__"):
        return "__token__", token
    user = user or os.environ.get(ENV_USER)
    if user and os.environ.get(ENV_PASSWORD) is not None:
        return user, os.environ[ENV_PASSWORD]
    try:
        import keyring  # optional, as for twine

        found = keyring.get_credential(origin, user)
        if found is not None and found.password:
            return found.username or user or "", found.password
    except ImportError:
        pass
    except Exception as exc:  # a keyring backend failing is not fatal: try .netrc
        print(f"warning: keyring failed ({exc}); trying .netrc", file=sys.stderr)
    try:
        entry = netrc.netrc(os.environ.get("NETRC")).authenticators(urlsplit(origin).hostname or "")
    except (OSError, netrc.NetrcParseError):
        entry = None
    if entry is not None and (user is None or entry[0] == user):
        return entry[0], entry[2] or ""
    raise RemoteError(
        f"no credentials for {origin}: pass --user (and --password-stdin), or set ${ENV_TOKEN}, "
        "or store them in keyring or ~/.netrc",
        2,
    )


def connect(args: argparse.Namespace, stdin: Any = None) -> Index:
    origin, url_user, url_password = _origin(args.index_url)
    password: str | None = url_password
    user = args.user or url_user
    if args.password_stdin:
        password = (stdin or sys.stdin).readline().rstrip("\r\n")
    user, password = find_credentials(origin, user, password)
    basic = base64.b64encode(f"{user}:{password}".encode()).decode()
    return Index(origin, f"Basic {basic}")


# --- HTTP --------------------------------------------------------------------------------------


def call(index: Index, route: str, doc: dict[str, Any]) -> dict[str, Any]:
    """POST a JSON object to ``/_/cli/<route>``; the JSON answer, or RemoteError with its message."""
    body = json.dumps(doc).encode()
    request = urllib.request.Request(
        index.url(f"/_/cli/{route}"),
        data=body,
        method="POST",
        headers={
            "Authorization": index.authorization,
            "Content-Type": "application/json",
            "Accept": "application/json",
            "User-Agent": "pypi-edge-cli",
        },
    )
    try:
        with urllib.request.urlopen(request, timeout=TIMEOUT_SECONDS) as resp:
            return json.loads(resp.read() or b"{}")
    except urllib.error.HTTPError as exc:
        raise RemoteError(f"{exc.code} {_message(exc.read())}", 3 if exc.code >= 500 else 1) from None
    except (urllib.error.URLError, OSError, ValueError) as exc:
        raise RemoteError(f"cannot reach {index.origin}: {getattr(exc, 'reason', exc)}", 3) from None


def _message(body: bytes) -> str:
    try:
        doc = json.loads(body)
        return str(doc.get("message") or doc)
    except ValueError:
        return body.decode("utf-8", "replace").strip()[:500]


def put_file(url: str, headers: dict[str, str], path: Path, size: int, show: bool) -> None:
    """The presigned PUT: the file's bytes straight to S3, with a progress bar."""
    from indexer.publish import PROGRESS_MIN_BYTES, _ProgressReader, progress_bar

    with (
        path.open("rb") as fh,
        progress_bar(size, path.name, show=show and size >= PROGRESS_MIN_BYTES) as bar,
    ):
        request = urllib.request.Request(
            url, data=_ProgressReader(fh, bar), method="PUT", headers={**headers, "Content-Length": str(size)}
        )
        try:
            with urllib.request.urlopen(request, timeout=TIMEOUT_SECONDS) as resp:
                resp.read()
        except urllib.error.HTTPError as exc:
            detail = exc.read().decode("utf-8", "replace")
            code = detail.split("<Code>", 1)[-1].split("</Code>", 1)[0] if "<Code>" in detail else ""
            message = (
                detail.split("<Message>", 1)[-1].split("</Message>", 1)[0] if "<Message>" in detail else ""
            )
            raise RemoteError(
                f"S3 refused the upload of {path.name}: {exc.code} {code} {message}".rstrip()
            ) from None
        except (urllib.error.URLError, OSError) as exc:
            raise RemoteError(f"sending {path.name} to S3 failed: {getattr(exc, 'reason', exc)}", 3) from None


# --- the commands ------------------------------------------------------------------------------


def upload(args: argparse.Namespace, index: Index, out: Any, dists: list[Any]) -> int:
    """Stage, PUT and finish each (already validated) file; exit 1 if any was refused."""
    failed = 0
    for dist in dists:
        try:
            staged = call(
                index,
                "stage",
                {"filename": dist.given or dist.filename, "size": dist.size, "sha256": dist.sha256},
            )
            if staged.get("outcome") == "present":
                out(f"already present  {staged['message']}")
                continue
            put_file(staged["url"], staged["headers"], dist.path, dist.size, not args.no_progress)
            done = call(index, "finish", {"key": staged["key"], "filename": dist.given or dist.filename})
        except RemoteError as exc:
            if exc.code == 3:
                raise
            print(f"error: {dist.shown}: {exc}", file=sys.stderr)
            failed += 1
            continue
        word = "uploaded" if done.get("outcome") == "uploaded" else "already present"
        out(f"{word:<16} {index.origin}/{done.get('key') or dist.key} ({done['message']})")
    out(f"{len(dists)} file(s), {failed} refused.")
    return 1 if failed else 0


def yank(args: argparse.Namespace, index: Index, out: Any) -> int:
    done = call(
        index, "yank", {"project": args.project, "version": args.version, "reason": args.reason or ""}
    )
    for key, changed in done.get("files", []):
        out(f"{'yanked' if changed else 'already yanked':<16} {key}")
    out(done["message"])
    return 0


def unyank(args: argparse.Namespace, index: Index, out: Any) -> int:
    done = call(index, "unyank", {"project": args.project, "version": args.version})
    for key in done.get("files", []):
        out(f"unyanked         {key}")
    out(done["message"])
    return 0


def status(args: argparse.Namespace, index: Index, out: Any) -> int:
    done = call(
        index, "status", {"project": args.project, "status": args.status, "reason": args.reason or ""}
    )
    out(done["message"])
    return 0


def listing(args: argparse.Namespace, index: Index, out: Any) -> int:
    done = call(index, "list", {"project": args.project or ""})
    if not args.project:
        projects = done.get("projects", [])
        width = max([len(p["name"]) for p in projects] + [7])
        out(f"{'PROJECT':<{width}}  {'LATEST':<12}  {'STATUS':<11}  SUMMARY")
        for p in projects:
            out(f"{p['name']:<{width}}  {p['latest']:<12}  {p['status']:<11}  {p['summary']}".rstrip())
        out(done["message"])
        return 0
    why = f" ({done['reason']})" if done.get("reason") else ""
    out(f"{done['project']}: {len(done['versions'])} version(s), status {done['status']}{why}")
    for release in done["versions"]:
        out(f"  {release['version']}")
        for f in release["files"]:
            note = "" if f["yanked"] is None else (f"  yanked: {f['yanked']}" if f["yanked"] else "  yanked")
            when = f.get("upload_time") or ""
            out(f"    {f['filename']}  {f['size'] or 0:>12,} B  {when:<27}{note}".rstrip())
    return 0
