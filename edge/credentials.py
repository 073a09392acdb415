"""The credentials model: who may read, who may publish what, and how a request proves it.

One model for the viewer-request function (read), the upload function (publish) and the local
stack.  Standard library only: this module ships in the edge bundle and in the upload bundle.

Configuration (Pulumi secret config `pypi-edge:users`, or `python -m local --user/--publish`):

* ``"alice": "password"`` -- a reader (backwards compatible).  Readers read everything.
* ``"ci": {"password": "…", "publish": ["acme-*", "tools"]}`` -- a reader who may also publish
  the projects whose PEP 503 normalized name matches one of the globs (`fnmatch`; the globs are
  normalized too, so ``Acme_*`` means ``acme-*``).
* ``"__token__": {"ci": {"sha256": "<hex>", "publish": ["acme-*"]}}`` -- API tokens, sent as
  user ``__token__`` with the token as password (twine, uv ``--token``, poetry), as on PyPI.
  Only the SHA-256 of the token is stored; a token without ``publish`` only reads.
  `new_token()` makes one (``pypi-edge token new``).  Revocation = remove the entry.

Lambda@Edge has no environment variables and no secrets manager on the hot path, so the
credentials travel inside the function bundle as a small JSON file (`FILE_NAME`).  It holds
only verifiers: PBKDF2-HMAC-SHA256 hashes of passwords (slow, salted: passwords are guessable)
and SHA-256 digests of tokens (a fast hash suffices for 256 random bits, NIST SP 800-63B
section 5.1.1.2 asks for a slow hash only for memorized secrets).  The deploy (Pulumi), the local
stack and the tests all produce that file with `render_file`, so the format has exactly one
writer and one reader (`Verifier.configure`).

`Verifier.verify(authorization_header) -> Principal | None` is the one check: constant-time
comparisons, the same slow hash for an unknown user as for a wrong password, and bounded caches
of verified and rejected header digests so a warm container pays the slow hash once.
Short-lived tokens minted by trusted publishing (prefix `MINTED_PREFIX`) are accepted only
where a `minted` verifier is passed (the upload function); elsewhere they are refused.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import re
from collections.abc import Callable, Mapping
from fnmatch import fnmatchcase

ALGORITHM = "pbkdf2_sha256"
# One slow hash per container (warm requests hit the verified-header cache).  Lambda@Edge
# viewer triggers run at 128 MB, roughly 1/14 of a vCPU, with a 5 s limit: 100k iterations
# cost ~40 ms of a full core here, well under a second there.
ITERATIONS = 100_000
SALT_BYTES = 16
FILE_NAME = "credentials.json"
TOKEN_USER = "__token__"  # the user name of API tokens, as on PyPI
TOKEN_PREFIX = "pypi-edge-"  # every API token starts with this (secret scanners can match it)
MINTED_PREFIX = "pypi-edge-oidc-"  # short-lived tokens minted by trusted publishing (upload/oidc.py)
TOKEN_BYTES = 32  # 256 random bits
# Verified / rejected header digests kept per container; entries are evicted oldest first.
CACHE_SIZE = 256
# Longer Authorization values are refused before any work (no real password is this long).
MAX_AUTHORIZATION_BYTES = 4096


class Entry:
    """One user's stored verifier (immutable).

    A hand-written slotted class rather than a frozen dataclass: `dataclasses` pulls in
    `inspect` and costs ~10 ms of import time, which every cold start of the edge function pays.
    """

    __slots__ = ("digest", "iterations", "publish", "salt")

    salt: bytes
    digest: bytes
    iterations: int
    publish: tuple[str, ...]  # normalized globs of the projects this user may publish

    def __init__(
        self, salt: bytes, digest: bytes, iterations: int = ITERATIONS, publish: tuple[str, ...] = ()
    ) -> None:
        object.__setattr__(self, "salt", salt)
        object.__setattr__(self, "digest", digest)
        object.__setattr__(self, "iterations", iterations)
        object.__setattr__(self, "publish", publish)

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError(f"Entry is immutable (tried to set {name!r})")

    def __delattr__(self, name: str) -> None:
        raise AttributeError(f"Entry is immutable (tried to delete {name!r})")

    def _key(self) -> tuple[bytes, bytes, int, tuple[str, ...]]:
        return (self.salt, self.digest, self.iterations, self.publish)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Entry) and self._key() == other._key()

    def __hash__(self) -> int:
        return hash(self._key())

    def __repr__(self) -> str:
        # Never print the digest: logs are not the place for verifiers.
        return (
            f"Entry(salt={self.salt!r}, digest=<{len(self.digest)} bytes>, "
            f"iterations={self.iterations}, publish={self.publish!r})"
        )


def derive_salt(seed: str, user: str) -> bytes:
    """A salt that is stable for one (stack, user) pair.

    Stability is what makes a no-op `pulumi up` produce a byte-identical bundle (and so no
    new Lambda version); uniqueness per stack and user is all a salt has to provide.
    """
    return hashlib.sha256(f"pypi-edge\0{seed}\0{user}".encode()).digest()[:SALT_BYTES]


def hash_password(password: str, salt: bytes, iterations: int = ITERATIONS) -> bytes:
    return hashlib.pbkdf2_hmac("sha256", password.encode("utf-8"), salt, iterations)


_SEPARATORS = re.compile(r"[-_.]+")


def normalize(name: str) -> str:
    """PEP 503 normalization (also applied to publish globs: ``Acme_*`` is ``acme-*``)."""
    return _SEPARATORS.sub("-", name).lower()


def _globs(value: object, where: str) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list | tuple) or not all(isinstance(g, str) and g.strip() for g in value):
        raise ValueError(f"{where}: 'publish' must be a list of project names or glob patterns")
    return tuple(sorted({normalize(g.strip()) for g in value}))


parse_globs = _globs  # the one glob normalizer, also for the user pool's groups (edge/userpool.py)


class Principal:
    """Who a request is: a user, an API token or a minted token, and what it may publish."""

    __slots__ = ("kind", "name", "publish")

    name: str
    kind: str  # "user" | "token" | "minted"
    publish: tuple[str, ...]

    def __init__(self, name: str, kind: str, publish: tuple[str, ...] = ()) -> None:
        object.__setattr__(self, "name", name)
        object.__setattr__(self, "kind", kind)
        object.__setattr__(self, "publish", publish)

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError(f"Principal is immutable (tried to set {name!r})")

    def can_publish(self, project: str) -> bool:
        """Whether this principal may publish `project` (any spelling; compared normalized)."""
        project = normalize(project)
        return any(fnmatchcase(project, glob) for glob in self.publish)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Principal) and (self.name, self.kind, self.publish) == (
            other.name,
            other.kind,
            other.publish,
        )

    def __hash__(self) -> int:
        return hash((self.name, self.kind, self.publish))

    def __repr__(self) -> str:
        return f"Principal({self.name!r}, {self.kind!r}, publish={self.publish!r})"


# --- writing: config -> credentials file --------------------------------------------------------


def make_entry(
    user: str, password: str, salt: bytes, iterations: int = ITERATIONS, publish: tuple[str, ...] = ()
) -> dict[str, object]:
    """The JSON-ready verifier for one user (the user name is the key it is stored under)."""
    if not user or ":" in user:
        # RFC 7617: the user-id cannot contain a colon; an empty one could never log in.
        raise ValueError(f"invalid user name {user!r}: must be non-empty and contain no ':'")
    if not password:
        raise ValueError(f"user {user!r} has an empty password")
    entry: dict[str, object] = {
        "alg": ALGORITHM,
        "iterations": iterations,
        "salt": base64.b64encode(salt).decode("ascii"),
        "hash": base64.b64encode(hash_password(password, salt, iterations)).decode("ascii"),
    }
    if publish:
        entry["publish"] = list(publish)
    return entry


def token_digest(token: str) -> str:
    """How a token is stored: the hex SHA-256 of its UTF-8 bytes."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def new_token() -> str:
    """A new API token: `TOKEN_PREFIX` + 256 random bits, base64url (43 characters)."""
    import secrets  # only the CLI makes tokens; the functions never import `random`

    return f"{TOKEN_PREFIX}{secrets.token_urlsafe(TOKEN_BYTES)}"


