"""Retention operators: list managed snapshots, plan what goes (pure planner), delete it.

The plan task lists every snapshot in the source and DR regions (describe pages only: the
tags come with them), asks `backstop.retention.plan_retention` for keep/delete decisions,
prints the plan as a table, writes it as JSON to the report bucket and tells Slack about
resources whose pruning was halted or refused. The apply task deletes what the plan says,
re-checking each snapshot just before deleting it; deleting something already gone is fine.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from airflow.sdk import Context
from airflow.sdk.exceptions import AirflowFailException

from backstop.airflow.operators import BackstopAwsOperator
from backstop.aws.hooks import RDS_HOOK, S3_HOOK, LazyHookClass
from backstop.aws.rds_snapshots import delete_snapshot, list_snapshots
from backstop.naming import SOURCE_ARN_TAG, is_managed


def resolve_dry_run(context: Context) -> bool:
    """The `dry_run` param; when left empty: dry run for manual runs, real run on the schedule."""
    value = (context.get("params") or {}).get("dry_run")
    if value is not None:
        return bool(value)
    run_type = str(getattr(context.get("dag_run"), "run_type", "manual"))
    return not run_type.endswith("scheduled")


def plan_time(context: Context) -> datetime:
    """`now` for the planner: the wall clock, or the run's logical date if that is later.

    A late run or a retry uses the wall clock, so a snapshot taken after the scheduled time
    is not mistaken for clock skew. A logical date in the future moves "now" forward: that
    is how tests and the demo age snapshots that moto cannot backdate.
    """
    wall = datetime.now(UTC)
    when = context.get("logical_date") or getattr(context.get("dag_run"), "run_after", None)
    if when is None:
        return wall
    # A plain stdlib datetime: pendulum's DateTime + timedelta loses the zone in comparisons.
    return max(wall, datetime.fromtimestamp(when.timestamp(), UTC))


def rules_from_dict(value: dict[str, Any] | None) -> Any:
    """Rebuild `backstop.retention.RetentionRules` from the plain dict the DAG file passes."""
    from backstop.retention.planner import KeepRule, RetentionRules

    if not value:
        return None
    keep = tuple(
        KeepRule(
            period=rule["period"],
            count=rule.get("count"),
            max_age=timedelta(seconds=rule["max_age"]) if rule.get("max_age") is not None else None,
        )
        for rule in value.get("keep", [])
    )
    staleness = value.get("max_staleness")
    return RetentionRules(
        keep=keep,
        min_keep=value.get("min_keep", 2),
        max_staleness=timedelta(seconds=staleness) if staleness is not None else None,
        timezone=value.get("timezone", "UTC"),
    )


class RetentionPlanOperator(BackstopAwsOperator):
    """Inventory snapshots, plan retention, report the plan; returns the deletions.

    :param regions: every region to inventory (source regions and DR regions).
    :param rules: policy name -> rules dict (keep, min_keep, max_staleness in seconds,
        timezone), as `backstop.policy.views.retention_rules` builds them.
    :param report_bucket: S3 bucket for the JSON plan (reports/retention/...).
    :param alert_channel: Slack channel for halted/refused pruning.
    :param slack_conn_id: Airflow connection holding the Slack token.
    :param clock_skew_seconds: a snapshot created further in the future aborts the run.
    """

    aws_hook_class = LazyHookClass(S3_HOOK)
    regional_hook_class = LazyHookClass(RDS_HOOK)  # client(region): RDS in each region
    template_fields: Sequence[str] = (*BackstopAwsOperator.template_fields, "regions", "report_bucket")

    def __init__(
        self,
        *,
        regions: list[str],
        rules: dict[str, dict[str, Any] | None],
        report_bucket: str,
        alert_channel: str,
        slack_conn_id: str = "slack_api_default",
        clock_skew_seconds: float = 300,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.regions = regions
        self.rules = rules
        self.report_bucket = report_bucket
        self.alert_channel = alert_channel
        self.slack_conn_id = slack_conn_id
        self.clock_skew_seconds = clock_skew_seconds

    def inventory(self) -> list[Any]:
        from backstop.retention.planner import SnapshotRecord

        records = []
        for region in sorted(set(self.regions)):
            client = self.client(region)
            for db_type in ("instance", "cluster"):
                for info in list_snapshots(client, db_type):
                    records.append(
                        SnapshotRecord(
                            snapshot_id=info.snapshot_id,
                            arn=info.arn,
                            db_type=db_type,
                            resource_id=info.source_id,
                            region=region,
                            created_at=info.created_at or datetime.now(UTC),
                            status=info.status,
                            snapshot_type=(info.snapshot_type or "manual").lower(),
                            tags=info.tags,
                        )
                    )
        return records

    def execute(self, context: Context) -> dict[str, Any]:
        from backstop.retention.planner import Plan, PlanAborted, plan_retention

        dry_run = resolve_dry_run(context)
        now = plan_time(context)
        records = self.inventory()
        in_flight = {
            r.tags[SOURCE_ARN_TAG] for r in records if SOURCE_ARN_TAG in r.tags and r.status != "available"
        }
        self.log.info(
            "Inventory: %d snapshots in %s; %d copies in flight; planning at %s (%s)",
            len(records),
            sorted(set(self.regions)),
            len(in_flight),
            now.isoformat(),
            "DRY RUN" if dry_run else "real run",
        )
        rules = {name: rules_from_dict(value) for name, value in self.rules.items()}
        try:
            plan = plan_retention(
                records,
                rules,
                now,
                in_flight_copy_sources=in_flight,
                clock_skew=timedelta(seconds=self.clock_skew_seconds),
            )
        except PlanAborted as exc:
            raise AirflowFailException(f"Retention aborted, nothing deleted: {exc}") from exc
        shown = Plan(
            now=plan.now, decisions=[d for d in plan.decisions if d.action != "ignore"], groups=plan.groups
        )
        self.log.info(
            "Retention plan (%s; %d unmanaged/automated snapshots ignored, listed in the report):\n%s",
            "dry run" if dry_run else "real run",
            len(plan.decisions) - len(shown.decisions),
            shown.table(),
        )
        report = plan.to_json()
        report.update(
            {"dry_run": dry_run, "run_id": context.get("run_id"), "regions": sorted(set(self.regions))}
        )
        key = f"reports/retention/{now:%Y%m%d}/{str(context.get('run_id', 'run')).replace(':', '_')}.json"
        self.hook.load_string(
            json.dumps(report, indent=2, default=str), key, self.report_bucket, replace=True
        )
        self.log.info("Plan written to s3://%s/%s", self.report_bucket, key)
        self._alert_halted(plan, context)
        deletions = [
            {
                "region": d.snapshot.region,
                "db_type": d.snapshot.db_type,
                "snapshot_id": d.snapshot.snapshot_id,
                "resource_id": d.snapshot.resource_id,
                "reason": d.reason,
            }
            for d in plan.deletions
        ]
        kept = sum(1 for d in plan.decisions if d.action == "keep")
        return {
            "dry_run": dry_run,
            "report": f"s3://{self.report_bucket}/{key}",
            "deletions": deletions,
            "counts": {"snapshots": len(records), "keep": kept, "delete": len(deletions)},
            "halted": [f"{g.resource_id} ({g.region}): {g.message}" for g in plan.halted],
        }

    def _alert_halted(self, plan: Any, context: Context) -> None:
        if not plan.halted:
            return
        from backstop.airflow.slack import post_message

        lines = [f"• `{g.resource_id}` in {g.region} ({g.status}): {g.message}" for g in plan.halted]
        text = f"Backstop retention: pruning stopped for {len(lines)} resource(s)"
        blocks = [
            {"type": "header", "text": {"type": "plain_text", "text": ":warning: " + text}},
            {"type": "section", "text": {"type": "mrkdwn", "text": "\n".join(lines)[:2900]}},
            {"type": "context", "elements": [{"type": "mrkdwn", "text": f"Run `{context.get('run_id')}`"}]},
        ]
        for line in lines:
            self.log.warning("Pruning stopped: %s", line)
        post_message(self.alert_channel, text + ": " + "; ".join(lines)[:1000], blocks, self.slack_conn_id)


class RetentionApplyOperator(BackstopAwsOperator):
    """Delete what the plan decided, unless it is a dry run.

    The snapshots are listed again first (describe pages, one listing per region and kind, not
    a call per snapshot): each must still exist, carry `backstop:managed=true` and be
    `available`, otherwise it is skipped. A snapshot already gone counts as done.

    :param plan: the RetentionPlanOperator's return value.
    """

    aws_hook_class = LazyHookClass(RDS_HOOK)
    template_fields: Sequence[str] = (*BackstopAwsOperator.template_fields, "plan")

    def __init__(self, *, plan: Any, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.plan = plan

    def execute(self, context: Context) -> dict[str, Any]:
        deletions = self.plan["deletions"]
        if self.plan["dry_run"]:
            self.log.info("Dry run: %d snapshot(s) would be deleted; nothing deleted", len(deletions))
            return {
                "dry_run": True,
                "deleted": [],
                "already_gone": [],
                "skipped": [],
                "would_delete": deletions,
            }
        deleted, gone, skipped = [], [], []
        current: dict[tuple[str, str], dict[str, Any]] = {}  # one fresh listing per region and kind
        for item in deletions:
            where = (item["region"], item["db_type"])
            if where not in current:
                listing = list_snapshots(self.client(item["region"]), item["db_type"], snapshot_type="manual")
                current[where] = {info.snapshot_id: info for info in listing}
            name = item["snapshot_id"]
            info = current[where].get(name)
            if info is None:
                gone.append(name)
                continue
            if not is_managed(info.tags) or not info.available:
                self.log.warning(
                    "Skipping %s: managed=%s status=%s", name, is_managed(info.tags), info.status
                )
                skipped.append(name)
                continue
            if delete_snapshot(self.client(item["region"]), item["db_type"], name):
                self.log.info("Deleted %s in %s (%s)", name, item["region"], item["reason"])
                deleted.append(name)
            else:
                gone.append(name)
        self.log.info("Deleted %d, already gone %d, skipped %d", len(deleted), len(gone), len(skipped))
        return {"dry_run": False, "deleted": deleted, "already_gone": gone, "skipped": skipped}
