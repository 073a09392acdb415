"""What a project page says about a project: its latest release's core metadata, made readable.

Pure functions only.  `parse_about(raw)` turns the bytes of a METADATA / PKG-INFO file into an
`About`: the fields the side panel shows, and the long description rendered to HTML with
`readme_renderer`, the library PyPI uses (it sanitizes with nh3, so publisher HTML is never
trusted: no script, no style, no event handler survives).

One more pass, `_PageSafe`, fits that HTML into a PEP 503 page:

* Links become *inert*: ``<a href=...>`` is written ``<a data-href=...>``, and the page's script
  (indexer/static/pypi-edge.js) turns them back into links in the browser.  pip's HTML parser
  and pypi-simple read every ``<a href>`` of a project page as a candidate file, so a README
  link would change what they read; an ``<a>`` without ``href`` is skipped by both
  (pip: ``Link.from_element`` returns None without href; pypi-simple: ``find_all("a",
  href=True)``).  tests/test_pages_simple_api.py holds the anchors to exactly the files.
* Headings move one level down (the page's ``<h1>`` is the project's name), empty self-links
  next to headings go, ids keep readme_renderer's ``user-content-`` prefix so they cannot
  collide with the page's own, task-list checkboxes get a name and images an ``alt``, a code
  block's ``lang`` (a programming language, not a human one) becomes ``data-lang``, and wide
  tables and code blocks scroll inside a focusable box, so the page stays accessible (axe).
"""

from __future__ import annotations

import html
import re
from dataclasses import dataclass
from email.message import Message
from html.parser import HTMLParser

from packaging.metadata import parse_email
from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import canonicalize_name

# Past this, a description is shown as plain text: docutils on a hostile multi-megabyte
# reStructuredText document could take most of the indexer's time (core metadata is capped at
# 4 MiB by indexer.metadata; PyPI's largest READMEs are a few hundred KiB).
MAX_MARKUP_CHARS = 512 * 1024
USER_CONTENT = "user-content-"  # readme_renderer's id prefix (GFM header ids, docutils sections)
_EXTRA = re.compile(r"""extra\s*==\s*['"]([^'"]+)['"]""")
# packaging writes markers with double quotes: `python_version < "3.8" and extra == "cli"`.
_EXTRA_CLAUSE = re.compile(r'\s+and\s+extra == "[^"]+"|extra == "[^"]+"\s+and\s+|^extra == "[^"]+"$')


@dataclass(frozen=True)
class Dependency:
    """One Requires-Dist line: the project it names (normalized, for a link) and how it reads."""

    project: str  # normalized name ("" when the line does not parse)
    name: str  # as written
    rest: str = ""  # extras, specifier and marker, without the `extra == ...` clause (the group says it)
    extra: str = ""  # the extra that pulls it in ("" = always)

    @property
    def text(self) -> str:
        return self.name + self.rest


@dataclass(frozen=True)
class About:
    """The side panel and the README of a project page (core metadata specification fields)."""

    version: str = ""
    summary: str = ""
    license: str = ""  # License-Expression (PEP 639), else a short License
    license_text: str = ""  # a License field too long to show inline (often the whole text)
    requires_python: str = ""
    dependencies: tuple[Dependency, ...] = ()
    urls: tuple[tuple[str, str], ...] = ()  # (label, http(s) URL)
    author: str = ""
    maintainer: str = ""
    keywords: tuple[str, ...] = ()
    classifiers: tuple[tuple[str, tuple[str, ...]], ...] = ()  # (group, values)
    readme_html: str = ""  # sanitized, page-safe HTML ("" = no description)
    readme_format: str = ""  # "markdown", "rst", "text"
    extras: tuple[str, ...] = ()  # Provides-Extra

    @property
    def dependency_groups(self) -> list[tuple[str, list[Dependency]]]:
        """Dependencies by extra: the unconditional ones first, then each extra by name."""
        groups: dict[str, list[Dependency]] = {}
        for dep in self.dependencies:
            groups.setdefault(dep.extra, []).append(dep)
        return sorted(groups.items(), key=lambda kv: (kv[0] != "", kv[0]))