_HEX64 = re.compile(r"[0-9a-f]{64}")


def _token_entries(tokens: object) -> dict[str, dict[str, object]]:
    if not isinstance(tokens, Mapping):
        raise ValueError(f"{TOKEN_USER!r} must map token names to {{'sha256': ..., 'publish': [...]}}")
    out: dict[str, dict[str, object]] = {}
    for name, spec in sorted(tokens.items()):
        where = f"token {name!r}"
        if not isinstance(spec, Mapping) or not isinstance(spec.get("sha256"), str):
            raise ValueError(f"{where}: must be an object with 'sha256' (see `pypi-edge token new`)")
        digest = spec["sha256"].strip().lower()
        if not _HEX64.fullmatch(digest):
            raise ValueError(f"{where}: 'sha256' must be 64 hex digits (the token's hash, never the token)")
        if digest in out:
            raise ValueError(f"{where}: the same token hash is configured twice")
        entry: dict[str, object] = {"name": str(name)}
        publish = _globs(spec.get("publish"), where)
        if publish:
            entry["publish"] = list(publish)
        out[digest] = entry
    return out


def render_file(
    users: Mapping[str, object],
    realm: str,
    seed: str,
    *,
    iterations: int = ITERATIONS,
    allow_empty: bool = False,
) -> bytes:
    """The whole credentials file, deterministic for the same input (sorted, no timestamps).

    `users` is the config: ``{user: password | {"password", "publish"}, "__token__": {...}}``
    (module docstring).  `iterations` exists for tests and benchmarks (a low count keeps them
    fast); deployments use the default.  `allow_empty`: no static user is fine because a user
    pool holds them (edge/userpool.py).
    """
    if not users and not allow_empty:
        raise ValueError("at least one user is required")
    doc: dict[str, object] = {"realm": realm}
    entries: dict[str, object] = {}
    for user, spec in sorted(users.items()):
        if user == TOKEN_USER:
            continue
        if isinstance(spec, str):
            password, publish = spec, ()
        elif isinstance(spec, Mapping) and isinstance(spec.get("password"), str):
            password, publish = spec["password"], _globs(spec.get("publish"), f"user {user!r}")
        else:
            raise ValueError(f"user {user!r}: expected a password or {{'password': ..., 'publish': [...]}}")
        entries[user] = make_entry(user, password, derive_salt(seed, user), iterations, publish)
    doc["users"] = entries
    if TOKEN_USER in users:
        doc["tokens"] = _token_entries(users[TOKEN_USER])
    return json.dumps(doc, sort_keys=True, separators=(",", ":")).encode("utf-8")


