"""Delete managed RDS snapshots the retention rules no longer keep, with safety interlocks.

Daily. `plan_retention` lists snapshots in the source and DR regions, plans with the pure
planner (backstop.retention.planner), prints the plan table, streams it to the report bucket and
tells Slack when pruning of a resource is halted; its XCom is a pointer to that report.
`apply_retention` reads the deletions back from the report and deletes them (a few at a time).
A manual run is a dry run (the form's `dry_run` is on by default); a real run needs `dry_run`
switched off AND `confirm_delete` typed as DELETE (off without DELETE fails, deleting nothing).
Scheduled runs delete. Wiring only.
"""

from __future__ import annotations

from airflow.sdk import DAG

from backstop.airflow.dag_defaults import dag_kwargs, scheduled
from backstop.airflow.missed_runs import on_time_gate
from backstop.policy import load_policy
from backstop.policy.views import policy_channels, retention_rules, snapshot_regions
from backstop.retention.operators import RetentionApplyOperator, RetentionPlanOperator, deletion_params

policy = load_policy()

if policy.rds_snapshots:
    with DAG(
        dag_id="retention_prune",
        **scheduled(
            policy,
            "Prune managed RDS snapshots by the policy's retention rules",
            policy.schedules[policy.defaults.retention_schedule].cron,
        ),
        doc_md=__doc__,
        params=deletion_params("snapshots"),
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
        # unpausing late must not delete at once for a slot long past (backstop.airflow.missed_runs)
        on_time_gate() >> plan
        RetentionApplyOperator(
            task_id="apply_retention",
            aws_conn_id=policy.defaults.aws_conn_id,
            region_name=policy.defaults.region,  # of the report bucket; snapshots: each one's own
            plan=plan.output,
        )
