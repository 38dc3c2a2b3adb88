"""The retention report in the report bucket: written in parts, read back line by line.

The plan task writes one JSON document per run to
`s3://<report_bucket>/reports/retention/<YYYYMMDD>/<run_id>.json`, laid out so that it can be
produced and consumed without ever holding it whole:

    {
      "format": "backstop.retention/2",
      "now": "2026-11-23T03:00:00+00:00",
      "dry_run": false,
      "run_id": "scheduled__2026-11-22T17:00:00+00:00",
      "regions": ["ap-northeast-1", "ap-northeast-2"],
      "counts": {"snapshots": 6, "keep": 3, "delete": 2, "ignore": 1, "groups": {...}},
      "halted": ["db-b (ap-northeast-2): newest snapshot is 9d 2h old (max 8d): ..."],
      "groups": [
        {"db_type": "instance", "resource_id": "db-a", ...},
        ...
      ],
      "decisions": [
        {"snapshot_id": "...", "region": "...", "action": "delete", "reason": "...", ...},
        ...
      ]
    }

The summary comes first (a person or a ranged GET reads the counts and the halted resources
from the first lines); every group and every decision is one line, in plan order. It is still
plain JSON, so `json.loads` reads a small report whole. `PartWriter` uploads it in parts
(S3 multipart upload, one part per `part_bytes`; a single PUT when it fits in one part), and
`read_deletions` streams the `delete` decisions back for the apply task.

The plan task's XCom is `plan_xcom`: the report's URI, ETag and version, and counts; its size
does not grow with the number of snapshots (the halted list is capped; the report has it all).
No I/O here except through the boto3 S3 client passed in (the S3 hook's client).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from itertools import islice
from typing import Any

from backstop.retention.planner import DELETE, Decision, Plan, format_duration

REPORT_FORMAT = "backstop.retention/2"
REPORT_PREFIX = "reports/retention/"
PART_BYTES = 8 * 1024 * 1024  # S3 multipart: every part but the last must be at least 5 MiB
MIN_PART_BYTES = 5 * 1024 * 1024
READ_CHUNK_BYTES = 1024 * 1024
# XCom bound: the halted list is a sample; `counts["groups"]` has the totals, the report every one.
XCOM_HALTED_SAMPLE = 20
XCOM_TEXT_LIMIT = 400
# The apply task's fields of a delete decision, nothing more (the report has the rest).
DELETION_FIELDS = ("region", "db_type", "snapshot_id", "resource_id", "reason")

_DECISIONS_OPEN = '  "decisions": ['
_SECTION_CLOSE = "  ]"
_DELETE_MARK = b'"action": "delete"'  # json.dumps' default separators, as _lines() writes them


class ReportError(Exception):
    """The report object is not a complete retention report: nothing may be deleted from it."""


def report_key(now: datetime, run_id: str | None) -> str:
    return f"{REPORT_PREFIX}{now:%Y%m%d}/{str(run_id or 'run').replace(':', '_')}.json"


def split_uri(uri: str) -> tuple[str, str]:
    if not uri.startswith("s3://") or "/" not in uri[5:]:
        raise ReportError(f"not an s3:// object URI: {uri!r}")
    bucket, key = uri[5:].split("/", 1)
    return bucket, key


@dataclass(frozen=True)
class WrittenReport:
    uri: str
    etag: str
    version_id: str | None
    bytes: int
    parts: int


class PartWriter:
    """A write-only text sink that uploads to S3 in parts of `part_bytes` (multipart upload).

    Nothing larger than one part is held in memory. If everything fits in one part it is a
    single PutObject. Any error aborts the multipart upload (no orphaned parts) and is raised.
    Use as a context manager; `result` is set when it closes cleanly.
    """

    def __init__(
        self,
        client: Any,
        bucket: str,
        key: str,
        *,
        part_bytes: int = PART_BYTES,
        content_type: str = "application/json",
    ) -> None:
        if part_bytes < MIN_PART_BYTES:
            raise ValueError(f"part_bytes must be at least {MIN_PART_BYTES} (S3's smallest part)")
        self.client = client
        self.bucket = bucket
        self.key = key
        self.part_bytes = part_bytes
        self.content_type = content_type
        self._buffer = bytearray()
        self._upload_id: str | None = None
        self._parts: list[dict[str, Any]] = []
        self.bytes = 0
        self.result: WrittenReport | None = None

    def write(self, text: str) -> None:
        data = text.encode()
        self._buffer += data
        self.bytes += len(data)
        if len(self._buffer) >= self.part_bytes:
            self._upload_part(bytes(self._buffer[: self.part_bytes]))
            del self._buffer[: self.part_bytes]

    def _upload_part(self, body: bytes) -> None:
        if self._upload_id is None:
            self._upload_id = self.client.create_multipart_upload(
                Bucket=self.bucket, Key=self.key, ContentType=self.content_type
            )["UploadId"]
        number = len(self._parts) + 1
        response = self.client.upload_part(
            Bucket=self.bucket, Key=self.key, UploadId=self._upload_id, PartNumber=number, Body=body
        )
        part = {"PartNumber": number, "ETag": response["ETag"]}
        # A checksum botocore added to the part must be repeated when the upload completes.
        part |= {k: v for k, v in response.items() if k.startswith("Checksum") and k != "ChecksumType"}
        self._parts.append(part)

    def close(self) -> WrittenReport:
        if self._upload_id is None:
            response = self.client.put_object(
                Bucket=self.bucket, Key=self.key, Body=bytes(self._buffer), ContentType=self.content_type
            )
        else:
            if self._buffer:
                self._upload_part(bytes(self._buffer))
            response = self.client.complete_multipart_upload(
                Bucket=self.bucket,
                Key=self.key,
                UploadId=self._upload_id,
                MultipartUpload={"Parts": self._parts},
            )
        self._buffer = bytearray()
        self.result = WrittenReport(
            uri=f"s3://{self.bucket}/{self.key}",
            etag=response["ETag"],
            version_id=response.get("VersionId"),
            bytes=self.bytes,
            parts=max(1, len(self._parts)),
        )
        return self.result

    def abort(self) -> None:
        if self._upload_id is not None:
            self.client.abort_multipart_upload(Bucket=self.bucket, Key=self.key, UploadId=self._upload_id)
            self._upload_id = None

    def __enter__(self) -> PartWriter:
        return self

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        if exc_type is None:
            self.close()
        else:
            try:
                self.abort()
            except Exception:  # the original error matters more than a failed cleanup
                pass


def report_lines(plan: Plan, meta: Mapping[str, Any], counts: Mapping[str, Any]) -> Iterator[str]:
    """The report document, one line at a time (each ends with a newline)."""
    dumps = json.dumps
    yield "{\n"
    yield f'  "format": {dumps(REPORT_FORMAT)},\n'
    yield f'  "now": {dumps(plan.now.isoformat())},\n'
    for name, value in meta.items():
        yield f"  {dumps(name)}: {dumps(value, default=str)},\n"
    yield f'  "counts": {dumps(counts)},\n'
    yield from _section("halted", (f"{g.resource_id} ({g.region}): {g.message}" for g in plan.halted))
    yield ",\n"
    yield from _section(
        "groups",
        (
            {
                "db_type": g.db_type,
                "resource_id": g.resource_id,
                "region": g.region,
                "policy": g.policy,
                "status": g.status,
                "message": g.message,
            }
            for g in plan.groups
        ),
    )
    yield ",\n"
    yield from _section("decisions", map(decision_line, plan.decisions), encoded=True)
    yield "\n}\n"


def _section(name: str, items: Iterable[Any], *, encoded: bool = False) -> Iterator[str]:
    """`  "name": [` then one item per line, then `  ]` (no trailing newline)."""
    dumps = json.dumps
    yield f"  {dumps(name)}: [\n"
    first = True
    for item in items:
        yield ("    " if first else ",\n    ") + (item if encoded else dumps(item))
        first = False
    yield ("" if first else "\n") + _SECTION_CLOSE


_text = json.encoder.encode_basestring_ascii  # what json.dumps does to a str (C)


def decision_line(decision: Decision) -> str:
    """`json.dumps(decision.to_json())`, byte for byte, at a third of the cost (a test holds the two
    equal): the report of a million snapshots encodes a million of these."""
    s = decision.snapshot
    age = decision.age
    policy = s.policy
    return (
        f'{{"snapshot_id": {_text(s.snapshot_id)}, "arn": {_text(s.arn)}, "db_type": {_text(s.db_type)}, '
        f'"resource_id": {_text(s.resource_id)}, "region": {_text(s.region)}, '
        f'"policy": {"null" if policy is None else _text(policy)}, "status": {_text(s.status)}, '
        f'"created_at": {_text(s.created_at.isoformat())}, "age_seconds": {int(age.total_seconds())}, '
        f'"age": {_text(format_duration(age))}, "action": {_text(decision.action)}, '
        f'"reason": {_text(decision.reason)}}}'
    )


def write_report(
    client: Any,
    bucket: str,
    key: str,
    plan: Plan,
    meta: Mapping[str, Any],
    counts: Mapping[str, Any] | None = None,
    *,
    part_bytes: int = PART_BYTES,
) -> WrittenReport:
    """Stream the report to s3://bucket/key in parts; returns where it went, its ETag and size."""
    counts = counts if counts is not None else plan.counts()
    with PartWriter(client, bucket, key, part_bytes=part_bytes) as out:
        batch: list[str] = []
        for line in report_lines(plan, meta, counts):
            batch.append(line)
            if len(batch) >= 1000:
                out.write("".join(batch))
                batch.clear()
        out.write("".join(batch))
    assert out.result is not None
    return out.result


