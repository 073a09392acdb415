"""The cost model: published AWS list prices × the request and byte counts measured by the bench.

Prices are us-east-1 / United States list prices without free tiers (both sides have one;
leaving them out keeps the comparison about the architecture), read on `PRICES_READ`.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass

PRICES_READ = "2026-11-25"
GB = 2**30  # AWS bills data transfer and storage in binary gigabytes

# $ per unit. Sources: the AWS pricing pages named below (read on PRICES_READ).
LAMBDA_EDGE_REQUEST = 0.60 / 1e6  # aws.amazon.com/cloudfront/pricing (Lambda@Edge); no free tier
LAMBDA_EDGE_GB_SECOND = 0.00005001  # same page; billed per 1 ms since 2021-04-01
CLOUDFRONT_HTTPS_REQUEST = 0.0100 / 10_000  # aws.amazon.com/cloudfront/pricing, United States
CLOUDFRONT_GB_OUT = 0.085  # same page, United States, first 10 TB/month
S3_GET = 0.0004 / 1000  # aws.amazon.com/s3/pricing, S3 Standard GET/SELECT/other
S3_PUT_LIST = 0.005 / 1000  # same page, PUT/COPY/POST/LIST
S3_GB_MONTH = 0.023  # same page, S3 Standard, first 50 TB
SQS_REQUEST = 0.40 / 1e6  # aws.amazon.com/sqs/pricing, standard queue
LAMBDA_REQUEST = 0.20 / 1e6  # aws.amazon.com/lambda/pricing, x86
LAMBDA_GB_SECOND = 0.0000166667  # same page, x86, first tier
CLOUDFRONT_INVALIDATION_PATH = 0.005  # aws.amazon.com/cloudfront/pricing: after the free paths below
FREE_INVALIDATION_PATHS = 1000  # same page: "no additional charge for the first 1,000 paths" a month
CLOUDFRONT_GB_TO_ORIGIN = 0.020  # same page, "Regional Data Transfer Out to Origin", United States
CODEARTIFACT_GB_MONTH = 0.05  # aws.amazon.com/codeartifact/pricing
CODEARTIFACT_REQUEST = 0.05 / 10_000  # same page
CODEARTIFACT_GB_OUT = 0.09  # same page: AWS data transfer out to the internet, first 10 TB/month

EDGE_MEMORY_GB = 128 / 1024  # infra/component.py EDGE_MEMORY_MB (the viewer-trigger maximum)
INDEXER_MEMORY_GB = 512 / 1024  # infra/component.py INDEXER_MEMORY_MB
UPLOAD_MEMORY_GB = 512 / 1024  # infra/upload.py UPLOAD_MEMORY_MB

PRICE_NOTES = [
    "Lambda@Edge $0.60 per 1M requests + $0.00005001 per GB-second, billed in 1 ms steps "
    "(aws.amazon.com/cloudfront/pricing; 1 ms granularity since 2021-04-01, AWS What's New 2021-03-31)",
    "CloudFront (United States) $0.0100 per 10,000 HTTPS requests, $0.085/GB out for the first 10 TB "
    "(aws.amazon.com/cloudfront/pricing)",
    "S3 Standard $0.0004 per 1,000 GET, $0.005 per 1,000 PUT/LIST, $0.023/GB-month "
    "(aws.amazon.com/s3/pricing)",
    "SQS standard $0.40 per 1M requests (aws.amazon.com/sqs/pricing); Lambda $0.20 per 1M requests + "
    "$0.0000166667 per GB-second, x86 (aws.amazon.com/lambda/pricing)",
    "CloudFront invalidations: the first 1,000 paths a month free, then $0.005 per path; a path "
    "ending in * counts as one (aws.amazon.com/cloudfront/pricing; developer guide, 'Pay for file "
    "invalidation')",
    "data from CloudFront to an origin (upload bodies) $0.020/GB in the United States "
    "(aws.amazon.com/cloudfront/pricing, 'Regional Data Transfer Out to Origin'; the stored copy of the "
    "page read today breaks off before that row, so the figure is the page's published US rate, not "
    "re-read today); Lambda function URLs: no charge beyond the function's requests and duration "
    "(aws.amazon.com/lambda/pricing)",
    "CodeArtifact $0.05/GB-month, $0.05 per 10,000 requests (aws.amazon.com/codeartifact/pricing; AWS price "
    "list, effective 2021-04-01), data out to the internet at AWS's $0.09/GB for the first 10 TB",
]


@dataclass(frozen=True)
class Load:
    """A team's month. Every figure here is an assumption, printed in the table's notes."""

    developers: int = 50
    ci_runs_per_developer_day: int = 20  # each run installs the tree on a fresh runner, no cache
    local_installs_per_developer_day: int = 1
    working_days: int = 22
    uploads: int = 500  # distributions published per month
    stored_gb: float = 10.0
    cache_hit_ratio: float = 0.9  # CloudFront hits; a miss costs one S3 GET
    cold_fraction: float = 0.01  # requests that land on a new edge container (slow hash)
    indexer_seconds: float = 1.0  # per upload event, at 512 MB (moto times are not AWS times)
    files_per_release: int = 5  # wheels + sdist of one version, published by one CI job
    upload_seconds: float = 2.0  # upload function per file, incl. waiting for the page refresh
    endpoint_share: float = 1.0  # of uploads through /legacy/ (CI with twine/uv); the rest via S3
    upload_mb: float = 2.0  # mean distribution size, sent through CloudFront to the function
    trusted_publish_jobs: int = 100  # CI release jobs a month that mint a token (= releases)
    mint_seconds: float = 0.3  # upload function per mint (verify the OIDC token, issue one)

    @property
    def installs(self) -> int:
        per_day = self.ci_runs_per_developer_day + self.local_installs_per_developer_day
        return self.developers * per_day * self.working_days

    def describe(self) -> str:
        return (
            f"{self.developers} developers × ({self.ci_runs_per_developer_day} CI runs + "
            f"{self.local_installs_per_developer_day} local install) per working day × {self.working_days} "
            f"days = {self.installs:,} installs of the tree a month, each from an empty cache; "
            f"{self.uploads} uploads a month; {self.stored_gb:g} GB stored; CloudFront cache hit ratio "
            f"{self.cache_hit_ratio:.0%} (a miss is one S3 GET); {self.cold_fraction:.0%} of requests pay a "
            f"cold verification; {self.indexer_seconds:g} s of indexer Lambda per upload; "
            f"{self.files_per_release} files per release; {self.upload_seconds:g} s of upload function per "
            f"file through /legacy/ at {UPLOAD_MEMORY_GB * 1024:.0f} MB; {self.endpoint_share:.0%} of files "
            f"through /legacy/, {self.upload_mb:g} MB each; {self.trusted_publish_jobs} trusted-publishing "
            f"jobs a month, each one audience GET and one mint POST through the edge and "
            f"{self.mint_seconds:g} s of upload function"
        )

    @property
    def releases(self) -> int:
        return math.ceil(self.uploads / self.files_per_release)


@dataclass(frozen=True)
class Install:
    """What one `pip install` of the tree costs in traffic (measured)."""

    requests: int
    bytes_sent: int


@dataclass(frozen=True)
class Monthly:
    requests: float  # $ for requests (and compute per request)
    transfer: float  # $ for bytes out
    storage: float
    publishing: float  # uploads and their indexing
    endpoint: float = 0.0  # the upload endpoint, invalidations, trusted publishing

    @property
    def total(self) -> float:
        return self.requests + self.transfer + self.storage + self.publishing + self.endpoint


def edge_request_dollars(warm_us: float, cold_us: float, cold_fraction: float) -> float:
    """$ per viewer request at the edge: Lambda@Edge (request + billed ms) and CloudFront's fee."""
    warm_ms = max(1, math.ceil(warm_us / 1000))
    cold_ms = max(1, math.ceil(cold_us / 1000))
    billed_seconds = ((1 - cold_fraction) * warm_ms + cold_fraction * cold_ms) / 1000
    return (
        LAMBDA_EDGE_REQUEST
        + billed_seconds * EDGE_MEMORY_GB * LAMBDA_EDGE_GB_SECOND
        + CLOUDFRONT_HTTPS_REQUEST
    )


