"""The local stack: wiring identical to the deploy, the worker's SQS semantics, the CDN's S3 rules."""

from __future__ import annotations

import json
import re
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from typing import Any
from urllib.parse import unquote_plus

import boto3
import pytest
from moto import mock_aws

from infra import wiring
from local import aws
from local.cdn import key_for_uri, viewer_request_event
from local.worker import Worker
from tests.e2e import ROOT, clean_env

# --- the wiring (moto in-process) -------------------------------------------------------------


@pytest.fixture
def provisioned(aws_env: None) -> Any:
    with mock_aws():
        s3 = boto3.client("s3", region_name=aws.REGION)
        sqs = boto3.client("sqs", region_name=aws.REGION)
        resources = aws.provision(None, "pypi-wiring")  # type: ignore[arg-type]  # default endpoint = moto
        yield s3, sqs, resources


def test_bucket_notification_is_the_shared_wiring(provisioned):
    s3, _, resources = provisioned
    config = s3.get_bucket_notification_configuration(Bucket="pypi-wiring")
    got = sorted(
        (c["Id"], tuple(sorted(c["Events"])), c["Filter"]["Key"]["FilterRules"][0]["Value"])
        for c in config["QueueConfigurations"]
    )
    want = sorted(
        (c["Id"], tuple(sorted(c["Events"])), c["Filter"]["Key"]["FilterRules"][0]["Value"])
        for c in wiring.queue_configurations(resources.queue_arn)
    )
    assert got == want
    assert {v for _, _, v in got} == {".whl", ".tar.gz", ".zip", ".yanked", ".project-status"}


def test_queue_redrives_to_the_dead_letter_queue_and_admits_only_the_bucket(provisioned):
    _, sqs, resources = provisioned
    attrs = sqs.get_queue_attributes(QueueUrl=resources.queue_url, AttributeNames=["All"])["Attributes"]
    dlq_arn = sqs.get_queue_attributes(QueueUrl=resources.dlq_url, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    assert json.loads(attrs["RedrivePolicy"]) == {"deadLetterTargetArn": dlq_arn, "maxReceiveCount": 5}
    assert attrs["VisibilityTimeout"] == str(wiring.QUEUE_VISIBILITY_TIMEOUT_SECONDS)
    (statement,) = json.loads(attrs["Policy"])["Statement"]
    assert statement["Condition"]["ArnEquals"]["aws:SourceArn"] == "arn:aws:s3:::pypi-wiring"


def test_bucket_is_versioned(provisioned):
    s3, _, _ = provisioned
    assert s3.get_bucket_versioning(Bucket="pypi-wiring")["Status"] == "Enabled"


def test_an_upload_reaches_the_queue_as_an_s3_event(provisioned):
    s3, sqs, resources = provisioned
    s3.put_object(Bucket="pypi-wiring", Key="demo/demo-1.0+local-py3-none-any.whl", Body=b"x")
    s3.put_object(Bucket="pypi-wiring", Key="demo/index.html", Body=b"ignored by the filter")
    bodies = [
        json.loads(m["Body"])
        for m in sqs.receive_message(QueueUrl=resources.queue_url, MaxNumberOfMessages=10).get("Messages", [])
    ]
    keys = [r["s3"]["object"]["key"] for b in bodies for r in b.get("Records", [])]
    # URL-encoded, as AWS sends it (moto also encodes the "/", which AWS leaves alone).
    assert len(keys) == 1 and "%2B" in keys[0]
    assert unquote_plus(keys[0]) == "demo/demo-1.0+local-py3-none-any.whl"
    assert any(b.get("Event") == "s3:TestEvent" for b in bodies)  # sent when the wiring was made


# --- the worker ----------------------------------------------------------------------------------


def test_worker_deletes_only_the_messages_the_handler_did_not_fail(provisioned):
    _, sqs, resources = provisioned
    for n in range(3):
        sqs.send_message(QueueUrl=resources.queue_url, MessageBody=json.dumps({"n": n}))
    seen: list[dict[str, Any]] = []

    def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
        seen.extend(event["Records"])
        bad = [r["messageId"] for r in event["Records"] if json.loads(r["body"]).get("n") == 1]
        return {"batchItemFailures": [{"itemIdentifier": i} for i in bad]}

    worker = Worker(
        sqs, resources.queue_url, resources.queue_arn, batch_window=0.1, region="us-east-1", handler=handler
    )
    assert worker.poll_once() == 4  # ours and the s3:TestEvent the notification set-up sent
    assert {r["eventSource"] for r in seen} == {"aws:sqs"}
    assert {r["eventSourceARN"] for r in seen} == {resources.queue_arn}
    attrs = sqs.get_queue_attributes(QueueUrl=resources.queue_url, AttributeNames=["All"])["Attributes"]
    assert attrs["ApproximateNumberOfMessages"] == "0"
    assert attrs["ApproximateNumberOfMessagesNotVisible"] == "1"  # the failed one, back after the timeout


# --- the CDN's view of S3 ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("uri", "key"),
    [
        ("/p/p-1.0%2Blocal-py3-none-any.whl", "p/p-1.0+local-py3-none-any.whl"),
        ("/p/p-1.0+local-py3-none-any.whl", "p/p-1.0 local-py3-none-any.whl"),  # S3 reads "+" as a space
        ("/index.html", "index.html"),
        ("/d%C3%A9mo/x", "démo/x"),
    ],
)
def test_uri_becomes_a_key_the_way_s3_decodes_it(uri, key):
    assert key_for_uri(uri) == key


