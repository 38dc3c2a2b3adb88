"""Which DynamoDB backups Backstop made: an ownership ledger in the report bucket.

DynamoDB on-demand backups carry no tags: CreateBackup takes none, and DynamoDB's tag calls
(TagResource / ListTagsOfResource) apply to tables, not backups (AWS Backup's ListTags says the
same: DynamoDB backups made without AWS Backup's advanced features are not taggable recovery
points). moto accepts TagResource on a backup ARN and silently drops it. Backup names are not
unique either: anyone can make a second backup with Backstop's name.

So "Backstop made this" is proved by a record, not a tag: before creating a backup, Backstop
writes `ledger/dynamodb/<region>/<table>/<backup name>.json` (tagged `backstop:managed=true`)
with its intent; after CreateBackup returns, it writes the backup's ARN into it. A backup is
managed only if a record names its exact ARN. A record still without an ARN (the task died
between the two writes) adopts the one same-named backup created after the intent, on the
retry; any other same-named backup is somebody else's and is never touched.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any

from backstop.naming import MANAGED_TAG

LEDGER_PREFIX = "ledger/dynamodb"
LEDGER_FORMAT = "backstop.dynamodb-backup/1"
# Tolerated difference between Backstop's clock (intent) and DynamoDB's (backup creation time).
INTENT_SKEW = timedelta(minutes=5)

_SAFE = re.compile(r"[^A-Za-z0-9_.-]")


def record_key(region: str, table: str, backup_name: str) -> str:
    return f"{LEDGER_PREFIX}/{region}/{table}/{_SAFE.sub('_', backup_name)}.json"


def table_prefix(region: str, table: str) -> str:
    return f"{LEDGER_PREFIX}/{region}/{table}/"


@dataclass(frozen=True)
class LedgerRecord:
    backup_name: str
    table: str
    region: str
    policy: str
    tier: str
    run_id: str
    intent_at: str  # ISO 8601 UTC
    backup_arn: str | None = None
    created_at: str | None = None
    deleted_at: str | None = None
    restore_verified_at: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {"format": LEDGER_FORMAT, **asdict(self)}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> LedgerRecord:
        if data.get("format") != LEDGER_FORMAT:
            raise ValueError(f"not a Backstop DynamoDB ledger record (format {data.get('format')!r})")
        fields = {k: v for k, v in data.items() if k != "format"}
        return cls(**fields)

    def owns(self, arn: str, name: str, created_at: datetime) -> bool:
        """This record proves the backup is Backstop's: its exact ARN, or (intent without an ARN
        yet) the same name created no earlier than the intent."""
        if self.deleted_at is not None or name != self.backup_name:
            return False
        if self.backup_arn is not None:
            return self.backup_arn == arn
        return created_at >= datetime.fromisoformat(self.intent_at) - INTENT_SKEW


class Ledger:
    """The records in one bucket, read and written with an S3 client."""

    def __init__(self, s3: Any, bucket: str) -> None:
        self.s3 = s3
        self.bucket = bucket

    def get(self, region: str, table: str, backup_name: str) -> LedgerRecord | None:
        try:
            body = self.s3.get_object(Bucket=self.bucket, Key=record_key(region, table, backup_name))["Body"]
        except Exception as exc:
            if getattr(exc, "response", {}).get("Error", {}).get("Code") in ("NoSuchKey", "404"):
                return None
            raise
        return LedgerRecord.from_json(json.loads(body.read()))

    def put(self, record: LedgerRecord) -> LedgerRecord:
        self.s3.put_object(
            Bucket=self.bucket,
            Key=record_key(record.region, record.table, record.backup_name),
            Body=json.dumps(record.to_json(), indent=2).encode(),
            ContentType="application/json",
            Tagging=f"{MANAGED_TAG}=true",
        )
        return record

    def update(self, record: LedgerRecord, **changes: Any) -> LedgerRecord:
        return self.put(replace(record, **changes))

    def for_table(self, region: str, table: str) -> list[LedgerRecord]:
        """Every record of one table (a list call per 1,000 records, a get per record)."""
        records = []
        paginator = self.s3.get_paginator("list_objects_v2")
        for page in paginator.paginate(Bucket=self.bucket, Prefix=table_prefix(region, table)):
            for item in page.get("Contents", []):
                body = self.s3.get_object(Bucket=self.bucket, Key=item["Key"])["Body"]
                records.append(LedgerRecord.from_json(json.loads(body.read())))
        return records


def owned_arns(records: Iterable[LedgerRecord]) -> dict[str, LedgerRecord]:
    """ARN -> record for every live record that names its backup's ARN."""
    return {r.backup_arn: r for r in records if r.backup_arn and r.deleted_at is None}