def ours_per_request(warm_us: float, cold_us: float, load: Load) -> float:
    return edge_request_dollars(warm_us, cold_us, load.cold_fraction) + (1 - load.cache_hit_ratio) * S3_GET


def ours_monthly(
    install: Install, warm_us: float, cold_us: float, upload_gets: int, upload_others: int, load: Load
) -> Monthly:
    """pypi-edge: edge + CloudFront + S3 per request, bytes out of CloudFront, the indexer per upload."""
    requests = load.installs * install.requests
    per_upload = (
        S3_PUT_LIST  # the publisher's PUT
        + upload_gets * S3_GET
        + upload_others * S3_PUT_LIST  # PUTs and the one LIST
        + 3 * SQS_REQUEST  # S3's send, Lambda's receive and delete
        + LAMBDA_REQUEST
        + load.indexer_seconds * INDEXER_MEMORY_GB * LAMBDA_GB_SECOND
    )
    return Monthly(
        requests=requests * ours_per_request(warm_us, cold_us, load),
        transfer=load.installs * install.bytes_sent / GB * CLOUDFRONT_GB_OUT,
        storage=load.stored_gb * S3_GB_MONTH,
        publishing=load.uploads * per_upload,
        endpoint=endpoint_monthly(warm_us, cold_us, load),
    )


