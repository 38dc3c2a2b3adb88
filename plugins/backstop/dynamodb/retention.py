"""Prune DynamoDB backups with the RDS retention planner (backstop.retention.planner), unchanged.

The adapter turns each backup into the planner's `SnapshotRecord`: the managed, policy and
restore-verified "tags" come from the ownership ledger (DynamoDB backups have no tags), so a
backup the ledger does not name by ARN is "not managed by Backstop: never touched", exactly
like an untagged snapshot. Every interlock is the planner's: managed only, min_keep, the
stale-backup halt (the tier's `max_age`), clock skew, refusal without usable rules, the newest
restore-verified backup kept; and the GFS rules (daily / weekly / monthly / yearly).

Deleting: a scheduled run deletes; a manual run only plans unless `confirm_delete` is typed as
DELETE (backstop.retention.operators.resolve_dry_run). Right before each delete the backup is
looked up again and must still be named by a live ledger record; its record then gets
`deleted_at`.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

from airflow.sdk import Context

from backstop.airflow.operators import aws_template_fields
from backstop.aws import dynamodb as ddb
from backstop.dynamodb.base import DynamoDbOperator
from backstop.dynamodb.ledger import Ledger, LedgerRecord, owned_arns
from backstop.naming import MANAGED_TAG, POLICY_TAG, RESTORE_VERIFIED_TAG, TIER_TAG
from backstop.retention.adapted import delete_planned, fail_if_halted_or_failed, plan_or_fail, plan_result
from backstop.retention.operators import plan_time, resolve_dry_run
from backstop.retention.planner import DELETE, SnapshotRecord, rules_from_dict

DB_TYPE = "dynamodb_table"


def backup_record(backup: ddb.BackupInfo, region: str, owner: LedgerRecord | None) -> SnapshotRecord:
    """The planner's view of one backup; managed only when `owner` (its ledger record) is given."""
    tags: dict[str, str] = {}
    if owner is not None:
        tags = {MANAGED_TAG: "true", POLICY_TAG: owner.policy, TIER_TAG: owner.tier}
        if owner.restore_verified_at:
            tags[RESTORE_VERIFIED_TAG] = "true"
    return SnapshotRecord(
        snapshot_id=backup.name,
        arn=backup.arn,
        db_type=DB_TYPE,
        resource_id=backup.table,
        region=region,
        created_at=backup.created_at,
        status="available" if backup.status == "AVAILABLE" else backup.status.lower(),
        snapshot_type="manual",
        tags=tags,
    )


def inventory(client: Any, ledger: Ledger, region: str, table: str) -> list[SnapshotRecord]:
    owners = owned_arns(ledger.for_table(region, table))
    return [backup_record(b, region, owners.get(b.arn)) for b in ddb.list_backups(client, table)]


class DynamoDbRetentionOperator(DynamoDbOperator):
    """Plan (and unless a dry run, apply) retention for the backups of a tier's tables.

    :param jobs: `backstop.policy.dynamodb.dynamodb_jobs` of the tier.
    :param rules: policy name -> plain rules (`backstop.policy.dynamodb.dynamodb_retention`).
    """

    template_fields = aws_template_fields("jobs", "rules")

    def __init__(
        self,
        *,
        jobs: list[dict[str, Any]],
        rules: dict[str, dict[str, Any] | None],
        ledger_bucket: str,
        ledger_region: str,
        clock_skew_seconds: float = 300,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.jobs = jobs
        self.rules = rules
        self.ledger_bucket = ledger_bucket
        self.ledger_region = ledger_region
        self.clock_skew_seconds = clock_skew_seconds

    def records(self, ledger: Ledger) -> Iterable[SnapshotRecord]:
        for job in self.jobs:
            yield from inventory(self.client(job["region"]), ledger, job["region"], job["table"])

    def execute(self, context: Context) -> dict[str, Any]:
        ledger = Ledger(self.s3(self.ledger_region), self.ledger_bucket)
        rules = {name: rules_from_dict(value) for name, value in self.rules.items()}
        now = plan_time(context)
        dry_run = resolve_dry_run(context)
        plan = plan_or_fail(
            list(self.records(ledger)),
            rules,
            now,
            clock_skew_seconds=self.clock_skew_seconds,
            what="DynamoDB retention",
        )
        self.log.info(
            "DynamoDB backup retention plan (%s):\n%s", "dry run" if dry_run else "apply", plan.table()
        )
        done = None
        if not dry_run:
            done = delete_planned(plan, lambda snapshot: self._delete(ledger, snapshot), self.log, "backup")
        result = plan_result(plan, dry_run, done)
        # A halt (backups failing, no rules) kept everything of those tables; the alert says why.
        fail_if_halted_or_failed(result, "DynamoDB retention")
        return result

    def _delete(self, ledger: Ledger, snapshot: SnapshotRecord) -> str:
        """Delete one planned backup if it is still proven Backstop's; the outcome in a word or two."""
        region, table = snapshot.region, snapshot.resource_id
        record = ledger.get(region, table, snapshot.snapshot_id)
        current = next(
            (b for b in ddb.list_backups(self.client(region), table) if b.arn == snapshot.arn), None
        )
        if current is None:
            return "gone"
        if record is None or record.backup_arn != snapshot.arn or record.deleted_at is not None:
            return "skipped: no longer named by the ledger"
        outcome = ddb.delete_backup(self.client(region), snapshot.arn)
        ledger.update(record, deleted_at=datetime.now(UTC).isoformat())
        self.log.info("Deleted %s (%s)", snapshot.snapshot_id, snapshot.arn)
        return outcome


__all__ = ["DELETE", "DynamoDbRetentionOperator", "backup_record", "inventory"]
