"""The project page's README and side panel from core metadata (indexer/about.py)."""

from __future__ import annotations

import re
from html.parser import HTMLParser

import pytest

from indexer.about import MAX_MARKUP_CHARS, Dependency, page_safe, parse_about, render_readme
from tests.distributions import core_metadata

MARKDOWN = """# Demo

Some **bold** text and a [link](https://example.com/docs).

## Install

```python
import demo
```

| a | b |
|---|---|
| 1 | 2 |

- [x] done
- [ ] to do
"""

RST = """Demo
====

Some *emphasis* and `a link <https://example.com/docs>`_.

Usage
-----

.. code-block:: python

   import demo
"""


def about(description: str = "", content_type: str | None = "text/markdown", **kwargs) -> object:
    return parse_about(
        core_metadata("demo", "1.0", description=description, description_content_type=content_type, **kwargs)
    )


@pytest.mark.parametrize(
    ("text", "content_type", "fmt", "heading"),
    [
        pytest.param(MARKDOWN, "text/markdown", "markdown", "Demo", id="markdown"),
        pytest.param(MARKDOWN, "text/markdown; charset=UTF-8; variant=GFM", "markdown", "Demo", id="gfm"),
        pytest.param(MARKDOWN, "text/markdown; variant=CommonMark", "markdown", "Demo", id="commonmark"),
        pytest.param(RST, "text/x-rst", "rst", "Demo", id="rst"),
        # No Description-Content-Type means reStructuredText (core metadata spec; PyPI does so).
        pytest.param(RST, None, "rst", "Demo", id="no-content-type-is-rst"),
    ],
)
def test_readme_is_rendered_by_its_content_type(text, content_type, fmt, heading):
    html, got = render_readme(text, content_type)
    assert got == fmt
    # The page's <h1> is the project's name: the README's headings move one level down.
    assert re.search(rf"<h2[^>]*>{heading}</h2>", html)
    assert "<h1" not in html


@pytest.mark.parametrize(
    ("text", "content_type"),
    [
        pytest.param("plain *text*\n  indented", "text/plain", id="plain"),
        pytest.param("whatever", "application/x-unknown", id="unknown-type"),
        pytest.param("Title\n===\n\n.. include:: /etc/passwd\n", "text/x-rst", id="rst-that-fails"),
        pytest.param("# big\n" + "x" * MAX_MARKUP_CHARS, "text/markdown", id="too-big-for-markup"),
    ],
)
def test_what_cannot_be_rendered_as_markup_is_shown_as_plain_text(text, content_type):
    html, fmt = render_readme(text, content_type)
    assert fmt == "text"
    assert html.startswith('<pre class="plain" tabindex="0">')
    assert "/etc/passwd" not in html or "include::" in html  # shown as text, never included


def test_plain_text_keeps_its_lines():
    html, _ = render_readme("line one\n  line two", "text/plain")
    assert "line one\n  line two" in html


def test_no_description_renders_nothing():
    assert render_readme("  \n", "text/markdown") == ("", "")


