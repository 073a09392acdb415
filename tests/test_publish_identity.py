"""One file per identity, and valid names, in the publishing core (indexer/publish.py).

Issue 18, items 2 and 3.  Two files are the same file when normalized name, normalized version
(PEP 440 equality), build tag and tags (or "sdist") agree, whatever their spelling; a second one
is a conflict unless its bytes are identical.  Every publishing path (upload endpoint, CLI,
mirror) goes through `Uploader.upload`, so these tests hold for all of them; the endpoint's and
the CLI's own tests check the answers they give.

Failures seen on main before the fix: every look-alike below was UPLOADED beside the first file
(`assert 'uploaded' == 'conflict'`), and every invalid name was accepted by `validate_bytes`
(`DID NOT RAISE InvalidDistribution`).
"""

from __future__ import annotations

import json

import pytest

from indexer import publish
from indexer.model import canonical_filename, parse_filename
from tests.bucket_state import gained, snapshot
from tests.conftest import BUCKET
from tests.distributions import archive_named, make_sdist, make_wheel, make_zip_sdist

FIRST_WHEEL = "acme_x-1.0-py3-none-any.whl"


def wheel_bytes(version: str = "1.0", *, summary: str = "A test package", tag: str = "py3-none-any") -> bytes:
    return make_wheel("acme-x", version, summary=summary, tag=tag)[1]


def sdist_bytes(version: str = "1.0", *, summary: str = "A test package") -> bytes:
    return make_sdist("acme-x", version, summary=summary)[1]


def zip_sdist(version: str = "1.0", *, summary: str = "A test package") -> bytes:
    return make_zip_sdist("acme-x", version, summary=summary)[1]


@pytest.fixture
def uploader(s3):
    return publish.Uploader(s3, BUCKET, progress=False)


def publish_bytes(s3, filename: str, data: bytes) -> str:
    # A fresh Uploader each time, as each request of the upload endpoint gets.
    return publish.Uploader(s3, BUCKET, progress=False).upload(publish.validate_bytes(filename, data))


# --- look-alikes of a published wheel --------------------------------------------------------------

# (file name, version in its METADATA, tag inside the wheel): each is the same file as
# acme_x-1.0-py3-none-any.whl to an installer.
WHEEL_LOOKALIKES = [
    ("ACME_X-1.0-py3-none-any.whl", "1.0", "py3-none-any"),  # case
    ("acme.x-1.0-py3-none-any.whl", "1.0", "py3-none-any"),  # "." for "_"
    ("acme_X-1.0-py3-none-any.whl", "1.0", "py3-none-any"),
    ("acme_x-1.0.0-py3-none-any.whl", "1.0.0", "py3-none-any"),  # 1.0 == 1.0.0 (PEP 440)
    ("acme_x-1.0.0.0-py3-none-any.whl", "1.0.0.0", "py3-none-any"),
    ("acme_x-0!1.0-py3-none-any.whl", "0!1.0", "py3-none-any"),  # the default epoch written out
    ("acme_x-v1.0-py3-none-any.whl", "1.0", "py3-none-any"),  # a "v" prefix normalizes away
    ("acme_x-1.0-PY3-NONE-ANY.whl", "1.0", "py3-none-any"),  # tags are lower-cased
]


@pytest.mark.parametrize(("filename", "version", "tag"), WHEEL_LOOKALIKES)
def test_a_look_alike_of_a_published_wheel_with_other_bytes_is_a_conflict_and_writes_nothing(
    s3, filename, version, tag
):
    assert publish_bytes(s3, FIRST_WHEEL, wheel_bytes()) == publish.UPLOADED
    before = snapshot(s3, BUCKET)
    uploader = publish.Uploader(s3, BUCKET, progress=False)
    dist = publish.validate_bytes(filename, wheel_bytes(version, summary="other bytes", tag=tag))
    assert uploader.upload(dist) == publish.CONFLICT
    assert uploader.held_by(dist) == publish.Holder(f"acme-x/{FIRST_WHEEL}")
    assert gained(s3, BUCKET, before) == []


