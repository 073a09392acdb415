"""`EdgeDistribution`: the viewer-request function and the CloudFront distribution it guards.

    pip / uv / browser ──HTTPS──▶ CloudFront ── viewer-request ──▶ Lambda@Edge (us-east-1):
        │                                        Basic auth, URL rewriting (edge/handler.py)
        ├── default behaviour (all methods reach the function; GET, HEAD forwarded and cached
        │     by URI) ──OAC, sigv4──▶ the bucket
        │     └ origin-response: the fallback redirect, when `fallbackIndexUrl` is set
        ├── *.whl, *.tar.gz, *.zip, *.metadata: the bucket too, with the files' headers policy
        │     (octet-stream, attachment, CSP sandbox: never rendered by a browser)
        └── the upload endpoint's paths (all methods, no cache) ──▶ its function URL

Response headers policies: infra.wiring describes them (`PAGES_POLICY`, `FILES_POLICY`) and the
local stand-in applies the same ones (local/cdn.py).

Lambda@Edge logging: the edge function runs in CloudFront's regional edge caches, and each
region writes its own log group named `/aws/lambda/us-east-1.<function name>` (in the region
that served the request, not in us-east-1).  Those groups are created by Lambda on first use,
so this component cannot set their retention up front; its role may write only to them.

Also here: the bucket policy, because what it says is "this distribution, and only over TLS".
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pulumi
import pulumi_aws as aws

from infra import bundle, common, wiring

TYPE_TOKEN = "pypi-edge:index:EdgeDistribution"

# Every behaviour allows all seven methods so that the viewer-request function, not CloudFront's
# own 403, answers a write to the wrong URL (infra.wiring, VIEWER_METHODS: why, and why S3 stays
# read-only); only GET and HEAD are cached.
ALLOWED_METHODS = list(wiring.VIEWER_METHODS)
CACHED_METHODS = list(wiring.CACHED_METHODS)
# A 403/404 may be a page the indexer is writing right now: do not let CloudFront keep it.
ERROR_CACHING_SECONDS = wiring.ERROR_CACHING_SECONDS  # shared with the local stand-in's cache
HSTS_SECONDS = wiring.HSTS_SECONDS
ORIGIN_ID = "packages"

# The upload endpoint's behaviours allow the same seven (POST needs them); the edge function and
# the upload function refuse what they do not serve.
ALL_METHODS = ALLOWED_METHODS
# Managed policies, by their fixed IDs (CloudFront developer guide, "Use managed cache policies":
# CachingDisabled, min/default/max TTL 0, nothing in the key; "Use managed origin request
# policies": AllViewerExceptHostHeader, every viewer header but Host, so the function URL sees its
# own host name, plus all query strings and cookies).
CACHING_DISABLED_POLICY_ID = "4135ea2d-6df8-44a3-9df3-4b5a84be39ad"
ALL_VIEWER_EXCEPT_HOST_HEADER_POLICY_ID = "b689b0a8-53d0-40ab-baf2-68738e2966ac"


@dataclass
class EdgeDistributionArgs:
    users: pulumi.Input[Mapping[str, Any]]
    """The `users` config (secret); only salted hashes reach the edge bundle."""
    realm: str
    credentials_seed: pulumi.Input[str]
    """The salt seed (`PrivateIndex`: random per deployment, from the stack's state)."""
    bucket_id: pulumi.Input[str]
    bucket_arn: pulumi.Input[str]
    bucket_regional_domain_name: pulumi.Input[str]
    edge_bundle_name: str
    """The edge zip's file name under `bundle_dir` (one per stack: its salts differ)."""
    comment: str = "pypi-edge"
    bucket_settings: Sequence[pulumi.Resource] = ()
    """What the bucket policy must wait for (`Storage.access_settings`)."""
    index_cache_seconds: int = 60
    """The cache policy's default TTL (objects' own Cache-Control wins)."""
    price_class: str = "PriceClass_100"
    domain: str | None = None
    certificate_arn: str | None = None
    upload_origin: aws.cloudfront.DistributionOriginArgs | None = None
    """`UploadEndpoint.origin`; None: no upload paths."""
    upload_path_patterns: Sequence[str] = field(default_factory=tuple)
    origin_response_arn: pulumi.Input[str] | None = None
    """The fallback redirect's version ARN (`FallbackRedirect.qualified_arn`), or None."""
    user_pool_file: pulumi.Input[str] | None = None
    """`UserStore.config_file`, bundled as userpool.json; None: no user pool."""
    user_pool_arn: pulumi.Input[str] | None = None
    """`UserStore.pool_arn`: the function may call AdminInitiateAuth on it, nothing else."""
    source_root: Path = bundle.REPO_ROOT
    bundle_dir: Path | None = None


class EdgeDistribution(pulumi.ComponentResource):
    edge_function: aws.lambda_.Function
    distribution: aws.cloudfront.Distribution

    def __init__(
        self, name: str, args: EdgeDistributionArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__(TYPE_TOKEN, name, None, opts)
        moved = common.moved_from(opts)
        child = pulumi.ResourceOptions(parent=self, aliases=moved)
        caller = common.caller(self)
        bundle_dir = args.bundle_dir or args.source_root / ".bundles"

        # --- the viewer-request function, in us-east-1 whatever the stack's region ----------
        # IAM is global: the role and its policy need no region.
        edge_role = common.function_role(
            f"{name}-edge-role", "pypi-edge viewer-request function (Lambda@Edge)", child, edge=True
        )

        def build_edge(inputs: list[Any]) -> bundle.Bundle:
            users, seed, pool_file = inputs
            return bundle.build_edge_bundle(
                dict(users),
                args.realm,
                seed,
                out_dir=bundle_dir,
                name=args.edge_bundle_name,
                source_root=args.source_root,
                user_pool_file=pool_file.encode("utf-8") if pool_file is not None else None,
            )

        # The bundle holds salted hashes only, never a password, and the pool's ids: it is not
        # secret, and an unsecret archive keeps the Lambda code diffable (and plain in the state).
        edge_bundle = pulumi.Output.unsecret(
            pulumi.Output.all(args.users, args.credentials_seed, args.user_pool_file).apply(build_edge)
        )
        self.edge_function = common.lambda_at_edge(
            f"{name}-edge",
            description="pypi-edge viewer-request: Basic auth, URL rewriting (Lambda@Edge)",
            role_arn=edge_role.arn,
            code=edge_bundle.apply(lambda b: pulumi.FileArchive(common.archive_path(b.path))),
            source_code_hash=edge_bundle.apply(lambda b: b.sha256_b64),
            opts=child,
        )
        common.edge_log_policy(f"{name}-edge-logs", edge_role, caller, self.edge_function.name, child)
        if args.user_pool_arn is not None:
            # Credentials neither static nor cached are checked against the pool, from every
            # edge region (edge/userpool.py); the pool is the only resource this role may touch.
            aws.iam.RolePolicy(
                f"{name}-edge-user-pool",
                role=edge_role.id,
                policy=common.policy(common.user_pool_statement(args.user_pool_arn)),
                opts=child,
            )
        viewer_request = self.edge_function.qualified_arn

        # --- CloudFront --------------------------------------------------------------------
        oac = aws.cloudfront.OriginAccessControl(
            f"{name}-oac",
            description="pypi-edge: CloudFront signs every request to the bucket",
            origin_access_control_origin_type="s3",
            signing_behavior="always",  # also replaces any viewer Authorization header
            signing_protocol="sigv4",
            opts=child,
        )
        # The viewer-request function has already rewritten /simple/<p>/ to /<p>/index.html or
        # index.json (by Accept) when the cache is consulted, so the key is the URI alone: no
        # headers (in particular never Authorization), cookies or query strings.
        cache_policy = aws.cloudfront.CachePolicy(
            f"{name}-cache",
            comment="pypi-edge: honour the objects' Cache-Control; key = URI",
            # The numbers the local stand-in's cache uses too (infra.wiring, with the TTL rules).
            min_ttl=wiring.CACHE_MIN_TTL_SECONDS,
            default_ttl=args.index_cache_seconds,
            max_ttl=wiring.CACHE_MAX_TTL_SECONDS,
            parameters_in_cache_key_and_forwarded_to_origin=aws.cloudfront.CachePolicyParametersInCacheKeyAndForwardedToOriginArgs(
                cookies_config=aws.cloudfront.CachePolicyParametersInCacheKeyAndForwardedToOriginCookiesConfigArgs(
                    cookie_behavior="none"
                ),
                headers_config=aws.cloudfront.CachePolicyParametersInCacheKeyAndForwardedToOriginHeadersConfigArgs(
                    header_behavior="none"
                ),
                query_strings_config=aws.cloudfront.CachePolicyParametersInCacheKeyAndForwardedToOriginQueryStringsConfigArgs(
                    query_string_behavior="none"
                ),
                enable_accept_encoding_brotli=True,
                enable_accept_encoding_gzip=True,
            ),
            opts=child,
        )
        # Pages (default and upload behaviours) and files (their own behaviours): infra.wiring
        # describes both policies, and the local stand-in applies the same ones.
        headers_policy = response_headers_policy(f"{name}-headers", wiring.PAGES_POLICY, child)
        files_policy = response_headers_policy(f"{name}-file-headers", wiring.FILES_POLICY, child)
        if args.domain:
            certificate = aws.cloudfront.DistributionViewerCertificateArgs(
                acm_certificate_arn=args.certificate_arn,
                ssl_support_method="sni-only",
                minimum_protocol_version="TLSv1.2_2021",
            )
        else:
            certificate = aws.cloudfront.DistributionViewerCertificateArgs(
                cloudfront_default_certificate=True
            )
        associations = [
            aws.cloudfront.DistributionDefaultCacheBehaviorLambdaFunctionAssociationArgs(
                event_type="viewer-request", lambda_arn=viewer_request, include_body=False
            )
        ]
        if args.origin_response_arn is not None:
            associations.append(
                aws.cloudfront.DistributionDefaultCacheBehaviorLambdaFunctionAssociationArgs(
                    event_type="origin-response", lambda_arn=args.origin_response_arn, include_body=False
                )
            )
        self.distribution = aws.cloudfront.Distribution(
            f"{name}-cdn",
            comment=args.comment,
            enabled=True,
            http_version="http2and3",
            is_ipv6_enabled=True,
            price_class=args.price_class,
            aliases=[args.domain] if args.domain else None,
            origins=[
                aws.cloudfront.DistributionOriginArgs(
                    origin_id=ORIGIN_ID,
                    domain_name=args.bucket_regional_domain_name,
                    origin_access_control_id=oac.id,
                ),
                *([args.upload_origin] if args.upload_origin is not None else []),
            ],
            ordered_cache_behaviors=[
                *self._upload_behaviours(args, viewer_request, headers_policy.id),
                *file_behaviours(viewer_request, files_policy.id, cache_policy.id),
            ],
            default_cache_behavior=aws.cloudfront.DistributionDefaultCacheBehaviorArgs(
                target_origin_id=ORIGIN_ID,
                viewer_protocol_policy="redirect-to-https",
                allowed_methods=ALLOWED_METHODS,
                cached_methods=CACHED_METHODS,
                compress=True,
                cache_policy_id=cache_policy.id,
                response_headers_policy_id=headers_policy.id,
                lambda_function_associations=associations,
            ),
            custom_error_responses=[
                # A 404 from S3 keeps its status and shows the indexer's styled page
                # (wiring.ERROR_PAGES; CloudFront requires a ResponseCode with a ResponsePagePath).
                aws.cloudfront.DistributionCustomErrorResponseArgs(
                    error_code=code,
                    error_caching_min_ttl=ttl,
                    response_code=code if code in wiring.ERROR_PAGES else None,
                    response_page_path=wiring.ERROR_PAGES.get(code),
                )
                for code, ttl in ERROR_CACHING_SECONDS.items()
            ],
            restrictions=aws.cloudfront.DistributionRestrictionsArgs(
                geo_restriction=aws.cloudfront.DistributionRestrictionsGeoRestrictionArgs(
                    restriction_type="none"
                )
            ),
            viewer_certificate=certificate,
            opts=child,
        )

        # --- who may read the bucket: this distribution, over TLS -----------------------------
        # Read, never write.  OAC signs every request CloudFront sends the bucket, PUT and DELETE
        # included (OAC "supports ... dynamic requests (PUT and DELETE) to Amazon S3", CloudFront
        # Developer Guide, "Restrict access to an Amazon S3 origin"), and the behaviours allow all
        # seven methods (wiring.VIEWER_METHODS).  Two independent locks keep writes away from the
        # bucket: the viewer-request function answers every method but GET and HEAD itself (a
        # function "can generate an HTTP response that CloudFront returns directly to the viewer
        # without forwarding" it to the origin: "Generate HTTP responses in request triggers",
        # same guide), and this policy allows CloudFront s3:GetObject and s3:ListBucket only, so
        # S3 refuses any other signed request (IAM's implicit deny).
        objects = pulumi.Output.concat(args.bucket_arn, "/*")
        from_this_distribution = {"StringEquals": {"AWS:SourceArn": self.distribution.arn}}
        aws.s3.BucketPolicy(
            f"{name}-bucket-policy",
            bucket=args.bucket_id,
            policy=common.policy(
                {
                    "Sid": "DenyInsecureTransport",
                    "Effect": "Deny",
                    "Principal": "*",
                    "Action": "s3:*",
                    "Resource": [args.bucket_arn, objects],
                    "Condition": {"Bool": {"aws:SecureTransport": "false"}},
                },
                {
                    "Sid": "AllowCloudFrontReadObjects",
                    "Effect": "Allow",
                    "Principal": {"Service": "cloudfront.amazonaws.com"},
                    "Action": "s3:GetObject",
                    "Resource": objects,
                    "Condition": from_this_distribution,
                },
                {
                    # With ListBucket a missing key is a 404, not a 403 (uv's first-index
                    # strategy moves on only after a 404).
                    "Sid": "AllowCloudFrontListBucket",
                    "Effect": "Allow",
                    "Principal": {"Service": "cloudfront.amazonaws.com"},
                    "Action": "s3:ListBucket",
                    "Resource": args.bucket_arn,
                    "Condition": from_this_distribution,
                },
            ),
            opts=pulumi.ResourceOptions(parent=self, aliases=moved, depends_on=list(args.bucket_settings)),
        )
        self.register_outputs(
            {
                "distribution_id": self.distribution.id,
                "distribution_domain_name": self.distribution.domain_name,
                "edge_function_name": self.edge_function.name,
                "edge_function_version_arn": viewer_request,
            }
        )

    @staticmethod
    def _upload_behaviours(
        args: EdgeDistributionArgs, viewer_request: pulumi.Input[str], headers_policy_id: pulumi.Input[str]
    ) -> list[aws.cloudfront.DistributionOrderedCacheBehaviorArgs]:
        """The upload endpoint's paths: every method, never cached, the same viewer-request
        function (it answers 401, and 413 before any byte of an oversize upload moves on)."""
        if args.upload_origin is None:
            return []
        return [
            aws.cloudfront.DistributionOrderedCacheBehaviorArgs(
                path_pattern=pattern,
                target_origin_id=args.upload_origin.origin_id,
                # https-only, not redirect-to-https: twine aborts on any redirect.
                viewer_protocol_policy="https-only",
                allowed_methods=ALL_METHODS,
                cached_methods=CACHED_METHODS,
                compress=False,
                cache_policy_id=CACHING_DISABLED_POLICY_ID,
                origin_request_policy_id=ALL_VIEWER_EXCEPT_HOST_HEADER_POLICY_ID,
                response_headers_policy_id=headers_policy_id,
                lambda_function_associations=[
                    aws.cloudfront.DistributionOrderedCacheBehaviorLambdaFunctionAssociationArgs(
                        event_type="viewer-request",
                        lambda_arn=viewer_request,
                        include_body=False,  # it needs Content-Length, never the body
                    )
                ],
            )
            for pattern in args.upload_path_patterns
        ]


def response_headers_policy(
    name: str, policy: wiring.HeadersPolicy, opts: pulumi.ResourceOptions
) -> aws.cloudfront.ResponseHeadersPolicy:
    """`policy` (infra.wiring) as a CloudFront response headers policy: the security headers with
    override, its Content-Security-Policy (a security header: CloudFront takes it there, not as a
    custom header; "Understand response headers policies", Security headers), and its custom
    headers, each with override."""
    cf = aws.cloudfront
    return cf.ResponseHeadersPolicy(
        name,
        comment=f"pypi-edge: security headers ({policy.name})",
        security_headers_config=cf.ResponseHeadersPolicySecurityHeadersConfigArgs(
            strict_transport_security=cf.ResponseHeadersPolicySecurityHeadersConfigStrictTransportSecurityArgs(
                access_control_max_age_sec=wiring.HSTS_SECONDS,
                include_subdomains=True,
                preload=False,
                override=True,
            ),
            content_type_options=cf.ResponseHeadersPolicySecurityHeadersConfigContentTypeOptionsArgs(
                override=True
            ),
            frame_options=cf.ResponseHeadersPolicySecurityHeadersConfigFrameOptionsArgs(
                frame_option="DENY", override=True
            ),
            referrer_policy=cf.ResponseHeadersPolicySecurityHeadersConfigReferrerPolicyArgs(
                referrer_policy="no-referrer", override=True
            ),
            # At most 1,783 characters ("Understand response headers policies"); these are ~200.
            content_security_policy=cf.ResponseHeadersPolicySecurityHeadersConfigContentSecurityPolicyArgs(
                content_security_policy=policy.content_security_policy, override=policy.csp_override
            ),
        ),
        custom_headers_config=cf.ResponseHeadersPolicyCustomHeadersConfigArgs(
            items=[
                cf.ResponseHeadersPolicyCustomHeadersConfigItemArgs(header=header, value=value, override=True)
                for header, value in policy.custom
            ]
        ),
        opts=opts,
    )


def file_behaviours(
    viewer_request: pulumi.Input[str], files_policy_id: pulumi.Input[str], cache_policy_id: pulumi.Input[str]
) -> list[aws.cloudfront.DistributionOrderedCacheBehaviorArgs]:
    """Distribution files and PEP 658 metadata (`wiring.FILE_PATH_PATTERNS`): the bucket, as the
    default behaviour, but with the files' response headers policy (never rendered by a browser).

    CloudFront picks the behaviour on the viewer's normalized path, before the viewer-request
    function rewrites it, and every file URL the function serves ends in one of these suffixes
    (edge/handler.py serves only them, and refuses any path normalization would change), so
    every file goes through one of these behaviours.  Not compressed: archives are compressed
    already, and pip downloads with `Accept-Encoding: identity`.  No origin-response function:
    the fallback redirects project pages only.
    """
    return [
        aws.cloudfront.DistributionOrderedCacheBehaviorArgs(
            path_pattern=pattern,
            target_origin_id=ORIGIN_ID,
            viewer_protocol_policy="redirect-to-https",
            allowed_methods=ALLOWED_METHODS,
            cached_methods=CACHED_METHODS,
            compress=False,
            cache_policy_id=cache_policy_id,
            response_headers_policy_id=files_policy_id,
            lambda_function_associations=[
                aws.cloudfront.DistributionOrderedCacheBehaviorLambdaFunctionAssociationArgs(
                    event_type="viewer-request", lambda_arn=viewer_request, include_body=False
                )
            ],
        )
        for pattern in wiring.FILE_PATH_PATTERNS
    ]
