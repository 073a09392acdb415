"""The documentation: the README is a front page, and the reference tables cannot drift from the
Pulumi program (`mkdocs build --strict`, run by `make test`, checks every link and anchor)."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parent.parent
DOCS = REPO / "docs"
LINK = re.compile(r"\]\(([^)\s]+)\)")


def table_rows(page: str, heading: str) -> list[list[str]]:
    """The cells of the first table under `## heading`, header and rule left out."""
    section = page.split(f"\n## {heading}\n", 1)[1].split("\n## ", 1)[0]
    rows = [line for line in section.splitlines() if line.startswith("|")]
    return [[cell.strip() for cell in row.strip("|").split("|")] for row in rows[2:]]


def names(rows: list[list[str]]) -> list[str]:
    out = []
    for row in rows:
        match = re.fullmatch(r"`([A-Za-z]+)`", row[0])
        assert match, row[0]
        out.append(match.group(1))
    return out


def reference() -> str:
    return (DOCS / "reference.md").read_text()


def test_the_reference_lists_every_config_key_of_pulumi_yaml_once():
    declared = yaml.safe_load((REPO / "Pulumi.yaml").read_text())["config"]
    listed = names(table_rows(reference(), "Configuration keys"))
    assert sorted(listed) == sorted(declared)
    assert len(listed) == len(set(listed))


def test_the_reference_lists_every_stack_output_the_program_exports_once():
    exported = re.findall(r'pulumi\.export\("(\w+)"', (REPO / "__main__.py").read_text())
    rows = table_rows(reference(), "Stack outputs")
    now = [name for name, row in zip(names(rows), rows, strict=True) if not row[1].startswith("coming")]
    assert sorted(now) == sorted(exported)
    assert len(now) == len(set(now))


def test_outputs_marked_coming_are_not_exported_yet():
    # When a branch adds one of them to __main__.py, this fails until its row says when it is there.
    # (uploadUrl, pipConf and uvToml were "coming" until issue 22 item 4 exported them.)
    exported = set(re.findall(r'pulumi\.export\("(\w+)"', (REPO / "__main__.py").read_text()))
    rows = table_rows(reference(), "Stack outputs")
    coming = {name for name, row in zip(names(rows), rows, strict=True) if row[1].startswith("coming")}
    assert not coming & exported


def test_each_output_row_says_when_the_program_exports_it():
    # `always` for an export at the top level of __main__.py, `with <setting>` for one inside an `if`.
    program = (REPO / "__main__.py").read_text()
    always = set(re.findall(r'^pulumi\.export\("(\w+)"', program, re.MULTILINE))
    conditional = set(re.findall(r'^[ \t]+pulumi\.export\("(\w+)"', program, re.MULTILINE))
    rows = table_rows(reference(), "Stack outputs")
    when = dict(zip(names(rows), (row[1] for row in rows), strict=True))
    assert {name for name, cell in when.items() if cell == "always"} == always
    assert {name for name, cell in when.items() if cell.startswith("with ")} == conditional


def test_the_readme_is_a_front_page():
    readme = (REPO / "README.md").read_text()
    assert len(readme.splitlines()) < 200
    for heading in ("## The two commands", "## Deploy in four commands", "## Documentation"):
        assert heading in readme
    deploy = readme.split("## Deploy in four commands", 1)[1].split("\n## ", 1)[0]
    commands = deploy.split("```sh\n", 1)[1].split("```", 1)[0].strip().splitlines()
    assert len(commands) == 4 and all(c.startswith("pulumi ") for c in commands)


def test_every_page_of_the_site_is_linked_from_the_readme():
    linked = set(LINK.findall((REPO / "README.md").read_text()))
    pages = {f"docs/{p.name}" for p in DOCS.glob("*.md")}
    assert pages <= linked


def test_no_link_leaves_the_repository_and_every_relative_link_exists():
    for path in [REPO / "README.md", *DOCS.glob("*.md")]:
        for target in LINK.findall(path.read_text()):
            if re.match(r"[a-z]+:", target) or target.startswith("#"):
                continue
            file = (path.parent / target.split("#", 1)[0]).resolve()
            assert file.is_relative_to(REPO), (path.name, target)
            assert file.exists(), (path.name, target)
