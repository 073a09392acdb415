"""Hostile inputs through the real handler (moto): each is left out, ignored or listed escaped,
and never costs the rest of its batch or its project anything.

One table, one test: every case writes its objects next to good files of the same project and of
another one, delivers all their events in one SQS batch, and checks the outcome against the bucket.
"""

from __future__ import annotations

import html.parser
import json
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pytest
from botocore.exceptions import ClientError

from indexer.handler import handler
from indexer.model import ProjectList
from indexer.render import root_html
from tests import hostile, s3_pages
from tests.conftest import BUCKET
from tests.distributions import make_sdist, make_wheel
from tests.sqs import failed_ids, s3_body, sqs_event

SCRIPT = "<script>alert(1)</script>"
IMG = "<img src=x onerror=alert(1)>"
LONG_LOCAL = "a" * (1021 - len("demo/demo-1.0+-py3-none-any.whl"))  # makes a 1,021-byte key

GOOD_WHEEL = make_wheel("demo", "1.0")
GOOD_SDIST = make_sdist("demo", "1.0")
ZETA = make_wheel("zeta", "1.0")


def wheel_bytes(name: str, version: str, **kwargs: Any) -> bytes:
    return make_wheel(name, version, **kwargs)[1]


@dataclass
class Case:
    objects: Callable[[], dict[str, bytes]] = dict  # written to the bucket, each with its event
    listed: dict[str, str] = field(default_factory=dict)  # filename on demo's page -> what to check
    bodies: list[str] = field(default_factory=list)  # extra SQS bodies (garbage)
    failing: int = 0  # how many of those bodies fail their own record (for the dead-letter queue)
    yanked: str | None = None  # the reason demo-1.0's wheel shows, when the case yanks it
    without_metadata: bool = False  # its .metadata cannot be stored: listed without (PEP 658)
    named: bool = True  # a warning names each key that is not listed