def codeartifact_monthly(install: Install, load: Load) -> Monthly:
    """CodeArtifact for the same installs and uploads: requests, bytes out, storage."""
    return Monthly(
        requests=load.installs * install.requests * CODEARTIFACT_REQUEST,
        transfer=load.installs * install.bytes_sent / GB * CODEARTIFACT_GB_OUT,
        storage=load.stored_gb * CODEARTIFACT_GB_MONTH,
        publishing=0.0,  # no indexing step: what publishing costs is its API requests
        endpoint=load.uploads * CODEARTIFACT_REQUEST,
    )


# --- freshness: CloudFront invalidations (indexer/invalidate.py) ------------------------------


def invalidation_paths(load: Load, *, via_endpoint: bool) -> int:
    """Invalidation paths a month (counted in tests/test_indexer_invalidate.py: one rebuild sends
    `/<project>/*`, plus `/index.*` when the root entry moved, i.e. once per new version).

    Through S3 (CLI, aws s3 cp) a release's files arrive in one indexer batch: 2 paths a release.
    Through /legacy/ every file is rebuilt before its upload returns (1 path each, +1 for the
    root with the release's first file), and the S3 events then rebuild once more (1 path).
    """
    if via_endpoint:
        return load.uploads + 2 * load.releases
    return 2 * load.releases


def invalidation_dollars(paths: int) -> float:
    return max(0, paths - FREE_INVALIDATION_PATHS) * CLOUDFRONT_INVALIDATION_PATH


def upload_endpoint_per_file(load: Load) -> float:
    """$ per file published through /legacy/: CloudFront and Lambda@Edge for the POST, the
    upload function (billed while it waits for the synchronous refresh), and that extra indexer
    run (the S3 event's run is in `ours_monthly` already)."""
    return (
        CLOUDFRONT_HTTPS_REQUEST
        + LAMBDA_EDGE_REQUEST
        + LAMBDA_REQUEST
        + load.upload_seconds * UPLOAD_MEMORY_GB * LAMBDA_GB_SECOND
        + LAMBDA_REQUEST
        + load.indexer_seconds * INDEXER_MEMORY_GB * LAMBDA_GB_SECOND
    )


def endpoint_monthly(warm_us: float, cold_us: float, load: Load) -> float:
    """What the write side adds in a month: the files published through /legacy/
    (`upload_endpoint_per_file`, with the edge's measured duration and the body's trip to the
    origin), the invalidation paths of all releases beyond the free 1,000 (`invalidation_paths`),
    and trusted publishing: per job two viewer requests and one mint invocation."""
    edge = edge_request_dollars(warm_us, cold_us, load.cold_fraction)
    edge_duration = edge - LAMBDA_EDGE_REQUEST - CLOUDFRONT_HTTPS_REQUEST  # per_file has those two
    via_endpoint = load.uploads * load.endpoint_share
    per_file = (
        upload_endpoint_per_file(load) + edge_duration + load.upload_mb * 1e6 / GB * CLOUDFRONT_GB_TO_ORIGIN
    )
    paths = round(
        load.endpoint_share * invalidation_paths(load, via_endpoint=True)
        + (1 - load.endpoint_share) * invalidation_paths(load, via_endpoint=False)
    )
    per_mint = 2 * edge + LAMBDA_REQUEST + load.mint_seconds * UPLOAD_MEMORY_GB * LAMBDA_GB_SECOND
    return via_endpoint * per_file + invalidation_dollars(paths) + load.trusted_publish_jobs * per_mint


# --- CloudFront flat-rate pricing plans (issue 23) --------------------------------------------
#
# What AWS's own pages stored here confirm (read FLAT_RATE_READ):
# - a flat-rate plan "applies a fixed monthly rate to the associated resources instead of
#   usage-based charges"; CloudFront is the only plan family; tiers FREE, PRO, BUSINESS, PREMIUM,
#   each with usage levels (docs.aws.amazon.com: CloudFormation AWS::PricingPlanManager::Subscription;
#   Pricing Plan Manager API reference, CreateSubscription; AWS CLI pricing-plan-manager
#   create-subscription);
# - the per-distribution quotas on requests per second and data transfer rate do not apply to a
#   distribution on a flat-rate plan (docs.aws.amazon.com, CloudFront Developer Guide, Quotas);
# - pay-as-you-go's always-free tier: 1 TB out and 10,000,000 HTTP(S) requests a month; origin
#   fetches from AWS origins free; US transfer $0.085/GB for the first 10 TB, $0.080/GB for the
#   next 40 TB (aws.amazon.com/cloudfront/pricing, stored copy).
# What no stored AWS page confirms (the plans' own page, flat-rate-pricing-plan.html, is not
# stored here), taken from third-party reports of AWS's announcement of 2025-11-18 and marked
# unconfirmed wherever printed: the monthly prices, the allowances below, that exceeding an
# allowance brings no overage charge but possible throttling, and whether Lambda@Edge may run on
# a plan's distribution at all (reported unsupported at launch, "use CloudFront Functions";
# reported supported since March 2026) and, if it may, whether its invocations are included.
FLAT_RATE_READ = "2026-12-03"


