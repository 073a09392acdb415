"""End to end in a real browser: Debian's chromium, headless, driven by Playwright.

Every page is loaded under the Content-Security-Policy the distribution serves (added here where
the stand-in does not send one yet), checked with axe-core, for sideways overflow at 390 px, and
photographed at 1280 and 390 px into test-output/ (two of these are in docs/ and the README).
"""

from __future__ import annotations

import json
import re
import time
from pathlib import Path

import pytest
from axe_playwright_python.sync_playwright import Axe
from playwright.sync_api import Error as PlaywrightError
from playwright.sync_api import expect, sync_playwright

from indexer import render
from indexer.status import ProjectStatus
from indexer.status import render as status_marker
from tests.distributions import make_sdist, make_wheel

pytestmark = pytest.mark.e2e

CHROMIUM = "/usr/bin/chromium"
# Without the background-networking flags chromium keeps dialling out, which this machine refuses.
ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
# What the distribution's response headers policy sends with every page (issue 18).
PAGE_CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data: https:; "
    "connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)
WIDTHS = {"1280": {"width": 1280, "height": 900}, "390": {"width": 390, "height": 844}}

MARKDOWN = """# Browse MD

A **Markdown** README with [a link](https://example.com/docs) and code:

```python
import edgetest_browse_md
print(edgetest_browse_md.__version__)
```

## Features

| Feature | Status |
|---------|--------|
| Static pages | done |
| Dark mode | done |

<script>window.pwned = "script"</script>
<img src="https://example.com/x.png" alt="x" onerror="window.pwned = 'onerror'">
"""
RST = """Browse RST
==========

A *reStructuredText* README, rendered by docutils through readme_renderer.

Usage
-----

.. code-block:: python

   import edgetest_browse_rst

* one
* two
"""
FIELDS = [
    "License-Expression: MIT",
    "Project-URL: Source, https://github.com/example/browse",
    "Author-email: Jane Doe <jane@example.com>",
    "Classifier: Programming Language :: Python :: 3",
    "Classifier: Typing :: Typed",
]
BROWSE = {
    "edgetest-browse-md": dict(
        description=MARKDOWN,
        fields=FIELDS,
        requires_python=">=3.9",
        requires_dist=["edgetest-dep>=1.0", "requests>=2; extra == 'http'"],
        summary="Markdown README, dependencies, links",
    ),
    "edgetest-browse-rst": dict(
        description=RST, description_content_type="text/x-rst", summary="A reStructuredText README"
    ),
    "edgetest-browse-yanked": dict(
        description="# Yanked\n\nIts 2.0 was yanked.", summary="Has a yanked release"
    ),
    "edgetest-browse-archived": dict(description="# Archived\n\nNo longer maintained.", summary="Archived"),
}


@pytest.fixture(scope="module")
def browse(e2e):
    """The projects people look at: Markdown and RST READMEs, a yanked release, an archived one."""
    for name, kwargs in BROWSE.items():
        for version in ("1.0", "2.0"):
            filename, data, _ = make_wheel(name, version, **kwargs)
            e2e.put(filename, data)
        sdist_name, sdist = make_sdist(name, "2.0", **kwargs)
        e2e.put(sdist_name, sdist)
    for name in BROWSE:
        e2e.wait_for(name, lambda got: len(got) == 3)
    for filename in ("edgetest_browse_yanked-2.0-py3-none-any.whl", "edgetest_browse_yanked-2.0.tar.gz"):
        e2e.s3.put_object(
            Bucket=e2e.bucket,
            Key=f"edgetest-browse-yanked/{filename}.yanked",
            Body=b"Broke imports on Windows; use 2.1",
        )
    e2e.wait_for("edgetest-browse-yanked", lambda got: sum(1 for f in got if f["yanked"]) == 2)
    e2e.s3.put_object(
        Bucket=e2e.bucket,
        Key="edgetest-browse-archived/.project-status",
        Body=status_marker(ProjectStatus("archived", "superseded by edgetest-browse-md")),
    )
    e2e.wait_for_status("edgetest-browse-archived", "archived")
    return e2e


@pytest.fixture(scope="module")
def browser():
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=ARGS)
        yield browser
        browser.close()