@pytest.mark.parametrize(("filename", "version", "tag"), WHEEL_LOOKALIKES)
def test_a_look_alike_with_identical_bytes_is_already_present(s3, filename, version, tag):
    data = wheel_bytes(version, tag=tag)
    assert publish_bytes(s3, FIRST_WHEEL if version == "1.0" else f"acme_x-{version}-{tag}.whl", data) == (
        publish.UPLOADED
    )
    before = snapshot(s3, BUCKET)
    assert publish_bytes(s3, filename, data) == publish.PRESENT
    assert gained(s3, BUCKET, before) == []


@pytest.mark.parametrize(
    ("first", "second"),
    [
        ("acme_x-1.0-py2.py3-none-any.whl", "acme_x-1.0-py3.py2-none-any.whl"),  # tag order
        ("acme_x-1.0-py2.py3-none-any.whl", "ACME.X-1.0-py3.py2-NONE-any.whl"),
        ("acme_x-1.0-1-py3-none-any.whl", "acme_x-1.0-01-py3-none-any.whl"),  # build 1 == 01
        ("acme_x-1.0+abc.1-py3-none-any.whl", "acme_x-1.0+ABC.1-py3-none-any.whl"),  # local label
        ("acme_x-1.0+abc.1-py3-none-any.whl", "acme_x-1.0.0+abc_1-py3-none-any.whl"),
        ("acme_x-1.0+1-py3-none-any.whl", "acme_x-1.0+01-py3-none-any.whl"),
        ("acme_x-1!2.0-py3-none-any.whl", "acme_x-1!2.0.0-py3-none-any.whl"),  # epochs
        ("acme_x-1.0rc1-py3-none-any.whl", "acme_x-1.0rc.1-py3-none-any.whl"),
        ("acme_x-1.0.post1-py3-none-any.whl", "acme_x-1.0.post01-py3-none-any.whl"),
    ],
)
def test_other_spellings_of_tags_builds_and_versions_are_the_same_file(s3, first, second):
    def data_for(filename: str, summary: str) -> bytes:
        name = parse_filename(filename)
        tags = filename[: -len(".whl")].split("-")[-3:]
        return make_wheel("acme-x", str(name.version), summary=summary, tag="-".join(tags).lower())[1]

    assert publish_bytes(s3, first, data_for(first, "first")) == publish.UPLOADED
    before = snapshot(s3, BUCKET)
    assert publish_bytes(s3, second, data_for(second, "second")) == publish.CONFLICT
    assert gained(s3, BUCKET, before) == []


@pytest.mark.parametrize(
    ("filename", "version", "tag"),
    [
        ("acme_x-1.0-1-py3-none-any.whl", "1.0", "py3-none-any"),  # a build tag: allowed, as on PyPI
        ("acme_x-1.0-2-py3-none-any.whl", "1.0", "py3-none-any"),
        ("acme_x-1.0.post0-py3-none-any.whl", "1.0.post0", "py3-none-any"),  # 1.0.post0 != 1.0
        ("acme_x-1.0.1-py3-none-any.whl", "1.0.1", "py3-none-any"),
        ("acme_x-1.0+local-py3-none-any.whl", "1.0+local", "py3-none-any"),  # a local version
        ("acme_x-1!1.0-py3-none-any.whl", "1!1.0", "py3-none-any"),  # another epoch
        ("acme_x-1.0-py2.py3-none-any.whl", "1.0", "py2.py3-none-any"),  # another tag set
        ("acme_x-1.0-cp312-cp312-manylinux_2_17_x86_64.whl", "1.0", "cp312-cp312-manylinux_2_17_x86_64"),
        ("acme_x-1.0a1-py3-none-any.whl", "1.0a1", "py3-none-any"),
    ],
)
def test_files_that_differ_in_version_build_or_tags_are_other_files(s3, filename, version, tag):
    assert publish_bytes(s3, FIRST_WHEEL, wheel_bytes()) == publish.UPLOADED
    assert publish_bytes(s3, filename, wheel_bytes(version, summary="other", tag=tag)) == publish.UPLOADED


