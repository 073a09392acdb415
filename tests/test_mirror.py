"""`pypi-edge mirror` against a local upstream index (tests/upstream.py) and a moto bucket.

The resolver is the real one (pip's, in a subprocess, against the upstream server); the bucket
is moto in-process.  The end-to-end install from the mirrored index is in test_e2e_mirror.py.
"""

from __future__ import annotations

import hashlib
import io
import json
import sys
import time
from typing import Any

import pytest

from indexer import cli, mirror
from indexer.build import Indexer
from indexer.store import Bucket
from tests import s3_pages
from tests.bucket_state import index_keys
from tests.conftest import BUCKET, RequestCounter
from tests.distributions import make_sdist, make_wheel
from tests.upstream import Upstream

PYPI_REASON = "Yanked due to conflicts with CVE-2024-35195 mitigation "
LEGACY = "MLegacy.Name-1.0-py3-none-any.whl"


def wheel(name: str, version: str, deps: tuple[str, ...] = ()) -> tuple[str, bytes]:
    filename, data, _ = make_wheel(name, version, requires_dist=list(deps))
    return filename, data


def wheel_with_metadata(name: str, version: str, deps: tuple[str, ...] = ()) -> tuple[str, bytes, bytes]:
    return make_wheel(name, version, requires_dist=list(deps))


TREE = {
    # top -> mid -> leaf: a small dependency tree; "other" is upstream but needed by nobody.
    ("mtop", "1.0"): ("mmid>=1",),
    ("mmid", "1.0"): ("mleaf",),
    ("mmid", "2.0"): ("mleaf",),
    ("mleaf", "0.5"): (),
    ("mother", "1.0"): (),
    ("myanky", "1.0"): (),
    ("myanky", "2.0"): (),
}


@pytest.fixture(scope="module")
def upstream():
    index = Upstream()
    for (name, version), deps in TREE.items():
        filename, data, metadata = wheel_with_metadata(name, version, deps)
        index.add(filename, data, name, metadata)  # PEP 658: pip resolves without downloading
    index.add(*make_sdist("msdistonly", "1.0"), "msdistonly")
    # Upstream spells it the pre-normalization way (as PyPI still serves Django-4.2-py3-none-any.whl).
    _, legacy, legacy_metadata = make_wheel("MLegacy.Name", "1.0")
    index.add(LEGACY, legacy, "mlegacy-name", legacy_metadata)
    index.yanked[LEGACY] = "old"
    index.yanked[wheel("myanky", "2.0")[0]] = PYPI_REASON
    index.start()
    yield index
    index.stop()


def run(*argv: str) -> int:
    return cli.main([*argv, "--bucket", BUCKET, "--no-progress"])


def keys(s3: Any) -> set[str]:
    return index_keys(s3, BUCKET)  # private bookkeeping (identity claims) aside


def body(s3: Any, key: str) -> bytes:
    return s3_pages.read(s3, BUCKET, key)  # JSON pages are stored gzip-compressed


def test_mirror_with_deps_copies_the_resolved_tree_byte_for_byte(s3, upstream, capsys):
    assert run("mirror", "mtop", "--deps", "--from", upstream.url) == 0

    assert keys(s3) == {
        f"mtop/{wheel('mtop', '1.0')[0]}",
        f"mmid/{wheel('mmid', '2.0')[0]}",
        f"mleaf/{wheel('mleaf', '0.5')[0]}",
    }
    for project, version, deps in (
        ("mtop", "1.0", ("mmid>=1",)),
        ("mmid", "2.0", ("mleaf",)),
        ("mleaf", "0.5", ()),
    ):
        filename, data = wheel(project, version, deps)
        assert body(s3, f"{project}/{filename}") == data
    out = capsys.readouterr().out
    assert out.count("mirrored ") == 3
    assert "3 file(s): 3 mirrored." in out


def test_mirror_without_deps_copies_only_what_was_named(s3, upstream):
    assert run("mirror", "mmid==1.0", "--from", upstream.url) == 0

    assert keys(s3) == {f"mmid/{wheel('mmid', '1.0')[0]}"}


def test_running_it_again_is_a_no_op(s3, upstream, capsys):
    run("mirror", "mtop", "--deps", "--from", upstream.url)
    capsys.readouterr()
    counter = RequestCounter(s3)
    upstream.served.clear()

    assert run("mirror", "mtop", "--deps", "--from", upstream.url) == 0

    assert capsys.readouterr().out.count("already present") == 3
    assert counter.calls["PutObject"] == 0
    assert [kind for _, kind in upstream.served if kind == "file"] == []  # nothing downloaded


def test_an_upstream_yank_is_kept_with_its_reason_as_written(s3, upstream, capsys):
    assert run("mirror", "myanky==2.0", "--from", upstream.url) == 0

    filename = wheel("myanky", "2.0")[0]
    assert body(s3, f"myanky/{filename}.yanked") == PYPI_REASON.encode()
    Indexer(Bucket(s3, BUCKET)).rebuild("myanky")
    page = json.loads(body(s3, "myanky/index.json"))
    assert page["files"][0]["yanked"] == PYPI_REASON
    assert f"yanked           s3://{BUCKET}/myanky/{filename}, as upstream (reason: {PYPI_REASON!r})" in (
        capsys.readouterr().out
    )


