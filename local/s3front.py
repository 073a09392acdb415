"""The local S3+SQS endpoint on --s3-port: moto's server, behind a thin layer that makes its S3
send every event AWS sends and, with a data dir, keep what it holds.

The layer is WSGI middleware around moto's own application, in the same process and on the same
port, so every S3 client (the CLI, boto3, `aws s3`, s3cmd, the upload function, the indexer)
goes through it and none is special-cased.  After each S3 request that may change the bucket,
it compares the versions of every key with the ones it saw before (under one lock, so each
change is seen exactly once however requests interleave) and:

1. Delivers the events moto leaves out.  The bucket is versioned and its notification subscribes
   to `s3:ObjectRemoved:*` (infra/wiring.py).  In AWS a DELETE without a version id creates a
   delete marker, for which S3 sends `s3:ObjectRemoved:DeleteMarkerCreated`, and a DELETE of a
   given version (an object's or a delete marker's) removes it for good, for which S3 sends
   `s3:ObjectRemoved:Delete` (Amazon S3 user guide, "Event notification types and
   destinations": "s3:ObjectRemoved:Delete ... an object is deleted or a versioned object is
   permanently deleted"; "s3:ObjectRemoved:DeleteMarkerCreated ... a delete marker is created
   for a versioned object").  moto 5.2 sends neither, except one `Delete` when the last version
   of a key goes (moto/s3/models.py, `delete_object`).  The records follow "Event message
   structure" (same guide): URL-encoded key, `versionId`, `sequencer`, and no `size` or `eTag`,
   which S3 leaves out of removal events (confirmed against a real bucket in
   aws-powertools/powertools-lambda-python#4156).  They go to the queues of the bucket's
   notification configuration whose event and key filters match, as moto sends its own.
   ObjectCreated events (PUT, POST, copy, multipart) moto sends itself.
2. Writes the change through to the data dir (local/datadir.py) before the response leaves, and
   marks the project folder of a watched key as pending until the indexer has rebuilt it.

This module and local/datadir.py are the only places that read moto's S3 model (its buckets,
versions and notification configuration); tests/test_local_events.py and
tests/test_local_persistence.py pin what they rely on.
"""

from __future__ import annotations

import fnmatch
import json
import logging
import secrets
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from datetime import UTC, datetime
from types import SimpleNamespace
from typing import Any
from urllib.parse import quote_plus

from moto.core import DEFAULT_ACCOUNT_ID
from moto.moto_server.werkzeug_app import DomainDispatcherApplication, MotoRequestHandler, create_backend_app
from moto.s3.models import FakeDeleteMarker, FakeKey, s3_backends
from moto.sqs.models import sqs_backends
from werkzeug.serving import BaseWSGIServer, make_server

from infra import wiring
from local import aws, s3rules
from local.datadir import BucketStore, Version

log = logging.getLogger("local.s3")

DELETE_MARKER_CREATED = "ObjectRemoved:DeleteMarkerCreated"
DELETE = "ObjectRemoved:Delete"
MUTATING_METHODS = frozenset({"PUT", "POST", "DELETE"})
# moto's canonical bucket owner id; S3 names the bucket owner in every record.
OWNER_ID = "75aa57f09aa0c8caeab4f8c24e99d10f8e7faeebf76c078efc7c6caea54ba06a"
READ_CHUNK = 8 * 1024 * 1024

# What a key looked like: (version id, is a delete marker) for each version, oldest first.
Seen = tuple[tuple[str, bool], ...]


def _service(environ: dict[str, Any]) -> str | None:
    """The service a SigV4-signed request is for (its credential scope), or None if unsigned."""
    auth = environ.get("HTTP_AUTHORIZATION", "")
    for part in auth.replace(",", " ").split():
        if part.startswith("Credential="):
            scope = part.removeprefix("Credential=").split("/")
            return scope[3].lower() if len(scope) == 5 else None
    return None


def is_generated(key: str) -> bool:
    """A page or .metadata file the indexer writes (infra.wiring.GENERATED_KEYS)."""
    return any(fnmatch.fnmatchcase(key, pattern) for pattern in wiring.GENERATED_KEYS)


def is_watched(key: str) -> bool:
    """A key whose changes the bucket notification sends to the indexer, inside a folder."""
    return "/" in key and key.endswith(wiring.WATCHED_SUFFIXES)


def _iso_ms(when: datetime) -> str:
    return when.strftime("%Y-%m-%dT%H:%M:%S.") + f"{when.microsecond // 1000:03d}Z"


