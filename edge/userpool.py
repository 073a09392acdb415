"""Users and tokens that change without a deploy: an Amazon Cognito user pool behind Basic auth.

Standard library only: this module ships in the edge bundle and in the upload bundle.  It holds
the pool's half of the credentials model (`edge/credentials.py` holds the static half and asks
this module about any name it does not know), the per-container caches that bound revocation,
and the brute-force limit.  The network call itself is `edge/cognito.py`, imported only when a
container meets its first credentials that are neither static nor cached.

The model (also written by the CLI, `indexer/users.py`, and the local stack):

* A pool user NAME may read when it belongs to the group `READ_GROUP` ("pypi-edge:read"), and
  may publish the projects matching GLOB when it belongs to "pypi-edge:publish:GLOB"
  (`PUBLISH_PREFIX`; the glob PEP 503 normalized, as in the static config).  A user in none of
  the pypi-edge groups is refused, so an existing pool shared with other applications grants
  nothing until the CLI adds a user.
* An API token NAME is the pool user "token:NAME" (`TOKEN_USER_PREFIX`; a Basic user-id cannot
  contain ':', RFC 7617, so nobody can sign in as it with a user name).  The token the client
  holds is ``pypi-edge-pool-NAME.SECRET`` (`TOKEN_PREFIX`) and SECRET is that user's password:
  Cognito stores it salted and hashed, as for any password, and the edge finds the pool user
  from the token itself.  Clients send it as the password of ``__token__``, as static tokens.
* Static users (Pulumi's `users` config) win on a name clash: `credentials.Verifier` never asks
  the pool about a name it knows.

The configuration travels in the bundle as `FILE_NAME` (Lambda@Edge has no environment
variables): the pool id (its region is the id's prefix), the app client id, `cache_seconds`
(the revocation bound, Pulumi's `userCacheSeconds`) and, for the local stack only, an endpoint.
`render_file` writes it (Pulumi, the local stack, the tests) and `load` reads it.

`PoolVerifier.verify` is the one check, per container:

1. a positive cache: keyed hash of the ``Authorization`` value -> (Principal, expiry), kept at
   most `cache_seconds` from the moment the pool was asked, so a removed or disabled user, a
   changed password or a revoked token is refused everywhere within that bound, without a deploy;
2. a negative cache (`NEGATIVE_SECONDS`), so a client retrying wrong credentials does not call
   the pool per request, yet a user added a moment ago works within seconds;
3. a limit of `MAX_FAILURES` refused attempts per pool user name per `FAILURE_WINDOW_SECONDS`:
   beyond it the pool is not asked and the request gets 429 with Retry-After (`RateLimited`);
4. the pool (`edge.cognito.Client`): groups on success, None when refused; `Unavailable` when
   the pool cannot answer (unreachable, throttled, misconfigured), which the callers turn into a
   503 with Retry-After, never a pass.  Cached and static users keep working meanwhile.

The cache key is a keyed hash (BLAKE2b in keyed mode) of the header under a random per-container
key: the password is never stored, and the key never leaves the container's memory.  Both caches
are bounded FIFOs.  A warm request of a pool user costs that one hash and a dict lookup more than a
static user's (`PoolVerifier.cached`, asked before the header is even parsed).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import time
from collections.abc import Callable

try:
    from edge import credentials
except ImportError:  # the deployed edge bundle has edge/*.py at the zip root
    import credentials  # type: ignore[no-redef]

FILE_NAME = "userpool.json"
ENV_VAR = "PYPI_EDGE_USERPOOL"  # optional path of the file (local stack, tests)

READ_GROUP = "pypi-edge:read"
PUBLISH_PREFIX = "pypi-edge:publish:"
TOKEN_USER_PREFIX = "token:"
TOKEN_PREFIX = "pypi-edge-pool-"
TOKEN_SEPARATOR = "."  # never in a token name, never in base64url

DEFAULT_CACHE_SECONDS = 60
MAX_CACHE_SECONDS = 3600
NEGATIVE_SECONDS = 5
CACHE_SIZE = 1024
MAX_FAILURES = 5
FAILURE_WINDOW_SECONDS = 60
# How long a client should wait after a 503 (pool unavailable) before retrying.
RETRY_AFTER_SECONDS = 5

# Cognito user pool ids are "<region>_<id>" (CreateUserPool API reference, UserPoolType.Id:
# pattern [\w-]+_[0-9a-zA-Z]+); app client ids are [\w+]+ of at most 128 characters.
_POOL_ID = re.compile(r"([a-z]{2}(?:-[a-z]+)+-\d+)_[0-9A-Za-z]+")
_CLIENT_ID = re.compile(r"[\w+]{1,128}")
# Token names: what `pypi-edge token new` accepts (no '.', no ':', nothing to quote).
TOKEN_NAME = re.compile(r"[A-Za-z0-9_-]{1,64}")
# Cognito user names are at most 128 characters of letters, marks, symbols, numbers and
# punctuation (AdminCreateUser API reference, Username pattern [\p{L}\p{M}\p{S}\p{N}\p{P}]+):
# no whitespace and no control characters.
MAX_USERNAME_CHARS = 128
# Cognito passwords are at most 256 characters (PasswordType, Amazon Cognito API reference).
MAX_PASSWORD_CHARS = 256


class Unavailable(Exception):
    """The pool could not answer (unreachable, throttled, misconfigured): 503, never a pass."""


class RateLimited(Exception):
    """Too many refused attempts for one name in this container: 429 with Retry-After."""

    def __init__(self, retry_after: int) -> None:
        super().__init__(f"too many failed attempts; retry in {retry_after} s")
        self.retry_after = retry_after


# --- configuration ------------------------------------------------------------------------------


class Settings:
    """The pool this deployment checks (immutable; see `render_file`)."""

    __slots__ = ("cache_seconds", "client_id", "endpoint", "pool_id", "region")

    pool_id: str
    client_id: str
    region: str
    cache_seconds: int
    endpoint: str

    def __init__(
        self, pool_id: str, client_id: str, cache_seconds: int = DEFAULT_CACHE_SECONDS, endpoint: str = ""
    ) -> None:
        region = region_of(pool_id)
        if not _CLIENT_ID.fullmatch(client_id):
            raise ValueError(f"invalid app client id {client_id!r}")
        if not isinstance(cache_seconds, int) or not 0 <= cache_seconds <= MAX_CACHE_SECONDS:
            raise ValueError(f"userCacheSeconds must be an integer between 0 and {MAX_CACHE_SECONDS}")
        if endpoint and not endpoint.startswith(("https://", "http://127.0.0.1:", "http://localhost:")):
            raise ValueError("the pool endpoint must be https:// (or a loopback http:// for the local stack)")
        for name, value in (
            ("pool_id", pool_id),
            ("client_id", client_id),
            ("region", region),
            ("cache_seconds", cache_seconds),
            ("endpoint", endpoint or f"https://cognito-idp.{region}.amazonaws.com/"),
        ):
            object.__setattr__(self, name, value)

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError(f"Settings is immutable (tried to set {name!r})")

    def __repr__(self) -> str:
        return f"Settings({self.pool_id!r}, {self.client_id!r}, cache_seconds={self.cache_seconds})"


def region_of(pool_id: str) -> str:
    """The region a pool lives in: the prefix of its id."""
    match = _POOL_ID.fullmatch(pool_id) if isinstance(pool_id, str) else None
    if not match:
        raise ValueError(f"invalid user pool id {pool_id!r} (expected <region>_<id>, e.g. eu-west-1_AbC123)")
    return match.group(1)


def render_file(
    pool_id: str, client_id: str, cache_seconds: int = DEFAULT_CACHE_SECONDS, endpoint: str = ""
) -> bytes:
    """The bundle's `FILE_NAME`, deterministic for the same input (validated by `Settings`)."""
    Settings(pool_id, client_id, cache_seconds, endpoint)
    doc: dict[str, object] = {"cache_seconds": cache_seconds, "client_id": client_id, "pool_id": pool_id}
    if endpoint:
        doc["endpoint"] = endpoint
    return json.dumps(doc, sort_keys=True, separators=(",", ":")).encode("utf-8")


