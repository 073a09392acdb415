"""`python -m local`: the whole index on this machine, no cloud (see docs/quickstart.md)."""

from __future__ import annotations

import argparse
import json
import logging
import signal
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

from edge import credentials
from indexer.users import UsersError
from local.datadir import DataDirError
from local.stack import DEFAULT_USER, DEFAULT_USERS, LocalStack, PortInUse, password_of
from local.userstore import PoolSeed, split_tokens
from upload.publishers import parse_publishers


def parse_user(value: str) -> tuple[str, str]:
    user, sep, password = value.partition(":")
    if not sep or not user or not password:
        raise argparse.ArgumentTypeError("expected USER:PASSWORD (the password may contain ':')")
    return user, password


def parse_pair(value: str) -> tuple[str, str]:
    name, sep, rest = value.partition("=")
    if not sep or not name or not rest:
        raise argparse.ArgumentTypeError("expected NAME=VALUE")
    return name, rest


def refuse_shared_names(users: list[tuple[str, str]] | None, tokens: list[tuple[str, str]] | None) -> None:
    """A --user and a --token of the same name would share every --publish NAME=GLOB (one
    option names both), so a CI token meant for one project would get its person's rights, or
    the reverse: refuse, and say how to tell them apart."""
    shared = sorted({user for user, _ in users or []} & {name for name, _ in tokens or []})
    if shared:
        name = shared[0]
        raise SystemExit(
            f"error: --user {name} and --token {name}=… share a name, so --publish {name}=GLOB would give "
            f"both the same rights; name the token differently (e.g. --token {name}-ci=…)"
        )


def users_config(
    users: list[tuple[str, str]] | None,
    publish: list[tuple[str, str]] | None,
    tokens: list[tuple[str, str]] | None,
) -> dict[str, object]:
    """The same `users` config Pulumi takes (edge.credentials), from the command line."""
    refuse_shared_names(users, tokens)
    if not users and not tokens:
        if publish:
            raise SystemExit("error: --publish needs the --user or --token it names")
        return dict(DEFAULT_USERS)
    globs: dict[str, list[str]] = {}
    for name, glob in publish or []:
        globs.setdefault(name, []).append(glob)
    config: dict[str, object] = {}
    for user, password in users or []:
        config[user] = {"password": password, "publish": globs.pop(user, [])}
    token_entries = {
        name: {"sha256": credentials.token_digest(token), "publish": globs.pop(name, [])}
        for name, token in tokens or []
    }
    if token_entries:
        config[credentials.TOKEN_USER] = token_entries
    if globs:
        raise SystemExit(f"error: --publish names no --user or --token: {', '.join(sorted(globs))}")
    return config


def pool_config(
    users: list[tuple[str, str]] | None,
    publish: list[tuple[str, str]] | None,
    tokens: list[tuple[str, str]] | None,
) -> tuple[dict[str, object], PoolSeed]:
    """`--user-store cognito`: --user and pool-format --token go into the pool; static-format tokens
    and, without any --user or --token, the default user stay static (the break-glass accounts)."""
    refuse_shared_names(users, tokens)
    if not users and not tokens:
        return users_config(users, publish, tokens), PoolSeed()
    try:
        pool_tokens, static_tokens = split_tokens(tokens or [])
    except ValueError as exc:
        raise SystemExit(f"error: {exc}") from None
    globs: dict[str, list[str]] = {}
    for name, glob in publish or []:
        globs.setdefault(name, []).append(glob)
    seed = PoolSeed(
        users={user: (password, globs.pop(user, [])) for user, password in users or []},
        tokens={name: (secret, globs.pop(name, [])) for name, secret in pool_tokens.items()},
    )
    static: dict[str, object] = {}
    if static_tokens:
        rest = [(name, glob) for name, names_globs in globs.items() for glob in names_globs]
        static = users_config(None, rest, list(static_tokens.items()))
    elif globs:
        raise SystemExit(f"error: --publish names no --user or --token: {', '.join(sorted(globs))}")
    return static, seed