def parse_about(raw: bytes) -> About:
    """An `About` from core metadata bytes; lenient, as what publishers upload is."""
    # packaging's parser: multiple-use fields as lists, the body as Description, no validation
    # (fields it cannot read go to its second return value and are simply not shown).
    meta, _unparsed = parse_email(raw)
    license_expression = (meta.get("license_expression") or "").strip()
    license_field = (meta.get("license") or "").strip()
    short_license = license_expression or (
        license_field if license_field and len(license_field) <= 80 and "\n" not in license_field else ""
    )
    readme_html, readme_format = render_readme(
        meta.get("description") or "", meta.get("description_content_type")
    )
    return About(
        version=meta.get("version") or "",
        summary=meta.get("summary") or "",
        license=short_license,
        license_text="" if short_license or not license_field else license_field,
        requires_python=meta.get("requires_python") or "",
        dependencies=tuple(_dependency(line) for line in meta.get("requires_dist") or []),
        urls=_urls(meta.get("project_urls") or {}, meta.get("home_page"), meta.get("download_url")),
        author=_person(meta.get("author"), meta.get("author_email")),
        maintainer=_person(meta.get("maintainer"), meta.get("maintainer_email")),
        keywords=tuple(k for k in meta.get("keywords") or [] if k),
        classifiers=_classifiers(meta.get("classifiers") or []),
        readme_html=readme_html,
        readme_format=readme_format,
        extras=tuple(meta.get("provides_extra") or []),
    )


def _dependency(line: str) -> Dependency:
    try:
        req = Requirement(line)
    except InvalidRequirement:
        return Dependency("", line)
    marker = str(req.marker) if req.marker else ""
    extra = _EXTRA.search(marker)
    if extra:
        marker = _EXTRA_CLAUSE.sub("", marker).strip()
    rest = (f"[{','.join(sorted(req.extras))}]" if req.extras else "") + str(req.specifier)
    if marker:
        rest += f"; {marker}"
    return Dependency(
        canonicalize_name(req.name), req.name, rest, canonicalize_name(extra.group(1)) if extra else ""
    )


def _is_web_url(url: str) -> bool:
    return url.lower().startswith(("https://", "http://")) and not any(c.isspace() for c in url)


def _urls(
    project_urls: dict[str, str], home_page: str | None, download_url: str | None
) -> tuple[tuple[str, str], ...]:
    # Only http(s) URLs become links: a publisher's "javascript:" or "data:" stays off the page.
    pairs = [(label.strip(), url.strip()) for label, url in project_urls.items()]
    seen = {url for _, url in pairs}
    for label, url in (("Homepage", home_page), ("Download", download_url)):
        if url and url.strip() not in seen:
            pairs.append((label, url.strip()))
    return tuple((label or url, url) for label, url in pairs if _is_web_url(url))


def _person(name: str | None, email: str | None) -> str:
    """'Jane Doe', or the names in 'Jane Doe <jane@example.com>, …' (addresses are not shown)."""
    if name and name.strip():
        return name.strip()
    if not email:
        return ""
    names = []
    for part in email.split(","):
        display, _, _address = part.partition("<")
        names.append(display.strip().strip('"') or part.strip())
    return ", ".join(n for n in names if n)


def _classifiers(values: list[str]) -> tuple[tuple[str, tuple[str, ...]], ...]:
    groups: dict[str, list[str]] = {}
    for value in values:
        group, sep, rest = value.partition(" :: ")
        groups.setdefault(group.strip(), []).append(rest.strip() if sep else group.strip())
    return tuple((group, tuple(items)) for group, items in groups.items())


# --- the README -----------------------------------------------------------------------------