def test_viewer_request_event_has_the_documented_shape():
    event = viewer_request_event(
        "GET", "/simple/p/?format=json", [("Accept", "text/html"), ("X-A", "1"), ("x-a", "2")], "::1"
    )
    request = event["Records"][0]["cf"]["request"]
    assert event["Records"][0]["cf"]["config"]["eventType"] == "viewer-request"
    assert (request["method"], request["uri"], request["querystring"], request["clientIp"]) == (
        "GET",
        "/simple/p/",
        "format=json",
        "::1",
    )
    assert request["headers"]["accept"] == [{"key": "Accept", "value": "text/html"}]
    assert request["headers"]["x-a"] == [{"key": "X-A", "value": "1"}, {"key": "x-a", "value": "2"}]


# --- the process ---------------------------------------------------------------------------------


# Starts `python -m local` with SIGINT ignored, as a background shell or some CI runners do
# (exec keeps an ignored disposition).
SIGINT_IGNORED = (
    "import os, signal, sys; signal.signal(signal.SIGINT, signal.SIG_IGN); "
    "os.execv(sys.executable, [sys.executable, *sys.argv[1:]])"
)


def start(port: int, s3_port: int, sigint_ignored: bool = False) -> subprocess.Popen:
    command = [sys.executable, "-m", "local", "--port", str(port), "--s3-port", str(s3_port), "-q"]
    if sigint_ignored:
        command = [sys.executable, "-c", SIGINT_IGNORED, *command[1:]]
    return subprocess.Popen(
        command,
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=clean_env(),
    )


def wait_for_banner(proc: subprocess.Popen) -> str:
    lines = []
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        lines.append(line)
        if "Ctrl-C stops." in line or not line:
            break
    return "".join(lines)


def test_serve_prints_the_urls_stops_on_ctrl_c_and_refuses_a_busy_port():
    from local.stack import free_port

    port, s3_port = free_port(), free_port()
    first = start(port, s3_port)
    try:
        banner = wait_for_banner(first)
        assert f"http://127.0.0.1:{port}/simple/" in banner
        assert f"http://127.0.0.1:{s3_port}" in banner
        assert f"pip install --index-url http://pypi:pypi@127.0.0.1:{port}/simple/" in banner

        second = start(port, free_port())
        _, err = second.communicate(timeout=60)
        assert second.returncode == 1
        assert f"port {port}" in err and "already in use" in err
    finally:
        first.send_signal(signal.SIGINT)
        _, err = first.communicate(timeout=30)
    assert first.returncode == 0
    assert "Traceback" not in err


@pytest.mark.parametrize(
    ("sigint_ignored", "sig"),
    [(True, signal.SIGINT), (False, signal.SIGTERM)],
    ids=["ctrl-c-although-started-with-sigint-ignored", "sigterm"],
)
def test_serve_stops_cleanly_on_its_signals_however_it_was_started(sigint_ignored, sig):
    from local.stack import free_port

    proc = start(free_port(), free_port(), sigint_ignored=sigint_ignored)
    try:
        assert "Ctrl-C stops." in wait_for_banner(proc)
        proc.send_signal(sig)
        _, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 0
    assert "stopping" in err and "Traceback" not in err


def test_viewer_request_event_keeps_a_double_slash_path_as_a_path():
    request = viewer_request_event("GET", "//evil.example/index.html?x=1", [], "127.0.0.1")["Records"][0][
        "cf"
    ]["request"]
    assert (request["uri"], request["querystring"]) == ("//evil.example/index.html", "x=1")


@pytest.mark.e2e
@pytest.mark.parametrize("method", ["POST", "PUT", "DELETE", "OPTIONS", "PATCH"])
def test_every_method_reaches_the_function_as_every_behaviour_allows_all_seven(e2e, method):
    import http.client

    conn = http.client.HTTPConnection("127.0.0.1", e2e.port, timeout=10)
    conn.request(method, "/simple/", body=b"x" if method in ("POST", "PUT", "PATCH") else None)
    response = conn.getresponse()
    assert response.status == 401  # the function ran: a stranger learns nothing more
    assert response.getheader("WWW-Authenticate", "").startswith("Basic ")
    assert "not configured to allow" not in response.read().decode()


# The kernel may hand a process-directed signal to any of the stack's threads; Python runs the
# handler only in the main thread.  Aim the signal at a sleeping helper thread to make that case
# certain (the tests above send it to the process and leave the choice to the kernel).
SIGNAL_TO_ANOTHER_THREAD = """
import signal, threading, time
from local.__main__ import StopSignal
stop = StopSignal()
sleeper = threading.Thread(target=time.sleep, args=(60,), daemon=True)
sleeper.start()
threading.Timer(0.2, lambda: signal.pthread_kill(sleeper.ident, signal.SIGTERM)).start()
print(int(stop.wait()))
"""


def test_a_stop_signal_delivered_to_another_thread_still_stops_the_stack():
    done = subprocess.run(
        [sys.executable, "-c", SIGNAL_TO_ANOTHER_THREAD],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=30,
        env=clean_env(),
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == str(int(signal.SIGTERM))


def test_port_zero_picks_free_ports_and_the_banner_names_them():
    proc = start(0, 0)
    try:
        banner = wait_for_banner(proc)
        assert ":0/" not in banner and ":0 " not in banner, banner
        port = int(re.search(r"index +http://127\.0\.0\.1:(\d+)/simple/", banner).group(1))
        s3_port = int(re.search(r"S3 \+ SQS +http://127\.0\.0\.1:(\d+)", banner).group(1))
        assert port > 0 and s3_port > 0 and port != s3_port
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/simple/", timeout=10) as resp:
            raise AssertionError(f"answered {resp.status} without credentials")
    except urllib.error.HTTPError as exc:
        assert exc.code == 401  # the stand-in answers on the port the banner names
    finally:
        proc.send_signal(signal.SIGINT)
        proc.communicate(timeout=30)