class StopSignal:
    """Ctrl-C (SIGINT) and SIGTERM stop the stack, however this process was started.

    A parent that runs us in the background (`make serve &` in a non-interactive shell, some CI
    runners) starts us with SIGINT ignored, and Python then installs no KeyboardInterrupt
    handler; an explicit handler replaces whatever disposition we inherited.

    The handler only sets a flag, and the main thread polls it.  Python runs a signal handler
    only in the main thread, between two bytecodes; a main thread blocked in an untimed
    `threading.Event.wait()` was seen to sleep through SIGTERM (about one stop in three under
    load; a faulthandler dump showed it in `Condition.wait`'s lock acquire with the handler never
    run).  Polling keeps the main thread executing bytecode.  A timed `Event.wait` in a loop is
    no cure: the handler could then run inside `Event.wait`, which holds the Event's
    non-reentrant lock that `Event.set()` takes.
    """

    POLL_SECONDS = 0.2

    def __init__(self) -> None:
        self.received: list[int] = []
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, self._handle)

    def _handle(self, signum: int, _frame: object) -> None:
        self.received.append(signum)  # list.append takes no lock

    def wait(self) -> int:
        while not self.received:
            time.sleep(self.POLL_SECONDS)
        return self.received[0]


def user_store_lines(stack: LocalStack, pooled: set[str]) -> str:
    """The banner's Cognito lines: where the pool is, and `pypi-edge` commands that work against it."""
    if stack.cognito is None:
        return ""
    bound = stack.user_cache_seconds
    lines = [
        f"  cognito    {stack.cognito.endpoint}   pool {stack.cognito.pool_id}   "
        f"(in the pool: {', '.join(sorted(pooled)) or 'nobody yet'}; answers kept {bound} s)",
        "",
        f"Manage users and tokens while it runs (no restart; a change holds everywhere within {bound} s):",
        "  export AWS_ACCESS_KEY_ID=local AWS_SECRET_ACCESS_KEY=local",
        *(f"  {line}" for line in stack.cognito.commands(cli_path())),
    ]
    return "\n".join(lines) + "\n"


def trusted_line(args: argparse.Namespace) -> str:
    """The banner's trusted-publishing line (empty when it is off)."""
    if not args.trusted_publishers:
        return ""
    issuer = args.trust_test_issuer or "GitHub's and GitLab's issuers"
    projects = ", ".join(sorted(args.trusted_publishers))
    return f"  trusted    {projects}: audience {args.oidc_audience}, tokens from {issuer}\n"


def data_line(stack: LocalStack) -> str:
    """The banner's line about what survives a restart."""
    if stack.data_path is None:
        return "in memory: everything is lost at exit (--data-dir DIR keeps it)"
    line = f"{stack.data_path} (kept across restarts; {stack.restored_keys} keys loaded"
    if stack.rebuilt_at_start:
        rebuilt = ", ".join(sorted(stack.rebuilt_at_start))
        line += f"; rebuilt the pages of {rebuilt}, changed before the last stop"
    return line + ")"


def rights(globs: list[str]) -> str:
    """What a user or token may do, in the banner's words."""
    if not globs:
        return "reads only"
    return "reads; publishes " + ("every project" if "*" in globs else ", ".join(globs))


@dataclass(frozen=True)
class Principal:
    """Someone the banner names: a user, or a token (user name __token__)."""

    label: str  # "alice", or "token ci"
    user: str  # what a client sends as user name
    password: str  # what it sends as password (the token itself for a token)
    globs: list[str]


def principals(
    users: dict[str, object], seed: PoolSeed | None, tokens: list[tuple[str, str]] | None
) -> list[Principal]:
    """Every user and token the stack knows, people first, in command-line order."""
    out = [
        Principal(
            name, name, password_of(spec), [] if isinstance(spec, str) else list(spec.get("publish", []))
        )
        for name, spec in users.items()
        if name != credentials.TOKEN_USER
    ]
    out += [
        Principal(name, name, pw, list(globs)) for name, (pw, globs) in (seed.users if seed else {}).items()
    ]
    static_tokens = users.get(credentials.TOKEN_USER) or {}
    pooled_tokens = seed.tokens if seed else {}
    for name, token in tokens or []:
        entry = static_tokens.get(name) if isinstance(static_tokens, dict) else None
        globs = entry["publish"] if entry else pooled_tokens.get(name, ("", []))[1]
        out.append(Principal(f"token {name}", credentials.TOKEN_USER, token, list(globs)))
    return out


