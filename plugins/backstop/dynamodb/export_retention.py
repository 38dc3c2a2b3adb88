"""Prune DynamoDB DR exports with the RDS retention planner (backstop.retention.planner), unchanged.

Each dated export prefix in a DR bucket (`<prefix>/<table>/<YYYYMMDD>/`) becomes one planner
record (kind `dynamodb_export`, one group per table, DR region and policy). It is managed only
when Backstop's export ledger names exactly that bucket and prefix AND the marker inside agrees
on the export ARN (backstop.dynamodb.export_ledger); anything else under the prefix is "not
managed by Backstop: never touched". So every interlock is the planner's: min_keep, the
stale-export halt (the tier's `max_age`), clock skew, refusal without usable rules, the newest
restore-verified export kept (a passing `dr_export` drill marks it), and the GFS rules of the
policy's `retention` (the same rules as the on-demand backups).

Deleting an export deletes every object under its prefix (data files first, the marker last,
so an interrupted delete is finished by the next run), then marks its record `deleted_at`.
Right before, the record and the marker are read again and must still agree. A versioned DR
bucket keeps the deleted objects as noncurrent versions until its own lifecycle expires them.
Manual runs only plan unless `confirm_delete` is typed DELETE (resolve_dry_run).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

from airflow.sdk import Context

from backstop.aws.s3_objects import list_objects
from backstop.dynamodb.export import MARKER, read_marker
from backstop.dynamodb.export_ledger import ExportLedger, ExportRecord
from backstop.dynamodb.retention import DynamoDbRetentionOperator
from backstop.naming import MANAGED_TAG, POLICY_TAG, RESTORE_VERIFIED_TAG, TIER_TAG
from backstop.retention.adapted import delete_planned, fail_if_halted_or_failed, plan_or_fail, plan_result
from backstop.retention.operators import plan_time, resolve_dry_run
from backstop.retention.planner import SnapshotRecord, rules_from_dict

KIND = "dynamodb_export"
REPORT_PREFIX = "reports/retention-dynamodb-exports"
DELETE_BATCH = 1000  # DeleteObjects takes at most 1,000 keys
_DAY = re.compile(r"(\d{8})$")


def export_days(s3: Any, bucket: str, prefix: str, table: str) -> list[str]:
    """The dated export prefixes of one table (`<prefix>/<table>/<YYYYMMDD>`), as S3 lists them."""
    days = []
    for page in s3.get_paginator("list_objects_v2").paginate(
        Bucket=bucket, Prefix=f"{prefix}/{table}/", Delimiter="/"
    ):
        days.extend(p["Prefix"].rstrip("/") for p in page.get("CommonPrefixes", []))
    return sorted(days)


def _when(value: str | None, day_prefix: str) -> datetime:
    """The export's point in time; without a trustworthy one, the prefix's date (00:00 UTC)."""
    if value:
        try:
            when = datetime.fromisoformat(value)
            return when if when.tzinfo else when.replace(tzinfo=UTC)
        except ValueError:
            pass
    match = _DAY.search(day_prefix)
    if match:
        return datetime.strptime(match.group(1), "%Y%m%d").replace(tzinfo=UTC)
    return datetime.now(UTC)


def export_record(
    bucket: str, day_prefix: str, table: str, region: str, owner: ExportRecord | None, marker: dict | None
) -> SnapshotRecord:
    """The planner's view of one export; managed only when `owner` (its ledger record) names it."""
    tags: dict[str, str] = {}
    if owner is not None and owner.names(bucket, day_prefix, marker):
        tags = {MANAGED_TAG: "true", POLICY_TAG: owner.policy, TIER_TAG: owner.tier}
        if owner.restore_verified_at:
            tags[RESTORE_VERIFIED_TAG] = "true"
        created = _when(owner.export_time, day_prefix)
    else:
        created = _when((marker or {}).get("export_time"), day_prefix)
    return SnapshotRecord(
        snapshot_id=day_prefix,
        arn=f"s3://{bucket}/{day_prefix}/",
        db_type=KIND,
        resource_id=table,
        region=region,
        created_at=created,
        status="available" if marker is not None else "incomplete",
        snapshot_type="manual",
        tags=tags,
    )