# --- one sdist per release -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("filename", "maker"),
    [
        ("acme-x-1.0.tar.gz", sdist_bytes),  # a pre-PEP 625 spelling
        ("ACME.X-1.0.tar.gz", sdist_bytes),
        ("acme_x-1.0.0.tar.gz", lambda **kw: sdist_bytes("1.0.0", **kw)),
        ("ACME.X-1.0.zip", zip_sdist),  # another archive format: still a second sdist
        ("acme_x-1.0.zip", zip_sdist),
    ],
)
def test_a_second_sdist_of_a_release_is_a_conflict(s3, filename, maker):
    assert publish_bytes(s3, "acme_x-1.0.tar.gz", sdist_bytes()) == publish.UPLOADED
    before = snapshot(s3, BUCKET)
    assert publish_bytes(s3, filename, maker(summary="another sdist")) == publish.CONFLICT
    assert gained(s3, BUCKET, before) == []


def test_a_zip_sdist_first_then_a_tar_gz_is_a_conflict_too(s3):
    assert publish_bytes(s3, "ACME.X-1.0.zip", zip_sdist()) == publish.UPLOADED
    assert publish_bytes(s3, "acme_x-1.0.tar.gz", sdist_bytes()) == publish.CONFLICT


def test_an_sdist_and_a_wheel_of_one_release_are_two_files(s3):
    assert publish_bytes(s3, "acme_x-1.0.tar.gz", sdist_bytes()) == publish.UPLOADED
    assert publish_bytes(s3, FIRST_WHEEL, wheel_bytes()) == publish.UPLOADED


# --- files already in the bucket under other spellings ---------------------------------------------


def test_a_file_written_straight_to_the_bucket_under_a_legacy_spelling_holds_its_identity(s3):
    # Written with `aws s3 cp` (or by s3pypi) before this rule: no claim, only the file.
    s3.put_object(Bucket=BUCKET, Key="acme-x/ACME.X-1.0.tar.gz", Body=sdist_bytes())
    before = snapshot(s3, BUCKET)
    uploader = publish.Uploader(s3, BUCKET, progress=False)
    dist = publish.validate_bytes("acme_x-1.0.tar.gz", sdist_bytes(summary="other"))
    assert uploader.upload(dist) == publish.CONFLICT
    assert uploader.held_by(dist) == publish.Holder("acme-x/ACME.X-1.0.tar.gz")
    assert publish_bytes(s3, "acme_x-1.0.tar.gz", sdist_bytes()) == publish.PRESENT
    assert gained(s3, BUCKET, before) == []


def test_the_claim_holds_the_identity_after_the_file_is_deleted_like_pypis_file_name_reuse_rule(s3):
    assert publish_bytes(s3, FIRST_WHEEL, wheel_bytes()) == publish.UPLOADED
    s3.delete_object(Bucket=BUCKET, Key=f"acme-x/{FIRST_WHEEL}")
    uploader = publish.Uploader(s3, BUCKET, progress=False)
    dist = publish.validate_bytes("ACME.X-1.0.0-py3-none-any.whl", wheel_bytes("1.0.0", summary="new"))
    assert uploader.upload(dist) == publish.CONFLICT
    assert uploader.held_by(dist) == publish.Holder(f"acme-x/{FIRST_WHEEL}", published=False)
    # The same bytes may come back (a re-run after a delete, or an interrupted upload completed).
    assert publish_bytes(s3, FIRST_WHEEL, wheel_bytes()) == publish.UPLOADED


def test_a_claim_in_flight_decides_before_any_file_exists(s3):
    # The other upload holds the claim but has not written its file yet: a look-alike with other
    # bytes is refused, and the same file (a client's retry) goes on to its conditional PUT.
    first = publish.validate_bytes(FIRST_WHEEL, wheel_bytes())
    body = json.dumps({"filename": first.filename, "sha256": first.sha256, "identity": first.name.identity})
    s3.put_object(Bucket=BUCKET, Key=publish.claim_key(first.name), Body=body.encode())
    other = publish.validate_bytes("ACME_X-1.0-py3-none-any.whl", wheel_bytes(summary="other"))
    assert publish.Uploader(s3, BUCKET, progress=False).upload(other) == publish.CONFLICT
    assert publish.Uploader(s3, BUCKET, progress=False).upload(first) == publish.UPLOADED


