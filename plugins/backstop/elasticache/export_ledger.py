"""Which ElastiCache .rdb exports Backstop made: a record per exported snapshot in the report bucket.

ElastiCache writes `<snapshot>-<shard>.rdb` into the export bucket itself, untagged, and the
DR copies sit beside anyone else's files. So after an export is verified, Backstop writes
`ledger/elasticache/exports/<region>/<snapshot>.json` (tagged `backstop:managed=true`, in a
prefix only the role writes): the snapshot, its source, policy and create time, and every
file it wrote, per location (the export bucket, the DR bucket). Retention
(backstop.elasticache.export_retention) deletes only files a live record lists, then marks
that location deleted; the record stays as the audit trail.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, replace
from typing import Any

from backstop.aws.s3_objects import read_json
from backstop.naming import MANAGED_TAG

CACHE_EXPORT_LEDGER_PREFIX = "ledger/elasticache/exports"
CACHE_EXPORT_RECORD_FORMAT = "backstop.elasticache-export-record/1"


def cache_export_record_key(region: str, snapshot_name: str) -> str:
    return f"{CACHE_EXPORT_LEDGER_PREFIX}/{region}/{snapshot_name}.json"


@dataclass(frozen=True)
class CacheExportRecord:
    snapshot_name: str
    source_id: str
    region: str  # the snapshot's (and the export bucket's) region
    policy: str
    created_at: str  # the snapshot's create time, ISO 8601 UTC
    run_id: str
    # location "<region>/<bucket>" -> the keys Backstop wrote there
    files: dict[str, list[str]] = field(default_factory=dict)
    deleted: dict[str, str] = field(default_factory=dict)  # location -> when its files were deleted

    def to_json(self) -> dict[str, Any]:
        return {"format": CACHE_EXPORT_RECORD_FORMAT, **asdict(self)}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> CacheExportRecord:
        if data.get("format") != CACHE_EXPORT_RECORD_FORMAT:
            raise ValueError(f"not a Backstop ElastiCache export record (format {data.get('format')!r})")
        return cls(**{k: v for k, v in data.items() if k != "format"})

    def live_keys(self, location: str) -> list[str]:
        """The files this record proves Backstop wrote at `location` and has not deleted yet."""
        return [] if location in self.deleted else list(self.files.get(location, []))


def location(region: str, bucket: str) -> str:
    return f"{region}/{bucket}"


class CacheExportLedger:
    def __init__(self, s3: Any, bucket: str) -> None:
        self.s3 = s3
        self.bucket = bucket

    def get(self, region: str, snapshot_name: str) -> CacheExportRecord | None:
        data = read_json(self.s3, self.bucket, cache_export_record_key(region, snapshot_name))
        return CacheExportRecord.from_json(data) if data is not None else None

    def put(self, record: CacheExportRecord) -> CacheExportRecord:
        self.s3.put_object(
            Bucket=self.bucket,
            Key=cache_export_record_key(record.region, record.snapshot_name),
            Body=json.dumps(record.to_json(), indent=2).encode(),
            ContentType="application/json",
            Tagging=f"{MANAGED_TAG}=true",
        )
        return record

    def update(self, record: CacheExportRecord, **changes: Any) -> CacheExportRecord:
        return self.put(replace(record, **changes))

    def for_region(self, region: str) -> list[CacheExportRecord]:
        """Every record of snapshots exported in `region` (a list call per 1,000, a get per record)."""
        from backstop.aws.s3_objects import list_objects

        records = []
        for item in list_objects(self.s3, self.bucket, f"{CACHE_EXPORT_LEDGER_PREFIX}/{region}/"):
            data = read_json(self.s3, self.bucket, item["Key"])
            if data is not None:
                records.append(CacheExportRecord.from_json(data))
        return records