def pulumi_config_commands(name: str, token: str, publish: list[str], key: str = "users") -> list[str]:
    """The `pulumi config set` lines that store a new token's hash and rights (never the token)."""
    import shlex

    where = f"{key}.{TOKEN_USER}.{name}"
    lines = [f"pulumi config set --secret --path {shlex.quote(where + '.sha256')} {token_digest(token)}"]
    for i, glob in enumerate(_globs(publish, f"token {name!r}")):
        lines.append(
            f"pulumi config set --secret --path {shlex.quote(f'{where}.publish[{i}]')} {shlex.quote(glob)}"
        )
    return lines


# --- reading: credentials file -> entries -------------------------------------------------------


def load(raw: bytes | str) -> tuple[str, dict[str, Entry]]:
    """Parse a credentials file into (realm, {user: Entry}); tokens: `load_tokens`."""
    doc = _document(raw)
    users: dict[str, Entry] = {}
    for user, e in doc["users"].items():
        if not isinstance(e, dict):
            raise ValueError(f"user {user!r}: entry must be an object")
        if e.get("alg") != ALGORITHM:
            raise ValueError(f"user {user!r}: unsupported algorithm {e.get('alg')!r}")
        users[user] = Entry(
            salt=base64.b64decode(e["salt"]),
            digest=base64.b64decode(e["hash"]),
            iterations=int(e["iterations"]),
            publish=_globs(e.get("publish"), f"user {user!r}"),
        )
        if users[user].iterations < 1:
            raise ValueError(f"user {user!r}: iterations must be positive")
    return doc["realm"], users


