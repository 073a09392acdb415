"""Issue #18 item 1 with a real browser: another site's page cannot publish through a publisher's
signed-in Chromium.

The publisher opens the index (Basic credentials now cached by the browser), then visits a page of
another site.  That page builds a wheel in JavaScript (a zip written byte by byte, its SHA-256 from
WebCrypto) and auto-submits a `multipart/form-data` form to the index's `/legacy/`, exactly the form
twine sends.  The browser adds `Origin` and `Sec-Fetch-Site: cross-site` on its own; the edge
answers 403 and the bucket gains nothing, over every object version.
"""

from __future__ import annotations

import http.server
import threading
from urllib.parse import quote

import pytest
from playwright.sync_api import sync_playwright

from local.stack import free_port
from tests.bucket_state import snapshot
from tests.e2e import Stack
from tests.test_e2e_browser import ARGS, CHROMIUM

pytestmark = pytest.mark.e2e

PUBLISHER = ("carol", "pub:lish:er")

# The attacker's page.  `{action}` is the index's upload URL.  The wheel: one stored (uncompressed)
# zip entry per file, CRC-32 computed here, then the form twine sends (PyPI's upload API).
ATTACK = """<!doctype html><meta charset="utf-8"><title>Cute cats</title>
<form id="f" method="post" enctype="multipart/form-data" action="{action}">
<input type="hidden" name=":action" value="file_upload">
<input type="hidden" name="protocol_version" value="1">
<input type="hidden" name="name" value="edge-csrf">
<input type="hidden" name="version" value="6.6.6">
<input type="hidden" name="filetype" value="bdist_wheel">
<input type="hidden" name="pyversion" value="py3">
<input type="hidden" name="metadata_version" value="2.1">
<input type="hidden" name="sha256_digest" id="sha">
<input type="file" name="content" id="content">
</form>
<script>
function crc32(bytes) {{
  let c, crc = 0xFFFFFFFF;
  for (const b of bytes) {{
    c = (crc ^ b) & 0xFF;
    for (let k = 0; k < 8; k++) c = c & 1 ? (c >>> 1) ^ 0xEDB88320 : c >>> 1;
    crc = (crc >>> 8) ^ c;
  }}
  return (crc ^ 0xFFFFFFFF) >>> 0;
}}
function zip(files) {{
  const enc = new TextEncoder(), parts = [], central = [];
  let offset = 0;
  for (const [name, text] of files) {{
    const n = enc.encode(name), data = enc.encode(text), crc = crc32(data);
    const local = new DataView(new ArrayBuffer(30));
    local.setUint32(0, 0x04034b50, true); local.setUint16(4, 20, true);
    local.setUint32(14, crc, true); local.setUint32(18, data.length, true);
    local.setUint32(22, data.length, true); local.setUint16(26, n.length, true);
    const dir = new DataView(new ArrayBuffer(46));
    dir.setUint32(0, 0x02014b50, true); dir.setUint16(4, 20, true); dir.setUint16(6, 20, true);
    dir.setUint32(16, crc, true); dir.setUint32(20, data.length, true);
    dir.setUint32(24, data.length, true); dir.setUint16(28, n.length, true);
    dir.setUint32(42, offset, true);
    parts.push(local.buffer, n, data); central.push(dir.buffer, n);
    offset += 30 + n.length + data.length;
  }}
  const size = central.reduce((s, p) => s + p.byteLength, 0);
  const end = new DataView(new ArrayBuffer(22));
  end.setUint32(0, 0x06054b50, true); end.setUint16(8, files.length, true);
  end.setUint16(10, files.length, true); end.setUint32(12, size, true); end.setUint32(16, offset, true);
  return new Blob([...parts, ...central, end.buffer]);
}}
(async () => {{
  const info = "edge_csrf-6.6.6.dist-info/";
  const wheel = zip([
    [info + "METADATA", "Metadata-Version: 2.1\\nName: edge-csrf\\nVersion: 6.6.6\\n"],
    [info + "WHEEL", "Wheel-Version: 1.0\\nGenerator: evil\\nRoot-Is-Purelib: true\\nTag: py3-none-any\\n"],
    [info + "RECORD", ""],
  ]);
  const digest = await crypto.subtle.digest("SHA-256", await wheel.arrayBuffer());
  document.getElementById("sha").value = [...new Uint8Array(digest)]
    .map((b) => b.toString(16).padStart(2, "0")).join("");
  const files = new DataTransfer();
  files.items.add(new File([wheel], "edge_csrf-6.6.6-py3-none-any.whl"));
  document.getElementById("content").files = files.files;
  document.getElementById("f").submit();
}})();
</script>
"""


class AttackerSite(http.server.ThreadingHTTPServer):
    """Another web site: `http://localhost:<port>/`, a different site from the index's 127.0.0.1."""

    daemon_threads = True

    def __init__(self, action: str) -> None:
        page = ATTACK.format(action=action).encode()

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                self.send_response(200)
                self.send_header("Content-Type", "text/html; charset=utf-8")
                self.send_header("Content-Length", str(len(page)))
                self.end_headers()
                self.wfile.write(page)

            def log_message(self, *args: object) -> None:
                pass

        super().__init__(("127.0.0.1", free_port()), Handler)
        self.thread = threading.Thread(target=self.serve_forever, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://localhost:{self.server_address[1]}/"

    def close(self) -> None:
        self.shutdown()
        self.server_close()


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    st = Stack(
        workdir=tmp_path_factory.mktemp("cross-site-browser"),
        users=dict([PUBLISHER]),
        publish={"carol": ["*"]},
        bucket="pypi-cross-site",
    ).start()
    yield st
    st.stop()


@pytest.fixture(scope="module")
def browser():
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=ARGS)
        yield browser
        browser.close()


def attack(browser, stack: Stack, action: str, *, sign_in: bool):
    """Visit the index (credentials cached), then the attacker's page; the upload's response."""
    site = AttackerSite(action)
    context = browser.new_context(http_credentials={"username": PUBLISHER[0], "password": PUBLISHER[1]})
    try:
        page = context.new_page()
        if sign_in:
            assert page.goto(stack.url + "/").status == 200  # the publisher browses the index
        with page.expect_response(lambda r: "/legacy/" in r.url and r.request.method == "POST") as info:
            page.goto(site.url)
        response = info.value
        headers = response.request.all_headers()
        return response.status, response.text(), headers
    finally:
        context.close()
        site.close()


def test_another_sites_form_cannot_publish_with_cached_credentials(browser, stack):
    before = snapshot(stack.s3, stack.bucket)
    status, body, sent = attack(browser, stack, f"{stack.url}/legacy/", sign_in=True)
    assert sent["origin"].startswith("http://localhost:")  # what the browser itself added
    assert sent["sec-fetch-site"] == "cross-site"
    assert status == 403, body
    assert body.startswith("403 Cross-site request refused")
    assert snapshot(stack.s3, stack.bucket) == before


def test_another_sites_form_cannot_publish_with_credentials_in_the_url(browser, stack):
    user, password = (quote(part, safe="") for part in PUBLISHER)
    action = f"http://{user}:{password}@127.0.0.1:{stack.port}/legacy/"
    before = snapshot(stack.s3, stack.bucket)
    status, body, _ = attack(browser, stack, action, sign_in=False)
    assert status == 403, body
    assert snapshot(stack.s3, stack.bucket) == before