class _Elements(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.found: list[tuple[str, dict[str, str]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.found.append((tag, {k: v or "" for k, v in attrs}))


def elements(html: str) -> list[tuple[str, dict[str, str]]]:
    """The elements a browser would build (text that merely shows markup is not one)."""
    parser = _Elements()
    parser.feed(html)
    return parser.found


HOSTILE = [
    pytest.param("<script>alert(1)</script>", id="script"),
    pytest.param('<img src="x" onerror="alert(1)">', id="event-handler"),
    pytest.param('<a href="javascript:alert(1)">x</a>', id="javascript-url"),
    pytest.param("[x](javascript:alert(1))", id="markdown-javascript-url"),
    pytest.param('<p style="position:fixed">x</p>', id="inline-style"),
    pytest.param("<style>body{display:none}</style>", id="style-block"),
    pytest.param('<iframe src="https://evil.example"></iframe>', id="iframe"),
    pytest.param('<form action="https://evil.example"><input name="p"></form>', id="form"),
    pytest.param('<meta http-equiv="refresh" content="0;url=https://evil.example">', id="meta-refresh"),
    pytest.param('<base href="https://evil.example/">', id="base"),
    pytest.param('<a href="https://evil.example/x.whl">x.whl</a>', id="a-file-looking-link"),
    pytest.param('<svg><a href="https://evil.example/x.whl">x</a></svg>', id="svg"),
]
DANGEROUS_TAGS = {"script", "style", "iframe", "form", "meta", "base", "link", "object", "embed", "svg"}


@pytest.mark.parametrize("markup", HOSTILE)
@pytest.mark.parametrize("content_type", ["text/markdown", "text/x-rst", "text/plain"])
def test_publisher_html_never_reaches_the_page(markup, content_type):
    text = f"Title\n=====\n\n.. raw:: html\n\n   {markup}\n" if content_type == "text/x-rst" else markup
    html, _ = render_readme(text, content_type)
    for tag, attrs in elements(html):
        assert tag not in DANGEROUS_TAGS
        assert not {name for name in attrs if name.startswith("on") or name in ("style", "href", "action")}
        assert not any(value.strip().lower().startswith(("javascript:", "data:")) for value in attrs.values())


def test_links_are_inert_until_the_script_makes_them_live():
    html, _ = render_readme(MARKDOWN, "text/markdown")
    assert 'data-href="https://example.com/docs"' in html
    assert not re.search(r"<a\s(?:[^>]*\s)?href=", html)


def test_headings_lose_their_empty_self_links_and_keep_prefixed_ids():
    html, _ = render_readme(RST, "text/x-rst")
    assert re.search(r"<a[^>]*></a>", html) is None
    assert 'id="user-content-usage"' in html


@pytest.mark.parametrize(
    ("sanitized", "expected"),
    [
        (
            '<p id="x"><a href="#x">to x</a></p>',
            '<p id="user-content-x"><a data-href="#user-content-x">to x</a></p>',
        ),
        ('<h6 id="user-content-y">six</h6>', '<h6 id="user-content-y">six</h6>'),
        ('<img src="https://x.org/b.svg">', '<img src="https://x.org/b.svg" alt="">'),
        (
            '<input type="checkbox" checked="" disabled="">',
            '<input type="checkbox" checked="" disabled="" aria-label="done">',
        ),
        (
            "<table><tr><td>1</td></tr></table>",
            '<div class="scroll" tabindex="0"><table><tr><td>1</td></tr></table></div>',
        ),
        ("<p>a &amp; b &lt;c&gt;</p>", "<p>a &amp; b &lt;c&gt;</p>"),
        (
            '<a title="&quot;q&quot;" href="https://x.org/?a=1&amp;b=2"><img src="i.png" alt="i"></a>',
            '<a title="&quot;q&quot;" data-href="https://x.org/?a=1&amp;b=2"><img src="i.png" alt="i"></a>',
        ),
        ("<br/>", "<br>"),
        ('<pre lang="python">x</pre>', '<pre tabindex="0" data-lang="python">x</pre>'),
    ],
)
def test_page_safe_rewrites_sanitized_html(sanitized, expected):
    assert page_safe(sanitized) == expected


def test_side_panel_fields_come_from_core_metadata():
    got = about(
        "x",
        requires_python=">=3.9",
        requires_dist=[
            "requests[socks]>=2.0; python_version < '3.8'",
            "rich; extra == 'cli'",
            "not a req !!",
        ],
        fields=[
            "License-Expression: MIT OR Apache-2.0",
            "Project-URL: Source, https://github.com/x/demo",
            "Project-URL: Bad, javascript:alert(1)",
            "Home-page: https://demo.example",
            "Author-email: Jane Doe <jane@example.com>, Joe <joe@example.com>",
            "Maintainer: Ops Team",
            "Keywords: a,b",
            "Classifier: Programming Language :: Python :: 3",
            "Classifier: Programming Language :: Python :: 3.13",
            "Classifier: Typing :: Typed",
        ],
    )
    assert got.license == "MIT OR Apache-2.0"
    assert got.requires_python == ">=3.9"
    assert got.urls == (("Source", "https://github.com/x/demo"), ("Homepage", "https://demo.example"))
    assert got.author == "Jane Doe, Joe"  # names only: addresses stay off the page
    assert got.maintainer == "Ops Team"
    assert got.keywords == ("a", "b")
    assert got.classifiers == (
        ("Programming Language", ("Python :: 3", "Python :: 3.13")),
        ("Typing", ("Typed",)),
    )
    assert got.dependencies == (
        Dependency("requests", "requests", '[socks]>=2.0; python_version < "3.8"'),
        Dependency("rich", "rich", "", "cli"),
        Dependency("", "not a req !!"),
    )
    assert [extra for extra, _ in got.dependency_groups] == ["", "cli"]


@pytest.mark.parametrize(
    ("fields", "short", "long"),
    [
        pytest.param(["License: MIT"], "MIT", "", id="short-license"),
        pytest.param(
            ["License-Expression: BSD-3-Clause", "License: BSD"], "BSD-3-Clause", "", id="expression-wins"
        ),
        pytest.param(["License: " + "x" * 100], "", "x" * 100, id="long-license-text"),
        pytest.param([], "", "", id="none"),
    ],
)
def test_licence_is_the_expression_else_a_short_license_field(fields, short, long):
    got = about(fields=fields)
    assert (got.license, got.license_text) == (short, long)
