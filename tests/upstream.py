"""A second, upstream index for the end-to-end tests: a tiny static PEP 503 / PEP 691 server.

Stands in for PyPI (no internet in tests): the fallback index the edge redirects to, and the
source `pypi-edge mirror` copies from.  It negotiates the format on `Accept` as PyPI does (JSON
when preferred, HTML otherwise), records what it served, and serves files under /files/.
"""

from __future__ import annotations

import hashlib
import html
import http.server
import json
import threading
from dataclasses import dataclass, field
from typing import Any

from packaging.utils import canonicalize_name

from local.stack import free_port

JSON_TYPE = "application/vnd.pypi.simple.v1+json"


@dataclass
class Upstream:
    """project -> [(filename, bytes)], with optional yank reasons by filename."""

    files: dict[str, list[tuple[str, bytes]]] = field(default_factory=dict)
    yanked: dict[str, str] = field(default_factory=dict)
    served: list[tuple[str, str]] = field(default_factory=list)  # (path, "json" | "html" | "file")
    authorizations: list[str] = field(default_factory=list)  # any Authorization header received
    lies: dict[str, str] = field(default_factory=dict)  # filename -> a wrong sha256 to publish
    html_only: bool = False  # serve PEP 503 HTML whatever the Accept (pypiserver, older indexes)

    metadata: dict[str, bytes] = field(default_factory=dict)  # filename -> PEP 658 core metadata

    def add(self, filename: str, data: bytes, project: str, metadata: bytes | None = None) -> None:
        self.files.setdefault(str(canonicalize_name(project)), []).append((filename, data))
        if metadata is not None:
            self.metadata[filename] = metadata

    def start(self) -> Upstream:
        self.port = free_port()
        upstream = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_GET(self) -> None:
                upstream._serve(self)

            do_HEAD = do_GET

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    @property
    def url(self) -> str:
        # Another host name than the index's 127.0.0.1, as PyPI would be: clients drop the
        # index's credentials on a redirect to another host, which the fallback tests check.
        return f"http://localhost:{self.port}/simple/"

    def _page(self, project: str, as_json: bool) -> bytes:
        entries = self.files[project]
        if as_json:
            doc = {
                "meta": {"api-version": "1.1"},
                "name": project,
                "files": [
                    {
                        "filename": fn,
                        "url": f"/files/{fn}",
                        "hashes": {"sha256": self.lies.get(fn) or hashlib.sha256(data).hexdigest()},
                        "yanked": self.yanked.get(fn, False),
                        "core-metadata": {"sha256": hashlib.sha256(self.metadata[fn]).hexdigest()}
                        if fn in self.metadata
                        else False,
                    }
                    for fn, data in entries
                ],
            }
            return json.dumps(doc).encode()
        links = "".join(
            f'<a href="/files/{fn}#sha256={self.lies.get(fn) or hashlib.sha256(data).hexdigest()}"'
            + (f' data-yanked="{html.escape(self.yanked[fn])}"' if fn in self.yanked else "")
            + f">{fn}</a>\n"
            for fn, data in entries
        )
        return f"<!DOCTYPE html><html><body>{links}</body></html>".encode()

    def _serve(self, req: http.server.BaseHTTPRequestHandler) -> None:
        path = req.path.split("?", 1)[0]
        if req.headers.get("Authorization"):
            self.authorizations.append(f"{path} {req.headers['Authorization']}")
        parts = [p for p in path.split("/") if p]
        status, ctype, body, kind = 404, "text/plain", b"not found\n", "missing"
        if len(parts) == 2 and parts[0] == "simple" and parts[1] in self.files:
            as_json = not self.html_only and JSON_TYPE in (req.headers.get("Accept") or "").split(",")[0]
            body, kind = self._page(parts[1], as_json), "json" if as_json else "html"
            status, ctype = 200, JSON_TYPE if as_json else "text/html"
        elif len(parts) == 2 and parts[0] == "files":
            name = parts[1]
            files = {fn: data for entries in self.files.values() for fn, data in entries}
            if name.endswith(".metadata") and name.removesuffix(".metadata") in self.metadata:
                status, ctype, body, kind = (
                    200,
                    "text/plain",
                    self.metadata[name.removesuffix(".metadata")],
                    "metadata",
                )
            elif name in files:
                status, ctype, body, kind = 200, "application/octet-stream", files[name], "file"
        self.served.append((path, kind))
        req.send_response(status)
        req.send_header("Content-Type", ctype)
        req.send_header("Content-Length", str(len(body)))
        req.end_headers()
        if req.command == "GET":
            req.wfile.write(body)