class Watched:
    """A page whose CSP violations and script errors are collected."""

    def __init__(self, page):
        self.page = page
        self.problems: list[str] = []
        page.on("console", self._console)
        page.on("pageerror", lambda exc: self.problems.append(f"pageerror: {exc}"))

    def _console(self, msg) -> None:
        if "Content Security Policy" in msg.text or "Refused to" in msg.text:
            self.problems.append(msg.text)


def with_csp(route) -> None:
    """Serve the stand-in's answer with the distribution's CSP when the answer has none; other
    hosts (a README's images) are not reached: tests never use the network."""
    if not route.request.url.startswith("http://127.0.0.1:"):
        route.abort()
        return
    try:
        response = route.fetch()
        headers = {
            k: v for k, v in response.headers.items() if k not in ("content-length", "content-encoding")
        }
        headers.setdefault("content-security-policy", PAGE_CSP)
        route.fulfill(response=response, headers=headers, body=response.body())
    except PlaywrightError as exc:  # the page closed while a request of its was in flight
        if "disposed" not in str(exc) and "closed" not in str(exc):
            raise


def close(context) -> None:
    """Close a context only once its route handlers are done: a handler still in `route.fetch`
    when the context closes fails in Playwright's dispatcher ("Failed to find browser context"),
    and that error surfaced in a later test's teardown on CI. `unroute_all(behavior="wait")` lets
    the handlers in flight finish and starts no new ones (Playwright >= 1.41)."""
    context.unroute_all(behavior="wait")
    context.close()


def open_page(browser, e2e, width: str = "1280", credentials: bool = True) -> Watched:
    context = browser.new_context(
        viewport=WIDTHS[width],
        http_credentials={"username": "alice", "password": e2e.users["alice"]} if credentials else None,
    )
    context.route("**/*", with_csp)
    return Watched(context.new_page())


@pytest.fixture
def page(browser, e2e):
    watched = open_page(browser, e2e)
    yield watched.page
    close(watched.page.context)
    assert watched.problems == []


def test_closing_a_context_with_requests_in_flight_leaves_no_error_behind(browser, e2e):
    """CI once failed a test's setup with a previous context's route handler error ("Route.fetch:
    Failed to find browser context"): the context had closed under a handler in flight. A page
    that keeps fetching is closed ten times; a plain `context.close()` failed about one in three."""

    def forward(route) -> None:  # errors are not swallowed here, unlike with_csp
        route.fulfill(response=route.fetch())

    for _ in range(10):
        context = browser.new_context(http_credentials={"username": "alice", "password": e2e.users["alice"]})
        context.route("**/*", forward)
        page = context.new_page()
        page.goto(e2e.url + "/")
        page.evaluate("setInterval(() => fetch('/', {method: 'HEAD'}).catch(() => 0), 10)")
        page.wait_for_timeout(50)
        close(context)
    browser.new_context().close()  # where a stray handler error would surface


def axe_violations(page) -> list[str]:
    results = Axe().run(page)
    return [f"{v['id']}: {v['help']} ({len(v['nodes'])})" for v in results.response["violations"]]


def overflow(page) -> int:
    """Pixels the document is wider than the viewport (0: no sideways scrolling)."""
    return page.evaluate("document.documentElement.scrollWidth - document.documentElement.clientWidth")


def photograph(browser, e2e, output_dir: Path, name: str, path: str, status: int = 200, ready=None) -> None:
    """At both widths: the page loads with `status`, nothing overflows, axe finds nothing, no CSP
    violation, and a screenshot lands in test-output/browser-<name>-<width>.png."""
    for width in WIDTHS:
        watched = open_page(browser, e2e, width)
        page = watched.page
        response = page.goto(e2e.url + path)
        assert response.status == status
        if ready:
            ready(page)
        page.wait_for_load_state("networkidle")
        assert overflow(page) == 0, f"{name} overflows at {width} px"
        assert axe_violations(page) == [], f"{name} at {width} px"
        page.screenshot(path=str(output_dir / f"browser-{name}-{width}.png"), full_page=True)
        close(page.context)
        assert watched.problems == [], f"{name} at {width} px"


def visible_projects(page) -> list[str]:
    return page.locator("#projects li:visible a").all_inner_texts()


# --- the root --------------------------------------------------------------------------------------