def load(raw: bytes | str) -> Settings:
    """Parse `render_file`'s output; ValueError on anything else."""
    try:
        doc = json.loads(raw)
    except ValueError:
        raise ValueError("the user pool file is not JSON") from None
    if not isinstance(doc, dict) or not all(isinstance(doc.get(k), str) for k in ("pool_id", "client_id")):
        raise ValueError("the user pool file must be an object with 'pool_id' and 'client_id'")
    cache_seconds = doc.get("cache_seconds", DEFAULT_CACHE_SECONDS)
    if isinstance(cache_seconds, bool):
        raise ValueError("cache_seconds must be an integer")
    endpoint = doc.get("endpoint", "")
    if not isinstance(endpoint, str):
        raise ValueError("endpoint must be a string")
    return Settings(doc["pool_id"], doc["client_id"], cache_seconds, endpoint)


def path_next_to(module_file: str) -> str:
    """Where a function reads the file: ``$PYPI_EDGE_USERPOOL``, else beside its code."""
    return os.environ.get(ENV_VAR) or os.path.join(os.path.dirname(module_file), FILE_NAME)


# --- the rights model ---------------------------------------------------------------------------


def publish_group(glob: str) -> str:
    """The group that grants publishing the projects matching `glob` (normalized like static globs)."""
    (normalized,) = credentials.parse_globs([glob], f"glob {glob!r}")
    return PUBLISH_PREFIX + normalized


