"""The CLI's HTTPS mode: where the index is and which credentials go to it (indexer/remote.py)."""

from __future__ import annotations

import argparse
import base64
import io

import pytest

from indexer import remote
from indexer.cli import build_parser


@pytest.fixture(autouse=True)
def clean(monkeypatch, tmp_path):
    for var in (
        "PYPI_EDGE_INDEX_URL",
        "PYPI_EDGE_BUCKET",
        "PYPI_EDGE_TOKEN",
        "PYPI_EDGE_USER",
        "PYPI_EDGE_PASSWORD",
    ):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    monkeypatch.setenv("NETRC", str(tmp_path / "no-netrc"))
    monkeypatch.chdir(tmp_path)


def parse(*argv: str) -> argparse.Namespace:
    return build_parser().parse_args(list(argv))


@pytest.mark.parametrize(
    ("argv", "env", "expected"),
    [
        (["list", "--index-url", "https://i/"], {"PYPI_EDGE_BUCKET": "b"}, ("https", "https://i/", None)),
        (["list", "--bucket", "b"], {"PYPI_EDGE_INDEX_URL": "https://i/"}, ("aws", None, "b")),
        (
            ["list"],
            {"PYPI_EDGE_INDEX_URL": "https://i/", "PYPI_EDGE_BUCKET": "b"},
            ("https", "https://i/", None),
        ),
        (["list"], {"PYPI_EDGE_BUCKET": "b"}, ("aws", None, "b")),
        (["list"], {}, ("aws", None, None)),
        (
            ["reindex"],
            {"PYPI_EDGE_INDEX_URL": "https://i/", "PYPI_EDGE_BUCKET": "b"},
            ("aws", "https://i/", "b"),
        ),
    ],
)
def test_where_the_index_is(monkeypatch, argv, env, expected):
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    args = parse(*argv)
    assert (
        remote.mode(args),
        args.index_url if argv[0] != "reindex" else "https://i/",
        args.bucket,
    ) == expected


@pytest.mark.parametrize("where", ["pyproject", "config"])
def test_a_configured_index_url_is_the_last_resort(tmp_path, where):
    if where == "pyproject":
        (tmp_path / "pyproject.toml").write_text('[tool.pypi-edge]\nindex-url = "https://cfg/"\n')
    else:
        (tmp_path / "config" / "pypi-edge").mkdir(parents=True)
        (tmp_path / "config" / "pypi-edge" / "config.toml").write_text('index-url = "https://cfg/"\n')
    args = parse("yank", "p", "1")
    assert remote.mode(args) == "https" and args.index_url == "https://cfg/"


@pytest.mark.parametrize("command", ["delete", "mirror", "reindex"])
def test_administrators_commands_refuse_an_index_url(command):
    extra = {"delete": ["p", "1"], "mirror": ["x", "--from", "https://u/"], "reindex": []}[command]
    with pytest.raises(remote.RemoteError) as err:
        remote.mode(parse(command, *extra, "--index-url", "https://i/"))
    assert err.value.code == 2 and "administrator's command" in str(err.value)


def basic_of(index: remote.Index) -> str:
    return base64.b64decode(index.authorization.removeprefix("Basic ")).decode()


def connect(*argv: str, stdin: str = "") -> remote.Index:
    return remote.connect(parse("list", "--index-url", *argv), io.StringIO(stdin))


def test_user_and_password_from_stdin_win(monkeypatch):
    monkeypatch.setenv("PYPI_EDGE_TOKEN", "tok")
    index = connect(
        "https://u:p@pypi.example.com/simple/", "--user", "ci", "--password-stdin", stdin="s3cret\n"
    )
    assert index.origin == "https://pypi.example.com" and basic_of(index) == "ci:s3cret"


def test_credentials_in_the_url(monkeypatch):
    monkeypatch.setenv("PYPI_EDGE_TOKEN", "tok")
    assert basic_of(connect("https://alice:pw@pypi.example.com:8443/legacy/")) == "alice:pw"
    assert connect("https://alice:pw@pypi.example.com:8443/legacy/").origin == "https://pypi.example.com:8443"


def test_the_token_variable_is_the_password_of_token_user(monkeypatch):
    monkeypatch.setenv("PYPI_EDGE_TOKEN", "pypi-edge-xyz")
    assert basic_of(connect("https://pypi.example.com/")) == "__token__:pypi-edge-xyz"


def test_user_and_password_variables(monkeypatch):
    monkeypatch.setenv("PYPI_EDGE_USER", "bob")
    monkeypatch.setenv("PYPI_EDGE_PASSWORD", "pw")
    assert basic_of(connect("https://pypi.example.com/")) == "bob:pw"


def test_netrc_for_the_host(monkeypatch, tmp_path):
    (tmp_path / "netrc").write_text("machine pypi.example.com login carol password from-netrc\n")
    monkeypatch.setenv("NETRC", str(tmp_path / "netrc"))
    assert basic_of(connect("https://pypi.example.com/")) == "carol:from-netrc"


def test_keyring_when_installed(monkeypatch):
    import sys
    import types

    fake = types.ModuleType("keyring")
    fake.get_credential = lambda url, user: types.SimpleNamespace(username="dave", password="from-keyring")  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "keyring", fake)
    assert basic_of(connect("https://pypi.example.com/")) == "dave:from-keyring"


def test_no_credentials_is_a_usage_error():
    with pytest.raises(remote.RemoteError) as err:
        connect("https://pypi.example.com/")
    assert err.value.code == 2 and "PYPI_EDGE_TOKEN" in str(err.value)


@pytest.mark.parametrize("url", ["ftp://pypi.example.com/", "pypi.example.com", "https:///simple/"])
def test_an_index_url_must_be_http_or_https(url):
    with pytest.raises(remote.RemoteError) as err:
        connect(url)
    assert err.value.code == 2


def test_an_unreachable_index_is_exit_3():
    index = remote.Index("http://127.0.0.1:9", "Basic eDp5")
    with pytest.raises(remote.RemoteError) as err:
        remote.call(index, "list", {})
    assert err.value.code == 3 and "cannot reach" in str(err.value)