def plan_xcom(
    plan: Plan, written: WrittenReport, *, dry_run: bool, counts: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    """What the plan task returns: a pointer to the report and counts (a few KB at any size)."""
    halted = plan.halted
    return {
        "dry_run": dry_run,
        # wall-clock time of planning (the plan's own "now" may be a future logical date)
        "planned_at": datetime.now(UTC).isoformat(),
        "report": written.uri,
        "report_etag": written.etag,
        "report_version": written.version_id,
        "report_bytes": written.bytes,
        "counts": dict(counts if counts is not None else plan.counts()),
        "halted": [_clip(f"{g.resource_id} ({g.region}): {g.message}") for g in halted[:XCOM_HALTED_SAMPLE]],
        "halted_total": len(halted),
    }


def _clip(text: str) -> str:
    return text if len(text) <= XCOM_TEXT_LIMIT else text[: XCOM_TEXT_LIMIT - 1] + "…"


def read_deletions(
    client: Any,
    uri: str,
    *,
    etag: str | None = None,
    version_id: str | None = None,
    chunk_bytes: int = READ_CHUNK_BYTES,
) -> Iterator[dict[str, Any]]:
    """The report's `delete` decisions in plan order, streamed (one chunk of the object at a time).

    With `etag` (and `version_id`), S3 refuses to serve any other object than the one the plan
    task wrote. Raises ReportError if the object is not a whole report of this format: a report
    that ends early raises after its last complete decision, so the caller must not treat the
    end of this iterator as success without it returning normally.
    """
    bucket, key = split_uri(uri)
    request: dict[str, Any] = {"Bucket": bucket, "Key": key}
    if etag:
        request["IfMatch"] = etag
    if version_id:
        request["VersionId"] = version_id
    body = client.get_object(**request)["Body"]
    try:
        yield from _deletions(_lines(body, chunk_bytes), uri)
    finally:
        body.close()


def _deletions(lines: Iterable[bytes], uri: str) -> Iterator[dict[str, Any]]:
    lines = iter(lines)
    header = list(islice(lines, 2))
    if len(header) < 2 or header[1].strip() != f'"format": {json.dumps(REPORT_FORMAT)},'.encode():
        raise ReportError(f"{uri} is not a {REPORT_FORMAT} report (its second line is {header[1:]!r})")
    opening = _DECISIONS_OPEN.encode()
    closing = _SECTION_CLOSE.encode()
    for line in lines:
        if line == opening:
            break
    else:
        raise ReportError(f"{uri} has no decisions section")
    for line in lines:
        if line == closing:
            break
        if _DELETE_MARK in line:
            decision = json.loads(line.rstrip(b","))
            if decision.get("action") == DELETE:
                yield {field: decision[field] for field in DELETION_FIELDS}
    else:
        raise ReportError(f"{uri} ends inside its decisions section: the report is incomplete")


def _lines(body: Any, chunk_bytes: int) -> Iterator[bytes]:
    """Lines (without the newline) of a streaming body, read `chunk_bytes` at a time."""
    pending = b""
    while True:
        chunk = body.read(chunk_bytes)
        if not chunk:
            break
        lines = (pending + chunk).split(b"\n")
        pending = lines.pop()
        yield from lines
    if pending:
        yield pending