def load_tokens(raw: bytes | str) -> dict[bytes, Principal]:
    """{SHA-256 digest (bytes): Principal} of the API tokens in a credentials file."""
    tokens: dict[bytes, Principal] = {}
    for digest, e in (_document(raw).get("tokens") or {}).items():
        if not isinstance(e, dict) or not _HEX64.fullmatch(digest):
            raise ValueError("tokens: each entry must be keyed by a hex SHA-256 and be an object")
        name = str(e.get("name", ""))
        tokens[bytes.fromhex(digest)] = Principal(name, "token", _globs(e.get("publish"), f"token {name!r}"))
    return tokens


def _document(raw: bytes | str) -> dict:
    doc = json.loads(raw)
    if (
        not isinstance(doc, dict)
        or not isinstance(doc.get("realm"), str)
        or not isinstance(doc.get("users"), dict)
        or not isinstance(doc.get("tokens", {}), dict)
    ):
        raise ValueError("credentials file must be an object with a string 'realm' and an object 'users'")
    return doc


def check(entry: Entry, password: str) -> bool:
    """Constant-time comparison of a candidate password against one stored verifier."""
    return hmac.compare_digest(hash_password(password, entry.salt, entry.iterations), entry.digest)


# --- verifying a request ------------------------------------------------------------------------


def parse_basic_auth(value: str | None) -> tuple[str, str] | None:
    """``(user, password)`` from an ``Authorization`` value, or None if it is not valid Basic.

    RFC 7617: the scheme name is case-insensitive (RFC 9110 section 11.1); the token68 is
    standard base64 of ``user-id ":" password`` in UTF-8 (we announce ``charset="UTF-8"``);
    the user-id cannot contain a colon, so the split is on the *first* colon and the password
    may contain more.
    """
    if not value or len(value) > MAX_AUTHORIZATION_BYTES or not value.isascii():
        return None
    scheme, _, token = value.strip(" \t").partition(" ")  # OWS, RFC 9110 section 5.5
    if scheme.lower() != "basic":
        return None
    token = token.lstrip(" ")  # RFC 9110 section 11.4: 1*SP between scheme and credentials
    if not token:
        return None
    try:
        decoded = base64.b64decode(token, validate=True).decode("utf-8")
    except ValueError:  # binascii.Error and UnicodeDecodeError are ValueErrors
        return None
    user, colon, password = decoded.partition(":")
    if not colon or not user:
        return None
    return user, password


def challenge(realm: str) -> str:
    """The ``WWW-Authenticate`` value for a 401 (RFC 7235 section 3.1, RFC 7617 section 2).

    The realm is an RFC 9110 section 5.6.4 quoted-string (backslash and double quote escaped,
    controls dropped); the charset parameter tells browsers to send UTF-8 (RFC 7617 section 2.1).
    """
    realm = "".join(c for c in realm if " " <= c != "\x7f")
    quoted = '"' + realm.replace("\\", "\\\\").replace('"', '\\"') + '"'
    return f'Basic realm={quoted}, charset="UTF-8"'


MintedVerifier = Callable[[str], "Principal | None"]


