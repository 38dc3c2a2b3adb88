"""S3 object reads the DR console needs: list report keys, read a small JSON object, read a head.

Functions take a boto3 S3 client made by the provider's S3Hook (the Airflow connection decides
credentials, region and endpoint). Reads are bounded: a report bigger than `max_bytes` is read
only up to that many bytes, so one huge retention report cannot hold the page or the API server.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

from backstop.aws.errors import error_code

MISSING_CODES = frozenset({"NoSuchKey", "404", "NotFound"})


def list_objects(client: Any, bucket: str, prefix: str) -> Iterator[dict[str, Any]]:
    """Every object under `prefix` (paginated ListObjectsV2 items: Key, Size, LastModified)."""
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        yield from page.get("Contents", [])


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
    """The first `max_bytes` of the object and whether that is the whole object (a ranged GET)."""
    response = client.get_object(Bucket=bucket, Key=key, Range=f"bytes=0-{max_bytes - 1}")
    with response["Body"] as body:
        data = body.read()
    total = response.get("ContentRange", "").rpartition("/")[2]
    whole = not total.isdigit() or int(total) <= len(data)
    return data, whole
