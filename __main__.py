"""pypi-edge: a private Python package index (S3 + CloudFront + Lambda@Edge + indexer).

Reads straight down: config (declared, with defaults, in Pulumi.yaml) → component → exports.
"""

import pulumi

from infra.component import PrivateIndex, PrivateIndexArgs

config = pulumi.Config()


def given(**values):
    """Only the settings this stack sets; the rest keep PrivateIndexArgs' defaults."""
    return {key: value for key, value in values.items() if value not in (None, "")}


index = PrivateIndex(
    "pypi-edge",
    PrivateIndexArgs(
        users=config.require_secret_object("users"),
        **given(
            realm=config.get("realm"),
            domain=config.get("domain"),
            certificate_arn=config.get("certificateArn"),
            price_class=config.get("priceClass"),
            index_cache_seconds=config.get_int("indexCacheSeconds"),
            retain_bucket_on_delete=config.get_bool("retainBucketOnDelete"),
            log_retention_days=config.get_int("logRetentionDays"),
            noncurrent_version_expiry_days=config.get_int("noncurrentVersionExpiryDays"),
            fallback_index_url=config.get("fallbackIndexUrl"),
            fallback_cache_seconds=config.get_int("fallbackCacheSeconds"),
            trusted_publishers=config.get_object("trustedPublishers"),
            trusted_publishing_audience=config.get("trustedPublishingAudience"),
            user_pool=config.get("userPool"),
            user_cache_seconds=config.get_int("userCacheSeconds"),
        ),
    ),
)

pulumi.export("indexUrl", index.index_url)
pulumi.export("pipInstall", index.pip_install)
pulumi.export("uploadUrl", index.upload_url)
# Ready to paste (`pulumi stack output pipConf > ~/.config/pip/pip.conf`): user names, no secrets.
pulumi.export("pipConf", index.pip_conf)
pulumi.export("uvToml", index.uv_toml)
pulumi.export("bucketName", index.bucket_name)
pulumi.export("distributionId", index.distribution_id)
pulumi.export("distributionDomainName", index.distribution.domain_name)
pulumi.export("edgeFunctionVersionArn", index.edge_function_version_arn)
# Kept by `pulumi destroy` until CloudFront has removed its replicas (docs/deploy.md, "Tear down").
pulumi.export("edgeFunctionName", index.edge_function_name)
pulumi.export("indexerFunctionName", index.indexer_function.name)
pulumi.export("deadLetterQueueUrl", index.dead_letter_queue.url)
# GitLab CI needs it in `id_tokens` (docs/publishing.md, "Trusted publishing"); uv on GitHub asks the index.
if index.trusted_publishing_audience is not None:
    pulumi.export("trustedPublishingAudience", index.trusted_publishing_audience)
# `pypi-edge user …` and `pypi-edge token …` find the pool here (docs/users.md).
if index.user_pool_id is not None:
    pulumi.export("userPoolId", index.user_pool_id)
