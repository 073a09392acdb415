"""`pypi-edge user …` and `pypi-edge token …`: users and API tokens in the opt-in Cognito user pool.

    user add NAME [--publish GLOB]... [--password-stdin]   prints a generated password once
    user list                                              name, rights, enabled, created, changed
    user remove NAME | disable NAME | enable NAME
    user passwd NAME [--password-stdin]
    token new NAME [--publish GLOB]...                     prints the token once
    token list | token revoke NAME

They run with the administrator's AWS credentials (the usual chain, `--profile`) against the pool
named by `--user-pool`, `$PYPI_EDGE_USER_POOL`, or the stack output `userPoolId` (read with
`pulumi stack output` in the Pulumi project directory); `--endpoint-url` points at the local
stack.  Nothing is deployed: the edge asks the pool about credentials it has not seen, and keeps
an answer at most `userCacheSeconds`, so every change here holds at every edge location within
that bound (edge/userpool.py).

The model is `edge.userpool`'s: membership of `pypi-edge:read` lets a user read, the groups
`pypi-edge:publish:<glob>` let it publish (globs PEP 503 normalized, as in the static `users`
config), a token NAME is the pool user `token:NAME` whose password is the token's secret.
Cognito keeps passwords and token secrets hashed; this CLI prints a generated one once and keeps
nothing.  Without a pool, `token new` still prints the `pulumi config set` lines of a static token
(`--static` forces that).
"""

from __future__ import annotations

import argparse
import os
import secrets
import shutil
import string
import subprocess
import sys
from collections.abc import Callable, Iterator
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError, PartialCredentialsError

from edge import credentials, userpool

ENV_USER_POOL = "PYPI_EDGE_USER_POOL"
STACK_OUTPUT = "userPoolId"
PASSWORD_CHARS = 24  # generated passwords: token_urlsafe(18)
TOKEN_SECRET_BYTES = 32  # 256 random bits, as static tokens
EXIT_OK, EXIT_CONFLICT, EXIT_USAGE, EXIT_AWS = 0, 1, 2, 3


class UsersError(Exception):
    """One actionable line, with its exit code (indexer.cli prints it like its own errors)."""

    def __init__(self, message: str, code: int = EXIT_CONFLICT) -> None:
        super().__init__(message)
        self.code = code


# --- secrets --------------------------------------------------------------------------------------


def has_every_class(text: str) -> bool:
    """Lower case, upper case, a digit and a symbol ('-' or '_'): whatever a pool's policy asks."""
    return (
        any(c in string.ascii_lowercase for c in text)
        and any(c in string.ascii_uppercase for c in text)
        and any(c in string.digits for c in text)
        and any(c in "-_" for c in text)
    )


def generate_secret(nbytes: int) -> str:
    """Random base64url text with every character class, so any password policy up to its length
    accepts it (Cognito counts '-' and '_' as symbols)."""
    while True:
        candidate = secrets.token_urlsafe(nbytes)
        if has_every_class(candidate):
            return candidate


