"""What every component of the program uses the same way: IAM documents, ARNs, names, bundle paths,
and the one way this stack makes a Lambda@Edge function.

Imports no other component (`infra.component` composes them; each of them imports this), so the
modules of `infra/` form a tree with this at the bottom.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pulumi
import pulumi_aws as aws

ONE_YEAR_SECONDS = 365 * 24 * 3600

# Lambda@Edge.  Runtime: Lambda@Edge supports Python 3.13 (CloudFront developer guide,
# "Restrictions on Lambda@Edge" → Supported runtimes: Python 3.13 … 3.7) and only x86_64.
EDGE_RUNTIME = "python3.13"
EDGE_ARCHITECTURE = "x86_64"
EDGE_MEMORY_MB = 128  # viewer triggers: 128 MB maximum
EDGE_TIMEOUT_SECONDS = 5  # viewer triggers: 5 s maximum
EDGE_HANDLER = "handler.handler"
# CloudFront developer guide, "Restrictions on Lambda@Edge" → Lambda Region: "The Lambda
# function must be in the US East (N. Virginia) Region."  pulumi-aws 7 sets the region per
# resource (Function.region: "Region where this resource will be managed. Defaults to the Region
# set in the provider configuration."), so the stack's provider, with every `aws:` setting it
# reads, creates it there: no second provider that would need those settings copied (and would
# miss some: access keys, web-identity roles, shared config files, custom endpoints).
EDGE_REGION = "us-east-1"

# Lambda API reference, CreateFunction, FunctionName: letters, digits, hyphens and underscores;
# "If you specify only the function name, it is limited to 64 characters in length."
FUNCTION_NAME_MAX = 64
# The random part of the explicit function names (`unique_function_name`): 4 bytes, 8 hex digits.
UNIQUE_SUFFIX_BYTES = 4


def policy(*statements: Mapping[str, Any]) -> pulumi.Output[str]:
    """An IAM policy document (statements may hold Outputs)."""
    return pulumi.Output.json_dumps({"Version": "2012-10-17", "Statement": list(statements)})


def user_pool_statement(pool_arn: pulumi.Input[str]) -> dict[str, Any]:
    """The one Cognito permission a function that verifies pool users needs, on that pool only
    (`infra.pool.VERIFY_ACTIONS`; AdminInitiateAuth's resource is the user pool's ARN, Service
    Authorization Reference, "Actions, resources, and condition keys for Amazon Cognito User Pools")."""
    from infra import pool

    return {
        "Sid": "VerifyUsersInThePool",
        "Effect": "Allow",
        "Action": list(pool.VERIFY_ACTIONS),
        "Resource": pool_arn,
    }


def assume_role_policy(*services: str) -> str:
    """A trust policy letting these AWS services assume the role."""
    return json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {"Effect": "Allow", "Principal": {"Service": list(services)}, "Action": "sts:AssumeRole"}
            ],
        }
    )


@dataclass(frozen=True)
class Caller:
    """The account the stack deploys into: every ARN this program writes is built from these,
    never with a hard-coded `arn:aws:` (GovCloud and China are other partitions)."""

    partition: pulumi.Output[str]
    account_id: pulumi.Output[str]
    region: pulumi.Output[str]
    """The stack's region (`aws:region`)."""

    def arn(
        self, service: str, resource: pulumi.Input[str], region: pulumi.Input[str] | None = None
    ) -> pulumi.Output[str]:
        """`arn:<partition>:<service>:<region>:<account>:<resource>`; region defaults to the stack's."""
        where = self.region if region is None else region
        return pulumi.Output.concat(
            "arn:", self.partition, ":", service, ":", where, ":", self.account_id, ":", resource
        )


def caller(parent: pulumi.Resource) -> Caller:
    """Who is deploying, and where (two invokes, issued as children of `parent`)."""
    invoke = pulumi.InvokeOptions(parent=parent)
    identity = aws.get_caller_identity_output(opts=invoke)
    return Caller(
        partition=identity.arn.apply(lambda arn: arn.split(":")[1]),
        account_id=identity.account_id,
        region=aws.get_region_output(opts=invoke).region,
    )


