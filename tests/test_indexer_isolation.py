"""One bad file never blocks its project: it is left out with a logged reason, the rest is indexed."""

from __future__ import annotations

import json
from typing import Any

import pytest

import indexer.handler
from indexer.handler import handler
from tests.conftest import BUCKET
from tests.distributions import make_wheel
from tests.sqs import failed_ids, s3_body, sqs_event


@pytest.fixture
def lambda_s3(s3: Any, monkeypatch: pytest.MonkeyPatch) -> Any:
    monkeypatch.setattr(indexer.handler, "s3_client", lambda: s3)
    return s3


def put(s3: Any, key: str, body: bytes) -> None:
    s3.put_object(Bucket=BUCKET, Key=key, Body=body)


def page_files(s3: Any, project: str) -> list[str]:
    doc = json.loads(s3.get_object(Bucket=BUCKET, Key=f"{project}/index.json")["Body"].read())
    return [f["filename"] for f in doc["files"]]


def deliver(key: str) -> dict[str, Any]:
    return handler(sqs_event(s3_body(key)), None)


def test_a_wheel_whose_metadata_names_another_project_is_left_out_and_never_blocks_it(lambda_s3, caplog):
    # The reproduction of issue 10, through the real handler: kappa 1.0, then a kappa 0.1 whose
    # dist-info is other-0.1.dist-info with "Name: other" (written with `aws s3 cp`), then 2.0.
    for version in ("1.0", "0.1", "2.0"):
        name = "other" if version == "0.1" else "kappa"
        _, data, _ = make_wheel(name, version)
        key = f"kappa/kappa-{version}-py3-none-any.whl"
        put(lambda_s3, key, data)
        assert failed_ids(deliver(key)) == []
    assert page_files(lambda_s3, "kappa") == ["kappa-1.0-py3-none-any.whl", "kappa-2.0-py3-none-any.whl"]
    (warning,) = [r for r in caplog.records if getattr(r, "key", None) == "kappa/kappa-0.1-py3-none-any.whl"]
    assert warning.levelname == "WARNING"
    assert "left out" in warning.getMessage()
    assert "other" in warning.reason
    root = json.loads(lambda_s3.get_object(Bucket=BUCKET, Key="index.json")["Body"].read())
    assert [(p["name"], p["_latest"]) for p in root["projects"]] == [("kappa", "2.0")]
