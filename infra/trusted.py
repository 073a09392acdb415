"""Trusted publishing for the upload function: the publishers' config file and the signing key.

`TrustedPublishing` turns the `trustedPublishers` and `trustedPublishingAudience` settings into
what `upload/oidc.py` reads at run time:

- `config_file`: the validated, normalized `trusted-publishing.json` to bundle next to
  `upload/oidc.py` (`bundle_entry`).  The model is `upload/publishers.py`, which needs no JWT
  library, so the Pulumi program does not either.  A file in the code bundle rather than an environment
  variable because all of a function's environment variables together may hold only 4 KB
  (https://docs.aws.amazon.com/lambda/latest/dg/gettingstarted-limits.html, "Environment
  variables"), and a team's publishers list outgrows that.
- `environment`: `{"PYPI_EDGE_OIDC_KEY": <secret>}` for the upload function — the HMAC key
  that signs minted tokens.  A `random.RandomPassword`, generated once per stack and kept in
  the state as a secret ("Identical to RandomString with the exception that the result is
  treated as sensitive": https://www.pulumi.com/registry/packages/random/api-docs/randompassword/).
  Rotating it (`pulumi up --replace <urn>`) invalidates tokens in flight, which live 15 minutes.

The config is validated here, so a typo fails `pulumi preview` instead of the first release.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pulumi
import pulumi_random as random

from upload import publishers

# 64 characters from [A-Za-z0-9]: ~380 bits, more than HMAC-SHA256's 256-bit block needs.
KEY_LENGTH = 64


@dataclass
class TrustedPublishingArgs:
    publishers: Any = field(default_factory=dict)  # `trustedPublishers`: project -> [publisher, ...]
    audience: str = ""  # "" = the custom domain, else a generated per-deployment id
    domain: str = ""


def bundle_entry(config_file: str) -> tuple[str, bytes]:
    """The (archive name, bytes) the upload bundle carries next to upload/oidc.py."""
    return f"upload/{publishers.CONFIG_FILE}", config_file.encode("utf-8")


class TrustedPublishing(pulumi.ComponentResource):
    audience: pulumi.Output[str]
    config_file: pulumi.Output[str]
    signing_key: pulumi.Output[str]
    environment: dict[str, pulumi.Output[str]]

    def __init__(self, name: str, args: TrustedPublishingArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("pypi-edge:index:TrustedPublishing", name, None, opts)
        publishers.parse_publishers(args.publishers)  # ValueError says which entry and why

        key = random.RandomPassword(
            f"{name}-signing-key",
            length=KEY_LENGTH,
            special=False,
            opts=pulumi.ResourceOptions(parent=self),
        )
        chosen = args.audience.strip() or publishers.default_audience(args.domain, "")
        if chosen:
            audience: pulumi.Output[str] = pulumi.Output.from_input(chosen)
        else:
            # No domain: an id of this deployment.  Never "pypi" — a token minted for this
            # index must be useless at PyPI, and the other way round (see publishers.default_audience).
            audience_id = random.RandomId(
                f"{name}-audience", byte_length=8, opts=pulumi.ResourceOptions(parent=self)
            )
            audience = audience_id.hex.apply(lambda h: f"pypi-edge-{h}")
        config = args.publishers
        self.audience = audience
        self.config_file = audience.apply(lambda a: publishers.render_config(config, a).decode("utf-8"))
        self.signing_key = pulumi.Output.secret(key.result)
        self.environment = {publishers.KEY_ENV: self.signing_key}
        self.register_outputs(
            {"audience": self.audience, "configFile": self.config_file, "signingKey": self.signing_key}
        )
