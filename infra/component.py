"""`PrivateIndex`: the whole pypi-edge deployment, composed of one component per part.

    Storage         infra/storage.py       bucket (private, versioned) ──S3 event──▶ SQS (+ DLQ)
    UploadEndpoint  infra/upload.py        /legacy/ and /_/oidc/: a regional function behind a URL
    UserStore       infra/users.py         opt-in: a Cognito user pool the CLI manages at run time
    FallbackRedirect infra/fallback.py     opt-in: unknown projects → 307 to another index
    EdgeDistribution infra/distribution.py viewer-request Lambda@Edge + CloudFront + bucket policy
    Indexer         infra/indexer.py       SQS ──▶ indexer Lambda: static pages, invalidations

Read top to bottom, `PrivateIndex.__init__` is the order of creation, and each part takes only
values the parts above it produced.  Only this module imports the parts (the upload endpoint also
takes trusted publishing's bundle entry from `infra.trusted`); they share `infra.common`
(IAM documents, ARNs, names, the Lambda@Edge function factory), `infra.bundle` and `infra.wiring`.

One AWS provider: the stack's own (`aws:` config: region, credentials, profile, assumed roles,
endpoints, default tags).  What must live in us-east-1 says so with pulumi-aws 7's per-resource
`region` argument (`region=common.EDGE_REGION`); IAM and CloudFront are global.  To attach another
function to the distribution: create it with `common.lambda_at_edge(...)` (us-east-1, published,
kept on delete) and give its `qualified_arn` to the distribution.  A regional function (the upload
endpoint behind a function URL) is an ordinary `aws.lambda_.Function` and takes no `region`.

Import it from another program:

    from infra.component import PrivateIndex, PrivateIndexArgs
    index = PrivateIndex("pypi", PrivateIndexArgs(users=cfg.require_secret_object("users")))

Resource names and URNs: the parts are named after the index (the upload endpoint, the fallback
and trusted publishing after `<name>-upload`, `<name>-fallback`, `<name>-trusted`, as before the
split), so every resource keeps its logical name; the ones that moved one level down, into
Storage, EdgeDistribution and Indexer, carry an alias to their old URN (`common.moved_from`), so
updating a stack deployed before the split moves them in the state and replaces nothing.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pulumi
import pulumi_random as random

from edge import credentials
from infra import bundle, common
from infra.distribution import EdgeDistribution, EdgeDistributionArgs
from infra.fallback import FallbackRedirect, FallbackRedirectArgs
from infra.indexer import Indexer, IndexerArgs
from infra.salts import CredentialSalts
from infra.storage import Storage, StorageArgs
from infra.trusted import TrustedPublishing, TrustedPublishingArgs
from infra.upload import UploadEndpoint, UploadEndpointArgs
from infra.users import UserStore, UserStoreArgs

TYPE_TOKEN = "pypi-edge:index:PrivateIndex"

ONE_YEAR_SECONDS = common.ONE_YEAR_SECONDS
PRICE_CLASSES = ("PriceClass_100", "PriceClass_200", "PriceClass_All")
# The values CloudWatch Logs accepts for retentionInDays.
LOG_RETENTION_DAYS = frozenset(
    {1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653}
)


def example_user(users: Mapping[str, Any]) -> str:
    """The user name shown in the `pipInstall` output: the first person, never `__token__`.

    API tokens live under the `__token__` key of the same config (edge/credentials.py); with
    only tokens configured, `__token__` is what a client would send as user name.  With no static
    entry at all (everyone is in the user pool) it says USER.
    """
    if not users:
        return "USER"
    people = sorted(name for name in users if name != credentials.TOKEN_USER)
    return quote(people[0] if people else credentials.TOKEN_USER, safe="")


def pip_conf(index_url: str, user: str) -> str:
    """The `pipConf` output: pip.conf (pip.ini on Windows) with this index as the only index.

    With the user name only (`example_user`, already URL-quoted): pip asks for the password, or
    takes it from ~/.netrc or keyring ("Authentication", pip's user guide).
    """
    scheme, _, rest = index_url.partition("://")
    return f"[global]\nindex-url = {scheme}://{user}@{rest}\n"


def uv_toml(index_url: str) -> str:
    """The `uvToml` output: uv.toml (or the same under `[tool.uv]` in pyproject.toml) with this
    index as the default index, in place of PyPI (`default = true`).  Credentials come from
    UV_INDEX_PRIVATE_USERNAME / UV_INDEX_PRIVATE_PASSWORD (uv names them after the index's
    `name`), never from this file.  tests/test_e2e_outputs.py runs both snippets with pip and uv.
    """
    return f'[[index]]\nname = "private"\nurl = "{index_url}"\ndefault = true\n'


@dataclass
class PrivateIndexArgs:
    """Everything a stack can configure; defaults match the `config:` block of Pulumi.yaml."""

    users: pulumi.Input[Mapping[str, Any]]
    """user → password (keep it a secret Output).  Only salted PBKDF2 hashes leave this program."""
    realm: str = "pypi-edge"
    """The Basic-auth realm shown by browsers and pip."""
    domain: str | None = None
    """Optional custom host name (e.g. pypi.example.com); needs `certificate_arn`."""
    certificate_arn: str | None = None
    """ACM certificate for `domain`, in us-east-1 (a CloudFront requirement)."""
    price_class: str = "PriceClass_100"
    index_cache_seconds: int = 60
    """Cache-Control s-maxage the indexer writes on index pages (CloudFront's time; clients
    revalidate), and the CDN default TTL; changed pages are invalidated at once."""
    retain_bucket_on_delete: bool = True
    """Keep the bucket (and its versioning, encryption, public-access block) on `pulumi destroy`."""
    log_retention_days: int = 30
    noncurrent_version_expiry_days: int = 90
    """Days an overwritten or deleted object version is kept before S3 expires it."""
    trusted_publishers: Any = None
    """`trustedPublishers`: project → CI workflows that may publish it with no stored secret
    (upload/publishers.py); None or {} = trusted publishing off."""
    trusted_publishing_audience: str | None = None
    """The OIDC audience; default the `domain`, else a generated id of the deployment."""
    credentials_seed: str | None = None
    """Salt seed for the credential hashes; default: 32 random bytes made once per deployment and
    kept in the stack's state (so salts differ between deployments, and stay put between runs)."""
    source_root: Path = bundle.REPO_ROOT
    """Where edge/ and indexer/ (with indexer/requirements.txt) live."""
    bundle_dir: Path | None = None
    """Where bundles are written; default <source_root>/.bundles."""
    fallback_index_url: str | None = None
    """Opt-in: projects this index does not have are redirected there (infra.fallback)."""
    fallback_cache_seconds: int = 60
    """How long a fallback redirect may be reused by CloudFront and clients."""
    user_pool: str | None = None
    """Opt-in: `create` (a Cognito user pool made here) or an existing pool's id; the CLI then
    manages users and tokens there without a deploy (infra.users).  `users` may then be {}."""
    user_cache_seconds: int = 60
    """How long a function keeps a pool answer: the revocation bound at every edge location."""

    def validate(self) -> None:
        if bool(self.domain) != bool(self.certificate_arn):
            raise ValueError("domain and certificateArn go together: set both or neither")
        if self.certificate_arn and ":us-east-1:" not in self.certificate_arn:
            raise ValueError(
                "certificateArn must be an ACM certificate in us-east-1 (CloudFront requires it)"
            )
        if self.price_class not in PRICE_CLASSES:
            raise ValueError(f"priceClass must be one of {', '.join(PRICE_CLASSES)}")
        if not 0 <= self.index_cache_seconds <= ONE_YEAR_SECONDS:
            raise ValueError("indexCacheSeconds must be between 0 and one year")
        if self.log_retention_days not in LOG_RETENTION_DAYS:
            raise ValueError(f"logRetentionDays must be one of {sorted(LOG_RETENTION_DAYS)}")
        if self.noncurrent_version_expiry_days < 1:
            raise ValueError("noncurrentVersionExpiryDays must be at least 1")
        if not self.realm or '"' in self.realm:
            raise ValueError("realm must be non-empty and contain no double quote")
        if self.fallback_index_url:
            from edge.fallback import validate_url

            self.fallback_index_url = validate_url(self.fallback_index_url)
        if not 0 <= self.fallback_cache_seconds <= ONE_YEAR_SECONDS:
            raise ValueError("fallbackCacheSeconds must be between 0 and one year")
        if self.user_pool:
            from infra.users import validate as validate_user_pool

            validate_user_pool(self.user_pool, self.user_cache_seconds)


class PrivateIndex(pulumi.ComponentResource):
    """A private Python package index: S3 + CloudFront + Lambda@Edge + an S3→SQS→Lambda indexer."""

    storage: Storage
    users: UserStore | None
    upload: UploadEndpoint
    fallback: FallbackRedirect | None
    cdn: EdgeDistribution
    indexer: Indexer
    trusted_publishing: TrustedPublishing | None
    trusted_publishing_audience: pulumi.Output[str] | None
    host: pulumi.Output[str]
    index_url: pulumi.Output[str]
    pip_install: pulumi.Output[str]
    upload_url: pulumi.Output[str]
    pip_conf: pulumi.Output[str]
    uv_toml: pulumi.Output[str]

    def __init__(self, name: str, args: PrivateIndexArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__(TYPE_TOKEN, name, None, opts)
        args.validate()
        project, stack = pulumi.get_project(), pulumi.get_stack()
        bundle_dir = args.bundle_dir or args.source_root / ".bundles"
        child = pulumi.ResourceOptions(parent=self)

        # --- where the packages live -----------------------------------------------------------
        self.storage = Storage(
            name,
            StorageArgs(
                retain_on_delete=args.retain_bucket_on_delete,
                noncurrent_version_expiry_days=args.noncurrent_version_expiry_days,
            ),
            child,
        )
        bucket = self.storage.bucket

        # --- users who change without a deploy: the opt-in Cognito user pool ------------------
        # The edge and upload functions take its file (bundled) and its ARN (their one permission).
        self.users = None
        pool: dict[str, Any] = {}
        if args.user_pool:
            self.users = UserStore(
                f"{name}-users",
                UserStoreArgs(
                    user_pool=args.user_pool,
                    cache_seconds=args.user_cache_seconds,
                    retain_on_delete=args.retain_bucket_on_delete,
                ),
                child,
            )
            pool = {"user_pool_file": self.users.config_file, "user_pool_arn": self.users.pool_arn}
        # The password salts' seed for the static users: random per deployment, kept in the state
        # (infra/salts.py).
        self.salts: CredentialSalts | None = None
        if args.credentials_seed:
            seed: pulumi.Input[str] = args.credentials_seed
        else:
            self.salts = CredentialSalts(name, child)
            seed = self.salts.seed

        # --- the names of the regional functions ----------------------------------------------
        # The upload function invokes the indexer, which is made last (it needs the distribution):
        # it gets the indexer's name, chosen here, and never waits for the indexer itself
        # (infra/indexer.py).  Both names end in a random part kept in the state, so a second
        # deployment of this project and stack name in the same account and region gets its own
        # (`common.unique_function_name`).  The Lambda@Edge functions need none: they take no
        # explicit name, so Pulumi gives them a unique one, and renaming them would replace them,
        # leaving the old one behind until CloudFront drops its replicas (`common.lambda_at_edge`).
        self.name_suffix = random.RandomId(
            f"{name}-function-names", byte_length=common.UNIQUE_SUFFIX_BYTES, opts=child
        )
        indexer_name = common.unique_function_name(self.name_suffix.hex, project, stack, name, "indexer")
        upload_name = common.unique_function_name(self.name_suffix.hex, project, stack, name, "upload")

        # --- the upload endpoint --------------------------------------------------------------
        self.trusted_publishing = None
        self.trusted_publishing_audience = None
        trusted: dict[str, Any] = {}
        if args.trusted_publishers:
            self.trusted_publishing = TrustedPublishing(
                f"{name}-trusted",
                TrustedPublishingArgs(
                    publishers=args.trusted_publishers,
                    audience=args.trusted_publishing_audience or "",
                    domain=args.domain or "",
                ),
                opts=child,
            )
            self.trusted_publishing_audience = self.trusted_publishing.audience
            trusted = {
                "trusted_publishing_config": self.trusted_publishing.config_file,
                "trusted_publishing_environment": self.trusted_publishing.environment,
            }
        self.upload = UploadEndpoint(
            f"{name}-upload",
            UploadEndpointArgs(
                bucket_name=bucket.bucket,
                bucket_arn=bucket.arn,
                users=args.users,
                realm=args.realm,
                credentials_seed=seed,
                indexer_function_name=indexer_name,
                function_name=upload_name,
                bundle_name=f"{common.joined('upload', stack, name)}.zip",
                log_retention_days=args.log_retention_days,
                source_root=args.source_root,
                bundle_dir=bundle_dir,
                **trusted,
                **pool,
            ),
            opts=child,
        )

        # --- the opt-in fallback redirect -----------------------------------------------------
        self.fallback = None
        if args.fallback_index_url:
            self.fallback = FallbackRedirect(
                f"{name}-fallback",
                FallbackRedirectArgs(
                    url=args.fallback_index_url,
                    cache_seconds=args.fallback_cache_seconds,
                    bundle_dir=bundle_dir,
                    bundle_name=f"{common.joined('fallback', stack, name)}.zip",
                    source_root=args.source_root,
                ),
                child,
            )

        # --- the viewer-request function and the distribution ---------------------------------
        self.cdn = EdgeDistribution(
            name,
            EdgeDistributionArgs(
                users=args.users,
                realm=args.realm,
                credentials_seed=seed,
                edge_bundle_name=f"{common.joined('edge', stack, name)}.zip",
                comment=f"pypi-edge {project}/{stack}",
                bucket_id=bucket.id,
                bucket_arn=bucket.arn,
                bucket_regional_domain_name=bucket.bucket_regional_domain_name,
                bucket_settings=self.storage.access_settings,
                index_cache_seconds=args.index_cache_seconds,
                price_class=args.price_class,
                domain=args.domain,
                certificate_arn=args.certificate_arn,
                upload_origin=self.upload.origin,
                upload_path_patterns=self.upload.path_patterns,
                origin_response_arn=self.fallback.qualified_arn if self.fallback else None,
                source_root=args.source_root,
                bundle_dir=bundle_dir,
                **pool,
            ),
            child,
        )
        distribution = self.cdn.distribution
        self.host = pulumi.Output.from_input(args.domain) if args.domain else distribution.domain_name

        # --- the indexer: events in, pages out, this distribution's cache invalidated ----------
        self.indexer = Indexer(
            name,
            IndexerArgs(
                function_name=indexer_name,
                bucket_name=bucket.bucket,
                bucket_arn=bucket.arn,
                queue_arn=self.storage.queue.arn,
                distribution_id=distribution.id,
                distribution_arn=distribution.arn,
                public_url=pulumi.Output.concat("https://", self.host),
                index_cache_seconds=args.index_cache_seconds,
                log_retention_days=args.log_retention_days,
                source_root=args.source_root,
                bundle_dir=bundle_dir,
            ),
            child,
        )

        # --- outputs -------------------------------------------------------------------------
        self.bucket = bucket
        self.queue = self.storage.queue
        self.dead_letter_queue = self.storage.dead_letter_queue
        self.distribution = distribution
        self.edge_function = self.cdn.edge_function
        self.indexer_function = self.indexer.function
        self.index_url = pulumi.Output.concat("https://", self.host, "/simple/")
        # The first user name (not secret once alone; the password never leaves the config).
        first_user = pulumi.Output.unsecret(pulumi.Output.from_input(args.users).apply(example_user))
        # --index-url, not --extra-index-url: with an extra index pip also asks PyPI for every
        # name and takes the highest version wherever it is (README, "Dependency confusion").
        self.pip_install = pulumi.Output.concat(
            "pip install --index-url https://", first_user, "@", self.host, "/simple/ <package>"
        )
        # Where twine, uv and poetry publish (the upload function's behaviour, infra/upload.py).
        self.upload_url = pulumi.Output.concat("https://", self.host, "/legacy/")
        # Ready-to-paste client configuration: a user name at most, never a password (pip asks,
        # or reads ~/.netrc or keyring; uv reads UV_INDEX_PRIVATE_USERNAME/_PASSWORD).
        self.pip_conf = pulumi.Output.all(self.index_url, first_user).apply(lambda v: pip_conf(*v))
        self.uv_toml = self.index_url.apply(uv_toml)
        self.bucket_name = bucket.bucket
        self.distribution_id = distribution.id
        self.edge_function_version_arn = self.edge_function.qualified_arn
        self.edge_function_name = self.edge_function.name
        self.user_pool_id = self.users.pool_id if self.users else None
        self.register_outputs(
            {
                "user_pool_id": self.user_pool_id,
                "trusted_publishing_audience": self.trusted_publishing_audience,
                "bucket_name": self.bucket_name,
                "distribution_id": self.distribution_id,
                "distribution_domain_name": distribution.domain_name,
                "host": self.host,
                "index_url": self.index_url,
                "pip_install": self.pip_install,
                "upload_url": self.upload_url,
                "pip_conf": self.pip_conf,
                "uv_toml": self.uv_toml,
                "edge_function_version_arn": self.edge_function_version_arn,
                "edge_function_name": self.edge_function_name,
                "indexer_function_name": self.indexer_function.name,
                "upload_function_name": self.upload.function.name,
                "queue_url": self.queue.url,
                "dead_letter_queue_url": self.dead_letter_queue.url,
            }
        )