@dataclass(frozen=True)
class FlatPlan:
    name: str
    monthly: float  # $ a month per distribution (unconfirmed, see above)
    requests: int  # allowance a month (unconfirmed)
    transfer_gb: float  # allowance a month, data out to viewers (unconfirmed)


FLAT_PLANS = (
    FlatPlan("Free", 0.0, 1_000_000, 100),
    FlatPlan("Pro", 15.0, 10_000_000, 50_000),
    FlatPlan("Business", 200.0, 125_000_000, 50_000),
    FlatPlan("Premium", 1_000.0, 500_000_000, 50_000),
)
FREE_TIER_GB_OUT = 1024  # always-free tier: 1 TB of data transfer out a month (confirmed)
FREE_TIER_REQUESTS = 10_000_000  # always-free tier: HTTP(S) requests a month (confirmed)
CLOUDFRONT_GB_OUT_NEXT_40TB = 0.080  # United States, 10–50 TB a month (confirmed)
TEAM_SIZES = (10, 50, 500)
PAY_AS_YOU_GO = "pay-as-you-go"


def transfer_dollars(gb: float, free_gb: float = 0.0) -> float:
    """CloudFront's US data transfer out: $0.085/GB up to 10 TB, then $0.080/GB (to 50 TB)."""
    billed = max(0.0, gb - free_gb)
    first = min(billed, 10 * 1024)
    return first * CLOUDFRONT_GB_OUT + (billed - first) * CLOUDFRONT_GB_OUT_NEXT_40TB


@dataclass(frozen=True)
class TeamMonth:
    """One team size's month on pay-as-you-go and on each flat-rate plan."""

    developers: int
    installs: int
    viewer_requests: int  # installs' requests plus the write side's viewer requests
    transfer_gb: float
    payg_list: float  # pay-as-you-go at list prices, no free tier (the cost table's model)
    payg: float  # pay-as-you-go after the always-free tier
    outside_plan: float  # what a plan leaves billed as before: edge function, S3, publishing
    plans: dict[str, float | None]  # plan -> $ a month (fee + outside_plan), None: does not fit
    pick: str


def team_month(
    developers: int, install: Install, warm_us: float, cold_us: float, upload_gets: int, upload_others: int,
    load: Load,
) -> TeamMonth:  # fmt: skip
    """A team of `developers` with the rest of `load` as modelled; the cheapest option that fits.

    Flat-rate plans are assumed to cover CloudFront's request fees and transfer out (their
    purpose) and nothing else: Lambda@Edge (requests and duration), S3 (GETs on misses, storage,
    the indexer's requests), SQS, Lambda and invalidations stay billed as on pay-as-you-go; the
    plans' S3 credits are left out. Whether Lambda@Edge is allowed on a plan is unconfirmed.
    """
    team = dataclasses.replace(load, developers=developers)
    m = ours_monthly(install, warm_us, cold_us, upload_gets, upload_others, team)
    writes = round(team.uploads * team.endpoint_share) + 2 * team.trusted_publish_jobs
    requests = team.installs * install.requests + writes
    gb = team.installs * install.bytes_sent / GB
    cloudfront_fees = requests * CLOUDFRONT_HTTPS_REQUEST
    list_transfer = m.transfer
    # Everything but CloudFront's request fees and transfer out (publishing bodies to the origin
    # stay in `endpoint`, a few cents).
    outside = m.total - list_transfer - team.installs * install.requests * CLOUDFRONT_HTTPS_REQUEST
    outside -= writes * CLOUDFRONT_HTTPS_REQUEST
    payg = (
        outside
        + max(0, requests - FREE_TIER_REQUESTS) * CLOUDFRONT_HTTPS_REQUEST
        + transfer_dollars(gb, FREE_TIER_GB_OUT)
    )
    payg_list = outside + cloudfront_fees + transfer_dollars(gb)
    plans: dict[str, float | None] = {
        p.name: (p.monthly + outside if requests <= p.requests and gb <= p.transfer_gb else None)
        for p in FLAT_PLANS
    }
    options = {PAY_AS_YOU_GO: payg, **{k: v for k, v in plans.items() if v is not None}}
    pick = min(options, key=lambda k: options[k])
    return TeamMonth(developers, team.installs, requests, gb, payg_list, payg, outside, plans, pick)
