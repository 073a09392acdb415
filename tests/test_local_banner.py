"""`python -m local`'s banner: each user's and token's rights, a publish example that works for the
user it names (or a plain "nobody may publish"), poetry's commands, absolute paths; and a --user
and --token of one name refused (they would share one --publish)."""

from __future__ import annotations

import os
import re
import sys
import time
from pathlib import Path

import pytest

from edge import credentials
from local.__main__ import (
    cli_path,
    pool_config,
    principals,
    publish_lines,
    refuse_shared_names,
    rights,
    rights_lines,
    users_config,
)
from local.stack import DEFAULT_USERS
from tests.distributions import make_sdist, make_wheel, write
from tests.e2e import VENV_BIN, Stack, clean_env, run

LEGACY = "http://127.0.0.1:8080/legacy/"
CHECK = "http://carol:pw@127.0.0.1:8080/simple/"
TOKEN = "pypi-edge-bannerTokenForTestsOnly000000000000000000"


def people(users=None, publish=None, tokens=None):
    return principals(users_config(users, publish, tokens), None, tokens)


@pytest.mark.parametrize(
    ("globs", "said"),
    [
        ([], "reads only"),
        (["*"], "reads; publishes every project"),
        (["a-*", "b"], "reads; publishes a-*, b"),
    ],
)
def test_rights_in_words(globs, said):
    assert rights(globs) == said


def test_each_user_and_token_is_listed_with_its_rights():
    listed = rights_lines(
        people([("alice", "pw"), ("bob", "pw2")], [("alice", "acme-*"), ("ci", "tools")], [("ci", TOKEN)]),
        default=False,
    )
    lines = listed.splitlines()
    assert re.fullmatch(r"  users\s+alice\s+reads; publishes acme-\*", lines[0])
    assert re.fullmatch(r"\s+bob\s+reads only", lines[1])
    assert re.fullmatch(r"\s+token ci\s+reads; publishes tools", lines[2])
    assert TOKEN not in listed and "pw2" not in listed


def test_the_default_user_shows_its_password_and_that_it_publishes_everything():
    listed = rights_lines(principals(dict(DEFAULT_USERS), None, None), default=True)
    assert "pypi" in listed and "reads; publishes every project (password pypi: the default user)" in listed


def test_the_publish_example_names_a_user_who_may_publish_not_the_first_reader():
    lines = publish_lines(people([("alice", "pw"), ("carol", "pw")], [("carol", "pub-*")]), LEGACY, CHECK)
    assert "(as carol, who may publish projects matching pub-*)" in lines
    assert f"twine upload --repository-url {LEGACY} -u carol -p 'pw' dist/*" in lines
    assert "alice" not in lines


def test_with_only_a_token_publishing_the_example_uses_the_token():
    lines = publish_lines(people([("alice", "pw")], [("ci", "*")], [("ci", TOKEN)]), LEGACY, CHECK)
    assert "(as token ci, who may publish every project)" in lines
    assert f"-u {credentials.TOKEN_USER} -p '{TOKEN}'" in lines


def test_when_nobody_may_publish_the_banner_says_so_and_how_to_change_it():
    lines = publish_lines(people([("alice", "pw")]), LEGACY, CHECK)
    assert lines.startswith("Nobody here may publish")
    assert "--publish alice='*'" in lines
    assert "twine upload" not in lines


def test_poetry_is_given_its_two_commands():
    lines = publish_lines(principals(dict(DEFAULT_USERS), None, None), LEGACY, CHECK)
    assert f"poetry config repositories.local {LEGACY}" in lines
    assert "poetry publish -r local -u pypi -p 'pypi'" in lines


def test_the_cli_path_is_absolute_and_runs():
    path = cli_path()
    assert os.path.isabs(path.split()[0])
    assert run(*path.split(), "--version").returncode == 0


@pytest.mark.parametrize("config", [users_config, pool_config])
def test_a_user_and_a_token_with_one_name_are_refused(config):
    with pytest.raises(SystemExit, match=r"--user ci and --token ci=… share a name.*--token ci-ci="):
        config([("ci", "pw")], [("ci", "tools")], [("ci", TOKEN)])


def test_distinct_names_keep_distinct_rights():
    refuse_shared_names([("alice", "pw")], [("alice-ci", TOKEN)])
    config = users_config([("alice", "pw")], [("alice-ci", "tools")], [("alice-ci", TOKEN)])
    assert config["alice"]["publish"] == []
    assert config[credentials.TOKEN_USER]["alice-ci"]["publish"] == ["tools"]


# --- the banner as printed, followed to the letter -------------------------------------------------


def banner_of(stack: Stack) -> str:
    deadline = time.monotonic() + 30
    while "Ctrl-C stops." not in stack.log_path.read_text() and time.monotonic() < deadline:
        time.sleep(0.1)
    return stack.log_path.read_text()


@pytest.mark.e2e
def test_the_printed_poetry_and_s3_commands_publish(tmp_path):
    st = Stack(
        workdir=tmp_path,
        users={"alice": "read-only", "carol": "pub:pw"},
        publish={"carol": ["banner-*"]},
        bucket="pypi-banner2",
    ).start()
    try:
        banner = banner_of(st)
        assert re.search(r"alice\s+reads only", banner) and re.search(
            r"carol\s+reads; publishes banner-\*", banner
        )
        commands = [ln.strip() for ln in banner.splitlines() if ln.strip().startswith(("poetry ", "/"))]
        config, publish, s3 = commands[0], commands[1], commands[2]
        assert config.startswith("poetry config repositories.local ") and "-u carol" in publish
        # poetry, as printed, from a project folder with a dist/.
        project = tmp_path / "proj"
        (project / "dist").mkdir(parents=True)
        (project / "pyproject.toml").write_text('[project]\nname = "banner-poetry"\nversion = "1.0"\n')
        filename, data, _ = make_wheel("banner-poetry", "1.0")
        write(project / "dist", filename, data)
        env = clean_env(
            POETRY_CONFIG_DIR=str(tmp_path / "poetry-config"),
            POETRY_CACHE_DIR=str(tmp_path / "poetry-cache"),
            PYTHON_KEYRING_BACKEND="keyring.backends.null.Keyring",
            PATH=f"{VENV_BIN}{os.pathsep}{os.environ['PATH']}",
        )
        for command in (config, publish + " --no-interaction"):
            result = run("bash", "-c", command, cwd=project, env=env)
            assert result.returncode == 0, result.stdout + result.stderr
        assert [f["filename"] for f in st.project_files("banner-poetry")] == [filename]
        # The S3 line, run from another directory: its absolute path still works.
        sname, sdata = make_sdist("banner-s3", "1.0")
        write(tmp_path, sname, sdata)
        assert s3.startswith(str(Path(sys.executable).absolute().parent))
        s3_env = clean_env(AWS_ACCESS_KEY_ID="local", AWS_SECRET_ACCESS_KEY="local")
        result = run("bash", "-c", s3.replace("dist/*", str(tmp_path / sname)), cwd="/", env=s3_env)
        assert result.returncode == 0, result.stdout + result.stderr
        st.wait_for("banner-s3", lambda files: [f["filename"] for f in files] == [sname])
    finally:
        st.stop()
