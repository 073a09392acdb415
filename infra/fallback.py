"""`FallbackRedirect`: the opt-in origin-response function that sends unknown projects upstream.

    CloudFront ── origin-response ──▶ Lambda@Edge (us-east-1): S3 404/403 for <project>/index.*
                                       → 307 to <fallbackIndexUrl><project>/ (edge/fallback.py)

Created only when `fallbackIndexUrl` is set; `infra.distribution.EdgeDistribution` associates
`qualified_arn` with the default behaviour, next to the viewer-request function.  The function's
configuration is a `fallback.json` file in its own small bundle, written by
`edge.fallback.render_file`: Lambda@Edge functions cannot have environment variables (CloudFront
Developer Guide, "Restrictions on Lambda@Edge": "Environment variables aren't supported"), which
is also why the viewer-request function's credentials are a bundled file.  Its own bundle keeps
the viewer-request function's code, and version, unchanged when the fallback is switched on or off.

Limits relied on (CloudFront Developer Guide, "Quotas on Lambda@Edge"): origin-response
functions may run up to 30 s with up to 10,240 MB and a 50 MB bundle; this one needs 128 MB
and well under a second.  Like every Lambda@Edge function of the stack it is made by
`infra.common.lambda_at_edge` (us-east-1, a published version for the association, kept on
delete while CloudFront still holds replicas).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pulumi
import pulumi_aws as aws

from infra import bundle, common

TYPE_TOKEN = "pypi-edge:index:FallbackRedirect"
HANDLER = "fallback.handler"
MEMORY_MB = 128
TIMEOUT_SECONDS = 5
SOURCES = ("fallback.py",)  # an explicit list: nothing else from edge/ ships in this bundle


def fallback_files(
    url: str, cache_seconds: int, source_root: Path = bundle.REPO_ROOT
) -> list[tuple[str, bytes]]:
    from edge import fallback  # the one writer of the format

    files = [(name, (source_root / "edge" / name).read_bytes()) for name in SOURCES]
    files.append((fallback.FILE_NAME, fallback.render_file(url, cache_seconds)))
    return files


def build_fallback_bundle(
    url: str, cache_seconds: int, out_dir: Path, name: str, source_root: Path = bundle.REPO_ROOT
) -> bundle.Bundle:
    data = bundle.deterministic_zip(fallback_files(url, cache_seconds, source_root))
    return bundle.write_bundle(data, out_dir / name)


@dataclass
class FallbackRedirectArgs:
    url: str
    """The fallback index, e.g. https://pypi.org/simple/ (validated by edge.fallback.validate_url)."""
    cache_seconds: int
    """How long CloudFront (and clients) may reuse a redirect: the delay before a project
    published here stops being sent upstream."""
    bundle_dir: Path
    bundle_name: str
    source_root: Path = bundle.REPO_ROOT


class FallbackRedirect(pulumi.ComponentResource):
    """The origin-response function, its role and its log permissions (all in us-east-1)."""

    def __init__(self, name: str, args: FallbackRedirectArgs, opts: pulumi.ResourceOptions) -> None:
        super().__init__(TYPE_TOKEN, name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        role = aws.iam.Role(
            f"{name}-role",
            assume_role_policy=common.assume_role_policy("lambda.amazonaws.com", "edgelambda.amazonaws.com"),
            description="pypi-edge origin-response function: fallback index redirects (Lambda@Edge)",
            opts=child,
        )
        built = build_fallback_bundle(
            args.url, args.cache_seconds, args.bundle_dir, args.bundle_name, args.source_root
        )
        self.function = common.lambda_at_edge(
            name,
            description="pypi-edge origin-response: unknown projects go to the fallback index (Lambda@Edge)",
            role_arn=role.arn,
            # checkout-independent path, as the other bundles
            code=pulumi.FileArchive(common.archive_path(built.path)),
            source_code_hash=built.sha256_b64,
            handler=HANDLER,
            memory_size=MEMORY_MB,
            timeout=TIMEOUT_SECONDS,
            opts=child,
        )
        # Logs: like the viewer-request function, /aws/lambda/us-east-1.<name> in whichever
        # region ran it.
        log_groups = self.function.name.apply(
            lambda fn: [
                f"arn:aws:logs:*:*:log-group:/aws/lambda/us-east-1.{fn}",
                f"arn:aws:logs:*:*:log-group:/aws/lambda/us-east-1.{fn}:*",
            ]
        )
        aws.iam.RolePolicy(
            f"{name}-logs",
            role=role.id,
            policy=pulumi.Output.json_dumps(
                {
                    "Version": "2012-10-17",
                    "Statement": [
                        {
                            "Sid": "WriteEdgeLogs",
                            "Effect": "Allow",
                            "Action": ["logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents"],
                            "Resource": log_groups,
                        }
                    ],
                }
            ),
            opts=child,
        )
        self.qualified_arn = self.function.qualified_arn
        self.register_outputs({"function_version_arn": self.qualified_arn})