def archive_path(path: Path) -> str:
    """The bundle path relative to the working directory (the project directory under the CLI),
    so the state does not depend on where the repository is checked out."""
    try:
        return os.path.relpath(path)
    except ValueError:  # another drive (Windows)
        return str(path)


def joined(*parts: str) -> str:
    """Parts joined by "-", characters outside [A-Za-z0-9._-] replaced, repeats dropped
    (the component is usually named after the project)."""
    return "-".join(re.sub(r"[^A-Za-z0-9._-]", "_", p) for p in dict.fromkeys(parts))


def function_name(*parts: str) -> str:
    """A predictable Lambda function name (letters, digits, - and _; at most 64 characters)."""
    cleaned = "-".join(
        dict.fromkeys("".join(c if c.isalnum() or c in "-_" else "-" for c in p) for p in parts)
    )
    if len(cleaned) > FUNCTION_NAME_MAX:
        raise ValueError(
            f"function name {cleaned!r} is over {FUNCTION_NAME_MAX} characters; use a shorter stack name"
        )
    return cleaned


def unique_function_name(suffix: pulumi.Input[str], *parts: str) -> pulumi.Output[str]:
    """`function_name(*parts)` plus "-" and a random `suffix` (a `random.RandomId`'s hex, kept in
    the stack's state): the same name on every update of this stack, another one for a second
    stack of the same project and stack name in the same account and region.

    Why: a Lambda function name, and the `/aws/lambda/<name>` log group named after it, are unique
    per account and region; with `<project>-<stack>-...` alone, a second deployment of the same
    project and stack name (another Pulumi organisation or backend, a teammate's copy) fails half
    way through its first `pulumi up` on CreateFunction/CreateLogGroup "already exists".  The
    length is checked here, on the name with room for the suffix, so an over-long stack name fails
    the first preview, while the suffix is still unknown.
    """
    base = function_name(*parts)
    room = FUNCTION_NAME_MAX - 1 - 2 * UNIQUE_SUFFIX_BYTES
    if len(base) > room:
        raise ValueError(
            f"function name {base!r} leaves no room for its {2 * UNIQUE_SUFFIX_BYTES}-character unique part "
            f"(at most {room} characters); use a shorter stack name"
        )
    return pulumi.Output.concat(base, "-", suffix)


def moved_from(opts: pulumi.ResourceOptions | None) -> list[pulumi.Alias]:
    """Aliases for a resource that was a direct child of `PrivateIndex` before the program was split
    into components (same name, same type, one level up).  Without them the engine would see a new
    URN and replace the resource: a new bucket, a new distribution.  `opts.parent` is the
    `PrivateIndex` the component was given; outside one there is nothing to move from."""
    if opts is None or opts.parent is None:
        return []
    return [pulumi.Alias(parent=opts.parent)]


def lambda_at_edge(
    resource_name: str,
    *,
    description: str,
    role_arn: pulumi.Input[str],
    code: pulumi.Input[pulumi.Archive],
    source_code_hash: pulumi.Input[str],
    opts: pulumi.ResourceOptions,
    handler: str = EDGE_HANDLER,
    memory_size: int = EDGE_MEMORY_MB,
    timeout: int = EDGE_TIMEOUT_SECONDS,
) -> aws.lambda_.Function:
    """A Lambda@Edge function: every such function of this stack is created here, the same way.

    The defaults are a viewer trigger's limits; an origin trigger may pass more (30 s; CloudFront
    developer guide, "Quotas on Lambda@Edge").  Associate `function.qualified_arn` with a cache
    behaviour; the role must trust lambda.amazonaws.com and edgelambda.amazonaws.com.
    """
    return aws.lambda_.Function(
        resource_name,
        description=description,
        runtime=EDGE_RUNTIME,
        architectures=[EDGE_ARCHITECTURE],
        handler=handler,
        role=role_arn,
        code=code,
        source_code_hash=source_code_hash,
        memory_size=memory_size,
        timeout=timeout,
        publish=True,  # CloudFront needs a numbered version
        region=EDGE_REGION,
        # Left in place on delete (destroy, or a replacement during an update): CloudFront keeps
        # replicas of a Lambda@Edge function for hours after the distribution lets go of it, and
        # until then DeleteFunction fails ("because it is a replicated function"; CloudFront
        # developer guide, "Delete Lambda@Edge functions and replicas").  The provider would
        # retry that for its whole delete timeout and then fail the destroy; with skip_destroy it
        # only forgets the function (terraform-provider-aws, lambda function
        # resourceFunctionDelete: returns before DeleteFunction when skip_destroy is set).  The
        # docs/deploy.md ("Tear down") says how to delete it once the replicas are gone.
        skip_destroy=True,
        opts=opts,
    )


