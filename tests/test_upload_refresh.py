"""The upload function's synchronous page refresh is bounded by the time its invocation has left:
a slow indexer never turns a stored upload into a failure (issue 25, item 2)."""

from __future__ import annotations

import http.server
import json
import logging
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest

from local.stack import free_port
from tests.conftest import BUCKET
from tests.distributions import make_wheel
from tests.upload_helpers import basic, install_config, upload_event
from upload import handler as upload

CI = basic("ci", "ci:pw")
HOLD_SECONDS = 20  # how long the slow indexer would take; the test never waits for it


class Context:
    """The part of the Lambda context the function reads."""

    def __init__(self, seconds_left: float) -> None:
        self.millis = int(seconds_left * 1000)

    def get_remaining_time_in_millis(self) -> int:
        return self.millis


@pytest.fixture(autouse=True)
def frozen_clock(monkeypatch: pytest.MonkeyPatch) -> None:
    """The function's budget arithmetic on a clock that stands still, so the time this machine
    takes to parse and store the upload does not eat the budget a test gives; the indexer call
    itself still waits on real sockets."""
    now = time.monotonic()
    monkeypatch.setattr(upload, "_clock", lambda: now)


class Recorder:
    def __init__(self) -> None:
        self.timeouts: list[float | None] = []

    def __call__(self, bucket: str, key: str, timeout: float | None = None) -> None:
        self.timeouts.append(timeout)


class SlowLambdaAPI(http.server.ThreadingHTTPServer):
    """The Lambda Invoke API of an indexer whose rebuild takes HOLD_SECONDS: it takes the request
    and answers only when released (or after HOLD_SECONDS)."""

    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", free_port()), _SlowInvoke)
        self.invocations: list[tuple[str, dict]] = []
        self.release = threading.Event()


class _SlowInvoke(http.server.BaseHTTPRequestHandler):
    server: SlowLambdaAPI

    def do_POST(self) -> None:
        payload = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        self.server.invocations.append((self.path, payload))
        self.server.release.wait(HOLD_SECONDS)
        body = b"null"
        try:
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
        except OSError:
            pass  # the caller stopped waiting

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def slow_indexer(monkeypatch: pytest.MonkeyPatch, aws_env: None) -> Iterator[SlowLambdaAPI]:
    server = SlowLambdaAPI()
    threading.Thread(target=server.serve_forever, daemon=True).start()
    # The client the upload function makes finds the endpoint as boto3 does in any environment.
    monkeypatch.setenv("AWS_ENDPOINT_URL_LAMBDA", f"http://127.0.0.1:{server.server_address[1]}")
    yield server
    server.release.set()
    server.shutdown()
    server.server_close()


@pytest.fixture
def config(s3: Any) -> Iterator[upload.Config]:
    yield install_config(s3, Recorder())
    upload.configure(None)


def publish(context: Any = None) -> dict:
    filename, data = make_wheel("acme-widgets", "1.0")[:2]
    return upload.handler(upload_event(filename, data, "acme-widgets", "1.0", auth=CI), context)


def stored(s3: Any) -> list[str]:
    """The project keys (not the publishing core's private identity claims, `_claims/`)."""
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket=BUCKET).get("Contents", [])]
    return [k for k in keys if not k.startswith("_claims/")]


def test_a_rebuild_longer_than_the_time_left_answers_200_and_says_indexing_continues(
    config, s3, slow_indexer
):
    config.refresher = upload.LambdaRefresher("pypi-edge-dev-indexer")
    seconds_left = upload.REFRESH_MARGIN_SECONDS + 0.5

    resp = publish(Context(seconds_left))

    assert resp["statusCode"] == 200
    assert "published acme-widgets/acme_widgets-1.0-py3-none-any.whl; indexing continues" in resp["body"]
    assert stored(s3) == ["acme-widgets/acme_widgets-1.0-py3-none-any.whl"]
    # The indexer was asked once (no retry after the timeout) and was still working when the
    # upload answered: the function did not wait for it.
    [(path, payload)] = slow_indexer.invocations
    assert path == "/2015-03-31/functions/pypi-edge-dev-indexer/invocations"
    assert payload["Records"][0]["s3"]["object"]["key"] == "acme-widgets/acme_widgets-1.0-py3-none-any.whl"
    assert not slow_indexer.release.is_set()


def test_with_no_time_left_the_indexer_is_not_asked_and_the_upload_still_succeeds(config, s3, caplog):
    with caplog.at_level(logging.WARNING, logger="pypi_edge.upload"):
        resp = publish(Context(upload.REFRESH_MARGIN_SECONDS - 1))

    assert resp["statusCode"] == 200
    assert "indexing continues" in resp["body"]
    assert stored(s3) == ["acme-widgets/acme_widgets-1.0-py3-none-any.whl"]
    assert config.refresher.timeouts == []
    assert "no time left to refresh the pages" in caplog.text


def test_the_refresh_gets_the_time_left_less_the_margin(config, s3):
    resp = publish(Context(10))

    assert resp["statusCode"] == 200 and "indexing continues" not in resp["body"]
    [timeout] = config.refresher.timeouts
    assert timeout == 10 - upload.REFRESH_MARGIN_SECONDS


def test_without_a_lambda_context_nothing_bounds_the_refresh(config, s3):
    publish()
    assert config.refresher.timeouts == [None]


def test_a_failed_refresh_answers_200_and_says_indexing_continues(config, s3):
    def fails(bucket: str, key: str, timeout: float | None = None) -> None:
        raise RuntimeError("indexer exploded")

    config.refresher = fails
    resp = publish(Context(10))
    assert resp["statusCode"] == 200 and "indexing continues" in resp["body"]


def test_the_lambda_client_never_retries_and_waits_no_longer_than_the_timeout(monkeypatch, aws_env):
    made: list[Any] = []

    def client(service: str, config: Any = None) -> Any:
        made.append(config)
        return object()

    monkeypatch.setattr("boto3.client", client)
    refresher = upload.LambdaRefresher("pypi-edge-dev-indexer")

    first = refresher.client(7.9)
    assert refresher.client(7.8) is first  # the same quarter second: the same client
    assert refresher.client(0.3) is not first
    unbounded = refresher.client(None)

    bounded, short, _ = made
    for config, limit in ((bounded, 7.9), (short, 0.3)):
        assert config.retries == {"total_max_attempts": 1}
        assert config.connect_timeout > 0 and config.read_timeout > 0
        assert config.connect_timeout + config.read_timeout <= limit
    assert made[2].retries == {"total_max_attempts": 1}  # unbounded in time, still no retry
    assert refresher.client(None) is unbounded
