"""The user pool and its app client, described once.

The Pulumi component (`infra.users.UserStore`) and the local stack (`local.userstore`) make the
pool and the client from these values, so the pool moto runs on this machine is configured as
the one in AWS.  No Pulumi import here: the local stack uses it too.

The pool's own protections, and which feature plan each needs (Amazon Cognito developer guide,
"User pool feature plans", https://docs.aws.amazon.com/cognito/latest/developerguide/cognito-sign-in-feature-plans.html):

* Lite (the cheapest plan; everything below works on it): only administrators create users (no
  self sign-up); password policy `PASSWORD_POLICY`; account recovery by administrators only (no
  e-mail or SMS is ever sent); case-sensitive user names, as static users are; the app client
  hides whether a user exists (PreventUserExistenceErrors); and Cognito's built-in lockout, in
  every plan: "After five failed ... sign-in attempts with a password, Amazon Cognito locks out
  your user for one second. The lockout duration then doubles after each additional one failed
  attempt, up to a maximum of approximately 15 minutes" ("Authentication flows", lockout behavior
  for failed sign-in attempts, https://docs.aws.amazon.com/cognito/latest/developerguide/authentication.html).
* Plus only: threat protection (compromised-credential detection, adaptive authentication:
  "Threat protection is available in the Plus feature plan", https://docs.aws.amazon.com/cognito/latest/developerguide/cognito-user-pool-settings-threat-protection.html).
  Not enabled: it is billed per user at the Plus rate, and its adaptive answer (ask for MFA)
  is a challenge Basic auth cannot complete.
* Not used: MFA (Basic auth cannot answer a challenge), the hosted UI, e-mail or SMS.
"""

from __future__ import annotations

from typing import Any

FEATURE_PLAN = "LITE"
# Long enough that the lockout above, not guessing, is what stops an online attacker; generated
# passwords and tokens (indexer/users.py) always satisfy any policy up to 24 characters with all
# four character classes.
PASSWORD_POLICY: dict[str, Any] = {
    "minimum_length": 12,
    "require_lowercase": True,
    "require_uppercase": True,
    "require_numbers": True,
    "require_symbols": False,
    "temporary_password_validity_days": 1,
}
# The edge's sign-in flow, nothing else a client could use.  ALLOW_REFRESH_TOKEN_AUTH cannot be
# left out ("REFRESH_TOKEN_AUTH should always be allowed", InvalidParameterException; aws/aws-cdk
# #7625); the functions discard every token they receive.
EXPLICIT_AUTH_FLOWS = ("ALLOW_ADMIN_USER_PASSWORD_AUTH", "ALLOW_REFRESH_TOKEN_AUTH")
# The shortest lifetimes Cognito allows (CreateUserPoolClient API reference: access and ID tokens
# 5 minutes to 1 day, refresh tokens 60 minutes to 10 years).
TOKEN_VALIDITY_MINUTES = {"access_token": 5, "id_token": 5, "refresh_token": 60}
# What the edge and upload functions' roles may do, on the pool's ARN only.
VERIFY_ACTIONS = ("cognito-idp:AdminInitiateAuth",)


def create_pool_request(name: str) -> dict[str, Any]:
    """CreateUserPool's parameters (boto3 spelling) for the settings above: the local stack's pool."""
    policy = PASSWORD_POLICY
    return {
        "PoolName": name,
        "Policies": {
            "PasswordPolicy": {
                "MinimumLength": policy["minimum_length"],
                "RequireLowercase": policy["require_lowercase"],
                "RequireUppercase": policy["require_uppercase"],
                "RequireNumbers": policy["require_numbers"],
                "RequireSymbols": policy["require_symbols"],
                "TemporaryPasswordValidityDays": policy["temporary_password_validity_days"],
            }
        },
        "AdminCreateUserConfig": {"AllowAdminCreateUserOnly": True},
        "AccountRecoverySetting": {"RecoveryMechanisms": [{"Name": "admin_only", "Priority": 1}]},
        "MfaConfiguration": "OFF",
        "UsernameConfiguration": {"CaseSensitive": True},
        "UserPoolTier": FEATURE_PLAN,
    }


def create_client_request(pool_id: str, name: str) -> dict[str, Any]:
    """CreateUserPoolClient's parameters (boto3 spelling): no secret, the admin flow only."""
    return {
        "UserPoolId": pool_id,
        "ClientName": name,
        "GenerateSecret": False,
        "ExplicitAuthFlows": list(EXPLICIT_AUTH_FLOWS),
        "PreventUserExistenceErrors": "ENABLED",
        "EnableTokenRevocation": True,
        "AccessTokenValidity": TOKEN_VALIDITY_MINUTES["access_token"],
        "IdTokenValidity": TOKEN_VALIDITY_MINUTES["id_token"],
        "RefreshTokenValidity": TOKEN_VALIDITY_MINUTES["refresh_token"],
        "TokenValidityUnits": {"AccessToken": "minutes", "IdToken": "minutes", "RefreshToken": "minutes"},
    }