def test_root_lists_every_project_with_its_latest_version(page, browse):
    response = page.goto(browse.url + "/")
    assert response.status == 200
    names = visible_projects(page)
    assert {"edgetest-hello-world", "edgetest-dep", "edgetest-browse-md", "edgetest-browse-archived"} <= set(
        names
    )
    row = page.locator("#projects li", has_text="edgetest-dep")
    assert "1.2" in row.inner_text()
    assert page.locator("#count").inner_text() == f"{len(names)} projects"
    assert re.fullmatch(rf"{len(names)} projects · 127\.0\.0\.1:\d+", page.title())


def test_root_and_its_photographs(browser, browse, output_dir):
    photograph(browser, browse, output_dir, "root", "/")


def test_root_shows_how_to_use_the_index_with_its_real_url(page, browse):
    page.goto(browse.url + "/simple/")
    expect(page.locator("#cmd-pip")).to_have_text(f"pip install --index-url {browse.url}/simple/ <project>")
    page.get_by_role("tab", name="uv").click()
    expect(page.locator("#cmd-uv-publish")).to_have_text(f"uv publish --publish-url {browse.url}/legacy/")
    assert browse.users["alice"] not in page.content()


def test_filter_count_follows_the_filter(page, browse):
    page.goto(browse.url + "/simple/")
    total = len(visible_projects(page))
    page.fill("#filter", "Hello_World")  # typed the way a person remembers it, normalized like PEP 503
    expect(page.locator("#count")).to_have_text(f"1 of {total} projects")
    assert visible_projects(page) == ["edgetest-hello-world"]
    page.fill("#filter", "no-such-thing")
    expect(page.locator("#count")).to_have_text(f"0 of {total} projects")
    assert visible_projects(page) == []
    assert page.locator("#nomatch").is_visible()


def test_filter_works_from_the_keyboard_alone(page, browse):
    page.goto(browse.url + "/")
    page.keyboard.press("/")  # focuses the filter
    page.keyboard.type("browse-r")
    expect(page.locator("#count")).to_contain_text("1 of")
    page.keyboard.press("ArrowDown")  # into the list: the first match
    assert page.evaluate("document.activeElement.textContent") == "edgetest-browse-rst"
    page.keyboard.press("Shift+Tab")
    page.keyboard.press("Escape")  # clears
    expect(page.locator("#filter")).to_have_value("")
    page.keyboard.type("browse-md")
    page.keyboard.press("Enter")  # opens the first match
    page.wait_for_url("**/edgetest-browse-md/")


# --- project pages ---------------------------------------------------------------------------------


def test_markdown_readme_is_rendered_and_its_script_is_neither_run_nor_present(page, browse):
    page.goto(browse.url + "/edgetest-browse-md/")
    expect(page.locator(".readme h2", has_text="Browse MD")).to_be_visible()
    expect(page.locator(".readme h3", has_text="Features")).to_be_visible()
    assert page.locator(".readme table td", has_text="Static pages").count() == 1
    assert page.locator("script:not([src])").count() == 0
    assert page.locator("[onerror]").count() == 0
    page.wait_for_load_state("networkidle")
    assert page.evaluate("window.pwned") is None
    expect(page.locator('.readme a[href="https://example.com/docs"]')).to_have_attribute(
        "rel", "nofollow noopener noreferrer"
    )
    assert page.title() == f"edgetest-browse-md 2.0 · {browse.url.removeprefix('http://')}"


def test_side_panel_links_what_this_index_hosts(page, browse):
    page.goto(browse.url + "/simple/edgetest-browse-md/")
    side = page.locator("aside.side")
    expect(side.locator('a[href="../edgetest-dep/"]')).to_have_text("edgetest-dep")
    page.wait_for_load_state("networkidle")
    assert side.locator("a", has_text="requests").count() == 0  # not hosted here: plain text
    assert "with [http]" in side.inner_text()
    assert "MIT" in side.inner_text() and "Jane Doe" in side.inner_text()
    expect(side.locator('a[href="https://github.com/example/browse"]')).to_have_text("Source")
    side.locator('a[href="../edgetest-dep/"]').click()
    page.wait_for_url("**/simple/edgetest-dep/")


