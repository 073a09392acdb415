"""What the identity that runs `pulumi up` and `pulumi destroy` must be allowed to do.

One entry per resource type the program creates: the IAM actions the AWS provider calls to create,
read back, update, tag and delete it.  docs/iam/deployer.json grants the same actions (and
docs/iam.md lists them); `tests/test_pulumi_deployer.py` and `tests/test_docs_iam.py` hold them
together: a resource type the program starts to create without an entry here fails the tests, and
so does an action missing from the policy or the page.
No Pulumi import: a deployer policy document can be generated from `ACTIONS` anywhere.

Reads are granted as `Get*`/`List*` patterns per resource family where the provider reads back
every sub-setting of a resource (an S3 bucket: ACL, CORS, website, logging, replication, ...); the
exact read calls change with provider releases, the writes below do not.

Sources:
- CloudFront developer guide, "Set up IAM permissions and roles for Lambda@Edge": associating a
  Lambda@Edge function with a distribution needs `lambda:GetFunction`, `lambda:EnableReplication*`,
  `lambda:DisableReplication*` ("You must add the asterisk"), `iam:CreateServiceLinkedRole` (the
  first time: the service-linked roles Lambda@Edge uses to replicate functions and CloudFront uses
  for their logs) and `cloudfront:CreateDistribution` / `cloudfront:UpdateDistribution`.
- CloudFront developer guide, "Service-linked roles for Lambda@Edge": AWSServiceRoleForLambdaReplicator
  (replicator.lambda.amazonaws.com) and AWSServiceRoleForCloudFrontLogger
  (logger.cloudfront.amazonaws.com).
- Service Authorization Reference, actions for S3, SQS, Lambda, IAM, CloudFront, CloudWatch
  Logs and Cognito user pools (cognito-idp): the action behind each API call (e.g.
  DeleteBucketOwnershipControls is authorized by `s3:PutBucketOwnershipControls`,
  DeletePublicAccessBlock by `s3:PutBucketPublicAccessBlock`, CreateDistributionWithTags by
  `cloudfront:CreateDistribution` plus `cloudfront:TagResource`).
- `sts:GetCallerIdentity` (the program's account lookup) needs no permission (STS API reference,
  GetCallerIdentity: "No permissions are required to perform this operation").
"""

from __future__ import annotations

# Lambda@Edge: on the distribution, because associating the functions is what needs them.
LAMBDA_AT_EDGE = (
    "lambda:GetFunction",
    "lambda:EnableReplication*",
    "lambda:DisableReplication*",
    "iam:CreateServiceLinkedRole",
)
# iam:CreateServiceLinkedRole is needed once per account, for these two services (condition key
# iam:AWSServiceName); iam:PassRole hands each function its execution role.
SERVICE_LINKED_ROLE_SERVICES = ("replicator.lambda.amazonaws.com", "logger.cloudfront.amazonaws.com")
PASS_ROLE_TO = ("lambda.amazonaws.com",)  # iam:PassedToService for CreateFunction, edge functions too

_LAMBDA_FUNCTION = (
    "lambda:CreateFunction",
    "lambda:DeleteFunction",
    "lambda:UpdateFunctionCode",
    "lambda:UpdateFunctionConfiguration",
    "lambda:PublishVersion",
    "lambda:TagResource",
    "lambda:UntagResource",
    "lambda:Get*",
    "lambda:List*",
    "iam:PassRole",
)
_S3_BUCKET_READS = ("s3:Get*", "s3:ListBucket")

