"""`CredentialSalts`: the per-deployment seed every password salt is derived from.

`edge.credentials.derive_salt(seed, user)` turns each user's password into a salted PBKDF2 hash
at deploy time, for the edge bundle and the upload bundle alike.  A seed built from the project,
stack and user names would give two deployments that keep the default names the same salts, so
one precomputed table would attack both.  Here it is 32 random bytes drawn once by a
`random.RandomBytes` resource and kept in the stack's state ("The resource will be recreated when
any of the keepers change": https://www.pulumi.com/registry/packages/random/api-docs/randombytes/;
with no keepers it never changes), so salts differ between deployments and stay put between runs:
a `pulumi up` with no change still builds byte-identical bundles and publishes no new function
version.  Its `base64` output is secret (the provider marks it so); only the salted hashes leave.
"""

from __future__ import annotations

import pulumi
import pulumi_random as random

TYPE_TOKEN = "pypi-edge:index:CredentialSalts"
SEED_BYTES = 32


class CredentialSalts(pulumi.ComponentResource):
    seed: pulumi.Output[str]

    def __init__(self, name: str, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__(TYPE_TOKEN, name, None, opts)
        self.random = random.RandomBytes(
            f"{name}-credentials-seed",
            length=SEED_BYTES,
            opts=pulumi.ResourceOptions(parent=self),
        )
        self.seed = pulumi.Output.secret(self.random.base64)
        self.register_outputs({"seed": self.seed})
