"""Salted slow password hashes for the viewer-request function.

Lambda@Edge has no environment variables and no secrets manager on the hot path, so the
credentials travel inside the function bundle as a small JSON file.  The file holds only
PBKDF2-HMAC-SHA256 hashes, with their parameters, never a password.  The deploy (Pulumi),
the local stack and the tests all produce that file with `render_file`, so the format has
exactly one writer and one reader (`load`).

Standard library only: this module ships in the edge bundle.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from collections.abc import Mapping

ALGORITHM = "pbkdf2_sha256"
# One slow hash per container (warm requests hit the verified-header cache).  Lambda@Edge
# viewer triggers run at 128 MB, roughly 1/14 of a vCPU, with a 5 s limit: 100k iterations
# cost ~40 ms of a full core here, well under a second there.
ITERATIONS = 100_000
SALT_BYTES = 16
FILE_NAME = "credentials.json"


class Entry:
    """One user's stored verifier (immutable).

    A hand-written slotted class rather than a frozen dataclass: `dataclasses` pulls in
    `inspect` and costs ~10 ms of import time, which every cold start of the edge function pays.
    """

    __slots__ = ("digest", "iterations", "salt")

    salt: bytes
    digest: bytes
    iterations: int

    def __init__(self, salt: bytes, digest: bytes, iterations: int = ITERATIONS) -> None:
        object.__setattr__(self, "salt", salt)
        object.__setattr__(self, "digest", digest)
        object.__setattr__(self, "iterations", iterations)

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError(f"Entry is immutable (tried to set {name!r})")

    def __delattr__(self, name: str) -> None:
        raise AttributeError(f"Entry is immutable (tried to delete {name!r})")

    def _key(self) -> tuple[bytes, bytes, int]:
        return (self.salt, self.digest, self.iterations)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Entry) and self._key() == other._key()

    def __hash__(self) -> int:
        return hash(self._key())

    def __repr__(self) -> str:
        # Never print the digest: logs are not the place for verifiers.
        return f"Entry(salt={self.salt!r}, digest=<{len(self.digest)} bytes>, iterations={self.iterations})"


def derive_salt(seed: str, user: str) -> bytes:
    """A salt that is stable for one (stack, user) pair.

    Stability is what makes a no-op `pulumi up` produce a byte-identical bundle (and so no
    new Lambda version); uniqueness per stack and user is all a salt has to provide.
    """
    return hashlib.sha256(f"pypi-edge\0{seed}\0{user}".encode()).digest()[:SALT_BYTES]


def hash_password(password: str, salt: bytes, iterations: int = ITERATIONS) -> bytes:
    return hashlib.pbkdf2_hmac("sha256", password.encode("utf-8"), salt, iterations)


def make_entry(user: str, password: str, salt: bytes, iterations: int = ITERATIONS) -> dict[str, object]:
    """The JSON-ready verifier for one user (the user name is the key it is stored under)."""
    if not user or ":" in user:
        # RFC 7617: the user-id cannot contain a colon; an empty one could never log in.
        raise ValueError(f"invalid user name {user!r}: must be non-empty and contain no ':'")
    if not password:
        raise ValueError(f"user {user!r} has an empty password")
    return {
        "alg": ALGORITHM,
        "iterations": iterations,
        "salt": base64.b64encode(salt).decode("ascii"),
        "hash": base64.b64encode(hash_password(password, salt, iterations)).decode("ascii"),
    }


def render_file(users: Mapping[str, str], realm: str, seed: str, *, iterations: int = ITERATIONS) -> bytes:
    """The whole credentials file, deterministic for the same input (sorted, no timestamps).

    `iterations` exists for tests and benchmarks (a low count keeps them fast); deployments
    use the default.
    """
    if not users:
        raise ValueError("at least one user is required")
    doc = {
        "realm": realm,
        "users": {
            user: make_entry(user, pw, derive_salt(seed, user), iterations)
            for user, pw in sorted(users.items())
        },
    }
    return json.dumps(doc, sort_keys=True, separators=(",", ":")).encode("utf-8")


def load(raw: bytes | str) -> tuple[str, dict[str, Entry]]:
    """Parse a credentials file into (realm, {user: Entry})."""
    doc = json.loads(raw)
    if (
        not isinstance(doc, dict)
        or not isinstance(doc.get("realm"), str)
        or not isinstance(doc.get("users"), dict)
    ):
        raise ValueError("credentials file must be an object with a string 'realm' and an object 'users'")
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
        )
        if users[user].iterations < 1:
            raise ValueError(f"user {user!r}: iterations must be positive")
    return doc["realm"], users


def check(entry: Entry, password: str) -> bool:
    """Constant-time comparison of a candidate password against one stored verifier."""
    return hmac.compare_digest(hash_password(password, entry.salt, entry.iterations), entry.digest)
