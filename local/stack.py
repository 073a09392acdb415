"""Start and stop the whole local stack; used by `python -m local`, the tests and the bench."""

from __future__ import annotations

import errno
import logging
import os
import secrets
import socket
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from edge import credentials
from indexer.build import PUBLIC_URL_ENV
from indexer.store import PAGE_CACHE_SECONDS_DEFAULT
from local import aws
from local.cache import CachePolicy, EdgeCache, InvalidationAPI
from local.cdn import CDN
from local.datadir import BucketStore, DataDir
from local.s3front import S3Server, restore
from local.worker import LambdaContext, Worker, event_keys

DEFAULT_USER = ("pypi", "pypi")
# `make serve`'s user may publish every project, so the twine/uv commands in the banner work.
DEFAULT_USERS: dict[str, Any] = {DEFAULT_USER[0]: {"password": DEFAULT_USER[1], "publish": ["*"]}}
REALM = "pypi-edge (local)"
DISTRIBUTION_ID = "LOCAL"  # the id the viewer-request events name, too


def password_of(spec: Any) -> str:
    """A user's password from its config entry (a string, or {"password": ..., "publish": [...]})."""
    return spec if isinstance(spec, str) else spec["password"]


log = logging.getLogger("local.stack")


def local_refresher(bucket: str, key: str, timeout: float | None = None) -> None:
    """What the deployed upload function does with the indexer function, in-process (the local
    upload function gets no Lambda context, so `timeout` is None: nothing to bound)."""
    from indexer.handler import handler as indexer_handler
    from upload.handler import s3_event

    indexer_handler(s3_event(bucket, key, 0), None)


class PortInUse(RuntimeError):
    pass


def check_port(host: str, port: int) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        # SO_REUSEADDR as the servers use it: a port in TIME_WAIT after a restart is free, but
        # on Linux a port with a live listener still is not.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError as exc:
            if exc.errno in (errno.EADDRINUSE, errno.EACCES):
                raise PortInUse(f"port {port} on {host} is already in use (another local stack?)") from exc
            raise


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