def test_install_tabs_and_copy_buttons(browser, browse):
    watched = open_page(browser, browse)
    page = watched.page
    page.context.grant_permissions(["clipboard-read", "clipboard-write"], origin=browse.url)
    page.goto(browse.url + "/edgetest-browse-md/")
    pip_command = f"pip install --index-url {browse.url}/simple/ edgetest-browse-md"
    expect(page.locator("#cmd-pip")).to_have_text(pip_command)
    page.locator('button[data-copy="cmd-pip"]').click()
    assert page.evaluate("navigator.clipboard.readText()") == pip_command
    page.get_by_role("tab", name="pip").focus()
    page.keyboard.press("ArrowRight")  # WAI-ARIA tabs: arrows move between tools
    expect(page.locator("#cmd-uv")).to_be_visible()
    expect(page.locator("#cmd-pip")).to_be_hidden()
    expect(page.locator("#cmd-uv")).to_have_text(
        f"uv add --index private={browse.url}/simple/ edgetest-browse-md"
    )
    wheel = page.locator("tr", has_text="edgetest_browse_md-2.0-py3-none-any.whl")
    wheel.get_by_role("button", name=re.compile("Copy the SHA-256")).click()
    sha = wheel.locator("a[href*='#sha256=']").get_attribute("href").split("#sha256=")[1]
    assert page.evaluate("navigator.clipboard.readText()") == sha
    metadata = wheel.locator("a.meta")
    assert metadata.get_attribute("href") == "edgetest_browse_md-2.0-py3-none-any.whl.metadata"
    close(page.context)
    assert watched.problems == []


def test_rst_readme_is_rendered(page, browse):
    page.goto(browse.url + "/edgetest-browse-rst/")
    expect(page.locator(".readme h2", has_text="Browse RST")).to_be_visible()
    expect(page.locator(".readme h3", has_text="Usage")).to_be_visible()
    assert page.locator(".readme pre .kn", has_text="import").count() == 1
    assert page.locator(".readme[data-format=rst]").count() == 1


def test_yanked_release_shows_its_reason(page, browse):
    page.goto(browse.url + "/edgetest-browse-yanked/")
    release = page.locator("section.release#v2\\.0")
    expect(release.locator(".yanked-why")).to_have_text(["Yanked: Broke imports on Windows; use 2.1"] * 2)
    expect(release.locator("h3 .badge.yanked")).to_have_text("yanked")
    assert "latest" in page.locator("section.release#v1\\.0 h3").inner_text()  # 2.0 is yanked


def test_archived_project_says_so(page, browse):
    page.goto(browse.url + "/edgetest-browse-archived/")
    expect(page.locator("#project-status")).to_contain_text("archived: superseded by edgetest-browse-md")
    expect(page.locator("h1 .badge.status-archived")).to_have_text("archived")


@pytest.mark.parametrize(
    ("name", "path"),
    [
        ("project-markdown", "/edgetest-browse-md/"),
        ("project-rst", "/simple/edgetest-browse-rst/"),
        ("project-yanked", "/edgetest-browse-yanked/"),
        ("project-archived", "/edgetest-browse-archived/"),
    ],
)
def test_project_pages_and_their_photographs(browser, browse, output_dir, name, path):
    photograph(browser, browse, output_dir, name, path)


def test_column_widths_are_the_same_in_every_release_table(page, browse):
    page.goto(browse.url + "/edgetest-browse-md/")
    widths = page.evaluate(
        "[...document.querySelectorAll('table.files')].map(t =>"
        " [...t.querySelectorAll('thead th')].map(th => Math.round(th.getBoundingClientRect().width)))"
    )
    assert len(widths) == 2 and widths[0] == widths[1]


# --- 404 and 401 -----------------------------------------------------------------------------------


def test_missing_project_gets_the_styled_404_page(browser, browse, output_dir):
    def ready(page):
        expect(page.locator("h1")).to_have_text("Not found")
        page.get_by_role("link", name="Back to the package list").click()
        page.wait_for_url(browse.url + "/")
        page.go_back()

    photograph(browser, browse, output_dir, "404", "/simple/no-such-project/", status=404, ready=ready)


def test_the_edges_own_404_is_styled_under_its_hashed_style_csp(browser, browse, output_dir):
    # Generated by the viewer-request function, with its own CSP: the style runs only by its hash.
    photograph(browser, browse, output_dir, "404-edge", "/no/such/thing", status=404)


def test_browser_without_credentials_gets_the_basic_challenge(browser, e2e):
    context = browser.new_context()
    page = context.new_page()
    # Headless chromium cannot show the login dialog, so it gives up on the challenge.
    with (
        page.expect_response(lambda r: r.url == e2e.url + "/") as info,
        pytest.raises(PlaywrightError, match="ERR_INVALID_AUTH_CREDENTIALS"),
    ):
        page.goto(e2e.url + "/")
    response = info.value
    assert response.status == 401
    assert response.headers["www-authenticate"].startswith('Basic realm="')
    assert 'charset="UTF-8"' in response.headers["www-authenticate"]
    close(context)


