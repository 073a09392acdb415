"""`python -m local --user-store cognito`: moto's Cognito beside the S3+SQS server.

A second moto server, on its own port, so that Cognito can be stopped while S3 keeps serving (the
tests do, to show cached and static users still read and unknown ones get 503).  Both servers
share moto's in-process state; only the port differs.  The pool and its app client are made from
`infra.pool`, as Pulumi makes them; users and tokens are written with `indexer.users.Store`, as
`pypi-edge user add` / `token new` write them; the edge and upload functions read the same
`userpool.json` a deployment bundles (`edge.userpool.render_file`), with the local endpoint.

Persistence (`--data-dir`, planned): moto keeps no files, and Cognito never gives a password
back, so the store is persisted by saving moto's `cognitoidp` backend (`moto.backends`) under the
data directory when the stack stops and loading it before `start` creates anything; `pool_id`
and `client_id` then come from the loaded state instead of `create_pool`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from moto.server import ThreadedMotoServer

from edge import credentials, userpool
from indexer.users import Store
from infra import pool
from local import aws

POOL_NAME = "pypi-edge-local"


@dataclass
class PoolSeed:
    """What the command line puts in the pool at start: users and pool-format tokens."""

    users: dict[str, tuple[str, list[str]]] = field(default_factory=dict)  # name -> (password, globs)
    tokens: dict[str, tuple[str, list[str]]] = field(default_factory=dict)  # name -> (secret, globs)


def split_tokens(tokens: list[tuple[str, str]]) -> tuple[dict[str, str], dict[str, str]]:
    """({name: secret} of pool tokens, {name: token} of static ones) from --token NAME=TOKEN.

    A pool token names itself (``pypi-edge-pool-NAME.SECRET``): the NAME must agree.
    """
    pool_tokens, static = {}, {}
    for name, token in tokens:
        parsed = userpool.parse_token(token)
        if parsed is None:
            static[name] = token
            continue
        if parsed[0] != name:
            raise ValueError(f"--token {name}=…: that token is named {parsed[0]!r}")
        pool_tokens[name] = parsed[1]
    return pool_tokens, static


class CognitoStore:
    """moto's Cognito on `port`, one pool and one app client in it."""

    def __init__(self, host: str, port: int) -> None:
        self.host = host
        self.port = port
        self.server: ThreadedMotoServer | None = None
        self.pool_id = ""
        self.client_id = ""

    @property
    def endpoint(self) -> str:
        return f"http://{self.host}:{self.port}"

    def client(self) -> Any:
        return aws.client("cognito-idp", self.endpoint)

    def start(self) -> CognitoStore:
        self.server = ThreadedMotoServer(ip_address=self.host, port=self.port, verbose=False)
        self.server.start()
        cognito = self.client()
        self.pool_id = cognito.create_user_pool(**pool.create_pool_request(POOL_NAME))["UserPool"]["Id"]
        request = pool.create_client_request(self.pool_id, f"{POOL_NAME}-edge")
        self.client_id = cognito.create_user_pool_client(**request)["UserPoolClient"]["ClientId"]
        return self

    def seed(self, seed: PoolSeed) -> None:
        store = Store(self.client(), self.pool_id)
        for name, (password, globs) in sorted(seed.users.items()):
            store.create(name, password, list(credentials.parse_globs(globs, f"user {name!r}")))
        for name, (secret, globs) in sorted(seed.tokens.items()):
            globs = list(credentials.parse_globs(globs, f"token {name!r}"))
            store.create(userpool.TOKEN_USER_PREFIX + name, secret, globs)

    def settings_file(self, cache_seconds: int) -> bytes:
        return userpool.render_file(self.pool_id, self.client_id, cache_seconds, endpoint=self.endpoint)

    def stop(self) -> None:
        """Stop answering (the port closes); the pool's state stays in moto's memory."""
        if self.server is not None:
            self.server.stop()
            self.server = None

    def commands(self, pypi_edge: str = ".venv/bin/pypi-edge") -> list[str]:
        """The `pypi-edge user …` / `token …` lines that work against this pool (the banner's)."""
        where = f"--endpoint-url {self.endpoint}"
        return [
            f"export PYPI_EDGE_USER_POOL={self.pool_id}",
            f"{pypi_edge} user add carol {where}      # prints carol's password once",
            f"{pypi_edge} user list {where}",
            f"{pypi_edge} token new deploy --publish 'acme-*' {where}",
            f"{pypi_edge} user remove carol {where}",
        ]