@dataclass
class LocalStack:
    port: int = 8080
    s3_port: int = 9000
    bucket: str = "pypi-local"
    # The credentials config, exactly as Pulumi's `users` (edge.credentials): readers, publishers
    # and `__token__` entries.
    users: dict[str, Any] = field(default_factory=lambda: dict(DEFAULT_USERS))
    host: str = "127.0.0.1"
    batch_window: float = 0.5  # AWS waits up to wiring.BATCH_WINDOW_SECONDS; locally we are impatient
    fallback_index_url: str | None = None  # the opt-in fallback index (edge/fallback.py); None = off
    # Trusted publishing: `trustedPublishers` as in Pulumi's config ({} = off), the audience, and
    # an OIDC issuer to trust instead of GitHub's and GitLab's (tests; see upload/oidc.py).
    trusted_publishers: dict[str, Any] = field(default_factory=dict)
    oidc_audience: str = "pypi-edge-local"
    test_issuer: str | None = None
    # Where the bucket is kept across restarts (local/datadir.py); None: in memory only.
    data_dir: Path | None = None
    # The user store: "static" (only `users`), or "cognito": moto's Cognito on `cognito_port` (0: a
    # free port) holding `pool_seed`, beside the static `users` (local/userstore.py).
    user_store: str = "static"
    pool_seed: Any = None  # local.userstore.PoolSeed
    user_cache_seconds: int = 60
    cognito_port: int = 0
    _threads: list[threading.Thread] = field(default_factory=list, init=False)
    _tmp: Any = field(default=None, init=False)
    _data: DataDir | None = field(default=None, init=False)
    store: BucketStore | None = field(default=None, init=False)
    restored_keys: int = field(default=0, init=False)  # keys loaded from the data dir at start
    rebuilt_at_start: list[str] = field(default_factory=list, init=False)  # projects pending at the last stop

    @property
    def s3_endpoint(self) -> str:
        return f"http://{self.host}:{self.s3_port}"

    @property
    def data_path(self) -> Path | None:
        """The data dir in use (absolute), or None when the bucket lives in memory only."""
        return self._data.path if self._data is not None else None

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def index_url(self, user: str | None = None, password: str | None = None) -> str:
        if user is None:
            user, spec = next((u, s) for u, s in self.users.items() if u != credentials.TOKEN_USER)
            password = password_of(spec)
        return f"http://{user}:{password}@{self.host}:{self.port}/simple/"

    def start(self) -> LocalStack:
        # Port 0: any free port, picked now, so the banner, the pages' public URL and the pool's
        # settings all name the one the servers bind.
        self.port = self.port or free_port(self.host)
        self.s3_port = self.s3_port or free_port(self.host)
        check_port(self.host, self.port)
        check_port(self.host, self.s3_port)
        if self.data_dir is not None:
            self._data = DataDir(self.data_dir).open()  # DataDirError: not ours, or in use
            self.store = self._data.bucket(self.bucket)
        # The edge bundle reads hashes from a file; the deploy writes it into the bundle, the
        # local stack into a private temp dir, with the same function.
        self._tmp = tempfile.TemporaryDirectory(prefix="pypi-edge-local-")
        cred_path = Path(self._tmp.name) / credentials.FILE_NAME
        raw = credentials.render_file(
            self.users, REALM, seed="local", allow_empty=self.user_store == "cognito"
        )
        cred_path.write_bytes(raw)
        os.environ["PYPI_EDGE_CREDENTIALS"] = str(cred_path)
        # The indexer's boto3 client finds the local S3 through the standard endpoint variable.
        os.environ["AWS_ENDPOINT_URL_S3"] = self.s3_endpoint
        os.environ["AWS_ENDPOINT_URL_SQS"] = self.s3_endpoint
        os.environ["AWS_ACCESS_KEY_ID"] = aws.CREDENTIALS["aws_access_key_id"]
        os.environ["AWS_SECRET_ACCESS_KEY"] = aws.CREDENTIALS["aws_secret_access_key"]
        os.environ["AWS_DEFAULT_REGION"] = aws.REGION
        os.environ.pop("AWS_PROFILE", None)
        os.environ.pop("AWS_SESSION_TOKEN", None)

        # The indexer keeps one S3 client per process: a stack started earlier in this process
        # (tests, the bench) left one bound to its own, stopped, endpoint.
        from indexer import handler as indexer_handler

        indexer_handler.s3_client.cache_clear()
        # moto's S3+SQS server behind the layer that adds the events moto leaves out and writes
        # the bucket through to the data dir (local/s3front.py).
        self.moto = S3Server(self.host, self.s3_port, self.bucket, aws.REGION, self.store).start()
        self.resources = aws.provision(self.s3_endpoint, self.bucket)
        if self.store is not None:
            self.restored_keys = restore(self.bucket, self.store, aws.REGION)
        self.moto.front.start_watching()
        # What the deploy's aws.lambda_.Invocation does: the pages' static assets and, in a bucket
        # without one, an empty root index, so /simple/ is a 200 from the first request.
        indexer_handler.handler(
            {"action": indexer_handler.INIT_ACTION, "bucket": self.bucket}, LambdaContext()
        )
        pool_file = self._start_user_store()

        from edge import handler as edge_handler

        edge_handler.reload()  # it may have been imported before the variable was set

        from upload import handler as upload_handler
        from upload import oidc
        from upload.publishers import parse_publishers
        from upload.remote import presign_client

        # The upload function as deployed: same credentials file, a secret only the CDN knows,
        # and the indexer called in-process where AWS would invoke the indexer function.
        origin_secret = secrets.token_urlsafe(16)
        verifier = credentials.Verifier()
        verifier.configure(raw)
        if pool_file is not None:
            from edge import userpool

            verifier.pool = userpool.PoolVerifier(userpool.load(pool_file))  # its own container cache
        trusted = None
        if self.trusted_publishers:
            # A fresh signing key per run, as the deployment generates one per stack.
            trusted = oidc.Settings(
                audience=self.oidc_audience,
                key=secrets.token_bytes(32),
                publishers=parse_publishers(self.trusted_publishers),
                test_issuer=self.test_issuer,
            )
        upload_handler.configure(
            upload_handler.Config(
                bucket=self.bucket,
                origin_secret=origin_secret,
                s3=aws.client("s3", self.s3_endpoint),
                presigner=presign_client(aws.REGION, self.s3_endpoint, **aws.CREDENTIALS),
                refresher=local_refresher,
                verifier=verifier,
                trusted=trusted,
                minted=oidc.minted_verifier(trusted),
            )
        )
        # CloudFront's cache, per the deployed cache policy, emptied by the indexer's invalidations
        # through the CloudFront API call it makes in AWS (endpoint: the stand-in's, on a free port).
        self.cache = EdgeCache(CachePolicy(default_ttl=PAGE_CACHE_SECONDS_DEFAULT))
        self.cloudfront_api = InvalidationAPI((self.host, 0), self.cache, DISTRIBUTION_ID)
        os.environ["AWS_ENDPOINT_URL_CLOUDFRONT"] = self.cloudfront_api.url
        os.environ["PYPI_EDGE_DISTRIBUTION_ID"] = DISTRIBUTION_ID
        # The index's public URL, which the pages show in their install commands (in AWS: the
        # custom domain or the CloudFront name, set by the Pulumi program).
        os.environ[PUBLIC_URL_ENV] = self.url
        api_thread = threading.Thread(
            target=self.cloudfront_api.serve_forever, name="cloudfront-api", daemon=True
        )
        api_thread.start()

        origin_response = None
        if self.fallback_index_url:
            # Configured like the deployed function: a file beside the credentials, one writer.
            from edge import fallback

            fallback_path = Path(self._tmp.name) / fallback.FILE_NAME
            fallback_path.write_bytes(fallback.render_file(self.fallback_index_url))
            os.environ[fallback.ENV_VAR] = str(fallback_path)
            fallback.reload()
            origin_response = fallback.handler
        self.cdn = CDN(
            (self.host, self.port),
            aws.client("s3", self.s3_endpoint),
            self.bucket,
            edge_handler.handler,
            upload=upload_handler.handler,
            origin_secret=origin_secret,
            cache=self.cache,
            origin_response=origin_response,
        )
        cdn_thread = threading.Thread(target=self.cdn.serve_forever, name="cdn", daemon=True)
        cdn_thread.start()
        self.worker = Worker(
            aws.client("sqs", self.s3_endpoint),
            self.resources.queue_url,
            self.resources.queue_arn,
            batch_window=self.batch_window,
            region=aws.REGION,
            on_batch=self._settle if self.store is not None else None,
        )
        self.worker.start()
        self._threads = [api_thread, cdn_thread, self.worker]
        if self.store is not None:
            self._rebuild_pending()
        return self

    def _start_user_store(self) -> bytes | None:
        """moto's Cognito, seeded, and the pool file the functions read (None: static users only)."""
        from edge import userpool

        os.environ.pop(userpool.ENV_VAR, None)  # a stack started earlier in this process set it
        self.cognito = None
        if self.user_store != "cognito":
            return None
        from local.userstore import CognitoStore, PoolSeed

        if self.cognito_port:
            check_port(self.host, self.cognito_port)
        self.cognito = CognitoStore(self.host, self.cognito_port or free_port(self.host)).start()
        self.cognito.seed(self.pool_seed or PoolSeed())
        pool_file = self.cognito.settings_file(self.user_cache_seconds)
        path = Path(self._tmp.name) / userpool.FILE_NAME
        path.write_bytes(pool_file)
        os.environ[userpool.ENV_VAR] = str(path)
        return pool_file

    def _settle(self, messages: list[dict[str, Any]], failed: set[str], started_ns: int) -> None:
        """The worker ran the indexer on a batch: its folders are no longer pending (local/datadir.py)."""
        assert self.store is not None
        done: set[str] = set()
        retried: set[str] = set()
        for message in messages:
            folders = {key.partition("/")[0] for key in event_keys(message["Body"]) if "/" in key}
            (retried if message["MessageId"] in failed else done).update(folders)
        self.store.settle(done - retried, started_ns)

    def _rebuild_pending(self) -> None:
        """Rebuild the projects whose changes were kept but not indexed before the last stop.

        In AWS their events would still wait in SQS; here the queue starts empty, so the data dir
        remembers them instead (BucketStore.mark), and every other page is kept as it was.
        """
        assert self.store is not None
        for pending in self.store.pending():
            started = time.time_ns()
            try:
                local_refresher(self.bucket, pending.key)
            except Exception:
                log.exception("could not rebuild %s at start; it stays pending", pending.folder)
                continue
            self.store.settle([pending.folder], started)
            self.rebuilt_at_start.append(pending.folder)

    def stop(self) -> None:
        if getattr(self, "worker", None):
            self.worker.stop()
        if getattr(self, "cdn", None):
            self.cdn.shutdown()
            self.cdn.server_close()
        if getattr(self, "cloudfront_api", None):
            self.cloudfront_api.shutdown()
            self.cloudfront_api.server_close()
            # Later work in this process must not send invalidations to a stopped stand-in.
            if os.environ.get("AWS_ENDPOINT_URL_CLOUDFRONT") == self.cloudfront_api.url:
                os.environ.pop("AWS_ENDPOINT_URL_CLOUDFRONT", None)
                os.environ.pop("PYPI_EDGE_DISTRIBUTION_ID", None)
                os.environ.pop(PUBLIC_URL_ENV, None)
        for t in self._threads:
            t.join(timeout=5)
        if getattr(self, "moto", None):
            self.moto.stop()
            # Nor to the stopped S3 and SQS (boto3 reads these variables for every new client).
            for var in ("AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL_SQS"):
                if os.environ.get(var) == self.s3_endpoint:
                    os.environ.pop(var, None)
        if self._data is not None:
            self._data.close()
        if getattr(self, "cognito", None):
            self.cognito.stop()
            os.environ.pop("PYPI_EDGE_USERPOOL", None)
            # The edge function is a module of this process: later work in it (tests sharing an
            # xdist worker) must not ask the stopped pool, and get 503s.
            from edge import handler as edge_handler

            edge_handler.configure_pool(None)
        if self.fallback_index_url:
            os.environ.pop("PYPI_EDGE_FALLBACK", None)
        if self._tmp is not None:
            self._tmp.cleanup()

    def __enter__(self) -> LocalStack:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