def test_the_401_page_shown_when_sign_in_is_cancelled(browser, e2e, output_dir):
    """What a browser renders when its sign-in dialog is cancelled: the 401's own body."""
    for width in WIDTHS:
        context = browser.new_context(viewport=WIDTHS[width])

        def cancelled(route):
            # Headless chromium cannot cancel a dialog it cannot show; without the challenge
            # header it renders the body, as a browser does after Cancel.
            response = route.fetch()
            headers = {k: v for k, v in response.headers.items() if k != "www-authenticate"}
            route.fulfill(status=response.status, headers=headers, body=response.body())

        context.route(e2e.url + "/", cancelled)
        watched = Watched(context.new_page())
        page = watched.page
        assert page.goto(e2e.url + "/").status == 401
        expect(page.locator("h1")).to_have_text("401 Unauthorized")
        assert page.evaluate("getComputedStyle(document.body).maxWidth") != "none"  # the style applied
        assert overflow(page) == 0
        assert axe_violations(page) == []
        page.screenshot(path=str(output_dir / f"browser-401-{width}.png"), full_page=True)
        close(context)
        assert watched.problems == []


# --- dark mode and weight --------------------------------------------------------------------------


def test_dark_mode_follows_the_system(browser, browse, output_dir):
    context = browser.new_context(
        color_scheme="dark",
        viewport=WIDTHS["1280"],
        http_credentials={"username": "alice", "password": browse.users["alice"]},
    )
    context.route("**/*", with_csp)
    page = context.new_page()
    page.goto(browse.url + "/edgetest-browse-md/")
    background = page.evaluate("getComputedStyle(document.body).backgroundColor")
    assert background == "rgb(15, 19, 26)"
    assert axe_violations(page) == []  # contrast holds in the dark too
    page.screenshot(path=str(output_dir / "browser-project-markdown-dark.png"), full_page=True)
    close(context)


def big_root(n: int) -> tuple[bytes, str, int]:
    from tests.test_pages import synthetic_root

    projects = synthetic_root(n)
    query = "async-http"
    matches = sum(1 for p in projects.live if query in p.name or query in p.summary)
    return render.root_html(projects, render.Site("https://pypi.example.com")), query, matches


@pytest.mark.parametrize("projects", [50_000])
def test_the_filter_at_50000_projects_in_the_real_browser(browser, browse, output_dir, projects):
    """Load and filter times are measured and written to test-output/ (no timed assertion: this
    machine's timings are noisy); what is asserted is that the filter finds exactly the matches."""
    body, query, matches = big_root(projects)
    watched = open_page(browser, browse)
    page = watched.page
    page.route(
        browse.url + "/big/",
        lambda route: route.fulfill(
            status=200,
            body=body,
            headers={"content-type": "text/html; charset=utf-8", "content-security-policy": PAGE_CSP},
        ),
    )
    start = time.monotonic()
    page.goto(browse.url + "/big/", wait_until="load")
    load_ms = (time.monotonic() - start) * 1000
    page.wait_for_selector("#projects[data-ready]", state="attached")  # match strings made when idle
    timings = page.evaluate(
        """async (query) => {
            const box = document.getElementById("filter");
            const frame = () => new Promise(r => requestAnimationFrame(() => requestAnimationFrame(r)));
            const out = [];
            for (const q of [query.slice(0, 1), query.slice(0, 5), query, ""]) {
                const t0 = performance.now();
                box.value = q;
                box.dispatchEvent(new Event("input"));
                await frame();
                out.push([q, performance.now() - t0, document.getElementById("count").textContent]);
            }
            return out;
        }""",
        query,
    )
    close(page.context)
    assert watched.problems == []
    by_query = {q: (ms, count) for q, ms, count in timings}
    assert by_query[query][1] == f"{matches} of {projects} projects"
    assert by_query[""][1] == f"{projects} projects"
    result = {
        "projects": projects,
        "html_bytes": len(body),
        "load_ms": round(load_ms),
        "filter_ms": {q or "(cleared)": round(ms) for q, (ms, _) in by_query.items()},
    }
    (output_dir / "browser-filter-50000.json").write_text(json.dumps(result, indent=2) + "\n")
    print(result)
