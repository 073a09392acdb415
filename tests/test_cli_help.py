"""`pypi-edge [COMMAND] --help` and `--version`: every command and every argument explains itself."""

from __future__ import annotations

import argparse
import tomllib
from importlib import metadata
from pathlib import Path

import botocore
import pytest

from indexer import cli

ROOT = Path(__file__).resolve().parent.parent


def commands() -> dict[str, argparse.ArgumentParser]:
    parser = cli.build_parser()
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return dict(sub.choices)


def command_helps() -> dict[str, str | None]:
    parser = cli.build_parser()
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return {a.dest: a.help for a in sub._choices_actions}


COMMANDS = sorted(commands())
ARGUMENTS = [
    pytest.param(name, action, id=f"{name} {(action.option_strings or [action.dest])[-1]}")
    for name, parser in sorted(commands().items())
    for action in parser._actions
]


def test_the_commands_are_the_ones_the_module_docstring_lists():
    listed = {line.split()[0] for line in cli.__doc__.split("\n\n")[1].splitlines()}

    assert set(COMMANDS) == listed


@pytest.mark.parametrize("name", COMMANDS)
def test_every_command_has_a_summary_and_a_description(name):
    assert command_helps()[name], f"`pypi-edge --help` lists {name} without a summary"
    assert commands()[name].description, f"`pypi-edge {name} --help` has no description"


@pytest.mark.parametrize(("name", "action"), ARGUMENTS)
def test_every_argument_has_help(name, action):
    assert action.help and action.help != argparse.SUPPRESS


@pytest.mark.parametrize(("name", "action"), [a for a in ARGUMENTS if a.values[1].choices])
def test_an_argument_with_choices_names_them_in_words_not_a_bare_set(name, action):
    assert action.metavar, f"{name} shows {{{','.join(action.choices)}}} for {action.dest}"
    assert all(choice in action.help for choice in action.choices)


@pytest.mark.parametrize("name", COMMANDS)
def test_command_help_prints_and_exits_zero(name, capsys):
    assert cli.main([name, "--help"]) == 0

    out = capsys.readouterr().out
    assert out.startswith(f"usage: pypi-edge {name} ")
    assert commands()[name].description.split()[0] in out


def test_token_help_shows_the_action_in_words(capsys):
    assert cli.main(["token", "--help"]) == 0

    out = capsys.readouterr().out
    assert "{new}" not in out
    assert "ACTION" in out.split("positional arguments:")[1]
    assert "make a new token" in out and "revoke NAME" in out


def test_token_refuses_an_action_it_does_not_have(capsys):
    assert cli.main(["token", "old", "--name", "ci"]) == cli.EXIT_USAGE

    assert "invalid choice: 'old'" in capsys.readouterr().err


def test_version_names_the_installed_package_and_botocore(capsys):
    assert cli.main(["--version"]) == 0

    out = capsys.readouterr().out
    installed = metadata.version("pypi-edge")
    assert out.startswith(f"pypi-edge {installed} (botocore {botocore.__version__}, Python ")


def test_version_from_a_checkout_that_is_not_installed_reads_pyproject(monkeypatch):
    def not_installed(name: str) -> str:
        raise metadata.PackageNotFoundError(name)

    monkeypatch.setattr(metadata, "version", not_installed)
    expected = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]

    assert cli.version_line().startswith(f"pypi-edge {expected} (")