def render_readme(text: str, content_type: str | None) -> tuple[str, str]:
    """(page-safe HTML, format) of a long description, the way PyPI renders it.

    Warehouse (warehouse/utils/readme.py) picks the renderer by Description-Content-Type: none
    means reStructuredText, unknown types plain text, and whatever fails to render is shown
    as plain text instead.  Its parameters (``variant=GFM|CommonMark``, ``charset``) are passed on.
    """
    if not text.strip():
        return "", ""
    from readme_renderer import markdown, rst, txt  # a few hundred ms of imports: only when needed

    msg = Message()
    msg["content-type"] = content_type or "text/x-rst"
    mime = msg.get_content_type()
    params = {k: v for k, v in msg.get_params()[1:] if k in ("variant", "charset")} if content_type else {}
    rendered: str | None = None
    fmt = "text"
    if len(text) <= MAX_MARKUP_CHARS:
        if mime == "text/markdown":
            rendered, fmt = markdown.render(text, **params), "markdown"
        elif mime == "text/x-rst":
            rendered, fmt = rst.render(text), "rst"
    if rendered is None:
        fmt = "text"
        plain = txt.render(text)
        rendered = f'<pre class="plain">{plain}</pre>' if plain is not None else ""
        rendered = rendered.replace("<br>", "\n")
    return page_safe(rendered), fmt


_VOID = frozenset({"br", "hr", "img", "input", "col", "wbr"})


class _PageSafe(HTMLParser):
    """Re-serializes already sanitized HTML with the changes the module docstring lists."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.out: list[str] = []
        self._anchors: list[int] = []  # out positions of open <a> start tags

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = {name: value or "" for name, value in attrs}
        if tag == "a":
            self._anchors.append(len(self.out))
            href = values.pop("href", None)
            if href is not None:
                values["data-href"] = _local_fragment(href)
        if "id" in values and not values["id"].startswith(USER_CONTENT):
            values["id"] = USER_CONTENT + values["id"]
        if tag == "input":
            values["aria-label"] = "done" if "checked" in values else "to do"
        if tag == "img" and "alt" not in values:
            values["alt"] = ""
        if tag == "pre":
            values["tabindex"] = "0"  # a code block that scrolls sideways must take focus
            if "lang" in values:  # comrak's <pre lang="python">: a programming language, not a BCP 47 tag
                values["data-lang"] = values.pop("lang")
        if tag == "table":
            self.out.append('<div class="scroll" tabindex="0">')
        self.out.append(_start(_heading(tag), values))

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.handle_starttag(tag, attrs)
        if tag not in _VOID:
            self.handle_endtag(tag)

    def handle_endtag(self, tag: str) -> None:
        if tag in _VOID:
            return
        if tag == "a" and self._anchors:
            start = self._anchors.pop()
            if start == len(self.out) - 1:  # nothing inside: a heading's empty self-link
                del self.out[start]
                return
        self.out.append(f"</{_heading(tag)}>")
        if tag == "table":
            self.out.append("</div>")

    def handle_data(self, data: str) -> None:
        self.out.append(html.escape(data, quote=False))


def _heading(tag: str) -> str:
    if len(tag) == 2 and tag[0] == "h" and tag[1] in "12345":
        return f"h{int(tag[1]) + 1}"
    return tag


def _local_fragment(href: str) -> str:
    if href.startswith("#") and not href.startswith("#" + USER_CONTENT):
        return "#" + USER_CONTENT + href[1:]
    return href


def _start(tag: str, values: dict[str, str]) -> str:
    attrs = "".join(f' {name}="{html.escape(value, quote=True)}"' for name, value in values.items())
    return f"<{tag}{attrs}>"


def page_safe(sanitized: str) -> str:
    """Sanitized HTML (readme_renderer's output) made fit for a PEP 503 page (module docstring)."""
    parser = _PageSafe()
    parser.feed(sanitized)
    parser.close()
    return "".join(parser.out)
