"""End to end: the `pipConf` and `uvToml` stack outputs work as pasted, with the real pip and uv
and the password only where each client keeps secrets (~/.netrc; uv's environment variables)."""

from __future__ import annotations

import pytest

from infra.component import pip_conf, uv_toml
from tests.distributions import make_wheel
from tests.e2e import VENV_BIN, Stack, clean_env, fresh_venv, installed, run
from tests.test_e2e_publish import out

pytestmark = pytest.mark.e2e

READER = ("alice", "reader:pass")  # netrc tokens take no spaces


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    st = Stack(
        workdir=tmp_path_factory.mktemp("outputs-stack"), users=dict([READER]), bucket="pypi-outputs"
    ).start()
    filename, data, _ = make_wheel("pasted-config", "1.0")
    st.put(filename, data)
    st.wait_for("pasted-config", lambda files: len(files) == 1)
    yield st
    st.stop()


def test_pip_conf_as_pasted_with_the_password_in_netrc(stack, tmp_path):
    config = tmp_path / "pip.conf"
    config.write_text(pip_conf(f"{stack.url}/simple/", READER[0]))
    netrc = tmp_path / "netrc"
    netrc.write_text(f"machine 127.0.0.1 login {READER[0]} password {READER[1]}\n")
    netrc.chmod(0o600)
    venv = fresh_venv(tmp_path / "venv")
    result = run(
        VENV_BIN / "pip", "--python", venv, "install", "--no-cache-dir", "--no-input", "pasted-config",
        env=clean_env(PIP_CONFIG_FILE=str(config), NETRC=str(netrc)),
    )  # fmt: skip
    assert result.returncode == 0, out(result)
    assert installed(venv)["pasted-config"] == "1.0"


def test_uv_toml_as_pasted_with_the_credentials_in_the_environment(stack, tmp_path):
    config = tmp_path / "uv.toml"
    config.write_text(uv_toml(f"{stack.url}/simple/"))
    target = tmp_path / "uvenv"
    assert run(VENV_BIN / "uv", "venv", target).returncode == 0
    env = clean_env(
        UV_INDEX_PRIVATE_USERNAME=READER[0],
        UV_INDEX_PRIVATE_PASSWORD=READER[1],
        UV_CACHE_DIR=str(tmp_path / "uv-cache"),
    )
    env.pop("UV_NO_CONFIG")
    result = run(
        VENV_BIN / "uv", "pip", "install", "--config-file", config, "--python", target / "bin" / "python",
        "pasted-config", env=env,
    )  # fmt: skip
    assert result.returncode == 0, out(result)
    # PyPI was replaced, not added: uv asked this index only (no network here, and none needed).
    assert "pypi.org" not in out(result)
