"""Delete managed RDS snapshots the retention rules no longer keep, with safety interlocks.

Daily. `plan_retention` lists snapshots in the source and DR regions, plans with the pure
planner (backstop.retention.planner), prints the plan table, streams it to the report bucket and
tells Slack when pruning of a resource is halted; its XCom is a pointer to that report.
`apply_retention` reads the deletions back from the report and deletes them (a few at a time).
Manual runs are dry runs unless `confirm_delete` is typed as DELETE; scheduled runs delete;
`dry_run` can only force a dry run. Wiring only.
"""

from __future__ import annotations

from airflow.sdk import DAG, Param

from backstop.airflow.dag_defaults import cron_timetable, dag_kwargs
from backstop.policy import load_policy
from backstop.policy.views import policy_channels, retention_rules, snapshot_regions
from backstop.retention.operators import RetentionApplyOperator, RetentionPlanOperator

policy = load_policy()

if policy.rds_snapshots:
    with DAG(
        dag_id="retention_prune",
        description="Prune managed RDS snapshots by the policy's retention rules",
        schedule=cron_timetable(policy, policy.defaults.retention_schedule),
        doc_md=__doc__,
        params={
            "dry_run": Param(
                False,
                type="boolean",
                title="Force a dry run",
                description="On: plan and report only, also on the schedule. Off changes nothing: a run "
                "triggered by hand is a dry run anyway unless confirm_delete says DELETE.",
            ),
            "confirm_delete": Param(
                "",
                type="string",
                title="Type DELETE to delete on this manual run",
                description="Manual runs only plan. To delete what the plan says, type DELETE here "
                "(scheduled runs delete without it).",
            ),
        },
        **dag_kwargs(policy, tags=["rds", "retention"]),
    ) as dag:
        plan = RetentionPlanOperator(
            task_id="plan_retention",
            aws_conn_id=policy.defaults.aws_conn_id,
            region_name=policy.defaults.region,
            regions=snapshot_regions(policy),
            rules=retention_rules(policy),
            report_bucket=policy.defaults.report_bucket,
            alert_channel=policy.defaults.slack.channel,
            policy_channels=policy_channels(policy),
            slack_conn_id=policy.defaults.slack.conn_id,
            clock_skew_seconds=policy.defaults.clock_skew_tolerance.total_seconds(),
        )
        RetentionApplyOperator(
            task_id="apply_retention",
            aws_conn_id=policy.defaults.aws_conn_id,
            region_name=policy.defaults.region,  # of the report bucket; snapshots: each one's own
            plan=plan.output,
        )