def test_an_upstream_spelling_is_stored_under_the_specs_spelling_with_its_yank_and_found_again(
    s3, upstream, capsys
):
    assert run("mirror", "mlegacy-name==1.0", "--from", upstream.url) == 0
    stored = "mlegacy-name/mlegacy_name-1.0-py3-none-any.whl"
    assert keys(s3) == {stored, stored + ".yanked"}
    assert f"mirrored         s3://{BUCKET}/{stored}" in capsys.readouterr().out
    counter = RequestCounter(s3)
    assert run("mirror", "mlegacy-name==1.0", "--from", upstream.url) == 0
    assert f"already present  s3://{BUCKET}/{stored}" in capsys.readouterr().out
    assert counter.calls["PutObject"] == 0


def test_a_file_whose_bytes_do_not_match_the_upstream_sha256_is_not_published(s3, upstream, capsys):
    filename = wheel("mother", "1.0")[0]
    upstream.lies[filename] = "0" * 64
    try:
        assert run("mirror", "mother", "--from", upstream.url) == cli.EXIT_CONFLICT
    finally:
        del upstream.lies[filename]

    err = capsys.readouterr().err
    assert err == (
        f"error: {filename}: sha256 {hashlib.sha256(wheel('mother', '1.0')[1]).hexdigest()} does not match "
        f"the upstream index's {'0' * 64}; not published\n"
    )
    assert keys(s3) == set()


def test_a_requirement_upstream_cannot_satisfy_is_one_clear_error(s3, upstream, capsys):
    assert run("mirror", "no-such-project", "--from", upstream.url) == cli.EXIT_CONFLICT

    err = capsys.readouterr().err
    expected = "No matching distribution found for no-such-project"
    assert err == f"error: pip could not resolve no-such-project: {expected}\n"
    assert keys(s3) == set()


TARGET = ("--python", "3.12", "--platform", "manylinux_2_28_x86_64")


def test_for_another_target_only_wheels_are_mirrored(s3, upstream, capsys):
    assert run("mirror", "mleaf", "--from", upstream.url, *TARGET) == 0
    assert keys(s3) == {f"mleaf/{wheel('mleaf', '0.5')[0]}"}

    assert run("mirror", "msdistonly", "--from", upstream.url, *TARGET) == cli.EXIT_CONFLICT
    assert "No matching distribution found for msdistonly" in capsys.readouterr().err


def test_the_resolver_is_pip_against_the_upstream_only():
    cmd = mirror.pip_command(
        ["requests==2.32.3"], "https://pypi.org/simple/", __import__("pathlib").Path("/tmp/r.json"),
        deps=True, python_version="3.12", platforms=["manylinux_2_28_x86_64"],
    )  # fmt: skip
    assert cmd[1:5] == ["-m", "pip", "install", "--dry-run"]
    assert cmd[cmd.index("--index-url") + 1] == "https://pypi.org/simple/"
    assert "--extra-index-url" not in cmd and "--no-deps" not in cmd
    assert cmd[cmd.index("--python-version") + 1] == "3.12"
    assert "--only-binary=:all:" in cmd
    assert cmd[-2:] == ["--", "requests==2.32.3"]
    assert mirror._pip_env()["PIP_CONFIG_FILE"] == __import__("os").devnull


def test_a_pip_environment_cannot_add_an_index(s3, upstream, monkeypatch):
    monkeypatch.setenv("PIP_EXTRA_INDEX_URL", "http://127.0.0.1:9/simple/")
    monkeypatch.setenv("PIP_FIND_LINKS", "/nonexistent")

    assert run("mirror", "mleaf", "--from", upstream.url) == 0


def test_a_different_file_already_here_is_not_replaced(s3, upstream, capsys):
    filename = wheel("mother", "1.0")[0]
    s3.put_object(Bucket=BUCKET, Key=f"mother/{filename}", Body=b"our own build")

    assert run("mirror", "mother", "--from", upstream.url) == cli.EXIT_CONFLICT

    assert f"a different file is already published as mother/{filename}" in capsys.readouterr().err
    assert body(s3, f"mother/{filename}") == b"our own build"


def test_an_archived_project_here_refuses_the_mirror(s3, upstream, capsys):
    s3.put_object(Bucket=BUCKET, Key="mleaf/x-0.1.tar.gz", Body=b"x")
    s3.put_object(Bucket=BUCKET, Key="mleaf/.project-status", Body=b'{"status": "archived"}')

    assert run("mirror", "mleaf", "--from", upstream.url) == cli.EXIT_CONFLICT

    assert "mleaf is archived: PEP 792 forbids new uploads" in capsys.readouterr().err