def rights_lines(people: list[Principal], default: bool) -> str:
    """The banner's `users` block: one line per user and token with what it may do."""
    if not people:
        return "  users      (none: every request is refused)\n"
    width = max(len(p.label) for p in people)
    lines = []
    for i, p in enumerate(people):
        note = f" (password {p.password}: the default user)" if default else ""
        lines.append(f"  {'users' if i == 0 else '':<10} {p.label:<{width}}  {rights(p.globs)}{note}")
    return "\n".join(lines) + "\n"


def cli_path() -> str:
    """The absolute path of this environment's `pypi-edge` (the banner is copied from any
    directory), or `python -m indexer` with this interpreter when the script is not installed."""
    script = Path(sys.executable).absolute().parent / "pypi-edge"
    return str(script) if script.exists() else f"{Path(sys.executable).absolute()} -m indexer"


def publish_lines(people: list[Principal], legacy: str, index: str) -> str:
    """How to publish with twine, uv and poetry, as someone who may: the first user with rights,
    else the first token with rights.  Nobody may: say so and how to change it."""
    publisher = next((p for p in people if p.globs), None)
    if publisher is None:
        first = people[0].user if people else "USER"
        return (
            "Nobody here may publish (twine, uv and poetry would get 403): restart with\n"
            f"  --publish NAME=GLOB, e.g. --publish {first}='*'\n"
        )
    user, password = publisher.user, publisher.password
    scope = "every project" if "*" in publisher.globs else "projects matching " + ", ".join(publisher.globs)
    who = publisher.label
    return (
        f"Publish with twine, uv or poetry (as {who}, who may publish {scope}):\n"
        f"  twine upload --repository-url {legacy} -u {user} -p '{password}' dist/*\n"
        f"  uv publish --publish-url {legacy} --check-url {index} \\\n"
        f"             --username {user} --password '{password}' dist/*\n"
        f"  poetry config repositories.local {legacy}\n"
        f"  poetry publish -r local -u {user} -p '{password}'\n"
    )


