"""Prune ElastiCache .rdb exports (export bucket and DR bucket) with the RDS retention planner.

The files of one exported snapshot in one bucket become one planner record (kind
`elasticache_export`, one group per source, region and policy), managed only when Backstop's
export ledger lists them (backstop.elasticache.export_ledger); any other `.rdb` in the bucket
is "not managed by Backstop: never touched". The policy's ElastiCache retention applies
(`max_age` as a daily rule, `min_keep`, the tier's `max_age` as the stale-export halt), with
every interlock of the planner. Deleting removes exactly the files the record lists at that
location (never a file the ledger does not name), then marks the location deleted. Manual
runs only plan unless `confirm_delete` is typed DELETE (resolve_dry_run).
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from typing import Any

from airflow.sdk import Context

from backstop.airflow.operators import BackstopAwsOperator
from backstop.aws import elasticache as ec
from backstop.aws.hooks import S3_HOOK, LazyHookClass, make_hook
from backstop.elasticache.export_ledger import CacheExportLedger, CacheExportRecord, location
from backstop.naming import MANAGED_TAG, POLICY_TAG

KIND = "elasticache_export"
REPORT_PREFIX = "reports/retention-elasticache-exports"
_RDB = re.compile(r"^(?P<name>.+)-\d{4}\.rdb$")


def export_groups(s3: Any, bucket: str) -> dict[str, list[str]]:
    """Snapshot name -> its `.rdb` files in the bucket, as S3 lists them."""
    from backstop.aws.s3_objects import list_objects

    groups: dict[str, list[str]] = {}
    for item in list_objects(s3, bucket):
        match = _RDB.match(item["Key"])
        if match:
            groups.setdefault(match["name"], []).append(item["Key"])
    return groups


def export_record(
    name: str, keys: list[str], bucket: str, region: str, owner: CacheExportRecord | None, listed_at: datetime
) -> Any:
    """The planner's view of one snapshot's files in one bucket (managed only when the ledger lists them)."""
    from backstop.retention.planner import SnapshotRecord

    place = location(region, bucket)
    owned = owner is not None and bool(owner.live_keys(place)) and set(keys) <= set(owner.live_keys(place))
    created = listed_at
    if owner is not None:
        created = datetime.strptime(owner.created_at, ec.TIME_FORMAT).replace(tzinfo=UTC)
    return SnapshotRecord(
        snapshot_id=name,
        arn=f"s3://{bucket}/{name}-*.rdb",
        db_type=KIND,
        resource_id=owner.source_id if owned and owner else name,
        region=region,
        created_at=created,
        status="available",
        snapshot_type="manual",
        tags={MANAGED_TAG: "true", POLICY_TAG: owner.policy} if owned and owner else {},
    )


class CacheExportRetentionOperator(BackstopAwsOperator):
    """Plan (and, unless a dry run, apply) retention for one elasticache policy's exported files.

    :param source_ids: the policy's sources; files of other sources are left out of the plan.
    :param policy_name: only exports recorded under this policy are its candidates.
    :param rules: `backstop.elasticache.retention.retention_rules(...)` (the snapshots' rules).
    :param export: the policy's `export` (bucket, dr_bucket, dr_region).
    :param ledger_bucket: the report bucket: the export ledger, and where the plan is written.
    """

    aws_hook_class = LazyHookClass(ec.ELASTICACHE_HOOK)

    def __init__(
        self,
        *,
        source_ids: list[str],
        policy_name: str,
        rules: dict[str, Any],
        export: dict[str, Any],
        ledger_bucket: str,
        ledger_region: str | None = None,
        clock_skew_seconds: float = 300,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.source_ids = list(source_ids)
        self.policy_name = policy_name
        self.rules = rules
        self.export = export
        self.ledger_bucket = ledger_bucket
        self.ledger_region = ledger_region
        self.clock_skew_seconds = clock_skew_seconds

    def s3(self, region: str | None) -> Any:
        cache_ = self.__dict__.setdefault("_s3_clients", {})
        region = region or self.region_name
        if region not in cache_:
            cache_[region] = make_hook(
                S3_HOOK,
                aws_conn_id=self.aws_conn_id,
                region_name=region,
                verify=self.verify,
                botocore_config=self.botocore_config,
            ).conn
        return cache_[region]

    def locations(self) -> list[tuple[str, str]]:
        """(region, bucket) of the export bucket and, where the policy copies, the DR bucket."""
        places = [(self.region_name, self.export["bucket"])]
        if self.export.get("dr_bucket"):
            places.append((self.export.get("dr_region") or self.region_name, self.export["dr_bucket"]))
        return places

    def execute(self, context: Context) -> dict[str, Any]:
        from backstop.retention.adapted import (
            delete_planned,
            fail_if_halted_or_failed,
            plan_or_fail,
            plan_result,
        )
        from backstop.retention.operators import plan_time, resolve_dry_run
        from backstop.retention.planner import rules_from_dict

        dry_run = resolve_dry_run(context)
        now = plan_time(context)
        ledger = CacheExportLedger(self.s3(self.ledger_region), self.ledger_bucket)
        wanted = set(self.source_ids)
        records, buckets = [], {}
        for region, bucket in self.locations():
            for name, keys in sorted(export_groups(self.s3(region), bucket).items()):
                owner = ledger.get(self.region_name, name)
                if owner is not None and owner.source_id not in wanted:
                    continue  # another policy's source: not this plan's business
                record = export_record(name, keys, bucket, region, owner, now)
                records.append(record)
                buckets[record.arn] = (region, bucket)
        plan = plan_or_fail(
            records,
            {self.policy_name: rules_from_dict(self.rules)},
            now,
            clock_skew_seconds=self.clock_skew_seconds,
            what="ElastiCache export retention",
        )
        self.log.info("%s\n%s", "DRY RUN" if dry_run else "real run", plan.table())
        done = None
        if not dry_run:
            done = delete_planned(
                plan,
                lambda snapshot: self._delete(ledger, snapshot.snapshot_id, *buckets[snapshot.arn]),
                self.log,
                "export",
            )
        result = plan_result(plan, dry_run, done)
        result["report"] = self._report(context, now, result)
        fail_if_halted_or_failed(result, "ElastiCache export pruning")
        return result

    def _delete(self, ledger: CacheExportLedger, name: str, region: str, bucket: str) -> str:
        """Delete the files the ledger lists for this snapshot at this location, then mark it."""
        place = location(region, bucket)
        owner = ledger.get(self.region_name, name)
        keys = owner.live_keys(place) if owner is not None else []
        if not keys:
            return "skipped: no longer listed by the ledger"
        answer = self.s3(region).delete_objects(
            Bucket=bucket, Delete={"Objects": [{"Key": k} for k in keys], "Quiet": True}
        )
        errors = answer.get("Errors") or []
        if errors:
            raise RuntimeError(
                f"{len(errors)} file(s) not deleted, e.g. {errors[0].get('Key')}: {errors[0].get('Code')}"
            )
        ledger.update(owner, deleted={**owner.deleted, place: datetime.now(UTC).strftime(ec.TIME_FORMAT)})
        self.log.info("Deleted %d export file(s) of %s from s3://%s", len(keys), name, bucket)
        return f"deleted {len(keys)} files"

    def _report(self, context: Context, now: datetime, result: dict[str, Any]) -> str:
        run = re.sub(r"[^A-Za-z0-9._-]", "_", str(context.get("run_id")))
        key = f"{REPORT_PREFIX}/{now:%Y%m%d}/{self.policy_name}-{run}.json"
        body = {"format": "backstop.retention-elasticache-exports/1", "policy": self.policy_name, **result}
        self.s3(self.ledger_region).put_object(
            Bucket=self.ledger_bucket, Key=key, Body=json.dumps(body, indent=2, default=str).encode()
        )
        return f"s3://{self.ledger_bucket}/{key}"
