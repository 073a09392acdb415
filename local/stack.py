"""Start and stop the whole local stack; used by `python -m local`, the tests and the bench."""

from __future__ import annotations

import errno
import os
import socket
import tempfile
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from moto.server import ThreadedMotoServer

from edge import credentials
from local import aws
from local.cdn import CDN
from local.worker import Worker

DEFAULT_USER = ("pypi", "pypi")
REALM = "pypi-edge (local)"


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
    users: dict[str, str] = field(default_factory=lambda: dict([DEFAULT_USER]))
    host: str = "127.0.0.1"
    batch_window: float = 0.5  # AWS waits up to wiring.BATCH_WINDOW_SECONDS; locally we are impatient
    fallback_index_url: str | None = None  # the opt-in fallback index (edge/fallback.py); None = off
    _threads: list[threading.Thread] = field(default_factory=list, init=False)
    _tmp: Any = field(default=None, init=False)

    @property
    def s3_endpoint(self) -> str:
        return f"http://{self.host}:{self.s3_port}"

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def index_url(self, user: str | None = None, password: str | None = None) -> str:
        if user is None:
            user, password = next(iter(self.users.items()))
        return f"http://{user}:{password}@{self.host}:{self.port}/simple/"

    def start(self) -> LocalStack:
        check_port(self.host, self.port)
        check_port(self.host, self.s3_port)
        # The edge bundle reads hashes from a file; the deploy writes it into the bundle, the
        # local stack into a private temp dir, with the same function.
        self._tmp = tempfile.TemporaryDirectory(prefix="pypi-edge-local-")
        cred_path = Path(self._tmp.name) / credentials.FILE_NAME
        cred_path.write_bytes(credentials.render_file(self.users, REALM, seed="local"))
        os.environ["PYPI_EDGE_CREDENTIALS"] = str(cred_path)
        # The indexer's boto3 client finds the local S3 through the standard endpoint variable.
        os.environ["AWS_ENDPOINT_URL_S3"] = self.s3_endpoint
        os.environ["AWS_ENDPOINT_URL_SQS"] = self.s3_endpoint
        os.environ["AWS_ACCESS_KEY_ID"] = aws.CREDENTIALS["aws_access_key_id"]
        os.environ["AWS_SECRET_ACCESS_KEY"] = aws.CREDENTIALS["aws_secret_access_key"]
        os.environ["AWS_DEFAULT_REGION"] = aws.REGION
        os.environ.pop("AWS_PROFILE", None)
        os.environ.pop("AWS_SESSION_TOKEN", None)

        self.moto = ThreadedMotoServer(ip_address=self.host, port=self.s3_port, verbose=False)
        self.moto.start()
        self.resources = aws.provision(self.s3_endpoint, self.bucket)

        from edge import handler as edge_handler

        edge_handler.reload()  # it may have been imported before the variable was set

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
        )
        self.worker.start()
        self._threads = [cdn_thread, self.worker]
        return self

    def stop(self) -> None:
        if getattr(self, "worker", None):
            self.worker.stop()
        if getattr(self, "cdn", None):
            self.cdn.shutdown()
            self.cdn.server_close()
        for t in self._threads:
            t.join(timeout=5)
        if getattr(self, "moto", None):
            self.moto.stop()
        if self.fallback_index_url:
            os.environ.pop("PYPI_EDGE_FALLBACK", None)
        if self._tmp is not None:
            self._tmp.cleanup()

    def __enter__(self) -> LocalStack:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