def trusted_publishers(value: str) -> dict[str, object]:
    """--trusted-publishers: JSON, checked by the same model as the deployment's config."""
    try:
        config = json.loads(value)
        parse_publishers(config)
    except ValueError as exc:  # json.JSONDecodeError is a ValueError
        raise argparse.ArgumentTypeError(str(exc)) from None
    return config


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m local", description=__doc__)
    parser.add_argument("--port", type=int, default=8080, help="HTTP port of the CloudFront stand-in (8080)")
    parser.add_argument("--s3-port", type=int, default=9000, help="port of the S3+SQS API, moto (9000)")
    parser.add_argument("--bucket", default="pypi-local", help="bucket name (pypi-local)")
    parser.add_argument(
        "--user",
        action="append",
        type=parse_user,
        metavar="USER:PASSWORD",
        help=f"a user of the index; repeat for more (default {DEFAULT_USER[0]}:{DEFAULT_USER[1]})",
    )
    parser.add_argument(
        "--publish",
        action="append",
        type=parse_pair,
        metavar="NAME=GLOB",
        help="let user (or token) NAME publish projects matching GLOB, e.g. 'ci=acme-*' (repeatable); "
        "users without --publish only read",
    )
    parser.add_argument(
        "--token",
        action="append",
        type=parse_pair,
        metavar="NAME=TOKEN",
        help="an API token (user __token__), e.g. from `pypi-edge token new`; rights via --publish NAME=GLOB",
    )
    parser.add_argument(
        "--data-dir",
        type=Path,
        metavar="DIR",
        help="keep the bucket (every object and version) in DIR across restarts; `make serve` uses "
        "./.pypi-edge-data (default: in memory, lost at exit)",
    )
    parser.add_argument(
        "--ephemeral", action="store_true", help="keep nothing across restarts, even with --data-dir"
    )
    parser.add_argument(
        "--user-store",
        choices=("static", "cognito"),
        default="static",
        help="static: --user/--token live in the credentials file, as Pulumi's `users`; cognito: moto's "
        "Cognito runs beside S3/SQS and holds them (and pool tokens, pypi-edge-pool-NAME.…), managed "
        "with `pypi-edge user …` while the stack runs (the banner shows how)",
    )
    parser.add_argument(
        "--user-cache-seconds",
        type=int,
        default=60,
        metavar="N",
        help="with --user-store cognito: seconds the edge keeps the pool's answer (the revocation bound, 60)",
    )
    parser.add_argument(
        "--cognito-port", type=int, default=0, help="with --user-store cognito: its port (default: any free)"
    )
    parser.add_argument("--batch-window", type=float, default=0.5, help="indexer batch window, seconds (0.5)")
    parser.add_argument(
        "--fallback-index-url",
        metavar="URL",
        help="redirect requests for projects this index does not have to the same project there "
        "(e.g. https://pypi.org/simple/); off by default",
    )
    parser.add_argument(
        "--trusted-publishers",
        type=trusted_publishers,
        default={},
        metavar="JSON",
        help='trusted publishing, as Pulumi\'s trustedPublishers: {"project": [{"provider": "github", '
        '"repository": "owner/name", "workflow": "release.yml"}]}',
    )
    parser.add_argument(
        "--oidc-audience", default="pypi-edge-local", help="audience of trusted publishing (pypi-edge-local)"
    )
    parser.add_argument(
        "--trust-test-issuer",
        metavar="URL",
        help="trust this OIDC issuer instead of GitHub's and GitLab's (a local stand-in, for tests)",
    )
    parser.add_argument("-q", "--quiet", action="store_true", help="no access log")
    args = parser.parse_args(argv)
    if args.fallback_index_url:
        from edge.fallback import validate_url

        try:
            args.fallback_index_url = validate_url(args.fallback_index_url)
        except ValueError as exc:
            parser.error(str(exc))

    logging.basicConfig(
        level=logging.WARNING if args.quiet else logging.INFO,
        format="%(asctime)s %(name)s %(message)s",
        stream=sys.stderr,
    )
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    logging.getLogger("botocore").setLevel(logging.WARNING)
    seed = None
    if args.user_store == "cognito":
        users, seed = pool_config(args.user, args.publish, args.token)
    else:
        users = users_config(args.user, args.publish, args.token)
    stop = StopSignal()  # before start: a Ctrl-C while starting stops right after
    stack = LocalStack(
        port=args.port,
        s3_port=args.s3_port,
        bucket=args.bucket,
        users=users,
        batch_window=args.batch_window,
        fallback_index_url=args.fallback_index_url,
        trusted_publishers=args.trusted_publishers,
        oidc_audience=args.oidc_audience,
        test_issuer=args.trust_test_issuer,
        data_dir=None if args.ephemeral else args.data_dir,
        user_store=args.user_store,
        pool_seed=seed,
        user_cache_seconds=args.user_cache_seconds,
        cognito_port=args.cognito_port,
    )
    try:
        stack.start()
    except (PortInUse, DataDirError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        stack.stop()
        return 1
    except UsersError as exc:  # a seeded password the pool's policy refuses, say
        print(f"error: {exc}", file=sys.stderr)
        stack.stop()
        return 1

    people = principals(users, seed, args.token)
    default = not args.user and not args.token
    reader = next((p for p in people if p.user != credentials.TOKEN_USER), None)
    user, password = (reader.user, reader.password) if reader else ("USER", "PASSWORD")
    host = f"{stack.host}:{stack.port}"
    userinfo = f"{quote(user, safe='')}:{quote(password, safe='')}"
    legacy = f"{stack.url}/legacy/"
    publisher = next((p for p in people if p.globs), None)
    check_url = (
        f"http://{quote(publisher.user, safe='')}:{quote(publisher.password, safe='')}@{host}/simple/"
        if publisher
        else ""
    )
    pooled = {p.user for p in people if seed and p.user in seed.users}
    publish = publish_lines(people, legacy, check_url)
    print(
        f"""pypi-edge local stack is up.

  index      {stack.url}/simple/   (browser: {stack.url}/)
  upload     {legacy}
{rights_lines(people, default)}  S3 + SQS   {stack.s3_endpoint}   bucket {stack.bucket}
  fallback   {args.fallback_index_url or "off (a project not here is a 404)"}
  data       {data_line(stack)}
{trusted_line(args)}{user_store_lines(stack, pooled)}
{publish}Or straight to S3 (big files; the local S3 takes any credentials and checks no rights):
  export AWS_ACCESS_KEY_ID=local AWS_SECRET_ACCESS_KEY=local
  {cli_path()} upload --bucket {stack.bucket} --endpoint-url {stack.s3_endpoint} dist/*
Install:
  pip install --index-url http://{userinfo}@{host}/simple/ NAME

Ctrl-C stops.""",
        flush=True,
    )
    stop.wait()
    print("\nstopping…", file=sys.stderr, flush=True)
    stack.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
