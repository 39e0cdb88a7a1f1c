"""Datasets named by uri in an owner's S3-compatible store.

The object is looked at when the job is created (it exists, the owner's keys may read it, it
is not too large) and fetched by whichever worker runs the job, into that machine's cache,
keyed by the object's ETag. Only the keys the job names are used, and only if its owner owns
them: the service's own storage keys and endpoint (AWS_* variables) are never consulted, so a
job cannot read the service's store, or another owner's bucket, through them. The archive then
meets the same rules as an upload (the engine's extraction checks every member and image).
"""

from __future__ import annotations

import hashlib
import os
import re
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy.orm import Session

from config.logs import describe
from config.settings import Settings
from services import credentials
from services.credentials import Keys
from services.errors import Invalid, ServiceError
from services.specs import DatasetSpec

_URI = re.compile(r"^s3://(?P<bucket>[a-z0-9][a-z0-9.\-]{1,61}[a-z0-9])/(?P<key>[^\x00-\x1f]+)$")
_CHUNK = 1 << 20


@dataclass(frozen=True)
class RemoteObject:
    """What the store says of an object when it is looked at."""

    uri: str
    bucket: str
    key: str
    etag: str
    size: int


def keys_for(session: Session, *, owner_id: str, dataset: DatasetSpec) -> Keys:
    """The owner's keys a dataset uri is read with (a uri always names its credential)."""
    if dataset.credentials_id is None:
        raise Invalid("invalid_request", "a dataset 'uri' needs 'credentials_id' (create one: "
                      "POST /v1/credentials); the service never reads a uri with keys of its own",
                      field="dataset.credentials_id")  # fmt: skip
    return credentials.keys_for(session, owner_id=owner_id, credential_id=dataset.credentials_id,
                                field="dataset.credentials_id")  # fmt: skip


def look(settings: Settings, *, keys: Keys, uri: str) -> RemoteObject:
    """The object a uri names, if the keys may read it and it is not too large."""
    match = _URI.match(uri)
    if match is None:
        raise Invalid("invalid_request", "a dataset uri looks like s3://bucket/path/to/data.tar.gz",
                      field="dataset.uri")  # fmt: skip
    bucket, key = match["bucket"], match["key"]
    try:
        head = _client(keys).head_object(Bucket=bucket, Key=key)
    except Exception as exc:  # botocore's errors: what the store said, or that it was not reached
        raise _refusal(exc, keys=keys, uri=uri) from None
    size = int(head.get("ContentLength", 0))
    if size > settings.max_remote_dataset_bytes:
        raise Invalid("dataset_too_large", f"{uri} is {size} bytes; the limit is "
                      f"{settings.max_remote_dataset_bytes}", field="dataset.uri")  # fmt: skip
    return RemoteObject(uri=uri, bucket=bucket, key=key, etag=str(head.get("ETag", "")), size=size)


def check(session: Session, *, settings: Settings, owner_id: str, dataset: DatasetSpec) -> None:
    """Refuse, at submission, a uri the job could never read."""
    assert dataset.uri is not None
    look(settings, keys=keys_for(session, owner_id=owner_id, dataset=dataset), uri=dataset.uri)


def fetch(settings: Settings, *, keys: Keys, uri: str) -> Path:
    """This machine's copy of the object (downloaded on first use of this version of it)."""
    remote = look(settings, keys=keys, uri=uri)
    name = f"{keys.endpoint_url}|{remote.bucket}|{remote.key}|{remote.etag}|{remote.size}"
    target = settings.data_dir / "remote" / hashlib.sha256(name.encode()).hexdigest()
    if target.is_file() and target.stat().st_size == remote.size:
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    handle, partial = tempfile.mkstemp(dir=target.parent, prefix=".fetch-")
    try:
        with os.fdopen(handle, "wb") as out:
            _download(settings, keys=keys, remote=remote, out=out)
        os.replace(partial, target)  # whole, or not there at all
    except BaseException:
        Path(partial).unlink(missing_ok=True)
        raise
    return target


def _download(settings: Settings, *, keys: Keys, remote: RemoteObject, out: Any) -> None:
    """Stream the object into `out`, refusing it past the size limit or if it changed."""
    try:
        body = _client(keys).get_object(Bucket=remote.bucket, Key=remote.key, IfMatch=remote.etag)
        written = 0
        for piece in body["Body"].iter_chunks(_CHUNK):
            written += len(piece)
            if written > settings.max_remote_dataset_bytes:
                raise Invalid("dataset_too_large", f"{remote.uri} grew past the limit of "
                              f"{settings.max_remote_dataset_bytes} bytes", field="dataset.uri")  # fmt: skip
            out.write(piece)
    except ServiceError:
        raise
    except Exception as exc:
        raise _refusal(exc, keys=keys, uri=remote.uri) from None


def _client(keys: Keys) -> Any:
    """An S3 client that knows only these keys (no environment, profile or configured endpoint)."""
    import boto3  # only deployments that read object stores need it
    from botocore.config import Config

    session = boto3.session.Session(
        aws_access_key_id=keys.access_key_id, aws_secret_access_key=keys.secret_access_key,
        aws_session_token=None, region_name=keys.region or "us-east-1",
    )  # fmt: skip
    config = Config(
        ignore_configured_endpoint_urls=True, connect_timeout=10, read_timeout=60,
        retries={"max_attempts": 3, "mode": "standard"},
        s3={"addressing_style": "path" if keys.endpoint_url else "auto"},
    )  # fmt: skip
    return session.client("s3", endpoint_url=keys.endpoint_url, config=config)


def _refusal(exc: Exception, *, keys: Keys, uri: str) -> ServiceError:
    """What the store's answer means for the job, in words that name the uri and the keys."""
    response = getattr(exc, "response", None)
    code = str(response.get("Error", {}).get("Code", "")) if isinstance(response, dict) else ""
    if code in ("404", "NoSuchKey", "NoSuchBucket", "NotFound"):
        return Invalid("unknown_dataset", f"no object at {uri}", field="dataset.uri")
    if code in ("403", "AccessDenied", "InvalidAccessKeyId", "SignatureDoesNotMatch", "Forbidden"):
        return Invalid("dataset_forbidden", f"the credential '{keys.credential_id}' may not read "
                       f"{uri} ({code})", field="dataset.uri")  # fmt: skip
    if code in ("412", "PreconditionFailed"):
        return Invalid("dataset_changed", f"{uri} changed while it was read; try again",
                       field="dataset.uri")  # fmt: skip
    what = f"the store answered {code}" if code else describe(exc)
    return Invalid("dataset_unreachable", f"could not read {uri}: {what}", field="dataset.uri")