class DynamoDbExportRetentionOperator(DynamoDbRetentionOperator):
    """Plan (and unless a dry run, apply) retention for the DR exports of a tier's tables.

    The backups' retention operator for the same tables and rules, over the export ledger:
    :param jobs: `backstop.policy.dynamodb_views.dynamodb_jobs` of the tier (each with its dr_regions).
    :param rules: policy name -> plain rules (`dynamodb_retention`): the same as the backups'.
    :param ledger_bucket: the report bucket holding the export ledger; the plan is written there too.
    """

    def ledger(self) -> ExportLedger:
        return ExportLedger(self.s3(self.ledger_region), self.ledger_bucket)

    def records(self, ledger: ExportLedger) -> Iterator[tuple[SnapshotRecord, dict[str, Any]]]:
        for job in self.jobs:
            for dr in job["dr_regions"]:
                s3 = self.s3(dr["region"])
                for day_prefix in export_days(s3, dr["bucket"], dr["prefix"], job["table"]):
                    marker = read_marker(s3, dr["bucket"], day_prefix)
                    owner = ledger.get(dr["region"], job["table"], day_prefix)
                    record = export_record(
                        dr["bucket"], day_prefix, job["table"], dr["region"], owner, marker
                    )
                    yield record, {"bucket": dr["bucket"], "region": dr["region"]}

    def execute(self, context: Context) -> dict[str, Any]:
        ledger = self.ledger()
        rules = {name: rules_from_dict(value) for name, value in self.rules.items()}
        now = plan_time(context)
        dry_run = resolve_dry_run(context)
        listed = list(self.records(ledger))
        where = {record.arn: place for record, place in listed}
        plan = plan_or_fail(
            [record for record, _ in listed],
            rules,
            now,
            clock_skew_seconds=self.clock_skew_seconds,
            what="DynamoDB export retention",
        )
        self.log.info(
            "DynamoDB DR export retention plan (%s):\n%s", "dry run" if dry_run else "apply", plan.table()
        )
        done = None
        if not dry_run:
            done = delete_planned(
                plan,
                lambda snapshot: self._delete(ledger, snapshot, **where[snapshot.arn]),
                self.log,
                "export",
            )
        result = plan_result(plan, dry_run, done)
        result["report"] = self._report(context, now, result)
        fail_if_halted_or_failed(result, "DynamoDB DR export retention")
        return result

    def _delete(self, ledger: ExportLedger, snapshot: SnapshotRecord, *, bucket: str, region: str) -> str:
        """Delete one planned export if the ledger and its marker still agree; the outcome in words."""
        s3, prefix = self.s3(region), snapshot.snapshot_id
        owner = ledger.get(region, snapshot.resource_id, prefix)
        marker = read_marker(s3, bucket, prefix)
        if owner is None or not owner.names(bucket, prefix, marker):
            if owner is not None and owner.deleted_at is not None:
                return "gone"
            return "skipped: no longer named by the ledger and its marker"
        keys = [o["Key"] for o in list_objects(s3, bucket, f"{prefix}/")]
        marker_key = f"{prefix}/{MARKER}"
        data = [k for k in keys if k != marker_key]
        for start in range(0, len(data), DELETE_BATCH):
            self._delete_keys(s3, bucket, data[start : start + DELETE_BATCH])
        if marker_key in keys:
            self._delete_keys(s3, bucket, [marker_key])  # last: a half-done delete is finished next run
        ledger.update(owner, deleted_at=datetime.now(UTC).isoformat(), deleted_objects=len(keys))
        self.log.info("Deleted export s3://%s/%s/ (%d objects)", bucket, prefix, len(keys))
        return f"deleted {len(keys)} objects"

    @staticmethod
    def _delete_keys(s3: Any, bucket: str, keys: list[str]) -> None:
        if not keys:
            return
        answer = s3.delete_objects(
            Bucket=bucket, Delete={"Objects": [{"Key": k} for k in keys], "Quiet": True}
        )
        errors = answer.get("Errors") or []
        if errors:
            raise RuntimeError(
                f"s3://{bucket}: {len(errors)} object(s) not deleted, e.g. {errors[0].get('Key')}: "
                f"{errors[0].get('Code')} {errors[0].get('Message')}"
            )

    def _report(self, context: Context, now: datetime, result: dict[str, Any]) -> str:
        run = re.sub(r"[^A-Za-z0-9._-]", "_", str(context.get("run_id")))
        key = f"{REPORT_PREFIX}/{now:%Y%m%d}/{run}.json"
        body = {"format": "backstop.retention-dynamodb-exports/1", "run_id": context.get("run_id"), **result}
        self.s3(self.ledger_region).put_object(
            Bucket=self.ledger_bucket, Key=key, Body=json.dumps(body, indent=2, default=str).encode()
        )
        return f"s3://{self.ledger_bucket}/{key}"
