"""The opt-in user pool: what it costs per request at the edge, per miss, per month.

`pool_timings()` measures, with the real handler and the real Cognito client (edge/cognito.py):

* ``warm_pool_us`` -- a request whose pool credentials are in the container's cache (the
  revocation bound's cache), against ``warm_static_us``, a static user's warm request;
* ``miss_ms`` -- a cache miss checked against moto's Cognito on this machine over loopback HTTP,
  on a kept-alive connection (median), and ``first_miss_ms``, a container's first miss, which
  also loads the HTTPS client and opens the connection (median of fresh interpreters);
* ``client_import_ms`` / ``sdk_import_ms`` -- importing http.client + ssl and making a TLS context
  (what the first miss loads) against importing boto3 and making a cognito-idp client (the
  alternative), each in a fresh interpreter, with the peak memory each adds (``*_mb``);
* ``revoked_after_s`` -- with a 2 s bound: from `AdminDeleteUser` returning to the first refusal,
  the user having been checked just before (at most the bound, by construction).

`cognito_cost(users)` is the monthly bill of the pool for that many monthly active users (tokens
are pool users, so each active token counts as one): Cognito bills MAUs, not sign-ins, so the
edge's repeated checks of the same user cost nothing more.
"""

from __future__ import annotations

import base64
import contextlib
import io
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.edge import PIP_ACCEPT, _event, _per_call_us

ROOT = Path(__file__).resolve().parent.parent

# Amazon Cognito pricing, user pools, per monthly active user (aws.amazon.com/cognito/pricing, read
# 2026-09-20 through its transcription in api-evangelist/amazon-cognito plans/amazon-cognito-plans-
# pricing.yml; the page's own tables render as unresolved tokens, its worked examples give the rates):
# Lite $0.0055 and Essentials $0.015 per MAU above a free tier of 10,000 MAUs a month per account
# (for users who sign in directly, not for the 12-month free period only); Plus $0.020, no free tier.
# Lite's rate drops above 100,000 MAUs; nothing here comes near.
FREE_MAUS = 10_000
TIERS = {"Lite": (0.0055, FREE_MAUS), "Essentials": (0.015, FREE_MAUS), "Plus": (0.020, 0)}
COGNITO_PRICE_NOTE = (
    "Cognito user pools per monthly active user: Lite $0.0055, Essentials $0.015 (both above 10,000 free "
    "MAUs a month per account), Plus $0.020 (no free tier) (aws.amazon.com/cognito/pricing). A user, or a "
    "token (a pool user too), counts once in a month in which it signs in, however often: the edge's "
    "checks of one user in many containers and regions are one MAU. The deployment uses Lite."
)


def cognito_cost(users: int, tier: str = "Lite", free_tier: bool = True) -> float:
    price, free = TIERS[tier]
    return max(0, users - (free if free_tier else 0)) * price


def _moto_pool(users: dict[str, tuple[str, list[str]]]):
    """moto's Cognito on a free port with the deployment's pool and client, and these users."""
    from edge import userpool
    from local.stack import free_port
    from local.userstore import CognitoStore, PoolSeed

    store = CognitoStore("127.0.0.1", free_port()).start()
    store.seed(PoolSeed(users=users))
    return store, userpool


FIRST_MISS = """
import base64, json, os, sys, time
sys.path.insert(0, {root!r})
from edge import handler as edge
value = "Basic " + base64.b64encode(b"carol:Carol-password-1").decode()
start = time.perf_counter()
ok = edge.verify(value)
print(json.dumps({{"ms": (time.perf_counter() - start) * 1e3, "ok": ok}}))
"""

# Resident memory from /proc (ru_maxrss would not do: Linux keeps it across exec, so a child of a
# large process starts with its parent's peak).
IMPORTS = """
import json, sys, time
def rss_kb():
    with open("/proc/self/status") as f:
        return next(int(line.split()[1]) for line in f if line.startswith("VmRSS:"))
before = rss_kb()
start = time.perf_counter()
{code}
ms = (time.perf_counter() - start) * 1e3
print(json.dumps({{"ms": ms, "mb": (rss_kb() - before) / 1024}}))
"""
HTTPS_CLIENT = "import http.client, ssl; ssl.create_default_context()"
SDK_CLIENT = (
    "import boto3; boto3.client('cognito-idp', region_name='us-east-1', aws_access_key_id='a', "
    "aws_secret_access_key='b')"
)