def test_identical_bytes_under_a_claimed_other_spelling_are_present(s3):
    first = publish.validate_bytes("acme_x-1.0-py3-none-any.whl", wheel_bytes())
    assert publish.Uploader(s3, BUCKET, progress=False).upload(first) == publish.UPLOADED
    # A version spelt differently keeps its own key, so only the claim can tell it is the same.
    s3.delete_object(Bucket=BUCKET, Key=first.key)
    s3.put_object(Bucket=BUCKET, Key=first.key, Body=wheel_bytes())
    same = publish.validate_bytes("acme_x-1.0.0-py3-none-any.whl", wheel_bytes("1.0.0"))
    uploader = publish.Uploader(s3, BUCKET, progress=False)
    # Different bytes (the METADATA says 1.0.0): a conflict with the claimed file.
    assert uploader.upload(same) == publish.CONFLICT


def test_an_unreadable_claim_still_holds_its_identity(s3):
    dist = publish.validate_bytes(FIRST_WHEEL, wheel_bytes())
    s3.put_object(Bucket=BUCKET, Key=publish.claim_key(dist.name), Body=b"not json")
    uploader = publish.Uploader(s3, BUCKET, progress=False)
    assert uploader.upload(dist) == publish.CONFLICT
    assert uploader.held_by(dist).key == f"acme-x/{publish.claim_key(dist.name)}"


def test_two_look_alikes_in_one_uploader_run_are_one_file(s3, uploader):
    # The CLI sends many files through one Uploader: its listing learns what it wrote.
    assert uploader.upload(publish.validate_bytes("acme_x-1.0.tar.gz", sdist_bytes())) == publish.UPLOADED
    dist = publish.validate_bytes("ACME.X-1.0.zip", zip_sdist())
    assert uploader.upload(dist) == publish.CONFLICT
    assert uploader.held_by(dist) == publish.Holder("acme-x/acme_x-1.0.tar.gz")


def test_force_replaces_a_file_under_its_own_name_and_its_claim(s3):
    assert publish_bytes(s3, FIRST_WHEEL, wheel_bytes()) == publish.UPLOADED
    rebuilt = publish.validate_bytes(FIRST_WHEEL, wheel_bytes(summary="rebuilt"))
    assert publish.Uploader(s3, BUCKET, force=True, progress=False).upload(rebuilt) == publish.REPLACED
    claim = json.loads(s3.get_object(Bucket=BUCKET, Key=publish.claim_key(rebuilt.name))["Body"].read())
    assert claim["sha256"] == rebuilt.sha256
    # ... and the replaced bytes are now "the" file: an identical re-upload is present.
    assert publish_bytes(s3, FIRST_WHEEL, wheel_bytes(summary="rebuilt")) == publish.PRESENT


def test_force_never_replaces_a_look_alike_under_another_name(s3):
    assert publish_bytes(s3, FIRST_WHEEL, wheel_bytes()) == publish.UPLOADED
    before = snapshot(s3, BUCKET)
    other = publish.validate_bytes("acme_x-1.0.0-py3-none-any.whl", wheel_bytes("1.0.0"))
    assert publish.Uploader(s3, BUCKET, force=True, progress=False).upload(other) == publish.CONFLICT
    assert gained(s3, BUCKET, before) == []


def test_the_claim_names_the_file_and_its_bytes_and_is_never_served(s3):
    dist = publish.validate_bytes("ACME.X-1.0-py3-none-any.whl", wheel_bytes())
    assert publish.Uploader(s3, BUCKET, progress=False).upload(dist) == publish.UPLOADED
    key = publish.claim_key(dist.name)
    assert key.startswith("_claims/acme-x~") and key.count("/") == 1
    claim = json.loads(s3.get_object(Bucket=BUCKET, Key=key)["Body"].read())
    assert claim == {"filename": FIRST_WHEEL, "sha256": dist.sha256, "identity": "acme-x 1 - py3-none-any"}
    from edge.handler import route

    assert route("GET", "/" + key)["status"] == "404"
    assert route("GET", "/simple/" + key)["status"] == "404"


