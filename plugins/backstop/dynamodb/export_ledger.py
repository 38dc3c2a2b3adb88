"""Which DynamoDB DR exports Backstop made: a record per export in the report bucket's ledger.

The marker `_backstop-export.json` sits inside the DR bucket, beside the export, where anyone
who can write the bucket can write one too. Before retention may delete an export, the
export must also be named by a record Backstop wrote in its own ledger prefix (writable only
by the role): `ledger/dynamodb/exports/<dr region>/<table>/<YYYYMMDD>.json`, holding the
bucket, the exact prefix and the export ARN. The export operator writes it once the export
is verified (after the marker); pruning marks it `deleted_at` (it stays as the audit trail),
and a passing `dr_export` drill sets `restore_verified_at`.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, replace
from typing import Any

from backstop.aws.s3_objects import read_json
from backstop.dynamodb.ledger import LEDGER_PREFIX
from backstop.naming import MANAGED_TAG

EXPORT_LEDGER_PREFIX = f"{LEDGER_PREFIX}/exports"
EXPORT_RECORD_FORMAT = "backstop.dynamodb-export-record/1"


def export_record_key(dr_region: str, table: str, day_prefix: str) -> str:
    """The record of the export at `day_prefix` (`<prefix>/<table>/<YYYYMMDD>`)."""
    return f"{EXPORT_LEDGER_PREFIX}/{dr_region}/{table}/{day_prefix.rstrip('/').rsplit('/', 1)[-1]}.json"


@dataclass(frozen=True)
class ExportRecord:
    table: str
    source_region: str
    dr_region: str
    bucket: str
    prefix: str  # `<prefix>/<table>/<YYYYMMDD>`, no trailing slash
    export_arn: str
    export_time: str  # ISO 8601: the point in time the export holds
    policy: str
    tier: str
    run_id: str
    deleted_at: str | None = None
    deleted_objects: int | None = None
    restore_verified_at: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {"format": EXPORT_RECORD_FORMAT, **asdict(self)}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ExportRecord:
        if data.get("format") != EXPORT_RECORD_FORMAT:
            raise ValueError(f"not a Backstop DynamoDB export record (format {data.get('format')!r})")
        return cls(**{k: v for k, v in data.items() if k != "format"})

    def names(self, bucket: str, prefix: str, marker: dict[str, Any] | None) -> bool:
        """This live record proves the export at s3://bucket/prefix is Backstop's (its marker agrees)."""
        return (
            self.deleted_at is None
            and self.bucket == bucket
            and self.prefix == prefix.rstrip("/")
            and marker is not None
            and marker.get("export_arn") == self.export_arn
        )


class ExportLedger:
    def __init__(self, s3: Any, bucket: str) -> None:
        self.s3 = s3
        self.bucket = bucket

    def get(self, dr_region: str, table: str, day_prefix: str) -> ExportRecord | None:
        data = read_json(self.s3, self.bucket, export_record_key(dr_region, table, day_prefix))
        return ExportRecord.from_json(data) if data is not None else None

    def put(self, record: ExportRecord) -> ExportRecord:
        self.s3.put_object(
            Bucket=self.bucket,
            Key=export_record_key(record.dr_region, record.table, record.prefix),
            Body=json.dumps(record.to_json(), indent=2).encode(),
            ContentType="application/json",
            Tagging=f"{MANAGED_TAG}=true",
        )
        return record

    def update(self, record: ExportRecord, **changes: Any) -> ExportRecord:
        return self.put(replace(record, **changes))