def _fresh(code: str, env: dict[str, str], runs: int) -> list[dict]:
    out = []
    for _ in range(runs):
        done = subprocess.run(
            [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True, timeout=120
        )
        out.append(json.loads(done.stdout.strip().splitlines()[-1]))
    return out


def pool_timings(n: int = 20_000, misses: int = 50, fresh_runs: int = 5) -> dict:
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    with contextlib.redirect_stderr(io.StringIO()):
        from edge import credentials
        from edge import handler as edge
    env = {
        **os.environ,
        "AWS_ACCESS_KEY_ID": "local",
        "AWS_SECRET_ACCESS_KEY": "local",
        "PYTHONPATH": str(ROOT),
    }
    saved = {key: os.environ.get(key) for key in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY")}
    os.environ.update({key: env[key] for key in saved})  # the function's role, locally
    store, userpool = _moto_pool({"carol": ("Carol-password-1", []), "dave": ("Dave-password-1", [])})
    try:
        static = credentials.render_file({"alice": "correct horse:battery"}, "bench", "bench-seed")
        pool_file = store.settings_file(60)
        edge.configure(static)
        edge.configure_pool(pool_file)
        carol = "Basic " + base64.b64encode(b"carol:Carol-password-1").decode("ascii")
        alice = "Basic " + base64.b64encode(b"alice:correct horse:battery").decode("ascii")
        assert edge.verify(carol) and edge.verify(alice)
        warm_pool = _per_call_us(edge.handler, _event("/simple/requests/", carol, PIP_ACCEPT), n)
        warm_static = _per_call_us(edge.handler, _event("/simple/requests/", alice, PIP_ACCEPT), n)

        # Misses on one kept-alive connection (the container's): a fresh verifier cache each time.
        verifier = userpool.PoolVerifier(userpool.load(pool_file))
        miss = []
        for i in range(misses):
            verifier.clear()
            user, password = ("carol", "Carol-password-1") if i % 2 else ("dave", "Dave-password-1")
            value = "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()
            start = time.perf_counter()
            assert verifier.verify(value, user, password) is not None
            miss.append((time.perf_counter() - start) * 1e3)

        # A container's first miss: a fresh interpreter with the files a bundle has.
        with tempfile.TemporaryDirectory(prefix="pypi-edge-bench-users-") as tmp:
            workdir = Path(tmp)
            (workdir / credentials.FILE_NAME).write_bytes(static)
            (workdir / userpool.FILE_NAME).write_bytes(pool_file)
            first_env = {
                **env,
                "PYPI_EDGE_CREDENTIALS": str(workdir / credentials.FILE_NAME),
                userpool.ENV_VAR: str(workdir / userpool.FILE_NAME),
            }
            first = _fresh(FIRST_MISS.format(root=str(ROOT)), first_env, fresh_runs)
        assert all(r["ok"] for r in first)

        client = _fresh(IMPORTS.format(code=HTTPS_CLIENT), env, fresh_runs)
        sdk = _fresh(IMPORTS.format(code=SDK_CLIENT), env, fresh_runs)

        # Revocation with a 2 s bound, the user checked just before the change.
        bound = 2
        quick = userpool.PoolVerifier(userpool.load(store.settings_file(bound)))
        assert quick.verify(carol, "carol", "Carol-password-1") is not None
        store.client().admin_delete_user(UserPoolId=store.pool_id, Username="carol")
        changed = time.perf_counter()
        while quick.verify(carol, "carol", "Carol-password-1") is not None:
            time.sleep(0.01)
        revoked_after = time.perf_counter() - changed
    finally:
        store.stop()
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        with contextlib.redirect_stderr(io.StringIO()):
            edge.configure_pool(None)
            edge.reload()
    return {
        "warm_pool_us": warm_pool["median"],
        "warm_static_us": warm_static["median"],
        "miss_ms": statistics.median(miss),
        "first_miss_ms": statistics.median(r["ms"] for r in first),
        "client_import_ms": statistics.median(r["ms"] for r in client),
        "client_import_mb": statistics.median(r["mb"] for r in client),
        "sdk_import_ms": statistics.median(r["ms"] for r in sdk),
        "sdk_import_mb": statistics.median(r["mb"] for r in sdk),
        "revoked_after_s": revoked_after,
        "revocation_bound_s": bound,
    }


if __name__ == "__main__":  # python -m bench.users
    for key, value in pool_timings(n=5000, misses=20, fresh_runs=3).items():
        print(f"{key:22} {value:,.2f}")
    for users in (50, 1_000, 10_000):
        print(users, {t: round(cognito_cost(users, t), 2) for t in TIERS})