def test_without_the_right_to_list_or_claim_the_conditional_write_still_decides(s3, monkeypatch):
    from botocore.exceptions import ClientError

    denied = ClientError(
        {"Error": {"Code": "AccessDenied"}, "ResponseMetadata": {"HTTPStatusCode": 403}}, "X"
    )
    real_put = s3.put_object

    def put(**kw):
        if kw["Key"].startswith(publish.CLAIMS_PREFIX):
            raise denied
        return real_put(**kw)

    def listing(**_):
        raise denied

    monkeypatch.setattr(s3, "put_object", put)
    monkeypatch.setattr(s3, "list_objects_v2", listing)
    assert publish_bytes(s3, FIRST_WHEEL, wheel_bytes()) == publish.UPLOADED
    assert publish_bytes(s3, FIRST_WHEEL, wheel_bytes()) == publish.PRESENT
    assert publish_bytes(s3, FIRST_WHEEL, wheel_bytes(summary="x")) == publish.CONFLICT


# --- stored under the spelling the specifications give ---------------------------------------------


@pytest.mark.parametrize(
    ("given", "stored"),
    [
        ("ACME_X-1.0-py3-none-any.whl", "acme_x-1.0-py3-none-any.whl"),
        ("acme.x-1.0-PY3-none-ANY.whl", "acme_x-1.0-py3-none-any.whl"),
        ("Acme_X-v1.0-py2.py3-none-any.whl", "acme_x-1.0-py2.py3-none-any.whl"),
        ("acme_x-1.0-01abc-py3-none-any.whl", "acme_x-1.0-1abc-py3-none-any.whl"),
        ("acme-x-1.0.tar.gz", "acme_x-1.0.tar.gz"),
        ("ACME.X-1.0.zip", "acme_x-1.0.zip"),
        ("acme_x-1.0RC1.tar.gz", "acme_x-1.0rc1.tar.gz"),
        ("acme_x-1.0.POST1.tar.gz", "acme_x-1.0.post1.tar.gz"),
    ],
)
def test_files_are_stored_under_the_spelling_the_specs_give(given, stored):
    assert canonical_filename(given) == stored


def test_a_file_is_keyed_and_written_under_its_canonical_spelling(s3):
    dist = publish.validate_bytes("ACME.X-1.0-py3-none-any.whl", wheel_bytes())
    assert (dist.filename, dist.given, dist.key) == (
        FIRST_WHEEL,
        "ACME.X-1.0-py3-none-any.whl",
        f"acme-x/{FIRST_WHEEL}",
    )
    assert dist.shown == f"ACME.X-1.0-py3-none-any.whl (stored as {FIRST_WHEEL})"
    assert publish.Uploader(s3, BUCKET, progress=False).upload(dist) == publish.UPLOADED
    assert s3.head_object(Bucket=BUCKET, Key=f"acme-x/{FIRST_WHEEL}")["ContentLength"] == dist.size


def test_validate_of_a_path_stores_under_the_canonical_spelling_too(tmp_path):
    path = tmp_path / "ACME.X-1.0.tar.gz"
    path.write_bytes(sdist_bytes())
    dist = publish.validate(path)
    assert (dist.filename, dist.given) == ("acme_x-1.0.tar.gz", "ACME.X-1.0.tar.gz")


# --- project names: PEP 508, ASCII, before any write ---------------------------------------------

INVALID_NAMES = [
    # (file name, what the refusal says)
    ("acme--1.0.tar.gz", "'acme-' is not a valid project name"),
    ("-acme-1.0.tar.gz", "'-acme' is not a valid project name"),
    ("acme-<script>x-1.0.tar.gz", "is not a valid project name"),
    ("acme-n\x01x-1.0.tar.gz", "a distribution file name is printable ASCII"),
    ("acme x-1.0.tar.gz", "'acme x' is not a valid project name"),
    ("acme_-1.0-py3-none-any.whl", "'acme_' is not a valid project name"),
    ("_acme-1.0-py3-none-any.whl", "'_acme' is not a valid project name"),
    ("acme_ẋ-1.0-py3-none-any.whl", "a distribution file name is printable ASCII"),
    ("acme_\u212a-1.0-py3-none-any.whl", "a distribution file name is printable ASCII"),  # KELVIN SIGN
    ("acme_\u017f-1.0-py3-none-any.whl", "a distribution file name is printable ASCII"),  # LONG S
    ("acme_\u0131-1.0-py3-none-any.whl", "a distribution file name is printable ASCII"),  # dotless i
    ("acme_x-1.0-py3-none-\u212a.whl", "a distribution file name is printable ASCII"),
    ("acme_x-1.0-py3-none-any<x>.whl", "wheel tags are letters, digits and '_'"),
    ("acme_x-1.0-1.a-py3-none-any.whl", "a build tag is a number"),
    ("acme-\u0661.0.tar.gz", "a distribution file name is printable ASCII"),  # an Arabic-Indic digit
]