def removal_record(
    event_name: str,
    *,
    bucket: str,
    key: str,
    version_id: str,
    region: str,
    configuration_id: str,
    source_ip: str,
    sequencer: str,
) -> dict[str, Any]:
    """One record of an `ObjectRemoved:*` notification, as S3 shapes it ("Event message structure")."""
    return {
        "eventVersion": "2.1",
        "eventSource": "aws:s3",
        "awsRegion": region,
        "eventTime": _iso_ms(datetime.now(UTC)),
        "eventName": event_name,
        "userIdentity": {"principalId": "AWS:local"},
        "requestParameters": {"sourceIPAddress": source_ip},
        "responseElements": {
            "x-amz-request-id": secrets.token_hex(8).upper(),
            "x-amz-id-2": secrets.token_urlsafe(48),
        },
        "s3": {
            "s3SchemaVersion": "1.0",
            "configurationId": configuration_id,
            "bucket": {
                "name": bucket,
                "ownerIdentity": {"principalId": OWNER_ID},
                "arn": f"arn:aws:s3:::{bucket}",
            },
            # Keys are URL-encoded with "+" for space; "/" stays as it is in S3's records.
            "object": {"key": quote_plus(key, safe="/"), "versionId": version_id, "sequencer": sequencer},
        },
    }


# --- moto's S3 model: read a key's versions, and put kept ones back ----------------------------


def bucket_model(name: str) -> Any | None:
    return s3_backends[DEFAULT_ACCOUNT_ID]["aws"].buckets.get(name)


def _raw(bucket: Any) -> dict[str, list[Any]]:
    # moto's own dict of key -> [versions, oldest first], copied in one step under the GIL: its
    # request threads add keys and append delete markers meanwhile.
    return dict.copy(bucket.keys)


def _differs(seen: Seen | None, versions: list[Any]) -> bool:
    """Whether a key changed since it was seen, in O(1): moto only appends a version, removes one,
    or (unversioned) replaces the list, so the count or the newest version id always moves."""
    if seen is None or len(seen) != len(versions):
        return True
    return bool(versions) and seen[-1][0] != versions[-1].version_id


def _seen(versions: Iterable[Any]) -> Seen:
    return tuple((v.version_id, isinstance(v, FakeDeleteMarker)) for v in versions)


def version_of(obj: Any) -> Version:
    """What the data dir keeps of one moto version."""
    modified = obj.last_modified.isoformat()
    if isinstance(obj, FakeDeleteMarker):
        return Version(obj.version_id, modified, delete_marker=True)
    checksum: dict[str, Any] = {}
    if obj.checksum_algorithm or obj.checksum_value:
        value = obj.checksum_value
        checksum = {
            "algorithm": obj.checksum_algorithm,
            "value": value.decode() if isinstance(value, bytes) else value,
            "type": obj.checksum_type,
            "parts": obj.checksum_parts,
        }
    return Version(
        obj.version_id,
        modified,
        etag=obj.etag.strip('"'),
        size=obj.size,
        metadata={str(k): str(v) for k, v in obj.metadata.items()},
        storage_class=obj.storage_class or "STANDARD",
        checksum=checksum,
    )


class Vanished(Exception):
    """A version was deleted for good (moto closed its buffer) while it was being kept."""


def _chunks(obj: Any) -> Iterator[bytes]:
    # Lazily: the data dir asks only for versions it does not hold yet.
    try:
        yield obj.value
    except ValueError as exc:  # "I/O operation on closed file": moto disposed of it meanwhile
        raise Vanished(obj.name) from exc


def restore(bucket_name: str, store: BucketStore, region: str) -> int:
    """Put every kept key back into moto's bucket, versions, ids and times as they were; the count."""
    bucket = bucket_model(bucket_name)
    # Exactly what was kept: a stack started earlier in this process (tests) shares moto's model.
    dict.clear(bucket.keys)
    count = 0
    for key, versions, folder in store.load():
        objects: list[Any] = []
        for v in versions:
            if v.delete_marker:
                marker = FakeDeleteMarker(key=objects[-1] if objects else SimpleNamespace(name=key))
                marker._version_id = v.version_id
                marker.last_modified = datetime.fromisoformat(v.last_modified)
                objects.append(marker)
                continue
            checksum = v.checksum
            obj = FakeKey(
                name=key,
                value=store.data_path(folder, v).read_bytes(),
                account_id=DEFAULT_ACCOUNT_ID,
                region_name=region,
                storage=v.storage_class,
                etag=v.etag,
                is_versioned=True,
                version_id=v.version_id,
                bucket_name=bucket_name,
                checksum_value=checksum.get("value"),
                checksum_type=checksum.get("type"),
                checksum_parts=checksum.get("parts"),
            )
            obj.checksum_algorithm = checksum.get("algorithm")
            obj.set_metadata(dict(v.metadata))
            obj.last_modified = datetime.fromisoformat(v.last_modified)
            objects.append(obj)
        bucket.keys.setlist(key, objects)
        count += 1
    return count


# --- the layer -----------------------------------------------------------------------------------