def principal_from_groups(name: str, kind: str, groups: object) -> credentials.Principal | None:
    """The Principal a pool user's groups make, or None when it is not a member of the index."""
    if not isinstance(groups, list | tuple) or READ_GROUP not in groups:
        return None
    globs = [g[len(PUBLISH_PREFIX) :] for g in groups if isinstance(g, str) and g.startswith(PUBLISH_PREFIX)]
    publish = credentials.parse_globs([g for g in globs if g.strip()], f"user {name!r}")
    return credentials.Principal(name, kind, publish)


def is_pool_token(password: str) -> bool:
    """Whether a ``__token__`` password has the pool token's shape (cheap; no secret is checked)."""
    return password.startswith(TOKEN_PREFIX) and TOKEN_SEPARATOR in password


def parse_token(token: str) -> tuple[str, str] | None:
    """``(name, secret)`` of a pool token ``pypi-edge-pool-NAME.SECRET``, or None."""
    if not token.startswith(TOKEN_PREFIX):
        return None
    name, sep, secret = token[len(TOKEN_PREFIX) :].partition(TOKEN_SEPARATOR)
    if not sep or not secret or not TOKEN_NAME.fullmatch(name) or len(secret) > MAX_PASSWORD_CHARS:
        return None
    return name, secret


def make_token(name: str, secret: str) -> str:
    if not TOKEN_NAME.fullmatch(name):
        raise ValueError(f"invalid token name {name!r}: letters, digits, '-' and '_', at most 64")
    return f"{TOKEN_PREFIX}{name}{TOKEN_SEPARATOR}{secret}"


def valid_username(name: str) -> bool:
    """What Cognito could hold as a user name, and is not reserved for tokens (no pool call else)."""
    return (
        0 < len(name) <= MAX_USERNAME_CHARS
        and name.isprintable()
        and not any(c.isspace() for c in name)
        and name != credentials.TOKEN_USER
        and not name.startswith(TOKEN_USER_PREFIX)
    )


# --- verifying ----------------------------------------------------------------------------------

# (pool user name, password) -> the user's groups, or None when Cognito refuses; raises Unavailable.
Authenticate = Callable[[str, str], "list[str] | None"]