@pytest.mark.parametrize(("filename", "reason"), INVALID_NAMES)
def test_invalid_names_are_refused_naming_the_rule(filename, reason):
    with pytest.raises(publish.InvalidDistribution) as info:
        publish.check_filename(publish.shown(filename), filename)
    assert reason in str(info.value)
    message = str(info.value)
    assert message.isascii() and message.isprintable()


@pytest.mark.parametrize(("filename", "reason"), INVALID_NAMES[:11])
def test_invalid_names_are_refused_before_any_write(s3, filename, reason):
    before = snapshot(s3, BUCKET)
    with pytest.raises(publish.InvalidDistribution) as info:
        publish.Uploader(s3, BUCKET, progress=False).upload(
            publish.validate_bytes(filename, archive_named(filename))
        )
    assert reason in str(info.value)
    assert gained(s3, BUCKET, before) == []


def test_the_kelvin_sign_never_lands_in_the_real_acme_k(s3):
    assert (
        publish_bytes(s3, "acme_k-1.0-py3-none-any.whl", make_wheel("acme-k", "1.0")[1]) == publish.UPLOADED
    )
    with pytest.raises(publish.InvalidDistribution):
        publish.validate_bytes(
            "acme_\u212a-1.0-py3-none-any.whl", make_wheel("acme-k", "1.0", summary="x")[1]
        )


@pytest.mark.parametrize(
    "filename",
    [
        "Foo_Bar.Pro-1.0.tar.gz",
        "foo-bar-1.0.tar.gz",
        "a-1.0.tar.gz",
        "A9.b_c-1.0-py3-none-any.whl",
        "x1-1.0.zip",
    ],
)
def test_valid_names_of_every_spelling_still_parse(filename):
    assert parse_filename(filename).project in {"foo-bar-pro", "foo-bar", "a", "a9-b-c", "x1"}


def test_the_indexer_leaves_a_kelvin_sign_file_written_straight_to_the_bucket_off_the_real_project(s3):
    # The read side applies the same name rule (indexer.model.parse_filename): a file written with
    # `aws s3 cp` under U+212A is not listed inside the real acme-k (main listed it there).
    from indexer.build import Indexer
    from indexer.store import Bucket

    good, data, _ = make_wheel("acme-k", "1.0")
    s3.put_object(Bucket=BUCKET, Key=f"acme-k/{good}", Body=data)
    s3.put_object(
        Bucket=BUCKET, Key="acme-k/acme_\u212a-2.0-py3-none-any.whl", Body=make_wheel("acme-k", "2.0")[1]
    )
    detail = Indexer(Bucket(s3, BUCKET)).rebuild("acme-k").detail
    assert detail is not None
    assert [f.filename for f in detail.files] == [good]


def test_a_claimed_file_the_identity_may_not_head_is_a_conflict_not_an_error(s3, monkeypatch):
    from botocore.exceptions import ClientError

    first = publish.validate_bytes(FIRST_WHEEL, wheel_bytes())
    body = json.dumps({"filename": first.filename, "sha256": first.sha256, "identity": first.name.identity})
    s3.put_object(Bucket=BUCKET, Key=publish.claim_key(first.name), Body=body.encode())

    def denied(**_):
        raise ClientError(
            {"Error": {"Code": "403"}, "ResponseMetadata": {"HTTPStatusCode": 403}}, "HeadObject"
        )

    monkeypatch.setattr(s3, "head_object", denied)
    uploader = publish.Uploader(s3, BUCKET, progress=False)
    other = publish.validate_bytes("acme_x-1.0.0-py3-none-any.whl", wheel_bytes("1.0.0"))
    assert uploader.upload(other) == publish.CONFLICT
    assert uploader.held_by(other) == publish.Holder(f"acme-x/{FIRST_WHEEL}", published=False)