def test_from_must_be_an_index_url(s3, capsys):
    assert run("mirror", "x", "--from", "pypi.org/simple") == cli.EXIT_USAGE

    assert "--from must be the upstream's simple index URL" in capsys.readouterr().err


def test_an_unreachable_upstream_page_is_one_clear_error():
    with pytest.raises(mirror.MirrorError, match=r"cannot fetch http://127.0.0.1:9/simple/x/"):
        mirror.upstream_yanks("http://user:secret@127.0.0.1:9/simple/", "x")


def test_a_report_without_a_sha256_is_refused():
    report = {
        "install": [{"download_info": {"url": "https://x/y-1.0.tar.gz", "archive_info": {}}, "metadata": {}}]
    }

    with pytest.raises(mirror.MirrorError, match="no sha256"):
        mirror.picks_from_report(report)


def test_html_only_upstream_pages_give_their_yanks():
    parser = mirror._Anchors()
    parser.feed(
        '<a href="/f/a-1.0.tar.gz#sha256=00" data-yanked="">a</a><a href="a-2.0.tar.gz#sha256=11">b</a><p>'
    )

    assert parser.yanked == {"a-1.0.tar.gz": "", "a-2.0.tar.gz": None}


def test_yanks_are_read_from_an_html_only_upstream_too(upstream):
    upstream.html_only = True
    try:
        yanks = mirror.upstream_yanks(upstream.url, "myanky")
    finally:
        upstream.html_only = False

    assert yanks == {wheel("myanky", "1.0")[0]: None, wheel("myanky", "2.0")[0]: PYPI_REASON}


def test_a_file_published_by_someone_else_meanwhile_is_reported(s3, upstream, monkeypatch, capsys):
    filename = wheel("mother", "1.0")[0]
    s3.put_object(Bucket=BUCKET, Key=f"mother/{filename}", Body=b"written while we downloaded")
    from indexer.publish import Uploader

    real, calls = Uploader.existing_sha256, []

    def not_yet(self, key):  # the mirror's own look finds nothing; the core's, after its 412, does
        calls.append(key)
        return None if len(calls) == 1 else real(self, key)

    monkeypatch.setattr(Uploader, "existing_sha256", not_yet)

    assert run("mirror", "mother", "--from", upstream.url) == cli.EXIT_CONFLICT

    assert (
        f"error: {filename}: a different file was published meanwhile: File already exists"
        in capsys.readouterr().err
    )
    assert body(s3, f"mother/{filename}") == b"written while we downloaded"


def test_pip_failing_without_an_error_line_still_says_something():
    assert mirror._last_error("") == "no output"
    assert mirror._last_error("some warning\nlast words\n") == "last words"


# --- the spinner while pip resolves ------------------------------------------------------------


class Terminal(io.StringIO):
    """stderr as a terminal, so the spinner draws (it stays silent otherwise, like the bars)."""

    def isatty(self) -> bool:
        return True


def wait_for(predicate: Any, what: str) -> None:
    deadline = time.monotonic() + 30  # a safety net against a hang, not a timing assertion
    while not predicate():
        assert time.monotonic() < deadline, f"gave up waiting for {what}"
        time.sleep(0.01)


def test_spinner_turns_on_one_line_and_wipes_it_when_done():
    terminal = Terminal()
    with cli.Spinner("resolving x", stream=terminal, interval=0.001):
        wait_for(lambda: terminal.getvalue().count("\r") >= 5, "five frames")

    drawn = terminal.getvalue()
    frames = drawn.split("\r")[1:-2]  # each frame starts with a carriage return; then the wipe
    assert {f[0] for f in frames} == set(cli.Spinner.FRAMES)
    assert all(f[1:].startswith(" resolving x (") and f.endswith(" s)") for f in frames)
    assert drawn.endswith("\r" + " " * max(map(len, frames)) + "\r")


@pytest.mark.parametrize("show", [True, False])
def test_spinner_draws_nothing_when_stderr_is_not_a_terminal_or_progress_is_off(show):
    stream = Terminal() if not show else io.StringIO()
    with cli.Spinner("resolving x", stream=stream, show=show, interval=0.001) as spinner:
        time.sleep(0.01)

    assert stream.getvalue() == "" and not spinner._thread.is_alive()


def test_mirror_shows_the_spinner_while_pip_resolves(s3, upstream, monkeypatch):
    terminal = Terminal()
    monkeypatch.setattr(sys, "stderr", terminal)
    real_resolve = mirror.resolve
    seen: list[str] = []

    def resolve(*args: Any, **kwargs: Any) -> Any:
        wait_for(lambda: "\r" in terminal.getvalue(), "the spinner")
        seen.append(terminal.getvalue())
        return real_resolve(*args, **kwargs)

    monkeypatch.setattr(mirror, "resolve", resolve)
    url = upstream.url.replace("//", "//reader:secret@")

    assert cli.main(["mirror", "mleaf", "--deps", "--from", url, "--bucket", BUCKET]) == 0

    assert seen[0].startswith("\r| resolving mleaf and dependencies with pip from localhost (")
    assert "secret" not in terminal.getvalue()