class S3Front:
    """WSGI middleware around moto's application: missing events, and the write-through."""

    def __init__(self, app: Callable[..., Any], bucket: str, region: str, store: BucketStore | None = None):
        self.app = app
        self.bucket = bucket
        self.region = region
        self.store = store
        self._lock = threading.Lock()
        self._seen: dict[str, Seen] = {}
        self._watching = False  # provisioning and restoring are not changes to send or keep
        self.events_sent = 0  # records this layer added (moto's own not counted)

    def start_watching(self) -> None:
        """Take the bucket as it is now (provisioned, restored) as the state already seen."""
        with self._lock:
            bucket = bucket_model(self.bucket)
            self._seen = {k: _seen(v) for k, v in _raw(bucket).items()} if bucket is not None else {}
            self._watching = True

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        if _service(environ) in (None, "s3"):
            # What S3 enforces and moto does not (local/s3rules.py): presigned URLs, checksums,
            # CopyObject's If-None-Match.
            try:
                s3rules.check_presigned(
                    environ, {aws.CREDENTIALS["aws_access_key_id"]: aws.CREDENTIALS["aws_secret_access_key"]}
                )
                s3rules.check_checksum(environ)
                s3rules.check_copy_condition(environ, self._exists)
            except s3rules.Refusal as refusal:
                return refusal.response(start_response)
        result = self.app(environ, start_response)
        # moto's Flask app has read the whole request and changed its model by the time it
        # returns; the response is not sent until we hand it back, so whatever is written below
        # is written before the client hears "done".
        if environ.get("REQUEST_METHOD") in MUTATING_METHODS and _service(environ) in (None, "s3"):
            try:
                self.sync(environ.get("REMOTE_ADDR", "127.0.0.1"))
            except Exception:
                log.exception("local S3: could not process a change; the response is withheld")
                if hasattr(result, "close"):
                    result.close()
                raise
        return result

    def _exists(self, path: str) -> bool:
        """Whether path-style `/<bucket>/<key>` names a current object (not a delete marker)."""
        name, _, key = path.lstrip("/").partition("/")
        bucket = bucket_model(name)
        versions = _raw(bucket).get(key) if bucket is not None else None
        return bool(versions) and not isinstance(versions[-1], FakeDeleteMarker)

    def sync(self, source_ip: str = "127.0.0.1") -> None:
        """Deliver the events and keep the changes made since the last call."""
        with self._lock:
            bucket = bucket_model(self.bucket)
            if bucket is None or not self._watching:
                return
            now = _raw(bucket)
            changed = {k: tuple(v) for k, v in now.items() if _differs(self._seen.get(k), v)}
            gone = self._seen.keys() - now.keys()
            if not changed and not gone:
                return
            done_ns = time.time_ns()  # after every change this call sees was made
            for key in [*changed, *gone]:
                after = changed.get(key, ())
                if self.store is not None:
                    try:
                        self._keep(key, after)
                    except Vanished:
                        # The request that deleted it syncs next and sees the key as it is then;
                        # until then the key counts as unseen, so nothing is lost or sent twice.
                        continue
                    if is_watched(key):
                        self.store.mark(key.partition("/")[0], key, done_ns)
                self._notify(bucket, key, self._seen.get(key, ()), after, source_ip)
                if after:
                    self._seen[key] = _seen(after)
                else:
                    del self._seen[key]

    def _keep(self, key: str, versions: tuple[Any, ...]) -> None:
        assert self.store is not None
        if is_generated(key):
            # Rebuilt from the rest: only the current version matters, and none if it is removed.
            versions = versions[-1:] if versions and not isinstance(versions[-1], FakeDeleteMarker) else ()
        try:
            kept = [(version_of(v), _chunks(v)) for v in versions]  # the ETag may read the bytes
        except ValueError as exc:
            raise Vanished(key) from exc
        self.store.write(key, kept)

    def _notify(self, bucket: Any, key: str, before: Seen, after: tuple[Any, ...], source_ip: str) -> None:
        old = {vid for vid, _ in before}
        now = {v.version_id for v in after}
        events = [
            (DELETE_MARKER_CREATED, v.version_id)
            for v in after
            if v.version_id not in old and isinstance(v, FakeDeleteMarker)
        ]
        removed = [vid for vid, _ in before if vid not in now]
        if not after and before and not before[-1][1]:
            removed = removed[1:]  # moto sent one ObjectRemoved:Delete when the key's last version went
        events += [(DELETE, vid) for vid in removed]
        config = bucket.notification_configuration
        if not events or config is None:
            return
        for event_name, version_id in events:
            for queue in config.queue:
                if not queue.matches(f"s3:{event_name}", key):
                    continue
                record = removal_record(
                    event_name,
                    bucket=self.bucket,
                    key=key,
                    version_id=version_id,
                    region=self.region,
                    configuration_id=queue.id,
                    source_ip=source_ip,
                    sequencer=f"{time.time_ns():018X}",
                )
                _, _, _, region, _, queue_name = queue.arn.split(":")
                sqs_backends[DEFAULT_ACCOUNT_ID][region].send_message(
                    queue_name=queue_name, message_body=json.dumps({"Records": [record]})
                )
                self.events_sent += 1


class S3Server:
    """moto's S3+SQS server (as moto's ThreadedMotoServer runs it), with the layer in front."""

    def __init__(self, host: str, port: int, bucket: str, region: str, store: BucketStore | None = None):
        self.front = S3Front(DomainDispatcherApplication(create_backend_app), bucket, region, store)
        self.host, self.port = host, port
        self._server: BaseWSGIServer | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> S3Server:
        self._server = make_server(
            self.host, self.port, self.front, threaded=True, request_handler=MotoRequestHandler
        )
        self._thread = threading.Thread(target=self._server.serve_forever, name="s3", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
