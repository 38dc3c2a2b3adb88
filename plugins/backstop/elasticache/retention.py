"""Prune managed ElastiCache snapshots with the RDS retention planner and all its interlocks.

The adapter: ElastiCache snapshots become the planner's `SnapshotRecord`s (kind
"elasticache", one group per source and policy) and the policy's `max_age` becomes a daily
keep rule. So min_keep, the stale-backup halt (the tier's `max_age`), the clock-skew abort,
"only manual snapshots tagged backstop:managed=true" and "refuse without rules" are the
planner's own, not a second copy. Manual runs are dry runs unless `confirm_delete` is DELETE
(`backstop.retention.operators.resolve_dry_run`). The plan goes to the report bucket; before
each delete the snapshot is described again and skipped unless it is still managed and manual.
"""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

from airflow.sdk import Context
from airflow.sdk.exceptions import AirflowFailException

from backstop.airflow.operators import BackstopAwsOperator
from backstop.aws import elasticache as ec
from backstop.aws.hooks import S3_HOOK, LazyHookClass, make_hook
from backstop.naming import is_managed

KIND = "elasticache"


def retention_rules(
    max_age: timedelta, min_keep: int, max_staleness: timedelta, timezone: str
) -> dict[str, Any]:
    """The plain dict `backstop.retention.planner.rules_from_dict` reads (DAG files pass it)."""
    return {
        "keep": [{"period": "daily", "max_age": max_age.total_seconds()}],
        "min_keep": min_keep,
        "max_staleness": max_staleness.total_seconds(),
        "timezone": timezone,
    }


def records(snapshots: list[ec.CacheSnapshot], region: str, listed_at: Any) -> list[Any]:
    """The planner's view of ElastiCache snapshots (automated ones stay `ignore`)."""
    from backstop.retention.planner import SnapshotRecord

    return [
        SnapshotRecord(
            snapshot_id=s.name,
            arn=s.arn,
            db_type=KIND,
            resource_id=s.source_id,
            region=region,
            created_at=s.created_at or listed_at,
            status=s.status,
            snapshot_type=s.source,
            tags=s.tags,
        )
        for s in snapshots
    ]


class CacheRetentionOperator(BackstopAwsOperator):
    """Plan (and, unless a dry run, apply) retention for one elasticache policy's sources.

    :param source_ids: replication group / cache cluster ids of the policy.
    :param policy_name: only snapshots tagged with this policy are its candidates.
    :param rules: `retention_rules(...)`.
    :param report_bucket: where the plan is written (`reports/retention-elasticache/...`).
    """

    aws_hook_class = LazyHookClass(ec.ELASTICACHE_HOOK)

    def __init__(
        self,
        *,
        source_ids: list[str],
        policy_name: str,
        rules: dict[str, Any],
        report_bucket: str,
        clock_skew_seconds: float = 300,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.source_ids = list(source_ids)
        self.policy_name = policy_name
        self.rules = rules
        self.report_bucket = report_bucket
        self.clock_skew_seconds = clock_skew_seconds

    def execute(self, context: Context) -> dict[str, Any]:
        from backstop.retention.operators import plan_time, resolve_dry_run
        from backstop.retention.planner import PlanAborted, plan_retention, rules_from_dict

        dry_run = resolve_dry_run(context)
        now = plan_time(context)
        client = self.hook.conn
        region = client.meta.region_name
        wanted = set(self.source_ids)
        listed = ec.list_snapshots(client, wanted)
        try:
            plan = plan_retention(
                records(listed, region, now),
                {self.policy_name: rules_from_dict(self.rules)},
                now,
                clock_skew=timedelta(seconds=self.clock_skew_seconds),
            )
        except PlanAborted as exc:
            raise AirflowFailException(f"ElastiCache retention aborted, nothing deleted: {exc}") from exc
        self.log.info("%s\n%s", "DRY RUN" if dry_run else "real run", plan.table())
        deleted, skipped = [], []
        if not dry_run:
            for decision in plan.deletions:
                name = decision.snapshot.snapshot_id
                current = ec.describe_snapshot(client, name)
                if current is None:
                    continue  # already gone: done
                if not is_managed(current.tags) or current.source != "manual":
                    skipped.append(name)
                    self.log.warning("Not deleting %s: no longer a managed manual snapshot", name)
                    continue
                if ec.delete_snapshot(client, name):
                    deleted.append(name)
        report = {
            "format": "backstop.retention-elasticache/1",
            "policy": self.policy_name,
            "region": region,
            "dry_run": dry_run,
            "run_id": context.get("run_id"),
            **plan.to_json(),
            "deleted": deleted,
            "skipped": skipped,
        }
        key = f"reports/retention-elasticache/{now:%Y%m%d}/{self.policy_name}-{_safe(str(context.get('run_id')))}.json"
        s3 = make_hook(
            S3_HOOK, aws_conn_id=self.aws_conn_id, region_name=self.region_name, verify=self.verify
        )
        s3.load_string(json.dumps(report, indent=2, default=str), key, self.report_bucket, replace=True)
        result = {
            "dry_run": dry_run,
            "report": f"s3://{self.report_bucket}/{key}",
            "counts": plan.counts(),
            "planned_deletions": [d.snapshot.snapshot_id for d in plan.deletions],
            "deleted": deleted,
            "skipped": skipped,
        }
        halted = plan.halted
        if halted:
            raise AirflowFailException(
                "ElastiCache pruning stopped for "
                + "; ".join(f"{g.resource_id}: {g.message}" for g in halted)
                + f" (their snapshots are kept; plan: {result['report']})"
            )
        return result


def _safe(value: str) -> str:
    import re

    return re.sub(r"[^A-Za-z0-9._-]", "_", value)