class PoolVerifier:
    """Checks credentials the static file does not know against the pool, with bounded caches."""

    def __init__(
        self,
        settings: Settings,
        authenticate: Authenticate | None = None,
        *,
        clock: Callable[[], float] = time.monotonic,
        cache_size: int = CACHE_SIZE,
    ) -> None:
        self.settings = settings
        self.cache_seconds = settings.cache_seconds
        self._authenticate = authenticate
        self._clock = clock
        self.cache_size = cache_size
        self._key = os.urandom(32)  # per container: the cache keys are keyed hashes under it
        self.positive: dict[bytes, tuple[credentials.Principal, float]] = {}
        self.negative: dict[bytes, float] = {}
        self.failures: dict[str, list[float]] = {}  # name -> [window start, refused attempts]
        self.calls = 0  # pool calls made by this container (tests, logs)

    def verify(self, value: str, user: str, password: str) -> credentials.Principal | None:
        """The Principal the header `value` (already split into `user`, `password`) proves, or None.

        Raises `RateLimited` (429) or `Unavailable` (503); never passes what the pool did not accept.
        """
        key = self._cache_key(value)
        now = self._clock()
        hit = self.positive.get(key)
        if hit is not None:
            if now < hit[1]:
                return hit[0]
            self.positive.pop(key, None)
        refused_until = self.negative.get(key)
        if refused_until is not None:
            if now < refused_until:
                return None
            self.negative.pop(key, None)
        if len(password) > MAX_PASSWORD_CHARS:
            return None
        if user == credentials.TOKEN_USER:
            parsed = parse_token(password)
            if parsed is None:
                return None  # not a pool token: nothing to ask the pool (and nothing to count)
            name, password = parsed
            pool_user, kind = TOKEN_USER_PREFIX + name, "token"
        else:
            if not valid_username(user):
                return None
            name, pool_user, kind = user, user, "user"
        self._check_rate(pool_user, now)
        groups = self._call(pool_user, password)
        if groups is None:
            self._count_failure(pool_user, now)
            self._remember(self.negative, key, now + NEGATIVE_SECONDS)
            return None
        self.failures.pop(pool_user, None)
        principal = principal_from_groups(name, kind, groups)
        if principal is None:  # a pool user, but not one of this index's
            self._remember(self.negative, key, now + NEGATIVE_SECONDS)
            return None
        if self.cache_seconds > 0:
            # Expiry counted from before the call: an answer Cognito gave before a revocation
            # can never outlive the revocation by more than cache_seconds.
            self._remember(self.positive, key, (principal, now + self.cache_seconds))
        return principal

    def cached(self, value: str) -> credentials.Principal | None:
        """The warm path: the Principal a still-valid cached answer holds for this header, or None."""
        hit = self.positive.get(self._cache_key(value))
        return hit[0] if hit is not None and self._clock() < hit[1] else None

    def _cache_key(self, value: str) -> bytes:
        # BLAKE2b in keyed mode is a MAC (RFC 7693, "The BLAKE2 Cryptographic Hash and Message
        # Authentication Code"; Python's hashlib documents keyed hashing as "a faster and simpler
        # replacement for HMAC"): ~2 us here, where hmac.digest is ~6 us.
        return hashlib.blake2b(value.encode("ascii"), key=self._key, digest_size=32).digest()

    def _call(self, pool_user: str, password: str) -> list[str] | None:
        if self._authenticate is None:
            # The first miss of a container: only now the HTTPS client (http.client, ssl) loads.
            try:
                from edge import cognito
            except ImportError:  # the deployed edge bundle
                import cognito  # type: ignore[no-redef]
            self._authenticate = cognito.Client(self.settings).authenticate
        self.calls += 1
        return self._authenticate(pool_user, password)

    def _check_rate(self, name: str, now: float) -> None:
        window = self.failures.get(name)
        if window is None:
            return
        start, count = window
        if now - start >= FAILURE_WINDOW_SECONDS:
            self.failures.pop(name, None)
        elif count >= MAX_FAILURES:
            raise RateLimited(max(1, int(start + FAILURE_WINDOW_SECONDS - now + 0.999)))

    def _count_failure(self, name: str, now: float) -> None:
        window = self.failures.get(name)
        if window is None or now - window[0] >= FAILURE_WINDOW_SECONDS:
            self._remember(self.failures, name, [now, 1])
        else:
            window[1] += 1

    def _remember(self, cache: dict, key: object, value: object) -> None:
        credentials.remember(cache, key, value, self.cache_size)

    def clear(self) -> None:
        self.positive.clear()
        self.negative.clear()
        self.failures.clear()


class Broken:
    """Stands in for a pool whose configuration could not be read: every check is a 503.

    Static users keep working; nobody else passes, and nobody gets a misleading 401.
    """

    def __init__(self, reason: str) -> None:
        self.reason = reason

    def cached(self, value: str) -> credentials.Principal | None:
        return None

    def verify(self, value: str, user: str, password: str) -> credentials.Principal | None:
        raise Unavailable(f"the user pool is not configured correctly: {self.reason}")


def read_file(path: str) -> bytes | None:
    """The pool file's bytes, or None when there is none (no pool configured)."""
    try:
        with open(path, "rb") as f:
            return f.read()
    except FileNotFoundError:
        return None
