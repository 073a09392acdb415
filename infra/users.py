"""`UserStore`: the opt-in Cognito user pool that holds users and tokens the CLI manages at run time.

    pypi-edge user / token  ──(admin's AWS credentials)──▶ user pool (one region)
    viewer-request (Lambda@Edge, every edge region) ─┐
    upload function (the stack's region)  ───────────┴─ AdminInitiateAuth ──▶ the same pool

`userPool: create` makes the pool (settings: `infra.pool`) and an app client; `userPool: <pool id>`
makes only the app client, in that existing pool (its region is the id's prefix).  Either way the
component hands the two functions what they need and nothing more:

- `config_file`: the bundle's `userpool.json` (`edge.userpool.render_file`: pool id, client id,
  `userCacheSeconds`), since Lambda@Edge has no environment variables;
- `pool_arn`: the one resource their roles may call `cognito-idp:AdminInitiateAuth` on
  (`common.user_pool_statement`).

Groups are not made here: `pypi-edge user add` creates the `pypi-edge:*` groups it needs, so an
existing pool gets nothing the CLI does not use.
"""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from edge import userpool
from infra import common, pool

TYPE_TOKEN = "pypi-edge:index:UserStore"
CREATE = "create"


def validate(user_pool: str, cache_seconds: int) -> None:
    """ValueError for a `userPool` that is neither `create` nor a pool id, or a bad cache bound."""
    if user_pool != CREATE:
        try:
            userpool.region_of(user_pool)
        except ValueError:
            raise ValueError(
                "userPool must be 'create' or the id of an existing pool (e.g. eu-west-1_AbC123), "
                f"not {user_pool!r}"
            ) from None
    if not 0 <= cache_seconds <= userpool.MAX_CACHE_SECONDS:
        raise ValueError(f"userCacheSeconds must be between 0 and {userpool.MAX_CACHE_SECONDS}")


@dataclass
class UserStoreArgs:
    user_pool: str
    """`create`, or the id of an existing pool."""
    cache_seconds: int = userpool.DEFAULT_CACHE_SECONDS
    """`userCacheSeconds`: how long a function may keep a pool answer, the revocation bound."""
    retain_on_delete: bool = True
    """Keep a created pool (its users) on `pulumi destroy`, as the bucket (`retainBucketOnDelete`)."""


class UserStore(pulumi.ComponentResource):
    pool_id: pulumi.Output[str]
    pool_arn: pulumi.Output[str]
    client_id: pulumi.Output[str]
    config_file: pulumi.Output[str]

    def __init__(self, name: str, args: UserStoreArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__(TYPE_TOKEN, name, None, opts)
        validate(args.user_pool, args.cache_seconds)
        child = pulumi.ResourceOptions(parent=self)
        region: str | None = None  # the stack's region
        if args.user_pool == CREATE:
            policy = pool.PASSWORD_POLICY
            created = aws.cognito.UserPool(
                f"{name}-pool",
                name=name,
                user_pool_tier=pool.FEATURE_PLAN,
                admin_create_user_config=aws.cognito.UserPoolAdminCreateUserConfigArgs(
                    allow_admin_create_user_only=True
                ),
                password_policy=aws.cognito.UserPoolPasswordPolicyArgs(**policy),
                # Only administrators reset passwords: no e-mail or SMS is ever sent.
                account_recovery_setting=aws.cognito.UserPoolAccountRecoverySettingArgs(
                    recovery_mechanisms=[
                        aws.cognito.UserPoolAccountRecoverySettingRecoveryMechanismArgs(
                            name="admin_only", priority=1
                        )
                    ]
                ),
                mfa_configuration="OFF",
                username_configuration=aws.cognito.UserPoolUsernameConfigurationArgs(case_sensitive=True),
                # The users are data, like the packages: kept on destroy unless the stack says not to,
                # and AWS refuses to delete a protected pool by any other path meanwhile.
                deletion_protection="ACTIVE" if args.retain_on_delete else "INACTIVE",
                opts=pulumi.ResourceOptions(parent=self, retain_on_delete=args.retain_on_delete),
            )
            self.pool_id = created.id
            self.pool_arn = created.arn
        else:
            region = userpool.region_of(args.user_pool)
            self.pool_id = pulumi.Output.from_input(args.user_pool)
            self.pool_arn = common.caller(self).arn(
                "cognito-idp", pulumi.Output.concat("userpool/", args.user_pool), region
            )
        validity = pool.TOKEN_VALIDITY_MINUTES
        client = aws.cognito.UserPoolClient(
            f"{name}-client",
            name=f"{name}-edge",
            user_pool_id=self.pool_id,
            generate_secret=False,
            explicit_auth_flows=list(pool.EXPLICIT_AUTH_FLOWS),
            prevent_user_existence_errors="ENABLED",
            enable_token_revocation=True,
            access_token_validity=validity["access_token"],
            id_token_validity=validity["id_token"],
            refresh_token_validity=validity["refresh_token"],
            token_validity_units=aws.cognito.UserPoolClientTokenValidityUnitsArgs(
                access_token="minutes", id_token="minutes", refresh_token="minutes"
            ),
            region=region,
            opts=child,
        )
        self.client_id = client.id
        cache_seconds = args.cache_seconds
        self.config_file = pulumi.Output.all(self.pool_id, self.client_id).apply(
            lambda ids: userpool.render_file(ids[0], ids[1], cache_seconds).decode("utf-8")
        )
        self.register_outputs(
            {"pool_id": self.pool_id, "pool_arn": self.pool_arn, "client_id": self.client_id}
        )