CASES = {
    # Bombs and lying archives: refused by declared size, by the inflation cap, or by the CRC.
    "zip-bomb-1gib": Case(
        lambda: {"demo/demo-2.0-py3-none-any.whl": hostile.zip_bomb_wheel("demo-2.0.dist-info")}
    ),
    "zip-declared-size-lies-small": Case(
        lambda: {"demo/demo-2.0-py3-none-any.whl": hostile.lying_small_wheel("demo-2.0.dist-info")}
    ),
    "zip-compressed-size-lies-big": Case(
        lambda: {"demo/demo-2.0-py3-none-any.whl": hostile.lying_big_compressed_wheel("demo-2.0.dist-info")}
    ),
    "targz-bomb-1gib": Case(lambda: {"demo/demo-2.0.tar.gz": hostile.targz_bomb("demo-2.0")}),
    "metadata-10mb": Case(
        lambda: {"demo/demo-2.0-py3-none-any.whl": hostile.big_metadata_wheel("demo", "2.0")}
    ),
    "pkg-info-10mb": Case(lambda: {"demo/demo-2.0.tar.gz": hostile.big_pkg_info_sdist("demo", "2.0")}),
    # Broken files.
    "corrupt-wheel": Case(lambda: {"demo/demo-2.0-py3-none-any.whl": b"PK\x03\x04 this is no zip" * 50}),
    "empty-zip-wheel": Case(lambda: {"demo/demo-2.0-py3-none-any.whl": hostile.raw_zip([])}),
    "truncated-wheel": Case(
        lambda: {"demo/demo-2.0-py3-none-any.whl": hostile.truncated(wheel_bytes("demo", "2.0"))}
    ),
    "zero-byte-wheel": Case(lambda: {"demo/demo-2.0-py3-none-any.whl": b""}),
    "zero-byte-targz": Case(lambda: {"demo/demo-2.0.tar.gz": b""}),
    "truncated-targz": Case(
        lambda: {"demo/demo-2.0.tar.gz": hostile.truncated(hostile.good_sdist("demo", "2.0"))}
    ),
    "corrupt-zip-sdist": Case(lambda: {"demo/demo-2.0.zip": b"not a zip at all"}),
    "gzip-of-garbage": Case(lambda: {"demo/demo-2.0.tar.gz": b"\x1f\x8b\x08\x00" + b"\xff" * 300}),
    # Metadata that disagrees with the file name (written with `aws s3 cp`).
    "metadata-name-disagrees": Case(lambda: {"demo/demo-2.0-py3-none-any.whl": wheel_bytes("other", "2.0")}),
    "metadata-version-disagrees": Case(
        lambda: {"demo/demo-2.0-py3-none-any.whl": wheel_bytes("demo", "9.9")}
    ),
    "pkg-info-name-disagrees": Case(lambda: {"demo/demo-2.0.tar.gz": hostile.good_sdist("other", "2.0")}),
    # Markup, unicode, space and "+" in file names: not valid names (left out) or listed encoded.
    "script-in-filename": Case(
        lambda: {f"demo/demo-2.0+{SCRIPT}-py3-none-any.whl": wheel_bytes("demo", "2.0")}
    ),
    "img-onerror-in-filename": Case(lambda: {f"demo/demo-{IMG}.tar.gz": hostile.good_sdist("demo", "2.0")}),
    "unicode-in-filename": Case(lambda: {"demo/démo-2.0.tar.gz": hostile.good_sdist("demo", "2.0")}),
    "space-in-filename": Case(lambda: {"demo/demo-2.0 final.tar.gz": hostile.good_sdist("demo", "2.0")}),
    "plus-local-version": Case(
        lambda: {"demo/demo-2.0+build.7-py3-none-any.whl": wheel_bytes("demo", "2.0+build.7")},
        listed={"demo-2.0+build.7-py3-none-any.whl": 'href="demo-2.0%2Bbuild.7-py3-none-any.whl#'},
    ),
    # Markup and unicode in summaries and yank reasons: listed, escaped.
    "script-and-img-in-summary": Case(
        lambda: {"demo/demo-2.0-py3-none-any.whl": wheel_bytes("demo", "2.0", summary=SCRIPT + IMG)},
        listed={
            "demo-2.0-py3-none-any.whl": "&lt;script&gt;alert(1)&lt;/script&gt;"
            "&lt;img src=x onerror=alert(1)&gt;"
        },
    ),
    "unicode-summary": Case(
        lambda: {
            "demo/demo-2.0-py3-none-any.whl": wheel_bytes("demo", "2.0", summary="Ünïcødé ✓ 日本語 + ok")
        },
        listed={"demo-2.0-py3-none-any.whl": "Ünïcødé ✓ 日本語 + ok"},
    ),
    "markup-yank-reason": Case(
        lambda: {"demo/demo-1.0-py3-none-any.whl.yanked": (SCRIPT + " " + IMG + " ✓").encode()},
        yanked=f"{SCRIPT} {IMG} ✓",
    ),
    "invalid-utf8-yank-reason": Case(
        lambda: {"demo/demo-1.0-py3-none-any.whl.yanked": b"\xff\xfe <b>bold</b>"},
        yanked="\ufffd\ufffd <b>bold</b>",
    ),
    # Keys in the wrong place: ignored (warned), or left out of the folder they landed in.
    "dotdot-in-key": Case(lambda: {"demo/../demo/demo-2.0-py3-none-any.whl": wheel_bytes("demo", "2.0")}),
    "dotdot-folder": Case(lambda: {"../demo-2.0-py3-none-any.whl": wheel_bytes("demo", "2.0")}),
    "top-level-file": Case(lambda: {"demo-2.0-py3-none-any.whl": wheel_bytes("demo", "2.0")}),
    "non-normalized-folder": Case(lambda: {"Demo/demo-2.0-py3-none-any.whl": wheel_bytes("demo", "2.0")}),
    "markup-folder": Case(lambda: {f"{SCRIPT}/demo-2.0-py3-none-any.whl": wheel_bytes("demo", "2.0")}),
    "wrong-folder": Case(lambda: {"zeta/demo-2.0-py3-none-any.whl": wheel_bytes("demo", "2.0")}),
    "key-of-1021-bytes": Case(
        lambda: {f"demo/demo-1.0+{LONG_LOCAL}-py3-none-any.whl": wheel_bytes("demo", f"1.0+{LONG_LOCAL}")},
        listed={f"demo-1.0+{LONG_LOCAL}-py3-none-any.whl": LONG_LOCAL},
        without_metadata=True,  # "<key>.metadata" would be 1,030 bytes
    ),
    # SQS bodies that are no S3 notification fail alone (retried, then the dead-letter queue);
    # malformed records inside a notification are warned about and skipped.
    "garbage-sqs-bodies": Case(
        bodies=["this is not json", "null", "[1, 2]", '{"Records": 7}', "{}", '{"Records": ['],
        failing=6,
        named=False,
    ),
    "malformed-records": Case(
        bodies=[
            '{"Records": [null, 1, {"s3": 5}, {"s3": {"bucket": {"name": 1}, "object": {"key": 2}}}]}',
            '{"Records": [{"s3": {"bucket": {"name": "pypi-test"}, "object": {}}}]}',
            '{"Event": "s3:TestEvent"}',
        ],
        named=False,
    ),
}