def function_role(
    resource_name: str, description: str, opts: pulumi.ResourceOptions, *, edge: bool = False
) -> aws.iam.Role:
    """A function's execution role: assumed by Lambda, and by Lambda@Edge's replicas for an edge
    function (CloudFront developer guide, "Set up IAM permissions and roles for Lambda@Edge":
    the role must trust lambda.amazonaws.com and edgelambda.amazonaws.com)."""
    services = ("lambda.amazonaws.com", "edgelambda.amazonaws.com") if edge else ("lambda.amazonaws.com",)
    return aws.iam.Role(
        resource_name, assume_role_policy=assume_role_policy(*services), description=description, opts=opts
    )


def function_log_group(
    resource_name: str, function_name: pulumi.Input[str], retention_days: int, opts: pulumi.ResourceOptions
) -> aws.cloudwatch.LogGroup:
    """A regional function's log group, made before the function so its retention applies from the
    first line (Lambda would otherwise create `/aws/lambda/<name>` itself, kept forever)."""
    return aws.cloudwatch.LogGroup(
        resource_name,
        name=pulumi.Output.concat("/aws/lambda/", function_name),
        retention_in_days=retention_days,
        opts=opts,
    )


def edge_log_policy(
    resource_name: str,
    role: aws.iam.Role,
    caller: Caller,
    function_name: pulumi.Input[str],
    opts: pulumi.ResourceOptions,
) -> aws.iam.RolePolicy:
    """What a Lambda@Edge function's role may do with logs: write to its own groups only."""
    return aws.iam.RolePolicy(
        resource_name,
        role=role.id,
        policy=policy(
            {
                "Sid": "WriteEdgeLogs",
                "Effect": "Allow",
                "Action": ["logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents"],
                "Resource": edge_log_groups(caller, function_name),
            }
        ),
        opts=opts,
    )


def edge_log_groups(caller: Caller, function_name: pulumi.Input[str]) -> pulumi.Output[list[str]]:
    """The log groups a Lambda@Edge function writes to: `/aws/lambda/us-east-1.<name>` in every
    region that runs it (CloudFront developer guide, "Amazon CloudWatch metrics and logs for
    Lambda@Edge functions"), plus its own `/aws/lambda/<name>` in us-east-1 (test invocations).
    Those groups are created by Lambda on first use, so no component can set their retention up
    front; a role may write only to them."""
    return pulumi.Output.all(caller.partition, caller.account_id, function_name).apply(
        lambda a: [
            f"arn:{a[0]}:logs:*:{a[1]}:log-group:/aws/lambda/{EDGE_REGION}.{a[2]}",
            f"arn:{a[0]}:logs:*:{a[1]}:log-group:/aws/lambda/{EDGE_REGION}.{a[2]}:*",
            f"arn:{a[0]}:logs:{EDGE_REGION}:{a[1]}:log-group:/aws/lambda/{a[2]}",
            f"arn:{a[0]}:logs:{EDGE_REGION}:{a[1]}:log-group:/aws/lambda/{a[2]}:*",
        ]
    )