def generate_password() -> str:
    return generate_secret(PASSWORD_CHARS * 3 // 4)


def read_password(stdin: Any) -> str:
    """One line from stdin (`--password-stdin`), without its line break."""
    line = stdin.readline()
    password = line[:-1] if line.endswith("\n") else line
    password = password[:-1] if password.endswith("\r") else password
    if not password:
        raise UsersError("no password on stdin", EXIT_USAGE)
    return password


# --- finding the pool -------------------------------------------------------------------------------


def stack_output(run: Callable[..., subprocess.CompletedProcess] = subprocess.run) -> str | None:
    """The current stack's `userPoolId`, if the Pulumi CLI is here and the stack has one."""
    pulumi = shutil.which("pulumi")
    if pulumi is None:
        return None
    try:
        done = run(
            [pulumi, "stack", "output", STACK_OUTPUT],
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    value = done.stdout.strip() if done.returncode == 0 else ""
    return value or None


def find_pool(args: argparse.Namespace) -> str | None:
    pool_id = args.user_pool or os.environ.get(ENV_USER_POOL) or stack_output()
    if pool_id:
        try:
            userpool.region_of(pool_id)
        except ValueError as exc:
            raise UsersError(str(exc), EXIT_USAGE) from None
    return pool_id


def require_pool(args: argparse.Namespace) -> str:
    pool_id = find_pool(args)
    if not pool_id:
        raise UsersError(
            f"no user pool: pass --user-pool, set ${ENV_USER_POOL}, or run this in the Pulumi project "
            f"of a stack with userPool set (stack output {STACK_OUTPUT})",
            EXIT_USAGE,
        )
    return pool_id


def make_client(args: argparse.Namespace, pool_id: str) -> Any:
    import boto3
    from botocore.config import Config

    session = boto3.Session(profile_name=args.profile, region_name=args.region or userpool.region_of(pool_id))
    return session.client(
        "cognito-idp",
        endpoint_url=args.endpoint_url,
        config=Config(retries={"max_attempts": 5, "mode": "standard"}),
    )


# --- the store ------------------------------------------------------------------------------------


def aws_code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


def pages(call: Callable[..., dict], key: str, **params: Any) -> Iterator[dict]:
    """Every item of a paginated Cognito List* call (NextToken, or PaginationToken for ListUsers)."""
    token_name = "PaginationToken" if key == "Users" else "NextToken"
    while True:
        page = call(**params)
        yield from page.get(key, [])
        token = page.get(token_name)
        if not token:
            return
        params[token_name] = token


class Store:
    """Users and tokens in one pool (the rights model of edge.userpool)."""

    def __init__(self, client: Any, pool_id: str) -> None:
        self.client = client
        self.pool_id = pool_id

    def ensure_group(self, name: str) -> None:
        try:
            self.client.create_group(UserPoolId=self.pool_id, GroupName=name, Description="pypi-edge")
        except ClientError as exc:
            if aws_code(exc) != "GroupExistsException":
                raise

    def create(self, username: str, password: str, globs: list[str]) -> tuple[str, ...]:
        """A new user with a permanent password and its groups; nothing is left behind on failure."""
        groups = [userpool.READ_GROUP, *(userpool.publish_group(g) for g in globs)]
        try:
            self.client.admin_create_user(
                UserPoolId=self.pool_id, Username=username, MessageAction="SUPPRESS"
            )
        except ClientError as exc:
            if aws_code(exc) == "UsernameExistsException":
                raise UsersError(f"{display(username)} already exists") from None
            raise
        try:
            self.set_password(username, password)
            for group in groups:
                self.ensure_group(group)
                self.client.admin_add_user_to_group(
                    UserPoolId=self.pool_id, Username=username, GroupName=group
                )
        except BaseException:
            # Half a user is no user: without its password or its read group it could not sign
            # in anyway, but it would block a retry under the same name.
            self.client.admin_delete_user(UserPoolId=self.pool_id, Username=username)
            raise
        return tuple(g[len(userpool.PUBLISH_PREFIX) :] for g in groups[1:])

    def set_password(self, username: str, password: str) -> None:
        try:
            self.client.admin_set_user_password(
                UserPoolId=self.pool_id, Username=username, Password=password, Permanent=True
            )
        except ClientError as exc:
            if aws_code(exc) == "InvalidPasswordException":
                message = exc.response.get("Error", {}).get("Message", "")
                raise UsersError(
                    f"the pool's password policy refuses this password: {message}", EXIT_USAGE
                ) from None
            raise

    def admin(self, action: str, username: str) -> None:
        """AdminDeleteUser / AdminDisableUser / AdminEnableUser, with a clear line when it is unknown."""
        try:
            getattr(self.client, action)(UserPoolId=self.pool_id, Username=username)
        except ClientError as exc:
            if aws_code(exc) == "UserNotFoundException":
                raise UsersError(f"no {display(username)} in pool {self.pool_id}") from None
            raise

    def rights(self) -> dict[str, list[str]]:
        """user name -> its pypi-edge groups (one ListUsersInGroup per group of ours)."""
        members: dict[str, list[str]] = {}
        for group in pages(self.client.list_groups, "Groups", UserPoolId=self.pool_id):
            name = group["GroupName"]
            if name != userpool.READ_GROUP and not name.startswith(userpool.PUBLISH_PREFIX):
                continue
            for user in pages(
                self.client.list_users_in_group, "Users", UserPoolId=self.pool_id, GroupName=name
            ):
                members.setdefault(user["Username"], []).append(name)
        return members

    def users(self, tokens: bool) -> list[dict]:
        params: dict[str, Any] = {"UserPoolId": self.pool_id}
        if tokens:
            params["Filter"] = f'username ^= "{userpool.TOKEN_USER_PREFIX}"'
        found = list(pages(self.client.list_users, "Users", **params))
        return [u for u in found if u["Username"].startswith(userpool.TOKEN_USER_PREFIX) == tokens]


def display(username: str) -> str:
    if username.startswith(userpool.TOKEN_USER_PREFIX):
        return f"token {username[len(userpool.TOKEN_USER_PREFIX) :]!r}"
    return f"user {username!r}"


def rights_text(groups: list[str]) -> str:
    principal = userpool.principal_from_groups("x", "user", groups)
    if principal is None:
        return f"no access (not in {userpool.READ_GROUP})"
    return "publish " + ", ".join(principal.publish) if principal.publish else "read"


def check_user_name(name: str) -> str:
    if ":" in name or not userpool.valid_username(name):
        raise UsersError(
            f"invalid user name {name!r}: at most 128 characters, no ':', no spaces, not __token__",
            EXIT_USAGE,
        )
    return name


def check_token_name(name: str) -> str:
    if not name or not userpool.TOKEN_NAME.fullmatch(name):
        raise UsersError(
            f"invalid token name {name!r}: letters, digits, '-' and '_' (at most 64), no ':' or '.'",
            EXIT_USAGE,
        )
    return name


def check_globs(globs: list[str]) -> list[str]:
    try:
        return list(credentials.parse_globs(globs, "--publish"))
    except ValueError as exc:
        raise UsersError(str(exc), EXIT_USAGE) from None


def _bound_note() -> str:
    return (
        "every edge location refuses it within userCacheSeconds "
        f"(default {userpool.DEFAULT_CACHE_SECONDS} s), with no deploy"
    )


# --- commands -------------------------------------------------------------------------------------


def _out(message: str = "") -> None:
    print(message, file=sys.stdout, flush=True)


def _err(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def open_store(args: argparse.Namespace) -> Store:
    pool_id = require_pool(args)
    return Store(make_client(args, pool_id), pool_id)


def cmd_user(args: argparse.Namespace) -> int:
    store = open_store(args)
    action = args.action
    if action == "list":
        rows = []
        rights = store.rights()
        for user in sorted(store.users(tokens=False), key=lambda u: u["Username"]):
            rows.append(
                (
                    user["Username"],
                    rights_text(rights.get(user["Username"], [])),
                    "enabled" if user.get("Enabled", True) else "disabled",
                    _when(user.get("UserCreateDate")),
                    _when(user.get("UserLastModifiedDate")),
                )
            )
        _table(("NAME", "RIGHTS", "STATE", "CREATED", "CHANGED"), rows)
        return EXIT_OK
    if not args.name:
        raise UsersError(f"user {action} needs a NAME", EXIT_USAGE)
    name = check_user_name(args.name)
    if action == "add":
        globs = check_globs(args.publish)
        password = read_password(sys.stdin) if args.password_stdin else generate_password()
        granted = store.create(name, password, globs)
        if not args.password_stdin:
            _out(password)
            _err(f"\nThe password above is shown once; give it to {name} now.")
        _err(f"added {display(name)}: {'publish ' + ', '.join(granted) if granted else 'read'}")
    elif action == "passwd":
        password = read_password(sys.stdin) if args.password_stdin else generate_password()
        store.admin("admin_get_user", name)
        store.set_password(name, password)
        if not args.password_stdin:
            _out(password)
        _err(f"new password for {display(name)}; the old one: {_bound_note()}")
    elif action == "remove":
        store.admin("admin_delete_user", name)
        _err(f"removed {display(name)}; {_bound_note()}")
    elif action == "disable":
        store.admin("admin_disable_user", name)
        _err(f"disabled {display(name)}; {_bound_note()}")
    else:  # enable
        store.admin("admin_enable_user", name)
        _err(f"enabled {display(name)}")
    return EXIT_OK


def cmd_token(args: argparse.Namespace) -> int:
    name = args.name_option or args.name
    if args.action == "new" and (args.static or not find_pool(args)):
        return static_token(args, name or "")
    store = open_store(args)
    if args.action == "list":
        rights = store.rights()
        rows = [
            (
                u["Username"][len(userpool.TOKEN_USER_PREFIX) :],
                rights_text(rights.get(u["Username"], [])),
                "enabled" if u.get("Enabled", True) else "disabled",
                _when(u.get("UserCreateDate")),
            )
            for u in sorted(store.users(tokens=True), key=lambda u: u["Username"])
        ]
        _table(("NAME", "RIGHTS", "STATE", "CREATED"), rows)
        return EXIT_OK
    if not name:
        raise UsersError(f"token {args.action} needs a NAME", EXIT_USAGE)
    name = check_token_name(name)
    username = userpool.TOKEN_USER_PREFIX + name
    if args.action == "revoke":
        store.admin("admin_delete_user", username)
        _err(f"revoked token {name!r}; {_bound_note()}")
        return EXIT_OK
    globs = check_globs(args.publish)
    secret = generate_secret(TOKEN_SECRET_BYTES)
    granted = store.create(username, secret, globs)
    _out(userpool.make_token(name, secret))
    rights = "publish " + ", ".join(granted) if granted else "read only"
    _err(
        f"\nThe token above ({rights}) is shown once; store it in your CI's secrets now.\n"
        "Use it as user __token__ (uv publish --token, twine -u __token__ -p, poetry).\n"
        f"Revoke: pypi-edge token revoke {name} (no deploy)"
    )
    return EXIT_OK


def static_token(args: argparse.Namespace, name: str) -> int:
    """No pool: a static token, stored as its hash in the stack's `users` config (`pulumi up`)."""
    if not name or ":" in name or "." in name or not name.isprintable():
        raise UsersError(f"invalid token name {name!r}: no ':' or '.'", EXIT_USAGE)
    token = credentials.new_token()
    try:
        commands = credentials.pulumi_config_commands(name, token, args.publish, key=args.config_key)
    except ValueError as exc:
        raise UsersError(str(exc), EXIT_USAGE) from exc
    rights = "publish " + ", ".join(args.publish) if args.publish else "read only"
    _out(token)
    _err(
        f"\nThe token above ({rights}) is shown once; store it in your CI's secrets now.\n"
        "Use it as user __token__ (uv publish --token, twine -u __token__ -p, poetry).\n"
        "Store only its hash in the stack, then `pulumi up`:\n"
    )
    for line in commands:
        _err(f"  {line}")
    _err(f"\nRevoke: pulumi config rm --path {args.config_key}.__token__.{name} && pulumi up")
    return EXIT_OK


def _when(value: Any) -> str:
    return value.strftime("%Y-%m-%d %H:%M") if hasattr(value, "strftime") else "-"


def _table(header: tuple[str, ...], rows: list[tuple[str, ...]]) -> None:
    if not rows:
        _err("(none)")
        return
    widths = [max(len(str(r[i])) for r in (header, *rows)) for i in range(len(header))]
    for row in (header, *rows):
        _out("  ".join(str(cell).ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip())


def run(func: Callable[[argparse.Namespace], int], args: argparse.Namespace) -> int:
    """Run a command; Cognito and AWS failures become one line and EXIT_AWS."""
    try:
        return func(args)
    except (NoCredentialsError, PartialCredentialsError):
        raise UsersError(
            "no AWS credentials found: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, pass --profile, "
            "or run `aws configure` / `aws sso login`",
            EXIT_AWS,
        ) from None
    except ClientError as exc:
        code = aws_code(exc)
        if code == "ResourceNotFoundException":
            raise UsersError(
                "no such user pool (check --user-pool, --region and --endpoint-url)", EXIT_AWS
            ) from None
        if code in {"AccessDeniedException", "NotAuthorizedException", "UnrecognizedClientException"}:
            raise UsersError(
                f"Cognito refused {exc.operation_name}: your AWS identity needs the cognito-idp actions "
                "docs/iam/cli-admin.json grants, on this pool",
                EXIT_AWS,
            ) from None
        message = exc.response.get("Error", {}).get("Message", "")
        text = f"Cognito {exc.operation_name} failed: {code} {message}".rstrip()
        raise UsersError(text, EXIT_AWS) from None
    except BotoCoreError as exc:
        raise UsersError(f"AWS: {exc}", EXIT_AWS) from None


# --- the command line -----------------------------------------------------------------------------


def pool_options() -> argparse.ArgumentParser:
    parent = argparse.ArgumentParser(add_help=False)
    group = parent.add_argument_group("user pool and AWS")
    group.add_argument(
        "--user-pool",
        metavar="ID",
        help=f"the Cognito user pool (default: ${ENV_USER_POOL}, else the stack output {STACK_OUTPUT})",
    )
    group.add_argument("--endpoint-url", help="Cognito endpoint, e.g. the local stack's (its banner says)")
    group.add_argument("--profile", help="AWS profile (default: the usual AWS credential chain)")
    group.add_argument("--region", help="AWS region (default: the pool id's prefix)")
    return parent


def add_parsers(sub: Any) -> None:
    """The `user` and `token` commands, on indexer.cli's subcommand parser."""
    pool = pool_options()
    publish = argparse.ArgumentParser(add_help=False)
    publish.add_argument(
        "--publish",
        action="append",
        default=[],
        metavar="GLOB",
        help="projects it may publish, PEP 503 names or globs such as 'acme-*' (repeatable; none: read only)",
    )
    p = sub.add_parser(
        "user",
        parents=[pool, publish],
        help="manage users in the user pool (no deploy)",
        description="Add, list, remove, disable, enable users of the index or set their passwords, in "
        "the stack's Cognito user pool (Pulumi config userPool). Changes hold at every edge location "
        f"within userCacheSeconds (default {userpool.DEFAULT_CACHE_SECONDS} s).",
    )
    p.add_argument(
        "action",
        choices=["add", "list", "remove", "disable", "enable", "passwd"],
        metavar="ACTION",
        help="add NAME, list, remove NAME, disable NAME (refused at once, kept), enable NAME, "
        "passwd NAME (set a new password)",
    )
    p.add_argument("name", nargs="?", metavar="NAME", help="the user name (all actions but list)")
    p.add_argument(
        "--password-stdin",
        action="store_true",
        help="read the password from stdin (add, passwd); default: generate one and print it once",
    )
    p.set_defaults(func=cmd_user, needs_bucket=False, bucket=None, users_command=True)

    p = sub.add_parser(
        "token",
        parents=[pool, publish],
        help="API tokens (user __token__): new, list, revoke",
        description="With a user pool: `token new NAME` prints a new token once and stores it (hashed) "
        "in the pool, `token list` lists them, `token revoke NAME` deletes one (no deploy). Without one "
        "(or with --static): `token new` prints the token and the `pulumi config set` lines that store "
        "only its SHA-256 and its rights; revoke by removing the entry and `pulumi up`. Without "
        "--publish a token only reads.",
    )
    p.add_argument(
        "action",
        choices=["new", "list", "revoke"],
        metavar="ACTION",
        help="new NAME (make a new token, printed once), list, revoke NAME",
    )
    p.add_argument("name", nargs="?", metavar="NAME", help="what the token is for, e.g. ci")
    p.add_argument("--name", dest="name_option", metavar="NAME", help="the same as NAME (older spelling)")
    p.add_argument(
        "--static", action="store_true", help="a static token in the stack's config, even with a pool"
    )
    p.add_argument(
        "--config-key", default="users", help="static tokens: the Pulumi config key of the users (users)"
    )
    p.set_defaults(func=cmd_token, needs_bucket=False, bucket=None, users_command=True)