class Tags(html.parser.HTMLParser):
    """Every element and attribute of a page, as a browser's tokenizer sees them."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: Counter[str] = Counter()
        self.attributes: set[str] = set()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags[tag] += 1
        self.attributes |= {name for name, _ in attrs}


def tags(page: bytes) -> Tags:
    parser = Tags()
    parser.feed(page.decode("utf-8"))
    return parser


def assert_nothing_unescaped(page: bytes) -> None:
    found = tags(page)
    baseline = tags(root_html(ProjectList()))  # the one script a page may have is the root's filter
    assert "img" not in found.tags
    assert found.tags["script"] <= baseline.tags["script"]
    assert not [a for a in found.attributes if a.startswith("on")]


def refuse_long_keys(params: dict[str, Any], **_: Any) -> None:
    # S3 refuses keys over 1,024 bytes of UTF-8 ("The object key name consists of a sequence of
    # Unicode characters encoded in UTF-8, with a maximum length of 1,024 bytes",
    # https://docs.aws.amazon.com/AmazonS3/latest/userguide/object-keys.html); moto does not.
    if len(params.get("Key", "").encode()) > 1024:
        error = {"Code": "KeyTooLongError", "Message": "Your key is too long"}
        raise ClientError({"Error": error, "ResponseMetadata": {"HTTPStatusCode": 400}}, "PutObject")


@pytest.fixture
def long_keys_refused(lambda_s3: Any) -> Any:
    lambda_s3.meta.events.register("before-parameter-build.s3.PutObject", refuse_long_keys)
    return lambda_s3


def get(s3: Any, key: str) -> bytes:
    return s3_pages.read(s3, BUCKET, key)


@pytest.mark.parametrize("name", list(CASES))
def test_hostile_input_never_costs_the_rest_of_the_batch_or_the_project(long_keys_refused, caplog, name):
    lambda_s3 = long_keys_refused
    case = CASES[name]
    good = {
        f"demo/{GOOD_WHEEL[0]}": GOOD_WHEEL[1],
        f"demo/{GOOD_SDIST[0]}": GOOD_SDIST[1],
        f"zeta/{ZETA[0]}": ZETA[1],
    }
    objects = case.objects()
    for key, body in {**good, **objects}.items():
        lambda_s3.put_object(Bucket=BUCKET, Key=key, Body=body)
    # The hostile records sit between good ones, so a failure cannot hide behind batch order.
    keys = list(good)
    bodies = [
        s3_body(keys[0]),
        *(s3_body(k) for k in objects),
        *case.bodies,
        s3_body(keys[1]),
        s3_body(keys[2]),
    ]
    result = handler(sqs_event(*bodies), None)

    garbage = {f"m{1 + len(objects) + n}" for n in range(len(case.bodies))}
    assert len(failed_ids(result)) == case.failing
    assert set(failed_ids(result)) <= garbage  # never a record of a valid file
    logged = {getattr(r, "message_id", None) for r in caplog.records if r.levelname == "ERROR"}
    assert set(failed_ids(result)) <= logged  # each one named in the log, for the dead-letter queue

    demo = json.loads(get(lambda_s3, "demo/index.json"))
    listed = {f["filename"]: f for f in demo["files"]}
    assert set(listed) == {GOOD_WHEEL[0], GOOD_SDIST[0], *case.listed}
    zeta = json.loads(get(lambda_s3, "zeta/index.json"))
    assert [f["filename"] for f in zeta["files"]] == [ZETA[0]]
    root = json.loads(get(lambda_s3, "index.json"))
    assert [p["name"] for p in root["projects"]] == ["demo", "zeta"]

    demo_html = get(lambda_s3, "demo/index.html")
    for page in (demo_html, get(lambda_s3, "zeta/index.html"), get(lambda_s3, "index.html")):
        assert_nothing_unescaped(page)
    for filename, shown in case.listed.items():
        assert shown in demo_html.decode()
        assert listed[filename]["hashes"]["sha256"]
        assert (listed[filename]["core-metadata"] is False) == case.without_metadata
    if case.yanked is not None:
        assert listed[GOOD_WHEEL[0]]["yanked"] == case.yanked  # JSON: the text itself (PEP 691)
        assert "yanked" in demo_html.decode()

    if case.named:
        warned = {getattr(r, "key", None) for r in caplog.records if r.levelno >= 30}
        unlisted = {
            k for k in objects if k.rsplit("/", 1)[-1] not in case.listed and not k.endswith(".yanked")
        }
        assert unlisted <= warned  # every file left out or ignored is named in the log