class Verifier:
    """Checks ``Authorization`` headers against one credentials file (see module docstring)."""

    def __init__(self, cache_size: int = CACHE_SIZE) -> None:
        self.cache_size = cache_size
        self.users: dict[str, Entry] = {}
        self.tokens: dict[bytes, Principal] = {}
        self.realm = ""
        self._dummy: Entry | None = None
        # Digests of header values: verified (-> their Principal) and rejected.  Mutated in
        # place, never replaced, so holders of a reference see every reset.
        self.cache: dict[bytes, Principal] = {}
        self.rejected: dict[bytes, None] = {}
        # The opt-in user pool (edge.userpool.PoolVerifier): asked about every name this file
        # does not know, never about one it does (static entries win on a clash).  Its answers
        # expire, so they live in its own caches, never in the two above.  (No annotation: the
        # edge does not import `typing` for a Protocol, ~6 ms of every cold start.)
        self.pool = None  # an object with .verify(value, user, password) -> Principal | None

    def configure(self, raw: bytes | str | None) -> None:
        """Install a credentials file (`render_file`'s output); None removes everyone.

        Invalid content raises `ValueError` and leaves no users and no tokens (fail closed).
        """
        self.cache.clear()
        self.rejected.clear()
        self.users, self.tokens, self._dummy, self.realm = {}, {}, None, ""
        if raw is None:
            return
        try:
            realm, users = load(raw)
            tokens = load_tokens(raw)
        except (ValueError, KeyError, TypeError) as exc:
            raise ValueError(f"invalid credentials file: {exc}") from None
        if users:
            # The stand-in for unknown users costs what a real user's check costs; that holds
            # only if every user's check costs the same (render_file writes one count).
            counts = {entry.iterations for entry in users.values()}
            if len(counts) != 1:
                raise ValueError(f"invalid credentials file: mixed iteration counts {sorted(counts)}")
            self._dummy = Entry(os.urandom(16), os.urandom(32), counts.pop())
        self.users, self.tokens, self.realm = users, tokens, realm

    def verify(self, value: str | None, minted: MintedVerifier | None = None) -> Principal | None:
        """The Principal an ``Authorization`` header value proves, or None.

        Warm path: one SHA-256 of the header and a dict lookup.  Cold path for a password: one
        slow hash (`check`, constant-time), also for unknown users (against a dummy entry), so
        timing does not tell whether a user exists.  Tokens: one SHA-256 and a dict lookup (the
        digest of 256 random bits is no oracle).  Minted tokens go to `minted` (None: refused)
        and are never cached here, since they expire.
        """
        if not value or len(value) > MAX_AUTHORIZATION_BYTES or not value.isascii():
            return None
        if not self.users and not self.tokens and minted is None and self.pool is None:
            return None
        key = hashlib.sha256(value.encode("ascii")).digest()
        principal = self.cache.get(key)
        if principal is not None:
            return principal
        if key in self.rejected:
            # A client retrying the same wrong credentials (a CI job with a rotated password)
            # costs one slow hash per container, not one per request.
            return None
        if self.pool is not None:
            principal = self.pool.cached(value)  # a pool user's warm request: one keyed hash more
            if principal is not None:
                return principal
        parsed = parse_basic_auth(value)
        if parsed is None:
            return None
        user, password = parsed
        if user == TOKEN_USER:
            if password.startswith(MINTED_PREFIX):
                return minted(password) if minted is not None else None
            principal = self.tokens.get(hashlib.sha256(password.encode("utf-8")).digest())
            if principal is None and self.pool is not None:
                return self.pool.verify(value, user, password)
        else:
            entry = self.users.get(user)
            if entry is None and self.pool is not None:
                # No dummy hash here: the pool's answer costs a network round trip whatever the
                # name, so only whether a name is a static (break-glass) one shows in the timing.
                return self.pool.verify(value, user, password)
            if entry is None:
                if self._dummy is not None:
                    check(self._dummy, password)  # same cost, result ignored
            elif check(entry, password):
                principal = Principal(user, "user", entry.publish)
        if principal is None:
            self._remember(self.rejected, key, None)
            return None
        self._remember(self.cache, key, principal)
        return principal

    def _remember(self, cache: dict, key: bytes, value: object) -> None:
        remember(cache, key, value, self.cache_size)


def remember(cache: dict, key: object, value: object, size: int) -> None:
    """Insert into a bounded FIFO of at most `size` entries (dicts keep insertion order); the
    verifiers' caches here and in userpool.py."""
    if len(cache) >= size:
        try:
            del cache[next(iter(cache))]
        except (KeyError, RuntimeError, StopIteration):  # a concurrent caller got there
            cache.clear()
    cache[key] = value