ACTIONS: dict[str, tuple[str, ...]] = {
    # --- infra/storage.py ---------------------------------------------------------------------
    "aws:s3/bucket:Bucket": (
        "s3:CreateBucket",
        "s3:DeleteBucket",
        "s3:PutBucketTagging",
        # retainBucketOnDelete=false empties the bucket first (force_destroy): every version.
        "s3:ListBucketVersions",
        "s3:DeleteObject",
        "s3:DeleteObjectVersion",
        *_S3_BUCKET_READS,
    ),
    "aws:s3/bucketOwnershipControls:BucketOwnershipControls": (
        "s3:PutBucketOwnershipControls",
        *_S3_BUCKET_READS,
    ),
    "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock": (
        "s3:PutBucketPublicAccessBlock",
        *_S3_BUCKET_READS,
    ),
    "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration": (
        "s3:PutEncryptionConfiguration",
        *_S3_BUCKET_READS,
    ),
    "aws:s3/bucketVersioning:BucketVersioning": ("s3:PutBucketVersioning", *_S3_BUCKET_READS),
    "aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration": (
        "s3:PutLifecycleConfiguration",
        *_S3_BUCKET_READS,
    ),
    "aws:s3/bucketNotification:BucketNotification": ("s3:PutBucketNotification", *_S3_BUCKET_READS),
    "aws:sqs/queue:Queue": (
        "sqs:CreateQueue",
        "sqs:DeleteQueue",
        "sqs:GetQueueAttributes",
        "sqs:SetQueueAttributes",
        "sqs:GetQueueUrl",
        "sqs:ListQueueTags",
        "sqs:TagQueue",
        "sqs:UntagQueue",
    ),
    "aws:sqs/queuePolicy:QueuePolicy": ("sqs:SetQueueAttributes", "sqs:GetQueueAttributes"),
    # --- every function's role and its inline policy --------------------------------------------
    "aws:iam/role:Role": (
        "iam:CreateRole",
        "iam:DeleteRole",
        "iam:GetRole",
        "iam:UpdateRole",
        "iam:UpdateRoleDescription",
        "iam:UpdateAssumeRolePolicy",
        "iam:TagRole",
        "iam:UntagRole",
        "iam:ListRolePolicies",
        "iam:ListAttachedRolePolicies",
        "iam:ListInstanceProfilesForRole",
    ),
    "aws:iam/rolePolicy:RolePolicy": ("iam:PutRolePolicy", "iam:GetRolePolicy", "iam:DeleteRolePolicy"),
    # --- infra/indexer.py, infra/upload.py, the Lambda@Edge functions -----------------------------
    "aws:lambda/function:Function": _LAMBDA_FUNCTION,
    "aws:cloudwatch/logGroup:LogGroup": (
        "logs:CreateLogGroup",
        "logs:DeleteLogGroup",
        "logs:PutRetentionPolicy",
        "logs:DeleteRetentionPolicy",
        "logs:DescribeLogGroups",
        "logs:ListTagsForResource",
        "logs:TagResource",
        "logs:UntagResource",
    ),
    "aws:lambda/eventSourceMapping:EventSourceMapping": (
        "lambda:CreateEventSourceMapping",
        "lambda:GetEventSourceMapping",
        "lambda:UpdateEventSourceMapping",
        "lambda:DeleteEventSourceMapping",
    ),
    "aws:lambda/functionUrl:FunctionUrl": (
        "lambda:CreateFunctionUrlConfig",
        "lambda:GetFunctionUrlConfig",
        "lambda:UpdateFunctionUrlConfig",
        "lambda:DeleteFunctionUrlConfig",
    ),
    # The indexer's init action on each new indexer code (infra/indexer.py): the provider calls
    # Invoke on create and on update of the Invocation resource.
    "aws:lambda/invocation:Invocation": ("lambda:InvokeFunction",),
    "aws:lambda/permission:Permission": (
        "lambda:AddPermission",
        "lambda:RemovePermission",
        "lambda:GetPolicy",
    ),
    # --- infra/distribution.py ----------------------------------------------------------------
    "aws:cloudfront/distribution:Distribution": (
        "cloudfront:CreateDistribution",
        "cloudfront:GetDistribution",
        "cloudfront:GetDistributionConfig",
        "cloudfront:UpdateDistribution",
        "cloudfront:DeleteDistribution",
        "cloudfront:TagResource",
        "cloudfront:UntagResource",
        "cloudfront:ListTagsForResource",
        *LAMBDA_AT_EDGE,
    ),
    "aws:cloudfront/originAccessControl:OriginAccessControl": (
        "cloudfront:CreateOriginAccessControl",
        "cloudfront:GetOriginAccessControl",
        "cloudfront:UpdateOriginAccessControl",
        "cloudfront:DeleteOriginAccessControl",
    ),
    "aws:cloudfront/cachePolicy:CachePolicy": (
        "cloudfront:CreateCachePolicy",
        "cloudfront:GetCachePolicy",
        "cloudfront:UpdateCachePolicy",
        "cloudfront:DeleteCachePolicy",
    ),
    "aws:cloudfront/responseHeadersPolicy:ResponseHeadersPolicy": (
        "cloudfront:CreateResponseHeadersPolicy",
        "cloudfront:GetResponseHeadersPolicy",
        "cloudfront:UpdateResponseHeadersPolicy",
        "cloudfront:DeleteResponseHeadersPolicy",
    ),
    "aws:s3/bucketPolicy:BucketPolicy": ("s3:PutBucketPolicy", "s3:DeleteBucketPolicy", *_S3_BUCKET_READS),
    # --- infra/users.py (the opt-in userPool) ---------------------------------------------------
    # terraform-provider-aws internal/service/cognitoidp/user_pool.go: CreateUserPool, then
    # SetUserPoolMfaConfig; read DescribeUserPool + GetUserPoolMfaConfig; UpdateUserPool;
    # DeleteUserPool; tags through TagResource / UntagResource.
    "aws:cognito/userPool:UserPool": (
        "cognito-idp:CreateUserPool",
        "cognito-idp:DescribeUserPool",
        "cognito-idp:UpdateUserPool",
        "cognito-idp:DeleteUserPool",
        "cognito-idp:GetUserPoolMfaConfig",
        "cognito-idp:SetUserPoolMfaConfig",
        "cognito-idp:TagResource",
        "cognito-idp:UntagResource",
        "cognito-idp:ListTagsForResource",
    ),
    "aws:cognito/userPoolClient:UserPoolClient": (
        "cognito-idp:CreateUserPoolClient",
        "cognito-idp:DescribeUserPoolClient",
        "cognito-idp:UpdateUserPoolClient",
        "cognito-idp:DeleteUserPoolClient",
    ),
}

# Resources that live only in the Pulumi state (pulumi_random): no AWS call, no permission.
STATE_ONLY_PACKAGES = ("random",)


def all_actions() -> list[str]:
    """Every action, once, sorted: what a deployer policy must allow."""
    return sorted({action for actions in ACTIONS.values() for action in actions})
