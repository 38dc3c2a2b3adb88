"""S3 calls for bucket posture, object versions, checksummed copies and bounded reads.

Functions take a boto3 `s3` client from the provider's S3Hook. Copies are server-side
(CopyObject) with `ChecksumAlgorithm=SHA256`: S3 computes the copy's SHA-256 and returns it,
which Backstop compares with the SHA-256 it streamed from the source (Object Lock buckets also
require a checksum on writes).
"""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from backstop.aws.errors import error_code

NOT_CONFIGURED = frozenset(
    {
        "ReplicationConfigurationNotFoundError",
        "ObjectLockConfigurationNotFoundError",
        "NoSuchLifecycleConfiguration",
    }
)


@dataclass(frozen=True)
class ObjectVersion:
    """One version or delete marker of a key."""

    key: str
    version_id: str
    last_modified: datetime
    is_latest: bool
    delete_marker: bool
    etag: str = ""
    size: int = 0

    def to_json(self) -> dict[str, Any]:
        return {
            "key": self.key,
            "version_id": self.version_id,
            "last_modified": self.last_modified.isoformat(),
            "is_latest": self.is_latest,
            "delete_marker": self.delete_marker,
            "etag": self.etag,
            "size": self.size,
        }


def _optional(call: Any, **kwargs: Any) -> dict[str, Any] | None:
    try:
        return call(**kwargs)
    except Exception as exc:
        if error_code(exc) in NOT_CONFIGURED:
            return None
        raise


def bucket_settings(client: Any, bucket: str) -> dict[str, Any]:
    """Versioning, replication, Object Lock and lifecycle of a bucket (None where not configured)."""
    versioning = client.get_bucket_versioning(Bucket=bucket)
    replication = _optional(client.get_bucket_replication, Bucket=bucket)
    lock = _optional(client.get_object_lock_configuration, Bucket=bucket)
    lifecycle = _optional(client.get_bucket_lifecycle_configuration, Bucket=bucket)
    return {
        "versioning": versioning.get("Status") or "Disabled",
        "replication": (replication or {}).get("ReplicationConfiguration"),
        "object_lock": (lock or {}).get("ObjectLockConfiguration"),
        "lifecycle_rules": (lifecycle or {}).get("Rules", []),
    }


def replication_failures(client: Any, bucket: str, sample: int = 20) -> list[str]:
    """Keys among the first `sample` listed objects whose ReplicationStatus is FAILED."""
    listed = client.list_objects_v2(Bucket=bucket, MaxKeys=sample).get("Contents", [])
    failed = []
    for item in listed:
        head = client.head_object(Bucket=bucket, Key=item["Key"])
        if head.get("ReplicationStatus") == "FAILED":
            failed.append(item["Key"])
    return failed


def list_versions(client: Any, bucket: str, prefix: str) -> list[ObjectVersion]:
    """Every version and delete marker under `prefix` (list_object_versions pages)."""
    result: list[ObjectVersion] = []
    for page in client.get_paginator("list_object_versions").paginate(Bucket=bucket, Prefix=prefix):
        for v in page.get("Versions", []):
            result.append(
                ObjectVersion(
                    v["Key"],
                    v["VersionId"],
                    v["LastModified"],
                    v.get("IsLatest", False),
                    False,
                    v.get("ETag", ""),
                    v.get("Size", 0),
                )
            )
        for m in page.get("DeleteMarkers", []):
            result.append(
                ObjectVersion(m["Key"], m["VersionId"], m["LastModified"], m.get("IsLatest", False), True)
            )
    return result


def list_objects(client: Any, bucket: str, prefix: str = "") -> Iterator[dict[str, Any]]:
    """Current objects under `prefix` (ListObjectsV2 pages, streamed): Key, ETag, Size, LastModified."""
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        yield from page.get("Contents", [])


MISSING_CODES = frozenset({"NoSuchKey", "404", "NotFound"})


def read_json(client: Any, bucket: str, key: str) -> Any | None:
    """The object parsed as JSON, or None when it does not exist."""
    try:
        body = client.get_object(Bucket=bucket, Key=key)["Body"]
    except Exception as exc:
        if error_code(exc) in MISSING_CODES:
            return None
        raise
    with body:
        return json.loads(body.read())


def read_head(client: Any, bucket: str, key: str, max_bytes: int) -> tuple[bytes, bool]:
    """The first `max_bytes` of the object and whether that is the whole object (a ranged GET).

    For the DR console: one huge retention report cannot hold the page or the API server."""
    response = client.get_object(Bucket=bucket, Key=key, Range=f"bytes=0-{max_bytes - 1}")
    with response["Body"] as body:
        data = body.read()
    total = response.get("ContentRange", "").rpartition("/")[2]
    whole = not total.isdigit() or int(total) <= len(data)
    return data, whole


def sha256_of(client: Any, bucket: str, key: str, version_id: str | None = None) -> str:
    """The base64 SHA-256 of an object (version), streamed in 1 MiB chunks."""
    kwargs = {"Bucket": bucket, "Key": key} | ({"VersionId": version_id} if version_id else {})
    body = client.get_object(**kwargs)["Body"]
    digest = hashlib.sha256()
    for chunk in iter(lambda: body.read(1024 * 1024), b""):
        digest.update(chunk)
    return base64.b64encode(digest.digest()).decode()


def copy_with_checksum(
    client: Any, source_bucket: str, source_key: str, bucket: str, key: str, version_id: str | None = None
) -> dict[str, Any]:
    """Server-side copy (metadata kept) with an S3-computed SHA-256; returns VersionId, ETag, ChecksumSHA256."""
    source = {"Bucket": source_bucket, "Key": source_key} | ({"VersionId": version_id} if version_id else {})
    response = client.copy_object(
        Bucket=bucket, Key=key, CopySource=source, ChecksumAlgorithm="SHA256", MetadataDirective="COPY"
    )
    result = response.get("CopyObjectResult", {})
    return {
        "version_id": response.get("VersionId"),
        "etag": result.get("ETag", ""),
        "sha256": result.get("ChecksumSHA256"),
    }
