"""End to end in a real browser: Debian's chromium, headless, driven by Playwright."""

from __future__ import annotations

import pytest
from playwright.sync_api import Error as PlaywrightError
from playwright.sync_api import sync_playwright

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


@pytest.fixture(scope="module")
def browser():
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=ARGS)
        yield browser
        browser.close()


@pytest.fixture
def page(browser, e2e):
    context = browser.new_context(http_credentials={"username": "alice", "password": e2e.users["alice"]})
    page = context.new_page()
    yield page
    context.close()


def visible_projects(page) -> list[str]:
    return [row.get_attribute("data-name") for row in page.locator("#projects tr[data-name]:visible").all()]


def test_root_page_lists_every_project_with_its_latest_version(page, e2e, output_dir):
    response = page.goto(e2e.url + "/")
    assert response.status == 200
    assert {"edgetest-hello-world", "edgetest-dep", "edgetest-modern", "edgetest-yanky"} <= set(
        visible_projects(page)
    )
    row = page.locator('tr[data-name="edgetest-dep"]')
    assert "1.2" in row.inner_text()
    page.screenshot(path=str(output_dir / "browser-root.png"), full_page=True)


def test_filter_box_narrows_the_list(page, e2e, output_dir):
    page.goto(e2e.url + "/simple/")
    page.fill("#filter", "Hello_World")  # typed the way a person remembers it, normalized like PEP 503
    assert visible_projects(page) == ["edgetest-hello-world"]
    page.screenshot(path=str(output_dir / "browser-filter.png"), full_page=True)
    page.fill("#filter", "no-such-thing")
    assert visible_projects(page) == []
    assert page.locator("#nomatch").is_visible()


def test_project_page_shows_versions_files_and_how_to_install(page, e2e, output_dir):
    page.goto(e2e.url + "/")
    page.click("text=edgetest-dep")
    page.wait_for_url("**/edgetest-dep/")
    versions = page.locator(".version").all_inner_texts()
    assert [v.split()[0] for v in versions] == ["1.2", "1.0"]  # newest first
    assert page.locator("a", has_text="edgetest_dep-1.2-py3-none-any.whl").count() == 1
    assert page.locator("a", has_text="edgetest_dep-1.2.tar.gz").count() == 1
    assert "pip install edgetest-dep==1.2" in page.locator("pre").inner_text()
    assert "The dependency" in page.locator(".summary").inner_text()
    page.screenshot(path=str(output_dir / "browser-project.png"), full_page=True)


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
    context.close()
